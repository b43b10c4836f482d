"""Arrow out, Parquet in: a table's columns as Arrow arrays over the shared
memory itself, and Parquet files read row group by row group straight into
a new table's arena. pyarrow is imported here only, so `import gpudf` does
not pay for it."""
import mmap

import numpy as np

from ._ffi import ffi, lib

# Rows per step when a bitmap is computed from a column: the temporary
# bool array stays 1 MiB, whatever the table's size (a multiple of 8, so
# every step but the last packs into whole bytes).
_STEP = 1 << 20


def _bitmap(values, valid):
    """An Arrow validity bitmap of values (None when every value is valid)
    and its null count; valid(chunk) says which values of a chunk are."""
    import pyarrow as pa
    n = len(values)
    nulls = 0
    for i in range(0, n, _STEP):
        nulls += _STEP if i + _STEP <= n else n - i
        nulls -= int(np.count_nonzero(valid(values[i:i + _STEP])))
    if nulls == 0:
        return None, 0
    bits = np.empty((n + 7) // 8, np.uint8)
    for i in range(0, n, _STEP):
        bits[i // 8:(i + _STEP + 7) // 8] = np.packbits(valid(values[i:i + _STEP]),
                                                        bitorder="little")
    return pa.py_buffer(bits), nulls


def _arrow_types():
    import pyarrow as pa
    return {lib.GPUDF_TYPE_I32: pa.int32(), lib.GPUDF_TYPE_I64: pa.int64(),
            lib.GPUDF_TYPE_F32: pa.float32(), lib.GPUDF_TYPE_F64: pa.float64()}


def to_arrow(table, keepalive, labels_of, nan_as_null):
    """table's columns as a pyarrow.Table whose value buffers are the
    shared memory (pyarrow.foreign_buffer); every buffer holds keepalive,
    so the mapping stays while any Arrow array over it exists."""
    import pyarrow as pa
    from . import _TO_NUMPY
    p = table._live()
    n = int(lib.gpudf_table_nrows(p))
    types = _arrow_types()
    arrays = []
    for i, name in enumerate(table.columns):
        gtype = lib.gpudf_table_column_type(p, i)
        address = int(ffi.cast("uintptr_t", lib.gpudf_table_column_data(p, i)))
        size = n * int(lib.gpudf_type_size(gtype))
        data = pa.foreign_buffer(address, size, base=keepalive)
        values = np.frombuffer(data, dtype=_TO_NUMPY[gtype])
        labels = labels_of(i)
        if labels is not None:
            # Code -1 (missing) is no valid Arrow index: it must be masked.
            validity, nulls = (None, 0) if n == 0 or values.min() >= 0 else \
                _bitmap(values, lambda c: c >= 0)
            codes = pa.Array.from_buffers(pa.int32(), n, [validity, data], null_count=nulls)
            # safe=False: the library checked every code against the labels.
            arrays.append(pa.DictionaryArray.from_arrays(
                codes, pa.array(labels, pa.string()), safe=False))
        elif gtype == lib.GPUDF_TYPE_BOOL:
            # Arrow's booleans are bits, the table's bytes: the one column
            # kind that cannot be shared as it is. Packed, it costs n/8 bytes.
            bits = np.packbits(values, bitorder="little")
            arrays.append(pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)]))
        else:
            validity, nulls = None, 0
            if nan_as_null and gtype in (lib.GPUDF_TYPE_F32, lib.GPUDF_TYPE_F64):
                validity, nulls = _bitmap(values, lambda c: ~np.isnan(c))
            arrays.append(pa.Array.from_buffers(types[gtype], n, [validity, data],
                                                null_count=nulls))
    return pa.Table.from_arrays(arrays, names=table.columns)


# ----------------------------------------------------------------- Parquet

def _is_text(t):
    import pyarrow as pa
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t))


