/*
 * ma_crossover_split.h - the segment logic of the CUDA ma_crossover launch
 * that splits the time axis (cuda_ma_crossover.cu, "Splitting the time
 * axis") as plain C that nvcc also compiles: what a segment's walk starts
 * from, the per-step product of pass 1, the summaries a segment leaves,
 * the scan between the passes and the per-config finish.
 *
 * The kernels call these functions around their tiled walk; the test
 * KMaCrossoverSplit.TheSegmentLogicOnTheHostMatchesTheCpu runs the same
 * functions over every segment in loops against the CPU path and a long
 * double backtest, so only the tiles, copies and launches are device-only.
 *
 * Summaries: field f of segment g of config k (n configs, segs segments)
 * at sum[gdf_ma_sum_at(f, segs, g, n, k)].
 */
#ifndef GPUDF_MA_CROSSOVER_SPLIT_H
#define GPUDF_MA_CROSSOVER_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "ma_crossover_math.h"

enum {
  GDF_MA_SUM_P = 0,       /* pass 1: product of (1 + R) over the segment */
  GDF_MA_SUM_M = 1,       /* pass 1: largest running product (-inf: none) */
  GDF_MA_SUM_EQUITY = 0,  /* pass 2: equity after the segment */
  GDF_MA_SUM_DD = 1,      /* pass 2: largest drawdown closed in the segment */
  GDF_MA_SUM_SUM = 2,     /* pass 2: sum of R - shift */
  GDF_MA_SUM_SQ = 3,      /* pass 2: sum of (R - shift)^2 */
  GDF_MA_SUM_TRADES = 4,  /* pass 2: position changes */
  GDF_MA_SUM_EXPOSED = 5, /* pass 2: steps with a position */
  GDF_MA_SUM_E0 = 6,      /* scan: equity entering the segment */
  GDF_MA_SUM_K0 = 7,      /* scan: peak entering the segment */
  GDF_MA_SUM_SHIFT = 8,   /* pass 2: the shift of the return sums */
  GDF_MA_SUM_FIELDS = 9
};

GDF_HD static inline size_t gdf_ma_sum_at(int f, int segs, int g, int64_t n, int64_t k) {
  return ((size_t)f * (size_t)segs + (size_t)g) * (size_t)n + (size_t)k;
}

/* Sets up s (from gdf_ma_init) for a walk of pass 1 or 2 over the segment
 * that starts at step t_begin. The position entering it is the signal of
 * the bar before, a function of the moving averages there alone. Pass 2
 * also starts from the equity and peak the scan gave the segment, with the
 * shift of the return sums, the first step's return computed as the whole
 * walk computes it (position 0 before it; p0 = the price of row first,
 * p1 the raw price of row first + 1). */
GDF_HD static inline void gdf_ma_split_enter(gdf_ma_state *s, int pass, const double *H,
                                             const double *L, int64_t t_begin, int64_t first,
                                             double p0, double p1, const double *sum, int segs,
                                             int g, int64_t n, int64_t k) {
  s->prev_s = t_begin > first ? gdf_ma_signal2(s, H, L, t_begin - 1, first) : 0.0;
  if (pass != 2) return;
  gdf_ma_state s0 = *s;
  s0.prev_s = 0.0;
  p1 = gdf_ma_valid(p1) ? p1 : p0;
  s->shift = gdf_ma_net_return(&s0, gdf_ma_signal2(&s0, H, L, first, first), p1 / p0 - 1.0);
  s->n = 1.0; /* the shift is set: gdf_ma_step_r keeps it */
  s->equity = sum[gdf_ma_sum_at(GDF_MA_SUM_E0, segs, g, n, k)];
  s->peak = sum[gdf_ma_sum_at(GDF_MA_SUM_K0, segs, g, n, k)];
  s->trough = s->equity;
}

/* A step of pass 1: the equity product as gdf_ma_step_r forms it, from 1
 * at the segment's start (*P), and its peak test (*M; a NaN never raises
 * it). */
GDF_HD static inline void gdf_ma_split_product(gdf_ma_state *s, double sig, double r, double *P,
                                               double *M) {
  *P *= 1.0 + gdf_ma_net_return(s, sig, r);
  s->prev_s = sig;
  *M = *P > *M ? *P : *M;
}

