#!/usr/bin/env python3
"""bench_gpu_py.py - gpudf's filter_agg, groupby_agg and histogram on the
device against CuPy doing the same work on the same data, in one run, with
the answers checked.

Data: two float64 columns, x uniform in [-100, 100) and v = 1000 + 50 * a
normal draw with 0.1% NaN, and two int32 group keys, g4096 uniform in
[0, 4096) and g16 = g4096 & 15 (seeded, the same for both sides). One config is
filter_agg's (filter_col x, op, lo, hi, value_col v): count, sum, mean, min,
max and std (ddof 1) of v over the rows whose x passes the op, NaN values
skipped; no rows gives count 0, sum 0 and NaN for the rest, one row a NaN std.

  gpudf   Table.from_numpy, then share(backend=...) uploads the table once
          (the "upload" row times the share); gpudf.run(table, "filter_agg",
          configs) on the owner's table runs the CUDA kernel, every config of
          the batch in one pass over the rows.
  CuPy    cp.asarray(column) once per column (the "upload" row), and the NaN
          mask ~cp.isnan(v) once (timed apart, not in any row); then per
          config a boolean mask (op on x, & the NaN mask) and one of two
          variants, each with its results kept on the device and fetched
          once at the end; K configs are a Python loop over K evaluations:
            compact  the usual idiom: sel = v[mask], then sel.sum(),
                     .mean(), .min(), .max(), .std(ddof=1)
            masked   no compaction: cp.count_nonzero(mask) and the
                     reductions of cp.where(mask, v, 0 / +inf / -inf) and
                     of the squared deviations from sum / count (on an H100
                     at 1e8 rows 7x faster than compact)
          The summary's CuPy column is the fastest variant for each row; a
          variant that fails to run is reported and left out.

groupby_agg and histogram (--gh-configs K2, default 16; 0 leaves them out):
K2 configs with filter_agg's filters (x, op, lo, hi, as make_configs) in four
cases: groupby_agg of v by g16 and by g4096 (count, sum, mean, min, max per
group) and histogram of v in 64 and 4096 bins over [872, 1128] plus underflow
and overflow. gpudf: one gpudf.run of the K2 configs (numpy config form, no
pandas). CuPy: a loop over the configs in the idioms of ArraySide.gh_variants:
  groupby    bincount  xp.bincount of the keys (rows that do not pass sent to
                       an extra slot) for count, with weights v for sum;
                       cupyx.scatter_min / scatter_max for min and max
                       (numpy: minimum.at / maximum.at; CuPy 14.2.0's
                       minimum.at rounded float64 minima to float32)
             sort      keys and values of the passing rows compacted and
                       ordered by xp.argsort of the keys; min and max of each
                       key's run by ufunc.reduceat (xp.lexsort by key and
                       value, the ends of each run, if reduceat is missing);
                       bincount for count and sum
  histogram  bincount  the bin index of every row computed, rows that do not
                       pass or fall outside sent to extra slots, one bincount
             histogram xp.histogram of the compacted values (+ two
                       count_nonzero for underflow and overflow)
The output says which call an idiom used where it has a choice.
The range is 256 wide (a power of two), so the computed bin index is exact and
both idioms bin as numpy's edges do. Checks: counts, min and max equal, sums
within 1e-12 x count x the group's largest |value|; a baseline idiom whose min
or max is gpudf's value rounded to float32 is reported INEXACT, timed and left
out of the ratio (not counted as a wrong answer: the other idiom, which sorts,
checks the same minima exactly). Times: median of 3 runs
after a warm-up (fewer, at least 1, once a variant's runs took 2 s); a
variant that would start after --gh-budget seconds (default 45) of the four
cases is left out and said so.

Times are medians of >= 5 runs (1 config) and >= 3 runs (K configs) after a
warm-up, with min..max; the CuPy side synchronizes the device before each
clock read. Device memory comes from cudaMemGetInfo (free bytes before and
after the share, and after CuPy's upload) and CuPy's memory pool.

    GPUDF_LIBRARY=<build>/libgpudf.so GPUDF_HEADER=include/gpudf.h PYTHONPATH=python \\
        python3 bench/bench_gpu_py.py [--rows N] [--configs K] [--json PATH]
        [--backend cuda-ipc|cuda-pinned|cpu] [--xp auto|cupy|numpy]

The "upload" row times gpudf's share against CuPy's asarray of the same four
columns.

--backend cpu (no GPU needed) runs the same flow with numpy in CuPy's place
(the column is then labelled numpy), to test the script on any machine;
--xp numpy with a device backend does the same against a simulated device
(GPUDF_SIMULATE_DEVICE=1). Without the asked device backend, or without CuPy,
it prints SKIPPED and exits 0. Exit status: 0 ok, 2 WRONG answers, 1 error.
"""
import argparse
import math
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

