#!/usr/bin/env bash
# tests/gpu/device-check.sh - everything that needs a real GPU, in one go, on
# a fresh machine that has the CUDA toolkit and a driver (CI has no GPU).
#
#   bash tests/gpu/device-check.sh
#
# Configures and builds for sm_90 only (-DCMAKE_CUDA_ARCHITECTURES=90) in
# $GPUDF_DEVCHECK_BUILD (default /tmp/gpudf-devcheck), runs the whole test
# suite including the "gpu" label, then the GPU benchmark, and prints a short
# summary table last. Meant to finish within 5 minutes on an H100.
# Needs cmake; uses ninja when present, else make. Without GoogleTest it
# builds it from /usr/src/googletest when that exists, else skips the test
# part and says so. Exit status: 0 when everything that ran passed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${GPUDF_DEVCHECK_BUILD:-/tmp/gpudf-devcheck}
jobs=$(nproc)
summary=()
failed=0
note() { summary+=("$1"); echo "== $1"; }

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
command -v nvcc >/dev/null || { echo "device-check: nvcc not found (CUDA toolkit missing)"; exit 1; }
command -v cmake >/dev/null || { echo "device-check: cmake is required and missing"; exit 1; }
if command -v ninja >/dev/null; then gen=(-G Ninja)
elif command -v make >/dev/null; then gen=(-G "Unix Makefiles")
else echo "device-check: neither ninja nor make is installed"; exit 1; fi
if command -v nvidia-smi >/dev/null; then
  note "device: $(nvidia-smi -L 2>&1 | head -1)"
else
  note "device: nvidia-smi not found (driver missing?): gpu tests will report SKIPPED"
fi

# GoogleTest: the system's, else built from the distribution's sources.
tests=ON
extra=()
if [ ! -f /usr/include/gtest/gtest.h ] && [ ! -f /usr/local/include/gtest/gtest.h ]; then
  if [ -d /usr/src/googletest ] &&
     cmake -S /usr/src/googletest -B "$build-gtest" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
       -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX="$build-gtest/install" >/dev/null &&
     cmake --build "$build-gtest" -j "$jobs" >/dev/null &&
     cmake --install "$build-gtest" >/dev/null; then
    extra+=(-DCMAKE_PREFIX_PATH="$build-gtest/install")
    note "GoogleTest: built from /usr/src/googletest"
  else
    tests=OFF
    note "GoogleTest: not installed and no /usr/src/googletest: test suite SKIPPED"
  fi
fi

t0=$SECONDS
if ! cmake -S . -B "$build" "${gen[@]}" -DGPUDF_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
       -DCMAKE_BUILD_TYPE=Release -DGPUDF_BUILD_TESTS=$tests "${extra[@]}" >"$build.configure.log" 2>&1 ||
   ! cmake --build "$build" -j "$jobs"; then
  tail -30 "$build.configure.log" 2>/dev/null
  note "build: FAILED"
  printf '\n== device-check summary\n'; printf '  %s\n' "${summary[@]}"; exit 1
fi
note "build (sm_90): ok in $((SECONDS - t0)) s"

if [ "$tests" = ON ]; then
  t0=$SECONDS
  if timeout 200 ctest --test-dir "$build" --output-on-failure -j 8 >"$build.ctest.log" 2>&1; then
    res=ok
  else
    res=FAILED; failed=1
    grep -E "\(Failed\)|\(Timeout\)|Exception" "$build.ctest.log" | head -20
  fi
  note "tests (all labels): $res, $(grep -E 'tests passed' "$build.ctest.log" | tail -1) in $((SECONDS - t0)) s"
  # A gpu test that skips on a GPU machine is a finding, not a pass.
  skipped=$(grep -cE '\.gpu .*Skipped' "$build.ctest.log" || true)
  gpu_total=$(ctest --test-dir "$build" -N -L gpu 2>/dev/null | grep -cE 'Test +#')
  note "gpu-labelled tests: $gpu_total, skipped: $skipped"
  grep -E '\.gpu ' "$build.ctest.log" | sed 's/^/    /' | head -20
fi

# Size the benchmark to the room in /dev/shm: the host arena lives there.
avail=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1)
rows=100000000
if [ -n "$avail" ] && [ "$avail" -lt $((rows * 16 * 2)) ]; then rows=$((avail / 16 / 3)); fi
t0=$SECONDS
if timeout 150 "$build/bench/gpudf-bench_gpu" --rows "$rows" >"$build.bench.log" 2>&1; then
  note "bench_gpu ($rows rows): ok in $((SECONDS - t0)) s"
else
  note "bench_gpu ($rows rows): FAILED (status $?)"; failed=1
  tail -20 "$build.bench.log"
fi

printf '\n== device-check summary\n'
printf '  %s\n' "${summary[@]}"
sed -n '/== gpudf-bench_gpu summary/,$p' "$build.bench.log"
exit $failed
