#!/usr/bin/env python3
"""bench_csv.py - read a CSV of numbers and a mixed CSV with a text column
with gpudf.read_csv (one thread and every core), pandas.read_csv and
pyarrow.csv.read_csv (every core, and one thread) side by side in one run;
print the times, the ratios and the machine's load.

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        .venv/bin/python bench/bench_csv.py [--quick] [--rows N] [--runs N]
        [--keep PATH] [--json PATH]

Default: ~0.9 GB (12.5 M rows x 6 columns: i64, 4 f64 with 6 decimals, one
f64 with 17 significant digits) and a mixed file of half as many rows (i64,
a text column of 16 names, some quoted with a comma inside, f64, i64,
bool); --quick: 200,000 rows. Each reader runs
once untimed (the warm-up, which also pages the file into the page cache),
then --runs times (default 3, --quick 5); the median, min and max of the
wall time are reported, and the median CPU time of the process (all
threads). gpudf runs on one thread (GPUDF_THREADS=1: the one-core reader)
and on every core (the parallel reader); pandas' C parser uses one thread;
pyarrow every core unless told to use one (both are shown). --keep PATH
writes the files there (PATH and PATH.mixed.csv) once and reuses them.
--json PATH writes {"section": "csv", "files": {"numbers"|"mixed": {"rows",
"bytes", "results": {reader: {"median_s", "min_s", "max_s", "runs",
"cpu_median_s"}}, "ratios", "checked"}}, "load_average", "versions",
"checked", "notes"}. The values gpudf read are checked against pandas' (==
on every value, text as strings); exit status 1 when they differ."""
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


CITIES = ["Oslo", "Lima", "Pune", "Quito", "Accra", "Hanoi", "Turin", "Perth"]


