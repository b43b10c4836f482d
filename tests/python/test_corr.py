"""The corr kernel against numpy itself: numpy.corrcoef and numpy.cov (ddof
1) over the rows numpy's own comparison selects, pairs with a NaN dropped
first (pandas' pairwise rule, which the kernel documents). Random and
adversarial data: every filter op, NaN in the filter and value columns,
large offsets, constant columns, float32 and int columns, too few rows.

numpy gets its own mean wrong by an ulp of the offset, which at 1e12 + noise
of 1e-2 moved its corrcoef by 6e-7; correlation does not change when a
constant is subtracted, and x - x[0] is exact for values of one binade
(Sterbenz), so numpy is given the data less their first counted value."""
import math

import numpy as np
import pytest

import gpudf

RNG = np.random.default_rng()
OPS = ["all", "lt", "le", "gt", "ge", "eq", "ne", "between"]


def numpy_mask(f, op, lo, hi):
    """numpy's comparison of the filter column with Python floats (NEP 50:
    a float32 column compares in float32)."""
    if op == "all":
        return np.ones(len(f), bool)
    return {"lt": f < lo, "le": f <= lo, "gt": f > lo, "ge": f >= lo, "eq": f == lo,
            "ne": f != lo, "between": (f >= lo) & (f <= hi)}[op]


def expected(f, x, y, op, lo, hi):
    """(count, corr, cov) as numpy computes them over the counted rows."""
    m = numpy_mask(f, op, lo, hi)
    xs, ys = x[m].astype(np.float64), y[m].astype(np.float64)
    keep = ~np.isnan(xs) & ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    n = len(xs)
    if n < 2:
        return n, math.nan, math.nan
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return n, math.nan, 0.0  # numpy: corrcoef NaN with a warning, cov 0
    xs, ys = xs - xs[0], ys - ys[0]
    return n, np.corrcoef(xs, ys)[0, 1], np.cov(xs, ys, ddof=1)[0, 1]


def check(columns, configs, corr_tol=1e-12, cov_tol=1e-12):
    t = gpudf.Table.from_numpy(columns)
    out = gpudf.run(t, "corr", configs)
    for i, c in enumerate(configs):
        n, r, cov = expected(columns[c["filter_col"]], columns[c["x_col"]],
                             columns[c["y_col"]], c["op"], c["lo"], c.get("hi", 0.0))
        assert out["count"][i] == n, c
        got_r, got_cov = out["corr"][i], out["cov"][i]
        if math.isnan(r):
            assert math.isnan(got_r), (c, got_r)
        else:
            assert abs(got_r - r) <= corr_tol, (c, got_r, r)
        if math.isnan(cov):
            assert math.isnan(got_cov), (c, got_cov)
        else:
            x = columns[c["x_col"]].astype(np.float64)
            y = columns[c["y_col"]].astype(np.float64)
            scale = np.nanstd(x) * np.nanstd(y) + 1e-300
            assert abs(got_cov - cov) <= cov_tol * scale, (c, got_cov, cov)
    return out


def random_configs(filters, values, n, lo_of):
    configs = []
    for i in range(n):
        op = OPS[i % len(OPS)]
        f = filters[i % len(filters)]
        lo, hi = sorted((lo_of(f), lo_of(f)))
        configs.append({"filter_col": f, "op": op, "lo": float(lo), "hi": float(hi),
                        "x_col": values[i % len(values)],
                        "y_col": values[(i * 3 + 1) % len(values)]})
    return configs


def test_random_tables_match_numpy_corrcoef():
    n = 20011
    x = RNG.standard_normal(n) * 5 + 2
    cols = {
        "f": RNG.integers(0, 20, n).astype(np.float64),
        "fnan": np.where(RNG.random(n) < 0.1, np.nan, RNG.standard_normal(n)),
        "f32": RNG.standard_normal(n).astype(np.float32),
        "x": np.where(RNG.random(n) < 0.05, np.nan, x),
        "y": (0.7 * x + RNG.standard_normal(n)).astype(np.float32),
        "i": RNG.integers(-1000, 1000, n).astype(np.int32),
        "big": (RNG.integers(0, 10**6, n) + 10**12).astype(np.int64),
    }
    cols["y"][RNG.random(n) < 0.05] = np.nan

    def lo_of(f):
        v = cols[f][RNG.integers(0, n)]
        return 0.0 if np.isnan(v) else float(v)

    configs = random_configs(["f", "fnan", "f32"], ["x", "y", "i", "big"], 96, lo_of)
    check(cols, configs)


@pytest.mark.parametrize("offset", [1e9, -1e9, 1e12])
def test_large_offsets_with_small_noise(offset):
    n = 5000
    e = RNG.standard_normal(n)
    cols = {"f": np.zeros(n), "x": offset + e * 1e-2,
            "y": offset / 3 + 0.5 * e * 1e-2 + RNG.standard_normal(n) * 1e-3}
    configs = [{"filter_col": "f", "op": "all", "lo": 0.0, "x_col": "x", "y_col": "y"},
               {"filter_col": "f", "op": "all", "lo": 0.0, "x_col": "y", "y_col": "x"}]
    out = check(cols, configs)
    assert 0.9 < out["corr"][0] < 1.0


def test_constant_column_and_too_few_rows():
    f = np.arange(6, dtype=np.float64)
    cols = {"f": f, "x": np.array([1.0, 2, 3, 4, 5, 7]), "c": np.full(6, 3.25),
            "y": np.array([2.0, 1, 4, 3, 6, 5])}
    configs = [{"filter_col": "f", "op": "all", "lo": 0.0, "x_col": "x", "y_col": "c"},
               {"filter_col": "f", "op": "lt", "lo": 0.0, "x_col": "x", "y_col": "y"},
               {"filter_col": "f", "op": "eq", "lo": 3.0, "x_col": "x", "y_col": "y"},
               {"filter_col": "f", "op": "le", "lo": 1.0, "x_col": "x", "y_col": "y"}]
    out = check(cols, configs)
    assert math.isnan(out["corr"][0]) and out["cov"][0] == 0.0
    assert out["count"][1] == 0 and math.isnan(out["corr"][1]) and math.isnan(out["cov"][1])
    assert out["count"][2] == 1 and math.isnan(out["corr"][2])
    assert out["corr"][3] == -1.0


def test_float32_threshold_and_columns():
    n = 4001
    f = RNG.standard_normal(n).astype(np.float32)
    f[::5] = np.float32(0.1)
    x = (1000 + RNG.standard_normal(n)).astype(np.float32)
    y = (x * np.float32(-0.25) + RNG.standard_normal(n).astype(np.float32)).astype(np.float32)
    cols = {"f": f, "x": x, "y": y}
    configs = [{"filter_col": "f", "op": op, "lo": 0.1, "hi": 0.5, "x_col": "x", "y_col": "y"}
               for op in OPS]
    out = check(cols, configs)
    assert out["count"][OPS.index("eq")] == (f == 0.1).sum() == len(f[::5])


def test_categorical_value_column_is_refused_naming_it():
    t = gpudf.Table.from_pandas(__import__("pandas").DataFrame(
        {"x": [1.0, 2.0, 3.0], "label": __import__("pandas").Categorical(["a", "b", "a"])}))
    with pytest.raises(gpudf.Error) as e:
        gpudf.run(t, "corr", [{"filter_col": "x", "op": "all", "x_col": "x",
                               "y_col": "label"}])
    assert "column 'label'" in str(e.value) and "y_col" in str(e.value)
