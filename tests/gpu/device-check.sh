#!/usr/bin/env bash
# tests/gpu/device-check.sh - everything that needs a real GPU, in one go, on
# a fresh machine that has the CUDA toolkit and a driver (CI has no GPU).
#
#   bash tests/gpu/device-check.sh [--budget SECONDS]     (default 540)
#
# Configures and builds for sm_90 only (-DCMAKE_CUDA_ARCHITECTURES=90) in
# $GPUDF_DEVCHECK_BUILD (default /tmp/gpudf-devcheck), then, most important
# first, each step with its own time limit cut to what is left of the budget:
#   1  the "gpu"-labelled tests (real device: placements, IPC across
#      processes, every CUDA kernel against the CPU, the series launch:
#      SweepSeriesGpu.*)
#   2  Python on the device, when cffi can be imported or wheels for it are
#      in .devdeps/whl: $GPUDF_DEVCHECK_PYTESTS (default
#      tests/python/test_gpu.py and tests/python/test_device_columns.py:
#      CuPy, Numba and PyTorch on the shared device columns where installed),
#      then bench/bench_seed_gpu.py (the seed's func in CuPy: per-task
#      upload vs gpudf's shared device copy, W = 1, 2, 4), when CuPy is
#      installed
#   3  gpudf-bench_gpu (filter_agg vs D2D copy, batched vs single launches,
#      IPC attach with its phases, context creation and the bare driver call
#      apart, device memory per process, pinned vs ipc, ma_crossover
#      grid on the device vs the cpu sweep, ma_crossover configs x series:
#      a series sweep of 6 and 60 configs over 500 series on cuda-ipc vs cpu)
#   3b the CPU on this machine's cores: gpudf-bench_sweep --split --workers
#      $(nproc), and bench/bench_csv.py (the CSV reader on 1 thread vs all)
#   4  the README's default job on cuda-ipc and cpu (same result files),
#      then bench/bench_gpu_py.py (gpudf vs CuPy on the same data:
#      filter_agg, upload, groupby_agg and histogram)
#   5  the gpu tests again under compute-sanitizer memcheck, when installed
#      (GPUDF_DEVCHECK_SANITIZE: another gtest filter, to fit a short lease)
#   6  the rest of the test suite (-LE gpu)
# and prints a summary table last. Logs go to $build-logs; when $OUT is set
# (the device tool's result folder) they are also packed into
# $OUT/devcheck-logs.tgz.
# GoogleTest: the system's, else built from /usr/src/googletest or from
# .devdeps/googletest (a copy carried to a machine that cannot download).
# GPUDF_DEVCHECK_SKIP="python bench_seed_gpu bench_gpu cpu_scaling cli bench_gpu_py sanitizer others" leaves out
# those steps (names as in the summary), to fit a short lease.
# Exit status: 0 when everything that ran passed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
budget=540
[ "${1:-}" = --budget ] && budget=${2:?--budget needs seconds}
build=${GPUDF_DEVCHECK_BUILD:-/tmp/gpudf-devcheck}
logs=$build-logs
rm -rf "$logs"
mkdir -p "$logs"
[ -n "${OUT:-}" ] && trap 'tar czf "$OUT/devcheck-logs.tgz" -C "$logs" .' EXIT
jobs=$(nproc)
summary=()
failed=0
start=$SECONDS
note() { summary+=("$1"); echo "== $1"; }
skip() { [[ " ${GPUDF_DEVCHECK_SKIP:-} " == *" $1 "* ]]; }
left() { echo $((budget - (SECONDS - start))); }
# step_limit MAX: the seconds a step may take (MAX, or what is left minus a
# margin for the summary), 0 when too little is left to start it.
step_limit() {
  local l=$(($(left) - 10))
  [ "$l" -lt 20 ] && { echo 0; return; }
  [ "$l" -lt "$1" ] && echo "$l" || echo "$1"
}

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
command -v nvcc >/dev/null || { echo "device-check: nvcc not found (CUDA toolkit missing)"; exit 1; }
command -v cmake >/dev/null || { echo "device-check: cmake is required and missing"; exit 1; }
if command -v ninja >/dev/null; then gen=(-G Ninja)
elif command -v make >/dev/null; then gen=(-G "Unix Makefiles")
else echo "device-check: neither ninja nor make is installed"; exit 1; fi
{
  nvidia-smi 2>&1 | head -15
  nvcc --version | tail -2
  cmake --version | head -1
  c++ --version | head -1
  nproc; df -h /dev/shm | tail -1
} >"$logs/env.txt" 2>&1
if command -v nvidia-smi >/dev/null; then
  note "device: $(nvidia-smi -L 2>&1 | head -1); driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -1)"
