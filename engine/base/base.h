/*
 * base.h - what every file of the library shares: errors, logging, the
 * visibility rule. Never installed.
 *
 * Internal symbols carry the prefix gdf_ and are hidden: the library is built
 * with -fvisibility=hidden and only the declarations of gpudf.h, included
 * below under visibility "default", are exported.
 */
#ifndef GPUDF_BASE_H
#define GPUDF_BASE_H

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
 * sums): a user's column may not start with them (engine/table/table.c);
 * prepare adds them through gdf_table_alloc_derived. */
#define GDF_DERIVED_PREFIX "__prefix."
#define GDF_DERIVED_PREFIX_LO "__prefix_lo." /* their low parts (two-double sums) */
/* The row order of a long table by series (and time) that a sweep keeps
 * with the table (engine/sweep/sweep_series.c). */
#define GDF_DERIVED_ORDER "__order."
#ifndef __cplusplus
/* Bytes of shared memory the caller of gpudf_table_prepare still needs after
 * it (gpudf_sweep: its control segment and the share's descriptor): derived
 * columns are added only when they leave that much free (engine/table/table.c). */
extern _Thread_local uint64_t gdf_prepare_reserve;
#endif

/* What a kernel returns when gpudf_kernel_progress says the sweep is being
 * cancelled. */
#define GDF_KERNEL_CANCELLED() GDF_ERR(GPUDF_ECANCELED, "the sweep was cancelled")

/* How a message names the call the user made. The one rule: every public
 * entry point starts with GDF_ENTER(), and every message is made with
 * GDF_ERR, which starts it with gdf_where(__func__): the outermost public
 * call being served, so that users read the function they called rather
 * than an internal helper or a public call it made inside (gpudf_sweep
 * loads plugins, validates, shares the table; gpudf_table_read_csv creates
 * the table); the helper's own name outside any public call. The name goes
 * when the outermost call returns (a cleanup attribute), so it never
 * carries over to the next, unrelated call. */
const char *gdf_where(const char *func);
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

/* Where a miss is expected (is there a column of this name? is this file a
 * live share?) the library asks a quiet query, which answers -1 or false
 * and formats nothing. What remains is internal work that may fail without
 * that being the caller's error: removing what dead owners left, a
 * placement that falls back under auto, undoing a step after the real
 * failure. It runs in a quiet scope: between gdf_quiet_begin and
 * gdf_quiet_end, GDF_ERR returns its status, formats the message only into
 * why (when given, for a log line; NULL: not at all) and leaves the
 * thread's last error as the caller had it. Scopes nest; the innermost
 * takes the messages. Nothing inside may read gpudf_last_error(). */
typedef struct gdf_quiet {
  char *why;
  size_t len;
  struct gdf_quiet *outer;
} gdf_quiet;
void gdf_quiet_begin(gdf_quiet *q, char *why, size_t len);
void gdf_quiet_end(gdf_quiet *q);

/* Maps an errno value to the closest status. */
gpudf_status gdf_status_from_errno(int err);

/* Phase timing of one call on this thread (engine/base/trace.c). Between
 * gdf_trace_begin(on) and gdf_trace_end, each gdf_trace_mark(phase) adds the
 * time since the previous mark (or the begin) to phase (a string literal;
 * repeated names add up); gdf_trace_end prints one line on stderr,
 * "gpudf: trace WHAT 'SUBJECT' (us): phase=us ... total=us status=N", when on.
 * Nested begins are counted and only the outermost prints. Nothing is
 * measured when off. */
bool gdf_attach_trace_enabled(void); /* GPUDF_ATTACH_TRACE=1, read per call */
void gdf_trace_begin(bool on);
void gdf_trace_mark(const char *phase);
void gdf_trace_end(const char *what, const char *subject, int status);

/* Debug log on stderr when GPUDF_LOG=debug. */
bool gdf_log_enabled(void);
void gdf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_BASE_H */
