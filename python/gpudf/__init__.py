"""gpudf - share a table once, attach from any process without copying, and run
kernels over it for batches of configs.

    import gpudf
    t = gpudf.Table.from_pandas(df)          # one copy, into shared memory
    with t.share() as s:                     # publish it under a name
        pool.map(work, [(s.name, cfg) for cfg in configs])

    def work(args):
        name, cfg = args
        with gpudf.attach(name) as v:        # read-only, no copy, cheap
            df = v.to_pandas()               # zero-copy DataFrame
            ...

Everything here is a thin layer over libgpudf (through cffi): the table, the
sharing, the kernels and their validation all live in the C library.
"""
import os
import threading
import weakref

import numpy as np

from ._ffi import ffi, lib

__all__ = ["Error", "Table", "read_csv", "read_parquet", "Share", "TableView", "attach",
           "add_replica", "Replica",
           "backends", "kernels",
           "describe", "grid", "run", "sweep", "cleanup", "unmap_idle", "load_plugin",
           "plot", "Pool", "ProcessPoolExecutor", "DeviceColumn", "device_frame",
           "__version__"]


def __dir__():
    """gpudf's own names only (not the modules it imports: np, os, weakref)."""
    return sorted(__all__)

__version__ = ffi.string(lib.gpudf_version()).decode()

_TO_NUMPY = {
    lib.GPUDF_TYPE_I32: np.dtype(np.int32),
    lib.GPUDF_TYPE_I64: np.dtype(np.int64),
    lib.GPUDF_TYPE_F32: np.dtype(np.float32),
    lib.GPUDF_TYPE_F64: np.dtype(np.float64),
    lib.GPUDF_TYPE_BOOL: np.dtype(np.bool_),
}
# numpy dtypes stored as they are, and the narrower ones widened losslessly.
_FROM_NUMPY = {
    np.dtype(np.int32): lib.GPUDF_TYPE_I32, np.dtype(np.int64): lib.GPUDF_TYPE_I64,
    np.dtype(np.float32): lib.GPUDF_TYPE_F32, np.dtype(np.float64): lib.GPUDF_TYPE_F64,
    np.dtype(np.bool_): lib.GPUDF_TYPE_BOOL,
    np.dtype(np.int8): lib.GPUDF_TYPE_I32, np.dtype(np.int16): lib.GPUDF_TYPE_I32,
    np.dtype(np.uint8): lib.GPUDF_TYPE_I32, np.dtype(np.uint16): lib.GPUDF_TYPE_I32,
    np.dtype(np.uint32): lib.GPUDF_TYPE_I64, np.dtype(np.float16): lib.GPUDF_TYPE_F32,
}
_BACKENDS = {"auto": lib.GPUDF_BACKEND_AUTO, "cpu": lib.GPUDF_BACKEND_CPU,
             "cuda-pinned": lib.GPUDF_BACKEND_CUDA_PINNED, "cuda-ipc": lib.GPUDF_BACKEND_CUDA_IPC}
_KINDS = {lib.GPUDF_PARAM_COLUMN: "column", lib.GPUDF_PARAM_INTEGER: "integer",
          lib.GPUDF_PARAM_REAL: "real", lib.GPUDF_PARAM_CHOICE: "choice"}


