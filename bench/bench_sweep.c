/*
 * bench_sweep.c - gpudf-bench_sweep: the sweep engine against its baselines,
 * with a PASS/MISS verdict per target.
 *
 *   gpudf-bench_sweep [--quick] [--split] [--workers N] [--json PATH]
 *
 * --split runs sections 0 and 4 only; --workers N compares 1 with N
 * workers (and N threads of the plain read) in section 4 (default 2).
 *
 *   1  10,000 random filter_agg configs over 1e7 rows (1,000 over 1e6 with
 *      --quick): in the calling process (workers = 0), 1 and 2 worker
 *      processes, 5 interleaved rounds after a warm-up run. Target: 2
 *      workers at least 1.7x as fast as 1.
 *   2  cost of one claim: a sweep of 20,000 one-config batches over a 64-row
 *      table with 1 worker, per config, minus the cost of the same gpudf_run
 *      calls in process. Target under 10 us.
 *   0  the machine's own ceilings: two busy threads against one, with a
 *      dependent chain of scalar adds (0a) and with vector arithmetic that
 *      keeps the FP units busy (0b), as the filter_agg kernel does. On a
 *      box whose two vCPUs give one core of throughput (SMT siblings, or a
 *      busy host) 0b falls toward 1.0x and no sweep can beat it: 1b then
 *      MISSes for the machine's sake.
 *   3  time from the gpudf_sweep call to the first finished config (1
 *      worker, one config over a 64-row table). Target under 50 ms.
 *   4  sweeps that share passes, 1 worker against 2, with rows split
 *      between the workers (docs/sweep.md, "Row-split sweeps") and without
 *      (GPUDF_SWEEP_SPLIT=0, how sweeps ran before), side by side in
 *      interleaved rounds: section 1's filter_agg sweep and 64 histograms
 *      (64 bins) of one column. The ceiling in the same rounds: two threads
 *      of the machine's plain read (bench_plain_read.h) over the table's two
 *      columns against one. Target: 2 workers >= 1.8x one with the split.
 *
 * Times are medians of repetitions. Results of every sweep are checked
 * against workers = 0 (exit 2 when wrong); a failed call exits 1; a MISS
 * exits 0. --json PATH also writes the numbers as JSON (bench/report.py).
 */
#include <gpudf.h>

#include "bench_plain_read.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NP = 5, NR = 6 };

static FILE *g_json; /* --json: one "key": {...} member per section */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void die(const char *what) {
  fprintf(stderr, "gpudf-bench_sweep: %s: %s\n", what, gpudf_last_error());
  exit(1);
}

/* x f64 uniform [0,100), y f64, k i32 in [0,1000). Each column is filled
 * before the next is added: adding one may move the arena. */
static gpudf_table *make_table(int64_t rows) {
  gpudf_table *t;
  void *p;
  uint64_t s = 42;
  if (gpudf_table_create(rows, &t) || gpudf_table_alloc_column(t, "x", GPUDF_TYPE_F64, &p))
    die("table");
  for (int64_t i = 0; i < rows; i++) ((double *)p)[i] = (double)(rng(&s) >> 11) * 0x1.0p-53 * 100;
  if (gpudf_table_alloc_column(t, "y", GPUDF_TYPE_F64, &p)) die("table");
  for (int64_t i = 0; i < rows; i++) ((double *)p)[i] = (double)(rng(&s) >> 11) * 0x1.0p-53 - 0.5;
  if (gpudf_table_alloc_column(t, "k", GPUDF_TYPE_I32, &p)) die("table");
  for (int64_t i = 0; i < rows; i++) ((int32_t *)p)[i] = (int32_t)(rng(&s) % 1000);
  return t;
}

