#!/usr/bin/env python3
"""bench_csv.py - read one CSV of numbers with gpudf.read_csv, pandas.read_csv
and pyarrow.csv.read_csv (all cores, and one thread) in one run; print the
times and the ratios to gpudf.

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        .venv/bin/python bench/bench_csv.py [--quick] [--rows N] [--runs N]
        [--keep PATH] [--json PATH]

Default: ~0.9 GB (12.5 M rows x 6 columns: i64, 4 f64 with 6 decimals, one
f64 with 17 significant digits); --quick: 200,000 rows. Each reader runs
once untimed (the warm-up, which also pages the file into the page cache),
then --runs times (default 3, --quick 5); the median, min and max of the
wall time are reported, and the median CPU time of the process (all
threads: on a shared machine the fairer comparison of one-thread readers). gpudf parses into the shared arena on one thread, as does pandas'
C parser; pyarrow uses every core unless told to use one (both are shown).
--keep PATH writes the file there once and reuses it on later runs. --json
PATH writes {"section": "csv", "rows", "bytes", "results": {reader:
{"median_s", "min_s", "max_s", "runs", "cpu_median_s"}}, "ratios" (median
time of each reader / gpudf's), "versions", "checked", "notes"}. The values gpudf read are checked against pandas' (== on every
value); exit status 1 when they differ."""
import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

import numpy as np  # noqa: E402


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


def count_rows(path):
    with open(path, "rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b"")) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200,000 rows, 5 runs")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--runs", type=int, help="timed runs per reader (after one warm-up)")
    ap.add_argument("--keep", help="write the file here once and keep it")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    rows = args.rows or (200_000 if args.quick else 12_500_000)
    runs = args.runs or (5 if args.quick else 3)
    path = args.keep or f"/tmp/gpudf-bench-{os.getpid()}.csv"
    if not os.path.exists(path):
        write(path, rows)
    else:
        rows = count_rows(path)
    size = os.path.getsize(path)
    print(f"file {path}: {size / 2**20:.1f} MiB, {rows} rows, 6 columns, "
          f"{os.cpu_count()} cores; 1 warm-up + {runs} timed runs per reader")
    import gpudf
    import pandas as pd
    import pyarrow.csv as pacsv
    readers = [
        ("gpudf.read_csv", lambda: gpudf.read_csv(path)),
        ("pandas.read_csv", lambda: pd.read_csv(path)),
        ("pyarrow.csv.read_csv", lambda: pacsv.read_csv(path)),
        ("pyarrow.csv.read_csv 1 thread",
         lambda: pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=False))),
    ]
    results = {}
    for name, fn in readers:
        fn()  # warm-up, not timed
        times, cpu = [], []
        for _ in range(runs):
            c0 = time.process_time()
            times.append(benchlib.timed(fn)[0])
            cpu.append(time.process_time() - c0)
        results[name] = benchlib.stats(times)
        r = results[name]
        r["cpu_median_s"] = statistics.median(cpu)
        print(f"{name:30s} median {r['median_s']:7.3f} s  [{r['min_s']:.3f} - {r['max_s']:.3f}]"
              f"  {size / 2**20 / r['median_s']:7.1f} MiB/s   CPU {r['cpu_median_s']:7.3f} s")
    g = results["gpudf.read_csv"]["median_s"]
    ratios = {f"{name} / gpudf": results[name]["median_s"] / g for name, _ in readers[1:]}
    gc = results["gpudf.read_csv"]["cpu_median_s"]
    for k, v in ratios.items():
        cr = results[k[:-len(" / gpudf")]]["cpu_median_s"] / gc
        print(f"time {k:38s} {v:6.2f}x  ({'gpudf faster' if v > 1 else 'gpudf slower'});"
              f" CPU time {cr:.2f}x")
    got = gpudf.read_csv(path).to_pandas()
    want = pd.read_csv(path)
    checked = list(got.columns) == list(want.columns) and all(
        got[c].dtype == want[c].dtype and (got[c].to_numpy() == want[c].to_numpy()).all()
        for c in want.columns)
    print("gpudf and pandas agree on every type and value" if checked else "VALUES DIFFER")
    print(f"peak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    benchlib.write_json(args.json, {
        "section": "csv", "rows": rows, "bytes": size, "results": results, "ratios": ratios,
        "versions": benchlib.versions("pandas", "pyarrow", "numpy"), "checked": checked,
        "notes": [f"median of {runs} runs after one untimed warm-up run per reader (which "
                  "also pages the file in)",
                  "gpudf and pandas parse on one thread; pyarrow.csv.read_csv uses every core "
                  f"({os.cpu_count()} here) unless use_threads=False",
                  "cpu_median_s: CPU time of this process during a run (all threads), the "
                  "fairer single-thread comparison on a busy machine"]})
    if not args.keep:
        os.unlink(path)
    return 0 if checked else 1


if __name__ == "__main__":
    sys.exit(main())
