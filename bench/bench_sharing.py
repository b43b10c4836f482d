#!/usr/bin/env python3
"""bench_sharing.py - the cost of giving a table to a worker process, by size:
libgpudf against pickling the DataFrame (what multiprocessing.Pool does with
every task argument) and against multiprocessing.shared_memory.

    GPUDF_LIBRARY=<build>/libgpudf.so PYTHONPATH=python \\
        venv/bin/python bench/bench_sharing.py [--quick] [--json PATH] [--sizes-mib 16,64]

Tables of 8 float64 columns: 16, 64, 256, 1024 and 4096 MiB (--quick: 16 and
64). For each size and approach, fresh worker processes (spawn) are started
and wait, having imported numpy, pandas and gpudf; then, one worker at a
time, the owner hands the table over and the worker:

  gpudf         gpudf.attach(name) and a numpy view of every column
  pickle        receives pickle.dumps(df) over a pipe and pickle.loads it (the
                owner's dumps is inside the timing: Pool pays it per task)
  shared_memory SharedMemory(name) and an np.ndarray view of every column
                (the owner copied the columns into the segment once)

"attach latency" is the time from the owner starting the hand-over to the
worker's reply that its columns are usable. Then the worker reads every byte
(a wrapping sum of the 64-bit words of every column, which must equal the
owner's) and its memory is read from /proc: USS (its private pages) and PSS,
each minus what it had before the hand-over. The owner's one-time setup
(gpudf: from_pandas + share; shared_memory: create + copy) is reported
separately. The first worker of each (size, approach) is a warm-up, excluded.
Sizes that do not fit in the available memory (the owner's DataFrame, the
shared copy and a worker's copy plus the pickled bytes) are skipped, and the
report says so."""
import argparse
import os
import pickle
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

import numpy as np  # noqa: E402

NCOLS = 8
APPROACHES = ("gpudf", "pickle", "shared_memory")


def checksum(arrays):
    """Wrapping sum of the 64-bit words of every column: reads every byte."""
    total = np.uint64(0)
    with np.errstate(over="ignore"):
        for a in arrays:
            total += np.add.reduce(np.ascontiguousarray(a).view(np.uint64), dtype=np.uint64)
    return int(total)


def worker(conn):
    """A fresh process: imports what every approach needs, says it is idle,
    then serves one hand-over."""
    import pandas
    import gpudf
    del pandas  # imported only so that its cost is paid before the hand-over
    from multiprocessing import shared_memory
    conn.send(("idle", benchlib.memory()))
    msg = conn.recv()
    kind = msg[0]
    keep = None
    if kind == "gpudf":
        view = gpudf.attach(msg[1])
        cols = [view.column(c) for c in view.columns]
        keep = view
    elif kind == "pickle":
        buf = conn.recv_bytes()
        df = pickle.loads(buf)
        del buf
        cols = [df[c].to_numpy() for c in df.columns]
        keep = df
    elif kind == "shared_memory":
        name, nrows, ncols = msg[1], msg[2], msg[3]
        # A spawn child shares its parent's resource tracker, so attaching
        # registers nothing new; the owner unlinks the segment.
        shm = shared_memory.SharedMemory(name=name)
        block = np.ndarray((ncols, nrows), dtype=np.float64, buffer=shm.buf)
        cols = [block[i] for i in range(ncols)]
        keep = shm
    conn.send(("ready",))
    conn.recv()  # "touch"
    total = checksum(cols)
    conn.send(("sum", total, benchlib.memory()))
    conn.recv()  # "exit"
    del cols, keep
    if kind == "shared_memory":
        try:
            block = None  # noqa: F841
            shm.close()
        except BufferError:
            pass


def start_workers(ctx, n):
    ws = []
    for _ in range(n):
        a, b = ctx.Pipe()
        p = ctx.Process(target=worker, args=(b,), daemon=True)
        p.start()
        b.close()
        ws.append((p, a))
    idle = []
    for p, a in ws:
        msg = a.recv()
        assert msg[0] == "idle"
        idle.append(msg[1])
    return ws, idle


def run_approach(ctx, kind, df, want, reps, warm, setup):
    """One (size, approach): warm + reps fresh workers. Returns the record."""
    ws, idle = start_workers(ctx, warm + reps)
    lat, uss, pss = [], [], []
    handle = setup(df)
    try:
        for i, ((p, conn), before) in enumerate(zip(ws, idle)):
            t0 = time.perf_counter()
            if kind == "gpudf":
                conn.send(("gpudf", handle.name))
            elif kind == "pickle":
                conn.send(("pickle",))
                conn.send_bytes(pickle.dumps(df, protocol=pickle.HIGHEST_PROTOCOL))
            else:
                conn.send(("shared_memory", handle.name, len(df), NCOLS))
            msg = conn.recv()
            dt = time.perf_counter() - t0
            assert msg[0] == "ready", msg
            conn.send(("touch",))
            msg = conn.recv()
            if msg[1] != want:
                raise SystemExit(f"bench_sharing: WRONG ANSWER: {kind} worker read checksum "
                                 f"{msg[1]:#x}, the owner's is {want:#x}")
            if i >= warm:
                lat.append(dt)
                uss.append(msg[2]["uss"] - before["uss"])
                pss.append(msg[2]["pss"] - before["pss"])
            conn.send(("exit",))
            p.join()
            if p.exitcode != 0:
                raise SystemExit(f"bench_sharing: {kind} worker exited with {p.exitcode}")
    finally:
        for p, _ in ws:
            if p.is_alive():
                p.kill()
                p.join()
        teardown = getattr(handle, "teardown", None)
        if teardown:
            teardown()
    rec = benchlib.stats(lat)
    rec.update({"worker_uss_added_mib": benchlib.mib(float(np.median(uss))),
                "worker_pss_added_mib": benchlib.mib(float(np.median(pss))),
                "worker_uss_added_mib_max": benchlib.mib(float(max(uss)))})
    return rec


