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
 * A batch is one pass over time by blocks: a block's price returns and
 * the moving averages of every distinct window of the batch stay in L2
 * while every config advances its small state (gdf_ma_state) over them.
 */
#include "k_common.h"
#include "ma_crossover_math.h"
#include "ma_crossover_simd.h"

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

/* Prices are quantities: not categorical codes, and not bool (0/1 prices
 * make every return from 0 infinite). */
static const int ma_accepts[GDF_MA_NPARAMS] = {[GDF_MA_PRICE_COL] = GPUDF_ACCEPT_NUMBERS};

/* What a price column is called in the files people backtest (Yahoo's
 * Date,Open,High,Low,Close,Adj Close,Volume, or a plain price). */
static const char *const ma_price_names[] = {"close", "adj close", "adj_close", "price", NULL};
static const char *const *const ma_prefer[GDF_MA_NPARAMS] = {[GDF_MA_PRICE_COL] =
                                                                 ma_price_names};

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

/* The m configs of one price column, with their moving averages shared:
 * a grid has far fewer distinct windows than configs (a 9,000-pair sweep
 * has about 200), so each block computes SMA_w once per distinct window w
 * and every config compares two rows of that table. Values are bit for bit
 * those of gdf_ma_signal (same expression, gdf_ma_sma). */