/* Threshold sweeps on x and k, value y or x: the usual shape of a sweep. */
static double *make_configs(int64_t n) {
  double *c = malloc((size_t)n * NP * sizeof *c);
  uint64_t s = 7;
  for (int64_t i = 0; i < n; i++) {
    int col = (int)(rng(&s) % 2) * 2;
    double lo = col == 0 ? (double)(rng(&s) % 10000) / 100 : (double)(rng(&s) % 1000);
    double op = 1 + (double)(rng(&s) % 4); /* lt le gt ge */
    double *ci = c + i * NP;
    ci[0] = col, ci[1] = op, ci[2] = lo, ci[3] = lo, ci[4] = (double)(rng(&s) % 2);
  }
  return c;
}

static double sweep_time(gpudf_table *t, const double *cfg, int64_t n, double *res, int workers,
                         int64_t batch, gpudf_sweep_report *rep) {
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = workers;
  o.batch = batch;
  gpudf_sweep_result *r;
  const gpudf_kernel *k;
  if (gpudf_kernel_find("filter_agg", &k)) die("kernel");
  double t0 = now_s();
  if (gpudf_sweep(t, k, cfg, n, res, &o, &r) != GPUDF_OK) die("gpudf_sweep");
  double dt = now_s() - t0;
  gpudf_sweep_result_report(r, rep);
  gpudf_sweep_result_free(r);
  if (rep->done != n) {
    fprintf(stderr, "gpudf-bench_sweep: only %lld of %lld configs done\n", (long long)rep->done,
            (long long)n);
    exit(1);
  }
  return dt;
}

/* A sweep whose batches or row ranges are cut differently from another's:
 * count, min and max equal, sum and mean as two summation orders differ in
 * practice (docs/sweep.md, "Row-split sweeps"; a batch cut differently can
 * take the other of filter_agg's two paths): within 1e-13 x count x 100 (the
 * largest |value|), std to 1e-9. A relative bound on the sum itself would
 * be wrong where the sum cancels (16 workers, 2026-12-04: a sum of -2.21
 * over millions of values of either sign differed by 4.5e-12). */
static void check_split(const double *a, const double *b, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    const double *x = a + i * NR, *y = b + i * NR;
    double bound = 1e-13 * x[0] * 100;
    for (int j = 0; j < NR; j++) {
      double tol = j == 1 ? bound : j == 2 ? bound / fmax(1.0, x[0]) : j == 5 ? 1e-9 * fabs(x[j]) : 0;
      bool same = (isnan(x[j]) && isnan(y[j])) || x[j] == y[j] || fabs(x[j] - y[j]) <= tol;
      if (!same) {
        fprintf(stderr, "gpudf-bench_sweep: %s: config %lld field %d is %.17g, 1 worker %.17g\n",
                what, (long long)i, j, y[j], x[j]);
        exit(2);
      }
    }
  }
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return v[n / 2];
}

static void row(const char *name, const char *value, const char *base, const char *ratio,
                const char *target, const char *verdict) {
  printf("%-34s %14s %14s %8s %12s  %s\n", name, value, base, ratio, target, verdict);
}

/* Two ceilings of this machine. spin is one dependent chain of adds: it
 * leaves the FP units mostly idle, so two vCPUs that are SMT siblings of
 * one host core still show ~2x. vspin keeps eight independent vector
 * chains busy, as filter_agg's block loops do: two siblings (or a host
 * that squeezes both vCPUs onto one core) show less, down to ~1x. */
static void *spin(void *arg) {
  volatile double x = 0;
  for (long i = 0; i < *(long *)arg; i++) x = x + (double)i * 0.5;
  return NULL;
}

typedef double v4d __attribute__((vector_size(32)));
static volatile double g_vsink;

static void *vspin(void *arg) {
  v4d acc[8], m = {0.9999999, 0.9999999, 0.9999999, 0.9999999}, c = {1e-7, 1e-7, 1e-7, 1e-7};
  for (int j = 0; j < 8; j++) acc[j] = (v4d){j, j + 0.25, j + 0.5, j + 0.75};
  for (long i = 0; i < *(long *)arg / 4; i++)
    for (int j = 0; j < 8; j++) acc[j] = acc[j] * m + c;
  double sum = 0;
  for (int j = 0; j < 8; j++) sum += acc[j][0] + acc[j][1] + acc[j][2] + acc[j][3];
  g_vsink = sum;
  return NULL;
}

