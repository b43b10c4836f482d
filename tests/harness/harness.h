// harness.h - spawn, read, kill and reap the harness child from GoogleTest,
// and inspect what the library left in the shared-memory directory.
#ifndef GPUDF_TEST_HARNESS_H
#define GPUDF_TEST_HARNESS_H

#include <sys/types.h>

#include <string>
#include <vector>

namespace harness {

struct Child {
  pid_t pid = -1;
  int out = -1;  // the child's stdout
  std::string buffered;
};

// Starts gpudf-test-child with args (posix_spawn, stdout piped).
Child Spawn(const std::vector<std::string> &args);
// Next line of the child's stdout, or "" after timeout_ms or at EOF.
std::string ReadLine(Child &c, int timeout_ms = 10000);
// Waits up to timeout_ms for exit; SIGKILLs it after that. Returns the wait
// status, or -1 when it had to be killed.
int Wait(Child &c, int timeout_ms = 10000);
// SIGKILLs and reaps.
void Kill(Child &c);

// Names of this user's gpudf segments in the shm directory.
std::vector<std::string> ShmEntries();
// A share name no other test (or earlier run) uses.
std::string UniqueName(const std::string &stem);
// Path of a file in the shm directory.
std::string ShmPath(const std::string &file);
// The public file name of share `name` ("gpudf-<uid>-<name>").
std::string PublicFile(const std::string &name);
// Open file descriptors of this process.
int CountFds();
// Lines of /proc/self/maps: the number of mappings of this process.
int CountMaps();
// Mappings of files in the shm directory: the library's segments. (Unlike
// CountMaps, this does not move with the allocator, ASan's included.)
int CountShmMaps();
// Resident set size of this process in KiB (VmRSS), or -1.
long RssKiB();
// Processes whose parent is `parent` and whose command name is `comm`
// ("gpudf-worker"); zombies only when with_zombies.
std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string &comm, bool with_zombies);

// Stress and fault tests: the seed of their random choices (from
// $GPUDF_STRESS_SEED, else the clock; printed so a failure can be replayed)
// and their iteration count ($GPUDF_STRESS_ITERS, else dflt).
unsigned long long StressSeed();
int StressIters(int dflt);

}  // namespace harness

#endif
