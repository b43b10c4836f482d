/*
 * filter_agg_math.h - the math of the filter_agg kernel that every backend
 * shares: the row predicate, the per-config accumulator, Chan's merge of two
 * partial results and the final count/sum/mean/min/max/std.
 *
 * Plain C99 that nvcc also compiles: no libc calls beyond what CUDA provides
 * on the device (isnan, sqrt), no statics. GDF_HD marks every function
 * __host__ __device__ under nvcc, so the CUDA kernel uses the same definitions
 * as the CPU reference it is tested against.
 */
#ifndef GPUDF_FILTER_AGG_MATH_H
#define GPUDF_FILTER_AGG_MATH_H

#include <math.h>

#ifndef GDF_HD
#ifdef __CUDACC__
#define GDF_HD __host__ __device__
#else
#define GDF_HD
#endif
#endif

/* Indices of the parameters in a config row. */
enum {
  GDF_FA_FILTER_COL = 0,
  GDF_FA_OP = 1,
  GDF_FA_LO = 2,
  GDF_FA_HI = 3,
  GDF_FA_VALUE_COL = 4,
  GDF_FA_NPARAMS = 5
};

/* The op choice, in the order of its choice names. */
enum {
  GDF_FA_ALL = 0,
  GDF_FA_LT = 1,
  GDF_FA_LE = 2,
  GDF_FA_GT = 3,
  GDF_FA_GE = 4,
  GDF_FA_EQ = 5,
  GDF_FA_NE = 6,
  GDF_FA_BETWEEN = 7,
  GDF_FA_NOPS = 8
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

/* Whether a row whose filter value is x passes. The comparisons are C's,
 * which are numpy's: a NaN x compares false, so it fails every op but ne
 * (and all, which looks at nothing). lo and hi are already in the filter
 * column's type (gdf_fa_bound). */
GDF_HD static inline int gdf_fa_pass(int op, double x, double lo, double hi) {
  switch (op) {
  case GDF_FA_LT: return x < lo;
  case GDF_FA_LE: return x <= lo;
  case GDF_FA_GT: return x > lo;
  case GDF_FA_GE: return x >= lo;
  case GDF_FA_EQ: return x == lo;
  case GDF_FA_NE: return x != lo;
  case GDF_FA_BETWEEN: return lo <= x && x <= hi;
  default: return 1;
  }
}

/* A threshold as the comparison with a column of that type sees it:
 * numpy >= 2 (NEP 50) compares a float32 array with a Python float in
 * float32, so for an f32 column (f32 != 0) the threshold is rounded to the
 * nearest float first (beyond float's range to +-inf, as numpy's cast does);
 * the float values are exact as doubles, so comparing them in double then
 * gives float32's answer. Every other type is compared in float64 as numpy
 * does (int64 values beyond 2^53 rounded to double first). Done by hand
 * beyond FLT_MAX, where C leaves the conversion undefined. */
GDF_HD static inline double gdf_fa_bound(int f32, double v) {
  if (!f32 || v != v) return v;
  /* FLT_MAX + half its ulp: from there on float rounds to infinity. */
  const double edge = 0x1.ffffffp127;
  if (v >= edge) return INFINITY;
  if (v <= -edge) return -INFINITY;
  return (double)(float)v;
}

/* ------------------------------------------------------------ sums
 *
 * Infinities and overflow. A sum of values with a +inf is +inf, with a -inf
 * -inf, with both NaN, whatever the order of the additions; numpy gets the
 * same except where a partial sum of finite values overflows first. Those
 * follow from min and max, which every accumulator keeps anyway. Finite
 * values whose partial sums overflow (1e308 + 1e308 - 1e308) are summed
 * again scaled by 2^-600 in "big": the answer is then big * 2^600 + sum,
 * infinite only when it is beyond the double range itself, and the same
 * whichever partial sums overflowed (a batch's order, or the device's). */
#define GDF_FA_DOWN 0x1p-600
#define GDF_FA_UP 0x1p600

/* sum += v, moving both into big when that overflows a finite sum. */
GDF_HD static inline void gdf_fa_sum_add(double *sum, double *big, double v) {
  double s = *sum + v;
  if (isfinite(s) || !isfinite(v) || !isfinite(*sum)) {
    *sum = s;
    return;
  }
  *big += *sum * GDF_FA_DOWN + v * GDF_FA_DOWN;
  *sum = 0.0;
}

/* The sum of values whose smallest is min and largest max (+inf and -inf
 * for none: the sum is then 0). */
GDF_HD static inline double gdf_fa_total(double sum, double big, double min, double max) {
  if (max == INFINITY) return min == -INFINITY ? NAN : INFINITY;
  if (min == -INFINITY) return -INFINITY;
  return big == 0.0 ? sum : (big + sum * GDF_FA_DOWN) * GDF_FA_UP;
}

/* Their mean: NaN for none, the sum's infinity or NaN with an infinite
 * value, else the sum / n without the sum's overflow. */
GDF_HD static inline double gdf_fa_mean_of(double n, double sum, double big, double min,
                                           double max) {
  if (!(n > 0.0)) return NAN;
  if (!isfinite(min) || !isfinite(max)) return gdf_fa_total(sum, big, min, max);
  return big == 0.0 ? sum / n : ((big + sum * GDF_FA_DOWN) / n) * GDF_FA_UP;
}

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

/* The shift of a block whose passing values sum to sum + big * 2^600. */
GDF_HD static inline double gdf_fa_shift(double n, double sum, double big) {
  return big == 0.0 ? sum / n : (big / n + (sum / n) * GDF_FA_DOWN) * GDF_FA_UP;
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

/* The sample std (ddof 1) of an accumulator with n > 1: NaN with an
 * infinite value (as numpy), else sqrt(m2 / (n - 1)); squared deviations
 * beyond the double range give inf, as in numpy and pandas (an m2 of NaN
 * without infinite values is such an overflow: inf - inf). */
GDF_HD static inline double gdf_fa_std(double n, double m2, double min, double max) {
  if (!isfinite(min) || !isfinite(max)) return NAN;
  if (m2 != m2) return INFINITY;
  return sqrt(m2 / (n - 1.0));
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

#endif /* GPUDF_FILTER_AGG_MATH_H */
