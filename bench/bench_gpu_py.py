#!/usr/bin/env python3
"""bench_gpu_py.py - gpudf's filter_agg on the device against CuPy doing the
same work on the same data, in one run, with the answers checked.

Data: two float64 columns, x uniform in [-100, 100) and v = 1000 + 50 * a
normal draw with 0.1% NaN (seeded, the same for both sides). One config is
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

Times are medians of >= 5 runs (1 config) and >= 3 runs (K configs) after a
warm-up, with min..max; the CuPy side synchronizes the device before each
clock read. Device memory comes from cudaMemGetInfo (free bytes before and
after the share, and after CuPy's upload) and CuPy's memory pool.

    GPUDF_LIBRARY=<build>/libgpudf.so GPUDF_HEADER=include/gpudf.h PYTHONPATH=python \\
        python3 bench/bench_gpu_py.py [--rows N] [--configs K] [--json PATH]
        [--backend cuda-ipc|cuda-pinned|cpu] [--xp auto|cupy|numpy]

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

    def upload(self, x, v):
        """The columns onto the device; returns seconds."""
        self.sync()
        t0 = time.perf_counter()
        self.x = self.xp.asarray(x)
        self.v = self.xp.asarray(v)
        self.sync()
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

def timeit(fn, reps, sync=None):
    """One warm-up, then reps timed calls; (stats, last result)."""
    out = fn()
    times = []
    for _ in range(reps):
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

    print(f"bench_gpu_py: {rows:,} rows x 2 f64 columns ({rows * 16 / 1e9:.2f} GB), "
          f"K = {k} configs; gpudf {gpudf.__version__} backend {a.backend} vs {label} "
          f"{side.xp.__version__}; device: {device}", flush=True)

    # ---- data: one set of numpy columns, copied once into the gpudf table,
    # whose shared-memory columns then feed the baseline (no third copy).
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    x = rng.uniform(-100.0, 100.0, rows)
    v = 1000.0 + 50.0 * rng.standard_normal(rows)
    v[rng.random(rows) < 0.001] = np.nan
    try:
        table = gpudf.Table.from_numpy({"x": x, "v": v})
    except gpudf.Error as e:
        print(f"bench_gpu_py: cannot build the table: {e}")
        return 1
    del x, v
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
    a_upload = side.upload(table.column("x"), table.column("v"))
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

    print(f"answers: gpudf and every {label} variant agree on all {1 + k} configs "
          f"({res['empty_configs']} with no rows)")
    print(f"\n== bench_gpu_py summary ({rows:,} rows, backend {a.backend}, device {device})")
    head = f"  {'':<26} {'gpudf':>12} {label:>12} {label + '/gpudf':>12}"
    print(head)
    table_rows = [("filter_agg 1 config", g1["median_s"], c1["median_s"]),
                  (f"filter_agg {k} configs", gk["median_s"], ck["median_s"]),
                  ("upload", g_upload, a_upload)]
    res["summary"] = []
    for what, g, c in table_rows:
        ratio = c / g if g > 0 else math.inf
        res["summary"].append({"what": what, "gpudf_s": g, "baseline_s": c, "ratio": ratio})
        print(f"  {what:<26} {fmt_s(g):>12} {fmt_s(c):>12} {ratio:>11.2f}x")
    print(f"  ({label} column: its fastest variant of {', '.join(base1)}: {best1} for 1 config, "
          f"{bestk} for {k}; every variant's times are above)")
    benchlib.write_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
