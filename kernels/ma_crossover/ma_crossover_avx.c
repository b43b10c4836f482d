/*
 * ma_crossover_avx.c - four ma_crossover configs in lock step in the four
 * lanes of AVX registers, for CPUs that have AVX (checked at run time; the
 * library itself is built for baseline x86-64).
 *
 * Every lane performs gdf_ma_step_r's operations, in its order, with the
 * same IEEE double operations (add, sub, mul, div, compare; no fused
 * multiply-add: -ffp-contract=off and separate intrinsics), so results are
 * bit-identical to the scalar loop. The branches of a step become masks:
 * a new peak closes the drawdown period (one division, done only when some
 * lane reached a new peak), otherwise a lower equity moves the trough.
 */
#include "ma_crossover_simd.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

int gdf_ma_have_avx(void) {
  static _Atomic int cpu = -1;
  if (cpu < 0) {
    __builtin_cpu_init();
    cpu = __builtin_cpu_supports("avx") ? 1 : 0;
  }
  /* Read on every call (once per block of steps): tests compare both. */
  const char *off = getenv("GPUDF_NO_SIMD");
  return cpu && !(off && strcmp(off, "1") == 0);
}

__attribute__((target("avx"))) void gdf_ma_four_block_avx(gdf_ma_state *const sp[4],
                                                          const double *const F[4],
                                                          const double *const W[4],
                                                          const double *ret, int64_t i0,
                                                          int64_t len) {
  gdf_ma_state *a = sp[0], *b = sp[1], *c = sp[2], *d = sp[3];
#define LANES(f) _mm256_set_pd(d->f, c->f, b->f, a->f)
  __m256d prev = LANES(prev_s), equity = LANES(equity), peak = LANES(peak);
  __m256d trough = LANES(trough), max_dd = LANES(max_dd), n = LANES(n);
  __m256d shift = LANES(shift), sum = LANES(sum), sumsq = LANES(sumsq);
  __m256d trades = LANES(trades), exposed = LANES(exposed), fee = LANES(fee);
#undef LANES
  const __m256d neg = _mm256_set_pd(d->long_short ? -1.0 : 0.0, c->long_short ? -1.0 : 0.0,
                                    b->long_short ? -1.0 : 0.0, a->long_short ? -1.0 : 0.0);
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d sign = _mm256_set1_pd(-0.0);
  const double *Fa = F[0], *Fb = F[1], *Fc = F[2], *Fd = F[3];
  const double *Wa = W[0], *Wb = W[1], *Wc = W[2], *Wd = W[3];
  for (int64_t i = i0; i < len; i++) {
    __m256d f = _mm256_set_pd(Fd[i], Fc[i], Fb[i], Fa[i]);
    __m256d w = _mm256_set_pd(Wd[i], Wc[i], Wb[i], Wa[i]);
    __m256d r = _mm256_broadcast_sd(&ret[i]);
    /* sig = F > W ? 1 : neg (ordered: NaN gives neg, as the scalar >) */
    __m256d sig = _mm256_blendv_pd(neg, one, _mm256_cmp_pd(f, w, _CMP_GT_OQ));
    __m256d change = _mm256_andnot_pd(sign, _mm256_sub_pd(sig, prev)); /* fabs */
    __m256d R = _mm256_sub_pd(_mm256_mul_pd(sig, r), _mm256_mul_pd(fee, change));
    trades = _mm256_add_pd(trades, _mm256_and_pd(_mm256_cmp_pd(change, zero, _CMP_NEQ_UQ), one));
    exposed = _mm256_add_pd(exposed, _mm256_and_pd(_mm256_cmp_pd(sig, zero, _CMP_NEQ_UQ), one));
    prev = sig;
    shift = _mm256_blendv_pd(shift, R, _mm256_cmp_pd(n, zero, _CMP_EQ_OQ));
    n = _mm256_add_pd(n, one);
    __m256d dv = _mm256_sub_pd(R, shift);
    sum = _mm256_add_pd(sum, dv);
    sumsq = _mm256_add_pd(sumsq, _mm256_mul_pd(dv, dv));
    equity = _mm256_mul_pd(equity, _mm256_add_pd(one, R));
    __m256d up = _mm256_cmp_pd(equity, peak, _CMP_GT_OQ);
    __m256d down = _mm256_cmp_pd(equity, trough, _CMP_LT_OQ);
    if (_mm256_movemask_pd(up)) {
      /* gdf_ma_close_drawdown in the lanes with a new peak */
      __m256d dd = _mm256_sub_pd(one, _mm256_div_pd(trough, peak));
      __m256d closed = _mm256_blendv_pd(max_dd, dd, _mm256_cmp_pd(dd, max_dd, _CMP_GT_OQ));
      max_dd = _mm256_blendv_pd(max_dd, closed, up);
      peak = _mm256_blendv_pd(peak, equity, up);
    }
    trough = _mm256_blendv_pd(trough, equity, _mm256_or_pd(up, down));
  }
  double v[11][4];
  _mm256_storeu_pd(v[0], prev), _mm256_storeu_pd(v[1], equity), _mm256_storeu_pd(v[2], peak);
  _mm256_storeu_pd(v[3], trough), _mm256_storeu_pd(v[4], max_dd), _mm256_storeu_pd(v[5], n);
  _mm256_storeu_pd(v[6], shift), _mm256_storeu_pd(v[7], sum), _mm256_storeu_pd(v[8], sumsq);
  _mm256_storeu_pd(v[9], trades), _mm256_storeu_pd(v[10], exposed);
  for (int q = 0; q < 4; q++) {
    gdf_ma_state *s = sp[q];
    s->prev_s = v[0][q], s->equity = v[1][q], s->peak = v[2][q], s->trough = v[3][q];
    s->max_dd = v[4][q], s->n = v[5][q], s->shift = v[6][q], s->sum = v[7][q];
    s->sumsq = v[8][q], s->trades = v[9][q], s->exposed = v[10][q];
  }
}

__attribute__((target("avx"))) void gdf_ma_sma_row_avx(const double *H, const double *L,
                                                       int64_t t0, int64_t len, int w,
                                                       double *row) {
  gdf_ma_sma_row(H, L, t0, len, w, row);
}

#else

int gdf_ma_have_avx(void) { return 0; }

void gdf_ma_sma_row_avx(const double *H, const double *L, int64_t t0, int64_t len, int w,
                        double *row) {
  gdf_ma_sma_row(H, L, t0, len, w, row);
}

void gdf_ma_four_block_avx(gdf_ma_state *const sp[4], const double *const F[4],
                           const double *const W[4], const double *ret, int64_t i0,
                           int64_t len) {
  (void)sp, (void)F, (void)W, (void)ret, (void)i0, (void)len;
}

#endif
