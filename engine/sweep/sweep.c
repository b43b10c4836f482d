/*
 * sweep.c - gpudf_sweep: checks everything that can be checked before a
 * process starts (options, plugins, kernel, every config), lays out the
 * control segment, runs the sweep in the calling process (workers = 0) or
 * hands it to sweep_monitor.c, and turns what is left into the result.
 */
#include "share.h"
#include "versioned.h"
#include "sweep_owner.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gpudf_sweep_options_init(gpudf_sweep_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->version = GPUDF_SWEEP_OPTIONS_VERSION;
  o->workers = GPUDF_SWEEP_WORKERS_DEFAULT;
  o->backend = GPUDF_BACKEND_AUTO;
  o->retries = 1;
  o->series = -1;
  o->time = -1;
  o->workers_per_device = 1;
}

/* Bound on retries: each costs a process start, and a config that crashed
 * this often will crash again. */
enum { GDF_SWEEP_RETRIES_MAX = 100, GDF_SWEEP_AUTO_BATCH = 16384 };

static gpudf_status check_options(const gpudf_sweep_options *o) {
  if (o->version != GPUDF_SWEEP_OPTIONS_VERSION)
    return GDF_ERR(GPUDF_EINVAL, "options have version %d; call gpudf_sweep_options_init "
                   "first", o->version);
  if (o->workers < GPUDF_SWEEP_WORKERS_DEFAULT || o->workers > GPUDF_SWEEP_WORKERS_MAX)
    return GDF_ERR(GPUDF_EINVAL, "workers = %d: use 0 (in this process), 1..%d, or "
                   "GPUDF_SWEEP_WORKERS_DEFAULT (-1)", o->workers, GPUDF_SWEEP_WORKERS_MAX);
  if (o->workers_per_device < 1 || o->workers_per_device > GPUDF_SWEEP_WORKERS_MAX)
    return GDF_ERR(GPUDF_EINVAL, "workers_per_device = %d: use 1..%d (workers on each device "
                   "of a GPU placement)", o->workers_per_device, GPUDF_SWEEP_WORKERS_MAX);
  if (o->batch < 0) return GDF_ERR(GPUDF_EINVAL, "batch = %lld is negative", (long long)o->batch);
  if (!(o->time_limit_s >= 0) || isinf(o->time_limit_s))
    return GDF_ERR(GPUDF_EINVAL, "time_limit_s = %g: use 0 (none) or a positive number of "
                   "seconds", o->time_limit_s);
  if (o->retries < 0 || o->retries > GDF_SWEEP_RETRIES_MAX)
    return GDF_ERR(GPUDF_EINVAL, "retries = %d is outside 0..%d", o->retries,
                   GDF_SWEEP_RETRIES_MAX);
  if (o->nplugins < 0 || o->nplugins > GPUDF_SWEEP_PLUGINS_MAX || (o->nplugins && !o->plugins))
    return GDF_ERR(GPUDF_EINVAL, "nplugins = %d must be 0..%d with plugins set", o->nplugins,
                   GPUDF_SWEEP_PLUGINS_MAX);
  if (o->backend < GPUDF_BACKEND_AUTO || o->backend > GPUDF_BACKEND_CUDA_IPC)
    return GDF_ERR(GPUDF_EINVAL, "unknown backend %d", (int)o->backend);
  return GPUDF_OK;
}

static gpudf_status check_args(const gpudf_table *t, const gpudf_kernel *kernel,
                               const double *configs,
                               int64_t n, const double *results) {
  if (!t) return GDF_ERR(GPUDF_EINVAL, "table is NULL");
  if (!kernel) return GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
  if (n < 0) return GDF_ERR(GPUDF_EINVAL, "n = %lld configs is negative", (long long)n);
  if (n > 0 && !configs) return GDF_ERR(GPUDF_EINVAL, "configs is NULL for %lld configs", (long long)n);
  if (n > 0 && !results) return GDF_ERR(GPUDF_EINVAL, "results is NULL for %lld configs", (long long)n);
  return GPUDF_OK;
}

/* Plugins first (every worker loads them too, so each must load here),
 * then every config: all before any process or segment exists. */
