/*
 * ma_crossover.c - the ma_crossover kernel: a moving-average crossover
 * backtest over a price column, one config per (fast, slow, fee, mode)
 * strategy. Description, checks, the prepare step and the CPU reference.
 *
 * Moving averages come from double prefix sums S_t = p_0 + .. + p_t. The
 * owner computes them ONCE per table and price column with
 * gpudf_table_prepare (gpudf_sweep calls it when it shares a table), which
 * appends the f64 column "__prefix.<price column name>"; every worker then
 * reads it from the share. Without that column (a table shared before
 * prepare, or a name too long for the prefix), a batch computes the sums
 * itself, once per batch and price column, never per config.
 *
 * A batch is one pass over time by blocks: a block of prices (and the
 * prefix sums a window back) stays in L1 while every config advances its
 * small state (gdf_ma_state) over it.
 */
#include "k_common.h"
#include "ma_crossover_math.h"

#include <math.h>

static const char *const ma_mode_names[GDF_MA_NMODES] = {"long_only", "long_short"};

static const gpudf_param_info ma_params[GDF_MA_NPARAMS] = {
    {"price_col", "column of prices p_0..p_{N-1}", GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0,
     NULL, 0},
    {"fast", "window of the fast moving average (rows)", GPUDF_PARAM_INTEGER, 10.0, 1.0,
     1e9, 0, NULL, 0},
    {"slow", "window of the slow moving average: fast < slow <= rows", GPUDF_PARAM_INTEGER,
     50.0, 2.0, 1e9, 0, NULL, 0},
    {"fee_bps", "cost per unit change of position, in basis points", GPUDF_PARAM_REAL, 0.0,
     0.0, INFINITY, 0, NULL, 0},
    {"mode", "long_only: flat when fast <= slow; long_short: short then",
     GPUDF_PARAM_CHOICE, GDF_MA_LONG_ONLY, 0.0, GDF_MA_NMODES - 1, GDF_MA_NMODES,
     ma_mode_names, 0},
    {"periods_per_year", "annualisation of the Sharpe ratio (252: daily bars)",
     GPUDF_PARAM_REAL, 252.0, 0x1p-1022, INFINITY, 0, NULL, 0},
};

static const gpudf_result_info ma_fields[GDF_MA_NRESULTS] = {
    {"total_return", "prod(1 + R) - 1 over the N-1 step returns R"},
    {"sharpe", "mean(R) / std(R, ddof 1) * sqrt(periods_per_year); NaN when std is 0 or "
               "fewer than 2 returns"},
    {"max_drawdown", "largest fall of the equity curve from its running peak, a fraction"},
    {"trades", "steps whose position differs from the previous one (from flat at start)"},
    {"exposure", "fraction of the N-1 steps with a non-zero position"},
};

static gpudf_status ma_check(const gpudf_table *t, const double *config) {
  char a[32], b[32];
  double fast = config[GDF_MA_FAST], slow = config[GDF_MA_SLOW];
  if (!(fast < slow))
    return gdf_error(GPUDF_EINVAL, "ma_crossover",
                     "parameter 'fast' = %s must be less than parameter 'slow' = %s",
                     gdf_k_num(a, sizeof a, fast), gdf_k_num(b, sizeof b, slow));
  int64_t nrows = gpudf_table_nrows(t);
  if (slow > (double)nrows)
    return gdf_error(GPUDF_EINVAL, "ma_crossover",
                     "parameter 'slow' = %s is a window longer than the table's %lld rows",
                     gdf_k_num(a, sizeof a, slow), (long long)nrows);
  return gdf_k_check_col("ma_crossover", t, "price_col", config[GDF_MA_PRICE_COL]);
}

/* "__prefix.<name>" of price column c; 0 when it does not fit a name. */
static int ma_prefix_name(const gpudf_table *t, int c, char name[GPUDF_NAME_MAX + 1]) {
  int w = snprintf(name, GPUDF_NAME_MAX + 1, "__prefix.%s", gpudf_table_column_name(t, c));
  return w > 0 && w <= GPUDF_NAME_MAX;
}

/* The prepared prefix sums of price column c, or NULL. */
static const double *ma_prepared(const gpudf_table *t, int c) {
  char name[GPUDF_NAME_MAX + 1];
  int idx;
  if (!ma_prefix_name(t, c, name)) return NULL;
  char saved[1024];
  snprintf(saved, sizeof saved, "%s", gpudf_last_error());
  if (gpudf_table_find_column(t, name, &idx) != GPUDF_OK) {
    gdf_restore_error(saved); /* not having it is normal */
    return NULL;
  }
  gdf_colref r = gdf_table_colref(t, idx);
  return r.type == GPUDF_TYPE_F64 ? (const double *)r.data : NULL;
}

