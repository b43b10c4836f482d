/* trace.c - phase timing of one public call, per thread: what
 * GPUDF_ATTACH_TRACE=1 prints for each gpudf_attach (docs/placements.md,
 * "Attach cost"). The marks cost a clock read each while tracing and one
 * branch otherwise. */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GDF_TRACE_PHASES = 24 };

typedef struct gdf_trace_state {
  int depth; /* nested begins: the outermost prints */
  bool on;
  double start, last;
  int n;
  const char *name[GDF_TRACE_PHASES];
  double us[GDF_TRACE_PHASES];
} gdf_trace_state;

static _Thread_local gdf_trace_state trace;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

bool gdf_attach_trace_enabled(void) {
  /* Read on every call, not cached: a benchmark turns it on for one attach. */
  const char *v = getenv("GPUDF_ATTACH_TRACE");
  return v && strcmp(v, "1") == 0;
}

void gdf_trace_begin(bool on) {
  if (trace.depth++ > 0) return;
  trace.on = on;
  trace.n = 0;
  if (on) trace.start = trace.last = now_us();
}

void gdf_trace_mark(const char *phase) {
  if (!trace.on) return;
  double t = now_us();
  int i = 0;
  while (i < trace.n && strcmp(trace.name[i], phase) != 0) i++;
  if (i == GDF_TRACE_PHASES) {
    i = GDF_TRACE_PHASES - 1; /* full: the last phase takes the rest */
  } else if (i == trace.n) {
    trace.n++;
    trace.name[i] = phase;
    trace.us[i] = 0;
  }
  trace.us[i] += t - trace.last;
  trace.last = t;
}

void gdf_trace_end(const char *what, const char *subject, int status) {
  if (--trace.depth > 0 || !trace.on) return;
  trace.on = false;
  double total = now_us() - trace.start;
  char line[1024];
  int len = snprintf(line, sizeof line, "gpudf: trace %s '%s' (us):", what, subject);
  for (int i = 0; i < trace.n && len > 0 && (size_t)len < sizeof line; i++)
    len += snprintf(line + len, sizeof line - (size_t)len, " %s=%.1f", trace.name[i],
                    trace.us[i]);
  if (len > 0 && (size_t)len < sizeof line)
    snprintf(line + len, sizeof line - (size_t)len, " total=%.1f status=%d", total, status);
  fprintf(stderr, "%s\n", line);
}
