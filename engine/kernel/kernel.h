/*
 * kernel.h - what a kernel is: its description, checks and entry points, and
 * the built-in kernels.
 */
#ifndef GPUDF_KERNEL_H
#define GPUDF_KERNEL_H

#include "device.h"
#include "table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ kernels */

typedef struct gdf_kernel_desc gdf_kernel_desc;

/* How a kernel's results over all rows come from its results over row
 * ranges, so that a sweep can split the rows of one pass between workers
 * (docs/sweep.md, "Row-split sweeps"). Only for kernels whose results do
 * not depend on row order. A partial state is a fixed number of doubles
 * per config; merging the states of consecutive row ranges, first to last,
 * and finishing the last gives the result over their union. */
typedef struct gdf_kernel_split {
  /* Doubles of one config's state; NULL: its result width (the state is
   * the result row). */
  int (*nstate)(const double *config);
  /* Like the cpu entry, but writes n states (n x nstate) over in's rows;
   * NULL: the cpu entry (the state is the result row). */
  gdf_kernel_fn *partial;
  /* acc := the state over acc's rows followed by part's rows. */
  void (*merge)(const double *config, double *acc, const double *part);
  /* The result row of a merged state; NULL: the state is the result row. */
  void (*finish)(const double *config, const double *state, double *result);
} gdf_kernel_split;

/* A kernel is a static description plus functions; NULL marks optional ones. */
struct gpudf_kernel {
  const char *name;
  const char *summary;
  int nparams;
  const gpudf_param_info *params;
  int nfields;                    /* result fields per config (or per group) */
  const gpudf_result_info *fields;
  /* Result width for a config; NULL means nfields. */
  int (*nresults)(const double *config);
  /* Result name for index i, when nresults is not NULL. */
  void (*result_name)(const double *config, int i, gpudf_result_info *out);
  /* Checks the rules that span parameters or depend on column types, after
   * the per-parameter checks passed. Returns GPUDF_OK or sets a message that
   * names the parameter (the caller prefixes the config index). */
  gpudf_status (*check)(const gpudf_table *t, const double *config);
  /* Evaluates n validated configs over the table in one pass: a user
   * kernel's (gpudf_kernel_def), on the CPU only. */
  gpudf_status (*run_cpu)(const gpudf_table *t, const double *configs, int64_t n,
                          double *results);
  /* The same over a kernel input (engine/device/device.h), which is what a
   * built-in kernel gives: cpu with host addresses, on the CPU or launched
   * by the simulated device; cuda, optional, launched by a CUDA device with
   * device addresses. A kernel defines its cuda entry in its own .cu file
   * and names it with GDF_CUDA_ENTRY, so that builds without CUDA link. */
  gdf_kernel_fn *cpu;
  gdf_kernel_fn *cuda;
  /* Optional, for a row_order kernel: entries that run a series batch
   * (gdf_kernel_input.series_of: configs of many series in one launch, the
   * launch grid configs x series), launched on a device placement instead
   * of running each series on the host; cpu_series by the simulated device,
   * cuda_series (GDF_CUDA_ENTRY) by a CUDA one. */
  gdf_kernel_fn *cpu_series;
  gdf_kernel_fn *cuda_series;
  /* Optional: derived columns the owner appends once, before sharing, for
   * these validated configs (gpudf_table_prepare). Must be idempotent. */
  gpudf_status (*prepare)(gpudf_table *t, const double *configs, int64_t n);
  /* Optional: the pass a validated config belongs to; configs with equal
   * keys share one pass over the table in a batch, and a sweep groups them
   * into the same claims (gpudf_kernel_def.pass_key). */
  uint64_t (*pass_key)(const double *config);
  /* Per parameter: the column types a column parameter accepts
   * (gpudf_accept bits; NULL or 0: GPUDF_ACCEPT_NUMERIC). */
  const int *accepts;
  /* Per parameter: NULL, or the NULL-terminated column names (any case)
   * gpudf_kernel_default_column prefers among the accepted columns. */
  const char *const *const *prefer;
  /* Whether results depend on the order of the rows (a time series: moving
   * windows, positions, returns). A sweep with a series column runs such a
   * kernel on each series' rows alone (gdf_kernel_input.rows); others
   * ignore the series. */
  bool row_order;
  /* Optional, for a row_order kernel: the per-bar net returns of m
   * validated configs (configs[j * stride]) over the table rows
   * rows[0..n-1] (a series in time order), the ones their results come
   * from: R[j * n + i] is config j's return of the step that ends at row i,
   * for i > first[j] (rows up to first[j] have none: the kernel's warm-up of
   * missing prices); ppy[j]: the annualisation of its Sharpe ratio. An
   * equal-weight portfolio across series comes from them
   * (gpudf_series_summary.portfolio_*). Host memory, the host arena. */
  gpudf_status (*bar_returns)(const gpudf_table *t, const int64_t *rows, int64_t n,
                              const double *configs, int64_t m, int64_t stride, double *R,
                              int64_t *first, double *ppy);
  /* Optional: row splitting (NULL: never split; never with row_order). */
  const gdf_kernel_split *split;
  /* A user kernel's piece of a row-split sweep (gpudf_kernel_def.run_rows),
   * with its merge in user_split, which split then points at. */
  gpudf_status (*run_rows)(const gpudf_table *t, int64_t row_lo, int64_t row_hi,
                           const double *configs, int64_t n, double *results);
  gdf_kernel_split user_split;
};

