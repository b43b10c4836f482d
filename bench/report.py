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
(bench_backtest.py), 6 CSV load (bench_csv.py), 7 GPU, when a device is
present (gpudf-bench_gpu; bench_gpu_py.py, gpudf vs CuPy, when CuPy imports;
bench_question.py's gpudf approaches on cuda-ipc, cuda-pinned and cpu). A
section whose script is missing or lacks --json is reported as 'not
available', one without a device as 'skipped: no device'; neither fails the
run. A section that fails or reports a wrong answer is shown as FAILED and
makes the exit status 1. GPUDF_BENCH_GPU_FAKE=1 is a test hook for section 7
without a device (simulated device, numpy in CuPy's place; see s_gpu)."""
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
             "psutil", "cffi", "cupy-cuda12x", "cupy-cuda13x")
CUPY = ("cupy-cuda12x", "cupy-cuda13x")  # one wheel per CUDA major; the GPU machines have 13


def baseline_versions():
    """benchlib.versions of BASELINES, with one CuPy row: the wheel that is
    installed (both if both are), or "cupy" not installed."""
    vs = benchlib.versions(*BASELINES)
    have = [n for n in CUPY if vs.get(n)]
    out = {k: v for k, v in vs.items() if k not in CUPY}
    if have:
        out.update({n: vs[n] for n in have})
    else:
        out["cupy (" + " or ".join(CUPY) + ")"] = None
    return out


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
                     f"{100 * r['fraction_of_read']:.0f}%" + (
                         f" ({100 * r['pair_ratio']['q1']:.0f}-"
                         f"{100 * r['pair_ratio']['q3']:.0f}%; cpu "
                         f"{100 * r['pair_ratio_cpu']['med']:.0f}%"
                         + (f"; best {100 * r['fraction_of_read_best']:.0f}%"
                            if "fraction_of_read_best" in r else "") + ")"
                         if "pair_ratio" in r else "")])
    sec.md(f"**Single pass, one config** ({k['rows']:,} rows for gpudf-bench_kernels): bytes of "
           "the columns read / time (median [min - max] of "
           f"{k['kernels'][0].get('runs', 'the')} runs after a warm-up), as a fraction of the "
           "plain read bandwidth (two f64 columns, 32-byte loads with AVX2, 8 accumulators, "
           "one thread as the kernels): each run of a kernel follows a plain read, and the fraction is "
           "the median of these pairs' ratios (quartiles in brackets, and the same from CPU "
           "time; best: the best pass over the best of its paired reads), which the VM's swings "
           "of bandwidth between runs move much less than either time. bootstrap gathers at random rows: memory latency, not bandwidth, "
           "bounds it.", "")
    sec.md(*table(["kernel", "B/row", "libgpudf", "machine's read bandwidth",
                   "fraction of read"], rows))
    if k.get("read_check"):
        sec.md("Baseline check (same rounds, each read over the plain read of its round, "
               "median [min - max]): " + "; ".join(
                   f"{c['read']} {c['gbs']:.2f} GB/s, x{c['over_plain']['med']:.3f} "
                   f"[{c['over_plain']['min']:.3f} - {c['over_plain']['max']:.3f}]"
                   for c in k["read_check"]) + ".", "")
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
    # Side by side with numpy.histogram and polars group_by (issue 21).
    jp = ctx.raw / "kernels_py.json"
    rc3, out3, err3, t3 = run_cmd([ctx.py, HERE / "bench_kernels_py.py", "--json", jp] + q,
                                  ctx.raw, "kernels_py", ctx.env, ctx.timeout)
    sec.seconds += t3
    p = load_json(jp)
    if rc3 != 0 or p is None:
        failed(sec, rc3, err3)
    else:
        rows = []
        for r in p["histogram"]:
            rows.append([f"histogram, {r['bins']} bins", fmt_s(r["gpudf_s"]),
                         f"numpy.histogram {fmt_s(r['numpy_s'])}", f"{r['vs_numpy']:.2f}x",
                         f"{r['batch_speedup']:.2f}x"])
        for r in p["groupby"]:
            rows.append([f"groupby_agg, {r['groups']} groups", fmt_s(r["gpudf_s"]),
                         f"polars 1 thread {fmt_s(r['polars_1_s'])}, {p['cores']} threads "
                         f"{fmt_s(r['polars_all_s'])}", f"{r['vs_polars_1']:.2f}x per core",
                         f"{r['batch_speedup']:.2f}x"])
        sec.md("", f"**Against numpy and polars** ({p['rows']:,} rows, f64 values, i32 keys; "
               f"medians of {p['reps']} runs after a warm-up; gpudf one thread; answers "
               "checked equal): one config, and 64 configs in one run against 64 single runs.",
               "")
        sec.md(*table(["kernel", "libgpudf, one config", "baseline, same run", "ratio",
                       "64 batched vs single"], rows))
    sec.md("", "<details><summary>gpudf-bench_foundation and gpudf-bench_kernels output</summary>",
           "", "```", out1.rstrip(), "", out2.rstrip(), "", out3.rstrip(), "```", "</details>")
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
    vc = m.get("vector_ceiling")
    vtext = (f", {vc:.2f}x with vector arithmetic that keeps the FP units busy as filter_agg "
             "does" if vc is not None else "")
    sec.md("", f"- the machine's ceiling: two busy threads do {m['ceiling']:.2f}x the work of one"
           f"{vtext} (a box whose 2 vCPUs share one core shows ~1.0x).",
           f"- cost of one claim: {d['claim']['claim_s'] * 1e6:.2f} us; call to first finished "
           f"config: {d['startup']['first_result_s'] * 1e3:.1f} ms.",
           f"- {t['runs']} runs per worker count, interleaved, after {t['warmup']} excluded "
           "warm-up run in process; 2 workers vs 1: "
           f"{t.get('ratio_2_vs_1', t['configs_per_s']['2'] / t['configs_per_s']['1']):.2f}x, "
           "the median of each round's own ratio (target 1.7x).",
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
    # one section per file (numbers, mixed); an older bench_csv.py wrote one
    files = d.get("files") or {"numbers": d}
    plt = ctx.plt
    for label, f in files.items():
        res = f["results"]
        g = next((v for k, v in res.items() if k.startswith("gpudf")), None)
        rows = []
        for name, r in res.items():
            rows.append([name, spread(r), f"{f['bytes'] / 2**20 / r['median_s']:.0f}",
                         ratio(r["median_s"] / g["median_s"]) if g else "-"])
        sec.md(f"{label}: {f['rows']:,} rows, {f['bytes'] / 2**20:.1f} MiB.", "")
        sec.md(*table(["reader", "time (median [min - max])", "MiB/s", "time / gpudf 1 thread"],
                      rows))
        for k, v in f.get("ratios", {}).items():
            sec.md(f"- {k}: {v:.2f}x")
        sec.md("")
    if "load_average" in d:
        sec.md("load average at the start: " + " ".join(f"{x:.2f}" for x in d["load_average"]))
    notes(sec, d)
    if not d.get("checked", False):
        sec.status = "FAILED: answers not checked"
    if plt:
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / len(files)
        names = list(next(iter(files.values()))["results"])
        for i, (label, f) in enumerate(files.items()):
            res = f["results"]
            ax.bar([x + i * width for x in range(len(names))],
                   [res[n]["median_s"] for n in names], width, label=label)
        ax.set_xticks([x + width * (len(files) - 1) / 2 for x in range(len(names))], names)
        ax.set(ylabel="seconds", title="6 CSV load")
        ax.legend()
        ax.tick_params(axis="x", labelsize=8)
        sec.plot = png(plt, fig, ctx.stem_path("csv"))


# 7 ------------------------------------------------------------------------

# TEST HOOK, not a measurement: GPUDF_BENCH_GPU_FAKE=1 runs section 7 on a
# machine without a device, to test this code: no nvidia-smi check, the
# library's simulated device (GPUDF_SIMULATE_DEVICE=1, host memory) for the
# cuda-ipc / cuda-pinned placements, numpy in CuPy's place, small sizes. The
# section then says so in bold; its numbers measure nothing.
GPU_FAKE = "GPUDF_BENCH_GPU_FAKE"

# The targets gpudf-bench_gpu prints after its rows (bench/bench_gpu.cu).
BENCH_GPU_TARGETS = (">= 90%", ">= 80%", ">= 8x", "<= 2x", "faster", "attacher ~0", "vs cpu",
                     "trades exact", "counts equal", "<= 2000 us", "reported", "driver floor",
                     "experiment")


def parse_bench_gpu(out):
    """gpudf-bench_gpu's summary: its header line, the rows (what, value,
    target) printed as "  %-38s %-52s %s", and the lines that are no row
    (FAILED / WRONG). None when the summary is missing or a row does not
    parse."""
    i = out.find("== gpudf-bench_gpu summary")
    if i < 0:
        return None
    lines = out[i:].splitlines()
    rows, extra = [], []
    for line in lines[1:]:
        if not line.strip():
            continue
        body = line[2:] if line.startswith("  ") else None
        if body is None or "FAILED" in body or "WRONG" in body or len(body) < 40:
            extra.append(line.strip())
            continue
        if body[38] != " ":
            return None
        what, rest = body[:38].rstrip(), body[39:]
        if len(rest) <= 52:
            value, target = rest.strip(), ""
        elif rest[51:53] == "  ":  # the value was padded to 52: a space, then the target
            value, target = rest[:52].rstrip(), rest[53:].strip()
        else:  # a value of 52 characters or more pushes the target right
            r = rest.rstrip()
            target = next((t for t in BENCH_GPU_TARGETS if r.endswith(" " + t)), "")
            value = r[:len(r) - len(target)].rstrip() if target else r.strip()
        rows.append((what, value, target))
    return {"head": lines[0].strip("= ").strip(), "rows": rows, "extra": extra} if rows else None


def verdict(value, target):
    """PASS / MISS for the targets a number in the value can be held to."""
    m = re.fullmatch(r">= (\d+(?:\.\d+)?)%", target)
    if m:
        v = re.search(r"= (\d+(?:\.\d+)?)%", value)
        return ("PASS" if float(v.group(1)) >= float(m.group(1)) else "**MISS**") if v else ""
    m = re.fullmatch(r"([<>]=) (\d+(?:\.\d+)?)x", target)
    if m:
        v = re.search(r"= (\d+(?:\.\d+)?)x", value)
        if not v:
            return ""
        ok = float(v.group(1)) >= float(m.group(2)) if m.group(1) == ">=" else \
            float(v.group(1)) <= float(m.group(2))
        return "PASS" if ok else "**MISS**"
    if target == "faster":
        v = re.search(r"= (\d+(?:\.\d+)?)x", value)
        return ("PASS" if float(v.group(1)) > 1 else "**MISS**") if v else ""
    m = re.fullmatch(r"<= (\d+(?:\.\d+)?) us", target)
    if m:
        v = re.match(r"(\d+(?:\.\d+)?) us", value)
        return ("PASS" if float(v.group(1)) <= float(m.group(1)) else "**MISS**") if v else ""
    return ""


def gpu_failed(sec, part, rc, err):
    what = "wrong answer" if rc == 2 else "timed out" if rc == "timeout" else f"exit {rc}"
    if not sec.status.startswith("FAILED"):
        sec.status = f"FAILED: {part}, {what}"
    tail = (err or "").strip().splitlines()[-8:]
    sec.md(f"**FAILED** ({what}); the last lines of its output:", "", "```", *tail, "```")


def device_line(fake):
    if fake:
        return ("**TEST HOOK GPUDF_BENCH_GPU_FAKE=1**: no device; the library's simulated "
                "device (GPUDF_SIMULATE_DEVICE=1, host memory) and numpy in CuPy's place. "
                "These numbers measure nothing.")
    q = "index,name,driver_version,memory.total"
    gpu = (sh(["nvidia-smi", f"--query-gpu={q},compute_cap", "--format=csv,noheader"])
           or sh(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"]) or "?")
    drv = re.search(r"CUDA Version:\s*([\d.]+)", sh(["nvidia-smi"]) or "")
    nvcc = re.search(r"release ([\d.]+), (V[\d.]+)", sh(["nvcc", "--version"]) or "")
    cuda = drv.group(1) if drv else "?"
    built = f"{nvcc.group(1)} {nvcc.group(2)}" if nvcc else "? (not on PATH)"
    return (f"Device: {gpu.replace(chr(10), '; ')} (index, name, driver, memory, compute "
            f"capability, as nvidia-smi lists them); the driver's CUDA {cuda}; libgpudf "
            f"built with nvcc {built}.")


def gpu_c(ctx, sec, exe, env):
    """7a: gpudf-bench_gpu, its summary as a table."""
    sec.md("", "### 7a gpudf-bench_gpu: placements, filter_agg vs the D2D copy, memory", "")
    if not exe.exists():
        sec.md(f"not run: {exe} was not built (no CUDA toolkit found by CMake).")
        return 0
    rows = 10_000_000 if ctx.quick else 100_000_000
    rc, out, err, dt = run_cmd([exe, "--rows", rows], ctx.raw, "gpu", env, ctx.timeout)
    if rc not in (0, 2):
        gpu_failed(sec, "gpudf-bench_gpu", rc, err or out)
        return dt
    if "SKIPPED" in out and "summary" not in out:
        sec.md("skipped: " + out.strip().splitlines()[-1].split("SKIPPED:", 1)[-1].strip())
        return dt
    p = parse_bench_gpu(out)
    summary = out[out.find("== gpudf-bench_gpu summary"):] if "summary" in out else out
    if p is None:
        sec.md("gpudf-bench_gpu (its summary did not parse as rows; as printed):", "", "```",
               summary.rstrip(), "```")
    else:
        size = re.search(r"\((.*)\)", p["head"])
        sec.md(f"`gpudf-bench_gpu --rows {rows}` ({size.group(1) if size else p['head']}): "
               "filter_agg on the owner's "
               "cuda-ipc table against `cudaMemcpy` device-to-device of the same bytes (read + "
               "write), batched vs single launches, IPC attach and device memory per process "
               "(cudaMemGetInfo deltas), a cuda-pinned attacher against a cuda-ipc one, "
               "ma_crossover / groupby_agg / histogram against the cpu placement; medians "
               "after a warm-up, answers checked.", "")
        sec.md(*table(["measure", "libgpudf, and its baseline in the same run", "target",
                       "verdict"],
                      [[w, v, t or "", verdict(v, t)] for w, v, t in p["rows"]]))
        for line in p["extra"]:
            sec.md("", f"- **{line}**")
        sec.md("", "<details><summary>gpudf-bench_gpu summary as printed</summary>", "", "```",
               summary.rstrip(), "```", "</details>")
    if rc == 2:
        if not sec.status.startswith("FAILED"):
            sec.status = "FAILED: gpudf-bench_gpu, wrong answer"
        sec.md("", "**FAILED** (wrong answer, exit 2): see the WRONG line of its summary.")
    return dt


CUPY_PROBE = """import cupy
try:
    v = cupy.cuda.runtime.runtimeGetVersion()
    rt = f"CUDA runtime {v // 1000}.{v % 1000 // 10}"
except Exception as e:
    rt = f"CUDA runtime unknown: {type(e).__name__}"
print(f"CuPy {cupy.__version__} ({rt})")"""


def cupy_state(ctx, env, fake):
    """(usable, words): whether bench_gpu_py.py can run CuPy in the venv."""
    if fake:
        return True, "numpy in CuPy's place (test hook)"
    try:
        r = subprocess.run([str(ctx.py), "-c", CUPY_PROBE], capture_output=True, text=True,
                           env=env, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"CuPy did not import ({e})"
    if r.returncode == 0:
        return True, r.stdout.strip()
    if "No module named 'cupy'" in r.stderr:
        return False, ("CuPy not installed (bench/run.sh installs cupy-cuda13x or cupy-cuda12x "
                       "after nvcc's release; the install failed or the machine is offline)")
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return False, f"CuPy is installed but does not import: {last}"


def gpu_cupy(ctx, sec, env, fake):
    """7b: bench_gpu_py.py, gpudf vs CuPy on the same data; returns (seconds, plot data)."""
    sec.md("", "### 7b filter_agg: gpudf vs CuPy on the same data", "")
    ok, words = cupy_state(ctx, env, fake)
    if not ok:
        sec.md(f"not run: {words}.")
        if sec.status == "ok":
            sec.status = "ok (no CuPy)"
        return 0, None
    js = ctx.raw / "gpu_py.json"
    rows = 1_000_000 if fake else 10_000_000 if ctx.quick else 100_000_000
    # 256 configs at full size, not bench_gpu_py's default 1024: its CuPy
    # "compact" idiom has no time limit and took 36.6 s a run at 1024 x 1e8 on
    # an H100 (x 4 with warm-up and repetitions).
    k = 64 if ctx.quick or fake else 256
    cmd = [ctx.py, HERE / "bench_gpu_py.py", "--rows", rows, "--configs", k, "--json", js]
    cmd += ["--backend", "cuda-ipc", "--xp", "numpy"] if fake else []
    rc, out, err, dt = run_cmd(cmd, ctx.raw, "gpu_py", env, ctx.timeout)
    d = load_json(js) if js.exists() else None
    if rc == 0 and d is None and "SKIPPED" in out:
        sec.md("skipped: " + next(l for l in out.splitlines() if "SKIPPED" in l).split(
            "SKIPPED:", 1)[-1].strip())
        return dt, None
    if rc not in (0, 2) or d is None:
        gpu_failed(sec, "bench_gpu_py", rc, err or out)
        return dt, None
    label = d["baseline"]
    vs = d.get("versions") or {}
    base_v = ", ".join(f"{n} {v}" for n, v in vs.items() if v and n.startswith("cupy"))
    sec.md(f"`bench_gpu_py.py --rows {rows} --configs {k}`: {rows:,} rows of x uniform in "
           "[-100, 100) and v with 0.1% NaN, in one gpudf table shared as "
           f"{d.get('share_backend')} (table placement {d.get('table_backend')}); {label} "
           "uploads from the table's own column views. One config = count, sum, mean, min, "
           f"max, std of v over the rows whose x passes the op. {label} runs each config two "
           "ways, as its users write it: *compact* (`sel = v[mask]`, then its reductions) and "
           "*masked* (reductions of `where(mask, v, ...)`, no compaction); the ratio is to "
           f"its faster one. Device: {d.get('device')}; {words}"
           + (f"; {base_v}" if base_v else "") + ".", "")
    variants = sorted({v for key in ("filter_agg_1", "filter_agg_k")
                       for v in d[key].get("baseline_variants", {})})
    trows = []
    for key, what in (("filter_agg_1", "filter_agg, 1 config"),
                      ("filter_agg_k", f"filter_agg, {d['configs']} configs")):
        r = d[key]
        bv = r.get("baseline_variants", {})
        trows.append([what, spread(r["gpudf"]), f"{fmt_s(r['baseline']['median_s'])} "
                      f"({r['baseline_variant']})"]
                     + [spread(bv[v]) if v in bv else "not run" for v in variants]
                     + [ratio(r["baseline"]["median_s"] / r["gpudf"]["median_s"])])
    up = d["upload"]
    trows.append([f"upload (gpudf: share; {label}: asarray of the same 4 columns)",
                  fmt_s(up["gpudf_share_s"]), fmt_s(up["baseline_asarray_s"])]
                 + [""] * len(variants) + [ratio(up["baseline_asarray_s"] / up["gpudf_share_s"])])
    sec.md(*table(["measure", "gpudf (median [min - max])", f"{label}, faster idiom"]
                  + [f"{label} {v}" for v in variants] + [f"{label} / gpudf"], trows))
    mem = d.get("memory") or {}
    mb = lambda b: "?" if b is None else f"{b / 2**20:.0f} MiB"  # noqa: E731
    sec.md("")
    if mem.get("gpudf_owner_upload_bytes") is not None:
        sec.md(f"- device memory (cudaMemGetInfo): gpudf's owner upload "
               f"{mb(mem['gpudf_owner_upload_bytes'])} (arena {mb(mem.get('arena_bytes'))}); "
               f"{label}'s arrays {mb(mem.get('baseline_upload_bytes'))}, its memory pool "
               f"{mb(mem.get('baseline_pool_bytes'))} after the runs (temporaries of the masks "
               f"and compactions); device {mb(mem.get('device_total_bytes'))}.")
    else:
        sec.md(f"- device memory: not measured ({label} on the host).")
    sec.md(f"- {label}'s NaN mask of v is computed once ({fmt_s(up['baseline_nan_mask_s'])}"
           + (", CuPy's first kernel compile included" if label == "CuPy" else "")
           + ") and is in no row; answers checked: counts, min and "
           "max equal, sums within 1e-12 of the sum of magnitudes, std 1e-9 relative; "
           f"{d.get('empty_configs', '?')} configs select no row.")
    for v, why in (d.get("baseline_failed") or {}).items():
        sec.md(f"- {label} {v} did not run: {why[:300]}")
    gh = d.get("groupby_histogram") or []
    if gh:
        gvars = sorted({v for r in gh for v in r.get("baseline_variants", {})})
        grows = []
        for r in gh:
            bv, best = r.get("baseline_variants", {}), r.get("baseline_variant")
            grows.append([r["what"], spread(r["gpudf"])]
                         + [spread(bv[v]) if v in bv else "-" for v in gvars]
                         + [ratio(bv[best]["median_s"] / r["gpudf"]["median_s"]) + f" ({best})"
                            if best else "n/a"])
        sec.md("", f"groupby_agg (keys g16 / g4096, value v) and histogram (of v over "
               f"[872, 1128]), each config filtered by x as above: gpudf.run of the configs in "
               f"one pass against {label} looping over them in its idioms (bench_gpu_py.py's "
               f"ArraySide.gh_variants); counts, min and max equal, sums within rounding.", "")
        sec.md(*table(["measure", "gpudf (median [min - max])"] + [f"{label} {v}" for v in gvars]
                      + [f"{label} fastest / gpudf"], grows))
        for r in gh:
            for v, why in (r.get("baseline_failed") or {}).items():
                sec.md(f"- {r['what']}: {label} {v} did not run: {why[:300]}")
            for v, why in (r.get("baseline_inexact") or {}).items():
                t = (r.get("baseline_inexact_times") or {}).get(v, {}).get("median_s")
                sec.md(f"- {r['what']}: {label} {v} "
                       + (f"took {fmt_s(t)} but " if t is not None else "")
                       + f"is INEXACT, left out of the ratio: {why[:300]}")
    if d.get("wrong"):
        sec.md(f"- **WRONG**: {len(d['wrong'])} results differ, e.g. {d['wrong'][0]}")
    if rc == 2:
        gpu_failed(sec, "bench_gpu_py", rc, err or out)
    return dt, d


PLACEMENTS = ("cuda-ipc", "cuda-pinned", "cpu")


def gpu_question(ctx, sec, env):
    """7c: section 1's gpudf approaches once per placement."""
    sec.md("", "### 7c the original question's gpudf approaches on each placement", "")
    script = HERE / "bench_question.py"
    runs, dt_all = {}, 0.0
    for b in PLACEMENTS:
        js = ctx.raw / f"gpu_question_{b}.json"
        cmd = [ctx.py, script, "--backend", b, "--approaches", "gpudf-attach,gpudf-sweep",
               "--json", js] + (["--quick"] if ctx.quick else [])
        rc, out, err, dt = run_cmd(cmd, ctx.raw, f"gpu_question_{b}", env, ctx.timeout)
        dt_all += dt
        if rc == 2 and "unrecognized arguments" in err:
            sec.md("not available: bench_question.py has no --backend option.")
            return dt_all
        d = load_json(js) if js.exists() else None
        if rc == 0 and d is None and "SKIPPED" in out:
            runs[b] = next(l for l in out.splitlines() if "SKIPPED" in l).split(
                "SKIPPED:", 1)[-1].strip()
            continue
        if rc != 0 or d is None:
            sec.md(f"{b}:")
            gpu_failed(sec, f"bench_question --backend {b}", rc, err or out)
            continue
        runs[b] = d
    done = {b: d for b, d in runs.items() if isinstance(d, dict)}
    if not done:
        for b, why in runs.items():
            sec.md(f"- {b}: {why}")
        return dt_all
    d0 = next(iter(done.values()))
    sec.md(f"`bench_question.py --backend B --approaches gpudf-attach,gpudf-sweep"
           f"{' --quick' if ctx.quick else ''}` for each placement B: the table of section 1 "
           f"({d0['rows']:,} rows x 4 f64 = {d0['table_mib']:.0f} MiB, {d0['configs']} "
           f"configs), shared with `share(backend=B)` for gpudf-attach (spawn workers attach "
           "by name and call `to_pandas()`) and swept with `gpudf.sweep(backend=B)` for "
           "gpudf-sweep; answers checked against pandas in every run. The ratios are to the "
           "same approach and workers on the cpu placement in this run.", "")
    cpu = {(r["approach"], r["workers"]): r for r in done.get("cpu", {}).get("results", [])}
    trows = []
    for b in PLACEMENTS:
        d = runs.get(b)
        if d is None:
            continue
        if not isinstance(d, dict):
            trows.append([b, "-", "-", f"**skipped**: {d}", "-", "-", "-", "-", "-"])
            continue
        for r in d["results"]:
            if r["approach"] == "baseline":
                continue
            c = cpu.get((r["approach"], r["workers"]))
            trows.append([b, r["approach"], r["workers"], r.get("backend") or "?",
                          spread({"median_s": r["wall_s_median"], "min_s": r["wall_s_min"],
                                  "max_s": r["wall_s_max"], "runs": r["runs"]}),
                          fmt_s(r.get("first_result_s")),
                          f"{r['peak_pss_mib']:.0f} ({r['pss_above_baseline_mib']:+.0f})",
                          ratio(r["wall_s_median"] / c["wall_s_median"]) if c else "-",
                          ratio(r["peak_pss_mib"] / c["peak_pss_mib"]) if c else "-"])
    sec.md(*table(["placement asked", "approach", "workers", "share placement",
                   "wall (median [min - max])",
                   "first result", "peak PSS MiB (above an idle Pool)", "time / cpu",
                   "memory / cpu"], trows))
    sec.md("", "- peak PSS: the summed PSS of the parent and all its workers (host memory: a "
           "worker that attaches a device placement creates a CUDA context); above an idle "
           "Pool = minus the same Pool whose workers touch no table.",
           "- versions: " + ", ".join(f"{k} {v}" for k, v in d0.get("versions", {}).items()
                                      if k != "gpudf_library"))
    return dt_all


def s_gpu(ctx, sec):
    fake = os.environ.get(GPU_FAKE) == "1"
    if not fake and sh(["nvidia-smi", "-L"]) is None:
        sec.status = "skipped: no device"
        sec.md("**skipped: no device** (nvidia-smi -L found no GPU on this machine).")
        return
    exe = ctx.build / "bench" / "gpudf-bench_gpu"
    if not fake and not exe.exists():
        sec.status = "skipped: no CUDA build"
        sec.md(f"**skipped**: {exe} was not built (no CUDA toolkit found by CMake).")
        return
    env = dict(ctx.env, GPUDF_SIMULATE_DEVICE="1") if fake else ctx.env
    sec.md(device_line(fake), "",
           "7a gpudf-bench_gpu (C), 7b gpudf vs CuPy doing the same filter_agg on the same "
           "data, 7c section 1's gpudf approaches on cuda-ipc, cuda-pinned and cpu. Section 4 "
           "(gpudf-bench_sweep) is not repeated per placement: it has no backend option yet.")
    t = gpu_c(ctx, sec, exe, env)
    t2, d = gpu_cupy(ctx, sec, env, fake)
    t3 = gpu_question(ctx, sec, env)
    sec.seconds = t + t2 + t3
    if fake and sec.status.startswith("ok"):
        sec.status = "ok (TEST HOOK, simulated)"
    plt = ctx.plt
    if plt and d:
        label = d["baseline"]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        whats = ["1 config", f"{d['configs']} configs"]
        keys = ("filter_agg_1", "filter_agg_k")
        xs = range(len(whats))
        ax.bar([x - 0.2 for x in xs], [d[k]["gpudf"]["median_s"] for k in keys], 0.4,
               label="gpudf.run")
        ax.bar([x + 0.2 for x in xs], [d[k]["baseline"]["median_s"] for k in keys], 0.4,
               label=f"{label} (faster idiom)")
        ax.set_xticks(list(xs), whats)
        ax.set(yscale="log", ylabel="seconds (median, log)",
               title=f"7 filter_agg over {d['rows']:,} rows: gpudf vs {label}")
        ax.legend()
        sec.plot = png(plt, fig, ctx.stem_path("gpu"))


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
    vs = baseline_versions()
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
