"""Device columns: a column of a table placed on a GPU (cuda-ipc or
cuda-pinned) handed to CuPy, Numba, PyTorch or any other GPU library without a
copy, through the two standard protocols:

- __cuda_array_interface__ (version 3), read by cupy.asarray and
  numba.cuda.as_cuda_array;
- DLPack (__dlpack__ / __dlpack_device__, as the array API standard defines
  them), read by torch.from_dlpack, cupy.from_dlpack and jax.

Both give the address gpudf_table_column_device reports: the device memory
the owner uploaded once (cuda-ipc; in a worker, its IPC mapping of it) or the
host arena mapped for the device (cuda-pinned). Never a host address where a
device one is promised: the cpu placement raises.

Lifetime: a DeviceColumn, and every DLPack capsule and array made from it,
holds the table's handle (the same hold as numpy arrays over the host
arena), so detach() returns at once and the IPC mapping closes only when the
last of them is gone. The memory itself belongs to the owner, which must
outlive every use of it; a dead owner is refused at the next call here.

Read-only is declared, not enforced: legacy CUDA IPC maps the memory
read-write and CuPy ignores the read-only flag, so a write through any
consumer is undefined and would change every process's table.

The DLPack structs are declared here with ctypes from the DLPack 1.0 header
layout; nothing of CUDA is imported, so this module works (and is tested) on
the simulated device, where "device" addresses are host addresses.
"""
import ctypes

import numpy as np

from ._ffi import ffi, lib

# -------------------------------------------------------------- DLPack ABI

KDL_CUDA = 2  # DLDeviceType kDLCUDA
# DLDataTypeCode
_KDL_INT, _KDL_FLOAT, _KDL_BOOL = 0, 2, 6
_FLAG_READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY
_VERSION = (1, 0)    # the DLPack ABI version of the versioned capsules made here


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


# Both managed structs' deleters take the struct's own address.
_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", _DELETER)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", _DELETER), ("flags", ctypes.c_uint64), ("dl_tensor", _DLTensor)]


# What each capsule made here and not yet deleted holds, keyed by the
# address of its managed struct: the struct and its shape array (their memory
# must stay where the consumer reads it) and the DeviceColumn, whose hold
# keeps the mapping alive. The deleter, called by the consumer when its array
# goes (or by the capsule's destructor when nobody consumed it), drops it.
_LIVE = {}


def _release(address):
    try:
        _LIVE.pop(address, None)
    except Exception:  # at interpreter exit the dict may be gone: nothing left to free
        pass


@_DELETER
def _deleter(address):
    _release(address)


_CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NAME = ctypes.c_char_p(b"dltensor")
_NAME_VERSIONED = ctypes.c_char_p(b"dltensor_versioned")



