"""benchlib.py - small helpers shared by the Python benchmarks in bench/:
timing statistics, process memory (PSS/USS from /proc), the machine and the
versions of the baselines. Imported by bench_sharing.py, bench_backtest.py
and report.py (run them from anywhere: they put bench/ on sys.path)."""
import json
import os
import platform
import statistics
import time


def stats(times):
    """Median, min, max and count of a list of seconds (warm-up excluded by
    the caller)."""
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": len(times)}


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def memory(pid=None):
    """{"pss": bytes, "uss": bytes, "rss": bytes} of a process, from
    /proc/PID/smaps_rollup (psutil when that is missing)."""
    pid = pid or os.getpid()
    try:
        fields = {}
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
        return {"pss": fields["Pss"], "rss": fields["Rss"],
                "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}
    except (OSError, KeyError):
        import psutil
        m = psutil.Process(pid).memory_full_info()
        return {"pss": m.pss, "rss": m.rss, "uss": m.uss}


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def versions(*names):
    """Installed versions of the named distributions (None when missing)."""
    from importlib import metadata
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    try:
        import gpudf
        out["gpudf"] = gpudf.__version__
    except Exception:  # the report says why elsewhere
        pass
    return out


def write_json(path, obj):
    if path:
        with open(path, "w") as f:
            json.dump(obj, f, indent=1, default=float)


def mib(b):
    return b / 2**20
