#!/usr/bin/env python3
"""gpudf-sweep --equity: one ma_crossover config bar by bar.

  check_equity.py GPUDF_SWEEP WORKDIR

For random configs over a random CSV table (a float and an integer price
column), the curve is compared with a plain Python loop over the prices
(the reference: prefix sums, moving averages, positions, equity, drawdown),
and its end with the sweep's own total_return, trades and max_drawdown.
"""
import csv
import math
import os
import random
import subprocess
import sys


def reference(prices, fast, slow, fee_bps, long_short):
    S, acc = [], 0.0
    for p in prices:
        acc += p
        S.append(acc)

    def sma(t, w):
        return (S[t] - (S[t - w] if t - w >= 0 else 0.0)) / w

    eq, peak, prev, trades = 1.0, 1.0, 0.0, 0
    rows = []
    for t in range(len(prices)):
        if t == len(prices) - 1:
            sig = math.nan
        elif t < slow - 1:
            sig = 0.0
        else:
            sig = 1.0 if sma(t, fast) > sma(t, slow) else (-1.0 if long_short else 0.0)
        rows.append((sig, eq, 1.0 - eq / peak))
        if t < len(prices) - 1:
            change = abs(sig - prev)
            trades += change != 0
            eq *= 1.0 + (sig * (prices[t + 1] / prices[t] - 1.0) - fee_bps / 1e4 * change)
            peak = max(peak, eq)
            prev = sig
    return rows, trades


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(4)
    p, q = 100.0, []
    for _ in range(3000):
        p *= math.exp(rng.gauss(0, 0.01))
        q.append(p)
    ints = [int(round(x * 10)) for x in q]
    table = os.path.join(work, "prices.csv")
    with open(table, "w") as f:
        f.write("close,ticks\n" + "".join(f"{a!r},{b}\n" for a, b in zip(q, ints)))
    for case in range(8):
        col, prices = (("close", q), ("ticks", ints))[case % 2]
        fast = rng.randrange(1, 30)
        slow = rng.randrange(fast + 1, 120)
        fee = rng.choice([0, 0.5, 5])
        mode = rng.choice(["long_only", "long_short"])
        spec = f"fast={fast} slow={slow} fee_bps={fee} mode={mode}"
        base = [exe, "--table", table, "--set", f"price_col={col}", "--workers", "0", "--quiet"]
        curve_path = os.path.join(work, f"curve{case}.csv")
        r = subprocess.run(base + ["--equity", spec, "--out", curve_path], capture_output=True, text=True)
        assert r.returncode == 0, (spec, r.stderr)
        with open(curve_path, newline="") as f:
            curve = list(csv.DictReader(f))
        r = subprocess.run(base + ["--grid", spec, "--out", "-"], capture_output=True, text=True)
        assert r.returncode == 0, (spec, r.stderr)
        result = next(csv.DictReader(r.stdout.splitlines()))
        want, trades = reference([float(x) for x in prices], fast, slow, fee, mode == "long_short")
        assert len(curve) == len(prices)
        for row, (sig, eq, dd) in zip(curve, want):
            got = float(row["position"])
            assert (math.isnan(got) and math.isnan(sig)) or got == sig, (spec, row, sig)
            assert math.isclose(float(row["equity"]), eq, rel_tol=1e-12), (spec, row, eq)
            assert math.isclose(float(row["drawdown"]), dd, rel_tol=1e-9, abs_tol=1e-12), (spec, row, dd)
        assert float(curve[-1]["equity"]) - 1.0 == float(result["total_return"]), (spec, result)
        assert int(float(result["trades"])) == trades, (spec, result, trades)
        assert math.isclose(max(float(r["drawdown"]) for r in curve), float(result["max_drawdown"]),
                            rel_tol=1e-12, abs_tol=1e-15), spec
    # One config only.
    r = subprocess.run([exe, "--synthetic", "100", "--equity", "fast=5,10 slow=20"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "needs one config" in r.stderr, r.stderr
    print("equity: 8 configs match the reference loop and the sweep")


if __name__ == "__main__":
    main()
