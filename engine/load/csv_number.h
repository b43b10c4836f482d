/* csv_number.h - exact decimal text to int64 and double, for the CSV reader.
 *
 * Two kinds of entry points:
 *  - gdf_parse_i64 / gdf_parse_f64 take a field (pointer and length) and
 *    accept surrounding spaces, inf/infinity and any number of digits; they
 *    define what the reader calls an integer and a number.
 *  - the gdf_skip_* / gdf_scan_* inlines read a number straight from the
 *    file at p and return where it stopped (or NULL). They accept only the
 *    common plain forms, a subset of what the parse functions accept, and
 *    give the same values; the reader checks that a delimiter or a line end
 *    follows, and otherwise tokenizes the field and uses the parse functions.
 *    They read past the number until a byte that cannot continue it, and
 *    load 16 bytes at a time (SSE2; 8 for the digit values), so the buffer
 *    must end with such a byte followed by at least 16 readable bytes (the
 *    reader maps a '\n' and 63 zero bytes after the file's last byte). */
#ifndef GPUDF_CSV_NUMBER_H
#define GPUDF_CSV_NUMBER_H

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* [+-]digits, surrounding spaces allowed. false when the text is not an
 * integer; *overflow is set when it is one but does not fit. */
bool gdf_parse_i64(const char *s, size_t n, int64_t *out, bool *overflow);

/* Whether the integer s[0..n) (one gdf_parse_i64 accepts, of any size) is a
 * double exactly: gdf_parse_f64 gives its value, not a rounded one. All
 * integers up to 2^53 in magnitude are; above, only some (2^60, 10^20). */
bool gdf_int_is_exact_f64(const char *s, size_t n);

/* A decimal number ([+-]digits[.digits][(e|E)[+-]digits], or inf/infinity),
 * surrounding spaces allowed, to the correctly rounded double. Fast paths
 * for up to 19 significant digits and small exponents (gdf_f64_from); strtod
 * (C locale) otherwise. false when the text is not a number. */
bool gdf_parse_f64(const char *s, size_t n, double *out);

/* ------------------------------------------------------------ inlines */

static inline bool gdf_is_digit(char c) { return (unsigned char)(c - '0') < 10; }

/* The value of the eight digits at p. */
static inline uint32_t gdf_eight_value(const char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  v -= UINT64_C(0x3030303030303030);
  /* little-endian: the first digit is the low byte. Combine neighbours
   * into 2-digit, then 4-digit, then the 8-digit value. */
  v = (v * 10 + (v >> 8)) & UINT64_C(0x00FF00FF00FF00FF);
  v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF);
  v = (v * 10000 + (v >> 32)) & UINT64_C(0x00000000FFFFFFFF);
  return (uint32_t)v;
}

/* How many digits start at p. */
static inline size_t gdf_digit_run(const char *p) {
  size_t n = 0;
#ifdef __SSE2__
  for (;;) {
    __m128i v = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + n)),
                             _mm_set1_epi8('0'));
    /* digits are the bytes 0..9 now: min(v, 9) == v */
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(9)), v));
    if (m != 0xFFFF) return n + (size_t)__builtin_ctz(~m);
    n += 16;
  }
#else
  while (gdf_is_digit(p[n])) n++;
  return n;
#endif
}

static const uint64_t gdf_pow10_u64[20] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u,
                                           10000000u, 100000000u, 1000000000u,
                                           UINT64_C(10000000000), UINT64_C(100000000000),
                                           UINT64_C(1000000000000), UINT64_C(10000000000000),
                                           UINT64_C(100000000000000),
                                           UINT64_C(1000000000000000),
                                           UINT64_C(10000000000000000),
                                           UINT64_C(100000000000000000),
                                           UINT64_C(1000000000000000000),
                                           UINT64_C(10000000000000000000)};

/* The value of the n <= 19 digits at p (which has 8 readable bytes more). */
static inline uint64_t gdf_digits_value(const char *p, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t w = 0;
  for (; n >= 8; n -= 8, p += 8) w = w * 100000000 + gdf_eight_value(p);
  if (n) {
    /* the n digits into the high bytes, zeros (leading zeros) below */
    uint64_t v;
    memcpy(&v, p, 8);
    v = (v - UINT64_C(0x3030303030303030)) << (8 * (8 - n));
    v = (v * 10 + (v >> 8)) & UINT64_C(0x00FF00FF00FF00FF);
    v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF);
    v = (v * 10000 + (v >> 32)) & UINT64_C(0x00000000FFFFFFFF);
    w = w * gdf_pow10_u64[n] + v;
  }
  return w;
