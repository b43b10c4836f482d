/*
 * k_buckets.h - filter buckets: how a long run of configs that filter the
 * same column (filter_agg's filter, k_hd.h) visits each row once instead of
 * once per config. Private to kernels/ (CPU side).
 *
 * The run's distinct thresholds t_0 < ... < t_{m-1} (lo, and hi for
 * between; in the filter column's type, gdf_fa_bound) cut the filter axis
 * into nb = 2m + 2 buckets: (-inf, t_0), {t_0}, (t_0, t_1), ..., {t_{m-1}},
 * (t_{m-1}, +inf], and NaN last. Every row falls in one bucket, and every
 * config's filter passes exactly the rows of one or two ranges of buckets
 * (gdf_kb.range): a kernel accumulates per bucket and merges each config's
 * ranges at the end. A row's bucket is its rank among the thresholds (how
 * many are below it), found by a guide of equal-width cells when the
 * thresholds are finite and spread, else by a branch-free binary search.
 */
#ifndef GPUDF_K_BUCKETS_H
#define GPUDF_K_BUCKETS_H

#include "k_hd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

/* Configs a run needs before buckets pay: below it, testing each config's
 * filter per row costs less than the search. */
enum { GDF_KB_MIN = 6 };
/* The most thresholds a guide cell may hold (beyond: the binary search). */
enum { GDF_KB_WINDOW = 4 };

typedef struct gdf_kb {
  int32_t m, half; /* distinct thresholds; half: the search's first step */
  int64_t nb;      /* buckets, 2m + 2 */
  double *t;       /* the m thresholds sorted, then NaN (never below x) */
  int32_t *range;  /* per config: two bucket ranges [a, b), [c, d) */
  /* The guide, when the thresholds are finite and spread enough: x's cell
   * is (x - g0) * gscale clamped to [0, gtop], and its rank is within
   * guide[cell] .. guide[cell] + window. */
  double g0, gscale, gtop;
  int32_t window, *guide;
} gdf_kb;

static inline int gdf_kb_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* x's cell of the guide; monotone in x (each step rounds monotonically),
 * which is all the guide needs. NaN goes to cell 0. */
static inline int32_t gdf_kb_cell(const gdf_kb *kb, double x) {
  double g = (x - kb->g0) * kb->gscale;
#if defined(__SSE2__)
  /* maxsd and minsd: GCC branches on the choices, mispredicted. */
  __m128d c = _mm_min_sd(_mm_max_sd(_mm_set_sd(g), _mm_setzero_pd()), _mm_set_sd(kb->gtop));
  return _mm_cvttsd_si32(c);
#else
  return (int32_t)(g >= kb->gtop ? kb->gtop : g > 0.0 ? g : 0.0);
#endif
}

/* The guide over m > 1 sorted thresholds: guide[c] is the number of
 * thresholds whose cell is below c. For x in cell c, a threshold of a lower
 * cell is below x and one of a higher cell above it (monotone cells), so
 * x's rank is guide[c] plus at most the thresholds of cell c: window = the
 * most any cell holds. No guide when a threshold is infinite or a cell
 * holds more than GDF_KB_WINDOW. */
static inline void gdf_kb_guide(gdf_kb *kb) {
  int32_t m = kb->m;
  if (m < 2 || !isfinite(kb->t[0]) || !isfinite(kb->t[m - 1]) ||
      !isfinite(kb->t[m - 1] - kb->t[0]))
    return;
  int32_t cells = 4 * m;
  kb->g0 = kb->t[0], kb->gscale = (double)cells / (kb->t[m - 1] - kb->t[0]);
  kb->gtop = (double)(cells - 1);
  if (!isfinite(kb->gscale)) return;
  int32_t *guide = (int32_t *)calloc((size_t)cells + 1, sizeof *guide);
  if (!guide) return;
  int32_t window = 0;
  for (int32_t j = 0, run = 0, prev = -1; j < m; j++) {
    int32_t c = gdf_kb_cell(kb, kb->t[j]);
    run = c == prev ? run + 1 : 1, prev = c;
    window = run > window ? run : window;
    guide[c + 1]++;
  }
  for (int32_t c = 1; c <= cells; c++) guide[c] += guide[c - 1];
  if (window > GDF_KB_WINDOW) {
    free(guide);
    return;
  }
  kb->guide = guide, kb->window = window;
}

