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
            assert row.sharpe == pytest.approx(want["sharpe"], rel=1e-8, abs=1e-12, nan_ok=True)


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


def dated_panel(lengths, symbols, fmt="%Y-%m-%d"):
    """A panel with a date per bar (a business-day calendar from a date of
    each symbol's own), the rows ORDER BY date, symbol, then each symbol's
    (date, close) pairs shuffled among its rows: only --time puts them back
    in order."""
    frames = []
    for q, (sym, n) in enumerate(zip(symbols, lengths)):
        start = pd.Timestamp("2020-01-01") + pd.offsets.BDay(7 * q)
        dates = pd.bdate_range(start, periods=n)
        p = (50 + 30 * q) * np.exp(np.cumsum(RNG.standard_normal(n) * 0.02))
        p = np.round(p * 2**20) / 2**20
        frames.append(pd.DataFrame({"symbol": sym, "date": dates, "close": p}))
    ordered = pd.concat(frames, ignore_index=True).sort_values(["date", "symbol"],
                                                               kind="stable")
    ordered = ordered.reset_index(drop=True)
    shuffled = ordered.copy()
    for sym in symbols:
        at = shuffled.index[shuffled.symbol == sym]
        shuffled.loc[at, ["date", "close"]] = \
            shuffled.loc[RNG.permutation(at), ["date", "close"]].to_numpy()
    shuffled["date"] = pd.to_datetime(shuffled.date).dt.strftime(fmt)
    return ordered, shuffled


def time_table(df):
    src = df[["symbol", "date", "close"]].copy()
    src["symbol"] = src.symbol.astype("category")
    src["date"] = src.date.astype("category")
    return gpudf.Table.from_pandas(src)


