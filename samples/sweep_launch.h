/* sweep_launch.h - gpudf-sweep started by an MPI launcher (docs/mpi.md).
 *
 * gpudf-sweep does not link MPI. When `mpirun -n R gpudf-sweep ...` starts
 * it with R > 1 ranks, each rank replaces itself with gpudf-sweep-mpi (the
 * same tool built against libgpudf_mpi) and the same arguments, so the job
 * is one sweep over every rank, written by rank 0. */
#ifndef GPUDF_SWEEP_LAUNCH_H
#define GPUDF_SWEEP_LAUNCH_H

/* The number of ranks the launcher's environment announces (Open MPI's
 * OMPI_COMM_WORLD_SIZE, MPICH/Hydra's PMI_SIZE, a PMIx launch such as
 * srun --mpi=pmix: PMIX_RANK with SLURM_STEP_NUM_TASKS), else 0. */
int sweep_launcher_ranks(void);

/* Returns when this process runs the tool alone (no launcher, one rank, or
 * GPUDF_SWEEP_ALONE=1). Otherwise execs gpudf-sweep-mpi with argv, or, when
 * there is none, prints why (rank 0 only) and exits 2. */
void sweep_launch_mpi(int argc, char **argv);

#endif
