/*
 * sweep_worker.c - the loop of a gpudf-worker process: attach the table once,
 * claim batches, run them, write results in place, until the queue is empty,
 * the sweep is cancelled or the owner is gone.
 *
 *   gpudf-worker CONTROL-SEGMENT SLOT [PLUGIN...]
 */
#include "device.h"
#include "proc.h"
#include "segment.h"
#include "sweep_ctl.h"
#include "sweep_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct worker {
  gdf_sweep_ctl *ctl;
  uint64_t size;
  gdf_sweep_slot *slot;
  gpudf_table *view;
  const gpudf_kernel *kernel;
  int64_t checked_ns; /* last full check that the owner lives */
} worker;

static void nap_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

/* Whether count x per elements of elem bytes at off lie inside size bytes
 * (count and per may be 0; no product that could overflow). */
static bool part_fits(uint64_t size, uint64_t off, uint64_t count, uint64_t per, uint64_t elem) {
  return off <= size && (count == 0 || per == 0 || (size - off) / elem / per >= count);
}

/* Maps the owner's control segment read-write and checks it is one. */
static gpudf_status map_ctl(const char *name, worker *w) {
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  int fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return GDF_ERR(GPUDF_ENOENT, "control segment %s: %s", name, strerror(errno));
  struct stat st;
  gpudf_status s = GPUDF_OK;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < sizeof(gdf_sweep_ctl)) {
    s = GDF_ERR(GPUDF_EBADMSG, "control segment %s is too small", name);
  } else {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
      s = GDF_ERR(GPUDF_EIO, "mmap(%s): %s", name, strerror(errno));
    else {
      w->ctl = p;
      w->size = (uint64_t)st.st_size;
    }
  }
  close(fd);
  if (s == GPUDF_OK && (w->ctl->magic != GDF_SWEEP_MAGIC ||
                        w->ctl->version != GDF_SWEEP_VERSION || w->ctl->size != w->size))
    s = GDF_ERR(GPUDF_EBADMSG, "%s is not a gpudf sweep control segment of this version",
                name);
  /* Every batch reads configs and writes results, states and errors, the
   * slots and messages are written: all inside the segment. */
  if (s == GPUDF_OK) {
    gdf_sweep_ctl *c = w->ctl;
    uint64_t n = (uint64_t)c->n;
    if (c->n < 0 || c->nparams < 0 || c->nresults < 0 ||
        !part_fits(w->size, c->off_configs, n, (uint64_t)c->nparams, sizeof(double)) ||
        !part_fits(w->size, c->off_results, n, (uint64_t)c->nresults, sizeof(double)) ||
        !part_fits(w->size, c->off_state, n, 1, 1) ||
        !part_fits(w->size, c->off_err, n, 1, sizeof(int32_t)) ||
        !part_fits(w->size, c->off_slots, c->nslots, 1, sizeof(gdf_sweep_slot)) ||
        !part_fits(w->size, c->off_msgs, GDF_SWEEP_MSGS, 1, sizeof(gdf_sweep_msg)))
      s = GDF_ERR(GPUDF_EBADMSG, "%s: its configs, results or slots lie outside the segment",
                  name);
  }
  /* Claims read the group starts: they must lie inside the segment. */
  if (s == GPUDF_OK && (w->ctl->ngroups < 0 || w->ctl->ngroups > w->ctl->n ||
                        w->ctl->off_groups > w->size ||
                        (w->size - w->ctl->off_groups) / sizeof(int64_t) <
                            (uint64_t)w->ctl->ngroups + (w->ctl->ngroups > 0)))
    s = GDF_ERR(GPUDF_EBADMSG, "%s: its pass groups lie outside the segment", name);
  /* Tasks read the chunks and write states: inside the segment, chunks
   * ascending within the configs. */
  if (s == GPUDF_OK && w->ctl->ntasks != 0) {
    gdf_sweep_ctl *c = w->ctl;
    uint64_t nc = (uint64_t)c->nchunks, nr = (uint64_t)c->nranges, ns = (uint64_t)c->nstate;
    bool ok = c->nchunks > 0 && c->nchunks <= c->n && c->nranges > 0 &&
              c->nranges <= GDF_SPLIT_RANGES_MAX && c->nstate > 0 && c->nrows >= 0 &&
              c->ntasks == c->nchunks * c->nranges && c->off_chunks <= w->size &&
              c->off_tstate <= w->size && c->off_states <= w->size &&
              (w->size - c->off_chunks) / sizeof(int64_t) >= nc + 1 &&
              (w->size - c->off_tstate) / sizeof(int32_t) >= nc * nr &&
              (w->size - c->off_states) / sizeof(double) / nr / ns >= (uint64_t)c->n;
    for (uint64_t j = 0; ok && j <= nc; j++)
      ok = gdf_ctl_chunks(c)[j] >= (j ? gdf_ctl_chunks(c)[j - 1] : 0) &&
           gdf_ctl_chunks(c)[j] <= c->n;
    if (!ok) s = GDF_ERR(GPUDF_EBADMSG, "%s: its row-split tasks lie outside the segment", name);
  }
  /* Batches read the series parts: they must lie inside the segment, and
   * every series index and row index be in range. */
  if (s == GPUDF_OK && w->ctl->nseries > 0) {
    gdf_sweep_ctl *c = w->ctl;
    uint64_t n = (uint64_t)c->n, np = (uint64_t)c->nperm, ns = (uint64_t)c->nseries;
    bool ok = c->nperm >= 0 && c->off_series <= w->size && c->off_perm <= w->size &&
              c->off_starts <= w->size && (w->size - c->off_series) / sizeof(int64_t) >= n &&
              (c->order_col >= 0 || (w->size - c->off_perm) / sizeof(int64_t) >= np) &&
              (w->size - c->off_starts) / sizeof(int64_t) >= ns + 1;
    for (uint64_t i = 0; ok && i < n; i++)
      ok = gdf_ctl_series(c)[i] >= 0 && (uint64_t)gdf_ctl_series(c)[i] < ns;
    for (uint64_t q = 0; ok && q <= ns; q++)
      ok = gdf_ctl_starts(c)[q] >= (q ? gdf_ctl_starts(c)[q - 1] : 0) &&
           (uint64_t)gdf_ctl_starts(c)[q] <= np;
    if (!ok) s = GDF_ERR(GPUDF_EBADMSG, "%s: its series lie outside the segment", name);
  }
  return s;
}

