"""Device columns (issue 25): a table placed on a device hands its columns to
GPU libraries through __cuda_array_interface__ v3 and DLPack, with the
address the C API reports, the mapping kept alive by every object made from
it, and errors instead of host addresses.

Most tests run on the simulated device (GPUDF_SIMULATE_DEVICE=1,
engine/device/device_sim.c), whose device addresses are host addresses: the
bytes behind every pointer handed out are read back here and compared with
the host view, and the DLPack capsules are parsed with structs declared in
this file from the DLPack 1.0 header (independently of gpudf._device). An
attacher that opens the IPC handle needs an owner in another process (CUDA,
and the simulation, cannot open a handle in the process that exported it):
those tests start one, and count the simulated device's ipc_open and
ipc_close calls of this process in its trace to see when the mapping closes.

The tests at the end need a real device and CuPy, Numba or PyTorch; each
skips, saying what is missing, where they are not there.
"""
import ctypes
import gc
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import gpudf
from gpudf._ffi import ffi, lib

RNG = np.random.default_rng(20261204)
N = 1001  # odd, not a multiple of any alignment


def frame(n=N):
    """One column of every type a table holds, NaN included, and a categorical."""
    f = RNG.standard_normal(n)
    f[::97] = np.nan
    return pd.DataFrame({
        "f64": f,
        "f32": RNG.standard_normal(n).astype(np.float32),
        "i32": RNG.integers(-2**31, 2**31, n, dtype=np.int32),
        "i64": RNG.integers(-2**62, 2**62, n, dtype=np.int64),
        "flag": RNG.random(n) < 0.3,
        "cat": pd.Categorical(RNG.choice(["x", "yy", "zzz"], n)),
    })


TYPESTR = {"f64": "<f8", "f32": "<f4", "i32": "<i4", "i64": "<i8", "flag": "|b1", "cat": "<i4"}
# (DLDataTypeCode, bits, lanes): kDLInt 0, kDLFloat 2, kDLBool 6.
DLTYPE = {"f64": (2, 64, 1), "f32": (2, 32, 1), "i32": (0, 32, 1), "i64": (0, 64, 1),
          "flag": (6, 8, 1), "cat": (0, 32, 1)}


def host_values(df, name):
    """What the device bytes of column name must hold."""
    col = df[name]
    return col.cat.codes.to_numpy(dtype=np.int32) if name == "cat" else col.to_numpy()


def device_bytes(ptr, dtype, n):
    """The n values at a simulated device address (a host address there)."""
    return np.frombuffer(ctypes.string_at(ptr, n * np.dtype(dtype).itemsize), dtype=dtype)


def c_device_data(table, i):
    return int(ffi.cast("uintptr_t", lib.gpudf_table_column_device_data(table._ptr, i)))


@pytest.fixture
def sim(monkeypatch, tmp_path):
    """The simulated device, with a trace of its calls; gives the trace's path."""
    trace = tmp_path / "trace"
    for var in ("GPUDF_SIM_FAIL", "GPUDF_BACKEND", "GPUDF_SIM_UUID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GPUDF_SIMULATE_DEVICE", "1")
    monkeypatch.setenv("GPUDF_SIM_TRACE", str(trace))
    return trace


def calls(trace, call, pid=None):
    """How many times process pid (default: this one) made call."""
    prefix = f"{pid or os.getpid()} {call}"
    if not trace.exists():
        return 0
    return sum(1 for line in trace.read_text().splitlines()
               if line == prefix or line.startswith(prefix + " "))


# ----------------------------------------------------------- protocol dicts

