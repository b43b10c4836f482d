/*
 * sweep_ctl.h - the control segment a sweep's owner shares with its workers.
 *
 * One private segment ("gpudf-<uid>+s.<owner pid>.<start>.<seq>", so the
 * owner's death gets it swept) holds, after this header: the configs, the
 * results (written in place by workers), a state byte and an error code per
 * config, one slot per worker, a small ring of kernel error messages and,
 * for a kernel with a pass key, where each group of configs sharing a pass
 * starts (the owner wrote the configs ordered by key). Workers claim batches
 * with a compare-and-swap on `next` (gdf_claim_end says where a claim
 * ends); configs re-queued after a worker died are claimed one at a time
 * from the RETRY states, so a crash is pinned on the config that causes it.
 */
#ifndef GPUDF_SWEEP_CTL_H
#define GPUDF_SWEEP_CTL_H

#include "kernel.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GDF_SWEEP_MAGIC 0x70657773666467ull /* "gdfswep" */
enum { GDF_SWEEP_VERSION = 6, GDF_SWEEP_MSGS = 256 };
/* Row ranges per chunk at most. */
enum { GDF_SPLIT_RANGES_MAX = 4096 };

/* States beyond the public gpudf_config_state values (which are final). */
enum {
  GDF_ST_RETRY = 5,   /* re-queued; claimed one at a time */
  GDF_ST_RUNNING = 6  /* a retried config in a worker's hands */
};

typedef struct gdf_sweep_slot {
  _Atomic int32_t pid;
  _Atomic int32_t claiming; /* between the fetch-add and recording lo/hi */
  _Atomic int32_t attached; /* startup done: table attached, kernel found */
  _Atomic int32_t part;     /* of the claim done, in 1/GDF_PART_ONE (gpudf_kernel_progress) */
  _Atomic int32_t backend;  /* the placement its kernels run on, once attached */
  _Atomic int32_t pad;
  _Atomic int64_t lo, hi;     /* the claim being run; lo == hi: none */
  _Atomic int64_t start_ns;   /* when it started (CLOCK_MONOTONIC) */
  _Atomic int64_t configs, batches, busy_ns;
  _Atomic int64_t task;       /* row-split: the task being run + 1; 0: none */
  char error[GPUDF_SWEEP_REASON_MAX]; /* why startup failed */
  char device[48]; /* UUID text of the device its kernels run on, once attached; "" cpu */
} gdf_sweep_slot;

typedef struct gdf_sweep_msg {
  int64_t config;
  int32_t status;
  char text[GPUDF_SWEEP_REASON_MAX];
} gdf_sweep_msg;

typedef struct gdf_sweep_ctl {
  uint64_t magic;
  uint32_t version;
  uint32_t nslots;
  uint64_t size;
  int32_t owner_pid;
  int32_t nworkers; /* for the guided batch size */
  uint64_t owner_start;
  char share[GPUDF_NAME_MAX + 1];
  char kernel[GPUDF_NAME_MAX + 1];
  int64_t n;
  int64_t max_batch;
  int64_t ngroups; /* groups of configs sharing a pass; 0: no pass key */
  int32_t nparams, nresults;
  uint64_t off_configs, off_results, off_state, off_err, off_slots, off_msgs, off_groups;
  /* A sweep over the series of a long table (gpudf_sweep_options.series,
   * a kernel with row_order): nseries > 0, the stable order of the table's
   * rows by series (nperm row indices: the rows of series q are
   * perm[starts[q] .. starts[q + 1])), and each config's series. perm is
   * the table's column order_col (the order kept with the table,
   * gdf_series_keep) or, when order_col is -1, in this segment. */
  int64_t nseries, nperm;
  int64_t order_col;
  uint64_t off_series, off_perm, off_starts;
  /* A row-split sweep (ntasks > 0, docs/sweep.md "Row-split sweeps"):
   * the configs come in chunks (a pass group, cut at max_batch), each run
   * as nranges tasks over near-equal row ranges; task t is range
   * t % nranges of chunk t / nranges. Task t's worker writes the nstate
   * doubles of config i's state over range r at states[(i * nranges + r)
   * * nstate]; the owner merges a chunk's states once all its tasks are
   * DONE. Configs are then not claimed through next (it starts at n). */
  int64_t ntasks, nchunks, nrows;
  int32_t nranges, nstate;
  uint64_t off_chunks, off_tstate, off_states;
  _Atomic int64_t tpending;      /* tasks in state GDF_TASK_PENDING */
  _Atomic int64_t tdone;         /* tasks DONE (the owner merges when a chunk's are) */
  _Atomic int64_t next;          /* first config not yet claimed */
  _Atomic int64_t ndone;         /* DONE, counted by workers */
  _Atomic int64_t nkfail;        /* FAILED by a kernel error, counted by workers */
  _Atomic int64_t retry_pending; /* RETRY configs not yet claimed */
  _Atomic int64_t retry_hint;    /* no RETRY config below this index */
  _Atomic int64_t first_done_ns; /* when the first batch finished */
  _Atomic int64_t nmsgs;
  _Atomic int32_t cancel;
  _Atomic int32_t pad;
} gdf_sweep_ctl;

