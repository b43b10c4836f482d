/*
 * sweep_threads.c - workers = 0 on a GPU placement with several devices:
 * one thread per device (workers_per_device each) in the calling process,
 * each bound to its device by UUID before it runs a kernel, claiming
 * batches from the heap control block as worker processes claim them from
 * the segment. The calling thread only reports progress and passes a
 * cancel on; each thread is one entry of the report, with its device.
 */
#include "device.h"
#include "sweep_owner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sweep_thread {
  gdf_sweep *s;
  const gpudf_table *t;
  int index;
  const char *device;
  pthread_t tid;
  bool started;
  gpudf_status bind;
  char why[GPUDF_SWEEP_REASON_MAX];
  int64_t started_ns, ended_ns;
  _Atomic int *running;
} sweep_thread;

/* Claims [*lo, *hi) with one compare-and-swap of next from its start. */
static bool claim(gdf_sweep_ctl *c, int64_t *lo, int64_t *hi) {
  for (;;) {
    int64_t next = atomic_load(&c->next);
    if (next >= c->n || atomic_load(&c->cancel)) return false;
    int64_t end = gdf_claim_end(c, next);
    if (atomic_compare_exchange_weak(&c->next, &next, end)) {
      *lo = next;
      *hi = end;
      return true;
    }
  }
}

static void *thread_main(void *arg) {
  sweep_thread *th = arg;
  gdf_sweep_ctl *c = th->s->ctl;
  gdf_sweep_slot *slot = gdf_ctl_slot(c, th->index);
  th->started_ns = gdf_now_ns();
  th->bind = gdf_device_bind_uuid(th->device);
  if (th->bind != GPUDF_OK) {
    snprintf(th->why, sizeof th->why, "%s", gpudf_last_error());
  } else {
    snprintf(slot->device, sizeof slot->device, "%s", th->device);
    gdf_progress_sink sink = {&slot->part, &c->cancel, NULL, NULL, 0.0};
    int64_t lo, hi;
    while (claim(c, &lo, &hi)) {
      int64_t t0 = gdf_now_ns();
      atomic_store(&slot->part, 0);
      atomic_store(&slot->lo, lo);
      atomic_store(&slot->hi, hi);
      gdf_progress_sink_set(&sink);
      int64_t done = gdf_sweep_run_batch(c, th->t, th->s->k, lo, hi);
      gdf_progress_sink_set(NULL);
      atomic_store(&slot->hi, 0);
      atomic_store(&slot->lo, 0);
      int64_t t1 = gdf_now_ns(), zero = 0;
      if (done > 0) atomic_compare_exchange_strong(&c->first_done_ns, &zero, t1);
      atomic_fetch_add(&slot->configs, done);
      atomic_fetch_add(&slot->batches, 1);
      atomic_fetch_add(&slot->busy_ns, t1 - t0);
    }
  }
  th->ended_ns = gdf_now_ns();
  atomic_fetch_sub(th->running, 1);
  return NULL;
}

int gdf_sweep_thread_count(const gdf_sweep *s) {
  if (s->ndevices < 1) return 1;
  int n = s->ndevices * s->o.workers_per_device;
  return n > GPUDF_SWEEP_WORKERS_MAX ? GPUDF_SWEEP_WORKERS_MAX : n;
}

gpudf_status gdf_sweep_threads(gdf_sweep *s, const gpudf_table *t) {
  gdf_sweep_ctl *c = s->ctl;
  int n = (int)c->nslots;
  sweep_thread *th = calloc((size_t)n, sizeof *th);
  if (!th) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %d sweep threads", n);
  _Atomic int running = 0;
  gpudf_status st = GPUDF_OK;
  for (int i = 0; i < n; i++) {
    /* Dealt in turn: thread i on device i % ndevices. */
    th[i] = (sweep_thread){.s = s, .t = t, .index = i, .device = s->devices[i % s->ndevices],
                           .running = &running};
    atomic_fetch_add(&running, 1);
    int e = pthread_create(&th[i].tid, NULL, thread_main, &th[i]);
    if (e != 0) {
      atomic_fetch_sub(&running, 1);
      st = GDF_ERR(GPUDF_EIO, "cannot start sweep thread %d of %d: %s", i + 1, n, strerror(e));
      atomic_store(&c->cancel, 1);
      break;
    }
    th[i].started = true;
  }
  gdf_log("sweep: %d threads in this process over %d devices", n, s->ndevices);
  /* The caller's thread: progress, the callback and cancels, every 10 ms. */
  while (atomic_load(&running) > 0) {
    if (!atomic_load(&c->cancel) && gdf_sweep_progress(s, false)) atomic_store(&c->cancel, 1);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  int bound = 0;
  for (int i = 0; i < n; i++) {
    if (!th[i].started) continue;
    pthread_join(th[i].tid, NULL);
    if (th[i].bind == GPUDF_OK) bound++;
    else gdf_log("sweep: thread %d not bound to %s: %s", i, th[i].device, th[i].why);
    gdf_sweep_slot *slot = gdf_ctl_slot(c, i);
    int w = gdf_result_add_worker(s->res, 0);
    if (w < 0) continue;
    gpudf_sweep_worker_info *wi = &s->res->workers[w];
    wi->configs = atomic_load(&slot->configs);
    wi->batches = atomic_load(&slot->batches);
    wi->busy_s = (double)atomic_load(&slot->busy_ns) * 1e-9;
    wi->alive_s = (double)(th[i].ended_ns - th[i].started_ns) * 1e-9;
    snprintf(wi->device, sizeof wi->device, "%s", th[i].bind == GPUDF_OK ? th[i].device : "");
    snprintf(wi->exit, sizeof wi->exit, "%s%s", th[i].bind == GPUDF_OK
             ? "thread in the calling process" : "thread not bound to its device: ",
             th[i].bind == GPUDF_OK ? "" : th[i].why);
  }
  /* No thread could reach its device: the sweep did not run. */
  if (st == GPUDF_OK && bound == 0 && n > 0)
    st = GDF_ERR(th[0].bind, "no sweep thread could bind to its device: %s", th[0].why);
  /* A cancel that left configs unfinished. */
  if (st == GPUDF_OK && atomic_load(&c->cancel))
    for (int64_t i = 0; i < s->n && !s->cancelled; i++)
      s->cancelled = atomic_load(&gdf_ctl_state(c)[i]) == GPUDF_CONFIG_PENDING;
  free(th);
  return st;
}
