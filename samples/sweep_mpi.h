/* sweep_mpi.h - gpudf-sweep-mpi: gpudf_sweep.c built against
 * gpudf_mpi_sweep (included by gpudf_sweep.c when GPUDF_SWEEP_MPI is set).
 *
 * Rank 0 runs the command-line tool as it is; its sweep is one
 * gpudf_mpi_sweep over every rank, its result read through the same
 * getters. The other ranks only serve sweeps (sweep_mpi.c), so the output,
 * the plot and the exit status come from rank 0 alone. */
#ifndef GPUDF_SWEEP_MPI_H
#define GPUDF_SWEEP_MPI_H

#include <gpudf.h>
#include <gpudf_mpi.h>

gpudf_status cli_mpi_sweep(gpudf_table *table, const gpudf_kernel *kernel, const double *configs,
                           int64_t n, double *results, const gpudf_sweep_options *opts,
                           gpudf_mpi_result **out);
gpudf_status cli_mpi_report(const gpudf_mpi_result *result, gpudf_sweep_report *out);
int cli_main(int argc, char **argv);

#define gpudf_sweep cli_mpi_sweep
#define gpudf_sweep_result gpudf_mpi_result
#define gpudf_sweep_result_state gpudf_mpi_result_state
#define gpudf_sweep_result_reason gpudf_mpi_result_reason
#define gpudf_sweep_result_free gpudf_mpi_result_free
#define gpudf_sweep_result_report cli_mpi_report
#define gpudf_sweep_result_signal(r) ((void)(r), 0)
#define gpudf_sweep_result_series gpudf_mpi_result_series
#define gpudf_sweep_result_nseries gpudf_mpi_result_nseries
#define gpudf_sweep_series_summary gpudf_mpi_result_series_summary
#define main cli_main

#endif