def _api(name, restype, *argtypes):
    """A private prototype of a Python C API function: the attributes of
    ctypes.pythonapi are shared by every module of the process, and another
    module setting their argtypes (a py_object where this passes an
    address) would break the destructor below."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_capsule_new = _api("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p,
                    _CAPSULE_DESTRUCTOR)
# The destructor gets the capsule being deallocated: it is passed on as a
# plain address (a py_object would take a reference to a dying object).
_capsule_is_valid = _api("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_capsule_pointer = _api("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_char_p)


@_CAPSULE_DESTRUCTOR
def _capsule_destructor(capsule):
    """A capsule nobody consumed frees what it holds. A consumer renames the
    capsule it takes ("used_dltensor", "used_dltensor_versioned") and calls
    the deleter itself when done: such a capsule is skipped here."""
    try:
        for name in (_NAME, _NAME_VERSIONED):
            if _capsule_is_valid(capsule, name):
                _release(_capsule_pointer(capsule, name))
                return
    except Exception:  # never raise out of a destructor (interpreter exit)
        pass


# ------------------------------------------------------------- per type

# DLDataTypeCode of each numpy kind a column may have; gpudf tables hold
# i32, i64, f32, f64 and bool (categoricals: their int32 codes, -1 missing,
# labels on the host in .categories); a DataFrame a gpudf.Pool shared on the
# device (device_frame) may hold any numpy integer, float or bool dtype.
_KIND_CODES = {"i": _KDL_INT, "u": 1, "f": _KDL_FLOAT, "b": _KDL_BOOL}
_GPUDF_DTYPES = {
    lib.GPUDF_TYPE_I32: np.dtype(np.int32), lib.GPUDF_TYPE_I64: np.dtype(np.int64),
    lib.GPUDF_TYPE_F32: np.dtype(np.float32), lib.GPUDF_TYPE_F64: np.dtype(np.float64),
    lib.GPUDF_TYPE_BOOL: np.dtype(np.bool_),
}


class DeviceColumn:
    """One column of a table or view placed on a GPU, for GPU libraries:
    cupy.asarray(col), numba.cuda.as_cuda_array(col) and torch.from_dlpack(col)
    read the shared device memory without a copy. Read-only is declared, not
    enforced: never write through what they return."""

    def __init__(self, handle, hold, index, labels, error, part=None):
        """Column index of the C table behind handle; part = (name, byte
        offset, numpy dtype, length) for an array stored inside that column
        (a DataFrame column a gpudf.Pool packed into its share)."""
        self._handle = handle  # the _Handle of the C table: its pointer for the calls below
        self._hold = hold      # what keeps the mapping alive (the view's handle, an owner's token)
        self._index = index
        self._error = error
        p = handle.ptr
        if part is None:
            self.name = ffi.string(lib.gpudf_table_column_name(p, index)).decode(
                errors="replace")
            self._offset = 0
            self.dtype = _GPUDF_DTYPES[lib.gpudf_table_column_type(p, index)]
            self.shape = (int(lib.gpudf_table_nrows(p)),)
        else:
            self.name, self._offset, self.dtype, n = part
            self.shape = (int(n),)
        self._code = _KIND_CODES[self.dtype.kind]
        self._bits = 8 * self.dtype.itemsize
        self.categories = labels  # a categorical's labels (host), else None
        self.backend = ffi.string(lib.gpudf_backend_name(lib.gpudf_table_backend(p))).decode()
        self.ptr, self.device_id = self._address()

    def _address(self):
        """(address, device ordinal) as the C API reports them now: refused
        on the cpu placement and once a cuda-ipc owner died."""
        data = ffi.new("const void **")
        dev = ffi.new("int *")
        status = lib.gpudf_table_column_device(self._handle.ptr, self._index, data, dev)
        if status != lib.GPUDF_OK:
            raise self._error(status, ffi.string(lib.gpudf_last_error()).decode(errors="replace"))
        return int(ffi.cast("uintptr_t", data[0])) + self._offset, int(dev[0])

    def _checked(self):
        """The address, after checking that the memory still exists: each
        protocol call asks the library again, so a consumer converting a
        column after its owner died gets an error, not a dead address."""
        ptr, _ = self._address()
        return ptr

    @property
    def size(self):
        return self.shape[0]

    @property
    def nbytes(self):
        return self.shape[0] * self.dtype.itemsize

    def __len__(self):
        return self.shape[0]

    @property
    def __cuda_array_interface__(self):
        # stream None: no synchronisation is needed, since the arena is on the
        # device (the upload complete) before the share is published, and
        # nothing writes it afterwards.
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self._checked(), True),
                "strides": None, "stream": None, "version": 3}

    def __dlpack_device__(self):
        return (KDL_CUDA, self.device_id)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule over the column (no copy). With max_version >=
        (1, 0) a versioned capsule ("dltensor_versioned") whose flags say
        read-only; else the legacy "dltensor". stream: any CUDA stream (or
        None); nothing to wait for, as for __cuda_array_interface__."""
        if stream is not None and not isinstance(stream, int):
            raise TypeError(f"stream must be None or an int (a CUDA stream handle), got "
                            f"{type(stream).__name__}")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"column '{self.name}' lives on (kDLCUDA, {self.device_id}); "
                              f"it cannot be exported to device {tuple(dl_device)}")
        if copy:
            raise BufferError(f"column '{self.name}': copy=True is not supported (gpudf "
                              "exports the shared memory itself); copy on the consumer's side "
                              "(e.g. cupy.array(col) or torch.from_dlpack(col).clone())")
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        shape = (ctypes.c_int64 * 1)(self.shape[0])
        if versioned:
            managed = _DLManagedTensorVersioned()
            managed.version = _DLPackVersion(*_VERSION)
            managed.flags = _FLAG_READ_ONLY
        else:
            managed = _DLManagedTensor()
        t = managed.dl_tensor
        t.data = self._checked()
        t.device = _DLDevice(KDL_CUDA, self.device_id)
        t.ndim = 1
        t.dtype = _DLDataType(self._code, self._bits, 1)
        t.shape = shape
        t.strides = None  # compact row-major
        t.byte_offset = 0
        managed.manager_ctx = None
        managed.deleter = _deleter
        address = ctypes.addressof(managed)
        _LIVE[address] = (managed, shape, self)
        try:
            return _capsule_new(address, _NAME_VERSIONED if versioned else _NAME,
                                _capsule_destructor)
        except BaseException:
            _release(address)
            raise

    def __repr__(self):
        kind = f"{self.dtype} category codes (labels on the host: .categories)" \
            if self.categories is not None else str(self.dtype)
        text = (f"<DeviceColumn '{self.name}' {kind}, {self.shape[0]} rows at 0x{self.ptr:x} on "
                f"cuda:{self.device_id} ({self.backend}); read-only is declared, not "
                "enforced: never write through it (every process reads this memory)")
        if self.backend == "cuda-pinned":
            text += "; cuda-pinned: it is the host arena mapped for the device, so every " \
                    "read crosses the host bus"
        return text + ">"
