/*
 * gpudf_sweep.c - gpudf-sweep: run a kernel over a grid of configs on a CSV
 * file or a synthetic table, in worker processes that share one copy of the
 * table, and write/print the results. See usage() or docs/cli.md.
 *
 * Exit codes: 0 every config ok, 1 some configs failed/timed out/cancelled,
 * 2 usage error, 3 runtime error.
 */
#include <gpudf.h>

#include "equity_csv.h"
#include "plot_svg.h"
#include "sweep_args.h"
#include "sweep_grid.h"
#ifdef GPUDF_SWEEP_MPI
#include "sweep_mpi.h" /* gpudf-sweep-mpi: the sweep runs over every MPI rank */
#else
#include "sweep_launch.h" /* under mpirun with several ranks: exec gpudf-sweep-mpi */
#endif

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Whether the summary has the equal-weight portfolio (not across MPI ranks). */
#ifdef GPUDF_SWEEP_MPI
#define GPUDF_SWEEP_PORTFOLIO 0
#else
#define GPUDF_SWEEP_PORTFOLIO 1
#endif

enum { EXIT_SOME_FAILED = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

#define DEFAULT_ROWS 10000000LL
#define DEFAULT_GRID "fast=5:100:5 slow=20:250:5 fee_bps=0,0.5 mode=long_only,long_short"
#define DEFAULT_WHERE "fast < slow"
#define MAX_CONFIGS 50000000LL
/* The synthetic table's price: one-second bars of 6.5-hour trading days, 252
 * days a year, 20% annual volatility; so 10M bars are ~1.7 years, and the
 * sweep's periods_per_year (when the kernel has one and it is not given)
 * is SYN_PERIODS_PER_YEAR, so that returns and Sharpe ratios are annualized
 * as for such data. */
#define SYN_BARS_PER_DAY 23400
#define SYN_DAYS_PER_YEAR 252
#define SYN_PERIODS_PER_YEAR (SYN_BARS_PER_DAY * SYN_DAYS_PER_YEAR)
#define SYN_ANNUAL_VOL 0.20
#define SYN_PPY_TEXT "5896800"

static const char *usage_text =
    "usage: gpudf-sweep [--table FILE.csv | --synthetic ROWS] [--seed N]\n"
    "                   [--kernel NAME] [--grid SPEC] [--where EXPR] [--configs FILE.csv]\n"
    "                   [--set NAME=VALUE ...] [--workers N]\n"
    "                   [--backend auto|cuda-ipc|cuda-pinned|cpu] [--devices all|LIST]\n"
    "                   [--batch N] [--timeout SECONDS]\n"
    "                   [--series COL|none] [--time COL]\n"
    "                   [--out FILE.csv|-] [--top K] [--by FIELD] [--asc] [--quiet]\n"
    "                   [--rank configs|rows] [--summary FILE.csv]\n"
    "                   [--plot FILE.svg] [--plot-metric FIELD]\n"
    "       gpudf-sweep --equity 'fast=F slow=S ...' [--table FILE.csv] [--set ...] [--out FILE.csv]\n"
    "       gpudf-sweep --list-kernels | --describe NAME | --version | --help\n"
    "\n"
    "Runs a libgpudf kernel over many configs on one table kept once in shared memory,\n"
    "in worker processes that attach to it without a copy.\n"
    "\n"
    "With no arguments: a synthetic table of 10,000,000 rows (price: a geometric random\n"
    "walk of one-second bars, 6.5-hour days, 20% annual volatility, ~1.7 years; volume,\n"
    "key 0..99, x, y) and ma_crossover (periods_per_year=5896800, as for that data) over\n"
    "the default grid\n"
    "  --grid '" DEFAULT_GRID "' --where '" DEFAULT_WHERE "'\n"
    "(2,952 configs after the filter), printing the placement, timings, memory and the\n"
    "top 10 configs by sharpe.\n"
    "\n"
    "Table\n"
    "  -t, --table FILE.csv  read a CSV with a header row (types inferred; text columns\n"
    "                        become categorical; '-' reads standard input)\n"
    "                                                   e.g. --table prices.csv\n"
    "  --synthetic ROWS      the synthetic table with ROWS rows (default 10000000)\n"
    "                                                   e.g. --synthetic 100000\n"
    "  --seed N              seed of the synthetic table (default 1)   e.g. --seed 7\n"
    "Configs\n"
    "  -k, --kernel NAME     kernel to run (default ma_crossover)  e.g. --kernel filter_agg\n"
    "  -g, --grid SPEC       NAME=start:stop:step (stop excluded, step > 0, may be\n"
    "                        fractional) or NAME=a,b,c (numbers, choice names, column\n"
    "                        names); the configs are the Cartesian product (at most\n"
    "                        50,000,000)   e.g. --grid 'fast=5:100:5 slow=20:250:10 mode=long_only,long_short'\n"
    "  -w, --where EXPR      keep configs where every comparison holds (<, <=, >, >=,\n"
    "                        ==, != between parameter names and numbers, joined by\n"
    "                        'and')         e.g. --where 'fast < slow and fee_bps <= 5'\n"
    "  --configs FILE.csv    configs from a CSV instead of --grid: one column per\n"
    "                        parameter, by name; choice/column parameters by name\n"
    "                                       e.g. --configs my_configs.csv\n"
    "  -s, --set NAME=VALUE  fix a parameter not in the grid (repeatable); the others\n"
    "                        take their defaults     e.g. --set value_col=volume\n"
    "Execution\n"
    "  -j, --workers N       worker processes (default: one per core, or per GPU; 0 runs\n"
    "                        in this process: a thread per GPU) e.g. --workers 2\n"
    "  --workers-per-device N  GPU placements: N workers (or threads) per device for\n"
    "                        the default above and --workers 0 (default 1)\n"
    "                                                e.g. --workers-per-device 2\n"
    "  --backend B           placement: auto (default), cuda-ipc, cuda-pinned, cpu\n"
    "                                                e.g. --backend cpu\n"
    "  --devices all|LIST    GPUs that get a replica of the table (cuda-ipc): all visible\n"
    "                        (default), or ordinals and UUIDs, comma-separated; sets\n"
    "                        GPUDF_DEVICES for the run    e.g. --devices 0,2\n"
    "  --batch N             most configs per claim (default automatic) e.g. --batch 64\n"
    "  --series COL|none     the column naming the series of a long table (symbol,date,close):\n"
    "                        each config runs on each series' rows alone, one row per config and\n"
    "                        series; required (or none) when a categorical column's labels come\n"
    "                        in runs or cycle and the kernel depends on row order (docs/sweep.md)\n"
    "  --time COL            with --series: order each series' rows by COL, a numeric column\n"
    "                        or ISO-8601 dates/timestamps (YYYY-MM-DD[THH:MM[:SS]]); other\n"
    "                        date formats are refused   e.g. --time date\n"
    "  --timeout SECONDS     per-config time limit (needs --workers >= 1) e.g. --timeout 30\n"
    "Output\n"
    "  -o, --out FILE.csv|-  write every config: parameters, results, status (ok, failed,\n"
    "                        timeout, cancelled), error; '-' is stdout (then the summary\n"
    "                        goes to stderr)         e.g. --out results.csv\n"
    "  --top K               print the best K configs as a table (default 10 unless\n"
    "                        --quiet)                e.g. --top 5\n"
    "  --by FIELD            result or parameter to rank by (default sharpe when the\n"
    "                        kernel has it, else its first result)  e.g. --by mean\n"
    "  --asc                 rank ascending (default descending; NaN always last)\n"
    "  --rank configs|rows   with --series: rank configs by their aggregates across series\n"
    "                        (default; --by mean_sharpe, median_sharpe, positive, series_ok,\n"
    "                        and with --time portfolio_sharpe, portfolio_return)\n"
    "                        or the (config, series) rows by a result\n"
    "  --summary FILE.csv    with --series: one row per config with its aggregates across\n"
    "                        series (mean_sharpe, median_sharpe, positive, series_ok, series;\n"
    "                        with --time the equal-weight portfolio's portfolio_return,\n"
    "                        portfolio_sharpe, portfolio_bars; NaN without)\n"
    "  -q, --quiet           no summary\n"
    "  -p, --plot FILE.svg   a picture of the results: a heatmap of --plot-metric over the\n"
    "                        first two swept parameters (best over any others), or a line\n"
    "                        for one; the best config is marked  e.g. --plot sharpe.svg\n"
    "  --plot-metric FIELD   the result to plot (default: the --by field)\n"
    "  --equity SPEC         instead of a sweep: one ma_crossover config (NAME=VALUE ...,\n"
    "                        the rest from --set or defaults) bar by bar to --out (default\n"
    "                        stdout): price, moving averages, position, equity, drawdown\n"
    "                                       e.g. --equity 'fast=15 slow=40' --out curve.csv\n"
    "Information\n"
    "  --list-kernels        the kernels and what they compute\n"
    "  --describe NAME       a kernel's parameters (kind, range, default, choices) and\n"
    "                        results                 e.g. --describe groupby_agg\n"
    "  --version, --help\n"
    "\n"
    "Exit status: 0 all configs ok, 1 some configs failed, 2 usage error, 3 runtime error.\n"
    "Ctrl-C or SIGTERM stops the sweep: the configs that finished are written (--out,\n"
    "summary, top), then the program ends by that signal (shell status 130 or 143).\n";

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("gpudf-sweep: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see --help)\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

/* The library's message without the name of the call it came from
 * ("gpudf_table_read_csv: "): a person at the command line did not call it. */
static const char *plain_error(void) {
  const char *msg = gpudf_last_error();
  if (strncmp(msg, "gpudf_", 6) != 0) return msg;
  size_t n = strspn(msg + 6, "abcdefghijklmnopqrstuvwxyz_0123456789");
  return strncmp(msg + 6 + n, ": ", 2) == 0 ? msg + 6 + n + 2 : msg;
}

static int runtime_error(const char *what, gpudf_status st) {
  fprintf(stderr, "gpudf-sweep: %s: %s\n  %s\n", what, gpudf_status_str(st), plain_error());
  return EXIT_RUNTIME;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *kind_name(gpudf_param_kind kind) {
  switch (kind) {
  case GPUDF_PARAM_COLUMN: return "column";
  case GPUDF_PARAM_INTEGER: return "integer";
  case GPUDF_PARAM_REAL: return "real";
  case GPUDF_PARAM_CHOICE: return "choice";
  }
  return "?";
}

/* ------------------------------------------------------- kernel listings */

static int list_kernels(void) {
  for (int i = 0; i < gpudf_kernel_count(); i++) {
    const gpudf_kernel *k = gpudf_kernel_at(i);
    printf("%-14s %s\n", gpudf_kernel_name(k), gpudf_kernel_summary(k));
  }
  return 0;
}

/* Whole numbers in full (1000000000, not 1e+09), others in %g. */
static void readable(double v, char *buf, size_t len) {
  if (isfinite(v) && v == floor(v) && fabs(v) < 1e17) snprintf(buf, len, "%.0f", v);
  else snprintf(buf, len, "%g", v);
}

static int describe(const char *name) {
  const gpudf_kernel *k;
  if (gpudf_kernel_find(name, &k) != GPUDF_OK)
    return usage_error("unknown kernel '%s'; --list-kernels lists them", name);
  printf("%s: %s\n\nparameters:\n", gpudf_kernel_name(k), gpudf_kernel_summary(k));
  for (int i = 0; i < gpudf_kernel_nparams(k); i++) {
    gpudf_param_info p;
    if (gpudf_kernel_param(k, i, &p) != GPUDF_OK) continue;
    printf("  %-18s %-8s", p.name, kind_name(p.kind));
    /* A lower bound of the smallest positive double means "> 0". */
    if (p.kind == GPUDF_PARAM_INTEGER || p.kind == GPUDF_PARAM_REAL) {
      char lo[40], hi[40];
      readable(p.min, lo, sizeof lo);
      readable(p.max, hi, sizeof hi);
      if (p.min > 0 && p.min < 1e-300)
        printf(" range (0, %s]", hi);
      else
        printf(" range [%s, %s]", lo, hi);
    }
    if (p.kind == GPUDF_PARAM_CHOICE) {
      printf(" choices ");
      for (int c = 0; c < p.nchoices; c++) printf("%s%s", c ? "," : "", p.choices[c]);
      printf(" default %s", p.def >= 0 && p.def < p.nchoices ? p.choices[(int)p.def] : "?");
    } else if (p.kind == GPUDF_PARAM_COLUMN) {
      int m = gpudf_kernel_param_accepts(k, i), first = 1;
      static const char *const tn[] = {"", "i32", "i64", "f32", "f64", "bool", "categorical"};
      printf(" types ");
      for (int b = 1; b <= 6; b++)
        if (m & (1 << b)) printf("%s%s", first ? "" : ",", tn[b]), first = 0;
      printf(" default the first such column");
    } else {
      printf(" default %g", p.def);
    }
    if (p.shape) printf(" (shape: equal in every config)");
    printf("\n      %s\n", p.summary ? p.summary : "");
  }
  int nr = gpudf_kernel_nresults(k, NULL);
  printf("\nresults (with the default parameters, %d):\n", nr);
  for (int i = 0; i < nr; i++) {
    gpudf_result_info r;
    if (gpudf_kernel_result(k, NULL, i, &r) != GPUDF_OK) continue;
    printf("  %-18s %s\n", r.name, r.summary ? r.summary : "");
  }
  return 0;
}

/* ------------------------------------------------------- synthetic table */

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double uniform(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) * 0x1p-53; }
static double normal(uint64_t *s) {
  return sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
}

static gpudf_status synthetic(int64_t rows, uint64_t seed, gpudf_table **out) {
  gpudf_table *t = NULL;
  gpudf_status st = gpudf_table_create(rows, &t);
  if (st != GPUDF_OK) return st;
  static const char *const names[] = {"price", "volume", "key", "x", "y"};
  static const gpudf_type types[] = {GPUDF_TYPE_F64, GPUDF_TYPE_F64, GPUDF_TYPE_I32,
                                     GPUDF_TYPE_F64, GPUDF_TYPE_F64};
  for (int c = 0; c < 5; c++) {
    void *p;
    st = gpudf_table_alloc_column(t, names[c], types[c], &p);
    if (st != GPUDF_OK) {
      gpudf_table_free(t);
      return st;
    }
  }
  /* Pointers move with every add: fetch them after the last one. */
  double *price = (double *)gpudf_table_column_data(t, 0);
  double *volume = (double *)gpudf_table_column_data(t, 1);
  int32_t *key = (int32_t *)gpudf_table_column_data(t, 2);
  double *x = (double *)gpudf_table_column_data(t, 3);
  double *y = (double *)gpudf_table_column_data(t, 4);
  uint64_t s = seed * 0x2545F4914F6CDD1DULL + 1;
  double p = 100.0;
  const double sigma = SYN_ANNUAL_VOL / sqrt((double)SYN_PERIODS_PER_YEAR);
  for (int64_t i = 0; i < rows; i++) {
    /* a regime-switching drift (0.4% of a bar's volatility, half-period ~0.7
     * days) so that crossovers have something to find */
    double drift = 0.004 * sigma * sin((double)i / 5000.0);
    p *= exp(drift + sigma * normal(&s));
    price[i] = p;
    volume[i] = floor(1000.0 * uniform(&s) * uniform(&s)) + 1.0;
    key[i] = (int32_t)(splitmix(&s) % 100);
    x[i] = normal(&s);
    y[i] = 0.5 * x[i] + normal(&s);
  }
  *out = t;
  return GPUDF_OK;
}

/* ---------------------------------------------------------- output files */

/* An output file (--out, and any other file the program writes) is opened
 * before the sweep, so that a path it cannot write fails in a second, not
 * after the whole sweep. A regular file is written to a temporary file
 * next to it (".NAME.XXXXXX", same directory, so the same file system) and
 * renamed over NAME once complete: an error or a kill while writing leaves
 * NAME as it was, never half-written, and an earlier NAME is kept until
 * then. '-' is stdout; a path that exists and is not a regular file
 * (/dev/null, a FIFO, /dev/stdout) is opened and written in place. */
typedef struct out_file {
  const char *path; /* as given; NULL: none */
  char *tmp;        /* the temporary file, renamed to dest by out_commit */
  char *dest;       /* the regular file it becomes (a symlink's target) */
  FILE *f;
} out_file;

static int out_fail(out_file *o, const char *what) {
  fprintf(stderr, "gpudf-sweep: cannot write '%s': %s%s\n", o->path, what ? what : "",
          what ? "" : strerror(errno));
  return -1;
}

/* Drops what was written (the temporary file); harmless when committed. */
static void out_discard(out_file *o) {
  if (o->f && o->f != stdout) fclose(o->f);
  if (o->tmp) unlink(o->tmp);
  free(o->tmp);
  free(o->dest);
  memset(o, 0, sizeof *o);
}

/* Where a temporary file for dest goes: "DIR/.BASE.XXXXXX". */
static char *out_tmp_name(const char *dest) {
  const char *slash = strrchr(dest, '/');
  size_t dir = slash ? (size_t)(slash - dest) + 1 : 0;
  size_t len = strlen(dest) + 16;
  char *t = malloc(len);
  if (t) snprintf(t, len, "%.*s.%s.XXXXXX", (int)dir, dest, dest + dir);
  return t;
}

/* Opens o->f for path (NULL: nothing to do). 0, or -1 with a message. */
static int out_open(out_file *o, const char *path) {
  memset(o, 0, sizeof *o);
  o->path = path;
  if (!path) return 0;
  if (strcmp(path, "-") == 0) {
    o->f = stdout;
    return 0;
  }
  struct stat st;
  bool exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return out_fail(o, "it is a directory");
  if (exists && !S_ISREG(st.st_mode)) {
    o->f = fopen(path, "w");
    return o->f ? 0 : out_fail(o, NULL);
  }
  /* An existing file this user may not write is refused as fopen would,
   * though its directory would let a rename replace it. */
  if (exists && access(path, W_OK) != 0) return out_fail(o, NULL);
  o->dest = exists ? realpath(path, NULL) : strdup(path); /* through a symlink */
  char *tmp = o->dest ? out_tmp_name(o->dest) : NULL;
  int fd = tmp ? mkstemp(tmp) : -1;
  if (fd < 0) {
    int rc = out_fail(o, NULL);
    free(tmp);
    out_discard(o);
    return rc;
  }
  o->tmp = tmp;
  /* mkstemp makes it 0600: give it the mode fopen would (an existing
   * file's own, else 0666 less the umask). */
  mode_t mask = umask(0);
  umask(mask);
  (void)fchmod(fd, exists ? (st.st_mode & 07777) : (0666 & ~mask));
  o->f = fdopen(fd, "w");
  if (!o->f) {
    int rc = out_fail(o, NULL);
    close(fd);
    out_discard(o); /* unlinks the temporary file */
    return rc;
  }
  return 0;
}

/* Closes o->f after write_ok (the writer's own verdict) and puts the file
 * in place; on any error discards it. 0, or -1 with a message. */
static int out_commit(out_file *o, bool write_ok) {
  if (!o->f) return 0;
  bool ok = write_ok && fflush(o->f) == 0 && !ferror(o->f);
  if (o->f != stdout) {
    ok &= fclose(o->f) == 0;
    o->f = NULL;
  }
  if (ok && o->tmp) ok = rename(o->tmp, o->dest) == 0;
  int rc = 0;
  if (!ok) {
    fprintf(stderr, "gpudf-sweep: error writing '%s': %s\n", o->path, strerror(errno));
    rc = -1;
  }
  if (ok && o->tmp) {
    free(o->tmp);
    o->tmp = NULL;
  }
  out_discard(o);
  return rc;
}

/* ---------------------------------------------------------------- output */

static const char *state_name(gpudf_config_state s) {
  switch (s) {
  case GPUDF_CONFIG_DONE: return "ok";
  case GPUDF_CONFIG_FAILED: return "failed";
  case GPUDF_CONFIG_TIMED_OUT: return "timeout";
  case GPUDF_CONFIG_CANCELLED: return "cancelled";
  default: return "failed";
  }
}

static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

typedef struct job {
  const gpudf_kernel *k;
  const gpudf_table *t;
  int np, nr;
  int64_t n;
  const double *cfg, *res;
  gpudf_sweep_result *r;
  gpudf_result_info *rinfo;
} job;

static int write_csv(const job *j, FILE *f) {
  int with_series = *gpudf_sweep_result_series(j->r, 0) != 0;
  if (with_series) fputs("series,", f);
  for (int p = 0; p < j->np; p++) {
    gpudf_param_info pi;
    gpudf_kernel_param(j->k, p, &pi);
    fprintf(f, "%s,", pi.name);
  }
  for (int c = 0; c < j->nr; c++) fprintf(f, "%s,", j->rinfo[c].name);
  fputs("status,error\n", f);
  char buf[128];
  for (int64_t i = 0; i < j->n; i++) {
    if (with_series) {
      csv_field(f, gpudf_sweep_result_series(j->r, i));
      fputc(',', f);
    }
    for (int p = 0; p < j->np; p++) {
      sg_format_value(j->k, j->t, p, j->cfg[i * j->np + p], buf, sizeof buf);
      csv_field(f, buf);
      fputc(',', f);
    }
    for (int c = 0; c < j->nr; c++) fprintf(f, "%.17g,", j->res[i * j->nr + c]);
    fprintf(f, "%s,", state_name(gpudf_sweep_result_state(j->r, i)));
    csv_field(f, gpudf_sweep_result_reason(j->r, i));
    fputc('\n', f);
  }
  return ferror(f) ? -1 : 0;
}

/* The aggregates across series of a config (gpudf_series_summary), as
 * the columns of --summary and of --top's table with --series. */
enum { SUMMARY_FIELDS = 8 };
static const gpudf_result_info summary_info[SUMMARY_FIELDS] = {
    {"mean_sharpe", "mean of the finite Sharpe ratios of the config's series"},
    {"median_sharpe", "their median"},
    {"positive", "fraction of the finished series with total_return > 0"},
    {"series_ok", "series whose row finished"},
    {"series", "series in the table"},
    {"portfolio_return", "total return of the equal-weight portfolio of the finished series "
                         "(needs --time)"},
    {"portfolio_sharpe", "its Sharpe ratio (needs --time)"},
    {"portfolio_bars", "time stamps with a portfolio return (needs --time)"},
};

/* --summary FILE.csv: one row per config, its parameters and aggregates. */
static int write_summary(const job *j, const char *path) {
  out_file o;
  if (out_open(&o, path) != 0) return -1;
  FILE *f = o.f;
  for (int p = 0; p < j->np; p++) {
    gpudf_param_info pi;
    gpudf_kernel_param(j->k, p, &pi);
    fprintf(f, "%s,", pi.name);
  }
  for (int c = 0; c < j->nr; c++) fprintf(f, "%s%c", j->rinfo[c].name, c + 1 < j->nr ? ',' : '\n');
  char buf[128];
  for (int64_t i = 0; i < j->n; i++) {
    for (int p = 0; p < j->np; p++) {
      sg_format_value(j->k, j->t, p, j->cfg[i * j->np + p], buf, sizeof buf);
      csv_field(f, buf);
      fputc(',', f);
    }
    for (int c = 0; c < j->nr; c++)
      fprintf(f, "%.17g%c", j->res[i * j->nr + c], c + 1 < j->nr ? ',' : '\n');
  }
  return out_commit(&o, !ferror(f));
}

static const double *g_key;
static int64_t g_stride;
static int g_asc;
static int cmp_idx(const void *a, const void *b) {
  double x = g_key[*(const int64_t *)a * g_stride], y = g_key[*(const int64_t *)b * g_stride];
  int xn = isnan(x), yn = isnan(y);
  if (xn || yn) return xn - yn;
  if (x == y) return (*(const int64_t *)a > *(const int64_t *)b) - (*(const int64_t *)a < *(const int64_t *)b);
  return g_asc ? (x < y ? -1 : 1) : (x > y ? -1 : 1);
}

/* Prints the best k configs by field (a result or a parameter). */
static int print_top(const job *j, FILE *f, int64_t k, const char *by, int asc) {
  int res_idx = -1, par_idx = -1;
  for (int c = 0; c < j->nr; c++)
    if (strcmp(j->rinfo[c].name, by) == 0) res_idx = c;
  if (res_idx < 0 && gpudf_kernel_param_index(j->k, by, &par_idx) != GPUDF_OK) par_idx = -1;
  if (res_idx < 0 && par_idx < 0) return -1;
  if (j->n == 0) return 0;
  int64_t *idx = malloc((size_t)j->n * sizeof *idx);
  if (!idx) return -1;
  for (int64_t i = 0; i < j->n; i++) idx[i] = i;
  g_key = res_idx >= 0 ? j->res + res_idx : j->cfg + par_idx;
  g_stride = res_idx >= 0 ? j->nr : j->np;
  g_asc = asc;
  qsort(idx, (size_t)j->n, sizeof *idx, cmp_idx);
  if (k > j->n) k = j->n;
  /* Columns: rank, parameters, results (all when few, else the ranked one). */
  int ncol = 0;
  int cols[64 + 16]; /* >= 0: parameter; < 0: -(result+1) */
  for (int p = 0; p < j->np && ncol < 64; p++) cols[ncol++] = p;
  if (j->nr <= 12) {
    for (int c = 0; c < j->nr; c++) cols[ncol++] = -(c + 1);
  } else if (res_idx >= 0) {
    cols[ncol++] = -(res_idx + 1);
  }
  int width[80];
  char buf[128];
  /* (config, series) rows carry their series' label first. */
  int with_series = j->r && *gpudf_sweep_result_series(j->r, 0) != 0, sw = 6;
  for (int64_t r = 0; with_series && r < k; r++) {
    int w = (int)strlen(gpudf_sweep_result_series(j->r, idx[r]));
    sw = w > sw ? w : sw;
  }
  for (int c = 0; c < ncol; c++) {
    const char *h;
    gpudf_param_info pi;
    if (cols[c] >= 0) {
      gpudf_kernel_param(j->k, cols[c], &pi);
      h = pi.name;
    } else {
      h = j->rinfo[-cols[c] - 1].name;
    }
    width[c] = (int)strlen(h);
    for (int64_t r = 0; r < k; r++) {
      int64_t i = idx[r];
      if (cols[c] >= 0)
        sg_format_value(j->k, j->t, cols[c], j->cfg[i * j->np + cols[c]], buf, sizeof buf);
      else
        snprintf(buf, sizeof buf, "%.6g", j->res[i * j->nr + (-cols[c] - 1)]);
      if ((int)strlen(buf) > width[c]) width[c] = (int)strlen(buf);
    }
  }
  fprintf(f, "%4s", "rank");
  if (with_series) fprintf(f, "  %*s", sw, "series");
  for (int c = 0; c < ncol; c++) {
    gpudf_param_info pi;
    const char *h;
    if (cols[c] >= 0) {
      gpudf_kernel_param(j->k, cols[c], &pi);
      h = pi.name;
    } else {
      h = j->rinfo[-cols[c] - 1].name;
    }
    fprintf(f, "  %*s", width[c], h);
  }
  fputc('\n', f);
  for (int64_t r = 0; r < k; r++) {
    int64_t i = idx[r];
    fprintf(f, "%4lld", (long long)r + 1);
    if (with_series) fprintf(f, "  %*s", sw, gpudf_sweep_result_series(j->r, idx[r]));
    for (int c = 0; c < ncol; c++) {
      if (cols[c] >= 0)
        sg_format_value(j->k, j->t, cols[c], j->cfg[i * j->np + cols[c]], buf, sizeof buf);
      else
        snprintf(buf, sizeof buf, "%.6g", j->res[i * j->nr + (-cols[c] - 1)]);
      fprintf(f, "  %*s", width[c], buf);
    }
    fputc('\n', f);
  }
  free(idx);
  return 0;
}

static long vm_hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) v = strtol(line + 6, NULL, 10);
  fclose(f);
  return v;
}

