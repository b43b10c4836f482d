// Segments and the shm directory at their edges: share names byte by byte,
// the out-of-space message in full, the directory when GPUDF_SHM_DIR is
// unset, empty or missing. Written to kill the mutants of host/segment.c
// that the other tests let survive (tests/mutation/run.sh).
#include <gpudf.h>
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <random>
#include <regex>
#include <string>

#include "datagen.h"
#include "harness.h"
#include "proc.h"

namespace {

bool Allowed(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

// Random names of the allowed bytes are published and attached; one byte
// outside them at a random place is refused, the message naming it.
TEST(Segment, ShareNameBytes) {
  std::mt19937_64 rng(harness::StressSeed());
  const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
  gpudf_table *t = nullptr;
  ASSERT_EQ(tg_make_table(8, rng(), &t), GPUDF_OK);
  for (char special : {'.', '_', '-'}) {
    std::string name = harness::UniqueName("n");
    name += special;
    for (int i = 0; i < 8; i++) name += alphabet[rng() % alphabet.size()];
    gpudf_share *s = nullptr;
    ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK)
        << name << ": " << gpudf_last_error();
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << name << ": " << gpudf_last_error();
    EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(t));
    gpudf_table_free(v);
    gpudf_share_close(s);
  }
  for (unsigned b = 1; b < 256; b++) {
    if (Allowed((unsigned char)b)) continue;
    std::string name(1 + rng() % 20, 'x');
    for (auto &ch : name) ch = alphabet[rng() % alphabet.size()];
    size_t at = rng() % (name.size() + 1);
    name.insert(name.begin() + (long)at, (char)b);
    if (name == "." || name == "..") continue;
    gpudf_share *s = nullptr;
    ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_EINVAL)
        << "byte " << b;
    char want[64];
    snprintf(want, sizeof want, "has byte 0x%02x at position %zu; use only", b, at);
    EXPECT_NE(std::string(gpudf_last_error()).find(want), std::string::npos)
        << gpudf_last_error() << "\nexpected: " << want;
  }
  gpudf_table_free(t);
}

// The out-of-space message says every size, each as a number and a unit;
// with GPUDF_SHM_DIR unset or empty the directory it names is /dev/shm.
// (The directory's descriptor is kept from the first call, so the space
// is still that of this test's own directory.)
TEST(Segment, NoSpaceMessageInFull) {
  std::string dir = getenv("GPUDF_SHM_DIR") ? getenv("GPUDF_SHM_DIR") : "";
  const std::string size = "[0-9]+(\\.[0-9])? (B|KiB|MiB|GiB|TiB|PiB|EiB)";
  for (int env = 0; env < 3; env++) {
    std::string named = dir.empty() ? "/dev/shm" : dir;
    if (env == 1) {
      unsetenv("GPUDF_SHM_DIR");
      named = "/dev/shm";
    } else if (env == 2) {
      setenv("GPUDF_SHM_DIR", "", 1);
      named = "/dev/shm";
    }
    gpudf_table *t = nullptr;
    ASSERT_EQ(gpudf_table_create(int64_t(1) << 40, &t), GPUDF_OK);  // 8 TiB of f64
    gpudf_status st = gpudf_table_add_column(t, "huge", GPUDF_TYPE_F64, (const void *)"x");
    std::string msg = gpudf_last_error();
    gpudf_table_free(t);
    if (!dir.empty()) setenv("GPUDF_SHM_DIR", dir.c_str(), 1);
    ASSERT_EQ(st, GPUDF_ENOSPC) << msg;
    std::regex want("the table's shared memory needs 8\\.0 TiB more \\(8\\.0 TiB in all\\) "
                    "but " + named + " has only " + size + " free; free space there or "
                    "raise its size \\(docker run --shm-size=\\.\\.\\., or mount -o "
                    "remount,size=\\.\\.\\. " + named + "\\)");
    EXPECT_TRUE(std::regex_search(msg, want)) << "GPUDF_SHM_DIR case " << env << ": " << msg;
  }
}

