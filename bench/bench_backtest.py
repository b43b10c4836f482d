#!/usr/bin/env python3
"""bench_backtest.py - a moving-average crossover sweep: libgpudf's
ma_crossover kernel against vectorbt and a plain numpy loop, on the same
prices and the same grid, with the same answers checked first.

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        venv/bin/python bench/bench_backtest.py [--quick] [--json PATH]

Prices: one geometric random walk of 100,000 bars (--quick: 20,000). Grid:
every pair fast < slow of the windows 5, 10, ..., 100 (190 configs; --quick:
5..50, 45 configs), the shape vectorbt's MA.run_combs(r=2) produces.

The semantics are the kernel's (kernels/ma_crossover/ma_crossover_math.h, long_only, fee
0): the signal s_t = SMA_fast(t) > SMA_slow(t) (0 before bar slow-1) is
decided at bar t's close, and the position s_t earns p[t+1]/p[t] - 1; total
return = prod(1 + s_t r_t) - 1 over t = 0..N-2; trades = the number of
changes of position. vectorbt computes the same thing when asked as its
docs describe for signal backtests: entries = fast_ma.ma_above(slow_ma) (the
state, not the crossing event, so a series that starts above enters at once),
exits = its negation, Portfolio.from_signals at the close price (the default),
size = all cash, fees 0; its orders on the last bar are removed because the
kernel's last step is bar N-2 (an order at the last close changes nothing
but the count). Then total_return must agree to 1e-6 relative and trades
(kernel) == orders (vectorbt), config by config; the numpy loop agrees to
1e-9 and exactly on trades. A config whose moving averages tie to rounding
can flip one signal between implementations; the report gives the count.

Approaches: gpudf.run (one process, one thread), gpudf.sweep (worker
processes, one per core), vectorbt (MA.run_combs + Portfolio.from_signals;
numba-compiled, one thread), numpy (a Python loop over configs, vectorised
over bars). Each is timed over repetitions after a warm-up run that is
excluded (it includes numba's compilation for vectorbt). Ratios are to
gpudf.run, the like-for-like single-thread number."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

import numpy as np  # noqa: E402


def make_prices(n):
    rng = np.random.default_rng(7)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


def grid(quick):
    windows = list(range(5, 55 if quick else 105, 5))
    pairs = [(f, s) for i, f in enumerate(windows) for s in windows[i + 1:]]
    return windows, pairs


def numpy_loop(p, pairs):
    """Per config: SMAs from cumulative sums, the signal, the product."""
    S = np.concatenate(([0.0], np.cumsum(p)))
    r = p[1:] / p[:-1] - 1.0
    n = len(p)
    out_tr = np.empty(len(pairs))
    out_trades = np.empty(len(pairs))
    t = np.arange(n - 1)
    for j, (f, s) in enumerate(pairs):
        # bar t (0..N-2): SMA_w = (S[t+1] - S[t+1-w]) / w for t >= w-1
        hi = S[t + 1]
        fast = (hi - S[np.maximum(t + 1 - f, 0)]) / f
        slow = (hi - S[np.maximum(t + 1 - s, 0)]) / s
        sig = ((t >= s - 1) & (fast > slow)).astype(np.float64)
        out_tr[j] = np.prod(1.0 + sig * r) - 1.0
        out_trades[j] = np.count_nonzero(np.diff(sig, prepend=0.0))
    return out_tr, out_trades


def vectorbt_run(vbt, price, windows):
    fast_ma, slow_ma = vbt.MA.run_combs(price, window=windows, r=2, short_names=["fast", "slow"])
    entries = fast_ma.ma_above(slow_ma)
    exits = ~entries
    entries.iloc[-1] = False  # the kernel's last step is bar N-2
    exits.iloc[-1] = False
    pf = vbt.Portfolio.from_signals(price, entries, exits, fees=0.0, freq="1D")
    return pf.total_return().to_numpy(), pf.orders.count().to_numpy(), fast_ma, slow_ma


def timeit(fn, reps, warm=1):
    times, out = [], None
    for i in range(warm + reps):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        if i >= warm:
            times.append(dt)
    return benchlib.stats(times), out


def compare(name, tr, trades, ref_tr, ref_trades, rtol):
    rel = np.abs(tr - ref_tr) / np.maximum(np.abs(ref_tr), 1e-12)
    bad = (rel > rtol) | (trades != ref_trades)
    return {"vs": "gpudf.run", "configs": int(len(tr)), "agree": int((~bad).sum()),
            "max_rel_diff_total_return": float(np.nanmax(np.where(bad, 0, rel))) if len(tr) else 0,
            "rtol": rtol, "name": name}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    import pandas as pd
    import gpudf
    n = 20_000 if args.quick else 100_000
    reps = 3 if args.quick else 5
    windows, pairs = grid(args.quick)
    p = make_prices(n)
    out = {"section": "backtest", "quick": args.quick, "bars": n, "configs": len(pairs),
           "windows": windows, "reps": reps, "warmup": 1, "results": {}, "checks": [],
           "skipped": {}, "notes": [], "checked": True}

    table = gpudf.Table.from_numpy({"price": p})
    cfg = pd.DataFrame({"price_col": "price", "fast": [f for f, _ in pairs],
                        "slow": [s for _, s in pairs], "fee_bps": 0.0, "mode": "long_only"})
    print(f"[bench_backtest] gpudf.run: {len(pairs)} configs x {n} bars", file=sys.stderr)
    st, res = timeit(lambda: gpudf.run(table, "ma_crossover", cfg), reps)
    ref_tr = res["total_return"].to_numpy()
    ref_trades = res["trades"].to_numpy()
    out["results"]["gpudf.run"] = dict(st, threads=1)
    share = table.share()
    workers = os.cpu_count() or 1
    print(f"[bench_backtest] gpudf.sweep: {workers} workers", file=sys.stderr)
    st, res2 = timeit(lambda: gpudf.sweep(share, "ma_crossover", cfg, workers=workers), reps)
    if (res2["status"] != "ok").any():
        raise SystemExit("bench_backtest: gpudf.sweep: some configs failed: "
                         + "; ".join(res2.loc[res2.status != "ok", "error"].head(3)))
    out["results"]["gpudf.sweep"] = dict(st, threads=workers)
    out["checks"].append(compare("gpudf.sweep", res2["total_return"].to_numpy(),
                                 res2["trades"].to_numpy(), ref_tr, ref_trades, 1e-12))

    print("[bench_backtest] numpy loop", file=sys.stderr)
    st, (tr, trades) = timeit(lambda: numpy_loop(p, pairs), reps)
    out["results"]["numpy loop"] = dict(st, threads=1)
    out["checks"].append(compare("numpy loop", tr, trades, ref_tr, ref_trades, 1e-9))

    try:
        import vectorbt as vbt
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        out["skipped"]["vectorbt"] = f"not importable: {type(e).__name__}: {e}"
        print(f"vectorbt skipped: {out['skipped']['vectorbt']}")
        vbt = None
    if vbt is not None:
        price = pd.Series(p, index=pd.date_range("2000-01-01", periods=n, freq="D"))
        print("[bench_backtest] vectorbt (the warm-up includes numba's compilation)",
              file=sys.stderr)
        t0 = time.perf_counter()
        vectorbt_run(vbt, price.iloc[:1000], windows)  # compile on a small input
        compile_s = time.perf_counter() - t0
        st, (tr, orders, fast_ma, slow_ma) = timeit(lambda: vectorbt_run(vbt, price, windows),
                                                    reps)
        # run_combs orders the pairs as itertools.combinations, as grid() does
        got = [(int(a), int(b)) for a, b in zip(fast_ma.window_list, slow_ma.window_list)]
        if got != pairs:
            raise SystemExit("bench_backtest: vectorbt's pairs are not the grid's")
        out["results"]["vectorbt"] = dict(st, threads=1, first_call_compile_s=compile_s)
        out["checks"].append(compare("vectorbt", tr, orders.astype(float), ref_tr, ref_trades,
                                     1e-6))
        out["notes"].append(f"vectorbt's first call (numba compilation, on 1,000 bars) took "
                            f"{compile_s:.1f} s; it is excluded with the warm-up run")
    g = out["results"]["gpudf.run"]["median_s"]
    for name, r in out["results"].items():
        r["ratio_time_vs_gpudf"] = r["median_s"] / g
        r["configs_per_s"] = len(pairs) / r["median_s"]
    for c in out["checks"]:
        if c["agree"] < c["configs"]:
            out["notes"].append(f"{c['name']}: {c['configs'] - c['agree']} of {c['configs']} "
                                "configs differ from gpudf.run (a near-tie of the moving "
                                "averages flips a signal)")
        if c["agree"] < 0.95 * c["configs"]:
            out["checked"] = False
    out["versions"] = benchlib.versions("numpy", "pandas", "vectorbt", "numba")
    for name, r in out["results"].items():
        print(f"{name:12s} {r['median_s'] * 1e3:10.1f} ms [{r['min_s'] * 1e3:.1f} - "
              f"{r['max_s'] * 1e3:.1f}]  {r['configs_per_s']:8.1f} configs/s  "
              f"{r['ratio_time_vs_gpudf']:6.2f}x gpudf.run")
    for c in out["checks"]:
        print(f"check {c['name']}: {c['agree']}/{c['configs']} agree (max rel diff "
              f"{c['max_rel_diff_total_return']:.1e})")
    share.close()
    benchlib.write_json(args.json, out)
    if not out["checked"]:
        print("bench_backtest: WRONG ANSWER: the approaches disagree", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
