/*
 * filter_agg_math.h - the math of the filter_agg kernel that every backend
 * shares: the per-config accumulator, Chan's merge of two partial results
 * and the final count/sum/mean/min/max/std. The row filter and the sums
 * that other kernels use too are in kernels/common/k_hd.h.
 */
#ifndef GPUDF_FILTER_AGG_MATH_H
#define GPUDF_FILTER_AGG_MATH_H

#include "k_hd.h" /* GDF_HD, the filter, the sums, math.h */

/* Indices of the parameters in a config row. */
enum {
  GDF_FA_FILTER_COL = GDF_K_FILTER_COL,
  GDF_FA_OP = GDF_K_OP,
  GDF_FA_LO = GDF_K_LO,
  GDF_FA_HI = GDF_K_HI,
  GDF_FA_VALUE_COL = 4,
  GDF_FA_NPARAMS = 5
};

/* Result fields, in output order. */
enum {
  GDF_FA_COUNT = 0,
  GDF_FA_SUM = 1,
  GDF_FA_MEAN = 2,
  GDF_FA_MIN = 3,
  GDF_FA_MAX = 4,
  GDF_FA_STD = 5,
  GDF_FA_NRESULTS = 6
};

/* Statistics of a set of values. The variance is kept as m2, the sum of
 * squared deviations from the mean, and the mean as shift + mean: shift is
 * a value near the data (a block's rounded mean, or its first value), so
 * that mean is small against it and exact to the last bits of the spread.
 * A mean of 1e8 then no longer carries an error of ulp(1e8) into m2 (two
 * passes around a rounded mean lost 5e-4 of std for values 1e8 +- 1e-6).
 * sum + big * 2^600 is kept on its own so that the reported sum is a
 * plain sum. */
typedef struct gdf_fa_acc {
  double n;
  double sum;
  double big;
  double shift;
  double mean;
  double m2;
  double min;
  double max;
} gdf_fa_acc;

GDF_HD static inline gdf_fa_acc gdf_fa_empty(void) {
  gdf_fa_acc a;
  a.n = 0.0;
  a.sum = 0.0;
  a.big = 0.0;
  a.shift = 0.0;
  a.mean = 0.0;
  a.m2 = 0.0;
  a.min = INFINITY;
  a.max = -INFINITY;
  return a;
}

/* A block's partial result (n > 0) from its count, sum + big * 2^600, min,
 * max and a second pass around shift: ds the sum of d = v - shift, d2 the
 * sum of d * d. The corrected two-pass formula m2 = d2 - ds^2 / n removes
 * the error of shift as the mean (Chan, Golub & LeVeque 1983). */
GDF_HD static inline gdf_fa_acc gdf_fa_part(double n, double sum, double big, double min,
                                            double max, double shift, double ds, double d2) {
  gdf_fa_acc a;
  a.n = n;
  a.sum = sum;
  a.big = big;
  a.shift = shift;
  a.mean = ds / n;
  double m2 = d2 - ds * a.mean;
  a.m2 = m2 > 0.0 || m2 != m2 ? m2 : 0.0; /* rounding may leave a few -ulps */
  a.min = min;
  a.max = max;
  return a;
}

/* Chan, Golub & LeVeque's pairwise update: merges b into a. Exact in n, min
 * and max; the sum is a's plus b's; mean and m2 lose no more than a few
 * ulps of the spread per merge (the shifts' difference is exact for shifts
 * within a factor 2 of each other). */
GDF_HD static inline void gdf_fa_merge(gdf_fa_acc *a, const gdf_fa_acc *b) {
  if (b->n == 0.0) return;
  if (a->n == 0.0) {
    *a = *b;
    return;
  }
  double n = a->n + b->n, wb = b->n / n;
  double delta = (b->shift - a->shift) + (b->mean - a->mean);
  a->mean += delta * wb;
  a->m2 += b->m2 + delta * delta * (a->n * wb);
  a->n = n;
  gdf_fa_sum_add(&a->sum, &a->big, b->sum);
  a->big += b->big;
  a->min = b->min < a->min ? b->min : a->min;
  a->max = b->max > a->max ? b->max : a->max;
}

/* Adds one value (already known to pass and not to be NaN): Welford's
 * update around the first value, the one-value case of gdf_fa_merge. */
GDF_HD static inline void gdf_fa_add(gdf_fa_acc *a, double v) {
  if (a->n == 0.0) a->shift = v;
  a->n += 1.0;
  gdf_fa_sum_add(&a->sum, &a->big, v);
  double d = v - a->shift;
  double delta = d - a->mean;
  a->mean += delta / a->n;
  a->m2 += delta * (d - a->mean);
  a->min = v < a->min ? v : a->min;
  a->max = v > a->max ? v : a->max;
}

/* Writes count, sum, mean, min, max and the sample std (ddof = 1) as pandas
 * gives them: no values gives count 0, sum 0 and NaN for the rest; one value
 * gives a NaN std. Infinite values: see gdf_fa_total and gdf_fa_std. */