static gpudf_status prepare(gdf_sweep *s, const gpudf_table *t, const gpudf_kernel *kernel,
                            const double *configs) {
  for (int i = 0; i < s->o.nplugins; i++) GDF_TRY(gpudf_plugin_load(s->o.plugins[i]));
  s->k = kernel;
  GDF_TRY(gpudf_validate(t, s->k, configs, s->n));
  s->nres = gpudf_kernel_nresults(s->k, s->n > 0 ? configs : NULL);
  if (s->nres < 1) return GDF_ERR(GPUDF_EINVAL, "kernel '%s' gives no results", kernel->name);
  return GPUDF_OK;
}

/* Devices a share of t by this process would place it on: those of
 * GPUDF_DEVICES, else every visible one, and for cuda-ipc under "all" only
 * those with room for its arena (the others are skipped); 1 when that
 * cannot be told (the share will say why). */
static int replica_devices(const gpudf_table *t, gpudf_backend b) {
  const char *env = getenv("GPUDF_DEVICES");
  gdf_devsel sel;
  gdf_device dev;
  const char *why;
  int ords[GDF_REPLICAS_MAX], n = 0, fit = 0;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  bool ok = gdf_devsel_parse(env ? env : "all", "GPUDF_DEVICES", &sel) == GPUDF_OK &&
            gdf_device_get(&dev, &why) &&
            gdf_devsel_resolve(&sel, &dev, ords, &n) == GPUDF_OK;
  for (int k = 0; ok && k < n; k++) {
    gdf_device d = gdf_device_at(&dev, ords[k]);
    uint64_t free_b = 0, total = 0;
    fit += b != GPUDF_BACKEND_CUDA_IPC || !sel.all ||
           (d.ops->mem_info(&d, &free_b, &total) == GPUDF_OK && free_b >= t->arena_bytes);
  }
  gdf_quiet_end(&q);
  return ok && fit > 0 ? fit : 1;
}

/* The devices a sweep over t spreads its kernels over, as UUID texts: the
 * replicas (cuda-ipc) or the devices of the portable registration
 * (cuda-pinned) of an owner's share, the replicas of a view's cuda-ipc
 * share; 0 for the cpu or when that cannot be told. */
static int sweep_devices(const gpudf_table *t, char (*out)[48]) {
  if (t->is_view)
    return t->view_backend == GPUDF_BACKEND_CUDA_IPC
               ? gdf_share_devices(t->view_share, out, GDF_REPLICAS_MAX) : 0;
  return gdf_placement_devices(t->place, out, GDF_REPLICAS_MAX);
}

static int clamp_workers(int64_t n) {
  return n < 1 ? 1 : n > GPUDF_SWEEP_WORKERS_MAX ? GPUDF_SWEEP_WORKERS_MAX : (int)n;
}

/* workers_per_device per device for GPU placements (the devices of the
 * table's share when it has one, else those sharing it would give), one
 * per core on the cpu. */
static int default_workers(const gdf_sweep *s, const gpudf_table *t, gpudf_backend b) {
  int per = s->o.workers_per_device;
  char devs[GDF_REPLICAS_MAX][48];
  if (t->is_view || t->share) {
    int n = sweep_devices(t, devs);
    if (n > 0) return clamp_workers((int64_t)n * per);
  }
  if (!t->is_view && !t->share && b == GPUDF_BACKEND_AUTO) {
    gpudf_backend resolved = GPUDF_BACKEND_CPU;
    bool forced;
    gdf_quiet q;
    gdf_quiet_begin(&q, NULL, 0);
    if (gdf_backend_resolve(b, &resolved, &forced) != GPUDF_OK) resolved = GPUDF_BACKEND_CPU;
    gdf_quiet_end(&q);
    b = resolved;
  }
  if ((b == GPUDF_BACKEND_CUDA_IPC || b == GPUDF_BACKEND_CUDA_PINNED) && !t->is_view && !t->share)
    return clamp_workers((int64_t)replica_devices(t, b) * per);
  if (b == GPUDF_BACKEND_CUDA_IPC || b == GPUDF_BACKEND_CUDA_PINNED) return per;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return clamp_workers(cores);
}

/* Orders configs by the kernel's pass key, stably, and records where each
 * group of equal keys starts: configs of one group share a pass over the
 * rows when they run in one batch (filter_agg: one pass per column pair,
 * whatever the number of configs), and claims are cut at group boundaries
 * (gdf_claim_end), so two workers each pay about half the passes instead of
 * both paying all of them. Nothing is recorded without a key or with a
 * single group; perm stays NULL when the caller's order is already sorted. */