@pytest.mark.parametrize("backend", ["cuda-ipc", "cuda-pinned"])
def test_cuda_array_interface_is_complete_and_points_at_the_c_apis_address(sim, backend):
    df = frame()
    t = gpudf.Table.from_pandas(df)
    with t.share(backend=backend) as s:
        for owner_or_view in (t, gpudf.attach(s)):
            cols = owner_or_view.device_columns()
            assert list(cols) == list(df.columns)
            for i, (name, col) in enumerate(cols.items()):
                cai = col.__cuda_array_interface__
                assert set(cai) == {"shape", "typestr", "data", "strides", "stream", "version"}
                assert cai["version"] == 3
                assert cai["shape"] == (N,)
                assert cai["typestr"] == TYPESTR[name], name
                assert cai["strides"] is None and cai["stream"] is None
                ptr, read_only = cai["data"]
                assert read_only is True
                assert ptr == c_device_data(owner_or_view, i) == col.ptr
                if backend == "cuda-ipc":
                    assert ptr != int(ffi.cast("uintptr_t", lib.gpudf_table_column_data(
                        owner_or_view._ptr, i))), "the device copy, not the host arena"
                got = device_bytes(ptr, np.dtype(cai["typestr"]), N)
                np.testing.assert_array_equal(got, host_values(df, name))
                assert col.__dlpack_device__() == (2, 0)
                assert col.device_id == 0 and col.backend == backend
                assert len(col) == col.size == N and col.nbytes == N * got.itemsize
            assert cols["cat"].categories == ["x", "yy", "zzz"]
            assert cols["f64"].categories is None


def test_a_column_is_found_by_name_or_index_and_a_bad_one_is_refused(sim):
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-ipc"):
        assert t.device_column(2).name == "i32"
        assert t.device_column("i32").ptr == t.device_column(2).ptr
        with pytest.raises(gpudf.Error, match="no column named 'nope'"):
            t.device_column("nope")
        with pytest.raises(gpudf.Error, match="column index 6 is out of range"):
            t.device_column(6)


def test_repr_says_read_only_is_declared_not_enforced_and_pinned_reads_cross_the_bus(sim):
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-ipc"):
        text = repr(t.device_column("f64"))
        assert "'f64' float64" in text and f"{N} rows" in text and "cuda:0 (cuda-ipc)" in text
        assert "read-only is declared, not enforced" in text
        assert "host bus" not in text
        assert "int32 category codes" in repr(t.device_column("cat"))
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-pinned"):
        text = repr(t.device_column("i64"))
        assert "read-only is declared, not enforced" in text
        assert "cuda-pinned" in text and "crosses the host bus" in text


# ------------------------------------------------------------------ DLPack

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


