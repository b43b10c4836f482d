/* tests/mpi/mpi_sweep_check.c - gpudf_mpi_sweep under mpirun (ctest Mpi.*).
 *
 *   mpi_sweep_check same table|csv DIR [WORKERS]
 *       filter_agg over a table rank 0 builds (sent to the other nodes) or a
 *       CSV every node reads: rank 0 compares the results bitwise with a
 *       one-process gpudf_sweep of the same table and configs, and each
 *       config's count with an exact integer count; with
 *       GPUDF_MPI_FAKE_NODES=K, that each simulated node had one share owned
 *       by its leader and read by its other ranks; that after the call no
 *       rank (but rank 0, owner of its table) still maps a file of DIR (the
 *       job's GPUDF_SHM_DIR); at the end, that DIR is empty.
 *   mpi_sweep_check slow DIR
 *       (2 ranks, GPUDF_MPI_TEST_SLOW=1:MS) filter_agg configs of 4 pass
 *       groups (column pairs) interleaved in the caller's order, rank 1
 *       sleeping after each claim: results equal to a one-process
 *       gpudf_sweep and an exact loop, rank 0 ran more configs than rank 1,
 *       and every pass group ran in one claim.
 *   mpi_sweep_check series DIR
 *       ma_crossover over a long table (3 symbols interleaved, dates
 *       descending) with series and time: results, states and series labels
 *       on rank 0 equal to a one-process series sweep, bitwise.
 *   mpi_sweep_check split DIR
 *       filter_agg and histogram configs of one pass group over 600,011
 *       rows, whose rows the ranks split (docs/mpi.md, "Row splits"):
 *       results bitwise equal to a one-process sweep with the same row
 *       ranges, counts, min, max and bins exact and sums to a long double
 *       loop's; each rank's report counts row ranges (configs x ranges and
 *       the ranges' rows add up). GPUDF_MPI_SPLIT=0: no split.
 *   mpi_sweep_check errors DIR
 *       a bad config, no table, a missing CSV, a kernel only rank 0 has:
 *       the same status and message on every rank, nothing left in DIR.
 *   mpi_sweep_check die DIR
 *       a user kernel SIGKILLs the rank that runs config 13: mpirun must end
 *       the job (tests/mpi/killed_rank.sh checks the rest).
 *   mpi_sweep_check cleanup DIR      (no MPI)
 *       gpudf_cleanup, then DIR must be empty.
 * Exits 0 when every check holds, else 1 after saying which failed. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gpudf_mpi.h"

#define NROWS 5003
#define NCONFIGS 300

static int failures;
static int rank_ = -1;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (!(cond)) {                                              \
      fprintf(stderr, "rank %d: FAILED %s: ", rank_, #cond);    \
      fprintf(stderr, __VA_ARGS__);                             \
      fprintf(stderr, "\n");                                    \
      failures++;                                               \
    }                                                           \
  } while (0)

/* Entries of dir other than . and .., printed. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      fprintf(stderr, "  left in %s: %s\n", dir, e->d_name);
      n++;
    }
  closedir(d);
  return n;
}

/* The end of every mode: each rank lets go of what it no longer uses, then
 * rank 0 finds nothing of the job left in dir. */
static void expect_nothing_left(const char *dir) {
  gpudf_unmap_idle();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank_ == 0) CHECK(count_entries(dir) == 0, "nothing left in the shm directory");
}

/* Mappings of this process of files in dir (the job's GPUDF_SHM_DIR: the
 * shares' arenas, whether their files are there or already removed),
 * printed. */
static int mapped_from(const char *dir) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  char line[4096];
  int n = 0;
  size_t len = strlen(dir);
  while (fgets(line, sizeof line, f)) {
    const char *path = strchr(line, '/');
    if (path && strncmp(path, dir, len) == 0 && path[len] == '/') {
      fprintf(stderr, "  rank %d still maps %s", rank_, path);
      n++;
    }
  }
  fclose(f);
  return n;
}

/* The column values: v has NaNs and repeats, k is an integer key. */
static double value_at(int64_t i) {
  if (i % 97 == 5) return NAN;
  return (double)((i * 7919) % 1000) / 8.0 - 40.0; /* exact in binary */
}

static gpudf_table *make_table(void) {
  static double v[NROWS];
  static int64_t k[NROWS];
  for (int64_t i = 0; i < NROWS; i++) {
    v[i] = value_at(i);
    k[i] = i % 13;
  }
  gpudf_table *t = NULL;
  if (gpudf_table_create(NROWS, &t) != GPUDF_OK || gpudf_table_add_column(t, "k", GPUDF_TYPE_I64, k) ||
      gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v)) {
    fprintf(stderr, "make_table: %s\n", gpudf_last_error());
    exit(1);
  }
  return t;
}

static void write_csv(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fprintf(f, "k,v\n");
  for (int64_t i = 0; i < NROWS; i++) {
    double v = value_at(i);
    if (isnan(v)) fprintf(f, "%lld,NaN\n", (long long)(i % 13));
    else fprintf(f, "%lld,%.17g\n", (long long)(i % 13), v);
  }
  fclose(f);
}

