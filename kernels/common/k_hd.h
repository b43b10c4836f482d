/*
 * k_hd.h - the host/device math that every kernel shares: GDF_HD, the row
 * filter that filter_agg, groupby_agg and histogram take as their first
 * four parameters, and sums that keep infinities and overflow as numpy does.
 *
 * Plain C99 that nvcc also compiles: no libc calls beyond what CUDA provides
 * on the device (isnan, sqrt), no statics. GDF_HD marks every function
 * __host__ __device__ under nvcc, so a CUDA kernel uses the same definitions
 * as the CPU reference it is tested against. The gdf_fa_ names say where
 * they come from: filter_agg's filter and sums, which the others follow.
 */
#ifndef GPUDF_K_HD_H
#define GPUDF_K_HD_H

#include <math.h>

#ifndef GDF_HD
#ifdef __CUDACC__
#define GDF_HD __host__ __device__
#else
#define GDF_HD
#endif
#endif

/* The filter's parameters, first in the config row of every kernel that
 * takes it (so gdf_fa_pass and gdf_k_check_filter apply unchanged). */
enum { GDF_K_FILTER_COL = 0, GDF_K_OP = 1, GDF_K_LO = 2, GDF_K_HI = 3, GDF_K_NFILTER = 4 };

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

/* The shift of a block whose passing values sum to sum + big * 2^600. */
GDF_HD static inline double gdf_fa_shift(double n, double sum, double big) {
  return big == 0.0 ? sum / n : (big / n + (sum / n) * GDF_FA_DOWN) * GDF_FA_UP;
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

#endif /* GPUDF_K_HD_H */