OPS = ("all", "lt", "le", "gt", "ge", "eq", "ne", "between")
FIELDS = ("count", "sum", "mean", "min", "max", "std")


# ---------------------------------------------------------------- the array side

class ArraySide:
    """CuPy (or numpy standing in for it) running filter_agg configs."""

    def __init__(self, xp_name):
        self.name = xp_name
        if xp_name == "cupy":
            import cupy as cp  # imported here: the module must load without it
            self.xp = cp
        else:
            self.xp = np
        self.x = self.v = self.valid = None
        self.cols = {}
        self.how = {}  # which call an idiom ended up using, where it has a choice

    def sync(self):
        if self.name == "cupy":
            self.xp.cuda.Stream.null.synchronize()

    def to_host(self, a):
        return self.xp.asnumpy(a) if self.name == "cupy" else np.asarray(a)

    def mem_info(self):
        """(free, total) bytes of the device, or None without one."""
        if self.name != "cupy":
            return None
        free, total = self.xp.cuda.runtime.memGetInfo()
        return int(free), int(total)

    def pool_bytes(self):
        if self.name != "cupy":
            return None
        return int(self.xp.get_default_memory_pool().total_bytes())

    def upload(self, columns):
        """The columns (name -> host array) onto the device; returns
        seconds."""
        self.sync()
        t0 = time.perf_counter()
        self.cols = {name: self.xp.asarray(c) for name, c in columns.items()}
        self.sync()
        self.x, self.v = self.cols["x"], self.cols["v"]
        return time.perf_counter() - t0

    def prepare(self):
        """The NaN mask of v, once; returns seconds."""
        self.sync()
        t0 = time.perf_counter()
        self.valid = ~self.xp.isnan(self.v)
        self.sync()
        return time.perf_counter() - t0

    def _mask(self, op, lo, hi):
        x = self.x
        if op == "all":
            return self.valid
        if op == "between":
            m = x >= lo
            m &= x <= hi
        elif op == "lt":
            m = x < lo
        elif op == "le":
            m = x <= lo
        elif op == "gt":
            m = x > lo
        elif op == "ge":
            m = x >= lo
        elif op == "eq":
            m = x == lo
        elif op == "ne":
            m = x != lo
        else:
            raise ValueError(f"unknown op {op!r}")
        m &= self.valid
        return m

    def variants(self):
        """The ways this side runs a config: compact (sel = v[mask], then
        sel.sum() ...) and masked (no compaction: reductions of
        xp.where(mask, v, ...)). A cp.ReductionKernel version was tried on
        an H100 and left out: correct, but CuPy runs a custom reduction to a
        scalar in one thread block, 60x slower than masked (328 ms a config
        at 1e8 rows)."""
        return ("compact", "masked")

    def run(self, configs, variant="compact"):
        """configs: list of (op, lo, hi); returns an n x 6 float64 host array
        in FIELDS order, with filter_agg's rules for 0 and 1 rows."""
        if variant == "compact":
            return self._run_compact(configs)
        return self._run_masked(configs)

    def _run_masked(self, configs):
        """Count, sum, min, max and the squared deviations around sum / count,
        all left on the device (no sync per config), fetched once."""
        xp = self.xp
        rows = []
        with np.errstate(divide="ignore", invalid="ignore"):
            for op, lo, hi in configs:
                m = self._mask(op, lo, hi)
                n = xp.count_nonzero(m)
                s = xp.where(m, self.v, 0.0).sum()
                mn = xp.where(m, self.v, np.inf).min()
                mx = xp.where(m, self.v, -np.inf).max()
                d = xp.where(m, self.v - s / n, 0.0)
                m2 = (d * d).sum()
                rows.append(xp.stack([xp.asarray(n, dtype=xp.float64), s, mn, mx, m2]))
            host = self.to_host(xp.stack(rows))
        self.sync()
        out = np.full((len(configs), 6), math.nan)
        for i, (n, sm, mn, mx, m2) in enumerate(host):
            out[i, 0], out[i, 1] = n, sm
            if n > 0:
                out[i, 2], out[i, 3], out[i, 4] = sm / n, mn, mx
            if n > 1:
                out[i, 5] = math.sqrt(m2 / (n - 1))
        return out

    def _run_compact(self, configs):
        xp = self.xp
        counts, stats = [], []
        for op, lo, hi in configs:
            sel = self.v[self._mask(op, lo, hi)]
            n = int(sel.size)  # boolean indexing already knows its size
            counts.append(n)
            if n == 0:
                continue
            std = sel.std(ddof=1) if n > 1 else xp.asarray(math.nan)
            stats.append(xp.stack([sel.sum(), sel.mean(), sel.min(), sel.max(), std]))
        host = self.to_host(xp.stack(stats)) if stats else np.empty((0, 5))
        self.sync()
        out = np.full((len(configs), 6), math.nan)
        out[:, 0] = counts
        j = 0
        for i, n in enumerate(counts):
            if n == 0:
                out[i, 1] = 0.0
            else:
                out[i, 1:] = host[j]
                j += 1
        return out

    # ------------------------------------------- groupby_agg and histogram

    def _scatter(self, kind, out, idx, vals):
        """out[idx] = min/max(out[idx], vals), repeated indices included:
        cupyx.scatter_min / scatter_max on CuPy (its tests cover float64;
        cupy.minimum.at, which CuPy now recommends, returned float64 minima
        rounded to float32 on the H200 run with CuPy 14.2.0), numpy's
        ufunc.at on numpy. Says which in self.how."""
        if self.name == "cupy":
            import cupyx
            (cupyx.scatter_min if kind == "min" else cupyx.scatter_max)(out, idx, vals)
            self.how["scatter"] = "cupyx.scatter_" + kind
            return
        uf = self.xp.minimum if kind == "min" else self.xp.maximum
        with np.errstate(invalid="ignore"):  # NaN values land in the last slot
            uf.at(out, idx, vals)
        self.how["scatter"] = "ufunc.at"

    def _segments(self, vs, n, g):
        """min and max of each group's run in vs (ordered by key, n the
        groups' counts, vs non-empty): ufunc.reduceat at the starts of the non-empty
        groups, scattered back to all g (the empty ones keep junk that the
        caller masks with n == 0); None where reduceat is missing."""
        xp = self.xp
        try:
            end = xp.cumsum(n)
            full = xp.nonzero(n)[0]
            starts = (end - n)[full]
            mn = xp.zeros(g)
            mx = xp.zeros(g)
            mn[full] = xp.minimum.reduceat(vs, starts)
            mx[full] = xp.maximum.reduceat(vs, starts)
            return mn, mx
        except (AttributeError, NotImplementedError, TypeError):
            return None

    def gh_variants(self, kind):
        """groupby: bincount (count and sum by xp.bincount, the sum's weights
        being v; min and max by xp.minimum.at / maximum.at into an array of
        groups + 1, the last slot taking the rows that do not pass) and sort
        (the passing rows' keys and values compacted and ordered by key with
        xp.argsort, each group's min and max by ufunc.reduceat over its run,
        count and sum by bincount; where reduceat is missing, xp.lexsort by
        key then value and the ends of each run instead). histogram:
        bincount (the bin index of every row computed, the rows that do not
        pass or fall outside sent to extra slots, one xp.bincount) and
        histogram (xp.histogram of the compacted passing values, plus
        count_nonzero for underflow and overflow)."""
        return ("bincount", "sort") if kind == "groupby" else ("bincount", "histogram")

    def groupby(self, configs, key, groups, variant):
        """configs: list of (op, lo, hi); returns K x groups x 5 (count, sum,
        mean, min, max; an empty group: 0, 0, NaN, NaN, NaN) on the host."""
        xp, k, g = self.xp, self.cols[key], groups
        parts = []
        for op, lo, hi in configs:
            m = self._mask(op, lo, hi)
            if variant == "bincount":
                kk = xp.where(m, k, g)  # the rows that do not pass go to slot g
                n = xp.bincount(kk, minlength=g + 1)[:g]
                s = xp.bincount(kk, weights=self.v, minlength=g + 1)[:g]
                mn = xp.full(g + 1, np.inf)
                mx = xp.full(g + 1, -np.inf)
                self._scatter("min", mn, kk, self.v)
                self._scatter("max", mx, kk, self.v)
                mn, mx = mn[:g], mx[:g]
            else:
                kk, vv = k[m], self.v[m]
                if vv.size == 0:
                    n = xp.zeros(g, dtype=xp.int64)
                    s = xp.zeros(g)
                    mn = mx = xp.full(g, np.nan)
                else:
                    n = xp.bincount(kk, minlength=g)
                    s = xp.bincount(kk, weights=vv, minlength=g)
                    order = xp.argsort(kk)
                    seg = self._segments(vv[order], n, g)
                    if seg is not None:
                        mn, mx = seg
                        self.how["sort"] = "argsort + reduceat"
                    else:
                        order = xp.lexsort(xp.stack([vv, kk.astype(vv.dtype)]))
                        vs = vv[order]
                        end = xp.cumsum(n)
                        mn = vs[xp.minimum(end - n, vs.size - 1)]
                        mx = vs[xp.maximum(end - 1, 0)]
                        self.how["sort"] = "lexsort"
            parts.append(xp.stack([n.astype(xp.float64), s, mn, mx]))
        host = self.to_host(xp.stack(parts))  # K x 4 x g
        self.sync()
        out = np.empty((len(configs), g, 5))
        n = host[:, 0, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, :, 0], out[:, :, 1] = n, host[:, 1, :]
            out[:, :, 2] = np.where(n > 0, host[:, 1, :] / n, np.nan)
            out[:, :, 3] = np.where(n > 0, host[:, 2, :], np.nan)
            out[:, :, 4] = np.where(n > 0, host[:, 3, :], np.nan)
        return out

    def histogram(self, configs, bins, lo_r, hi_r, variant):
        """configs: list of (op, lo, hi) filters; returns K x (bins + 2)
        counts (the bins, then underflow and overflow) of v over the passing
        rows, NaN not counted, on the host."""
        xp, b, v = self.xp, bins, self.v
        parts = []
        with np.errstate(invalid="ignore"):
            for op, lo, hi in configs:
                m = self._mask(op, lo, hi)
                if variant == "histogram":
                    sel = v[m]
                    h, _ = xp.histogram(sel, bins=b, range=(lo_r, hi_r))
                    uo = xp.stack([xp.count_nonzero(sel < lo_r), xp.count_nonzero(sel > hi_r)])
                    parts.append(xp.concatenate([h.astype(xp.int64), uo.astype(xp.int64)]))
                else:
                    # exact here: hi_r - lo_r is a power of two (see GH_RANGE)
                    idx = ((v - lo_r) * (b / (hi_r - lo_r))).astype(xp.int64)
                    idx = xp.minimum(idx, b - 1)  # hi_r itself is in the last bin
                    idx = xp.where(v < lo_r, b, idx)
                    idx = xp.where(v > hi_r, b + 1, idx)
                    idx = xp.where(m, idx, b + 2)  # not passing, or NaN
                    parts.append(xp.bincount(idx, minlength=b + 3)[:b + 2])
            host = self.to_host(xp.stack(parts))
        self.sync()
        return host.astype(np.float64)


