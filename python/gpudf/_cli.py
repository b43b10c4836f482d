"""The gpudf-sweep console script: runs the gpudf-sweep program shipped in
the package (gpudf/_lib, next to the library and its worker), so that
`pip install` gives the command-line tool too."""
import os
import sys
from pathlib import Path

_LIB = Path(__file__).resolve().parent / "_lib"


def main():
    exe = _LIB / "gpudf-sweep"
    if not exe.exists():
        sys.exit("gpudf-sweep: not in this installation of the gpudf package "
                 f"({exe} is missing); reinstall it with `pip install ./python`")
    worker = _LIB / "gpudf-worker"
    if worker.exists():
        os.environ.setdefault("GPUDF_WORKER", str(worker))
    os.execv(str(exe), [str(exe)] + sys.argv[1:])


if __name__ == "__main__":
    main()