static void human(double v, char *buf, size_t len) {
  if (v >= 1e9) snprintf(buf, len, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, len, "%.2fM", v / 1e6);
  else if (v >= 1e3) snprintf(buf, len, "%.2fk", v / 1e3);
  else snprintf(buf, len, "%.3g", v);
}

/* ------------------------------------------------------------------ main */

typedef sweep_args args;

static int run(const args *a);
/* --equity: one config's curve to --out (or stdout); an exit status. */
static int write_equity(const args *a, const gpudf_table *t, const double *configs, int64_t n);
/* --table -: standard input copied into an anonymous file (the CSV reader
 * maps its file), named as /proc/self/fd/N. 0 on success. */
static int stdin_to_file(char *path, size_t len);
/* --plot: 0 when written, else -1 with the message printed. */
static int write_plot(const job *j, const args *a, const char *by);
/* What to do after the first run, said once, at the end of the summary. */
static void print_next_steps(const args *a, const char *kname, FILE *f);

/* The signal that stopped the sweep, raised again once run() is done. */
static int stop_signal;

int main(int argc, char **argv) {
#ifndef GPUDF_SWEEP_MPI
  sweep_launch_mpi(argc, argv); /* returns unless an MPI launcher started several ranks */
#endif
  args a;
  char err[512];
  switch (sweep_parse_args(argc, argv, GPUDF_SWEEP_WORKERS_DEFAULT, GPUDF_SWEEP_WORKERS_MAX, &a,
                           err, sizeof err)) {
  case SA_HELP: fputs(usage_text, stdout); return 0;
  case SA_VERSION:
    printf("gpudf-sweep %s (libgpudf %s)\n", gpudf_version(), gpudf_version());
    return 0;
  case SA_LIST_KERNELS: return list_kernels();
  case SA_DESCRIBE: return describe(a.describe);
  case SA_USAGE: return usage_error("%s", err);
  case SA_RUN: break;
  }
  if (a.quiet_shows_nothing)
    fputs("gpudf-sweep: --quiet without --out, --top or --plot: nothing will be written or "
          "shown\n", stderr);
  int rc = run(&a);
  if (stop_signal) {
    fflush(NULL);
    signal(stop_signal, SIG_DFL);
    raise(stop_signal);
  }
  return rc;
}