/* Seconds of one thread running fn, and of two running it at once. */
static void one_two(void *(*fn)(void *), long iters, double *one, double *two) {
  double t0 = now_s();
  fn(&iters);
  *one = now_s() - t0;
  pthread_t th;
  t0 = now_s();
  pthread_create(&th, NULL, fn, &iters);
  fn(&iters);
  pthread_join(th, NULL);
  *two = now_s() - t0;
}

static void machine(bool quick) {
  long iters = quick ? 50000000 : 200000000;
  double one, two, vone, vtwo;
  one_two(spin, iters, &one, &two);
  one_two(vspin, iters, &vone, &vtwo);
  char a[32], b[32], c[32];
  printf("0 machine\n");
  snprintf(a, sizeof a, "%.3f s", two);
  snprintf(b, sizeof b, "%.3f s", one);
  snprintf(c, sizeof c, "%.2fx", 2 * one / two);
  row("  0a 2 busy threads vs 1 (work/s)", a, b, c, "-", "info");
  snprintf(a, sizeof a, "%.3f s", vtwo);
  snprintf(b, sizeof b, "%.3f s", vone);
  snprintf(c, sizeof c, "%.2fx", 2 * vone / vtwo);
  row("  0b the same, vector arithmetic", a, b, c, "-", "info");
  if (g_json)
    fprintf(g_json, "  \"machine\": {\"one_thread_s\": %.6g, \"two_threads_s\": %.6g, "
            "\"ceiling\": %.6g, \"vector_ceiling\": %.6g},\n", one, two, 2 * one / two,
            2 * vone / vtwo);
}

/* 1: one excluded warm-up run in process, then REPS rounds of 0, 1 and 2
 * workers, interleaved so that drift affects all three alike. Times are
 * medians; the ratios are medians of each round's own ratio (the runs of
 * one round are seconds apart, while this VM's speed drifts by 30% over
 * minutes, so pairing within a round is the fairer comparison). */
enum { REPS = 5 };

