/*
 * ma_crossover_math.h - parameter layout and the per-step update of the
 * ma_crossover backtest, shared by the CPU reference and the CUDA kernel so
 * that signals, trades and exposure agree exactly.
 */
#ifndef GPUDF_MA_CROSSOVER_MATH_H
#define GPUDF_MA_CROSSOVER_MATH_H

#include "k_hd.h" /* GDF_HD, math.h */

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
  double equity, peak, trough, max_dd; /* trough: lowest equity since peak */
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
  s.trough = 1.0;
  s.max_dd = 0.0;
  s.n = 0.0;
  s.shift = 0.0;
  s.sum = 0.0;
  s.sumsq = 0.0;
  s.trades = 0.0;
  s.exposed = 0.0;
  return s;
}

/* Missing prices. A price that is NaN or infinite carries the last finite
 * price before it (ffill); rows before the first finite price are outside
 * the backtest (as if the table started there); a column without a finite
 * price is refused. Every result follows from that filled series q. */
GDF_HD static inline int gdf_ma_valid(double p) { return isfinite(p); }

/* s + e = a + b exactly (Knuth's TwoSum; needs no fused multiply-add:
 * the library builds with contraction off). */
GDF_HD static inline void gdf_ma_two_sum(double a, double b, double *s, double *e) {
  double x = a + b, z = x - a;
  *e = (a - (x - z)) + (b - z);
  *s = x;
}

/* Prefix sums of the filled prices as two doubles, hi + lo, from the first
 * finite row on (0 before it): plain double sums lose the low digits of a
 * long, high-priced series (1e6 + a 0.01 random walk over 1e6 rows: their
 * moving averages are off by ~1e-5, enough to flip 12 of 63,696 trades).
 * Each step adds exactly and renormalises, so hi + lo stays within about
 * 2^-104 * (row count) of the exact sum. */
GDF_HD static inline void gdf_ma_prefix_add(double *hi, double *lo, double x) {
  double s, e;
  gdf_ma_two_sum(*hi, x, &s, &e);
  e += *lo;
  *hi = s + e;
  *lo = e - (*hi - s);
}

/* Mean of a window of w rows from the two-double prefix sums at its end
 * (ht + lt, inclusive) and before its start (hs + ls): its sum as hi + lo, then
 * divided by w with one correction step, so the mean is the exact mean of
 * the window rounded to the nearest double (a quotient within ~2^-100 of a
 * halfway point may round the other way). Equal means are therefore equal
 * doubles (a flat stretch, the filled gap of a missing price), and the
 * signal's comparison of two means is exact unless they lie within one
 * rounding (2^-53 relative) of each other. inv_w = 1.0 / w; no division,
 * no fused multiply-add: the same bits on every backend. */
GDF_HD static inline double gdf_ma_mean(double ht, double lt, double hs, double ls, int w,
                                        double inv_w) {
  double d, e, W, We;
  gdf_ma_two_sum(ht, -hs, &d, &e);
  gdf_ma_two_sum(d, e + (lt - ls), &W, &We);
  double q = W * inv_w; /* within ~1 ulp of W / w */
  /* q * w exactly as qh * w + ql * w: qh has 26 bits, w at most 2^26
   * (longer windows are split too), so each product is exact, and W - qh*w,
   * then - ql*w, cancel exactly (Sterbenz): r is the remainder W - q*w. */
  double c = 134217729.0 * q, qh = c - (c - q), ql = q - qh;
  double fw = (double)w, r;
  if (w <= (1 << 26)) {
    r = ((W - qh * fw) - ql * fw) + We;
  } else {
    double cw = 134217729.0 * fw, wh = cw - (cw - fw), wl = fw - wh;
    double p = q * fw;
    double pe = ((qh * wh - p) + qh * wl + ql * wh) + ql * wl;
    r = ((W - p) - pe) + We;
  }
  return q + r * inv_w;
}

/* gdf_ma_mean for w <= 2^26 without the branch (the same operations). */
GDF_HD static inline double gdf_ma_mean26(double ht, double lt, double hs, double ls, double fw,
                                          double inv_w) {
  double d, e, W, We;
  gdf_ma_two_sum(ht, -hs, &d, &e);
  gdf_ma_two_sum(d, e + (lt - ls), &W, &We);
  double q = W * inv_w;
  double c = 134217729.0 * q, qh = c - (c - q), ql = q - qh;
  double r = ((W - qh * fw) - ql * fw) + We;
  return q + r * inv_w;
}

