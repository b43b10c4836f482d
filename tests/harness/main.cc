// main.cc - the test main. Each test process (ctest runs one per test case)
// gets a shared-memory directory of its own under /dev/shm, which every
// process it starts inherits through GPUDF_SHM_DIR. Tests can then kill
// owners and look at what they left without another test's library calls
// sweeping it first, and at exit the directory must be empty: whatever a
// test leaves behind fails the run. Directories of test processes that were
// killed before they could remove theirs are removed first (shm_dirs.h).
#include <dirent.h>
#include <gpudf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "shm_dirs.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static std::vector<std::string> Entries(const std::string &dir) {
  std::vector<std::string> out;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string dir;
  int lock_fd = -1;
  if (!std::getenv("GPUDF_SHM_DIR")) {
    harness::RemoveStaleTestDirs("/dev/shm", getpid());
    dir = harness::MakeTestDir("/dev/shm", getpid(), &lock_fd);
    if (!dir.empty()) setenv("GPUDF_SHM_DIR", dir.c_str(), 1);
    // else: fall back to /dev/shm itself
  }
  int rc = RUN_ALL_TESTS();
  if (!dir.empty()) {
    gpudf_cleanup(nullptr);  // what killed children left
    for (const auto &e : Entries(dir)) {
      std::fprintf(stderr, "left behind in %s: %s\n", dir.c_str(), e.c_str());
      unlink((dir + "/" + e).c_str());
      rc = 1;
    }
    rmdir(dir.c_str());
    close(lock_fd);
  }
  return rc;
}
