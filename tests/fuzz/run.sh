#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets with clang (ASan +
# UBSan) and run each for SECONDS (default 20) from its seed corpus. Findings
# are written to tests/fuzz/findings/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
out=${GPUDF_FUZZ_DIR:-build-fuzz}
mkdir -p "$out" tests/fuzz/findings
srcs=$(ls engine/*.c host/*.c kernels/*.c)
for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  clang -std=c11 -D_GNU_SOURCE -DGPUDF_VERSION_STRING='"fuzz"' -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude -Iengine -Ihost -Ikernels $srcs "$target" -o "$out/$name" -lm -lpthread -ldl
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
  echo "== $name for ${secs}s"
  "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=tests/fuzz/findings/"$name"- -print_final_stats=1 "$corpus" 2>&1 |
    grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done" || true
  if ls tests/fuzz/findings/"$name"-* >/dev/null 2>&1; then
    echo "$name found a crash: tests/fuzz/findings/" >&2
    exit 1
  fi
done
