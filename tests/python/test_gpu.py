"""The device placements from Python: a DataFrame shared with
backend="cuda-ipc" (and "cuda-pinned"), attached by name in spawn Pool
workers that run filter_agg on the device, and gpudf.sweep on cuda-ipc; all
against the same kernel run on a plain cpu table in this process.

Needs a CUDA build of libgpudf and a device: without cuda-ipc in
gpudf.backends() the whole module is skipped, with the library's reason.
(GPUDF_SIMULATE_DEVICE=1 runs it against the simulated device too.)

Bounds: count, min and max equal exactly; sum within 1e-12 x the sum of the
magnitudes of the values summed (bounded here by count x max(|min|, |max|)),
mean within that over count; std within 1e-9 relative. NaN where the
reference is NaN (no rows; one row for std).
"""
import multiprocessing as mp
import os

import numpy as np
import pandas as pd
import pytest

import gpudf
from gpudf._ffi import ffi, lib

_CODES = {"cuda-ipc": lib.GPUDF_BACKEND_CUDA_IPC, "cuda-pinned": lib.GPUDF_BACKEND_CUDA_PINNED}


def unavailable(backend):
    """None when backend works here, else the library's reason."""
    why = ffi.new("const char **")
    if lib.gpudf_backend_available(_CODES[backend], why):
        return None
    return ffi.string(why[0]).decode(errors="replace") if why[0] != ffi.NULL else "no reason given"


if "cuda-ipc" not in gpudf.backends():
    pytest.skip(f"no cuda-ipc placement here: {unavailable('cuda-ipc')}", allow_module_level=True)

FIELDS = ["count", "sum", "mean", "min", "max", "std"]
OPS = ["all", "lt", "le", "gt", "ge", "eq", "ne", "between"]
RNG = np.random.default_rng(20261126)


def table_backend(table):
    return ffi.string(lib.gpudf_backend_name(lib.gpudf_table_backend(table._ptr))).decode()


def frame(n=300_007):
    """Odd row count (a partial last tile), NaN values in v and in the filter
    column x, and an i32 and an f32 column as filter and value columns."""
    x = RNG.uniform(-100.0, 100.0, n)
    x[RNG.random(n) < 0.001] = np.nan
    v = 1000.0 + 50.0 * RNG.standard_normal(n)
    v[RNG.random(n) < 0.01] = np.nan
    return pd.DataFrame({"x": x, "v": v,
                         "k": RNG.integers(-50, 50, n, dtype=np.int32),
                         "f": RNG.standard_normal(n).astype(np.float32)})


def configs():
    out = []
    for fcol in ["x", "k"]:
        for vcol in ["v", "f", "k"]:
            for op in OPS:
                for lo in [-30.0, 0.0, 17.0, 250.0]:  # 250: no rows for gt/ge/eq/between
                    hi = lo + 20.0 if op == "between" else 0.0
                    out.append({"filter_col": fcol, "op": op, "lo": lo, "hi": hi,
                                "value_col": vcol})
    return out


def results(out):
    return out[FIELDS].to_numpy(dtype=np.float64)


def assert_same(got, want, cfgs, what):
    assert got.shape == want.shape, what
    for i, c in enumerate(cfgs):
        g, w = got[i], want[i]
        n = w[0]
        mag = n * max(abs(w[3]), abs(w[4])) if n > 0 else 0.0
        msg = f"{what}: config {i} {c}: got {g.tolist()}, want {w.tolist()}"
        np.testing.assert_array_equal(g[[0, 3, 4]], w[[0, 3, 4]], err_msg=msg)
        np.testing.assert_allclose(g[1], w[1], rtol=0, atol=1e-12 * mag, err_msg=msg)
        np.testing.assert_allclose(g[2], w[2], rtol=0, atol=1e-12 * (mag / n if n else 0.0),
                                   equal_nan=True, err_msg=msg)
        np.testing.assert_allclose(g[5], w[5], rtol=1e-9, atol=0, equal_nan=True, err_msg=msg)


def cpu_reference(df, cfgs):
    """filter_agg on an unshared table: the CPU kernel."""
    ref = gpudf.Table.from_pandas(df)
    assert table_backend(ref) == "cpu"
    return results(gpudf.run(ref, "filter_agg", cfgs))


def _worker_run(args):
    """In a spawn worker: attach by name, run on whatever the view uses."""
    name, cfgs = args
    with gpudf.attach(name) as view:
        placed = table_backend(view)
        out = results(gpudf.run(view, "filter_agg", cfgs))
    return os.getpid(), placed, out