static int param(const gpudf_kernel *k, const char *name) {
  int i = -1;
  if (gpudf_kernel_param_index(k, name, &i) != GPUDF_OK) {
    fprintf(stderr, "no parameter %s: %s\n", name, gpudf_last_error());
    exit(1);
  }
  return i;
}

static int choice(const gpudf_kernel *k, int p, const char *name) {
  gpudf_param_info info;
  gpudf_kernel_param(k, p, &info);
  for (int c = 0; c < info.nchoices; c++)
    if (strcmp(info.choices[c], name) == 0) return c;
  fprintf(stderr, "no choice %s\n", name);
  exit(1);
}

static int same(const char *how, const char *dir, int workers) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char csv[4096];
  snprintf(csv, sizeof csv, "%s.csv", dir);
  if (rank_ == 0 && strcmp(how, "csv") == 0) write_csv(csv);
  MPI_Barrier(MPI_COMM_WORLD);

  const gpudf_kernel *k = NULL;
  gpudf_kernel_find("filter_agg", &k);
  int np = gpudf_kernel_nparams(k);
  int p_fc = param(k, "filter_col"), p_op = param(k, "op"), p_lo = param(k, "lo"),
      p_vc = param(k, "value_col");
  int lt = choice(k, p_op, "lt"), gt = choice(k, p_op, "gt");
  double *configs = malloc(sizeof *configs * NCONFIGS * np);
  for (int i = 0; i < NCONFIGS; i++) {
    double *c = configs + i * np;
    gpudf_kernel_defaults(k, c);
    c[p_fc] = 1; /* v */
    c[p_vc] = 1;
    c[p_op] = i % 2 ? lt : gt;
    c[p_lo] = -45.0 + (double)i * 0.3;
  }
  int nres = gpudf_kernel_nresults(k, configs);
  double *results = rank_ == 0 ? malloc(sizeof(double) * NCONFIGS * nres) : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = workers;
  gpudf_table *t = rank_ == 0 && strcmp(how, "table") == 0 ? make_table() : NULL;
  gpudf_mpi_result *r = NULL;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, strcmp(how, "csv") == 0 ? csv : NULL, k,
                                    rank_ == 0 ? configs : NULL, NCONFIGS, results, &o, &r);
  CHECK(st == GPUDF_OK, "gpudf_mpi_sweep: %s", gpudf_last_error());
  CHECK((r != NULL) == (rank_ == 0), "result only on rank 0");
  /* The node's copy of the table is given back when the call returns: no
   * rank maps a share's arena any more (no view kept idle), but rank 0,
   * whose caller's table is still shared memory of its own. */
  if (rank_ != 0 || strcmp(how, "csv") == 0)
    CHECK(mapped_from(dir) == 0, "no mapping of the job's shares after the call");
  if (rank_ == 0 && st == GPUDF_OK) {
    /* The one-process sweep of the same table and configs. */
    gpudf_table *ref_t = make_table();
    double *ref = malloc(sizeof(double) * NCONFIGS * nres);
    gpudf_sweep_options ro;
    gpudf_sweep_options_init(&ro);
    ro.workers = 0;
    st = gpudf_sweep(ref_t, k, configs, NCONFIGS, ref, &ro, NULL);
    CHECK(st == GPUDF_OK, "gpudf_sweep: %s", gpudf_last_error());
    /* count, sum, mean, min, max bitwise (the values are multiples of 1/8:
     * every sum is exact, whatever the order); std to a few ulps, as the
     * kernel's rounding of it depends on which configs share its batch
     * (docs/mpi.md), in one process too. */
    for (int i = 0; i < NCONFIGS * nres; i++) {
      gpudf_result_info info;
      gpudf_kernel_result(k, configs, i % nres, &info);
      if (strcmp(info.name, "std") == 0)
        CHECK((isnan(ref[i]) && isnan(results[i])) ||
                  fabs(ref[i] - results[i]) <= 1e-14 * fabs(ref[i]),
              "config %d std: %.17g, the one-process gpudf_sweep gives %.17g", i / nres,
              results[i], ref[i]);
      else
        CHECK(memcmp(&ref[i], &results[i], sizeof(double)) == 0,
              "config %d %s: %.17g, the one-process gpudf_sweep gives %.17g", i / nres,
              info.name, results[i], ref[i]);
    }
    for (int i = 0; i < NCONFIGS; i++) {
      const double *c = configs + i * np;
      int64_t count = 0;
      for (int64_t row = 0; row < NROWS; row++) {
        double v = value_at(row);
        if (!isnan(v) && (c[p_op] == lt ? v < c[p_lo] : v > c[p_lo])) count++;
      }
      CHECK(results[i * nres] == (double)count, "config %d: count %g, exact %lld", i,
            results[i * nres], (long long)count);
      CHECK(gpudf_mpi_result_state(r, i) == GPUDF_CONFIG_DONE, "config %d state", i);
      CHECK(strcmp(gpudf_mpi_result_reason(r, i), "") == 0, "config %d reason", i);
    }
    gpudf_mpi_report rep;
    gpudf_mpi_result_report(r, &rep);
    CHECK(rep.total == NCONFIGS && rep.done == NCONFIGS && rep.failed == 0, "report totals");
    CHECK(rep.ranks == size, "report ranks %d", rep.ranks);
    const char *fake = getenv("GPUDF_MPI_FAKE_NODES");
    int want_nodes = fake ? (atoi(fake) < size ? atoi(fake) : size) : 1;
    CHECK(rep.nodes == want_nodes, "nodes %d, want %d", rep.nodes, want_nodes);
    int64_t configs_sum = 0;
    for (int i = 0; i < size; i++) {
      gpudf_mpi_rank_info ri;
      gpudf_mpi_result_rank(r, i, &ri);
      configs_sum += ri.configs;
      gpudf_mpi_node_info nd;
      gpudf_mpi_result_node(r, ri.node, &nd);
      /* One share per node: its leader's, which every rank of it reads. */
      CHECK(strcmp(ri.share, nd.share) == 0, "rank %d read '%s', its node's share is '%s'", i,
            ri.share, nd.share);
      CHECK(ri.leader == (nd.leader_rank == i), "rank %d leader flag", i);
      if (fake) CHECK(ri.node == i % atoi(fake), "rank %d in node %d", i, ri.node);
      printf("rank %d node %d leader %d share %s configs %lld claims %lld busy %.4f s\n", i,
             ri.node, ri.leader, ri.share, (long long)ri.configs, (long long)ri.claims,
             ri.busy_s);
    }
    CHECK(configs_sum == NCONFIGS, "ranks ran %lld configs", (long long)configs_sum);
    for (int nd_i = 0; nd_i < rep.nodes; nd_i++) {
      gpudf_mpi_node_info nd;
      gpudf_mpi_result_node(r, nd_i, &nd);
      CHECK(nd.share[0] != '\0', "node %d has a share", nd_i);
      for (int other = 0; other < nd_i; other++) {
        gpudf_mpi_node_info o2;
        gpudf_mpi_result_node(r, other, &o2);
        CHECK(strcmp(nd.share, o2.share) != 0, "nodes %d and %d read one share", nd_i, other);
      }
      printf("node %d ranks %d leader %d share %s configs %lld\n", nd_i, nd.ranks,
             nd.leader_rank, nd.share, (long long)nd.configs);
    }
    printf("claim %lld claims %lld table %.4f s wall %.4f s\n", (long long)rep.claim,
           (long long)rep.claims, rep.table_s, rep.wall_s);
    free(ref);
    gpudf_table_free(ref_t);
  }
  gpudf_mpi_result_free(r);
  gpudf_table_free(t);
  free(results);
  free(configs);
  expect_nothing_left(dir);
  return failures;
}

