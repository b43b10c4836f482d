/*
 * bench_foundation.c - gpudf-bench_foundation: libgpudf against its baseline,
 * side by side in one run, with a PASS/MISS verdict per target.
 *
 *   gpudf-bench_foundation [--quick] [--rows-mib N] [--json PATH]
 *
 *   1  attach + detach of a 16 MiB and a 1 GiB table (f64 columns): both under
 *      1 ms, and 1 GiB / 16 MiB under 2. Baseline: malloc + memcpy of the
 *      table into fresh private memory (the least that pickling costs).
 *   2  4 processes attached to the 1 GiB table, each reading all of it:
 *      summed PSS of the owner + the 4 at most 1.1 x table + 4 x 16 MiB.
 *      Baseline: the same 4 processes each holding a private copy.
 *   3  filter_agg, one config, one pass over two f64 columns (N MiB, default
 *      512): at least 70% of the plain single-thread read bandwidth measured
 *      over the same memory in the same run.
 *   4  64 random configs in one gpudf_run vs 64 one-config gpudf_run calls
 *      over the same table: at least 8x faster.
 *
 * Times are medians over repetitions that follow excluded warm-up ones; the
 * spread printed is [min - max] of the measured repetitions. A benchmark, not
 * a test: a missed target still exits 0. It exits 1 when something failed
 * (a gpudf call, a system call, a child process) and 2 when an answer is
 * wrong (kernel vs reference, batched vs single, attachers' checksums).
 * --json PATH also writes the table's rows (strings and numbers) and the
 * notes as JSON, for bench/report.py.
 *
 * Hidden modes, used by section 2 through posix_spawn of /proc/self/exe:
 *   --attach-read NAME   attach, read every byte, say "ready SUM", wait for EOF
 *   --attach-copy NAME   attach, copy the table into private memory, detach,
 *                        read the copy, say "ready SUM", wait for EOF
 */
#include <gpudf.h>

#include "bench_plain_read.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROG "gpudf-bench_foundation"
#define MIB ((int64_t)1 << 20)
#define GIB ((int64_t)1 << 30)

enum { NATTACHERS = 4, NBATCH = 64, FA_NPARAMS = 5, FA_NRESULTS = 6 };
enum { EXIT_FAILED = 1, EXIT_WRONG = 2 };
/* filter_agg's op choice. */
enum { OP_ALL, OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_BETWEEN, NOPS };
static const char *const op_names[NOPS] = {"all", "lt", "le", "gt", "ge", "eq", "ne", "between"};

/* ------------------------------------------------------------ utilities */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *state) {
  return (double)(splitmix64(state) >> 11) * 0x1.0p-53;
}

static void fill_uniform(double *p, int64_t n, uint64_t seed, double lo, double hi) {
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * uniform(&s);
}

/* Wrapping sum of the 8-byte words: reads every byte, cannot be elided. */
static uint64_t word_sum(const void *p, size_t bytes) {
  const uint64_t *w = p;
  uint64_t s = 0;
  for (size_t i = 0; i < bytes / 8; i++) s += w[i];
  return s;
}

typedef struct stats {
  double med, min, max;
} stats;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static stats stats_of(const double *v, int n) {
  double *s = malloc((size_t)n * sizeof *s);
  stats r = {NAN, NAN, NAN};
  if (!s || n <= 0) {
    free(s);
    return r;
  }
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  r.min = s[0];
  r.max = s[n - 1];
  r.med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  free(s);
  return r;
}

static char *fmt_time(char *buf, size_t len, double s) {
  if (s < 1e-3) snprintf(buf, len, "%.1f us", s * 1e6);
  else if (s < 1.0) snprintf(buf, len, "%.2f ms", s * 1e3);
  else snprintf(buf, len, "%.2f s", s);
  return buf;
}

static char *fmt_bytes(char *buf, size_t len, double b) {
  if (b >= (double)GIB) snprintf(buf, len, "%.2f GiB", b / (double)GIB);
  else snprintf(buf, len, "%.1f MiB", b / (double)MIB);
  return buf;
}

/* "12.3 us [11.9 - 40.1]": median and spread, in the median's unit. */
static char *fmt_time_stats(char *buf, size_t len, stats st) {
  double scale = st.med < 1e-3 ? 1e6 : st.med < 1.0 ? 1e3 : 1.0;
  const char *unit = st.med < 1e-3 ? "us" : st.med < 1.0 ? "ms" : "s";
  int prec = st.med < 1e-3 ? 1 : 2;
  snprintf(buf, len, "%.*f %s [%.*f - %.*f]", prec, st.med * scale, unit, prec,
           st.min * scale, prec, st.max * scale);
  return buf;
}

/* -------------------------------------------------- resources, failure */

typedef struct bench_table {
  gpudf_table *owner;
  gpudf_share *share;
  gpudf_table *view;
  char name[GPUDF_NAME_MAX + 1];
  int ncols;
  int64_t nrows;
} bench_table;

typedef struct child {
  pid_t pid;
  int in_w;  /* its stdin; closing it tells it to exit */
  int out_r; /* its stdout */
} child;

enum { MAX_TABLES = 4 };
static bench_table *g_tables[MAX_TABLES];
static child g_kids[NATTACHERS];
static int g_nkids;
static void *g_map;     /* a private baseline copy being timed */
static size_t g_map_len;

static void reap_children(bool quiet);

static void drop_table(bench_table *t) {
  if (!t) return;
  for (int i = 0; i < MAX_TABLES; i++)
    if (g_tables[i] == t) g_tables[i] = NULL;
  gpudf_table_free(t->view);
  gpudf_share_close(t->share);
  gpudf_table_free(t->owner);
  memset(t, 0, sizeof *t);
}