/* The gpudf_accept bits parameter i of k accepts; 0 for a parameter that
 * is not a column. */
int gdf_param_accepts(const gpudf_kernel *k, int i);
/* The gpudf_accept bit of column col's type (GPUDF_ACCEPT_CATEGORICAL for a
 * categorical column); 0 for an index out of range or an unknown type. */
int gdf_column_accept(const gpudf_table *t, int col);
/* "i32, i64, bool or categorical" of a gpudf_accept mask, into buf. */
void gdf_accept_names(int mask, char *buf, size_t len);

/* The messages about parameter values (run.c, kernel_registry.c and the
 * kernels' own checks) format them with these two. */

/* The shortest "%g" (15 or 17 digits) that reads back as v, into buf; so a
 * message shows the value the user gave. Returns buf. */
const char *gdf_fmt_num(char *buf, size_t len, double v);
/* "a, b, c" of name(ctx, 0), ..., name(ctx, n - 1) into buf, cut short if
 * it does not fit. */
void gdf_join_names(char *buf, size_t len, int n, const char *(*name)(const void *ctx, int i),
                    const void *ctx);

/* The built-in kernels are gdf_kernel_<name>, defined in kernels/<name>/
 * and listed once in engine/kernel/kernel_registry.c. */

/* Makes the calling thread's next gpudf_run calls read only the table rows
 * rows[0..n-1] (a series, in time order), for kernels with row_order; NULL:
 * every row again. Set by a sweep around the batches of one series. */
void gdf_run_rows_set(const int64_t *rows, int64_t n);

/* Whether gdf_run_series would launch k's series entry on t's placement
 * (a device placement, and the entry of the kind its device runs). */
bool gdf_run_series_placed(const gpudf_table *t, const gpudf_kernel *k);
/* Runs n validated configs of a series sweep in one launch on t's device
 * placement, config i over the rows of series series_of[i] (rows order[
 * starts[q]] .. order[starts[q + 1] - 1], host memory). GPUDF_ENODEV when
 * gdf_run_series_placed is false; a kernel error (a series too short for a
 * config) fails the whole run: the caller then runs the configs one by one. */
gpudf_status gdf_run_series(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                            int64_t n, double *results, const int64_t *series_of,
                            const int64_t *order, const int64_t *starts);

/* A kernel's state width for config (its result width without nstate). */
int gdf_kernel_nstate(const gpudf_kernel *k, const double *config);

/* Runs n validated configs over table rows [row_lo, row_hi) only, on the
 * host arena, into n partial states (gdf_kernel_split): the piece of a
 * row-split sweep. GPUDF_ENODEV for a kernel without split or a table
 * without a host arena. Does not validate (the sweep did, once). */
gpudf_status gdf_run_partial(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                             int64_t n, int64_t row_lo, int64_t row_hi, double *states);

/* Column index of a kernel input as a column reference. */
static inline gdf_colref gdf_input_col(const gdf_kernel_input *in, int index) {
  gdf_colref r = {in->cols[index].data, in->cols[index].type};
  return r;
}
/* The index of the input's column called name, or -1: a quiet lookup (a
 * derived column a prepare step may not have added is no error). */
int gdf_input_find(const gdf_kernel_input *in, const char *name);

/* fn, a kernel's CUDA entry (defined in its cuda_<name>.cu), in a build
 * with CUDA; NULL without, where nothing defines it. Used in a kernel's
 * definition: .cuda = GDF_CUDA_ENTRY(gdf_kernel_<name>_cuda). */
#ifdef GPUDF_HAVE_CUDA
#define GDF_CUDA_ENTRY(fn) (&(fn))
#else
#define GDF_CUDA_ENTRY(fn) NULL
#endif

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_KERNEL_H */
