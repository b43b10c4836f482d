#!/usr/bin/env python3
"""tests/python/mpi_sweep_check.py RANKS MPIEXEC... (ctest
Mpi.PythonSweepWithComm{1,2}RanksEqualsOneProcessAndPandas; tests/run.sh).

Run plainly, it launches itself under MPIEXEC -n RANKS with the interpreter
GPUDF_TEST_PYTHON names (else this one), which must import mpi4py, numpy,
pandas and cffi; without them it prints SKIPPED and exits 77
(GPUDF_TEST_REQUIRE_PYTHON=1: fails instead).

Under MPI, every rank calls gpudf.sweep(..., comm=MPI.COMM_WORLD), the table
and configs given on rank 0 alone: rank 0 gets the DataFrame, equal to a
one-process gpudf.sweep of the same configs (bitwise: filter_agg's counts,
minima and maxima, and histogram counts; sum, mean and std within 1e-12, as
docs/mpi.md says) and to pandas and numpy.histogram (counts, minima, maxima
exact, sums within 1e-12 of the magnitudes); every other rank
gets None. A kernel rank 0 does not know raises gpudf.Error on every rank,
and the job goes on to a good sweep after it. With GPUDF_TEST_PLUGIN (the
test plugin), configs the kernel fails are failed configs with its reason,
the others done, as in one process. A series sweep (series=, time=) equals
the one-process series sweep, its summary included."""
import os
import subprocess
import sys

