/*
 * plugin_count_above.c - a sample gpudf plugin: one kernel, count_above,
 * that counts the rows whose column is above a threshold. Build it as a
 * shared library linked with gpudf, and pass its path in
 * gpudf_sweep_options.plugins (or load it with gpudf_plugin_load).
 */
#include <gpudf.h>

#include <stdint.h>

static const gpudf_param_info params[] = {
    {"col", "column to test (numbers; bool as 0/1)", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, NULL, 0},
    {"threshold", "a row counts when col > threshold", GPUDF_PARAM_REAL, 0, -1e308, 1e308, 0,
     NULL, 0},
};

static const gpudf_result_info fields[] = {{"count", "rows above the threshold"},
                                           {"fraction", "count / rows"}};

static double value_at(const void *data, gpudf_type type, int64_t i) {
  switch (type) {
  case GPUDF_TYPE_I32: return ((const int32_t *)data)[i];
  case GPUDF_TYPE_I64: return (double)((const int64_t *)data)[i];
  case GPUDF_TYPE_F32: return ((const float *)data)[i];
  case GPUDF_TYPE_F64: return ((const double *)data)[i];
  case GPUDF_TYPE_BOOL: return ((const uint8_t *)data)[i];
  }
  return 0;
}

/* One pass over the rows for the whole batch, as the built-in kernels do,
 * telling the sweep how far it has got every 65,536 rows (its progress bar
 * and ETA move while the batch runs; a cancelled sweep stops it). */
static gpudf_status run(const gpudf_table *t, const double *configs, int64_t n, double *res) {
  int64_t rows = gpudf_table_nrows(t);
  for (int64_t i = 0; i < n; i++) res[2 * i] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t i = 0; i < n; i++) {
      int col = (int)configs[2 * i];
      double v = value_at(gpudf_table_column_data(t, col), gpudf_table_column_type(t, col), r);
      res[2 * i] += v > configs[2 * i + 1];
    }
    if ((r & 65535) == 65535 && gpudf_kernel_progress((double)(r + 1) / (double)rows))
      return gpudf_set_error(GPUDF_ECANCELED, "count_above: the sweep was cancelled");
  }
  for (int64_t i = 0; i < n; i++) res[2 * i + 1] = res[2 * i] / (double)rows;
  return GPUDF_OK;
}

__attribute__((visibility("default"))) gpudf_status gpudf_plugin_init(void) {
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "count_above";
  d.summary = "rows whose column is above a threshold, and their fraction";
  d.nparams = 2;
  d.params = params;
  d.nfields = 2;
  d.fields = fields;
  d.run_cpu = run;
  return gpudf_kernel_register(&d, NULL);
}