// A shm directory that cannot be opened is an error that names it, and is
// not remembered: the next call opens the directory again. ctest runs each
// test in a process of its own, so the first open happens here; after
// another test in the same process the directory is open already.
TEST(Segment, MissingShmDirectoryIsAnErrorNotRemembered) {
  std::string dir = getenv("GPUDF_SHM_DIR") ? getenv("GPUDF_SHM_DIR") : "";
  std::string missing = (dir.empty() ? std::string("/dev/shm") : dir) + "/no-such-dir";
  setenv("GPUDF_SHM_DIR", missing.c_str(), 1);
  gpudf_table *t = nullptr;
  gpudf_status st = gpudf_table_create(4, &t);
  std::string msg = gpudf_last_error();
  if (dir.empty()) unsetenv("GPUDF_SHM_DIR");
  else setenv("GPUDF_SHM_DIR", dir.c_str(), 1);
  if (st == GPUDF_OK) {
    gpudf_table_free(t);
    GTEST_SKIP() << "the shm directory was opened by an earlier test of this process";
  }
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(st, GPUDF_ENOENT) << msg;
  EXPECT_NE(msg.find("cannot open the shared-memory directory " + missing +
                     ": No such file or directory"), std::string::npos) << msg;
  double x[4] = {1, 2, 3, 4};
  ASSERT_EQ(gpudf_table_create(4, &t), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_column(t, "x", GPUDF_TYPE_F64, x), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(((const double *)gpudf_table_column_data(t, 0))[3], 4.0);
  gpudf_table_free(t);
}

// A process whose start time cannot be read from /proc/self/stat creates
// no segment (its name would carry 0, and others would judge its owner
// dead), and says so. Fault-injection builds only: a forked child (which
// reads its own start time afresh; the shm directory is open already)
// fails every file call.
TEST(Segment, UnreadableStartTimeIsAnError) {
  void (*arm)(int, long, int) = nullptr;
  long (*disarm)(void) = nullptr;
  *(void **)(&arm) = dlsym(RTLD_DEFAULT, "gdf_fault_arm");
  *(void **)(&disarm) = dlsym(RTLD_DEFAULT, "gdf_fault_disarm");
  if (!arm || !disarm) GTEST_SKIP() << "libgpudf was built without fault injection";
  gpudf_table *warm = nullptr;  // the shm directory opened before the fork
  ASSERT_EQ(gpudf_table_create(1, &warm), GPUDF_OK) << gpudf_last_error();
  gpudf_table_free(warm);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    arm(1 /* GDF_FAULT_FILE */, 1, 1);  // every file call fails
    gpudf_table *t = nullptr;
    gpudf_status st = gpudf_table_create(1, &t);
    disarm();
    bool said = std::string(gpudf_last_error()).find(
                    "cannot read the start time of this process from /proc/self/stat") !=
                std::string::npos;
    gpudf_table_free(t);
    _exit(st == GPUDF_EIO && t == nullptr && said ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "a failed read of /proc/self/stat was not EIO with its message";
}

// Field 22 of /proc/self/stat (the start time in clock ticks), read here.
unsigned long long OwnStartTime() {
  std::ifstream f("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  for (int i = 3; i <= 22; i++) rest >> field;  // fields 3 (state) .. 22
  return std::stoull(field);
}

// A segment names its owner by pid and start time. A pid that exists but
// started at another time is a reused pid: the owner is dead and cleanup
// removes its segments; the segments of the live owner (the same pid, its
// own start time) stay.
TEST(Segment, CleanupTellsAReusedPidFromTheLiveOwner) {
  gpudf_table *warm = nullptr;  // the shm directory exists and is ours
  ASSERT_EQ(gpudf_table_create(1, &warm), GPUDF_OK) << gpudf_last_error();
  gpudf_table_free(warm);
  unsigned long long start = OwnStartTime();
  std::string own = "gpudf-" + std::to_string(geteuid()) + "+a." + std::to_string(getpid()) + ".";
  std::string reused = harness::ShmPath(own + std::to_string(start + 1) + ".999999");
  std::string earlier = harness::ShmPath(own + std::to_string(start - 1) + ".999998");
  std::string live = harness::ShmPath(own + std::to_string(start) + ".999997");
  for (const std::string &p : {reused, earlier, live}) {
    FILE *f = std::fopen(p.c_str(), "w");
    ASSERT_NE(f, nullptr) << p;
    std::fclose(f);
  }
  int removed = 0;
  ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK) << gpudf_last_error();
  EXPECT_NE(access(reused.c_str(), F_OK), 0) << "a segment of a reused pid survived cleanup";
  EXPECT_NE(access(earlier.c_str(), F_OK), 0) << "a segment of a reused pid survived cleanup";
  EXPECT_EQ(access(live.c_str(), F_OK), 0) << "cleanup removed a live owner's segment";
  EXPECT_GE(removed, 2);
  unlink(reused.c_str());
  unlink(earlier.c_str());
  unlink(live.c_str());
}

// A stat line's command name may hold spaces and ')': the fields resume
// after the last ')'. A line cut short, or without that form, reads as no
// process (0), never as a start time taken from the wrong field.
TEST(Segment, StatLinesAreReadAfterTheLastParenthesis) {
  std::string tail;
  for (int field = 4; field <= 21; field++) tail += " " + std::to_string(field * 11);
  char state = '?';
  EXPECT_EQ(gdf_proc_parse_stat(("42 (sh) S" + tail + " 987654 1 2").c_str(), &state), 987654u);
  EXPECT_EQ(state, 'S');
  state = '?';
  EXPECT_EQ(gdf_proc_parse_stat(("42 (a) b) Z c) R" + tail + " 0100 7").c_str(), &state), 100u)
      << "the start time is decimal, after the last ')'";
  EXPECT_EQ(state, 'R');
  for (const std::string &bad :
       {"42 (sh) S" + tail, "42 (sh) S" + tail.substr(0, tail.size() / 2), std::string("42 (sh)"),
        "42 (sh)S" + tail + " 5", "42 sh S" + tail + " 5", std::string("")}) {
    state = '?';
    EXPECT_EQ(gdf_proc_parse_stat(bad.c_str(), &state), 0u) << "'" << bad << "'";
  }
  EXPECT_EQ(gdf_proc_start_time(getpid()), OwnStartTime());
}

// Out of file descriptors, /proc cannot be read: that is no proof that a
// process is dead (judging a live owner dead would remove the segments it
// uses), so every process counts as alive then.
TEST(Segment, AProcessThatCannotBeLookedAtCountsAsAlive) {
  unsigned long long parent_start = OwnStartTime();
  pid_t parent = getpid();
  pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
  EXPECT_FALSE(gdf_proc_alive(gone, 1)) << "a reaped child is alive";
  EXPECT_FALSE(gdf_proc_alive(parent, parent_start + 1)) << "a reused pid is the owner";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit lim = {0, 0};  // no descriptor can be opened now
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(3);
    int code = 0;
    if (!gdf_proc_alive(parent, parent_start)) code |= 1;
    if (!gdf_proc_alive(gone, 1)) code |= 2;  // unknown: alive
    if (!gdf_proc_alive(parent, parent_start + 1)) code |= 4;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 1 the live parent, 2 a reaped pid, 4 a reused "
                                       "pid judged dead without /proc (3: setrlimit failed)";
}

// A process may run with its standard input closed (a daemon): the next
// file it opens is descriptor 0, and /proc/self/stat read through it gives
// the same start time as through any other, so such an owner still knows
// its segments as its own.
TEST(Segment, AnOwnerWithStandardInputClosedKnowsItsStartTime) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    unsigned long long own = OwnStartTime();  // read while descriptor 0 is taken
    close(0);
    int code = 0;
    if (gdf_proc_start_time(getpid()) != own) code |= 1;
    if (!gdf_proc_alive(getpid(), own)) code |= 2;
    if (gdf_proc_alive(getpid(), own + 1)) code |= 4;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 1 the start time read through descriptor 0 is "
                                       "wrong, 2 the owner judged dead, 4 a reused pid alive";
}

// Whichever single file call fails during gpudf_cleanup (the directory, an
// entry, the open or the read of an owner's /proc/PID/stat: EIO, EMFILE),
// the segments of a live owner stay: a stat file that cannot be read is no
// proof of death. Fault-injection builds only: every call of the walk fails
// once in turn.
TEST(Segment, CleanupNeverRemovesALiveOwnersSegmentWhateverFileCallFails) {
  void (*arm)(int, long, int) = nullptr;
  long (*disarm)(void) = nullptr;
  int (*fired)(void) = nullptr;
  *(void **)(&arm) = dlsym(RTLD_DEFAULT, "gdf_fault_arm");
  *(void **)(&disarm) = dlsym(RTLD_DEFAULT, "gdf_fault_disarm");
  *(void **)(&fired) = dlsym(RTLD_DEFAULT, "gdf_fault_fired");
  if (!arm || !disarm || !fired) GTEST_SKIP() << "libgpudf was built without fault injection";
  gpudf_table *warm = nullptr;  // the shm directory exists and is ours
  ASSERT_EQ(gpudf_table_create(1, &warm), GPUDF_OK) << gpudf_last_error();
  gpudf_table_free(warm);
  std::string own = "gpudf-" + std::to_string(geteuid()) + "+a." + std::to_string(getpid()) + ".";
  std::string live = harness::ShmPath(own + std::to_string(OwnStartTime()) + ".999996");
  FILE *f = std::fopen(live.c_str(), "w");
  ASSERT_NE(f, nullptr) << live;
  std::fclose(f);
  long n = 1;
  for (; n <= 100000; n++) {
    arm(1 /* GDF_FAULT_FILE */, n, 0);
    gpudf_cleanup(nullptr);
    disarm();
    bool hit = fired();
    ASSERT_EQ(access(live.c_str(), F_OK), 0)
        << "cleanup removed a live owner's segment when file call " << n << " failed";
    if (!hit) break;
  }
  EXPECT_GT(n, 2) << "the walk failed no call";
  unlink(live.c_str());
}

}  // namespace
