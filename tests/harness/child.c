/*
 * child.c - gpudf-test-child, the other process of the multi-process tests.
 *
 *   share NAME ROWS SEED     share a generated table, print "shared SUM", wait to be killed
 *   share-exit NAME ROWS SEED  share it, print "shared SUM", exit without closing
 *   attach NAME              attach, print "ok NCOLS NROWS SUM", detach, exit 0
 *   attach-hold NAME         attach, print "attached", wait to be killed
 *   write NAME               attach and write into the view (must fault)
 *   attach-dev NAME          attach, print "ok BACKEND SUM DEVSUM" (DEVSUM: checksum read
 *                            through the device pointers when they are host-readable, i.e.
 *                            with the simulated device; "-" otherwise), detach
 *   attach-where NAME        attach, print "ok BACKEND ACCESS DEVICE DEVSUM" (ACCESS host,
 *                            replica, peer or pinned; DEVICE the UUID text or "-"), detach
 *   add-replica NAME         add a replica of the share on the current device, print
 *                            "added UUID", wait to be killed
 *   add-replica-free-when NAME GATE
 *                            add a replica as add-replica does, print "added UUID", wait
 *                            until file GATE exists, free the replica, print "freed",
 *                            wait to be killed
 *   attach-twice NAME        attach twice, print "ok B1 B2 SAMEPTR", detach both, print "detached"
 *   run-dev NAME OP LO       attach, run filter_agg(filter d OP LO, value d), print the
 *                            view's backend and the results
 *   sweep-sigint             sweep the test plugin's kernel with 2 workers, print "running"
 *                            at the first progress call; after SIGINT print
 *                            "cancelled STATUS DONE CANCELLED HANDLER-RESTORED"
 *   sweep-hold               the same sweep, slower; print "running", wait to be killed
 *   attach-loop NAME N SUM [CHURN CSUM]
 *                            N times: attach NAME, check its checksum is SUM, detach; with
 *                            CHURN, also attach CHURN (a share the owner keeps closing and
 *                            publishing again): OK with checksum CSUM, or ENOENT. Prints
 *                            "ok N CHURN-OK FD0 FD1 MAP0 MAP1 IDLE" (open fds and mappings of
 *                            shm segments after the first round and at the end, each counted
 *                            after gpudf_unmap_idle; IDLE: the most idle mappings it unmapped)
 *   attach-when NAME GATE    print "ready", wait (up to 30 s) until file GATE exists, then
 *                            attach as "attach" does; many of them attach at one moment
 *   attach-watch NAME SUM OWNER
 *                            attach NAME over and over (checking SUM) and keep the first
 *                            view, until process OWNER is gone; then one more attach must
 *                            fail with ENOENT or EOWNERDEAD and the kept view must still
 *                            check. Prints "done OKS GONE-STATUS HELD MAX-MS" (HELD: 1 when
 *                            a view was kept and still checks, 0 when none was attached, MAX-MS
 *                            the slowest attach); "bad ..." on a wrong checksum
 *
 * GPUDF_TEST_STDERR=PATH sends the child's stderr (the GPUDF_LOG=debug log)
 * to PATH, so a test can read what the library said.
 *
 * Failures print "err STATUS MESSAGE" and exit 1. Every line is flushed at
 * once so the test can read it through a pipe.
 */
#include "datagen.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(gpudf_status st) {
  printf("err %d %s\n", (int)st, gpudf_last_error());
  fflush(stdout);
  return 1;
}

static void wait_forever(void) {
  for (;;) pause();
}

/* Static, so that the exit without closing (share-exit) is deliberate and
 * still reachable, not a leak for LeakSanitizer. */
static gpudf_table *t;
static gpudf_share *s;

/* Makes the test table of rows and seed, shares it as name and prints
 * "shared SUM". */