def write_mixed(path, rows):
    """id (i64), city (text: 8 names, some quoted with a comma inside),
    price (f64, 2 decimals), qty (i64), ok (bool)."""
    rng = np.random.default_rng(2)
    names = CITIES + [f'"{c}, {c[:2].upper()}"' for c in CITIES]
    chunk = 500_000
    with open(path, "w") as f:
        f.write("id,city,price,qty,ok\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            city = rng.integers(0, len(names), n)
            price = rng.uniform(1, 500, n)
            qty = rng.integers(1, 1000, n)
            ok = rng.integers(0, 2, n)
            f.writelines(f"{start + i},{names[c]},{p:.2f},{q},{'true' if o else 'false'}\n"
                         for i, c, p, q, o in zip(range(n), city, price, qty, ok))


def count_rows(path):
    with open(path, "rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b"")) - 1


def run_reader(fn, runs):
    fn()  # warm-up, not timed
    times, cpu = [], []
    for _ in range(runs):
        c0 = time.process_time()
        times.append(benchlib.timed(fn)[0])
        cpu.append(time.process_time() - c0)
    r = benchlib.stats(times)
    r["cpu_median_s"] = statistics.median(cpu)
    return r


def gpudf_threads(gpudf, path, n):
    """gpudf.read_csv on n threads (GPUDF_THREADS; 0: every online CPU)."""
    def read():
        if n:
            os.environ["GPUDF_THREADS"] = str(n)
        else:
            os.environ.pop("GPUDF_THREADS", None)
        try:
            return gpudf.read_csv(path)
        finally:
            os.environ.pop("GPUDF_THREADS", None)
    return read


def agree(gpudf, pd, path):
    """Every value gpudf read equals pandas'. Where they differ in a float
    column, the cell's text parsed by Python's float() (correctly rounded)
    decides: some pandas versions' default parser (pandas 2, 3.0) is off by
    an ulp on 17-digit numbers, and such cells count as agreeing when gpudf
    gives float()'s value. Says which column differs and how."""
    got = gpudf.read_csv(path).to_pandas()
    want = pd.read_csv(path)
    if list(got.columns) != list(want.columns):
        print(f"  columns differ: gpudf {list(got.columns)}, pandas {list(want.columns)}")
        return False
    ok = True
    for c in want.columns:
        g, w = got[c], want[c]
        if w.dtype.kind not in "biuf":  # text: pandas' strings vs our categories
            bad = np.nonzero(g.astype(str).to_numpy() != w.astype(str).to_numpy())[0]
        elif g.dtype != w.dtype:
            print(f"  column {c}: gpudf {g.dtype}, pandas {w.dtype}")
            ok = False
            continue
        else:
            bad = np.nonzero(g.to_numpy() != w.to_numpy())[0]
            if len(bad) and w.dtype.kind == "f":
                text = pd.read_csv(path, usecols=[c], dtype=str)[c].to_numpy()[bad]
                ref = np.array([float(t) for t in text])
                ours = g.to_numpy()[bad]
                theirs = w.to_numpy()[bad]
                if (ours == ref).all():
                    print(f"  column {c}: pandas {pd.__version__} differs from Python's "
                          f"float() in {len(bad)} cells (e.g. {text[0]!r}: pandas "
                          f"{theirs[0]!r}, float() and gpudf {ours[0]!r}); gpudf is right")
                    bad = bad[:0]
                else:
                    wrong = np.nonzero(ours != ref)[0]
                    k = wrong[0]
                    print(f"  column {c}: gpudf differs from float() in {len(wrong)} cells, "
                          f"e.g. row {bad[k]} {text[k]!r}: gpudf {ours[k]!r}, float() {ref[k]!r}")
                    ok = False
                    continue
        if len(bad):
            print(f"  column {c}: {len(bad)} cells differ, first at row {bad[0]}: "
                  f"gpudf {g.iloc[bad[0]]!r}, pandas {w.iloc[bad[0]]!r}")
            ok = False
    return ok


def bench_file(label, path, rows, runs, gpudf, pd, pacsv):
    size = os.path.getsize(path)
    ncpu = os.cpu_count()
    print(f"\n{label}: {path}: {size / 2**20:.1f} MiB, {rows} rows; "
          f"1 warm-up + {runs} timed runs per reader")
    readers = [
        ("gpudf 1 thread", gpudf_threads(gpudf, path, 1)),
        (f"gpudf {ncpu} threads", gpudf_threads(gpudf, path, 0)),
        ("pandas.read_csv", lambda: pd.read_csv(path)),
        (f"pyarrow {ncpu} threads", lambda: pacsv.read_csv(path)),
        ("pyarrow 1 thread",
         lambda: pacsv.read_csv(path, read_options=pacsv.ReadOptions(use_threads=False))),
    ]
    results = {}
    for name, fn in readers:
        r = results[name] = run_reader(fn, runs)
        print(f"  {name:22s} median {r['median_s']:7.3f} s  [{r['min_s']:.3f} - {r['max_s']:.3f}]"
              f"  {size / 2**20 / r['median_s']:7.1f} MiB/s   CPU {r['cpu_median_s']:7.3f} s")
    g1 = results["gpudf 1 thread"]["median_s"]
    gn = results[f"gpudf {ncpu} threads"]["median_s"]
    ratios = {
        f"gpudf 1 -> {ncpu} threads (speed-up)": g1 / gn,
        f"pandas / gpudf {ncpu} threads": results["pandas.read_csv"]["median_s"] / gn,
        f"pyarrow {ncpu} threads / gpudf {ncpu} threads":
            results[f"pyarrow {ncpu} threads"]["median_s"] / gn,
        "pandas / gpudf 1 thread": results["pandas.read_csv"]["median_s"] / g1,
        "pyarrow 1 thread / gpudf 1 thread": results["pyarrow 1 thread"]["median_s"] / g1,
    }
    for k, v in ratios.items():
        print(f"  {k:44s} {v:6.2f}x")
    checked = agree(gpudf, pd, path)
    print("  gpudf and pandas agree on every value" if checked else "  VALUES DIFFER")
    return {"bytes": size, "rows": rows, "results": results, "ratios": ratios,
            "checked": checked}


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
    mixed = path + ".mixed.csv" if args.keep else f"/tmp/gpudf-bench-{os.getpid()}-mixed.csv"
    mixed_rows = rows // 2
    if not os.path.exists(mixed):
        write_mixed(mixed, mixed_rows)
    else:
        mixed_rows = count_rows(mixed)
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(other processes share the machine: compare the ratios, measured side by side)")
    import gpudf
    import pandas as pd
    import pyarrow.csv as pacsv
    sections = {
        "numbers": bench_file("numbers (i64 + 5 f64)", path, rows, runs, gpudf, pd, pacsv),
        "mixed": bench_file("mixed (i64, text, f64, i64, bool)", mixed, mixed_rows, runs,
                            gpudf, pd, pacsv),
    }
    checked = all(v["checked"] for v in sections.values())
    print(f"peak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    benchlib.write_json(args.json, {
        "section": "csv", "files": sections, "load_average": load,
        "versions": benchlib.versions("pandas", "pyarrow", "numpy"), "checked": checked,
        "notes": [f"median of {runs} runs after one untimed warm-up run per reader (which "
                  "also pages the file in)",
                  f"gpudf on 1 thread (GPUDF_THREADS=1: the one-core reader) and on every "
                  f"core ({os.cpu_count()}); pandas' C parser uses one thread; pyarrow every "
                  "core unless use_threads=False",
                  "cpu_median_s: CPU time of this process during a run (all threads)"]})
    if not args.keep:
        os.unlink(path)
        os.unlink(mixed)
    return 0 if checked else 1


if __name__ == "__main__":
    sys.exit(main())
