/*
 * ma_crossover_simd.h - the vector variant of ma_crossover's four-configs
 * lock-step loop (kernels/ma_crossover/ma_crossover_avx.c), chosen at run time.
 */
#ifndef GPUDF_MA_CROSSOVER_SIMD_H
#define GPUDF_MA_CROSSOVER_SIMD_H

#include "ma_crossover_math.h"

#include <stdint.h>

/* 1 when this CPU runs AVX (x86-64 with GCC or Clang) and GPUDF_NO_SIMD is
 * not 1 (which forces the scalar loop, for tests and comparisons). */
int gdf_ma_have_avx(void);

/* Steps [i0, len) of four configs past their warm-up, as the scalar
 * ma_four_block does, with bit-identical results. Only call it when
 * gdf_ma_have_avx() says 1. */
void gdf_ma_four_block_avx(gdf_ma_state *const sp[4], const double *const F[4],
                           const double *const W[4], const double *ret, int64_t i0,
                           int64_t len);

/* gdf_ma_sma_row compiled for AVX (four lanes), with the same bits. Only
 * call it when gdf_ma_have_avx() says 1. */
void gdf_ma_sma_row_avx(const double *H, const double *L, int64_t t0, int64_t len, int w,
                        double *row);

#endif
