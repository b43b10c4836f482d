/* sweep_ctl.c - what the owner and the workers of a sweep both do with the
 * control segment: its layout, batch sizes, running a batch. */
#include "sweep_ctl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t align64(uint64_t v) { return (v + 63) & ~(uint64_t)63; }

uint64_t gdf_ctl_layout(gdf_sweep_ctl *c, int64_t n, int nparams, int nresults, int nslots,
                        int64_t ngroups, int64_t nseries, int64_t nperm) {
  uint64_t un = (uint64_t)n, off = align64(sizeof *c);
  c->off_configs = off;
  off = align64(off + un * (uint64_t)nparams * sizeof(double));
  c->off_results = off;
  off = align64(off + un * (uint64_t)nresults * sizeof(double));
  c->off_state = off;
  off = align64(off + un);
  c->off_err = off;
  off = align64(off + un * sizeof(int32_t));
  c->off_slots = off;
  off = align64(off + (uint64_t)nslots * sizeof(gdf_sweep_slot));
  c->off_msgs = off;
  off = align64(off + GDF_SWEEP_MSGS * sizeof(gdf_sweep_msg));
  c->off_groups = off;
  off = align64(off + (ngroups > 0 ? ((uint64_t)ngroups + 1) * sizeof(int64_t) : 0));
  c->off_series = off;
  off = align64(off + (nseries > 0 ? un * sizeof(int64_t) : 0));
  c->off_perm = off;
  off = align64(off + (nseries > 0 ? (uint64_t)nperm * sizeof(int64_t) : 0));
  c->off_starts = off;
  off += nseries > 0 ? ((uint64_t)nseries + 1) * sizeof(int64_t) : 0;
  c->nseries = nseries;
  c->nperm = nseries > 0 ? nperm : 0;
  c->ngroups = ngroups;
  c->n = n;
  c->nparams = nparams;
  c->nresults = nresults;
  c->nslots = (uint32_t)nslots;
  c->size = off;
  return off;
}

int64_t gdf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gdf_guided_batch(int64_t remaining, int64_t n, int workers, int64_t max_batch) {
  int64_t w = workers > 0 ? workers : 1;
  int64_t b = (remaining + w - 1) / w, floor = (n + 2 * w - 1) / (2 * w);
  if (b < floor) b = floor;
  if (b < 1) b = 1;
  return b < max_batch ? b : max_batch;
}

/* Index of the first group boundary above lo: groups[j - 1] <= lo < groups[j]. */
static int64_t group_above(const int64_t *groups, int64_t ngroups, int64_t lo) {
  int64_t a = 1, b = ngroups; /* groups[0] = 0 <= lo; groups[ngroups] = n > lo */
  while (a < b) {
    int64_t m = a + (b - a) / 2;
    if (groups[m] <= lo) a = m + 1;
    else b = m;
  }
  return a;
}

int64_t gdf_claim_ramp(int64_t lo, int64_t n, int workers) {
  int64_t w = workers > 0 ? workers : 1;
  int64_t first = (n + GDF_CLAIM_RAMP * w - 1) / (GDF_CLAIM_RAMP * w);
  return lo > first ? lo : first;
}

int64_t gdf_claim_end(gdf_sweep_ctl *c, int64_t lo) {
  int64_t n = c->n, cap = c->max_batch;
  int64_t want = gdf_guided_batch(n - lo, n, c->nworkers, INT64_MAX);
  int64_t b = want < cap ? want : cap;
  int64_t ramp = gdf_claim_ramp(lo, n, c->nworkers);
  if (c->ngroups <= 0) {
    if (ramp < b) b = ramp;
    return b < n - lo ? lo + b : n;
  }
  /* The ramp never cuts a pass group (a piece costs a whole pass): it
   * bounds the whole groups a claim adds after lo's. */
  const int64_t *g = gdf_ctl_groups(c);
  int64_t j = group_above(g, c->ngroups, lo), rest = g[j] - lo;
  if (rest > cap || rest > b + b / 4) {
    int64_t pieces = (rest + b - 1) / b;
    return lo + (rest + pieces - 1) / pieces;
  }
  /* The whole rest, then the whole groups after it that fit in the claim:
   * for one worker the guided size (everything, up to max_batch), for more
   * half an equal share of the sweep, so that a few large groups go one
   * per claim and the workers even out groups of unequal cost. */
  int64_t w = c->nworkers > 1 ? c->nworkers : 1;
  int64_t fit = w == 1 ? b : (n + 2 * w - 1) / (2 * w);
  fit = fit < b ? fit : b;
  fit = fit < ramp ? fit : ramp;
  if (lo + fit >= n) return n;
  int64_t k = group_above(g, c->ngroups, lo + fit); /* g[k - 1] <= lo + fit */
  return g[k - 1] > g[j] ? g[k - 1] : g[j];
}

