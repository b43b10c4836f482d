/* csv_number.c - number parsing for the CSV reader. strtod is exact but slow
 * (locale, arbitrary precision); most CSV numbers have at most 19
 * significant digits and small exponents, and for those the fast paths of
 * gdf_f64_from (csv_number.h: Clinger's, then one x87 extended-precision
 * operation with a check that its rounding to double is exact) give the
 * correctly rounded double. Everything else goes to strtod in the C locale. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale */
#endif
#include "csv_number.h"

#include <locale.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

bool gdf_parse_i64(const char *s, size_t n, int64_t *out, bool *overflow) {
  *overflow = false;
  trim(&s, &n);
  const char *e = s + n;
  bool neg = false;
  if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
  if (s == e) return false;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; s < e; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (d > 9) return false;
    if (v > (limit - d) / 10) *overflow = true;
    else v = v * 10 + d;
  }
  if (*overflow) return true;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

bool gdf_int_is_exact_f64(const char *s, size_t n) {
  int64_t v;
  bool overflow;
  if (!gdf_parse_i64(s, n, &v, &overflow)) return false;
  if (!overflow) return gdf_i64_is_exact_f64(v);
  /* Beyond int64: compare the digits with the exact decimal expansion of
   * the double they round to (printf prints it exactly). */
  double d;
  if (!gdf_parse_f64(s, n, &d) || d != d || d - d != 0) return false; /* inf */
  trim(&s, &n);
  if (*s == '+' || *s == '-') s++, n--;
  while (n > 1 && *s == '0') s++, n--;
  char exact[400]; /* DBL_MAX has 309 digits */
  int len = snprintf(exact, sizeof exact, "%.0f", d < 0 ? -d : d);
  return len > 0 && (size_t)len == n && memcmp(exact, s, n) == 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static bool slow_path(const char *s, size_t n, double *out) {
  char buf[512];
  if (n >= sizeof buf) {
    char *big = malloc(n + 1);
    if (!big) return false;
    memcpy(big, s, n);
    big[n] = '\0';
    pthread_once(&c_locale_once, make_c_locale);
    *out = c_locale ? strtod_l(big, NULL, c_locale) : strtod(big, NULL);
    free(big);
    return true;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  pthread_once(&c_locale_once, make_c_locale);
  *out = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
  return true;
}

static bool ieq(const char *s, size_t n, const char *word) {
  if (strlen(word) != n) return false;
  for (size_t i = 0; i < n; i++)
    if ((s[i] | 0x20) != word[i]) return false;
  return true;
}

bool gdf_parse_f64(const char *s, size_t n, double *out) {
  trim(&s, &n);
  const char *p = s, *e = s + n;
  bool neg = false;
  if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
  if (ieq(p, (size_t)(e - p), "inf") || ieq(p, (size_t)(e - p), "infinity")) {
    *out = neg ? -__builtin_inf() : __builtin_inf();
    return true;
  }
  uint64_t w = 0;
  int digits = 0;       /* significant digits kept in w */
  bool dropped = false; /* non-zero digits beyond the 19 kept */
  int64_t exp10 = 0;
  bool any = false;
  for (; p < e && (unsigned)(*p - '0') <= 9; p++) {
    any = true;
    if (digits < 19) {
      if (w || *p != '0') digits++, w = w * 10 + (uint64_t)(*p - '0');
    } else {
      exp10++;
      dropped |= *p != '0';
    }
  }
  if (p < e && *p == '.') {
    for (p++; p < e && (unsigned)(*p - '0') <= 9; p++) {
      any = true;
      if (digits < 19) {
        if (w || *p != '0') digits++, w = w * 10 + (uint64_t)(*p - '0');
        exp10--;
      } else {
        dropped |= *p != '0';
      }
    }
  }
  if (!any) return false;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    bool eneg = false;
    if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (p == e) return false;
    int64_t x = 0;
    for (; p < e && (unsigned)(*p - '0') <= 9; p++) {
      if (x < 100000) x = x * 10 + (*p - '0');
      else dropped = true; /* an exponent this long: strtod's answer, not a cut one */
    }
    exp10 += eneg ? -x : x;
  }
  if (p != e) return false;
  if (w == 0) {
    *out = neg ? -0.0 : 0.0;
    return true;
  }
  if (!dropped && gdf_f64_from(w, exp10, neg, out)) return true;
  return slow_path(s, n, out);
}
