#!/usr/bin/env python3
"""Runs the code blocks of the README (or of a page in docs/) as written, so
that they cannot rot.

  readme_blocks.py c README.md WORKDIR [FLAG ...]
      compiles every ```c block as a whole program (cc -std=c11 -Wall -Wextra
      -Werror FILE FLAG...) and runs it
  readme_blocks.py python README.md WORKDIR PYTHON
      runs every ```python block as a script file with PYTHON

Each block runs in WORKDIR without LD_LIBRARY_PATH (the README's commands
must work without it). Prints "readme: N ok, M failed" (M > 0 or no block
found: exit status 1) and, for a failure, the block's first line number in
the README and its output.
"""
import os
import re
import subprocess
import sys


def blocks(path, lang):
    """(line number, code) of every ```lang block."""
    out, cur, start = [], None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if cur is None and re.fullmatch(r"```" + lang + r"\s*", line):
                cur, start = [], n + 1
            elif cur is not None and line.strip() == "```":
                out.append((start, "".join(cur)))
                cur = None
            elif cur is not None:
                cur.append(line)
    return out


def main():
    lang, readme, work, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    work = os.path.abspath(work)
    os.makedirs(work, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    found = blocks(readme, lang)
    ok = bad = 0
    for i, (line, code) in enumerate(found):
        src = os.path.join(work, f"readme_{i}.{'c' if lang == 'c' else 'py'}")
        with open(src, "w", encoding="utf-8") as f:
            f.write(code)
        if lang == "c":
            exe = src[:-2]
            steps = [["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe] + rest,
                     [exe]]
        else:
            python = os.path.abspath(rest[0]) if os.sep in rest[0] else rest[0]
            steps = [[python, os.path.abspath(src)]]
        for cmd in steps:
            p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                               timeout=300)
            if p.returncode != 0:
                print(f"{os.path.basename(readme)}:{line}: the {lang} block failed (exit {p.returncode}): "
                      f"{' '.join(cmd)}\n{p.stdout}{p.stderr}")
                bad += 1
                break
        else:
            ok += 1
    print(f"readme: {ok} ok, {bad} failed ({lang} blocks)")
    return 1 if bad or not found else 0


if __name__ == "__main__":
    sys.exit(main())