/* Per device its workers ran on (cuda-ipc: one replica each): configs and
 * kernel time, summed over its workers. Nothing on the cpu. */
static void print_devices(const gpudf_sweep_result *r, FILE *info) {
#ifdef GPUDF_SWEEP_MPI
  /* Workers are per rank under MPI and not gathered on rank 0 (docs/mpi.md). */
  (void)r;
  (void)info;
#else
  enum { MAXDEV = 16 };
  char dev[MAXDEV][48];
  int64_t configs[MAXDEV] = {0};
  double busy[MAXDEV] = {0};
  int workers[MAXDEV] = {0}, ndev = 0;
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info w;
    if (gpudf_sweep_result_worker(r, i, &w) != GPUDF_OK || !w.device[0]) continue;
    int k = 0;
    while (k < ndev && strcmp(dev[k], w.device) != 0) k++;
    if (k == ndev) {
      if (ndev == MAXDEV) continue;
      snprintf(dev[ndev++], sizeof dev[0], "%s", w.device);
    }
    configs[k] += w.configs;
    busy[k] += w.busy_s;
    workers[k]++;
  }
  for (int k = 0; k < ndev; k++)
    fprintf(info, "  device   %s: %lld configs, %.2f s in kernels, %d worker%s\n", dev[k],
            (long long)configs[k], busy[k], workers[k], workers[k] == 1 ? "" : "s");