static void throughput(bool quick) {
  int64_t rows = quick ? 1000000 : 10000000, n = quick ? 1000 : 10000;
  gpudf_table *t = make_table(rows);
  double *cfg = make_configs(n);
  double *r0 = malloc((size_t)n * NR * sizeof *r0), *r1 = malloc((size_t)n * NR * sizeof *r1);
  gpudf_sweep_report rep;
  double w[3][REPS], med[3], lo[3], hi[3], r10[REPS], r21[REPS], first[3][REPS];
  sweep_time(t, cfg, n, r0, 0, 0, &rep); /* warm-up, excluded */
  for (int r = 0; r < REPS; r++)
    for (int k = 0; k < 3; k++) {
      w[k][r] = sweep_time(t, cfg, n, k == 0 ? r0 : r1, k, 0, &rep);
      first[k][r] = rep.first_result_s / rep.wall_s;
      if (k > 0) check_split(r0, r1, n, k == 1 ? "1 worker" : "2 workers");
    }
  for (int k = 0; k < 3; k++) {
    lo[k] = hi[k] = w[k][0];
    for (int r = 1; r < REPS; r++) lo[k] = fmin(lo[k], w[k][r]), hi[k] = fmax(hi[k], w[k][r]);
  }
  for (int r = 0; r < REPS; r++) r10[r] = w[0][r] / w[1][r], r21[r] = w[1][r] / w[2][r];
  double x10 = median(r10, REPS), x21 = median(r21, REPS);
  for (int k = 0; k < 3; k++) med[k] = median(w[k], REPS); /* sorts w[k] */
  double t0 = med[0], t1 = med[1], t2 = med[2];
  char a[32], b[32], c[32], name[160];
  snprintf(name, sizeof name, "1 %lld configs x %.0e rows (median times of %d interleaved rounds, "
           "median of the rounds' ratios; 1 warm-up excluded)",
           (long long)n, (double)rows, REPS);
  printf("%s\n", name);
  snprintf(a, sizeof a, "%.3f s", t1);
  snprintf(b, sizeof b, "%.3f s", t0);
  snprintf(c, sizeof c, "%.2fx", x10);
  row("  1a 1 worker vs in process", a, b, c, "-", "info");
  snprintf(a, sizeof a, "%.3f s", t2);
  snprintf(b, sizeof b, "%.3f s", t1);
  snprintf(c, sizeof c, "%.2fx", x21);
  row("  1b 2 workers vs 1 worker", a, b, c, ">= 1.70x", x21 >= 1.7 ? "PASS" : "MISS");
  printf("     per round:");
  for (int r = 0; r < REPS; r++) printf(" %.2fx", r21[r]);
  printf("\n");
  /* Claims start small (gdf_claim_ramp): the first result comes early. */
  double f0 = median(first[0], REPS), f1 = median(first[1], REPS), f2 = median(first[2], REPS);
  snprintf(a, sizeof a, "%.1f%% %.1f%% %.1f%%", 100 * f0, 100 * f1, 100 * f2);
  row("  1c first result / wall (0 1 2 w)", a, "-", "-", "~5%", "info");
  if (g_json) {
    fprintf(g_json,
            "  \"throughput\": {\"configs\": %lld, \"rows\": %lld, \"kernel\": \"filter_agg\", "
            "\"checked\": true, \"runs\": %d, \"warmup\": 1,\n", (long long)n, (long long)rows,
            REPS);
    const char *keys[3] = {"wall_s", "wall_s_min", "wall_s_max"};
    const double *vals[3] = {med, lo, hi};
    for (int j = 0; j < 3; j++)
      fprintf(g_json, "    \"%s\": {\"0\": %.6g, \"1\": %.6g, \"2\": %.6g},\n", keys[j],
              vals[j][0], vals[j][1], vals[j][2]);
    fprintf(g_json, "    \"configs_per_s\": {\"0\": %.6g, \"1\": %.6g, \"2\": %.6g},\n",
            n / t0, n / t1, n / t2);
    fprintf(g_json, "    \"first_result_fraction\": {\"0\": %.6g, \"1\": %.6g, \"2\": %.6g},\n",
            f0, f1, f2);
    fprintf(g_json, "    \"ratio_1_vs_0\": %.6g, \"ratio_2_vs_1\": %.6g},\n", x10, x21);
  }
  free(r0);
  free(r1);
  free(cfg);
  gpudf_table_free(t);
}

static void claim_cost(bool quick) {
  int64_t n = quick ? 5000 : 20000;
  gpudf_table *t = make_table(64);
  double *cfg = make_configs(n);
  double *res = malloc((size_t)n * NR * sizeof *res);
  const gpudf_kernel *k;
  if (gpudf_kernel_find("filter_agg", &k)) die("kernel");
  double runs[5], sweeps[5];
  for (int rep_i = 0; rep_i < 5; rep_i++) {
    double t0 = now_s();
    for (int64_t i = 0; i < n; i++)
      if (gpudf_run(t, k, cfg + i * NP, 1, res + i * NR)) die("gpudf_run");
    runs[rep_i] = (now_s() - t0) / (double)n;
    gpudf_sweep_report rep;
    sweep_time(t, cfg, n, res, 1, 1, &rep);
    sweeps[rep_i] = (rep.wall_s - rep.first_result_s) / (double)(n - 1);
  }
  double run = median(runs, 5), sw = median(sweeps, 5), claim = sw - run;
  char a[32], b[32], c[32];
  printf("2 claiming one-config batches (%lld, 64 rows, 1 worker)\n", (long long)n);
  snprintf(a, sizeof a, "%.2f us", sw * 1e6);
  snprintf(b, sizeof b, "%.2f us", run * 1e6);
  snprintf(c, sizeof c, "%.2fx", sw / run);
  row("  2a per config: sweep vs gpudf_run", a, b, c, "-", "info");
  snprintf(a, sizeof a, "%.2f us", claim * 1e6);
  row("  2b claim (2a sweep - run)", a, "-", "-", "< 10 us", claim < 10e-6 ? "PASS" : "MISS");
  if (g_json)
    fprintf(g_json, "  \"claim\": {\"configs\": %lld, \"sweep_per_config_s\": %.6g, "
            "\"run_per_config_s\": %.6g, \"claim_s\": %.6g},\n", (long long)n, sw, run, claim);
  free(res);
  free(cfg);
  gpudf_table_free(t);
}

