/*
 * run.c - checks configs against a kernel's parameter descriptions, then
 * evaluates a batch in the calling process.
 *
 * Every kernel gets the same per-parameter checks here, so kernels only write
 * the rules that span parameters. A message names the config index, the
 * parameter, its value and the rule, because a bad config in a sweep of
 * thousands is otherwise hard to find.
 */
#include "device.h"
#include "kernel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gdf_fmt_num(char *buf, size_t len, double v) {
  snprintf(buf, len, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
  return buf;
}

static bool integral(double v) { return isfinite(v) && v == floor(v); }

/* Name i of choice parameter ctx (a gpudf_param_info), for gdf_join_names. */
static const char *choice_at(const void *ctx, int i) {
  const gpudf_param_info *p = ctx;
  return p->choices ? p->choices[i] : "?";
}

/* Whether v obeys the rule of p's kind: the fast path, run for every
 * parameter of every config, so it formats nothing. */
static bool value_ok(const gpudf_param_info *p, double v, int ncols) {
  switch (p->kind) {
  case GPUDF_PARAM_COLUMN: return integral(v) && v >= 0 && v < ncols;
  case GPUDF_PARAM_INTEGER: return integral(v) && v >= p->min && v <= p->max;
  case GPUDF_PARAM_REAL: return v >= p->min && v <= p->max; /* false for NaN */
  case GPUDF_PARAM_CHOICE: return integral(v) && v >= 0 && v < p->nchoices;
  }
  return false;
}

/* The message for config i's value v that value_ok refused. Like every
 * message here it starts with the public call (gpudf_validate, gpudf_run,
 * or the gpudf_sweep or gpudf_table_prepare that validates). */
static gpudf_status value_error(int64_t i, const gpudf_param_info *p, double v, int ncols) {
  char b[32], lo[32], hi[32], names[512];
  long long ci = (long long)i;
  gdf_fmt_num(b, sizeof b, v);
  switch (p->kind) {
  case GPUDF_PARAM_COLUMN:
    return GDF_ERR(GPUDF_EINVAL,
                   "config %lld: parameter '%s' = %s is not a column index "
                   "(an integer in 0..%d: the table has %d columns)",
                   ci, p->name, b, ncols - 1, ncols);
  case GPUDF_PARAM_INTEGER:
    return GDF_ERR(GPUDF_EINVAL,
                   "config %lld: parameter '%s' = %s is not an integer in [%s, %s]",
                   ci, p->name, b, gdf_fmt_num(lo, sizeof lo, p->min),
                   gdf_fmt_num(hi, sizeof hi, p->max));
  case GPUDF_PARAM_REAL:
    if (isnan(v))
      return GDF_ERR(GPUDF_EINVAL,
                     "config %lld: parameter '%s' = %s is not a number "
                     "(a real parameter may not be NaN)", ci, p->name, b);
    return GDF_ERR(GPUDF_EINVAL,
                   "config %lld: parameter '%s' = %s is outside [%s, %s]",
                   ci, p->name, b, gdf_fmt_num(lo, sizeof lo, p->min),
                   gdf_fmt_num(hi, sizeof hi, p->max));
  case GPUDF_PARAM_CHOICE:
    gdf_join_names(names, sizeof names, p->nchoices, choice_at, p);
    return GDF_ERR(GPUDF_EINVAL,
                   "config %lld: parameter '%s' = %s is not a valid choice (%s)",
                   ci, p->name, b, names);
  }
  return GDF_ERR(GPUDF_EINVAL, "config %lld: parameter '%s' has unknown kind %d",
                 ci, p->name, (int)p->kind);
}

/* The message for a column that column parameter p does not accept. A
 * categorical column's codes are labels: summing or backtesting them would
 * give a number that means nothing, so the message says what it holds. */
static gpudf_status column_type_error(int64_t i, const gpudf_table *t,
                                      const gpudf_param_info *p, int col, int accepts) {
  char types[128];
  gdf_accept_names(accepts, types, sizeof types);
  const char *cname = gpudf_table_column_name(t, col);
  if (gpudf_table_column_is_categorical(t, col))
    return GDF_ERR(GPUDF_EINVAL,
                   "config %lld: parameter '%s' = %d is column '%s', which holds text "
                   "labels (categorical); '%s' needs %s (%s columns)",
                   (long long)i, p->name, col, cname, p->name,
                   accepts & GPUDF_ACCEPT_NUMERIC ? "numbers" : "another type", types);
  const char *type = gpudf_type_name(gpudf_table_column_type(t, col));
  return GDF_ERR(GPUDF_EINVAL,
                 "config %lld: parameter '%s' = %d is column '%s' of type %s; '%s' takes "
                 "%s columns", (long long)i, p->name, col, cname, type ? type : "unknown",
                 p->name, types);
}

