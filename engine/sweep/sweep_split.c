/*
 * sweep_split.c - row-split sweeps: when the configs of a sweep share few
 * passes over the rows (filter_agg's configs of one column pair cost one
 * pass whatever their number), dealing configs out to workers cannot halve
 * the work. Instead each chunk of configs runs as nranges tasks over
 * near-equal row ranges, in any worker, into partial states in the control
 * segment, and the owner merges a chunk's states (the kernel's
 * gdf_kernel_split, range by range in row order) once all its tasks are
 * done. Only kernels that merge, never row_order ones, only on the cpu
 * placement. docs/sweep.md, "Row-split sweeps".
 */
#include "sweep_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  /* A range under this many rows costs more in start-up than it saves
   * (automatic splits only; $GPUDF_SWEEP_SPLIT forces any). */
  GDF_SPLIT_MIN_ROWS = 1 << 16,
  /* Tasks per worker an automatic split aims at: 4 balance a worker that
   * starts late or a busy core without many merges. */
  GDF_SPLIT_TASKS_PER_WORKER = 4
};
/* Bytes of partial states at most (n x nranges x nstate doubles). */
#define GDF_SPLIT_STATES_MAX (1ull << 30)

void gdf_split_drop(gdf_sweep *s) {
  free(s->chunks);
  free(s->merged);
  free(s->tattempts);
  free(s->acc);
  s->chunks = NULL;
  s->merged = NULL;
  s->tattempts = NULL;
  s->acc = NULL;
  s->nranges = 0;
  s->nchunks = 0;
}

/* $GPUDF_SWEEP_SPLIT: unset or "auto" -1, "0" (never) 0, "N" ranges per
 * chunk N; anything else is auto, said once in the debug log. */
static int forced_ranges(void) {
  const char *env = getenv("GPUDF_SWEEP_SPLIT");
  if (!env || !*env || strcmp(env, "auto") == 0) return -1;
  char *end;
  long v = strtol(env, &end, 10);
  if (*end != '\0' || v < 0 || v > GDF_SPLIT_RANGES_MAX) {
    gdf_log("sweep: GPUDF_SWEEP_SPLIT=%s is not 0..%d or auto; auto", env,
            GDF_SPLIT_RANGES_MAX);
    return -1;
  }
  return (int)v;
}

/* The chunks: each pass group (the whole sweep without groups), cut into
 * pieces of at most max_batch configs. */
static gpudf_status make_chunks(gdf_sweep *s, int64_t max_batch) {
  int64_t ng = s->ngroups > 0 ? s->ngroups : 1, count = 0;
  for (int64_t g = 0; g < ng; g++) {
    int64_t lo = s->ngroups > 0 ? s->groups[g] : 0, hi = s->ngroups > 0 ? s->groups[g + 1] : s->n;
    count += (hi - lo + max_batch - 1) / max_batch;
  }
  s->chunks = malloc(((size_t)count + 1) * sizeof *s->chunks);
  if (!s->chunks) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld chunks", (long long)count);
  int64_t j = 0;
  for (int64_t g = 0; g < ng; g++) {
    int64_t lo = s->ngroups > 0 ? s->groups[g] : 0, hi = s->ngroups > 0 ? s->groups[g + 1] : s->n;
    int64_t pieces = (hi - lo + max_batch - 1) / max_batch;
    for (int64_t p = 0; p < pieces; p++) s->chunks[j++] = lo + (hi - lo) * p / pieces;
  }
  s->chunks[j] = s->n;
  s->nchunks = count;
  return GPUDF_OK;
}

int64_t gdf_split_ranges(const gpudf_kernel *k, const gpudf_table *t, const double *configs,
                         int64_t n, int64_t ngroups, int workers, gpudf_backend backend,
                         int *nstate_out) {
  int forced = forced_ranges();
  if (forced == 0 || !k->split || !k->split->merge || k->row_order ||
      !(k->cpu || k->run_rows) || n == 0 || backend != GPUDF_BACKEND_CPU)
    return 0;
  int64_t nrows = gpudf_table_nrows(t), ng = ngroups > 0 ? ngroups : 1;
  int64_t ranges = forced;
  if (forced < 0) {
    /* Groups enough to keep every worker busy: dealt out as claims. */
    int64_t want = (int64_t)GDF_SPLIT_TASKS_PER_WORKER * workers;
    if (workers < 2 || ng >= want) return 0;
    ranges = (want + ng - 1) / ng;
    if (ranges > nrows / GDF_SPLIT_MIN_ROWS) ranges = nrows / GDF_SPLIT_MIN_ROWS;
  }
  if (ranges < 2) return 0;
  /* Shape parameters are equal in every config: the first gives the width. */
  int nstate = gdf_kernel_nstate(k, configs);
  if (nstate < 1) return 0;
  if ((double)n * (double)ranges * (double)nstate * sizeof(double) > GDF_SPLIT_STATES_MAX) {
    gdf_log("sweep: %lld configs x %lld ranges x %d doubles of state is too much; not "
            "splitting rows", (long long)n, (long long)ranges, nstate);
    return 0;
  }
  if (nstate_out) *nstate_out = nstate;
  return ranges;
}