@pytest.mark.parametrize("backend", ["cuda-ipc", "cuda-pinned"])
def test_share_attached_in_spawn_workers(backend):
    if unavailable(backend):
        pytest.skip(f"{backend}: {unavailable(backend)}")
    df = frame()
    cfgs = configs()
    # A row value of x as lo: eq passes exactly that row (std NaN, count 1).
    cfgs.append({"filter_col": "x", "op": "eq", "lo": float(df.x.iloc[12345]), "hi": 0.0,
                 "value_col": "v"})
    want = cpu_reference(df, cfgs)
    t = gpudf.Table.from_pandas(df)
    chunks = [cfgs[i::4] for i in range(4)]
    with t.share(backend=backend) as s:
        assert s.backend == backend
        assert table_backend(t) == backend
        own = results(gpudf.run(t, "filter_agg", cfgs))  # the owner's device copy
        with mp.get_context("spawn").Pool(2) as pool:
            got = pool.map(_worker_run, [(s.name, c) for c in chunks], chunksize=1)
    assert_same(own, want, cfgs, f"owner on {backend}")
    for i, (pid, placed, out) in enumerate(got):
        assert pid != os.getpid()
        assert placed == backend, f"worker {pid} attached with {placed}, not {backend}"
        assert_same(out, want[i::4], chunks[i], f"spawn worker {pid} on {placed}")
    assert want[:, 0].max() > 1000 and (want[:, 0] == 0).any() and (want[:, 0] == 1).any()


def test_sweep_on_cuda_ipc_matches_cpu_run():
    df = frame(200_003)
    cfgs = pd.DataFrame(configs())
    want = cpu_reference(df, cfgs)
    t = gpudf.Table.from_pandas(df)
    out = gpudf.sweep(t, "filter_agg", cfgs, workers=2, backend="cuda-ipc")
    rep = out.attrs["report"]
    assert (out.status == "ok").all(), out[out.status != "ok"].error.unique()[:5]
    assert rep["backend"] == "cuda-ipc" and rep["done"] == len(cfgs)
    assert rep["workers"] == 2 and rep["workers_lost"] == 0
    assert_same(results(out), want, cfgs.to_dict("records"), "sweep, 2 workers, cuda-ipc")


def test_sweep_over_a_cuda_ipc_share_matches_cpu_run():
    df = frame(100_001)
    cfgs = pd.DataFrame(configs())
    want = cpu_reference(df, cfgs)
    t = gpudf.Table.from_pandas(df)
    with t.share(backend="cuda-ipc") as s:
        for workers in (0, 2):
            out = gpudf.sweep(s, "filter_agg", cfgs, workers=workers, backend="cuda-ipc")
            assert (out.status == "ok").all()
            if workers:  # (with workers=0 the C report says cpu whatever the placement)
                assert out.attrs["report"]["backend"] == "cuda-ipc"
            assert_same(results(out), want, cfgs.to_dict("records"),
                        f"sweep over the share, workers={workers}")


def test_series_sweep_on_cuda_ipc_matches_cpu_and_pandas():
    """A long panel's series sweep on cuda-ipc (configs x series in one
    launch per claim) against the same sweep on the cpu and pandas rolling
    means per symbol: interleaved rows, unequal lengths, NaN bars, a symbol
    shorter than slow (its rows fail on both, with the same reason)."""
    from test_sweep_series import panel, reference, table
    syms = ["AAA", "BBB", "CCC", "DDD"]
    df = panel([300, 170, 15, 240], syms)
    bbb = df.index[df.symbol == "BBB"]
    df.loc[bbb[[0, 7, 8, 40]], "close"] = np.nan
    cfg = gpudf.grid(fast=[3, 5, 8], slow=[10, 20, 40], mode=["long_only", "long_short"],
                     fee_bps=[2])
    dev = gpudf.sweep(table(df), "ma_crossover", cfg, workers=0, backend="cuda-ipc",
                      series="symbol")
    cpu = gpudf.sweep(table(df), "ma_crossover", cfg, workers=0, backend="cpu",
                      series="symbol")
    assert dev.attrs["report"]["backend"] == "cuda-ipc"
    assert list(dev.status) == list(cpu.status) and list(dev.error) == list(cpu.error)
    ok = dev.status == "ok"
    for f in ["trades", "exposure"]:
        np.testing.assert_array_equal(dev[f][ok], cpu[f][ok])
    for f in ["total_return", "sharpe", "max_drawdown"]:
        np.testing.assert_allclose(dev[f][ok], cpu[f][ok], rtol=1e-12, atol=1e-14)
    groups = {k: g.close.to_numpy() for k, g in df.groupby("symbol", sort=False)}
    for _, row in dev[ok].iterrows():
        want = reference(groups[row.series], int(row.fast), int(row.slow), row.fee_bps,
                         row["mode"] == "long_short")
        assert row.trades == want["trades"]
        assert row.total_return == pytest.approx(want["total_return"], rel=1e-10, abs=1e-12)