typedef struct keyed {
  uint64_t key;
  int64_t index;
} keyed;

static int by_key(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index); /* stable */
}

static gpudf_status group_configs(gdf_sweep *s, const double *configs) {
  if ((!s->k->pass_key && !s->nseries) || s->n < 2) return GPUDF_OK;
  int np = s->k->nparams;
  keyed *kv = malloc((size_t)s->n * sizeof *kv);
  if (!kv) return GDF_ERR(GPUDF_ENOMEM, "out of memory for the pass keys of %lld configs",
                          (long long)s->n);
  bool sorted = true;
  int64_t ngroups = 1;
  for (int64_t i = 0; i < s->n; i++) {
    uint64_t key = s->k->pass_key ? s->k->pass_key(configs + i * np) : 0;
    /* With series, configs of one series go together: a batch then
     * gathers that series' rows once. */
    if (s->nseries) key = ((uint64_t)(i % s->nseries) << 32) | (key & 0xffffffffu);
    kv[i] = (keyed){key, i};
    if (i > 0) sorted &= kv[i].key >= kv[i - 1].key;
  }
  if (!sorted) qsort(kv, (size_t)s->n, sizeof *kv, by_key);
  for (int64_t i = 1; i < s->n; i++) ngroups += kv[i].key != kv[i - 1].key;
  gpudf_status st = GPUDF_OK;
  if (ngroups > 1) {
    s->groups = malloc(((size_t)ngroups + 1) * sizeof *s->groups);
    if (!sorted) s->perm = malloc((size_t)s->n * sizeof *s->perm);
    if (!s->groups || (!sorted && !s->perm)) {
      st = GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld pass groups", (long long)ngroups);
    } else {
      int64_t g = 0;
      for (int64_t i = 0; i < s->n; i++) {
        if (i == 0 || kv[i].key != kv[i - 1].key) s->groups[g++] = i;
        if (s->perm) s->perm[i] = kv[i].index;
      }
      s->groups[g] = s->n;
      s->ngroups = ngroups;
      gdf_log("sweep: %lld configs in %lld pass groups", (long long)s->n, (long long)ngroups);
    }
  }
  free(kv);
  return st;
}

/* The control block: in a segment for workers, on the heap for workers = 0
 * (the same code then runs batches either way). */
static gpudf_status make_ctl(gdf_sweep *s, const double *configs, int nslots, bool heap) {
  gdf_sweep_ctl shape = {0};
  /* In process, slot 0 is the calling process's (run_in_process), or there
   * is one per thread (gdf_sweep_threads). */
  uint64_t size = gdf_ctl_layout(&shape, s->n, s->k->nparams, s->nres, nslots > 0 ? nslots : 1,
                                 s->ngroups, s->nseries, s->order_col >= 0 ? 0 : s->nperm);
  gdf_split_layout(s, &shape);
  size = shape.size;
  if (heap) {
    s->ctl = calloc(1, size);
    if (!s->ctl) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %llu bytes", (unsigned long long)size);
  } else {
    GDF_TRY(gdf_segment_create('s', &s->seg));
    GDF_TRY(gdf_segment_resize(s->seg, size));
    s->ctl = (gdf_sweep_ctl *)s->seg->addr;
    memset(s->ctl, 0, sizeof *s->ctl);
  }
  *s->ctl = shape;
  gdf_sweep_ctl *c = s->ctl;
  /* A kept order is read from the table; else it is in the segment. */
  c->nperm = s->nseries > 0 ? s->nperm : 0;
  c->order_col = s->order_col;
  c->magic = GDF_SWEEP_MAGIC;
  c->version = GDF_SWEEP_VERSION;
  c->owner_pid = gdf_self_pid();
  c->owner_start = gdf_self_start();
  c->nworkers = nslots > 0 ? nslots : 1;
  c->max_batch = s->o.batch > 0 ? s->o.batch : GDF_SWEEP_AUTO_BATCH;
  snprintf(c->kernel, sizeof c->kernel, "%s", s->k->name);
  if (s->share) snprintf(c->share, sizeof c->share, "%s", s->share);
  size_t row = (size_t)s->k->nparams * sizeof(double);
  for (int64_t i = 0; i < s->n; i++)
    memcpy(gdf_ctl_configs(c) + i * s->k->nparams, configs + gdf_user_index(s, i) * s->k->nparams,
           row);
  if (s->ngroups > 0)
    memcpy(gdf_ctl_groups(c), s->groups, ((size_t)s->ngroups + 1) * sizeof *s->groups);
  if (s->nseries > 0) {
    for (int64_t i = 0; i < s->n; i++) gdf_ctl_series(c)[i] = gdf_user_index(s, i) % s->nseries;
    if (s->order_col < 0)
      memcpy(gdf_ctl_perm(c), s->sperm, (size_t)s->nperm * sizeof *s->sperm);
    memcpy(gdf_ctl_starts(c), s->starts, ((size_t)s->nseries + 1) * sizeof *s->starts);
  }
  gdf_split_fill(s, c);
  double *r = gdf_ctl_results(c);
  for (int64_t i = 0; i < s->n * s->nres; i++) r[i] = NAN;
  return GPUDF_OK;
}