static inline double *gdf_ctl_configs(gdf_sweep_ctl *c) {
  return (double *)((uint8_t *)c + c->off_configs);
}
static inline double *gdf_ctl_results(gdf_sweep_ctl *c) {
  return (double *)((uint8_t *)c + c->off_results);
}
static inline _Atomic uint8_t *gdf_ctl_state(gdf_sweep_ctl *c) {
  return (_Atomic uint8_t *)((uint8_t *)c + c->off_state);
}
static inline int32_t *gdf_ctl_err(gdf_sweep_ctl *c) {
  return (int32_t *)((uint8_t *)c + c->off_err);
}
static inline gdf_sweep_slot *gdf_ctl_slot(gdf_sweep_ctl *c, int i) {
  return (gdf_sweep_slot *)((uint8_t *)c + c->off_slots) + i;
}
static inline gdf_sweep_msg *gdf_ctl_msg(gdf_sweep_ctl *c, int64_t i) {
  return (gdf_sweep_msg *)((uint8_t *)c + c->off_msgs) + i;
}
/* ngroups + 1 entries: group g is configs [groups[g], groups[g + 1]). */
static inline int64_t *gdf_ctl_groups(gdf_sweep_ctl *c) {
  return (int64_t *)((uint8_t *)c + c->off_groups);
}

/* Per config: its series, 0..nseries-1 (nseries > 0 only). */
static inline int64_t *gdf_ctl_series(gdf_sweep_ctl *c) {
  return (int64_t *)((uint8_t *)c + c->off_series);
}
static inline int64_t *gdf_ctl_perm(gdf_sweep_ctl *c) {
  return (int64_t *)((uint8_t *)c + c->off_perm);
}
/* The series order: the table's kept column or the segment's copy. */
static inline const int64_t *gdf_ctl_order(gdf_sweep_ctl *c, const gpudf_table *t) {
  return c->order_col >= 0 ? (const int64_t *)gdf_table_colref(t, (int)c->order_col).data
                           : gdf_ctl_perm(c);
}
static inline int64_t *gdf_ctl_starts(gdf_sweep_ctl *c) {
  return (int64_t *)((uint8_t *)c + c->off_starts);
}
/* Row-split: nchunks + 1 chunk starts (chunk j is configs [chunks[j],
 * chunks[j + 1])), a state per task, the partial states. */
static inline int64_t *gdf_ctl_chunks(gdf_sweep_ctl *c) {
  return (int64_t *)((uint8_t *)c + c->off_chunks);
}
/* GDF_TASK_PENDING, GDF_TASK_DONE, or GDF_TASK_RUNNING + the slot running it
 * (so a dead worker's task is known by its value alone). */
enum { GDF_TASK_PENDING = 0, GDF_TASK_DONE = 1, GDF_TASK_RUNNING = 2 };
static inline _Atomic int32_t *gdf_ctl_tstate(gdf_sweep_ctl *c) {
  return (_Atomic int32_t *)((uint8_t *)c + c->off_tstate);
}
static inline double *gdf_ctl_states(gdf_sweep_ctl *c) {
  return (double *)((uint8_t *)c + c->off_states);
}
/* Task t's configs [*lo, *hi) and rows [*rlo, *rhi). */
void gdf_task_bounds(gdf_sweep_ctl *c, int64_t t, int64_t *lo, int64_t *hi, int64_t *rlo,
                     int64_t *rhi);

/* Bytes of a control segment and the offsets of its parts (nseries = 0:
 * no series parts; nchunks = 0: no row-split parts). */