static gpudf_status start(int argc, char **argv, worker *w, int *slot_index) {
  GDF_TRY(map_ctl(argv[1], w));
  int idx = atoi(argv[2]);
  if (idx < 0 || idx >= (int)w->ctl->nslots)
    return GDF_ERR(GPUDF_EINVAL, "slot %s is out of range", argv[2]);
  *slot_index = idx;
  w->slot = gdf_ctl_slot(w->ctl, idx);
  for (int i = 3; i < argc; i++) GDF_TRY(gpudf_plugin_load(argv[i]));
  GDF_TRY(gpudf_kernel_find(w->ctl->kernel, &w->kernel));
  /* Bound to its replica's device before anything touches the device. */
  const char *bind = getenv("GPUDF_WORKER_DEVICE");
  if (bind && *bind) GDF_TRY(gdf_device_bind_uuid(bind));
  GDF_TRY(gpudf_attach(w->ctl->share, &w->view));
  /* A series' kernels read the rows the owner listed: each must be a row
   * of the table attached. */
  int64_t nrows = gpudf_table_nrows(w->view);
  gdf_sweep_ctl *c = w->ctl;
  if (c->nseries > 0 && c->order_col >= 0 &&
      (c->order_col >= gpudf_table_ncols(w->view) || c->nperm > nrows ||
       gpudf_table_column_type(w->view, (int)c->order_col) != GPUDF_TYPE_I64 ||
       strncmp(gpudf_table_column_name(w->view, (int)c->order_col), GDF_DERIVED_ORDER,
               strlen(GDF_DERIVED_ORDER)) != 0))
    return GDF_ERR(GPUDF_EBADMSG, "%s: the series order is not a column of the table attached",
                   argv[1]);
  const int64_t *perm = c->nseries > 0 ? gdf_ctl_order(c, w->view) : NULL;
  for (int64_t i = 0; c->nseries > 0 && i < c->nperm; i++)
    if (perm[i] < 0 || perm[i] >= nrows)
      return GDF_ERR(GPUDF_EBADMSG, "%s: series row %lld is outside the table's %lld rows",
                     argv[1], (long long)perm[i], (long long)nrows);
  if (w->ctl->ntasks > 0 && w->ctl->nrows != nrows)
    return GDF_ERR(GPUDF_EBADMSG, "%s: its row ranges cover %lld rows, the table has %lld",
                   argv[1], (long long)w->ctl->nrows, (long long)nrows);
  const char *dev = gpudf_table_device(w->view);
  snprintf(w->slot->device, sizeof w->slot->device, "%s", dev ? dev : "");
  /* What it got here (a cuda-ipc share may be cuda-pinned or cpu in this
   * process), for the owner's report. */
  atomic_store(&w->slot->backend, (int32_t)gpudf_table_backend(w->view));
  return GPUDF_OK;
}