static void free_ctl(gdf_sweep *s) {
  if (s->seg) gdf_segment_destroy(s->seg);
  else free(s->ctl);
  s->seg = NULL;
  s->ctl = NULL;
}

/* ------------------------------------------------------------ progress */

/* ----------------------------------------------------------- in process */

/* In process, kernels that report how far their batch has got
 * (gpudf_kernel_progress) give the owner its progress steps, and with them
 * the callback and the cancel checks, while the batch runs. */
static bool in_process_tick(void *arg) { return gdf_sweep_progress(arg, false); }

static void run_in_process(gdf_sweep *s, const gpudf_table *t) {
  gdf_sweep_ctl *c = s->ctl;
  gdf_sweep_slot *slot = gdf_ctl_slot(c, 0);
  int64_t started = gdf_now_ns();
  gdf_progress_sink sink = {&slot->part, &c->cancel, in_process_tick, s, 0.0};
  if (c->ntasks > 0) gdf_split_in_process(s, t, &sink);
  for (int64_t lo = 0; lo < s->n && c->ntasks == 0;) {
    if (atomic_load(&c->cancel) || gdf_sweep_progress(s, false)) {
      s->cancelled = true;
      break;
    }
    int64_t hi = gdf_claim_end(c, lo);
    int64_t t0 = gdf_now_ns();
    atomic_store(&slot->part, 0);
    atomic_store(&slot->lo, lo);
    atomic_store(&slot->hi, hi);
    gdf_progress_sink_set(&sink);
    int64_t done = gdf_sweep_run_batch(c, t, s->k, lo, hi);
    gdf_progress_sink_set(NULL);
    slot->configs += done;
    atomic_store(&slot->hi, 0);
    atomic_store(&slot->lo, 0);
    int64_t t1 = gdf_now_ns();
    if (!c->first_done_ns && done > 0) c->first_done_ns = t1;
    slot->batches++;
    slot->busy_ns += t1 - t0;
    /* A cancel asked for within the batch that left some of it unfinished. */
    if (atomic_load(&c->cancel) && done < hi - lo) {
      for (int64_t i = lo; i < hi && !s->cancelled; i++)
        s->cancelled = atomic_load(&gdf_ctl_state(c)[i]) == GPUDF_CONFIG_PENDING;
      if (s->cancelled) break;
    }
    lo = hi;
  }
  int w = gdf_result_add_worker(s->res, 0);
  if (w >= 0) {
    gpudf_sweep_worker_info *wi = &s->res->workers[w];
    wi->configs = slot->configs;
    wi->batches = slot->batches;
    wi->busy_s = (double)slot->busy_ns * 1e-9;
    wi->alive_s = (double)(gdf_now_ns() - started) * 1e-9;
    snprintf(wi->exit, sizeof wi->exit, "in the calling process");
  }
}

/* --------------------------------------------------------------- finish */

/* Copies what the run left into the caller's results and the handle, in
 * the caller's order (reasons were filed under control indices). */