def _plan(name, t):
    """How column name of Arrow type t goes into the table: ("cat",) for
    labels, (gpudf type, numpy casting) for numbers; a str saying why not."""
    import pyarrow as pa
    if pa.types.is_dictionary(t):
        if _is_text(t.value_type):
            return ("cat",)
        return (f"is a dictionary of {t.value_type}, and gpudf's categoricals hold text "
                "labels; cast its values to string, or decode it "
                "(pyarrow.compute.cast(col, col.type.value_type))")
    if _is_text(t):
        return ("cat",)
    if pa.types.is_boolean(t):
        return (lib.GPUDF_TYPE_BOOL, "safe")
    if pa.types.is_integer(t):
        if t.bit_width <= 16 or t == pa.int32():
            return (lib.GPUDF_TYPE_I32, "safe")
        if t == pa.uint64():
            return (lib.GPUDF_TYPE_I64, "unsafe")  # every value checked on the way
        return (lib.GPUDF_TYPE_I64, "safe")
    if pa.types.is_floating(t):
        return (lib.GPUDF_TYPE_F64 if t == pa.float64() else lib.GPUDF_TYPE_F32, "safe")
    if pa.types.is_temporal(t):
        return (f"holds {t}, which gpudf cannot store; cast it to int64 "
                "(pyarrow.compute.cast) when writing the file, or leave it out with columns=")
    if pa.types.is_decimal(t):
        return (f"holds {t}, which gpudf cannot store exactly; cast it to float64 if that "
                "rounding will do, or leave it out with columns=")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return (f"holds bytes ({t}), and gpudf's categoricals hold text labels; "
                "leave it out with columns=")
    if pa.types.is_null(t):
        return ("has no type (every value is null, Arrow type null); write it with a type, "
                "or leave it out with columns=")
    if pa.types.is_nested(t):
        return f"is nested ({t}), which a gpudf table cannot hold; leave it out with columns="
    return f"holds {t}, which gpudf cannot store; leave it out with columns="


def _selected(schema, columns, path):
    from . import Error
    names = schema.names
    if columns is None:
        columns = names
    elif isinstance(columns, str):
        raise TypeError("columns must be a list of column names, not a str")
    columns = list(columns)
    if not columns:
        raise Error(lib.GPUDF_EINVAL, "columns is empty; a gpudf table needs a column")
    seen = set()
    for c in columns:
        if c in seen:
            raise Error(lib.GPUDF_EEXIST, f"column '{c}' is asked for twice")
        seen.add(c)
        count = names.count(c)
        if count == 0:
            raise Error(lib.GPUDF_ENOENT, f"'{path}' has no column '{c}' (it has {names})")
        if count > 1:
            raise Error(lib.GPUDF_EEXIST, f"'{path}' has {count} columns named '{c}'; "
                        "a gpudf table needs unique names")
    return columns


def _labels(pf, names, plans, schema):
    """Every categorical column's labels, in one pass over its row groups.
    A dictionary column keeps its dictionaries' order (first seen first, as
    pyarrow.parquet.read_table gives pandas), unused labels included; a
    string column gets its distinct values sorted bytewise (as read_csv).
    Nulls are no labels: they become code -1."""
    import pyarrow as pa
    import pyarrow.compute as pc
    cats = [c for c in names if plans[c] == ("cat",)]
    found = {c: pa.array([], pa.large_string()) for c in cats}
    for g in range(pf.num_row_groups if cats else 0):
        group = pf.read_row_group(g, columns=cats)
        for c in cats:
            for chunk in group.column(c).chunks:
                values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
                values = pc.drop_null(values.cast(pa.large_string()))
                found[c] = pc.unique(pa.concat_arrays([found[c], values]))
        del group
        pa.default_memory_pool().release_unused()
    for c in cats:  # schema: the file's own, where text columns are not dictionaries
        if not pa.types.is_dictionary(schema.field(schema.get_field_index(c)).type):
            found[c] = found[c].take(pc.array_sort_indices(found[c]))
    return found


def _add_categorical(table, name, labels):
    """A categorical column of labels whose codes are filled later. The
    library copies codes from an array of nrows: an anonymous mapping reads
    as zeros (code 0) without taking memory, where a numpy array of zeros
    could cost a column's size."""
    from . import Error, _c
    n = table.nrows
    try:
        keep = [ffi.new("char[]", _c(s, "category")) for s in labels.to_pylist()]
    except Error as e:  # a label with a NUL byte: say which column
        raise Error(e.status, f"column '{name}': {e.message}") from None
    arr = ffi.new("const char *[]", keep) if keep else ffi.NULL
    if keep:
        zeros = mmap.mmap(-1, n * 4)
        codes = ffi.from_buffer("int32_t[]", zeros)
    else:  # no labels: every row is missing
        zeros = np.full(n, -1, np.int32)
        codes = ffi.from_buffer("int32_t[]", zeros)
    try:
        status = lib.gpudf_table_add_categorical(table._ptr, _c(name, "column name"),
                                                 codes, len(keep), arr)
    finally:
        ffi.release(codes)
        if keep:
            zeros.close()
    if status != lib.GPUDF_OK:
        raise Error(status, f"column '{name}': "
                    + ffi.string(lib.gpudf_last_error()).decode(errors="replace"))


def _alloc(table, name, gtype):
    from . import _c, _check
    out = ffi.new("void **")
    _check(lib.gpudf_table_alloc_column(table._ptr, _c(name, "column name"), gtype, out))