GDF_HD static inline void gdf_fa_finalize(const gdf_fa_acc *a, double *out) {
  double nan = NAN;
  out[GDF_FA_COUNT] = a->n;
  out[GDF_FA_SUM] = gdf_fa_total(a->sum, a->big, a->min, a->max);
  out[GDF_FA_MEAN] = gdf_fa_mean_of(a->n, a->sum, a->big, a->min, a->max);
  out[GDF_FA_MIN] = a->n > 0.0 ? a->min : nan;
  out[GDF_FA_MAX] = a->n > 0.0 ? a->max : nan;
  out[GDF_FA_STD] = a->n > 1.0 ? gdf_fa_std(a->n, a->m2, a->min, a->max) : nan;
}

/* The row filter as one closed interval: a row passes when
 * (a <= x && x <= b) != inv, which is gdf_fa_pass(op, x, lo, hi) for every
 * double x (NaN included) once lo and hi are in the filter column's type
 * (gdf_fa_bound). Strict comparisons become closed ones at the neighbouring
 * double (x < lo is x <= nextafter(lo, -inf) for a non-NaN x), an empty
 * interval is a = +inf, b = -inf, and ne and all are the inverse of eq and of
 * the empty interval: a NaN x, which no closed interval holds, then passes
 * them as it passes ne and all. The CUDA kernels test rows this way, the same
 * two comparisons for every op, so a warp's threads may hold different ops
 * without diverging. */
typedef struct gdf_fa_interval {
  double a, b;
  int inv;
} gdf_fa_interval;

/* Host only: the kernels get their intervals made. */
static inline gdf_fa_interval gdf_fa_interval_of(int op, double lo, double hi) {
  gdf_fa_interval r;
  r.a = INFINITY; /* empty */
  r.b = -INFINITY;
  r.inv = 0;
  switch (op) {
  case GDF_FA_LT:
    if (lo == lo && lo != -INFINITY) r.a = -INFINITY, r.b = nextafter(lo, -INFINITY);
    break;
  case GDF_FA_LE: r.a = -INFINITY, r.b = lo; break;
  case GDF_FA_GT:
    if (lo == lo && lo != INFINITY) r.a = nextafter(lo, INFINITY), r.b = INFINITY;
    break;
  case GDF_FA_GE: r.a = lo, r.b = INFINITY; break;
  case GDF_FA_EQ: r.a = lo, r.b = lo; break;
  case GDF_FA_NE: r.a = lo, r.b = lo, r.inv = 1; break;
  case GDF_FA_BETWEEN: r.a = lo, r.b = hi; break;
  default: r.inv = 1; break; /* all: not in the empty interval */
  }
  return r;
}

GDF_HD static inline int gdf_fa_in(const gdf_fa_interval *f, double x) {
  return (f->a <= x && x <= f->b) != f->inv;
}

/* Ranks: the same filter as a test on integers. Over a set of intervals,
 * bound[0..k) are their distinct endpoints, sorted (== merges -0.0 and
 * 0.0); x's rank is 2 * (endpoints below x) + (x is one of them), and a
 * NaN x has rank GDF_FA_RANK_NAN. An interval [bound[i], bound[j]] is then
 * the ranks 2i+1 .. 2j+1, and every interval, its inverse and the empty one
 * are one range of ranks read around the 32-bit circle: a row passes when
 * (uint32_t)(rank - lo) <= len. NaN's rank lies outside every interval
 * (beyond the last rank) and inside every inverse, as in gdf_fa_in. */
#define GDF_FA_RANK_NAN 0xffffffffu

typedef struct gdf_fa_rankcfg {
  unsigned lo, len;
} gdf_fa_rankcfg;

GDF_HD static inline int gdf_fa_rank_in(gdf_fa_rankcfg c, unsigned rank) {
  return rank - c.lo <= c.len;
}

/* x's rank among bound[0..k) (k < 2^31 - 1). */
GDF_HD static inline unsigned gdf_fa_rank(const double *bound, int k, double x) {
  if (x != x) return GDF_FA_RANK_NAN;
  int lo = 0, hi = k; /* the first bound >= x */
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    if (bound[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return 2u * (unsigned)lo + (lo < k && bound[lo] == x);
}

/* Host only: whether interval f holds any double (no NaN end, a <= b). */
static inline int gdf_fa_interval_nonempty(const gdf_fa_interval *f) {
  return f->a <= f->b;
}

/* Host only: f's range of ranks over bound[0..k), which holds f's ends
 * when it is not empty. */
static inline gdf_fa_rankcfg gdf_fa_rankcfg_of(const gdf_fa_interval *f, const double *bound,
                                                int k) {
  gdf_fa_rankcfg c;
  if (!gdf_fa_interval_nonempty(f)) {
    /* Never (a rank no x has: all ranks are <= 2k or NaN's), or always. */
    c.lo = f->inv ? 0u : GDF_FA_RANK_NAN - 1u;
    c.len = f->inv ? 0xffffffffu : 0u;
    return c;
  }
  unsigned ra = gdf_fa_rank(bound, k, f->a), rb = gdf_fa_rank(bound, k, f->b);
  if (!f->inv) {
    c.lo = ra;
    c.len = rb - ra;
  } else { /* the circle's rest: rb + 1 .. ra - 1 */
    c.lo = rb + 1u;
    c.len = ra - rb - 2u;
  }
  return c;
}

#endif /* GPUDF_FILTER_AGG_MATH_H */