static void cleanup_all(void) {
  reap_children(true);
  if (g_map) munmap(g_map, g_map_len);
  g_map = NULL;
  for (int i = 0; i < MAX_TABLES; i++) drop_table(g_tables[i]);
}

static void fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(int code, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, PROG ": %s: ", code == EXIT_WRONG ? "WRONG ANSWER" : "error");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  cleanup_all();
  exit(code);
}

static void check_gpudf(gpudf_status st, const char *call, int line) {
  if (st != GPUDF_OK)
    fail(EXIT_FAILED, "line %d: %s: %s\n  %s", line, call, gpudf_status_str(st),
         gpudf_last_error());
}
#define GCHECK(call) check_gpudf((call), #call, __LINE__)

/* --------------------------------------------------------------- tables */

/* A table of ncols f64 columns, column c uniform in [range[c][0],
 * range[c][1]) (range NULL: [-1, 1)), written straight into the shared
 * arena, then published. */
static void make_table(bench_table *t, const char *tag, int ncols, int64_t nrows,
                       uint64_t seed, const double (*range)[2]) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < MAX_TABLES; i++)
    if (!g_tables[i]) {
      g_tables[i] = t;
      break;
    }
  t->ncols = ncols;
  t->nrows = nrows;
  snprintf(t->name, sizeof t->name, "bench-foundation-%ld-%s", (long)getpid(), tag);
  GCHECK(gpudf_table_create(nrows, &t->owner));
  for (int c = 0; c < ncols; c++) {
    char col[16];
    void *data;
    snprintf(col, sizeof col, "c%d", c);
    GCHECK(gpudf_table_alloc_column(t->owner, col, GPUDF_TYPE_F64, &data));
    fill_uniform(data, nrows, seed * 1000003u + (uint64_t)c, range ? range[c][0] : -1.0,
                 range ? range[c][1] : 1.0);
  }
  GCHECK(gpudf_table_share(t->owner, t->name, GPUDF_BACKEND_AUTO, &t->share));
}

static const double *col_f64(const gpudf_table *t, int c) {
  const void *p = gpudf_table_column_data(t, c);
  if (!p || gpudf_table_column_type(t, c) != GPUDF_TYPE_F64)
    fail(EXIT_FAILED, "column %d is missing or not f64", c);
  return p;
}

static uint64_t table_word_sum(const gpudf_table *t) {
  uint64_t s = 0;
  int64_t n = gpudf_table_nrows(t);
  for (int c = 0; c < gpudf_table_ncols(t); c++)
    s += word_sum(col_f64(t, c), (size_t)n * sizeof(double));
  return s;
}

/* A view must show the owner's schema and values. */
static void check_view(const bench_table *t, const gpudf_table *view) {
  if (!gpudf_table_is_view(view) || gpudf_table_nrows(view) != t->nrows ||
      gpudf_table_ncols(view) != t->ncols)
    fail(EXIT_WRONG, "the view of '%s' is not the owner's table (%" PRId64 " rows, %d cols)",
         t->name, gpudf_table_nrows(view), gpudf_table_ncols(view));
  for (int c = 0; c < t->ncols; c++) {
    const double *a = col_f64(t->owner, c), *b = col_f64(view, c);
    if (a[0] != b[0] || a[t->nrows - 1] != b[t->nrows - 1] || a[t->nrows / 2] != b[t->nrows / 2])
      fail(EXIT_WRONG, "the view of '%s' column %d holds other values", t->name, c);
  }
}

/* ---------------------------------------------------------- the machine */

static void print_machine(const char *shm_dir) {
  char line[512], model[256] = "unknown";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "model name", 10) == 0) {
        char *p = strchr(line, ':');
        if (p) {
          p++;
          while (*p == ' ' || *p == '\t') p++;
          p[strcspn(p, "\n")] = '\0';
          snprintf(model, sizeof model, "%s", p);
        }
        break;
      }
    fclose(f);
  }
  long long mem_kib = -1, avail_kib = -1;
  f = fopen("/proc/meminfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f)) {
      sscanf(line, "MemTotal: %lld kB", &mem_kib);
      sscanf(line, "MemAvailable: %lld kB", &avail_kib);
    }
    fclose(f);
  }
  struct utsname u;
  struct statvfs sv;
  char b1[32], b2[32], b3[32];
  printf("machine:  %s, %ld cores online (%ld configured)\n", model,
         sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_NPROCESSORS_CONF));
  printf("memory:   %s total, %s available", fmt_bytes(b1, sizeof b1, (double)mem_kib * 1024),
         fmt_bytes(b2, sizeof b2, (double)avail_kib * 1024));
  if (statvfs(shm_dir, &sv) == 0)
    printf("; %s: %s free", shm_dir,
           fmt_bytes(b3, sizeof b3, (double)sv.f_bavail * (double)sv.f_frsize));
  printf("\n");
  if (uname(&u) == 0) printf("system:   %s %s %s\n", u.sysname, u.release, u.machine);
  printf("libgpudf: %s (run time; header %d.%d.%d)\n", gpudf_version(), GPUDF_VERSION_MAJOR,
         GPUDF_VERSION_MINOR, GPUDF_VERSION_PATCH);
}

static long long mem_available_kib(void) {
  char line[256];
  long long kib = -1;
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) sscanf(line, "MemAvailable: %lld kB", &kib);
  fclose(f);
  return kib;
}

/* ------------------------------------------------------------ the table */

typedef struct row {
  char id[4], what[96], gpudf[96], base[96], ratio[32], target[48], verdict[8];
  double num_gpudf, num_base, num_ratio; /* the numbers behind the strings, in unit */
  char unit[8];
} row;

enum { MAX_ROWS = 8 };
static row g_rows[MAX_ROWS];
static int g_nrows;
static char g_notes[4096];

