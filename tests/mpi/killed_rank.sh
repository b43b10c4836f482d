#!/bin/sh
# tests/mpi/killed_rank.sh CHECK DIR MPIEXEC... (ctest
# Mpi.AKilledRankEndsTheJobAndLeavesNothingAfterCleanup): a rank SIGKILLed
# mid-sweep makes mpirun end the job with a failure, and after the next
# library call (gpudf_cleanup) nothing of the job is left in its shm
# directory. No ULFM: the job is over, not repaired.
check=$1 dir=$2
shift 2
rm -rf "$dir"
out=$("$@" -n 2 "$check" die "$dir" 2>&1)
rc=$?
echo "$out"
if [ $rc -eq 0 ]; then
  echo "FAILED: mpirun exited 0 although a rank was killed"
  exit 1
fi
if echo "$out" | grep -q "returned although"; then
  echo "FAILED: a rank went on after another was killed"
  exit 1
fi
if ! echo "$out" | grep -qi "signal 9\|killed"; then
  echo "FAILED: mpirun did not say that a rank was killed"
  exit 1
fi
echo "mpirun exited $rc after the kill"
# mpirun can return while a rank it ended is still exiting (seen under load:
# its segments then have a live owner, which gpudf_cleanup rightly keeps):
# the next library call is made once the job's processes are gone (waited
# for as an event, bounded at 60 s).
i=0
while pgrep -f "$check die $dir" >/dev/null 2>&1 && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
"$check" cleanup "$dir" || exit 1
echo OK