gpudf_status gdf_split_plan(gdf_sweep *s, const gpudf_table *t, const double *configs,
                            int workers, gpudf_backend backend) {
  s->nranges = 0;
  if (s->nseries > 0) return GPUDF_OK;
  int64_t ng = s->ngroups > 0 ? s->ngroups : 1;
  int nstate = 0;
  int64_t ranges = gdf_split_ranges(s->k, t, configs, s->n, s->ngroups, workers, backend, &nstate);
  if (ranges < 2) return GPUDF_OK;
  int64_t nrows = gpudf_table_nrows(t);
  int64_t max_batch = s->o.batch > 0 ? s->o.batch : 16384;
  gpudf_status st = make_chunks(s, max_batch);
  if (st == GPUDF_OK) {
    int64_t ntasks = s->nchunks * ranges;
    s->merged = calloc((size_t)s->nchunks, 1);
    s->tattempts = calloc((size_t)ntasks, sizeof *s->tattempts);
    s->acc = malloc((size_t)nstate * sizeof *s->acc);
    if (!s->merged || !s->tattempts || !s->acc)
      st = GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld row-split tasks", (long long)ntasks);
  }
  if (st != GPUDF_OK) {
    gdf_split_drop(s);
    return st;
  }
  s->nranges = (int)ranges;
  s->nstate = nstate;
  s->split_rows = nrows;
  s->tdone_seen = 0;
  gdf_log("sweep: rows split into %d ranges for %lld chunks of configs (%lld pass groups, "
          "%d workers)", s->nranges, (long long)s->nchunks, (long long)ng, workers);
  return GPUDF_OK;
}

void gdf_split_layout(const gdf_sweep *s, gdf_sweep_ctl *shape) {
  if (s->nranges > 0) gdf_ctl_layout_split(shape, s->nchunks, s->nranges, s->nstate);
}

void gdf_split_fill(const gdf_sweep *s, gdf_sweep_ctl *c) {
  if (s->nranges <= 0) return;
  c->nrows = s->split_rows;
  memcpy(gdf_ctl_chunks(c), s->chunks, ((size_t)s->nchunks + 1) * sizeof *s->chunks);
  for (int64_t t = 0; t < c->ntasks; t++)
    atomic_store(&gdf_ctl_tstate(c)[t], GDF_TASK_PENDING);
  atomic_store(&c->tpending, c->ntasks);
  atomic_store(&c->next, c->n); /* no claims of configs: tasks */
}

/* Chunk j: every config still PENDING gets the merge of its states over
 * ranges 0, 1, ... in row order, finished into its result row. Configs a
 * task failed (kernel errors) or that were re-queued after a worker died
 * are not PENDING and keep what they got. */
static void merge_chunk(gdf_sweep *s, int64_t j) {
  gdf_sweep_ctl *c = s->ctl;
  const gdf_kernel_split *sp = s->k->split;
  int R = c->nranges, ns = c->nstate, np = c->nparams, nr = c->nresults;
  _Atomic uint8_t *state = gdf_ctl_state(c);
  int64_t lo = gdf_ctl_chunks(c)[j], hi = gdf_ctl_chunks(c)[j + 1], done = 0;
  for (int64_t i = lo; i < hi; i++) {
    if (atomic_load(&state[i]) != GPUDF_CONFIG_PENDING) continue;
    const double *cfg = gdf_ctl_configs(c) + i * np;
    const double *st = gdf_ctl_states(c) + i * R * ns;
    memcpy(s->acc, st, (size_t)ns * sizeof *s->acc);
    for (int r = 1; r < R; r++) sp->merge(cfg, s->acc, st + (int64_t)r * ns);
    double *out = gdf_ctl_results(c) + i * nr;
    if (sp->finish) sp->finish(cfg, s->acc, out);
    else memcpy(out, s->acc, (size_t)nr * sizeof *out);
    atomic_store_explicit(&state[i], GPUDF_CONFIG_DONE, memory_order_release);
    done++;
  }
  atomic_fetch_add(&c->ndone, done);
  if (done > 0 && !c->first_done_ns) c->first_done_ns = gdf_now_ns();
}

