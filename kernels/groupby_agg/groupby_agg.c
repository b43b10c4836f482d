/*
 * groupby_agg.c - the groupby_agg kernel: count, sum, mean, min and max of a
 * value column per integer key 0..groups-1, over the rows that pass
 * filter_agg's filter. Description, checks and the CPU reference.
 *
 * A batch is one pass over the rows by blocks (GDF_K_BLOCK rows converted
 * to double once, then every config runs over the cached block), except that
 * the per-config accumulators (4 doubles per group) are bounded: configs go
 * in chunks of at most GB_ACC_DOUBLES / (4 * groups), one pass per chunk.
 */
#include "groupby_agg_math.h"
#include "k_common.h"

#include <math.h>

static const gpudf_param_info gb_params[GDF_GB_NPARAMS] = {
    GDF_K_FILTER_PARAMS("column whose value x decides whether a row passes (as filter_agg)",
                        "row test, as filter_agg: all lt le gt ge eq ne between",
                        "threshold of the filter, lower bound for between",
                        "upper bound of the filter for between"),
    {"key_col", "integer or categorical column (i32, i64, bool, categorical codes) holding "
     "the group of each row; keys outside [0, groups) (a missing label) are ignored", GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"value_col", "column aggregated per group; NaN values are skipped",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"groups", "number of groups (shape: equal in every config of a batch)",
     GPUDF_PARAM_INTEGER, 1.0, 1.0, GPUDF_GROUPS_MAX, 0, NULL, 1},
};

/* Codes of a categorical are fine group keys (each label its group); the
 * value column is summed, so it must hold numbers. */
static const int gb_accepts[GDF_GB_NPARAMS] = {
    [GDF_GB_FILTER_COL] = GDF_K_FILTER_ACCEPTS,
    [GDF_GB_KEY_COL] = GPUDF_ACCEPT_INTEGERS | GPUDF_ACCEPT_CATEGORICAL,
    [GDF_GB_VALUE_COL] = GPUDF_ACCEPT_NUMERIC};

static const char *const gb_field_names[GDF_GB_NFIELDS] = {"count", "sum", "mean", "min",
                                                           "max"};
static const char *const gb_field_sums[GDF_GB_NFIELDS] = {
    "passing rows of the group whose value is not NaN", "sum of those values (0 if none)",
    "sum / count (NaN if none)", "smallest value (NaN if none)", "largest value (NaN if none)"};

static const gpudf_result_info gb_fields[GDF_GB_NFIELDS] = {
    {"count_0", "passing rows of group 0 whose value is not NaN"},
    {"sum_0", "sum of those values (0 if none)"},
    {"mean_0", "sum / count (NaN if none)"},
    {"min_0", "smallest value (NaN if none)"},
    {"max_0", "largest value (NaN if none)"},
};

static int gb_nresults(const double *config) {
  return GDF_GB_NFIELDS * (int)config[GDF_GB_GROUPS];
}

/* "count_7", "sum_7", ...: field i % 5 of group i / 5. */
static void gb_result_name(const double *config, int i, gpudf_result_info *out) {
  (void)config;
  gdf_k_name_index(out->name, sizeof out->name, gb_field_names[i % GDF_GB_NFIELDS],
                   i / GDF_GB_NFIELDS);
  out->summary = gb_field_sums[i % GDF_GB_NFIELDS];
}

static gpudf_status gb_check(const gpudf_table *t, const double *config) {
  GDF_TRY(gdf_k_check_between("groupby_agg", config[GDF_GB_OP], config[GDF_GB_LO],
                              config[GDF_GB_HI]));
  GDF_TRY(gdf_k_check_col("groupby_agg", t, "filter_col", config[GDF_GB_FILTER_COL]));
  GDF_TRY(gdf_k_check_filter("groupby_agg", t, config[GDF_GB_FILTER_COL], config[GDF_GB_OP],
                             config[GDF_GB_LO]));
  GDF_TRY(gdf_k_check_col("groupby_agg", t, "value_col", config[GDF_GB_VALUE_COL]));
  /* key_col's type (i32, i64, bool, categorical) is checked by run.c. */
  return GPUDF_OK;
}

/* Bound on accumulator doubles held at once (32 MiB). */
enum { GB_ACC_DOUBLES = 1 << 22 };

/* Accumulators of one config: count, sum, min, max per group. */
typedef struct gb_acc {
  double *n, *sum, *min, *max;
} gb_acc;

/* Key of row i, or -1 when it is outside [0, groups). */
static inline int64_t gb_key(gdf_colref k, int64_t i, int64_t groups) {
  int64_t v = k.type == GPUDF_TYPE_I32   ? ((const int32_t *)k.data)[i]
              : k.type == GPUDF_TYPE_I64 ? ((const int64_t *)k.data)[i]
                                         : ((const uint8_t *)k.data)[i];
  return v >= 0 && v < groups ? v : -1;
}

static void gb_config_block(const double *c, int f32, const double *x, const double *v,
                            const int64_t *key, int64_t len, gb_acc *a) {
  int op = (int)c[GDF_GB_OP];
  double lo = gdf_fa_bound(f32, c[GDF_GB_LO]), hi = gdf_fa_bound(f32, c[GDF_GB_HI]);
  for (int64_t i = 0; i < len; i++) {
    int64_t g = key[i];
    if (g < 0 || isnan(v[i]) || !gdf_fa_pass(op, x[i], lo, hi)) continue;
    a->n[g] += 1.0;
    a->sum[g] += v[i];
    if (v[i] < a->min[g]) a->min[g] = v[i];
    if (v[i] > a->max[g]) a->max[g] = v[i];
  }
}

