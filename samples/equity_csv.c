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
  double *H = malloc((size_t)(n ? n : 1) * 3 * sizeof *H);
  if (!H || !data) {
    free(H);
    snprintf(err, errlen, "--equity: out of memory for %lld prefix sums", (long long)n);
    return -1;
  }
  double *L = H + n, *q = L + n;
  /* The kernel's series: a missing price carries the last finite one
   * (ffill), rows before the first finite price are outside the backtest,
   * and the prefix sums are its two-double ones (ma_crossover_math.h). */
  int64_t first = 0;
  while (first < n && !gdf_ma_valid(price_at(data, type, first))) first++;
  double hi = 0.0, lo = 0.0, last = NAN;
  for (int64_t i = 0; i < n; i++) {
    double p = price_at(data, type, i);
    last = gdf_ma_valid(p) ? p : last;
    q[i] = last;
    if (i >= first) gdf_ma_prefix_add(&hi, &lo, last);
    H[i] = hi, L[i] = lo;
  }
  gdf_ma_state s = gdf_ma_init(config);
  fputs("bar,price,fast_ma,slow_ma,position,equity,drawdown\n", f);
  for (int64_t i = 0; i < n; i++) {
    int in = i >= first;
    double fma = in && i - first >= s.fast - 1 ? gdf_ma_sma2(H, L, i, s.fast, 1.0 / s.fast) : NAN;
    double sma = in && i - first >= s.slow - 1 ? gdf_ma_sma2(H, L, i, s.slow, 1.0 / s.slow) : NAN;
    /* The position held from this bar to the next; none after the last. */
    double sig = in && i < n - 1 ? gdf_ma_signal2(&s, H, L, i, first) : in ? NAN : 0.0;
    double peak = s.equity > s.peak ? s.equity : s.peak;
    fprintf(f, "%lld,%.17g,%.17g,%.17g,%g,%.17g,%.17g\n", (long long)i, q[i], fma, sma, sig,
            s.equity, 1.0 - s.equity / peak);
    if (in && i < n - 1) gdf_ma_step(&s, sig, q[i], q[i + 1]);
  }
  free(H);
  if (ferror(f)) {
    snprintf(err, errlen, "--equity: error writing the curve");
    return -1;
  }
  return 0;
}