static void startup(void) {
  gpudf_table *t = make_table(64);
  double *cfg = make_configs(1), res[NR];
  double firsts[7], walls[7];
  for (int i = 0; i < 7; i++) {
    gpudf_sweep_report rep;
    sweep_time(t, cfg, 1, res, 1, 0, &rep);
    firsts[i] = rep.first_result_s;
    walls[i] = rep.wall_s;
  }
  double f = median(firsts, 7), w = median(walls, 7);
  char a[32], b[32];
  printf("3 start-up (1 worker, 1 config, 64 rows)\n");
  snprintf(a, sizeof a, "%.1f ms", f * 1e3);
  row("  3a call to first finished config", a, "-", "-", "< 50 ms", f < 0.05 ? "PASS" : "MISS");
  snprintf(b, sizeof b, "%.1f ms", w * 1e3);
  row("  3b whole sweep of one config", b, "-", "-", "-", "info");
  if (g_json)
    fprintf(g_json, "  \"startup\": {\"first_result_s\": %.6g, \"wall_s\": %.6g}\n", f, w);
  free(cfg);
  gpudf_table_free(t);
}

/* 4: one sweep of kernel name, split on or off (GPUDF_SWEEP_SPLIT=0). */
static double split_time(gpudf_table *t, const char *name, const double *cfg, int64_t n,
                         double *res, int workers, bool split, int64_t *batches) {
  if (split) unsetenv("GPUDF_SWEEP_SPLIT");
  else setenv("GPUDF_SWEEP_SPLIT", "0", 1);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = workers;
  o.backend = GPUDF_BACKEND_CPU;
  const gpudf_kernel *k;
  gpudf_sweep_result *r;
  if (gpudf_kernel_find(name, &k)) die("kernel");
  double t0 = now_s();
  if (gpudf_sweep(t, k, cfg, n, res, &o, &r) != GPUDF_OK) die("gpudf_sweep");
  double dt = now_s() - t0;
  gpudf_sweep_report rep;
  gpudf_sweep_result_report(r, &rep);
  *batches = 0;
  for (int w = 0; w < gpudf_sweep_result_nworkers(r); w++) {
    gpudf_sweep_worker_info wi;
    if (gpudf_sweep_result_worker(r, w, &wi) == GPUDF_OK) *batches += wi.batches;
  }
  gpudf_sweep_result_free(r);
  unsetenv("GPUDF_SWEEP_SPLIT");
  if (rep.done != n) die("a split sweep left configs undone");
  return dt;
}

typedef struct {
  const double *x, *v;
  int64_t n;
  double sum;
} read_job;

static int g_read_reps = 1;

/* Seconds of the plain read of x and v by one thread, and by two threads
 * that read a half each. */
static void *read_many(void *arg) {
  read_job *j = arg;
  /* The clobber keeps the compiler from reading once for all the reps
   * (plain_read only reads memory, so equal calls could be merged). */
  for (int r = 0; r < g_read_reps; r++) {
    __asm__ volatile("" ::: "memory");
    j->sum += plain_read(j->x, j->v, j->n);
  }
  return NULL;
}

/* Seconds of the plain read of x and v by one thread, and by `threads`
 * threads that read a share each; repeated g_read_reps times so that a
 * measurement lasts long enough to mean something on a busy machine. */
