/*
 * groupby_agg_math.h - parameter layout and per-group finalization of the
 * groupby_agg kernel, shared by the CPU reference and the CUDA kernel.
 */
#ifndef GPUDF_GROUPBY_AGG_MATH_H
#define GPUDF_GROUPBY_AGG_MATH_H

#include "k_hd.h"

/* The first four parameters are the filter (k_hd.h). */
enum {
  GDF_GB_FILTER_COL = GDF_K_FILTER_COL,
  GDF_GB_OP = GDF_K_OP,
  GDF_GB_LO = GDF_K_LO,
  GDF_GB_HI = GDF_K_HI,
  GDF_GB_KEY_COL = 4,
  GDF_GB_VALUE_COL = 5,
  GDF_GB_GROUPS = 6,
  GDF_GB_NPARAMS = 7
};

/* Result fields per group, in output order. */
enum { GDF_GB_COUNT = 0, GDF_GB_SUM, GDF_GB_MEAN, GDF_GB_MIN, GDF_GB_MAX, GDF_GB_NFIELDS };

/* One group's five results from its count, sum, min and max: an empty group
 * is count 0, sum 0 and NaN for the rest. A +inf value makes the sum and
 * mean +inf, a -inf -inf, both NaN, whatever the order of the additions
 * (gdf_fa_total). */
GDF_HD static inline void gdf_gb_finalize(double n, double sum, double min, double max,
                                          double *out) {
  out[GDF_GB_COUNT] = n;
  out[GDF_GB_SUM] = gdf_fa_total(sum, 0.0, min, max);
  out[GDF_GB_MEAN] = gdf_fa_mean_of(n, sum, 0.0, min, max);
  out[GDF_GB_MIN] = n > 0.0 ? min : NAN;
  out[GDF_GB_MAX] = n > 0.0 ? max : NAN;
}

#endif
