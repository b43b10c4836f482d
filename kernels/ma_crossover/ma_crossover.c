/*
 * ma_crossover.c - the ma_crossover kernel: a moving-average crossover
 * backtest over a price column, one config per (fast, slow, fee, mode)
 * strategy. Description, checks, the prepare step and the CPU reference.
 *
 * Missing prices (NaN, +-inf) carry the last finite price (ffill); rows
 * before the first finite price are outside the backtest; a column without
 * one is refused (gdf_ma_valid).
 *
 * Moving averages come from prefix sums of the filled prices kept as two
 * doubles, hi + lo (gdf_ma_prefix_add), so that a window's mean is its exact
 * mean correctly rounded (gdf_ma_sma2) however long and high-priced the
 * series. The owner computes them ONCE per table and price column with
 * gpudf_table_prepare (gpudf_sweep calls it when it shares a table), which
 * appends the f64 columns "__prefix.<price column name>" (hi) and
 * "__prefix_lo.<price column name>" (lo); every worker then reads them from
 * the share. Without them (a table shared before prepare, a name too long
 * for the prefix, or shared memory without room for them), a batch computes
 * the sums itself, once per batch and price column, never per config: the
 * same bits either way.
 *
 * A batch is one pass over time by blocks: a block's price returns and
 * the moving averages of every distinct window of the batch stay in L2
 * while every config advances its small state (gdf_ma_state) over them.
 */
#include "k_common.h"
#include "ma_crossover_math.h"
#include "ma_crossover_series.h"
#include "ma_crossover_simd.h"

#include <float.h>
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
    {"total_return", "prod(1 + R) - 1 over the step returns R of the filled prices, from the "
                     "first finite price on"},
    {"sharpe", "mean(R) / std(R, ddof 1) * sqrt(periods_per_year); NaN when std is 0 or "
               "fewer than 2 returns"},
    {"max_drawdown", "largest fall of the equity curve from its running peak, a fraction"},
    {"trades", "steps whose position differs from the previous one (from flat at start)"},
    {"exposure", "fraction of the steps (from the first finite price) with a non-zero "
                 "position; NaN when there is none"},
};

static gpudf_status ma_check(const gpudf_table *t, const double *config) {
  char a[32], b[32];
  double fast = config[GDF_MA_FAST], slow = config[GDF_MA_SLOW];
  if (!(fast < slow))
    return gdf_error(GPUDF_EINVAL, "ma_crossover",
                     "parameter 'fast' = %s must be less than parameter 'slow' = %s",
                     gdf_fmt_num(a, sizeof a, fast), gdf_fmt_num(b, sizeof b, slow));
  int64_t nrows = gpudf_table_nrows(t);
  if (slow > (double)nrows)
    return gdf_error(GPUDF_EINVAL, "ma_crossover",
                     "parameter 'slow' = %s is a window longer than the table's %lld rows",
                     gdf_fmt_num(a, sizeof a, slow), (long long)nrows);
  return gdf_k_check_col("ma_crossover", t, "price_col", config[GDF_MA_PRICE_COL]);
}

/* The names of price column c's two prefix columns, hi ("__prefix.<name>")
 * and lo ("__prefix_lo.<name>", GDF_DERIVED_PREFIX_LO); 0 when they do not
 * fit a name. */
static int ma_prefix_names(const char *p, char hi[GPUDF_NAME_MAX + 1],
                           char lo[GPUDF_NAME_MAX + 1]) {
  int a = snprintf(hi, GPUDF_NAME_MAX + 1, "%s%s", GDF_DERIVED_PREFIX, p);
  int b = snprintf(lo, GPUDF_NAME_MAX + 1, "%s%s", GDF_DERIVED_PREFIX_LO, p);
  return a > 0 && a <= GPUDF_NAME_MAX && b > 0 && b <= GPUDF_NAME_MAX;
}

