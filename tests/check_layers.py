#!/usr/bin/env python3
"""tests/check_layers.py [ROOT] - every #include "..." of the library, the
worker and the samples points down the layers (ctest Layers.IncludesPointDown).

The layers and the few known exceptions are read from the ```layers and
```layers-exceptions blocks of docs/architecture.md, the one place they are
written: the map people read is the one the build checks.

A file may include a header of its own folder or of a folder on a lower
level. Folders on one level are siblings and may not include each other
(engine/load and engine/share; one kernel's folder and another's). The
include is resolved as the compiler does: the including file's folder
first, then the one header of that name in the tree (every layer folder is
on the include path, so two headers of one name would be ambiguous, which
is refused too). include/gpudf.h, the public header, is below everything.

Exits 1 after naming every file and include that points up or sideways.

tests/check_layers.py --self-test: the check itself, on a small tree with
one include up and one sideways (ctest Layers.AnIncludeUpOrSidewaysFails).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--self-test"
                       else os.path.join(HERE, ".."))
CHECKED = ["engine", "host", "kernels", "mpi", "worker", "samples"]
SOURCE = re.compile(r"\.(c|h|cc|cu|cuh)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def blocks(text, tag):
    """The lines of every ```tag block, without comments and blanks."""
    out = []
    for body in re.findall(r"^```" + re.escape(tag) + r"\n(.*?)^```", text, re.M | re.S):
        for line in body.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def read_map():
    path = os.path.join(ROOT, "docs", "architecture.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    levels = [line.split() for line in blocks(text, "layers")]
    if not levels:
        sys.exit(f"{path}: no ```layers block")
    exceptions = set()
    for line in blocks(text, "layers-exceptions"):
        parts = line.split("->")
        if len(parts) != 2:
            sys.exit(f"{path}: exception '{line}' is not 'FILE -> HEADER'")
        exceptions.add((parts[0].strip(), parts[1].strip()))
    return levels, exceptions


def layer_of(rel, levels):
    """(level, folder) of the file rel, or None outside every layer. The
    longest folder listed that holds it wins; a pattern 'kernels/*' makes
    each other folder under kernels/ a layer of its own on that level."""
    best = None
    for level, folders in enumerate(levels):
        for folder in folders:
            if not folder.endswith("/*") and rel.startswith(folder + "/"):
                if best is None or len(folder) > len(best[1]):
                    best = (level, folder)
    if best:
        return best
    for level, folders in enumerate(levels):
        for folder in folders:
            parent = folder[:-1]
            if folder.endswith("/*") and rel.startswith(parent) and "/" in rel[len(parent):]:
                return (level, parent + rel[len(parent):].split("/", 1)[0])
    return None


def sources():
    for top in CHECKED:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if SOURCE.search(name):
                    yield os.path.relpath(os.path.join(dirpath, name), ROOT)


def main():
    levels, exceptions = read_map()
    files = sorted(sources())
    by_name = {}
    for rel in files:
        by_name.setdefault(os.path.basename(rel), []).append(rel)
    public = {os.path.basename(p) for p in os.listdir(os.path.join(ROOT, "include"))}
    bad, used = [], set()
    for rel in files:
        mine = layer_of(rel, levels)
        if mine is None:
            bad.append(f"{rel}: not in any layer of docs/architecture.md")
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            beside = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
            if os.path.exists(os.path.join(ROOT, beside)):
                target = beside
            elif len(by_name.get(os.path.basename(inc), [])) == 1:
                target = by_name[os.path.basename(inc)][0]
            elif inc in public:
                continue  # the public header: below every layer
            elif os.path.basename(inc) in by_name:
                bad.append(f"{rel}:{line}: #include \"{inc}\" is ambiguous: "
                           + ", ".join(by_name[os.path.basename(inc)]))
                continue
            else:
                continue  # not in the tree: a system or generated header
            theirs = layer_of(target, levels)
            if theirs is None or theirs[1] == mine[1] or theirs[0] < mine[0]:
                continue
            if (rel, target) in exceptions:
                used.add((rel, target))
                continue
            how = "up" if theirs[0] > mine[0] else "sideways"
            bad.append(f"{rel}:{line}: #include \"{inc}\" points {how}: {mine[1]} "
                       f"(level {mine[0] + 1}) -> {theirs[1]} (level {theirs[0] + 1})")
    for rel, target in sorted(exceptions - used):
        print(f"note: exception '{rel} -> {target}' in docs/architecture.md is no longer "
              "needed; remove it")
    for line in bad:
        print(line)
    if bad:
        print(f"{len(bad)} include(s) against the layers of docs/architecture.md")
        return 1
    print(f"{len(files)} files: every include points down the layers")
    return 0


def self_test():
    """A tree with the real map, a header include down (allowed), one up
    (host -> engine/table) and one sideways (engine/load -> engine/share):
    the check must fail and name both, and nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "docs"))
        shutil.copy(os.path.join(ROOT, "docs", "architecture.md"), os.path.join(tmp, "docs"))
        files = {
            "include/gpudf.h": "",
            "host/segment.h": '#include "gpudf.h"\n',
            "engine/table/table.h": '#include "segment.h"\n',
            "host/bad.c": '#include "segment.h"\n#include <stdio.h>\n#include "table.h"\n',
            "engine/share/share.h": '#include "table.h"\n',
            "engine/load/csv.c": '#include "table.h"\n#include "share.h"\n',
        }
        for rel, body in files.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w") as f:
                f.write(body)
        run = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                             capture_output=True, text=True)
        out = run.stdout
        want = ['host/bad.c:3: #include "table.h" points up: host (level 2) -> '
                'engine/table (level 4)',
                'engine/load/csv.c:2: #include "share.h" points sideways: engine/load '
                '(level 5) -> engine/share (level 5)',
                "2 include(s) against the layers"]
        missing = [w for w in want if w not in out]
        if run.returncode != 1 or missing:
            print(out + run.stderr)
            print(f"self-test failed: exit {run.returncode}, missing {missing}")
            return 1
        print(out.rstrip())
        print("self-test: the check fails on an include up and one sideways, naming both")
        return 0


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv[1:] else main())