static row *add_row(const char *id, const char *what) {
  row *r = &g_rows[g_nrows++];
  memset(r, 0, sizeof *r);
  snprintf(r->id, sizeof r->id, "%s", id);
  snprintf(r->what, sizeof r->what, "%s", what);
  r->num_gpudf = r->num_base = r->num_ratio = NAN;
  return r;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
  size_t used = strlen(g_notes);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_notes + used, sizeof g_notes - used, fmt, ap);
  va_end(ap);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%s] ", PROG);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void print_rows(void) {
  static const char *fmt = "%-3s %-42s %-30s %-38s %-13s %-14s %s\n";
  printf("\n");
  printf(fmt, "#", "measure", "libgpudf", "baseline", "ratio", "target", "verdict");
  for (int i = 0; i < g_nrows; i++) {
    const row *r = &g_rows[i];
    printf(fmt, r->id, r->what, r->gpudf, r->base, r->ratio, r->target, r->verdict);
  }
  printf("\n%s", g_notes);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if (*s == '\n') fputs("\\n", f);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void json_num(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.9g", v);
  else fputs("null", f);
}

/* --json: the rows, as strings and numbers, and the notes. */
static void write_json(const char *path, bool quick) {
  FILE *f = fopen(path, "w");
  if (!f) fail(EXIT_FAILED, "fopen(%s): %s", path, strerror(errno));
  fprintf(f, "{\n  \"bench\": \"foundation\", \"quick\": %s, \"version\": ",
          quick ? "true" : "false");
  json_str(f, gpudf_version());
  fprintf(f, ",\n  \"rows\": [\n");
  for (int i = 0; i < g_nrows; i++) {
    const row *r = &g_rows[i];
    const char *keys[] = {"id", "what", "gpudf", "baseline", "ratio", "target", "verdict", "unit"};
    const char *vals[] = {r->id, r->what, r->gpudf, r->base, r->ratio, r->target, r->verdict,
                          r->unit};
    fprintf(f, "    {");
    for (int k = 0; k < 8; k++) {
      fprintf(f, "\"%s\": ", keys[k]);
      json_str(f, vals[k]);
      fprintf(f, ", ");
    }
    fprintf(f, "\"num_gpudf\": ");
    json_num(f, r->num_gpudf);
    fprintf(f, ", \"num_baseline\": ");
    json_num(f, r->num_base);
    fprintf(f, ", \"num_ratio\": ");
    json_num(f, r->num_ratio);
    fprintf(f, "}%s\n", i + 1 < g_nrows ? "," : "");
  }
  fprintf(f, "  ],\n  \"notes\": ");
  json_str(f, g_notes);
  fprintf(f, "\n}\n");
  if (fclose(f) != 0) fail(EXIT_FAILED, "writing %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------- section 1 */

typedef struct config {
  bool quick;
  int64_t small_bytes, large_bytes, fa_bytes;
  int attach_warm, attach_reps;
  int copy_warm, copy_reps_small, copy_reps_large;
  int fa_warm, fa_reps;
  int batch_warm, batch_reps;
} config;

/* malloc-equivalent fresh private memory (mmap, so every run faults its
 * pages in as a new copy would) + memcpy of every column. */
static double time_private_copy(const bench_table *t, bool verify) {
  size_t colbytes = (size_t)t->nrows * sizeof(double);
  g_map_len = colbytes * (size_t)t->ncols;
  double t0 = now_s();
  g_map = mmap(NULL, g_map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g_map == MAP_FAILED) {
    g_map = NULL;
    fail(EXIT_FAILED, "mmap of %zu bytes: %s", g_map_len, strerror(errno));
  }
  for (int c = 0; c < t->ncols; c++)
    memcpy((char *)g_map + (size_t)c * colbytes, col_f64(t->owner, c), colbytes);
  double dt = now_s() - t0;
  if (verify)
    for (int c = 0; c < t->ncols; c++)
      if (memcmp((char *)g_map + (size_t)c * colbytes, col_f64(t->owner, c), colbytes) != 0)
        fail(EXIT_WRONG, "the private copy of column %d differs", c);
  munmap(g_map, g_map_len);
  g_map = NULL;
  return dt;
}

static void section_attach(const config *cf, bench_table *small, bench_table *large) {
  char b1[48], b2[48];
  bench_table *tabs[2] = {small, large};
  progress("1: attach + detach, %d cycles per size (+%d warm-up)", cf->attach_reps,
           cf->attach_warm);
  for (int k = 0; k < 2; k++) { /* sanity: a view is the owner's table */
    gpudf_table *v = NULL;
    GCHECK(gpudf_attach(tabs[k]->name, &v));
    tabs[k]->view = v;
    check_view(tabs[k], v);
    gpudf_table_free(v);
    tabs[k]->view = NULL;
  }
  int n = cf->attach_reps;
  double *times[2] = {malloc((size_t)n * sizeof(double)), malloc((size_t)n * sizeof(double))};
  if (!times[0] || !times[1]) fail(EXIT_FAILED, "out of memory");
  /* The two sizes alternate so that drift affects both alike. */
  for (int i = 0; i < cf->attach_warm + n; i++)
    for (int k = 0; k < 2; k++) {
      gpudf_table *v = NULL;
      double t0 = now_s();
      gpudf_status st = gpudf_attach(tabs[k]->name, &v);
      if (st == GPUDF_OK) gpudf_table_free(v);
      double dt = now_s() - t0;
      GCHECK(st);
      if (i >= cf->attach_warm) times[k][i - cf->attach_warm] = dt;
    }
  stats at[2] = {stats_of(times[0], n), stats_of(times[1], n)};
  free(times[0]);
  free(times[1]);

  progress("1: baseline: private copies, %d + %d runs (+%d warm-up each)", cf->copy_reps_small,
           cf->copy_reps_large, cf->copy_warm);
  stats cp[2];
  for (int k = 0; k < 2; k++) {
    int reps = k == 0 ? cf->copy_reps_small : cf->copy_reps_large;
    double *ct = malloc((size_t)reps * sizeof(double));
    if (!ct) fail(EXIT_FAILED, "out of memory");
    for (int i = 0; i < cf->copy_warm + reps; i++) {
      double dt = time_private_copy(tabs[k], i == 0);
      if (i >= cf->copy_warm) ct[i - cf->copy_warm] = dt;
    }
    cp[k] = stats_of(ct, reps);
    free(ct);
  }

  for (int k = 0; k < 2; k++) {
    double bytes = (double)tabs[k]->nrows * tabs[k]->ncols * 8.0;
    char what[96];
    snprintf(what, sizeof what, "attach+detach, %s table", fmt_bytes(b1, sizeof b1, bytes));
    row *r = add_row(k == 0 ? "1a" : "1b", what);
    fmt_time_stats(r->gpudf, sizeof r->gpudf, at[k]);
    snprintf(r->base, sizeof r->base, "copy %s", fmt_time_stats(b2, sizeof b2, cp[k]));
    snprintf(r->ratio, sizeof r->ratio, "%.0fx faster", cp[k].med / at[k].med);
    snprintf(r->target, sizeof r->target, "< 1 ms");
    snprintf(r->verdict, sizeof r->verdict, "%s", at[k].med < 1e-3 ? "PASS" : "MISS");
    r->num_gpudf = at[k].med, r->num_base = cp[k].med, r->num_ratio = cp[k].med / at[k].med;
    snprintf(r->unit, sizeof r->unit, "s");
  }
  double ratio = at[1].med / at[0].med;
  row *r = add_row("1c", "attach time, large / small table");
  snprintf(r->gpudf, sizeof r->gpudf, "%.2f", ratio);
  snprintf(r->base, sizeof r->base, "copy: %.1f", cp[1].med / cp[0].med);
  snprintf(r->ratio, sizeof r->ratio, "-");
  snprintf(r->target, sizeof r->target, "< 2");
  snprintf(r->verdict, sizeof r->verdict, "%s", ratio < 2.0 ? "PASS" : "MISS");
  r->num_gpudf = ratio, r->num_base = cp[1].med / cp[0].med;
  note("1: %d attach + gpudf_table_free cycles per size after %d warm-up cycles, sizes "
       "alternating; baseline = mmap'd fresh private memory + memcpy of every column, "
       "%d/%d runs after %d warm-up.\n",
       cf->attach_reps, cf->attach_warm, cf->copy_reps_small, cf->copy_reps_large, cf->copy_warm);
}

/* ------------------------------------------------------- section 2 */

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Closes every child's stdin (it exits on EOF) and reaps it. Returns
 * quietly on the error path; otherwise a child that failed is an error. */
static void reap_children(bool quiet) {
  int bad = 0;
  char why[128] = "";
  int n = g_nkids;
  g_nkids = 0;
  for (int i = 0; i < n; i++) close_fd(&g_kids[i].in_w);
  for (int i = 0; i < n; i++) {
    close_fd(&g_kids[i].out_r);
    int status;
    pid_t r;
    do r = waitpid(g_kids[i].pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      bad++;
      snprintf(why, sizeof why, "waitpid(%ld): %s", (long)g_kids[i].pid, strerror(errno));
    } else if (WIFSIGNALED(status)) {
      bad++;
      snprintf(why, sizeof why, "child %ld killed by signal %d", (long)g_kids[i].pid,
               WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
      bad++;
      snprintf(why, sizeof why, "child %ld exited with %d", (long)g_kids[i].pid,
               WEXITSTATUS(status));
    }
  }
  if (bad && !quiet) fail(EXIT_FAILED, "%d attacher process(es) failed; last: %s", bad, why);
}

static void spawn_child(const char *mode, const char *name) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) fail(EXIT_FAILED, "pipe2: %s", strerror(errno));
  if (pipe2(out, O_CLOEXEC) != 0) {
    int err = errno;
    close(in[0]);
    close(in[1]);
    fail(EXIT_FAILED, "pipe2: %s", strerror(err));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  char *argv[] = {(char *)PROG, (char *)mode, (char *)name, NULL};
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (err != 0) {
    close(in[1]);
    close(out[0]);
    fail(EXIT_FAILED, "posix_spawn(/proc/self/exe %s): %s", mode, strerror(err));
  }
  child *c = &g_kids[g_nkids++];
  c->pid = pid;
  c->in_w = in[1];
  c->out_r = out[0];
}

/* Waits for "ready HEX\n" from a child and gives the sum it read. */
static uint64_t wait_ready(child *c) {
  char buf[128];
  size_t used = 0;
  for (;;) {
    struct pollfd p = {.fd = c->out_r, .events = POLLIN};
    int r = poll(&p, 1, 600 * 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(EXIT_FAILED, "poll: %s", strerror(errno));
    if (r == 0) fail(EXIT_FAILED, "child %ld was not ready after 600 s", (long)c->pid);
    ssize_t got = read(c->out_r, buf + used, sizeof buf - 1 - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(EXIT_FAILED, "read from child %ld: %s", (long)c->pid, strerror(errno));
    if (got == 0) fail(EXIT_FAILED, "child %ld exited before it was ready", (long)c->pid);
    used += (size_t)got;
    buf[used] = '\0';
    if (strchr(buf, '\n')) break;
    if (used == sizeof buf - 1) fail(EXIT_FAILED, "child %ld said: %s", (long)c->pid, buf);
  }
  uint64_t sum;
  if (sscanf(buf, "ready %" SCNx64, &sum) != 1)
    fail(EXIT_FAILED, "child %ld said: %s", (long)c->pid, buf);
  return sum;
}

/* The Pss: line of /proc/PID/smaps_rollup, in bytes. */
static double pss_bytes(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(EXIT_FAILED, "open(%s): %s", path, strerror(errno));
  size_t used = 0;
  ssize_t got;
  while (used < sizeof buf - 1 && (got = read(fd, buf + used, sizeof buf - 1 - used)) > 0)
    used += (size_t)got;
  close(fd);
  buf[used] = '\0';
  for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    long long kib;
    if (sscanf(p, "Pss: %lld kB", &kib) == 1) return (double)kib * 1024.0;
  }
  fail(EXIT_FAILED, "%s has no Pss: line", path);
}

/* Starts 4 attachers in mode, waits until all hold the table, samples the
 * summed PSS of the owner and the 4, then lets them go. */
static double pss_with_attachers(const bench_table *t, const char *mode, uint64_t want,
                                 double per[1 + NATTACHERS]) {
  for (int i = 0; i < NATTACHERS; i++) spawn_child(mode, t->name);
  for (int i = 0; i < NATTACHERS; i++) {
    uint64_t got = wait_ready(&g_kids[i]);
    if (got != want)
      fail(EXIT_WRONG, "attacher %d (%s) read sum %016" PRIx64 ", the owner's is %016" PRIx64, i,
           mode, got, want);
  }
  per[0] = pss_bytes(getpid());
  double sum = per[0];
  for (int i = 0; i < NATTACHERS; i++) sum += per[1 + i] = pss_bytes(g_kids[i].pid);
  reap_children(false);
  return sum;
}

static void section_pss(bench_table *t) {
  char b1[48], b2[48], b3[48];
  double bytes = (double)t->nrows * t->ncols * 8.0;
  uint64_t want = table_word_sum(t->owner);
  double pg[1 + NATTACHERS], pb[1 + NATTACHERS];
  progress("2: %d processes attach the %s table and read all of it", NATTACHERS,
           fmt_bytes(b1, sizeof b1, bytes));
  double g = pss_with_attachers(t, "--attach-read", want, pg);
  progress("2: baseline: %d processes each hold a private copy", NATTACHERS);
  double b = pss_with_attachers(t, "--attach-copy", want, pb);
  double limit = 1.1 * bytes + NATTACHERS * 16.0 * (double)MIB;
  char what[96];
  snprintf(what, sizeof what, "summed PSS, owner + %d readers", NATTACHERS);
  row *r = add_row("2", what);
  snprintf(r->gpudf, sizeof r->gpudf, "%s (%.2f x table)", fmt_bytes(b1, sizeof b1, g),
           g / bytes);
  snprintf(r->base, sizeof r->base, "4 copies %s (%.2f x)", fmt_bytes(b2, sizeof b2, b),
           b / bytes);
  snprintf(r->ratio, sizeof r->ratio, "%.2fx less", b / g);
  snprintf(r->target, sizeof r->target, "<= %s", fmt_bytes(b3, sizeof b3, limit));
  snprintf(r->verdict, sizeof r->verdict, "%s", g <= limit ? "PASS" : "MISS");
  r->num_gpudf = g, r->num_base = b, r->num_ratio = b / g;
  snprintf(r->unit, sizeof r->unit, "B");
  note("2: table %s in %d f64 columns; limit = 1.1 x table + %d x 16 MiB. PSS libgpudf: "
       "owner %.1f MiB, readers",
       fmt_bytes(b1, sizeof b1, bytes), t->ncols, NATTACHERS, pg[0] / (double)MIB);
  for (int i = 0; i < NATTACHERS; i++) note(" %.1f", pg[1 + i] / (double)MIB);
  note(" MiB; baseline: owner %.1f MiB, copiers", pb[0] / (double)MIB);
  for (int i = 0; i < NATTACHERS; i++) note(" %.1f", pb[1 + i] / (double)MIB);
  note(" MiB. Every process's sum of the table's words matched the owner's.\n");
}

/* The hidden attacher modes. */
static int attacher_main(const char *mode, const char *name) {
  gpudf_table *v = NULL;
  gpudf_status st = gpudf_attach(name, &v);
  if (st != GPUDF_OK) {
    fprintf(stderr, PROG " %s %s: gpudf_attach: %s\n  %s\n", mode, name,
            gpudf_status_str(st), gpudf_last_error());
    return EXIT_FAILED;
  }
  uint64_t sum = 0;
  char *copy = NULL;
  if (strcmp(mode, "--attach-read") == 0) {
    sum = table_word_sum(v);
  } else { /* --attach-copy: what an unpickled DataFrame holds */
    int64_t n = gpudf_table_nrows(v);
    int ncols = gpudf_table_ncols(v);
    size_t colbytes = (size_t)n * sizeof(double);
    copy = malloc(colbytes * (size_t)ncols);
    if (!copy) {
      fprintf(stderr, PROG " %s: out of memory for %zu bytes\n", mode, colbytes * (size_t)ncols);
      gpudf_table_free(v);
      return EXIT_FAILED;
    }
    for (int c = 0; c < ncols; c++)
      memcpy(copy + (size_t)c * colbytes, gpudf_table_column_data(v, c), colbytes);
    gpudf_table_free(v);
    v = NULL;
    sum = word_sum(copy, colbytes * (size_t)ncols);
  }
  char msg[64];
  int len = snprintf(msg, sizeof msg, "ready %016" PRIx64 "\n", sum);
  bool ok = write(STDOUT_FILENO, msg, (size_t)len) == len;
  char buf[256];
  while (ok) { /* hold the table until the owner closes our stdin */
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got == 0) break;
    if (got < 0 && errno != EINTR) ok = false;
  }
  free(copy);
  gpudf_table_free(v);
  return ok ? 0 : EXIT_FAILED;
}

/* ------------------------------------------------------- sections 3, 4 */

static int pass(int op, double x, double lo, double hi) {
  switch (op) {
  case OP_LT: return x < lo;
  case OP_LE: return x <= lo;
  case OP_GT: return x > lo;
  case OP_GE: return x >= lo;
  case OP_EQ: return x == lo;
  case OP_NE: return x != lo;
  case OP_BETWEEN: return lo <= x && x <= hi;
  default: return 1;
  }
}

/* The bench's own filter_agg: plain scalar loop, Welford for std. Also
 * gives the sum of |values| that scales the tolerance on sum and mean. */
static void reference(const gpudf_table *t, const double *cfg, double *out, double *absum) {
  const double *x = col_f64(t, (int)cfg[0]), *v = col_f64(t, (int)cfg[4]);
  int op = (int)cfg[1];
  double lo = cfg[2], hi = cfg[3];
  double n = 0, sum = 0, sa = 0, mean = 0, m2 = 0, mn = INFINITY, mx = -INFINITY;
  int64_t rows = gpudf_table_nrows(t);
  for (int64_t i = 0; i < rows; i++) {
    if (!pass(op, x[i], lo, hi) || isnan(v[i])) continue;
    double y = v[i];
    n += 1;
    sum += y;
    sa += fabs(y);
    double d = y - mean;
    mean += d / n;
    m2 += d * (y - mean);
    mn = y < mn ? y : mn;
    mx = y > mx ? y : mx;
  }
  out[0] = n;
  out[1] = sum;
  out[2] = n > 0 ? sum / n : NAN;
  out[3] = n > 0 ? mn : NAN;
  out[4] = n > 0 ? mx : NAN;
  out[5] = n > 1 ? sqrt(m2 / (n - 1)) : NAN;
  *absum = sa;
}

static bool close_to(double a, double b, double tol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return fabs(a - b) <= tol;
}

static const char *const field_names[FA_NRESULTS] = {"count", "sum", "mean", "min", "max", "std"};

/* Kernel result vs the reference: count, min, max exact; sum and mean to
 * 1e-10 of the sum of |values|; std to 1e-8 relative. */
static void check_against_reference(const gpudf_table *t, const double *cfg, const double *got,
                                    int index) {
  double ref[FA_NRESULTS], sa;
  reference(t, cfg, ref, &sa);
  double n = ref[0] > 0 ? ref[0] : 1;
  double tol[FA_NRESULTS] = {0, 1e-10 * sa, 1e-10 * sa / n, 0, 0,
                             isnan(ref[5]) ? 0 : 1e-8 * ref[5]};
  for (int f = 0; f < FA_NRESULTS; f++)
    if (!close_to(got[f], ref[f], tol[f]))
      fail(EXIT_WRONG,
           "config %d (filter_col %g op %s lo %.17g hi %.17g value_col %g): %s = %.17g, the "
           "plain reference gives %.17g",
           index, cfg[0], op_names[(int)cfg[1]], cfg[2], cfg[3], cfg[4], field_names[f], got[f],
           ref[f]);
}

static void section_filter_agg(const config *cf, bench_table *t, const gpudf_kernel *k) {
  char b1[48], b2[48], b3[48];
  const gpudf_table *view = t->view;
  const double *x = col_f64(view, 0), *v = col_f64(view, 1);
  int64_t n = t->nrows;
  double bytes = 2.0 * (double)n * sizeof(double);
  /* values where the filter column is in [-0.5, 0.5]: about half the rows */
  const double cfg[FA_NPARAMS] = {0, OP_BETWEEN, -0.5, 0.5, 1};
  double res[FA_NRESULTS];
  GCHECK(gpudf_validate(view, k, cfg, 1));
  progress("3: filter_agg over %s, %d runs each (+%d warm-up)", fmt_bytes(b1, sizeof b1, bytes),
           cf->fa_reps, cf->fa_warm);
  double *tk = malloc((size_t)cf->fa_reps * sizeof(double));
  double *tp = malloc((size_t)cf->fa_reps * sizeof(double));
  if (!tk || !tp) fail(EXIT_FAILED, "out of memory");
  volatile double sink = 0;
  for (int i = 0; i < cf->fa_warm + cf->fa_reps; i++) {
    double t0 = now_s();
    gpudf_status st = gpudf_run(view, k, cfg, 1, res);
    double t1 = now_s();
    GCHECK(st);
    sink += plain_read(x, v, n);
    double t2 = now_s();
    if (i >= cf->fa_warm) {
      tk[i - cf->fa_warm] = t1 - t0;
      tp[i - cf->fa_warm] = t2 - t1;
    }
  }
  (void)sink;
  check_against_reference(view, cfg, res, 0);
  stats sk = stats_of(tk, cf->fa_reps), sp = stats_of(tp, cf->fa_reps);
  free(tk);
  free(tp);
  double bwk = bytes / sk.med / 1e9, bwp = bytes / sp.med / 1e9;
  double frac = bwk / bwp;
  row *r = add_row("3", "filter_agg 1 config, bytes/time");
  snprintf(r->gpudf, sizeof r->gpudf, "%.2f GB/s [%.2f - %.2f]", bwk, bytes / sk.max / 1e9,
           bytes / sk.min / 1e9);
  snprintf(r->base, sizeof r->base, "plain read %.2f GB/s [%.2f - %.2f]", bwp,
           bytes / sp.max / 1e9, bytes / sp.min / 1e9);
  snprintf(r->ratio, sizeof r->ratio, "%.0f%%", 100.0 * frac);
  snprintf(r->target, sizeof r->target, ">= 70%%");
  snprintf(r->verdict, sizeof r->verdict, "%s", frac >= 0.70 ? "PASS" : "MISS");
  r->num_gpudf = bwk, r->num_base = bwp, r->num_ratio = frac;
  snprintf(r->unit, sizeof r->unit, "GB/s");
  note("3: %" PRId64 " rows x 2 f64 columns (%s) read through an attached view; config "
       "between [-0.5, 0.5] on c0, aggregate c1 (%.0f rows pass); median times: filter_agg %s, "
       "plain read %s; %d runs each after %d warm-up, interleaved; GB = 1e9 bytes; answer "
       "matches the bench's scalar reference.\n",
       n, fmt_bytes(b1, sizeof b1, bytes), res[0], fmt_time(b2, sizeof b2, sk.med),
       fmt_time(b3, sizeof b3, sp.med), cf->fa_reps, cf->fa_warm);
}

/* Random valid configs: every op, random bounds; eq and ne compare against
 * a value that occurs in the filter column. mixed: random filter and value
 * columns too; otherwise all filter c0 and aggregate c1, as a threshold
 * sweep does. */
static void make_configs(const gpudf_table *t, double *cfg, int n, uint64_t seed, bool mixed) {
  uint64_t s = seed;
  static const double range[2][2] = {{-1.0, 1.0}, {1.0, 1001.0}}; /* as the table's */
  int64_t rows = gpudf_table_nrows(t);
  for (int k = 0; k < n; k++) {
    double *c = cfg + (size_t)k * FA_NPARAMS;
    int fcol = mixed ? (int)(splitmix64(&s) % 2) : 0, op = k % NOPS;
    double lo_r = range[fcol][0], w = range[fcol][1] - range[fcol][0];
    double a = lo_r + w * uniform(&s), b = lo_r + w * uniform(&s);
    c[0] = fcol;
    c[1] = op;
    c[2] = a < b ? a : b;
    c[3] = a < b ? b : a;
    c[4] = mixed ? (double)(splitmix64(&s) % 2) : 1.0;
    if (op == OP_EQ || op == OP_NE)
      c[2] = col_f64(t, fcol)[(int64_t)(splitmix64(&s) % (uint64_t)rows)];
  }
}

static bool same_double(double a, double b) {
  return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void section_batch(const config *cf, bench_table *t, const gpudf_kernel *k, bool mixed) {
  char b1[48], b2[48];
  const gpudf_table *view = t->view;
  double *cfg = malloc(NBATCH * FA_NPARAMS * sizeof *cfg);
  double *rb = malloc(NBATCH * FA_NRESULTS * sizeof *rb);
  double *rs = malloc(NBATCH * FA_NRESULTS * sizeof *rs);
  double *tb = malloc((size_t)cf->batch_reps * sizeof(double));
  double *ts = malloc((size_t)cf->batch_reps * sizeof(double));
  if (!cfg || !rb || !rs || !tb || !ts) fail(EXIT_FAILED, "out of memory");
  make_configs(view, cfg, NBATCH, 0x5eed0004, mixed);
  GCHECK(gpudf_validate(view, k, cfg, NBATCH));
  progress("4%s: %d configs, one batched run vs %d single runs, %d reps each (+%d warm-up)",
           mixed ? "b" : "a", NBATCH, NBATCH, cf->batch_reps, cf->batch_warm);
  for (int i = 0; i < cf->batch_warm + cf->batch_reps; i++) {
    double t0 = now_s();
    gpudf_status st = gpudf_run(view, k, cfg, NBATCH, rb);
    double t1 = now_s();
    GCHECK(st);
    for (int j = 0; j < NBATCH; j++)
      GCHECK(gpudf_run(view, k, cfg + (size_t)j * FA_NPARAMS, 1, rs + (size_t)j * FA_NRESULTS));
    double t2 = now_s();
    if (i >= cf->batch_warm) {
      tb[i - cf->batch_warm] = t1 - t0;
      ts[i - cf->batch_warm] = t2 - t1;
    }
  }
  /* Sanity first: batched == single and both == the reference. count, min
   * and max must be bit-identical; sum, mean and std may differ by summation
   * order (a batch may group configs differently), to 1e-12 of their scale,
   * and the notes say by how much. */
  int differ = 0;
  double worst = 0.0;
  for (int j = 0; j < NBATCH; j++) {
    const double *c = cfg + (size_t)j * FA_NPARAMS;
    const double *a = rb + (size_t)j * FA_NRESULTS, *b = rs + (size_t)j * FA_NRESULTS;
    double ref[FA_NRESULTS], sa;
    reference(view, c, ref, &sa);
    double n = ref[0] > 0 ? ref[0] : 1;
    double scale[FA_NRESULTS] = {0, sa, sa / n, 0, 0, isnan(ref[5]) ? 0 : ref[5]};
    bool same = true;
    for (int f = 0; f < FA_NRESULTS; f++) {
      if (same_double(a[f], b[f])) continue;
      same = false;
      double rel = isnan(a[f]) || isnan(b[f]) || scale[f] == 0 ? INFINITY
                                                                : fabs(a[f] - b[f]) / scale[f];
      if (rel > 1e-12)
        fail(EXIT_WRONG,
             "config %d (filter_col %g op %s lo %.17g hi %.17g value_col %g): %s is %.17g "
             "batched but %.17g alone",
             j, c[0], op_names[(int)c[1]], c[2], c[3], c[4], field_names[f], a[f], b[f]);
      worst = rel > worst ? rel : worst;
    }
    differ += !same;
    check_against_reference(view, c, a, j);
    check_against_reference(view, c, b, j);
  }
  stats sb = stats_of(tb, cf->batch_reps), ss = stats_of(ts, cf->batch_reps);
  double speedup = ss.med / sb.med;
  char what[96];
  snprintf(what, sizeof what, "%d configs in 1 gpudf_run%s", NBATCH,
           mixed ? ", mixed cols" : ", one pair");
  row *r = add_row(mixed ? "4b" : "4a", what);
  fmt_time_stats(r->gpudf, sizeof r->gpudf, sb);
  snprintf(r->base, sizeof r->base, "%d runs %s", NBATCH, fmt_time_stats(b1, sizeof b1, ss));
  snprintf(r->ratio, sizeof r->ratio, "%.1fx faster", speedup);
  snprintf(r->target, sizeof r->target, ">= 8x");
  snprintf(r->verdict, sizeof r->verdict, "%s", speedup >= 8.0 ? "PASS" : "MISS");
  r->num_gpudf = sb.med, r->num_base = ss.med, r->num_ratio = speedup;
  snprintf(r->unit, sizeof r->unit, "s");
  note("%s: same table as 3; %d random configs (each op %d times, random bounds, %s); "
       "%d reps of each after %d warm-up; per config: batched %s, single %s; answers equal "
       "to the scalar reference; ",
       mixed ? "4b" : "4a", NBATCH, NBATCH / NOPS,
       mixed ? "random filter and value columns" : "all filter c0 and aggregate c1",
       cf->batch_reps, cf->batch_warm,
       fmt_time(b1, sizeof b1, sb.med / NBATCH), fmt_time(b2, sizeof b2, ss.med / NBATCH));
  if (differ == 0)
    note("batched and single answers bit-identical.\n");
  else
    note("batched and single answers NOT bit-identical for %d of %d configs (sum/mean/std, "
         "largest difference %.1e of the values' scale; count/min/max identical).\n",
         differ, NBATCH, worst);
  free(cfg);
  free(rb);
  free(rs);
  free(tb);
  free(ts);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [--quick] [--rows-mib N] [--json PATH]\n"
          "  --quick       small sizes and few repetitions (a few seconds; for CI)\n"
          "  --rows-mib N  MiB of the two f64 columns of sections 3 and 4\n"
          "                (default 512, 64 with --quick)\n"
          "  --json PATH   also write the results as JSON\n");
}

int main(int argc, char **argv) {
  if (argc == 3 && (strcmp(argv[1], "--attach-read") == 0 ||
                    strcmp(argv[1], "--attach-copy") == 0))
    return attacher_main(argv[1], argv[2]);

  bool quick = false;
  long rows_mib = 0;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (strcmp(argv[i], "--rows-mib") == 0 && i + 1 < argc) {
      char *end;
      errno = 0;
      rows_mib = strtol(argv[++i], &end, 10);
      if (errno || *end || rows_mib < 1 || rows_mib > (1L << 20)) {
        fprintf(stderr, PROG ": --rows-mib wants a whole number of MiB in 1..1048576\n");
        return EXIT_FAILED;
      }
    } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return EXIT_FAILED;
    }
  }
  config cf = {
      .quick = quick,
      .small_bytes = 16 * MIB,
      .large_bytes = quick ? 64 * MIB : GIB,
      .fa_bytes = (rows_mib ? rows_mib : quick ? 64 : 512) * MIB,
      .attach_warm = 10,
      .attach_reps = quick ? 50 : 200,
      .copy_warm = 1,
      .copy_reps_small = quick ? 5 : 20,
      .copy_reps_large = quick ? 3 : 5,
      .fa_warm = 1,
      .fa_reps = quick ? 3 : 7,
      .batch_warm = 1,
      .batch_reps = 3,
  };
  signal(SIGPIPE, SIG_IGN);

  printf(PROG "%s\n", quick ? " --quick (sizes and repetitions shrunk; for CI)" : "");
  print_machine("/dev/shm");

  /* Section 2's baseline holds the table once in shared memory and 4 times
   * privately; refuse up front rather than push the machine into swap. */
  long long avail = mem_available_kib();
  double need = 6.0 * (double)cf.large_bytes + 2.0 * (double)cf.fa_bytes;
  if (avail > 0 && (double)avail * 1024.0 < need) {
    char b1[32], b2[32];
    fail(EXIT_FAILED, "needs about %s of free memory, %s is available (try --quick)",
         fmt_bytes(b1, sizeof b1, need), fmt_bytes(b2, sizeof b2, (double)avail * 1024.0));
  }

  const gpudf_kernel *kernel = NULL;
  GCHECK(gpudf_kernel_find("filter_agg", &kernel));

  static bench_table small, large, fa;
  progress("building the %lld MiB and %lld MiB tables", (long long)(cf.small_bytes / MIB),
           (long long)(cf.large_bytes / MIB));
  make_table(&small, "small", 8, cf.small_bytes / (8 * 8), 1, NULL);
  make_table(&large, "large", 8, cf.large_bytes / (8 * 8), 2, NULL);
  printf("backend:  %s (the share of the tables below)\n",
         gpudf_backend_name(gpudf_share_backend(large.share)));
  printf("timing:   CLOCK_MONOTONIC; times are medians over repetitions after warm-up runs\n"
         "          that are excluded, [min - max] over the measured repetitions\n");
  fflush(stdout);

  section_attach(&cf, &small, &large);
  drop_table(&small);
  section_pss(&large);
  drop_table(&large);

  int64_t fa_rows = cf.fa_bytes / 16;
  progress("building the %lld MiB filter_agg table", (long long)(cf.fa_bytes / MIB));
  /* c0 (filter) uniform in [-1, 1), c1 (value) uniform in [1, 1001). */
  static const double fa_range[2][2] = {{-1.0, 1.0}, {1.0, 1001.0}};
  make_table(&fa, "fa", 2, fa_rows, 3, fa_range);
  GCHECK(gpudf_attach(fa.name, &fa.view));
  check_view(&fa, fa.view);

  section_filter_agg(&cf, &fa, kernel);
  section_batch(&cf, &fa, kernel, false);
  section_batch(&cf, &fa, kernel, true);
  drop_table(&fa);

  print_rows();
  if (json) write_json(json, quick);
  cleanup_all();
  return 0;
}