static void finish(gdf_sweep *s, double *results) {
  gdf_sweep_ctl *c = s->ctl;
  gpudf_sweep_result *r = s->res;
  gpudf_sweep_report *rep = &r->report;
  const char *why = gdf_signals_pending() ? "cancelled by a signal" : "cancelled";
  int64_t nm = atomic_load(&c->nmsgs);
  for (int64_t m = 0; m < nm && m < GDF_SWEEP_MSGS; m++) {
    gdf_sweep_msg *msg = gdf_ctl_msg(c, m);
    if (msg->config >= 0 && msg->config < s->n) gdf_result_set_reason(r, msg->config, msg->text);
  }
  char **by_ctl = r->reason;
  r->reason = calloc((size_t)s->n + 1, sizeof *r->reason);
  if (!r->reason) { /* keep the control order rather than lose the reasons */
    r->reason = by_ctl;
    by_ctl = NULL;
  }
  for (int64_t i = 0; i < s->n; i++) {
    int64_t u = gdf_user_index(s, i);
    if (by_ctl) r->reason[u] = by_ctl[i];
    uint8_t st = atomic_load(&gdf_ctl_state(c)[i]);
    if (st > GPUDF_CONFIG_CANCELLED || st == GPUDF_CONFIG_PENDING) {
      st = s->cancelled ? GPUDF_CONFIG_CANCELLED : GPUDF_CONFIG_FAILED;
      gdf_ctl_err(c)[i] = s->cancelled ? GPUDF_ECANCELED : GPUDF_EIO;
      if (!r->reason[u]) gdf_result_set_reason(r, u, s->cancelled ? why : "never ran");
    }
    r->state[u] = st;
    r->err[u] = st == GPUDF_CONFIG_DONE ? GPUDF_OK : gdf_ctl_err(c)[i];
    if (st == GPUDF_CONFIG_FAILED && !r->reason[u])
      gdf_result_set_reason(r, u, gpudf_status_str((gpudf_status)r->err[u]));
    rep->done += st == GPUDF_CONFIG_DONE;
    rep->failed += st == GPUDF_CONFIG_FAILED;
    rep->timed_out += st == GPUDF_CONFIG_TIMED_OUT;
    rep->cancelled += st == GPUDF_CONFIG_CANCELLED;
    double *src = gdf_ctl_results(c) + i * s->nres;
    for (int j = 0; j < s->nres; j++)
      results[u * s->nres + j] = st == GPUDF_CONFIG_DONE ? src[j] : NAN;
  }
  free(by_ctl);
  rep->first_result_s = c->first_done_ns ? (double)(c->first_done_ns - s->t0_ns) * 1e-9 : -1.0;
}

/* ---------------------------------------------------------------- entry */

/* The share the workers attach: the view's, the table's own, or a new one
 * closed when the sweep returns. */
static gpudf_status ensure_share(gdf_sweep *s, gpudf_table *t, gpudf_share **made) {
  gpudf_sweep_report *rep = &s->res->report;
  if (t->is_view) {
    s->share = t->view_share;
    rep->backend = t->view_backend;
  } else if (t->share) {
    s->share = gpudf_share_name(t->share);
    rep->backend = gpudf_share_backend(t->share);
  } else {
    GDF_TRY(gpudf_table_share(t, NULL, s->o.backend, made));
    s->share = gpudf_share_name(*made);
    rep->backend = gpudf_share_backend(*made);
  }
  /* Devices left out are the caller's to report (the CLI prints them). */
  const char *skipped = t->is_view ? "" : gpudf_share_skipped(t->share);
  if (skipped && skipped[0] && !(s->res->skipped = strdup(skipped)))
    return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  /* A sweep places only a table it shares itself. A backend forced for a
   * table shared otherwise is refused, as one that cannot work for an
   * unshared table is: never run elsewhere than asked. */
  if (s->o.backend != GPUDF_BACKEND_AUTO && s->o.backend != rep->backend)
    return GDF_ERR(GPUDF_ENODEV, "backend %s was asked for, but the table is already shared "
                   "as '%s' with placement %s (a sweep places only a table it shares "
                   "itself): ask for %s or auto, or share the table as %s",
                   gpudf_backend_name(s->o.backend), s->share,
                   gpudf_backend_name(rep->backend), gpudf_backend_name(rep->backend),
                   gpudf_backend_name(s->o.backend));
  return GPUDF_OK;
}

/* workers = 0: the kernels run on the table's own placement, which a
 * forced backend must be. */
