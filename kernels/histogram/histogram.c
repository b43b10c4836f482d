/*
 * histogram.c - the histogram kernel: counts of a column's values in bins
 * equal-width bins over [range_lo, range_hi] (numpy.histogram's edges and
 * closed last bin), plus underflow and overflow, over the rows that pass
 * filter_agg's filter. Description, checks and the CPU reference.
 *
 * One pass over the rows by blocks: each block's filter and value columns
 * are converted to double once, then every config of the batch bins it.
 */
#include "histogram_math.h"
#include "k_common.h"

#include <math.h>

static const gpudf_param_info hi_params[GDF_HI_NPARAMS] = {
    GDF_K_FILTER_PARAMS("column whose value x decides whether a row passes (as filter_agg)",
                        "row test, as filter_agg: all lt le gt ge eq ne between",
                        "threshold of the FILTER (not the histogram range: see range_lo)",
                        "upper bound of the FILTER for between (see range_hi)"),
    {"col", "column whose values are counted; NaN values are not counted",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"bins", "number of equal-width bins (shape: equal in every config of a batch)",
     GPUDF_PARAM_INTEGER, 10.0, 1.0, GPUDF_BINS_MAX, 0, NULL, 1},
    {"range_lo", "left edge of the first bin (finite, < range_hi)", GPUDF_PARAM_REAL, 0.0,
     -INFINITY, INFINITY, 0, NULL, 0},
    {"range_hi", "right edge of the last bin, which includes it", GPUDF_PARAM_REAL, 1.0,
     -INFINITY, INFINITY, 0, NULL, 0},
};

/* A categorical filter column is compared as labels; the counted column's
 * values fall in numeric bins, so it must hold numbers. */
static const int hi_accepts[GDF_HI_NPARAMS] = {
    [GDF_HI_FILTER_COL] = GDF_K_FILTER_ACCEPTS,
    [GDF_HI_COL] = GPUDF_ACCEPT_NUMERIC};

static const gpudf_result_info hi_fields[1] = {{"bin_0", "values in the first bin"}};

static int hi_nresults(const double *config) { return (int)config[GDF_HI_BINS] + 2; }

static void hi_result_name(const double *config, int i, gpudf_result_info *out) {
  int bins = (int)config[GDF_HI_BINS];
  if (i < bins) {
    gdf_k_name_index(out->name, sizeof out->name, "bin", i);
    out->summary = "values in [range_lo + i*w, range_lo + (i+1)*w), w = (range_hi - "
                   "range_lo) / bins; the last bin also holds range_hi";
  } else {
    snprintf(out->name, sizeof out->name, "%s", i == bins ? "underflow" : "overflow");
    out->summary = i == bins ? "values < range_lo" : "values > range_hi";
  }
}

static gpudf_status hi_check(const gpudf_table *t, const double *config) {
  char a[32], b[32];
  GDF_TRY(gdf_k_check_between("histogram", config[GDF_HI_OP], config[GDF_HI_LO],
                              config[GDF_HI_HI]));
  double rlo = config[GDF_HI_RANGE_LO], rhi = config[GDF_HI_RANGE_HI];
  /* An infinite width would make every edge NaN or infinite. */
  if (!(rlo < rhi) || !isfinite(rhi - rlo))
    return gdf_error(GPUDF_EINVAL, "histogram",
                     "parameter 'range_lo' = %s must be less than parameter 'range_hi' = %s, "
                     "both finite with a finite difference",
                     gdf_fmt_num(a, sizeof a, rlo), gdf_fmt_num(b, sizeof b, rhi));
  long long bins = (long long)config[GDF_HI_BINS];
  if (!gdf_hi_edges_increase(bins, rlo, rhi))
    return gdf_error(GPUDF_EINVAL, "histogram",
                     "parameter 'bins' = %lld is too many for the range [%s, %s]: its edges "
                     "(numpy.linspace's) do not all differ, as numpy.histogram refuses",
                     bins, gdf_fmt_num(a, sizeof a, rlo), gdf_fmt_num(b, sizeof b, rhi));
  GDF_TRY(gdf_k_check_col("histogram", t, "filter_col", config[GDF_HI_FILTER_COL]));
  GDF_TRY(gdf_k_check_filter("histogram", t, config[GDF_HI_FILTER_COL], config[GDF_HI_OP],
                             config[GDF_HI_LO]));
  return gdf_k_check_col("histogram", t, "col", config[GDF_HI_COL]);
}