@pytest.mark.parametrize("workers", [0, 2])
def test_time_orders_iso_dates_shuffled_within_each_symbol(workers):
    syms = ["AAA", "BBB", "CCC"]
    ordered, shuffled = dated_panel([150, 90, 12], syms)  # CCC shorter than slow
    cfg = gpudf.grid(fast=[3, 5], slow=[10, 20], mode=["long_only", "long_short"], fee_bps=[2])
    out = gpudf.sweep(time_table(shuffled), "ma_crossover", cfg, workers=workers,
                      series="symbol", time="date")
    groups = {k: g.sort_values("date").close.to_numpy() for k, g in ordered.groupby("symbol")}
    assert len(out) == 8 * len(syms)
    for _, row in out.iterrows():
        prices = groups[row.series]
        if len(prices) < row.slow:
            assert row.status == "failed" and "fewer than parameter 'slow'" in row.error
            continue
        want = reference(prices, int(row.fast), int(row.slow), row.fee_bps,
                         row["mode"] == "long_short")
        assert row.status == "ok", row.error
        assert row.trades == want["trades"]
        assert row.total_return == pytest.approx(want["total_return"], rel=1e-10, abs=1e-12)
        assert row.sharpe == pytest.approx(want["sharpe"], rel=1e-8, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float64", "float32"])
def test_a_numeric_time_column_orders_rows_as_iso_dates_do(dtype):
    ordered, shuffled = dated_panel([80, 60], ["A", "B"])
    num = shuffled.copy()
    days = (pd.to_datetime(num.date) - pd.Timestamp("2020-03-01")).dt.days  # negative ones too
    num["date"] = (days + (0.25 if dtype.startswith("float") else 0)).astype(dtype)
    src = num[["symbol", "date", "close"]].copy()
    src["symbol"] = src.symbol.astype("category")
    cfg = gpudf.grid(fast=[3, 4], slow=[10])
    a = gpudf.sweep(gpudf.Table.from_pandas(src), "ma_crossover", cfg, workers=0,
                    series="symbol", time="date")
    b = gpudf.sweep(time_table(shuffled), "ma_crossover", cfg, workers=0, series="symbol",
                    time="date")
    assert (a.status == "ok").all()
    np.testing.assert_array_equal(a.sharpe.to_numpy(), b.sharpe.to_numpy())


@pytest.mark.parametrize("fmt", ["%m/%d/%Y", "%d.%m.%Y", "%b %d %Y"])
def test_a_date_column_in_another_format_is_refused_saying_which_works(fmt):
    _, shuffled = dated_panel([40, 40], ["A", "B"], fmt=fmt)
    cfg = gpudf.grid(fast=[3], slow=[10])
    with pytest.raises(gpudf.Error, match=r"column 'date'.*not an ISO-8601 date.*YYYY-MM-DD"):
        gpudf.sweep(time_table(shuffled), "ma_crossover", cfg, workers=0, series="symbol",
                    time="date")


def test_time_without_series_is_refused():
    _, shuffled = dated_panel([40, 40], ["A", "B"])
    with pytest.raises(gpudf.Error, match="needs series"):
        gpudf.sweep(time_table(shuffled), "ma_crossover", gpudf.grid(fast=[3], slow=[10]),
                    workers=0, series="none", time="date")


def test_aggregates_across_series_match_pandas():
    syms = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    df = panel([120, 90, 15, 70, 60], syms)  # CCC fails slow = 20
    cfg = gpudf.grid(fast=[3, 5], slow=[10, 20], mode=["long_only", "long_short"])
    out = gpudf.sweep(table(df), "ma_crossover", cfg, workers=0, series="symbol")
    summary = out.attrs["summary"]
    assert len(summary) == 8
    keys = ["fast", "slow", "mode"]
    ok = out[out.status == "ok"]
    fin = ok[np.isfinite(ok.sharpe)]
    want = pd.DataFrame({
        "mean_sharpe": fin.groupby(keys, sort=False).sharpe.mean(),
        "median_sharpe": fin.groupby(keys, sort=False).sharpe.median(),
        "positive": ok.groupby(keys, sort=False).total_return.apply(lambda r: (r > 0).mean()),
        "series_ok": ok.groupby(keys, sort=False).size()}).reset_index()
    got = summary.merge(want, on=keys, suffixes=("", "_want"))
    assert len(got) == 8
    for f in ["mean_sharpe", "median_sharpe", "positive"]:
        np.testing.assert_allclose(got[f], got[f + "_want"], rtol=1e-12)
    assert (got.series_ok == got.series_ok_want).all() and (got.series == 5).all()
    # slow = 20 leaves CCC (15 bars) out of those configs' aggregates.
    assert set(summary[summary.slow == 20].series_ok) == {4}


def test_an_export_ordered_by_date_then_symbol_is_refused_naming_the_symbol_column():
    ordered, _ = dated_panel([60, 45, 50], ["AAA", "BBB", "CCC"])
    t = time_table(ordered)  # date labels come in runs but are ISO dates: a time
    with pytest.raises(gpudf.Error, match="column 'symbol'.*series='symbol'"):
        gpudf.sweep(t, "ma_crossover", gpudf.grid(fast=[3], slow=[10]), workers=0)


def bar_returns(prices, fast, slow, fee_bps, long_short):
    """One symbol's net return per bar (the bar the step ends on), from its
    first finite price on, with pandas rolling means: the index are the
    positions in prices."""
    s = pd.Series(prices).ffill()
    s = s[s.notna().to_numpy()]
    p = s.to_numpy()
    f = s.rolling(fast).mean().to_numpy()
    w = s.rolling(slow).mean().to_numpy()
    sig = np.where(f > w, 1.0, -1.0 if long_short else 0.0)
    sig[: slow - 1] = 0.0
    prev = np.concatenate([[0.0], sig[:-2]])
    r = sig[:-1] * (p[1:] / p[:-1] - 1) - fee_bps / 1e4 * np.abs(sig[:-1] - prev)
    return pd.Series(r, index=s.index[1:])


def portfolio_reference(ordered, fast, slow, fee_bps, long_short, ppy=252.0):
    """The equal-weight portfolio: per symbol its bar returns on its own
    rows (in date order), pivoted on the date (a column per symbol, NaN where
    a symbol has no bar), the mean across the symbols that have one; symbols
    too short for slow are left out."""
    cols = {}
    for sym, g in ordered.groupby("symbol"):
        g = g.sort_values("date")
        if g.close.notna().sum() < slow:
            continue
        r = bar_returns(g.close.to_numpy(), fast, slow, fee_bps, long_short)
        cols[sym] = pd.Series(r.to_numpy(), index=g.date.to_numpy()[r.index])
    wide = pd.DataFrame(cols).sort_index()
    P = wide.mean(axis=1, skipna=True).dropna()
    sd = P.std(ddof=1)
    return (np.prod(1 + P.to_numpy()) - 1,
            P.mean() / sd * np.sqrt(ppy) if len(P) >= 2 and sd > 0 else np.nan, len(P))


@pytest.mark.parametrize("workers", [0, 2])
def test_equal_weight_portfolio_matches_pandas_pivot_on_dates(workers):
    syms = ["AAA", "BBB", "CCC", "DDD"]
    ordered, shuffled = dated_panel([150, 90, 12, 110], syms)  # CCC shorter than slow = 20
    # DDD misses some days (gaps in its calendar); BBB has NaN prices, its
    # first one too: both as the kernel's rules say (no bar; the last price).
    gone = ordered[(ordered.symbol == "DDD")].date.iloc[[5, 6, 30, 31, 32, 77]]
    ordered = ordered[~((ordered.symbol == "DDD") & ordered.date.isin(gone))]
    shuffled = shuffled[~((shuffled.symbol == "DDD") &
                          shuffled.date.isin(gone.dt.strftime("%Y-%m-%d")))]
    nan_days = ordered[ordered.symbol == "BBB"].date.iloc[[0, 9, 10, 50]]
    ordered = ordered.copy()
    shuffled = shuffled.copy()
    ordered.loc[(ordered.symbol == "BBB") & ordered.date.isin(nan_days), "close"] = np.nan
    shuffled.loc[(shuffled.symbol == "BBB") &
                 shuffled.date.isin(nan_days.dt.strftime("%Y-%m-%d")), "close"] = np.nan
    cfg = gpudf.grid(fast=[3, 5], slow=[10, 20], mode=["long_only", "long_short"], fee_bps=[2])
    out = gpudf.sweep(time_table(shuffled.reset_index(drop=True)), "ma_crossover", cfg,
                      workers=workers, series="symbol", time="date")
    summary = out.attrs["summary"]
    assert summary.attrs["portfolio_reason"] == ""
    assert len(summary) == 8
    for _, row in summary.iterrows():
        tr, sh, bars = portfolio_reference(ordered, int(row.fast), int(row.slow), row.fee_bps,
                                           row["mode"] == "long_short")
        assert row.portfolio_bars == bars
        assert row.portfolio_return == pytest.approx(tr, rel=1e-9, abs=1e-12)
        assert row.portfolio_sharpe == pytest.approx(sh, rel=1e-9, abs=1e-12)
    # slow = 20 leaves CCC out; slow = 10 has it (its 12 bars): different calendars.
    assert summary[summary.slow == 10].portfolio_bars.iloc[0] > 0


def test_a_one_series_portfolio_is_that_series():
    ordered, shuffled = dated_panel([120, 60], ["AAA", "BBB"])
    one = shuffled[shuffled.symbol == "AAA"].reset_index(drop=True)
    cfg = gpudf.grid(fast=[3, 5], slow=[10, 20], mode=["long_only", "long_short"], fee_bps=[3])
    out = gpudf.sweep(time_table(one), "ma_crossover", cfg, workers=0, series="symbol",
                      time="date")
    out = out[out.series == "AAA"].reset_index(drop=True)
    s = out.attrs["summary"]
    # The same returns compounded in the same order: the same bits.
    np.testing.assert_array_equal(s.portfolio_return.to_numpy(), out.total_return.to_numpy())
    np.testing.assert_allclose(s.portfolio_sharpe.to_numpy(), out.sharpe.to_numpy(), rtol=1e-10)
    assert (s.portfolio_bars == 119).all()


def test_without_time_the_portfolio_is_nan_saying_why():
    df = panel([60, 45], ["A", "B"])
    out = gpudf.sweep(table(df), "ma_crossover", gpudf.grid(fast=[3], slow=[10]), workers=0,
                      series="symbol")
    s = out.attrs["summary"]
    assert np.isnan(s.portfolio_return).all() and np.isnan(s.portfolio_sharpe).all()
    assert (s.portfolio_bars == 0).all()
    assert "no time column" in s.attrs["portfolio_reason"]
