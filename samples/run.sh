#!/usr/bin/env bash
# samples/run.sh - build libgpudf (release) if needed and run the default
# sample: share a synthetic table, attach from a second process, run a batch
# of filter_agg configs in both and check they agree. Arguments go to
# gpudf-demo (e.g. a row count).
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
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUDF_BUILD_TESTS=OFF >/dev/null
cmake --build build-release --target gpudf-demo >/dev/null
exec build-release/samples/gpudf-demo "$@"