static const double *ma_find_f64(const gpudf_table *t, const char *name) {
  int idx = gdf_table_column_index(t, name); /* not having it is normal */
  if (idx < 0) return NULL;
  gdf_colref r = gdf_table_colref(t, idx);
  return r.type == GPUDF_TYPE_F64 ? (const double *)r.data : NULL;
}

/* The prepared prefix sums of price column c (*L: their low parts), or NULL. */
static const double *ma_prepared(const gpudf_table *t, int c, const double **L) {
  char hi[GPUDF_NAME_MAX + 1], lo[GPUDF_NAME_MAX + 1];
  if (!ma_prefix_names(gpudf_table_column_name(t, c), hi, lo)) return NULL;
  const double *H = ma_find_f64(t, hi);
  *L = H ? ma_find_f64(t, lo) : NULL;
  return *L ? H : NULL;
}

/* The same in a kernel input. */
static const double *ma_input_f64(const gdf_kernel_input *in, const char *name) {
  int idx = gdf_input_find(in, name);
  if (idx < 0 || in->cols[idx].type != GPUDF_TYPE_F64) return NULL;
  return (const double *)in->cols[idx].data;
}
static const double *ma_input_prepared(const gdf_kernel_input *in, int c, const double **L) {
  char hi[GPUDF_NAME_MAX + 1], lo[GPUDF_NAME_MAX + 1];
  if (!ma_prefix_names(in->cols[c].name, hi, lo)) return NULL;
  const double *H = ma_input_f64(in, hi);
  *L = H ? ma_input_f64(in, lo) : NULL;
  return *L ? H : NULL;
}

/* The first row of price column c with a finite price; nrows when none. */
static int64_t ma_first_valid(gdf_colref p, int64_t nrows) {
  if (p.type != GPUDF_TYPE_F64 && p.type != GPUDF_TYPE_F32) return 0;
  int64_t i = 0;
  while (i < nrows && !gdf_ma_valid(gdf_k_load(p, i))) i++;
  return i;
}

static gpudf_status ma_no_price(const char *name, int c) {
  return gdf_error(GPUDF_EINVAL, "ma_crossover",
                   "column '%s' (price_col = %d) has no finite price: every value is NaN "
                   "or infinite", name, c);
}

gpudf_status gdf_ma_series_refusal(const char *name, int c, int slow, int64_t len,
                                   int64_t first) {
  if (first == len)
    return gdf_error(GPUDF_EINVAL, "ma_crossover", "column '%s' (price_col = %d) has no finite "
                     "price in this series of %lld rows", name, c, (long long)len);
  return gdf_error(GPUDF_EINVAL, "ma_crossover", "this series has %lld prices from its first "
                   "finite one, fewer than parameter 'slow' = %d", (long long)(len - first),
                   slow);
}

/* Two-double prefix sums of the filled prices (0 before the first finite
 * one); the first finite row, nrows when none. */
static int64_t ma_prefix_sums(gdf_colref p, int64_t nrows, double *H, double *L) {
  int64_t first = ma_first_valid(p, nrows);
  double hi = 0.0, lo = 0.0, last = 0.0;
  for (int64_t i = 0; i < first; i++) H[i] = L[i] = 0.0;
  for (int64_t i = first; i < nrows; i++) {
    double x = gdf_k_load(p, i);
    last = gdf_ma_valid(x) ? x : last;
    gdf_ma_prefix_add(&hi, &lo, last);
    H[i] = hi, L[i] = lo;
  }
  return first;
}

/* Appends the two prefix columns of every price column the configs read.
 * They are an optimisation only: when shared memory has no room for them
 * (with what the caller still needs there, gdf_prepare_reserve), batches
 * compute the sums themselves, with the same bits. */
