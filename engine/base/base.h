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
 * sums); refused for other columns unless gdf_deriving (set by prepare). */
#define GDF_DERIVED_PREFIX "__prefix."
#define GDF_DERIVED_PREFIX_LO "__prefix_lo." /* their low parts (two-double sums) */
#ifndef __cplusplus
extern _Thread_local int gdf_deriving;
/* Bytes of shared memory the caller of gpudf_table_prepare still needs after
 * it (gpudf_sweep: its control segment and the share's descriptor): derived
 * columns are added only when they leave that much free (engine/table/table.c). */
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

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_BASE_H */
