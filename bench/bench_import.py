"""bench_import.py - what a fresh worker process pays for gpudf before its
first task: `import gpudf` (after numpy and pandas, which a worker imports
anyway) and its first attach + to_pandas(), with the header parsed at import
(in-line ABI mode: a source checkout) and pre-parsed at install time
(out-of-line ABI mode: _gpudf_cffi.py, what `pip install` gives), side by side
in one run, each in fresh interpreters, alternated.

    GPUDF_LIBRARY=<build>/libgpudf.so GPUDF_HEADER=include/gpudf.h \\
        python bench/bench_import.py [--runs 15]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))

import numpy as np  # noqa: E402

import gpudf  # noqa: E402
from gpudf import _ffi, _ffi_build  # noqa: E402

PROBE = """
import sys, time
import numpy, pandas
t0 = time.perf_counter()
import gpudf
t1 = time.perf_counter()
v = gpudf.attach(sys.argv[1])
df = v.to_pandas()
t2 = time.perf_counter()
print(gpudf._ffi.MODE, t1 - t0, t2 - t1)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_import_"))
    try:
        pre = tmp / "gpudf"
        shutil.copytree(REPO / "python" / "gpudf", pre,
                        ignore=shutil.ignore_patterns("__pycache__", "_lib", "_gpudf_cffi.py"))
        _ffi_build.write_module(_ffi.HEADER, pre / "_gpudf_cffi.py")
        paths = {"abi": str(REPO / "python"), "out-of-line": str(tmp)}
        t = gpudf.Table.from_numpy({f"c{i}": np.arange(100_000.0) for i in range(4)})
        times = {m: ([], []) for m in paths}
        with t.share(backend="cpu") as s:
            for _ in range(a.runs):
                for mode, path in paths.items():
                    env = dict(os.environ, PYTHONPATH=path, GPUDF_HEADER=str(_ffi.HEADER),
                               GPUDF_LIBRARY=str(_ffi.LIBRARY))
                    out = subprocess.run([sys.executable, "-c", PROBE, s.name], env=env,
                                         capture_output=True, text=True, check=True)
                    got, imp, att = out.stdout.split()
                    assert got == mode, (got, mode)
                    times[mode][0].append(float(imp))
                    times[mode][1].append(float(att))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'declarations':<14}{'import gpudf ms':>18}{'first attach ms':>18}   "
          f"(median [min-max] of {a.runs} fresh interpreters)")
    med = {}
    for mode, (imp, att) in times.items():
        med[mode] = (statistics.median(imp), statistics.median(att))
        print(f"{mode:<14}{med[mode][0] * 1e3:>9.1f} [{min(imp) * 1e3:.0f}-{max(imp) * 1e3:.0f}]"
              f"{med[mode][1] * 1e3:>10.1f} [{min(att) * 1e3:.0f}-{max(att) * 1e3:.0f}]")
    print(f"ratio abi / out-of-line: import {med['abi'][0] / med['out-of-line'][0]:.1f}x, "
          f"first attach {med['abi'][1] / med['out-of-line'][1]:.1f}x")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}")


if __name__ == "__main__":
    main()
