"""Builds libgpudf with CMake (or takes a build tree from GPUDF_PREBUILT) and
ships it, its header and its worker executable inside the package, so that
`import gpudf` works from anywhere without LD_LIBRARY_PATH."""
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).resolve().parent.parent


def build_library():
    """(build tree, whether it is ours to remove)."""
    prebuilt = os.environ.get("GPUDF_PREBUILT")
    if prebuilt:
        return Path(prebuilt), False
    out = Path(tempfile.mkdtemp(prefix="gpudf-build-"))
    # pip shows this only with -v (`pip install -v ./python`).
    print("gpudf: building libgpudf, gpudf-worker and gpudf-sweep with CMake (Release; about "
          "2-3 minutes on 2 cores; `pip install -v` shows each step)", flush=True)
    try:
        subprocess.check_call(["cmake", "-S", str(REPO), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
                               "-DGPUDF_BUILD_TESTS=OFF", "-DGPUDF_BUILD_BENCH=OFF",
                               "-DGPUDF_FLAT_RPATH=ON"])
        subprocess.check_call(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2),
                               "--target", "gpudf", "gpudf-worker", "gpudf-sweep"])
        # libgpudf_mpi exists only where CMake found MPI: no target, no copy.
        subprocess.call(["cmake", "--build", str(out), "--target", "gpudf_mpi"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out, True


def write_declarations(header, out):
    """gpudf/_gpudf_cffi.py: the header parsed now rather than at every
    import (cffi's out-of-line ABI mode; no compiler). Loaded from its file:
    importing the gpudf package here would look for a library."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "_gpudf_ffi_build", Path(__file__).resolve().parent / "gpudf" / "_ffi_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.write_module(header, out)
    except ImportError as e:  # no cffi where the package is built: parsed at import
        print(f"gpudf: header not pre-parsed ({e}); gpudf parses it at import", flush=True)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        src, ours = build_library()
        try:
            self.copy_library(src)
        finally:
            if ours:
                shutil.rmtree(src, ignore_errors=True)  # nothing left in /tmp

    def copy_library(self, src):
        dest = Path(self.build_lib) / "gpudf" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        lib = (src / "libgpudf.so").resolve()
        if not lib.exists():
            raise SystemExit(f"no libgpudf.so in {src}")
        shutil.copy2(lib, dest / "libgpudf.so")
        # The name the programs ask the loader for (their RPATH is $ORIGIN).
        shutil.copy2(lib, dest / "libgpudf.so.0")
        shutil.copy2(REPO / "include" / "gpudf.h", dest / "gpudf.h")
        write_declarations(dest / "gpudf.h", dest.parent / "_gpudf_cffi.py")
        # The worker the library starts, and the command-line tool
        # (the console script gpudf-sweep runs it: gpudf/_cli.py).
        # Where the build puts them, not a copy elsewhere in the tree (the
        # install test's prefix holds ones whose RPATH is ../lib).
        # libgpudf_mpi, when the build found MPI: gpudf.sweep(..., comm=)
        # loads it (gpudf/_mpi.py); the package itself never needs it.
        mpi = src / "libgpudf_mpi.so"
        if mpi.exists():
            shutil.copy2(mpi.resolve(), dest / "libgpudf_mpi.so")
            shutil.copy2(REPO / "include" / "gpudf_mpi.h", dest / "gpudf_mpi.h")
        for program, where in (("gpudf-worker", "."), ("gpudf-sweep", "samples")):
            found = [src / where / program] if (src / where / program).exists() else \
                glob.glob(str(src / "**" / program), recursive=True)
            if found:
                shutil.copy2(found[0], dest / program)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True  # the wheel carries a native library


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