# ------------------------------------------------------------------- gpudf side

def gpudf_run(table, frame):
    out = gpudf.run(table, "filter_agg", frame)
    return out[list(FIELDS)].to_numpy(dtype=np.float64)


def config_frame(configs):
    import pandas as pd
    return pd.DataFrame({"filter_col": "x", "op": [c[0] for c in configs],
                         "lo": [float(c[1]) for c in configs],
                         "hi": [float(c[2]) for c in configs], "value_col": "v"})


def make_configs(k):
    """K configs over every op but all (as bench_gpu.cu's): lo sweeps the
    range of x, hi = lo + 10 for between."""
    out = []
    for i in range(k):
        lo = -100.0 + 200.0 * i / k
        out.append((OPS[1 + i % 7], lo, lo + 10.0))
    return out


# ------------------------------------------------ groupby_agg and histogram

# The histogram's range: v is 1000 + 50 * normal, so about 1% falls outside.
# Its width is a power of two, so (v - lo) * bins / width is exact and the
# plain bincount idiom bins exactly as numpy.histogram's edges do.
GH_RANGE = (872.0, 1128.0)
GH_CASES = (("groupby", "g16", 16), ("groupby", "g4096", 4096),
            ("histogram", None, 64), ("histogram", None, 4096))
COLS = ("x", "v", "g16", "g4096")  # the table's columns, in order (indices in configs)