#else
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w = w * 10 + (uint64_t)(p[i] - '0');
  return w;
#endif
}

static inline const char *gdf_skip_digits(const char *p) { return p + gdf_digit_run(p); }

/* [+-]?d{1,18}: where it ends, or NULL. Such an integer always fits. */
static inline const char *gdf_skip_i64(const char *p) {
  p += *p == '-' || *p == '+';
  const char *s = p;
  p = gdf_skip_digits(p);
  return (size_t)(p - s) - 1 < 18 ? p : NULL;
}

/* Whether a double holds v exactly (2^63, what INT64_MAX rounds to, does
 * not convert back). */
static inline bool gdf_i64_is_exact_f64(int64_t v) {
  const int64_t two53 = INT64_C(1) << 53;
  if (v >= -two53 && v <= two53) return true;
  double d = (double)v;
  return d < 9223372036854775808.0 && (int64_t)d == v;
}

static inline const char *gdf_scan_i64(const char *p, int64_t *out) {
  bool neg = *p == '-';
  p += *p == '-' || *p == '+';
  size_t n = gdf_digit_run(p);
  if (n - 1 >= 18) return NULL;
  uint64_t v = gdf_digits_value(p, n);
  *out = neg ? -(int64_t)v : (int64_t)v;
  return p + n;
}

/* [+-]?digits[.digits][(e|E)[+-]?digits] with at least one mantissa digit:
 * where it ends, or NULL. */
static inline const char *gdf_skip_f64(const char *p) {
  p += *p == '-' || *p == '+';
  const char *s = p;
  p = gdf_skip_digits(p);
  size_t nd = (size_t)(p - s);
  if (*p == '.') {
    s = ++p;
    p = gdf_skip_digits(p);
    nd += (size_t)(p - s);
  }
  if (nd == 0) return NULL;
  if ((*p | 0x20) == 'e') {
    p++;
    p += *p == '-' || *p == '+';
    if (!gdf_is_digit(*p)) return NULL;
    p = gdf_skip_digits(p);
  }
  return p;
}

/* The gdf_skip_f64 forms a double holds as written or that are decimal
 * (a '.' or an exponent): an integer of more than 15 digits, which may not
 * be a double exactly (gdf_int_is_exact_f64), gives NULL. */
static inline const char *gdf_skip_exact_f64(const char *p) {
  const char *end = gdf_skip_f64(p), *s = p + (*p == '-' || *p == '+');
  /* Digits alone all the way to the end: an integer. */
  if (end && end - s > 15 && gdf_skip_digits(s) == end) return NULL;
  return end;
}

/* v (not negative) negated when neg, without a branch: signs in a column of
 * numbers follow no pattern a branch predictor could learn. */
static inline double gdf_with_sign(double v, bool neg) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  bits |= (uint64_t)neg << 63;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static const double gdf_pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                           1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                           1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64
#define GDF_X87 1
/* 10^0..10^27 in x87 extended precision: 5^27 < 2^64, so all are exact. */
static const long double gdf_pow10_x87[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

/* w * 10^e10 (w != 0 has at most 19 digits, so w < 2^64), negated when
 * neg, correctly rounded; false when no fast path decides it.
 *  - Clinger: w <= 2^53 and |e10| <= 22 are exact doubles, so one IEEE
 *    multiply or divide rounds correctly.
 *  - x87: w and 10^|e10| (|e10| <= 27) are exact 64-bit-mantissa values, so
 *    one extended multiply or divide gives L, the exact value x rounded to 64
 *    bits (|L - x| <= half an extended ulp). Rounding L to 53 bits gives the
 *    double nearest x unless a double midpoint lies between x and L; every
 *    midpoint is an extended value whose 11 low mantissa bits are 0x400, so
 *    unless L itself is such a midpoint it is at least one extended ulp from
 *    L, farther than x, and the rounding is right. The one case left (L a
 *    midpoint) goes to strtod. The x87 control word is checked first (64-bit
 *    precision, rounding to nearest, as Linux starts every process). */
static inline bool gdf_f64_from(uint64_t w, int64_t e10, bool neg, double *out) {
  const uint64_t two53 = UINT64_C(1) << 53;
  if (w <= two53) {
    double v = (double)w;
    if (e10 >= -22 && e10 <= 22) {
      v = e10 < 0 ? v / gdf_pow10_exact[-e10] : v * gdf_pow10_exact[e10];
      *out = gdf_with_sign(v, neg);
      return true;
    }
    if (e10 > 22 && e10 <= 22 + 15) {
      /* w * 10^(e10-22) may still be an exact integer below 2^53 */
      double m = v * gdf_pow10_exact[e10 - 22];
      if (m < (double)two53) { /* else the product was rounded */
        v = m * 1e22;
        *out = gdf_with_sign(v, neg);
        return true;
      }
    }
  }
#ifdef GDF_X87
  unsigned short cw; /* precision control 64 bits, rounding to nearest? */
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  if (e10 >= -27 && e10 <= 27 && (cw & 0xF00) == 0x300) {
    long double x = (long double)w;
    x = e10 < 0 ? x / gdf_pow10_x87[-e10] : x * gdf_pow10_x87[e10];
    uint64_t mant;
    memcpy(&mant, &x, sizeof mant); /* the explicit 64-bit significand */
    if ((mant & 0x7FF) == 0x400) return false;
    double v = (double)x;
    *out = gdf_with_sign(v, neg);
    return true;
  }
#endif
  return false;
}

#ifdef __SSE2__
/* Bit i set where byte i of the 16 bytes at p is a digit, '.', 'e' or 'E'. */
static inline void gdf_classes16(const char *p, uint32_t *digit, uint32_t *dot, uint32_t *e) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  *digit = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
  *dot = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
  *e = (uint32_t)_mm_movemask_epi8(
      _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('e')));
}

