/* sweep_progress.c - what the owner of a sweep reports while it runs: the
 * fraction done and the progress callback, with its cadence, and whether it
 * or a signal asks to cancel. Both ways of running a sweep use it: in the
 * calling process (sweep.c) and in workers (sweep_monitor.c). */
#include "sweep_owner.h"

/* The fraction of the sweep done: the finished configs, plus what the
 * running claims' kernels report of their batches (gpudf_kernel_progress
 * into the slot's part). Kept from going back: a worker's claim ends by
 * marking its configs done and then clearing its slot, and a lost worker's
 * partial work is redone, so a sample can briefly over- or undercount. */
static double work_done(gdf_sweep *s, int64_t finished) {
  if (s->n <= 0) return 1.0;
  gdf_sweep_ctl *c = s->ctl;
  double work = (double)finished;
  for (uint32_t i = 0; i < c->nslots; i++) {
    gdf_sweep_slot *slot = gdf_ctl_slot(c, (int)i);
    int64_t lo = atomic_load(&slot->lo), hi = atomic_load(&slot->hi);
    int32_t part = atomic_load(&slot->part);
    /* A row-split task holds its configs over one range of rows. */
    double share = atomic_load(&slot->task) > 0 ? 1.0 / (double)c->nranges : 1.0;
    if (hi > lo && part > 0) work += (double)(hi - lo) * share * (double)part / GDF_PART_ONE;
  }
  /* Row-split: the finished ranges of chunks not merged yet. */
  for (int64_t j = 0; c->ntasks > 0 && s->merged && j < c->nchunks; j++) {
    if (s->merged[j]) continue;
    int64_t ranges = 0;
    for (int r = 0; r < c->nranges; r++)
      ranges += atomic_load(&gdf_ctl_tstate(c)[j * c->nranges + r]) == GDF_TASK_DONE;
    work += (double)(gdf_ctl_chunks(c)[j + 1] - gdf_ctl_chunks(c)[j]) * (double)ranges /
            (double)c->nranges;
  }
  double f = work / (double)s->n;
  if (finished >= s->n || f > 1.0) f = 1.0;
  if (f < s->fraction) f = s->fraction;
  s->fraction = f;
  return f;
}

bool gdf_sweep_progress(gdf_sweep *s, bool force) {
  int64_t now = gdf_now_ns();
  bool cancel = gdf_signals_pending() != 0;
  if (!s->o.progress || (!force && now - s->last_progress_ns < 100000000)) return cancel;
  s->last_progress_ns = now;
  gpudf_sweep_progress p = {0};
  p.done = atomic_load(&s->ctl->ndone);
  p.failed = atomic_load(&s->ctl->nkfail) + s->owner_failed;
  p.total = s->n;
  p.elapsed_s = (double)(now - s->t0_ns) * 1e-9;
  p.fraction = work_done(s, p.done + p.failed);
  p.eta_s = p.fraction > 0.0 ? p.elapsed_s * (1.0 - p.fraction) / p.fraction : -1.0;
  if (s->o.progress(&p, s->o.progress_user) != 0) {
    if (!s->cancelled) gdf_log("sweep: cancelled by the progress callback");
    cancel = true;
  }
  return cancel;
}