/* A rank slower than the others gets fewer configs, and claims keep the
 * configs of one pass (filter_agg: one filter and value column pair)
 * together although the caller interleaves them. */
static int slow(const char *dir) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const gpudf_kernel *k = NULL;
  gpudf_kernel_find("filter_agg", &k);
  int np = gpudf_kernel_nparams(k);
  int p_fc = param(k, "filter_col"), p_op = param(k, "op"), p_lo = param(k, "lo"),
      p_vc = param(k, "value_col");
  int lt = choice(k, p_op, "lt");
  double *configs = malloc(sizeof *configs * NCONFIGS * np);
  for (int i = 0; i < NCONFIGS; i++) {
    double *c = configs + i * np;
    gpudf_kernel_defaults(k, c);
    c[p_fc] = i % 2;       /* k or v */
    c[p_vc] = (i / 2) % 2; /* 4 pairs, interleaved */
    c[p_op] = lt;
    c[p_lo] = -45.0 + (double)i * 0.3;
  }
  int nres = gpudf_kernel_nresults(k, configs);
  double *results = rank_ == 0 ? malloc(sizeof(double) * NCONFIGS * nres) : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_table *t = rank_ == 0 ? make_table() : NULL;
  gpudf_mpi_result *r = NULL;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, rank_ == 0 ? configs : NULL,
                                    NCONFIGS, results, &o, &r);
  CHECK(st == GPUDF_OK, "gpudf_mpi_sweep: %s", gpudf_last_error());
  if (rank_ == 0 && st == GPUDF_OK) {
    gpudf_table *ref_t = make_table();
    double *ref = malloc(sizeof(double) * NCONFIGS * nres);
    gpudf_sweep_options ro;
    gpudf_sweep_options_init(&ro);
    ro.workers = 0;
    CHECK(gpudf_sweep(ref_t, k, configs, NCONFIGS, ref, &ro, NULL) == GPUDF_OK, "gpudf_sweep: %s",
          gpudf_last_error());
    for (int i = 0; i < NCONFIGS; i++) {
      /* count, sum, min, max: an exact loop (values are multiples of 1/8) */
      const double *c = configs + i * np;
      long double sum = 0;
      double lo = INFINITY, hi = -INFINITY;
      int64_t count = 0;
      for (int64_t row = 0; row < NROWS; row++) {
        double f = c[p_fc] == 0 ? (double)(row % 13) : value_at(row);
        double v = c[p_vc] == 0 ? (double)(row % 13) : value_at(row);
        if (isnan(f) || !(f < c[p_lo]) || isnan(v)) continue;
        count++, sum += v;
        lo = v < lo ? v : lo, hi = v > hi ? v : hi;
      }
      const double *got = results + i * nres;
      CHECK(got[0] == (double)count && got[1] == (double)sum, "config %d: count %g sum %g, "
            "exact %lld %g", i, got[0], got[1], (long long)count, (double)sum);
      if (count) CHECK(got[3] == lo && got[4] == hi, "config %d: min %g max %g, exact %g %g", i,
                       got[3], got[4], lo, hi);
      for (int f = 0; f < nres; f++)
        CHECK((isnan(ref[i * nres + f]) && isnan(got[f])) ||
                  fabs(ref[i * nres + f] - got[f]) <= 1e-14 * fabs(ref[i * nres + f]),
              "config %d field %d: %.17g, the one-process gpudf_sweep gives %.17g", i, f, got[f],
              ref[i * nres + f]);
    }
    /* Each pass group ran in one claim. */
    int64_t claim_of[4] = {-1, -1, -1, -1};
    for (int i = 0; i < NCONFIGS; i++) {
      int g = i % 4, rk = -1;
      int64_t cl = -1;
      CHECK(gpudf_mpi_result_where(r, i, &rk, &cl) == GPUDF_OK, "where %d", i);
      if (claim_of[g] < 0) claim_of[g] = cl;
      CHECK(cl >= 0 && cl == claim_of[g], "config %d (pass group %d) ran in claim %lld, its "
            "group's first config in claim %lld", i, g, (long long)cl, (long long)claim_of[g]);
    }
    gpudf_mpi_rank_info r0, r1;
    gpudf_mpi_result_rank(r, 0, &r0);
    gpudf_mpi_result_rank(r, 1, &r1);
    printf("rank 0: %lld configs in %lld claims; rank 1 (slow): %lld configs in %lld claims\n",
           (long long)r0.configs, (long long)r0.claims, (long long)r1.configs,
           (long long)r1.claims);
    CHECK(r0.configs > r1.configs, "the slow rank 1 ran %lld configs, rank 0 %lld",
          (long long)r1.configs, (long long)r0.configs);
    free(ref);
    gpudf_table_free(ref_t);
  }
  gpudf_mpi_result_free(r);
  gpudf_table_free(t);
  free(results);
  free(configs);
  expect_nothing_left(dir);
  (void)size;
  return failures;
}