class Error(Exception):
    """A libgpudf call failed. .status is the gpudf_status value (an errno
    number), .message the library's own explanation."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = message


def _check(status):
    if status != lib.GPUDF_OK:
        raise Error(status, ffi.string(lib.gpudf_last_error()).decode(errors="replace"))


def _c(text, what):
    """text as the bytes of a C string; a NUL inside would cut it short
    silently (a share name "ok\\0/../x" would publish as "ok"), so refuse it."""
    b = str(text).encode()
    if b"\0" in b:
        raise Error(lib.GPUDF_EINVAL, f"{what} {str(text)!r} contains a NUL byte")
    return b


def _str(cdata):
    """A C string as str (UTF-8; Latin-1 if it is not valid UTF-8)."""
    if cdata == ffi.NULL:
        return None
    return _decode_all([ffi.string(cdata)])[0]


def _decode_all(items):
    """Byte strings of one set (a table's column names, a column's labels)
    as str: UTF-8, or all of them as Latin-1 when any is not valid UTF-8 (a
    CSV written in Latin-1). One encoding for the set, so distinct bytes stay
    distinct strings."""
    try:
        return [b.decode() for b in items]
    except UnicodeDecodeError:
        return [b.decode("latin-1") for b in items]


def backends():
    """Placements that work on this machine, best first."""
    return [name for name in ("cuda-ipc", "cuda-pinned", "cpu")
            if lib.gpudf_backend_available(_BACKENDS[name], ffi.NULL)]


def cleanup():
    """Removes segments left by dead processes of this user, and the tombstones
    that tell attachers of a dead owner's share that it died (other calls keep
    those for 30 seconds); returns how many segments."""
    removed = ffi.new("int *")
    _check(lib.gpudf_cleanup(removed))
    return removed[0]


def unmap_idle():
    """Unmaps now the shares this process attached and no longer uses (no
    view or array left), which gpudf keeps mapped so that the next attach()
    of them costs no page faults; returns how many. Idle mappings also go
    when their share is closed (noticed by the next attach in this process)
    and at exit."""
    return lib.gpudf_unmap_idle()


# ------------------------------------------------------------------ tables

class _Schema:
    def _keepalive(self):
        """What an array or Arrow buffer over the memory holds."""
        return self._handle

    """Columns and row count, shared by Table and TableView."""

    _ptr = None

    def _live(self):
        """The C table, as a pointer that keeps it alive while the pointer is:
        a detach() in another thread while a C call (a run, a sweep) uses it
        then frees it after the call, not under it. The handle is read before
        the pointer, which detach() clears first."""
        handle = getattr(self, "_handle", None)
        ptr = self._ptr
        if ptr is None or handle is None:
            raise Error(lib.GPUDF_EINVAL, f"{type(self).__name__} is closed")
        return ffi.gc(ptr, lambda _p, _keep=handle: None)

    def __reduce__(self):
        raise TypeError(f"a gpudf {type(self).__name__} cannot be pickled (it is this "
                        "process's mapping); pass the Share, or its name, and attach() "
                        "in the other process")

    @property
    def nrows(self):
        return int(lib.gpudf_table_nrows(self._live()))

    @property
    def columns(self):
        p = self._live()
        return _decode_all([ffi.string(lib.gpudf_table_column_name(p, i))
                            for i in range(lib.gpudf_table_ncols(p))])

    @property
    def dtypes(self):
        p = self._live()
        return {name: _TO_NUMPY[lib.gpudf_table_column_type(p, i)]
                for i, name in enumerate(self.columns)}

    def _index(self, column):
        if isinstance(column, (int, np.integer)):
            if not 0 <= column < lib.gpudf_table_ncols(self._live()):
                raise Error(lib.GPUDF_EINVAL, f"column index {column} is out of range")
            return int(column)
        idx = ffi.new("int *")
        st = lib.gpudf_table_find_column(self._live(), _c(column, "column name"), idx)
        if st == lib.GPUDF_ENOENT and column in self.columns:  # a name read as Latin-1
            return self.columns.index(column)
        _check(st)
        return idx[0]

    def _array(self, index, keepalive):
        """A read-only numpy array over column `index`'s shared memory. The
        array holds `keepalive` (whatever owns the mapping), so the memory
        stays mapped for as long as any array over it exists."""
        p = self._live()
        dtype = _TO_NUMPY[lib.gpudf_table_column_type(p, index)]
        n = int(lib.gpudf_table_nrows(p))
        raw = ffi.cast("char *", lib.gpudf_table_column_data(p, index))
        held = ffi.gc(raw, lambda _ptr, _keep=keepalive: None)
        # Over a read-only buffer, so that numpy refuses flags.writeable =
        # True: the memory is mapped read-only once shared (and in every
        # attached process), where a write would be a segmentation fault.
        ro = memoryview(ffi.buffer(held, n * dtype.itemsize)).toreadonly()
        return np.frombuffer(ro, dtype=dtype)

    def to_arrow(self, nan_as_null=False):
        """The table as a pyarrow.Table over the shared memory itself: no
        copy of any number or code. Its buffers keep the mapping alive, so
        it stays valid after detach() and after the view is gone.
        Categoricals become dictionary arrays (their labels, and a validity
        bitmap where a code is missing, are built here: n/8 bytes); bool
        columns are packed into Arrow's bits (n/8 bytes, the one column kind
        copied). NaN stays a NaN value unless nan_as_null=True, which adds a
        validity bitmap (n/8 bytes) to each float column holding NaN, so
        that Arrow readers skip them as pandas does."""
        from ._arrow import to_arrow
        return to_arrow(self, self._keepalive(), lambda i: _labels(self, i), nan_as_null)

    def device_column(self, column):
        """The column (name or index) in device memory, for GPU libraries:
        an object with __cuda_array_interface__ (v3) and DLPack, so that
        cupy.asarray(col), numba.cuda.as_cuda_array(col) and
        torch.from_dlpack(col) read the shared memory without a copy. It
        keeps the mapping alive as arrays do (detach() returns at once).
        Read-only is declared, not enforced: never write through it. A
        table with the cpu placement raises gpudf.Error (ENODEV);
        docs/python-gpu.md has the rules."""
        from ._device import DeviceColumn
        index = self._index(column)
        self._live()
        return DeviceColumn(self._handle, self._keepalive(), index, _labels(self, index), Error)

    def device_columns(self):
        """Every column's device_column, by name (in the table's order)."""
        return {name: self.device_column(i) for i, name in enumerate(self.columns)}

    def __arrow_c_stream__(self, requested_schema=None):
        """The Arrow PyCapsule stream of to_arrow(): pl.DataFrame(view),
        duckdb.sql("... FROM view"), pyarrow.table(view) and every reader of
        the interface see the shared memory without a copy."""
        table = self.to_arrow()
        if not hasattr(table, "__arrow_c_stream__"):
            import pyarrow as pa
            raise Error(lib.GPUDF_ENODEV, f"the Arrow PyCapsule interface needs pyarrow >= 14 "
                        f"(this is {pa.__version__}); use to_arrow()")
        return table.__arrow_c_stream__(requested_schema)

    def __len__(self):
        return self.nrows

    def __repr__(self):
        if self._ptr is None:
            return f"<{type(self).__name__} closed>"
        p = self._live()
        cols = ", ".join(f"{k}: {'category' if lib.gpudf_table_column_is_categorical(p, i) else v}"
                         for i, (k, v) in enumerate(self.dtypes.items()))
        return f"<{type(self).__name__} {self.nrows} rows: {cols}>"


class _Handle:
    """Owns one gpudf_table pointer; frees it when the last reference goes
    (the Table or TableView object, or any numpy array over its memory)."""

    __slots__ = ("ptr", "share", "__weakref__")

    def __init__(self, ptr):
        self.ptr = ptr
        self.share = None  # a weak reference to the table's open Share (owner tables)

    def __del__(self):
        if self.ptr is not None:
            lib.gpudf_table_free(self.ptr)
            self.ptr = None


# The handles of this process's owner tables, alive while any Table, array,
# frame or Arrow buffer over them is: gpudf.Pool looks up here whether an
# array it is handed lies in a table's arena, to share the table instead of
# copying the array (_arena_of).
_OWNED = weakref.WeakSet()


def _arena_of(arr):
    """(handle, column index, byte offset) when arr's bytes lie inside one
    column of an owner table's shared arena, else None."""
    if not _OWNED or arr.nbytes == 0 or not arr.flags.c_contiguous:
        return None
    lo = arr.__array_interface__["data"][0]
    hi = lo + arr.nbytes
    for handle in list(_OWNED):
        p = handle.ptr
        if p is None:
            continue
        nrows = int(lib.gpudf_table_nrows(p))
        for i in range(lib.gpudf_table_ncols(p)):
            base = int(ffi.cast("uintptr_t", lib.gpudf_table_column_data(p, i)))
            size = nrows * int(lib.gpudf_type_size(lib.gpudf_table_column_type(p, i)))
            if base <= lo and hi <= base + size:
                return handle, i, lo - base
    return None


def _share_options(backend, devices):
    """gpudf_share_options for share(backend=, devices=), and the C string
    its devices point at (keep it alive until the call returns)."""
    opts = ffi.new("gpudf_share_options *")
    lib.gpudf_share_options_init(opts)
    opts.backend = _BACKENDS[backend]
    keep = None
    if devices is not None:
        if isinstance(devices, (list, tuple)):
            for d in devices:
                if isinstance(d, bool) or not isinstance(d, (int, str)):
                    raise TypeError(f"devices entries are ordinals (int) or UUIDs (str), "
                                    f"got {type(d).__name__}")
            devices = ",".join(str(d) for d in devices)
        elif not isinstance(devices, str):
            raise TypeError(f"devices must be 'all', a str or a list, got "
                            f"{type(devices).__name__}")
        keep = ffi.new("char[]", _c(devices, "devices"))
        opts.devices = keep
    return opts, keep


def _share_handle(handle, backend="cpu", devices=None):
    """A Share of the table behind handle (a Table object need not exist:
    its frames hold the handle)."""
    opts, keep = _share_options(backend, devices)
    out = ffi.new("gpudf_share **")
    _check(lib.gpudf_table_share_ex(handle.ptr, ffi.NULL, opts, out))
    del keep
    return Share(out[0], handle)


def _open_share(handle):
    """The open Share of the table behind handle, else None (a table has at
    most one: gpudf.Pool borrows it rather than copy the table's arrays)."""
    ref = handle.share
    s = ref() if ref is not None else None
    return s if s is not None and s._ptr is not None and not s._close_wanted else None


class _Export:
    """Held by every array, frame and Arrow buffer made over an owner
    Table's arena, so that the Table knows whether any is alive."""
    __slots__ = ("handle", "__weakref__")

    def __init__(self, handle):
        self.handle = handle


