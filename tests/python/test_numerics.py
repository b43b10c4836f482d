"""The kernels' numerics against numpy and pandas themselves: comparisons in
the filter column's type (numpy >= 2, NEP 50), infinities and overflow in
sums, std's accuracy, numpy.histogram's bins and refusals, bootstrap of no
values. Every expectation is computed here by numpy, pandas or exact
(fractions) arithmetic."""
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import gpudf

RNG = np.random.default_rng()
OPS = ["lt", "le", "gt", "ge", "eq", "ne", "between"]


def numpy_mask(x, op, lo, hi):
    """numpy's own comparison of the array x with Python floats lo and hi."""
    with np.errstate(over="ignore"):  # 1e300 -> float32 inf, as numpy warns
        return {"lt": x < lo, "le": x <= lo, "gt": x > lo, "ge": x >= lo, "eq": x == lo,
                "ne": x != lo, "between": (x >= lo) & (x <= hi)}[op]


def check_filters(x, thresholds):
    v = np.arange(len(x), dtype=np.float64)
    t = gpudf.Table.from_numpy({"x": x, "v": v})
    configs = []
    for i, lo in enumerate(thresholds):
        op = OPS[i % len(OPS)]
        hi = thresholds[(i * 7 + 3) % len(thresholds)]
        if op == "between" and not lo <= hi:
            lo, hi = min(lo, hi), max(lo, hi)
        configs.append({"filter_col": "x", "op": op, "lo": float(lo), "hi": float(hi),
                        "value_col": "v"})
    for batch in (configs, configs[:5]):  # buckets (many configs on one pair) and tiles
        out = gpudf.run(t, "filter_agg", batch)
        for i, c in enumerate(batch):
            m = numpy_mask(x, c["op"], c["lo"], c["hi"])
            assert out["count"][i] == m.sum(), c
            assert out["sum"][i] == v[m].sum(), c


def test_float32_filter_compares_as_numpy():
    x = np.array([0.1, 0.2, 0.3, 1.0], np.float32)
    t = gpudf.Table.from_numpy({"x": x, "v": np.ones(4)})
    out = gpudf.run(t, "filter_agg", [{"filter_col": "x", "op": "eq", "lo": 0.1,
                                       "value_col": "v"}])
    assert out["count"][0] == (x == 0.1).sum() == 1
    r = RNG.standard_normal(3000).astype(np.float32)
    r[::50] = np.nan
    r[1::70] = np.float32(np.finfo(np.float32).max)
    r[2::90] = np.float32(np.finfo(np.float32).smallest_subnormal)
    picks = [float(a) for a in r[RNG.integers(0, len(r), 60)] if not np.isnan(a)]
    thresholds = picks + [np.nextafter(a, math.inf) for a in picks] + \
        [np.nextafter(a, -math.inf) for a in picks] + \
        [0.1, 0.3, 1e300, -1e300, 1e-50, -1e-50, 3.5e38, 1e-45, 7e-46, 0.0,
         float(np.finfo(np.float32).max) * (1 + 2.0 ** -25)]  # the tie: rounds to inf
    check_filters(r, thresholds)


def test_int64_filter_compares_as_numpy():
    """numpy compares int64 with a Python float in float64: 2^53 + 1 == 2.0**53."""
    base = np.array([2**53 + 1, 2**53, 2**53 - 1, 2**63 - 1, -2**63, 0, 7], np.int64)
    x = np.concatenate([base, RNG.integers(-2**62, 2**62, 500), 2**53 + RNG.integers(-9, 9, 200)])
    thresholds = [2.0**53, 2.0**53 + 2, 2.0**63, -2.0**63, 9.223372036854775e18, 0.5, 7.0] + \
        [float(a) for a in x[RNG.integers(0, len(x), 40)]]
    check_filters(x, thresholds)


def run1(values, kernel="filter_agg", **params):
    t = gpudf.Table.from_numpy({"v": np.asarray(values, np.float64)})
    cfg = {"filter_col": "v", "op": "all", "value_col": "v"} if kernel == "filter_agg" else {}
    cfg.update(params)
    return gpudf.run(t, kernel, [cfg])


