#!/usr/bin/env python3
"""tests/mutation/run_py.py - mutation testing of the Python package.

    python3 tests/mutation/run_py.py FILE TEST [TEST...]

FILE is a module of python/gpudf (e.g. python/gpudf/pool.py), TEST the
pytest files or node ids that cover it. The mutants come from
universalmutator (`mutate FILE python`, the tool tests/mutation/run.sh
installs into build-mut/venv for the C files); a sample of
GPUDF_MUT_SAMPLE of them (default 20, shuffled with GPUDF_MUT_SEED,
default 1) is run: a mutant that does not compile is dropped, each other
one replaces FILE in a private copy of python/ and runs the tests against
the build's library (GPUDF_LIBRARY etc. as the README's Python tests use
them, from build/ unless set) with a time limit of three times the
unmutated run plus 60 s. Killed: the tests fail or time out. A survivor
that tests/mutation/equivalent.tsv lists (file, line text, mutated line
text, reason; tab-separated) leaves the score; any other survivor is
printed and makes the exit status 1. Results: build-mut/results/py-*.tsv.
Not in CI: run on demand, like run.sh.
"""
import difflib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fail(msg):
    sys.exit("run_py: " + msg)


def mutate_tool():
    venv = os.path.join(ROOT, "build-mut", "venv")
    tool = os.path.join(venv, "bin", "mutate")
    if not os.access(tool, os.X_OK):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "universalmutator"],
                       check=True)
    return tool


def changed_line(orig, mutant):
    """The original and mutated text of the one line a mutant changes."""
    a, b = orig.splitlines(), mutant.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            return (" ".join(a[i1:i2]).strip(), " ".join(b[j1:j2]).strip())
    return ("", "")


def equivalents():
    path = os.path.join(ROOT, "tests", "mutation", "equivalent.tsv")
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3:
                out.add((cols[0], cols[1].strip(), cols[2].strip()))
    return out


def main():
    if len(sys.argv) < 3:
        fail("usage: run_py.py FILE TEST [TEST...]")
    rel, tests = sys.argv[1], sys.argv[2:]
    src = os.path.join(ROOT, rel)
    if not (rel.startswith("python/") and rel.endswith(".py") and os.path.isfile(src)):
        fail(f"{rel}: not a .py file under python/")
    sample = int(os.environ.get("GPUDF_MUT_SAMPLE", "20"))
    seed = int(os.environ.get("GPUDF_MUT_SEED", "1"))
    build = os.path.join(ROOT, "build")
    env = dict(os.environ)
    env.setdefault("GPUDF_LIBRARY", os.path.join(build, "libgpudf.so"))
    env.setdefault("GPUDF_HEADER", os.path.join(ROOT, "include", "gpudf.h"))
    env.setdefault("GPUDF_WORKER", os.path.join(build, "gpudf-worker"))
    if not os.path.isfile(env["GPUDF_LIBRARY"]):
        fail(f"{env['GPUDF_LIBRARY']} missing: build first (README)")
    work = tempfile.mkdtemp(prefix="gpudf-mutpy-")
    try:
        mdir = os.path.join(work, "mutants")
        os.mkdir(mdir)
        with open(os.path.join(work, "mutate.log"), "w") as log:
            subprocess.run([mutate_tool(), src, "python", "--noCheck", "--mutantDir", mdir],
                           stdout=log, stderr=subprocess.STDOUT, check=True)
        mutants = sorted(os.listdir(mdir))
        random.Random(seed).shuffle(mutants)
        tree = os.path.join(work, "python")
        shutil.copytree(os.path.join(ROOT, "python"), tree,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        target = os.path.join(work, rel)
        env["PYTHONPATH"] = tree
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]

        def run(limit):
            t0 = time.monotonic()
            try:
                r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=limit)
                return r.returncode, time.monotonic() - t0
            except subprocess.TimeoutExpired:
                return "timeout", time.monotonic() - t0

        status, base = run(None)
        if status != 0:
            fail(f"the tests fail without a mutant (status {status}): {' '.join(tests)}")
        limit = 3 * base + 60
        orig = open(src, encoding="utf-8").read()
        eq = equivalents()
        rows, ran, dropped = [], 0, 0
        for name in mutants:
            if ran == sample:
                break
            text = open(os.path.join(mdir, name), encoding="utf-8").read()
            try:
                compile(text, rel, "exec")
            except SyntaxError:
                dropped += 1
                continue
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
            status, took = run(limit)
            ran += 1
            line, mutated = changed_line(orig, text)
            if status != 0:
                verdict = "killed" if status != "timeout" else "killed (time limit)"
            elif (rel, line, mutated) in eq:
                verdict = "equivalent"
            else:
                verdict = "SURVIVED"
            rows.append((name, verdict, f"{took:.1f}", line, mutated))
            print(f"  {name}: {verdict} ({took:.1f} s)" +
                  (f"\n    - {line}\n    + {mutated}" if verdict == "SURVIVED" else ""), flush=True)
        with open(target, "w", encoding="utf-8") as f:
            f.write(orig)
        killed = sum(r[1].startswith("killed") for r in rows)
        equiv = sum(r[1] == "equivalent" for r in rows)
        survived = sum(r[1] == "SURVIVED" for r in rows)
        results = os.path.join(ROOT, "build-mut", "results")
        os.makedirs(results, exist_ok=True)
        out = os.path.join(results, "py-" + os.path.basename(rel) + time.strftime("-%Y%m%d-%H%M%S.tsv"))
        with open(out, "w", encoding="utf-8") as f:
            for r in rows:
                f.write("\t".join(r) + "\n")
        score = killed / (ran - equiv) if ran > equiv else 1.0
        raw = killed / ran if ran else 1.0
        print(f"{rel}: {ran} run ({dropped} more dropped, of {len(mutants)}), killed {killed}, "
              f"equivalent {equiv}, survived {survived}: score {100 * score:.1f}% "
              f"(raw {100 * raw:.1f}%); unmutated tests {base:.1f} s; results {out}")
        return 1 if survived else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
