/*
 * corr.c - the corr kernel: Pearson correlation and sample covariance of two
 * numeric columns x and y over the rows that pass filter_agg's filter and
 * have neither x nor y NaN (pandas' pairwise rule). Description, checks and
 * the CPU reference.
 *
 * Three passes over the rows (corr_math.h says why): count/min/max, then
 * the shifted and scaled sums, then the deviations from the mean. Rows go
 * by blocks, so a block stays in cache while every config of the batch
 * reads it; passes B and C sum in long double.
 *
 * What it answers where there is no correlation, as filter_agg does for an
 * empty filter (a number, never an error): fewer than 2 counted rows give
 * corr and cov NaN (count says why); x or y constant over them gives corr
 * NaN and cov 0; an infinite x or y among them gives both NaN (as numpy).
 */
#include "corr_math.h"
#include "k_common.h"

#include <math.h>

static const char *const co_op_names[GDF_FA_NOPS] = {"all", "lt", "le", "gt",
                                                     "ge",  "eq", "ne", "between"};

static const gpudf_param_info co_params[GDF_CO_NPARAMS] = {
    {"filter_col", "column whose value decides whether a row passes (as filter_agg)",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"op", "row test, as filter_agg: all lt le gt ge eq ne between; a NaN filter value "
           "fails every test but all and ne",
     GPUDF_PARAM_CHOICE, GDF_FA_ALL, 0.0, GDF_FA_NOPS - 1, GDF_FA_NOPS, co_op_names, 0},
    {"lo", "threshold of the filter (as filter_agg: in the filter column's type)",
     GPUDF_PARAM_REAL, 0.0, -INFINITY, INFINITY, 0, NULL, 0},
    {"hi", "upper bound of the filter for between (lo <= hi)", GPUDF_PARAM_REAL, 0.0,
     -INFINITY, INFINITY, 0, NULL, 0},
    {"x_col", "first column; a row whose x is NaN is not counted", GPUDF_PARAM_COLUMN, 0.0,
     0.0, 0.0, 0, NULL, 0},
    {"y_col", "second column; a row whose y is NaN is not counted", GPUDF_PARAM_COLUMN, 0.0,
     0.0, 0.0, 0, NULL, 0},
};

/* A categorical filter is compared as labels; x and y are multiplied and
 * summed, so they must hold numbers. */
static const int co_accepts[GDF_CO_NPARAMS] = {
    [GDF_CO_FILTER_COL] = GPUDF_ACCEPT_NUMERIC | GPUDF_ACCEPT_CATEGORICAL,
    [GDF_CO_X_COL] = GPUDF_ACCEPT_NUMERIC,
    [GDF_CO_Y_COL] = GPUDF_ACCEPT_NUMERIC};

static const gpudf_result_info co_fields[GDF_CO_NRESULTS] = {
    {"count", "passing rows where neither x nor y is NaN"},
    {"corr", "Pearson correlation of x and y over them, in [-1, 1] (NaN when count < 2, "
             "when x or y is constant over them, or with an infinite value)"},
    {"cov", "sample covariance, ddof 1 (NaN when count < 2 or with an infinite value; 0 "
            "when x or y is constant)"},
};

/* Defaults that mean something on a price table: price against volume. */
static const char *const co_prefer_x[] = {"close", "price", NULL};
static const char *const co_prefer_y[] = {"volume", NULL};
static const char *const *const co_prefer[GDF_CO_NPARAMS] = {[GDF_CO_X_COL] = co_prefer_x,
                                                             [GDF_CO_Y_COL] = co_prefer_y};

static gpudf_status co_check(const gpudf_table *t, const double *config) {
  char a[32], b[32];
  double lo = config[GDF_CO_LO], hi = config[GDF_CO_HI];
  if ((int)config[GDF_CO_OP] == GDF_FA_BETWEEN && !(lo <= hi))
    return gdf_error(GPUDF_EINVAL, "corr",
                     "parameter 'lo' = %s is greater than parameter 'hi' = %s "
                     "(op between needs lo <= hi)",
                     gdf_fmt_num(a, sizeof a, lo), gdf_fmt_num(b, sizeof b, hi));
  GDF_TRY(gdf_k_check_filter("corr", t, config[GDF_CO_FILTER_COL], config[GDF_CO_OP], lo));
  GDF_TRY(gdf_k_check_col("corr", t, "filter_col", config[GDF_CO_FILTER_COL]));
  GDF_TRY(gdf_k_check_col("corr", t, "x_col", config[GDF_CO_X_COL]));
  return gdf_k_check_col("corr", t, "y_col", config[GDF_CO_Y_COL]);
}

/* Configs reading the same three columns run one after the other, while
 * their block is in cache. */
static uint64_t co_pass_key(const double *config) {
  return (uint64_t)config[GDF_CO_FILTER_COL] << 32 | (uint64_t)config[GDF_CO_X_COL] << 16 |
         (uint64_t)config[GDF_CO_Y_COL];
}

/* ------------------------------------------------------------ the passes */

/* One config's state through the three passes. */
typedef struct co_state {
  gdf_colref f, x, y;
  int op;
  double lo, hi;   /* in the filter column's type (gdf_fa_bound) */
  double n;        /* A */
  double min[2], max[2];
  int64_t ref[2];  /* after A */
  double s[2];
  long double sum[2]; /* B */
  double smin[2], smax[2];
  long double mean[2]; /* after B */
  long double d[2], dd[2], dxy; /* C */
} co_state;

