"""Arrow out and Parquet in: to_arrow() and __arrow_c_stream__ are the
shared memory itself (pyarrow, polars and DuckDB read it without a copy,
in any process, for as long as they hold it), and read_parquet fills a
table row group by row group, agreeing with pyarrow.parquet.read_table."""
import gc
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import gpudf

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

RNG = np.random.default_rng()


def random_frame(n):
    """Every column kind a table holds, with NaN and missing codes."""
    f64 = RNG.standard_normal(n) * 1e3
    f64[RNG.random(n) < 0.05] = np.nan
    labels = ["red", "", "green, \"quoted\"", "blåbær", "unused"]
    return pd.DataFrame({
        "i32": RNG.integers(-2**31, 2**31, n, dtype=np.int32),
        "i64": RNG.integers(-2**62, 2**62, n, dtype=np.int64),
        "f32": RNG.standard_normal(n).astype(np.float32),
        "f64": f64,
        "flag": RNG.random(n) < 0.3,
        "cat": pd.Categorical.from_codes(RNG.integers(-1, 4, n), labels),
    })


def _address(arrow_column):
    """Where an Arrow column's values are (its single chunk's data buffer)."""
    assert arrow_column.num_chunks == 1
    return arrow_column.chunk(0).buffers()[1].address


def _column_address(view, name):
    return view.column(name).__array_interface__["data"][0]


# ------------------------------------------------------------------ to_arrow

def test_to_arrow_is_the_shared_memory_and_equals_the_frame():
    df = random_frame(20_000)
    t = gpudf.Table.from_pandas(df)
    with t.share() as s, gpudf.attach(s) as v:
        at = v.to_arrow()
        assert at.column_names == list(df.columns)
        assert [str(f.type) for f in at.schema] == [
            "int32", "int64", "float", "double", "bool",
            "dictionary<values=string, indices=int32, ordered=0>"]
        pd.testing.assert_frame_equal(at.to_pandas(), df)
        for name in ("i32", "i64", "f32", "f64"):
            assert _address(at.column(name)) == _column_address(v, name), name
        codes = at.column("cat").chunk(0).indices
        assert codes.buffers()[1].address == _column_address(v, "cat")
        # A missing code is a null, not an index -1.
        assert codes.null_count == int((df.cat.cat.codes < 0).sum()) > 0
        assert at.column("f64").null_count == 0  # NaN stays a value by default
        # The owner's table exports the same way.
        pd.testing.assert_frame_equal(t.to_arrow().to_pandas(), df)


def test_a_missing_label_in_a_one_row_table_is_a_null():
    # The smallest table with a missing code: it must be masked like any
    # other, never handed to Arrow as the index -1.
    for codes in ([-1], [0], [-1, 1]):
        df = pd.DataFrame({"cat": pd.Categorical.from_codes(codes, ["a", "b"])})
        at = gpudf.Table.from_pandas(df).to_arrow()
        col = at.column("cat").chunk(0)
        assert col.null_count == codes.count(-1), codes
        assert col.to_pylist() == [None if c < 0 else "ab"[c] for c in codes]
        pd.testing.assert_frame_equal(at.to_pandas(), df)


def test_nan_as_null_adds_a_validity_bitmap_over_the_same_values():
    n = 3 * (1 << 20) + 5  # several bitmap steps and a partial byte
    x = RNG.standard_normal(n)
    x[RNG.random(n) < 0.01] = np.nan
    df = pd.DataFrame({"x": x, "y": RNG.standard_normal(n).astype(np.float32)})
    t = gpudf.Table.from_pandas(df)
    with t.share() as s, gpudf.attach(s) as v:
        at = v.to_arrow(nan_as_null=True)
        col = at.column("x").chunk(0)
        assert col.null_count == int(np.isnan(x).sum())
        assert col.buffers()[1].address == _column_address(v, "x")
        assert col.is_null().to_numpy(zero_copy_only=False).tolist() == np.isnan(x).tolist()
        assert at.column("y").null_count == 0 and at.column("y").chunk(0).buffers()[0] is None
        import pyarrow.compute as pc
        assert pc.sum(col).as_py() == pytest.approx(np.nansum(x), rel=1e-12)