#endif
}

static int run(const args *a) {
  const char *kname = a->kernel ? a->kernel : "ma_crossover";
  const gpudf_kernel *k;
  if (gpudf_kernel_find(kname, &k) != GPUDF_OK)
    return usage_error("unknown kernel '%s'; --list-kernels lists them", kname);
  gpudf_backend backend = GPUDF_BACKEND_AUTO;
  if (a->backend && gpudf_backend_parse(a->backend, &backend) != GPUDF_OK)
    return usage_error("unknown backend '%s' (auto, cuda-ipc, cuda-pinned, cpu)", a->backend);
  /* The sweep shares the table: the list reaches it as GPUDF_DEVICES, which
   * the library parses (and refuses with a message naming the entry). */
  if (a->devices && setenv("GPUDF_DEVICES", a->devices, 1) != 0)
    return usage_error("cannot set GPUDF_DEVICES for --devices '%s'", a->devices);
  FILE *info = a->out && strcmp(a->out, "-") == 0 ? stderr : stdout;
  out_file out_csv;
  if (out_open(&out_csv, a->out) != 0) return EXIT_RUNTIME;

  int rc = EXIT_RUNTIME;
  gpudf_table *t = NULL, *ct = NULL;
  double *configs = NULL, *results = NULL, *summary = NULL, *summary_cfg = NULL;
  gpudf_sweep_result *r = NULL;
  gpudf_result_info *rinfo = NULL;
  gpudf_status st;
  double t0 = now();

  if (a->table) {
    char stdin_path[64];
    const char *path = a->table;
    if (strcmp(path, "-") == 0) {
      if (stdin_to_file(stdin_path, sizeof stdin_path) != 0) goto out;
      path = stdin_path;
    }
    st = gpudf_table_read_csv(path, NULL, &t);
    if (st != GPUDF_OK && path != a->table) {
      /* The message names the file: standard input, as the user gave it. */
      const char *msg = plain_error(), *at = strstr(msg, path);
      fprintf(stderr, "gpudf-sweep: reading --table -: %s\n  %.*s<stdin>%s\n", gpudf_status_str(st),
              at ? (int)(at - msg) : (int)strlen(msg), msg, at ? at + strlen(path) : "");
      rc = EXIT_RUNTIME;
      goto out;
    }
    if (st != GPUDF_OK) { rc = runtime_error("reading --table", st); goto out; }
  } else {
    int64_t rows = a->synthetic > 0 ? a->synthetic : DEFAULT_ROWS;
    st = synthetic(rows, a->seed, &t);
    if (st != GPUDF_OK) { rc = runtime_error("building the synthetic table", st); goto out; }
  }
  double t_table = now() - t0;

  char err[1024];
  int64_t n = 0;
  sg_request req = {a->grid, a->where, a->nsets, a->sets, MAX_CONFIGS};
  /* Synthetic bars: annualize as for them, unless the user says otherwise. */
  const char *sets[SA_MAX_SETS + 1];
  int syn_ppy = 0, ppy_idx;
  if (!a->table && !a->configs && gpudf_kernel_param_index(k, "periods_per_year", &ppy_idx) == GPUDF_OK &&
      !(a->grid && strstr(a->grid, "periods_per_year"))) {
    syn_ppy = 1;
    for (int s = 0; s < a->nsets; s++)
      if (strncmp(a->sets[s], "periods_per_year=", 17) == 0) syn_ppy = 0;
  }
  if (syn_ppy) {
    memcpy(sets, a->sets, (size_t)a->nsets * sizeof *sets);
    sets[a->nsets] = "periods_per_year=" SYN_PPY_TEXT;
    req.nsets = a->nsets + 1;
    req.sets = sets;
  }
  int default_grid = 0;
  if (a->equity) {
    if (strcmp(kname, "ma_crossover") != 0)
      return usage_error("--equity is for ma_crossover (the kernel here is %s)", kname);
    req.grid = a->equity;
  } else if (!a->grid && !a->configs && strcmp(kname, "ma_crossover") == 0) {
    req.grid = DEFAULT_GRID;
    if (!a->where) req.where = DEFAULT_WHERE;
    default_grid = 1;
    /* --set takes a parameter out of the default grid */
    static char g[256];
    g[0] = 0;
    const char *src = DEFAULT_GRID;
    while (*src) {
      size_t l = strcspn(src, " ");
      size_t nl = strcspn(src, "=");
      int drop = 0;
      for (int s = 0; s < a->nsets; s++)
        if (strncmp(a->sets[s], src, nl) == 0 && a->sets[s][nl] == '=') drop = 1;
      if (!drop) snprintf(g + strlen(g), sizeof g - strlen(g), "%s%.*s", g[0] ? " " : "", (int)l, src);
      src += l;
      while (*src == ' ') src++;
    }
    req.grid = g;
  }
  if (a->configs) {
    st = gpudf_table_read_csv(a->configs, NULL, &ct);
    if (st != GPUDF_OK) { rc = runtime_error("reading --configs", st); goto out; }
    /* Column parameters by name first, as --set and --grid take them (and
     * as --out writes them): a table column named "1" is that column, not
     * column 1. So their cells are read again as text. */
    gpudf_csv_column_type as_text[GPUDF_MAX_COLUMNS];
    int ntext = 0;
    for (int c = 0; c < gpudf_table_ncols(ct); c++) {
      int p;
      gpudf_param_info pi;
      const char *cname = gpudf_table_column_name(ct, c);
      if (!gpudf_table_column_is_categorical(ct, c) &&
          gpudf_kernel_param_index(k, cname, &p) == GPUDF_OK &&
          gpudf_kernel_param(k, p, &pi) == GPUDF_OK && pi.kind == GPUDF_PARAM_COLUMN)
        as_text[ntext++] = (gpudf_csv_column_type){cname, GPUDF_CSV_CATEGORY};
    }
    if (ntext > 0) {
      gpudf_table *again = NULL;
      gpudf_csv_options co;
      gpudf_csv_options_init(&co);
      co.ntypes = ntext;
      co.types = as_text;
      st = gpudf_table_read_csv(a->configs, &co, &again);
      gpudf_table_free(ct); /* after the read: as_text names point into it */
      ct = again;
      if (st != GPUDF_OK) { rc = runtime_error("reading --configs", st); goto out; }
    }
    if (sg_build_from_table(k, t, ct, &req, &configs, &n, err, sizeof err) != 0) {
      rc = usage_error("%s", err);
      goto out;
    }
  } else if (sg_build_grid(k, t, &req, &configs, &n, err, sizeof err) != 0) {
    rc = usage_error("%s", err);
    goto out;
  }
  if (n == 0) {
    rc = usage_error("no configs to run (did --where remove them all?)");
    goto out;
  }
  if (gpudf_validate(t, k, configs, n) != GPUDF_OK) {
    /* The library's message without its function name; a grid whose fast
     * and slow cross gets the filter that removes those configs. */
    const char *msg = plain_error();
    int cross = strstr(msg, "'fast'") && strstr(msg, "must be less than parameter 'slow'") &&
                !a->configs;
    rc = usage_error("%s%s", msg, cross ? "; add --where 'fast < slow' to skip such configs" : "");
    goto out;
  }
  if (a->equity) {
    rc = write_equity(a, t, configs, n);
    goto out;
  }
  /* The series of a long table: named, or "none"; a kernel that depends on
   * row order over a table whose labels come in runs is refused without. */
  int series = -1, time_col = -1;
  int64_t nseries = 1;
  if (a->series && strcmp(a->series, "none") != 0) {
    if (gpudf_table_find_column(t, a->series, &series) != GPUDF_OK) {
      rc = usage_error("--series: the table has no column '%s'", a->series);
      goto out;
    }
    if (a->time && gpudf_table_find_column(t, a->time, &time_col) != GPUDF_OK) {
      rc = usage_error("--time: the table has no column '%s'", a->time);
      goto out;
    }
    /* A time column whose labels do not sort as time, a row without a
     * time: refused here, as a usage error, before anything runs. */
    if (gpudf_sweep_series_check(t, series, time_col, &nseries) != GPUDF_OK) {
      rc = usage_error("%s: %s", a->time ? "--series/--time" : "--series", plain_error());
      goto out;
    }
    if (!gpudf_kernel_row_order(k)) nseries = 1;
  } else if (!a->series) {
    int guess = gpudf_sweep_series_guess(t, k);
    if (guess >= 0) {
      const char *gname = gpudf_table_column_name(t, guess);
      rc = usage_error("column '%s' looks like the series of a long table (its labels come in "
                       "runs) and %s depends on row order: add --series %s to backtest each "
                       "series on its own rows, or --series none to read the rows as one series",
                       gname, kname, gname);
      goto out;
    }
  }
  int np = gpudf_kernel_nparams(k);
  int nr = gpudf_kernel_nresults(k, configs);
  rinfo = calloc((size_t)(nr ? nr : 1), sizeof *rinfo);
  results = malloc((size_t)n * (size_t)nseries * (size_t)(nr ? nr : 1) * sizeof(double));
  if (!rinfo || !results) {
    fprintf(stderr, "gpudf-sweep: out of memory for %lld results\n", (long long)n);
    goto out;
  }
  for (int c = 0; c < nr; c++) gpudf_kernel_result(k, configs, c, &rinfo[c]);
  const char *by = a->by;
  /* A series sweep of a kernel with sharpe and total_return ranks configs
   * by their aggregates across series (--rank rows: the (config, series)
   * rows); sum_sharpe/sum_return: those fields' indices. */
  int sum_sharpe = -1, sum_return = -1;
  for (int c = 0; c < nr; c++) {
    if (strcmp(rinfo[c].name, "sharpe") == 0) sum_sharpe = c;
    if (strcmp(rinfo[c].name, "total_return") == 0) sum_return = c;
  }
  int with_summary = nseries > 1 || (series >= 0 && gpudf_kernel_row_order(k));
  with_summary = with_summary && sum_sharpe >= 0 && sum_return >= 0;
  int rank_configs = with_summary && !(a->rank && strcmp(a->rank, "rows") == 0);
  if (a->summary && !with_summary) {
    rc = usage_error("--summary needs --series COL and a kernel with sharpe and total_return "
                     "results (ma_crossover)");
    goto out;
  }
  if (!by) {
    by = nr > 0 ? rinfo[0].name : "";
    for (int c = 0; c < nr; c++)
      if (strcmp(rinfo[c].name, "sharpe") == 0) by = "sharpe";
    if (rank_configs) by = "mean_sharpe";
  } else {
    int found = 0, pi;
    for (int c = 0; c < nr; c++) found |= strcmp(rinfo[c].name, by) == 0;
    int summary_field = 0;
    for (int c = 0; c < SUMMARY_FIELDS; c++) summary_field |= strcmp(summary_info[c].name, by) == 0;
    if (rank_configs && found && strcmp(by, "sharpe") == 0) by = "mean_sharpe";
    else if (rank_configs && found) {
      rc = usage_error("--by %s: with --series, configs are ranked by their aggregates across "
                       "series (mean_sharpe, median_sharpe, positive, series_ok, "
                       "portfolio_return, portfolio_sharpe with --time) or a "
                       "parameter; --rank rows ranks (config, series) rows by %s", by, by);
      goto out;
    } else if (summary_field && rank_configs && strncmp(by, "portfolio_", 10) == 0 &&
               GPUDF_SWEEP_PORTFOLIO == 0) {
      rc = usage_error("--by %s: the equal-weight portfolio is not computed across MPI ranks "
                       "(each rank keeps its bars); rank by mean_sharpe, or run the sweep in "
                       "one process", by);
      goto out;
    } else if (summary_field && rank_configs && strncmp(by, "portfolio_", 10) == 0 &&
               time_col < 0) {
      rc = usage_error("--by %s: the equal-weight portfolio aligns the series' bars by date: "
                       "it needs --time COL", by);
      goto out;
    } else if (summary_field && !rank_configs) {
      rc = usage_error("--by %s: an aggregate across series needs --series COL (and "
                       "not --rank rows)", by);
      goto out;
    } else if (!found && !summary_field && gpudf_kernel_param_index(k, by, &pi) != GPUDF_OK) {
      rc = usage_error("--by: '%s' is neither a result nor a parameter of %s", by, kname);
      goto out;
    }
  }

  if (!a->quiet) {
    fprintf(info, "gpudf-sweep %s: kernel %s, %lld configs%s\n", gpudf_version(), kname,
            (long long)n, default_grid ? " (the default grid; see --help)" : "");
    if (default_grid)
      fprintf(info, "  grid     %s  where %s\n", req.grid, req.where ? req.where : "-");
    static const gpudf_backend order[] = {GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED,
                                          GPUDF_BACKEND_CPU};
    for (int b = 0; b < 3; b++) {
      const char *why = "";
      int ok = gpudf_backend_available(order[b], &why);
      fprintf(info, "  %-12s %s%s\n", gpudf_backend_name(order[b]), ok ? "available" : "no: ",
              ok ? "" : why);
    }
    fprintf(info, "  table    %s: %lld rows x %d columns, %.1f MiB (built/read in %.2f s)\n",
            a->table ? a->table : "synthetic", (long long)gpudf_table_nrows(t),
            gpudf_table_ncols(t), (double)gpudf_table_arena_bytes(t) / 1048576.0, t_table);
    if (!a->table)
      fprintf(info, "  data     price: random walk of one-second bars, 6.5-hour days, %.0f%% annual "
                    "volatility, %.2f years (seed %llu)%s\n",
              100 * SYN_ANNUAL_VOL, (double)gpudf_table_nrows(t) / SYN_PERIODS_PER_YEAR,
              (unsigned long long)a->seed, syn_ppy ? "; periods_per_year=" SYN_PPY_TEXT : "");
    fflush(info);
  }

  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = a->workers;
  if (a->workers_per_device > 0) o.workers_per_device = a->workers_per_device;
  o.backend = backend;
  o.batch = a->batch;
  o.time_limit_s = a->timeout;
  o.progress = gpudf_progress_bar;
  o.series = series;
  o.time = time_col;
  st = gpudf_sweep(t, k, configs, n, results, &o, &r);
  if (st != GPUDF_OK && st != GPUDF_ECANCELED) {
    rc = runtime_error("sweep", st);
    goto out;
  }
  gpudf_sweep_report rep;
  gpudf_sweep_result_report(r, &rep);
  /* A GPU left out (no room for the table) is said even with --quiet: the
   * run used fewer devices than the machine has. */
#ifndef GPUDF_SWEEP_MPI
  if (gpudf_sweep_result_skipped(r)[0])
    fprintf(stderr, "gpudf-sweep: %s\n", gpudf_sweep_result_skipped(r));
#endif
  int64_t nconfigs = n;
  if (with_summary) {
    /* Per config across its series: series, series_ok, series_sharpe,
     * mean_sharpe, median_sharpe, positive (gpudf_series_summary). */
    gpudf_series_summary *ss = malloc((size_t)n * sizeof *ss + 1);
    summary = malloc((size_t)n * SUMMARY_FIELDS * sizeof *summary + 1);
    gpudf_status sst = ss && summary ? gpudf_sweep_series_summary(r, results, nr, sum_sharpe,
                                                                  sum_return, ss)
                                     : GPUDF_ENOMEM;
    if (sst != GPUDF_OK) {
      free(ss);
      rc = runtime_error("aggregates across series", sst);
      goto out;
    }
    for (int64_t i = 0; i < n; i++) {
      double *row = summary + i * SUMMARY_FIELDS;
      row[0] = ss[i].mean_sharpe, row[1] = ss[i].median_sharpe, row[2] = ss[i].positive;
      row[3] = (double)ss[i].series_ok, row[4] = (double)ss[i].series;
      row[5] = ss[i].portfolio_return, row[6] = ss[i].portfolio_sharpe;
      row[7] = (double)ss[i].portfolio_bars;
    }
#ifndef GPUDF_SWEEP_MPI
    const char *pwhy = gpudf_sweep_series_portfolio_reason(r);
#else
    const char *pwhy = "not across MPI ranks (each rank keeps its bars)";
#endif
    if (pwhy[0] && !a->quiet) fprintf(info, "  portfolio not computed: %s\n", pwhy);
    free(ss);
  }
  /* The configs, before they are repeated per series. */
  double *cfg1 = with_summary ? malloc((size_t)(n * np + 1) * sizeof(double)) : NULL;
  if (with_summary && !cfg1) {
    rc = runtime_error("aggregates across series", GPUDF_ENOMEM);
    goto out;
  }
  if (cfg1) memcpy(cfg1, configs, (size_t)(n * np) * sizeof(double));
  summary_cfg = cfg1;
  if (nseries > 1 || (series >= 0 && gpudf_kernel_row_order(k))) {
    /* One row per config and series (row k * S + q): the configs repeated. */
    double *ex = malloc((size_t)(n * nseries * np + 1) * sizeof(double));
    if (!ex) {
      fprintf(stderr, "gpudf-sweep: out of memory for %lld results\n", (long long)(n * nseries));
      goto out;
    }
    for (int64_t i = 0; i < n * nseries; i++)
      memcpy(ex + i * np, configs + (i / nseries) * np, (size_t)np * sizeof(double));
    free(configs);
    configs = ex;
    n *= nseries;
  }
  job j = {k, t, np, nr, n, configs, results, r, rinfo};

  job js = {k, t, np, SUMMARY_FIELDS, nconfigs, summary_cfg, summary, NULL,
            (gpudf_result_info *)summary_info};

  if (out_csv.f && out_commit(&out_csv, write_csv(&j, out_csv.f) == 0) != 0) goto out;
  if (a->summary && write_summary(&js, a->summary) != 0) goto out;
  if (!a->quiet) {
    struct rusage ru;
    long child_kib = getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_maxrss : -1;
    double rows = (double)gpudf_table_nrows(t);
    char h1[32], h2[32];
    /* Configs that finished with results: not the cancelled ones. */
    human((double)rep.done / rep.wall_s, h1, sizeof h1);
    human(rows * (double)rep.done / rep.wall_s, h2, sizeof h2);
    fprintf(info, "  placement %s%s%s%s\n", gpudf_backend_name(rep.backend),
            rep.fallback[0] ? " (fallback: " : "", rep.fallback, rep.fallback[0] ? ")" : "");
    fprintf(info, "  workers  %d (%d started, %d lost)\n", rep.workers, rep.workers_started,
            rep.workers_lost);
    print_devices(r, info);
    fprintf(info, "  configs  %lld: %lld ok, %lld failed, %lld timed out, %lld cancelled\n",
            (long long)rep.total, (long long)rep.done, (long long)rep.failed,
            (long long)rep.timed_out, (long long)rep.cancelled);
    char first[48] = "no result";
    if (rep.first_result_s >= 0.0)
      snprintf(first, sizeof first, "first result %.2f s", rep.first_result_s);
    fprintf(info, "  wall     %.2f s sweep (%s), %.2f s in all\n", rep.wall_s, first,
            now() - t0);
    fprintf(info, "  speed    %s configs/s, %s rows*configs/s\n", h1, h2);
    fprintf(info, "  memory   owner peak %.1f MiB (VmHWM), workers peak %.1f MiB (max ru_maxrss)\n",
            (double)vm_hwm_kib() / 1024.0, (double)child_kib / 1024.0);
  }
  if (a->plot && write_plot(&j, a, by) != 0) goto out;
  if ((!a->quiet || a->top_given) && nr > 0) {
    const job *ranked = rank_configs ? &js : &j;
    if (!a->quiet || a->top_given)
      fprintf(info, "\ntop %lld %sby %s (%s):\n",
              (long long)(a->top < ranked->n ? a->top : ranked->n),
              rank_configs ? "configs across series " : with_summary ? "(config, series) rows " : "",
              by, a->asc ? "ascending" : "descending");
    print_top(ranked, info, a->top, by, a->asc);
  }
  if (!a->quiet) print_next_steps(a, kname, info);
  for (int64_t i = 0; i < n; i++)
    if (gpudf_sweep_result_state(r, i) != GPUDF_CONFIG_DONE) {
      fprintf(stderr, "gpudf-sweep: config %lld %s: %s\n", (long long)i,
              state_name(gpudf_sweep_result_state(r, i)), gpudf_sweep_result_reason(r, i));
      break;
    }
  rc = (st == GPUDF_OK && rep.done == rep.total) ? 0 : EXIT_SOME_FAILED;
  /* Stopped by Ctrl-C or SIGTERM: what finished is written; now die of the
   * signal, as the shell and a calling script expect (status 130 or 143). */
  stop_signal = gpudf_sweep_result_signal(r);
out:
  out_discard(&out_csv); /* what an error left unwritten */
  gpudf_sweep_result_free(r);
  free(rinfo);
  free(results);
  free(summary);
  free(summary_cfg);
  free(configs);
  gpudf_table_free(ct);
  gpudf_table_free(t);
  return rc;
}