def gh_matrix(kind, configs, key, size):
    """gpudf.run's numpy form: one row of parameters (describe() order,
    columns and ops as indices) per config."""
    rows = []
    for op, lo, hi in configs:
        if kind == "groupby":
            rows.append([0, OPS.index(op), lo, hi, COLS.index(key), 1, size])
        else:
            rows.append([0, OPS.index(op), lo, hi, 1, size, GH_RANGE[0], GH_RANGE[1]])
    return np.array(rows, dtype=np.float64)


def gh_compare(kind, got, want, configs, label, f32=None):
    """groupby: counts, min and max exactly, sum within 1e-12 x count x the
    group's largest |value| (any order of additions stays inside), mean
    within that / count; histogram: every count exactly. A min or max of
    the baseline that is gpudf's value rounded to float32 goes to f32 (a
    list) instead, when given: the baseline's inexactness, not gpudf's."""
    bad = []
    if kind == "histogram":
        for i, cfg in enumerate(configs):
            diff = np.nonzero(got[i] != want[i])[0]
            if len(diff):
                j = int(diff[0])
                bad.append(f"{label} config {i} {cfg}: {len(diff)} counts differ, first slot "
                           f"{j}: gpudf {got[i][j]:.0f} vs {want[i][j]:.0f}")
        return bad
    for i, cfg in enumerate(configs):
        g, w = got[i], want[i]  # groups x 5
        n = w[:, 0]
        mag = n * np.maximum(np.abs(w[:, 3]), np.abs(w[:, 4]))
        mag = np.where(n > 0, mag, 0.0)
        tol = {1: 1e-12 * mag + 1e-300, 2: 1e-12 * np.where(n > 0, mag / np.maximum(n, 1), 0)
               + 1e-300}
        for j, f in enumerate(("count", "sum", "mean", "min", "max")):
            a, b = g[:, j], w[:, j]
            both_nan = np.isnan(a) & np.isnan(b)
            off = np.abs(a - b) > tol.get(j, 0.0)
            off |= np.isnan(a) != np.isnan(b)
            off &= ~both_nan
            if f32 is not None and f in ("min", "max") and off.any():
                rounded = off & (a.astype(np.float32).astype(np.float64) == b)
                if rounded.any():
                    f32.append(f"{label} config {i} {cfg}: {f} of {int(rounded.sum())} group(s) "
                               "is gpudf's value rounded to float32")
                    off &= ~rounded
            if off.any():
                q = int(np.nonzero(off)[0][0])
                bad.append(f"{label} config {i} {cfg}: {f} of {int(off.sum())} group(s) differ, "
                           f"first group {q}: gpudf {float(a[q])!r} vs {float(b[q])!r}")
    return bad