typedef struct ma_batch {
  int64_t m;
  const int64_t *idx;
  gdf_ma_state *st;
  int *win;      /* distinct windows, sorted */
  int nwin;
  int *fslot, *sslot; /* per config: rows of its fast and slow windows */
  int64_t block;      /* steps per block */
  double *sma;        /* nwin x block */
  double *ret;        /* block + 1 price returns, then prices */
  double *p;
} ma_batch;

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static int find_window(const int *win, int nwin, int w) {
  int lo = 0, hi = nwin - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (win[mid] < w) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void ma_batch_free(ma_batch *b) {
  free(b->st), free(b->win), free(b->fslot), free(b->sslot), free(b->sma), free(b->ret);
  free(b->p);
}

static gpudf_status ma_batch_init(ma_batch *b, const double *configs, const int64_t *idx,
                                  int64_t m) {
  memset(b, 0, sizeof *b);
  b->m = m;
  b->idx = idx;
  b->st = malloc(sizeof(gdf_ma_state) * (size_t)m);
  b->win = malloc(sizeof(int) * 2 * (size_t)m);
  b->fslot = malloc(sizeof(int) * (size_t)m);
  b->sslot = malloc(sizeof(int) * (size_t)m);
  if (!b->st || !b->win || !b->fslot || !b->sslot) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  for (int64_t k = 0; k < m; k++) {
    b->st[k] = gdf_ma_init(configs + idx[k] * GDF_MA_NPARAMS);
    b->win[2 * k] = b->st[k].fast;
    b->win[2 * k + 1] = b->st[k].slow;
  }
  qsort(b->win, 2 * (size_t)m, sizeof(int), cmp_int);
  int n = 0;
  for (int64_t i = 0; i < 2 * m; i++)
    if (n == 0 || b->win[i] != b->win[n - 1]) b->win[n++] = b->win[i];
  b->nwin = n;
  for (int64_t k = 0; k < m; k++) {
    b->fslot[k] = find_window(b->win, n, b->st[k].fast);
    b->sslot[k] = find_window(b->win, n, b->st[k].slow);
  }
  /* The SMA table of a block stays in L2 (~256 KiB) while the configs read
   * it; at least 64 steps so the per-block cost of a config stays small. */
  b->block = 32768 / n;
  b->block = b->block < 64 ? 64 : b->block > GDF_K_BLOCK ? GDF_K_BLOCK : b->block;
  b->sma = malloc(sizeof(double) * (size_t)n * (size_t)b->block);
  b->ret = malloc(sizeof(double) * (size_t)b->block);
  b->p = malloc(sizeof(double) * ((size_t)b->block + 1));
  if (!b->sma || !b->ret || !b->p) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  return GPUDF_OK;
}

/* Steps [t0, t0 + len) of one config: its signal from two SMA rows. */
static void ma_config_block(gdf_ma_state *sp, const double *F, const double *W,
                            const double *ret, int64_t t0, int64_t len) {
  gdf_ma_state s = *sp;
  double neg = s.long_short ? -1.0 : 0.0;
  int64_t i = 0;
  for (; i < len && t0 + i < s.slow - 1; i++) gdf_ma_step_r(&s, 0.0, ret[i]);
  for (; i < len; i++) gdf_ma_step_r(&s, F[i] > W[i] ? 1.0 : neg, ret[i]);
  *sp = s;
}

/* Four configs in lock step over [i0, len), each past its warm-up: their
 * state updates are independent chains, so the core overlaps them instead of
 * waiting on one config's equity product every step. */
static void ma_four_block(gdf_ma_state *const sp[4], const double *const F[4],
                          const double *const W[4], const double *ret, int64_t i0,
                          int64_t len) {
  gdf_ma_state a = *sp[0], b = *sp[1], c = *sp[2], d = *sp[3];
  double na = a.long_short ? -1.0 : 0.0, nb = b.long_short ? -1.0 : 0.0;
  double nc = c.long_short ? -1.0 : 0.0, nd = d.long_short ? -1.0 : 0.0;
  const double *Fa = F[0], *Fb = F[1], *Fc = F[2], *Fd = F[3];
  const double *Wa = W[0], *Wb = W[1], *Wc = W[2], *Wd = W[3];
  for (int64_t i = i0; i < len; i++) {
    double r = ret[i];
    gdf_ma_step_r(&a, Fa[i] > Wa[i] ? 1.0 : na, r);
    gdf_ma_step_r(&b, Fb[i] > Wb[i] ? 1.0 : nb, r);
    gdf_ma_step_r(&c, Fc[i] > Wc[i] ? 1.0 : nc, r);
    gdf_ma_step_r(&d, Fd[i] > Wd[i] ? 1.0 : nd, r);
  }
  *sp[0] = a, *sp[1] = b, *sp[2] = c, *sp[3] = d;
}

/* One block of steps for every config of the batch. */
static void ma_block(ma_batch *b, const double *S, int64_t t0, int64_t len) {
  for (int64_t i = 0; i < len; i++) b->ret[i] = b->p[i + 1] / b->p[i] - 1.0;
  for (int j = 0; j < b->nwin; j++) {
    double *row = b->sma + (size_t)j * (size_t)b->block;
    for (int64_t i = 0; i < len; i++) row[i] = gdf_ma_sma(S, t0 + i, b->win[j]);
  }
  const int avx = gdf_ma_have_avx(); /* the same bits either way */
  int64_t k = 0;
  for (; k + 4 <= b->m; k += 4) {
    gdf_ma_state *sp[4];
    const double *F[4], *W[4];
    int64_t i0 = 0;
    for (int q = 0; q < 4; q++) {
      sp[q] = &b->st[k + q];
      F[q] = b->sma + (size_t)b->fslot[k + q] * (size_t)b->block;
      W[q] = b->sma + (size_t)b->sslot[k + q] * (size_t)b->block;
      int64_t warm = sp[q]->slow - 1 - t0; /* first step with a signal */
      if (warm > i0) i0 = warm < len ? warm : len;
    }
    /* Each config alone up to the last warm-up end of the four. */
    for (int q = 0; q < 4; q++) ma_config_block(sp[q], F[q], W[q], b->ret, t0, i0);
    if (i0 < len) {
      if (avx) gdf_ma_four_block_avx(sp, F, W, b->ret, i0, len);
      else ma_four_block(sp, F, W, b->ret, i0, len);
    }
  }
  for (; k < b->m; k++)
    ma_config_block(&b->st[k], b->sma + (size_t)b->fslot[k] * (size_t)b->block,
                    b->sma + (size_t)b->sslot[k] * (size_t)b->block, b->ret, t0, len);
}

/* Runs the m configs idx[] that read price column c; `before` configs of the
 * batch's n ran in earlier groups (for the progress it reports). */
static gpudf_status ma_group(const gpudf_table *t, int c, const double *configs,
                             const int64_t *idx, int64_t m, double *results, int64_t before,
                             int64_t n) {
  int64_t nrows = gpudf_table_nrows(t);
  gdf_colref pc = gdf_table_colref(t, c);
  const double *S = ma_prepared(t, c);
  double *own = S ? NULL : malloc(sizeof(double) * (size_t)nrows);
  ma_batch b;
  gpudf_status st = ma_batch_init(&b, configs, idx, m);
  if (st == GPUDF_OK && !S && !own)
    st = GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld rows", (long long)nrows);
  if (st != GPUDF_OK) {
    free(own);
    ma_batch_free(&b);
    return st;
  }
  if (!S) ma_prefix_sums(pc, nrows, own), S = own;
  for (int64_t t0 = 0; t0 < nrows - 1; t0 += b.block) {
    int64_t len = nrows - 1 - t0 < b.block ? nrows - 1 - t0 : b.block;
    gdf_k_load_block(pc, t0, len + 1, b.p);
    ma_block(&b, S, t0, len);
    double steps = (double)(t0 + len) / (double)(nrows - 1);
    if (gpudf_kernel_progress(((double)before + (double)m * steps) / (double)n)) {
      st = GDF_KERNEL_CANCELLED();
      break;
    }
  }
  for (int64_t k = 0; k < m && st == GPUDF_OK; k++)
    gdf_ma_finalize(&b.st[k], (double)(nrows - 1), configs[idx[k] * GDF_MA_NPARAMS + GDF_MA_PPY],
                    results + idx[k] * GDF_MA_NRESULTS);
  free(own);
  ma_batch_free(&b);
  return st;
}

/* The configs of one price column share its prefix sums, its moving
 * averages and the pass over time (ma_group). */
static uint64_t ma_pass_key(const double *config) {
  return (uint64_t)config[GDF_MA_PRICE_COL];
}

static gpudf_status ma_run_cpu(const gpudf_table *t, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
  char *done = calloc((size_t)n, 1);
  gpudf_status st = idx && done ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  /* Configs grouped by price column; almost always a single group. */
  int64_t before = 0;
  for (int64_t first = 0; first < n && st == GPUDF_OK; first++) {
    if (done[first]) continue;
    double c = configs[first * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    int64_t m = 0;
    for (int64_t k = first; k < n; k++)
      if (!done[k] && configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL] == c)
        idx[m++] = k, done[k] = 1;
    st = ma_group(t, (int)c, configs, idx, m, results, before, n);
    before += m;
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
    .pass_key = ma_pass_key,
    .accepts = ma_accepts,
    .prefer = ma_prefer,
};