/* A long table: 3 symbols interleaved, dates descending (the time column
 * orders them), one symbol missing some dates. */
#define SDAYS 400
static gpudf_table *make_long_table(void) {
  static int32_t sym[3 * SDAYS];
  static int64_t date[3 * SDAYS];
  static double close[3 * SDAYS];
  static const char *labels[3] = {"AAA", "BBB", "CCC"};
  int64_t m = 0;
  for (int d = SDAYS - 1; d >= 0; d--)
    for (int q = 0; q < 3; q++) {
      if (q == 2 && d % 7 == 3) continue;
      sym[m] = q;
      date[m] = 20000 + d;
      close[m] = 100.0 + 10.0 * sin(0.05 * d * (q + 1)) + 0.01 * (double)((d * 31 + q) % 17);
      m++;
    }
  gpudf_table *t = NULL;
  if (gpudf_table_create(m, &t) != GPUDF_OK ||
      gpudf_table_add_categorical(t, "symbol", sym, 3, labels) != GPUDF_OK ||
      gpudf_table_add_column(t, "date", GPUDF_TYPE_I64, date) != GPUDF_OK ||
      gpudf_table_add_column(t, "close", GPUDF_TYPE_F64, close) != GPUDF_OK) {
    fprintf(stderr, "make_long_table: %s\n", gpudf_last_error());
    exit(1);
  }
  return t;
}

