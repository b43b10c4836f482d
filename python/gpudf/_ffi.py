"""Loads libgpudf through cffi in ABI mode and declares its API from gpudf.h.

ABI mode (ffi.dlopen) needs no C compiler when the package is installed or
imported: the declarations are read from the library's own public header, so
they can never drift from the C API. Every call into the library is coarse (a
whole batch of configs, a whole table), so the few microseconds ABI mode costs
per call do not matter.
"""
import os
import re
from pathlib import Path

from cffi import FFI

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


def _cdef_source(header_text):
    """gpudf.h without its preprocessor lines and its C++ guards: the header
    keeps declarations free of macros so that this is all cdef needs."""
    out, skip = [], 0
    for line in header_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            skip = 1
            continue
        if skip:
            if stripped.startswith("#endif"):
                skip = 0
            continue
        if stripped.startswith("#"):
            continue
        out.append(line)
    return "\n".join(out)


HEADER = _find("GPUDF_HEADER", "gpudf.h", ["include/gpudf.h"])
LIBRARY = _find("GPUDF_LIBRARY", "libgpudf.so", ["build/libgpudf.so", "build-release/libgpudf.so"])

ffi = FFI()
ffi.cdef(_cdef_source(HEADER.read_text()))
lib = ffi.dlopen(str(LIBRARY))

# Let the sweep engine find its worker executable next to the library.
_worker = Path(LIBRARY).resolve().parent / "gpudf-worker"
if _worker.exists():
    os.environ.setdefault("GPUDF_WORKER", str(_worker))

del re
