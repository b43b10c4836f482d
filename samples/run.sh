#!/usr/bin/env bash
# samples/run.sh - build libgpudf (release) if needed and run the default
# job: gpudf-sweep with no arguments (a 10M-row synthetic table shared once,
# ma_crossover over 2,952 configs in one worker per core; see
# `gpudf-sweep --help`). Arguments go to gpudf-sweep. gpudf-demo, the
# minimal C example, is built too (build-release/samples/gpudf-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v cc >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmake ninja-build gcc g++ >/dev/null
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
# Say what is built and how long it takes, then show each step (ninja's
# "[n/m] ..." lines): a first build is ~2 minutes on 2 cores (more with the
# CUDA kernels), a rebuild seconds.
cuda="without CUDA"
command -v nvcc >/dev/null && cuda="with the CUDA kernels (nvcc found)"
if [ ! -x build-release/samples/gpudf-sweep ]; then
  echo "samples/run.sh: building libgpudf, gpudf-sweep, gpudf-worker and gpudf-demo (Release, $cuda)"
  echo "  into build-release/: about 2 minutes on 2 cores the first time (longer with CUDA), seconds after"
else
  echo "samples/run.sh: updating build-release/ ($cuda)"
fi
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUDF_BUILD_TESTS=OFF >/dev/null
t0=$SECONDS
cmake --build build-release --target gpudf-sweep gpudf-demo gpudf-worker
echo "samples/run.sh: built in $((SECONDS - t0)) s; running build-release/samples/gpudf-sweep $*"
echo
exec build-release/samples/gpudf-sweep "$@"