static int series(const char *dir) {
  const gpudf_kernel *k = NULL;
  gpudf_kernel_find("ma_crossover", &k);
  int np = gpudf_kernel_nparams(k);
  int p_pc = param(k, "price_col"), p_fast = param(k, "fast"), p_slow = param(k, "slow");
  enum { NC = 60 };
  double *configs = malloc(sizeof *configs * NC * np);
  for (int i = 0; i < NC; i++) {
    double *c = configs + i * np;
    gpudf_kernel_defaults(k, c);
    c[p_pc] = 2;
    c[p_fast] = 2 + i % 10;
    c[p_slow] = 15 + 20 * (i / 10) + (i % 3); /* up to 117 */
  }
  int nres = gpudf_kernel_nresults(k, configs);
  const int64_t S = 3;
  double *results = rank_ == 0 ? malloc(sizeof(double) * NC * S * nres) : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.series = 0;
  o.time = 1;
  gpudf_table *t = rank_ == 0 ? make_long_table() : NULL;
  gpudf_mpi_result *r = NULL;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, rank_ == 0 ? configs : NULL, NC,
                                    results, &o, &r);
  CHECK(st == GPUDF_OK, "gpudf_mpi_sweep: %s", gpudf_last_error());
  if (rank_ == 0 && st == GPUDF_OK) {
    gpudf_table *ref_t = make_long_table();
    double *ref = malloc(sizeof(double) * NC * S * nres);
    gpudf_sweep_result *rr = NULL;
    CHECK(gpudf_sweep(ref_t, k, configs, NC, ref, &o, &rr) == GPUDF_OK, "gpudf_sweep: %s",
          gpudf_last_error());
    CHECK(gpudf_mpi_result_count(r) == NC * S, "rows %lld", (long long)gpudf_mpi_result_count(r));
    CHECK(gpudf_mpi_result_nseries(r) == S, "nseries %lld", (long long)gpudf_mpi_result_nseries(r));
    int64_t done = 0;
    for (int64_t i = 0; i < NC * S; i++) {
      CHECK(strcmp(gpudf_mpi_result_series(r, i), gpudf_sweep_result_series(rr, i)) == 0,
            "row %lld series '%s', one process '%s'", (long long)i, gpudf_mpi_result_series(r, i),
            gpudf_sweep_result_series(rr, i));
      CHECK(gpudf_mpi_result_state(r, i) == gpudf_sweep_result_state(rr, i), "row %lld state",
            (long long)i);
      CHECK(strcmp(gpudf_mpi_result_reason(r, i), gpudf_sweep_result_reason(rr, i)) == 0,
            "row %lld reason '%s', one process '%s'", (long long)i, gpudf_mpi_result_reason(r, i),
            gpudf_sweep_result_reason(rr, i));
      done += gpudf_mpi_result_state(r, i) == GPUDF_CONFIG_DONE;
      for (int f = 0; f < nres; f++)
        CHECK(memcmp(&ref[i * nres + f], &results[i * nres + f], sizeof(double)) == 0,
              "row %lld field %d: %.17g, one process %.17g", (long long)i, f,
              results[i * nres + f], ref[i * nres + f]);
    }
    CHECK(done > NC * S / 2, "%lld rows done", (long long)done);
    gpudf_mpi_report rep;
    gpudf_mpi_result_report(r, &rep);
    CHECK(rep.total == NC * S && rep.done == done, "report total %lld done %lld",
          (long long)rep.total, (long long)rep.done);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 0; i < size; i++) {
      gpudf_mpi_rank_info ri;
      gpudf_mpi_result_rank(r, i, &ri);
      printf("rank %d node %d share %s configs %lld claims %lld\n", i, ri.node, ri.share,
             (long long)ri.configs, (long long)ri.claims);
    }
    gpudf_sweep_result_free(rr);
    free(ref);
    gpudf_table_free(ref_t);
  }
  gpudf_mpi_result_free(r);
  gpudf_table_free(t);
  free(results);
  free(configs);
  expect_nothing_left(dir);
  return failures;
}

/* Bad input fails on every rank alike: the same status and message, naming
 * the rank where it was found, and nothing left behind. */
static gpudf_status twice_run(const gpudf_table *t, const double *configs, int64_t n,
                              double *results) {
  (void)t;
  for (int64_t i = 0; i < n; i++) results[i] = configs[i] * 2.0;
  return GPUDF_OK;
}

static void expect(gpudf_status st, gpudf_status want, const char *needle, const char *what) {
  const char *msg = gpudf_last_error();
  if (rank_ == 0) printf("%s: %s\n", what, msg);
  CHECK(st == want, "%s: status %d, want %d (%s)", what, (int)st, (int)want, msg);
  CHECK(strstr(msg, needle) != NULL, "%s: message '%s' does not say '%s'", what, msg, needle);
  /* Every rank has the same words. */
  char mine[640], first[640];
  snprintf(mine, sizeof mine, "%s", msg);
  memcpy(first, mine, sizeof first);
  MPI_Bcast(first, (int)sizeof first, MPI_CHAR, 0, MPI_COMM_WORLD);
  CHECK(strcmp(first, mine) == 0, "%s: rank 0 says '%s', this rank '%s'", what, first, mine);
}