/* gdf_ma_mean of the window of w rows ending at row t. */
GDF_HD static inline double gdf_ma_sma2(const double *H, const double *L, long long t, int w,
                                        double inv_w) {
  long long s = t - w;
  return gdf_ma_mean(H[t], L[t], s < 0 ? 0.0 : H[s], s < 0 ? 0.0 : L[s], w, inv_w);
}

#ifndef __cplusplus
/* row[i] = gdf_ma_sma2(H, L, t0 + i, w, 1.0 / w) for i in [0, len): the
 * rows whose window starts before row 0 first, then a branch-free loop
 * the compiler vectorises (each lane the same IEEE operations: the same
 * bits). For the CPU, which also compiles it for AVX (ma_crossover_avx.c). */
static inline void gdf_ma_sma_row(const double *restrict H, const double *restrict L,
                                  long long t0, long long len, int w, double *restrict row) {
  double inv_w = 1.0 / (double)w;
  long long i = 0;
  for (; i < len && (t0 + i - w < 0 || w > (1 << 26)); i++)
    row[i] = gdf_ma_sma2(H, L, t0 + i, w, inv_w);
  if (i >= len) return;
  const double *restrict Ht = H + t0 + i, *restrict Lt = L + t0 + i;
  const double *restrict Hs = Ht - w, *restrict Ls = Lt - w;
  double *restrict out = row + i, fw = (double)w;
  for (long long j = 0; j < len - i; j++)
    out[j] = gdf_ma_mean26(Ht[j], Lt[j], Hs[j], Ls[j], fw, inv_w);
}
#endif

/* Signal s_t from the two-double prefix sums of the filled series that
 * starts at row t_first: the two moving averages of gdf_ma_sma2 compared,
 * the same expression on every backend. */
GDF_HD static inline double gdf_ma_signal2(const gdf_ma_state *s, const double *H,
                                           const double *L, long long t, long long t_first) {
  if (t - t_first < s->slow - 1) return 0.0;
  return gdf_ma_sma2(H, L, t, s->fast, 1.0 / (double)s->fast) >
                 gdf_ma_sma2(H, L, t, s->slow, 1.0 / (double)s->slow)
             ? 1.0
         : s->long_short ? -1.0
                         : 0.0;
}

/* Folds the drawdown period that ends (at a new peak, or at the end) into
 * max_dd. While a peak stands, 1 - E/peak is largest at the lowest E, and
 * correctly rounded division and subtraction keep that order, so one
 * division per period gives exactly the maximum of one division per step. */
GDF_HD static inline void gdf_ma_close_drawdown(gdf_ma_state *s) {
  double dd = 1.0 - s->trough / s->peak;
  s->max_dd = dd > s->max_dd ? dd : s->max_dd;
}

/* Step t (0..N-2) with the price return r = p_{t+1}/p_t - 1: position s_t
 * earns r, minus the fee on the change of position. */
/* The net return of a step with position sig after prev_s and price
 * return r: sig * r minus the fee on the change of position. */
GDF_HD static inline double gdf_ma_net_return(const gdf_ma_state *s, double sig, double r) {
  return sig * r - s->fee * fabs(sig - s->prev_s);
}

GDF_HD static inline void gdf_ma_step_r(gdf_ma_state *s, double sig, double r) {
  double change = fabs(sig - s->prev_s);
  double R = gdf_ma_net_return(s, sig, r);
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
  if (s->equity > s->peak) {
    gdf_ma_close_drawdown(s);
    s->peak = s->equity;
    s->trough = s->equity;
  } else if (s->equity < s->trough) {
    s->trough = s->equity; /* a NaN equity compares false: ignored, as before */
  }
}

/* Step t from the two prices. */
GDF_HD static inline void gdf_ma_step(gdf_ma_state *s, double sig, double p0, double p1) {
  gdf_ma_step_r(s, sig, p1 / p0 - 1.0);
}

/* Results after the N-1 steps. */
GDF_HD static inline void gdf_ma_finalize(const gdf_ma_state *s, double steps, double ppy,
                                          double *out) {
  gdf_ma_state last = *s;
  gdf_ma_close_drawdown(&last);
  out[GDF_MA_TOTAL_RETURN] = s->equity - 1.0;
  double sharpe = NAN;
  if (steps >= 2.0) {
    double dmean = s->sum / steps;
    double var = (s->sumsq - s->sum * dmean) / (steps - 1.0);
    if (var > 0.0) sharpe = (dmean + s->shift) / sqrt(var) * sqrt(ppy);
  }
  out[GDF_MA_SHARPE] = sharpe;
  out[GDF_MA_MAX_DRAWDOWN] = last.max_dd;
  out[GDF_MA_TRADES] = s->trades;
  out[GDF_MA_EXPOSURE] = steps > 0.0 ? s->exposed / steps : NAN;
}

#endif
