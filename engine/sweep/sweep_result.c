/* sweep_result.c - the result handle of a sweep, the progress bar, and the
 * SIGINT/SIGTERM handlers that turn a signal into a cancel. */
#include "sweep_owner.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --------------------------------------------------------------- result */

gpudf_status gdf_result_new(int64_t n, gpudf_sweep_result **out) {
  gpudf_sweep_result *r = calloc(1, sizeof *r);
  size_t un = (size_t)n + 1; /* never a zero-size allocation */
  if (r) {
    r->n = n;
    r->state = calloc(un, sizeof *r->state);
    r->err = calloc(un, sizeof *r->err);
    r->reason = calloc(un, sizeof *r->reason);
  }
  if (!r || !r->state || !r->err || !r->reason) {
    gpudf_sweep_result_free(r);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for the status of %lld configs", (long long)n);
  }
  *out = r;
  return GPUDF_OK;
}

int gdf_result_add_worker(gpudf_sweep_result *r, int pid) {
  if (r->nworkers == r->capworkers) {
    int cap = r->capworkers ? 2 * r->capworkers : 8;
    gpudf_sweep_worker_info *w = realloc(r->workers, (size_t)cap * sizeof *w);
    if (!w) return -1;
    r->workers = w;
    r->capworkers = cap;
  }
  gpudf_sweep_worker_info *w = &r->workers[r->nworkers];
  memset(w, 0, sizeof *w);
  w->pid = pid;
  snprintf(w->exit, sizeof w->exit, "running");
  return r->nworkers++;
}

bool gdf_result_set_reason(gpudf_sweep_result *r, int64_t i, const char *text) {
  char *copy = strndup(text, GPUDF_SWEEP_REASON_MAX - 1);
  if (!copy) return false;
  free(r->reason[i]);
  r->reason[i] = copy;
  return true;
}

void gpudf_sweep_result_free(gpudf_sweep_result *r) {
  if (!r) return;
  if (r->reason)
    for (int64_t i = 0; i < r->n; i++) free(r->reason[i]);
  free(r->reason);
  free(r->state);
  free(r->err);
  free(r->workers);
  free(r->skipped);
  gdf_series_free_labels(r->labels, r->nseries);
  free(r->portfolio);
  free(r);
}

const char *gpudf_sweep_result_series(const gpudf_sweep_result *r, int64_t i) {
  if (!r || i < 0 || i >= r->n || r->nseries <= 0 || !r->labels) return "";
  return r->labels[i % r->nseries];
}

int64_t gpudf_sweep_result_nseries(const gpudf_sweep_result *r) {
  return r ? (r->nseries > 0 ? r->nseries : 1) : 0;
}

int64_t gpudf_sweep_result_count(const gpudf_sweep_result *r) { return r ? r->n : 0; }

gpudf_config_state gpudf_sweep_result_state(const gpudf_sweep_result *r, int64_t i) {
  if (!r || i < 0 || i >= r->n) return GPUDF_CONFIG_PENDING;
  return (gpudf_config_state)r->state[i];
}

gpudf_status gpudf_sweep_result_error(const gpudf_sweep_result *r, int64_t i) {
  if (!r) return GDF_ERR(GPUDF_EINVAL, "result is NULL");
  if (i < 0 || i >= r->n)
    return GDF_ERR(GPUDF_EINVAL, "config index %lld is out of range", (long long)i);
  return (gpudf_status)r->err[i];
}

const char *gpudf_sweep_result_reason(const gpudf_sweep_result *r, int64_t i) {
  if (!r || i < 0 || i >= r->n || !r->reason[i]) return "";
  return r->reason[i];
}

gpudf_status gpudf_sweep_result_report(const gpudf_sweep_result *r, gpudf_sweep_report *out) {
  if (!r || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", r ? "out" : "result");
  *out = r->report;
  return GPUDF_OK;
}

int gpudf_sweep_result_nworkers(const gpudf_sweep_result *r) { return r ? r->nworkers : 0; }

int gpudf_sweep_result_signal(const gpudf_sweep_result *r) { return r ? r->signal : 0; }

const char *gpudf_sweep_result_skipped(const gpudf_sweep_result *r) {
  return r && r->skipped ? r->skipped : "";
}

gpudf_status gpudf_sweep_result_worker(const gpudf_sweep_result *r, int index,
                                       gpudf_sweep_worker_info *out) {
  if (!r || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", r ? "out" : "result");
  if (index < 0 || index >= r->nworkers)
    return GDF_ERR(GPUDF_EINVAL, "worker index %d is out of range (%d workers)", index,
                   r->nworkers);
  *out = r->workers[index];
  return GPUDF_OK;
}

/* ---------------------------------------------------------- progress bar */

int gpudf_progress_bar(const gpudf_sweep_progress *p, void *user) {
  (void)user;
  if (!p || !isatty(STDERR_FILENO)) return 0;
  enum { WIDTH = 30 };
  int64_t fin = p->done + p->failed;
  double f = p->fraction >= 0.0 && p->fraction <= 1.0 ? p->fraction : 0.0;
  int fill = p->total > 0 ? (int)(WIDTH * f) : WIDTH;
  char bar[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = '\0';
  char eta[32] = "?";
  if (p->eta_s >= 0) snprintf(eta, sizeof eta, "%.0fs", p->eta_s);
  fprintf(stderr, "\r[%s] %3.0f%%, %lld/%lld done, %lld failed, %.1fs, eta %s%s", bar,
          100.0 * f, (long long)p->done, (long long)p->total, (long long)p->failed,
          p->elapsed_s, eta, fin >= p->total ? "\n" : "  ");
  fflush(stderr);
  return 0;
}

/* -------------------------------------------------------------- signals */

/* Installed for the duration of a sweep only; nested or concurrent sweeps
 * share one installation (the first in installs, the last out restores),
 * under sig_lock: a sweep starting while the last one restores must not
 * save the sweep's own handler as the one to put back. */
static volatile sig_atomic_t signalled;
static int installs;
static struct sigaction old_int, old_term;
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;

/* A child forked while a sweep runs in another thread is not in that sweep:
 * it gets the caller's handlers back, or it would ignore SIGINT and SIGTERM
 * for the rest of its life (multiprocessing's terminate() is a SIGTERM). */
static void sig_fork_prepare(void) { pthread_mutex_lock(&sig_lock); }
static void sig_fork_parent(void) { pthread_mutex_unlock(&sig_lock); }
static void sig_fork_child(void) {
  if (installs > 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
  }
  installs = 0;
  signalled = 0;
  pthread_mutex_unlock(&sig_lock);
}
__attribute__((constructor)) static void sig_fork_register(void) {
  pthread_atfork(sig_fork_prepare, sig_fork_parent, sig_fork_child);
}

static void on_signal(int sig) { signalled = sig; }

int gdf_signals_pending(void) { return signalled; }

void gdf_signals_install(void) {
  pthread_mutex_lock(&sig_lock);
  if (installs++ != 0) {
    pthread_mutex_unlock(&sig_lock);
    return;
  }
  signalled = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* A signal the process ignores (a background job's SIGINT, nohup) stays
   * ignored: it must not cancel the sweep. */
  sigaction(SIGINT, NULL, &old_int);
  sigaction(SIGTERM, NULL, &old_term);
  if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
  if (old_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, NULL);
  pthread_mutex_unlock(&sig_lock);
}

void gdf_signals_restore(void) {
  pthread_mutex_lock(&sig_lock);
  if (--installs == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
  }
  pthread_mutex_unlock(&sig_lock);
}