static void plain_one_many(const double *x, const double *v, int64_t n, int threads, double *one,
                           double *many) {
  read_job a = {x, v, n, 0}, jobs[GPUDF_SWEEP_WORKERS_MAX];
  pthread_t th[GPUDF_SWEEP_WORKERS_MAX];
  double t0 = now_s();
  read_many(&a);
  *one = now_s() - t0;
  for (int i = 0; i < threads; i++) {
    int64_t lo = n * i / threads, hi = n * (i + 1) / threads;
    jobs[i] = (read_job){x + lo, v + lo, hi - lo, 0};
  }
  t0 = now_s();
  for (int i = 1; i < threads; i++) pthread_create(&th[i], NULL, read_many, &jobs[i]);
  read_many(&jobs[0]);
  for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
  *many = now_s() - t0;
  double sum = 0;
  for (int i = 0; i < threads; i++) sum += jobs[i].sum;
  if (a.sum != a.sum || sum != sum) die("plain read");
}

/* Histograms the default sweep of section 4 runs: 64 bins of y over its
 * range, filtered on x by thresholds that all differ. */
static double *histogram_configs(int64_t n) {
  double *c = malloc((size_t)n * 8 * sizeof *c);
  uint64_t s = 9;
  for (int64_t i = 0; i < n; i++) {
    double lo = (double)(rng(&s) % 10000) / 100, *ci = c + i * 8;
    ci[0] = 0, ci[1] = 1 + (double)(rng(&s) % 4), ci[2] = lo, ci[3] = lo, ci[4] = 1;
    ci[5] = 64, ci[6] = -0.5, ci[7] = 0.5;
  }
  return c;
}

enum { SPLIT_REPS = 3 };

static void split_scaling(bool quick, int nw) {
  int64_t rows = quick ? 1000000 : 10000000;
  g_read_reps = (int)(400000000 / rows);
  gpudf_table *t = make_table(rows);
  struct {
    const char *kernel, *what;
    int64_t n;
    int nres;
    double *cfg;
  } sw[2] = {{"filter_agg", "filter_agg, section 1's configs", quick ? 1000 : 10000, NR,
              make_configs(quick ? 1000 : 10000)},
             {"histogram", "histogram, 64 configs x 64 bins", 64, 66, histogram_configs(64)}};
  printf("4 row split: 1 vs %d workers over %.0e rows, split (auto) and not "
         "(GPUDF_SWEEP_SPLIT=0), %d interleaved rounds, medians\n", nw, (double)rows, SPLIT_REPS);
  double ceil_r[SPLIT_REPS];
  for (int k = 0; k < 2; k++) {
    double *r1 = malloc((size_t)sw[k].n * sw[k].nres * sizeof *r1);
    double *r2 = malloc((size_t)sw[k].n * sw[k].nres * sizeof *r2);
    double one[SPLIT_REPS], off[SPLIT_REPS], on[SPLIT_REPS], x_off[SPLIT_REPS], x_on[SPLIT_REPS];
    int64_t b_on = 0, b_off = 0, b_one = 0;
    split_time(t, sw[k].kernel, sw[k].cfg, sw[k].n, r1, 1, true, &b_one); /* warm-up */
    for (int r = 0; r < SPLIT_REPS; r++) {
      one[r] = split_time(t, sw[k].kernel, sw[k].cfg, sw[k].n, r1, 1, true, &b_one);
      off[r] = split_time(t, sw[k].kernel, sw[k].cfg, sw[k].n, r2, nw, false, &b_off);
      char what[64];
      snprintf(what, sizeof what, "%d workers, not split", nw);
      if (sw[k].nres == NR) check_split(r1, r2, sw[k].n, what);
      on[r] = split_time(t, sw[k].kernel, sw[k].cfg, sw[k].n, r2, nw, true, &b_on);
      snprintf(what, sizeof what, "%d workers, rows split", nw);
      if (sw[k].nres == NR) check_split(r1, r2, sw[k].n, what);
      else if (memcmp(r1, r2, (size_t)sw[k].n * sw[k].nres * sizeof *r1) != 0)
        die("histogram counts of the split sweep differ");
      x_off[r] = one[r] / off[r];
      x_on[r] = one[r] / on[r];
      if (k == 0) {
        /* Read where the columns are now: the first sweep shared the table,
         * which moved its arena into a segment. */
        const double *x = gpudf_table_column_data(t, 0), *y = gpudf_table_column_data(t, 1);
        double p1, p2;
        plain_one_many(x, y, rows, nw, &p1, &p2);
        ceil_r[r] = p1 / p2;
      }
    }
    double m1 = median(one, SPLIT_REPS), moff = median(off, SPLIT_REPS),
           mon = median(on, SPLIT_REPS), xoff = median(x_off, SPLIT_REPS),
           xon = median(x_on, SPLIT_REPS);
    char a[32], b[32], c[32], name[64];
    printf("  %s\n", sw[k].what);
    snprintf(a, sizeof a, "%.3f s", moff);
    snprintf(b, sizeof b, "%.3f s", m1);
    snprintf(c, sizeof c, "%.2fx", xoff);
    snprintf(name, sizeof name, "  4%c %d w unsplit vs 1 (%lld batches)", 'a' + 2 * k, nw,
             (long long)b_off);
    row(name, a, b, c, "before", "info");
    snprintf(a, sizeof a, "%.3f s", mon);
    snprintf(c, sizeof c, "%.2fx", xon);
    snprintf(name, sizeof name, "  4%c %d w split vs 1 (%lld ranges)", 'b' + 2 * k, nw,
             (long long)b_on);
    row(name, a, b, c, nw == 2 ? ">= 1.80x" : "-", nw != 2 ? "info" : xon >= 1.8 ? "PASS" : "MISS");
    if (g_json)
      fprintf(g_json, "  \"split_%s\": {\"rows\": %lld, \"configs\": %lld, \"one_s\": %.6g, "
              "\"two_unsplit_s\": %.6g, \"two_split_s\": %.6g, \"ratio_unsplit\": %.6g, "
              "\"ratio_split\": %.6g, \"ranges\": %lld},\n", sw[k].kernel, (long long)rows,
              (long long)sw[k].n, m1, moff, mon, xoff, xon, (long long)b_on);
    free(r1);
    free(r2);
    free(sw[k].cfg);
  }
  double xc = median(ceil_r, SPLIT_REPS);
  char c[32], name0[64];
  snprintf(c, sizeof c, "%.2fx", xc);
  snprintf(name0, sizeof name0, "  4e ceiling: plain read %d thr vs 1", nw);
  row(name0, "-", "-", c, "-", "info");
  if (g_json) fprintf(g_json, "  \"split_ceiling\": %.6g,\n", xc);
  gpudf_table_free(t);
}