static void co_init(co_state *c, const gdf_kernel_input *in, const double *config) {
  *c = (co_state){0};
  c->f = gdf_input_col(in, (int)config[GDF_CO_FILTER_COL]);
  c->x = gdf_input_col(in, (int)config[GDF_CO_X_COL]);
  c->y = gdf_input_col(in, (int)config[GDF_CO_Y_COL]);
  c->op = (int)config[GDF_CO_OP];
  int f32 = c->f.type == GPUDF_TYPE_F32;
  c->lo = gdf_fa_bound(f32, config[GDF_CO_LO]);
  c->hi = gdf_fa_bound(f32, config[GDF_CO_HI]);
  for (int k = 0; k < 2; k++) {
    c->min[k] = c->smin[k] = INFINITY;
    c->max[k] = c->smax[k] = -INFINITY;
  }
}

/* Rows [start, start + len) for pass p. */
static void co_block(co_state *c, int p, int64_t start, int64_t len) {
  for (int64_t i = start; i < start + len; i++) {
    if (!gdf_fa_pass(c->op, gdf_k_load(c->f, i), c->lo, c->hi)) continue;
    double v[2] = {gdf_co_load(c->x.data, c->x.type, i, c->ref[0]),
                   gdf_co_load(c->y.data, c->y.type, i, c->ref[1])};
    if (isnan(v[0]) || isnan(v[1])) continue;
    if (p == 0) {
      c->n += 1.0;
      for (int k = 0; k < 2; k++) {
        c->min[k] = fmin(c->min[k], v[k]);
        c->max[k] = fmax(c->max[k], v[k]);
      }
    } else if (p == 1) {
      for (int k = 0; k < 2; k++) {
        double w = v[k] * c->s[k];
        c->sum[k] += w;
        c->smin[k] = fmin(c->smin[k], w);
        c->smax[k] = fmax(c->smax[k], w);
      }
    } else {
      long double e[2];
      for (int k = 0; k < 2; k++) {
        e[k] = (long double)(v[k] * c->s[k]) - c->mean[k];
        c->d[k] += e[k];
        c->dd[k] += e[k] * e[k];
      }
      c->dxy += e[0] * e[1];
    }
  }
}

static bool co_infinite(const co_state *c) {
  return !isfinite(c->min[0]) || !isfinite(c->max[0]) || !isfinite(c->min[1]) ||
         !isfinite(c->max[1]);
}

/* What pass p + 1 needs from pass p. */
static void co_between(co_state *c, int p) {
  if (c->n == 0.0 || co_infinite(c)) {
    c->s[0] = c->s[1] = 1.0; /* answered by n or the infinity alone */
    return;
  }
  gdf_colref col[2] = {c->x, c->y};
  for (int k = 0; k < 2; k++) {
    if (p == 0) {
      c->ref[k] = gdf_co_ref(col[k].type, c->min[k]);
      c->s[k] = gdf_co_scale(c->min[k], c->max[k], c->ref[k]);
    } else {
      c->mean[k] = c->sum[k] / (long double)c->n;
    }
  }
}

static void co_finish(const co_state *c, double *out) {
  gdf_co_finalize(c->n, co_infinite(c), c->smin[0] == c->smax[0], c->smin[1] == c->smax[1],
                  (double)c->d[0], (double)c->d[1], (double)c->dd[0], (double)c->dd[1],
                  (double)c->dxy, c->s[0], c->s[1], out);
}

static gpudf_status co_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  co_state *st = malloc(sizeof *st * (size_t)n);
  if (!st) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld corr configs", (long long)n);
  for (int64_t k = 0; k < n; k++) co_init(&st[k], in, configs + k * GDF_CO_NPARAMS);
  int64_t nrows = in->nrows;
  for (int p = 0; p < 3; p++) {
    for (int64_t start = 0; start < nrows; start += GDF_K_BLOCK) {
      int64_t len = nrows - start < GDF_K_BLOCK ? nrows - start : GDF_K_BLOCK;
      for (int64_t k = 0; k < n; k++) co_block(&st[k], p, start, len);
      if (gpudf_kernel_progress(((double)p + (double)(start + len) / (double)nrows) / 3.0)) {
        free(st);
        return GDF_KERNEL_CANCELLED();
      }
    }
    for (int64_t k = 0; k < n && p < 2; k++) co_between(&st[k], p);
  }
  for (int64_t k = 0; k < n; k++) co_finish(&st[k], results + k * GDF_CO_NRESULTS);
  free(st);
  return GPUDF_OK;
}

gdf_kernel_fn gdf_kernel_corr_cuda; /* cuda_corr.cu */

const gpudf_kernel gdf_kernel_corr = {
    .name = "corr",
    .summary = "Pearson correlation and sample covariance (ddof 1) of x_col and y_col over "
               "the rows whose filter_col passes op against lo/hi (as filter_agg) and whose "
               "x and y are not NaN (as pandas); NaN corr when fewer than 2 rows, a constant "
               "column or an infinite value",
    .nparams = GDF_CO_NPARAMS,
    .params = co_params,
    .nfields = GDF_CO_NRESULTS,
    .fields = co_fields,
    .check = co_check,
    .cpu = co_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_corr_cuda),
    .pass_key = co_pass_key,
    .accepts = co_accepts,
    .prefer = co_prefer,
};