/* Shape parameters fix the result width of the whole batch. */
static gpudf_status check_shape(int64_t i, const gpudf_param_info *p, double v, double first) {
  if (v == first) return GPUDF_OK;
  char b[32], f[32];
  return GDF_ERR(GPUDF_EINVAL,
                 "config %lld: parameter '%s' = %s differs from config 0 (%s); a shape "
                 "parameter must be equal in every config of a batch",
                 (long long)i, p->name, gdf_fmt_num(b, sizeof b, v),
                 gdf_fmt_num(f, sizeof f, first));
}

/* The kernel's own rules; its message gets the config index in front. */
static gpudf_status check_kernel(int64_t i, const gpudf_table *t, const gpudf_kernel *k,
                                 const double *config) {
  if (!k->check) return GPUDF_OK;
  gpudf_status st = k->check(t, config);
  if (st == GPUDF_OK) return st;
  char why[1024];
  snprintf(why, sizeof why, "%s", gpudf_last_error());
  return GDF_ERR(st, "config %lld: %s", (long long)i, why);
}

static gpudf_status check_config(int64_t i, const gpudf_table *t, const gpudf_kernel *k,
                                 const double *configs, int ncols) {
  const double *c = configs + i * k->nparams;
  for (int j = 0; j < k->nparams; j++) {
    const gpudf_param_info *p = &k->params[j];
    if (!value_ok(p, c[j], ncols)) return value_error(i, p, c[j], ncols);
    if (p->kind == GPUDF_PARAM_COLUMN) {
      int accepts = gdf_param_accepts(k, j);
      if (!(gdf_column_accept(t, (int)c[j]) & accepts))
        return column_type_error(i, t, p, (int)c[j], accepts);
    }
    if (p->shape && i > 0) GDF_TRY(check_shape(i, p, c[j], configs[j]));
  }
  return check_kernel(i, t, k, c);
}

static gpudf_status validate(const gpudf_table *t, const gpudf_kernel *k,
                             const double *configs, int64_t n) {
  if (!t) return GDF_ERR(GPUDF_EINVAL, "table is NULL");
  if (!k) return GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
  if (n < 0) return GDF_ERR(GPUDF_EINVAL, "n = %lld configs is negative", (long long)n);
  if (n > 0 && !configs)
    return GDF_ERR(GPUDF_EINVAL, "configs is NULL for %lld configs", (long long)n);
  int ncols = gpudf_table_ncols(t);
  if (ncols <= 0)
    return GDF_ERR(GPUDF_EINVAL, "the table has no columns for kernel '%s' to read", k->name);
  for (int64_t i = 0; i < n; i++) GDF_TRY(check_config(i, t, k, configs, ncols));
  return GPUDF_OK;
}

gpudf_status gpudf_validate(const gpudf_table *table, const gpudf_kernel *kernel,
                            const double *configs, int64_t n) {
  GDF_ENTER();
  return validate(table, kernel, configs, n);
}

/* ------------------------------------------------------------- running */

int gdf_input_find(const gdf_kernel_input *in, const char *name) {
  for (int c = 0; c < in->ncols; c++)
    if (strcmp(in->cols[c].name, name) == 0) return c;
  return -1;
}

/* Columns of an input on the stack up to this many; more are allocated. */
enum { GDF_INPUT_STACK_COLS = 64 };

/* in = the table's rows and columns at base (the host arena, or its
 * placement's device copy: column offsets are the same in both). cols has
 * room for GDF_INPUT_STACK_COLS; *heap is what was allocated beyond it. */
static gpudf_status input_init(gdf_kernel_input *in, const gpudf_table *t, const uint8_t *base,
                               int device, gdf_kernel_column *cols, gdf_kernel_column **heap) {
  *heap = NULL;
  if (t->ncols > GDF_INPUT_STACK_COLS) {
    cols = *heap = malloc((size_t)t->ncols * sizeof *cols);
    if (!cols)
      return GDF_ERR(GPUDF_ENOMEM, "out of memory for the %d columns of a kernel input", t->ncols);
  }
  for (int c = 0; c < t->ncols; c++) {
    const gdf_column *m = &t->cols[c];
    cols[c] = (gdf_kernel_column){base + m->offset, m->type, m->nlabels, m->name};
  }
  *in = (gdf_kernel_input){t->nrows, t->ncols, cols, device, NULL, NULL, NULL, NULL, NULL};
  return GPUDF_OK;
}