static gpudf_status ma_prepare(gpudf_table *t, const double *configs, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    int c = (int)configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    char hi[GPUDF_NAME_MAX + 1], lo[GPUDF_NAME_MAX + 1];
    const double *L;
    if (!ma_prefix_names(gpudf_table_column_name(t, c), hi, lo) || ma_prepared(t, c, &L))
      continue;
    int64_t nrows = gpudf_table_nrows(t);
    if (ma_first_valid(gdf_table_colref(t, c), nrows) == nrows)
      return ma_no_price(gpudf_table_column_name(t, c), c);
    const char *why = gdf_derived_room(t, 2, GPUDF_TYPE_F64);
    if (why) {
      gdf_log("prepare: no ma_crossover prefix columns for column %d ('%s'): %s; each batch "
              "computes the prefix sums itself", c, gpudf_table_column_name(t, c), why);
      continue;
    }
    /* One of the two may exist: a previous prepare that failed between
     * them (a column without the other is never read). */
    void *d = NULL;
    if (!ma_find_f64(t, hi)) GDF_TRY(gdf_table_alloc_derived(t, hi, GPUDF_TYPE_F64, &d));
    if (!ma_find_f64(t, lo)) GDF_TRY(gdf_table_alloc_derived(t, lo, GPUDF_TYPE_F64, &d));
    /* Addresses and prices read after both appends: they may move the arena. */
    double *H = (double *)ma_find_f64(t, hi), *Lw = (double *)ma_find_f64(t, lo);
    ma_prefix_sums(gdf_table_colref(t, c), nrows, H, Lw);
    gdf_log("prepare: ma_crossover prefix sums of column %d as '%s' and '%s'", c, hi, lo);
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

/* Steps [t0, t0 + len) of one config: its signal from two SMA rows. t0 is
 * counted from the first finite price. */
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

/* One block of steps [t0, t0 + len) for every config of the batch, from
 * the filled prices b->p[0..len] and the prefix sums H, L; first: the first
 * finite row. */
static void ma_block(ma_batch *b, const double *H, const double *L, int64_t t0, int64_t len,
                     int64_t first) {
  const int avx = gdf_ma_have_avx(); /* the same bits either way */
  for (int64_t i = 0; i < len; i++) b->ret[i] = b->p[i + 1] / b->p[i] - 1.0;
  for (int j = 0; j < b->nwin; j++) {
    double *row = b->sma + (size_t)j * (size_t)b->block;
    if (avx) gdf_ma_sma_row_avx(H, L, t0, len, b->win[j], row);
    else gdf_ma_sma_row(H, L, t0, len, b->win[j], row);
  }
  t0 -= first; /* warm-ups count from the first finite price */
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

/* Loads the filled prices of rows [t0, t0 + n) into buf; *last: the
 * filled price of row t0 - 1 (of row t0 when t0 is the first finite row),
 * updated. */
static void ma_load_filled(gdf_colref pc, int64_t t0, int64_t n, double *buf, double *last) {
  gdf_k_load_block(pc, t0, n, buf);
  int missing = 0; /* a vectorised check first: the fill is a serial chain */
  for (int64_t i = 0; i < n; i++) missing |= !(fabs(buf[i]) <= DBL_MAX);
  double q = *last;
  if (missing)
    for (int64_t i = 0; i < n; i++) buf[i] = q = gdf_ma_valid(buf[i]) ? buf[i] : q;
  *last = n > 1 ? buf[n - 2] : *last; /* the next block starts at the last row again */
}

/* Runs the m configs idx[] that read price column c; `before` configs of the
 * batch's n ran in earlier groups (for the progress it reports). */
static gpudf_status ma_group(const gdf_kernel_input *in, int c, const double *configs,
                             const int64_t *idx, int64_t m, double *results, int64_t before,
                             int64_t n) {
  int64_t nrows = in->nrows;
  gdf_colref pc = gdf_input_col(in, c);
  /* One series of a long table (in->rows): its prices gathered in its own
   * order, with its own prefix sums (the prepared ones run over the whole
   * column, across series). */
  double *gathered = in->rows ? malloc(sizeof(double) * (size_t)(nrows > 0 ? nrows : 1)) : NULL;
  if (gathered) {
    for (int64_t i = 0; i < nrows; i++) gathered[i] = gdf_k_load(pc, in->rows[i]);
    pc = (gdf_colref){gathered, GPUDF_TYPE_F64};
  }
  const double *L = NULL, *H = in->rows ? NULL : ma_input_prepared(in, c, &L);
  double *own = H ? NULL : malloc(sizeof(double) * 2 * (size_t)(nrows > 0 ? nrows : 1));
  ma_batch b;
  gpudf_status st = ma_batch_init(&b, configs, idx, m);
  if (st == GPUDF_OK && ((!H && !own) || (in->rows && !gathered)))
    st = GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld rows", (long long)nrows);
  int64_t first = 0;
  if (st == GPUDF_OK) {
    if (!H) {
      first = ma_prefix_sums(pc, nrows, own, own + nrows);
      H = own, L = own + nrows;
    } else {
      first = ma_first_valid(pc, nrows);
    }
    if (first == nrows && in->rows)
      st = gdf_ma_series_refusal(in->cols[c].name, c, 0, nrows, first);
    else if (first == nrows) st = ma_no_price(in->cols[c].name, c);
  }
  /* A series too short for a config's slow window: that config has no
   * backtest on it (the whole-table check is in ma_check). */
  for (int64_t k = 0; k < m && st == GPUDF_OK && in->rows; k++)
    if (b.st[k].slow > nrows - first)
      st = gdf_ma_series_refusal(in->cols[c].name, c, b.st[k].slow, nrows, first);
  if (st != GPUDF_OK) {
    free(own), free(gathered);
    ma_batch_free(&b);
    return st;
  }
  double last = first < nrows ? gdf_k_load(pc, first) : 0.0;
  for (int64_t t0 = first; t0 < nrows - 1; t0 += b.block) {
    int64_t len = nrows - 1 - t0 < b.block ? nrows - 1 - t0 : b.block;
    ma_load_filled(pc, t0, len + 1, b.p, &last);
    ma_block(&b, H, L, t0, len, first);
    double steps = (double)(t0 + len - first) / (double)(nrows - 1 - first);
    if (gpudf_kernel_progress(((double)before + (double)m * steps) / (double)n)) {
      st = GDF_KERNEL_CANCELLED();
      break;
    }
  }
  for (int64_t k = 0; k < m && st == GPUDF_OK; k++)
    gdf_ma_finalize(&b.st[k], (double)(nrows - 1 - first),
                    configs[idx[k] * GDF_MA_NPARAMS + GDF_MA_PPY],
                    results + idx[k] * GDF_MA_NRESULTS);
  free(own), free(gathered);
  ma_batch_free(&b);
  return st;
}

/* The configs of one price column share its prefix sums, its moving
 * averages and the pass over time (ma_group). */
static uint64_t ma_pass_key(const double *config) {
  return (uint64_t)config[GDF_MA_PRICE_COL];
}

/* Runs fn once per price column over the configs idx[0..m) that read it
 * (almost always a single group); before: configs of earlier groups. */
typedef gpudf_status ma_group_fn(const gdf_kernel_input *in, int c, const double *configs,
                                 const int64_t *idx, int64_t m, double *results, int64_t before,
                                 int64_t n);

static gpudf_status ma_by_price_col(const gdf_kernel_input *in, const double *configs,
                                    int64_t n, double *results, ma_group_fn *fn) {
  if (n == 0) return GPUDF_OK;
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
  char *done = calloc((size_t)n, 1);
  gpudf_status st = idx && done ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  int64_t before = 0;
  for (int64_t first = 0; first < n && st == GPUDF_OK; first++) {
    if (done[first]) continue;
    double c = configs[first * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    int64_t m = 0;
    for (int64_t k = first; k < n; k++)
      if (!done[k] && configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL] == c)
        idx[m++] = k, done[k] = 1;
    st = fn(in, (int)c, configs, idx, m, results, before, n);
    before += m;
  }
  free(idx), free(done);
  return st;
}

static gpudf_status ma_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  return ma_by_price_col(in, configs, n, results, ma_group);
}

/* The net return of every step of m configs (configs[j * stride]) over the
 * series rows[0..n-1] (gdf_kernel.bar_returns): the path ma_group's results
 * come from (the same prefix sums, moving-average rows, signal and
 * gdf_ma_net_return). R[j * n + i] ends at row i, for rows after the first
 * finite price first[j]. The prices and their prefix sums are computed
 * once for the configs of one price column. */
static gpudf_status ma_bar_returns(const gpudf_table *t, const int64_t *rows, int64_t n,
                                   const double *configs, int64_t m, int64_t stride,
                                   double *R, int64_t *first, double *ppy) {
  double *p = malloc(sizeof(double) * 5 * (size_t)(n > 0 ? n : 1));
  if (!p) return GDF_ERR(GPUDF_ENOMEM, "out of memory for a series of %lld rows", (long long)n);
  double *H = p + n, *L = H + n, *F = L + n, *W = F + n;
  int col = -1;
  int64_t f = 0;
  for (int64_t j = 0; j < m; j++) {
    const double *config = configs + j * stride;
    if ((int)config[GDF_MA_PRICE_COL] != col) {
      col = (int)config[GDF_MA_PRICE_COL];
      gdf_colref pc = gdf_table_colref(t, col);
      for (int64_t i = 0; i < n; i++) p[i] = gdf_k_load(pc, rows[i]);
      f = ma_prefix_sums((gdf_colref){p, GPUDF_TYPE_F64}, n, H, L);
    }
    gdf_ma_state s = gdf_ma_init(config);
    double neg = s.long_short ? -1.0 : 0.0, last = f < n ? p[f] : 0.0, *Rj = R + j * n;
    for (int64_t i = 0; i <= f && i < n; i++) Rj[i] = NAN;
    /* The two moving averages of every step at once, as ma_block has them. */
    int64_t steps = f + 1 < n ? n - 1 - f : 0;
    if (steps > 0) {
      gdf_ma_sma_row(H, L, f, steps, s.fast, F);
      gdf_ma_sma_row(H, L, f, steps, s.slow, W);
    }
    for (int64_t i = 0; i < steps; i++) {
      int64_t t0 = f + i;
      double next = gdf_ma_valid(p[t0 + 1]) ? p[t0 + 1] : last;
      double sig = i < s.slow - 1 ? 0.0 : F[i] > W[i] ? 1.0 : neg;
      Rj[t0 + 1] = gdf_ma_net_return(&s, sig, next / last - 1.0);
      s.prev_s = sig;
      last = next;
    }
    first[j] = f;
    ppy[j] = config[GDF_MA_PPY];
  }
  free(p);
  return GPUDF_OK;
}

/* The m configs idx[] of a series batch that read price column c, as the
 * CUDA entry runs them (ma_crossover_series.h): the layout of their series
 * built on the host the same way, then gdf_ma_series_pair for every pair
 * in place of the launch. */
static gpudf_status ma_series_group(const gdf_kernel_input *in, int c, const double *configs,
                                    const int64_t *idx, int64_t m, double *results,
                                    int64_t before, int64_t n) {
  (void)before, (void)n; /* a launch reports no progress */
  const gdf_kernel_column *col = (in->host_cols ? in->host_cols : in->cols) + c;
  size_t zm = (size_t)(m > 0 ? m : 1);
  int64_t *of = malloc(sizeof(int64_t) * 3 * zm + sizeof(int64_t)), *series = of + zm;
  int64_t *seg = series + zm, *first = NULL;
  int *pair = malloc(sizeof(int) * zm);
  double *cfg = malloc(sizeof(double) * GDF_MA_NPARAMS * zm);
  double *out = malloc(sizeof(double) * GDF_MA_NRESULTS * zm), *p = NULL;
  gpudf_status st = of && pair && cfg && out ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  int64_t ns = 0;
  if (st == GPUDF_OK) {
    for (int64_t k = 0; k < m; k++) {
      of[k] = in->series_of[idx[k]];
      memcpy(cfg + k * GDF_MA_NPARAMS, configs + idx[k] * GDF_MA_NPARAMS,
             sizeof(double) * GDF_MA_NPARAMS);
    }
    ns = gdf_ma_series_slots(of, m, series, pair);
    gdf_ma_series_segments(series, ns, in->starts, seg);
    first = malloc(sizeof(int64_t) * (size_t)(ns > 0 ? ns : 1));
    p = malloc(sizeof(double) * 3 * (size_t)(seg[ns] > 0 ? seg[ns] : 1));
    if (!first || !p)
      st = GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld series rows", (long long)seg[ns]);
  }
  if (st == GPUDF_OK) {
    double *H = p + seg[ns], *L = H + seg[ns];
    gdf_ma_series_gather(col->data, col->type, in->order, in->starts, series, ns, seg, p, H,
                         L, first);
    int64_t bad = gdf_ma_series_refused(cfg, m, pair, seg, first);
    if (bad < m) {
      int j = pair[bad];
      int slow = (int)cfg[bad * GDF_MA_NPARAMS + GDF_MA_SLOW];
      st = gdf_ma_series_refusal(in->cols[c].name, c, slow, seg[j + 1] - seg[j], first[j]);
    }
    for (int64_t k = 0; k < m && st == GPUDF_OK; k++)
      gdf_ma_series_pair(k, cfg, pair, seg, first, p, H, L, out);
    for (int64_t k = 0; k < m && st == GPUDF_OK; k++)
      memcpy(results + idx[k] * GDF_MA_NRESULTS, out + k * GDF_MA_NRESULTS,
             sizeof(double) * GDF_MA_NRESULTS);
  }
  free(of), free(pair), free(cfg), free(out), free(first), free(p);
  return st;
}

/* A series batch (gdf_kernel_input.series_of) on the simulated device: the
 * CUDA entry's host twin, one group of configs per price column as there,
 * so that every sweep test on the simulated device runs the layout and the
 * per-pair body the GPU runs. */
static gpudf_status ma_run_series_cpu(const gdf_kernel_input *in, const double *configs,
                                      int64_t n, double *results) {
  return ma_by_price_col(in, configs, n, results, ma_series_group);
}

gdf_kernel_fn gdf_kernel_ma_crossover_cuda; /* cuda_ma_crossover.cu */
gdf_kernel_fn gdf_kernel_ma_crossover_cuda_series;

const gpudf_kernel gdf_kernel_ma_crossover = {
    .name = "ma_crossover",
    .summary = "moving-average crossover backtest of price_col: long (or short in "
               "long_short) when SMA(fast) > SMA(slow), each the window's exact mean "
               "rounded to double; a NaN or infinite price carries the last finite one, "
               "rows before the first finite price are skipped, a column without one is "
               "refused; total_return, sharpe, max_drawdown, trades, exposure. "
               "gpudf_table_prepare stores the prefix sums once per table",
    .nparams = GDF_MA_NPARAMS,
    .params = ma_params,
    .nfields = GDF_MA_NRESULTS,
    .fields = ma_fields,
    .nresults = NULL,
    .result_name = NULL,
    .check = ma_check,
    .cpu = ma_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_ma_crossover_cuda),
    .cpu_series = ma_run_series_cpu,
    .cuda_series = GDF_CUDA_ENTRY(gdf_kernel_ma_crossover_cuda_series),
    .prepare = ma_prepare,
    .pass_key = ma_pass_key,
    .accepts = ma_accepts,
    .prefer = ma_prefer,
    .row_order = true,
    .bar_returns = ma_bar_returns,
};
