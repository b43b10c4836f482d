/*
 * bench_kernels.c - gpudf-bench_kernels: the kernel library on the CPU,
 * against this machine's own read bandwidth and a plain C loop, measured in
 * the same run.
 *
 *   gpudf-bench_kernels [--quick] [--rounds N] [--only-a] [--json PATH]
 *
 *   A  single pass: one config of each kernel (filter_agg, groupby_agg with
 *      64 and 4096 groups, histogram with 100, 64 and 4096 bins,
 *      ma_crossover, bootstrap) over N rows (1e7; 3e6 with
 *      --quick: its two f64 columns, 48 MB, still exceed a usual L3
 *      cache), as bytes of the columns it reads / time, and that as a
 *      fraction of the plain read bandwidth (bench_plain_read.h: two f64
 *      columns of the same table, 32-byte loads with AVX2, else 16-byte,
 *      8 accumulators, on the thread that runs the kernels). The two
 *      alternate: each round runs, per kernel, a plain read and right
 *      after it the kernel (a pair), 21 rounds (5 with --quick, N with
 *      --rounds N; --only-a: this section alone); a pair's ratio is the
 *      kernel's bytes/s over the read's just before it, and the fraction
 *      reported is the median of the pairs' ratios with its quartiles and
 *      [min - max], from wall time and from this thread's CPU time: on a
 *      VM whose read bandwidth swings between runs (17-33 GB/s seen) the
 *      ratio of neighbours moves much less than either. "best" is the
 *      kernel's best time against the best of the reads paired with it:
 *      other tenants' memory traffic only adds time, so each one's best is
 *      its least disturbed run, a second estimate. Each round first
 *      also reads with 16-byte loads and with the scalar loop the plain
 *      read was before, next to a plain read, in an order that rotates by
 *      round: the baseline check, each as its ratio to the plain read's of
 *      the same round.
 *   B  batched vs single: 16 configs of each kernel in one gpudf_run against
 *      16 one-config gpudf_run calls; the answers must agree (bit for bit on
 *      counts, to 1e-9 relative on sums and statistics).
 *   C  ma_crossover: every pair fast in 5..100, slow in 20..250 step 2 with
 *      fast < slow (~9,000 configs) over 1e6 prices through gpudf_sweep with
 *      2 workers, against a plain single-threaded C loop that backtests one
 *      config at a time (on a sample of 200 configs, scaled), whose
 *      total_return must match the sweep's. --quick: 1e5 prices, a tenth of
 *      the pairs.
 *
 * Times are medians over repetitions after one excluded warm-up run, with
 * [min - max]. Exit 1 when a call failed, 2 when an answer is wrong.
 * --json PATH also writes every number as JSON (read by bench/report.py).
 */
#include <gpudf.h>

#include "bench_plain_read.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "gpudf-bench_kernels"
enum { NBATCH = 16, MAXRES = 5 * 4096 + 8 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* This thread's CPU time: on a loaded machine a pass's wall time includes
 * the time other processes held the core, its CPU time does not (memory
 * contention still shows in both). gpudf_run on the CPU runs on the
 * calling thread. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, PROG ": %s: %s\n", what, gpudf_last_error());
  exit(1);
}

static const gpudf_kernel *find_kernel(const char *name) {
  const gpudf_kernel *k = NULL;
  if (gpudf_kernel_find(name, &k)) die("kernel_find");
  return k;
}

static void wrong(const char *fmt, const char *kernel, int i, double a, double b) {
  fprintf(stderr, PROG ": WRONG ANSWER: ");
  fprintf(stderr, fmt, kernel, i, a, b);
  fputc('\n', stderr);
  exit(2);
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(rng(s) >> 11) * 0x1.0p-53; }