def _writable(table, j):
    """A writable array over column j of an owner's table that is not
    shared yet (its arena is mapped read-write until then)."""
    p = table._ptr
    gtype = lib.gpudf_table_column_type(p, j)
    size = table.nrows * int(lib.gpudf_type_size(gtype))
    raw = ffi.cast("char *", lib.gpudf_table_column_data(p, j))
    from . import _TO_NUMPY
    return np.frombuffer(ffi.buffer(raw, size), dtype=_TO_NUMPY[gtype])


def _fill_numbers(dest, chunk, name, group, plan):
    import pyarrow as pa
    gtype, casting = plan
    if chunk.null_count:
        if not pa.types.is_floating(chunk.type):
            raise TypeError(f"column '{name}' ({chunk.type}) has {chunk.null_count} nulls in "
                            f"row group {group}, which an integer or bool column cannot hold; "
                            "fill them (pyarrow.compute.fill_null) or cast the column to "
                            "float64 so they become NaN")
    values = chunk.to_numpy(zero_copy_only=False)  # nulls of floats as NaN
    if chunk.type == pa.uint64() and len(values) and values.max() > np.iinfo(np.int64).max:
        raise TypeError(f"column '{name}' (uint64) holds values above 2**63 - 1 in row group "
                        f"{group}, which gpudf's int64 cannot hold; cast it to float64 if "
                        "that precision will do")
    np.copyto(dest, values, casting=casting)


def _fill_codes(dest, chunk, labels):
    """dest = the chunk's values as codes into labels (-1: null)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if not pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_encode()
    local = chunk.dictionary.cast(pa.large_string())
    # Code of each of this chunk's dictionary entries, then of each row.
    remap = pc.index_in(local, value_set=labels).fill_null(-1).to_numpy(zero_copy_only=False)
    remap = np.append(remap.astype(np.int32), np.int32(-1))
    # As int32 first: an int8 index cannot hold the null slot len(local) = 128.
    rows = chunk.indices.cast(pa.int32()).fill_null(len(local)).to_numpy(zero_copy_only=False)
    np.take(remap, rows, out=dest)


def read_parquet(path, columns=None):
    """See gpudf.read_parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from . import Error, Table
    probe = pq.ParquetFile(path)
    schema = probe.schema_arrow
    names = _selected(schema, columns, path)
    plans = {c: _plan(c, schema.field(schema.get_field_index(c)).type) for c in names}
    refused = [f"column '{c}' {why}" for c, why in plans.items() if isinstance(why, str)]
    if refused:
        raise TypeError("; ".join(refused))
    nrows = probe.metadata.num_rows
    if nrows == 0:
        raise Error(lib.GPUDF_EINVAL, f"'{path}' has no rows; a gpudf table needs at least one")
    cats = [c for c in names if plans[c] == ("cat",)]
    del probe
    # Text columns read as dictionaries: the codes come from the dictionary
    # indices, with no Python string per row.
    # pre_buffer=False: pyarrow's read-ahead would hold the next row groups'
    # pages too (measured: a peak of 5 row groups instead of 2).
    pf = pq.ParquetFile(path, read_dictionary=cats or None, pre_buffer=False)
    labels = _labels(pf, names, plans, schema)
    # Arrow's allocator keeps what a row group freed for the next one, but
    # not always in the same place: returned at once, the process's memory
    # stays at one row group (here 47 MiB more over 16 groups without).
    release = pa.default_memory_pool().release_unused
    t = Table(nrows)
    try:
        for c in names:
            if plans[c] == ("cat",):
                _add_categorical(t, c, labels[c])
            else:
                _alloc(t, c, plans[c][0])
        # Every column is in place now, so the arena no longer moves: the
        # addresses hold until the table is shared.
        dests = [_writable(t, j) for j in range(len(names))]
        start = 0
        for g in range(pf.num_row_groups):
            group = pf.read_row_group(g, columns=names)
            for j, c in enumerate(names):
                pos = start
                for chunk in group.column(c).chunks:
                    dest = dests[j][pos:pos + len(chunk)]
                    if plans[c] == ("cat",):
                        _fill_codes(dest, chunk, labels[c])
                    else:
                        _fill_numbers(dest, chunk, c, g, plans[c])
                    pos += len(chunk)
            start += group.num_rows
            del group
            release()
        if start != nrows:
            raise Error(lib.GPUDF_EBADMSG, f"'{path}': its row groups hold {start} rows, its "
                        f"footer says {nrows}")
        return t
    except BaseException:
        # Free the arena now, not when the traceback lets go of the frame.
        t._ptr, t._handle = None, None
        raise