static int errors(const char *dir) {
  const gpudf_kernel *k = NULL;
  gpudf_kernel_find("filter_agg", &k);
  int np = gpudf_kernel_nparams(k);
  double configs[4 * 16];
  for (int i = 0; i < 4; i++) gpudf_kernel_defaults(k, configs + i * np);
  configs[3 * np + param(k, "value_col")] = 7; /* the table has 2 columns */
  double results[4 * 16];
  gpudf_table *t = rank_ == 0 ? make_table() : NULL;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, configs, 4, results, NULL, NULL);
  expect(st, GPUDF_EINVAL, "config 3", "a bad config");

  st = gpudf_mpi_sweep(MPI_COMM_WORLD, NULL, NULL, k, configs, 4, results, NULL, NULL);
  expect(st, GPUDF_EINVAL, "neither a table on rank 0 nor a CSV path", "no table");

  char missing[4200];
  snprintf(missing, sizeof missing, "%s/no-such.csv", dir);
  st = gpudf_mpi_sweep(MPI_COMM_WORLD, NULL, missing, k, configs, 4, results, NULL, NULL);
  expect(st, GPUDF_ENOENT, "no-such.csv", "a missing CSV");

  gpudf_sweep_options bad;
  gpudf_sweep_options_init(&bad);
  bad.retries = -1;
  st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, configs, 3, results, &bad, NULL);
  expect(st, GPUDF_EINVAL, "retries", "bad options");

  /* A kernel only rank 0 has. */
  const gpudf_kernel *only = NULL;
  if (rank_ == 0) {
    static const gpudf_param_info params[1] = {
        {"x", "a number", GPUDF_PARAM_REAL, 0.0, -1e9, 1e9, 0, NULL, 0}};
    static const gpudf_result_info fields[1] = {{"twice", "2 x"}};
    gpudf_kernel_def def;
    gpudf_kernel_def_init(&def);
    def.name = "mpi_test_rank0_only";
    def.nparams = 1;
    def.params = params;
    def.nfields = 1;
    def.fields = fields;
    def.run_cpu = twice_run;
    gpudf_kernel_register(&def, &only);
  }
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, only, configs, 4, results, NULL, NULL);
  if (size > 1) expect(st, GPUDF_EINVAL, "rank 1: kernel 'mpi_test_rank0_only' is not registered", "a kernel on rank 0 only");
  else CHECK(st == GPUDF_OK, "one rank has the kernel: %s", gpudf_last_error());
  gpudf_table_free(t);
  expect_nothing_left(dir);
  return failures;
}

/* ------------------------------------------------ row splits across ranks */

#define SPLIT_ROWS 600011 /* 9 ranges of at least 2^16 rows */
#define SPLIT_CONFIGS 40

/* Values whose sums round (unlike value_at's): the order of additions
 * shows in the last bits. */
static double split_value(int64_t i) {
  if (i % 101 == 7) return NAN;
  return (double)((i * 2654435761LL) % 1000003) / 1000003.0 * 100.0 - 50.0 + 1e-3 / (double)(i + 1);
}

static gpudf_table *split_table(void) {
  double *v = malloc(sizeof *v * SPLIT_ROWS);
  for (int64_t i = 0; i < SPLIT_ROWS; i++) v[i] = split_value(i);
  gpudf_table *t = NULL;
  if (gpudf_table_create(SPLIT_ROWS, &t) != GPUDF_OK ||
      gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v) != GPUDF_OK) {
    fprintf(stderr, "split_table: %s\n", gpudf_last_error());
    exit(1);
  }
  free(v);
  return t;
}

/* One sweep of SPLIT_CONFIGS configs of kernel (one pass group): across the
 * ranks, then on rank 0 in one process with the row ranges the job used
 * ($GPUDF_SWEEP_SPLIT=R, in process), compared bitwise; check(config,
 * results row) the independent reference. */
