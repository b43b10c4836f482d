/* sweep_owner.h - the owner side of a sweep, shared by sweep.c (entry,
 * setup, in-process runs), sweep_monitor.c (worker processes),
 * sweep_progress.c (progress and cancel) and sweep_result.c (the result
 * handle). sweep.c uses the others; none of them uses sweep.c. */
#ifndef GPUDF_SWEEP_OWNER_H
#define GPUDF_SWEEP_OWNER_H

#include "segment.h"
#include "sweep_ctl.h"

struct gpudf_sweep_result {
  int64_t n;
  uint8_t *state;
  int32_t *err;
  char **reason; /* n entries, NULL where there is none */
  gpudf_sweep_report report;
  int signal; /* SIGINT or SIGTERM that cancelled the sweep, or 0 */
  char *skipped; /* gpudf_share_skipped of the share the workers used, or NULL */
  int nworkers, capworkers;
  gpudf_sweep_worker_info *workers;
  int64_t nseries; /* 0: no series; else row i is on series i % nseries */
  char **labels;   /* nseries labels */
  /* Per config (n / nseries of them): the equal-weight portfolio across
   * its series, total return, Sharpe and bars (gdf_series_portfolio), or
   * NULL with the reason in portfolio_why. */
  double *portfolio;
  char portfolio_why[192];
};

/* A worker process the owner started. */
typedef struct gdf_wproc {
  int pid;
  int slot;
  int info;          /* index in result->workers */
  int64_t spawned_ns;
  bool timed_out;    /* killed by the owner for its time limit */
  bool slow_start;   /* killed by the owner: not started within the startup limit */
  int pidfd;         /* readable when the process exits; -1 without pidfd_open */
} gdf_wproc;

typedef struct gdf_sweep {
  const gpudf_kernel *k;
  int64_t n;
  int nres;
  gpudf_sweep_options o;
  gdf_sweep_ctl *ctl;   /* the control segment, or a heap copy (workers = 0) */
  gdf_segment *seg;
  const char *share;
  gpudf_sweep_result *res;
  int32_t *attempts;    /* per config: runs lost to a dead worker */
  int64_t *perm;        /* control index -> caller's index, NULL: the same */
  int64_t *groups;      /* ngroups + 1 starts of the pass groups, by control index */
  int64_t ngroups;      /* 0: the kernel has no pass key, or every key is equal */
  int64_t nseries;      /* series of a long table (0: none); s->n = configs x series */
  int64_t nperm;        /* rows in some series */
  int64_t *sperm;       /* rows ordered by series, stably (nperm); NULL when kept */
  int order_col;        /* the table's column keeping that order, or -1 */
  int64_t *starts;      /* nseries + 1 starts in sperm */
  double *expanded;     /* configs x series rows, config k on series q at k * nseries + q */
  /* Row-split (gdf_split_plan; nranges 0: none): chunks of configs, each
   * run as nranges tasks over row ranges and merged by the owner. */
  int nranges, nstate;
  int64_t nchunks, split_rows;
  int64_t *chunks;      /* nchunks + 1 starts, by control index */
  uint8_t *merged;      /* per chunk: merged (or given up on) */
  int32_t *tattempts;   /* per task: runs lost to a dead worker */
  double *acc;          /* nstate doubles: the owner's merge */
  int64_t tdone_seen;   /* ctl->tdone at the last merge */
  gdf_wproc *procs;     /* by slot; pid 0: free */
  int live;
  int64_t owner_failed; /* FAILED or TIMED_OUT set by the owner */
  int64_t t0_ns, last_progress_ns;
  double fraction; /* last reported gpudf_sweep_progress.fraction */
  bool cancelled;
  int startup_failures;
  int startup_deaths;   /* workers that died (signal, exit 0) before they attached */
  int ran_on[4];        /* workers that attached, by the gpudf_backend they got */
  int64_t uncounted;    /* final states a dead worker did not get to count */
  char startup_error[640];
  /* cuda-ipc: the devices holding a replica ("GPU-..."); worker slot i is
   * bound to device i % ndevices (GPUDF_WORKER_DEVICE in its environment). */
  int ndevices;
  char devices[GDF_REPLICAS_MAX][48];
  bool workers_default; /* workers were GPUDF_SWEEP_WORKERS_DEFAULT: per device once known */
} gdf_sweep;

/* The caller's index of control-segment config i. */
static inline int64_t gdf_user_index(const gdf_sweep *s, int64_t i) {
  return s->perm ? s->perm[i] : i;
}

/* The series of column col of t: rows with a label (a categorical code
 * >= 0, any integer) ordered by it, stably, and by column time within each
 * series when time >= 0 (a row without a time is refused), into *perm
 * (*nperm rows), the starts of the *nseries series in it (*starts, nseries
 * + 1) and, when labels is not NULL, each series' label (*labels, nseries
 * strings). When the table keeps that order (gdf_series_keep, an earlier
 * sweep), *order_col (if not NULL) gets its column and *perm stays NULL
 * (*nperm is still set); else -1. The caller frees *perm, *starts and the
 * labels (gdf_series_free_labels). */
