#!/usr/bin/env python3
"""The README's two examples, run and their printed numbers checked against
an independent computation (not only that they exit 0).

  check_readme_examples.py c README.md WORKDIR CC [FLAG ...]
      compiles the one ```c block with CC -std=c11 -Wall -Wextra -Werror
      FLAG... (the include and library paths of the build), runs it and checks
      its counts, sums, means, minima and maxima against exact integer
      arithmetic over the same rows
  check_readme_examples.py python README.md WORKDIR PYTHON
      runs the one ```python block with PYTHON (the package it imports comes
      from the environment: the tree's through PYTHONPATH/GPUDF_LIBRARY, or
      an installed one) and checks the Pool's and the sweep's means and counts
      against pandas on the same data; exits 77 (SKIPPED) when PYTHON lacks
      numpy, pandas or cffi, unless GPUDF_TEST_REQUIRE_PYTHON=1

The data and configs are restated here (the README's example cannot import
this file); when the README's example changes, a mismatch names the line
to update. Prints "readme: N ok, M failed (LANG example)" as readme_blocks.py
does, for tests/run.sh's summary.
"""
import os
import re
import subprocess
import sys
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_blocks import blocks  # noqa: E402

SKIP = 77

# The Python example's answers by pandas alone: one line "LO COUNT MEAN" per
# threshold.
PANDAS_REFERENCE = """
import numpy as np
import pandas as pd
rng = np.random.default_rng(0)
df = pd.DataFrame({"price": rng.uniform(50, 150, 1_000_000),
                   "key": rng.integers(0, 200, 1_000_000)})
for lo in range(0, 200, 20):
    sel = df["price"][df["key"] > lo]
    print(lo, len(sel), repr(float(sel.mean())))
"""


def one_block(readme, lang):
    found = blocks(readme, lang)
    if len(found) != 1:
        fail(f"{readme}: expected exactly one ```{lang} block (the README's {lang} "
                 f"example), found {len(found)}")
    return found[0]


LANG = "?"


def fail(msg):
    print(msg)
    print(f"readme: 0 ok, 1 failed ({LANG} example)")
    sys.exit(1)


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        fail(f"failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p.stdout


def close(got, want, rel):
    return abs(got - want) <= rel * abs(want)


def check_c(readme, work, cc, flags):
    line, code = one_block(readme, "c")
    src = os.path.join(work, "readme_example.c")
    exe = os.path.join(work, "readme_example")
    with open(src, "w", encoding="utf-8") as f:
        f.write(code)
    run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe] + flags, work)
    out = run([exe], work)
    # The example's table: price[i] = 100 + i % 50, key[i] = i % 200 for
    # i < 1e6; config 0 is key > 100, config 1 is 10 <= key <= 20.
    n = 1_000_000
    wants = [lambda k: k > 100, lambda k: 10 <= k <= 20]
    pat = re.compile(r"config (\d+): count (\S+), sum (\S+), mean (\S+), min (\S+), max (\S+)")
    rows = [pat.fullmatch(s) for s in out.splitlines()]
    if len(rows) != 2 or not all(rows):
        fail(f"README.md:{line}: the C example printed\n{out}\nexpected two lines "
            "'config C: count N, sum S, mean M, min A, max B'")
    bad = []
    for c, m in enumerate(rows):
        prices = [100 + i % 50 for i in range(n) if wants[c](i % 200)]
        count, total = len(prices), sum(prices)
        want = (count, total, float(Fraction(total, count)), min(prices), max(prices))
        got = tuple(float(x) for x in m.groups()[1:])
        if int(m.group(1)) != c:
            bad.append(f"line {c} is for config {m.group(1)}")
        # count, sum, min, max: integers below 2^53, exact in any order of
        # additions; the mean within a few ulps of the exact quotient.
        for name, g, w in zip(("count", "sum", "mean", "min", "max"), got, want):
            if not (close(g, w, 4e-16) if name == "mean" else g == w):
                bad.append(f"config {c}: {name} {g!r}, exact {w!r}")
    if bad:
        fail(f"README.md:{line}: the C example's numbers are wrong:\n  " +
            "\n  ".join(bad) + f"\n(its output:\n{out})")
    print(out, end="")


def check_python(readme, work, python):
    probe = subprocess.run([python, "-c", "import numpy, pandas, cffi"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        msg = (f"SKIPPED: {python} cannot import numpy, pandas and cffi (set GPUDF_TEST_PYTHON "
               f"to a venv that has them; tests/run.sh does): {probe.stderr.strip()[-200:]}")
        if os.environ.get("GPUDF_TEST_REQUIRE_PYTHON") == "1":
            fail(msg)
        print(msg)
        sys.exit(SKIP)
    line, code = one_block(readme, "python")
    src = os.path.join(work, "readme_example.py")
    with open(src, "w", encoding="utf-8") as f:
        f.write(code)
    out = run([python, src], work)
    # pandas on the example's data, made as it makes it (seed 0, 1e6 rows),
    # in PYTHON: this script's own interpreter may lack pandas.
    ref = run([python, "-c", PANDAS_REFERENCE], work)
    want = {int(lo): (int(n), float(mean)) for lo, n, mean in
            (s.split() for s in ref.splitlines())}
    pat = re.compile(r"key > (\d+): Pool mean (\S+), sweep mean (\S+) of (\d+) rows")
    rows = [pat.fullmatch(s) for s in out.splitlines()]
    if len(rows) != 10 or not all(rows):
        fail(f"README.md:{line}: the Python example printed\n{out}\nexpected ten lines "
            "'key > LO: Pool mean M, sweep mean M of N rows'")
    bad = []
    for want_lo, m in zip(range(0, 200, 20), rows):
        lo, pool, swept, count = int(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4))
        want_count, want_mean = want[want_lo]
        # Positive prices: the sums' rounding error is a few ulps of the
        # result whatever the order (pandas pairwise, the kernel's blocks).
        if lo != want_lo:
            bad.append(f"a line for key > {lo} where key > {want_lo} was expected")
        if count != want_count:
            bad.append(f"key > {lo}: {count} rows, pandas {want_count}")
        for who, got in (("Pool", pool), ("sweep", swept)):
            if not close(got, want_mean, 1e-13):
                bad.append(f"key > {lo}: {who} mean {got!r}, pandas {want_mean!r}")
    if bad:
        fail(f"README.md:{line}: the Python example's numbers are wrong:\n  " +
            "\n  ".join(bad) + f"\n(its output:\n{out})")
    print(out, end="")


def main():
    global LANG
    lang, readme, work, rest = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3]), sys.argv[4:]
    LANG = lang
    os.makedirs(work, exist_ok=True)
    if lang == "c":
        check_c(readme, work, rest[0], rest[1:])
    elif lang == "python":
        check_python(readme, work, os.environ.get("GPUDF_TEST_PYTHON") or rest[0])
    else:
        fail(f"unknown language {lang!r} (c or python)")
    print(f"readme: 1 ok, 0 failed ({lang} example, numbers checked)")


if __name__ == "__main__":
    main()
