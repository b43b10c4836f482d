/* bench/mpi_bench.c - what MPI costs over the local engine (issue 20).
 *
 *   mpirun -n R gpudf-bench_mpi [ROWS] [CONFIGS] [WORKERS_PER_RANK] [REPS] [COLUMNS]
 *
 * filter_agg over a ROWS-row table (default 2,000,000) of COLUMNS f64
 * columns (default 1) and CONFIGS configs (default 4,000), config i on
 * column i % COLUMNS (COLUMNS pass groups, interleaved in the configs'
 * order), several ways, each timed on rank 0 (best of REPS, default 5,
 * the two sweeps taking turns; and the means of the REPS runs of the two
 * defaults), wall time and CPU time (all processes):
 *   one pass      gpudf_run of every config on rank 0 alone (one pass, one core);
 *   one process   gpudf_sweep with R worker processes (rank 0 alone), as it
 *                 runs by default (rows split between the workers when
 *                 there are fewer pass groups than 4 per worker);
 *   one_nosplit   the same with GPUDF_SWEEP_SPLIT=0: configs dealt out to
 *                 the workers in claims, as MPI deals them to ranks;
 *   mpi           gpudf_mpi_sweep over the R ranks, each sweeping in process
 *                 (WORKERS_PER_RANK, default 0: in process, the same number of
 *                 processes at work), as it runs by default (the rows split
 *                 between the ranks by the same rule, docs/mpi.md "Row splits",
 *                 else guided claims);
 *   mpi_nosplit   the same with GPUDF_MPI_SPLIT=0: guided claims of configs;
 *   mpi_equal     the same with equal shares (GPUDF_MPI_CLAIM = n / R, one
 *                 claim per rank, no balancing, no row split): the difference
 *                 to mpi_nosplit over its extra claims is the cost of a claim
 *                 (its round trip, its gpudf_run call and its pass over the
 *                 table);
 *   claim         the round trip of one claim, MPI_Fetch_and_op (MPI_SUM) +
 *                 flush on a window at rank 0, from every rank at once (20,000
 *                 claims each).
 * Prints one line per measurement ("name value unit"). Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gpudf_mpi.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A barrier that sleeps while it waits: a blocking MPI_Barrier polls at
 * full speed, and the idle ranks would take cores from the one-process
 * sweep they wait for (which would flatter MPI in the ratio). */
static void gentle_barrier(void) {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  gpudf_mpi_wait(&req);
}

/* CPU seconds of this process and its waited-for children (workers): on a
 * machine shared with other jobs the wall time says how much CPU the
 * sweep got, the CPU time how much it needed. */
static double cpu_s(void) {
  struct rusage a, b;
  getrusage(RUSAGE_SELF, &a);
  getrusage(RUSAGE_CHILDREN, &b);
  return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
         (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
                  b.ru_stime.tv_usec) * 1e-6;
}

static int ncols = 1;

static gpudf_table *make_table(int64_t rows) {
  double *v = malloc(sizeof *v * (size_t)rows);
  gpudf_table *t = NULL;
  if (gpudf_table_create(rows, &t) != GPUDF_OK) {
    fprintf(stderr, "table: %s\n", gpudf_last_error());
    exit(1);
  }
  for (int c = 0; c < ncols; c++) {
    for (int64_t i = 0; i < rows; i++)
      v[i] = (double)((i * 7919 + c * 104729) % 100000) / 1000.0;
    char name[16];
    snprintf(name, sizeof name, "v%d", c);
    if (gpudf_table_add_column(t, name, GPUDF_TYPE_F64, v) != GPUDF_OK) {
      fprintf(stderr, "table: %s\n", gpudf_last_error());
      exit(1);
    }
  }
  free(v);
  return t;
}

/* One gpudf_mpi_sweep with rank 0's var set to value (the ranks take rank
 * 0's): its time into *best when lower, its claims (rank 0) into *claims. */