class Table(_Schema):
    """An owner's table, built in shared memory. Build it with from_numpy,
    from_pandas or from_arrow; publish it with share().

    Adding a column may move the arena (it grows by remapping), so a column
    cannot be added while an array, frame or Arrow table from column(),
    to_pandas() or to_arrow() is alive: that raises rather than leave them
    over unmapped memory. Add every column first."""

    def _keepalive(self):
        token = _Export(self._handle)
        self._exports.add(token)
        return token

    def _exported(self):
        """Whether an array, frame or Arrow buffer over the arena is alive."""
        return len(self._exports) > 0

    def _may_grow(self, what):
        if self._exported():
            raise Error(lib.GPUDF_EBUSY, f"{what}: arrays, frames or Arrow tables made by "
                        "column(), to_pandas() or to_arrow() of this table are alive, and "
                        "adding a column may move the table's memory under them; add every "
                        "column first, or drop them (or copy them with numpy.array) before")

    def __init__(self, nrows):
        out = ffi.new("gpudf_table **")
        nrows = int(nrows)
        if not 0 <= nrows < 2 ** 63:
            raise Error(lib.GPUDF_EINVAL, f"nrows = {nrows} is out of range")
        _check(lib.gpudf_table_create(nrows, out))
        self._own(out[0])

    def _own(self, ptr):
        self._handle = _Handle(ptr)
        _OWNED.add(self._handle)
        self._ptr = ptr
        self._shares = []  # its open Shares: published while the Table lives
        self._exports = weakref.WeakSet()  # _Export tokens of live arrays over the arena

    @classmethod
    def _adopt(cls, ptr):
        """The Table of a gpudf_table the library made (read_csv)."""
        t = cls.__new__(cls)
        t._own(ptr)
        return t

    def _add(self, name, values):
        """Copies values once, straight into a new column of the arena."""
        if not isinstance(name, str):
            raise TypeError(f"column names must be str, got {name!r}")
        values = np.asarray(values)
        if values.ndim != 1:
            raise TypeError(f"column '{name}' must be one-dimensional, got shape {values.shape}")
        # Big-endian data is swapped on its way into the arena (the one copy).
        native = values.dtype.newbyteorder("=") if values.dtype.byteorder == ">" else values.dtype
        casting = "safe" if native != np.float16 else "same_kind"
        gtype = _FROM_NUMPY.get(native)
        if native == np.uint64:
            if len(values) and values.max() > np.iinfo(np.int64).max:
                raise TypeError(f"column '{name}' (uint64) holds values above 2**63 - 1, which "
                                "gpudf's int64 cannot hold; convert it to float64 "
                                "(.astype('float64')) if that precision will do")
            gtype, casting = lib.GPUDF_TYPE_I64, "unsafe"  # checked: every value fits
        if gtype is None:
            raise TypeError(_unsupported(name, values.dtype))
        if len(values) != self.nrows:
            raise Error(lib.GPUDF_EINVAL, f"column '{name}' has {len(values)} rows, "
                        f"the table {self.nrows}")
        self._may_grow(f"column '{name}'")
        out = ffi.new("void **")
        _check(lib.gpudf_table_alloc_column(self._ptr, _c(name, "column name"), gtype, out))
        dtype = _TO_NUMPY[gtype]
        dest = np.frombuffer(ffi.buffer(out[0], len(values) * dtype.itemsize), dtype=dtype)
        np.copyto(dest, values, casting=casting)

    def _add_categorical(self, name, col):
        """Codes and labels straight into the arena (labels as UTF-8 str)."""
        if not isinstance(name, str):
            raise TypeError(f"column names must be str, got {name!r}")
        self._may_grow(f"column '{name}'")
        codes = np.ascontiguousarray(col.cat.codes.to_numpy(), dtype=np.int32)
        labels = [ffi.new("char[]", _c(c, "category")) for c in col.cat.categories]
        arr = ffi.new("const char *[]", labels) if labels else ffi.NULL
        _check(lib.gpudf_table_add_categorical(
            self._ptr, _c(name, "column name"), ffi.cast("const int32_t *", codes.ctypes.data),
            len(labels), arr))

    @classmethod
    def from_numpy(cls, columns):
        """A table from a mapping of names to 1-d arrays of equal length."""
        columns = dict(columns)
        if not columns:
            raise Error(lib.GPUDF_EINVAL, "from_numpy needs at least one column")
        lengths = {len(np.asarray(v)) for v in columns.values()}
        if len(lengths) != 1:
            raise Error(lib.GPUDF_EINVAL, f"columns have different lengths: {sorted(lengths)}")
        t = cls(lengths.pop())
        for name, values in columns.items():
            t._add(name, values)
        return t

    @classmethod
    def from_pandas(cls, df):
        """A table from a DataFrame: numeric, bool and category columns.
        Categories become i32 codes plus a dictionary of their labels (as
        str) kept in the shared memory, so to_pandas restores them here and in
        every attached process. Nullable floats map missing values to NaN;
        nullable integers and bools with missing values are refused."""
        import pandas as pd
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}"
                            + (" (a Series: use series.to_frame())"
                               if isinstance(df, pd.Series) else ""))
        if len(df.columns) == 0:
            raise Error(lib.GPUDF_EINVAL, "the DataFrame has no columns")
        dups = df.columns[df.columns.duplicated()].unique()
        if len(dups):
            raise Error(lib.GPUDF_EEXIST, f"the DataFrame has duplicate column names "
                        f"{list(dups)!r}; a gpudf table needs unique names (rename them)")
        t = cls(len(df))
        for j, name in enumerate(df.columns):
            col = df.iloc[:, j]
            if isinstance(col.dtype, pd.CategoricalDtype):
                t._add_categorical(name, col)
                continue
            t._add(name, _pandas_values(name, col))
        return t

    @classmethod
    def from_arrow(cls, obj):
        """A table from any object with __arrow_c_stream__ or
        __arrow_c_array__ (pyarrow Table/RecordBatch, polars DataFrame...)."""
        import pyarrow as pa
        if hasattr(obj, "__arrow_c_stream__"):
            table = pa.table(obj)
        elif hasattr(obj, "__arrow_c_array__"):
            try:
                table = pa.table(pa.record_batch(obj))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
                raise TypeError(f"{type(obj).__name__} is not a table or record batch (a "
                                f"single array has no column names: wrap it, e.g. "
                                f"pyarrow.table({{'x': arr}})): {e}") from None
        else:
            raise TypeError(f"{type(obj).__name__} has neither __arrow_c_stream__ nor "
                            "__arrow_c_array__")
        if table.num_columns == 0:
            raise Error(lib.GPUDF_EINVAL, "the Arrow table has no columns")
        # Column by column, so that no second copy of the whole table exists:
        # a single-chunk numeric column without nulls is a zero-copy numpy
        # view; others are converted one column at a time.
        t = cls(table.num_rows)
        for name, col in zip(table.column_names, table.columns):
            if pa.types.is_dictionary(col.type):
                t._add_categorical(name, col.to_pandas())
            elif col.null_count == 0 and col.num_chunks == 1 and (
                    pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                t._add(name, col.chunk(0).to_numpy(zero_copy_only=True))
            elif col.null_count and (pa.types.is_integer(col.type) or
                                     pa.types.is_boolean(col.type)):
                # to_pandas would make them float64 with NaN: wrong above 2**53.
                raise TypeError(f"column '{name}' ({col.type}) has {col.null_count} nulls, which "
                                "an integer or bool column cannot hold; fill them "
                                "(pyarrow.compute.fill_null) or cast to float64 so they "
                                "become NaN")
            else:
                t._add(name, _pandas_values(name, col.to_pandas()))
        return t

    def column(self, column):
        """Read-only array over the column in shared memory (no copy)."""
        return self._array(self._index(column), self._keepalive())

    def share(self, name=None, backend="auto", devices=None):
        """Publishes the table under name (None: a unique one). The table is
        read-only from then on. The share stays published until close() (or
        the end of its with-block), or until both the Share and this Table
        are gone: `name = t.share().name` keeps it while t lives. devices
        (cuda-ipc: one replica per device) is "all", a list of ordinals and
        UUID strings, or the same comma-separated in one string; None:
        GPUDF_DEVICES, else all (docs/placements.md, "Several GPUs")."""
        if backend not in _BACKENDS:
            raise Error(lib.GPUDF_EINVAL, f"unknown backend {backend!r}; use one of "
                        f"{', '.join(_BACKENDS)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"share name must be a str or None, got {type(name).__name__}")
        if name == "":
            raise Error(lib.GPUDF_EINVAL, "share name is empty; pass None for a unique name")
        opts, keep = _share_options(backend, devices)
        out = ffi.new("gpudf_share **")
        _check(lib.gpudf_table_share_ex(self._live(), _c(name, "share name") if name else ffi.NULL,
                                        opts, out))
        del keep  # opts.devices pointed into it until the call returned
        s = Share(out[0], self._handle)
        self._shares = [x for x in self._shares if x._ptr is not None] + [s]
        return s

    def to_pandas(self):
        return _frame(self, self._keepalive())


_CSV_TYPES = {"infer": lib.GPUDF_CSV_INFER, "int64": lib.GPUDF_CSV_INT64,
              "float64": lib.GPUDF_CSV_FLOAT64, "bool": lib.GPUDF_CSV_BOOL,
              "category": lib.GPUDF_CSV_CATEGORY}


def read_csv(path, delimiter=",", dtypes=None, threads=None):
    """A Table read by the C library straight into shared memory. dtypes maps
    column names to "int64", "float64", "bool" or "category" (the rest are
    inferred); string columns become categories. No integer is rounded unless
    asked: integers that neither int64 nor float64 holds exactly (beyond
    int64, or beyond 2^53 in a column with missing values) keep their column
    as categories of their texts, and among decimals they are refused;
    dtypes={name: "float64"} rounds them (gpudf_table_read_csv in gpudf.h).
    threads: how many threads parse a file over 1 MiB (None: GPUDF_THREADS,
    else every online CPU); the table and any error are the same for every
    count."""
    opts = ffi.new("gpudf_csv_options *")
    lib.gpudf_csv_options_init(opts)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int or None, got {type(threads).__name__}")
        if threads < 1:
            raise Error(lib.GPUDF_EINVAL, f"threads = {threads}: use 1 or more, or None for "
                        "every CPU")
        opts.threads = threads
    if len(delimiter) != 1 or len(delimiter.encode()) != 1:
        raise Error(lib.GPUDF_EINVAL, f"delimiter must be one byte, got {delimiter!r}")
    opts.delimiter = delimiter.encode()
    keep = []
    if dtypes:
        types = ffi.new("gpudf_csv_column_type[]", len(dtypes))
        for i, (name, kind) in enumerate(dtypes.items()):
            kind = str(np.dtype(kind)) if kind not in _CSV_TYPES else kind
            if kind not in _CSV_TYPES:
                raise Error(lib.GPUDF_EINVAL, f"column {name!r}: dtype {kind!r} is not one of "
                            f"{', '.join(_CSV_TYPES)}")
            keep.append(ffi.new("char[]", _c(name, "column name")))
            types[i].name = keep[-1]
            types[i].type = _CSV_TYPES[kind]
        opts.ntypes = len(dtypes)
        opts.types = types
    out = ffi.new("gpudf_table **")
    _check(lib.gpudf_table_read_csv(os.fsencode(path), opts, out))
    return Table._adopt(out[0])


def read_parquet(path, columns=None):
    """A Table filled from a Parquet file row group by row group, straight
    into shared memory: the memory it takes at its peak is the table plus
    about one row group (its pages and the arrays decoded from them), not
    two copies of the table. columns picks and orders
    columns (default: all). Text and dictionary columns become categoricals
    (a dictionary column keeps its labels' order, unused ones included; a
    text column's labels are sorted bytewise, as read_csv's), nulls become
    NaN in float columns and missing codes in categoricals. Integer and
    bool columns with nulls, uint64 values above 2**63 - 1 and types a
    table cannot hold (timestamps, decimals, bytes, nested) are refused
    with a message naming the column."""
    from ._arrow import read_parquet as read
    return read(path, columns)


def _unsupported(name, dtype):
    hint = ("convert it to a category (df[col].astype('category')) or a numeric dtype"
            if dtype == object or dtype.kind in "OSU" else
            "convert it to int64 (e.g. .astype('int64') for datetimes) or float64"
            if dtype.kind in "mM" else "convert it to a numeric dtype")
    return f"column '{name}' has dtype {dtype}, which gpudf cannot store; {hint}"


def _pandas_values(name, col):
    import pandas as pd
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise TypeError(f"column '{name}' holds datetimes with a time zone; convert them to "
                        "int64 nanoseconds (.astype('int64')) or drop the zone first")
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(dtype, np.dtype):
        kind = getattr(dtype, "kind", "O")
        if kind == "f":
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
        if kind in "iub":
            if col.isna().any():
                raise TypeError(f"column '{name}' ({dtype}) has missing values, which an "
                                "integer or bool column cannot hold; fill them "
                                "(.fillna(...)) or convert to float64 so they become NaN")
            return col.to_numpy(dtype=dtype.numpy_dtype)
        raise TypeError(_unsupported(name, np.dtype(object)))
    return col.to_numpy()


def _labels(table, index):
    """The dictionary of categorical column index, or None."""
    p = table._live()
    if not lib.gpudf_table_column_is_categorical(p, index):
        return None
    return _decode_all([ffi.string(lib.gpudf_table_column_label(p, index, k))
                        for k in range(lib.gpudf_table_column_nlabels(p, index))])


def _frame(table, keepalive):
    """A DataFrame whose numeric and bool columns are views of the shared
    memory: one block per column, never consolidated into a copy. Categorical
    columns come back as pd.Categorical over their labels."""
    import pandas as pd
    data = {}
    for i, name in enumerate(table.columns):
        arr = table._array(i, keepalive)
        labels = _labels(table, i)
        if labels is not None:
            data[name] = pd.Categorical.from_codes(arr, labels)
        else:
            data[name] = arr
    return pd.DataFrame(data, copy=False)


_BORROW_LOCK = threading.Lock()


class Share:
    """A published table. Close it (or leave the with-block) to unpublish;
    attached processes keep their views. Pickles as its name."""

    def __init__(self, ptr, handle):
        self._ptr = ptr
        # The table's memory stays while published; the Table holds this
        # Share in turn (no cycle: the handle, not the Table).
        self._handle = handle
        handle.share = weakref.ref(self)
        # gpudf.Pool borrows an open share for the objects it sends that lie
        # in the table: close() then waits for the last borrower (_release).
        self._borrows = 0
        self._close_wanted = False
        self.name = _str(lib.gpudf_share_name(ptr))
        self.backend = _str(lib.gpudf_backend_name(lib.gpudf_share_backend(ptr)))
        # UUIDs of the devices holding a replica (cuda-ipc), and those left
        # out under "all" with why ("" if none).
        self.devices = [_str(lib.gpudf_share_replica_device(ptr, i))
                        for i in range(lib.gpudf_share_nreplicas(ptr))]
        self.skipped = _str(lib.gpudf_share_skipped(ptr))
        self._finalizer = weakref.finalize(self, lib.gpudf_share_close, ptr)

    def close(self):
        """Unpublishes the share; while a gpudf.Pool still has tasks over it
        (objects that lie in this table), it stays published until they are
        done, then closes."""
        with _BORROW_LOCK:
            if self._borrows > 0:
                self._close_wanted = True
                return
        self._close_now()

    def _close_now(self):
        self._finalizer()
        self._ptr = None
        if self._handle is not None and self._handle.share is not None \
                and self._handle.share() is self:
            self._handle.share = None
        self._handle = None

    def _borrow(self):
        """One more user of this open share (False: it is closed)."""
        with _BORROW_LOCK:
            if self._ptr is None or self._close_wanted:
                return False
            self._borrows += 1
            return True

    def _release(self):
        with _BORROW_LOCK:
            self._borrows -= 1
            close = self._borrows == 0 and self._close_wanted
        if close:
            self._close_now()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return (str, (self.name,))

    def __repr__(self):
        return f"<Share {self.name!r} backend={self.backend}>"


class TableView(_Schema):
    """A read-only view of a shared table, attached by name. Arrays and
    DataFrames from it stay valid while they exist, even after detach()."""

    def __init__(self, name):
        out = ffi.new("gpudf_table **")
        _check(lib.gpudf_attach(_c(name, "share name"), out))
        self.name = name
        self._handle = _Handle(out[0])
        self._ptr = out[0]

    def column(self, column):
        return self._array(self._index(column), self._handle)

    def to_pandas(self):
        return _frame(self, self._handle)

    def detach(self):
        """Drops this view; the mapping goes once no array uses it."""
        self._ptr = None
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()


def attach(name_or_share):
    """Attaches to a shared table by name (or Share). Attaching the same name
    again in a process reuses the mapping, also after the previous view and
    its arrays are gone (the library keeps the mappings of up to 4 unused
    shares, see unmap_idle), so per-task attaches are cheap."""
    name = name_or_share.name if isinstance(name_or_share, Share) else str(name_or_share)
    return TableView(name)


class Replica:
    """A replica of a share this process added on its current device
    (add_replica). It lives until close() (or the end of its with-block) or
    this process's exit."""

    def __init__(self, ptr):
        self._ptr = ptr
        self.device = _str(lib.gpudf_replica_device(ptr))
        self._finalizer = weakref.finalize(self, lib.gpudf_replica_free, ptr)

    def close(self):
        self._finalizer()
        self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Replica on {self.device}>"


def add_replica(name_or_share):
    """Adds a replica of a cuda-ipc share on this process's current device,
    from the shared host arena, for a process that sees a device the share
    has none on (an MPI rank given one GPU): attachers on that device then
    read it (gpudf_share_add_replica in gpudf.h)."""
    name = name_or_share.name if isinstance(name_or_share, Share) else str(name_or_share)
    out = ffi.new("gpudf_replica **")
    _check(lib.gpudf_share_add_replica(_c(name, "share name"), out))
    return Replica(out[0])


# ----------------------------------------------------------------- kernels

def _kernel(name):
    out = ffi.new("const gpudf_kernel **")
    _check(lib.gpudf_kernel_find(_c(name, "kernel name"), out))
    return out[0]


def load_plugin(path):
    """Loads a plugin library (one exporting gpudf_plugin_init) into this
    process, so that run() and describe() know its kernels; sweep(...,
    plugins=[...]) loads them here and in every worker. Loading a file again
    does nothing."""
    _check(lib.gpudf_plugin_load(os.fsencode(path)))


def kernels():
    """Names of the kernels the library knows."""
    return [_str(lib.gpudf_kernel_name(lib.gpudf_kernel_at(i)))
            for i in range(lib.gpudf_kernel_count())]


def _params(k):
    info = ffi.new("gpudf_param_info *")
    out = []
    for i in range(lib.gpudf_kernel_nparams(k)):
        _check(lib.gpudf_kernel_param(k, i, info))
        out.append({
            "name": _str(info.name), "kind": _KINDS[info.kind],
            "default": getattr(info, "def"),  # a Python keyword as a C field name
            "min": info.min, "max": info.max, "shape": bool(info.shape),
            "choices": [_str(info.choices[j]) for j in range(info.nchoices)],
            "types": _accepted(lib.gpudf_kernel_param_accepts(k, i)),
            "summary": _str(info.summary)})
    return out


def _accepted(mask):
    """The column type names of a gpudf_accept mask ([] for a parameter that
    is no column)."""
    bits = [("i32", lib.GPUDF_ACCEPT_I32), ("i64", lib.GPUDF_ACCEPT_I64),
            ("f32", lib.GPUDF_ACCEPT_F32), ("f64", lib.GPUDF_ACCEPT_F64),
            ("bool", lib.GPUDF_ACCEPT_BOOL), ("category", lib.GPUDF_ACCEPT_CATEGORICAL)]
    return [name for name, bit in bits if mask & bit]


def _result_bytes(k, config):
    """config's result names (None: the defaults') as gpudf_kernel_result_names
    writes them, each followed by a NUL, in one C call: up to 5 x 65536
    names, where a call per name cost half a second."""
    cfg = ffi.NULL if config is None else ffi.cast("const double *", ffi.from_buffer(config))
    n = lib.gpudf_kernel_nresults(k, cfg)
    if n <= 0:
        return b""
    needed = ffi.new("size_t *")
    size = 16 * n  # "count_65535" + NUL: the built-in names fit; a plugin's may not
    for _ in range(2):
        buf = ffi.new("char[]", size)
        status = lib.gpudf_kernel_result_names(k, cfg, buf, size, needed)
        if status != lib.GPUDF_EOVERFLOW:
            break
        size = needed[0]
    _check(status)
    return ffi.buffer(buf, needed[0])


def _result_names(k, config):
    raw = _result_bytes(k, config)
    return raw[:len(raw) - 1].decode().split("\0") if len(raw) else []


def _result_index(k, config):
    """config's result names as a pandas Index of the dtype pd.Index(names)
    would have. Where that is pandas 3's pyarrow-backed str, the Index is
    built from the C buffer with numpy (offsets and bytes) and no Python
    string per name: 5 ms at 327680 names, against 40 ms for decoding a
    list and 20 ms more for pandas to convert it."""
    import pandas as pd
    raw = _result_bytes(k, config)
    arrow = _arrow_str_dtype()
    if arrow is None or not len(raw):
        return pd.Index(_result_names(k, config))
    import pyarrow as pa
    b = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(b == 0)  # one NUL after each name
    offsets = np.zeros(len(ends) + 1, np.int64)
    offsets[1:] = ends - np.arange(len(ends))  # bytes of the names up to each one's end
    names = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets),
                                             pa.py_buffer(b[b != 0].copy()))
    names = names.cast(pa.string()) if offsets[-1] < 2**31 else names
    return pd.Index(pd.array(names, dtype=arrow), copy=False)


