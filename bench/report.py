#!/usr/bin/env python3
"""report.py - runs every benchmark section and writes one Markdown report
with PNG plots next to it. bench/run.sh calls it after building; run by hand:

    GPUDF_LIBRARY=BUILD/libgpudf.so PYTHONPATH=python \\
        VENV/bin/python bench/report.py --build BUILD [--quick] [--out DIR]

Writes DIR/<YYYY-MM-DD>-<host>[-quick].md, DIR/<same>-<section>.png and the
raw output of every section (JSON and logs) in DIR/<same>-raw/. Sections:
1 the original question (bench_question.py), 2 sharing cost vs table size
(bench_sharing.py), 3 kernels (gpudf-bench_foundation sections 3-4,
gpudf-bench_kernels), 4 sweep scaling (gpudf-bench_sweep), 5 backtest sweep
(bench_backtest.py), 6 CSV load (bench_csv.py), 7 GPU (gpudf-bench_gpu, when
a device is present). A section whose script is missing or lacks --json is
reported as 'not available', one without a device as 'skipped: no device';
neither fails the run. A section that fails or reports a wrong answer is
shown as FAILED and makes the exit status 1."""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO / "python"))  # gpudf from the source tree (GPUDF_LIBRARY names the build)
import benchlib  # noqa: E402

BASELINES = ("numpy", "pandas", "pyarrow", "joblib", "vectorbt", "numba", "matplotlib",
             "psutil", "cffi", "cupy-cuda12x")


# ------------------------------------------------------------------ machine

def sh(cmd, timeout=20):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    osname = platform.platform()
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"') + f", Linux {platform.release()}"
    except OSError:
        pass
    gpu = sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
              "--format=csv,noheader"])
    shm = os.statvfs("/dev/shm") if os.path.isdir("/dev/shm") else None
    cc = sh(["cc", "--version"])
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": mem / 2**30 if mem else None,
            "shm_gib": shm.f_blocks * shm.f_frsize / 2**30 if shm else None,
            "os": osname, "gpu": gpu.replace("\n", "; ") if gpu else None,
            "compiler": cc.splitlines()[0] if cc else None}


def machine_line(m):
    s = f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']:.1f} GiB RAM"
    s += f", GPU {m['gpu']}" if m["gpu"] else ", no GPU"
    return s


# ----------------------------------------------------------------- sections

class Section:
    def __init__(self, key, title):
        self.key, self.title = key, title
        self.status = "ok"      # ok | not available | skipped: ... | FAILED: ...
        self.lines = []         # Markdown body
        self.seconds = 0.0
        self.plot = None

    def md(self, *lines):
        self.lines.extend(lines)