def gh_bench(table, side, label, configs, reps, budget_s):
    """Each case of GH_CASES: gpudf.run of the K configs in one pass against
    the array side's variants looping over them; returns (rows for the
    summary, json, wrong). A variant that would start after budget_s
    seconds of the whole is left out and said so (the caller's summary must
    print before a device check's time limit)."""
    summary, out, wrong = [], [], []
    k = len(configs)
    t_start = time.perf_counter()
    for kind, key, size in GH_CASES:
        kernel = "groupby_agg" if kind == "groupby" else "histogram"
        what = (f"groupby_agg {k} cfg x {size} groups" if kind == "groupby"
                else f"histogram {k} cfg x {size} bins")
        mat = gh_matrix(kind, configs, key, size)
        g, g_out = timeit(lambda: gpudf.run(table, kernel, mat), reps)
        if kind == "groupby":
            g_out = g_out.reshape(k, size, 5)
        print(f"  gpudf {what}: {fmt_stats(g)}", flush=True)
        base, failed, inexact, inexact_t = {}, {}, {}, {}
        for var in side.gh_variants(kind):
            if time.perf_counter() - t_start > budget_s:
                failed[var] = f"not run: the {budget_s:.0f} s budget (--gh-budget) was spent"
                print(f"  {label} {var} {what}: {failed[var]}", flush=True)
                continue
            try:
                if kind == "groupby":
                    fn = lambda: side.groupby(configs, key, size, var)  # noqa: E731
                else:
                    fn = lambda: side.histogram(configs, size, *GH_RANGE, var)  # noqa: E731
                side.how.clear()
                st, a_out = timeit(fn, reps, side.sync, budget_s=2.0)
                how = ", ".join(f"{a}: {b}" for a, b in side.how.items())
                print(f"  {label} {var} {what}: {fmt_stats(st)}" + (f" ({how})" if how else ""),
                      flush=True)
                f32 = []
                wrong += gh_compare(kind, g_out, a_out, configs, f"{what}, {var}", f32)
                if f32:  # a lossy baseline: reported, timed, left out of the ratio
                    inexact[var] = f"{len(f32)} answers rounded to float32, e.g. {f32[0]}"
                    print(f"  {label} {var} {what}: INEXACT, left out of the ratio: "
                          f"{inexact[var]}", flush=True)
                    inexact_t[var] = st
                else:
                    base[var] = st
            except Exception as e:  # reported, not fatal, as for filter_agg
                failed[var] = f"{type(e).__name__}: {e}"
                print(f"  {label} {var} {what}: FAILED to run ({failed[var][:300]})", flush=True)
        best = min(base, key=lambda v: base[v]["median_s"]) if base else None
        if best:
            summary.append((what + f" ({best})", g["median_s"], base[best]["median_s"]))
        out.append({"what": what, "gpudf": g, "baseline_variants": base,
                    "baseline_variant": best, "baseline_failed": failed,
                    "baseline_inexact": inexact, "baseline_inexact_times": inexact_t,
                    "baseline_how": dict(side.how)})
    return summary, out, wrong