_ARROW_STR = []


def _arrow_str_dtype():
    """The dtype pd.Index of strs gets when it is pyarrow-backed (pandas 3 with
    pyarrow installed), else None (object or python-backed str: built from a
    list as before)."""
    if not _ARROW_STR:
        import pandas as pd
        dtype = pd.Index(["a"]).dtype
        _ARROW_STR.append(dtype if getattr(dtype, "storage", None) == "pyarrow" else None)
    return _ARROW_STR[0]


class KernelInfo(dict):
    """describe()'s answer: a dict (name, summary, params, results) that
    prints as a table a person can read."""

    def __repr__(self):
        lines = [f"{self['name']}: {self['summary']}", "parameters:"]
        for p in self["params"]:
            if p["kind"] == "choice":
                what = f"one of {', '.join(p['choices'])}, default {p['choices'][int(p['default'])]}"
            elif p["kind"] == "column":
                what = (f"a column of {'/'.join(p['types'])} (name or index), "
                        "default the first such column")
            else:
                lo = "(0" if 0 < p["min"] < 1e-300 else f"[{_num(p['min'])}"
                what = f"{p['kind']} in {lo}, {_num(p['max'])}], default {_num(p['default'])}"
            lines.append(f"  {p['name']:<18} {what}")
            lines.append(f"  {'':<18} {p['summary']}")
        lines.append("results:")
        lines += [f"  {r['name']:<18} {r['summary']}" for r in self["results"]]
        return "\n".join(lines)