static gpudf_status share_table(const char *name, const char *rows, const char *seed) {
  gpudf_status st = tg_make_table(strtoll(rows, NULL, 10), strtoull(seed, NULL, 10), &t);
  if (st == GPUDF_OK) st = gpudf_table_share(t, name, GPUDF_BACKEND_AUTO, &s);
  if (st != GPUDF_OK) return st;
  printf("shared %" PRIu64 "\n", tg_table_checksum(t));
  fflush(stdout);
  return GPUDF_OK;
}

static int cmd_share(const char *name, const char *rows, const char *seed, int stay) {
  gpudf_status st = share_table(name, rows, seed);
  if (st != GPUDF_OK) return fail(st);
  if (stay) wait_forever();
  return 0; /* exit with the share open: the library removes it at exit */
}

/* Shares a table, prints "shared SUM", and once the file gate exists closes
 * the share and frees the table while it goes on running: prints "freed"
 * and waits to be killed. */
static int cmd_share_free_when(const char *name, const char *rows, const char *seed,
                               const char *gate) {
  gpudf_status st = share_table(name, rows, seed);
  if (st != GPUDF_OK) return fail(st);
  while (access(gate, F_OK) != 0) usleep(500);
  gpudf_share_close(s);
  gpudf_table_free(t);
  s = NULL;
  t = NULL;
  printf("freed\n");
  fflush(stdout);
  wait_forever();
  return 0;
}

static int cmd_attach(const char *name, int hold) {
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  if (hold) {
    printf("attached\n");
    fflush(stdout);
    wait_forever();
  }
  printf("ok %d %" PRId64 " %" PRIu64 "\n", gpudf_table_ncols(v), gpudf_table_nrows(v),
         tg_table_checksum(v));
  gpudf_table_free(v);
  return 0;
}

static int cmd_write(const char *name) {
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  printf("writing\n");
  fflush(stdout);
  volatile uint8_t *p = (volatile uint8_t *)gpudf_table_column_data(v, 0);
  p[0] = (uint8_t)(p[0] + 1); /* must raise SIGSEGV: the view is PROT_READ */
  printf("wrote\n");
  return 0;
}

/* ---------------------------------------------------------------- sweeps */

static void marker_handler(int sig) { (void)sig; }

static int say_running(const gpudf_sweep_progress *p, void *user) {
  int *said = user;
  (void)p;
  if (!*said) printf("running\n");
  *said = 1;
  return 0;
}

static int cmd_sweep(int hold) {
  struct sigaction mine, now;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = marker_handler;
  sigaction(SIGINT, &mine, NULL);
  gpudf_status st = tg_make_table(1000, 7, &t);
  if (st != GPUDF_OK) return fail(st);
  enum { N = 400 };
  static double cfg[N * 3], res[N * 2];
  for (int i = 0; i < N; i++) {
    cfg[3 * i] = i;
    cfg[3 * i + 2] = hold ? 200 : 5;
  }
  const char *plugins[] = {GPUDF_TEST_PLUGIN};
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU; /* the engine's signals, device or not */
  o.workers = 2;
  o.batch = 4;
  o.nplugins = 1;
  o.plugins = plugins;
  int said = 0;
  o.progress = say_running;
  o.progress_user = &said;
  gpudf_sweep_result *r = NULL;
  st = gpudf_sweep(t, tg_kernel("sweep_test"), cfg, N, res, &o, &r);
  gpudf_sweep_report rep;
  memset(&rep, 0, sizeof rep);
  gpudf_sweep_result_report(r, &rep);
  sigaction(SIGINT, NULL, &now);
  printf("cancelled %d %lld %lld %d\n", (int)st, (long long)rep.done, (long long)rep.cancelled,
         now.sa_handler == marker_handler);
  gpudf_sweep_result_free(r);
  gpudf_table_free(t);
  t = NULL;
  return 0;
}

