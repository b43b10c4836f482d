/*
 * ma_crossover_math.h - parameter layout and the per-step update of the
 * ma_crossover backtest, shared by the CPU reference and the CUDA kernel so
 * that signals, trades and exposure agree exactly.
 */
#ifndef GPUDF_MA_CROSSOVER_MATH_H
#define GPUDF_MA_CROSSOVER_MATH_H

#include "filter_agg_math.h" /* GDF_HD, math.h */

enum {
  GDF_MA_PRICE_COL = 0,
  GDF_MA_FAST = 1,
  GDF_MA_SLOW = 2,
  GDF_MA_FEE_BPS = 3,
  GDF_MA_MODE = 4,
  GDF_MA_PPY = 5,
  GDF_MA_NPARAMS = 6
};

enum { GDF_MA_LONG_ONLY = 0, GDF_MA_LONG_SHORT = 1, GDF_MA_NMODES = 2 };

enum {
  GDF_MA_TOTAL_RETURN = 0,
  GDF_MA_SHARPE = 1,
  GDF_MA_MAX_DRAWDOWN = 2,
  GDF_MA_TRADES = 3,
  GDF_MA_EXPOSURE = 4,
  GDF_MA_NRESULTS = 5
};

/* One config's state along the time axis. */
typedef struct gdf_ma_state {
  int fast, slow, long_short;
  double fee;      /* fee_bps / 1e4 */
  double prev_s;   /* s_{t-1}, 0 before the start */
  double equity, peak, max_dd;
  double n, shift;   /* returns so far; the first one */
  double sum, sumsq; /* of R - shift */
  double trades, exposed;
} gdf_ma_state;

GDF_HD static inline gdf_ma_state gdf_ma_init(const double *config) {
  gdf_ma_state s;
  s.fast = (int)config[GDF_MA_FAST];
  s.slow = (int)config[GDF_MA_SLOW];
  s.long_short = (int)config[GDF_MA_MODE] == GDF_MA_LONG_SHORT;
  s.fee = config[GDF_MA_FEE_BPS] / 1e4;
  s.prev_s = 0.0;
  s.equity = 1.0;
  s.peak = 1.0;
  s.max_dd = 0.0;
  s.n = 0.0;
  s.shift = 0.0;
  s.sum = 0.0;
  s.sumsq = 0.0;
  s.trades = 0.0;
  s.exposed = 0.0;
  return s;
}

/* Inclusive prefix sum S_i, with S_{-1} = 0. */
GDF_HD static inline double gdf_ma_prefix(const double *S, long long i) {
  return i < 0 ? 0.0 : S[i];
}

/* Signal s_t from the prefix sums: the two moving averages compared as
 * (S_t - S_{t-w}) / w, the same expression on every backend. */
GDF_HD static inline double gdf_ma_signal(const gdf_ma_state *s, const double *S, long long t) {
  if (t < s->slow - 1) return 0.0;
  double St = S[t];
  double f = (St - gdf_ma_prefix(S, t - s->fast)) / (double)s->fast;
  double w = (St - gdf_ma_prefix(S, t - s->slow)) / (double)s->slow;
  return f > w ? 1.0 : s->long_short ? -1.0 : 0.0;
}

/* Step t (0..N-2): position s_t earns p_{t+1}/p_t - 1, minus the fee on
 * the change of position. */
GDF_HD static inline void gdf_ma_step(gdf_ma_state *s, double sig, double p0, double p1) {
  double r = p1 / p0 - 1.0;
  double change = fabs(sig - s->prev_s);
  double R = sig * r - s->fee * change;
  s->trades += change != 0.0;
  s->exposed += sig != 0.0;
  s->prev_s = sig;
  /* Two sums shifted by the first return instead of Welford, whose
   * per-step division would cost more than the rest of the step: the shift
   * keeps the cancellation of sumsq - sum^2/n small whenever the returns'
   * spread is not far below their distance from the first one (and makes a
   * constant series exactly 0, so its std is 0 and sharpe NaN). */
  if (s->n == 0.0) s->shift = R;
  s->n += 1.0;
  double d = R - s->shift;
  s->sum += d;
  s->sumsq += d * d;
  s->equity *= 1.0 + R;
  s->peak = s->equity > s->peak ? s->equity : s->peak;
  double dd = 1.0 - s->equity / s->peak;
  s->max_dd = dd > s->max_dd ? dd : s->max_dd;
}

/* Results after the N-1 steps. */
GDF_HD static inline void gdf_ma_finalize(const gdf_ma_state *s, double steps, double ppy,
                                          double *out) {
  out[GDF_MA_TOTAL_RETURN] = s->equity - 1.0;
  double sharpe = NAN;
  if (steps >= 2.0) {
    double dmean = s->sum / steps;
    double var = (s->sumsq - s->sum * dmean) / (steps - 1.0);
    if (var > 0.0) sharpe = (dmean + s->shift) / sqrt(var) * sqrt(ppy);
  }
  out[GDF_MA_SHARPE] = sharpe;
  out[GDF_MA_MAX_DRAWDOWN] = s->max_dd;
  out[GDF_MA_TRADES] = s->trades;
  out[GDF_MA_EXPOSURE] = steps > 0.0 ? s->exposed / steps : NAN;
}

#endif
