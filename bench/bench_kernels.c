/*
 * bench_kernels.c - throughput of the kernel library on the CPU:
 *  - ma_crossover: every pair fast in 5..100, slow in 20..250 step 2 with
 *    fast < slow (~9,000 configs) over 1e6 prices through gpudf_sweep with
 *    2 workers, against a plain single-threaded C loop that backtests one
 *    config at a time (the baseline), ratios printed;
 *  - groupby_agg and histogram, one config in one pass, against this
 *    machine's plain read bandwidth (a sum over the same bytes) measured in
 *    the same run.
 * --quick: 1e5 prices and a tenth of the pairs, so it runs in seconds.
 */
#include <gpudf.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check(gpudf_status st, const char *what) {
  if (st == GPUDF_OK) return 0;
  fprintf(stderr, "%s: %s\n", what, gpudf_last_error());
  return 1;
}

/* The baseline: one config, straight from the definition, windows by
 * running sums of the prices. */
static double baseline_one(const double *p, long n, int fast, int slow) {
  double sf = 0, ss = 0, prev = 0, e = 1, sum = 0;
  for (long t = 0; t + 1 < n; t++) {
    sf += p[t] - (t >= fast ? p[t - fast] : 0);
    ss += p[t] - (t >= slow ? p[t - slow] : 0);
    double s = t >= slow - 1 && sf / fast > ss / slow ? 1 : 0;
    double r = s * (p[t + 1] / p[t] - 1) - 0 * fabs(s - prev);
    prev = s, e *= 1 + r, sum += r;
  }
  return e + sum;
}

static int bench_ma(long n, int step_fast) {
  double *p = malloc(sizeof(double) * (size_t)n), x = 100;
  srand(1);
  for (long i = 0; i < n; i++) p[i] = x *= exp(0.01 * ((rand() / (double)RAND_MAX) - 0.5));
  gpudf_table *t = NULL;
  if (check(gpudf_table_create(n, &t), "create") ||
      check(gpudf_table_add_column(t, "close", GPUDF_TYPE_F64, p), "add"))
    return 1;
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
  double t0 = now();
  if (check(gpudf_sweep(t, "ma_crossover", cfg, m, res, &o, NULL), "sweep")) return 1;
  double sweep_s = now() - t0;
  /* The baseline on a sample of configs, scaled: all of them would take as
   * long as the sweep many times over. */
  long sample = m < 200 ? m : 200;
  volatile double sink = 0;
  t0 = now();
  for (long k = 0; k < sample; k++)
    sink += baseline_one(p, n, (int)cfg[6 * (k * m / sample) + 1], (int)cfg[6 * (k * m / sample) + 2]);
  double base_s = (now() - t0) * (double)m / (double)sample;
  (void)sink;
  printf("ma_crossover: %ld configs x %ld prices\n", m, n);
  printf("  gpudf_sweep (cpu, 2 workers): %.3f s, %.0f configs/s, %.3g price-steps/s\n", sweep_s,
         m / sweep_s, (double)m * (n - 1) / sweep_s);
  printf("  baseline (1 thread, one config at a time, %ld sampled): %.3f s est, %.0f configs/s, "
         "%.3g price-steps/s\n", sample, base_s, m / base_s, (double)m * (n - 1) / base_s);
  printf("  ratio sweep/baseline: %.2fx\n", base_s / sweep_s);
  gpudf_table_free(t);
  free(p), free(cfg), free(res);
  return 0;
}

/* Plain read bandwidth: a sum over bytes of memory, best of 3. */
static double read_bandwidth(const double *a, long n) {
  double best = 1e30;
  volatile double sink = 0;
  for (int r = 0; r < 3; r++) {
    double t0 = now(), s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (long i = 0; i + 3 < n; i += 4) s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
    sink += s0 + s1 + s2 + s3;
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  (void)sink;
  return (double)n * sizeof(double) / best;
}

static int bench_one_pass(long n) {
  double *v = malloc(sizeof(double) * (size_t)n), *x = malloc(sizeof(double) * (size_t)n);
  int32_t *k = malloc(sizeof(int32_t) * (size_t)n);
  srand(2);
  for (long i = 0; i < n; i++) v[i] = rand() / (double)RAND_MAX, x[i] = rand() % 10, k[i] = rand() % 64;
  gpudf_table *t = NULL;
  if (check(gpudf_table_create(n, &t), "create") ||
      check(gpudf_table_add_column(t, "x", GPUDF_TYPE_F64, x), "add") ||
      check(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v), "add") ||
      check(gpudf_table_add_column(t, "k", GPUDF_TYPE_I32, k), "add"))
    return 1;
  double bw = read_bandwidth(v, n);
  const gpudf_kernel *gb = NULL, *hi = NULL;
  gpudf_kernel_find("groupby_agg", &gb);
  gpudf_kernel_find("histogram", &hi);
  double gcfg[7] = {0, 0, 0, 0, 2, 1, 64}, hcfg[8] = {0, 0, 0, 0, 1, 100, 0, 1};
  double *out = malloc(sizeof(double) * 400);
  double bytes_g = (double)n * (8 + 8 + 4), bytes_h = (double)n * 16;
  double best_g = 1e30, best_h = 1e30;
  for (int r = 0; r < 3; r++) {
    double t0 = now();
    if (check(gpudf_run(t, gb, gcfg, 1, out), "groupby_agg")) return 1;
    double t1 = now();
    if (check(gpudf_run(t, hi, hcfg, 1, out), "histogram")) return 1;
    double t2 = now();
    best_g = t1 - t0 < best_g ? t1 - t0 : best_g;
    best_h = t2 - t1 < best_h ? t2 - t1 : best_h;
  }
  printf("single pass over %ld rows (plain read bandwidth %.2f GB/s)\n", n, bw / 1e9);
  printf("  groupby_agg (64 groups, 20 B/row): %.2f GB/s = %.0f%% of read bandwidth, %.3g rows/s\n",
         bytes_g / best_g / 1e9, 100 * bytes_g / best_g / bw, n / best_g);
  printf("  histogram (100 bins, 16 B/row): %.2f GB/s = %.0f%% of read bandwidth, %.3g rows/s\n",
         bytes_h / best_h / 1e9, 100 * bytes_h / best_h / bw, n / best_h);
  gpudf_table_free(t);
  free(v), free(x), free(k), free(out);
  return 0;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (bench_ma(quick ? 100000 : 1000000, quick ? 10 : 1)) return 1;
  return bench_one_pass(quick ? 2000000 : 20000000);
}