static gpudf_status check_own_placement(const gdf_sweep *s, const gpudf_table *t) {
  gpudf_backend own = gpudf_table_backend(t);
  if (s->o.backend == GPUDF_BACKEND_AUTO || s->o.backend == own) return GPUDF_OK;
  const char *share = t->is_view ? t->view_share : t->share ? gpudf_share_name(t->share) : NULL;
  if (share)
    return GDF_ERR(GPUDF_ENODEV, "backend %s was asked for, but with workers = 0 the kernels "
                   "run on the table's own placement, %s (it is shared as '%s'): ask for %s "
                   "or auto", gpudf_backend_name(s->o.backend), gpudf_backend_name(own), share,
                   gpudf_backend_name(own));
  return GDF_ERR(GPUDF_ENODEV, "backend %s was asked for, but with workers = 0 the kernels "
                 "run on the table's own placement, %s (kept from when it was first shared): "
                 "ask for %s or auto", gpudf_backend_name(s->o.backend),
                 gpudf_backend_name(own), gpudf_backend_name(own));
}

/* The placement the workers' kernels ran on: what they attached as, when
 * that is not what the share offers (a cuda-ipc handle this process cannot
 * open, then cuda-pinned or cpu). */
static void report_worker_placement(gdf_sweep *s) {
  gpudf_sweep_report *rep = &s->res->report;
  int most = 0, total = 0;
  for (int b = 1; b < 4; b++) {
    total += s->ran_on[b];
    if (s->ran_on[b] > s->ran_on[most]) most = b;
  }
  if (most == 0 || s->ran_on[rep->backend] == total) return;
  gpudf_backend shared = rep->backend;
  rep->backend = (gpudf_backend)most;
  snprintf(rep->fallback, sizeof rep->fallback, "the share is %s, but %d of %d workers ran on "
           "%s (GPUDF_LOG=debug says why)", gpudf_backend_name(shared), s->ran_on[most], total,
           gpudf_backend_name((gpudf_backend)most));
}

static gpudf_status run_workers(gdf_sweep *s, gpudf_table *t, const double *configs) {
  gpudf_share *made = NULL;
  char path[256];
  gpudf_status st = gdf_find_worker(path, sizeof path);
  int nslots = s->o.workers < s->n ? s->o.workers : (int)s->n;
  /* Derived columns (prefix sums) go into the arena once, before sharing,
   * when they leave room for the control segment and the descriptor (1 MiB
   * is far more than one needs): they only save work, a full /dev/shm
   * should not fail the sweep for them (GPUDF_LOG=debug says so). */
  if (st == GPUDF_OK && !t->is_view && !t->share) {
    gdf_sweep_ctl shape = {0};
    gdf_prepare_reserve = gdf_ctl_layout(&shape, s->n, s->k->nparams, s->nres, nslots,
                                         s->ngroups, s->nseries, s->nperm) + (1u << 20);
    st = gpudf_table_prepare(t, s->k, configs, s->n);
    /* The series order goes with the table too: every later sweep over it
     * (or a view of its share) reads it instead of sorting the rows again. */
    if (st == GPUDF_OK && s->nseries > 0 && s->order_col < 0) {
      s->order_col = gdf_series_keep(t, s->o.series, s->o.time, s->sperm, s->nperm);
      if (s->order_col >= 0) {
        free(s->sperm);
        s->sperm = NULL;
      }
    }
    gdf_prepare_reserve = 0;
  }
  if (st == GPUDF_OK) st = ensure_share(s, t, &made);
  /* Workers spread over the share's devices, each bound to its device by
   * UUID: the replicas (a device skipped for room holds none, so it gets no
   * worker), the devices of a pinned registration, a view's share's. */
  s->ndevices = st == GPUDF_OK ? sweep_devices(t, s->devices) : 0;
  if (st == GPUDF_OK && s->workers_default && s->ndevices > 0) {
    s->o.workers = clamp_workers((int64_t)s->ndevices * s->o.workers_per_device);
    s->res->report.workers = s->o.workers;
    nslots = s->o.workers < s->n ? s->o.workers : (int)s->n;
  }
  /* Rows split between the workers: a task per worker slot even with
   * fewer configs than workers. */
  if (st == GPUDF_OK) st = gdf_split_plan(s, t, configs, s->o.workers, s->res->report.backend);
  if (st == GPUDF_OK && s->nranges > 0) nslots = s->o.workers;
  if (st == GPUDF_OK) st = make_ctl(s, configs, nslots, false);
  if (st == GPUDF_OK) {
    snprintf(s->res->report.worker_path, sizeof s->res->report.worker_path, "%s", path);
    st = gdf_sweep_workers(s, path);
    report_worker_placement(s);
  }
  if (st != GPUDF_OK) free_ctl(s);
  if (made) gpudf_share_close(made);
  return st;
}

