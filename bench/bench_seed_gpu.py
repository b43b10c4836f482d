#!/usr/bin/env python3
"""bench_seed_gpu.py - the seed question's func in CuPy, two ways, for
W = 1, 2, 4 workers: time and device memory per process.

  naive   multiprocessing.Pool (spawn): every task gets the DataFrame
          pickled and uploads it with cupy.asarray(df[["a", "b"]].values)
          (the usual way: each worker holds its own device copy).
  shared  gpudf.Pool(W, devices="all"): the DataFrame is shared once on the
          host and uploaded once to the device; each task reads the device
          copy through gpudf.device_frame (no copy, no upload per task).

Device memory is per process, from `nvidia-smi --query-compute-apps`
(pid, used_memory), sampled every 0.2 s while the pool runs; the figure is
the peak per worker, and the sum over the workers. (cudaMemGetInfo is
device-wide and would mix the processes.) The answers of both are checked
against pandas. Times are one run each (the point is the memory and the
order of the time, not a tight timing); the table size is --rows x 4
float64.

    python3 bench/bench_seed_gpu.py [--rows N] [--configs K] [--workers 1,2,4]

Without CuPy, nvidia-smi or a cuda-ipc placement it says what is missing and
exits 0.
"""
import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd

import gpudf


def func_naive(args):
    import cupy as cp
    df, (lo, hi) = args
    ab = cp.asarray(df[["a", "b"]].values)  # this worker's own upload, per task
    a, b = ab[:, 0], ab[:, 1]
    mask = (a >= lo) & (a <= hi) & ~cp.isnan(b)
    return float(cp.where(mask, b, 0.0).sum()), int(cp.count_nonzero(mask)), os.getpid()


def func_shared(args):
    import cupy as cp
    df, (lo, hi) = args
    cols = gpudf.device_frame(df, columns=["a", "b"])
    a, b = cp.asarray(cols["a"]), cp.asarray(cols["b"])  # the shared device copy
    mask = (a >= lo) & (a <= hi) & ~cp.isnan(b)
    return float(cp.where(mask, b, 0.0).sum()), int(cp.count_nonzero(mask)), os.getpid()


class DeviceMemory:
    """Peak device memory per pid (MiB), from nvidia-smi, while it runs."""

    def __init__(self):
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=30).stdout
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                pid, mib = int(parts[0]), int(parts[1])
                self.peak[pid] = max(self.peak.get(pid, 0), mib)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(kind, df, configs, workers):
    tasks = [(df, c) for c in configs]
    with DeviceMemory() as mem:
        t0 = time.perf_counter()
        if kind == "naive":
            with mp.get_context("spawn").Pool(workers) as pool:
                out = pool.map(func_naive, tasks, chunksize=1)
        else:
            with gpudf.Pool(workers, devices="all") as pool:
                out = pool.map(func_shared, tasks, chunksize=1)
        wall = time.perf_counter() - t0
    pids = {r[2] for r in out}
    per = [mem.peak.get(p, 0) for p in pids]
    owner = mem.peak.get(os.getpid(), 0)
    return wall, per, owner, [(r[0], r[1]) for r in out]


def missing():
    try:
        import cupy  # noqa: F401
    except ImportError as e:
        return f"CuPy is not installed ({e})"
    if not shutil.which("nvidia-smi"):
        return "nvidia-smi is not on PATH"
    if "cuda-ipc" not in gpudf.backends():
        return "no cuda-ipc placement (no CUDA device, or libgpudf built without CUDA)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--workers", default="1,2,4")
    a = ap.parse_args()
    why = missing()
    if why:
        print(f"bench_seed_gpu: skipped: {why}")
        return 0
    rng = np.random.default_rng(1)
    df = pd.DataFrame({k: rng.standard_normal(a.rows) for k in "abcd"})
    mib = df.memory_usage(index=False).sum() / 2**20
    configs = [(lo, lo + 0.5) for lo in np.linspace(-2, 1.5, a.configs)]
    ref = []
    for lo, hi in configs:
        sel = df.loc[(df.a >= lo) & (df.a <= hi), "b"]
        ref.append((float(sel.sum()), int(sel.count())))
    print(f"table: {a.rows:,} rows x 4 float64 = {mib:.0f} MiB (a, b used: {mib / 2:.0f} MiB); "
          f"{a.configs} configs; gpudf {gpudf.__version__}")
    print(f"{'W':>2} {'approach':<8} {'wall s':>8} {'device MiB per worker':>24} "
          f"{'sum MiB':>9} {'owner MiB':>10}  answers")
    bad = 0
    for w in [int(x) for x in a.workers.split(",")]:
        for kind in ("naive", "shared"):
            wall, per, owner, got = run(kind, df, configs, w)
            ok = all(n == rn and abs(s - rs) <= 1e-9 * max(1.0, abs(rs))
                     for (s, n), (rs, rn) in zip(got, ref))
            bad += not ok
            print(f"{w:>2} {kind:<8} {wall:>8.2f} {str(sorted(per)):>24} {sum(per):>9} "
                  f"{owner:>10}  {'= pandas' if ok else 'MISMATCH'}")
    print("(per worker: its CUDA context plus what it allocated; shared workers allocate only "
          "CuPy's temporaries, the table is the owner's one upload)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
