#!/usr/bin/env python3
"""tests/cli/check_mpi_cli.py SWEEP SWEEP_MPI WORKDIR MPIEXEC... (ctest
Mpi.SweepToolUnderMpirunWritesWhatTheOneProcessToolWrites).

`mpirun -n 2 gpudf-sweep-mpi ARGS` and `mpirun -n 2 gpudf-sweep ARGS` (which
execs gpudf-sweep-mpi) against `gpudf-sweep ARGS`: the --out CSV and the
--plot SVG byte for byte (histogram counts: exact, whichever rank ran a
config), the report written once (by rank 0 alone), the same exit status
for a sweep, a usage error and a missing table, and nothing left in the
job's shm directory. The counts are checked against a count in Python too."""
import csv
import os
import subprocess
import sys

sweep, sweep_mpi, work = sys.argv[1], sys.argv[2], sys.argv[3]
mpiexec = sys.argv[4:]
os.makedirs(work, exist_ok=True)
shm = os.path.join(work, "shm")
os.makedirs(shm, exist_ok=True)
env = dict(os.environ, GPUDF_SHM_DIR=shm)
failures = []

table = os.path.join(work, "x.csv")
values = [((i * 7919) % 1000) / 8 - 40 for i in range(3001)]
with open(table, "w") as f:
    f.write("k,v\n")
    for i, v in enumerate(values):
        f.write(f"{i % 7},{v!r}\n")

grid = ["--kernel", "histogram", "--grid", "col=v bins=8 range_lo=-50:-10:5 range_hi=50:90:20"]


def run(cmd):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=50)
    return p.returncode, p.stdout, p.stderr


one = os.path.join(work, "one.csv")
one_svg = os.path.join(work, "one.svg")
plot = ["--plot", None, "--plot-metric", "bin_0"]
rc1, out1, err1 = run([sweep, "--table", table, *grid, "-j", "0", "--out", one,
                       *[one_svg if a is None else a for a in plot]])
if rc1 != 0:
    failures.append(f"exit {rc1} alone: {err1}")
# gpudf-sweep-mpi itself, and gpudf-sweep, which under a launcher with
# several ranks runs gpudf-sweep-mpi in its place.
for tool in (sweep_mpi, sweep):
    name = os.path.basename(tool)
    many = os.path.join(work, f"many-{name}.csv")
    many_svg = os.path.join(work, f"many-{name}.svg")
    rc2, out2, err2 = run([*mpiexec, "-n", "2", tool, "--table", table, *grid, "-j", "0",
                           "--out", many, *[many_svg if a is None else a for a in plot]])
    if rc2 != 0:
        failures.append(f"mpirun -n 2 {name}: exit {rc2}: {err2}")
        continue
    if open(one, "rb").read() != open(many, "rb").read():
        failures.append(f"the --out CSV of mpirun -n 2 {name} differs from the one-process tool's")
    if open(one_svg, "rb").read() != open(many_svg, "rb").read():
        failures.append(f"the --plot SVG of mpirun -n 2 {name} differs from the one-process tool's")
    header = "gpudf-sweep "
    if out2.count(header) != 1:
        failures.append(f"mpirun -n 2 {name}: the report header appears {out2.count(header)} "
                        f"times:\n{out2}")
    print(f"mpirun -n 2 {name}: the same CSV and SVG as the one-process tool")
if not failures:
    rows = list(csv.DictReader(open(many)))
    for r in rows:
        lo, hi, bins = float(r["range_lo"]), float(r["range_hi"]), 8
        counts = [0] * bins
        for v in values:
            if lo <= v <= hi:
                b = min(int((v - lo) / (hi - lo) * bins), bins - 1)
                counts[b] += 1
        got = [int(float(r[f"bin_{b}"])) for b in range(bins)]
        if got != counts:
            failures.append(f"range {lo}..{hi}: bins {got}, counted {counts}")
            break
    print(f"{len(rows)} configs, counts as counted in Python")

# A series sweep (--series, --time): 3 symbols interleaved, dates descending
# (ORDER BY date DESC, symbol), one symbol missing some dates. The CSV, the
# per-config summary and the plot of mpirun -n 2 (one node) and -n 4 (two
# simulated nodes: each node's leader reads the CSV and keeps the series'
# row order with its share) against the one-process tool, byte for byte.
import datetime
import math
longcsv = os.path.join(work, "long.csv")
with open(longcsv, "w") as f:
    f.write("date,symbol,close\n")
    day0 = datetime.date(2023, 1, 2)
    for d in reversed(range(300)):
        for q, sym in enumerate(("AAA", "BBB", "CCC")):
            if q == 2 and d % 7 == 3:
                continue
            price = 100 + 10 * math.sin(0.05 * d * (q + 1)) + 0.01 * ((d * 31 + q) % 17)
            f.write(f"{day0 + datetime.timedelta(days=d)},{sym},{price!r}\n")