/* Device pointers are host addresses only with the simulated device. */
static const char *device_sum(const gpudf_table *v, char *buf, size_t len) {
  const char *sim = getenv("GPUDF_SIMULATE_DEVICE");
  if (!sim || strcmp(sim, "1") != 0 || !gpudf_table_column_device_data(v, 0)) return "-";
  uint64_t h = 14695981039346656037ull;
  for (int c = 0; c < gpudf_table_ncols(v); c++) {
    const uint8_t *p = (const uint8_t *)gpudf_table_column_device_data(v, c);
    size_t n = (size_t)gpudf_table_nrows(v) * gpudf_type_size(gpudf_table_column_type(v, c));
    for (size_t i = 0; i < n; i++) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  }
  snprintf(buf, len, "%" PRIu64, h);
  return buf;
}

static int cmd_attach_dev(const char *name) {
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  char dev[32];
  printf("ok %s %" PRIu64 " %s\n", gpudf_backend_name(gpudf_table_backend(v)),
         tg_table_checksum(v), device_sum(v, dev, sizeof dev));
  gpudf_table_free(v);
  return 0;
}

/* Which device and replica an attach got: "ok BACKEND ACCESS DEVICE
 * DEVSUM" (ACCESS: host replica peer pinned; DEVICE "-" on cpu). */
static int cmd_attach_where(const char *name) {
  static const char *const access[] = {"host", "replica", "peer", "pinned"};
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  char dev[32];
  const char *uuid = gpudf_table_device(v);
  printf("ok %s %s %s %s\n", gpudf_backend_name(gpudf_table_backend(v)),
         access[gpudf_table_access(v)], uuid ? uuid : "-", device_sum(v, dev, sizeof dev));
  gpudf_table_free(v);
  return 0;
}

/* Attaches the share and sweeps the view with filter_agg (default workers,
 * one config per batch); prints "ok WORKERS DEVICE..." (each worker's
 * device) or the failure. */
static int cmd_sweep_view(const char *name) {
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  const gpudf_kernel *k;
  if ((st = gpudf_kernel_find("filter_agg", &k)) != GPUDF_OK) return fail(st);
  double cfg[16 * 5], res[16 * 6];
  for (int i = 0; i < 16; i++) {
    double c[5] = {3, 3, -1.0 + i / 8.0, 0, 3};
    memcpy(cfg + i * 5, c, sizeof c);
  }
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.batch = 1;
  gpudf_sweep_result *r = NULL;
  if ((st = gpudf_sweep(v, k, cfg, 16, res, &o, &r)) != GPUDF_OK) return fail(st);
  gpudf_sweep_report rep;
  gpudf_sweep_result_report(r, &rep);
  printf("ok %d", rep.workers);
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info wi;
    gpudf_sweep_result_worker(r, i, &wi);
    printf(" %s", wi.device[0] ? wi.device : "-");
  }
  printf("\n");
  gpudf_sweep_result_free(r);
  gpudf_table_free(v);
  return 0;
}

/* Adds a replica of the share on the current device, prints "added UUID"
 * and waits to be killed. */
static int cmd_add_replica(const char *name) {
  gpudf_replica *r;
  gpudf_status st = gpudf_share_add_replica(name, &r);
  if (st != GPUDF_OK) return fail(st);
  printf("added %s\n", gpudf_replica_device(r));
  fflush(stdout);
  wait_forever();
  return 0;
}

static int cmd_add_replica_free_when(const char *name, const char *gate) {
  gpudf_replica *r;
  gpudf_status st = gpudf_share_add_replica(name, &r);
  if (st != GPUDF_OK) return fail(st);
  printf("added %s\n", gpudf_replica_device(r));
  fflush(stdout);
  while (access(gate, F_OK) != 0) usleep(500);
  gpudf_replica_free(r);
  printf("freed\n");
  fflush(stdout);
  wait_forever();
  return 0;
}