static _Thread_local const gdf_progress_sink *progress_sink;

void gdf_progress_sink_set(const gdf_progress_sink *sink) { progress_sink = sink; }

int gpudf_kernel_progress(double fraction) {
  const gdf_progress_sink *s = progress_sink;
  if (!s) return 0;
  if (!(fraction > 0.0)) fraction = 0.0; /* NaN too */
  if (fraction > 1.0) fraction = 1.0;
  if (s->scale > 0.0) fraction *= s->scale;
  atomic_store_explicit(s->part, (int32_t)(fraction * GDF_PART_ONE), memory_order_relaxed);
  if (s->tick) {
    /* The user's callback may run kernels itself: those report nowhere. */
    progress_sink = NULL;
    bool stop = s->tick(s->arg);
    progress_sink = s;
    if (stop) atomic_store(s->cancel, 1);
  }
  return atomic_load_explicit(s->cancel, memory_order_relaxed) != 0;
}

/* Records a kernel's message for config i in the ring the owner reads; past
 * the ring's size the owner falls back on the status alone. */
static void post_message(gdf_sweep_ctl *c, int64_t i, gpudf_status st) {
  int64_t m = atomic_fetch_add(&c->nmsgs, 1);
  if (m >= GDF_SWEEP_MSGS) return;
  gdf_sweep_msg *msg = gdf_ctl_msg(c, m);
  msg->config = i;
  msg->status = (int32_t)st;
  snprintf(msg->text, sizeof msg->text, "%s", gpudf_last_error());
}

/* Marks [lo, hi) DONE after their results are in place (release order: the
 * owner reads a result only after it sees DONE). */
static void mark_done(gdf_sweep_ctl *c, int64_t lo, int64_t hi) {
  _Atomic uint8_t *state = gdf_ctl_state(c);
  for (int64_t i = lo; i < hi; i++)
    atomic_store_explicit(&state[i], GPUDF_CONFIG_DONE, memory_order_release);
  atomic_fetch_add(&c->ndone, hi - lo);
}

static int64_t run_range(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                         int64_t lo, int64_t hi);

/* After one run of the configs [lo, hi) with status st: the claim's part
 * is cleared before they count as done. Returns hi - lo when they ran, 0
 * when the sweep's cancel stopped the kernel (they stay unfinished and end
 * CANCELLED), -1 when the kernel failed (gpudf_last_error says why). */
static int64_t whole_ran(gdf_sweep_ctl *c, gpudf_status st, int64_t lo, int64_t hi) {
  const gdf_progress_sink *sink = progress_sink;
  if (sink) atomic_store(sink->part, 0);
  if (st == GPUDF_OK) {
    mark_done(c, lo, hi);
    return hi - lo;
  }
  return st == GPUDF_ECANCELED && atomic_load(&c->cancel) ? 0 : -1;
}


/* With series, each run of configs of one series runs on that series' rows
 * alone (the owner ordered the configs by series, so a claim holds few). */