int main(int argc, char **argv) {
  bool quick = false, split_only = false;
  int nw = 2;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (strcmp(argv[i], "--split") == 0) {
      split_only = true;
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      nw = atoi(argv[++i]);
      if (nw < 2 || nw > GPUDF_SWEEP_WORKERS_MAX) nw = 2;
    } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json = argv[++i];
    } else {
      fprintf(stderr, "usage: gpudf-bench_sweep [--quick] [--split] [--workers N] "
                      "[--json PATH]\n");
      return 1;
    }
  }
  if (json && !(g_json = fopen(json, "w"))) {
    perror(json);
    return 1;
  }
  if (g_json)
    fprintf(g_json, "{\n  \"bench\": \"sweep\", \"quick\": %s, \"version\": \"%s\", "
            "\"cores\": %ld,\n", quick ? "true" : "false", gpudf_version(),
            sysconf(_SC_NPROCESSORS_ONLN));
  printf("gpudf %s, %ld cores, sweeps on the cpu placement%s\n", gpudf_version(),
         sysconf(_SC_NPROCESSORS_ONLN), quick ? " (--quick)" : "");
  row("target", "libgpudf", "baseline", "ratio", "goal", "verdict");
  machine(quick);
  if (!split_only) throughput(quick);
  split_scaling(quick, nw);
  if (!split_only) {
    claim_cost(quick);
    startup();
  } else if (g_json) {
    fprintf(g_json, "  \"split_only\": true\n");
  }
  if (g_json) {
    fprintf(g_json, "}\n");
    if (fclose(g_json)) {
      perror(json);
      return 1;
    }
  }
  return 0;
}