sgrid = ["--kernel", "ma_crossover", "--grid", "fast=2:10:2 slow=20:80:15", "--series", "symbol",
         "--time", "date", "-j", "0"]
def outputs(tag):
    return [os.path.join(work, f"s-{tag}.csv"), os.path.join(work, f"s-{tag}-sum.csv"),
            os.path.join(work, f"s-{tag}.svg")]
def out_args(paths):
    return ["--out", paths[0], "--summary", paths[1], "--plot", paths[2]]
one_s = outputs("one")
rc1, _, err1 = run([sweep, "--table", longcsv, *sgrid, *out_args(one_s)])
if rc1 != 0:
    failures.append(f"series alone: exit {rc1}: {err1}")
for ranks, fake in (("2", None), ("4", "2")):
    many_s = outputs(f"mpi{ranks}")
    e = dict(env)
    if fake:
        e["GPUDF_MPI_FAKE_NODES"] = fake
    p = subprocess.run([*mpiexec, "-n", ranks, sweep_mpi, "--table", longcsv, *sgrid,
                        *out_args(many_s)], env=e, capture_output=True, text=True, timeout=50)
    if p.returncode != rc1:
        failures.append(f"series under mpirun -n {ranks}: exit {p.returncode}, alone {rc1}: "
                        f"{p.stderr}")
        continue
    for a_, b_ in zip(one_s, many_s):
        if a_ == one_s[1]:
            # The summary: every column but the equal-weight portfolio's,
            # which is not computed across ranks (empty or nan, 0 bars).
            ra, rb = list(csv.DictReader(open(a_))), list(csv.DictReader(open(b_)))
            pf = ("portfolio_return", "portfolio_sharpe", "portfolio_bars")
            same = len(ra) == len(rb) and list(ra[0]) == list(rb[0]) and all(
                {k: v for k, v in x.items() if k not in pf} ==
                {k: v for k, v in y.items() if k not in pf} for x, y in zip(ra, rb))
            if not same or any(y["portfolio_bars"] != "0" or
                               y["portfolio_sharpe"].lower() not in ("", "nan")
                               for y in rb):
                failures.append(f"series under mpirun -n {ranks}: the summary differs from the "
                                f"one-process tool's (or has a portfolio)")
            if not any(x["portfolio_bars"] not in ("", "0") for x in ra):
                failures.append("series alone: --time gave no portfolio")
        elif open(a_, "rb").read() != open(b_, "rb").read():
            failures.append(f"series under mpirun -n {ranks}: {os.path.basename(b_)} differs "
                            f"from the one-process tool's")
    print(f"series: mpirun -n {ranks} gpudf-sweep-mpi writes the one-process CSV, SVG and "
          f"summary (but the portfolio)")
# Ranking configs by the portfolio, which is not computed across ranks: a
# usage error (exit 2) saying so, never a ranking by NaN.
rcp, _, errp = run([*mpiexec, "-n", "2", sweep_mpi, "--table", longcsv, *sgrid,
                    "--by", "portfolio_sharpe", "--top", "3"])
if rcp != 2 or "not computed across MPI ranks" not in errp:
    failures.append(f"--by portfolio_sharpe under mpirun: exit {rcp}, {errp!r}")
srows = list(csv.DictReader(open(one_s[0])))
if {r["series"] for r in srows} != {"AAA", "BBB", "CCC"}:
    failures.append(f"series CSV labels: {sorted({r['series'] for r in srows})}")

missing = os.path.join(work, "missing.csv")
for tool in (sweep_mpi, sweep):
    name = os.path.basename(tool)
    rc1, _, _ = run([sweep, "--table", table, "--kernel", "no_such_kernel"])
    rc2, _, e2 = run([*mpiexec, "-n", "2", tool, "--table", table, "--kernel", "no_such_kernel"])
    if rc1 != rc2 or rc1 != 2:
        failures.append(f"unknown kernel: exit {rc1} alone, {rc2} under mpirun {name} ({e2})")
    rc1, _, _ = run([sweep, "--table", missing, *grid])
    rc2, _, e2 = run([*mpiexec, "-n", "2", tool, "--table", missing, *grid])
    if rc1 != rc2 or rc1 == 0:
        failures.append(f"missing table: exit {rc1} alone, {rc2} under mpirun {name} ({e2})")
left = os.listdir(shm)
if left:
    failures.append(f"left in the shm directory: {left}")
for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