else
  note "device: nvidia-smi not found (driver missing?): gpu tests will report SKIPPED"
fi

# GoogleTest: the system's, else built from sources.
tests=ON
extra=()
if [ ! -f /usr/include/gtest/gtest.h ] && [ ! -f /usr/local/include/gtest/gtest.h ]; then
  src=
  for d in "${GPUDF_GTEST_SRC:-}" /usr/src/googletest "$root/.devdeps/googletest"; do
    [ -n "$d" ] && [ -f "$d/CMakeLists.txt" ] && { src=$d; break; }
  done
  if [ -n "$src" ] &&
     cmake -S "$src" -B "$build-gtest" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
       -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX="$build-gtest/install" >"$logs/gtest.log" 2>&1 &&
     cmake --build "$build-gtest" -j "$jobs" >>"$logs/gtest.log" 2>&1 &&
     cmake --install "$build-gtest" >>"$logs/gtest.log" 2>&1; then
    extra+=(-DCMAKE_PREFIX_PATH="$build-gtest/install")
    note "GoogleTest: built from $src"
  else
    tests=OFF
    note "GoogleTest: not installed and no sources found: test suite SKIPPED"
  fi
fi

t0=$SECONDS
if ! cmake -S . -B "$build" "${gen[@]}" -DGPUDF_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
       -DCMAKE_BUILD_TYPE=Release -DGPUDF_BUILD_TESTS=$tests "${extra[@]}" >"$logs/build.log" 2>&1 ||
   ! cmake --build "$build" -j "$jobs" >>"$logs/build.log" 2>&1; then
  tail -40 "$logs/build.log"
  note "build: FAILED (log: build.log)"
  printf '\n== device-check summary\n'; printf '  %s\n' "${summary[@]}"; exit 1
fi
note "build (sm_90, $jobs jobs): ok in $((SECONDS - t0)) s"

# 1. gpu-labelled tests.
if [ "$tests" = ON ]; then
  lim=$(step_limit 150)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "gpu tests: NOT RUN (out of time)"
  else
    if timeout "$lim" ctest --test-dir "$build" -L gpu --output-on-failure -j 4 \
         >"$logs/gpu-tests.log" 2>&1; then res=ok; else res=FAILED; failed=1; fi
    skipped=$(grep -cE 'Skipped' "$logs/gpu-tests.log" || true)
    note "gpu tests: $res, $(grep -E 'tests passed' "$logs/gpu-tests.log" | tail -1), skipped $skipped, $((SECONDS - t0)) s"
    grep -E '\(Failed\)|\(Timeout\)|Skipped|\*\*\*' "$logs/gpu-tests.log" | sed 's/^/    /' | head -20
  fi
fi

# 2. Python on the device: the device-column and GPU tests (CuPy, Numba,
# PyTorch where installed), then the seed question's func in CuPy.
py=python3
pyenv=(GPUDF_LIBRARY="$build/libgpudf.so" GPUDF_HEADER="$root/include/gpudf.h"
       GPUDF_WORKER="$build/gpudf-worker" PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
       PYTHONUNBUFFERED=1)