def test_arrow_buffers_keep_the_mapping_after_the_view_and_table_are_gone():
    df = random_frame(50_000)
    t = gpudf.Table.from_pandas(df)
    s = t.share()
    v = gpudf.attach(s)
    at = v.to_arrow()
    stream = v.__arrow_c_stream__()
    v.detach()
    del v
    s.close()
    del s, t
    gc.collect()
    # Would unmap the share now if nothing held it: a read below would fault.
    gpudf.unmap_idle()
    pd.testing.assert_frame_equal(at.to_pandas(), df)
    got = pa.RecordBatchReader._import_from_c_capsule(stream).read_all()
    pd.testing.assert_frame_equal(got.to_pandas(), df)


def test_the_pycapsule_stream_is_the_same_memory():
    df = random_frame(10_000)
    t = gpudf.Table.from_pandas(df)
    with t.share() as s, gpudf.attach(s) as v:
        got = pa.table(v)  # through __arrow_c_stream__
        assert got.schema == v.to_arrow().schema
        pd.testing.assert_frame_equal(got.to_pandas(), df)
        assert _address(got.column("f64")) == _column_address(v, "f64")


def test_closed_views_refuse_to_export():
    t = gpudf.Table.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}))
    with t.share() as s:
        v = gpudf.attach(s)
        v.detach()
        with pytest.raises(gpudf.Error, match="closed"):
            v.to_arrow()
        with pytest.raises(gpudf.Error, match="closed"):
            v.__arrow_c_stream__()


# -------------------------------------------- polars and DuckDB in a worker

