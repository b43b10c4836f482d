/* gpudf_mpi.h - sweeps across the ranks of an MPI job (libgpudf_mpi).
 *
 * libgpudf_mpi is built only when CMake finds MPI; libgpudf itself never
 * links MPI. One shared copy of the table per node: the node's leader loads
 * it (or receives it from rank 0) and shares it, the other ranks of the node
 * attach to it by name. Configs are ordered by pass key (as the local
 * engine groups them) and claimed in runs of guided sizes from one counter
 * at rank 0 (MPI one-sided, at rank 0's window), each run is swept by
 * gpudf_sweep (or gpudf_run) in the rank, and the results are gathered on
 * rank 0 in config order.
 * docs/mpi.md, "More than one machine". */
#ifndef GPUDF_MPI_H
#define GPUDF_MPI_H

#include <mpi.h>

#include "gpudf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one rank did. */
typedef struct gpudf_mpi_rank_info {
  int rank;               /* in the communicator given */
  int node;               /* node group (0..nodes-1); the group of rank 0 is node 0 */
  int leader;             /* 1: this rank loaded or received the table and shared it */
  char share[64];         /* the share this rank's sweeps read (one per node) */
  int64_t configs;        /* configs it ran (with series: each on every series; in a
                             row-split sweep, each config once per row range it ran) */
  int64_t claims;         /* runs of configs it claimed (row-split: tasks, a chunk of
                             configs over one row range) */
  double busy_s;          /* seconds inside gpudf_sweep */
  double wall_s;          /* seconds from the call to the gather */
  int64_t split_rows;     /* 0.6: table rows of the row ranges it ran in a row-split
                             sweep, summed over its tasks; 0 when rows were not split
                             (docs/mpi.md, "Row splits") */
} gpudf_mpi_rank_info;

/* What one node group did: the sums of its ranks. */
typedef struct gpudf_mpi_node_info {
  int node;
  int ranks;
  int leader_rank;        /* rank (in the communicator) that owns the node's share */
  char share[64];
  int64_t configs;
  double busy_s;
} gpudf_mpi_node_info;

typedef struct gpudf_mpi_report {
  int64_t total;          /* result rows: configs x series (configs without series) */
  int64_t done;
  int64_t failed;         /* failed or timed out: their results are NaN */
  int64_t cancelled;      /* cancelled, or never claimed after a cancel */
  int ranks;
  int nodes;
  int64_t claim;          /* configs per claim (GPUDF_MPI_CLAIM), 0: guided sizes */
  int64_t claims;         /* claims served, all ranks together */
  double table_s;         /* seconds until every rank had the table (load, send, share, attach) */
  double wall_s;          /* seconds from the call to the return, on rank 0 */
} gpudf_mpi_report;

/* The outcome on rank 0. */
typedef struct gpudf_mpi_result gpudf_mpi_result;

/* Runs kernel over the n configs (n x nparams, row-major) across every rank
 * of comm; a collective call: every rank of comm calls it.
 *
 * The table: csv_path, when not NULL, is read by each node's leader (every
 * node must be able to read the path); otherwise table, given on rank 0
 * (ignored elsewhere), is shared on rank 0's node and its columns sent to
 * the other nodes' leaders by MPI_Bcast. An owner's unshared table on rank 0
 * is shared for the call (read-only afterwards, as with gpudf_sweep); a view
 * or a table already shared is copied first.
 *
 * configs, n and kernel's name are taken from rank 0 (other ranks may pass
 * NULL configs); kernel must be registered on every rank (plugins too).
 * opts (NULL: defaults) is taken from rank 0 (plugins excepted: each rank
 * loads its own) and given to gpudf_sweep for each claimed run, without its
 * progress callback. results (n x nresults; with a series sweep, n x S
 * rows, row k * S + q being config k on series q, as gpudf_sweep) is
 * written on rank 0 only; elsewhere it may be NULL. opts.series and
 * opts.time (0.6) run each config on every series' rows, as gpudf_sweep
 * does; each node's leader keeps the series row order with its table
 * (gpudf_table_prepare_series) before sharing it.
 *
 * On rank 0 *out (when out is not NULL) gets the result on GPUDF_OK and
 * GPUDF_ECANCELED; on other ranks *out is NULL. Every rank returns the same
 * status: GPUDF_OK when every config is final (failed configs are failed
 * configs, as in gpudf_sweep), GPUDF_ECANCELED, GPUDF_EINVAL (bad configs or
 * options, a kernel missing on a rank), or what kept a rank from loading, sharing
 * or attaching the table, with the same message on every rank, naming the
 * rank. Claims: configs in pass order (gpudf_kernel_pass_order), guided
 * sizes (what is left over twice the ranks, down to n / (4 ranks)), a pass
 * group of up to n / (2 ranks) configs never cut; GPUDF_MPI_CLAIM=N (rank
 * 0's) claims N configs at a time instead. With workers = 0, no time limit
 * and no series a claim is evaluated by one gpudf_run (docs/mpi.md,
 * "Balancing"). Few pass groups (fewer than 4 per worker of the job, by
 * gpudf_sweep_split_ranges) of a kernel with a merge: the ranks split the
 * rows instead, tasks of (chunk of configs, row range) claimed from the
 * same counter, the partial states merged on rank 0 in row order, equal to
 * the one-process row-split sweep bit for bit; GPUDF_MPI_SPLIT=0 (rank
 * 0's) or GPUDF_SWEEP_SPLIT=0 turns it off (docs/mpi.md, "Row splits"). GPUDF_MPI_TEST_SLOW=RANK:MS (a test hook, each rank's own)
 * makes rank RANK sleep MS ms after each claim. GPUDF_MPI_FAKE_NODES=K (rank 0's)
 * groups ranks into K nodes by rank modulo K (tests on one machine)
 * instead of by shared memory. MPI must be initialized. */