typedef struct stats {
  double med, min, max, q1, q3; /* q1, q3: quartiles (linear between ranks) */
} stats;

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double rank_of(const double *v, int n, double p) {
  double at = p * (n - 1);
  int lo = (int)at;
  return lo + 1 < n ? v[lo] + (at - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

static stats stats_of(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  stats r = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1],
             rank_of(v, n, 0.25), rank_of(v, n, 0.75)};
  return r;
}

/* ------------------------------------------------------------- the table */

/* x f64 uniform [0, 10), v f64 uniform [-1, 1), k i32 in [0, 64), k4096
 * i32 in [0, 4096), price a
 * geometric random walk; ma_crossover's prefix column is prepared. */
static gpudf_table *make_table(int64_t n) {
  gpudf_table *t;
  void *p;
  uint64_t s = 2;
  if (gpudf_table_create(n, &t)) die("create");
  if (gpudf_table_alloc_column(t, "x", GPUDF_TYPE_F64, &p)) die("alloc x");
  for (int64_t i = 0; i < n; i++) ((double *)p)[i] = 10 * unif(&s);
  if (gpudf_table_alloc_column(t, "v", GPUDF_TYPE_F64, &p)) die("alloc v");
  for (int64_t i = 0; i < n; i++) ((double *)p)[i] = 2 * unif(&s) - 1;
  if (gpudf_table_alloc_column(t, "k", GPUDF_TYPE_I32, &p)) die("alloc k");
  for (int64_t i = 0; i < n; i++) ((int32_t *)p)[i] = (int32_t)(rng(&s) % 64);
  if (gpudf_table_alloc_column(t, "k4096", GPUDF_TYPE_I32, &p)) die("alloc k4096");
  for (int64_t i = 0; i < n; i++) ((int32_t *)p)[i] = (int32_t)(rng(&s) % 4096);
  if (gpudf_table_alloc_column(t, "price", GPUDF_TYPE_F64, &p)) die("alloc price");
  double x = 100;
  for (int64_t i = 0; i < n; i++) ((double *)p)[i] = x *= exp(0.01 * (unif(&s) - 0.5));
  double ma[6] = {4, 10, 50, 0, 0, 252};
  if (gpudf_table_prepare(t, find_kernel("ma_crossover"), ma, 1)) die("prepare");
  return t;
}

static const double *col(const gpudf_table *t, const char *name) {
  int i;
  if (gpudf_table_find_column(t, name, &i)) die("find column");
  return gpudf_table_column_data(t, i);
}

/* ------------------------------------------------------------ A and B */

typedef struct kcase {
  const char *kernel, *what;
  double bytes_per_row; /* of the columns one config reads */
  int nparams;
  double cfg[NBATCH][8]; /* config 0 is the single-pass one */
  /* measured */
  stats single, single_cpu, batched, singles;
  stats ratio, ratio_cpu; /* of the pairs (kernel bytes/s over the read's just before) */
  double best; /* best pass over the best of its paired plain reads */
  double max_rel;
  int nres;
} kcase;

