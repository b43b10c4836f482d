/*
 * ma_crossover_series.h - a series batch of ma_crossover (configs x series
 * in one launch, gdf_kernel_input.series_of) as plain C that nvcc also
 * compiles: how the batch's series are laid out end to end, the fill and
 * prefix sums of each, the CPU path's refusals, and the body one thread
 * runs for one (config, series) pair.
 *
 * The CUDA entry (cuda_ma_crossover.cu) builds the layout on the host with
 * these functions, copies it to the device, and its kernel calls
 * gdf_ma_series_pair for pair k = blockIdx.x * blockDim.x + threadIdx.x.
 * The simulated device's series entry (ma_crossover.c) builds the same
 * layout and calls gdf_ma_series_pair for every k in a loop, and
 * tests/test_k_ma_series.cc does so over random panels against the CPU
 * sweep: the logic the GPU runs is tested without one, only the copies and
 * the launch are device-only.
 *
 * The layout of a batch of n pairs: slot j (0..ns-1) is the j-th distinct
 * series of the pairs, in the order they come; pair[k] is pair k's slot;
 * slot j's rows are [seg[j], seg[j + 1]) of p, H and L: its prices in time
 * order (table rows order[starts[q]] .. order[starts[q + 1] - 1] of series
 * q = series[j]), filled (a NaN or infinite price carries the last finite
 * one), with their two-double prefix sums restarting at 0 at the slot, and
 * first[j] its first finite row within the slot. That is what the CPU path
 * computes for one series (ma_group over in->rows), so each pair's results
 * are the CPU's bit for bit.
 */
#ifndef GPUDF_MA_CROSSOVER_SERIES_H
#define GPUDF_MA_CROSSOVER_SERIES_H

#include <stdint.h>

#include "gpudf.h" /* GPUDF_TYPE_* */
#include "ma_crossover_math.h"

/* Fills the prices p[0..n) in place (from the first finite one on, a NaN or
 * infinite price carries the last finite one) and writes their two-double
 * prefix sums to H and L (0 before the first finite row). Returns that
 * first finite row, n when there is none. The one loop of both the CUDA
 * batches that compute prefix sums themselves and the series layout. */
GDF_HD static inline int64_t gdf_ma_fill_prefix(double *p, int64_t n, double *H, double *L) {
  int64_t first = 0;
  while (first < n && !gdf_ma_valid(p[first])) first++;
  double hi = 0.0, lo = 0.0, last = 0.0;
  for (int64_t i = 0; i < first; i++) H[i] = L[i] = 0.0;
  for (int64_t i = first; i < n; i++) {
    last = gdf_ma_valid(p[i]) ? p[i] : last;
    p[i] = last;
    gdf_ma_prefix_add(&hi, &lo, last);
    H[i] = hi, L[i] = lo;
  }
  return first;
}

/* Row i of a host column of type type as a double (as the CPU reads it). */
static inline double gdf_ma_host_value(const void *data, int type, int64_t i) {
  switch (type) {
  case GPUDF_TYPE_I32: return (double)((const int32_t *)data)[i];
  case GPUDF_TYPE_I64: return (double)((const int64_t *)data)[i];
  case GPUDF_TYPE_F32: return (double)((const float *)data)[i];
  case GPUDF_TYPE_F64: return ((const double *)data)[i];
  default: return (double)((const uint8_t *)data)[i];
  }
}

/* The slots of n pairs whose series are series_of[0..n): series[0..ns) and
 * pair[0..n); series has room for n. Returns ns. (The sweep orders a
 * claim's pairs by series: the last slot is looked at first.) */
static inline int64_t gdf_ma_series_slots(const int64_t *series_of, int64_t n, int64_t *series,
                                          int *pair) {
  int64_t ns = 0;
  for (int64_t k = 0; k < n; k++) {
    int64_t q = series_of[k], j = ns - 1;
    if (j < 0 || series[j] != q) {
      j = 0;
      while (j < ns && series[j] != q) j++;
    }
    if (j == ns) series[ns++] = q;
    pair[k] = (int)j;
  }
  return ns;
}

