#!/usr/bin/env python3
"""gpudf-sweep --plot: the SVG parses as XML and shows what --out wrote.

  check_plot_svg.py GPUDF_SWEEP WORKDIR

Each case runs a sweep with --out and --plot and compares the picture with
the CSV, read by Python's csv module (the reference): one cell (heatmap) or
point (line) per value pair, each cell's data-value the best metric of its
configs (the single config's, for a 2-parameter grid), the marked best cell
the CSV's best config, axis and scale labels present.
"""
import csv
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def sweep(exe, work, name, args):
    out, svg = os.path.join(work, name + ".csv"), os.path.join(work, name + ".svg")
    p = subprocess.run([exe, "--synthetic", "20000", "--workers", "0", "--quiet",
                        "--out", out, "--plot", svg] + args, capture_output=True, text=True)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, ET.parse(svg).getroot()  # raises on XML that does not parse


def by_class(root, tag, cls):
    return [e for e in root.iter(NS + tag) if e.get("class") == cls]


def text_of(root, cls):
    found = by_class(root, "text", cls)
    assert len(found) == 1, cls
    return found[0].text


def best_index(rows, metric, asc=False):
    best = None
    for i, r in enumerate(rows):
        v = float(r[metric])
        if math.isnan(v):
            continue
        if best is None or (v < float(rows[best][metric]) if asc else v > float(rows[best][metric])):
            best = i
    return best


def check_heatmap(rows, root, y, x, metric, asc=False):
    want = {}
    for r in rows:
        key = (r[x], r[y])
        v = float(r[metric])
        if key not in want or (v < want[key] if asc else v > want[key]):
            want[key] = v
    cells = by_class(root, "rect", "cell")
    assert len(cells) == len(want), (len(cells), len(want))
    for c in cells:
        assert float(c.get("data-value")) == want[(c.get("data-x"), c.get("data-y"))], c.attrib
    assert text_of(root, "xlabel") == x and text_of(root, "ylabel") == y
    assert text_of(root, "zlabel") == metric
    assert metric in text_of(root, "title")
    best = by_class(root, "rect", "best")
    assert len(best) == 1 and int(best[0].get("data-config")) == best_index(rows, metric, asc)
    xticks = {t.text for t in by_class(root, "text", "xtick")}
    assert xticks and xticks <= {r[x] for r in rows}, xticks


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    # A 2-parameter grid with --where: one cell per config.
    rows, root = sweep(exe, work, "two", ["--grid", "fast=5:50:5 slow=20:120:10",
                                          "--where", "fast < slow"])
    assert all(r["status"] == "ok" for r in rows)
    check_heatmap(rows, root, "fast", "slow", "sharpe")
    assert len(by_class(root, "rect", "cell")) == len(rows)
    # The default grid (4 swept parameters): the best over fee_bps and mode.
    rows, root = sweep(exe, work, "four", ["--plot-metric", "total_return"])
    check_heatmap(rows, root, "fast", "slow", "total_return")
    # A choice parameter on an axis, ascending: labels are the choice names.
    rows, root = sweep(exe, work, "choice", ["--grid", "fast=5:30:5 mode=long_only,long_short",
                                             "--plot-metric", "max_drawdown", "--asc"])
    check_heatmap(rows, root, "fast", "mode", "max_drawdown", asc=True)
    # One parameter: a line, one point per value.
    rows, root = sweep(exe, work, "one", ["--grid", "fast=5:60:5", "--set", "slow=100"])
    points = by_class(root, "circle", "point")
    assert len(points) == len(rows)
    for pt in points:
        r = next(r for r in rows if r["fast"] == pt.get("data-x"))
        assert float(pt.get("data-value")) == float(r["sharpe"])
    best = by_class(root, "circle", "best")
    assert len(best) == 1 and int(best[0].get("data-config")) == best_index(rows, "sharpe")
    assert text_of(root, "xlabel") == "fast" and text_of(root, "ylabel") == "sharpe"
    # Refusals: an unknown metric, nothing swept.
    for args, msg in ((["--grid", "fast=5,10", "--plot-metric", "nope"], "not a result"),
                      (["--grid", "fast=5"], "same parameters")):
        p = subprocess.run([exe, "--synthetic", "2000", "--workers", "0", "--plot",
                            os.path.join(work, "x.svg")] + args, capture_output=True, text=True)
        assert p.returncode != 0 and msg in p.stderr, (args, p.returncode, p.stderr)
    print("plot svg: all cases match the CSV")


if __name__ == "__main__":
    main()
