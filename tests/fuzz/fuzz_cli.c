/*
 * fuzz_cli.c - libFuzzer target: gpudf-sweep's command line
 * (samples/sweep_args.c) on fuzzer argument vectors.
 *
 * Input: the arguments, separated by NUL bytes (at most 64; argv[0] is
 * "gpudf-sweep"). The parser must not crash, read out of bounds or leak
 * (ASan), and must answer the same vector the same way twice. A usage
 * error has a non-empty message; a run's strings all point into argv, its
 * numbers obey the flags' rules (workers in range, rows and batch >= 1,
 * timeout > 0 and finite), and the exclusions the parser enforces hold.
 */
#include <gpudf.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_args.h"

enum { MAX_ARGS = 64 };

static int in_argv(const char *p, char **argv, int argc) {
  if (!p) return 1;
  for (int i = 0; i < argc; i++)
    if (p >= argv[i] && p <= argv[i] + strlen(argv[i])) return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = 0;
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = "gpudf-sweep";
  for (char *p = buf; argc <= MAX_ARGS && p <= buf + size; p += strlen(p) + 1) argv[argc++] = p;
  argv[argc] = NULL;

  sweep_args a, b;
  char err[512], err2[512];
  sweep_action act = sweep_parse_args(argc, argv, 2, GPUDF_SWEEP_WORKERS_MAX, &a, err, sizeof err);
  sweep_action act2 = sweep_parse_args(argc, argv, 2, GPUDF_SWEEP_WORKERS_MAX, &b, err2,
                                       sizeof err2);
  if (act != act2 || strcmp(err, err2) != 0) abort();
  if (act == SA_USAGE && err[0] == 0) abort();
  if (act == SA_DESCRIBE && !in_argv(a.describe, argv, argc)) abort();
  if (act == SA_RUN) {
    const char *strings[] = {a.table, a.kernel, a.grid, a.where, a.configs, a.out,
                             a.by,    a.backend, a.plot, a.plot_metric, a.equity};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
      if (!in_argv(strings[i], argv, argc)) abort();
    if (a.nsets < 0 || a.nsets > SA_MAX_SETS) abort();
    for (int i = 0; i < a.nsets; i++)
      if (!in_argv(a.sets[i], argv, argc)) abort();
    if (a.workers < 0 || a.workers > GPUDF_SWEEP_WORKERS_MAX) abort();
    if (a.synthetic != -1 && a.synthetic < 1) abort();
    if (a.batch < 0 || a.top < 1) abort();
    if (a.timeout != 0 && !(a.timeout > 0 && isfinite(a.timeout))) abort();
    if (a.table && a.synthetic > 0) abort();
    if (a.grid && a.configs) abort();
    if (a.equity && (a.grid || a.configs || a.where || a.plot)) abort();
    if (a.timeout > 0 && a.workers == 0) abort();
  }
  free(buf);
  return 0;
}