def _num(v):
    return str(int(v)) if v == v and abs(v) < 1e17 and v == int(v) else f"{v:g}"


def describe(name):
    """A kernel's parameters (name, kind, default, min, max, choices, shape,
    types: the column types a column parameter accepts, summary) and result
    fields, as a dict that prints readably. A column parameter left out of
    run/sweep configs takes the first column of the table of a type it
    accepts, not the default column 0."""
    k = _kernel(name)
    info = ffi.new("gpudf_result_info *")
    results = []
    for i in range(lib.gpudf_kernel_nresults(k, ffi.NULL)):
        _check(lib.gpudf_kernel_result(k, ffi.NULL, i, info))
        results.append({"name": ffi.string(info.name).decode(), "summary": _str(info.summary)})
    return KernelInfo(name=name, summary=_str(lib.gpudf_kernel_summary(k)),
                      params=_params(k), results=results)


def grid(kernel=None, where=None, **params):
    """The Cartesian product of the given parameter values as a DataFrame,
    optionally filtered by a pandas query expression such as "fast < slow":
    grid("ma_crossover", fast=range(5, 50, 5), slow=[100, 200], where="fast < slow").
    With a kernel, a name that is not one of its parameters is a gpudf.Error.
    (A first argument that is not a kernel name is taken as where, as before
    the kernel came first.)"""
    import itertools
    import pandas as pd
    if kernel is not None and kernel not in kernels():
        if where is None and isinstance(kernel, str):
            kernel, where = None, kernel
        else:
            _kernel(kernel)  # the library's message: no such kernel
    if kernel is not None:
        known = [p["name"] for p in _params(_kernel(kernel))]
        unknown = [n for n in params if n not in known]
        if unknown:
            raise Error(lib.GPUDF_EINVAL, f"grid: {unknown} not parameter(s) of kernel "
                        f"'{kernel}' (it takes {known})")
    names = list(params)
    values = [list(v) if not isinstance(v, (str, bytes)) and hasattr(v, "__iter__") else [v]
              for v in params.values()]
    frame = pd.DataFrame(list(itertools.product(*values)), columns=names)
    if where:
        try:
            frame = frame.query(where).reset_index(drop=True)
        except Exception as e:  # pandas' own types (SyntaxError, UndefinedVariableError...)
            raise Error(lib.GPUDF_EINVAL, f"grid: where={where!r} is not a condition on "
                        f"{names}: {type(e).__name__}: {e}") from e
    return frame


