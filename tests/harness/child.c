/*
 * child.c - gpudf-test-child, the other process of the multi-process tests.
 *
 *   share NAME ROWS SEED     share a generated table, print "shared SUM", wait to be killed
 *   share-exit NAME ROWS SEED  share it, print "shared SUM", exit without closing
 *   attach NAME              attach, print "ok NCOLS NROWS SUM", detach, exit 0
 *   attach-hold NAME         attach, print "attached", wait to be killed
 *   write NAME               attach and write into the view (must fault)
 *   run NAME OP LO           attach, run filter_agg(filter d OP LO, value d), print results
 *
 * Failures print "err STATUS MESSAGE" and exit 1. Every line is flushed at
 * once so the test can read it through a pipe.
 */
#include "datagen.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int cmd_share(const char *name, const char *rows, const char *seed, int stay) {
  gpudf_status st = tg_make_table(strtoll(rows, NULL, 10), strtoull(seed, NULL, 10), &t);
  if (st != GPUDF_OK) return fail(st);
  st = gpudf_table_share(t, name, GPUDF_BACKEND_AUTO, &s);
  if (st != GPUDF_OK) return fail(st);
  printf("shared %" PRIu64 "\n", tg_table_checksum(t));
  fflush(stdout);
  if (stay) wait_forever();
  return 0; /* exit with the share open: the library removes it at exit */
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

static int cmd_run(const char *name, const char *op, const char *lo) {
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
  for (int i = 0; i < 6; i++) printf("%s%.17g", i ? " " : "", res[i]);
  printf("\n");
  gpudf_table_free(v);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 5 && strcmp(argv[1], "share") == 0) return cmd_share(argv[2], argv[3], argv[4], 1);
  if (argc >= 5 && strcmp(argv[1], "share-exit") == 0)
    return cmd_share(argv[2], argv[3], argv[4], 0);
  if (argc >= 3 && strcmp(argv[1], "attach") == 0) return cmd_attach(argv[2], 0);
  if (argc >= 3 && strcmp(argv[1], "attach-hold") == 0) return cmd_attach(argv[2], 1);
  if (argc >= 3 && strcmp(argv[1], "write") == 0) return cmd_write(argv[2]);
  if (argc >= 5 && strcmp(argv[1], "run") == 0) return cmd_run(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: gpudf-test-child share|share-exit|attach|attach-hold|write|run ...\n");
  return 2;
}