static void print_next_steps(const args *a, const char *kname, FILE *f) {
  fputs("\nnext:\n", f);
  if (a->out && strcmp(a->out, "-") != 0)
    fprintf(f, "  results    every config is in %s (parameters, results, status, error)\n", a->out);
  else if (!a->out)
    fputs("  --out results.csv    write every config (parameters, results, status); nothing was "
          "written this time\n", f);
  if (a->plot)
    fprintf(f, "  picture    %s (open it in a browser)\n", a->plot);
  else
    fputs("  --plot results.svg   a heatmap of the ranked result over the first two swept "
          "parameters (--plot-metric NAME for another)\n", f);
  fputs("  your data  --table prices.csv (a CSV with a header row), e.g. --set price_col=close\n"
        "             --set periods_per_year=252 for daily bars (98280: 1-minute bars of "
        "6.5-hour days)\n", f);
  fprintf(f, "  more       --help, --list-kernels, --describe %s\n", kname);
}

static const char *plot_series_label(void *user, int64_t q) {
  return gpudf_sweep_result_series((const gpudf_sweep_result *)user, q); /* row q: series q */
}

static int write_plot(const job *j, const args *a, const char *by) {
  const char *name = a->plot_metric ? a->plot_metric : by;
  /* Ranked by an aggregate across series: the picture shows the metric it
   * aggregates, per config and series. */
  if (!a->plot_metric && strstr(by, "_sharpe")) name = "sharpe";
  int metric = -1;
  for (int c = 0; c < j->nr; c++)
    if (strcmp(j->rinfo[c].name, name) == 0) metric = c;
  if (metric < 0) {
    fprintf(stderr, "gpudf-sweep: --plot-metric: '%s' is not a result of %s (--describe %s lists "
                    "them)\n", name, gpudf_kernel_name(j->k), gpudf_kernel_name(j->k));
    return -1;
  }
  int *ok = malloc((size_t)(j->n ? j->n : 1) * sizeof *ok);
  if (!ok) return -1;
  for (int64_t i = 0; i < j->n; i++) ok[i] = gpudf_sweep_result_state(j->r, i) == GPUDF_CONFIG_DONE;
  plot_job pj = {j->k, j->t, j->np, j->nr, j->n, j->cfg, j->res, ok, metric, name, a->asc,
                 1, NULL, NULL};
  pj.nseries = gpudf_sweep_result_nseries(j->r);
  pj.series_label = plot_series_label;
  pj.series_user = j->r;
  char err[512];
  int rc = plot_svg_write(&pj, a->plot, err, sizeof err);
  free(ok);
  if (rc != 0) fprintf(stderr, "gpudf-sweep: %s\n", err);
  else if (!a->quiet) fprintf(a->out && strcmp(a->out, "-") == 0 ? stderr : stdout,
                              "  plot     %s written (%s)\n", a->plot, name);
  return rc;
}

