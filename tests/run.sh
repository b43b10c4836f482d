#!/usr/bin/env bash
# tests/run.sh - build libgpudf and run every test, on a fresh Debian machine
# too: installs what is missing (cmake, ninja, g++, GoogleTest, pkg-config,
# and a Python venv with cffi, numpy, pandas, pyarrow, pytest, joblib).
#
#   bash tests/run.sh            build (with CUDA when nvcc is present), run
#                                all tests, then the CPU suite again under
#                                AddressSanitizer + UndefinedBehaviorSanitizer
#   GPUDF_SKIP_SANITIZERS=1 ...  skip the sanitizer pass
#   GPUDF_SKIP_TSAN=1 ...        skip the ThreadSanitizer pass (threads, sweeps, shares)
#   GPUDF_SKIP_FUZZ=1 ...        skip the short libFuzzer runs (tests/fuzz/run.sh)
#   GPUDF_SKIP_BENCH=1 ...       skip bench/run.sh --quick (every benchmark, small sizes)
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
# GPUDF_TEST_PLUGIN: the C tests' plugin, for the sweeps with plugins=.
(cd "$build" && GPUDF_TEST_PLUGIN="$PWD/tests/libgpudf-test-plugin.so" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/tests/python")

if [ "${GPUDF_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== the CPU suite again under ASan + UBSan"
  san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
  cmake -S . -B "$build-asan" -G Ninja -DGPUDF_CUDA=OFF -DGPUDF_WERROR=ON \
    -DGPUDF_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug -DGPUDF_FAULT_INJECTION=ON \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build "$build-asan" -j "$jobs"
  # handle_segv=0: the read-only test expects a plain SIGSEGV in its child.
  ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE gpu -E install_consumer
  # The tables, shares, CSV reads and sweeps again with every growth of a
  # mapping moved elsewhere (engine/fault.h, GDF_FAULT_MOVE): a pointer kept
  # across a growth then reads unmapped memory here, whatever room the
  # kernel happens to have next to the mapping. Fault.* arm their own.
  GPUDF_FAULT_MOVE_ALL=1 ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE gpu \
    -R '^(Csv|Table|Categorical|Share|Sweep|Threads)\.'
fi

if [ "${GPUDF_SKIP_TSAN:-0}" != 1 ]; then
  echo "== threads and processes under ThreadSanitizer"
  # The library starts no threads; the tests that do (Threads: attach, run,
  # share, register, read_csv and errors from several threads at once;
  # ProcFault's killer thread) and the ones around processes (sweeps with
  # their workers and progress callback, share/attach) run here, and the CSV
  # reader's SIGBUS guard (a signal handler and a siglongjmp out of it).
  # -Wno-tsan: GCC warns that TSan does not model host/share.c's standalone
  # fence, which orders a descriptor for other processes (outside TSan's view).
  tsan="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan"
  cmake -S . -B "$build-tsan" -G Ninja -DGPUDF_CUDA=OFF -DGPUDF_WERROR=ON \
    -DGPUDF_BUILD_BENCH=OFF -DGPUDF_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$tsan" -DCMAKE_CXX_FLAGS="$tsan" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  cmake --build "$build-tsan" -j "$jobs" --target gpudf_tests
  # Workers and test children are posix_spawn'ed: a fresh exec, checked by
  # its own TSan runtime. die_after_fork=0 is for a selected test that
  # fork()s instead (test_categorical and test_security do, outside this
  # selection today): TSan would end a child forked after threads existed.
  # handle_segv=0: tests expect a plain SIGSEGV from a crashing worker or a
  # write to a read-only view. exitcode=66: a report fails its test.
  # Left out: ProcFault.AttacherKilledAtRandomPoints and Stress.*, which
  # compare /proc/self/maps counts before and after (TSan's runtime maps
  # memory of its own as it goes) and start no threads; ITERS=2 keeps the
  # killer-thread test (ProcFault.WorkerKilledAtRandomPoints) short.
  TSAN_OPTIONS=die_after_fork=0:handle_segv=0:halt_on_error=0:exitcode=66:second_deadlock_stack=1 \
  GPUDF_STRESS_ITERS=2 \
    ctest --test-dir "$build-tsan" --output-on-failure -j "$jobs" -LE gpu \
    -R '^(Threads|Sweep|SweepBadInput|Share|Corrupt)\.|^ProcFault\.(Owner|Worker|SweepOwner)Killed|^Csv\.AFileTruncated'
fi

if [ "${GPUDF_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== libFuzzer targets, ${GPUDF_FUZZ_SECONDS:-15}s each"
  GPUDF_FUZZ_DIR="$build-fuzz" bash tests/fuzz/run.sh "${GPUDF_FUZZ_SECONDS:-15}"
fi

if [ "${GPUDF_SKIP_BENCH:-0}" != 1 ]; then
  echo "== the benchmarks at small sizes (bench/run.sh --quick), to keep them working"
  # The test venv already holds most baselines: bench/run.sh adds the rest
  # (matplotlib, psutil, vectorbt) instead of downloading them all again.
  GPUDF_BENCH_BUILD="$build-bench" GPUDF_BENCH_VENV="$venv" \
    bash bench/run.sh --quick --out "$build-bench-quick"
fi