static int cmd_attach_twice(const char *name) {
  gpudf_table *v1, *v2;
  gpudf_status st = gpudf_attach(name, &v1);
  if (st != GPUDF_OK) return fail(st);
  if ((st = gpudf_attach(name, &v2)) != GPUDF_OK) return fail(st);
  printf("ok %s %s %d\n", gpudf_backend_name(gpudf_table_backend(v1)),
         gpudf_backend_name(gpudf_table_backend(v2)),
         gpudf_table_column_device_data(v1, 0) == gpudf_table_column_device_data(v2, 0));
  gpudf_table_free(v1);
  gpudf_table_free(v2);
  printf("detached\n");
  return 0;
}

static int cmd_run_dev(const char *name, const char *op, const char *lo) {
  gpudf_table *v;
  const gpudf_kernel *k;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return fail(st);
  if ((st = gpudf_kernel_find("filter_agg", &k)) != GPUDF_OK) return fail(st);
  int d;
  if ((st = gpudf_table_find_column(v, "d", &d)) != GPUDF_OK) return fail(st);
  double cfg[5] = {d, atof(op), atof(lo), 0, d};
  double res[6];
  if ((st = gpudf_run(v, k, cfg, 1, res)) != GPUDF_OK) return fail(st);
  printf("%s", gpudf_backend_name(gpudf_table_backend(v)));
  for (int i = 0; i < 6; i++) printf(" %.17g", res[i]);
  printf("\n");
  gpudf_table_free(v);
  return 0;
}

/* ------------------------------------------------------ stress, faults */

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own fd */
}

/* Mappings of files in the shm directory (the library's segments); the
 * allocator's own mappings (ASan's too) come and go. */
static int count_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  const char *d = getenv("GPUDF_SHM_DIR");
  char dir[512], line[4096];
  snprintf(dir, sizeof dir, "%s/gpudf-", d && *d ? d : "/dev/shm");
  int n = 0;
  while (fgets(line, sizeof line, f)) n += strstr(line, dir) != NULL;
  fclose(f);
  return n;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Attaches name and checks its checksum; GPUDF_EBADMSG after printing "bad"
 * when the data is wrong. */
static gpudf_status attach_check(const char *name, uint64_t sum, gpudf_table **keep) {
  gpudf_table *v;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) return st;
  uint64_t got = tg_table_checksum(v);
  if (got != sum) {
    printf("bad %s checksum %" PRIu64 ", expected %" PRIu64 "\n", name, got, sum);
    gpudf_table_free(v);
    return GPUDF_EBADMSG;
  }
  if (keep) *keep = v;
  else gpudf_table_free(v);
  return GPUDF_OK;
}

static int cmd_attach_loop(int argc, char **argv) {
  long n = strtol(argv[3], NULL, 10);
  uint64_t sum = strtoull(argv[4], NULL, 10);
  const char *churn = argc >= 7 ? argv[5] : NULL;
  uint64_t csum = churn ? strtoull(argv[6], NULL, 10) : 0;
  int fd0 = -1, map0 = -1, idle = 0;
  long churn_ok = 0;
  for (long i = 0; i < n; i++) {
    gpudf_status st = attach_check(argv[2], sum, NULL);
    if (st != GPUDF_OK) return st == GPUDF_EBADMSG ? 1 : fail(st);
    if (churn) {
      st = attach_check(churn, csum, NULL);
      if (st == GPUDF_OK) churn_ok++;
      else if (st != GPUDF_ENOENT) return st == GPUDF_EBADMSG ? 1 : fail(st);
    }
    if (i == 0 || i == n - 1) {
      int k = gpudf_unmap_idle(); /* kept for the next attach: not a leak */
      idle = k > idle ? k : idle;
    }
    if (i == 0) {
      fd0 = count_fds();
      map0 = count_maps();
    }
  }
  printf("ok %ld %ld %d %d %d %d %d\n", n, churn_ok, fd0, count_fds(), map0, count_maps(), idle);
  return 0;
}