static int stdin_to_file(char *path, size_t len) {
  int fd = memfd_create("gpudf-sweep-stdin", MFD_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "gpudf-sweep: --table -: cannot hold standard input: %s\n", strerror(errno));
    return -1;
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got == 0) break;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      fprintf(stderr, "gpudf-sweep: --table -: reading standard input: %s\n", strerror(errno));
      close(fd);
      return -1;
    }
    for (ssize_t off = 0; off < got;) {
      ssize_t put = write(fd, buf + off, (size_t)(got - off));
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) {
        fprintf(stderr, "gpudf-sweep: --table -: %s\n", strerror(errno));
        close(fd);
        return -1;
      }
      off += put;
    }
  }
  /* Kept open until the program ends: the path names it. */
  snprintf(path, len, "/proc/self/fd/%d", fd);
  return 0;
}

static int write_equity(const args *a, const gpudf_table *t, const double *configs, int64_t n) {
  if (n != 1)
    return usage_error("--equity needs one config; '%s' gives %lld (one value per parameter)",
                       a->equity, (long long)n);
  int to_stdout = !a->out || strcmp(a->out, "-") == 0;
  FILE *f = to_stdout ? stdout : fopen(a->out, "w");
  if (!f) {
    fprintf(stderr, "gpudf-sweep: cannot write '%s': %s\n", a->out, strerror(errno));
    return EXIT_RUNTIME;
  }
  char err[256];
  int wr = equity_csv_write(t, configs, f, err, sizeof err);
  if (to_stdout) wr |= fflush(f);
  else wr |= fclose(f);
  if (wr != 0) {
    fprintf(stderr, "gpudf-sweep: %s\n", err[0] ? err : "--equity: error writing");
    return EXIT_RUNTIME;
  }
  if (!a->quiet && !to_stdout)
    printf("gpudf-sweep: the equity curve of '%s' (%lld bars) is in %s\n", a->equity,
           (long long)gpudf_table_nrows(t), a->out);
  return 0;
}