int64_t gdf_sweep_run_batch(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                            int64_t lo, int64_t hi) {
  if (c->nseries <= 0 || !k->row_order) return run_range(c, t, k, lo, hi);
  const int64_t *ser = gdf_ctl_series(c), *perm = gdf_ctl_order(c, t), *starts = gdf_ctl_starts(c);
  /* On a device placement with the kernel's series entry: the whole claim,
   * configs x series, in one launch. Should it fail (a series too short for
   * a config, ...), each series runs as below, which finds the configs that
   * fail and finishes the others. */
  if (gdf_run_series_placed(t, k)) {
    const double *cfg = gdf_ctl_configs(c);
    double *res = gdf_ctl_results(c);
    gpudf_status st = gdf_run_series(t, k, cfg + lo * c->nparams, hi - lo,
                                     res + lo * c->nresults, ser + lo, perm, starts);
    int64_t ran = whole_ran(c, st, lo, hi);
    if (ran >= 0) return ran;
    gdf_log("sweep: the series batch of configs %lld-%lld failed on the device (%s); running "
            "it series by series", (long long)lo, (long long)hi - 1, gpudf_last_error());
  }
  /* Each series' run reports 0 to 1 of its own configs; the claim's part
   * counts what is not marked done yet, so it is that fraction of b - a
   * configs out of the claim's hi - lo (the series before are done). */
  const gdf_progress_sink *sink = progress_sink;
  gdf_progress_sink scaled = sink ? *sink : (gdf_progress_sink){0};
  int64_t done = 0;
  for (int64_t a = lo; a < hi;) {
    int64_t b = a + 1;
    while (b < hi && ser[b] == ser[a]) b++;
    int64_t q = ser[a];
    scaled.scale = (double)(b - a) / (double)(hi - lo) * (sink && sink->scale > 0.0 ? sink->scale : 1.0);
    progress_sink = sink ? &scaled : NULL;
    gdf_run_rows_set(perm + starts[q], starts[q + 1] - starts[q]);
    done += run_range(c, t, k, a, b);
    gdf_run_rows_set(NULL, 0);
    progress_sink = sink;
    if (atomic_load(&c->cancel)) break;
    a = b;
  }
  return done;
}

static int64_t run_range(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                         int64_t lo, int64_t hi) {
  const double *cfg = gdf_ctl_configs(c);
  double *res = gdf_ctl_results(c);
  int np = c->nparams, nr = c->nresults;
  int64_t ran = whole_ran(c, gpudf_run(t, k, cfg + lo * np, hi - lo, res + lo * nr), lo, hi);
  if (ran >= 0) return ran;
  const gdf_progress_sink *sink = progress_sink;
  /* Kernel errors are deterministic: find the guilty configs now rather
   * than re-queue them. The runs still see a cancel (in process, the
   * callback and SIGINT too), but the fraction of one config's run is not
   * the claim's: it goes to a part nobody reads. A cancel leaves the rest
   * unfinished, to end CANCELLED. */
  _Atomic int32_t unread = 0;
  gdf_progress_sink one = sink ? *sink : (gdf_progress_sink){0};
  one.part = &unread;
  progress_sink = sink ? &one : NULL;
  int64_t done = 0;
  for (int64_t i = lo; i < hi; i++) {
    if (sink && (atomic_load(sink->cancel) || (sink->tick && sink->tick(sink->arg)))) {
      atomic_store(sink->cancel, 1);
      break;
    }
    gpudf_status st = gpudf_run(t, k, cfg + i * np, 1, res + i * nr);
    if (st == GPUDF_ECANCELED && atomic_load(&c->cancel)) break;
    if (st == GPUDF_OK) {
      mark_done(c, i, i + 1);
      done++;
      continue;
    }
    for (int j = 0; j < nr; j++) res[i * nr + j] = NAN;
    gdf_ctl_err(c)[i] = (int32_t)st;
    post_message(c, i, st);
    atomic_store_explicit(&gdf_ctl_state(c)[i], GPUDF_CONFIG_FAILED, memory_order_release);
    atomic_fetch_add(&c->nkfail, 1);
  }
  progress_sink = sink;
  return done;
}

/* ------------------------------------------------------------ row split */

uint64_t gdf_ctl_layout_split(gdf_sweep_ctl *c, int64_t nchunks, int nranges, int nstate) {
  uint64_t off = align64(c->size);
  c->off_chunks = off;
  off = align64(off + ((uint64_t)nchunks + 1) * sizeof(int64_t));
  c->off_tstate = off;
  off = align64(off + (uint64_t)nchunks * (uint64_t)nranges * sizeof(int32_t));
  c->off_states = off;
  off += (uint64_t)c->n * (uint64_t)nranges * (uint64_t)nstate * sizeof(double);
  c->nchunks = nchunks;
  c->ntasks = nchunks * nranges;
  c->nranges = nranges;
  c->nstate = nstate;
  c->size = off;
  return off;
}