/* The segment's summaries after its walk: pass 1 its product P and peak
 * product M; pass 2 (s walked by gdf_ma_step_r) its last equity, its
 * drawdowns closed (the last one too), its sums and counts, the shift. */
GDF_HD static inline void gdf_ma_split_leave(gdf_ma_state *s, int pass, double P, double M,
                                             double *sum, int segs, int g, int64_t n, int64_t k) {
  if (pass != 2) {
    sum[gdf_ma_sum_at(GDF_MA_SUM_P, segs, g, n, k)] = P;
    sum[gdf_ma_sum_at(GDF_MA_SUM_M, segs, g, n, k)] = M;
    return;
  }
  gdf_ma_close_drawdown(s);
  sum[gdf_ma_sum_at(GDF_MA_SUM_EQUITY, segs, g, n, k)] = s->equity;
  sum[gdf_ma_sum_at(GDF_MA_SUM_DD, segs, g, n, k)] = s->max_dd;
  sum[gdf_ma_sum_at(GDF_MA_SUM_SUM, segs, g, n, k)] = s->sum;
  sum[gdf_ma_sum_at(GDF_MA_SUM_SQ, segs, g, n, k)] = s->sumsq;
  sum[gdf_ma_sum_at(GDF_MA_SUM_TRADES, segs, g, n, k)] = s->trades;
  sum[gdf_ma_sum_at(GDF_MA_SUM_EXPOSED, segs, g, n, k)] = s->exposed;
  sum[gdf_ma_sum_at(GDF_MA_SUM_SHIFT, segs, g, n, k)] = s->shift;
}

/* Between the passes, for config k: the equity and peak entering each
 * segment, from the segments' products in order (E' = E P, K' = max(K,
 * E M); a NaN never raises the peak, as in gdf_ma_step_r). */
GDF_HD static inline void gdf_ma_split_scan(double *sum, int segs, int64_t n, int64_t k) {
  double E = 1.0, K = 1.0;
  for (int g = 0; g < segs; g++) {
    sum[gdf_ma_sum_at(GDF_MA_SUM_E0, segs, g, n, k)] = E;
    sum[gdf_ma_sum_at(GDF_MA_SUM_K0, segs, g, n, k)] = K;
    double top = E * sum[gdf_ma_sum_at(GDF_MA_SUM_M, segs, g, n, k)];
    K = top > K ? top : K;
    E *= sum[gdf_ma_sum_at(GDF_MA_SUM_P, segs, g, n, k)];
  }
}

/* After pass 2, for config k (config: its parameter row): the segments'
 * counts and sums added in order, their largest drawdown and the last
 * one's equity, finalized as the whole walk would be (steps: all of them). */
GDF_HD static inline void gdf_ma_split_finish(const double *config, const double *sum, int segs,
                                              int64_t n, int64_t k, double steps, double *out) {
  gdf_ma_state s = gdf_ma_init(config);
  for (int g = 0; g < segs; g++) {
    double dd = sum[gdf_ma_sum_at(GDF_MA_SUM_DD, segs, g, n, k)];
    s.max_dd = dd > s.max_dd ? dd : s.max_dd;
    s.sum += sum[gdf_ma_sum_at(GDF_MA_SUM_SUM, segs, g, n, k)];
    s.sumsq += sum[gdf_ma_sum_at(GDF_MA_SUM_SQ, segs, g, n, k)];
    s.trades += sum[gdf_ma_sum_at(GDF_MA_SUM_TRADES, segs, g, n, k)];
    s.exposed += sum[gdf_ma_sum_at(GDF_MA_SUM_EXPOSED, segs, g, n, k)];
  }
  s.equity = sum[gdf_ma_sum_at(GDF_MA_SUM_EQUITY, segs, segs - 1, n, k)];
  s.shift = sum[gdf_ma_sum_at(GDF_MA_SUM_SHIFT, segs, 0, n, k)]; /* finalize adds it back */
  s.peak = s.trough = 1.0; /* every drawdown is closed: the last close adds nothing */
  gdf_ma_finalize(&s, steps, config[GDF_MA_PPY], out);
}

#endif