static void timed_variant(int rank, int64_t rows, const gpudf_kernel *k, const double *configs,
                          int64_t n, double *results, const gpudf_sweep_options *o,
                          const char *var, const char *value, double *best, int64_t *claims) {
  if (rank == 0) setenv(var, value, 1);
  gpudf_table *tm = rank == 0 ? make_table(rows) : NULL;
  gentle_barrier();
  double t0 = now_s();
  gpudf_mpi_result *r = NULL;
  if (gpudf_mpi_sweep(MPI_COMM_WORLD, tm, NULL, k, configs, n, results, o, &r) != GPUDF_OK)
    fprintf(stderr, "gpudf_mpi_sweep: %s\n", gpudf_last_error());
  double s = now_s() - t0;
  if (s < *best) *best = s;
  if (rank == 0) {
    unsetenv(var);
    gpudf_mpi_report mr;
    gpudf_mpi_result_report(r, &mr);
    *claims = mr.claims;
  }
  gpudf_mpi_result_free(r);
  gpudf_table_free(tm);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int64_t rows = argc > 1 ? atoll(argv[1]) : 2000000;
  int64_t n = argc > 2 ? atoll(argv[2]) : 4000;
  int per_rank = argc > 3 ? atoi(argv[3]) : 0; /* workers per rank in the MPI sweep */
  int reps = argc > 4 ? atoi(argv[4]) : 5;
  ncols = argc > 5 ? atoi(argv[5]) : 1;
  if (ncols < 1) ncols = 1;
  const gpudf_kernel *k = NULL;
  gpudf_kernel_find("filter_agg", &k);
  int np = gpudf_kernel_nparams(k), lo = 0, op = 0, fc = 0, vc = 0;
  gpudf_kernel_param_index(k, "lo", &lo);
  gpudf_kernel_param_index(k, "op", &op);
  gpudf_kernel_param_index(k, "filter_col", &fc);
  gpudf_kernel_param_index(k, "value_col", &vc);
  double *configs = malloc(sizeof *configs * (size_t)(n * np));
  for (int64_t i = 0; i < n; i++) {
    gpudf_kernel_defaults(k, configs + i * np);
    configs[i * np + op] = 1; /* lt */
    configs[i * np + lo] = (double)i * 100.0 / (double)n;
    configs[i * np + fc] = configs[i * np + vc] = (double)(i % ncols);
  }
  int nres = gpudf_kernel_nresults(k, configs);
  double *results = malloc(sizeof(double) * (size_t)(n * nres));
  gpudf_table *t = rank == 0 ? make_table(rows) : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);

  double best_one = INFINITY, best_mpi = INFINITY, cpu_one = INFINITY, cpu_mpi = INFINITY;
  double best_pass = INFINITY, best_eq = INFINITY, best_nosplit = INFINITY;
  double best_mpi_nosplit = INFINITY;
  double sum_one = 0, sum_mpi = 0, sum_cpu_one = 0, sum_cpu_mpi = 0; /* means: the load's noise */
  int64_t claims_guided = 0, claims_eq = 0;
  for (int rep = 0; rep < reps; rep++) {
    if (rank == 0) {
      /* The work itself: every config in one gpudf_run, one pass, one core
       * (what each rank does with its share, without MPI). */
      gpudf_table *tp = make_table(rows);
      double tp0 = now_s();
      if (gpudf_run(tp, k, configs, n, results) != GPUDF_OK)
        fprintf(stderr, "gpudf_run: %s\n", gpudf_last_error());
      double sp = now_s() - tp0;
      if (sp < best_pass) best_pass = sp;
      gpudf_table_free(tp);
    }
    if (rank == 0) {
      gpudf_table *t1 = make_table(rows);
      o.workers = size;
      double t0 = now_s(), c0 = cpu_s();
      if (gpudf_sweep(t1, k, configs, n, results, &o, NULL) != GPUDF_OK)
        fprintf(stderr, "gpudf_sweep: %s\n", gpudf_last_error());
      double s = now_s() - t0, c = cpu_s() - c0;
      if (s < best_one) best_one = s;
      if (c < cpu_one) cpu_one = c;
      sum_one += s;
      sum_cpu_one += c;
      gpudf_table_free(t1);
      /* The same without splitting rows: configs dealt out in claims. */
      t1 = make_table(rows);
      setenv("GPUDF_SWEEP_SPLIT", "0", 1);
      t0 = now_s();
      if (gpudf_sweep(t1, k, configs, n, results, &o, NULL) != GPUDF_OK)
        fprintf(stderr, "gpudf_sweep: %s\n", gpudf_last_error());
      s = now_s() - t0;
      unsetenv("GPUDF_SWEEP_SPLIT");
      if (s < best_nosplit) best_nosplit = s;
      gpudf_table_free(t1);
    }
    gentle_barrier();
    o.workers = per_rank;
    gpudf_table *tm = rank == 0 ? make_table(rows) : NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s(), c0 = cpu_s();
    gpudf_mpi_result *r = NULL;
    if (gpudf_mpi_sweep(MPI_COMM_WORLD, tm, NULL, k, configs, n, results, &o, &r) != GPUDF_OK)
      fprintf(stderr, "gpudf_mpi_sweep: %s\n", gpudf_last_error());
    double s = now_s() - t0, c = cpu_s() - c0, csum = 0;
    MPI_Reduce(&c, &csum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (s < best_mpi) best_mpi = s;
    if (rank == 0 && csum < cpu_mpi) cpu_mpi = csum;
    sum_mpi += s;
    sum_cpu_mpi += csum;
    if (rank == 0 && rep == 0) {
      gpudf_mpi_report mr;
      gpudf_mpi_result_report(r, &mr);
      printf("mpi_table_s %.4f s (table to every rank: send, share, attach)\n", mr.table_s);
      printf("mpi_claims %lld (guided sizes; row-split tasks when the rows are split)\n",
             (long long)mr.claims);
      printf("mpi_wall %.4f s on rank 0\n", mr.wall_s);
      /* Where the time goes: inside gpudf_sweep (busy) against the call. */
      for (int q = 0; q < mr.ranks; q++) {
        gpudf_mpi_rank_info ri;
        gpudf_mpi_result_rank(r, q, &ri);
        printf("mpi_rank_%d configs %lld claims %lld split_rows %lld busy %.4f s wall %.4f s\n",
               q, (long long)ri.configs, (long long)ri.claims, (long long)ri.split_rows,
               ri.busy_s, ri.wall_s);
      }
    }
    gpudf_mpi_result_free(r);
    gpudf_table_free(tm);
    /* Claims of configs, without the row split (rank 0's GPUDF_MPI_SPLIT). */
    timed_variant(rank, rows, k, configs, n, results, &o, "GPUDF_MPI_SPLIT", "0",
                  &best_mpi_nosplit, &claims_guided);
    /* Equal shares: one claim per rank (rank 0's GPUDF_MPI_CLAIM holds). */
    char eq[32];
    snprintf(eq, sizeof eq, "%lld", (long long)((n + size - 1) / size));
    timed_variant(rank, rows, k, configs, n, results, &o, "GPUDF_MPI_CLAIM", eq, &best_eq,
                  &claims_eq);
  }

  /* The claim round trip, every rank at once. */
  int64_t *counter = NULL, one = 1;
  MPI_Win win;
  MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL,
                   MPI_COMM_WORLD, &counter, &win);
  if (rank == 0) *counter = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Win_lock_all(0, win);
  const int claims = 20000;
  double t0 = now_s();
  /* As gpudf_mpi_sweep claims: one fetch-and-add of the claim size. */
  int64_t tries = 0;
  for (int i = 0; i < claims; i++) {
    int64_t start = 0;
    MPI_Fetch_and_op(&one, &start, MPI_INT64_T, 0, 0, MPI_SUM, win);
    MPI_Win_flush(0, win);
    tries++;
  }
  double per = (now_s() - t0) / (double)tries;
  MPI_Win_unlock_all(win);
  double worst = 0;
  MPI_Reduce(&per, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Win_free(&win);

  if (rank == 0) {
    printf("ranks %d rows %lld configs %lld columns (pass groups) %d\n", size, (long long)rows,
           (long long)n, ncols);
    printf("one_process_workers_%d %.1f configs/s (%.3f s)\n", size, (double)n / best_one,
           best_one);
    printf("mpi_ranks_%d %.1f configs/s (%.3f s), %+.1f%% against one process\n", size,
           (double)n / best_mpi, best_mpi, (best_mpi / best_one - 1.0) * 100.0);
    printf("one_process_nosplit_%d %.1f configs/s (%.3f s; MPI %+.1f%% against it)\n", size,
           (double)n / best_nosplit, best_nosplit, (best_mpi / best_nosplit - 1.0) * 100.0);
    printf("mpi_nosplit_%d %.1f configs/s (%.3f s, GPUDF_MPI_SPLIT=0), %+.1f%% against one "
           "process\n", size, (double)n / best_mpi_nosplit, best_mpi_nosplit,
           (best_mpi_nosplit / best_one - 1.0) * 100.0);
    printf("mpi_equal_shares_%d %.1f configs/s (%.3f s), %+.1f%% against one process\n", size,
           (double)n / best_eq, best_eq, (best_eq / best_one - 1.0) * 100.0);
    if (claims_guided > claims_eq)
      printf("per_claim_cost %.4f s (guided claims without the row split minus equal shares, "
             "over %.1f extra claims per rank)\n", (best_mpi_nosplit - best_eq) / ((double)(claims_guided - claims_eq) / size),
             (double)(claims_guided - claims_eq) / size);
    printf("one_pass_one_core %.1f configs/s (%.3f s: gpudf_run of every config)\n",
           (double)n / best_pass, best_pass);
    printf("cpu_one_process %.3f s, cpu_mpi %.3f s (all ranks), %+.1f%% CPU against one "
           "process (best of %d each)\n", cpu_one, cpu_mpi, (cpu_mpi / cpu_one - 1.0) * 100.0,
           reps);
    printf("mean_of_%d wall %+.1f%%, CPU %+.1f%% (MPI against one process: the means of its "
           "runs, steadier than the best on a loaded machine)\n", reps,
           (sum_mpi / sum_one - 1.0) * 100.0, (sum_cpu_mpi / sum_cpu_one - 1.0) * 100.0);
    printf("claim_round_trip %.2f us (slowest rank's mean, %d ranks claiming at once, one "
           "fetch-and-add each)\n", worst * 1e6, size);
  }
  gpudf_table_free(t);
  free(configs);
  free(results);
  MPI_Finalize();
  return 0;
}
