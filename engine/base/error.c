/* error.c - status strings, the thread-local last-error message, debug log. */
#include "base.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024] = "no error";
_Thread_local const char *gdf_api_name;

const char *gpudf_version(void) { return GPUDF_VERSION_STRING; }

int gpudf_version_number(void) {
  return GPUDF_VERSION_MAJOR * 10000 + GPUDF_VERSION_MINOR * 100 + GPUDF_VERSION_PATCH;
}

const char *gpudf_status_str(gpudf_status status) {
  switch (status) {
  case GPUDF_OK: return "GPUDF_OK: success";
  case GPUDF_EPERM: return "GPUDF_EPERM: operation not permitted";
  case GPUDF_ENOENT: return "GPUDF_ENOENT: no such share, kernel, column or file";
  case GPUDF_EIO: return "GPUDF_EIO: system call failed";
  case GPUDF_EAGAIN: return "GPUDF_EAGAIN: share not ready yet";
  case GPUDF_ENOMEM: return "GPUDF_ENOMEM: out of memory";
  case GPUDF_EBUSY: return "GPUDF_EBUSY: table is shared and cannot change";
  case GPUDF_EEXIST: return "GPUDF_EEXIST: name already published";
  case GPUDF_ENODEV: return "GPUDF_ENODEV: backend or device not available";
  case GPUDF_EINVAL: return "GPUDF_EINVAL: invalid argument";
  case GPUDF_ENOSPC: return "GPUDF_ENOSPC: no space left in shared memory";
  case GPUDF_ENAMETOOLONG: return "GPUDF_ENAMETOOLONG: name too long";
  case GPUDF_EBADMSG: return "GPUDF_EBADMSG: not a valid gpudf segment";
  case GPUDF_EOVERFLOW: return "GPUDF_EOVERFLOW: size overflow";
  case GPUDF_ECANCELED: return "GPUDF_ECANCELED: cancelled";
  case GPUDF_EOWNERDEAD: return "GPUDF_EOWNERDEAD: owner process is dead";
  }
  return "GPUDF_E?: unknown status";
}

const char *gpudf_last_error(void) { return last_error; }

gpudf_status gpudf_set_error(gpudf_status status, const char *message) {
  snprintf(last_error, sizeof last_error, "%s", message ? message : "(no message)");
  return status;
}

static _Thread_local gdf_quiet *quiet;

void gdf_quiet_begin(gdf_quiet *q, char *why, size_t len) {
  q->why = why;
  q->len = why ? len : 0;
  if (q->len) why[0] = '\0';
  q->outer = quiet;
  quiet = q;
}

void gdf_quiet_end(gdf_quiet *q) { quiet = q->outer; }

const char *gdf_where(const char *func) {
  return gdf_api_name ? gdf_api_name : func;
}

/* "<func>: <text>" into buf (len > 0 bytes). */
static void format_error(char *buf, size_t len, const char *func, const char *fmt, va_list ap) {
  int n = snprintf(buf, len, "%s: ", func);
  if (n < 0 || n >= (int)len) n = 0;
  vsnprintf(buf + n, len - (size_t)n, fmt, ap);
}

gpudf_status gdf_error(gpudf_status status, const char *func, const char *fmt, ...) {
  /* In a quiet scope the message is nobody's error: formatted only where
   * the scope asked for it, never into the caller's last error. */
  char *buf = quiet ? quiet->why : last_error;
  size_t len = quiet ? quiet->len : sizeof last_error;
  if (len == 0) return status;
  va_list ap;
  va_start(ap, fmt);
  format_error(buf, len, func, fmt, ap);
  va_end(ap);
  if (gdf_log_enabled())
    fprintf(stderr, "gpudf: %s %d: %s\n", quiet ? "quiet error" : "error", (int)status, buf);
  return status;
}

gpudf_status gdf_status_from_errno(int err) {
  switch (err) {
  case EPERM: case EACCES: return GPUDF_EPERM;
  case ENOENT: return GPUDF_ENOENT;
  case EAGAIN: return GPUDF_EAGAIN;
  case ENOMEM: return GPUDF_ENOMEM;
  case EBUSY: return GPUDF_EBUSY;
  case EEXIST: return GPUDF_EEXIST;
  case ENODEV: return GPUDF_ENODEV;
  case EINVAL: return GPUDF_EINVAL;
  case ENOSPC: case EDQUOT: case EFBIG: return GPUDF_ENOSPC;
  case ENAMETOOLONG: return GPUDF_ENAMETOOLONG;
  case EOVERFLOW: return GPUDF_EOVERFLOW;
  default: return GPUDF_EIO;
  }
}

bool gdf_log_enabled(void) {
  /* Read once per process: getenv is not free and the setting is static. */
  static _Atomic int enabled = -1;
  int e = enabled;
  if (e < 0) {
    const char *v = getenv("GPUDF_LOG");
    enabled = e = v && strcmp(v, "debug") == 0;
  }
  return e;
}

void gdf_log(const char *fmt, ...) {
  if (!gdf_log_enabled()) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "gpudf: %s\n", msg);
}
