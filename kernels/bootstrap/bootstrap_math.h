/*
 * bootstrap_math.h - parameter layout and the counter-based draw of the
 * bootstrap kernel, shared by the CPU reference and the CUDA kernel: draw j
 * of the replicate with seed s is a pure function of (s, j, N'), so a
 * replicate is the same on every backend, batch size and worker count.
 */
#ifndef GPUDF_BOOTSTRAP_MATH_H
#define GPUDF_BOOTSTRAP_MATH_H

#include <stdint.h>

#include "k_hd.h" /* GDF_HD, math.h */

enum { GDF_BS_COL = 0, GDF_BS_SEED = 1, GDF_BS_STAT = 2, GDF_BS_NPARAMS = 3 };
enum { GDF_BS_MEAN = 0, GDF_BS_STD = 1, GDF_BS_SUM = 2, GDF_BS_NSTATS = 3 };

/* splitmix64's output function: a bijection of 64-bit words whose outputs
 * for consecutive inputs pass BigCrush, so it serves as a counter RNG. */
GDF_HD static inline uint64_t gdf_bs_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The replicate's key: seeds next to each other give unrelated streams. */
GDF_HD static inline uint64_t gdf_bs_key(double seed) {
  return gdf_bs_mix((uint64_t)seed ^ 0x6A09E667F3BCC909ull);
}

/* Index of draw j among n values. The modulo's bias is below n / 2^64. */
GDF_HD static inline uint64_t gdf_bs_draw(uint64_t key, uint64_t j, uint64_t n) {
  return gdf_bs_mix(key + (j + 1) * 0x9E3779B97F4A7C15ull) % n;
}

/* The statistic from the draws' count n, sum + big * 2^600, smallest and
 * largest value, and (std) the sums ds of d = v - shift and d2 of d * d
 * around shift = their rounded mean: none gives NaN for every stat (the
 * replicate of an empty column has no sum either), std has ddof 1 (NaN
 * under 2 values); infinities follow filter_agg (gdf_fa_total, gdf_fa_std). */
GDF_HD static inline double gdf_bs_value(int stat, double n, double sum, double big,
                                         double min, double max, double ds, double d2) {
  if (!(n > 0.0)) return NAN;
  if (stat == GDF_BS_SUM) return gdf_fa_total(sum, big, min, max);
  if (stat == GDF_BS_MEAN) return gdf_fa_mean_of(n, sum, big, min, max);
  if (n < 2.0) return NAN;
  double m2 = d2 - ds * (ds / n); /* corrected two-pass: removes shift's error */
  return gdf_fa_std(n, m2 > 0.0 || m2 != m2 ? m2 : 0.0, min, max);
}

#endif