static void hi_config_block(const double *c, int f32, const double *x, const double *v,
                            int64_t len, double *out) {
  int op = (int)c[GDF_HI_OP];
  double lo = gdf_fa_bound(f32, c[GDF_HI_LO]), hi = gdf_fa_bound(f32, c[GDF_HI_HI]);
  long long bins = (long long)c[GDF_HI_BINS];
  double rlo = c[GDF_HI_RANGE_LO], rhi = c[GDF_HI_RANGE_HI];
  for (int64_t i = 0; i < len; i++) {
    if (!gdf_fa_pass(op, x[i], lo, hi)) continue;
    long long s = gdf_hi_slot(v[i], bins, rlo, rhi);
    if (s >= 0) out[s] += 1.0;
  }
}

/* Consecutive configs of a batch that read the same two columns share the
 * converted block (hi_run_cpu): the columns are the pass a config needs. */
static uint64_t hi_pass_key(const double *config) {
  return (uint64_t)config[GDF_HI_FILTER_COL] << 32 | (uint64_t)config[GDF_HI_COL];
}

static gpudf_status hi_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t width = (int64_t)configs[GDF_HI_BINS] + 2, nrows = in->nrows;
  double *x = malloc(sizeof(double) * GDF_K_BLOCK * 2);
  if (!x) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  double *v = x + GDF_K_BLOCK;
  for (int64_t i = 0; i < n * width; i++) results[i] = 0.0;
  for (int64_t start = 0; start < nrows; start += GDF_K_BLOCK) {
    int64_t len = nrows - start < GDF_K_BLOCK ? nrows - start : GDF_K_BLOCK;
    double prev[2] = {-1.0, -1.0};
    for (int64_t k = 0; k < n; k++) {
      const double *c = configs + k * GDF_HI_NPARAMS;
      /* Configs reading the same columns reuse the converted block. */
      if (c[GDF_HI_FILTER_COL] != prev[0] || c[GDF_HI_COL] != prev[1]) {
        gdf_k_load_block(gdf_input_col(in, (int)c[GDF_HI_FILTER_COL]), start, len, x);
        gdf_k_load_block(gdf_input_col(in, (int)c[GDF_HI_COL]), start, len, v);
        prev[0] = c[GDF_HI_FILTER_COL], prev[1] = c[GDF_HI_COL];
      }
      int f32 = in->cols[(int)c[GDF_HI_FILTER_COL]].type == GPUDF_TYPE_F32;
      hi_config_block(c, f32, x, v, len, results + k * width);
    }
    if (gpudf_kernel_progress((double)(start + len) / (double)nrows)) {
      free(x);
      return GDF_KERNEL_CANCELLED();
    }
  }
  free(x);
  return GPUDF_OK;
}

gdf_kernel_fn gdf_kernel_histogram_cuda; /* cuda_histogram.cu */

const gpudf_kernel gdf_kernel_histogram = {
    .name = "histogram",
    .summary = "counts of col in bins equal-width bins over [range_lo, range_hi] (as "
               "numpy.histogram: last bin closed), then underflow and overflow, over the "
               "rows whose filter_col passes op against lo/hi; NaN not counted",
    .nparams = GDF_HI_NPARAMS,
    .params = hi_params,
    .nfields = 1,
    .fields = hi_fields,
    .nresults = hi_nresults,
    .result_name = hi_result_name,
    .check = hi_check,
    .cpu = hi_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_histogram_cuda),
    .pass_key = hi_pass_key,
    .accepts = hi_accepts,
};
