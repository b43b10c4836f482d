/*
 * internal.h - what the library's own files share. Never installed.
 *
 * Internal symbols carry the prefix gdf_ and are hidden: the library is built
 * with -fvisibility=hidden and only the declarations of gpudf.h, included
 * below under visibility "default", are exported.
 */
#ifndef GPUDF_INTERNAL_H
#define GPUDF_INTERNAL_H

#pragma GCC visibility push(default)
#include "gpudf.h"
#pragma GCC visibility pop

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- errors */

/* Sets the thread-local message to "<func>: <formatted text>" and returns
 * status. file/line are appended in debug logs only. */
gpudf_status gdf_error(gpudf_status status, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define GDF_ERR(status, ...) gdf_error((status), gdf_where(__func__), __VA_ARGS__)

/* Names of the columns gpudf_table_prepare derives (ma_crossover's prefix
 * sums); refused for other columns unless gdf_deriving (set by prepare). */
#define GDF_DERIVED_PREFIX "__prefix."
#define GDF_DERIVED_PREFIX_LO "__prefix_lo." /* their low parts (two-double sums) */
#ifndef __cplusplus
extern _Thread_local int gdf_deriving;
/* Bytes of shared memory the caller of gpudf_table_prepare still needs after
 * it (gpudf_sweep: its control segment and the share's descriptor): derived
 * columns are added only when they leave that much free (engine/table.c). */
extern _Thread_local uint64_t gdf_prepare_reserve;
#endif

/* What a kernel returns when gpudf_kernel_progress says the sweep is being
 * cancelled. */
#define GDF_KERNEL_CANCELLED() GDF_ERR(GPUDF_ECANCELED, "the sweep was cancelled")

/* The name a message starts with: the public call being served (GDF_ENTER),
 * so that users read the function they called rather than an internal
 * helper or a public call it made inside; func itself outside any. */
const char *gdf_where(const char *func);

/* Public entry points name themselves, unless they run inside another
 * public call (gpudf_sweep loads plugins, validates, shares the table;
 * gpudf_table_read_csv creates the table): every message then starts with
 * the call the user made. The name goes when the outermost call returns (a
 * cleanup attribute), so it never carries over to the next, unrelated call. */
#ifndef __cplusplus
extern _Thread_local const char *gdf_api_name;
static inline void gdf_api_leave(const char **outer) { gdf_api_name = *outer; }
#define GDF_ENTER()                                                               \
  const char *gdf_api_outer_ __attribute__((cleanup(gdf_api_leave), unused)) =   \
      gdf_api_name;                                                               \
  if (!gdf_api_name) gdf_api_name = __func__
#endif

/* Propagates a non-OK status, keeping the message set by the callee. */
#define GDF_TRY(expr)                      \
  do {                                     \
    gpudf_status gdf_try_s_ = (expr);      \
    if (gdf_try_s_ != GPUDF_OK) return gdf_try_s_; \
  } while (0)

/* Puts back a message saved from gpudf_last_error(), so that internal work
 * that failed harmlessly does not replace the caller's message. */
void gdf_restore_error(const char *saved);

/* Maps an errno value to the closest status. */
gpudf_status gdf_status_from_errno(int err);

/* Debug log on stderr when GPUDF_LOG=debug. */
bool gdf_log_enabled(void);
void gdf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --------------------------------------------------------------- table */

typedef struct gdf_column {
  char name[GPUDF_NAME_MAX + 1];
  gpudf_type type;
  uint64_t offset; /* from the arena base, multiple of GPUDF_ALIGNMENT */
  /* Categorical columns: the dictionary at dict_offset (aligned), dict_size
   * bytes: uint64 offsets[nlabels + 1] relative to the dictionary start,
   * then the labels, each NUL-terminated; label i spans
   * [offsets[i], offsets[i + 1]). dict_size is 0 for other columns. */
  uint64_t dict_offset;
  uint64_t dict_size;
  int32_t nlabels;
} gdf_column;

struct gdf_segment; /* host/segment.h */
struct gdf_attachment; /* host/share.c: a cached attach mapping */
struct gdf_placement;  /* engine/device.h: where kernels read the arena */

struct gpudf_table {
  int refs;        /* the handle + an open share; guarded by the caller */
  bool is_view;
  bool sealed;     /* shared once: the arena is read-only from then on */
  int busy;        /* in-process sweeps running kernels over it: the arena must not
                    * grow (it may move), e.g. from their progress callback */
  int64_t nrows;
  int ncols;
  int cap_cols;
  gdf_column *cols;
  uint8_t *base;   /* arena base in this process (NULL until a column exists) */
  uint64_t arena_bytes;
  /* owner only */
  struct gdf_segment *arena;
  gpudf_share *share;
  /* view only */
  struct gdf_attachment *attachment;
  /* view only: the share it was attached from, so a sweep over a view can
   * send its workers to the same share (set by make_view in host/share.c) */
  char view_share[GPUDF_NAME_MAX + 1];
  gpudf_backend view_backend;
  /* Device placement (cuda-ipc or cuda-pinned), NULL on cpu. An owner's is
   * its own reference (set by gpudf_table_share, released with the table);
   * a view's is borrowed from its attachment (engine/device.h). */
  struct gdf_placement *place;
};

/* Drops one reference; frees the table when the last one goes. */
void gdf_table_release(gpudf_table *t);
/* Removes segments of dead owners (gpudf_cleanup) without touching the
 * caller's error message; returns how many went. */
int gdf_sweep_quietly(void);
/* Drops a view's hold on its cached mapping (host/share.c). */
void gdf_attachment_release(struct gdf_attachment *a);
/* Appends the dictionary of nlabels labels (lens[i] bytes each, no NUL
 * needed; lens may be NULL for NUL-terminated labels) to the arena for the
 * existing i32 column col of an owner's table (engine/table.c). Column
 * pointers obtained before become invalid. */
gpudf_status gdf_table_set_dictionary(gpudf_table *t, int col, int32_t nlabels,
                                      const char *const *labels, const uint32_t *lens);
/* Size of one column of this table, rounded up to GPUDF_ALIGNMENT. */
uint64_t gdf_column_span(int64_t nrows, gpudf_type type);
/* NULL when the shared memory has room for ncols more columns of type in
 * the owner's table t, leaving gdf_prepare_reserve free; otherwise why not
 * (a message in thread-local storage, valid until the next call). Derived
 * columns are optional: a kernel computes them per batch instead. The
 * last error is left as it was. */
const char *gdf_derived_room(const gpudf_table *t, int ncols, gpudf_type type);

/* ------------------------------------------------------------ kernels */

/* Column access for kernels: the pointer in this process and the type. */
typedef struct gdf_colref {
  const void *data;
  gpudf_type type;
} gdf_colref;

typedef struct gdf_kernel_desc gdf_kernel_desc;

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
  /* Evaluates n validated configs over the table in one pass. */
  gpudf_status (*run_cpu)(const gpudf_table *t, const double *configs, int64_t n,
                          double *results);
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
};