def _default(table, k, j, p):
    """Parameter j's default: for a column parameter the first column of the
    table of a type it accepts (gpudf_kernel_default_column, as gpudf-sweep
    picks it; ma_crossover prefers a column called close or price), not
    column 0 whatever it holds; raises when no column fits."""
    if p["kind"] != "column":
        return p["default"]
    col = ffi.new("int *")
    _check(lib.gpudf_kernel_default_column(k, j, table._live(), col))
    return col[0]


def _config_matrix(table, k, configs):
    """configs (DataFrame or list of dicts) -> dense n x nparams float64,
    with column params by name or index, choices by name or index, and the
    kernel's defaults for the rest (see _default). Validation stays in the
    library."""
    import pandas as pd
    params = _params(k)
    if isinstance(configs, pd.DataFrame):
        frame = configs
    else:
        rows = [dict(c) for c in configs]
        given = {key for r in rows for key in r}
        defaults = {p["name"]: _default(table, k, j, p) for j, p in enumerate(params)
                    if p["name"] in given and any(p["name"] not in r for r in rows)}
        frame = pd.DataFrame([{**defaults, **r} for r in rows])
    known = {p["name"] for p in params}
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        raise Error(lib.GPUDF_EINVAL, f"unknown parameter(s) {unknown} for kernel "
                    f"'{_str(lib.gpudf_kernel_name(k))}' (it takes {sorted(known)})")
    out = np.empty((len(frame), len(params)), dtype=np.float64)
    for j, p in enumerate(params):
        if p["name"] not in frame.columns:
            out[:, j] = _default(table, k, j, p) if len(frame) else p["default"]
            continue
        col = frame[p["name"]]
        if p["kind"] == "column":
            out[:, j] = [table._index(v) if isinstance(v, str) else v for v in col]
        elif p["kind"] == "choice":
            out[:, j] = [_choice(p, v) for v in col]
        else:
            out[:, j] = col.to_numpy(dtype=np.float64)
    return np.ascontiguousarray(out), frame


def _choice(p, v):
    if isinstance(v, str):
        if v not in p["choices"]:
            raise Error(lib.GPUDF_EINVAL, f"parameter '{p['name']}' = {v!r} is not one of "
                        f"{p['choices']}")
        return p["choices"].index(v)
    return v


def _table_arg(table, fn):
    """A Table or TableView; a Share or a share name is attached."""
    if isinstance(table, (Share, str)):
        return attach(table)
    if not isinstance(table, _Schema):
        raise TypeError(f"{fn} takes a Table, TableView, Share or share name, got "
                        f"{type(table).__name__}")
    return table


def run(table, kernel, configs):
    """Evaluates configs in this process, in one pass over the rows.

    configs as a DataFrame or a list of dicts (parameters by name, columns
    and choices by name or index, defaults for the rest): returns the
    configs with the result columns added, as a DataFrame.

    configs as a 2-D numpy array (n x nparams, the kernel's parameters in
    describe() order, columns and choices as indices): returns the n x width
    float64 result array, with no pandas on the way (for tight loops: the
    DataFrame path costs a few milliseconds per call)."""
    table = _table_arg(table, "run")
    k = _kernel(kernel)
    if isinstance(configs, dict):  # one config
        configs = [configs]
    if isinstance(configs, np.ndarray):
        return _run_matrix(table, k, configs)
    import pandas as pd
    matrix, frame = _config_matrix(table, k, configs)
    results = _run_matrix(table, k, matrix)
    names = _result_names(k, matrix[0] if len(matrix) else None)
    return pd.concat([frame.reset_index(drop=True),
                      pd.DataFrame(results, columns=names)], axis=1)


def _run_matrix(table, k, configs):
    nparams = lib.gpudf_kernel_nparams(k)
    if configs.ndim != 2 or configs.shape[1] != nparams:
        raise Error(lib.GPUDF_EINVAL, f"configs array has shape {configs.shape}; kernel "
                    f"'{_str(lib.gpudf_kernel_name(k))}' takes (n, {nparams})")
    matrix = np.ascontiguousarray(configs, dtype=np.float64)
    width = lib.gpudf_kernel_nresults(k, ffi.cast("const double *", ffi.from_buffer(matrix))
                                      if len(matrix) else ffi.NULL)
    if width <= 0:  # a bad shape parameter: the library says which and why
        _check(lib.gpudf_validate(table._live(), k,
                                  ffi.cast("const double *", ffi.from_buffer(matrix)),
                                  len(matrix)))
        raise Error(lib.GPUDF_EINVAL, _str(lib.gpudf_last_error()))
    results = np.empty((len(matrix), width), dtype=np.float64)
    _check(lib.gpudf_run(table._live(), k, ffi.cast("const double *", ffi.from_buffer(matrix)),
                         len(matrix), ffi.cast("double *", ffi.from_buffer(results))))
    return results


_STATES = {lib.GPUDF_CONFIG_PENDING: "pending", lib.GPUDF_CONFIG_DONE: "ok",
           lib.GPUDF_CONFIG_FAILED: "failed", lib.GPUDF_CONFIG_TIMED_OUT: "timeout",
           lib.GPUDF_CONFIG_CANCELLED: "cancelled"}


def _progress_callback(progress):
    """progress=True: the library's bar in a terminal, tqdm in a notebook (when
    installed), nothing otherwise. A callable gets a dict ~10 times a second
    (done, failed, total, elapsed, eta, fraction: of the work, counting the
    running batches) and cancels the sweep by returning True."""
    import sys
    if progress is True:
        if sys.stderr.isatty():
            return lib.gpudf_progress_bar, None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return ffi.NULL, None
        bar = {}

        def draw(p):
            if "bar" not in bar:
                bar["bar"] = tqdm(total=p["total"], unit="config")
            # The running batches' share of the work counts too.
            bar["bar"].n = round(p["fraction"] * p["total"], 1)
            bar["bar"].refresh()
            if p["done"] + p["failed"] >= p["total"]:
                bar["bar"].close()
        progress = draw
    if progress is None or progress is False:
        return ffi.NULL, None
    if not callable(progress):
        raise TypeError(f"progress must be None, True or a callable, got "
                        f"{type(progress).__name__}")
    raised = []

    @ffi.callback("gpudf_sweep_progress_fn")
    def cb(p, _user):
        try:
            return 1 if progress({"done": p.done, "failed": p.failed, "total": p.total,
                                  "elapsed": p.elapsed_s, "eta": p.eta_s,
                                  "fraction": p.fraction}) else 0
        except BaseException as e:  # cannot cross into C: stop, raise it after the sweep
            raised.append(e)
            return 1
    return cb, (cb, raised)


