"""The original question on the GPU: func written in CuPy, over one device
copy of the DataFrame that every worker reads.

    "I run multiprocessing.Pool(15).map(func, [(df, cfg1), (df, cfg2), ...])
     over a multi-GB DataFrame; every worker gets its own pickled copy and I
     run out of memory."

With gpudf.Pool(..., devices="all") the DataFrame is copied once into shared
memory and uploaded once to the device; each worker is bound to a GPU before
it imports CuPy, and gpudf.device_frame(df) gives it the device columns of
the DataFrame it was handed: cupy.asarray reads them where they lie, without
a copy (never write through them: read-only is declared, not enforced).
The answers are checked against pandas on the host.

    python samples/python/seed_gpu.py [--rows 5000000] [--workers 4] [--configs 16]

Needs a CUDA device, a CUDA build of libgpudf and CuPy; says what is missing
and exits 0 otherwise.
"""
import argparse
import sys

import numpy as np
import pandas as pd

import gpudf


def func(args):
    """The question's func, in CuPy: sum and count of b where lo <= a <= hi."""
    import cupy as cp  # here: after the pool bound this worker to its GPU
    df, (lo, hi) = args
    cols = gpudf.device_frame(df, columns=["a", "b"])
    a, b = cp.asarray(cols["a"]), cp.asarray(cols["b"])  # no copy
    mask = (a >= lo) & (a <= hi) & ~cp.isnan(b)
    return float(cp.where(mask, b, 0.0).sum()), int(cp.count_nonzero(mask))


def reference(df, lo, hi):
    sel = df.loc[(df.a >= lo) & (df.a <= hi), "b"]
    return float(sel.sum()), int(sel.count())


def missing():
    """Why this cannot run here, or None."""
    try:
        import cupy  # noqa: F401
    except ImportError as e:
        return f"CuPy is not installed ({e})"
    if "cuda-ipc" not in gpudf.backends():
        return "no cuda-ipc placement (no CUDA device, or libgpudf built without CUDA)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--configs", type=int, default=16)
    a = ap.parse_args()
    why = missing()
    if why:
        print(f"seed_gpu: skipped: {why}")
        return 0
    rng = np.random.default_rng(1)
    df = pd.DataFrame({k: rng.standard_normal(a.rows) for k in "abcd"})
    configs = [(lo, lo + 0.5) for lo in np.linspace(-2, 1.5, a.configs)]
    with gpudf.Pool(a.workers, devices="all") as pool:
        out = pool.map(func, [(df, c) for c in configs])
    bad = 0
    for (lo, hi), (s, n) in zip(configs, out):
        rs, rn = reference(df, lo, hi)
        ok = n == rn and abs(s - rs) <= 1e-9 * max(1.0, abs(rs))
        bad += not ok
        print(f"a in [{lo:+.2f}, {hi:+.2f}]: sum {s:.6f} count {n}  pandas: {rs:.6f} {rn}"
              f"{'' if ok else '  MISMATCH'}")
    print("same answers as pandas: " + ("yes" if not bad else f"NO ({bad} differ)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