gpudf_status gpudf_mpi_sweep(MPI_Comm comm, gpudf_table *table, const char *csv_path,
                             const gpudf_kernel *kernel, const double *configs, int64_t n,
                             double *results, const gpudf_sweep_options *opts,
                             gpudf_mpi_result **out);

/* 0.6: waits for a nonblocking MPI request (MPI_Ibarrier, MPI_Ibcast...)
 * without spinning: MPI_Test for 50 us, then with sleeps growing to 1 ms.
 * Open MPI's blocking calls poll at full speed, so a rank that waits takes
 * a core from the ranks still at work when ranks share cores; this gives it
 * back, for at most 1 ms of latency per wait. What gpudf_mpi_sweep's own
 * waits do: each of its collectives is a nonblocking one waited so. */
void gpudf_mpi_wait(MPI_Request *request);

/* gpudf_mpi_sweep with the communicator given by its Fortran handle
 * (MPI_Comm_c2f; mpi4py: comm.py2f()), an integer in every MPI library,
 * where MPI_Comm itself is a pointer in Open MPI and an int in MPICH: for
 * callers that cannot name the C type, as the Python binding through cffi
 * (gpudf.sweep(..., comm=), docs/mpi.md). */
gpudf_status gpudf_mpi_sweep_fcomm(MPI_Fint comm, gpudf_table *table, const char *csv_path,
                                   const gpudf_kernel *kernel, const double *configs, int64_t n,
                                   double *results, const gpudf_sweep_options *opts,
                                   gpudf_mpi_result **out);

void gpudf_mpi_result_free(gpudf_mpi_result *result);
/* As the gpudf_sweep_result getters: count, state, error and reason of a
 * config (GPUDF_CONFIG_PENDING, GPUDF_EINVAL and "" out of range). */
int64_t gpudf_mpi_result_count(const gpudf_mpi_result *result);
gpudf_config_state gpudf_mpi_result_state(const gpudf_mpi_result *result, int64_t index);
gpudf_status gpudf_mpi_result_error(const gpudf_mpi_result *result, int64_t index);
const char *gpudf_mpi_result_reason(const gpudf_mpi_result *result, int64_t index);
gpudf_status gpudf_mpi_result_report(const gpudf_mpi_result *result, gpudf_mpi_report *out);
/* Per rank (index 0..ranks-1 = rank) and per node (0..nodes-1). */
gpudf_status gpudf_mpi_result_rank(const gpudf_mpi_result *result, int rank,
                                   gpudf_mpi_rank_info *out);
gpudf_status gpudf_mpi_result_node(const gpudf_mpi_result *result, int node,
                                   gpudf_mpi_node_info *out);
/* 0.6: series per config (S, 1 without series; 0 for NULL) and the series
 * label of result row index ("" without series or out of range), as
 * gpudf_sweep_result_nseries and _series. */
int64_t gpudf_mpi_result_nseries(const gpudf_mpi_result *result);
const char *gpudf_mpi_result_series(const gpudf_mpi_result *result, int64_t index);
/* 0.6: which rank ran result row index and in which claim (claims are
 * numbered 0.. in the order they were handed out; a config's rows share
 * one); -1 for a config never claimed (a cancel). Either pointer may be
 * NULL. GPUDF_EINVAL for NULL or an index out of range. */
/* 0.6: the aggregates across series of each config, as
 * gpudf_sweep_series_summary (same definitions, same figures). */
gpudf_status gpudf_mpi_result_series_summary(const gpudf_mpi_result *result,
                                             const double *results, int nresults, int sharpe,
                                             int total_return, gpudf_series_summary *out);
gpudf_status gpudf_mpi_result_where(const gpudf_mpi_result *result, int64_t index, int *rank,
                                    int64_t *claim);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_MPI_H */
