#!/usr/bin/env python3
"""tests/cli/check_mpi_launch.py SWEEP WORKDIR (ctest
Cli.UnderAnMpiLauncherGpudfSweepRunsTheMpiToolOrSaysWhyNot).

gpudf-sweep never links MPI: started by a launcher with several ranks it
execs gpudf-sweep-mpi with its own arguments (docs/mpi.md). Checked without
MPI, by the launchers' environment variables: the arguments reach the
program found (GPUDF_SWEEP_MPI, here a script), a copy of gpudf-sweep with
no gpudf-sweep-mpi beside it exits 2 with a message on rank 0 alone, and
one rank or GPUDF_SWEEP_ALONE=1 runs the tool as usual."""
import os
import shutil
import stat
import subprocess
import sys

sweep, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
base = {k: v for k, v in os.environ.items()
        if not k.startswith(("OMPI_", "PMI_", "PMIX_", "SLURM_", "GPUDF_SWEEP_"))}
failures = []
args = ["--synthetic", "2000", "--grid", "fast=5:15:5 slow=20:40:10", "-j", "0", "--quiet",
        "--out", "-"]


def run(cmd, **extra):
    p = subprocess.run(cmd, env=dict(base, **extra), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


# The arguments, unchanged, reach the MPI tool; argv[0] is its path.
fake = os.path.join(work, "fake-mpi-tool")
with open(fake, "w") as f:
    f.write('#!/bin/sh\necho "ran $0 with $*"\nexit 7\n')
os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
for launcher in ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"},
                 {"PMI_SIZE": "4", "PMI_RANK": "0"},
                 {"PMIX_RANK": "0", "SLURM_STEP_NUM_TASKS": "8"}):
    rc, out, err = run([sweep, *args, "--where", "fast < slow"], GPUDF_SWEEP_MPI=fake, **launcher)
    want = f"ran {fake} with {' '.join(args)} --where fast < slow"
    if rc != 7 or out.strip() != want:
        failures.append(f"{launcher}: exit {rc}, printed {out!r} {err!r}; expected the MPI "
                        f"tool with the same arguments")

# No gpudf-sweep-mpi beside it: exit 2, one message (rank 0's).
alone = os.path.join(work, "bin")
os.makedirs(alone)
shutil.copy2(sweep, alone)
lone = os.path.join(alone, os.path.basename(sweep))
for rank in ("0", "1"):
    rc, out, err = run([lone, *args], OMPI_COMM_WORLD_SIZE="3", OMPI_COMM_WORLD_RANK=rank)
    if rc != 2 or out:
        failures.append(f"rank {rank} without gpudf-sweep-mpi: exit {rc} (want 2), out {out!r}")
    if rank == "0" and not ("gpudf-sweep-mpi" in err and "3 ranks" in err
                            and "GPUDF_SWEEP_ALONE=1" in err and os.path.join(alone, "gpudf-sweep-mpi") in err):
        failures.append(f"rank 0's message does not say what is missing and where: {err!r}")
    if rank == "1" and err:
        failures.append(f"rank 1 printed too: {err!r}")

# One rank, or GPUDF_SWEEP_ALONE=1: the tool itself.
for extra in ({"OMPI_COMM_WORLD_SIZE": "1"},
              {"OMPI_COMM_WORLD_SIZE": "2", "GPUDF_SWEEP_ALONE": "1"}, {}):
    rc, out, err = run([lone, *args], **extra)
    if rc != 0 or out.count(",ok,") != 4:
        failures.append(f"{extra}: exit {rc}, {out.count(',ok,')} ok configs (want 4): {err}")

for f in failures:
    print("FAILED:", f)
print("OK" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
