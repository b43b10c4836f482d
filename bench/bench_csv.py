#!/usr/bin/env python3
"""bench_csv.py - read one CSV of numbers with gpudf.read_csv, pandas.read_csv
and pyarrow.csv.read_csv in one run and print the times.

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        .venv/bin/python bench/bench_csv.py [--quick] [--rows N] [--keep PATH]

Default: ~1 GB (12.5 M rows x 6 columns: i64, 4 f64 with 6 decimals, one
f64 with 17 significant digits); --quick: 200,000 rows. gpudf parses into
the shared arena on one thread; pyarrow uses every core."""
import argparse
import os
import resource
import time

import numpy as np


def write(path, rows):
    rng = np.random.default_rng(1)
    chunk = 500_000
    with open(path, "w") as f:
        f.write("id,a,b,c,d,full\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start, start + n)
            cols = [rng.standard_normal(n) * 100 for _ in range(4)]
            full = rng.standard_normal(n)
            lines = [f"{i},{a:.6f},{b:.6f},{c:.6f},{d:.6f},{float(e)!r}\n"
                     for i, a, b, c, d, e in zip(ids, *cols, full)]
            f.writelines(lines)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--keep")
    args = ap.parse_args()
    rows = args.rows or (200_000 if args.quick else 12_500_000)
    path = args.keep or f"/tmp/gpudf-bench-{os.getpid()}.csv"
    if not os.path.exists(path):
        write(path, rows)
    size = os.path.getsize(path)
    print(f"file {path}: {size / 2**20:.1f} MiB, {rows} rows, 6 columns, {os.cpu_count()} cores")
    import gpudf
    import pandas as pd
    import pyarrow.csv as pacsv
    results = {}
    for name, fn in [("gpudf.read_csv", lambda: gpudf.read_csv(path)),
                     ("pandas.read_csv", lambda: pd.read_csv(path)),
                     ("pyarrow.csv.read_csv", lambda: pacsv.read_csv(path))]:
        best = min(timed(fn)[0] for _ in range(1 if size > 2**28 else 3))
        results[name] = best
        print(f"{name:22s} {best:8.3f} s  {size / 2**20 / best:8.1f} MiB/s")
    g = gpudf.read_csv(path).to_pandas()
    p = pd.read_csv(path)
    assert all((g[c].to_numpy() == p[c].to_numpy()).all() for c in p.columns), "values differ"
    print("gpudf and pandas agree bit for bit on every value")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.keep:
        os.unlink(path)


if __name__ == "__main__":
    main()