void gdf_split_merge(gdf_sweep *s) {
  gdf_sweep_ctl *c = s->ctl;
  if (!c || c->ntasks <= 0) return;
  int64_t seen = atomic_load_explicit(&c->tdone, memory_order_acquire);
  if (seen == s->tdone_seen) return;
  s->tdone_seen = seen;
  for (int64_t j = 0; j < c->nchunks; j++) {
    if (s->merged[j]) continue;
    bool all = true;
    for (int r = 0; r < c->nranges && all; r++)
      all = atomic_load_explicit(&gdf_ctl_tstate(c)[j * c->nranges + r],
                                 memory_order_acquire) == GDF_TASK_DONE;
    if (!all) continue;
    merge_chunk(s, j);
    s->merged[j] = 1;
  }
}

void gdf_split_in_process(gdf_sweep *s, const gpudf_table *t, gdf_progress_sink *sink) {
  gdf_sweep_ctl *c = s->ctl;
  gdf_sweep_slot *slot = gdf_ctl_slot(c, 0);
  for (int64_t task = 0; task < c->ntasks; task++) {
    if (atomic_load(&c->cancel) || gdf_sweep_progress(s, false)) {
      s->cancelled = true;
      break;
    }
    int64_t lo, hi, rlo, rhi;
    gdf_task_bounds(c, task, &lo, &hi, &rlo, &rhi);
    int64_t t0 = gdf_now_ns();
    atomic_store(&c->tpending, c->ntasks - task - 1);
    atomic_store(&gdf_ctl_tstate(c)[task], GDF_TASK_RUNNING);
    atomic_store(&slot->part, 0);
    atomic_store(&slot->task, task + 1);
    atomic_store(&slot->lo, lo);
    atomic_store(&slot->hi, hi);
    gdf_progress_sink_set(sink);
    bool ran = gdf_sweep_run_task(c, t, s->k, task);
    gdf_progress_sink_set(NULL);
    atomic_store(&slot->hi, 0);
    atomic_store(&slot->lo, 0);
    atomic_store(&slot->task, 0);
    slot->batches++;
    slot->busy_ns += gdf_now_ns() - t0;
    if (!ran) {
      s->cancelled = true;
      break;
    }
    gdf_split_merge(s);
  }
}

bool gdf_split_worker_died(gdf_sweep *s, int slot, bool timed_out, bool *held) {
  gdf_sweep_ctl *c = s->ctl;
  gdf_sweep_slot *sl = gdf_ctl_slot(c, slot);
  int64_t task = atomic_load(&sl->task) - 1;
  *held = true;
  if (c->ntasks <= 0 || task < 0 || task >= c->ntasks) return false;
  _Atomic int32_t *ts = &gdf_ctl_tstate(c)[task];
  if (atomic_load(ts) != GDF_TASK_RUNNING + slot) {
    *held = false; /* recorded, but another worker won it (or it was done) */
    return true;
  }
  if (s->cancelled) return true; /* its configs end CANCELLED */
  int64_t lo, hi, rlo, rhi;
  gdf_task_bounds(c, task, &lo, &hi, &rlo, &rhi);
  if (!timed_out && ++s->tattempts[task] <= s->o.retries) {
    /* Its range again, as a whole task: the states it wrote are rewritten. */
    atomic_store(ts, GDF_TASK_PENDING);
    atomic_fetch_add(&c->tpending, 1);
    s->res->report.retried += hi - lo;
    gdf_log("sweep: worker %d died on rows [%lld, %lld) of a chunk of %lld configs; the range "
            "is re-queued", slot, (long long)rlo, (long long)rhi, (long long)(hi - lo));
    return true;
  }
  /* Died too often (or past its time limit): its configs go the way of a
   * dead claim's, one by one over all rows, which pins a crash on its
   * config. The chunk's merge then skips them: they are not PENDING. */
  atomic_store(ts, GDF_TASK_DONE);
  atomic_fetch_add(&c->tdone, 1);
  return false;
}

void gdf_split_orphans(gdf_sweep *s) {
  gdf_sweep_ctl *c = s->ctl;
  for (int64_t t = 0; t < c->ntasks; t++) {
    int32_t v = atomic_load(&gdf_ctl_tstate(c)[t]);
    if (v >= GDF_TASK_RUNNING && atomic_compare_exchange_strong(&gdf_ctl_tstate(c)[t], &v,
                                                                GDF_TASK_PENDING))
      atomic_fetch_add(&c->tpending, 1);
  }
}