/* seg[0..ns]: slot j's rows in the gathered arrays are [seg[j], seg[j + 1]). */
static inline void gdf_ma_series_segments(const int64_t *series, int64_t ns,
                                          const int64_t *starts, int64_t *seg) {
  seg[0] = 0;
  for (int64_t j = 0; j < ns; j++)
    seg[j + 1] = seg[j] + (starts[series[j] + 1] - starts[series[j]]);
}

/* Each slot's prices gathered from the host column (data, type) through the
 * row order into p, filled, with their prefix sums in H and L, and first[j]
 * (gdf_ma_fill_prefix per slot). p, H and L have seg[ns] rows. */
static inline void gdf_ma_series_gather(const void *data, int type, const int64_t *order,
                                        const int64_t *starts, const int64_t *series,
                                        int64_t ns, const int64_t *seg, double *p, double *H,
                                        double *L, int64_t *first) {
  for (int64_t j = 0; j < ns; j++) {
    const int64_t *rows = order + starts[series[j]];
    int64_t o = seg[j], len = seg[j + 1] - o;
    for (int64_t i = 0; i < len; i++) p[o + i] = gdf_ma_host_value(data, type, rows[i]);
    first[j] = gdf_ma_fill_prefix(p + o, len, H + o, L + o);
  }
}

/* The CPU path's refusal of a series of len rows whose first finite price
 * is at row first (len: none) for a config with window slow (ma_crossover.c;
 * the message names column name, price_col = c). */
#ifdef __cplusplus
extern "C"
#endif
gpudf_status gdf_ma_series_refusal(const char *name, int c, int slow, int64_t len,
                                   int64_t first);

/* The first of the n pairs (configs[k * GDF_MA_NPARAMS]) that the CPU path
 * refuses: its series has no finite price, or fewer prices from its first
 * finite one than the config's slow window; n when none. The caller fails
 * the batch with gdf_ma_series_refusal and the sweep then runs it series by
 * series, which fails those pairs alone. */
static inline int64_t gdf_ma_series_refused(const double *configs, int64_t n, const int *pair,
                                            const int64_t *seg, const int64_t *first) {
  for (int64_t k = 0; k < n; k++) {
    int j = pair[k];
    int64_t len = seg[j + 1] - seg[j];
    double slow = configs[k * GDF_MA_NPARAMS + GDF_MA_SLOW];
    if (first[j] == len || slow > (double)(len - first[j])) return k;
  }
  return n;
}

/* What one thread of the launch does for pair k: the backtest of config
 * configs[k * GDF_MA_NPARAMS] over its slot's rows alone, from the slot's
 * first finite row to its last (never into the next slot), its results at
 * out[k * GDF_MA_NRESULTS]. The step, signal and results are the CPU's
 * (gdf_ma_step, gdf_ma_signal2, gdf_ma_finalize). */
GDF_HD static inline void gdf_ma_series_pair(int64_t k, const double *configs, const int *pair,
                                             const int64_t *seg, const int64_t *first,
                                             const double *p, const double *H, const double *L,
                                             double *out) {
  const int j = pair[k];
  const int64_t o = seg[j], nrows = seg[j + 1] - o, f = first[j];
  const double *ps = p + o, *hs = H + o, *ls = L + o;
  const double *c = configs + k * GDF_MA_NPARAMS;
  gdf_ma_state s = gdf_ma_init(c);
  for (int64_t t = f; t + 1 < nrows; t++)
    gdf_ma_step(&s, gdf_ma_signal2(&s, hs, ls, t, f), ps[t], ps[t + 1]);
  gdf_ma_finalize(&s, (double)(nrows - 1 - f), c[GDF_MA_PPY], out + k * GDF_MA_NRESULTS);
}

#endif /* GPUDF_MA_CROSSOVER_SERIES_H */