/* getppid is cheap and catches a reparented worker at once; the full
 * identity check reads /proc, so it runs at most every 100 ms (a claim
 * costs about a microsecond otherwise). */
static bool owner_gone(worker *w) {
  if (getppid() != w->ctl->owner_pid) return true;
  int64_t now = gdf_now_ns();
  if (now - w->checked_ns < 100000000) return false;
  w->checked_ns = now;
  return !gdf_proc_alive(w->ctl->owner_pid, w->ctl->owner_start);
}

/* Claims the next batch of the main queue into the slot; false when empty.
 * `claiming` tells the owner a claim may be in flight unrecorded. Where a
 * claim ends depends on where it starts (gdf_claim_end: pass groups), so
 * it is taken with a compare-and-swap from the start it was sized for. */
static bool claim_main(worker *w, int64_t *lo, int64_t *hi) {
  gdf_sweep_ctl *c = w->ctl;
  int64_t next = atomic_load(&c->next);
  if (next >= c->n) return false;
  atomic_store(&w->slot->claiming, 1);
  int64_t end;
  do {
    if (next >= c->n) {
      atomic_store(&w->slot->claiming, 0);
      return false;
    }
    end = gdf_claim_end(c, next);
  } while (!atomic_compare_exchange_weak(&c->next, &next, end));
  *lo = next;
  *hi = end;
  atomic_store(&w->slot->start_ns, gdf_now_ns());
  atomic_store(&w->slot->lo, *lo);
  atomic_store(&w->slot->hi, *hi);
  atomic_store(&w->slot->claiming, 0);
  return *hi > *lo;
}

/* Claims one re-queued config; false when there is none now. */
static bool claim_retry(worker *w, int64_t *lo, int64_t *hi) {
  gdf_sweep_ctl *c = w->ctl;
  if (atomic_load(&c->retry_pending) <= 0) return false;
  _Atomic uint8_t *state = gdf_ctl_state(c);
  int64_t hint = atomic_load(&c->retry_hint);
  for (int64_t i = hint; i < c->n; i++) {
    uint8_t want = GDF_ST_RETRY;
    if (atomic_load(&state[i]) != GDF_ST_RETRY) continue;
    /* Record first, so a death right after the exchange still names it. */
    atomic_store(&w->slot->start_ns, gdf_now_ns());
    atomic_store(&w->slot->lo, i);
    atomic_store(&w->slot->hi, i + 1);
    if (atomic_compare_exchange_strong(&state[i], &want, GDF_ST_RUNNING)) {
      atomic_fetch_sub(&c->retry_pending, 1);
      atomic_compare_exchange_strong(&c->retry_hint, &hint, i);
      *lo = i;
      *hi = i + 1;
      return true;
    }
    atomic_store(&w->slot->lo, 0);
    atomic_store(&w->slot->hi, 0);
  }
  return false;
}

/* Claims a pending row-split task (first pending first, so that chunks
 * finish in order and the owner merges early); false when none is. Like a
 * retry, recorded in the slot before the exchange that wins it; the
 * task's state then names this slot, so the owner knows a dead worker's
 * task by it. */
