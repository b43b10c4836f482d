"""gpudf.Pool and gpudf.ProcessPoolExecutor: multiprocessing.Pool and
concurrent.futures.ProcessPoolExecutor whose task arguments share their large
pandas and numpy objects instead of pickling them.

    from gpudf import Pool            # the only line that changes
    p = Pool(15)
    res = p.map_async(func, [(df, config) for config in configs])

The parent pickles each task with a pickler whose reducer_override replaces
every large DataFrame, Series or numpy array (at any depth of the arguments)
by a small stub: the name of a gpudf share holding the object's bytes, plus a
description of how to rebuild it. The first task that carries an object copies
it once into a share; every later task (keyed by the object's identity) sends
only the stub. The worker unpickles the stub into an object of the same type
whose arrays are read-only views of the share: no copy in any worker. Workers
unpickle with the standard unpickler (the stub names a function of this
module), so nothing in them is patched. docs/pool.md has the design.
"""
import multiprocessing
import multiprocessing.pool
import os
import pickle
import sys
import threading
import warnings
import weakref
from collections import OrderedDict
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor as _StdExecutor
from io import BytesIO
from multiprocessing.reduction import ForkingPickler

import numpy as np

__all__ = ["Pool", "ProcessPoolExecutor", "THRESHOLD", "device_frame"]

THRESHOLD = 1 << 20  # bytes: objects at least this large are shared (joblib's default)

_PRELOAD = ["__main__", "numpy", "pandas", "gpudf"]