if ! $py -c 'import cffi' 2>/dev/null && ls "$root"/.devdeps/whl/*.whl >/dev/null 2>&1; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/gpudf-site "$root"/.devdeps/whl/*.whl >"$logs/pip.log" 2>&1 &&
    pyenv[3]="PYTHONPATH=$root/python:/tmp/gpudf-site${PYTHONPATH:+:$PYTHONPATH}"
fi
pyok=0
env "${pyenv[@]}" $py -c 'import cffi, numpy, pandas, pytest' 2>/dev/null && pyok=1
cupyok=0
[ $pyok = 1 ] && env "${pyenv[@]}" $py -c 'import cupy' 2>/dev/null && cupyok=1
# GPUDF_DEVCHECK_PYTESTS: the Python tests run here (default the two files
# that use the device; the rest run in CI).
pytests=${GPUDF_DEVCHECK_PYTESTS:-tests/python/test_gpu.py tests/python/test_device_columns.py}
if skip python; then
  note "python: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ $pyok = 1 ]; then
  lim=$(step_limit 120)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "python gpu tests: NOT RUN (out of time)"
  else
    # shellcheck disable=SC2086
    if env "${pyenv[@]}" timeout "$lim" $py -m pytest -q -rs -p no:cacheprovider $pytests \
         >"$logs/python-gpu.log" 2>&1; then res=ok; else res=FAILED; failed=1; fi
    note "python gpu tests ($pytests): $res: $(tail -1 "$logs/python-gpu.log"), $((SECONDS - t0)) s"
    grep -E '^(SKIPPED|FAILED|ERROR)' "$logs/python-gpu.log" | sed 's/^/    /' | head -20
  fi
else
  note "python: SKIPPED (cffi/numpy/pandas/pytest not importable and no wheels in .devdeps/whl)"
fi
# The seed question's func in CuPy: naive per-task upload vs the shared
# device copy (gpudf.Pool devices=), W = 1, 2, 4, device MiB per process.
if skip bench_seed_gpu; then note "bench_seed_gpu: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ $cupyok = 0 ]; then note "bench_seed_gpu: SKIPPED (no CuPy, or python not usable)"
else
  lim=$(step_limit 120)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "bench_seed_gpu (CuPy): NOT RUN (out of time)"
  elif env "${pyenv[@]}" timeout "$lim" $py bench/bench_seed_gpu.py --rows 4000000 \
         --configs 8 >"$logs/bench-seed-gpu.log" 2>&1; then
    note "bench_seed_gpu (naive vs shared device copy): ok in $((SECONDS - t0)) s"
  else
    note "bench_seed_gpu: FAILED (status $?)"; failed=1
    tail -20 "$logs/bench-seed-gpu.log"
  fi
fi

# 3. the C GPU benchmark, sized to the room in /dev/shm (the host arena).
avail=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1)
rows=100000000
if [ -n "$avail" ] && [ "$avail" -lt $((rows * 16 * 3)) ]; then rows=$((avail / 16 / 4)); fi
lim=$(step_limit "${GPUDF_DEVCHECK_BENCH_LIMIT:-240}")
t0=$SECONDS
if skip bench_gpu; then note "bench_gpu: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ "$lim" -eq 0 ]; then note "bench_gpu: NOT RUN (out of time)"
elif timeout "$lim" "$build/bench/gpudf-bench_gpu" --rows "$rows" >"$logs/bench-gpu.log" 2>&1; then
  note "bench_gpu ($rows rows): ok in $((SECONDS - t0)) s"
else
  note "bench_gpu ($rows rows): FAILED (status $?)"; failed=1
  tail -20 "$logs/bench-gpu.log"
fi
# Section 3's attach in a fresh process: total, context apart, the driver's
# cudaIpcOpenMemHandle apart from ours, and every phase (GPUDF_ATTACH_TRACE).
if [ -f "$logs/bench-gpu.log" ]; then
  att=$(sed -n '/== gpudf-bench_gpu summary/,$p' "$logs/bench-gpu.log" |
        grep -E '^  (IPC attach latency|  context creation|  attach: driver|  bare cudaIpcOpen|  attach of a 1.6 MB|  VMM fd import)' |
        tr -s ' ' | sed 's/^ //' | tr '\n' ';')
  [ -n "$att" ] && note "IPC attach (bench_gpu 3): $att"
  grep -E '^  \[child cuda-ipc\] gpudf: trace attach' "$logs/bench-gpu.log" | head -2 |
    sed 's/^ */    /'