static void split_one(const gpudf_kernel *k, const double *configs, int nres,
                      void (*check)(int i, const double *cfg, const double *row)) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int n = SPLIT_CONFIGS;
  double *results = rank_ == 0 ? malloc(sizeof(double) * n * nres) : NULL;
  gpudf_table *t = rank_ == 0 ? split_table() : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_mpi_result *r = NULL;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, rank_ == 0 ? configs : NULL, n,
                                    results, &o, &r);
  CHECK(st == GPUDF_OK, "gpudf_mpi_sweep %s: %s", gpudf_kernel_name(k), gpudf_last_error());
  if (rank_ == 0 && st == GPUDF_OK) {
    /* The ranges the job should have used: the local rule for `size`
     * workers (one per rank), unless GPUDF_MPI_SPLIT=0. */
    const char *off = getenv("GPUDF_MPI_SPLIT");
    int64_t R = off && strcmp(off, "0") == 0
                    ? 0 : gpudf_sweep_split_ranges(t, k, configs, n, 1, size);
    if (size >= 2 && !off) CHECK(R >= 2, "no split for %d ranks: R = %lld", size, (long long)R);
    if (size == 1) CHECK(R == 0, "one rank splits: R = %lld", (long long)R);
    char env[32];
    snprintf(env, sizeof env, "%lld", (long long)R);
    setenv("GPUDF_SWEEP_SPLIT", env, 1);
    gpudf_table *ref_t = split_table();
    /* The derived columns each node's leader adds (gpudf_table_prepare):
     * the unsplit kernels read them, so sums come out as the ranks'. */
    CHECK(gpudf_table_prepare(ref_t, k, configs, n) == GPUDF_OK, "prepare: %s", gpudf_last_error());
    double *ref = malloc(sizeof(double) * n * nres);
    gpudf_sweep_options ro;
    gpudf_sweep_options_init(&ro);
    ro.workers = 0;
    ro.batch = n; /* without a split: one batch, as the rank's one claim */
    st = gpudf_sweep(ref_t, k, configs, n, ref, &ro, NULL);
    unsetenv("GPUDF_SWEEP_SPLIT");
    CHECK(st == GPUDF_OK, "gpudf_sweep: %s", gpudf_last_error());
    /* Split: bit for bit (the same ranges merged in the same order).
     * Unsplit, claims of configs: filter_agg's sums round by which configs
     * share a batch (docs/mpi.md), to a few ulps; counts stay exact. */
    for (int i = 0; i < n * nres; i++)
      CHECK(memcmp(&ref[i], &results[i], sizeof(double)) == 0 ||
                (R == 0 && fabs(ref[i] - results[i]) <= 1e-13 * fabs(ref[i])),
            "%s config %d result %d: %.17g, the one-process sweep (%lld ranges) gives %.17g",
            gpudf_kernel_name(k), i / nres, i % nres, results[i], (long long)R, ref[i]);
    for (int i = 0; i < n; i++) {
      check(i, configs + i * gpudf_kernel_nparams(k), results + i * nres);
      CHECK(gpudf_mpi_result_state(r, i) == GPUDF_CONFIG_DONE, "config %d state", i);
      int where = -1;
      int64_t claim = -1;
      gpudf_mpi_result_where(r, i, &where, &claim);
      CHECK(where >= 0 && where < size, "config %d ran on rank %d", i, where);
      if (R > 0) CHECK(claim == 0, "config %d: claim %lld, the task of its first rows is 0", i,
                       (long long)claim);
    }
    /* Each rank ran row ranges of all configs: together every range once. */
    gpudf_mpi_report rep;
    gpudf_mpi_result_report(r, &rep);
    CHECK(rep.done == n, "done %lld", (long long)rep.done);
    int64_t configs_sum = 0, claims_sum = 0, rows_sum = 0;
    for (int q = 0; q < size; q++) {
      gpudf_mpi_rank_info ri;
      gpudf_mpi_result_rank(r, q, &ri);
      configs_sum += ri.configs;
      claims_sum += ri.claims;
      rows_sum += ri.split_rows;
      printf("%s rank %d configs %lld tasks %lld rows %lld\n", gpudf_kernel_name(k), q,
             (long long)ri.configs, (long long)ri.claims, (long long)ri.split_rows);
    }
    if (R > 0) {
      CHECK(configs_sum == n * R, "ranks ran %lld config ranges, want %d x %lld",
            (long long)configs_sum, n, (long long)R);
      CHECK(claims_sum == R && rep.claims == R, "%lld tasks, want %lld", (long long)claims_sum,
            (long long)R);
      CHECK(rows_sum == SPLIT_ROWS, "ranges of %lld rows, the table has %d", (long long)rows_sum,
            SPLIT_ROWS);
    } else {
      CHECK(configs_sum == n && rows_sum == 0, "unsplit: %lld configs, %lld split rows",
            (long long)configs_sum, (long long)rows_sum);
    }
    printf("%s: %lld ranges, %d ranks\n", gpudf_kernel_name(k), (long long)R, size);
    free(ref);
    gpudf_table_free(ref_t);
  }
  gpudf_mpi_result_free(r);
  gpudf_table_free(t);
  free(results);
}

static int sp_lt, sp_p_op, sp_p_lo;

/* filter_agg: count, min, max exactly, sum to a long double loop's. */
static void fa_check(int i, const double *c, const double *row) {
  int64_t count = 0;
  long double sum = 0, mag = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t q = 0; q < SPLIT_ROWS; q++) {
    double v = split_value(q);
    if (isnan(v) || !(c[sp_p_op] == sp_lt ? v < c[sp_p_lo] : v > c[sp_p_lo])) continue;
    count++;
    sum += v;
    mag += fabsl((long double)v);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  CHECK(row[0] == (double)count, "config %d: count %g, exact %lld", i, row[0], (long long)count);
  CHECK(fabsl((long double)row[1] - sum) <= 1e-13L * (mag + 1), "config %d: sum %.17g, long double %.17Lg",
        i, row[1], sum);
  if (count > 0) {
    CHECK(row[3] == lo && row[4] == hi, "config %d: min %g max %g, exact %g %g", i, row[3],
          row[4], lo, hi);
  }
}

static int hi_bins = 16, hi_p_lo;

/* histogram: every bin's count exactly (bins of width 4 over [-32, 32]). */
static void hi_check(int i, const double *c, const double *row) {
  int64_t want[18] = {0};
  for (int64_t q = 0; q < SPLIT_ROWS; q++) {
    double v = split_value(q);
    if (isnan(v) || !(v < c[hi_p_lo])) continue;
    if (v < -32.0) want[hi_bins]++;
    else if (v > 32.0) want[hi_bins + 1]++;
    else want[v == 32.0 ? hi_bins - 1 : (int)floor((v + 32.0) / 4.0)]++;
  }
  for (int b = 0; b < hi_bins + 2; b++)
    CHECK(row[b] == (double)want[b], "config %d bin %d: %g, exact %lld", i, b, row[b],
          (long long)want[b]);
}