/* A series column and a kernel that depends on row order: the n configs
 * become n x S, config k on series q at k * S + q, each run on its series'
 * rows alone (gdf_sweep_run_batch). Kernels that do not depend on row
 * order ignore the series. */
static gpudf_status expand_series(gdf_sweep *s, const gpudf_table *t, const double **configs,
                                  char ***labels) {
  if (s->o.series == -1 || !s->k->row_order) {
    /* Still columns (or -1): a typo is not ignored silently. */
    if (s->o.series != -1) {
      int64_t *p, *st, np, ns;
      GDF_TRY(gdf_series_build(t, s->o.series, s->o.time, &p, &np, &st, &ns, NULL, NULL));
      free(p), free(st);
    } else if (s->o.time != -1) {
      return GDF_ERR(GPUDF_EINVAL, "time = %d needs a series column (series = -1): the time "
                     "orders the rows within each series", s->o.time);
    }
    return GPUDF_OK;
  }
  GDF_TRY(gdf_series_build(t, s->o.series, s->o.time, &s->sperm, &s->nperm, &s->starts,
                           &s->nseries, labels, &s->order_col));
  if (s->nseries == 0)
    return GDF_ERR(GPUDF_EINVAL, "series = %d: column '%s' has no label in any row",
                   s->o.series, gpudf_table_column_name(t, s->o.series));
  int np = s->k->nparams;
  int64_t S = s->nseries;
  if (s->n > INT64_MAX / S / (np > 0 ? np : 1))
    return GDF_ERR(GPUDF_EINVAL, "%lld configs x %lld series is too many",
                   (long long)s->n, (long long)S);
  s->expanded = malloc(sizeof(double) * (size_t)(s->n * S * np + 1));
  if (!s->expanded)
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld configs x %lld series",
                   (long long)s->n, (long long)S);
  for (int64_t k = 0; k < s->n; k++)
    for (int64_t q = 0; q < S; q++)
      memcpy(s->expanded + (k * S + q) * np, *configs + k * np, sizeof(double) * (size_t)np);
  gdf_log("sweep: %lld configs x %lld series of column '%s'%s", (long long)s->n, (long long)S,
          gpudf_table_column_name(t, s->o.series),
          s->order_col >= 0 ? " (row order kept with the table)" : "");
  s->n *= S;
  *configs = s->expanded;
  return GPUDF_OK;
}