gpudf_status gdf_series_build(const gpudf_table *t, int col, int time, int64_t **perm,
                              int64_t *nperm, int64_t **starts, int64_t *nseries,
                              char ***labels, int *order_col);
/* Keeps the order perm of (col, time) with the owner's unsealed table t, as
 * the derived i64 column GDF_DERIVED_ORDER "<col>.<time>" (perm, then -1 to
 * the end), so that every later sweep over it (and its shares) reads it
 * instead of sorting again. Its index, or -1 when it cannot (a view, a
 * sealed table, no room in shared memory: an optimisation only). */
int gdf_series_keep(gpudf_table *t, int col, int time, const int64_t *perm, int64_t nperm);
/* The kept order column of (col, time) in t, or -1. */
int gdf_series_order_col(const gpudf_table *t, int col, int time);
void gdf_series_free_labels(char **labels, int64_t nseries);
/* The equal-weight portfolio of each config across the series of the
 * finished sweep s (configs: its expanded configs, config k on series q at
 * k * nseries + q) into s->res->portfolio, from the kernel's per-bar returns
 * (gpudf_kernel.bar_returns) aligned by the time column; or the reason it
 * is not there in s->res->portfolio_why (no time column, ...).
 * docs/sweep.md, "Equal-weight portfolio". */
void gdf_series_portfolio(gdf_sweep *s, const gpudf_table *t, const double *configs);
/* Result handle of n configs, every state PENDING. */
gpudf_status gdf_result_new(int64_t n, gpudf_sweep_result **out);
/* Appends a worker entry; its index, or -1 when out of memory. */
int gdf_result_add_worker(gpudf_sweep_result *r, int pid);
/* Sets config i's reason (copied); false when out of memory. */
bool gdf_result_set_reason(gpudf_sweep_result *r, int64_t i, const char *text);

/* Signals SIGINT/SIGTERM seen since gdf_signals_install; 0 when none. */
int gdf_signals_pending(void);
void gdf_signals_install(void);
void gdf_signals_restore(void);

/* Calls the progress callback when due (force: now); true when it or a
 * signal asks to cancel (sweep_progress.c). */
bool gdf_sweep_progress(gdf_sweep *s, bool force);

/* Row-split sweeps (sweep_split.c). gdf_split_plan decides, after the
 * configs were grouped, whether the sweep splits rows (the kernel merges,
 * the placement is the cpu, and its pass groups are few against workers,
 * or $GPUDF_SWEEP_SPLIT forces it) and how: fills s->nranges (0: no),
 * chunks and the owner's buffers. gdf_split_layout adds the parts to a
 * control segment's shape, gdf_split_fill writes them. */
/* The rule gdf_split_plan applies (and gpudf_sweep_split_ranges gives):
 * the row ranges a sweep of n configs in ngroups pass groups (0: no pass
 * key) by `workers` workers cuts the rows into, or 0 for no split; the
 * state width into *nstate. Series sweeps are the caller's to exclude. */
int64_t gdf_split_ranges(const gpudf_kernel *k, const gpudf_table *t, const double *configs,
                         int64_t n, int64_t ngroups, int workers, gpudf_backend backend,
                         int *nstate);
gpudf_status gdf_split_plan(gdf_sweep *s, const gpudf_table *t, const double *configs,
                            int workers, gpudf_backend backend);
void gdf_split_drop(gdf_sweep *s);
void gdf_split_layout(const gdf_sweep *s, gdf_sweep_ctl *shape);
void gdf_split_fill(const gdf_sweep *s, gdf_sweep_ctl *c);
/* Merges every chunk whose tasks are all done: each config still PENDING
 * gets its result and DONE. */
void gdf_split_merge(gdf_sweep *s);
/* Runs the tasks one after the other in this process (workers = 0). */
void gdf_split_in_process(gdf_sweep *s, const gpudf_table *t, gdf_progress_sink *sink);
/* A worker in slot died: its task, if it held one, is run again (up to
 * retries), and true is returned; false when its configs are to be
 * re-queued one by one as a claim's are (a task that died too often or
 * ran past its time limit, or no task held). *held says whether the slot
 * held configs at all (a recorded task it did not win holds none). */
bool gdf_split_worker_died(gdf_sweep *s, int slot, bool timed_out, bool *held);
/* With no worker left: tasks left running by nobody are pending again. */
void gdf_split_orphans(gdf_sweep *s);

/* workers = 0 over s->ndevices devices (sweep_threads.c): the threads it
 * runs (workers_per_device per device, at least 1), and the run itself
 * over s->ctl, whose slots are the threads: each binds to device
 * s->devices[i % ndevices] and claims batches until none is left or the
 * sweep is cancelled, while the calling thread reports progress. An error
 * only when no thread could bind to its device (or none started). */
int gdf_sweep_thread_count(const gdf_sweep *s);
gpudf_status gdf_sweep_threads(gdf_sweep *s, const gpudf_table *t);

/* Runs the sweep in worker processes over s->ctl until every config is
 * final or the sweep is cancelled. */
gpudf_status gdf_sweep_workers(gdf_sweep *s, const char *worker_path);
/* Finds the gpudf-worker executable; the message lists the paths tried. */
gpudf_status gdf_find_worker(char *path, size_t len);

#endif
