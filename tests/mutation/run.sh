#!/usr/bin/env bash
# tests/mutation/run.sh [FILE...] - mutation testing of the files that matter,
# on demand (not in CI). For each FILE (default: every file of the table
# below) universalmutator (PyPI) writes its mutants; a sample of them
# (GPUDF_MUT_SAMPLE per file, default 80, a fixed shuffle of GPUDF_MUT_SEED)
# is built one at a time into a private copy of the source tree, and the
# tests that cover that file (the ctest name filter of the table) run
# against each mutant with a time limit. A mutant the compiler refuses
# (-Werror included) is dropped after its one compile; a mutant some test
# fails on, or that runs past the limit, is killed; the others survive.
#
# Survivors listed in tests/mutation/equivalent.tsv (file, line text,
# mutated line text, reason: mutant numbers change with every edit, line
# text does not) are equivalent and leave the score; any other survivor is
# printed with its line and makes the run fail: kill it with a test, or list
# it with a one-line reason. The score is killed / (run - equivalent).
#
# GPUDF_MUT_DIR: work folder (default build-mut; venv, source copies, build
# folders, mutants, results/<UTC time>.tsv). GPUDF_MUT_JOBS: mutants built and
# tested at once (default 1; each has its own source copy and build folder).
# GPUDF_MUT_TIMEOUT: seconds the tests of one mutant may take beyond three
# times the original's (default 60); past them the tests' processes are
# stopped, all of them (SIGTERM, then SIGKILL, then any process still
# running a program of the copy's build folder). GPUDF_MUT_RERUN=build-mut/results/STAMP.tsv
# runs only the mutants that survived there (same line, same mutation):
# after adding tests, the check that they kill them. GPUDF_MUT_SCORE=that
# file only scores it again (after an edit of equivalent.tsv).
# GPUDF_MUT_LINES=FIRST-LAST samples only the mutants of those lines of the
# file (its new code, say: a sample of the whole file may miss it).
# GPUDF_MUT_LSAN=1 builds the copies with LeakSanitizer (-fsanitize=leak, in
# build-mut-lsan unless GPUDF_MUT_DIR says otherwise): the fault walks of
# tests/test_fault.cc then check for leaks after every step, as in the ASan
# pass of tests/run.sh, and a mutant that only leaks on an error path is
# killed (a leak at a test's exit fails it too). Standalone LeakSanitizer
# (GCC 12) once crashed in its own thread registry in Fault.ReadCsvInChunks,
# which starts hundreds of threads, unmutated (1 run in 2): check such a
# kill by running the mutant's tests again.
#
# The working tree is never written: mutants go into the copies only, and
# each copy gets its original file back after every mutant and on exit.
set -euo pipefail
# (The whole script is one block, read before it runs: an edit to this file
# during a run cannot change the run.)
{
cd "$(dirname "$0")/../.."
root=$PWD
lsan=${GPUDF_MUT_LSAN:-0}
dir=build-mut
[ "$lsan" = 1 ] && dir=build-mut-lsan
dir=${GPUDF_MUT_DIR:-$dir}
work=$(mkdir -p "$dir" && cd "$dir" && pwd)
sample=${GPUDF_MUT_SAMPLE:-80}
seed=${GPUDF_MUT_SEED:-1}
jobs=${GPUDF_MUT_JOBS:-1}
extra=${GPUDF_MUT_TIMEOUT:-60}
equiv=$root/tests/mutation/equivalent.tsv

# file -> the ctest name filter of the tests that cover it. Keep a file's
# filter to the suites that exercise it: every mutant runs all of them.
declare -A covers=(
  [host/descriptor.c]='^(Corrupt|CorruptDict|Categorical|Share|Security|Descriptor)\.'
  [host/segment.c]='^(Share|Security|Fault|ProcFault|Table|Api|Segment)\.'
  [engine/share/publish.c]='^(Corrupt|CorruptDict|Categorical|Share|Security|Fault|ProcFault)\.'
  [engine/share/attach.c]='^(Corrupt|CorruptDict|Categorical|Share|Security|Fault|ProcFault)\.'
  [host/cleanup.c]='^(Share|Security|Fault|ProcFault)\.'
  [host/proc.c]='^(Share|Security|ProcFault|Sweep|Segment)\.'
  [engine/load/csv_number.c]='^(Csv|CsvNumber|FuzzRegress)\.'
  [engine/load/csv.c]='^((Csv|CsvNumber|CsvParallel|Categorical)\.|Cli\.(BadCsv|ATextValue|DefaultPriceColumn|NoColumnOfAnAccepted))'
  [engine/load/csv_dict.c]='^((Csv|CsvParallel|Categorical)\.|Fault\.ReadCsv)'
  [engine/load/csv_threads.c]='^((Csv|CsvParallel)\.|Fault\.ReadCsvInChunks)'
  [engine/sweep/sweep_ctl.c]='^(Sweep|SweepBadInput|ProcFault)\.'
  [engine/sweep/sweep_worker.c]='^(Sweep|SweepBadInput|SweepSplit|SweepSeries|ProcFault)\.'
  [engine/sweep/sweep_split.c]='^SweepSplit\.|^Fault\.SweepRowSplit|^MultiDevice\.WorkersZeroRunsAThreadPerReplicaDeviceInThisProcess$'
  [kernels/filter_agg/filter_agg_math.h]='^(FilterAgg|FilterAggValidation|Kernels|KHistogram|FuzzRegress)\.'
  [kernels/common/k_hd.h]='^(FilterAgg|FilterAggValidation|Kernels|KHistogram|KGroupbyAgg|KBootstrap|FuzzRegress)\.'
  [kernels/histogram/histogram_math.h]='^(KHistogram|Kernels|FuzzRegress)\.'
  [kernels/histogram/histogram.c]='^(KHistogram|Kernels|FuzzRegress)\.'
  [kernels/filter_agg/filter_agg.c]='^(FilterAgg|FilterAggValidation|Kernels|FuzzRegress)\.'
  [kernels/groupby_agg/groupby_agg.c]='^(KGroupbyAgg|Kernels|FuzzRegress)\.'
  [kernels/ma_crossover/ma_crossover.c]='^(KMaCrossover|Kernels|SweepSeries|SweepSeriesTime|MaSeriesLaunch)\.'
  [kernels/ma_crossover/ma_crossover_math.h]='^((KMaCrossover|Kernels)\.|cli_equity$)'
  [kernels/ma_crossover/ma_crossover_series.h]='^(MaSeriesLaunch|SweepSeries)\.'
  [kernels/bootstrap/bootstrap.c]='^(KBootstrap|Kernels)\.'
  [kernels/corr/corr.c]='^(KCorr|KernelsOnEveryPlacement)\.'
  [kernels/corr/corr_math.h]='^(KCorr|KernelsOnEveryPlacement)\.'
  [engine/device/device.c]='^(SimDevice|FaultSim|DeviceApi|KernelsOnEveryPlacement)\.'
)
if [ $# -eq 0 ]; then
  mapfile -t files < <(printf '%s\n' "${!covers[@]}" | sort)
else
    files=("$@")
  fi
  for f in "${files[@]}"; do
    [ -n "${covers[$f]:-}" ] || { echo "no test filter for $f: add it to the table in $0" >&2; exit 2; }
  done

  case ${GPUDF_MUT_LINES:-1-1} in
  [0-9]*-[0-9]*) ;;
  *) echo "GPUDF_MUT_LINES='$GPUDF_MUT_LINES': give FIRST-LAST, line numbers of the file" >&2; exit 2 ;;
  esac

  # The tool, in a venv of the work folder.
  venv=$work/venv
  if [ -z "${GPUDF_MUT_SCORE:-}" ] && [ ! -x "$venv/bin/mutate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q universalmutator
  fi

  # A copy of the working tree (tracked and untracked-not-ignored files) and
  # its build. The copy is brought to the tree's content file by file: a file
  # whose content differs (or is new) is written now, so its mtime is newer
  # than anything built from the old text, and a file of the same content
  # keeps its mtime (nothing rebuilt for it). Copying the tree's own mtimes
  # instead missed a file edited while the copy's first build ran: older
  # than its object, built from the old text, and never rebuilt.
  prepare_copy() {
    local w=$work/w$1 f
    rm -rf "$w/new"
    mkdir -p "$w/src" "$w/new"
    (cd "$root" && git ls-files -co --exclude-standard -z |
      while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -) |
      tar -xf - -C "$w/new"
    (cd "$w/new" && find . -type f -print0) |
      while IFS= read -r -d '' f; do
        cmp -s "$w/new/$f" "$w/src/$f" && continue
        mkdir -p "$(dirname "$w/src/$f")"
        rm -f "$w/src/$f"
        cp "$w/new/$f" "$w/src/$f"
      done
    (cd "$w/src" && find . -type f -print0) |
      while IFS= read -r -d '' f; do [ -e "$w/new/$f" ] || rm -f "$w/src/$f"; done
    rm -rf "$w/new"
    local san=()
    [ "$lsan" = 1 ] && san=(-DCMAKE_C_FLAGS=-fsanitize=leak
      "-DCMAKE_CXX_FLAGS=-fsanitize=leak -DGPUDF_TEST_LSAN=1"
      -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=leak -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=leak)
    cmake -S "$w/src" -B "$w/build" -G Ninja -DGPUDF_CUDA=OFF -DGPUDF_WERROR=ON \
      -DGPUDF_BUILD_BENCH=OFF -DGPUDF_FAULT_INJECTION=ON \
      -DCMAKE_LINK_DEPENDS_NO_SHARED=ON "${san[@]}" >/dev/null
    cmake --build "$w/build" -j 2 >"$w/build.log" 2>&1 ||
      { echo "the unmutated copy does not build: $w/build.log" >&2; return 1; }
  }

  # reap DIR LOG: kills (SIGKILL, by pid) every process of this user still
  # running a program of the build folder DIR, and says so in LOG. A test
  # that a time limit stopped can leave its process behind: a sweep turns
  # SIGTERM into a cancel, which a mutant that loops never reads, and its
  # workers follow their owner only when it dies.
  reap() {
    local dir=$1 log=$2 p exe
    for p in /proc/[0-9]*; do
      exe=$(readlink "$p/exe" 2>/dev/null) || continue
      case $exe in
      "$dir"/*) kill -KILL "${p#/proc/}" 2>/dev/null &&
                  echo "killed pid ${p#/proc/} ($exe), left by the tests" >>"$log" ;;
      esac
    done
    return 0
  }

  # run_tests DIR LIMIT FILTER LOG: the tests of FILTER in the build folder
  # DIR, within LIMIT seconds: ctest's own limit for each test (tests that
  # have none of their own), then timeout's SIGTERM to ctest's process
  # group, its SIGKILL 10 s later, and reap for whatever ran on. Prints the
  # exit status (124 or 137: past the limit).
  run_tests() {
    local dir=$1 limit=$2 filter=$3 log=$4 rc=0
    timeout -k 10 "$limit" ctest --test-dir "$dir" -R "$filter" -LE gpu \
      --timeout "$limit" --stop-on-failure -j 1 >"$log" 2>&1 || rc=$?
    reap "$dir" "$log"
    echo "$rc"
  }

  # One line of a mutant: "LINE<TAB>original text<TAB>mutated text"; a line
  # the mutant inserts reads "after: <the line before it>" as its original.
  describe() {
    { diff "$1" "$2" || true; } | awk '
      NR == 1 { n = $0 + 0; if ($0 ~ /^[0-9]+a/) { insert = 1; n++ } }
      /^< / && !old { old = substr($0, 3) }
      /^> / && !new { new = substr($0, 3) }
      END { if (insert) { getline prev < before; for (i = 1; i < n - 1; i++) getline prev < before
                          old = "after: " prev }
            gsub(/^[ \t]+|[ \t]+$/, "", old); gsub(/^[ \t]+|[ \t]+$/, "", new)
            sub(/^after: [ \t]+/, "after: ", old)
            printf "%d\t%s\t%s\n", n, old, new }' before="$1"
  }

  # test_mutant WORKER FILE MUTANT LIMIT FILTER: prints the outcome.
  test_mutant() {
    local w=$work/w$1 file=$2 mutant=$3 limit=$4 filter=$5
    # cp writes the file now (its mtime is not the mutant's): newer than the
    # objects the last build made, so the build sees it.
    cp "$mutant" "$w/src/$file"
    local outcome
    if ! cmake --build "$w/build" -j 1 >"$w/mutant-build.log" 2>&1; then
      outcome=dropped
    else
      local rc
      rc=$(run_tests "$w/build" "$limit" "$filter" "$w/mutant-test.log")
      if [ "$rc" = 0 ]; then outcome=survived
      elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then outcome=timeout
      else outcome=killed
      fi
    fi
    cp "$w/orig" "$w/src/$file"
    echo "$outcome"
  }

  # run_worker K FILE LIMIT: mutants K, K+jobs, ... of FILE's sample.
  run_worker() {
    local k=$1 file=$2 limit=$3 w=$work/w$1
    local i=0 m
    while read -r m; do
      if [ $((i % jobs)) = "$k" ]; then
        local desc outcome
        desc=$(describe "$w/orig" "$m")
        outcome=$(test_mutant "$k" "$file" "$m" "$limit" "${covers[$file]}")
        printf '%s\t%s\t%s\t%s\n' "$outcome" "$file" "$desc" "$(basename "$m")" >>"$w/results.tsv"
        printf '  %-8s %s:%s\n' "$outcome" "$file" "$(cut -f1,3 <<<"$desc" | tr '\t' ' ')"
      fi
      i=$((i + 1))
    done <"$work/sample.txt"
  }

  # shellcheck disable=SC2317  # (called by the trap)
  restore_all() {
    for ((k = 0; k < jobs; k++)); do
      [ -f "$work/w$k/orig" ] && [ -n "${current:-}" ] && cp "$work/w$k/orig" "$work/w$k/src/$current"
    done
    return 0
  }
  trap restore_all EXIT INT TERM

  if [ -n "${GPUDF_MUT_SCORE:-}" ]; then
    results=$GPUDF_MUT_SCORE
  else
  for ((k = 0; k < jobs; k++)); do prepare_copy "$k"; done
  stamp=$(date -u +%Y-%m-%dT%H%M%S)
  mkdir -p "$work/results"
  results=$work/results/$stamp.tsv
  : >"$results"

  for file in "${files[@]}"; do
    current=$file
    filter=${covers[$file]}
    # The tests must pass on the original, and how long they take sets the limit.
    t0=$(date +%s)
    rc=$(run_tests "$work/w0/build" 3600 "$filter" "$work/baseline.log")
    [ "$rc" = 0 ] || { echo "$file: its tests fail unmutated ($work/baseline.log)" >&2; exit 1; }
    base=$(($(date +%s) - t0))
    limit=$((3 * base + extra))
    ntests=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$work/baseline.log")
    mdir=$work/mutants/$(echo "$file" | tr / _)
    rm -rf "$mdir" && mkdir -p "$mdir"
    "$venv/bin/mutate" "$root/$file" c --noCheck --mutantDir "$mdir" >"$mdir.log" 2>&1
    total=$(find "$mdir" -name '*.mutant.*' | wc -l)
    # A fixed sample; mutants the compiler refuses are dropped, and the sample
    # is topped up from the same shuffle until it has GPUDF_MUT_SAMPLE built.
    find "$mdir" -name '*.mutant.*' | sort -V |
      shuf --random-source=<(yes "$seed") >"$work/shuffled.txt"
    if [ -n "${GPUDF_MUT_LINES:-}" ]; then
      # Only the mutants whose changed line is within FIRST-LAST.
      first=${GPUDF_MUT_LINES%-*} last=${GPUDF_MUT_LINES#*-}
      while read -r m; do
        n=$(describe "$root/$file" "$m" | cut -f1)
        [ "$n" -ge "$first" ] && [ "$n" -le "$last" ] && echo "$m"
      done <"$work/shuffled.txt" >"$work/lines.txt" || true
      mv "$work/lines.txt" "$work/shuffled.txt"
      total=$(wc -l <"$work/shuffled.txt")
    fi
    if [ -n "${GPUDF_MUT_RERUN:-}" ]; then
      # Only the survivors of an earlier run: the mutants of this file whose
      # line and mutation are those of a survivor there.
      awk -F'\t' -v f="$file" '$1 == "survived" && $2 == f { print $4 "\t" $5 }' \
        "$GPUDF_MUT_RERUN" | sort -u >"$work/wanted.txt"
      while read -r m; do
        describe "$root/$file" "$m" | cut -f2,3 | grep -qxFf "$work/wanted.txt" && echo "$m"
      done <"$work/shuffled.txt" >"$work/rerun.txt" || true
      mv "$work/rerun.txt" "$work/shuffled.txt"
      total=$(wc -l <"$work/shuffled.txt")
      sample=$total
    fi
    echo "== $file: $total mutants, $ntests tests ($filter, ${base}s; limit ${limit}s each)"
    for ((k = 0; k < jobs; k++)); do
      cp "$root/$file" "$work/w$k/orig"
      : >"$work/w$k/results.tsv"
    done
    taken=0
    built=0
    while [ "$built" -lt "$sample" ] && [ "$taken" -lt "$total" ]; do
      want=$((sample - built))
      sed -n "$((taken + 1)),$((taken + want))p" "$work/shuffled.txt" >"$work/sample.txt"
      taken=$((taken + $(wc -l <"$work/sample.txt")))
      for ((k = 0; k < jobs; k++)); do
        : >"$work/w$k/results.tsv"
        run_worker "$k" "$file" "$limit" &
      done
      wait
      for ((k = 0; k < jobs; k++)); do cat "$work/w$k/results.tsv" >>"$results"; done
      built=$(awk -F'\t' -v f="$file" '$2 == f && $1 != "dropped"' "$results" | wc -l)
    done
    for ((k = 0; k < jobs; k++)); do cp "$work/w$k/orig" "$work/w$k/src/$file"; done
    current=
    cmake --build "$work/w0/build" -j 2 >/dev/null
  done
fi

# A rerun's score is that of the earlier run with the rerun's outcomes in
# place of the survivors it ran again.
if [ -n "${GPUDF_MUT_RERUN:-}" ] && [ -z "${GPUDF_MUT_SCORE:-}" ]; then
  awk -F'\t' 'NR == FNR { again[$2 FS $4 FS $5] = 1; print; next }
              !($1 == "survived" && ($2 FS $4 FS $5) in again)' \
    "$results" "$GPUDF_MUT_RERUN" >"${results%.tsv}-with-earlier.tsv"
  results=${results%.tsv}-with-earlier.tsv
fi

# The score, with survivors checked against the list of equivalent mutants.
echo "== results ($results)"
status=0
for file in "${files[@]}"; do
  awk -F'\t' -v f="$file" -v eqf="$equiv" '
    BEGIN { while ((getline l < eqf) > 0) { if (l ~ /^#/ || l == "") continue
              split(l, e, "\t"); eq[e[1] "\t" e[2] "\t" e[3]] = e[4] } }
    $2 != f { next }
    $1 == "dropped" { dropped++; next }
    $1 == "killed" || $1 == "timeout" { killed++; if ($1 == "timeout") timeouts++; next }
    $1 == "survived" {
      key = $2 "\t" $4 "\t" $5
      if (key in eq) { equivalent++; next }
      survived++
      printf "  SURVIVED %s:%s: %s  ==>  %s\n", $2, $3, $4, $5 }
    END { run = killed + survived + equivalent
          score = run - equivalent > 0 ? 100 * killed / (run - equivalent) : 0
          printf "%s: %d run (%d killed, %d of them by the time limit; %d survived; " \
                 "%d equivalent), %d dropped (do not compile): score %.1f%%\n",
                 f, run, killed, timeouts, survived, equivalent, dropped, score
          exit survived > 0 }' "$results" || status=1
done
exit $status
}
