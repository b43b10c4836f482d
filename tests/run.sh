#!/usr/bin/env bash
# tests/run.sh - build libgpudf and run every test, on a fresh Debian machine
# too: installs what is missing (cmake, ninja, g++, GoogleTest, pkg-config,
# and a Python venv with cffi, numpy, pandas, pyarrow, pytest, joblib).
#
#   bash tests/run.sh            build (with CUDA when nvcc is present), run
#                                all tests, then the CPU suite again under
#                                AddressSanitizer + UndefinedBehaviorSanitizer
#   GPUDF_SKIP_SANITIZERS=1 ...  skip the sanitizer pass
#   GPUDF_SKIP_FUZZ=1 ...        skip the short libFuzzer runs (tests/fuzz/run.sh)
#   GPUDF_TEST_ARGS="-L gpu" ... extra ctest arguments (e.g. only device tests)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v nm >/dev/null || need+=(binutils)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev googletest)
if ((${#need[@]})); then
  echo "tests/run.sh: installing ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The toolkit's usual home, when it is not on PATH: CMake finds nvcc there.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

jobs=$(nproc)
build=${GPUDF_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGPUDF_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" ${GPUDF_TEST_ARGS:-}

echo "== the Python binding: pip install ./python into a venv, then pytest"
venv="$(cd "$build" && pwd)/venv"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv python3-pip >/dev/null
    rm -rf "$venv"; python3 -m venv "$venv"
  fi
fi
"$venv/bin/python" -c "import cffi, numpy, pandas, pyarrow, pytest, joblib" 2>/dev/null ||
  "$venv/bin/pip" install -q cffi numpy pandas pyarrow pytest joblib
GPUDF_PREBUILT="$(cd "$build" && pwd)" "$venv/bin/pip" install -q --no-deps --force-reinstall ./python
# From another folder, so that the installed package is what gets imported.
(cd "$build" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/tests/python")

if [ "${GPUDF_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== the CPU suite again under ASan + UBSan"
  san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
  cmake -S . -B "$build-asan" -G Ninja -DGPUDF_CUDA=OFF -DGPUDF_WERROR=ON \
    -DGPUDF_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build "$build-asan" -j "$jobs"
  # handle_segv=0: the read-only test expects a plain SIGSEGV in its child.
  ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE gpu -E install_consumer
fi

if [ "${GPUDF_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== libFuzzer targets, ${GPUDF_FUZZ_SECONDS:-15}s each"
  GPUDF_FUZZ_DIR="$build-fuzz" bash tests/fuzz/run.sh "${GPUDF_FUZZ_SECONDS:-15}"
fi