def _status_kib():
    """This process's resident memory by kind: private (RssAnon) and the
    shared memory it maps (RssShmem), in KiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssShmem"):
                out[key] = int(value.split()[0])
    return out


def _query_in_worker(name):
    """DuckDB, then polars, over the attached share: their answers, whether
    polars' columns are the shared memory, and what the process's memory
    did at each step."""
    # Two threads each, so that their per-thread memory is the same on any machine.
    os.environ["POLARS_MAX_THREADS"] = "2"
    import duckdb
    import polars as pl
    duck = duckdb.connect()
    duck.execute("SET threads TO 2")
    duck.sql("SELECT 42").fetchall()  # their own start-up, before measuring
    pl.DataFrame({"x": [1.0]}).sum()
    gc.collect()
    mem = [_status_kib()]
    v = gpudf.attach(name)
    groups = duck.sql("SELECT cat, sum(a), max(b), count(*) FROM v WHERE flag "
                      "GROUP BY cat ORDER BY cat").fetchall()
    total, nans = duck.sql("SELECT sum(a + b), count(*) FILTER (WHERE isnan(n)) "
                           "FROM v").fetchall()[0]
    mem.append(_status_kib())
    frame = pl.DataFrame(v)  # through __arrow_c_stream__
    mem.append(_status_kib())
    shares = all(np.shares_memory(frame[c].to_numpy(), v.column(c)) for c in ("a", "b", "n"))
    pl_groups = (frame.filter(pl.col("flag")).group_by("cat")
                 .agg(pl.col("a").sum(), pl.col("b").max(), pl.len())
                 .sort("cat").rows())
    # NaN as null: polars skips them as pandas does.
    nan_sum = pl.from_arrow(v.to_arrow(nan_as_null=True))["n"].sum()
    return {"polars": pl_groups, "duckdb": groups, "total": total, "nans": nans,
            "nan_sum": nan_sum,
            "shares": shares, "mem": mem}


def test_polars_and_duckdb_query_the_share_in_a_worker_without_copying():
    pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    n = 3_000_000  # a and b: 46 MiB; cat and n 11 MiB each; flag 3 MiB
    df = pd.DataFrame({
        "a": RNG.standard_normal(n), "b": RNG.standard_normal(n),
        "cat": pd.Categorical.from_codes(RNG.integers(0, 5, n), list("vwxyz")),
        "flag": RNG.random(n) < 0.5,
        "n": np.where(RNG.random(n) < 0.1, np.nan, 1.0).astype(np.float32)})
    table_kib = n * (8 + 8 + 4 + 1 + 4) / 1024
    t = gpudf.Table.from_pandas(df)
    with t.share(backend="cpu") as s, mp.get_context("spawn").Pool(1) as pool:
        got = pool.apply(_query_in_worker, (s.name,))
    assert got["shares"], "polars' columns are not the shared memory"

    sel = df[df.flag]
    want = sel.groupby("cat", observed=True).agg(a=("a", "sum"), b=("b", "max"),
                                                 k=("a", "size"))
    for rows in (got["polars"], got["duckdb"]):
        assert [r[0] for r in rows] == list(want.index)
        for (_, a, b, k), (_, w) in zip(rows, want.iterrows()):
            assert k == w.k and b == w.b
            assert a == pytest.approx(w.a, rel=1e-9, abs=1e-6)
    assert got["total"] == pytest.approx((df.a + df.b).sum(), rel=1e-9, abs=1e-6)
    assert got["nans"] == df.n.isna().sum()
    assert got["nan_sum"] == pytest.approx(df.n.sum(), rel=1e-6)

    # DuckDB read the whole table (its shared pages are now resident in
    # the worker) and made no private copy of it: the worker's private
    # memory grew by far less than the table or any of its float columns.
    before, duck, pol = got["mem"]
    read = duck["RssShmem"] - before["RssShmem"]
    private = duck["RssAnon"] - before["RssAnon"]
    # polars shares every column but the categorical, whose codes it
    # re-encodes into its own Categorical (a copy of 4 bytes a row).
    polars_private = pol["RssAnon"] - duck["RssAnon"]
    codes_kib = 4 * n / 1024
    print(f"table {table_kib:.0f} KiB: DuckDB read {read} KiB shared, grew {private} KiB "
          f"private; polars grew {polars_private} KiB (categorical codes {codes_kib:.0f})")
    assert read > 0.9 * table_kib
    assert private < 0.25 * table_kib
    assert polars_private < codes_kib + 0.05 * table_kib


# ---------------------------------------------------------------- Parquet

def parquet_frame(n):
    """What Parquet files hold that a table can: narrow and unsigned
    integers, floats with nulls and NaN, bools, categoricals with unused and
    missing labels, text with nulls."""
    x = RNG.standard_normal(n)
    x[RNG.random(n) < 0.05] = np.nan
    words = np.array(["alpha", "beta", "gamma", "δέλτα", "", "e f"], dtype=object)
    text = words[RNG.integers(0, len(words), n)]
    text[RNG.random(n) < 0.1] = None
    text[0] = "beta"  # a text column of nulls only has no type in the file
    return pd.DataFrame({
        "i8": RNG.integers(-128, 128, n, dtype=np.int8),
        "u16": RNG.integers(0, 2**16, n, dtype=np.uint16),
        "i32": RNG.integers(-2**31, 2**31, n, dtype=np.int32),
        "u32": RNG.integers(0, 2**32, n, dtype=np.uint32),
        "i64": RNG.integers(-2**63, 2**63 - 1, n, dtype=np.int64),
        "u64": RNG.integers(0, 2**63, n, dtype=np.uint64),
        "f32": RNG.standard_normal(n).astype(np.float32),
        "x": x,
        "nullable": pd.array(np.where(RNG.random(n) < 0.2, None, RNG.standard_normal(n)),
                             dtype="Float64"),
        "flag": RNG.random(n) < 0.5,
        "cat": pd.Categorical.from_codes(RNG.integers(-1, 3, n), ["q", "z", "a", "unused"]),
        "text": text,
    })


def _as_reference(frame):
    """pyarrow.parquet's frame in the types a table holds: integers widened,
    nulls of floats as NaN, text as categoricals with sorted labels."""
    out = {}
    for name, col in frame.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[name] = col
        elif col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            values = col.astype(object).where(col.notna(), None)
            labels = sorted({v for v in values if v is not None}, key=lambda v: v.encode())
            out[name] = pd.Categorical(values, categories=labels)
        elif pd.api.types.is_float_dtype(col.dtype):
            wide = np.float32 if str(col.dtype).lower() == "float32" else np.float64
            out[name] = col.to_numpy(dtype=wide, na_value=np.nan)
        elif pd.api.types.is_integer_dtype(col.dtype):
            narrow = col.dtype.itemsize <= 2 or col.dtype == np.int32
            out[name] = col.to_numpy().astype(np.int32 if narrow else np.int64)
        else:
            out[name] = col.to_numpy()
    return pd.DataFrame(out)


@pytest.mark.parametrize("rows,group", [(1, 1), (1000, 1000), (5000, 777), (30_000, 4096)])
def test_read_parquet_round_trips_random_frames(tmp_path, rows, group):
    df = parquet_frame(rows)
    path = tmp_path / "f.parquet"
    df.to_parquet(path, row_group_size=group)
    assert pq.ParquetFile(path).num_row_groups == -(-rows // group)
    t = gpudf.read_parquet(path)
    want = _as_reference(pq.read_table(path).to_pandas())
    pd.testing.assert_frame_equal(t.to_pandas(), want)
    # The categories keep the file's order, unused ones included.
    assert list(t.to_pandas().cat.cat.categories) == ["q", "z", "a", "unused"]
    with t.share() as s, gpudf.attach(s) as v:
        pd.testing.assert_frame_equal(v.to_pandas(), want)


def test_read_parquet_selects_and_orders_columns(tmp_path):
    df = parquet_frame(3000)
    path = tmp_path / "f.parquet"
    df.to_parquet(path, row_group_size=1000)
    for _ in range(5):
        k = int(RNG.integers(1, len(df.columns) + 1))
        columns = [str(c) for c in RNG.choice(df.columns, k, replace=False)]
        t = gpudf.read_parquet(path, columns=columns)
        assert t.columns == columns
        want = _as_reference(pq.read_table(path, columns=columns).to_pandas())
        pd.testing.assert_frame_equal(t.to_pandas(), want[columns])


def test_read_parquet_of_a_file_whose_dictionaries_differ_by_row_group(tmp_path):
    """Dictionaries that differ from row group to row group map to one set of
    labels, first seen first (as pyarrow.parquet.read_table gives pandas)."""
    path = tmp_path / "d.parquet"
    groups = [["b", "a", None, "b"], ["c", "a"], ["d", None, "b"]]
    schema = pa.schema([("s", pa.dictionary(pa.int32(), pa.string()))])
    with pq.ParquetWriter(path, schema) as w:
        for values in groups:
            w.write_table(pa.table({"s": pa.array(values).dictionary_encode()}, schema=schema))
    got = gpudf.read_parquet(path).to_pandas()["s"]
    assert list(got.cat.categories) == ["b", "a", "c", "d"]
    assert [None if pd.isna(v) else v for v in got] == [v for g in groups for v in g]
    pd.testing.assert_series_equal(got, pq.read_table(path).to_pandas()["s"])


@pytest.mark.parametrize("array,words", [
    (pa.array([1, 2], pa.timestamp("ns")), ["'bad'", "timestamp", "int64"]),
    (pa.array([1, 2], pa.decimal128(5, 2)), ["'bad'", "decimal", "float64"]),
    (pa.array([b"x", b"y"]), ["'bad'", "bytes"]),
    (pa.array([[1], [2, 3]]), ["'bad'", "nested"]),
    (pa.array([None, None], pa.null()), ["'bad'", "no type", "every value is null"]),
])
def test_read_parquet_refuses_types_a_table_cannot_hold(tmp_path, array, words):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"ok": [1.0, 2.0], "bad": array}), path)
    with pytest.raises(TypeError) as e:
        gpudf.read_parquet(path)
    for w in words:
        assert w in str(e.value)
    assert gpudf.read_parquet(path, columns=["ok"]).column("ok").tolist() == [1.0, 2.0]


@pytest.mark.parametrize("array,words", [
    (pa.array([1, None, 3]), ["'bad'", "1 nulls", "row group 1", "float64"]),
    (pa.array([True, None, False]), ["'bad'", "1 nulls", "row group 1"]),
    (pa.array([1, 2**63, 3], pa.uint64()), ["'bad'", "2**63 - 1", "row group 1"]),
])
def test_read_parquet_refuses_values_a_column_cannot_hold(tmp_path, array, words):
    """Found in the second row group: the half-filled table is freed (the
    fixture checks that no segment is left)."""
    path = tmp_path / "bad.parquet"
    first = pa.table({"bad": pa.array([0, 0, 0]).cast(array.type)})
    with pq.ParquetWriter(path, first.schema) as w:
        w.write_table(first)
        w.write_table(pa.table({"bad": array}))
    with pytest.raises(TypeError) as e:
        gpudf.read_parquet(path)
    for w in words:
        assert w in str(e.value)


def test_read_parquet_names_what_it_cannot_find(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"a": [1.0], "b": [2.0]}), path)
    with pytest.raises(gpudf.Error, match="no column 'c'") as e:
        gpudf.read_parquet(path, columns=["a", "c"])
    assert e.value.status == 2
    with pytest.raises(gpudf.Error, match="twice"):
        gpudf.read_parquet(path, columns=["a", "a"])
    with pytest.raises(TypeError, match="list of column names"):
        gpudf.read_parquet(path, columns="a")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.float64())}), empty)
    with pytest.raises(gpudf.Error, match="no rows"):
        gpudf.read_parquet(empty)
    with pytest.raises((OSError, pa.ArrowException)):
        gpudf.read_parquet(tmp_path / "missing.parquet")
    nul = tmp_path / "nul.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "s": ["a\0b", "c"]}), nul)
    with pytest.raises(gpudf.Error, match="column 's': category .* contains a NUL byte"):
        gpudf.read_parquet(nul)


_PEAK = textwrap.dedent("""
    import json, sys
    import pandas
    import pyarrow as pa, pyarrow.parquet as pq
    import gpudf

    def kib(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])

    # Arrow's first read starts its thread pools and allocator (20-30 MiB,
    # whatever the file's size): done on a small file of the same columns,
    # so that what is measured below grows with the file.
    gpudf.read_parquet(sys.argv[2])
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS from here on
        f.write("5")
    rss0 = kib("VmRSS")
    arrow0 = pa.total_allocated_bytes()
    if sys.argv[3] == "gpudf":
        t = gpudf.read_parquet(sys.argv[1])
    else:  # what read_parquet must not do: the whole file in memory first
        t = gpudf.Table.from_arrow(pq.read_table(sys.argv[1], read_dictionary=["s"]))
    print(json.dumps({"arrow_peak": pa.default_memory_pool().max_memory() - arrow0,
                      "rss_peak_kib": kib("VmHWM") - rss0, "nrows": t.nrows}))
