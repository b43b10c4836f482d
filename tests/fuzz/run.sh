#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets (tests/fuzz/fuzz_*.c)
# with clang (ASan + UBSan) and run each for SECONDS (default 20) from its seed
# corpus (tests/fuzz/corpus/<name>/). Findings are written to
# tests/fuzz/findings/ and fail the run. GPUDF_FUZZ_DIR: build folder
# (default build-fuzz). Each target's line "NAME: N executions" comes from
# libFuzzer's stat::number_of_executed_units.
#
# tests/fuzz/run.sh --long SECONDS [MAX_LEN] - the long run that feeds CI:
# every target fuzzes for SECONDS (GPUDF_FUZZ_PARALLEL of them at a time,
# default the machine's cores) with inputs of at most MAX_LEN bytes (default
# 4096), from its git corpus and what earlier runs left in the build folder.
# Then the old corpus and the new inputs are merged (-merge=1) into an empty
# folder that replaces tests/fuzz/corpus/<name>: merging into the existing
# folder would only add, and the cap keeps the corpus in git small. Inputs
# kept unchanged keep their names; new ones are named by their SHA-1, as
# libFuzzer names them. Commit the corpus change; CI's short runs start from
# it. GPUDF_FUZZ_TARGETS="attach config" limits either mode to those targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
long=0
if [ "${1:-}" = --long ]; then
  long=1
  shift
  [ $# -ge 1 ] || { echo "usage: $0 --long SECONDS [MAX_LEN]" >&2; exit 2; }
fi
secs=${1:-20}
max_len=${2:-4096}
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
out=${GPUDF_FUZZ_DIR:-build-fuzz}
parallel=${GPUDF_FUZZ_PARALLEL:-$(nproc)}
mkdir -p "$out/obj" tests/fuzz/findings
flags="-std=c11 -D_GNU_SOURCE -DGPUDF_VERSION_STRING=\"fuzz\" -g -O1
  -fno-sanitize-recover=undefined -Iinclude -Isamples"
# Every layer folder that holds headers (CMakeLists.txt: GPUDF_LAYER_DIRS).
for dir in $(find engine host kernels -name "*.h" -printf "%h\n" | sort -u); do
  flags+=" -I$dir"
done
# The library (and gpudf-sweep's grid parser, for fuzz_grid) is compiled
# once, in parallel, instrumented for coverage; each target then only links.
# engine/base/fault.c belongs to the fault-injection build (it needs --wrap).
srcs=$(find engine host kernels -name '*.c' | sort | grep -v '^engine/base/fault\.c$'; echo samples/sweep_grid.c samples/sweep_args.c)
obj() { echo "$out/obj/$(echo "$1" | tr / _).o"; }
compile() {
  # shellcheck disable=SC2086
  clang -fsanitize=fuzzer-no-link,address,undefined $flags -c "$1" -o "$(obj "$1")"
}
export out flags
export -f obj compile
printf '%s\n' $srcs | xargs -P "$parallel" -n 1 bash -c 'compile "$0"'
objs=$(for s in $srcs; do obj "$s"; done)

targets=""
for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  if [ -n "${GPUDF_FUZZ_TARGETS:-}" ] && ! [[ " $GPUDF_FUZZ_TARGETS " == *" ${name#fuzz_} "* ]]; then
    continue
  fi
  # shellcheck disable=SC2086
  clang -fsanitize=fuzzer,address,undefined $flags "$target" $objs \
    -o "$out/$name" -lm -lpthread -ldl -lrt
  mkdir -p "$out/corpus-$name"
  cp tests/fuzz/corpus/"${name#fuzz_}"/* "$out/corpus-$name"/ 2>/dev/null || true
  targets="$targets $name"
done

# fuzz NAME SECONDS [extra libFuzzer flags]: one target's run, into its log.
fuzz() {
  local name=$1 secs=$2
  shift 2
  "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "$@" \
    -artifact_prefix=tests/fuzz/findings/"$name"- -print_final_stats=1 \
    "$out/corpus-$name" >"$out/$name.log" 2>&1 || true
}
export -f fuzz

# report NAME: its log's summary; fails when it left a finding.
report() {
  local name=$1 log="$out/$1.log"
  grep -E "ERROR|SUMMARY|^fuzz_|stat::peak_rss" "$log" || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "$name: ${execs:-?} executions in ${secs}s"
  if ls tests/fuzz/findings/"$name"-* >/dev/null 2>&1; then
    echo "$name found a crash: tests/fuzz/findings/ (log: $log)" >&2
    return 1
  fi
}

# merge NAME: old corpus + new inputs, capped, into an empty folder that
# then replaces the git corpus; unchanged inputs keep their old names.
merge() {
  local name=$1 short=${1#fuzz_}
  local git_corpus=tests/fuzz/corpus/$short new="$out/merged-$short"
  rm -rf "$new" && mkdir -p "$new"
  "$out/$name" -merge=1 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    "$new" "$git_corpus" "$out/corpus-$name" >"$out/$name.merge.log" 2>&1 || {
    echo "$name: merge failed (log: $out/$name.merge.log); corpus left as it was" >&2
    return 1
  }
  if [ -z "$(ls -A "$new")" ]; then
    echo "$name: merge kept nothing; corpus left as it was" >&2
    return 1
  fi
  for f in "$git_corpus"/*; do
    [ -f "$f" ] || continue
    h=$(sha1sum "$f" | cut -d' ' -f1)
    [ -f "$new/$h" ] && [ "$h" != "$(basename "$f")" ] && mv "$new/$h" "$new/$(basename "$f")"
  done
  local before after
  before="$(ls "$git_corpus" | wc -l) inputs, $(cat "$git_corpus"/* 2>/dev/null | wc -c) bytes"
  rm -rf "$git_corpus" && mkdir -p "$git_corpus" && cp "$new"/* "$git_corpus"/
  after="$(ls "$git_corpus" | wc -l) inputs, $(cat "$git_corpus"/* | wc -c) bytes"
  echo "$name: corpus $before -> $after (max_len $max_len)"
}

status=0
if [ "$long" = 1 ]; then
  echo "== long run: ${secs}s per target, $parallel at a time, max_len $max_len:$targets"
  # shellcheck disable=SC2086
  printf '%s\n' $targets | xargs -P "$parallel" -I{} bash -c \
    "fuzz {} $secs -max_len=$max_len"
  for name in $targets; do
    report "$name" || status=1
    merge "$name" || status=1
  done
else
  for name in $targets; do
    echo "== $name for ${secs}s"
    fuzz "$name" "$secs"
    report "$name" || status=1
  done
fi
exit $status