/* gdf_scan_f64 for a number without exponent that ends within the 16 bytes
 * at p (the common case). The classes of all 16 bytes come from one load, so
 * where the number ends, which the next field waits for, is known after a
 * few bit operations instead of a chain of loads. The digits are read as in
 * gdf_scan_f64 and give the same value. *done false: this does not apply,
 * and gdf_scan_f64 reads the number its own way. */
static inline const char *gdf_scan_f64_window(const char *p, double *out, bool *done) {
  uint32_t digit, dot, e;
  gdf_classes16(p, &digit, &dot, &e);
  bool neg = *p == '-';
  unsigned s = *p == '-' || *p == '+';
  unsigned ni = (unsigned)__builtin_ctz(~(digit >> s)); /* bits 16.. are 1: at most 16 */
  unsigned pos = s + ni, nf = 0, end = pos;
  if ((dot >> pos) & 1) {
    nf = (unsigned)__builtin_ctz(~(digit >> (pos + 1)));
    end = pos + 1 + nf;
  }
  /* the byte after the number must be in the window, and not an exponent */
  *done = end < 16 && !((e >> end) & 1) && ni + nf - 1 < 19;
  if (!*done) return NULL;
  uint64_t w = gdf_digits_value(p + s, ni) * gdf_pow10_u64[nf] + gdf_digits_value(p + pos + 1, nf);
  if (w == 0) {
    *out = gdf_with_sign(0.0, neg);
    return p + end;
  }
  return gdf_f64_from(w, -(int64_t)nf, neg, out) ? p + end : NULL;
}
#endif

/* The gdf_skip_f64 forms with at most 19 digits before the exponent (leading
 * zeros included) whose value a fast path decides: where it ends, or NULL. */
static inline const char *gdf_scan_f64(const char *p, double *out) {
#ifdef __SSE2__
  bool done;
  const char *q = gdf_scan_f64_window(p, out, &done);
  if (done) return q;
#endif
  bool neg = *p == '-';
  p += *p == '-' || *p == '+';
  size_t ni = gdf_digit_run(p), nf = 0;
  const char *f = p + ni;
  if (*f == '.') nf = gdf_digit_run(++f);
  if (ni + nf - 1 >= 19) return NULL;
  uint64_t w = gdf_digits_value(p, ni) * gdf_pow10_u64[nf] + gdf_digits_value(f, nf);
  int64_t e10 = -(int64_t)nf;
  p = f + nf;
  if ((*p | 0x20) == 'e') {
    p++;
    bool eneg = *p == '-';
    p += *p == '-' || *p == '+';
    if (!gdf_is_digit(*p)) return NULL;
    int64_t x = 0;
    for (; gdf_is_digit(*p); p++)
      if (x < 100000) x = x * 10 + (*p - '0');
    if (x >= 100000) return NULL; /* the general parser takes long exponents */
    e10 += eneg ? -x : x;
  }
  if (w == 0) {
    *out = gdf_with_sign(0.0, neg);
    return p;
  }
  return gdf_f64_from(w, e10, neg, out) ? p : NULL;
}

#ifdef __cplusplus
}
#endif

#endif