/* The series rows of this thread's runs (gdf_run_rows_set). */
static _Thread_local const int64_t *run_rows;
static _Thread_local int64_t run_nrows;

void gdf_run_rows_set(const int64_t *rows, int64_t n) {
  run_rows = rows;
  run_nrows = rows ? n : 0;
}

/* The kernel on the CPU, over the host arena. */
static gpudf_status run_host(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                             int64_t n, double *results) {
  if (!k->cpu) {
    if (!k->run_cpu)
      return GDF_ERR(GPUDF_ENODEV, "kernel '%s' has no CPU implementation", k->name);
    return k->run_cpu(t, configs, n, results);
  }
  gdf_kernel_column cols[GDF_INPUT_STACK_COLS], *heap;
  gdf_kernel_input in;
  GDF_TRY(input_init(&in, t, t->base, -1, cols, &heap));
  if (run_rows && k->row_order) in.rows = run_rows, in.nrows = run_nrows;
  gpudf_status st = k->cpu(&in, configs, n, results);
  free(heap);
  return st;
}

/* The kernel on the table's device placement: the device's launch runs the
 * kernel's entry of the kind it runs (CUDA code on a CUDA device, the CPU
 * entry on the simulated one) over the placement's addresses. A kernel with
 * no such entry runs on the CPU, which reads the same table. */
static gpudf_status run_placed(const gpudf_table *t, const gpudf_kernel *k,
                               const double *configs, int64_t n, double *results) {
  const gdf_placement *p = t->place;
  const gdf_device *d;
  const uint8_t *dbase;
  /* The replica of the calling thread's current device, where there is
   * one (device.h); checked first: its memory may have gone since. */
  const gdf_replica *read = gdf_placement_read(p, &d, &dbase);
  GDF_TRY(gdf_view_device_check(t, read, NULL));
  gdf_kernel_fn *fn = d->ops->entry_kind(d) == GDF_ENTRY_CUDA ? k->cuda : k->cpu;
  if (!fn) {
    gdf_log("run: kernel %s has no %s implementation; running it on the CPU", k->name,
            d->ops->name);
    return run_host(t, k, configs, n, results);
  }
  gdf_kernel_column cols[GDF_INPUT_STACK_COLS], *heap;
  gdf_kernel_input in;
  GDF_TRY(input_init(&in, t, dbase, d->ordinal, cols, &heap));
  gdf_log("run: kernel %s, %lld configs over %lld rows on %s device %d (%s)", k->name,
          (long long)n, (long long)t->nrows, d->ops->name, d->ordinal,
          gpudf_backend_name(p->backend));
  gdf_range_push("gpudf batch");
  gpudf_status st = d->ops->launch(d, k->name, fn, &in, configs, n, results);
  gdf_range_pop();
  free(heap);
  return st;
}

/* The device (and its base) t's kernels run on: the calling thread's
 * current one of the replicas, else the placement's own. */
static const gdf_device *placed_device(const gpudf_table *t, const uint8_t **dbase) {
  const gdf_device *d;
  (void)gdf_placement_read(t->place, &d, dbase);
  return d;
}

static gdf_kernel_fn *series_entry(const gpudf_table *t, const gpudf_kernel *k,
                                   const gdf_device **d, const uint8_t **dbase) {
  if (!t || !k || !t->place || !k->row_order) return NULL;
  *d = placed_device(t, dbase);
  return (*d)->ops->entry_kind(*d) == GDF_ENTRY_CUDA ? k->cuda_series : k->cpu_series;
}

bool gdf_run_series_placed(const gpudf_table *t, const gpudf_kernel *k) {
  const gdf_device *d;
  const uint8_t *dbase;
  return series_entry(t, k, &d, &dbase) != NULL;
}