/* Index of v among t[0..m) (present: it came from the run's configs). */
static inline int32_t gdf_kb_find(const double *t, int32_t m, double v) {
  int32_t lo = 0, hi = m - 1;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (t[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static inline void gdf_kb_free(gdf_kb *kb) {
  free(kb->t), free(kb->range), free(kb->guide);
  kb->t = NULL, kb->range = NULL, kb->guide = NULL;
}

/* The buckets of n configs (rows of stride doubles, the filter first: op,
 * lo, hi at GDF_K_OP, GDF_K_LO, GDF_K_HI) over one filter column (f32: of
 * type f32): 1; 0 (nothing held) beyond max_nb buckets; -1 (nothing held)
 * out of memory, which the kernel reports: falling back would give sums in
 * another order depending on memory. (A guide it cannot allocate is only
 * not used: the search finds the same buckets.) */
static inline int gdf_kb_build(gdf_kb *kb, const double *configs, int64_t n, int stride,
                               int f32, int64_t max_nb) {
  *kb = (gdf_kb){0};
  double *t = (double *)malloc(sizeof(double) * (size_t)(2 * n + 1));
  if (!t) return -1;
  int32_t m = 0;
  for (int64_t k = 0; k < n; k++) {
    const double *c = configs + k * stride;
    int op = (int)c[GDF_K_OP];
    double lo = gdf_fa_bound(f32, c[GDF_K_LO]), hi = gdf_fa_bound(f32, c[GDF_K_HI]);
    if (op != GDF_FA_ALL && lo == lo) t[m++] = lo;
    if (op == GDF_FA_BETWEEN && hi == hi) t[m++] = hi;
  }
  qsort(t, (size_t)m, sizeof *t, gdf_kb_cmp);
  int32_t u = 0;
  for (int32_t i = 0; i < m; i++)
    if (u == 0 || t[i] != t[u - 1]) t[u++] = t[i]; /* -0.0 and 0.0 are one */
  m = u;
  int32_t half = 1;
  while (2 * half < m + 1) half *= 2;
  int64_t nb = 2 * (int64_t)m + 2;
  /* NaN after the m thresholds, for the search's 2 * half slots and the
   * guide's window beyond the last. */
  int32_t slots = 2 * half + 1 > m + GDF_KB_WINDOW + 1 ? 2 * half + 1 : m + GDF_KB_WINDOW + 1;
  if (nb > max_nb) {
    free(t);
    return 0;
  }
  double *tt = (double *)realloc(t, sizeof(double) * (size_t)slots);
  int32_t *range = (int32_t *)malloc(sizeof(int32_t) * 4 * (size_t)n);
  if (!tt || !range) {
    free(tt ? tt : t), free(range);
    return -1;
  }
  for (int32_t i = m; i < slots; i++) tt[i] = NAN;
  int32_t all = (int32_t)nb;
  for (int64_t k = 0; k < n; k++) {
    const double *c = configs + k * stride;
    int op = (int)c[GDF_K_OP];
    double lo = gdf_fa_bound(f32, c[GDF_K_LO]), hi = gdf_fa_bound(f32, c[GDF_K_HI]);
    int32_t *g = range + 4 * k, j = lo == lo ? gdf_kb_find(tt, m, lo) : -1;
    g[0] = g[1] = g[2] = g[3] = 0;
    /* A NaN threshold passes no row, except for ne (x != NaN always). */
    if (op == GDF_FA_ALL || (op == GDF_FA_NE && j < 0)) g[1] = all;
    else if (j < 0) continue;
    else if (op == GDF_FA_LT) g[1] = 2 * j + 1;
    else if (op == GDF_FA_LE) g[1] = 2 * j + 2;
    else if (op == GDF_FA_GT) g[0] = 2 * j + 2, g[1] = 2 * m + 1;
    else if (op == GDF_FA_GE) g[0] = 2 * j + 1, g[1] = 2 * m + 1;
    else if (op == GDF_FA_EQ) g[0] = 2 * j + 1, g[1] = 2 * j + 2;
    else if (op == GDF_FA_NE) g[1] = 2 * j + 1, g[2] = 2 * j + 2, g[3] = all;
    else if (hi == hi) g[0] = 2 * j + 1, g[1] = 2 * gdf_kb_find(tt, m, hi) + 2; /* between */
  }
  kb->m = m, kb->half = half, kb->nb = nb, kb->t = tt, kb->range = range;
  gdf_kb_guide(kb);
  return 1;
}

/* The bucket of each of x[0..len): 2 * rank + (x equal to the next
 * threshold), NaN the last (nb - 1). The binary search is branch-free over
 * 2 * half slots (steps half, half / 2, ..., 1 reach 2 * half - 1 >= m,
 * every rank), four rows in lock step so that their chains of dependent
 * loads overlap. */
static inline void gdf_kb_buckets(const gdf_kb *kb, const double *x, int64_t len, int32_t *bk) {
  const double *t = kb->t;
  const int32_t nanb = (int32_t)kb->nb - 1, half = kb->half;
  int64_t i = 0;
#define GDF_KB_BUCKET(k, xi) \
  (nanb ^ (((2 * (k) + (int32_t)(t[k] == (xi))) ^ nanb) & -(int32_t)((xi) == (xi))))
  if (kb->guide) {
    const int32_t *guide = kb->guide, window = kb->window;
    for (; i < len; i++) {
      double xi = x[i];
      int32_t k = guide[gdf_kb_cell(kb, xi)];
      for (int32_t j = 0; j < window; j++) k += (int32_t)(t[k] < xi);
      bk[i] = GDF_KB_BUCKET(k, xi);
    }
  }
  for (; i + 4 <= len; i += 4) {
    double x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    int32_t k0 = 0, k1 = 0, k2 = 0, k3 = 0;
    for (int32_t h = half; h >= 1; h /= 2) {
      k0 += h & -(int32_t)(t[k0 + h - 1] < x0);
      k1 += h & -(int32_t)(t[k1 + h - 1] < x1);
      k2 += h & -(int32_t)(t[k2 + h - 1] < x2);
      k3 += h & -(int32_t)(t[k3 + h - 1] < x3);
    }
    bk[i] = GDF_KB_BUCKET(k0, x0), bk[i + 1] = GDF_KB_BUCKET(k1, x1);
    bk[i + 2] = GDF_KB_BUCKET(k2, x2), bk[i + 3] = GDF_KB_BUCKET(k3, x3);
  }
  for (; i < len; i++) {
    double xi = x[i];
    int32_t k = 0;
    for (int32_t h = half; h >= 1; h /= 2) k += h & -(int32_t)(t[k + h - 1] < xi);
    bk[i] = GDF_KB_BUCKET(k, xi);
  }
#undef GDF_KB_BUCKET
}

#endif
