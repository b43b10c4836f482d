"""The two ways gpudf declares the C API to cffi: the header parsed at import
(in-line ABI mode, a source checkout) and the header parsed at install time
(_gpudf_cffi.py, out-of-line ABI mode, used only when made from the header in
use). Both must give the same working binding; a stale pre-parsed module
must never be used."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpudf
from gpudf import _ffi, _ffi_build

PACKAGE = Path(gpudf.__file__).resolve().parent

PROBE = """
import numpy as np, gpudf
t = gpudf.Table.from_numpy({"x": np.arange(1000.0), "g": np.arange(1000) % 7})
with t.share(backend="cpu") as s:
    v = gpudf.attach(s.name)
    total = float(v.column("x").sum())
    res = gpudf.run(t, "groupby_agg", {"key_col": "g", "value_col": "x", "groups": 7})
print(gpudf._ffi.MODE, total, int(res["sum_6"].iloc[0]))
"""


def _copy_package(tmp_path):
    dest = tmp_path / "gpudf"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("_lib", "__pycache__",
                                                                  "_gpudf_cffi.py"))
    return dest


def _probe(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GPUDF_HEADER=str(_ffi.HEADER),
               GPUDF_LIBRARY=str(_ffi.LIBRARY))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    mode, total, n = out.stdout.split()
    return mode, float(total), int(n)


def test_a_pre_parsed_module_made_from_the_header_in_use_is_used_and_works(tmp_path):
    pkg = _copy_package(tmp_path)
    _ffi_build.write_module(_ffi.HEADER, pkg / "_gpudf_cffi.py")
    mode, total, n = _probe(tmp_path)
    assert mode == "out-of-line"
    assert total == sum(range(1000)) and n == sum(range(6, 1000, 7))
    # and the same through the header parsed at import
    (pkg / "_gpudf_cffi.py").unlink()
    assert _probe(tmp_path) == ("abi", total, n)


def test_a_pre_parsed_module_from_another_header_is_ignored(tmp_path):
    pkg = _copy_package(tmp_path)
    other = tmp_path / "other.h"
    other.write_bytes(Path(_ffi.HEADER).read_bytes() + b"\n/* a later edit */\n")
    _ffi_build.write_module(other, pkg / "_gpudf_cffi.py")
    mode, total, _ = _probe(tmp_path)
    assert mode == "abi"  # parsed from the real header, not the stale module
    assert total == sum(range(1000))


def test_every_c_type_the_package_names_parses_in_both_modes(tmp_path):
    """cffi's out-of-line parser reads fewer C type strings than the in-line
    one (no `const` inside a function type, for one): every literal type the
    package hands to ffi.new, cast, typeof or callback must parse in both."""
    used = set()
    for path in PACKAGE.glob("*.py"):
        # The package's ffi only: _mpi.py's own (mffi) always parses its
        # header at import, with the in-line parser.
        used |= set(re.findall(r'(?<!\w)ffi\.(?:new|cast|typeof|callback|sizeof)\("([^"]+)"',
                               path.read_text()))
    assert "gpudf_sweep_options *" in used and len(used) > 10
    pkg = _copy_package(tmp_path)
    _ffi_build.write_module(_ffi.HEADER, pkg / "_gpudf_cffi.py")
    probe = ("import sys, gpudf\nfrom gpudf._ffi import ffi\nbad = []\n"
             "for t in sys.argv[1:]:\n    try: ffi.typeof(t)\n"
             "    except Exception as e: bad.append(f'{t!r}: {e}')\n"
             "print(gpudf._ffi.MODE); print('\\n'.join(bad))")
    for with_module in (True, False):
        if not with_module:
            (pkg / "_gpudf_cffi.py").unlink()
        env = dict(os.environ, PYTHONPATH=str(tmp_path), GPUDF_HEADER=str(_ffi.HEADER),
                   GPUDF_LIBRARY=str(_ffi.LIBRARY))
        out = subprocess.run([sys.executable, "-c", probe, *sorted(used)], env=env,
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr
        mode, *bad = out.stdout.strip().split("\n")
        assert mode == ("out-of-line" if with_module else "abi")
        assert not [b for b in bad if b], f"{mode}: {bad}"


def test_an_installed_package_carries_the_header_pre_parsed():
    if not (PACKAGE / "_lib").is_dir():
        pytest.skip("a source checkout (no gpudf/_lib): the header is parsed at import; "
                    "`pip install ./python` writes the pre-parsed module")
    if os.environ.get("GPUDF_HEADER"):
        pytest.skip("GPUDF_HEADER names a header of its own")
    assert _ffi.MODE == "out-of-line"
