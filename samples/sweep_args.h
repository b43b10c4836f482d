/*
 * sweep_args.h - gpudf-sweep's command line, parsed without side effects:
 * no printing, no exit, no workers, so that tests/fuzz/fuzz_cli.c can feed
 * it any argument vector. gpudf_sweep.c's main() acts on the result.
 */
#ifndef GPUDF_SWEEP_ARGS_H
#define GPUDF_SWEEP_ARGS_H

#include <stddef.h>
#include <stdint.h>

enum { SA_MAX_SETS = 64 };

typedef struct sweep_args {
  const char *table, *kernel, *grid, *where, *configs, *out, *by, *backend, *plot, *plot_metric,
      *equity, *series, *devices, *time, *rank, *summary;
  int64_t synthetic, batch, top;
  uint64_t seed;
  int workers, asc, quiet, top_given;
  int workers_per_device; /* --workers-per-device; 0: not given (the library's 1) */
  double timeout;
  int nsets;
  const char *sets[SA_MAX_SETS];
  const char *describe; /* SA_DESCRIBE: the kernel name */
  int quiet_shows_nothing; /* --quiet without --out, --top or --plot (a warning) */
} sweep_args;

/* What the command line asks for. */
typedef enum sweep_action {
  SA_RUN = 0,      /* a sweep (or --equity) with *a */
  SA_HELP,         /* --help, -h */
  SA_VERSION,      /* --version */
  SA_LIST_KERNELS, /* --list-kernels */
  SA_DESCRIBE,     /* --describe NAME: a->describe */
  SA_USAGE         /* a usage error: the message in err (exit status 2) */
} sweep_action;

/* Parses argv[1..argc-1] into *a (strings point into argv). Options are
 * read left to right; --help, --version, --list-kernels and --describe act
 * at once, as they did in main(), and the first usage error stops it with
 * its message (no "gpudf-sweep: " prefix, no newline) in err. workers_default
 * and workers_max are the library's sweep limits. */
sweep_action sweep_parse_args(int argc, char **argv, int workers_default, int workers_max,
                              sweep_args *a, char *err, size_t errlen);

#endif