# ---------------------------------------------------------------------- checks

def compare(got, want, configs, label):
    """Differences between gpudf's results (got) and the array side's (want):
    count, min and max exactly; sum within 1e-12 x the sum of magnitudes
    (bounded by count x max(|min|, |max|)), mean within 1e-12 x that bound /
    count; std within 1e-9 relative. NaN where the other is NaN."""
    bad = []
    for i, cfg in enumerate(configs):
        g, w = got[i], want[i]
        n = w[0]
        mag = n * max(abs(w[3]), abs(w[4])) if n > 0 else 0.0
        tol = {"count": 0.0, "min": 0.0, "max": 0.0, "sum": 1e-12 * mag + 1e-300,
               "mean": 1e-12 * (mag / n if n else 0.0) + 1e-300,
               "std": 1e-9 * abs(w[5]) if not math.isnan(w[5]) else 0.0}
        for j, f in enumerate(FIELDS):
            a, b = g[j], w[j]
            if math.isnan(a) and math.isnan(b):
                continue
            if math.isnan(a) or math.isnan(b) or abs(a - b) > tol[f]:
                bad.append(f"{label} config {i} {cfg}: {f} gpudf {float(a)!r} vs {float(b)!r} "
                           f"(tolerance {tol[f]:.3g})")
    return bad


# ----------------------------------------------------------------------- timing

def timeit(fn, reps, sync=None, budget_s=None):
    """One warm-up, then reps timed calls (fewer, but at least one, once
    they took budget_s together); (stats, last result)."""
    out = fn()
    times = []
    for _ in range(reps):
        if budget_s is not None and times and sum(times) > budget_s:
            break
        if sync:
            sync()
        t0 = time.perf_counter()
        out = fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return benchlib.stats(times), out


def fmt_s(s):
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.3f} s"


def fmt_stats(st):
    return f"{fmt_s(st['median_s'])} ({fmt_s(st['min_s'])}..{fmt_s(st['max_s'])}, n={st['runs']})"


def backend_reason(name):
    """Why the library says a backend is unavailable (its own words)."""
    try:
        from gpudf._ffi import ffi, lib
        why = ffi.new("const char **")
        code = {"cuda-ipc": lib.GPUDF_BACKEND_CUDA_IPC,
                "cuda-pinned": lib.GPUDF_BACKEND_CUDA_PINNED}[name]
        if lib.gpudf_backend_available(code, why):
            return None
        return ffi.string(why[0]).decode(errors="replace") if why[0] != ffi.NULL else "unknown"
    except Exception as e:  # only words for a message
        return f"(no reason given: {e})"


def table_backend(table):
    try:
        from gpudf._ffi import ffi, lib
        return ffi.string(lib.gpudf_backend_name(lib.gpudf_table_backend(table._ptr))).decode()
    except Exception:
        return None


def arena_bytes(table):
    try:
        from gpudf._ffi import lib
        return int(lib.gpudf_table_arena_bytes(table._ptr))
    except Exception:
        return None


def fmt_mib(b):
    return "?" if b is None else f"{b / 2**20:.0f} MiB"


