#!/usr/bin/env bash
# bench/run.sh - every benchmark section in one command: builds libgpudf in
# Release, creates a Python venv with the baselines from PyPI, runs the
# sections and writes a Markdown report with PNG plots.
#
#   bash bench/run.sh            full run (about 30 min on a 2-core machine)
#   bash bench/run.sh --quick    every section at small sizes (< 5 min; CI)
#   bash bench/run.sh --out DIR  write the report there (default bench/results)
#   bash bench/run.sh --only sharing,backtest   some sections only
#   GPUDF_BENCH_VECTORBT=0 bash bench/run.sh ... do not install vectorbt
#   GPUDF_BENCH_VENV=DIR bash bench/run.sh ...   use (and complete) that venv
#
# Writes DIR/<YYYY-MM-DD>-<host>[-quick].md, DIR/<same>-<section>.png and the
# raw output of every section in DIR/<same>-raw/. Build tree and venv:
# ${GPUDF_BENCH_BUILD:-build-bench} and ${GPUDF_BENCH_BUILD:-build-bench}/venv.
# Installs what is missing, as tests/run.sh does: cmake, ninja, g++ with
# apt-get; numpy, pandas, pyarrow, polars, joblib, vectorbt, matplotlib, psutil and
# cffi with pip. CUDA is built only when a device is present (nvidia-smi -L):
# the CUDA build takes ~10 min and without a device nothing would run it.
# With a device it also installs CuPy for section 7 (cupy-cuda13x or
# cupy-cuda12x after nvcc's release; a WARNING, not a failure, if it cannot).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=bench/results
only=""
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --only) only=${2:?--only needs section names}; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
t_start=$SECONDS

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  echo "bench/run.sh: installing ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

build=${GPUDF_BENCH_BUILD:-build-bench}
cuda=(-DGPUDF_CUDA=OFF)
gpu=0
if nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  cuda=(-DGPUDF_CUDA=AUTO)
  echo "== a GPU is present: building with CUDA when nvcc is found (takes ~10 min)"
else
  echo "== no GPU (nvidia-smi -L fails): building without CUDA; the CUDA build takes" \
       "~10 min and nothing here would run it (section 7 is reported as skipped)"
fi
t0=$SECONDS
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUDF_BUILD_TESTS=OFF \
  -DGPUDF_BUILD_BENCH=ON "${cuda[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
echo "== build: $((SECONDS - t0)) s"

t0=$SECONDS
venv=${GPUDF_BENCH_VENV:-"$(cd "$build" && pwd)/venv"}
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv python3-pip >/dev/null
    rm -rf "$venv"; python3 -m venv "$venv"
  fi
fi
py="$venv/bin/python"
# Installed distributions by their metadata: importing them all (vectorbt
# pulls numba and plotly) would cost half a minute on every run.
have() { "$py" -c "import importlib.metadata as m, sys; [m.version(p) for p in sys.argv[1:]]" "$@" 2>/dev/null; }
if ! have cffi numpy pandas pyarrow joblib matplotlib psutil polars; then
  echo "== installing the baselines into $venv"
  "$py" -m pip install -q --disable-pip-version-check cffi numpy pandas pyarrow joblib matplotlib psutil polars
fi
# vectorbt pulls numba (and through it llvmlite), which may have no wheel for
# this Python: then section 5 runs without it and says so in the report.
# GPUDF_BENCH_VECTORBT=0 does not install it (it and its dependencies are
# ~700 MB of the venv's ~1.1 GB, the longest part of a fresh setup).
if [ "${GPUDF_BENCH_VECTORBT:-1}" = 0 ]; then
  echo "== GPUDF_BENCH_VECTORBT=0: vectorbt not installed; section 5 reports it skipped"
elif ! have vectorbt; then
  echo "== installing vectorbt"
  "$py" -m pip install -q --disable-pip-version-check vectorbt ||
    echo "bench/run.sh: WARNING: vectorbt did not install on $("$py" -V); section 5 reports it skipped"
fi
# Section 7 runs CuPy on the same filter_agg as gpudf: with a device, the
# CuPy wheel of nvcc's CUDA major. Offline (or without a wheel) the section
# says "CuPy not installed" and runs the rest. Nothing new without a device.
if ((gpu)); then
  rel=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\)\..*/\1/p' | head -n 1 || true)
  case "$rel" in
    13) cupy=cupy-cuda13x ;;
    12) cupy=cupy-cuda12x ;;
    *) cupy="" ;;
  esac
  if [ -z "$cupy" ]; then
    echo "bench/run.sh: WARNING: ${rel:+nvcc release $rel, }no CuPy wheel chosen" \
         "(cupy-cuda13x for nvcc 13, cupy-cuda12x for 12); section 7 runs without CuPy"
  elif have "$cupy"; then
    :
  elif have cupy-cuda12x || have cupy-cuda13x; then
    echo "== another CuPy wheel is in $venv: $cupy (CUDA $rel) not installed next to it"
  else
    echo "== installing $cupy (nvcc release $rel) for section 7"
    "$py" -m pip install -q --disable-pip-version-check --timeout 30 --retries 1 "$cupy" ||
      echo "bench/run.sh: WARNING: $cupy did not install (offline?); section 7 reports" \
           "CuPy not installed"
  fi
fi
echo "== venv: $((SECONDS - t0)) s"

args=(--build "$build" --out "$out")
((quick)) && args+=(--quick)
[ -n "$only" ] && args+=(--only "$only")
cmd="bash bench/run.sh"
if ((quick)); then cmd+=" --quick"; fi
status=0
MPLBACKEND=Agg "$py" bench/report.py "${args[@]}" --command "$cmd" || status=$?
echo "== bench/run.sh: $((SECONDS - t_start)) s in all"
exit $status
