/*
 * sweep_args.c - gpudf-sweep's command line into a sweep_args, with a
 * message instead of printing for every usage error (sweep_args.h).
 */
#include "sweep_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sweep_action usage(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sweep_action usage(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return SA_USAGE;
}

static int parse_i64(const char *s, int64_t lo, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo) return -1;
  *out = v;
  return 0;
}

sweep_action sweep_parse_args(int argc, char **argv, int workers_default, int workers_max,
                              sweep_args *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  a->synthetic = -1;
  a->seed = 1;
  a->workers = workers_default;
  a->top = 10;
  if (errlen) err[0] = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return SA_HELP;
    if (strcmp(arg, "--version") == 0) return SA_VERSION;
    if (strcmp(arg, "--list-kernels") == 0) return SA_LIST_KERNELS;
    if (strcmp(arg, "--asc") == 0) { a->asc = 1; continue; }
    if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) { a->quiet = 1; continue; }
    /* Short forms of the common flags: "-o FILE" is "--out FILE". */
    static const char *const shorts[][2] = {{"-t", "--table"}, {"-k", "--kernel"},
                                            {"-g", "--grid"},  {"-w", "--where"},
                                            {"-s", "--set"},   {"-j", "--workers"},
                                            {"-o", "--out"},   {"-p", "--plot"}};
    for (size_t v = 0; v < sizeof shorts / sizeof *shorts; v++)
      if (strcmp(arg, shorts[v][0]) == 0) arg = shorts[v][1];
    /* flags with a value: "--flag VALUE" or "--flag=VALUE" */
    static const char *const valued[] = {"--table", "--synthetic", "--seed", "--kernel",
                                         "--grid", "--where", "--configs", "--set",
                                         "--workers", "--backend", "--batch", "--timeout",
                                         "--out", "--top", "--by", "--describe", "--plot",
                                         "--plot-metric", "--equity", "--series",
                                         "--devices", "--time", "--rank", "--summary",
                                         "--workers-per-device"};
    const char *val = NULL;
    char flag[64];
    const char *eq = strchr(arg, '=');
    size_t flen = eq && strncmp(arg, "--", 2) == 0 ? (size_t)(eq - arg) : strlen(arg);
    if (flen >= sizeof flag) flen = sizeof flag - 1;
    memcpy(flag, arg, flen);
    flag[flen] = 0;
    int known = 0;
    for (size_t v = 0; v < sizeof valued / sizeof *valued; v++)
      if (strcmp(flag, valued[v]) == 0) known = 1;
    if (!known) {
      if (arg[0] == '-') return usage(err, errlen, "unknown flag %s", flag);
      return usage(err, errlen, "unexpected argument '%s'", arg);
    }
    if (eq && flen == (size_t)(eq - arg)) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) return usage(err, errlen, "%s needs a value", flag);
      val = argv[++i];
    }
    int64_t v64;
    if (strcmp(flag, "--describe") == 0) {
      a->describe = val;
      return SA_DESCRIBE;
    } else if (strcmp(flag, "--table") == 0) a->table = val;
    else if (strcmp(flag, "--synthetic") == 0) {
      if (parse_i64(val, 1, &a->synthetic) != 0)
        return usage(err, errlen, "--synthetic needs a row count >= 1, got '%s'", val);
    } else if (strcmp(flag, "--seed") == 0) {
      if (parse_i64(val, 0, &v64) != 0)
        return usage(err, errlen, "--seed needs an integer >= 0, got '%s'", val);
      a->seed = (uint64_t)v64;
    } else if (strcmp(flag, "--kernel") == 0) a->kernel = val;
    else if (strcmp(flag, "--grid") == 0) a->grid = val;
    else if (strcmp(flag, "--where") == 0) a->where = val;
    else if (strcmp(flag, "--configs") == 0) a->configs = val;
    else if (strcmp(flag, "--set") == 0) {
      if (a->nsets == SA_MAX_SETS)
        return usage(err, errlen, "more than %d --set flags", SA_MAX_SETS);
      a->sets[a->nsets++] = val;
    } else if (strcmp(flag, "--workers") == 0) {
      if (parse_i64(val, 0, &v64) != 0 || v64 > workers_max)
        return usage(err, errlen, "--workers needs 0..%d, got '%s'", workers_max, val);
      a->workers = (int)v64;
    } else if (strcmp(flag, "--workers-per-device") == 0) {
      if (parse_i64(val, 1, &v64) != 0 || v64 > workers_max)
        return usage(err, errlen, "--workers-per-device needs 1..%d, got '%s'", workers_max,
                     val);
      a->workers_per_device = (int)v64;
    } else if (strcmp(flag, "--backend") == 0) a->backend = val;
    else if (strcmp(flag, "--batch") == 0) {
      if (parse_i64(val, 1, &a->batch) != 0)
        return usage(err, errlen, "--batch needs an integer >= 1, got '%s'", val);
    } else if (strcmp(flag, "--timeout") == 0) {
      char *end;
      a->timeout = strtod(val, &end);
      if (end == val || *end || !(a->timeout > 0) || !isfinite(a->timeout))
        return usage(err, errlen, "--timeout needs seconds > 0, got '%s'", val);
    } else if (strcmp(flag, "--out") == 0) a->out = val;
    else if (strcmp(flag, "--top") == 0) {
      if (parse_i64(val, 1, &a->top) != 0)
        return usage(err, errlen, "--top needs an integer >= 1, got '%s'", val);
      a->top_given = 1;
    } else if (strcmp(flag, "--by") == 0) a->by = val;
    else if (strcmp(flag, "--plot") == 0) a->plot = val;
    else if (strcmp(flag, "--plot-metric") == 0) a->plot_metric = val;
    else if (strcmp(flag, "--equity") == 0) a->equity = val;
    else if (strcmp(flag, "--series") == 0) a->series = val;
    else if (strcmp(flag, "--devices") == 0) a->devices = val;
    else if (strcmp(flag, "--time") == 0) a->time = val;
    else if (strcmp(flag, "--summary") == 0) a->summary = val;
    else if (strcmp(flag, "--rank") == 0) {
      if (strcmp(val, "configs") != 0 && strcmp(val, "rows") != 0)
        return usage(err, errlen, "--rank needs configs or rows, got '%s'", val);
      a->rank = val;
    }
  }
  if (a->time && (!a->series || strcmp(a->series, "none") == 0))
    return usage(err, errlen, "--time %s orders the rows within each series: it needs "
                 "--series COL", a->time);
  if (a->table && a->synthetic > 0)
    return usage(err, errlen, "--table and --synthetic exclude each other");
  if (a->grid && a->configs) return usage(err, errlen, "--grid and --configs exclude each other");
  if (a->equity && (a->grid || a->configs || a->where || a->plot))
    return usage(err, errlen, "--equity runs one config: no --grid, --configs, --where or --plot");
  if (a->timeout > 0 && a->workers == 0)
    return usage(err, errlen, "--timeout needs --workers >= 1");
  a->quiet_shows_nothing = a->quiet && !a->out && !a->top_given && !a->plot;
  return SA_RUN;
}
