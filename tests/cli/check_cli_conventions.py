#!/usr/bin/env python3
"""gpudf-sweep's command-line conventions.

  check_cli_conventions.py GPUDF_SWEEP WORKDIR

--table - reads the CSV from standard input (it was "no such share, kernel,
column or file"); the short options (-t -k -g -w -s -j -o -p -q) mean what
the long ones do. Sums are checked against math.fsum over the rows written.
"""
import csv
import io
import math
import os
import random
import subprocess
import sys


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(18)
    vals = [rng.uniform(-1e3, 1e3) for _ in range(5000)]
    keys = [rng.randrange(10) for _ in vals]
    text = "k,v\n" + "".join(f"{k},{v!r}\n" for k, v in zip(keys, vals))
    long_args = ["--table", "-", "--kernel", "filter_agg", "--grid", "lo=0:10:1",
                 "--where", "lo != 5", "--set", "op=gt", "--set", "filter_col=k",
                 "--set", "value_col=v", "--workers", "0", "--out", "-", "--quiet"]
    short_args = ["-t", "-", "-k", "filter_agg", "-g", "lo=0:10:1", "-w", "lo != 5",
                  "-s", "op=gt", "-s", "filter_col=k", "-s", "value_col=v", "-j", "0",
                  "-o", "-", "-q"]
    outs = []
    for args in (long_args, short_args):
        p = subprocess.run([exe] + args, input=text, capture_output=True, text=True)
        assert p.returncode == 0, (args, p.stderr)
        outs.append(p.stdout)
    assert outs[0] == outs[1], "short options differ from long ones"
    rows = list(csv.DictReader(io.StringIO(outs[0])))
    assert [float(r["lo"]) for r in rows] == [lo for lo in range(10) if lo != 5]
    for r in rows:
        lo = float(r["lo"])
        want = [v for k, v in zip(keys, vals) if k > lo]
        assert int(r["count"]) == len(want), r
        assert math.isclose(float(r["sum"]), math.fsum(want), rel_tol=1e-12, abs_tol=1e-9), r
    # -p writes the picture, as --plot does.
    svg = os.path.join(work, "short.svg")
    p = subprocess.run([exe, "-t", "-", "-k", "filter_agg", "-g", "lo=0:10:1", "-s", "op=gt",
                        "-s", "filter_col=k", "-s", "value_col=v", "-j", "0", "-q", "-p", svg],
                       input=text, capture_output=True, text=True)
    assert p.returncode == 0 and os.path.getsize(svg) > 0, p.stderr
    # An empty standard input is a CSV error, not "no such file".
    p = subprocess.run([exe, "--table", "-", "-q"], input="", capture_output=True, text=True)
    assert p.returncode == 3 and "no such" not in p.stderr and "<stdin>" in p.stderr, p.stderr
    print("cli conventions: ok")


if __name__ == "__main__":
    main()
