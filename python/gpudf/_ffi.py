"""Loads libgpudf through cffi in ABI mode and declares its API from gpudf.h.

ABI mode (ffi.dlopen) needs no C compiler when the package is installed or
imported: the declarations are read from the library's own public header, so
they can never drift from the C API. Every call into the library is coarse (a
whole batch of configs, a whole table), so the few microseconds ABI mode costs
per call do not matter.

An installed package carries the header already parsed (_gpudf_cffi.py,
written by _ffi_build.py at install time: out-of-line ABI mode, still no
compiler); it is used when it was made from the header in use, which saves
parsing the header in every process that imports gpudf. MODE says which.
"""
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _find(env, bundled, repo_relative):
    """The file named by an environment variable, else the copy installed in
    the package, else the one in a source checkout's build tree."""
    if os.environ.get(env):
        return Path(os.environ[env])
    if (_HERE / "_lib" / bundled).exists():
        return _HERE / "_lib" / bundled
    for candidate in repo_relative:
        path = _HERE.parent.parent / candidate
        if path.exists():
            return path
    raise ImportError(
        f"gpudf: cannot find {bundled}; install the package with `pip install ./python`, "
        f"or set {env} to its path")


HEADER = _find("GPUDF_HEADER", "gpudf.h", ["include/gpudf.h"])
LIBRARY = _find("GPUDF_LIBRARY", "libgpudf.so", ["build/libgpudf.so", "build-release/libgpudf.so"])


def _declarations():
    """(ffi, mode): the pre-parsed module when it matches HEADER, else the
    header parsed now."""
    from . import _ffi_build
    data = HEADER.read_bytes()
    try:
        from . import _gpudf_cffi
    except ImportError:
        pass
    else:
        if getattr(_gpudf_cffi, "HEADER_SHA256", None) == _ffi_build.header_digest(data):
            return _gpudf_cffi.ffi, "out-of-line"
    from cffi import FFI
    parsed = FFI()
    parsed.cdef(_ffi_build.cdef_source(data.decode("utf-8")))
    return parsed, "abi"


ffi, MODE = _declarations()
lib = ffi.dlopen(str(LIBRARY))

# Let the sweep engine find its worker executable next to the library.
_worker = Path(LIBRARY).resolve().parent / "gpudf-worker"
if _worker.exists():
    os.environ.setdefault("GPUDF_WORKER", str(_worker))