def _api(name, restype, *argtypes):
    # Private prototypes: ctypes.pythonapi's attributes are shared process-wide.
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_get_name = _api("PyCapsule_GetName", ctypes.c_char_p, ctypes.py_object)
_get_pointer = _api("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
_set_name = _api("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_USED = ctypes.c_char_p(b"used_dltensor")  # must outlive the capsules renamed to it


def managed(capsule):
    """The capsule's name and its managed struct, as a consumer reads them."""
    name = _get_name(capsule)
    kind = DLManagedTensorVersioned if name == b"dltensor_versioned" else DLManagedTensor
    return name, kind.from_address(_get_pointer(capsule, name))


@pytest.mark.parametrize("max_version", [None, (0, 8), (1, 0), (1, 3), (2, 0)])
def test_dlpack_capsules_hold_shape_dtype_device_and_the_c_apis_address(sim, max_version):
    df = frame()
    t = gpudf.Table.from_pandas(df)
    versioned = max_version is not None and max_version[0] >= 1
    with t.share(backend="cuda-ipc") as s:
        v = gpudf.attach(s)
        for i, name in enumerate(df.columns):
            col = v.device_column(name)
            capsule = col.__dlpack__(max_version=max_version)
            cname, m = managed(capsule)
            assert cname == (b"dltensor_versioned" if versioned else b"dltensor")
            if versioned:
                assert (m.major, m.minor) == (1, 0)
                assert m.flags & 1, "DLPACK_FLAG_BITMASK_READ_ONLY"
                assert not m.flags & 2, "not a copy (DLPACK_FLAG_BITMASK_IS_COPIED)"
            tensor = m.dl_tensor
            assert tensor.data == c_device_data(v, i)
            assert (tensor.device.device_type, tensor.device.device_id) == (2, 0)  # kDLCUDA
            assert tensor.ndim == 1 and tensor.shape[0] == N
            assert not tensor.strides, "compact: strides NULL"
            assert tensor.byte_offset == 0
            dt = (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes)
            assert dt == DLTYPE[name], name
            np.testing.assert_array_equal(
                device_bytes(tensor.data, np.dtype(TYPESTR[name]), N), host_values(df, name))
            assert m.deleter, "a deleter the consumer calls"
            del capsule  # unconsumed: its destructor calls the deleter


def test_dlpack_arguments_of_the_array_api(sim):
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-ipc"):
        col = t.device_column("f64")
        for stream in (None, -1, 1, 2, 0x7f00dead):  # nothing to wait for on any stream
            assert managed(col.__dlpack__(stream=stream))[0] == b"dltensor"
        assert managed(col.__dlpack__(dl_device=(2, 0), copy=False))[0] == b"dltensor"
        with pytest.raises(BufferError, match=r"cannot be exported to device \(1, 0\)"):
            col.__dlpack__(dl_device=(1, 0))
        with pytest.raises(BufferError, match=r"lives on \(kDLCUDA, 0\)"):
            col.__dlpack__(dl_device=(2, 1))
        with pytest.raises(BufferError, match="copy=True is not supported"):
            col.__dlpack__(copy=True)
        with pytest.raises(TypeError, match="stream must be None or an int"):
            col.__dlpack__(stream="default")


# ---------------------------------------------------------------- lifetime

OWNER = textwrap.dedent("""
    import sys
    import numpy as np
    import gpudf
    t = gpudf.Table.from_numpy({"a": np.arange(%d, dtype=np.float64),
                                "b": np.arange(%d, dtype=np.int32) %% 7})
    s = t.share(sys.argv[1], backend="cuda-ipc")
    print("ready", flush=True)
    sys.stdin.readline()
""" % (N, N))


class Owner:
    """A process that publishes a cuda-ipc share of a known table and holds
    it until told to go (or killed), so that this process opens the handle."""

    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-c", OWNER, name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line == "ready\n", f"owner said {line!r}"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()
            self.proc.stdout.close()


@pytest.fixture
def owner(sim):
    o = Owner(f"devcols-{os.getpid()}-{RNG.integers(1 << 40)}")
    yield o
    o.stop()
    gc.collect()
    gpudf.cleanup()  # what a killed owner left


def expected_a():
    return np.arange(N, dtype=np.float64)


def test_an_attacher_opens_the_owners_handle_and_reads_its_device_copy(sim, owner):
    v = gpudf.attach(owner.name)
    assert calls(sim, "ipc_open") == 1
    col = v.device_column("a")
    assert col.backend == "cuda-ipc" and col.device_id == 0
    assert col.ptr == c_device_data(v, 0)
    assert col.ptr != int(ffi.cast("uintptr_t", lib.gpudf_table_column_data(v._ptr, 0)))
    np.testing.assert_array_equal(device_bytes(col.ptr, np.float64, N), expected_a())
    del col
    v.detach()
    gc.collect()
    assert calls(sim, "ipc_close") == 1


def test_detach_returns_at_once_and_a_live_device_column_keeps_the_mapping(sim, owner):
    v = gpudf.attach(owner.name)
    col = v.device_column("a")
    v.detach()
    gc.collect()
    assert calls(sim, "ipc_close") == 0, "the column holds the mapping"
    cai = col.__cuda_array_interface__  # still answers, with the same address
    np.testing.assert_array_equal(device_bytes(cai["data"][0], np.float64, N), expected_a())
    del col, cai
    gc.collect()
    assert calls(sim, "ipc_close") == 1, "the last holder gone: the mapping closes"


def test_an_unconsumed_capsule_keeps_the_mapping_until_it_is_deleted(sim, owner):
    v = gpudf.attach(owner.name)
    capsule = v.device_column("a").__dlpack__(max_version=(1, 0))
    v.detach()
    gc.collect()
    assert calls(sim, "ipc_close") == 0, "the capsule holds the mapping"
    _, m = managed(capsule)
    np.testing.assert_array_equal(device_bytes(m.dl_tensor.data, np.float64, N), expected_a())
    del m, capsule
    gc.collect()
    assert calls(sim, "ipc_close") == 1


def test_a_consumed_capsule_keeps_the_mapping_until_the_consumer_calls_its_deleter(sim, owner):
    """What CuPy or PyTorch do: take the struct, rename the capsule
    "used_dltensor" (its destructor must then leave the struct alone) and
    call the deleter when their array goes."""
    v = gpudf.attach(owner.name)
    capsule = v.device_column("b").__dlpack__()
    _, m = managed(capsule)
    address = ctypes.addressof(m)
    deleter = m.deleter
    assert _set_name(capsule, _USED) == 0
    del capsule, v
    gc.collect()
    assert calls(sim, "ipc_close") == 0, "consumed: the consumer's array holds it now"
    got = device_bytes(m.dl_tensor.data, np.int32, N)
    np.testing.assert_array_equal(got, np.arange(N, dtype=np.int32) % 7)
    del m
    deleter(address)
    gc.collect()
    assert calls(sim, "ipc_close") == 1


def test_a_dead_owner_is_reported_at_the_next_call_and_the_host_view_still_reads(sim, owner):
    v = gpudf.attach(owner.name)
    col = v.device_column("a")
    owner.kill()
    for call in (lambda: col.__cuda_array_interface__, lambda: col.__dlpack__(),
                 lambda: v.device_column("a")):
        with pytest.raises(gpudf.Error) as e:
            call()
        assert e.value.status == lib.GPUDF_EOWNERDEAD
        assert f"share '{owner.name}'" in str(e.value)
        assert "no longer running" in str(e.value)
    np.testing.assert_array_equal(v.column("a"), expected_a())


# ------------------------------------------------------------------ errors

def test_the_cpu_placement_refuses_naming_it_and_how_to_get_a_device_one(sim):
    t = gpudf.Table.from_pandas(frame())
    with pytest.raises(gpudf.Error) as e:  # not shared yet: not placed
        t.device_column("f64")
    assert e.value.status == lib.GPUDF_ENODEV
    with t.share(backend="cpu") as s:
        for table, who in ((t, "this table"), (gpudf.attach(s), f"the view of share '{s.name}'")):
            for call in (lambda: table.device_column("f64"), table.device_columns):
                with pytest.raises(gpudf.Error) as e:
                    call()
                msg = str(e.value)
                assert e.value.status == lib.GPUDF_ENODEV
                assert f"column 'f64': {who} has the cpu placement" in msg, msg
                assert "backend cuda-ipc or cuda-pinned" in msg, msg


def test_an_attacher_that_falls_back_to_cpu_gets_no_device_column(sim, owner, monkeypatch):
    monkeypatch.setenv("GPUDF_SIM_FAIL", "ipc_open,register")
    v = gpudf.attach(owner.name)
    assert lib.gpudf_table_backend(v._ptr) == lib.GPUDF_BACKEND_CPU
    assert v.to_pandas()["a"].sum() == expected_a().sum()
    with pytest.raises(gpudf.Error, match="has the cpu placement.*GPUDF_LOG=debug"):
        v.device_column("a")


def test_a_closed_view_is_refused(sim):
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-ipc") as s:
        v = gpudf.attach(s)
        v.detach()
        with pytest.raises(gpudf.Error, match="TableView is closed"):
            v.device_column("f64")


# ----------------------------------------------- on a real device (lent ones)

def real_device(monkeypatch):
    """Skips unless a CUDA device is here (the simulation switched off)."""
    monkeypatch.delenv("GPUDF_SIMULATE_DEVICE", raising=False)
    if "cuda-ipc" not in gpudf.backends():
        why = ffi.new("const char **")
        lib.gpudf_backend_available(lib.GPUDF_BACKEND_CUDA_IPC, why)
        pytest.skip("no CUDA device: " + (ffi.string(why[0]).decode() if why[0] else "?"))


def test_cupy_reads_every_column_without_a_copy_and_computes_what_pandas_does(monkeypatch):
    real_device(monkeypatch)
    cp = pytest.importorskip("cupy")
    df = frame(300_007)
    t = gpudf.Table.from_pandas(df)
    with t.share(backend="cuda-ipc") as s:
        v = gpudf.attach(s)
        for i, (name, col) in enumerate(v.device_columns().items()):
            a = cp.asarray(col)
            assert a.data.ptr == col.ptr == c_device_data(v, i), name
            b = cp.from_dlpack(col)
            assert b.data.ptr == col.ptr, name
            np.testing.assert_array_equal(cp.asnumpy(a), host_values(df, name))
        f = cp.asarray(v.device_column("f64"))
        flag = cp.asarray(v.device_column("flag"))
        # func: the mean of f64 where flag, NaN skipped, as pandas does
        got = float(cp.nanmean(cp.where(flag, f, cp.nan)))
        want = df.loc[df.flag, "f64"].mean()
        assert got == pytest.approx(want, rel=1e-12)
        assert int(flag.sum()) == int(df.flag.sum())


def test_numba_reads_a_column_without_a_copy(monkeypatch):
    real_device(monkeypatch)
    cuda = pytest.importorskip("numba.cuda")
    t = gpudf.Table.from_pandas(frame())
    with t.share(backend="cuda-ipc"):
        col = t.device_column("i64")
        arr = cuda.as_cuda_array(col)
        assert arr.device_ctypes_pointer.value == col.ptr == c_device_data(t, 3)
        np.testing.assert_array_equal(arr.copy_to_host(), t.column("i64"))


def test_torch_reads_a_column_through_dlpack_without_a_copy(monkeypatch):
    real_device(monkeypatch)
    torch = pytest.importorskip("torch")
    df = frame()
    t = gpudf.Table.from_pandas(df)
    with t.share(backend="cuda-ipc"):
        for i, name in enumerate(df.columns):
            x = torch.from_dlpack(t.device_column(name))
            assert x.data_ptr() == c_device_data(t, i), name
            assert x.device.type == "cuda"
            np.testing.assert_array_equal(x.cpu().numpy(), host_values(df, name))


def _worker_sum(name):
    import cupy as cp
    with gpudf.attach(name) as v:
        col = v.device_column("f64")
        a = cp.asarray(col)
        same = a.data.ptr == c_device_data(v, 0)
        return same, float(cp.nansum(a)), v.device_column("f64").backend


def test_a_spawned_worker_reads_the_owners_device_copy_with_cupy(monkeypatch):
    real_device(monkeypatch)
    pytest.importorskip("cupy")
    df = frame(200_003)
    t = gpudf.Table.from_pandas(df)
    with t.share(backend="cuda-ipc") as s:
        with mp.get_context("spawn").Pool(2) as pool:
            for same, total, backend in pool.map(_worker_sum, [s.name] * 2):
                assert same and backend == "cuda-ipc"
                assert total == pytest.approx(df.f64.sum(), rel=1e-12)


# ---------------------------------------------- gpudf.Pool(devices=...) workers

def _device_task(df):
    """In a worker: where each device column points, checked against the C
    API (the base of the share's one column plus the column's host offset)
    and the bytes there (a host address on the simulated device)."""
    from gpudf.pool import _ATTACHED
    cols = gpudf.device_frame(df)
    (view, columns, _), = [e for e in _ATTACHED.values()]
    blob = columns[0]  # the pool's share: one column, "bytes"
    base = c_device_data(view, 0)
    host = blob.__array_interface__["data"][0]
    out = {"visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "cols": {}}
    for name, col in cols.items():
        arr = gpudf.pool._column_array(df[name])[0]
        offset = arr.__array_interface__["data"][0] - host
        cai = col.__cuda_array_interface__
        out["cols"][name] = {
            "ptr_is_c_api_plus_offset": cai["data"][0] == base + offset,
            "device_copy": cai["data"][0] != arr.__array_interface__["data"][0],
            "typestr": cai["typestr"], "shape": cai["shape"], "backend": col.backend,
            "categories": col.categories,
            "same_bytes": ctypes.string_at(cai["data"][0], arr.nbytes) == arr.tobytes(),
        }
    return out


def test_a_pool_with_devices_shares_arguments_on_the_device_and_binds_each_worker(sim,
                                                                                 monkeypatch):
    monkeypatch.setenv("GPUDF_SIM_DEVICES", "2")
    df = frame(200_000)  # over the 1 MiB threshold: shared, not pickled
    ctx = mp.get_context("spawn")  # the simulation's environment, as it is now
    with gpudf.Pool(2, context=ctx, devices=["0", "1"]) as p:
        assert p.devices == ["0", "1"]
        got = p.map(_device_task, [df] * 8, chunksize=1)
    assert {g["visible"] for g in got} <= {"0", "1"}
    for g in got:
        assert list(g["cols"]) == list(df.columns)
        for name, c in g["cols"].items():
            assert c["ptr_is_c_api_plus_offset"] and c["same_bytes"], name
            assert c["device_copy"] and c["backend"] == "cuda-ipc", name
            assert c["shape"] == (len(df),)
        assert g["cols"]["f64"]["typestr"] == "<f8" and g["cols"]["flag"]["typestr"] == "|b1"
        assert g["cols"]["cat"]["categories"] == ["x", "yy", "zzz"]
        assert g["cols"]["cat"]["typestr"] == df.cat.cat.codes.dtype.str  # pandas' codes


def _visible(_):
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_pool_workers_are_bound_round_robin_before_any_task(sim):
    with gpudf.Pool(3, context=mp.get_context("spawn"), devices="0,GPU-1234") as p:
        seen = set(p.map(_visible, range(30), chunksize=1))
    assert seen <= {"0", "GPU-1234"} and "0" in seen


def sim_uuid(k):
    """The UUID text of simulated device k (engine/device/device_sim.c): the
    default GPUDF_SIM_UUID padded to 16 bytes, the last XORed with k."""
    u = bytearray(b"gpudf-sim-dev-0".ljust(16, b"\0"))
    u[15] ^= k
    h = u.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _which_replica(df):
    """In a worker: the device it was given, the device its view of the
    pool's share reads, how, and where DLPack says a column is."""
    from gpudf.pool import _ATTACHED
    col = gpudf.device_frame(df)["f64"]
    (view, _, _), = [e for e in _ATTACHED.values()]
    access = ["host", "replica", "peer", "pinned"][lib.gpudf_table_access(view._ptr)]
    return (os.environ.get("CUDA_VISIBLE_DEVICES"),
            ffi.string(lib.gpudf_table_device(view._ptr)).decode(), access,
            col.__dlpack_device__(),
            ctypes.string_at(col.__cuda_array_interface__["data"][0], 8 * len(df)))


def test_each_pool_worker_reads_the_replica_on_the_device_it_was_given(sim, monkeypatch):
    """Pool(devices=[2, 0]) on a machine of three devices: the arguments get
    a replica on devices 2 and 0 only (not on 1, which no worker uses), and
    each worker, given one device by CUDA_VISIBLE_DEVICES (so that it is its
    device 0), reads the replica on that device, not a peer's or pinned host
    memory."""
    monkeypatch.setenv("GPUDF_SIM_DEVICES", "3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    df = frame(200_000)
    with gpudf.Pool(2, context=mp.get_context("spawn"), devices=[2, 0]) as p:
        got = set(p.map(_which_replica, [df] * 8, chunksize=1))
    me = os.getpid()
    allocs = [line.rsplit(" ", 1)[1] for line in sim.read_text().splitlines()
              if line.startswith(f"{me} alloc ")]
    assert sorted(allocs) == ["dev=0", "dev=2"]  # one replica each, none on device 1
    assert {g[0] for g in got} <= {"2", "0"} and got
    for visible, uuid, access, dl, data in got:
        assert uuid == sim_uuid(int(visible)) and access == "replica", (visible, uuid, access)
        assert dl == (2, 0)  # kDLCUDA, the worker's own ordinal 0
        assert data == df["f64"].to_numpy().tobytes()  # the replica holds the column


def test_pool_devices_under_the_parents_own_cuda_visible_devices(sim, monkeypatch):
    """A parent that itself sees devices 2 and 1 of the machine (in that
    order) asks for its device 0: the worker is given machine device 2 and
    reads the replica there."""
    monkeypatch.setenv("GPUDF_SIM_DEVICES", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,1")
    df = frame(200_000)
    with gpudf.Pool(1, context=mp.get_context("spawn"), devices=[0]) as p:
        visible, uuid, access, dl, data = p.apply(_which_replica, (df,))
    assert (visible, uuid, access, dl) == ("2", sim_uuid(2), "replica", (2, 0))
    assert data == df["f64"].to_numpy().tobytes()


def _frame_without_device(df):
    try:
        gpudf.device_frame(df)
    except gpudf.Error as e:
        return str(e)
    return "no error"


def test_device_frame_refuses_frames_no_device_share_holds_and_columns_without_an_array(sim):
    df = frame(200_000)
    with gpudf.Pool(1, context=mp.get_context("spawn")) as p:  # host sharing only
        msg = p.apply(_frame_without_device, (df,))
    assert "column 'f64' has no device address in this worker" in msg, msg
    assert "pass devices=... to gpudf.Pool" in msg
    msg = _frame_without_device(df)  # built here: in no share at all
    assert "column 'f64' is not in a gpudf share this process attached" in msg, msg
    with pytest.raises(gpudf.Error, match="column 's' has dtype .*no flat numeric array"):
        gpudf.device_frame(pd.DataFrame({"s": ["a", "b"]}))


def test_pool_devices_are_named_by_ordinal_or_uuid(sim, monkeypatch):
    from gpudf.pool import _devices
    assert _devices(None) is None
    assert _devices("0, 2") == ["0", "2"]
    assert _devices([1, "GPU-abc"]) == ["1", "GPU-abc"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert _devices("all") == ["3", "1"]
    # Ordinals are this process's: under its own CUDA_VISIBLE_DEVICES the
    # worker gets the entry that became that ordinal.
    assert _devices([1, 0, "GPU-abc"]) == ["1", "3", "GPU-abc"]
    with pytest.raises(gpudf.Error, match="ordinal 2 is not among the devices "
                       "CUDA_VISIBLE_DEVICES='3,1' gives this process"):
        _devices("0,2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert _devices("all") == ["0"]  # the simulated device
    monkeypatch.setenv("GPUDF_SIM_DEVICES", "3")
    assert _devices("all") == ["0", "1", "2"]
    with pytest.raises(TypeError, match="a bare number would be ambiguous"):
        _devices(4)
    with pytest.raises(gpudf.Error, match="'cuda1' is neither an ordinal nor a device UUID"):
        _devices("cuda1")


# A stand-in for CuPy on the simulated device, whose device addresses are host
# addresses: asarray reads __cuda_array_interface__ as CuPy does and wraps the
# memory at that address (no copy); the reductions are numpy's.
FAKE_CUPY = '''
import ctypes
import numpy as np

def asarray(obj):
    cai = obj.__cuda_array_interface__
    assert cai["version"] == 3 and cai["strides"] is None
    dtype, (n,) = np.dtype(cai["typestr"]), cai["shape"]
    memory = (ctypes.c_char * (n * dtype.itemsize)).from_address(cai["data"][0])
    return np.frombuffer(memory, dtype=dtype)

isnan, where, count_nonzero = np.isnan, np.where, np.count_nonzero
'''

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_seed_gpu_sample_answers_as_pandas_on_the_simulated_device(sim, tmp_path):
    """samples/python/seed_gpu.py end to end (gpudf.Pool with devices=,
    device_frame, func over the device columns) with the CuPy stand-in."""
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "samples/python/seed_gpu.py"),
                          "--rows", "300000", "--workers", "2", "--configs", "6"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "same answers as pandas: yes" in out.stdout, out.stdout
    assert out.stdout.count("  pandas: ") == 6, out.stdout


def test_a_frame_that_lies_in_a_gpudf_table_reaches_device_workers_through_that_table(sim):
    """A frame over a gpudf Table's arena (to_pandas, read_parquet) is sent by
    sharing that table, on the device for a pool with devices=: device_frame
    finds its columns in that table's device copy."""
    df = frame(200_000).drop(columns=["cat"])
    t = gpudf.Table.from_pandas(df)
    view = t.to_pandas()
    with gpudf.Pool(1, context=mp.get_context("spawn"), devices="all") as p:
        got = p.apply(_device_task_any, (view,))
    for name, c in got.items():
        assert c["backend"] == "cuda-ipc" and c["same_bytes"] and c["device_copy"], name


def _device_task_any(df):
    out = {}
    for name, col in gpudf.device_frame(df).items():
        arr = gpudf.pool._column_array(df[name])[0]
        ptr = col.__cuda_array_interface__["data"][0]
        out[name] = {"backend": col.backend,
                     "device_copy": ptr != arr.__array_interface__["data"][0],
                     "same_bytes": ctypes.string_at(ptr, arr.nbytes) == arr.tobytes()}
    return out