static void ma_prefix_sums(gdf_colref p, int64_t nrows, double *S) {
  double acc = 0.0;
  for (int64_t i = 0; i < nrows; i++) S[i] = acc += gdf_k_load(p, i);
}

/* Appends "__prefix.<name>" for every price column the configs read. */
static gpudf_status ma_prepare(gpudf_table *t, const double *configs, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    int c = (int)configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    char name[GPUDF_NAME_MAX + 1];
    if (!ma_prefix_name(t, c, name) || ma_prepared(t, c)) continue;
    void *data = NULL;
    GDF_TRY(gpudf_table_alloc_column(t, name, GPUDF_TYPE_F64, &data));
    /* Read the prices after the append: it may have moved the arena. */
    ma_prefix_sums(gdf_table_colref(t, c), gpudf_table_nrows(t), data);
    gdf_log("prepare: ma_crossover prefix sums of column %d as '%s'", c, name);
  }
  return GPUDF_OK;
}

/* One block of steps [t0, t0 + len) for every config of the group. */
static void ma_block(gdf_ma_state *st, int64_t m, const double *S, const double *p,
                     int64_t t0, int64_t len) {
  for (int64_t k = 0; k < m; k++) {
    gdf_ma_state s = st[k];
    for (int64_t i = 0; i < len; i++)
      gdf_ma_step(&s, gdf_ma_signal(&s, S, t0 + i), p[i], p[i + 1]);
    st[k] = s;
  }
}

/* Runs the m configs idx[] that read price column c. */
static gpudf_status ma_group(const gpudf_table *t, int c, const double *configs,
                             const int64_t *idx, int64_t m, double *results) {
  int64_t nrows = gpudf_table_nrows(t);
  gdf_colref pc = gdf_table_colref(t, c);
  const double *S = ma_prepared(t, c);
  double *own = S ? NULL : malloc(sizeof(double) * (size_t)nrows);
  double *p = malloc(sizeof(double) * (GDF_K_BLOCK + 1));
  gdf_ma_state *st = malloc(sizeof(gdf_ma_state) * (size_t)m);
  if ((!S && !own) || !p || !st) {
    free(own), free(p), free(st);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld rows", (long long)nrows);
  }
  if (!S) ma_prefix_sums(pc, nrows, own), S = own;
  for (int64_t k = 0; k < m; k++) st[k] = gdf_ma_init(configs + idx[k] * GDF_MA_NPARAMS);
  for (int64_t t0 = 0; t0 < nrows - 1; t0 += GDF_K_BLOCK) {
    int64_t len = nrows - 1 - t0 < GDF_K_BLOCK ? nrows - 1 - t0 : GDF_K_BLOCK;
    gdf_k_load_block(pc, t0, len + 1, p);
    ma_block(st, m, S, p, t0, len);
  }
  for (int64_t k = 0; k < m; k++)
    gdf_ma_finalize(&st[k], (double)(nrows - 1), configs[idx[k] * GDF_MA_NPARAMS + GDF_MA_PPY],
                    results + idx[k] * GDF_MA_NRESULTS);
  free(own), free(p), free(st);
  return GPUDF_OK;
}

static gpudf_status ma_run_cpu(const gpudf_table *t, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
  char *done = calloc((size_t)n, 1);
  gpudf_status st = idx && done ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  /* Configs grouped by price column; almost always a single group. */
  for (int64_t first = 0; first < n && st == GPUDF_OK; first++) {
    if (done[first]) continue;
    double c = configs[first * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    int64_t m = 0;
    for (int64_t k = first; k < n; k++)
      if (!done[k] && configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL] == c)
        idx[m++] = k, done[k] = 1;
    st = ma_group(t, (int)c, configs, idx, m, results);
  }
  free(idx), free(done);
  return st;
}

const gpudf_kernel gdf_kernel_ma_crossover = {
    .name = "ma_crossover",
    .summary = "moving-average crossover backtest of price_col: long (or short in "
               "long_short) when SMA(fast) > SMA(slow); total_return, sharpe, "
               "max_drawdown, trades, exposure. gpudf_table_prepare stores the prefix "
               "sums once per table",
    .nparams = GDF_MA_NPARAMS,
    .params = ma_params,
    .nfields = GDF_MA_NRESULTS,
    .fields = ma_fields,
    .nresults = NULL,
    .result_name = NULL,
    .check = ma_check,
    .run_cpu = ma_run_cpu,
    .prepare = ma_prepare,
};