def run_cmd(cmd, raw, name, env, timeout):
    """Runs a section's command; stdout+stderr to raw/name.log. Returns
    (exit status or 'timeout', stdout text, seconds)."""
    t0 = time.perf_counter()
    print(f"== {name}: {' '.join(shlex.quote(str(c)) for c in cmd)}", flush=True)
    try:
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=str(raw))
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc = "timeout"
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    dt = time.perf_counter() - t0
    (raw / f"{name}.log").write_text(f"$ {' '.join(map(str, cmd))}\n{out}\n--- stderr\n{err}")
    print(f"   {name}: exit {rc} in {dt:.1f} s", flush=True)
    if rc != 0:
        tail = (err or out).strip().splitlines()[-5:]
        print("   " + "\n   ".join(tail), flush=True)
    return rc, out, err, dt


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_s(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def spread(r):
    return f"{fmt_s(r['median_s'])} [{fmt_s(r['min_s'])} - {fmt_s(r['max_s'])}], n={r['runs']}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def failed(sec, rc, err):
    what = "wrong answer" if rc == 2 else "timed out" if rc == "timeout" else f"exit {rc}"
    sec.status = f"FAILED: {what}"
    tail = (err or "").strip().splitlines()[-8:]
    sec.md(f"**FAILED** ({what}); the last lines of its output:", "", "```", *tail, "```")


def png(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


# 1 ------------------------------------------------------------------------

def s_question(ctx, sec):
    script = HERE / "bench_question.py"
    if not script.exists():
        sec.status = "not available"
        sec.md("not available: bench/bench_question.py is missing.")
        return
    js = ctx.raw / "question.json"
    cmd = [ctx.py, script, "--json", js] + (["--quick"] if ctx.quick else [])
    rc, out, err, sec.seconds = run_cmd(cmd, ctx.raw, "question", ctx.env, ctx.timeout)
    d = load_json(js)
    if rc != 0 or d is None:
        if rc == 2 and "unrecognized arguments" in err:
            sec.status = "not available"
            sec.md("not available: bench_question.py has no --json/--quick yet.")
            return
        return failed(sec, rc, err)
    res = d.get("results", [])
    rows = []
    for r in res:
        rows.append([r.get("approach"), r.get("workers"),
                     spread({"median_s": r.get("wall_s_median"), "min_s": r.get("wall_s_min"),
                             "max_s": r.get("wall_s_max"), "runs": r.get("runs")}),
                     fmt_s(r.get("first_result_s")),
                     f"{r['peak_pss_mib']:.0f}" if r.get("peak_pss_mib") is not None else "-",
                     ratio(r.get("ratio_time_vs_gpudf")), ratio(r.get("ratio_mem_vs_gpudf"))])
    sec.md(*table(["approach", "workers", "wall (median [min - max])", "first result",
                   "peak PSS MiB", "time / gpudf", "memory / gpudf"], rows))
    notes(sec, d)
    if not d.get("checked", False):
        sec.status = "FAILED: answers not checked"
    plt = ctx.plt
    if plt and res:
        labels = [f"{r['approach']}\n{r['workers']}w" for r in res]
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        ax[0].bar(labels, [r["wall_s_median"] for r in res],
                  yerr=[[r["wall_s_median"] - r["wall_s_min"] for r in res],
                        [r["wall_s_max"] - r["wall_s_median"] for r in res]], capsize=3)
        ax[0].set_ylabel("wall time, s (median, min-max)")
        ax[1].bar(labels, [r.get("peak_pss_mib") or 0 for r in res], color="tab:orange")
        ax[1].set_ylabel("peak summed PSS, MiB")
        for a in ax:
            a.tick_params(axis="x", labelrotation=60, labelsize=7)
        fig.suptitle("1 the original question: time and memory per approach")
        sec.plot = png(plt, fig, ctx.stem_path("question"))


def ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def notes(sec, d):
    ns = d.get("notes") or []
    if isinstance(ns, str):
        ns = [ns]
    vs = d.get("versions") or {}
    if ns or vs:
        sec.md("")
    for n in ns:
        sec.md(f"- {n}")
    if vs:
        sec.md("- versions: " + ", ".join(f"{k} {v}" for k, v in vs.items()))


# 2 ------------------------------------------------------------------------

def s_sharing(ctx, sec):
    js = ctx.raw / "sharing.json"
    cmd = [ctx.py, HERE / "bench_sharing.py", "--json", js] + (["--quick"] if ctx.quick else [])
    rc, out, err, sec.seconds = run_cmd(cmd, ctx.raw, "sharing", ctx.env, ctx.timeout)
    d = load_json(js)
    if rc != 0 or d is None:
        return failed(sec, rc, err)
    rows = []
    for s in d["sizes"]:
        if "skipped" in s:
            rows.append([f"{s['size_mib']} MiB", "skipped", s["skipped"], "", "", "", ""])
            continue
        for k, r in s["approaches"].items():
            rows.append([f"{s['size_mib']} MiB", k, spread(r),
                         f"{r['worker_uss_added_mib']:.1f}", f"{r['worker_pss_added_mib']:.1f}",
                         fmt_s(r["owner_setup_s"]) if r["owner_setup_s"] else "-",
                         ratio(r["ratio_time_vs_gpudf"])])
    sec.md(*table(["table", "approach", "attach latency (median [min - max])",
                   "worker USS added MiB", "worker PSS added MiB", "owner setup (once)",
                   "latency / gpudf"], rows))
    notes(sec, d)
    sec.md("- USS = the worker's private pages; PSS also charges it its share of pages it "
           "maps with others (half of the table when the owner and one worker map it).")
    plt = ctx.plt
    sizes = [s for s in d["sizes"] if "approaches" in s]
    if plt and sizes:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        for k in ("gpudf", "pickle", "shared_memory"):
            x = [s["size_mib"] for s in sizes]
            y = [s["approaches"][k]["median_s"] for s in sizes]
            lo = [s["approaches"][k]["median_s"] - s["approaches"][k]["min_s"] for s in sizes]
            hi = [s["approaches"][k]["max_s"] - s["approaches"][k]["median_s"] for s in sizes]
            ax[0].errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=k)
            ax[1].plot(x, [max(s["approaches"][k]["worker_uss_added_mib"], 0.01) for s in sizes],
                       marker="o", label=k)
        ax[0].set(xscale="log", yscale="log", xlabel="table, MiB",
                  ylabel="attach latency, s", title="hand a table to a fresh worker")
        ax[1].set(xscale="log", yscale="log", xlabel="table, MiB",
                  ylabel="worker private memory added, MiB (floor 0.01)",
                  title="per-worker memory after reading every byte")
        for a in ax:
            a.legend()
            a.grid(True, which="both", alpha=0.3)
            a.set_xticks([s["size_mib"] for s in sizes], [str(s["size_mib"]) for s in sizes])
            a.xaxis.set_minor_formatter(plt.NullFormatter())
        sec.plot = png(plt, fig, ctx.stem_path("sharing"))


# 3 ------------------------------------------------------------------------

def s_kernels(ctx, sec):
    jf, jk = ctx.raw / "foundation.json", ctx.raw / "kernels.json"
    q = ["--quick"] if ctx.quick else []
    rc1, out1, err1, t1 = run_cmd([ctx.build / "bench" / "gpudf-bench_foundation", "--json", jf] + q,
                                  ctx.raw, "foundation", ctx.env, ctx.timeout)
    rc2, out2, err2, t2 = run_cmd([ctx.build / "bench" / "gpudf-bench_kernels", "--json", jk] + q,
                                  ctx.raw, "kernels", ctx.env, ctx.timeout)
    sec.seconds = t1 + t2
    f, k = load_json(jf), load_json(jk)
    if rc1 != 0 or f is None:
        failed(sec, rc1, err1)
    if rc2 != 0 or k is None:
        failed(sec, rc2, err2)
    if f is None or k is None:
        return
    rows = []
    fa = next((r for r in f["rows"] if r["id"] == "3"), None)
    if fa:
        rows.append(["filter_agg (foundation 3)", "16", fa["gpudf"], fa["baseline"],
                     f"{100 * fa['num_ratio']:.0f}%"])
    read = k["read_gbs"]
    for r in k["kernels"]:
        by = r["bytes_per_row"] * k["rows"] / 1e9
        rows.append([r["kernel"] + f" ({r['what']})", f"{r['bytes_per_row']:g}",
                     f"{r['gbs']:.2f} GB/s [{by / r['single_s']['max']:.2f} - "
                     f"{by / r['single_s']['min']:.2f}]",
                     f"plain read {read['med']:.2f} GB/s [{read['min']:.2f} - {read['max']:.2f}]",
                     f"{100 * r['fraction_of_read']:.0f}%"])
    sec.md(f"**Single pass, one config** ({k['rows']:,} rows for gpudf-bench_kernels): bytes of "
           "the columns read / time (median [min - max] of "
           f"{k['kernels'][0].get('runs', 'the')} runs after a warm-up), as a fraction of the "
           "plain read bandwidth (a 4-accumulator sum over two f64 columns) measured "
           "interleaved in the same run. bootstrap gathers at random rows: memory latency, "
           "not bandwidth, bounds it.", "")
    sec.md(*table(["kernel", "B/row", "libgpudf", "machine's read bandwidth",
                   "fraction of read"], rows))
    rows = []
    for r in f["rows"]:
        if r["id"] in ("4a", "4b"):
            rows.append([f"filter_agg, {r['what']}", r["gpudf"], r["baseline"],
                         f"{r['num_ratio']:.1f}x"])
    for r in k["kernels"]:
        b, s = r["batched_s"], r["singles_s"]
        rows.append([f"{r['kernel']}, {r['batch']} configs",
                     f"{fmt_s(b['med'])} [{fmt_s(b['min'])} - {fmt_s(b['max'])}]",
                     f"{r['batch']} runs {fmt_s(s['med'])} [{fmt_s(s['min'])} - {fmt_s(s['max'])}]",
                     f"{r['speedup']:.2f}x"])
    sec.md("", "**Batched vs single-config passes**: N configs in one gpudf_run against N "
           "one-config calls; batched and single answers agree (checked in the benches).", "")
    sec.md(*table(["batch", "one gpudf_run", "N single runs", "speedup"], rows))
    ms = k.get("ma_sweep")
    if ms:
        sec.md("", f"ma_crossover sweep, {ms['configs']} configs x {ms['prices']:,} prices, "
               f"{ms['workers']} workers: {ms['sweep_s']:.2f} s vs a plain one-config-at-a-time C "
               f"loop {ms['baseline_s_est']:.2f} s (estimated from {ms['sampled']} sampled "
               f"configs, {ms['agree']} agree on total_return) = {ms['speedup']:.2f}x.")
    sec.md("", "<details><summary>gpudf-bench_foundation and gpudf-bench_kernels output</summary>",
           "", "```", out1.rstrip(), "", out2.rstrip(), "```", "</details>")
    plt = ctx.plt
    if plt:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        names = (["filter_agg\n(foundation)"] if fa else []) + [r["kernel"] for r in k["kernels"]]
        vals = ([fa["num_ratio"]] if fa else []) + [r["fraction_of_read"] for r in k["kernels"]]
        ax[0].bar(names, [100 * v for v in vals])
        ax[0].axhline(100, color="gray", ls="--", lw=1)
        ax[0].set(ylabel="% of plain read bandwidth", title="single pass, one config")
        bn = [f"{r['kernel']}" for r in k["kernels"]]
        ax[1].bar(bn, [r["speedup"] for r in k["kernels"]], color="tab:green")
        ax[1].axhline(1, color="gray", ls="--", lw=1)
        ax[1].set(ylabel="speedup", title=f"{k['kernels'][0]['batch']} configs batched vs single")
        for a in ax:
            a.tick_params(axis="x", labelrotation=30, labelsize=8)
        sec.plot = png(plt, fig, ctx.stem_path("kernels"))


# 4 ------------------------------------------------------------------------

def s_sweep(ctx, sec):
    js = ctx.raw / "sweep.json"
    q = ["--quick"] if ctx.quick else []
    rc, out, err, sec.seconds = run_cmd([ctx.build / "bench" / "gpudf-bench_sweep", "--json", js]
                                        + q, ctx.raw, "sweep", ctx.env, ctx.timeout)
    d = load_json(js)
    if rc != 0 or d is None:
        return failed(sec, rc, err)
    t = d["throughput"]
    rows = []
    for w in ("0", "1", "2"):
        rows.append([w if w != "0" else "0 (in process)",
                     spread({"median_s": t["wall_s"][w], "min_s": t["wall_s_min"][w],
                             "max_s": t["wall_s_max"][w], "runs": t["runs"]}),
                     f"{t['configs_per_s'][w]:,.0f}",
                     f"{t['configs_per_s'][w] / t['configs_per_s']['0']:.2f}x"])
    sec.md(f"filter_agg, {t['configs']:,} threshold configs over {t['rows']:,} rows; results "
           "of 1 and 2 workers equal the in-process run.", "")
    sec.md(*table(["workers", "wall (median [min - max])", "configs/s (median)",
                   "vs in process"], rows))
    m = d["machine"]
    sec.md("", f"- the machine's ceiling: two busy threads do {m['ceiling']:.2f}x the work of one "
           "(a box whose 2 vCPUs share one core shows ~1.0x).",
           f"- cost of one claim: {d['claim']['claim_s'] * 1e6:.2f} us; call to first finished "
           f"config: {d['startup']['first_result_s'] * 1e3:.1f} ms.",
           f"- {t['runs']} runs per worker count, interleaved, after {t['warmup']} excluded "
           "warm-up run in process.",
           "", "<details><summary>gpudf-bench_sweep output</summary>", "", "```", out.rstrip(),
           "```", "</details>")
    plt = ctx.plt
    if plt:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.bar(["0 (in process)", "1 worker", "2 workers"],
               [t["configs_per_s"][w] for w in ("0", "1", "2")])
        ax.set(ylabel="configs/s", title=f"4 sweep scaling, filter_agg over {t['rows']:,} rows")
        sec.plot = png(plt, fig, ctx.stem_path("sweep"))


# 5 ------------------------------------------------------------------------

def s_backtest(ctx, sec):
    js = ctx.raw / "backtest.json"
    cmd = [ctx.py, HERE / "bench_backtest.py", "--json", js] + (["--quick"] if ctx.quick else [])
    rc, out, err, sec.seconds = run_cmd(cmd, ctx.raw, "backtest", ctx.env, ctx.timeout)
    d = load_json(js)
    if rc not in (0, 2) or d is None:
        return failed(sec, rc, err)
    if rc == 2:
        failed(sec, rc, err)
    checks = {c["name"]: c for c in d["checks"]}
    rows = []
    for name, r in d["results"].items():
        c = checks.get(name)
        rows.append([name, r["threads"], spread(r), f"{r['configs_per_s']:,.0f}",
                     ratio(r["ratio_time_vs_gpudf"]),
                     "reference" if name == "gpudf.run" else
                     f"{c['agree']}/{c['configs']} (max rel {c['max_rel_diff_total_return']:.0e})"
                     if c else "-"])
    for name, why in d.get("skipped", {}).items():
        rows.append([name, "-", f"**skipped**: {why}", "-", "-", "-"])
    sec.md(f"ma_crossover (long_only, fee 0), {d['configs']} fast/slow pairs of windows "
           f"{d['windows'][0]}..{d['windows'][-1]} step 5 over {d['bars']:,} bars, the same "
           "prices and grid for every approach.", "")
    sec.md(*table(["approach", "threads", "time (median [min - max])", "configs/s",
                   "time / gpudf.run", "same total_return and trades"], rows))
    sec.md("", "- the check: total_return to the stated relative tolerance and trades (the "
           "kernel's position changes) equal to vectorbt's order count, config by config; "
           "vectorbt computes the kernel's semantics with entries = fast_ma.ma_above(slow_ma) "
           "(the state), exits = its negation, orders at the signal bar's close, no orders on "
           "the last bar (the kernel's last step is bar N-2).")
    notes(sec, d)
    plt = ctx.plt
    if plt:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        names = list(d["results"])
        ax.bar(names, [d["results"][n]["configs_per_s"] for n in names])
        ax.set(yscale="log", ylabel="configs/s (log)",
               title=f"5 ma_crossover sweep, {d['configs']} configs x {d['bars']:,} bars")
        sec.plot = png(plt, fig, ctx.stem_path("backtest"))


# 6 ------------------------------------------------------------------------

def s_csv(ctx, sec):
    js = ctx.raw / "csv.json"
    cmd = [ctx.py, HERE / "bench_csv.py", "--json", js] + (["--quick"] if ctx.quick else [])
    rc, out, err, sec.seconds = run_cmd(cmd, ctx.raw, "csv", ctx.env, ctx.timeout)
    d = load_json(js)
    if rc == 2 and "unrecognized arguments" in err:
        sec.status = "not available"
        sec.md("not available: bench_csv.py has no --json yet (another change adds it).")
        return
    if rc != 0 or d is None:
        return failed(sec, rc, err)
    res = d["results"]
    g = next((v for k, v in res.items() if k.startswith("gpudf")), None)
    rows = []
    for name, r in res.items():
        rows.append([name, spread(r), f"{d['bytes'] / 2**20 / r['median_s']:.0f}",
                     ratio(r["median_s"] / g["median_s"]) if g else "-"])
    sec.md(f"{d['rows']:,} rows, {d['bytes'] / 2**20:.1f} MiB.", "")
    sec.md(*table(["reader", "time (median [min - max])", "MiB/s", "time / gpudf"], rows))
    notes(sec, d)
    if not d.get("checked", False):
        sec.status = "FAILED: answers not checked"
    plt = ctx.plt
    if plt:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.bar(list(res), [r["median_s"] for r in res.values()],
               yerr=[[r["median_s"] - r["min_s"] for r in res.values()],
                     [r["max_s"] - r["median_s"] for r in res.values()]], capsize=3)
        ax.set(ylabel="seconds", title=f"6 CSV load, {d['bytes'] / 2**20:.0f} MiB")
        ax.tick_params(axis="x", labelsize=8)
        sec.plot = png(plt, fig, ctx.stem_path("csv"))


# 7 ------------------------------------------------------------------------

def s_gpu(ctx, sec):
    if sh(["nvidia-smi", "-L"]) is None:
        sec.status = "skipped: no device"
        sec.md("**skipped: no device** (nvidia-smi -L found no GPU on this machine).")
        return
    exe = ctx.build / "bench" / "gpudf-bench_gpu"
    if not exe.exists():
        sec.status = "skipped: no CUDA build"
        sec.md(f"**skipped**: {exe} was not built (no CUDA toolkit found by CMake).")
        return
    rows = 10_000_000 if ctx.quick else 100_000_000
    rc, out, err, sec.seconds = run_cmd([exe, "--rows", rows], ctx.raw, "gpu", ctx.env,
                                        ctx.timeout)
    if rc != 0:
        return failed(sec, rc, err)
    summary = out[out.find("== gpudf-bench_gpu summary"):] if "summary" in out else out
    sec.md("gpudf-bench_gpu (cuda-ipc and cuda-pinned placements, filter_agg against the "
           "device-to-device copy bandwidth, device memory per process):", "", "```",
           summary.rstrip(), "```",
           "", "- not measured yet here: the other sections on cuda-ipc/cuda-pinned and CuPy "
           "doing the same filter_agg.")


SECTIONS = [("question", "1 The original question", s_question),
            ("sharing", "2 Sharing cost vs table size", s_sharing),
            ("kernels", "3 Kernels", s_kernels),
            ("sweep", "4 Sweep scaling", s_sweep),
            ("backtest", "5 Backtest sweep", s_backtest),
            ("csv", "6 CSV load", s_csv),
            ("gpu", "7 GPU", s_gpu)]


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="the Release build tree")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="comma-separated section keys (question,sharing,...)")
    ap.add_argument("--command", default=None, help="the command line to print in the report")
    args = ap.parse_args()
    ctx = Ctx()
    ctx.quick = args.quick
    ctx.build = Path(args.build).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
    stem = f"{datetime.date.today().isoformat()}-{host}" + ("-quick" if args.quick else "")
    ctx.stem_path = lambda sect: out / f"{stem}-{sect}.png"
    ctx.raw = out / f"{stem}-raw"
    ctx.raw.mkdir(exist_ok=True)
    ctx.py = sys.executable
    ctx.timeout = 900 if args.quick else 3600
    ctx.env = dict(os.environ, GPUDF_LIBRARY=str(ctx.build / "libgpudf.so"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "python"),
                                                            os.environ.get("PYTHONPATH")])),
                   MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    os.environ.update({k: ctx.env[k] for k in ("GPUDF_LIBRARY", "PYTHONPATH")})
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ctx.plt = plt
    except ImportError:
        ctx.plt = None
    m = machine()
    vs = benchlib.versions(*BASELINES)
    only = set(args.only.split(",")) if args.only else None
    secs = []
    t_all = time.perf_counter()
    for key, title, fn in SECTIONS:
        if only and key not in only:
            continue
        sec = Section(key, title)
        try:
            fn(ctx, sec)
        except Exception as e:  # noqa: BLE001 - one section's bug must not hide the others
            import traceback
            sec.status = f"FAILED: {type(e).__name__}: {e}"
            sec.md("**FAILED** in report.py:", "", "```", traceback.format_exc().rstrip(), "```")
        secs.append(sec)
    total = time.perf_counter() - t_all

    md = [f"# libgpudf benchmarks, {datetime.date.today().isoformat()}, {m['host']}"
          + (" (--quick)" if args.quick else ""), ""]
    md += [f"Command: `{args.command or 'bash bench/run.sh' + (' --quick' if args.quick else '')}`"
           f" (libgpudf {vs.get('gpudf', '?')}, Release build `{ctx.build}`); "
           f"all sections took {total / 60:.1f} min.", ""]
    if args.quick:
        md += ["**--quick**: small sizes and few repetitions, to keep the benchmarks working "
               "(CI); its numbers are not the ones to judge.", ""]
    md += ["## Machine", ""]
    md += table(["", ""], [["CPU", m["cpu"]], ["cores", m["cores"]],
                           ["memory", f"{m['memory_gib']:.1f} GiB (/dev/shm {m['shm_gib']:.1f} GiB)"
                            if m["memory_gib"] else "?"],
                           ["GPU, driver, memory", m["gpu"] or "none"], ["OS", m["os"]],
                           ["C compiler", m["compiler"] or "?"]])
    md += ["", "## Versions", ""]
    md += table(["package", "version"], [[k, v or "not installed"] for k, v in vs.items()])
    md += ["", "## How to read it", "",
           "- Every section first checks that every approach returned the same answers, then "
           "reports times; a wrong answer fails the section.",
           "- Warm-up runs are excluded; times are the median of several repetitions with "
           "[min - max] and the count (n).",
           "- Ratios are to libgpudf measured in the same run: above 1x means the baseline "
           "took longer (or used more memory).",
           "- Each baseline is used as its documentation recommends; the section says how.",
           "", "## Summary", ""]
    md += table(["section", "status", "seconds"],
                [[s.title, s.status, f"{s.seconds:.0f}"] for s in secs])
    for s in secs:
        md += ["", f"## {s.title}", "", f"Machine: {machine_line(m)}.", ""]
        md += s.lines
        if s.plot:
            md += ["", f"![{s.title}]({s.plot})"]
    path = out / f"{stem}.md"
    path.write_text("\n".join(md) + "\n")
    print(f"\nwrote {path} (+ {sum(1 for s in secs if s.plot)} PNG, raw output in {ctx.raw})")
    for s in secs:
        print(f"  {s.title:32s} {s.status:24s} {s.seconds:6.0f} s")
    bad = [s for s in secs if s.status.startswith("FAILED")]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
