/*
 * equity_csv.c - gpudf-sweep --equity (see equity_csv.h).
 */
#include "equity_csv.h"

#include "ma_crossover_math.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static double price_at(const void *data, gpudf_type type, int64_t i) {
  switch (type) {
  case GPUDF_TYPE_I32: return (double)((const int32_t *)data)[i];
  case GPUDF_TYPE_I64: return (double)((const int64_t *)data)[i];
  case GPUDF_TYPE_F32: return (double)((const float *)data)[i];
  case GPUDF_TYPE_F64: return ((const double *)data)[i];
  case GPUDF_TYPE_BOOL: return (double)((const unsigned char *)data)[i];
  }
  return NAN;
}

int equity_csv_write(const gpudf_table *t, const double *config, FILE *f, char *err, size_t errlen) {
  int col = (int)config[GDF_MA_PRICE_COL];
  int64_t n = gpudf_table_nrows(t);
  const void *data = gpudf_table_column_data(t, col);
  gpudf_type type = gpudf_table_column_type(t, col);
  double *S = malloc((size_t)(n ? n : 1) * sizeof *S);
  if (!S || !data) {
    free(S);
    snprintf(err, errlen, "--equity: out of memory for %lld prefix sums", (long long)n);
    return -1;
  }
  /* The prefix sums as the kernel forms them: one running double sum. */
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) S[i] = acc += price_at(data, type, i);
  gdf_ma_state s = gdf_ma_init(config);
  fputs("bar,price,fast_ma,slow_ma,position,equity,drawdown\n", f);
  for (int64_t i = 0; i < n; i++) {
    double p = price_at(data, type, i);
    double fma = i >= s.fast - 1 ? gdf_ma_sma(S, i, s.fast) : NAN;
    double sma = i >= s.slow - 1 ? gdf_ma_sma(S, i, s.slow) : NAN;
    /* The position held from this bar to the next; none after the last. */
    double sig = i < n - 1 ? gdf_ma_signal(&s, S, i) : NAN;
    double peak = s.equity > s.peak ? s.equity : s.peak;
    fprintf(f, "%lld,%.17g,%.17g,%.17g,%g,%.17g,%.17g\n", (long long)i, p, fma, sma, sig, s.equity,
            1.0 - s.equity / peak);
    if (i < n - 1) gdf_ma_step(&s, sig, p, price_at(data, type, i + 1));
  }
  free(S);
  if (ferror(f)) {
    snprintf(err, errlen, "--equity: error writing the curve");
    return -1;
  }
  return 0;
}