static int cmd_attach_watch(const char *name, const char *sum_text, const char *owner_text) {
  uint64_t sum = strtoull(sum_text, NULL, 10);
  pid_t owner = (pid_t)strtol(owner_text, NULL, 10);
  gpudf_table *held = NULL;
  long oks = 0;
  double max_ms = 0, deadline = now_ms() + 20000;
  while (kill(owner, 0) == 0 && now_ms() < deadline) {
    double t0 = now_ms();
    gpudf_status st = attach_check(name, sum, held ? NULL : &held);
    double dt = now_ms() - t0;
    if (dt > max_ms) max_ms = dt;
    if (st == GPUDF_OK) oks++;
    else if (st == GPUDF_EBADMSG) return 1;
    else if (st != GPUDF_ENOENT && st != GPUDF_EOWNERDEAD) return fail(st);
  }
  double t0 = now_ms();
  gpudf_status gone = attach_check(name, sum, NULL);
  double dt = now_ms() - t0;
  if (dt > max_ms) max_ms = dt;
  if (gone == GPUDF_EBADMSG) return 1;
  int held_ok = 0;
  if (held) {
    held_ok = tg_table_checksum(held) == sum ? 1 : -1;
    gpudf_table_free(held);
  }
  printf("done %ld %d %d %.1f\n", oks, (int)gone, held_ok, max_ms);
  return 0;
}

static int cmd_attach_when(const char *name, const char *gate) {
  printf("ready\n");
  fflush(stdout);
  double deadline = now_ms() + 30000;
  while (access(gate, F_OK) != 0 && now_ms() < deadline) usleep(500);
  return cmd_attach(name, 0);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *err_path = getenv("GPUDF_TEST_STDERR");
  if (err_path && *err_path && !freopen(err_path, "a", stderr)) return 3;
  if (argc >= 3 && strcmp(argv[1], "attach-dev") == 0) return cmd_attach_dev(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "attach-twice") == 0) return cmd_attach_twice(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "attach-where") == 0) return cmd_attach_where(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "add-replica") == 0) return cmd_add_replica(argv[2]);
  if (argc >= 4 && strcmp(argv[1], "add-replica-free-when") == 0)
    return cmd_add_replica_free_when(argv[2], argv[3]);
  if (argc >= 3 && strcmp(argv[1], "sweep-view") == 0) return cmd_sweep_view(argv[2]);
  if (argc >= 5 && strcmp(argv[1], "run-dev") == 0) return cmd_run_dev(argv[2], argv[3], argv[4]);
  if (argc >= 5 && strcmp(argv[1], "share") == 0) return cmd_share(argv[2], argv[3], argv[4], 1);
  if (argc >= 5 && strcmp(argv[1], "share-exit") == 0)
    return cmd_share(argv[2], argv[3], argv[4], 0);
  if (argc >= 3 && strcmp(argv[1], "attach") == 0) return cmd_attach(argv[2], 0);
  if (argc >= 6 && strcmp(argv[1], "share-free-when") == 0)
    return cmd_share_free_when(argv[2], argv[3], argv[4], argv[5]);
  if (argc >= 3 && strcmp(argv[1], "attach-hold") == 0) return cmd_attach(argv[2], 1);
  if (argc >= 4 && strcmp(argv[1], "attach-when") == 0) return cmd_attach_when(argv[2], argv[3]);
  if (argc >= 3 && strcmp(argv[1], "write") == 0) return cmd_write(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "sweep-sigint") == 0) return cmd_sweep(0);
  if (argc >= 2 && strcmp(argv[1], "sweep-hold") == 0) return cmd_sweep(1);
  if (argc >= 5 && strcmp(argv[1], "attach-loop") == 0) return cmd_attach_loop(argc, argv);
  if (argc >= 5 && strcmp(argv[1], "attach-watch") == 0)
    return cmd_attach_watch(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: gpudf-test-child share|share-exit|attach|attach-hold|write|run-dev|... (see the top of child.c)\n");
  return 2;
}
