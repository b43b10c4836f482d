"""gpudf.sweep(..., series=) on long-format panels, against pandas:
groupby(symbol) + rolling per symbol, on random panels with unequal
lengths, interleaved rows, a symbol shorter than the slow window, NaN bars
inside one symbol, and integer symbols; the refusal without series=."""
import numpy as np
import pandas as pd
import pytest

import gpudf

RNG = np.random.default_rng(27)


def panel(lengths, symbols):
    """Rows of every symbol interleaved at random, each symbol in its order;
    prices on a 2^-20 grid (moving averages then compare without ties)."""
    rows = []
    for sym, n in zip(symbols, lengths):
        p = (50 + 100 * len(rows)) * np.exp(np.cumsum(RNG.standard_normal(n) * 0.02))
        p = np.round(p * 2**20) / 2**20
        rows.append(pd.DataFrame({"symbol": [sym] * n, "bar": np.arange(n), "close": p}))
    df = pd.concat(rows, ignore_index=True)
    order = RNG.permutation(len(df))
    # Interleave, then put each symbol's bars back in order in the slots
    # its rows took.
    df = df.iloc[order].reset_index(drop=True)
    for sym in symbols:
        at = df.index[df.symbol == sym]
        df.loc[at, ["bar", "close"]] = df.loc[at].sort_values("bar")[["bar", "close"]].to_numpy()
    return df


def reference(prices, fast, slow, fee_bps, long_short, ppy=252.0):
    """One symbol's backtest with pandas rolling means."""
    p = pd.Series(prices).ffill().dropna().to_numpy()
    s = pd.Series(p)
    f, w = s.rolling(fast).mean().to_numpy(), s.rolling(slow).mean().to_numpy()
    sig = np.where(f > w, 1.0, -1.0 if long_short else 0.0)
    sig[: slow - 1] = 0.0
    steps = len(p) - 1
    prev = np.concatenate([[0.0], sig[: steps - 1]])
    r = sig[:steps] * (p[1:] / p[:-1] - 1) - fee_bps / 1e4 * np.abs(sig[:steps] - prev)
    sd = r.std(ddof=1) if steps >= 2 else 0.0
    return {"total_return": np.prod(1 + r) - 1,
            "sharpe": r.mean() / sd * np.sqrt(ppy) if sd > 0 else np.nan,
            "trades": float(np.sum(sig[:steps] != prev)),
            "exposure": float(np.mean(sig[:steps] != 0))}


def table(df):
    src = df[["symbol", "close"]].copy()
    if not pd.api.types.is_integer_dtype(src.symbol):
        src["symbol"] = src.symbol.astype("category")
    return gpudf.Table.from_pandas(src)


def check(df, symbols, workers):
    t = table(df)
    cfg = gpudf.grid(fast=[3, 5], slow=[10, 20], mode=["long_only", "long_short"], fee_bps=[2])
    out = gpudf.sweep(t, "ma_crossover", cfg, workers=workers, series="symbol")
    assert len(out) == 8 * len(symbols)
    assert sorted(set(out.series)) == sorted(str(s) for s in symbols)
    groups = {str(k): g.close.to_numpy() for k, g in df.groupby("symbol", sort=False)}
    for _, row in out.iterrows():
        prices = groups[row.series]
        if len(prices) < row.slow:
            assert row.status == "failed" and "fewer than parameter 'slow'" in row.error
            assert np.isnan(row.sharpe)
            continue
        assert row.status == "ok", row.error
        want = reference(prices, int(row.fast), int(row.slow), row.fee_bps,
                         row["mode"] == "long_short")
        assert row.trades == want["trades"] and row.exposure == want["exposure"]
        assert row.total_return == pytest.approx(want["total_return"], rel=1e-10, abs=1e-12)
        if np.isnan(want["sharpe"]):
            assert np.isnan(row.sharpe)
        else:
            assert row.sharpe == pytest.approx(want["sharpe"], rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("workers", [0, 2])
def test_each_symbol_of_an_interleaved_panel_matches_pandas_groupby_rolling(workers):
    syms = ["AAA", "BBB", "CCC", "DDD"]
    df = panel([200, 130, 15, 90], syms)  # CCC is shorter than slow = 20
    bbb = df.index[df.symbol == "BBB"]
    df.loc[bbb[[0, 7, 8, 40]], "close"] = np.nan  # NaN bars, the first one too
    check(df, syms, workers)


def test_integer_symbols_are_series():
    df = panel([60, 45, 80], [1000, -3, 7])
    check(df, [1000, -3, 7], 0)


def test_a_long_table_without_series_is_refused_naming_the_column():
    df = panel([60, 60], ["A", "B"]).sort_values("symbol", kind="stable")
    t = table(df)
    cfg = gpudf.grid(fast=[3], slow=[10])
    with pytest.raises(gpudf.Error, match="column 'symbol'.*series='symbol'"):
        gpudf.sweep(t, "ma_crossover", cfg, workers=0)
    # series="none": one series, as before.
    out = gpudf.sweep(t, "ma_crossover", cfg, workers=0, series="none")
    assert len(out) == 1 and "series" not in out.columns
