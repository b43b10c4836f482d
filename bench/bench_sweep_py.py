#!/usr/bin/env python3
"""bench_sweep_py.py - what gpudf.sweep costs in Python around the C sweep,
for wide results (groupby_agg: 5 columns per group; histogram: bins + 2).

For each case, K configs over a table of ROWS rows run with gpudf.sweep
(workers=0 by default: no process start in the C time). The C wall time is
the sweep report's wall_s (gpudf_sweep from call to return); the Python
overhead is the whole gpudf.sweep call minus it (building the config matrix,
the result names, the DataFrame, the status and error columns). Target
(issue 16 item 12): overhead under 10% of the C wall time or 50 ms, whichever
is larger. Medians of REPS runs after a warm-up; each run's DataFrame is
checked against gpudf.run on the same configs (exit 2 when wrong).

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        python3 bench/bench_sweep_py.py [--rows N] [--configs K] [--reps R]
        [--workers W] [--cases groups=2000,groups=65536,bins=10000] [--json PATH]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
try:
    import gpudf
except ImportError:
    sys.path.insert(0, str(_HERE.parent / "python"))
    import gpudf

import benchlib  # noqa: E402

DEFAULT_CASES = "groups=2000,groups=4000,groups=65536,bins=10000,bins=65536"


def table(rows, seed=1):
    rng = np.random.default_rng(seed)
    return gpudf.Table.from_numpy({
        "x": rng.uniform(0, 100, rows),
        "v": rng.normal(10, 3, rows),
        "key": rng.integers(0, 70000, rows).astype(np.int32)})


def configs(case, k):
    kind, width = case.split("=")
    width = int(width)
    lo = np.linspace(0, 90, k)
    if kind == "groups":
        return "groupby_agg", [{"filter_col": "x", "op": "gt", "lo": float(v), "key_col": "key",
                                "value_col": "v", "groups": width} for v in lo]
    return "histogram", [{"filter_col": "x", "op": "gt", "lo": float(v), "col": "v",
                          "bins": width, "range_lo": 0.0, "range_hi": 20.0} for v in lo]


def one(t, kernel, cfgs, workers, expect):
    t0 = time.perf_counter()
    df = gpudf.sweep(t, kernel, cfgs, workers=workers)
    total = time.perf_counter() - t0
    c_wall = df.attrs["report"]["wall_s"]
    got = df.iloc[:, len(cfgs[0]):-2].to_numpy()
    if got.shape != expect.shape or not np.array_equal(got, expect, equal_nan=True):
        print("WRONG: the sweep's DataFrame differs from gpudf.run", file=sys.stderr)
        sys.exit(2)
    return total, c_wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--json")
    a = ap.parse_args()
    t = table(a.rows)
    print(f"gpudf {gpudf.__version__ if hasattr(gpudf, '__version__') else ''} "
          f"{a.configs} configs x {a.rows} rows, workers={a.workers}, median of {a.reps}")
    print(f"{'case':16} {'columns':>8} {'call s':>9} {'C wall s':>9} {'python s':>9} "
          f"{'target s':>9}  verdict")
    out = {}
    for case in a.cases.split(","):
        kernel, cfgs = configs(case, a.configs)
        expect = gpudf.run(t, kernel, cfgs).iloc[:, len(cfgs[0]):].to_numpy()
        one(t, kernel, cfgs, a.workers, expect)  # warm-up, excluded
        runs = [one(t, kernel, cfgs, a.workers, expect) for _ in range(a.reps)]
        total = float(np.median([r[0] for r in runs]))
        c_wall = float(np.median([r[1] for r in runs]))
        py = float(np.median([r[0] - r[1] for r in runs]))
        target = max(0.1 * c_wall, 0.05)
        verdict = "PASS" if py <= target else "MISS"
        print(f"{case:16} {expect.shape[1]:8d} {total:9.3f} {c_wall:9.3f} {py:9.3f} "
              f"{target:9.3f}  {verdict}")
        out[case] = {"columns": expect.shape[1], "call_s": total, "c_wall_s": c_wall,
                     "python_s": py, "target_s": target, "pass": verdict == "PASS"}
    if a.json:
        benchlib.write_json(a.json, {"bench": "sweep_py", "rows": a.rows,
                                     "configs": a.configs, "workers": a.workers, "cases": out})


if __name__ == "__main__":
    main()