/* One pass over the rows for configs [0, n) of a chunk, configs [at, at +
 * n) of the batch's total (for the progress it reports). */
static gpudf_status gb_chunk(const gdf_kernel_input *in, const double *configs, int64_t n,
                             int64_t groups, double *acc, double *results, int64_t at,
                             int64_t total) {
  int64_t nrows = in->nrows;
  double *x = malloc(sizeof(double) * GDF_K_BLOCK * 2);
  int64_t *key = malloc(sizeof(int64_t) * GDF_K_BLOCK);
  gb_acc *a = malloc(sizeof(gb_acc) * (size_t)n);
  if (!x || !key || !a) {
    free(x), free(key), free(a);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld groupby_agg configs", (long long)n);
  }
  double *v = x + GDF_K_BLOCK;
  for (int64_t k = 0; k < n; k++) {
    double *base = acc + k * 4 * groups;
    a[k] = (gb_acc){base, base + groups, base + 2 * groups, base + 3 * groups};
    for (int64_t g = 0; g < groups; g++)
      a[k].n[g] = 0.0, a[k].sum[g] = 0.0, a[k].min[g] = INFINITY, a[k].max[g] = -INFINITY;
  }
  for (int64_t start = 0; start < nrows; start += GDF_K_BLOCK) {
    int64_t len = nrows - start < GDF_K_BLOCK ? nrows - start : GDF_K_BLOCK;
    int64_t prev_cols[3] = {-1, -1, -1};
    for (int64_t k = 0; k < n; k++) {
      const double *c = configs + k * GDF_GB_NPARAMS;
      int64_t cols[3] = {(int64_t)c[GDF_GB_FILTER_COL], (int64_t)c[GDF_GB_VALUE_COL],
                         (int64_t)c[GDF_GB_KEY_COL]};
      /* Configs reading the same columns reuse the converted block. */
      if (memcmp(cols, prev_cols, sizeof cols) != 0) {
        gdf_k_load_block(gdf_input_col(in, (int)cols[0]), start, len, x);
        gdf_k_load_block(gdf_input_col(in, (int)cols[1]), start, len, v);
        gdf_colref kr = gdf_input_col(in, (int)cols[2]);
        for (int64_t i = 0; i < len; i++) key[i] = gb_key(kr, start + i, groups);
        memcpy(prev_cols, cols, sizeof cols);
      }
      int f32 = in->cols[(int)cols[0]].type == GPUDF_TYPE_F32;
      gb_config_block(c, f32, x, v, key, len, &a[k]);
    }
    if (gpudf_kernel_progress(((double)at + (double)n * (double)(start + len) / (double)nrows) /
                              (double)total)) {
      free(x), free(key), free(a);
      return GDF_KERNEL_CANCELLED();
    }
  }
  for (int64_t k = 0; k < n; k++)
    for (int64_t g = 0; g < groups; g++)
      gdf_gb_finalize(a[k].n[g], a[k].sum[g], a[k].min[g], a[k].max[g],
                      results + (k * groups + g) * GDF_GB_NFIELDS);
  free(x), free(key), free(a);
  return GPUDF_OK;
}

/* Consecutive configs of a batch that read the same three columns share
 * the converted block (gb_chunk): the columns are the pass a config needs. */
static uint64_t gb_pass_key(const double *config) {
  return (uint64_t)config[GDF_GB_FILTER_COL] << 32 | (uint64_t)config[GDF_GB_KEY_COL] << 16 |
         (uint64_t)config[GDF_GB_VALUE_COL];
}

static gpudf_status gb_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t groups = (int64_t)configs[GDF_GB_GROUPS];
  int64_t chunk = GB_ACC_DOUBLES / (4 * groups);
  if (chunk < 1) chunk = 1;
  if (chunk > n) chunk = n;
  double *acc = malloc(sizeof(double) * 4 * (size_t)groups * (size_t)chunk);
  if (!acc) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld groups", (long long)groups);
  gpudf_status st = GPUDF_OK;
  for (int64_t at = 0; at < n && st == GPUDF_OK; at += chunk) {
    int64_t m = n - at < chunk ? n - at : chunk;
    st = gb_chunk(in, configs + at * GDF_GB_NPARAMS, m, groups, acc,
                  results + at * groups * GDF_GB_NFIELDS, at, n);
  }
  free(acc);
  return st;
}

gdf_kernel_fn gdf_kernel_groupby_agg_cuda; /* cuda_groupby_agg.cu */

const gpudf_kernel gdf_kernel_groupby_agg = {
    .name = "groupby_agg",
    .summary = "count, sum, mean, min and max of value_col per key 0..groups-1 of the "
               "integer key_col, over the rows whose filter_col passes op against lo/hi "
               "(as filter_agg); NaN values skipped, other keys ignored",
    .nparams = GDF_GB_NPARAMS,
    .params = gb_params,
    .nfields = GDF_GB_NFIELDS,
    .fields = gb_fields,
    .nresults = gb_nresults,
    .result_name = gb_result_name,
    .check = gb_check,
    .cpu = gb_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_groupby_agg_cuda),
    .pass_key = gb_pass_key,
    .accepts = gb_accepts,
};