fi

# 3b. the CPU side on this machine's cores (issue "CPU speed"): 1 sweep
# worker against as many as there are cores, with rows split (section 4 of
# gpudf-bench_sweep), and the CSV reader on one thread against every core.
if skip cpu_scaling; then note "cpu scaling: SKIPPED (GPUDF_DEVCHECK_SKIP)"
else
  lim=$(step_limit 120)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "cpu scaling (bench_sweep --split): NOT RUN (out of time)"
  elif timeout "$lim" "$build/bench/gpudf-bench_sweep" --split --workers "$jobs" \
         >"$logs/bench-sweep-split.log" 2>&1; then
    note "cpu scaling, 1 vs $jobs workers (bench_sweep --split): ok in $((SECONDS - t0)) s"
  else
    note "cpu scaling (bench_sweep --split): FAILED (status $?)"; failed=1
    tail -20 "$logs/bench-sweep-split.log"
  fi
  lim=$(step_limit 100)
  t0=$SECONDS
  if [ $pyok = 0 ]; then note "cpu scaling (bench_csv.py): SKIPPED (python not usable)"
  elif [ "$lim" -eq 0 ]; then note "cpu scaling (bench_csv.py): NOT RUN (out of time)"
  elif env "${pyenv[@]}" timeout "$lim" $py bench/bench_csv.py --rows 4000000 --runs 3 \
         >"$logs/bench-csv.log" 2>&1; then
    note "cpu scaling, CSV reader 1 thread vs $jobs (bench_csv.py, 4e6 rows): ok in $((SECONDS - t0)) s"
  else
    note "cpu scaling (bench_csv.py): FAILED (status $?)"; failed=1
    tail -20 "$logs/bench-csv.log"
  fi
fi

# 4. the README's default job (gpudf-sweep, no arguments but the backend)
# on cuda-ipc and on cpu: wall time, and the same top results.
cli=$build/samples/gpudf-sweep
for b in cuda-ipc cpu; do
  skip cli && { note "gpudf-sweep default job --backend $b: SKIPPED (GPUDF_DEVCHECK_SKIP)"; continue; }
  lim=$(step_limit 90)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "gpudf-sweep default job --backend $b: NOT RUN (out of time)"; continue; fi
  if timeout "$lim" "$cli" --backend "$b" --out "$logs/cli-$b.csv" >"$logs/cli-$b.log" 2>&1; then
    note "gpudf-sweep default job --backend $b: ok in $((SECONDS - t0)) s: $(grep -E '^ *(placement|wall|speed) ' "$logs/cli-$b.log" | tr -s ' ' | tr '\n' ';')"
  else
    note "gpudf-sweep default job --backend $b: FAILED (status $?)"; failed=1
    tail -5 "$logs/cli-$b.log"
  fi
done
if [ -f "$logs/cli-cuda-ipc.csv" ] && [ -f "$logs/cli-cpu.csv" ]; then
  if cmp -s "$logs/cli-cuda-ipc.csv" "$logs/cli-cpu.csv"; then
    note "gpudf-sweep cuda-ipc vs cpu results: identical files"
  else
    note "gpudf-sweep cuda-ipc vs cpu results: files differ in $(diff "$logs/cli-cuda-ipc.csv" "$logs/cli-cpu.csv" | grep -c '^<') lines (see cli-*.csv)"
  fi
fi

