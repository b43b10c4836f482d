"""What a newcomer meets first: the module's names, grid() with the kernel
first, readable reprs, run() with one dict, and the gpudf-sweep command that
pip installs. References: itertools.product, numpy over the same rows."""
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gpudf


def test_public_names_are_gpudfs_own():
    names = dir(gpudf)
    for imported in ("np", "os", "weakref", "ffi", "lib"):
        assert imported not in names
    for name in gpudf.__all__:
        assert hasattr(gpudf, name), name
    assert "load_plugin" in gpudf.__all__


def test_grid_takes_the_kernel_first():
    g = gpudf.grid("filter_agg", op=["gt", "lt"], lo=[1.5, 2, 7])
    want = list(itertools.product(["gt", "lt"], [1.5, 2, 7]))
    assert list(g.itertuples(index=False, name=None)) == want
    g = gpudf.grid("ma_crossover", fast=range(5, 30, 5), slow=[10, 20], where="fast < slow")
    want = [(f, s) for f in range(5, 30, 5) for s in (10, 20) if f < s]
    assert list(g.itertuples(index=False, name=None)) == want
    with pytest.raises(gpudf.Error, match="'opp'|opp"):
        gpudf.grid("filter_agg", opp=[1, 2])
    with pytest.raises(gpudf.Error):
        gpudf.grid("no_such_kernel", where="a < b", a=[1])
    # The older call, where first, still works.
    assert len(gpudf.grid("a < b", a=[1, 2, 3], b=[2])) == 1


def test_repr_and_describe_read_well():
    df = pd.DataFrame({"v": [1.0, 2.0], "side": pd.Categorical(["buy", "sell"])})
    t = gpudf.Table.from_pandas(df)
    assert "side: category" in repr(t) and "int32" not in repr(t)
    for name in gpudf.kernels():
        info = gpudf.describe(name)
        assert info["name"] == name and info["params"]  # still a dict
        text = repr(info)
        assert "e-308" not in text and "e+09" not in text
        for p in info["params"]:
            assert p["name"] in text


def test_run_with_one_dict_and_a_typo():
    rng = np.random.default_rng(8)
    v = rng.normal(size=5000)
    t = gpudf.Table.from_numpy({"v": v})
    out = gpudf.run(t, "filter_agg", {"filter_col": "v", "op": "gt", "lo": 0.25, "value_col": "v"})
    assert len(out) == 1
    sel = v[v > 0.25]
    assert out["count"][0] == len(sel)
    assert out["sum"][0] == pytest.approx(float(np.sum(sel)), rel=1e-12)
    with pytest.raises(gpudf.Error, match="opp"):
        gpudf.run(t, "filter_agg", {"opp": "gt"})


def _installed_cli():
    """The gpudf-sweep script pip put next to this Python, if any."""
    script = Path(sys.executable).parent / "gpudf-sweep"
    return script if script.exists() else None


@pytest.mark.skipif(_installed_cli() is None, reason="gpudf not pip-installed here")
def test_pip_install_gives_the_cli(tmp_path):
    exe = str(_installed_cli())
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "GPUDF_WORKER", "GPUDF_LIBRARY", "GPUDF_HEADER")}
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith("gpudf-sweep "), r.stderr
    # Worker processes too: found in the package, next to the library.
    r = subprocess.run([exe, "--synthetic", "5000", "--grid", "fast=5,10 slow=20", "--workers", "2",
                        "--backend", "cpu", "--quiet", "--out", "-"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(",ok,") == 2, r.stdout


def test_plot_draws_what_gpudf_sweep_plot_draws():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    rng = np.random.default_rng(3)
    t = gpudf.Table.from_numpy({"price": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))})
    configs = gpudf.grid("ma_crossover", fast=[3, 5, 8], slow=[20, 40], fee_bps=[0, 1])
    result = gpudf.run(t, "ma_crossover", configs)
    ax = gpudf.plot(result, "ma_crossover")
    # Reference: a plain loop, best sharpe per (fast, slow) over fee_bps.
    want = np.full((3, 2), -np.inf)
    for f, s, v in zip(result["fast"], result["slow"], result["sharpe"]):
        i, j = [3, 5, 8].index(f), [20, 40].index(s)
        want[i, j] = max(want[i, j], v)
    assert np.array_equal(np.asarray(ax.images[0].get_array()), want)
    assert ax.get_xlabel() == "slow" and ax.get_ylabel() == "fast"
    assert "best over the other parameters" in ax.get_title()
    (best,) = [p for p in ax.patches if p.get_edgecolor()[0] == 1.0]
    i, j = np.unravel_index(np.argmax(want), want.shape)
    assert best.get_xy() == (j - 0.5, i - 0.5)
    # One swept parameter: a line of the best per value.
    result = gpudf.run(t, "ma_crossover", gpudf.grid("ma_crossover", fast=[3, 5, 8], slow=40))
    ax = gpudf.plot(result, "ma_crossover", metric="total_return")
    assert list(ax.lines[0].get_ydata()) == list(result["total_return"])
    with pytest.raises(gpudf.Error, match="nope"):
        gpudf.plot(result, "ma_crossover", metric="nope")