void gdf_task_bounds(gdf_sweep_ctl *c, int64_t t, int64_t *lo, int64_t *hi, int64_t *rlo,
                     int64_t *rhi) {
  int64_t j = t / c->nranges, r = t % c->nranges;
  *lo = gdf_ctl_chunks(c)[j];
  *hi = gdf_ctl_chunks(c)[j + 1];
  /* Near-equal ranges; floor(nrows * r / R) without overflow for any
   * nrows below 2^62 and R below 2^31. */
  int64_t q = c->nrows / c->nranges, m = c->nrows % c->nranges;
  *rlo = q * r + m * r / c->nranges;
  *rhi = q * (r + 1) + m * (r + 1) / c->nranges;
}

/* Fails config i (PENDING) with the kernel's message, once: the tasks of
 * its other ranges may fail it too. */
static void fail_config(gdf_sweep_ctl *c, int64_t i, gpudf_status st) {
  uint8_t want = GPUDF_CONFIG_PENDING;
  _Atomic uint8_t *state = gdf_ctl_state(c);
  if (atomic_load(&state[i]) != GPUDF_CONFIG_PENDING) return;
  gdf_ctl_err(c)[i] = (int32_t)st;
  if (!atomic_compare_exchange_strong(&state[i], &want, GPUDF_CONFIG_FAILED)) return;
  post_message(c, i, st);
  atomic_fetch_add(&c->nkfail, 1);
}

bool gdf_sweep_run_task(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                        int64_t task) {
  int64_t lo, hi, rlo, rhi;
  gdf_task_bounds(c, task, &lo, &hi, &rlo, &rhi);
  const double *cfg = gdf_ctl_configs(c);
  int np = c->nparams, R = c->nranges, ns = c->nstate, r = (int)(task % R);
  double *states = gdf_ctl_states(c);
  /* States of one range are strided by R: run into a scratch block and
   * scatter, so the kernel writes a dense n x nstate matrix. */
  size_t bytes = (size_t)(hi - lo) * (size_t)ns * sizeof(double);
  double *tmp = malloc(bytes ? bytes : 1);
  gpudf_status whole = tmp ? gdf_run_partial(t, k, cfg + lo * np, hi - lo, rlo, rhi, tmp)
                           : GDF_ERR(GPUDF_ENOMEM, "out of memory for the states of %lld "
                                     "configs", (long long)(hi - lo));
  const gdf_progress_sink *sink = progress_sink;
  if (sink) atomic_store(sink->part, 0);
  if (whole == GPUDF_ECANCELED && atomic_load(&c->cancel)) {
    free(tmp);
    return false;
  }
  if (whole == GPUDF_OK) {
    for (int64_t i = lo; i < hi; i++)
      memcpy(states + (i * R + r) * ns, tmp + (i - lo) * ns, (size_t)ns * sizeof(double));
  } else {
    /* Deterministic kernel errors: find the guilty configs over this
     * range now, each straight into its state (a lack of memory for the
     * scratch or the batch may well pass one by one). */
    _Atomic int32_t unread = 0;
    gdf_progress_sink one = sink ? *sink : (gdf_progress_sink){0};
    one.part = &unread;
    progress_sink = sink ? &one : NULL;
    for (int64_t i = lo; i < hi; i++) {
      if (atomic_load(&c->cancel)) break;
      double *dst = states + (i * R + r) * ns;
      gpudf_status st = gdf_run_partial(t, k, cfg + i * np, 1, rlo, rhi, dst);
      if (st == GPUDF_ECANCELED && atomic_load(&c->cancel)) break;
      if (st != GPUDF_OK) fail_config(c, i, st);
    }
    progress_sink = sink;
    if (atomic_load(&c->cancel)) {
      free(tmp);
      return false;
    }
  }
  free(tmp);
  atomic_store_explicit(&gdf_ctl_tstate(c)[task], GDF_TASK_DONE, memory_order_release);
  atomic_fetch_add(&c->tdone, 1);
  return true;
}