/* The gpudf_accept bits parameter i of k accepts; 0 for a parameter that
 * is not a column. */
int gdf_param_accepts(const gpudf_kernel *k, int i);
/* The gpudf_accept bit of column col's type (GPUDF_ACCEPT_CATEGORICAL for a
 * categorical column); 0 for an index out of range or an unknown type. */
int gdf_column_accept(const gpudf_table *t, int col);
/* "i32, i64, bool or categorical" of a gpudf_accept mask, into buf. */
void gdf_accept_names(int mask, char *buf, size_t len);

/* The built-in kernels, defined in kernels/. */
extern const gpudf_kernel gdf_kernel_filter_agg;
extern const gpudf_kernel gdf_kernel_groupby_agg;
extern const gpudf_kernel gdf_kernel_histogram;
extern const gpudf_kernel gdf_kernel_ma_crossover;
extern const gpudf_kernel gdf_kernel_bootstrap;

/* Column reference for a kernel run. */
gdf_colref gdf_table_colref(const gpudf_table *t, int index);

/* ------------------------------------------------------------- device */

/* Whether a CUDA placement can work in this process, and why not
 * (engine/device.c, over the device of engine/device.h). */
int gdf_cuda_placement_available(gpudf_backend backend, const char **why);

/* ------------------------------------------------------------ process */

/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat);
 * 0 when the process does not exist. */
uint64_t gdf_proc_start_time(int pid);
/* Whether the process pid with that start time is still alive. */
bool gdf_proc_alive(int pid, uint64_t start_time);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_INTERNAL_H */
