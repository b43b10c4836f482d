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
 * (and all, which looks at nothing). */
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

/* Statistics of a set of values. mean and m2 (the sum of squared deviations
 * from mean) are kept instead of a sum of squares, whose cancellation loses
 * every digit of std when the mean is large against the spread. sum is kept
 * on its own so that the reported sum is a plain sum. */
typedef struct gdf_fa_acc {
  double n;
  double sum;
  double mean;
  double m2;
  double min;
  double max;
} gdf_fa_acc;

GDF_HD static inline gdf_fa_acc gdf_fa_empty(void) {
  gdf_fa_acc a;
  a.n = 0.0;
  a.sum = 0.0;
  a.mean = 0.0;
  a.m2 = 0.0;
  a.min = INFINITY;
  a.max = -INFINITY;
  return a;
}

/* A partial result from its count, sum, min, max and the m2 computed around
 * sum / n (a block's second pass). */
GDF_HD static inline gdf_fa_acc gdf_fa_part(double n, double sum, double m2,
                                            double min, double max) {
  gdf_fa_acc a;
  a.n = n;
  a.sum = sum;
  a.mean = n > 0.0 ? sum / n : 0.0;
  a.m2 = m2;
  a.min = min;
  a.max = max;
  return a;
}

/* Chan, Golub & LeVeque's pairwise update: merges b into a. Exact in n, sum,
 * min and max; mean and m2 lose no more than a few ulps per merge. */
GDF_HD static inline void gdf_fa_merge(gdf_fa_acc *a, const gdf_fa_acc *b) {
  if (b->n == 0.0) return;
  if (a->n == 0.0) {
    *a = *b;
    return;
  }
  double n = a->n + b->n;
  double delta = b->mean - a->mean;
  a->mean += delta * (b->n / n);
  a->m2 += b->m2 + delta * delta * (a->n * b->n / n);
  a->n = n;
  a->sum += b->sum;
  a->min = b->min < a->min ? b->min : a->min;
  a->max = b->max > a->max ? b->max : a->max;
}

/* Adds one value (already known to pass and not to be NaN): Welford's
 * update, the one-value case of gdf_fa_merge. */
GDF_HD static inline void gdf_fa_add(gdf_fa_acc *a, double v) {
  a->n += 1.0;
  a->sum += v;
  double delta = v - a->mean;
  a->mean += delta / a->n;
  a->m2 += delta * (v - a->mean);
  a->min = v < a->min ? v : a->min;
  a->max = v > a->max ? v : a->max;
}

/* Writes count, sum, mean, min, max and the sample std (ddof = 1) as pandas
 * gives them: no values gives count 0, sum 0 and NaN for the rest; one value
 * gives a NaN std. */
GDF_HD static inline void gdf_fa_finalize(const gdf_fa_acc *a, double *out) {
  double nan = NAN;
  out[GDF_FA_COUNT] = a->n;
  out[GDF_FA_SUM] = a->sum;
  out[GDF_FA_MEAN] = a->n > 0.0 ? a->sum / a->n : nan;
  out[GDF_FA_MIN] = a->n > 0.0 ? a->min : nan;
  out[GDF_FA_MAX] = a->n > 0.0 ? a->max : nan;
  out[GDF_FA_STD] = a->n > 1.0 ? sqrt(a->m2 / (a->n - 1.0)) : nan;
}

#endif /* GPUDF_FILTER_AGG_MATH_H */
