// shm_dirs.h - the shared-memory directories of test processes
// (ROOT/gpudf-test.<pid>, ROOT being /dev/shm), and their removal once the
// process that made one is gone.
//
// A test process killed from outside (a ctest or mutation-run time limit,
// SIGKILL) never reaches the end of main, which removes its directory; the
// directory and whatever segments its tests had then stay in /dev/shm. So
// every test process, before it makes its own, removes those whose
// process is dead. The rules, so that a live test (of this build, of
// another tree, of a ctest -j running beside it) never loses its directory:
//   - only names "gpudf-test.<pid>" exactly (decimal, no leading zero), only
//     directories (never through a symbolic link), only this user's;
//   - only when kill(pid, 0) says no such process (ESRCH) or the process is
//     a zombie (its killed parent never reaped it), checked before and
//     again after taking the directory's lock;
//   - only when the directory's flock can be taken: a test process holds
//     its own directory's lock from right after mkdir until it exits, which
//     covers a process whose pid another namespace hides or that was just
//     given a dead process's pid.
#ifndef GPUDF_TEST_SHM_DIRS_H
#define GPUDF_TEST_SHM_DIRS_H

#include <sys/types.h>

#include <string>

namespace harness {

// The pid of ROOT's entry `name` when it is "gpudf-test.<pid>", else -1.
pid_t TestDirPid(const std::string &name);

// Removes root's test directories whose process is dead (by the rules
// above) with everything in them; returns how many it removed. The one of
// `self` is taken as dead (this process has its pid now) but still only
// when its lock is free.
int RemoveStaleTestDirs(const std::string &root, pid_t self);

// Makes root/gpudf-test.<self> (first removing a stale one of that name)
// and takes its lock, held by *lock_fd (close-on-exec: children do not
// hold it) until this process exits. Returns the path, or "" when it could
// not be made.
std::string MakeTestDir(const std::string &root, pid_t self, int *lock_fd);

}  // namespace harness

#endif
