"""The original question, answered.

    "I run multiprocessing.Pool(15).map(func, [(df, cfg1), (df, cfg2), ...])
     over a multi-GB DataFrame; every worker gets its own pickled copy and I
     run out of memory."

This script runs the same job twice with a spawn Pool: first as asked
(the DataFrame pickled with every task), then with gpudf (the DataFrame
shared once; each task attaches by name and gets a zero-copy DataFrame).
It prints wall time and the peak summed PSS of all the processes for both.

    python samples/python/seed_question.py [--rows 5000000] [--workers 4] [--configs 16]
"""
import argparse
import multiprocessing as mp
import os
import threading
import time

import numpy as np
import pandas as pd

import gpudf


def func_pickled(args):
    """The question's func: gets the whole DataFrame with every task."""
    df, (lo, hi) = args
    sel = df.loc[(df.a >= lo) & (df.a <= hi), "b"]
    return float(sel.sum()), int(sel.count())


def func_shared(args):
    """The same func with gpudf: gets the table's name instead."""
    name, (lo, hi) = args
    df = gpudf.attach(name).to_pandas()  # cheap: the mapping is reused per process
    sel = df.loc[(df.a >= lo) & (df.a <= hi), "b"]
    return float(sel.sum()), int(sel.count())


def func_nothing(args):
    """Baseline: a worker with pandas imported that touches no table."""
    import pandas  # noqa: F401
    time.sleep(0.05)
    return args


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class PeakMemory:
    """Samples the summed PSS of this process and its descendants."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            pids, todo = set(), [os.getpid()]
            while todo:
                p = todo.pop()
                if p not in pids:
                    pids.add(p)
                    todo.extend(children(p))
            self.peak = max(self.peak, sum(pss_kib(p) for p in pids))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(label, fn, tasks, workers):
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        with mp.get_context("spawn").Pool(workers) as pool:
            out = pool.map(fn, tasks)
        wall = time.perf_counter() - t0
    return label, wall, mem.peak / 1024, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--configs", type=int, default=16)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    df = pd.DataFrame({k: rng.standard_normal(a.rows) for k in "abcd"})
    mib = df.memory_usage(index=False).sum() / 2**20
    configs = [(lo, lo + 0.5) for lo in np.linspace(-2, 1.5, a.configs)]
    print(f"table: {a.rows:,} rows x 4 float64 = {mib:.0f} MiB; {a.configs} configs; "
          f"{a.workers} spawn workers; gpudf {gpudf.__version__}")

    base = run("no table (overhead)", func_nothing, list(range(a.configs)), a.workers)
    rows = [run("pickled with each task", func_pickled, [(df, c) for c in configs], a.workers)]
    t = gpudf.Table.from_pandas(df)
    with t.share() as share:
        rows.append(run("gpudf: shared once", func_shared,
                        [(share.name, c) for c in configs], a.workers))
    same = all(abs(x[0] - y[0]) <= 1e-9 * max(1, abs(x[0])) and x[1] == y[1]
               for x, y in zip(rows[0][3], rows[1][3]))
    over = base[2]
    print(f"\n{'approach':<26}{'wall time':>12}{'peak summed PSS':>20}{'above overhead':>18}"
          f"{'x table':>10}")
    for label, wall, peak, _ in [base] + rows:
        print(f"{label:<26}{wall:>11.2f}s{peak:>16.0f} MiB{peak - over:>14.0f} MiB"
              f"{(peak - over) / mib:>10.1f}")
    print(f"\n'overhead' is the same pool with pandas imported and no table (the owner's own "
          f"DataFrame included).\nsame answers: {'yes' if same else 'NO'}; gpudf is "
          f"{rows[0][1] / rows[1][1]:.1f}x faster and adds "
          f"{(rows[0][2] - over) / max(1.0, rows[1][2] - over):.1f}x less memory")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