def default_context():
    """The context gpudf.Pool and ProcessPoolExecutor start workers with when
    given none: forkserver, whose server imports numpy, pandas and gpudf once
    (set_forkserver_preload; a module that is not installed is skipped), so
    that each worker is a fork of a process that has them: no interpreter
    start and no pandas import per worker, and no CUDA state inherited from
    the parent (fork is unsafe after CUDA is initialised). Where forkserver
    does not exist (Windows), the platform's default. The preload list is
    the forkserver's, shared by every forkserver context of this process,
    and takes effect when the server starts (the first pool)."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:
        return multiprocessing.get_context()
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx
_ALIGN = 64  # every array starts on a cache line of the share


class _Unsupported(Exception):
    """The object holds something the share cannot carry as it is (Python
    objects, nested Arrow types...): it is pickled as before."""


# --------------------------------------------------------------- encoding

class _Layout:
    """Collects the arrays of one object and where each goes in its share.
    An array that already lies in a gpudf table's shared arena (a frame from
    read_parquet(...).to_pandas(), say) is not copied: its spec names the
    table's share and where in it the array starts (`source`)."""

    def __init__(self, tables):
        self.parts = []  # (offset, array) to copy
        self.size = 0
        self._tables = tables  # handle -> share name, from the registry
        self.sources = []  # the table handles this object's specs name

    def add(self, arr):
        """Reserves room for arr's bytes; returns its spec (offset, dtype,
        shape, transposed[, source]). A Fortran-ordered array is stored as its
        C-ordered transpose, so that it comes back Fortran-ordered and
        zero-copy."""
        if arr.dtype.hasobject:
            raise _Unsupported(f"dtype {arr.dtype} holds Python objects")
        if arr.dtype.byteorder == ">" or any(
                f[0].byteorder == ">" for f in (arr.dtype.fields or {}).values()):
            # pickle gives these back in native order; so does the stdlib pool
            raise _Unsupported(f"dtype {arr.dtype} is big-endian")
        transposed = arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous
        if transposed:
            arr = arr.T
        from . import _arena_of
        found = _arena_of(arr)
        if found is not None:
            handle, column, offset = found
            name = self._tables(handle)
            if name is not None:
                self.sources.append(handle)
                return (offset, arr.dtype, arr.shape, transposed, (name, column))
        offset = self.size
        self.parts.append((offset, arr))
        self.size += -(-arr.nbytes // _ALIGN) * _ALIGN
        return (offset, arr.dtype, arr.shape, transposed)


def _is_pandas(obj):
    return type(obj).__module__.startswith("pandas")


def _values(series):
    """The array behind a Series: a numpy array for numpy dtypes, else the
    extension array (no copy either way)."""
    values = getattr(series, "_values", None)
    return series.array if values is None else values


def _encode_array(arr, layout):
    """A column's or index's values as a spec; raises _Unsupported."""
    if isinstance(arr, np.ndarray):
        if arr.ndim != 1:
            raise _Unsupported("a multi-dimensional pandas block")
        return ("np", layout.add(arr))
    import pandas as pd
    if isinstance(arr, pd.Categorical):
        return ("cat", layout.add(np.asarray(arr.codes)),
                _encode_index(arr.categories, layout), arr.ordered)
    cls = type(arr)
    if isinstance(arr.dtype, np.dtype) and isinstance(getattr(arr, "_ndarray", None), np.ndarray):
        # naive datetime64 and timedelta64 (and numpy-backed) values: pandas
        # wraps the numpy array again on the way back, without a copy
        return _encode_array(arr._ndarray, layout)
    if hasattr(arr, "_pa_array"):  # Arrow-backed: str, ArrowDtype columns
        chunks = []
        for chunk in arr._pa_array.chunks:
            if chunk.type.num_fields or str(chunk.type).startswith("dictionary"):
                raise _Unsupported(f"nested Arrow type {chunk.type}")
            buffers = [None if b is None else layout.add(np.frombuffer(b, np.uint8))
                       for b in chunk.buffers()]
            chunks.append((len(chunk), chunk.null_count, chunk.offset, buffers))
        return ("arrow", cls, arr.dtype, arr._pa_array.type, chunks)
    if hasattr(arr, "_data") and hasattr(arr, "_mask"):  # Int64, Float64, boolean
        return ("masked", cls, layout.add(np.asarray(arr._data)),
                layout.add(np.asarray(arr._mask)))
    raise _Unsupported(f"{cls.__name__} values")


def _encode_index(index, layout):
    import pandas as pd
    if type(index) is pd.RangeIndex:
        return ("range", index.start, index.stop, index.step, index.name)
    if isinstance(index, pd.MultiIndex):
        return ("multi", [_encode_index(level, layout) for level in index.levels],
                [layout.add(np.asarray(c)) for c in index.codes], list(index.names))
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        raise _Unsupported("a time-zone-aware index")
    return ("index", _encode_array(_values(index), layout), index.dtype, index.name,
            getattr(index, "freq", None))


def _encode(obj, tables=lambda handle: None):
    """(spec, layout) for a DataFrame, Series or ndarray; raises _Unsupported.
    tables(handle) names the share of an owner table whose arena holds some
    of obj's arrays (None: copy them)."""
    layout = _Layout(tables)
    if type(obj) is np.ndarray:
        return ("ndarray", layout.add(obj)), layout
    import pandas as pd
    if type(obj) is pd.Series:
        if getattr(obj.dtype, "tz", None):
            raise _Unsupported("time-zone-aware values")
        return ("series", _encode_array(_values(obj), layout), _encode_index(obj.index, layout),
                obj.name, dict(obj.attrs)), layout
    if type(obj) is pd.DataFrame:
        columns = []
        for j in range(obj.shape[1]):
            col = obj.iloc[:, j]
            if getattr(col.dtype, "tz", None):
                raise _Unsupported("time-zone-aware values")
            columns.append(_encode_array(_values(col), layout))
        return ("frame", columns, _encode_index(obj.index, layout), obj.columns,
                dict(obj.attrs)), layout
    raise _Unsupported(type(obj).__name__)


def _nbytes(obj):
    """The object's own bytes (no deep look into Python objects), or None for
    a type that is never shared."""
    if type(obj) is np.ndarray:
        return obj.nbytes
    pd = sys.modules.get("pandas")  # not imported here: an object of it means it is
    if pd is not None:  # (None: an import of it was blocked)
        if type(obj) in (pd.DataFrame, pd.Series):
            return int(np.sum(obj.memory_usage(index=True, deep=False)))
    return None


# --------------------------------------------------------------- decoding

_ATTACHED = OrderedDict()  # share name -> (view, bytes of the share, cache of indexes)
_ATTACHED_MAX = 8
_ATTACH_LOCK = threading.Lock()


def _blob(name, column=0):
    """Column `column` of the share's table as a read-only uint8 array (the
    view is kept for the next task: attaching again per task is cheap, but
    this is cheaper), and a cache of the indexes built from it (immutable,
    so tasks share them). The Pool's own shares have one column, "bytes";
    a table shared because a frame lies in its arena has the table's."""
    from . import attach
    with _ATTACH_LOCK:
        hit = _ATTACHED.get(name)
        if hit is None:
            view = attach(name)
            hit = (view, {}, {})
            _ATTACHED[name] = hit
            while len(_ATTACHED) > _ATTACHED_MAX:
                _ATTACHED.popitem(last=False)
        else:
            _ATTACHED.move_to_end(name)
        view, columns, cache = hit
        blob = columns.get(column)
        if blob is None:
            blob = columns[column] = view.column(column).view(np.uint8)
        return blob, cache


def _array(blob, spec):
    offset, dtype, shape, transposed = spec[:4]
    if len(spec) > 4:  # in a table's arena: its share, not the object's
        blob = _blob(*spec[4])[0]
    n = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    arr = blob[offset:offset + n].view(dtype).reshape(shape)
    return arr.T if transposed else arr


def _decode_array(blob, spec, cache):
    kind = spec[0]
    if kind == "np":
        return _array(blob, spec[1])
    import pandas as pd
    if kind == "cat":
        categories = _decode_index(blob, spec[2], cache)
        dtype = pd.CategoricalDtype(categories, ordered=spec[3])
        return pd.Categorical.from_codes(_array(blob, spec[1]), dtype=dtype, validate=False)
    if kind == "arrow":
        import pyarrow as pa
        _, cls, dtype, atype, chunks = spec
        arrays = [pa.Array.from_buffers(
            atype, length, [None if b is None else pa.py_buffer(_array(blob, b)) for b in bufs],
            null_count=nulls, offset=offset) for length, nulls, offset, bufs in chunks]
        values = pa.chunked_array(arrays, type=atype)
        try:
            return cls(values, dtype=dtype)
        except TypeError:  # ArrowExtensionArray takes the values only
            return cls(values)
    if kind == "masked":
        return spec[1](_array(blob, spec[2]), _array(blob, spec[3]), copy=False)
    raise ValueError(f"gpudf.Pool: unknown array kind {kind!r}")


def _decode_index(blob, spec, cache):
    import pandas as pd
    if spec[0] == "range":
        return pd.RangeIndex(spec[1], spec[2], spec[3], name=spec[4])
    key = repr(spec)
    index = cache.get(key)
    if index is not None:
        return index
    if spec[0] == "multi":
        index = pd.MultiIndex(levels=[_decode_index(blob, s, cache) for s in spec[1]],
                              codes=[_array(blob, c) for c in spec[2]], names=spec[3],
                              verify_integrity=False)
    else:
        _, values, dtype, name, freq = spec
        index = pd.Index(_decode_array(blob, values, cache), dtype=dtype, name=name, copy=False)
        if freq is not None:  # checked against the values once per worker (cached)
            index = pd.DatetimeIndex(index, freq=freq)
    cache[key] = index
    return index


class _Borrowed:
    """A share the pool uses but does not own: closing gives it back (the
    owner's close() waits for it)."""
    __slots__ = ("share", "name")

    def __init__(self, share):
        self.share = share
        self.name = share.name

    def close(self):
        if self.share is not None:
            self.share._release()
            self.share = None


def _rebuild(name, spec):
    """Runs in the worker, as the stub is unpickled: the object, over the
    share (name None: every array of it lies in tables' shares)."""
    blob, cache = _blob(name) if name is not None else (None, {})
    kind = spec[0]
    if kind == "ndarray":
        return _array(blob, spec[1])
    import pandas as pd
    if kind == "series":
        _, values, index, sname, attrs = spec
        out = pd.Series(_decode_array(blob, values, cache), index=_decode_index(blob, index, cache),
                        name=sname, copy=False)
    else:
        _, columns, index, labels, attrs = spec
        data = {j: _decode_array(blob, c, cache) for j, c in enumerate(columns)}
        out = pd.DataFrame(data, index=_decode_index(blob, index, cache), copy=False)
        out.columns = labels
    if attrs:
        out.attrs.update(attrs)
    return out


def _loads(data):
    return pickle.loads(data)


def _column_array(series):
    """The numpy array a device column is made of (a categorical: its codes)
    and the categorical's labels, or (None, None) for values that have no
    single flat array (Arrow-backed, masked, datetime)."""
    values = _values(series)
    labels = None
    import pandas as pd
    if isinstance(values, pd.Categorical):
        labels = list(values.categories)
        values = np.asarray(values.codes)
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "iufb":
        return None, None
    return values, labels


def device_frame(df, columns=None):
    """The device columns (gpudf.DeviceColumn, by name) of a DataFrame that a
    gpudf.Pool(..., devices=...) task received: the pool shared it on the
    device, and each column is read where the share's device copy holds it,
    so cupy.asarray(cols["x"]) reads it without a copy. columns picks some
    (default: all). Refused, with the column named: a column whose values
    have no flat numeric or bool array (strings, nullable Int64, datetimes:
    convert them in the parent, or pick columns), and a DataFrame that no
    device share of this process holds (one a pool without devices= sent,
    or one the task built itself). Categoricals are their codes (the dtype
    pandas gave them), the labels on the host (.categories)."""
    from . import Error
    from ._device import DeviceColumn
    from ._ffi import lib
    names = list(df.columns) if columns is None else list(columns)
    out = {}
    for name in names:
        arr, labels = _column_array(df[name])
        if arr is None:
            raise Error(lib.GPUDF_EINVAL, f"device_frame: column {name!r} has dtype "
                        f"{df[name].dtype}, which has no flat numeric array on the device; "
                        "convert it (e.g. .astype('float64')) before the task, or leave it "
                        "out with columns=")
        if arr.ndim != 1 or (len(arr) > 1 and arr.strides[0] != arr.itemsize):
            raise Error(lib.GPUDF_EINVAL, f"device_frame: column {name!r} is not contiguous")
        out[str(name)] = _device_part(str(name), arr, labels, DeviceColumn, Error)
    return out


def _device_part(name, arr, labels, DeviceColumn, Error):
    """The DeviceColumn of arr, found by its address in a share this process
    attached (the pool's blobs: the device copy has the host arena's layout,
    so the same offset from the start of the "bytes" column)."""
    from ._ffi import lib
    address = arr.__array_interface__["data"][0]
    with _ATTACH_LOCK:
        blobs = [(view, column, blob) for view, columns, _cache in _ATTACHED.values()
                 for column, blob in list(columns.items())]
    for view, column, blob in blobs:
        start = blob.__array_interface__["data"][0]
        if start <= address and address + arr.nbytes <= start + blob.nbytes:
            handle = view._handle
            if handle is None:
                break
            if lib.gpudf_table_backend(handle.ptr) == lib.GPUDF_BACKEND_CPU:
                raise Error(lib.GPUDF_ENODEV, f"device_frame: column {name!r} has no device "
                            "address in this worker: its pool shares arguments in host memory "
                            "only (pass devices=... to gpudf.Pool), or this worker could not "
                            "use the device copy and fell back to the cpu placement "
                            "(GPUDF_LOG=debug says why)")
            index = view._index(column)
            return DeviceColumn(handle, handle, index, labels, Error,
                                part=(name, address - start, arr.dtype, len(arr)))
    raise Error(lib.GPUDF_EINVAL, f"device_frame: column {name!r} is not in a gpudf share this "
                "process attached; device_frame takes a DataFrame that a "
                "gpudf.Pool(..., devices=...) task received as an argument")


# ----------------------------------------------------------- the registry

class _Shared:
    __slots__ = ("table", "share", "spec", "ref", "nbytes", "sources")


class _Registry:
    """The shares of one pool: one per object, by identity, kept while the
    pool is open and the object alive (released once the tasks sent while it
    was alive are done), and all closed when the pool ends."""

    def __init__(self, threshold, pending, backend="cpu", devices=None):
        self.backend = backend  # cuda-ipc for a pool with devices=, forced
        self.devices = devices  # the share's devices (this process's names) for cuda-ipc
        if threshold is None or threshold < 0:
            raise ValueError(f"threshold must be a number of bytes >= 0, got {threshold!r}")
        self.threshold = threshold
        self._pending = pending  # () -> the ids of the tasks not finished yet
        self._lock = threading.RLock()
        self._live = {}  # id(obj) -> _Shared
        self._retired = []  # (_Shared, ids of the tasks that may still use it)
        # id(table handle) -> [Share of that table, how many entries use it]:
        # tables whose arena holds arrays of shared objects (shared as they
        # are, not copied), closed when the last entry using them is.
        self._tables = {}
        self._closed = False
        self.shared = 0  # objects shared so far
        self.shared_bytes = 0

    def dumps(self, obj):
        buf = BytesIO()
        _Pickler(buf, self).dump(obj)
        return buf.getbuffer()

    def reduce(self, obj):
        """reducer_override's answer for obj, or None for the default."""
        nbytes = _nbytes(obj)
        if nbytes is None:
            if _is_pandas(obj) and getattr(obj, "nbytes", 0) >= self.threshold:
                # A large pandas object that is not shared (an Index, an
                # array): pickled whole and as before, so that its inner
                # numpy arrays are not shared behind pandas' back.
                return _loads, (bytes(ForkingPickler.dumps(obj)),)
            return None
        if nbytes < self.threshold or nbytes == 0:
            return None
        entry = self._get(obj)
        if entry is None:
            if _is_pandas(obj):
                return _loads, (bytes(ForkingPickler.dumps(obj)),)
            return None
        return _rebuild, (None if entry.share is None else entry.share.name, entry.spec)

    def _table_share(self, handle):
        """The name of this pool's share of the owner table behind handle
        (shared on the host the first time), or None when it cannot be
        shared (its arrays are copied then)."""
        from . import Error, _open_share, _share_handle
        rec = self._tables.get(id(handle))
        if rec is None:
            # A table has at most one open share: the user's own (or another
            # pool's) is borrowed when workers can read it as this pool's
            # would be read; closing it waits for this pool to be done.
            open_share = _open_share(handle)
            if open_share is not None:
                if open_share.backend == self.backend and open_share._borrow():
                    rec = self._tables[id(handle)] = [_Borrowed(open_share), 0]
                    return rec[0].name
                warnings.warn(f"gpudf.Pool: a table's arrays are copied instead of shared as "
                              f"they are: the table is shared as '{open_share.name}' on "
                              f"{open_share.backend}, and this pool's workers read "
                              f"{self.backend} shares; share it as {self.backend} to send it "
                              "without a copy", RuntimeWarning, stacklevel=4)
                return None
            try:
                rec = self._tables[id(handle)] = [_share_handle(handle, self.backend,
                                                                  self.devices), 0]
            except Error as e:
                warnings.warn(f"gpudf.Pool: a table's arrays are copied instead of shared as "
                              f"they are: {e}", RuntimeWarning, stacklevel=4)
                return None
        return rec[0].name

    def _drop_unused_tables(self):
        for key in [k for k, rec in self._tables.items() if rec[1] == 0]:
            self._tables.pop(key)[0].close()

    def _close(self, entry):
        if entry.share is not None:
            entry.share.close()
        entry.share = entry.table = None
        for key in entry.sources:
            self._tables[key][1] -= 1
        entry.sources = []
        self._drop_unused_tables()

    def _get(self, obj):
        from . import Error
        with self._lock:
            if self._closed:
                raise ValueError("gpudf.Pool: the pool is closed, its shares with it")
            entry = self._live.get(id(obj))
            if entry is not None:
                return entry
            try:
                spec, layout = _encode(obj, self._table_share)
            except _Unsupported:
                self._drop_unused_tables()
                return None
            entry = _Shared()
            entry.table = entry.share = None
            try:
                if layout.size:  # else every array lies in shared tables
                    entry.table, entry.share = _publish(layout, self.backend, self.devices)
            except Error as e:  # no room in /dev/shm, say: the task still runs
                self._drop_unused_tables()
                if self.backend != "cpu":
                    raise  # devices= asked for: no quiet host fallback
                warnings.warn(f"gpudf.Pool: a {type(obj).__name__} of {layout.size} bytes is "
                              f"pickled instead of shared: {e}", RuntimeWarning, stacklevel=2)
                return None
            entry.spec, entry.nbytes = spec, layout.size
            entry.sources = list({id(h): h for h in layout.sources})
            for key in entry.sources:
                self._tables[key][1] += 1
            key = id(obj)
            entry.ref = weakref.ref(obj, lambda _r, key=key: self._died(key))
            self._live[key] = entry
            self.shared += 1
            self.shared_bytes += layout.size
            return entry

    def _died(self, key):
        """The object is gone: its share goes once the tasks that may carry
        its stub (those not finished now) are done."""
        with self._lock:
            entry = self._live.pop(key, None)
            if entry is not None and not self._closed:
                self._retired.append((entry, set(self._pending())))
        self.reap()

    def reap(self):
        with self._lock:
            if not self._retired:
                return
            pending = set(self._pending())
            keep = []
            for entry, waits in self._retired:
                waits &= pending
                if waits:
                    keep.append((entry, waits))
                else:
                    self._close(entry)
            self._retired = keep

    def close(self):
        with self._lock:
            self._closed = True
            for entry in self._live.values():
                self._close(entry)
            for entry, _ in self._retired:
                self._close(entry)
            self._live.clear()
            self._retired = []
            for share, _ in self._tables.values():
                share.close()
            self._tables.clear()


def _publish(layout, backend="cpu", devices=None):
    """A table of one int64 column holding the object's bytes, shared on the
    host (cpu placement: the workers read it with numpy and pandas; a CUDA
    placement would give each of them a CUDA context for nothing), or, for a
    pool with devices=, uploaded once to the device as well (cuda-ipc,
    forced: device_frame finds each column there at its host offset), with
    a replica on each of the pool's devices and no other."""
    from . import Table, _check
    from ._ffi import ffi, lib
    nrows = max(1, layout.size // 8)
    table = Table(nrows)
    out = ffi.new("void **")
    _check(lib.gpudf_table_alloc_column(table._ptr, b"bytes", lib.GPUDF_TYPE_I64, out))
    dest = np.frombuffer(ffi.buffer(out[0], nrows * 8), dtype=np.uint8)
    for offset, arr in layout.parts:
        np.copyto(dest[offset:offset + arr.nbytes].view(arr.dtype).reshape(arr.shape), arr,
                  casting="no")
    return table, table.share(backend=backend, devices=devices)


class _Pickler(ForkingPickler):
    def __init__(self, file, registry):
        super().__init__(file)
        self._registry = registry

    def reducer_override(self, obj):
        reduced = self._registry.reduce(obj)
        return NotImplemented if reduced is None else reduced


def _initialize(initializer, packed, devices=None, counter=None):
    """The worker's initializer: with devices, first binds the worker to the
    next device (round robin, by CUDA_VISIBLE_DEVICES, before anything here
    can touch CUDA); then the user's, with its arguments unpickled from what
    the parent packed (so that large ones are shared too)."""
    if devices:
        import os
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[k % len(devices)]
    if initializer is not None:
        initializer(*pickle.loads(packed))


# ------------------------------------------------------------------- Pool

def _devices(devices):
    """Pool(devices=...) as the CUDA_VISIBLE_DEVICES entry of each device,
    or None (no device sharing). "all" (or True): every device this process
    sees (the entries of its CUDA_VISIBLE_DEVICES when set, else one per
    GPU nvidia-smi lists; the simulated device: GPUDF_SIM_DEVICES). A list,
    or a comma-separated str, names devices by ordinal or UUID ("GPU-..."),
    the syntax of GPUDF_DEVICES, as this process numbers them: under a
    CUDA_VISIBLE_DEVICES of its own, ordinal k is its k-th entry, which is
    what the worker is given. No bare count, which would be ambiguous."""
    import os
    from . import Error
    from ._ffi import lib
    if devices is None or devices is False:
        return None
    if devices is True or devices == "all":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            found = [d.strip() for d in visible.split(",") if d.strip()]
        elif os.environ.get("GPUDF_SIMULATE_DEVICE") == "1":
            n = os.environ.get("GPUDF_SIM_DEVICES", "1")
            found = [str(k) for k in range(int(n))] if n.isdigit() else ["0"]
        else:
            found = _nvidia_smi_devices()
        if not found:
            raise Error(lib.GPUDF_ENODEV, "gpudf.Pool(devices='all'): this process sees no "
                        "CUDA device (CUDA_VISIBLE_DEVICES, nvidia-smi -L); leave devices out "
                        "to share arguments in host memory")
        return found
    if isinstance(devices, int) and not isinstance(devices, bool):
        raise TypeError(f"gpudf.Pool(devices={devices}): name devices by ordinal in a list "
                        f"([{devices}]) or as 'all'; a bare number would be ambiguous")
    out = []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = None if visible is None else [v.strip() for v in visible.split(",")]
    for d in _device_names(devices):
        if d.isdigit() and visible is not None:
            # An ordinal of this process: the entry of its CUDA_VISIBLE_DEVICES
            # that became that ordinal, which is what a worker must be given.
            if int(d) >= len(visible) or not visible[int(d)]:
                raise Error(lib.GPUDF_ENODEV, f"gpudf.Pool(devices=...): ordinal {d} is not "
                            f"among the devices CUDA_VISIBLE_DEVICES="
                            f"{os.environ['CUDA_VISIBLE_DEVICES']!r} gives this process")
            d = visible[int(d)]
        out.append(d)
    return out


def _device_names(devices):
    """The entries of an explicit Pool(devices=...) list, as this process
    names its devices (ordinals, UUIDs), checked."""
    from . import Error
    from ._ffi import lib
    items = devices.split(",") if isinstance(devices, str) else list(devices)
    out = []
    for d in items:
        d = str(d).strip()
        if not (d.isdigit() or d.startswith(("GPU-", "MIG-"))):
            raise Error(lib.GPUDF_EINVAL, f"gpudf.Pool(devices=...): {d!r} is neither an "
                        "ordinal nor a device UUID (GPU-...)")
        out.append(d)
    if not out:
        raise Error(lib.GPUDF_EINVAL, "gpudf.Pool(devices=...) names no device")
    return out


def _nvidia_smi_devices():
    """Ordinals of the GPUs nvidia-smi lists, without touching CUDA here
    (the parent need not create a CUDA context to start device workers)."""
    import subprocess
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines()
                                             if l.startswith("GPU "))]


