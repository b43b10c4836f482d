/*
 * corr_math.h - the math of the corr kernel that its CPU and CUDA versions
 * share: which rows count, how a value is read, the shift and scale chosen
 * between passes, and the final count/corr/cov.
 *
 * The method: three passes over the rows that pass the filter and have
 * neither x nor y NaN.
 *  A. count, min and max of x and y (exact in any order);
 *  B. the sum, min and max of x' = (x - ref) * s, y' likewise: ref is an
 *     integer near the data for an i64 column (so that x - ref is exact
 *     before it becomes a double; 0 for other types) and s a power of two
 *     that brings the largest |x - ref| below 1 (exact, and no square or
 *     product can overflow or underflow on the way);
 *  C. the sums of dx = x' - mean(x') and dy, of dx^2, dy^2 and dx*dy; the
 *     corrected two-pass formula Sxx = sum dx^2 - (sum dx)^2 / n removes
 *     the rounding of the mean (Chan, Golub & LeVeque 1983).
 * A column that is constant over the counted rows (min' == max' in pass B,
 * exact) has no correlation: corr is NaN and cov 0, whatever rounding left
 * in its deviations.
 *
 * Plain C99 that nvcc also compiles (GDF_HD), no statics.
 */
#ifndef GPUDF_CORR_MATH_H
#define GPUDF_CORR_MATH_H

#include <math.h>
#include <stdint.h>

#include "base.h"            /* GPUDF_TYPE_ */
#include "k_hd.h" /* GDF_HD, the row test and the f32 threshold rule */

/* Indices of the parameters in a config row: filter_agg's four filter
 * parameters, then the two columns. */
enum {
  GDF_CO_FILTER_COL = 0,
  GDF_CO_OP = 1,
  GDF_CO_LO = 2,
  GDF_CO_HI = 3,
  GDF_CO_X_COL = 4,
  GDF_CO_Y_COL = 5,
  GDF_CO_NPARAMS = 6
};

/* Result fields, in output order. */
enum { GDF_CO_COUNT = 0, GDF_CO_CORR = 1, GDF_CO_COV = 2, GDF_CO_NRESULTS = 3 };

/* v - ref as a double, exact while |v - ref| < 2^53: computed in two's
 * complement, and in double only when the difference leaves the int64
 * range (a spread of 2^63 or more, beside which that rounding is nothing). */
GDF_HD static inline double gdf_co_shifted(int64_t v, int64_t ref) {
  int64_t d = (int64_t)((uint64_t)v - (uint64_t)ref);
  if ((v >= ref) == (d >= 0)) return (double)d;
  return (double)v - (double)ref;
}

/* Value i of a column of type `type` at data, less ref (i64 columns only;
 * every other type converts to double exactly and ignores ref). */
GDF_HD static inline double gdf_co_load(const void *data, int type, int64_t i, int64_t ref) {
  switch (type) {
  case GPUDF_TYPE_I32: return (double)((const int32_t *)data)[i];
  case GPUDF_TYPE_I64: return gdf_co_shifted(((const int64_t *)data)[i], ref);
  case GPUDF_TYPE_F32: return (double)((const float *)data)[i];
  case GPUDF_TYPE_F64: return ((const double *)data)[i];
  default: return (double)((const uint8_t *)data)[i];
  }
}

/* The integer an i64 column's values are shifted by: its smallest counted
 * value as pass A saw it (rounded to double, so near, not equal), clamped to
 * the int64 range. 0 for other types. */
GDF_HD static inline int64_t gdf_co_ref(int type, double min) {
  if (type != GPUDF_TYPE_I64 || !(min == min)) return 0;
  if (min >= 0x1p63) return INT64_MAX;
  if (min <= -0x1p63) return INT64_MIN;
  return (int64_t)min;
}

/* The power of two s with max(|min - ref|, |max - ref|) * s < 1/2, from
 * pass A's finite min and max: the shifted values then stay below 1 even
 * with pass A's rounding of i64 values. 1 when the extent is 0. */
GDF_HD static inline double gdf_co_scale(double min, double max, int64_t ref) {
  double r = (double)ref, m = fmax(fabs(min - r), fabs(max - r));
  if (!(m > 0.0) || !isfinite(m)) return 1.0;
  int e;
  (void)frexp(m, &e); /* m = f * 2^e, f in [0.5, 1) */
  e += 1;
  if (e < -1000) e = -1000; /* 2^1000 stays finite; such values are subnormal anyway */
  return ldexp(1.0, -e);
}

/* The results of a config from its passes: n counted rows; whether an
 * infinite x or y was among them; x and y constant over them (pass B's
 * exact min' == max'); the pass C sums; the scales. */
GDF_HD static inline void gdf_co_finalize(double n, int infinite, int x_const, int y_const,
                                          double sdx, double sdy, double sxx, double syy,
                                          double sxy, double sx, double sy, double *out) {
  out[GDF_CO_COUNT] = n;
  out[GDF_CO_CORR] = NAN;
  out[GDF_CO_COV] = NAN;
  if (n < 2.0 || infinite) return;
  if (x_const || y_const) {
    out[GDF_CO_COV] = 0.0;
    return;
  }
  double xx = sxx - sdx * (sdx / n), yy = syy - sdy * (sdy / n);
  double xy = sxy - sdx * (sdy / n);
  /* Undo the scales one at a time: cov may be beyond the double range only
   * where the true value is. */
  out[GDF_CO_COV] = xy / (n - 1.0) / sx / sy;
  if (!(xx > 0.0) || !(yy > 0.0)) return;
  double r = xy / sqrt(xx * yy);
  out[GDF_CO_CORR] = r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

#endif