gpudf_status gdf_run_series(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                            int64_t n, double *results, const int64_t *series_of,
                            const int64_t *order, const int64_t *starts) {
  GDF_ENTER();
  const gdf_device *d = NULL;
  const uint8_t *dbase = NULL;
  gdf_kernel_fn *fn = series_entry(t, k, &d, &dbase);
  if (!fn)
    return GDF_ERR(GPUDF_ENODEV, "kernel '%s' has no series entry for this placement",
                   k ? k->name : "(null)");
  GDF_TRY(gdf_view_device_check(t, gdf_placement_read(t->place, &d, &dbase), NULL));
  if (n == 0) return GPUDF_OK;
  gdf_kernel_column cols[GDF_INPUT_STACK_COLS], *heap;
  gdf_kernel_column hcols[GDF_INPUT_STACK_COLS], *hheap = NULL;
  gdf_kernel_input in, host = {0};
  GDF_TRY(input_init(&in, t, dbase, d->ordinal, cols, &heap));
  in.series_of = series_of, in.order = order, in.starts = starts;
  /* The host arena's columns too: the batch's series are gathered there. */
  gpudf_status st = t->base ? input_init(&host, t, t->base, -1, hcols, &hheap) : GPUDF_OK;
  if (st != GPUDF_OK) {
    free(heap);
    return st;
  }
  in.host_cols = t->base ? host.cols : NULL;
  gdf_log("run: kernel %s, %lld (config, series) pairs in one launch on %s device %d (%s)",
          k->name, (long long)n, d->ops->name, d->ordinal,
          gpudf_backend_name(t->place->backend));
  gdf_range_push("gpudf series batch");
  st = d->ops->launch(d, k->name, fn, &in, configs, n, results);
  gdf_range_pop();
  free(heap), free(hheap);
  return st;
}

gpudf_status gpudf_run(const gpudf_table *table, const gpudf_kernel *kernel,
                       const double *configs, int64_t n, double *results) {
  GDF_ENTER(); /* so that the kernels' messages start with gpudf_run */
  GDF_TRY(validate(table, kernel, configs, n));
  if (n == 0) return GPUDF_OK;
  if (!results) return GDF_ERR(GPUDF_EINVAL, "results is NULL for %lld configs", (long long)n);
  if (run_rows && kernel->row_order) {
    /* A series' row list is host memory: its kernels run on the host arena
     * (the device entries read whole columns in table order). */
    if (!table->base || !kernel->cpu)
      return GDF_ERR(GPUDF_ENODEV, "kernel '%s' cannot run one series on this placement "
                     "(no host copy of the table, or no CPU entry)", kernel->name);
    gdf_log("run: kernel %s, %lld configs over a series of %lld rows on the CPU",
            kernel->name, (long long)n, (long long)run_nrows);
    return run_host(table, kernel, configs, n, results);
  }
  if (table->place) return run_placed(table, kernel, configs, n, results);
  gdf_log("run: kernel %s, %lld configs over %lld rows on the CPU", kernel->name,
          (long long)n, (long long)gpudf_table_nrows(table));
  return run_host(table, kernel, configs, n, results);
}

/* ------------------------------------------------------ row-split pieces */

int gdf_kernel_nstate(const gpudf_kernel *k, const double *config) {
  if (k->split && k->split->nstate) return k->split->nstate(config);
  return k->nresults ? k->nresults(config) : k->nfields;
}

/* The input is the table's own, with each column starting at row_lo: the
 * split kernels read rows by index from their column's start, never by an
 * absolute row number (that is what row_order kernels do, and they never
 * split). */
gpudf_status gdf_run_partial(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                             int64_t n, int64_t row_lo, int64_t row_hi, double *states) {
  GDF_ENTER();
  if (!k->split || k->row_order || !(k->cpu || k->run_rows) || !t->base)
    return GDF_ERR(GPUDF_ENODEV, "kernel '%s' cannot run over a range of rows here (no "
                   "merge of partial results, or no host copy of the table)", k->name);
  if (row_lo < 0 || row_hi < row_lo || row_hi > t->nrows)
    return GDF_ERR(GPUDF_EINVAL, "rows [%lld, %lld) are outside the table's %lld rows",
                   (long long)row_lo, (long long)row_hi, (long long)t->nrows);
  if (n == 0) return GPUDF_OK;
  if (!k->cpu) return k->run_rows(t, row_lo, row_hi, configs, n, states); /* a user kernel */
  gdf_kernel_column cols[GDF_INPUT_STACK_COLS], *heap;
  gdf_kernel_input in;
  GDF_TRY(input_init(&in, t, t->base, -1, cols, &heap));
  gdf_kernel_column *own = heap ? heap : cols;
  for (int c = 0; c < in.ncols; c++)
    own[c].data = (const uint8_t *)own[c].data + (size_t)row_lo * gpudf_type_size(own[c].type);
  in.nrows = row_hi - row_lo;
  gdf_kernel_fn *fn = k->split->partial ? k->split->partial : k->cpu;
  gpudf_status st = fn(&in, configs, n, states);
  free(heap);
  return st;
}