""")


def _peak(path, small, how):
    import json
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(small), how], check=True,
                         capture_output=True, text=True, env=os.environ)
    return json.loads(out.stdout)


def test_read_parquet_peak_memory_is_the_table_and_one_row_group(tmp_path):
    """32 row groups of 4 float64 columns and a text column: 110 MiB of
    table, 3.4 MiB a row group. Arrow's own allocations peak at about two
    row groups (the pages read and the arrays decoded from them), and the
    process's resident memory at the table plus a few row groups; reading
    the whole file first (the reference run) takes more than twice the
    table, and both measures say so."""
    n, groups = 3_200_000, 32
    df = pd.DataFrame({k: RNG.standard_normal(n) for k in "abcd"})
    df["s"] = pd.Categorical.from_codes(RNG.integers(0, 50, n),
                                        [f"label {i}" for i in range(50)]).astype(str)
    path, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    df.to_parquet(path, row_group_size=n // groups)
    df[:1000].to_parquet(small)
    del df
    table = n * (4 * 8 + 4)
    group = table // groups
    got = _peak(path, small, "gpudf")
    print(f"table {table >> 10} KiB, row group {group >> 10} KiB: arrow peak "
          f"{got['arrow_peak'] >> 10} KiB, RSS peak +{got['rss_peak_kib']} KiB")
    assert got["nrows"] == n
    assert got["arrow_peak"] < 5 * group
    assert got["rss_peak_kib"] * 1024 < 1.5 * table
    whole = _peak(path, small, "whole")
    print(f"whole file first: arrow peak {whole['arrow_peak'] >> 10} KiB, RSS peak "
          f"+{whole['rss_peak_kib']} KiB")
    assert whole["arrow_peak"] > table and whole["rss_peak_kib"] * 1024 > 2 * table