# Built-in kernels (a plugin cannot take their names) whose result names are
# all distinct at every width.
_DISTINCT_RESULTS = frozenset({"groupby_agg", "histogram"})


def _sweep_frame(kernel, frame, names, results, res, state=None, reason=None):
    """The configs, then the n x width results, a status and an error column,
    as one DataFrame built in one step: adding the result columns one at a
    time costs seconds to minutes at the widths groupby_agg and histogram
    allow (5 x 65536 columns), for no C work at all. state and reason read
    another result than gpudf_sweep's (an MPI sweep's: _mpi.py)."""
    import pandas as pd
    n = len(results)
    state = state or lib.gpudf_sweep_result_state
    reason = reason or (lambda r, i: _str(lib.gpudf_sweep_result_reason(r, i)))
    states = [state(res, i) for i in range(n)]
    tail = pd.DataFrame({
        "status": [_STATES[s] for s in states],
        # A finished config has no reason: skip n calls in the usual case.
        "error": ["" if s == lib.GPUDF_CONFIG_DONE else reason(res, i) or ""
                  for i, s in enumerate(states)]})
    frame = frame.reset_index(drop=True)
    clash = names.isin(list(frame.columns) + ["status", "error"]).any()
    # is_unique costs 100 ms at 327680 names: the wide built-ins' names are
    # distinct by construction (tests/test_kernels.cc checks it at every width).
    if clash or (kernel not in _DISTINCT_RESULTS and not names.is_unique):
        # A plugin's result named as a parameter (or twice): as before, the
        # later column replaces the earlier one in its place.
        frame = frame.copy()
        for j, name in enumerate(names):
            frame[name] = results[:, j]
        frame["status"], frame["error"] = tail["status"], tail["error"]
        return frame
    # columns= an Index: pandas takes it as it is (no check, no conversion).
    block = pd.DataFrame(results, columns=names, copy=False)
    return pd.concat([frame, block, tail], axis=1)


def _series_column(table, k, series):
    """The column index of series= (-1: none). A kernel that depends on row
    order over a table with a categorical column whose labels come in runs
    (the long shape) needs series= a column or "none": backtesting one
    symbol's bars into the next one's is refused, never done silently."""
    if series is None:
        guess = lib.gpudf_sweep_series_guess(table._live(), k)
        if guess >= 0:
            name = table.columns[guess]
            raise Error(lib.GPUDF_EINVAL,
                        f"column '{name}' looks like the series of a long table (its labels "
                        f"come in runs), and this kernel depends on row order: pass "
                        f"series='{name}' to backtest each series on its own rows, or "
                        f"series='none' to read the rows as one series")
        return -1
    if series is False or (isinstance(series, str) and series == "none"):
        return -1
    return table._index(series)


def _series_summary(frame, res, results, names, nseries, summarize=None, ffi_=None):
    """The aggregates across series of each config (gpudf_sweep_series_summary,
    or summarize of ffi_: an MPI sweep's, _mpi.py): one row per config, its
    parameters then mean_sharpe, median_sharpe, positive, series_ok, series,
    portfolio_return, portfolio_sharpe, portfolio_bars (the equal-weight
    portfolio: NaN without time= and across MPI ranks, the reason in its
    attrs["portfolio_reason"]); None for a kernel without sharpe and
    total_return."""
    import pandas as pd
    if "sharpe" not in names or "total_return" not in names:
        return None
    f = ffi_ or ffi
    n = len(results) // nseries
    out = f.new("gpudf_series_summary[]", max(n, 1))
    _check((summarize or lib.gpudf_sweep_series_summary)(
        res, f.cast("const double *", f.from_buffer(results)), len(names),
        names.get_loc("sharpe"), names.get_loc("total_return"), out))
    params = frame.iloc[::nseries].drop(columns=["series"]).reset_index(drop=True)
    agg = pd.DataFrame({
        "mean_sharpe": [out[i].mean_sharpe for i in range(n)],
        "median_sharpe": [out[i].median_sharpe for i in range(n)],
        "positive": [out[i].positive for i in range(n)],
        "series_ok": [out[i].series_ok for i in range(n)],
        "series": [out[i].series for i in range(n)],
        "portfolio_return": [out[i].portfolio_return for i in range(n)],
        "portfolio_sharpe": [out[i].portfolio_sharpe for i in range(n)],
        "portfolio_bars": [out[i].portfolio_bars for i in range(n)]})
    summary = pd.concat([params, agg], axis=1)
    summary.attrs["portfolio_reason"] = (
        _str(lib.gpudf_sweep_series_portfolio_reason(res)) if summarize is None else
        "the equal-weight portfolio is not computed for a sweep across MPI ranks")
    return summary


def _set_sweep_options(opts, workers, backend, timeout, batch, retries):
    """sweep()'s arguments into a gpudf_sweep_options (of either ffi)."""
    for name, value, field, conv in (("workers", workers, "workers", int),
                                     ("timeout", timeout or None, "time_limit_s", float),
                                     ("batch", batch or None, "batch", int),
                                     ("retries", retries, "retries", int)):
        if value is not None:
            try:
                setattr(opts, field, conv(value))
            except OverflowError:  # the library's own range check names the limits
                raise Error(lib.GPUDF_EINVAL, f"{name} = {value} is out of range") from None
    opts.backend = _BACKENDS[backend]