static gpudf_status sweep(gdf_sweep *s, gpudf_table *t, const gpudf_kernel *kernel,
                          const double *configs, double *results) {
  GDF_TRY(prepare(s, t, kernel, configs));
  char **labels = NULL;
  gpudf_status xs = expand_series(s, t, &configs, &labels);
  if (xs != GPUDF_OK) {
    gdf_series_free_labels(labels, s->nseries);
    return xs;
  }
  s->workers_default = s->o.workers == GPUDF_SWEEP_WORKERS_DEFAULT;
  if (s->o.workers == GPUDF_SWEEP_WORKERS_DEFAULT)
    s->o.workers = default_workers(s, t, t->is_view ? t->view_backend
                                      : t->share ? gpudf_share_backend(t->share) : s->o.backend);
  gpudf_status rs = gdf_result_new(s->n, &s->res);
  if (rs != GPUDF_OK) {
    gdf_series_free_labels(labels, s->nseries);
    return rs;
  }
  s->res->labels = labels;
  s->res->nseries = labels ? s->nseries : 0;
  s->res->report.workers = s->o.workers;
  /* In process (workers = 0) the kernels run on the table's own placement;
   * with workers, ensure_share says which placement they attach. */
  s->res->report.backend = gpudf_table_backend(t);
  s->attempts = calloc((size_t)s->n + 1, sizeof *s->attempts);
  if (!s->attempts) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  if (s->n == 0) return GPUDF_OK;
  GDF_TRY(group_configs(s, configs));
  gdf_signals_install();
  gpudf_status st = GPUDF_OK;
  if (s->o.workers == 0) {
    /* In process the kernels run on the table's own placement; a device
     * placement asked for an unshared table is made by sharing it (or is
     * refused, as with workers), never dropped silently. */
    gpudf_share *made = NULL;
    bool place = !t->is_view && !t->share && (s->o.backend == GPUDF_BACKEND_CUDA_IPC ||
                                               s->o.backend == GPUDF_BACKEND_CUDA_PINNED);
    if (place) st = ensure_share(s, t, &made);
    if (st == GPUDF_OK) st = check_own_placement(s, t);
    if (st == GPUDF_OK) st = gdf_split_plan(s, t, configs, 0, gpudf_table_backend(t));
    /* A GPU placement over several devices runs a thread per device,
     * workers_per_device each: an owner's replicas or pinned devices; a
     * cuda-ipc view's share's replicas on the devices this process sees,
     * each opened on its own device (a view reads one device's replica
     * until then). */
    s->ndevices = 0;
    if (st == GPUDF_OK && s->nranges == 0 && !t->is_view)
      s->ndevices = sweep_devices(t, s->devices);
    else if (st == GPUDF_OK && s->nranges == 0 && s->n > 1)
      s->ndevices = gdf_view_replica_devices(t, s->devices, GDF_REPLICAS_MAX);
    int threads = s->ndevices > 0 ? gdf_sweep_thread_count(s) : 1;
    if (threads > s->n) threads = (int)s->n;
    if (threads < 2) s->ndevices = 0;
    if (st == GPUDF_OK) st = make_ctl(s, configs, s->ndevices > 0 ? threads : 0, true);
    s->res->report.backend = gpudf_table_backend(t);
    t->busy++; /* the callback runs mid-kernel here: no growth of t meanwhile */
    if (st == GPUDF_OK && s->ndevices > 0) st = gdf_sweep_threads(s, t);
    else if (st == GPUDF_OK) run_in_process(s, t);
    t->busy--;
    if (st != GPUDF_OK) free_ctl(s);
    if (made) gpudf_share_close(made);
  } else {
    st = run_workers(s, t, configs);
  }
  if (st == GPUDF_OK) {
    gdf_sweep_progress(s, true);
    finish(s, results);
    free_ctl(s);
    gdf_series_portfolio(s, t, configs);
    s->res->signal = gdf_signals_pending();
  }
  gdf_signals_restore();
  return st;
}

gpudf_status gpudf_sweep(gpudf_table *table, const gpudf_kernel *kernel, const double *configs,
                         int64_t n, double *results, const gpudf_sweep_options *opts,
                         gpudf_sweep_result **out) {
  GDF_ENTER();
  if (out) *out = NULL;
  gdf_tidy_quietly();
  GDF_TRY(check_args(table, kernel, configs, n, results));
  gdf_sweep s = {0};
  gpudf_sweep_options_init(&s.o);
  if (opts) {
    /* 0.1 to 0.3 ended before series (which then stays -1, none); 0.4 and 0.5
     * before time (-1 too). */
    GDF_TRY(gdf_versioned_in(&s.o, sizeof s.o, opts, offsetof(gpudf_sweep_options, series),
                             "options", "gpudf_sweep_options_init"));
    GDF_TRY(check_options(&s.o));
  }
  s.n = n;
  s.order_col = -1;
  s.t0_ns = s.last_progress_ns = gdf_now_ns();
  gpudf_status st = sweep(&s, table, kernel, configs, results);
  free(s.attempts);
  free(s.perm);
  free(s.groups);
  free(s.sperm);
  free(s.starts);
  free(s.expanded);
  gdf_split_drop(&s);
  if (st != GPUDF_OK) {
    gpudf_sweep_result_free(s.res);
    return st;
  }
  s.res->report.total = s.n; /* configs x series */
  s.res->report.wall_s = (double)(gdf_now_ns() - s.t0_ns) * 1e-9;
  gdf_log("sweep: %lld configs, %lld done, %lld failed, %lld timed out, %lld cancelled, %.3f s",
          (long long)n, (long long)s.res->report.done, (long long)s.res->report.failed,
          (long long)s.res->report.timed_out, (long long)s.res->report.cancelled,
          s.res->report.wall_s);
  st = s.cancelled ? GDF_ERR(GPUDF_ECANCELED, "sweep cancelled after %lld of %lld configs",
                             (long long)s.res->report.done, (long long)s.n)
                   : GPUDF_OK;
  if (out) *out = s.res;
  else gpudf_sweep_result_free(s.res);
  return st;
}