class _GpudfSetup:
    def __init__(self, df):
        import gpudf
        t0 = time.perf_counter()
        self.table = gpudf.Table.from_pandas(df)
        self.share = self.table.share()
        self.setup_s = time.perf_counter() - t0
        self.name = self.share.name

    def teardown(self):
        self.share.close()
        self.share = self.table = None


class _ShmSetup:
    def __init__(self, df):
        from multiprocessing import shared_memory
        t0 = time.perf_counter()
        self.shm = shared_memory.SharedMemory(create=True, size=len(df) * NCOLS * 8)
        block = np.ndarray((NCOLS, len(df)), dtype=np.float64, buffer=self.shm.buf)
        for i, c in enumerate(df.columns):
            block[i] = df[c].to_numpy()
        del block
        self.setup_s = time.perf_counter() - t0
        self.name = self.shm.name

    def teardown(self):
        self.shm.close()
        self.shm.unlink()


class _NoSetup:
    setup_s = 0.0
    name = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--sizes-mib", help="comma-separated table sizes in MiB")
    args = ap.parse_args()
    import multiprocessing as mp
    import pandas as pd
    import gpudf
    sizes = ([int(s) for s in args.sizes_mib.split(",")] if args.sizes_mib
             else [16, 64] if args.quick else [16, 64, 256, 1024, 4096])
    warm = 1
    ctx = mp.get_context("spawn")
    out = {"section": "sharing", "quick": args.quick, "ncols": NCOLS, "sizes": [],
           "versions": benchlib.versions("numpy", "pandas"), "checked": True,
           "notes": [f"{warm} warm-up worker per size and approach excluded; fresh spawn "
                     "worker per repetition; latency = owner starts the hand-over -> worker "
                     "replies its columns are usable; memory = worker's USS/PSS after reading "
                     "every byte minus before the hand-over; every worker's checksum of the "
                     "64-bit words equals the owner's"]}
    for size in sizes:
        nrows = size * 2**20 // (8 * NCOLS)
        need = 4.5 * size * 2**20 + 512 * 2**20
        avail = benchlib.mem_available()
        if avail is not None and avail < need:
            msg = (f"{size} MiB skipped: needs about {need / 2**30:.1f} GiB free, "
                   f"{avail / 2**30:.1f} GiB available")
            print(msg, flush=True)
            out["sizes"].append({"size_mib": size, "skipped": msg})
            continue
        reps = 3 if args.quick or size > 256 else 5
        rng = np.random.default_rng(size)
        df = pd.DataFrame({f"c{i}": rng.standard_normal(nrows) for i in range(NCOLS)})
        want = checksum([df[c].to_numpy() for c in df.columns])
        rec = {"size_mib": size, "rows": nrows, "reps": reps, "warmup": warm, "approaches": {}}
        for kind in APPROACHES:
            print(f"[bench_sharing] {size} MiB: {kind}, {reps} workers (+{warm} warm-up)",
                  file=sys.stderr, flush=True)
            box = {}

            def setup(frame, kind=kind):
                box["h"] = (_GpudfSetup(frame) if kind == "gpudf" else
                            _ShmSetup(frame) if kind == "shared_memory" else _NoSetup())
                return box["h"]
            r = run_approach(ctx, kind, df, want, reps, warm, setup)
            r["owner_setup_s"] = box["h"].setup_s
            rec["approaches"][kind] = r
        g = rec["approaches"]["gpudf"]
        for kind in APPROACHES:
            r = rec["approaches"][kind]
            r["ratio_time_vs_gpudf"] = r["median_s"] / g["median_s"]
            r["ratio_uss_vs_gpudf"] = (r["worker_uss_added_mib"] /
                                       max(g["worker_uss_added_mib"], 1e-3))
        out["sizes"].append(rec)
        del df
        print(f"{size:6d} MiB " + "  ".join(
            f"{k}: {r['median_s'] * 1e3:9.2f} ms [{r['min_s'] * 1e3:.2f}-{r['max_s'] * 1e3:.2f}] "
            f"USS +{r['worker_uss_added_mib']:.1f} MiB"
            for k, r in rec["approaches"].items()), flush=True)
    gpudf.cleanup()
    benchlib.write_json(args.json, out)


if __name__ == "__main__":
    main()
