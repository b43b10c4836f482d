#!/usr/bin/env bash
# tests/run.sh - build libgpudf and run every test, on a fresh Debian machine
# too: installs what is missing (cmake, ninja, g++, GoogleTest, pkg-config,
# and a Python venv with cffi, numpy, pandas, pyarrow, pytest, joblib, polars, duckdb).
#
#   bash tests/run.sh            build (with CUDA when nvcc is present), run
#                                all tests, then the CPU suite again under
#                                AddressSanitizer + UndefinedBehaviorSanitizer
#   GPUDF_SKIP_SANITIZERS=1 ...  skip the sanitizer pass
#   GPUDF_SKIP_TSAN=1 ...        skip the ThreadSanitizer pass (threads, sweeps, shares)
#   GPUDF_SKIP_FUZZ=1 ...        skip the short libFuzzer runs (tests/fuzz/run.sh)
#   GPUDF_SKIP_BENCH=1 ...       skip bench/run.sh --quick (every benchmark, small sizes)
#   GPUDF_TEST_ARGS="-L gpu" ... extra ctest arguments (e.g. only device tests)
#
# It ends with one line summed over every stage (ctest runs, pytest, each
# fuzz target, the benchmark run), the last thing printed:
#   N passed, N failed, N skipped
# preceded by "failed stage(s): NAME ..." when one failed; the exit status is
# then non-zero. A build step that fails ends the run there, as a failed stage.
set -euo pipefail
cd "$(dirname "$0")/.."

