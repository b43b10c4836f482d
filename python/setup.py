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
    prebuilt = os.environ.get("GPUDF_PREBUILT")
    if prebuilt:
        return Path(prebuilt)
    out = Path(tempfile.mkdtemp(prefix="gpudf-build-"))
    subprocess.check_call(["cmake", "-S", str(REPO), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
                           "-DGPUDF_BUILD_TESTS=OFF", "-DGPUDF_BUILD_BENCH=OFF"])
    subprocess.check_call(["cmake", "--build", str(out), "-j", str(os.cpu_count() or 2)])
    return out


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        src = build_library()
        dest = Path(self.build_lib) / "gpudf" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        lib = (src / "libgpudf.so").resolve()
        if not lib.exists():
            raise SystemExit(f"no libgpudf.so in {src}")
        shutil.copy2(lib, dest / "libgpudf.so")
        shutil.copy2(REPO / "include" / "gpudf.h", dest / "gpudf.h")
        workers = glob.glob(str(src / "**" / "gpudf-worker"), recursive=True)
        if workers:
            shutil.copy2(workers[0], dest / "gpudf-worker")


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True  # the wheel carries a native library


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