static int split_check(const char *dir) {
  const gpudf_kernel *fa = NULL, *hi = NULL;
  gpudf_kernel_find("filter_agg", &fa);
  gpudf_kernel_find("histogram", &hi);
  int np = gpudf_kernel_nparams(fa);
  sp_p_op = param(fa, "op");
  sp_p_lo = param(fa, "lo");
  sp_lt = choice(fa, sp_p_op, "lt");
  int gt = choice(fa, sp_p_op, "gt");
  double *configs = malloc(sizeof *configs * SPLIT_CONFIGS * np);
  for (int i = 0; i < SPLIT_CONFIGS; i++) {
    double *c = configs + i * np;
    gpudf_kernel_defaults(fa, c);
    c[param(fa, "filter_col")] = 0;
    c[param(fa, "value_col")] = 0;
    c[sp_p_op] = i % 2 ? sp_lt : gt;
    c[sp_p_lo] = -48.0 + (double)i * 2.4;
  }
  split_one(fa, configs, gpudf_kernel_nresults(fa, configs), fa_check);
  free(configs);

  int hp = gpudf_kernel_nparams(hi);
  hi_p_lo = param(hi, "lo");
  int h_op = param(hi, "op"), h_lt = choice(hi, h_op, "lt");
  configs = malloc(sizeof *configs * SPLIT_CONFIGS * hp);
  for (int i = 0; i < SPLIT_CONFIGS; i++) {
    double *c = configs + i * hp;
    gpudf_kernel_defaults(hi, c);
    c[param(hi, "filter_col")] = 0;
    c[param(hi, "col")] = 0;
    c[h_op] = h_lt;
    c[hi_p_lo] = -45.0 + (double)i * 2.5;
    c[param(hi, "bins")] = hi_bins;
    c[param(hi, "range_lo")] = -32.0;
    c[param(hi, "range_hi")] = 32.0;
  }
  split_one(hi, configs, gpudf_kernel_nresults(hi, configs), hi_check);
  free(configs);
  expect_nothing_left(dir);
  return failures;
}

/* A kernel that kills the process running config x = 13. */
static gpudf_status die_run(const gpudf_table *t, const double *configs, int64_t n,
                            double *results) {
  (void)t;
  for (int64_t i = 0; i < n; i++) {
    if (configs[i] == 13.0) raise(SIGKILL);
    results[i] = configs[i] * 2.0;
  }
  return GPUDF_OK;
}

static int die(void) {
  static const gpudf_param_info params[1] = {
      {"x", "a number", GPUDF_PARAM_REAL, 0.0, -1e9, 1e9, 0, NULL, 0}};
  static const gpudf_result_info fields[1] = {{"twice", "2 x"}};
  gpudf_kernel_def def;
  gpudf_kernel_def_init(&def);
  def.name = "mpi_test_die";
  def.nparams = 1;
  def.params = params;
  def.nfields = 1;
  def.fields = fields;
  def.run_cpu = die_run;
  const gpudf_kernel *k = NULL;
  if (gpudf_kernel_register(&def, &k) != GPUDF_OK) {
    fprintf(stderr, "register: %s\n", gpudf_last_error());
    return 1;
  }
  double configs[64], results[64];
  for (int i = 0; i < 64; i++) configs[i] = i;
  gpudf_table *t = rank_ == 0 ? make_table() : NULL;
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, configs, 64, results, &o, NULL);
  fprintf(stderr, "rank %d: the sweep returned although config 13 killed a rank\n", rank_);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s same table|csv DIR [WORKERS] | die DIR | cleanup DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[argc >= 4 && strcmp(argv[1], "same") == 0 ? 3 : 2];
  if (strcmp(argv[1], "cleanup") == 0) {
    setenv("GPUDF_SHM_DIR", dir, 1);
    int removed = 0;
    gpudf_status st = gpudf_cleanup(&removed);
    CHECK(st == GPUDF_OK, "gpudf_cleanup: %s", gpudf_last_error());
    printf("gpudf_cleanup removed %d segments\n", removed);
    CHECK(count_entries(dir) == 0, "nothing left in %s after gpudf_cleanup", dir);
    return failures ? 1 : 0;
  }
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  /* A shm directory of the job's own, made before any library call. */
  if (rank_ == 0) mkdir(dir, 0700);
  MPI_Barrier(MPI_COMM_WORLD);
  setenv("GPUDF_SHM_DIR", dir, 1);
  int rc;
  if (strcmp(argv[1], "same") == 0)
    rc = same(argv[2], dir, argc > 4 ? atoi(argv[4]) : 0);
  else if (strcmp(argv[1], "die") == 0)
    rc = die();
  else if (strcmp(argv[1], "errors") == 0)
    rc = errors(dir);
  else if (strcmp(argv[1], "slow") == 0)
    rc = slow(dir);
  else if (strcmp(argv[1], "series") == 0)
    rc = series(dir);
  else if (strcmp(argv[1], "split") == 0)
    rc = split_check(dir);
  else
    rc = 2;
  int all = 0;
  MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  if (rank_ == 0 && all == 0) printf("OK\n");
  return all ? 1 : 0;
}
