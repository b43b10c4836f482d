/* sweep_mpi.c - main of gpudf-sweep-mpi (see sweep_mpi.h): rank 0 runs the
 * tool, the other ranks serve its sweeps until it says it is done, and
 * every rank exits with rank 0's status. */
#include "sweep_mpi.h"

#include <stdio.h>
#include <string.h>

#undef main
#undef gpudf_sweep

enum { CMD_DONE = 0, CMD_SWEEP = 1 };

/* The command from rank 0. A nonblocking broadcast on every rank (it does
 * not match a blocking one); the serving ranks wait for it with MPI_Test
 * and sleeps, not in a blocking MPI_Bcast, which polls at full speed on a
 * core that rank 0 (reading the table, writing the output) or the other
 * ranks' sweeps need (docs/mpi.md, "Benchmark"). */
static void command(int *cmd) {
  MPI_Request req;
  MPI_Ibcast(cmd, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
  gpudf_mpi_wait(&req);
}

static gpudf_backend cli_backend;
static int cli_workers;

gpudf_status cli_mpi_sweep(gpudf_table *table, const gpudf_kernel *kernel, const double *configs,
                           int64_t n, double *results, const gpudf_sweep_options *opts,
                           gpudf_mpi_result **out) {
  int cmd = CMD_SWEEP;
  command(&cmd);
  cli_workers = opts ? opts->workers : GPUDF_SWEEP_WORKERS_DEFAULT;
  gpudf_status st = gpudf_mpi_sweep(MPI_COMM_WORLD, table, NULL, kernel, configs, n, results,
                                    opts, out);
  cli_backend = gpudf_table_backend(table);
  return st;
}

gpudf_status cli_mpi_report(const gpudf_mpi_result *r, gpudf_sweep_report *out) {
  gpudf_mpi_report m;
  gpudf_status st = gpudf_mpi_result_report(r, &m);
  if (st != GPUDF_OK) return st;
  memset(out, 0, sizeof *out);
  out->total = m.total;
  out->done = m.done;
  out->failed = m.failed;
  out->cancelled = m.cancelled;
  out->workers = cli_workers;
  out->backend = cli_backend;
  out->wall_s = m.wall_s;
  out->first_result_s = -1.0;
  return GPUDF_OK;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, rc = 0, cmd;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    rc = cli_main(argc, argv);
    fflush(NULL);
    cmd = CMD_DONE;
    command(&cmd);
  } else {
    for (;;) {
      command(&cmd);
      if (cmd == CMD_DONE) break;
      /* Kernel, configs and options come from rank 0; the table too. */
      (void)gpudf_mpi_sweep(MPI_COMM_WORLD, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
    }
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