def sweep(table, kernel, configs, workers=None, backend="auto", progress=None, timeout=None,
          batch=None, retries=None, plugins=(), series=None, time=None, comm=None,
          workers_per_device=None):
    """Runs configs over a shared table in worker processes (workers=0: in
    this process, a thread per GPU of a GPU placement). workers_per_device:
    for GPU placements, workers (or threads, with workers=0) per device
    (default 1): the default workers are that many per device of the share.
    table is a Table (shared for the sweep if it is not yet),
    a TableView, a Share or a share name. Returns the configs with the result
    columns, a status column (ok, failed, timeout, cancelled) and an error
    column saying why a config did not finish. series: the column naming
    the series of a long table (a kernel that depends on row order then
    runs each config on each series' rows alone: one result row per config
    and series, with a "series" column), or "none"; docs/sweep.md. time:
    with series, the column ordering each series' rows (numeric, or ISO-8601
    dates/timestamps of one format; other date formats are refused). With
    series and a kernel with sharpe and total_return results, the result's
    attrs["summary"] holds the aggregates across series per config (mean and
    median Sharpe, fraction of series with a positive return, and with time=
    an equal-weight portfolio's total return and Sharpe).

    comm: an mpi4py communicator (MPI.COMM_WORLD): one sweep over its ranks
    through libgpudf_mpi, called by every rank; rank 0's table, configs and
    options hold (the others may pass None), the DataFrame comes back on
    rank 0 and None elsewhere, workers are per rank; series= and time= as
    without comm; no progress= (docs/mpi.md)."""
    if comm is not None:
        if workers_per_device is not None:
            raise Error(lib.GPUDF_EINVAL, "sweep(comm=...): workers_per_device= is not passed "
                        "to the ranks yet; set workers= per rank")
        from . import _mpi
        return _mpi.sweep(table, kernel, configs, comm, workers, backend, progress, timeout,
                          batch, retries, plugins, series, time)
    import pandas as pd
    table = _table_arg(table, "sweep")
    for path in plugins:  # here first, so that a kernel they hold is found below
        load_plugin(path)
    if backend not in _BACKENDS:
        raise Error(lib.GPUDF_EINVAL, f"unknown backend {backend!r}")
    k = _kernel(kernel)
    scol = _series_column(table, k, series)
    matrix, frame = _config_matrix(table, k, configs)
    n = len(matrix)
    names = _result_index(k, matrix[0] if n else None)
    nseries = 1
    tcol = -1
    if time is not None:
        if scol < 0:
            raise Error(lib.GPUDF_EINVAL, f"time={time!r} orders the rows within each series: "
                        f"it needs series=COL")
        tcol = table._index(time)
    if scol >= 0 and lib.gpudf_kernel_row_order(k):
        count = ffi.new("int64_t *")
        _check(lib.gpudf_sweep_series_check(table._live(), scol, tcol, count))
        nseries = count[0]
    results = np.full((n * nseries, len(names)), np.nan)
    opts = ffi.new("gpudf_sweep_options *")
    lib.gpudf_sweep_options_init(opts)
    opts.series = scol
    opts.time = tcol
    _set_sweep_options(opts, workers, backend, timeout, batch, retries)
    if workers_per_device is not None:
        try:
            opts.workers_per_device = int(workers_per_device)
        except OverflowError:  # the library's own range check names the limits
            raise Error(lib.GPUDF_EINVAL, f"workers_per_device = {workers_per_device} is out "
                        f"of range") from None
    paths = [ffi.new("char[]", os.fsencode(p)) for p in plugins]
    plugin_array = ffi.new("const char *[]", paths) if paths else ffi.NULL
    opts.nplugins, opts.plugins = len(paths), plugin_array
    opts.progress, keep = _progress_callback(progress)
    out = ffi.new("gpudf_sweep_result **")
    # A sweep with workers shares an unshared Table and may first add derived
    # columns to it (gpudf_table_prepare), which can move its memory: with
    # arrays over that memory alive, share it here instead, without them
    # (they only save work).
    held = None
    if (isinstance(table, Table) and workers != 0 and table._exported()
            and not any(x._ptr is not None for x in table._shares)):
        held = table.share(backend=backend)
    try:
        status = lib.gpudf_sweep(table._live(), k,
                                 ffi.cast("const double *", ffi.from_buffer(matrix)), n,
                                 ffi.cast("double *", ffi.from_buffer(results)), opts, out)
    finally:
        if held is not None:
            held.close()
    raised = keep[1] if isinstance(keep, tuple) else ()
    del keep
    if status not in (lib.GPUDF_OK, lib.GPUDF_ECANCELED):
        _check(status)
    res = ffi.gc(out[0], lib.gpudf_sweep_result_free)
    if raised:  # the progress callback's exception stopped the sweep
        raise raised[0]
    # Ctrl-C or SIGTERM stopped it: the sweep's handlers took the signal, so
    # deliver it again to Python's (KeyboardInterrupt for SIGINT).
    sig = lib.gpudf_sweep_result_signal(res)
    if sig:
        import signal
        signal.raise_signal(sig)
    if nseries > 1 or (scol >= 0 and lib.gpudf_kernel_row_order(k)):
        # Row k * S + q is config k on series q.
        frame = frame.loc[frame.index.repeat(nseries)].reset_index(drop=True)
        frame.insert(0, "series", [_str(lib.gpudf_sweep_result_series(res, i))
                                   for i in range(len(results))])
    summary = None
    if nseries > 1 or (scol >= 0 and lib.gpudf_kernel_row_order(k)):
        summary = _series_summary(frame, res, results, names, nseries)
    frame = _sweep_frame(kernel, frame, names, results, res)
    if summary is not None:
        frame.attrs["summary"] = summary
    report = ffi.new("gpudf_sweep_report *")
    _check(lib.gpudf_sweep_result_report(res, report))
    frame.attrs["report"] = {
        "total": report.total, "done": report.done, "failed": report.failed,
        "timed_out": report.timed_out, "cancelled": report.cancelled,
        "retried": report.retried, "workers": report.workers,
        "backend": _str(lib.gpudf_backend_name(report.backend)),
        "fallback": ffi.string(report.fallback).decode(), "wall_s": report.wall_s,
        "first_result_s": report.first_result_s if report.first_result_s >= 0 else None,
        "workers_started": report.workers_started,
        "workers_lost": report.workers_lost,
        "worker_path": ffi.string(report.worker_path).decode(errors="replace"),
        "devices": _per_device(res)}
    return frame


def _per_device(res):
    """Per device the sweep's workers (or threads, workers=0) ran on: how
    many, the configs they finished and their kernel seconds; {} on the cpu."""
    out = {}
    info = ffi.new("gpudf_sweep_worker_info *")
    for i in range(lib.gpudf_sweep_result_nworkers(res)):
        _check(lib.gpudf_sweep_result_worker(res, i, info))
        dev = ffi.string(info.device).decode()
        if dev:
            d = out.setdefault(dev, {"workers": 0, "configs": 0, "busy_s": 0.0})
            d["workers"] += 1
            d["configs"] += info.configs
            d["busy_s"] += info.busy_s
    return out


def plot(result, kernel, metric=None, ax=None, asc=False):
    """The picture gpudf-sweep --plot draws, with matplotlib: result is what
    sweep() or run() returned for kernel. Two or more swept parameters (those
    with more than one value): a heatmap of metric over the first two (each
    cell the best over the others: highest, or lowest with asc=True), the
    best config marked; one: a line. metric defaults to sharpe when the
    kernel has it, else its first result. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt
    k = _kernel(kernel)
    names = [p["name"] for p in _params(k)]
    results = _result_names(k, None)
    metric = metric or ("sharpe" if "sharpe" in results else results[0])
    if metric not in result.columns:
        raise Error(lib.GPUDF_EINVAL, f"plot: '{metric}' is not a column of the result "
                    f"(results of {kernel}: {results})")
    done = result[result["status"] == "ok"] if "status" in result.columns else result
    swept = [n for n in names if n in done.columns and done[n].nunique() > 1]
    if not swept:
        raise Error(lib.GPUDF_EINVAL, "plot: every config has the same parameters; "
                    "sweep one or two of them to plot")
    if ax is None:
        ax = plt.figure(figsize=(8.6, 6.2)).gca()
    best = done[metric].idxmin() if asc else done[metric].idxmax()
    if len(swept) == 1:
        x = swept[0]
        line = done.groupby(x)[metric].agg("min" if asc else "max")
        ax.plot(line.index, line.to_numpy(), marker="o")
        ax.plot([done.loc[best, x]], [done.loc[best, metric]], "o", ms=14, mfc="none",
                mec="red", mew=2)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} over {x}")
        return ax
    y, x = swept[0], swept[1]
    grid_ = done.pivot_table(index=y, columns=x, values=metric, aggfunc="min" if asc else "max")
    image = ax.imshow(grid_.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(grid_.columns)), [str(v) for v in grid_.columns], rotation=90)
    ax.set_yticks(range(len(grid_.index)), [str(v) for v in grid_.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    by = " (best over the other parameters)" if len(swept) > 2 else ""
    ax.set_title(f"{metric} over {y} and {x}{by}")
    bx = list(grid_.columns).index(done.loc[best, x])
    byy = list(grid_.index).index(done.loc[best, y])
    ax.add_patch(plt.Rectangle((bx - 0.5, byy - 0.5), 1, 1, fill=False, ec="red", lw=2.5))
    return ax


# Last: pool.py uses the names above (it imports them when it first shares).
from .pool import Pool, ProcessPoolExecutor, device_frame  # noqa: E402
from ._device import DeviceColumn  # noqa: E402