# ------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e8)
    ap.add_argument("--configs", type=int, default=1024)
    ap.add_argument("--backend", default="cuda-ipc", choices=("cuda-ipc", "cuda-pinned", "cpu"))
    ap.add_argument("--xp", default="auto", choices=("auto", "cupy", "numpy"),
                    help="array library of the baseline (auto: cupy on a device backend, "
                         "numpy on cpu)")
    ap.add_argument("--reps1", type=int, default=7, help="timed runs of 1 config (>= 5)")
    ap.add_argument("--repsk", type=int, default=3, help="timed runs of K configs (>= 3)")
    ap.add_argument("--gh-configs", type=int, default=16,
                    help="configs of each groupby_agg / histogram case (0: leave them out)")
    ap.add_argument("--gh-budget", type=float, default=45.0,
                    help="seconds for all groupby_agg / histogram cases: a baseline variant "
                         "that would start later is left out, and said so")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows, k = int(a.rows), a.configs
    if rows < 1 or k < 1:
        ap.error("--rows and --configs must be >= 1")
    a.reps1, a.repsk = max(a.reps1, 5), max(a.repsk, 3)
    xp_name = a.xp if a.xp != "auto" else ("numpy" if a.backend == "cpu" else "cupy")

    if a.backend != "cpu" and a.backend not in gpudf.backends():
        print(f"bench_gpu_py: SKIPPED: backend {a.backend} is not available here "
              f"({backend_reason(a.backend)}); --backend cpu runs the flow without a GPU")
        return 0
    try:
        side = ArraySide(xp_name)
        if xp_name == "cupy":
            ndev = side.xp.cuda.runtime.getDeviceCount()
            if ndev < 1:
                raise RuntimeError("CuPy sees no device")
    except Exception as e:
        print(f"bench_gpu_py: SKIPPED: CuPy is not usable here ({type(e).__name__}: {e})")
        return 0
    label = "CuPy" if xp_name == "cupy" else "numpy"
    device = "cpu"
    if xp_name == "cupy":
        props = side.xp.cuda.runtime.getDeviceProperties(side.xp.cuda.Device().id)
        name = props["name"]
        device = name.decode() if isinstance(name, bytes) else str(name)

    print(f"bench_gpu_py: {rows:,} rows x (2 f64 + 2 i32 columns) ({rows * 24 / 1e9:.2f} GB), "
          f"K = {k} configs; gpudf {gpudf.__version__} backend {a.backend} vs {label} "
          f"{side.xp.__version__}; device: {device}", flush=True)

    # ---- data: one set of numpy columns, copied once into the gpudf table,
    # whose shared-memory columns then feed the baseline (no third copy).
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    x = rng.uniform(-100.0, 100.0, rows)
    v = 1000.0 + 50.0 * rng.standard_normal(rows)
    v[rng.random(rows) < 0.001] = np.nan
    g4096 = rng.integers(0, 4096, rows, dtype=np.int32)  # after x and v: those stay as before
    g16 = g4096 & 15
    try:
        table = gpudf.Table.from_numpy({"x": x, "v": v, "g16": g16, "g4096": g4096})
    except gpudf.Error as e:
        print(f"bench_gpu_py: cannot build the table: {e}")
        return 1
    del x, v, g16, g4096
    print(f"  data built in {time.perf_counter() - t0:.1f} s", flush=True)

    # ---- gpudf: the share is the upload.
    free0 = side.mem_info()
    t0 = time.perf_counter()
    try:
        share = table.share(backend=a.backend)
    except gpudf.Error as e:
        print(f"bench_gpu_py: share(backend={a.backend!r}) failed: {e}")
        return 1
    g_upload = time.perf_counter() - t0
    free1 = side.mem_info()
    placed = table_backend(table)
    print(f"  gpudf share: {fmt_s(g_upload)}, Share.backend {share.backend}, "
          f"table backend {placed}", flush=True)
    if share.backend != a.backend:
        print(f"bench_gpu_py: the share is {share.backend}, not {a.backend}")
        return 1

    # ---- the baseline's upload, from the same memory.
    a_upload = side.upload({c: table.column(c) for c in COLS})
    free2 = side.mem_info()
    a_prep = side.prepare()
    first = ", CuPy's first kernel compile included" if xp_name == "cupy" else ""
    print(f"  {label} upload: {fmt_s(a_upload)} (+ NaN mask once: {fmt_s(a_prep)}{first})",
          flush=True)

    one = [("gt", 0.0, 0.0)]
    many = make_configs(k)
    one_frame, many_frame = config_frame(one), config_frame(many)

    wrong = []
    res = {}
    g1, g1_out = timeit(lambda: gpudf_run(table, one_frame), a.reps1)
    print(f"  gpudf 1 config: {fmt_stats(g1)}", flush=True)
    gk, gk_out = timeit(lambda: gpudf_run(table, many_frame), a.repsk)
    print(f"  gpudf {k} configs: {fmt_stats(gk)}", flush=True)
    base1, basek, failed = {}, {}, {}
    ck_out = None
    for var in side.variants():
        try:
            st, out = timeit(lambda: side.run(one, var), a.reps1, side.sync)
            print(f"  {label} {var} 1 config: {fmt_stats(st)}", flush=True)
            wrong += compare(g1_out, out, one, f"{var}, 1 config")
            base1[var] = st
            st, out = timeit(lambda: side.run(many, var), a.repsk, side.sync)
            print(f"  {label} {var} {k} configs: {fmt_stats(st)}", flush=True)
            wrong += compare(gk_out, out, many, f"{var}, {k} configs")
            basek[var] = st
            ck_out = out
        except Exception as e:  # a variant that cannot run here is reported, not fatal
            failed[var] = f"{type(e).__name__}: {e}"
            print(f"  {label} {var}: FAILED to run ({failed[var][:300]})", flush=True)
    if not base1 or not basek:
        print(f"bench_gpu_py: no {label} variant ran")
        return 1
    best1 = min(base1, key=lambda v: base1[v]["median_s"])
    bestk = min(basek, key=lambda v: basek[v]["median_s"])
    c1, ck = base1[best1], basek[bestk]
    res["empty_configs"] = int((ck_out[:, 0] == 0).sum())

    gh_rows, gh_json = [], []
    if a.gh_configs > 0:
        gh_rows, gh_json, gh_wrong = gh_bench(table, side, label, make_configs(a.gh_configs),
                                              a.repsk, a.gh_budget)
        wrong += gh_wrong

    pool = side.pool_bytes()
    memory = {
        "device_total_bytes": free0[1] if free0 else None,
        "gpudf_owner_upload_bytes": (free0[0] - free1[0]) if free0 else None,
        "arena_bytes": arena_bytes(table),
        "baseline_upload_bytes": (free1[0] - free2[0]) if free0 else None,
        "baseline_pool_bytes": pool,
    }

    res.update({
        "rows": rows, "configs": k, "backend": a.backend, "share_backend": share.backend,
        "table_backend": placed, "baseline": label, "device": device,
        "versions": benchlib.versions("numpy", "pandas", "cupy-cuda13x", "cupy-cuda12x"),
        "upload": {"gpudf_share_s": g_upload, "baseline_asarray_s": a_upload,
                   "baseline_nan_mask_s": a_prep},
        "filter_agg_1": {"gpudf": g1, "baseline": c1, "baseline_variant": best1,
                         "baseline_variants": base1},
        "filter_agg_k": {"gpudf": gk, "baseline": ck, "baseline_variant": bestk,
                         "baseline_variants": basek},
        "baseline_failed": failed,
        "groupby_histogram": gh_json,
        "memory": memory, "wrong": wrong,
    })
    share.close()

    print()
    if memory["gpudf_owner_upload_bytes"] is not None:
        print(f"device memory: gpudf owner upload {fmt_mib(memory['gpudf_owner_upload_bytes'])} "
              f"(arena {fmt_mib(memory['arena_bytes'])}); {label} arrays "
              f"{fmt_mib(memory['baseline_upload_bytes'])} by cudaMemGetInfo, pool "
              f"{fmt_mib(pool)} after the runs; device {fmt_mib(free0[1])}")
    else:
        print(f"device memory: n/a ({label} on the host); arena {fmt_mib(memory['arena_bytes'])}")
    if wrong:
        for line in wrong[:20]:
            print("  " + line)
        print(f"bench_gpu_py: WRONG: {len(wrong)} result(s) differ between gpudf and {label}")
        benchlib.write_json(a.json, res)
        return 2

    gh_ran = sum(1 for r in gh_json if r["baseline_variants"])
    n_inexact = sum(len(r["baseline_inexact"]) for r in gh_json)
    print(f"answers: gpudf and every {label} variant agree on all {1 + k} filter_agg configs "
          f"({res['empty_configs']} with no rows)"
          + (f" and on the {gh_ran} groupby_agg / histogram cases of {a.gh_configs} configs "
             "that ran (counts equal, sums within rounding)" if gh_json else "")
          + (f"; {n_inexact} {label} idiom(s) INEXACT (float32 min/max), see below"
             if n_inexact else ""))
    print(f"\n== bench_gpu_py summary ({rows:,} rows, backend {a.backend}, device {device})")
    head = f"  {'':<46} {'gpudf':>12} {label:>12} {label + '/gpudf':>12}"
    print(head)
    table_rows = [("filter_agg 1 config", g1["median_s"], c1["median_s"]),
                  (f"filter_agg {k} configs", gk["median_s"], ck["median_s"]),
                  ("upload", g_upload, a_upload)] + gh_rows
    res["summary"] = []
    for what, g, c in table_rows:
        ratio = c / g if g > 0 else math.inf
        res["summary"].append({"what": what, "gpudf_s": g, "baseline_s": c, "ratio": ratio})
        print(f"  {what:<46} {fmt_s(g):>12} {fmt_s(c):>12} {ratio:>11.2f}x")
    print(f"  ({label} column: its fastest variant of {', '.join(base1)}: {best1} for 1 config, "
          f"{bestk} for {k}; for groupby_agg / histogram the variant in brackets; every "
          f"variant's times are above)")
    for r in gh_json:
        for v, why in r["baseline_inexact"].items():
            t = r["baseline_inexact_times"][v]["median_s"]
            print(f"  ({label} {v}, {r['what']}: {fmt_s(t)} but INEXACT, not in the ratio: "
                  f"{why[:160]})")
    benchlib.write_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