uint64_t gdf_ctl_layout(gdf_sweep_ctl *c, int64_t n, int nparams, int nresults, int nslots,
                        int64_t ngroups, int64_t nseries, int64_t nperm);
uint64_t gdf_ctl_layout_split(gdf_sweep_ctl *c, int64_t nchunks, int nranges, int nstate);

/* Monotonic clock in nanoseconds. */
int64_t gdf_now_ns(void);

/* Size of the next claim: an equal share of what is left (guided, k = 1),
 * but never under half an equal share of the whole sweep, capped by
 * max_batch. A batch kernel pays one pass over the table per claim whatever
 * the claim's size (filter_agg: ~0.1 s per column pair over 1e7 rows), so
 * small tail claims cost more than they balance; the floor keeps every
 * worker at about two claims, and the user's batch option bounds them when
 * configs are uneven. */
int64_t gdf_guided_batch(int64_t remaining, int64_t n, int workers, int64_t max_batch);

/* The claims of a sweep start small and double: the claim that starts at
 * config lo holds at most max(lo, n / (GDF_CLAIM_RAMP * workers)) configs.
 * A claim's configs finish together, when its batch ends, and a cancel
 * stops the batches that run (their configs end CANCELLED): with every
 * worker's first claim an equal share of the sweep, the first result came
 * at its end and a Ctrl-C half-way kept nothing. So the first results come
 * within ~1/GDF_CLAIM_RAMP of a worker's share of the sweep (3%), a cancel
 * keeps what finished before it, and the doubling reaches the guided size
 * in about log2(GDF_CLAIM_RAMP / 2) claims: a few more passes over the
 * table in a sweep (a pass group the ramp cuts), measured on
 * gpudf-bench_sweep at under 5% of its time. */
enum { GDF_CLAIM_RAMP = 32 };
int64_t gdf_claim_ramp(int64_t lo, int64_t n, int workers);

/* End of the claim that starts at config lo (< n): the guided size, capped
 * by max_batch and the ramp. With groups (configs sharing a pass, ctl->ngroups > 0), a
 * claim never splits a group it could hold: it takes the rest of lo's group
 * (up to a quarter over the guided size) plus the whole groups after it
 * that fit in half an equal share of the sweep (one worker: in the guided
 * size); a larger group is cut in near-equal pieces of at most the guided
 * size. So 4 column pairs over 2 workers go one pair per claim, 2 passes
 * per worker, and a worker that finishes first takes the next pair. A pure
 * function of the claim's start, so a worker claims [lo, end) with one
 * compare-and-swap of next from lo. */
int64_t gdf_claim_end(gdf_sweep_ctl *c, int64_t lo);

/* gdf_sweep_slot.part of a finished claim. */
#define GDF_PART_ONE 65536

/* What gpudf_kernel_progress talks to in the calling thread while a claim
 * runs: the claim's part (its slot's), the sweep's cancel flag, and in
 * process (workers = 0) the owner's own progress step, which calls the
 * user's callback at its cadence and returns true to cancel. */
typedef struct gdf_progress_sink {
  _Atomic int32_t *part;
  _Atomic int32_t *cancel;
  bool (*tick)(void *arg);
  void *arg;
  /* The share of the claim the running gpudf_run holds (0: all of it): a
   * series claim runs one gpudf_run per series, each reporting 0 to 1 of
   * its own configs. */
  double scale;
} gdf_progress_sink;

/* Sets the calling thread's sink (NULL: none, gpudf_kernel_progress does
 * nothing); the struct must outlive its use. */
void gdf_progress_sink_set(const gdf_progress_sink *sink);

/* Runs configs [lo, hi) of the control segment's matrix with kernel k on
 * table t; on a kernel error, runs them one by one and marks the ones that
 * fail FAILED with their message. Returns how many ended DONE. */
int64_t gdf_sweep_run_batch(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                            int64_t lo, int64_t hi);

/* Runs task t (row-split; its worker recorded it in its slot) into the
 * states; a kernel error runs the task's configs one by one over its rows
 * and fails the ones that fail, with their message. Marks the task DONE
 * unless the sweep is being cancelled. Returns false when cancelled. */
bool gdf_sweep_run_task(gdf_sweep_ctl *c, const gpudf_table *t, const gpudf_kernel *k,
                        int64_t task);

#ifdef __cplusplus
}
#endif

#endif
