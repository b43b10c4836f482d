/*
 * demo.c - gpudf-demo: the smallest end-to-end use of libgpudf.
 *
 * The owner builds a synthetic table (price, volume, key, flag) in shared
 * memory and publishes it; a second process, started with posix_spawn,
 * attaches to it by name without copying and runs a batch of filter_agg
 * configs; the owner runs the same batch and checks the answers agree.
 *
 *   gpudf-demo [ROWS]            owner (default 2,000,000 rows)
 *   gpudf-demo --attach NAME     the worker side, started by the owner
 */
#include <gpudf.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CHECK(call)                                                              \
  do {                                                                           \
    gpudf_status st_ = (call);                                                   \
    if (st_ != GPUDF_OK) {                                                       \
      fprintf(stderr, "gpudf-demo: %s\n  %s\n", gpudf_status_str(st_), gpudf_last_error()); \
      exit(3);                                                                   \
    }                                                                            \
  } while (0)

enum { NCONFIGS = 6, NPARAMS = 5, NRESULTS = 6 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* filter_agg configs: filter_col op lo hi value_col (ops: all lt le gt ge eq ne between). */
static void make_configs(const gpudf_table *t, double cfg[NCONFIGS][NPARAMS]) {
  int price, volume, key, flag;
  CHECK(gpudf_table_find_column(t, "price", &price));
  CHECK(gpudf_table_find_column(t, "volume", &volume));
  CHECK(gpudf_table_find_column(t, "key", &key));
  CHECK(gpudf_table_find_column(t, "flag", &flag));
  const double c[NCONFIGS][NPARAMS] = {
      {price, 0, 0, 0, price},      /* all rows: price */
      {price, 3, 100, 0, volume},   /* volume where price > 100 */
      {price, 1, 100, 0, volume},   /* volume where price < 100 */
      {key, 7, 10, 19, price},      /* price where 10 <= key <= 19 */
      {key, 5, 42, 0, volume},      /* volume where key == 42 */
      {flag, 5, 1, 0, price},       /* price where flag is true */
  };
  memcpy(cfg, c, sizeof c);
}

static void print_results(const char *who, double res[NCONFIGS][NRESULTS]) {
  const char *what[NCONFIGS] = {"price, all rows", "volume | price > 100",
                                "volume | price < 100", "price | 10 <= key <= 19",
                                "volume | key == 42", "price | flag"};
  printf("%s:\n  %-24s %10s %16s %12s %12s %12s %12s\n", who, "config", "count", "sum", "mean",
         "min", "max", "std");
  for (int i = 0; i < NCONFIGS; i++)
    printf("  %-24s %10.0f %16.4f %12.4f %12.4f %12.4f %12.4f\n", what[i], res[i][0], res[i][1],
           res[i][2], res[i][3], res[i][4], res[i][5]);
}

static void run_batch(const gpudf_table *t, double res[NCONFIGS][NRESULTS]) {
  const gpudf_kernel *k;
  double cfg[NCONFIGS][NPARAMS];
  CHECK(gpudf_kernel_find("filter_agg", &k));
  make_configs(t, cfg);
  CHECK(gpudf_run(t, k, &cfg[0][0], NCONFIGS, &res[0][0]));
}

static int worker(const char *name) {
  double t0 = now();
  gpudf_table *v;
  CHECK(gpudf_attach(name, &v));
  double t1 = now();
  double res[NCONFIGS][NRESULTS];
  run_batch(v, res);
  double t2 = now();
  printf("worker pid %d attached '%s' in %.3f ms (%" PRId64 " rows, no copy), ran %d configs "
         "in one pass in %.1f ms\n", (int)getpid(), name, 1e3 * (t1 - t0), gpudf_table_nrows(v),
         NCONFIGS, 1e3 * (t2 - t1));
  print_results("worker results", res);
  /* Hand the numbers back bit-exactly for the owner's check. */
  fprintf(stderr, "%s", "");
  FILE *out = fdopen(3, "w");
  if (out) {
    fwrite(res, sizeof res, 1, out);
    fclose(out);
  }
  gpudf_table_free(v);
  return 0;
}

static gpudf_table *make_table(int64_t n) {
  gpudf_table *t;
  double *price;
  float *volume;
  int32_t *key;
  uint8_t *flag;
  CHECK(gpudf_table_create(n, &t));
  CHECK(gpudf_table_alloc_column(t, "price", GPUDF_TYPE_F64, (void **)&price));
  CHECK(gpudf_table_alloc_column(t, "volume", GPUDF_TYPE_F32, (void **)&volume));
  CHECK(gpudf_table_alloc_column(t, "key", GPUDF_TYPE_I32, (void **)&key));
  CHECK(gpudf_table_alloc_column(t, "flag", GPUDF_TYPE_BOOL, (void **)&flag));
  /* Pointers from alloc_column move when a column is added: refetch them. */
  price = (double *)gpudf_table_column_data(t, 0);
  volume = (float *)gpudf_table_column_data(t, 1);
  key = (int32_t *)gpudf_table_column_data(t, 2);
  flag = (uint8_t *)gpudf_table_column_data(t, 3);
  uint64_t s = 42;
  double p = 100;
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(s >> 11) * 0x1.0p-53;
    p *= exp((u - 0.5) * 0.02); /* geometric random walk */
    price[i] = p;
    volume[i] = (float)(1000.0 * u);
    key[i] = (int32_t)((s >> 33) % 100);
    flag[i] = (uint8_t)((s >> 40) & 1);
  }
  return t;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--attach") == 0) return worker(argv[2]);
  if (argc > 2 || (argc == 2 && (argv[1][0] < '0' || argv[1][0] > '9'))) {
    fprintf(stderr, "usage: gpudf-demo [ROWS]\n       gpudf-demo --attach NAME\n");
    return 2;
  }
  int64_t n = argc == 2 ? strtoll(argv[1], NULL, 10) : 2000000;
  printf("libgpudf %s\n", gpudf_version());
  double t0 = now();
  gpudf_table *t = make_table(n);
  gpudf_share *share;
  CHECK(gpudf_table_share(t, NULL, GPUDF_BACKEND_AUTO, &share));
  const char *why;
  gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why);
  printf("owner pid %d built %" PRId64 " rows x %d columns (%.1f MiB) in %.0f ms and shared "
         "them as '%s'\nplacement: %s (cuda-ipc: %s)\n", (int)getpid(), n, gpudf_table_ncols(t),
         (double)gpudf_table_arena_bytes(t) / 1048576.0, 1e3 * (now() - t0),
         gpudf_share_name(share), gpudf_backend_name(gpudf_share_backend(share)), why);
  fflush(stdout);

  /* The worker: this same binary, started fresh (no fork of our state). */
  int pipefd[2];
  if (pipe(pipefd) != 0) return 3;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 3);
  char *wargv[] = {argv[0], "--attach", (char *)gpudf_share_name(share), NULL};
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, wargv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (err) {
    fprintf(stderr, "gpudf-demo: cannot start the worker: %s\n", strerror(err));
    return 3;
  }
  double theirs[NCONFIGS][NRESULTS], ours[NCONFIGS][NRESULTS];
  ssize_t got = read(pipefd[0], theirs, sizeof theirs);
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  run_batch(t, ours);
  int same = got == (ssize_t)sizeof theirs && memcmp(theirs, ours, sizeof ours) == 0;
  printf("owner check: the worker's %d results are %s the owner's\n", NCONFIGS * NRESULTS,
         same ? "bit-identical to" : "DIFFERENT from");
  gpudf_share_close(share);
  gpudf_table_free(t);
  return same && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