static void fill_cases(kcase *c, int *nc) {
  int n = 0;
  /* filter_agg: filter_col op lo hi value_col; x between [2, 7], sum v */
  c[n] = (kcase){.kernel = "filter_agg", .what = "x between, aggregate v", .bytes_per_row = 16,
                 .nparams = 5};
  for (int j = 0; j < NBATCH; j++) {
    double cf[5] = {0, 7, 2 + 0.1 * j, 7 + 0.1 * j, 1};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  /* groupby_agg: filter_col op lo hi key_col value_col groups */
  c[n] = (kcase){.kernel = "groupby_agg", .what = "x > lo, v by k (64 groups)",
                 .bytes_per_row = 20, .nparams = 7};
  for (int j = 0; j < NBATCH; j++) {
    double cf[7] = {0, 3, 1 + 0.25 * j, 0, 2, 1, 64};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  c[n] = (kcase){.kernel = "groupby_agg", .what = "x > lo, v by k4096 (4096 groups)",
                 .bytes_per_row = 20, .nparams = 7};
  for (int j = 0; j < NBATCH; j++) {
    double cf[7] = {0, 3, 1 + 0.25 * j, 0, 3, 1, 4096};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  /* histogram: filter_col op lo hi col bins range_lo range_hi */
  c[n] = (kcase){.kernel = "histogram", .what = "x > lo, v in 100 bins", .bytes_per_row = 16,
                 .nparams = 8};
  for (int j = 0; j < NBATCH; j++) {
    double cf[8] = {0, 3, 1 + 0.25 * j, 0, 1, 100, -1, 1};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  /* the bin counts of the numpy.histogram target (64: four counter copies
   * in L1; 4096: one copy, 16 KiB) */
  for (int b = 64; b <= 4096; b *= 64) {
    c[n] = (kcase){.kernel = "histogram", .what = b == 64 ? "x > lo, v in 64 bins"
                                                          : "x > lo, v in 4096 bins",
                   .bytes_per_row = 16, .nparams = 8};
    for (int j = 0; j < NBATCH; j++) {
      double cf[8] = {0, 3, 1 + 0.25 * j, 0, 1, b, -1, 1};
      memcpy(c[n].cfg[j], cf, sizeof cf);
    }
    n++;
  }
  /* ma_crossover: price_col fast slow fee_bps mode ppy; reads the prices
   * and their prefix sums */
  c[n] = (kcase){.kernel = "ma_crossover", .what = "SMA fast/slow, prices + prefix sums",
                 .bytes_per_row = 16, .nparams = 6};
  for (int j = 0; j < NBATCH; j++) {
    double cf[6] = {4, 5 + 5 * (j % 8), 60 + 20 * (j / 8), 0, 0, 252};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  /* bootstrap: col seed stat; N draws at random rows of v */
  c[n] = (kcase){.kernel = "bootstrap", .what = "N random draws of v (gathers)",
                 .bytes_per_row = 8, .nparams = 3};
  for (int j = 0; j < NBATCH; j++) {
    double cf[3] = {1, 1000 + j, 0};
    memcpy(c[n].cfg[j], cf, sizeof cf);
  }
  n++;
  *nc = n;
}

/* filter_agg config 0 against a scalar loop: count exact, sum to 1e-9. */
static void check_filter_agg(const gpudf_table *t, const double *cfg, const double *res) {
  const double *x = col(t, "x"), *v = col(t, "v");
  int64_t n = gpudf_table_nrows(t);
  double cnt = 0, sum = 0, sa = 0;
  for (int64_t i = 0; i < n; i++)
    if (cfg[2] <= x[i] && x[i] <= cfg[3]) cnt += 1, sum += v[i], sa += fabs(v[i]);
  if (cnt != res[0]) wrong("%s config %d: count %.17g, the scalar loop %.17g", "filter_agg", 0,
                           res[0], cnt);
  if (fabs(sum - res[1]) > 1e-9 * sa)
    wrong("%s config %d: sum %.17g, the scalar loop %.17g", "filter_agg", 0, res[1], sum);
}

/* The baseline check's reads: the plain read (bench_plain_read.h: 32-byte
 * loads on a CPU with AVX2, else 16-byte), 16-byte loads, and the scalar
 * loop the plain read was before. */
enum { NCHECK = 3 };
static const char *const check_names[NCHECK] = {
    "plain read (the baseline)", "16-byte loads, 8 accumulators",
    "scalar loads, 4 accumulators (before)"};

static double check_read(int j, const double *x, const double *v, int64_t n) {
  return j == 0 ? plain_read(x, v, n) : j == 1 ? plain_read_v16(x, v, n)
                                               : plain_read_scalar(x, v, n);
}

static double *dalloc(int64_t n) {
  double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, PROG ": out of memory\n");
    exit(1);
  }
  return p;
}

static void bench_passes(kcase *c, int nc, int64_t n, int reps, bool only_a, stats *bw,
                         FILE *out) {
  gpudf_table *t = make_table(n);
  const double *x = col(t, "x"), *v = col(t, "v");
  /* every plain read of the pairs (nc a round), and per kernel its pairs */
  double *tb = dalloc((int64_t)reps * nc), *tbc = dalloc((int64_t)reps * nc);
  double **tk = malloc(sizeof(double *) * (size_t)nc), **tkc = malloc(sizeof(double *) * (size_t)nc);
  double **rk = malloc(sizeof(double *) * (size_t)nc);
  double **rkc = malloc(sizeof(double *) * (size_t)nc);
  for (int k = 0; k < nc; k++)
    tk[k] = dalloc(reps), tkc[k] = dalloc(reps), rk[k] = dalloc(reps), rkc[k] = dalloc(reps);
  int ncheck = NCHECK;
  double *tcheck[NCHECK], *rcheck[NCHECK];
  stats scheck[NCHECK], rscheck[NCHECK];
  for (int j = 0; j < NCHECK; j++) tcheck[j] = dalloc(reps), rcheck[j] = dalloc(reps);
  stats bwc;
  const gpudf_kernel **kp = malloc(sizeof(*kp) * (size_t)nc);
  double *res = malloc(sizeof(double) * NBATCH * MAXRES);
  double *res1 = malloc(sizeof(double) * NBATCH * MAXRES);
  for (int k = 0; k < nc; k++) {
    if (gpudf_kernel_find(c[k].kernel, &kp[k])) die("kernel_find");
    c[k].nres = gpudf_kernel_nresults(kp[k], c[k].cfg[0]);
    if (c[k].nres > MAXRES) die("too many results");
  }
  volatile double sink = 0;
  fprintf(stderr, "[" PROG "] A: single passes over %lld rows, %d rounds of (read, kernel) "
          "pairs (+1 warm-up)\n", (long long)n, reps);
  for (int r = 0; r < reps + 1; r++) {
    double t0, c0, dt, dc;
    /* the check's reads in turn, in an order that rotates by round */
    double tc[NCHECK];
    for (int jj = 0; jj < ncheck; jj++) {
      int j = (jj + r) % ncheck;
      t0 = now_s();
      sink += check_read(j, x, v, n);
      tc[j] = now_s() - t0;
    }
    for (int j = 0; j < ncheck && r > 0; j++)
      tcheck[j][r - 1] = tc[j], rcheck[j][r - 1] = tc[0] / tc[j];
    for (int k = 0; k < nc; k++) {
      t0 = now_s(), c0 = cpu_s();
      sink += plain_read(x, v, n);
      double tr = now_s() - t0, cr = cpu_s() - c0;
      t0 = now_s(), c0 = cpu_s();
      if (gpudf_run(t, kp[k], c[k].cfg[0], 1, res)) die(c[k].kernel);
      dt = now_s() - t0, dc = cpu_s() - c0;
      if (k == 0 && r == 0) check_filter_agg(t, c[k].cfg[0], res);
      if (r == 0) continue;
      double by = c[k].bytes_per_row * (double)n;
      tb[(r - 1) * nc + k] = tr, tbc[(r - 1) * nc + k] = cr;
      tk[k][r - 1] = dt, tkc[k][r - 1] = dc;
      rk[k][r - 1] = (by / dt) / (16.0 * (double)n / tr);
      rkc[k][r - 1] = (by / dc) / (16.0 * (double)n / cr);
    }
  }
  (void)sink;
  *bw = stats_of(tb, reps * nc);
  bwc = stats_of(tbc, reps * nc);
  for (int k = 0; k < nc; k++) {
    c[k].single = stats_of(tk[k], reps), c[k].single_cpu = stats_of(tkc[k], reps);
    c[k].ratio = stats_of(rk[k], reps), c[k].ratio_cpu = stats_of(rkc[k], reps);
    double read_best = tb[k];
    for (int r = 1; r < reps; r++) read_best = fmin(read_best, tb[r * nc + k]);
    c[k].best = (c[k].bytes_per_row * (double)n / c[k].single.min) / (16.0 * (double)n / read_best);
  }
  for (int j = 0; j < ncheck; j++)
    scheck[j] = stats_of(tcheck[j], reps), rscheck[j] = stats_of(rcheck[j], reps);

  /* B's rounds are 32 passes each: 3 measured rounds are enough for a median. */
  int breps = reps < 3 ? reps : 3;
  if (!only_a)
    fprintf(stderr, "[" PROG "] B: %d configs batched vs single, %d reps (+1 warm-up)\n",
            NBATCH, breps);
  double *ta = malloc(sizeof(double) * (size_t)breps), *ts = malloc(sizeof(double) * (size_t)breps);
  for (int k = 0; k < nc && !only_a; k++) {
    double cfg[NBATCH * 8];
    int np = c[k].nparams, nr = c[k].nres;
    for (int j = 0; j < NBATCH; j++) memcpy(cfg + j * np, c[k].cfg[j], sizeof(double) * (size_t)np);
    for (int r = 0; r < breps + 1; r++) {
      double t0 = now_s();
      if (gpudf_run(t, kp[k], cfg, NBATCH, res)) die(c[k].kernel);
      double t1 = now_s();
      for (int j = 0; j < NBATCH; j++)
        if (gpudf_run(t, kp[k], cfg + j * np, 1, res1 + j * nr)) die(c[k].kernel);
      double t2 = now_s();
      if (r > 0) ta[r - 1] = t1 - t0, ts[r - 1] = t2 - t1;
    }
    double worst = 0;
    for (int i = 0; i < NBATCH * nr; i++) {
      double a = res[i], b = res1[i];
      if ((isnan(a) && isnan(b)) || a == b) continue;
      double rel = fabs(a - b) / fmax(fabs(a), fabs(b));
      if (!(rel <= 1e-9))
        wrong("%s result %d: %.17g batched, %.17g alone", c[k].kernel, i, a, b);
      worst = fmax(worst, rel);
    }
    c[k].max_rel = worst;
    c[k].batched = stats_of(ta, breps);
    c[k].singles = stats_of(ts, breps);
  }

  printf("A single pass over %lld rows: bytes of the columns read / time, vs the plain read\n",
         (long long)n);
  printf("  plain read (2 f64 columns, %d-byte loads, 8 accumulators, this thread): %.2f GB/s "
         "[%.2f - %.2f], %d reads\n", plain_read_wide() ? 32 : 16, 16.0 * n / bw->med / 1e9,
         16.0 * n / bw->max / 1e9, 16.0 * n / bw->min / 1e9, reps * nc);
  printf("  (cpu: from this thread's CPU time, plain read %.2f GB/s: what the load leaves of a\n"
         "  pass on a shared machine)\n", 16.0 * n / bwc.med / 1e9);
  printf("  baseline check, %d rounds: GB/s, and over the plain read of the same round\n", reps);
  for (int j = 0; j < ncheck; j++)
    printf("    %-44s %6.2f GB/s [%.2f - %.2f]  x%.3f [%.3f - %.3f]\n", check_names[j],
           16.0 * n / scheck[j].med / 1e9, 16.0 * n / scheck[j].max / 1e9,
           16.0 * n / scheck[j].min / 1e9, rscheck[j].med, rscheck[j].min, rscheck[j].max);
  printf("  of read: median of %d (read, kernel) pairs' ratios, quartiles, [min - max];\n"
         "  best: the pass's best time against the best of the %d plain reads paired with it\n"
         "  (on a machine whose memory others share, noise only adds time: each one's best is\n"
         "  its least disturbed run); cpu: the pairs' ratios in this thread's CPU time\n", reps, reps);
  printf("  %-13s %-36s %5s %22s %8s %13s %13s %6s %8s %13s\n", "kernel", "config", "B/row",
         "GB/s [min - max]", "of read", "quartiles", "[min - max]", "best", "cpu",
         "cpu quartiles");
  for (int k = 0; k < nc; k++) {
    double by = c[k].bytes_per_row * (double)n;
    char g[64], q[32], m[32], qc[32];
    snprintf(g, sizeof g, "%.2f [%.2f - %.2f]", by / c[k].single.med / 1e9,
             by / c[k].single.max / 1e9, by / c[k].single.min / 1e9);
    snprintf(q, sizeof q, "%.0f-%.0f%%", 100 * c[k].ratio.q1, 100 * c[k].ratio.q3);
    snprintf(m, sizeof m, "[%.0f - %.0f%%]", 100 * c[k].ratio.min, 100 * c[k].ratio.max);
    snprintf(qc, sizeof qc, "%.0f-%.0f%%", 100 * c[k].ratio_cpu.q1, 100 * c[k].ratio_cpu.q3);
    printf("  %-13s %-36s %5.0f %22s %7.0f%% %13s %13s %5.0f%% %7.0f%% %13s\n", c[k].kernel,
           c[k].what, c[k].bytes_per_row, g, 100 * c[k].ratio.med, q, m, 100 * c[k].best,
           100 * c[k].ratio_cpu.med, qc);
  }
  if (!only_a) {
    printf("B %d configs in one gpudf_run vs %d one-config runs (same table), %d rounds\n",
           NBATCH, NBATCH, breps);
    printf("  %-13s %26s %26s %9s %12s\n", "kernel", "batched [min - max]",
           "16 single [min - max]", "speedup", "max rel diff");
  }
  for (int k = 0; k < nc && !only_a; k++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "%.1f ms [%.1f - %.1f]", 1e3 * c[k].batched.med, 1e3 * c[k].batched.min,
             1e3 * c[k].batched.max);
    snprintf(b, sizeof b, "%.1f ms [%.1f - %.1f]", 1e3 * c[k].singles.med, 1e3 * c[k].singles.min,
             1e3 * c[k].singles.max);
    printf("  %-13s %26s %26s %8.2fx %12.1e\n", c[k].kernel, a, b,
           c[k].singles.med / c[k].batched.med, c[k].max_rel);
  }
  if (out) {
    fprintf(out, "  \"rows\": %lld,\n  \"read_gbs\": {\"med\": %.6g, \"min\": %.6g, \"max\": %.6g},\n",
            (long long)n, 16.0 * n / bw->med / 1e9, 16.0 * n / bw->max / 1e9,
            16.0 * n / bw->min / 1e9);
    fprintf(out, "  \"read_gbs_cpu\": %.6g, \"pairs\": %d,\n  \"read_check\": [\n",
            16.0 * n / bwc.med / 1e9, reps);
    for (int j = 0; j < ncheck; j++)
      fprintf(out, "    {\"read\": \"%s\", \"gbs\": %.6g, \"over_plain\": {\"med\": %.6g, "
              "\"min\": %.6g, \"max\": %.6g}}%s\n", check_names[j], 16.0 * n / scheck[j].med / 1e9,
              rscheck[j].med, rscheck[j].min, rscheck[j].max, j + 1 < ncheck ? "," : "");
    fprintf(out, "  ],\n");
    fprintf(out, "  \"kernels\": [\n");
    for (int k = 0; k < nc; k++) {
      double by = c[k].bytes_per_row * (double)n;
      fprintf(out,
              "    {\"kernel\": \"%s\", \"what\": \"%s\", \"bytes_per_row\": %g, "
              "\"single_s\": {\"med\": %.6g, \"min\": %.6g, \"max\": %.6g}, \"gbs\": %.6g, "
              "\"fraction_of_read\": %.6g, \"fraction_of_read_best\": %.6g, "
              "\"fraction_of_read_cpu\": %.6g, "
              "\"pair_ratio\": {\"med\": %.6g, \"q1\": %.6g, \"q3\": %.6g, \"min\": %.6g, "
              "\"max\": %.6g}, \"pair_ratio_cpu\": {\"med\": %.6g, \"q1\": %.6g, "
              "\"q3\": %.6g, \"min\": %.6g, \"max\": %.6g}, \"batch\": %d, "
              "\"batched_s\": {\"med\": %.6g, \"min\": %.6g, \"max\": %.6g}, "
              "\"singles_s\": {\"med\": %.6g, \"min\": %.6g, \"max\": %.6g}, "
              "\"speedup\": %.6g, \"max_rel_diff\": %.3g, \"runs\": %d, \"batch_runs\": %d}%s\n",
              c[k].kernel, c[k].what, c[k].bytes_per_row, c[k].single.med, c[k].single.min,
              c[k].single.max, by / c[k].single.med / 1e9, c[k].ratio.med, c[k].best, c[k].ratio_cpu.med,
              c[k].ratio.med, c[k].ratio.q1, c[k].ratio.q3, c[k].ratio.min, c[k].ratio.max,
              c[k].ratio_cpu.med, c[k].ratio_cpu.q1, c[k].ratio_cpu.q3, c[k].ratio_cpu.min,
              c[k].ratio_cpu.max, NBATCH, c[k].batched.med,
              c[k].batched.min, c[k].batched.max, c[k].singles.med, c[k].singles.min,
              c[k].singles.max, c[k].singles.med / c[k].batched.med, c[k].max_rel, reps,
              breps, k + 1 < nc ? "," : "");
    }
    fprintf(out, "  ],\n");
  }
  gpudf_table_free(t);
  for (int k = 0; k < nc; k++) free(tk[k]), free(tkc[k]), free(rk[k]), free(rkc[k]);
  for (int j = 0; j < NCHECK; j++) free(tcheck[j]), free(rcheck[j]);
  free(tk), free(tkc), free(rk), free(rkc), free(tb), free(tbc), free(kp);
  free(res), free(res1), free(ta), free(ts);
}

/* ------------------------------------------------------------------- C */

/* The baseline: one config straight from the definition (long_only, fee
 * 0), windows by running sums of the prices; gives total_return. */
static double baseline_one(const double *p, long n, int fast, int slow) {
  double sf = 0, ss = 0, e = 1;
  for (long t = 0; t + 1 < n; t++) {
    sf += p[t] - (t >= fast ? p[t - fast] : 0);
    ss += p[t] - (t >= slow ? p[t - slow] : 0);
    double s = t >= slow - 1 && sf / fast > ss / slow ? 1 : 0;
    e *= 1 + s * (p[t + 1] / p[t] - 1);
  }
  return e - 1;
}

static int bench_ma(long n, int step_fast, FILE *out) {
  double *p = malloc(sizeof(double) * (size_t)n), x = 100;
  uint64_t seed = 1;
  for (long i = 0; i < n; i++) p[i] = x *= exp(0.01 * (unif(&seed) - 0.5));
  gpudf_table *t = NULL;
  if (gpudf_table_create(n, &t) || gpudf_table_add_column(t, "close", GPUDF_TYPE_F64, p))
    die("table");
  long m = 0;
  double *cfg = malloc(sizeof(double) * 6 * 12000);
  for (int f = 5; f <= 100; f += step_fast)
    for (int s = 20; s <= 250; s += 2)
      if (f < s) {
        double c[6] = {0, f, s, 0, 0, 252};
        memcpy(cfg + 6 * m++, c, sizeof c);
      }
  double *res = malloc(sizeof(double) * 5 * (size_t)m);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 2;
  o.backend = GPUDF_BACKEND_CPU;
  fprintf(stderr, "[" PROG "] C: ma_crossover sweep, %ld configs x %ld prices\n", m, n);
  double t0 = now_s();
  if (gpudf_sweep(t, find_kernel("ma_crossover"), cfg, m, res, &o, NULL)) die("sweep");
  double sweep_s = now_s() - t0;
  /* The baseline on a sample of configs, scaled: all of them would take as
   * long as the sweep many times over. Same answers first. */
  long sample = m < 200 ? m : 200, differ = 0;
  double worst = 0;
  t0 = now_s();
  for (long k = 0; k < sample; k++) {
    long i = k * m / sample;
    double b = baseline_one(p, n, (int)cfg[6 * i + 1], (int)cfg[6 * i + 2]);
    double a = res[5 * i], rel = fabs(a - b) / fmax(1e-300, fmax(fabs(a), fabs(b)));
    if (!(rel <= 1e-6)) differ++;
    worst = rel > worst && rel <= 1e-6 ? rel : worst;
  }
  double base_s = (now_s() - t0) * (double)m / (double)sample;
  /* Moving averages from prefix sums and from running sums round
   * differently, so a near-tie may flip one signal; more than 2% is wrong. */
  if (differ * 50 > sample)
    wrong("%s: %d of the sampled configs' total_return differ from the baseline (%g, %g)",
          "ma_crossover", (int)differ, 0, 0);
  printf("C ma_crossover: %ld configs x %ld prices\n", m, n);
  printf("  gpudf_sweep (cpu, 2 workers): %.3f s, %.0f configs/s, %.3g price-steps/s\n", sweep_s,
         m / sweep_s, (double)m * (n - 1) / sweep_s);
  printf("  baseline (1 thread, one config at a time, %ld sampled): %.3f s est, %.0f configs/s, "
         "%.3g price-steps/s\n", sample, base_s, m / base_s, (double)m * (n - 1) / base_s);
  printf("  ratio sweep/baseline: %.2fx; total_return equal on %ld of %ld sampled configs "
         "(max rel diff %.1e)\n", base_s / sweep_s, sample - differ, sample, worst);
  if (out)
    fprintf(out,
            "  \"ma_sweep\": {\"configs\": %ld, \"prices\": %ld, \"workers\": 2, \"sweep_s\": %.6g, "
            "\"baseline_s_est\": %.6g, \"sampled\": %ld, \"agree\": %ld, \"speedup\": %.6g}\n",
            m, n, sweep_s, base_s, sample, sample - differ, base_s / sweep_s);
  gpudf_table_free(t);
  free(p), free(cfg), free(res);
  return 0;
}

int main(int argc, char **argv) {
  bool quick = false, only_a = false;
  const char *json = NULL;
  int rounds = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true;
    else if (strcmp(argv[i], "--only-a") == 0) only_a = true;
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc && atoi(argv[i + 1]) >= 1 &&
             atoi(argv[i + 1]) <= 1000)
      rounds = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: " PROG " [--quick] [--rounds N (1-1000)] [--only-a] [--json PATH]\n"
              "  --only-a: section A alone (no JSON then)\n");
      return 1;
    }
  }
  if (only_a && json) {
    fprintf(stderr, PROG ": --only-a writes no JSON (sections B and C are part of it)\n");
    return 1;
  }
  if (!rounds) rounds = quick ? 5 : 21;
  FILE *out = NULL;
  if (json && !(out = fopen(json, "w"))) {
    perror(json);
    return 1;
  }
  if (out) fprintf(out, "{\n  \"bench\": \"kernels\", \"quick\": %s, \"version\": \"%s\",\n",
                   quick ? "true" : "false", gpudf_version());
  printf(PROG " %s%s\n", gpudf_version(), quick ? " --quick" : "");
  printf("times: medians after 1 excluded warm-up run (round), [min - max] of the measured runs\n");
  kcase c[12];
  int nc;
  fill_cases(c, &nc);
  stats bw;
  bench_passes(c, nc, quick ? 3000000 : 10000000, rounds, only_a, &bw, out);
  if (!only_a) bench_ma(quick ? 100000 : 1000000, quick ? 10 : 1, out);
  if (out) {
    fprintf(out, "}\n");
    if (fclose(out)) {
      perror(json);
      return 1;
    }
  }
  return 0;
}
