#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets (tests/fuzz/fuzz_*.c)
# with clang (ASan + UBSan) and run each for SECONDS (default 20) from its seed
# corpus (tests/fuzz/corpus/<name>/). Findings are written to
# tests/fuzz/findings/ and fail the run. GPUDF_FUZZ_DIR: build folder
# (default build-fuzz). Each target's line "NAME: N executions" comes from
# libFuzzer's stat::number_of_executed_units.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
out=${GPUDF_FUZZ_DIR:-build-fuzz}
mkdir -p "$out/obj" tests/fuzz/findings
flags="-std=c11 -D_GNU_SOURCE -DGPUDF_VERSION_STRING=\"fuzz\" -g -O1
  -fno-sanitize-recover=undefined -Iinclude -Iengine -Ihost -Ikernels -Isamples"
# The library (and gpudf-sweep's grid parser, for fuzz_grid) is compiled
# once, in parallel, instrumented for coverage; each target then only links.
# engine/fault.c belongs to the fault-injection build (it needs --wrap).
srcs=$(ls engine/*.c host/*.c kernels/*.c samples/sweep_grid.c | grep -v '^engine/fault\.c$')
obj() { echo "$out/obj/$(echo "$1" | tr / _).o"; }
compile() {
  # shellcheck disable=SC2086
  clang -fsanitize=fuzzer-no-link,address,undefined $flags -c "$1" -o "$(obj "$1")"
}
export out flags
export -f obj compile
printf '%s\n' $srcs | xargs -P "$(nproc)" -n 1 bash -c 'compile "$0"'
objs=$(for s in $srcs; do obj "$s"; done)
status=0
for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  # shellcheck disable=SC2086
  clang -fsanitize=fuzzer,address,undefined $flags "$target" $objs \
    -o "$out/$name" -lm -lpthread -ldl -lrt
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
  echo "== $name for ${secs}s"
  log="$out/$name.log"
  "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=tests/fuzz/findings/"$name"- -print_final_stats=1 "$corpus" >"$log" 2>&1 || true
  grep -E "ERROR|SUMMARY|^fuzz_|stat::peak_rss" "$log" || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "$name: ${execs:-?} executions in ${secs}s"
  if ls tests/fuzz/findings/"$name"-* >/dev/null 2>&1; then
    echo "$name found a crash: tests/fuzz/findings/ (log: $log)" >&2
    status=1
  fi
done
exit $status
