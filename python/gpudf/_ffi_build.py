"""Writes gpudf/_gpudf_cffi.py: gpudf.h's declarations parsed once, at install
time, by cffi's out-of-line ABI mode (FFI.set_source(name, None)). The module
is plain Python, so building it needs no C compiler; importing it skips
parsing the header (pycparser) in every process that imports gpudf, which
was most of `import gpudf`'s cost and of a fresh worker's first attach.

_ffi.py uses the module only when it was made from the very header the
library is used with (its SHA-256 is recorded in it); otherwise (a source
checkout, GPUDF_HEADER naming another header) it parses the header at run
time as before (in-line ABI mode).

    python gpudf/_ffi_build.py HEADER OUT.py
"""
import hashlib
import sys
from pathlib import Path

MODULE = "gpudf._gpudf_cffi"


def cdef_source(header_text):
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


def header_digest(header_bytes):
    return hashlib.sha256(header_bytes).hexdigest()


def write_module(header, out):
    """Writes the out-of-line module for header (a path) to out (a path)."""
    from cffi import FFI
    data = Path(header).read_bytes()
    builder = FFI()
    builder.cdef(cdef_source(data.decode("utf-8")))
    builder.set_source(MODULE, None)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    builder.emit_python_code(str(tmp))
    with open(tmp, "a", encoding="utf-8") as f:
        f.write(f"\n# the gpudf.h this was made from (gpudf/_ffi_build.py)\n"
                f"HEADER_SHA256 = {header_digest(data)!r}\n")
    tmp.replace(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: _ffi_build.py HEADER OUT.py")
    write_module(sys.argv[1], sys.argv[2])