static bool claim_task(worker *w, int slot_index, int64_t *task) {
  gdf_sweep_ctl *c = w->ctl;
  if (c->ntasks <= 0 || atomic_load(&c->tpending) <= 0) return false;
  _Atomic int32_t *ts = gdf_ctl_tstate(c);
  for (int64_t t = 0; t < c->ntasks; t++) {
    if (atomic_load(&ts[t]) != GDF_TASK_PENDING) continue;
    int64_t lo, hi, rlo, rhi;
    gdf_task_bounds(c, t, &lo, &hi, &rlo, &rhi);
    atomic_store(&w->slot->start_ns, gdf_now_ns());
    atomic_store(&w->slot->task, t + 1);
    atomic_store(&w->slot->lo, lo);
    atomic_store(&w->slot->hi, hi);
    int32_t want = GDF_TASK_PENDING;
    if (atomic_compare_exchange_strong(&ts[t], &want, GDF_TASK_RUNNING + slot_index)) {
      atomic_fetch_sub(&c->tpending, 1);
      *task = t;
      return true;
    }
    atomic_store(&w->slot->lo, 0);
    atomic_store(&w->slot->hi, 0);
    atomic_store(&w->slot->task, 0);
  }
  return false;
}

/* A task's configs are counted by the owner when it merges them; the
 * worker's batches count the row ranges it ran. */
static void run_task(worker *w, int64_t task) {
  int64_t t0 = gdf_now_ns();
  atomic_store(&w->slot->part, 0);
  gdf_progress_sink sink = {&w->slot->part, &w->ctl->cancel, NULL, NULL, 0.0};
  gdf_progress_sink_set(&sink);
  gdf_sweep_run_task(w->ctl, w->view, w->kernel, task);
  gdf_progress_sink_set(NULL);
  atomic_fetch_add(&w->slot->batches, 1);
  atomic_fetch_add(&w->slot->busy_ns, gdf_now_ns() - t0);
  atomic_store(&w->slot->hi, 0);
  atomic_store(&w->slot->lo, 0);
  atomic_store(&w->slot->task, 0);
}

static void run_claim(worker *w, int64_t lo, int64_t hi) {
  int64_t t0 = gdf_now_ns();
  atomic_store(&w->slot->part, 0);
  gdf_progress_sink sink = {&w->slot->part, &w->ctl->cancel, NULL, NULL, 0.0};
  gdf_progress_sink_set(&sink);
  int64_t done = gdf_sweep_run_batch(w->ctl, w->view, w->kernel, lo, hi);
  gdf_progress_sink_set(NULL);
  int64_t t1 = gdf_now_ns();
  int64_t zero = 0;
  if (done > 0) atomic_compare_exchange_strong(&w->ctl->first_done_ns, &zero, t1);
  atomic_fetch_add(&w->slot->configs, done);
  atomic_fetch_add(&w->slot->batches, 1);
  atomic_fetch_add(&w->slot->busy_ns, t1 - t0);
  atomic_store(&w->slot->hi, 0);
  atomic_store(&w->slot->lo, 0);
}

static void loop(worker *w, int slot_index) {
  gdf_sweep_ctl *c = w->ctl;
  while (!atomic_load(&c->cancel) && !owner_gone(w)) {
    int64_t lo, hi, task;
    if (claim_main(w, &lo, &hi) || claim_retry(w, &lo, &hi)) {
      run_claim(w, lo, hi);
      continue;
    }
    if (claim_task(w, slot_index, &task)) {
      run_task(w, task);
      continue;
    }
    if (atomic_load(&c->next) >= c->n && atomic_load(&c->retry_pending) <= 0 &&
        atomic_load(&c->tpending) <= 0)
      break;
    nap_us(500); /* a re-queued config is being published */
  }
}

int gpudf_worker_main(int argc, char **argv) {
  /* Dies with the owner even while a kernel runs; the loop's own check
   * covers the race of an owner that died before this line. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc < 3) {
    fprintf(stderr, "usage: gpudf-worker CONTROL-SEGMENT SLOT [PLUGIN...]\n"
                    "(started by gpudf_sweep; not meant to be run by hand)\n");
    return 2;
  }
  worker w = {0};
  int idx = -1;
  gpudf_status st = start(argc, argv, &w, &idx);
  int rc = 0;
  if (st == GPUDF_OK && !owner_gone(&w)) {
    atomic_store(&w.slot->attached, 1);
    loop(&w, idx);
  } else if (st != GPUDF_OK) {
    if (w.slot) snprintf(w.slot->error, sizeof w.slot->error, "%s", gpudf_last_error());
    fprintf(stderr, "gpudf-worker: %s\n", gpudf_last_error());
    rc = 3;
  }
  gpudf_table_free(w.view);
  if (w.ctl) munmap(w.ctl, w.size);
  return rc;
}