# ----------------------------------------------------------------- verdict
passed=0 failed=0 skipped=0
failed_stages=()
stage="setup"
logs=$(mktemp -d "${TMPDIR:-/tmp}/gpudf-run.XXXXXX")
verdict() {
  local rc=$?
  # A step outside run_stage that ended the script (set -e): its stage failed.
  if ((rc != 0)) && [[ " ${failed_stages[*]} " != *" $stage "* ]]; then
    failed_stages+=("$stage")
    failed=$((failed + 1))
  fi
  rm -rf "$logs"
  echo
  if ((${#failed_stages[@]})); then
    echo "failed stage(s): ${failed_stages[*]}"
    ((rc != 0)) || rc=1
  fi
  echo "$passed passed, $failed failed, $skipped skipped"
  exit "$rc"
}
trap verdict EXIT
# Counts from a stage's log. ctest: "97% tests passed, 3 tests failed out
# of 120" (skipped tests are among its passed; each is listed "(Skipped)").
count_ctest() {
  local line total nf ns
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1) || true
  [ -n "$line" ] || return 1
  nf=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  ns=$(grep -cE '^[[:space:]]*[0-9]+ - .*\((Skipped|Disabled)\)$' "$1") || true
  passed=$((passed + total - nf - ns)) failed=$((failed + nf)) skipped=$((skipped + ns))
}
# pytest -q: "5 failed, 120 passed, 3 skipped, 1 error in 12.3s".
count_pytest() {
  local line n word
  line=$(grep -E '^[= ]*[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed|deselected)' "$1" | tail -n 1) || true
  [ -n "$line" ] || return 1
  while read -r n word; do
    case "$word" in
      passed|xpassed|xfailed) passed=$((passed + n)) ;;
      failed|error|errors) failed=$((failed + n)) ;;
      skipped) skipped=$((skipped + n)) ;;
    esac
  done < <(grep -oE '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed)' <<<"$line")
}
# tests/fuzz/run.sh: "fuzz_x: N executions in Ss" per target run, and
# "fuzz_x found a crash" for each that failed.
count_fuzz() {
  local nt nc
  nt=$(grep -cE '^fuzz_[A-Za-z0-9_]+: .* executions in ' "$1") || true
  nc=$(grep -cE '^fuzz_[A-Za-z0-9_]+ found a crash' "$1") || true
  ((nt > 0)) || return 1
  passed=$((passed + nt - nc)) failed=$((failed + nc))
}
# tests/install/readme_blocks.py: "readme: N ok, M failed (python blocks)".
count_readme() {
  local line
  line=$(grep -E '^readme: [0-9]+ ok, [0-9]+ failed' "$1" | tail -n 1) || true
  [ -n "$line" ] || return 1
  passed=$((passed + $(sed -E 's/^readme: ([0-9]+) ok.*/\1/' <<<"$line")))
  failed=$((failed + $(sed -E 's/^readme: [0-9]+ ok, ([0-9]+) failed.*/\1/' <<<"$line")))
}
# The benchmarks: one check (each section compares its answers itself).
count_one() {
  if (($2 == 0)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
# run_stage NAME KIND COMMAND...: runs it (output shown as it goes), adds its
# counts; a stage that fails (or whose counts cannot be read) is named at the
# end, and the run goes on with the next stage.
run_stage() {
  local name=$1 kind=$2 rc=0 before=$failed
  shift 2
  stage=$name
  "$@" 2>&1 | tee "$logs/$name.log" || rc=$?
  if [ "$kind" = one ]; then
    count_one "$logs/$name.log" "$rc"
  elif ! "count_$kind" "$logs/$name.log"; then
    failed=$((failed + 1)) # no summary: it did not get as far as running tests
  fi
  if ((rc != 0 || failed > before)); then
    ((failed > before)) || failed=$((failed + 1))
    failed_stages+=("$name")
  fi
  stage="between stages"
}

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v nm >/dev/null || need+=(binutils)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev googletest)
# Debian's Open MPI: libgpudf_mpi, gpudf-sweep-mpi and the Mpi.* tests
# (about 10 s of ctest; they run as root with --allow-run-as-root).
command -v mpicc >/dev/null || need+=(libopenmpi-dev)
command -v mpirun >/dev/null || need+=(openmpi-bin)
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
stage="build"
cmake -S . -B "$build" -G Ninja -DGPUDF_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
# shellcheck disable=SC2086
run_stage ctest ctest ctest --test-dir "$build" --output-on-failure -j "$jobs" ${GPUDF_TEST_ARGS:-}

echo "== the Python binding: pip install ./python into a venv, then pytest"
stage="python-install"
venv="$(cd "$build" && pwd)/venv"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv python3-pip >/dev/null
    rm -rf "$venv"; python3 -m venv "$venv"
  fi
fi
"$venv/bin/python" -c "import cffi, numpy, pandas, pyarrow, pytest, joblib, polars, duckdb" 2>/dev/null ||
  "$venv/bin/pip" install -q cffi numpy pandas pyarrow pytest joblib polars duckdb
GPUDF_PREBUILT="$(cd "$build" && pwd)" "$venv/bin/pip" install -q --no-deps --force-reinstall ./python
# From another folder, so that the installed package is what gets imported.
# GPUDF_TEST_PLUGIN: the C tests' plugin, for the sweeps with plugins=.
pytest_stage() {
  cd "$build" && GPUDF_TEST_PLUGIN="$PWD/tests/libgpudf-test-plugin.so" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$OLDPWD/tests/python"
}
run_stage pytest pytest pytest_stage
# gpudf.sweep(..., comm=) under mpirun with 1 and 2 ranks, with mpi4py built
# against Debian's Open MPI in the venv (when MPI is here; about a minute
# to compile the first time).
if command -v mpicc >/dev/null && [ -e "$build/libgpudf_mpi.so" ]; then
  "$venv/bin/python" -c "import mpi4py" 2>/dev/null || "$venv/bin/pip" install -q mpi4py
  for ranks in 1 2; do
    GPUDF_TEST_PYTHON="$venv/bin/python" GPUDF_TEST_REQUIRE_PYTHON=1 \
      GPUDF_TEST_PLUGIN="$(cd "$build" && pwd)/tests/libgpudf-test-plugin.so" \
      OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1 \
      run_stage "mpi-python-$ranks" one "$venv/bin/python" tests/python/mpi_sweep_check.py \
      "$ranks" mpirun --allow-run-as-root --oversubscribe
  done
fi
# The README's Python example, run as written with the installed package
# and its numbers checked against pandas (the ctest
# Readme.PythonExampleAgreesWithPandas skips it without such a venv; the C
# example: the ctests Readme.CExample... and install_readme_examples).
GPUDF_TEST_REQUIRE_PYTHON=1 run_stage readme-python readme "$venv/bin/python" \
  tests/install/check_readme_examples.py python README.md "$build/readme-python" "$venv/bin/python"

if [ "${GPUDF_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== the CPU suite again under ASan + UBSan"
  stage="build-asan"
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
    run_stage ctest-asan ctest ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE gpu -E '^install_'
  # The tables, shares, CSV reads and sweeps again with every growth of a
  # mapping moved elsewhere (engine/base/fault.h, GDF_FAULT_MOVE): a pointer kept
  # across a growth then reads unmapped memory here, whatever room the
  # kernel happens to have next to the mapping. Fault.* arm their own.
  GPUDF_FAULT_MOVE_ALL=1 ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_stage ctest-asan-move ctest ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -LE gpu \
    -R '^(Csv|Table|Categorical|Share|Sweep|Threads)\.'
fi

if [ "${GPUDF_SKIP_TSAN:-0}" != 1 ]; then
  echo "== threads and processes under ThreadSanitizer"
  stage="build-tsan"
  # The library starts no threads; the tests that do (Threads: attach, run,
  # share, register, read_csv and errors from several threads at once;
  # ProcFault's killer thread) and the ones around processes (sweeps with
  # their workers and progress callback, share/attach) run here, and the CSV
  # reader's SIGBUS guard (a signal handler and a siglongjmp out of it).
  # -Wno-tsan: GCC warns that TSan does not model engine/share/publish.c's standalone
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
    run_stage ctest-tsan ctest ctest --test-dir "$build-tsan" --output-on-failure -j "$jobs" -LE gpu \
    -R '^(Threads|Sweep|SweepBadInput|Share|Corrupt)\.|^ProcFault\.(Owner|Worker|SweepOwner)Killed|^Csv\.AFileTruncated'
fi

if [ "${GPUDF_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== libFuzzer targets, ${GPUDF_FUZZ_SECONDS:-15}s each"
  GPUDF_FUZZ_DIR="$build-fuzz" run_stage fuzz fuzz bash tests/fuzz/run.sh "${GPUDF_FUZZ_SECONDS:-15}"
fi

if [ "${GPUDF_SKIP_BENCH:-0}" != 1 ]; then
  echo "== the benchmarks at small sizes (bench/run.sh --quick), to keep them working"
  # The test venv already holds most baselines: bench/run.sh adds the rest
  # (matplotlib, psutil, vectorbt) instead of downloading them all again.
  GPUDF_BENCH_BUILD="$build-bench" GPUDF_BENCH_VENV="$venv" \
    run_stage bench one bash bench/run.sh --quick --out "$build-bench-quick"
fi
