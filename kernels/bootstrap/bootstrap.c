/*
 * bootstrap.c - the bootstrap kernel: one config is one bootstrap replicate
 * (N' draws with replacement from the N' non-NaN values of a column) and
 * gives its mean, std (ddof 1) or sum. Description, checks and the CPU
 * reference.
 *
 * The draws come from a counter-based generator keyed by the seed
 * (bootstrap_math.h), so a result depends only on (table, column, seed,
 * stat). A batch compacts the column's non-NaN values once, then runs its
 * replicates over them; std makes a second pass that regenerates the draws
 * rather than storing them.
 */
#include "bootstrap_math.h"
#include "k_common.h"

#include <math.h>

static const char *const bs_stat_names[GDF_BS_NSTATS] = {"mean", "std", "sum"};

static const gpudf_param_info bs_params[GDF_BS_NPARAMS] = {
    {"col", "column resampled; its NaN values are left out", GPUDF_PARAM_COLUMN, 0.0, 0.0,
     0.0, 0, NULL, 0},
    {"seed", "key of the replicate's draws: same seed, same replicate", GPUDF_PARAM_INTEGER,
     0.0, 0.0, 9007199254740991.0, 0, NULL, 0},
    {"stat", "statistic of the replicate: mean, std (ddof 1) or sum", GPUDF_PARAM_CHOICE,
     GDF_BS_MEAN, 0.0, GDF_BS_NSTATS - 1, GDF_BS_NSTATS, bs_stat_names, 0},
};

/* Resampled values are summed: numbers (a bool column gives proportions). */
static const int bs_accepts[GDF_BS_NPARAMS] = {[GDF_BS_COL] = GPUDF_ACCEPT_NUMERIC};

static const gpudf_result_info bs_fields[1] = {
    {"value", "the statistic of the replicate (NaN when the column has no value, or std "
              "of a single value)"}};

static gpudf_status bs_check(const gpudf_table *t, const double *config) {
  return gdf_k_check_col("bootstrap", t, "col", config[GDF_BS_COL]);
}

/* The non-NaN values of column c, in row order, into vals; their count. */
static int64_t bs_compact(const gdf_kernel_input *in, int c, double *vals) {
  gdf_colref r = gdf_input_col(in, c);
  int64_t nrows = in->nrows, m = 0;
  for (int64_t i = 0; i < nrows; i++) {
    double v = gdf_k_load(r, i);
    if (!isnan(v)) vals[m++] = v;
  }
  return m;
}

static double bs_replicate(const double *config, const double *vals, int64_t m) {
  int stat = (int)config[GDF_BS_STAT];
  uint64_t key = gdf_bs_key(config[GDF_BS_SEED]), n = (uint64_t)m;
  double sum = 0.0, big = 0.0, min = INFINITY, max = -INFINITY, ds = 0.0, d2 = 0.0;
  for (uint64_t j = 0; j < n; j++) {
    double v = vals[gdf_bs_draw(key, j, n)];
    gdf_fa_sum_add(&sum, &big, v);
    min = v < min ? v : min;
    max = v > max ? v : max;
  }
  if (stat == GDF_BS_STD && m > 1) {
    /* Two passes: deviations from the mean, so std keeps its digits when
     * the mean is large against the spread. */
    double shift = gdf_fa_shift((double)m, sum, big);
    for (uint64_t j = 0; j < n; j++) {
      double d = vals[gdf_bs_draw(key, j, n)] - shift;
      ds += d;
      d2 += d * d;
    }
  }
  return gdf_bs_value(stat, (double)m, sum, big, min, max, ds, d2);
}

/* Consecutive configs of one column share its compacted values, one pass
 * over the rows (bs_run_cpu). */
static uint64_t bs_pass_key(const double *config) { return (uint64_t)config[GDF_BS_COL]; }

static gpudf_status bs_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  double *vals = malloc(sizeof(double) * (size_t)in->nrows);
  if (!vals) return GDF_ERR(GPUDF_ENOMEM, "out of memory for the column's values");
  double col = -1.0;
  int64_t m = 0;
  for (int64_t k = 0; k < n; k++) {
    const double *c = configs + k * GDF_BS_NPARAMS;
    /* Compacted once per run of configs on the same column. */
    if (c[GDF_BS_COL] != col) col = c[GDF_BS_COL], m = bs_compact(in, (int)col, vals);
    results[k] = bs_replicate(c, vals, m);
    if (gpudf_kernel_progress((double)(k + 1) / (double)n)) {
      free(vals);
      return GDF_KERNEL_CANCELLED();
    }
  }
  free(vals);
  return GPUDF_OK;
}

gdf_kernel_fn gdf_kernel_bootstrap_cuda; /* cuda_bootstrap.cu */

const gpudf_kernel gdf_kernel_bootstrap = {
    .name = "bootstrap",
    .summary = "one bootstrap replicate per config: N' draws with replacement from the "
               "N' non-NaN values of col, keyed by seed (counter-based, so reproducible "
               "everywhere); its mean, std (ddof 1) or sum",
    .nparams = GDF_BS_NPARAMS,
    .params = bs_params,
    .nfields = 1,
    .fields = bs_fields,
    .nresults = NULL,
    .result_name = NULL,
    .check = bs_check,
    .cpu = bs_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_bootstrap_cuda),
    .pass_key = bs_pass_key,
    .accepts = bs_accepts,
};
