/*
 * histogram_math.h - parameter layout and numpy's bin index, shared by the
 * CPU reference and the CUDA kernel so both put every value in the same bin.
 */
#ifndef GPUDF_HISTOGRAM_MATH_H
#define GPUDF_HISTOGRAM_MATH_H

#include "k_hd.h"

/* The filter comes first (k_hd.h); the histogram's own range is
 * range_lo/range_hi because lo/hi are the filter's. */
enum {
  GDF_HI_FILTER_COL = GDF_K_FILTER_COL,
  GDF_HI_OP = GDF_K_OP,
  GDF_HI_LO = GDF_K_LO,
  GDF_HI_HI = GDF_K_HI,
  GDF_HI_COL = 4,
  GDF_HI_BINS = 5,
  GDF_HI_RANGE_LO = 6,
  GDF_HI_RANGE_HI = 7,
  GDF_HI_NPARAMS = 8
};

/* Left edge of bin i as numpy.linspace computes it (i * step + lo, the last
 * edge exactly hi). */
GDF_HD static inline double gdf_hi_edge(long long i, long long bins, double lo, double hi) {
  return i == bins ? hi : (double)i * ((hi - lo) / (double)bins) + lo;
}

/* Whether the bins + 1 edges strictly increase, as numpy.histogram demands
 * ("Too many bins for data range"): a range a few ulps wide cannot hold
 * bins distinct edges, and binning by equal edges is meaningless. With a
 * step above 8 ulps of the largest magnitude involved the rounding of
 * i * step + lo (half an ulp each, at most 2 ulps together) cannot undo it;
 * below that every edge is compared. numpy's own step 0 (a width below
 * bins times the smallest double) makes the edges (i / bins) * width + lo,
 * which can never be bins + 1 distinct values either. Host only (validation
 * runs before any launch; nextafter is a host function for nvcc). */
static inline int gdf_hi_edges_increase(long long bins, double lo, double hi) {
  double step = (hi - lo) / (double)bins;
  if (!(step > 0.0)) return 0;
  double m = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
  m = m > hi - lo ? m : hi - lo;
  if (step > 8.0 * (nextafter(m, INFINITY) - m)) return 1;
  for (long long i = 0; i < bins; i++)
    if (!(gdf_hi_edge(i, bins, lo, hi) < gdf_hi_edge(i + 1, bins, lo, hi))) return 0;
  return 1;
}

/* Slot of x: 0..bins-1 a bin, bins underflow (x < lo), bins + 1 overflow
 * (x > hi), -1 NaN (not counted). numpy.histogram's computation: a first
 * guess from (x - lo) * bins / (hi - lo), then moved by one where rounding
 * put x on the wrong side of an edge; hi itself is in the last bin. */
GDF_HD static inline long long gdf_hi_slot(double x, long long bins, double lo, double hi) {
  if (x != x) return -1;
  if (x < lo) return bins;
  if (x > hi) return bins + 1;
  double norm = (double)bins / (hi - lo);
  /* Clamped before the conversion: with a range narrower than bins / DBL_MAX
   * norm is inf and the guess inf or NaN (0 * inf), which a cast to an
   * integer cannot take (found by tests/fuzz/fuzz_config.c). */
  double guess = (x - lo) * norm;
  long long i = guess >= (double)(bins - 1) ? bins - 1 : guess > 0 ? (long long)guess : 0;
  if (x < gdf_hi_edge(i, bins, lo, hi)) {
    if (i > 0) i--;
  } else if (i != bins - 1 && x >= gdf_hi_edge(i + 1, bins, lo, hi)) {
    i++;
  }
  return i;
}

#endif