UNDER_MPI = any(v in os.environ for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def launch():
    ranks, mpiexec = sys.argv[1], sys.argv[2:]
    python = os.environ.get("GPUDF_TEST_PYTHON") or sys.executable
    probe = subprocess.run([python, "-c", "import mpi4py, numpy, pandas, cffi"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        msg = (f"SKIPPED: {python} cannot import mpi4py, numpy, pandas and cffi (set "
               f"GPUDF_TEST_PYTHON to one that can; tests/run.sh does): {probe.stderr.strip()}")
        print(msg)
        sys.exit(1 if os.environ.get("GPUDF_TEST_REQUIRE_PYTHON") == "1" else 77)
    p = subprocess.run([*mpiexec, "-n", ranks, python, os.path.abspath(__file__)],
                       capture_output=True, text=True, timeout=240)
    print(p.stdout, p.stderr, sep="\n")
    if p.returncode != 0:
        print(f"FAILED: mpiexec -n {ranks} exited {p.returncode}")
    elif p.stdout.count("OK rank") != int(ranks):
        print(f"FAILED: {p.stdout.count('OK rank')} of {ranks} ranks said OK")
    else:
        sys.exit(0)
    sys.exit(1)


def check():
    import numpy as np
    import pandas as pd
    from mpi4py import MPI

    import gpudf

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    failures = []

    n_rows = 20011
    i = np.arange(n_rows)
    v = ((i * 7919) % 100003) / 997.0 - 50.0
    v[::97] = np.nan  # NaN rows: skipped by every aggregate
    table = configs = hconfigs = None
    if rank == 0:
        table = gpudf.Table.from_numpy({"v": v, "w": ((i * 31) % 1001) / 7.0})
        configs = [{"filter_col": "v", "op": op, "lo": lo, "value_col": "w"}
                   for op in ("lt", "ge") for lo in np.linspace(-60, 60, 25)]
        hconfigs = [{"col": "v", "bins": 16, "range_lo": lo, "range_hi": lo + 80}
                    for lo in range(-60, 0, 7)]

    # A kernel rank 0 does not know: gpudf.Error on every rank, no rank left waiting.
    try:
        gpudf.sweep(table, "no_such_kernel", configs, workers=0, comm=comm)
        failures.append("an unknown kernel did not raise")
    except gpudf.Error as e:
        if rank != 0 and "rank 0" not in e.message:
            failures.append(f"rank {rank}: the error does not name rank 0: {e.message}")

    got = gpudf.sweep(table, "filter_agg", configs, workers=0, comm=comm)
    hist = gpudf.sweep(table, "histogram", hconfigs, workers=0, comm=comm)
    if rank != 0:
        if got is not None or hist is not None:
            failures.append(f"rank {rank} got a result; only rank 0 should")
    else:
        one = gpudf.sweep(table, "filter_agg", configs, workers=0)
        cols = [c for c in one.columns if c not in ("status", "error")]
        if list(got.columns) != list(one.columns) or len(got) != len(one):
            failures.append(f"columns {list(got.columns)} != {list(one.columns)}")
        elif (got["status"] != "ok").any():
            failures.append(f"not ok: {got[got['status'] != 'ok']}")
        else:
            for c in cols:
                a, b = got[c].to_numpy(), one[c].to_numpy()
                if a.dtype.kind == "f":
                    same = np.array_equal(a.view(np.int64), b.view(np.int64))
                else:
                    same = (a == b).all()
                # Sums (and mean, std) round by which configs share a pass
                # over the table, in one process too (docs/mpi.md,
                # "Rounding"): close, not bitwise.
                if c in ("sum", "mean", "std"):
                    same = np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)
                if not same:
                    failures.append(f"column {c} differs from the one-process sweep")
            # pandas, one config at a time.
            df = pd.DataFrame({"v": v, "w": ((i * 31) % 1001) / 7.0})
            for k, row in got.iterrows():
                m = df["v"] < row["lo"] if row["op"] == "lt" else df["v"] >= row["lo"]
                sel = df["w"][m & df["v"].notna()]
                if row["count"] != len(sel):
                    failures.append(f"config {k}: count {row['count']}, pandas {len(sel)}")
                    break
                if len(sel) and (row["min"] != sel.min() or row["max"] != sel.max()):
                    failures.append(f"config {k}: min/max {row['min']} {row['max']}, pandas "
                                    f"{sel.min()} {sel.max()}")
                    break
                if abs(row["sum"] - sel.sum()) > 1e-12 * max(1.0, sel.abs().sum()):
                    failures.append(f"config {k}: sum {row['sum']}, pandas {sel.sum()}")
                    break
        hone = gpudf.sweep(table, "histogram", hconfigs, workers=0)
        bins = [c for c in hone.columns if c.startswith("bin_")]
        if not hist[bins].equals(hone[bins]):
            failures.append("histogram counts differ from the one-process sweep")
        for k, row in hist.iterrows():
            lo, hi = row["range_lo"], row["range_hi"]
            counts = np.histogram(v[~np.isnan(v)], bins=16, range=(lo, hi))[0]
            if list(row[bins].astype(int)) != list(counts):
                failures.append(f"histogram config {k}: {list(row[bins])} counted {list(counts)}")
                break
        rep = got.attrs["report"]
        if rep["ranks"] != size or sum(r["configs"] for r in rep["per_rank"]) != len(configs):
            failures.append(f"report: {rep}")
    # A series sweep (series=, time=): 3 integer-labelled symbols
    # interleaved, days descending; rank 0's frame, its "series" column and
    # attrs["summary"] equal a one-process series sweep's, bitwise.
    # The equal-weight portfolio is not computed across ranks (NaN, 0 bars).
    PORTFOLIO = ["portfolio_return", "portfolio_sharpe", "portfolio_bars"]
    ltable = sconfigs = None
    if rank == 0:
        d = np.repeat(np.arange(299, -1, -1), 3)
        sym = np.tile(np.array([7, 3, 11], dtype=np.int64), 300)
        price = 100 + 10 * np.sin(0.05 * d * (sym % 4 + 1)) + 0.01 * ((d * 31 + sym) % 17)
        ltable = gpudf.Table.from_numpy({"sym": sym, "day": d.astype(np.int64), "close": price})
        sconfigs = [{"price_col": "close", "fast": f, "slow": sl}
                    for f in (2, 4, 6) for sl in (20, 45, 70)]
    sgot = gpudf.sweep(ltable, "ma_crossover", sconfigs, workers=0, series="sym", time="day",
                       comm=comm)
    if rank == 0:
        sone = gpudf.sweep(ltable, "ma_crossover", sconfigs, workers=0, series="sym", time="day")
        if list(sgot.columns) != list(sone.columns) or len(sgot) != len(sone):
            failures.append(f"series columns {list(sgot.columns)} != {list(sone.columns)}")
        elif not sgot.equals(sone):
            failures.append("the series sweep differs from the one-process series sweep")
        elif not sgot.attrs["summary"].drop(columns=PORTFOLIO).equals(
                sone.attrs["summary"].drop(columns=PORTFOLIO)):
            failures.append("the series summary differs from the one-process one")
        elif not (sgot.attrs["summary"]["portfolio_sharpe"].isna().all() and
                  (sgot.attrs["summary"]["portfolio_bars"] == 0).all() and
                  "MPI ranks" in sgot.attrs["summary"].attrs["portfolio_reason"]):
            failures.append("a portfolio across MPI ranks, or no reason why not")
        elif sorted(set(sgot["series"])) != ["11", "3", "7"]:
            failures.append(f"series labels {sorted(set(sgot['series']))}")
    elif sgot is not None:
        failures.append(f"rank {rank} got a series result; only rank 0 should")
    # A config the kernel fails is a failed config with the kernel's reason,
    # the others done, as in one process (the test plugin's sweep_test;
    # GPUDF_TEST_PLUGIN names it; each rank loads it).
    plugin = os.environ.get("GPUDF_TEST_PLUGIN")
    if plugin:
        pconfigs = None
        if rank == 0:
            pconfigs = [{"value": float(q), "action": "fail" if q % 5 == 3 else "ok"}
                        for q in range(40)]
        mixed = gpudf.sweep(table, "sweep_test", pconfigs, workers=0, plugins=[plugin],
                            comm=comm)
        if rank == 0:
            alone = gpudf.sweep(table, "sweep_test", pconfigs, workers=0, plugins=[plugin])
            want = ["failed" if q % 5 == 3 else "ok" for q in range(40)]
            if list(mixed["status"]) != want or list(alone["status"]) != want:
                failures.append(f"sweep_test states: {list(mixed['status'])}")
            elif not all("asked to fail" in e for e in mixed["error"][mixed["status"] == "failed"]):
                failures.append(f"sweep_test reasons: {list(mixed['error'])}")
            ok = mixed["status"] == "ok"
            if not (mixed["twice"][ok] == 2 * mixed["value"][ok]).all():
                failures.append("sweep_test results of the configs that ran")
    else:
        print("(GPUDF_TEST_PLUGIN not set: failing configs not checked)")
    failures = comm.allgather(failures)
    flat = [f for fs in failures for f in fs]
    for f in flat if rank == 0 else []:
        print("FAILED:", f)
    if not flat:
        print(f"OK rank {rank} of {size}", flush=True)
    return 1 if flat else 0


def check_or_abort():
    try:
        return check()
    except BaseException:
        # A rank that stops here would leave the others waiting in the next
        # collective call: end the job.
        import traceback
        traceback.print_exc()
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(1)


if __name__ == "__main__":
    sys.exit(check_or_abort() if UNDER_MPI else launch())
