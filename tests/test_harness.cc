// test_harness.cc - the test main's shared-memory directories: a test
// process killed from outside leaves its /dev/shm/gpudf-test.<pid>, and the
// next test process removes it, never the directory of a live one
// (harness/shm_dirs.h).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shm_dirs.h"

extern char **environ;

namespace {

bool Exists(const std::string &path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void WriteFile(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fputs("x", f);
  std::fclose(f);
}

// The pid of a process that has exited and been reaped.
pid_t DeadPid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  int ws;
  waitpid(p, &ws, 0);
  return p;
}

// A child that made its own test directory in root the way the test main
// does, put a segment-like file and a folder in it, and waits to be killed.
struct Holder {
  pid_t pid = -1;
  std::string dir;
};
Holder StartHolder(const std::string &root) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t p = fork();
  if (p == 0) {
    close(fds[0]);
    int lock_fd;
    std::string dir = harness::MakeTestDir(root, getpid(), &lock_fd);
    bool ok = !dir.empty() && mkdir((dir + "/sub").c_str(), 0700) == 0;
    int f = ok ? open((dir + "/sub/gpudf-0+a.1.2.3").c_str(), O_CREAT | O_WRONLY, 0600) : -1;
    ok = ok && f >= 0 && write(f, "x", 1) == 1;
    char c = ok ? '1' : '0';
    if (write(fds[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char c = '0';
  if (read(fds[0], &c, 1) != 1) c = '0';
  close(fds[0]);
  if (c != '1') return {};
  return {p, root + "/gpudf-test." + std::to_string(p)};
}

void KillAndReap(pid_t p) {
  kill(p, SIGKILL);
  int ws;
  waitpid(p, &ws, 0);
}

// Runs this test binary with no test selected and GPUDF_SHM_DIR unset (as
// ctest starts it): only its main's start and end run. Returns its wait status.
int RunTestMain() {
  std::vector<std::string> env;
  for (char **e = environ; *e; e++)
    if (std::strncmp(*e, "GPUDF_SHM_DIR=", 14) != 0) env.push_back(*e);
  std::vector<char *> envp;
  for (auto &e : env) envp.push_back(const_cast<char *>(e.c_str()));
  envp.push_back(nullptr);
  char exe[] = "/proc/self/exe", filter[] = "--gtest_filter=-*";
  char *argv[] = {exe, filter, nullptr};
  pid_t p;
  if (posix_spawn(&p, exe, nullptr, nullptr, argv, envp.data()) != 0) return -1;
  int ws;
  waitpid(p, &ws, 0);
  return ws;
}

}  // namespace

// The case the removal is for: a test process SIGKILLed (a time limit) with
// its directory full. The next test process's start removes it, and leaves
// the directory of a test process that still runs.
TEST(TestHarness, AKilledTestProcesssDirectoryIsRemovedByTheNextTestProcess) {
  Holder killed = StartHolder("/dev/shm");
  ASSERT_GT(killed.pid, 0);
  Holder live = StartHolder("/dev/shm");
  ASSERT_GT(live.pid, 0);
  KillAndReap(killed.pid);
  ASSERT_TRUE(Exists(killed.dir + "/sub/gpudf-0+a.1.2.3"));

  int ws = RunTestMain();
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << ws;
  EXPECT_FALSE(Exists(killed.dir)) << "left behind: " << killed.dir;
  EXPECT_TRUE(Exists(live.dir + "/sub/gpudf-0+a.1.2.3")) << "a live test's directory went";

  KillAndReap(live.pid);
  harness::RemoveStaleTestDirs("/dev/shm", getpid());
  EXPECT_FALSE(Exists(live.dir));
}

// What else may sit in /dev/shm is left alone: other names, what is not a
// directory, links, and a dead pid's directory whose lock a live process
// holds (a test process in another pid namespace, or one that was given
// the dead pid and has not taken its lock yet).
TEST(TestHarness, OnlyUnlockedDirectoriesOfDeadPidsWithTheExactNameAreRemoved) {
  char tmpl[] = "/tmp/gpudf-harness.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  pid_t dead[5];
  for (pid_t &d : dead) d = DeadPid();
  auto name = [&](pid_t p) { return root + "/gpudf-test." + std::to_string(p); };

  // Removed: a dead pid's directory, with files and folders inside.
  ASSERT_EQ(mkdir(name(dead[0]).c_str(), 0700), 0);
  ASSERT_EQ(mkdir((name(dead[0]) + "/a").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((name(dead[0]) + "/a/b").c_str(), 0700), 0);
  WriteFile(name(dead[0]) + "/gpudf-0+a.1.2.3");
  WriteFile(name(dead[0]) + "/a/b/c");
  // Removed: the directory of a zombie (exited, not reaped).
  pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  ASSERT_GT(zombie, 0);
  for (int i = 0; i < 1000; i++) {
    siginfo_t si{};
    if (waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == zombie) break;
    usleep(1000);
  }
  ASSERT_EQ(mkdir(name(zombie).c_str(), 0700), 0);
  WriteFile(name(zombie) + "/f");
  // Kept: other names around a dead pid, and live pids (the parent, pid 1).
  const std::string d1 = std::to_string(dead[1]);
  std::vector<std::string> others = {"gpudf-test." + d1 + "x", "gpudf-test.0" + d1,
                                     "gpudf-test.", "gpudf-test.+" + d1, "gpudf-test. " + d1,
                                     "gpudf-test.99999999999", "xgpudf-test." + d1,
                                     "gpudf-test." + std::to_string(getppid()), "gpudf-test.1"};
  for (const auto &o : others) {
    ASSERT_EQ(mkdir((root + "/" + o).c_str(), 0700), 0) << o;
    WriteFile(root + "/" + o + "/f");
  }
  // Kept: a file of that name, a link to a folder (and what it points to).
  WriteFile(name(dead[1]));
  ASSERT_EQ(mkdir((root + "/target").c_str(), 0700), 0);
  WriteFile(root + "/target/f");
  ASSERT_EQ(symlink((root + "/target").c_str(), name(dead[2]).c_str()), 0);
  // Kept: a dead pid's directory whose lock is held.
  ASSERT_EQ(mkdir(name(dead[3]).c_str(), 0700), 0);
  WriteFile(name(dead[3]) + "/f");
  int held = open(name(dead[3]).c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX), 0);

  EXPECT_EQ(harness::RemoveStaleTestDirs(root, getpid()), 2);
  EXPECT_FALSE(Exists(name(dead[0])));
  EXPECT_FALSE(Exists(name(zombie))) << "a zombie's directory stayed";
  int zs;
  waitpid(zombie, &zs, 0);
  for (const auto &o : others) EXPECT_TRUE(Exists(root + "/" + o + "/f")) << o;
  EXPECT_TRUE(Exists(name(dead[1])));
  EXPECT_TRUE(Exists(name(dead[2])));
  EXPECT_TRUE(Exists(root + "/target/f"));
  EXPECT_TRUE(Exists(name(dead[3]) + "/f"));

  // Once the lock is free it goes too.
  close(held);
  EXPECT_EQ(harness::RemoveStaleTestDirs(root, getpid()), 1);
  EXPECT_FALSE(Exists(name(dead[3])));

  // A new process given a dead one's pid makes its directory over the stale
  // one, empty, and holds its lock.
  ASSERT_EQ(mkdir(name(dead[4]).c_str(), 0700), 0);
  WriteFile(name(dead[4]) + "/f");
  int lock_fd = -1;
  EXPECT_EQ(harness::MakeTestDir(root, dead[4], &lock_fd), name(dead[4]));
  EXPECT_FALSE(Exists(name(dead[4]) + "/f"));
  int other = open(name(dead[4]).c_str(), O_RDONLY | O_DIRECTORY);
  EXPECT_NE(flock(other, LOCK_EX | LOCK_NB), 0) << "the new directory's lock is not held";
  close(other);
  EXPECT_EQ(harness::RemoveStaleTestDirs(root, getpid()), 0) << "removed while its lock is held";
  close(lock_fd);

  EXPECT_EQ(harness::TestDirPid("gpudf-test.2147483647"), 2147483647);
  EXPECT_EQ(harness::TestDirPid("gpudf-test.2147483648"), -1);
  EXPECT_EQ(harness::TestDirPid("gpudf-test.42"), 42);

  std::string rm = "rm -rf '" + root + "'";
  EXPECT_EQ(std::system(rm.c_str()), 0);
}