class Pool(multiprocessing.pool.Pool):
    """multiprocessing.Pool, with the same arguments and methods, whose tasks
    share every pandas DataFrame, Series or numpy array of at least
    `threshold` bytes (default 1 MiB) found in their arguments, once per
    object, instead of pickling it into every task. The worker gets an object
    of the same type (same index, columns, dtypes) over read-only shared
    memory: writing into it raises ValueError. Smaller or unsupported objects
    (Python objects inside, time zones, nested Arrow types) pickle as before.
    Results are pickled as before. Shares close when the pool is joined or
    terminated (the with-block ends), or when their object is gone and the
    tasks sent with it are done. Without a context, workers start from a
    forkserver with numpy, pandas and gpudf loaded (default_context()). The
    object must not be changed in place
    while the pool shares it: the workers see the copy made when it was
    first sent.

    devices (opt-in; default None: host memory only): "all", or devices by
    ordinal or UUID (a list or "0,1"). The shared arguments are then also
    uploaded once to the device (cuda-ipc, forced: no device is an error),
    each worker is bound to one of the devices in turn (CUDA_VISIBLE_DEVICES,
    set before the task code runs), and gpudf.device_frame(df) gives a
    task the device columns of a DataFrame it was handed
    (docs/python-gpu.md)."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, threshold=THRESHOLD, devices=None):
        self._state = multiprocessing.pool.INIT  # what the stdlib's __del__ reads
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        bound = _devices(devices)
        self._gpudf = _Registry(threshold, lambda: list(self._cache.copy()),
                                "cuda-ipc" if bound else "cpu",
                                None if not bound else "all" if devices in (True, "all")
                                else ",".join(_device_names(devices)))
        self.devices = bound
        packed = bytes(self._gpudf.dumps(tuple(initargs))) if initializer is not None else None
        ctx = context if context is not None else default_context()
        counter = ctx.Value("i", 0) if bound else None
        try:
            super().__init__(processes, _initialize, (initializer, packed, bound, counter),
                             maxtasksperchild, ctx)
        except BaseException:
            self._gpudf.close()
            raise

    @property
    def shared(self):
        """How many objects this pool has shared (each one once)."""
        return self._gpudf.shared

    def _setup_queues(self):
        super()._setup_queues()
        send = self._inqueue._writer.send_bytes
        registry = self._gpudf

        def put(task):
            send(registry.dumps(task))
        self._quick_put = put

    def _check_running(self):
        super()._check_running()
        self._gpudf.reap()

    @staticmethod
    def _help_stuff_finish(inqueue, task_handler, size):
        # The stdlib's, reading raw bytes: unpickling the stubs here would
        # attach this process to its own shares. And not blocking on the
        # queue's read lock for ever: a worker killed while it held it
        # (SIGKILL, the OOM killer) never gives it back, and the stdlib's
        # terminate() then hangs. Past a second, the tasks are drained
        # without it: every worker is about to be terminated, and what it
        # would have read is thrown away. The pipe is emptied as bytes, not
        # messages, and without blocking: a worker interrupted (Ctrl-C
        # reaches the whole process group) after reading a message's length
        # but not its body leaves the pipe mid-message, and a worker still
        # reading can take the bytes poll() saw; a blocking recv_bytes()
        # then waited for ever.
        inqueue._rlock.acquire(timeout=1.0)
        fd = inqueue._reader.fileno()
        was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
        try:
            while task_handler.is_alive():
                try:
                    if not os.read(fd, 1 << 16):
                        break  # every writer is gone
                except BlockingIOError:
                    break  # empty: the task handler can write again
        finally:
            os.set_blocking(fd, was_blocking)

    def terminate(self):
        try:
            super().terminate()
        finally:
            self._gpudf.close()

    def join(self):
        super().join()
        self._gpudf.close()


# --------------------------------------------------- ProcessPoolExecutor

def _call(packed):
    fn, args, kwargs = pickle.loads(packed)
    return fn(*args, **kwargs)


class ProcessPoolExecutor(_StdExecutor):
    """concurrent.futures.ProcessPoolExecutor with gpudf.Pool's sharing of
    large DataFrames, Series and numpy arrays in the arguments (submit, map,
    initargs). Shares close at shutdown (once the workers are done, also
    with wait=False)."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), *,
                 threshold=THRESHOLD, **kwargs):
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._gpudf = _Registry(threshold, lambda: list(self._pending_work_items.copy()))
        packed = bytes(self._gpudf.dumps(tuple(initargs))) if initializer is not None else None
        try:
            super().__init__(max_workers,
                             mp_context if mp_context is not None else default_context(),
                             _initialize if initializer is not None else None,
                             (initializer, packed), **kwargs)
        except BaseException:
            self._gpudf.close()
            raise

    @property
    def shared(self):
        return self._gpudf.shared

    def submit(self, fn, /, *args, **kwargs):
        self._gpudf.reap()
        try:
            packed = self._gpudf.dumps((fn, args, kwargs))
        except Exception as e:
            if getattr(self, "_shutdown_thread", False):
                raise RuntimeError("cannot schedule new futures after shutdown") from e
            # As the stdlib does: a task that cannot be pickled fails its future.
            future = Future()
            future.set_exception(e)
            return future
        return super().submit(_call, bytes(packed))

    def shutdown(self, wait=True, *, cancel_futures=False):
        manager = getattr(self, "_executor_manager_thread", None)  # shutdown forgets it
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait or manager is None:
            self._gpudf.close()
            return

        def close_when_done():
            manager.join()
            self._gpudf.close()
        self._gpudf_closer = threading.Thread(target=close_when_done, daemon=True)
        self._gpudf_closer.start()