# 4b. gpudf vs CuPy on the same data (bench_gpu_py).
if skip bench_gpu_py; then note "bench_gpu_py: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ $cupyok = 0 ]; then note "bench_gpu_py: SKIPPED (no CuPy, or python not usable)"
else
  lim=$(step_limit 150)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "bench_gpu_py (CuPy): NOT RUN (out of time)"
  elif env "${pyenv[@]}" timeout "$lim" $py bench/bench_gpu_py.py --rows "$rows" \
         --configs 256 --json "$logs/bench-gpu-py.json" >"$logs/bench-gpu-py.log" 2>&1; then
    note "bench_gpu_py (gpudf vs CuPy, $rows rows): ok in $((SECONDS - t0)) s"
  else
    note "bench_gpu_py: FAILED (status $?)"; failed=1
    tail -20 "$logs/bench-gpu-py.log"
  fi
fi

# 5. compute-sanitizer over the gpu tests (memcheck: out-of-bounds and
# misaligned device accesses, errors of CUDA calls).
if skip sanitizer; then
  note "compute-sanitizer: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ "$tests" = ON ] && command -v compute-sanitizer >/dev/null; then
  lim=$(step_limit 120)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "compute-sanitizer: NOT RUN (out of time)"
  else
    timeout "$lim" compute-sanitizer --tool memcheck --error-exitcode 97 \
        "$build/tests/gpudf_tests" --gtest_filter="${GPUDF_DEVCHECK_SANITIZE:-*Gpu*:-DeviceGpu.AttachAfterTheOwnerExitedIsRefused}" \
        >"$logs/sanitizer.log" 2>&1
    rc=$?
    case $rc in
      0) res=ok ;;
      124) res="TIMED OUT after $lim s" ;;
      97) res=ERRORS; failed=1 ;;
      *) res="FAILED (status $rc)"; failed=1 ;;
    esac
    note "compute-sanitizer memcheck, gpu tests: $res, $(grep -E 'ERROR SUMMARY' "$logs/sanitizer.log" | tail -1), $((SECONDS - t0)) s"
  fi
fi

# 6. the rest of the suite, on this machine's cores.
if skip others; then
  note "other tests: SKIPPED (GPUDF_DEVCHECK_SKIP)"
elif [ "$tests" = ON ]; then
  lim=$(step_limit 200)
  t0=$SECONDS
  if [ "$lim" -eq 0 ]; then note "other tests: NOT RUN (out of time)"
  else
    if timeout "$lim" ctest --test-dir "$build" -LE gpu --output-on-failure -j "$jobs" \
         >"$logs/tests.log" 2>&1; then res=ok; else res=FAILED; failed=1; fi
    note "other tests: $res, $(grep -E 'tests passed' "$logs/tests.log" | tail -1), $((SECONDS - t0)) s"
    grep -E '\(Failed\)|\(Timeout\)' "$logs/tests.log" | sed 's/^/    /' | head -20
  fi
fi

printf '\n== device-check summary (%d s)\n' $((SECONDS - start))
printf '  %s\n' "${summary[@]}" | tee "$logs/summary.txt"
sed -n '/== gpudf-bench_gpu summary/,$p' "$logs/bench-gpu.log" 2>/dev/null
[ -f "$logs/bench-gpu-py.log" ] && grep -E '^(answers|bench_gpu_py: WRONG)' "$logs/bench-gpu-py.log"
[ -f "$logs/bench-gpu-py.log" ] && sed -n '/== bench_gpu_py summary/,$p' "$logs/bench-gpu-py.log"
[ -f "$logs/bench-seed-gpu.log" ] && tail -12 "$logs/bench-seed-gpu.log"
[ -f "$logs/bench-sweep-split.log" ] && grep -E 'x|MISS|PASS' "$logs/bench-sweep-split.log" | tail -12
[ -f "$logs/bench-csv.log" ] && tail -12 "$logs/bench-csv.log"
exit $failed