def test_infinities_and_overflow_as_numpy_and_pandas():
    with np.errstate(over="ignore", invalid="ignore"):
        for vals in ([np.inf, 1e308, -1e308, 1.0], [-np.inf, 5.0], [np.inf, -np.inf, 1.0],
                     [1e308, 1e308, -1e308], [1e308, -1e308, 1e308, -1e308, 2.0]):
            out = run1(vals)
            exact = [Fraction(v) for v in vals if math.isfinite(v)]
            infs = {v for v in vals if math.isinf(v)}
            want = (math.nan if len(infs) == 2 else next(iter(infs)) if infs
                    else float(sum(exact)))
            assert out["sum"][0] == want or (math.isnan(want) and math.isnan(out["sum"][0]))
            if not infs:
                assert out["mean"][0] == float(sum(exact) / len(exact))
            if infs or np.isfinite(np.sum(vals)):  # numpy's order overflows nowhere here
                np.testing.assert_equal(out["sum"][0], np.sum(vals))
        # pandas: std of [1e308, 1e308, -1e308] is inf (squares overflow), not NaN
        assert run1([1e308, 1e308, -1e308])["std"][0] == pd.Series([1e308, 1e308, -1e308]).std()
        assert math.isnan(run1([np.inf, 1.0, 2.0])["std"][0])
        assert math.isnan(pd.Series([np.inf, 1.0, 2.0]).std())


def exact_std(vals):
    xs = [Fraction(float(v)) for v in vals]
    mean = sum(xs) / len(xs)
    return math.sqrt(float(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)))


@pytest.mark.parametrize("n", [1000, 20000])
def test_std_of_a_large_mean_with_a_tiny_spread(n):
    vals = 1e8 + RNG.uniform(-1e-6, 1e-6, n)
    want = exact_std(vals)
    got = run1(vals)["std"][0]
    assert abs(got - want) <= 1e-9 * want, (got, want, pd.Series(vals).std())


def test_histogram_bins_values_next_to_every_edge_as_numpy():
    for _ in range(100):
        bins = int(RNG.integers(1, 40))
        lo = float(RNG.uniform(-1, 1) * 10.0 ** RNG.integers(-5, 9))
        hi = lo + float(RNG.uniform(0.001, 2) * 10.0 ** RNG.integers(-5, 5))
        edges = np.histogram_bin_edges([], bins, (lo, hi))
        vals = np.concatenate([np.nextafter(edges, -np.inf), edges, np.nextafter(edges, np.inf)])
        t = gpudf.Table.from_numpy({"v": vals})
        out = gpudf.run(t, "histogram", [{"filter_col": "v", "col": "v", "bins": bins,
                                          "range_lo": lo, "range_hi": hi}])
        want, _ = np.histogram(vals, bins, (lo, hi))
        got = out.iloc[0, -(bins + 2):].to_numpy()
        np.testing.assert_array_equal(got[:bins], want, err_msg=f"{bins} bins [{lo}, {hi}]")
        assert got[bins] == (vals < lo).sum() and got[bins + 1] == (vals > hi).sum()


def test_histogram_refuses_ranges_numpy_refuses():
    t = gpudf.Table.from_numpy({"v": np.zeros(3)})
    cases = [(3, -5e-324, 5e-324), (1000, 1.0, 1.0 + 2.0**-45), (4, 1e8, np.nextafter(1e8, 2e8))]
    for bins, lo, hi in cases + [(3, 0.0, 1.0), (10, 1.0, 1.0 + 2.0**-40)]:
        try:
            np.histogram([0.0], bins, (lo, hi))
            numpy_ok = True
        except ValueError:
            numpy_ok = False
        cfg = [{"filter_col": "v", "col": "v", "bins": bins, "range_lo": lo, "range_hi": hi}]
        if numpy_ok:
            gpudf.run(t, "histogram", cfg)
        else:
            with pytest.raises(gpudf.Error, match="'bins'"):
                gpudf.run(t, "histogram", cfg)
    assert sum(1 for b, lo, hi in cases) == 3


def test_bootstrap_of_no_values_is_nan_for_every_stat():
    t = gpudf.Table.from_numpy({"v": np.full(4, np.nan)})
    out = gpudf.run(t, "bootstrap", [{"col": "v", "seed": 1, "stat": s}
                                     for s in ("mean", "std", "sum")])
    assert out["value"].isna().all()
