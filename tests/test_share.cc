// Sharing and attaching: same process, other processes, dead owners, corrupt
// and foreign segments, and nothing left behind.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "datagen.h"
#include "descriptor.h"
#include "harness.h"

namespace {

using harness::Child;

// Every test of this binary must leave the shm directory as it found it:
// checked after the whole run, for everything this process created.
class NoLeftovers : public ::testing::Environment {
 public:
  void TearDown() override {
    std::string mine = "-" + std::to_string(getpid()) + "-";
    std::string own = "." + std::to_string(getpid()) + ".";
    for (const auto &e : harness::ShmEntries())
      if (e.find(mine) != std::string::npos || e.find(own) != std::string::npos)
        ADD_FAILURE() << "left behind in the shm directory: " << e;
  }
};
const auto *env = ::testing::AddGlobalTestEnvironment(new NoLeftovers);

struct Shared {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  ~Shared() {
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
};

void ShareGenerated(Shared &sh, int64_t rows, uint64_t seed, const char *stem = "tbl") {
  sh.name = harness::UniqueName(stem);
  ASSERT_EQ(tg_make_table(rows, seed, &sh.t), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_share(sh.t, sh.name.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_OK)
      << gpudf_last_error();
}

bool EntryExists(const std::string &needle) {
  for (const auto &e : harness::ShmEntries())
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

std::string ReadFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void WriteFile(const std::string &path, const std::string &bytes, mode_t mode = 0600) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  fchmod(fd, mode);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
  close(fd);
}

TEST(Share, AttachInProcessSeesTheSameData) {
  Shared sh;
  ShareGenerated(sh, 4099, 11);
  // auto: cpu here, a device placement where there is a device.
  if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_PINNED, nullptr)) {
    EXPECT_EQ(gpudf_share_backend(sh.s), GPUDF_BACKEND_CPU);
  }
  EXPECT_EQ(sh.name, gpudf_share_name(sh.s));
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_TRUE(gpudf_table_is_view(v));
  EXPECT_EQ(gpudf_table_nrows(v), 4099);
  ASSERT_EQ(gpudf_table_ncols(v), 5);
  for (int c = 0; c < 5; c++) {
    EXPECT_STREQ(gpudf_table_column_name(v, c), gpudf_table_column_name(sh.t, c));
    EXPECT_EQ(gpudf_table_column_type(v, c), gpudf_table_column_type(sh.t, c));
    EXPECT_EQ((uintptr_t)gpudf_table_column_data(v, c) % GPUDF_ALIGNMENT, 0u);
  }
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  // A view is read-only at the API level too.
  double x = 1;
  EXPECT_EQ(gpudf_table_add_column(v, "x", GPUDF_TYPE_F64, &x), GPUDF_EPERM);
  gpudf_share *again;
  EXPECT_EQ(gpudf_table_share(v, "x", GPUDF_BACKEND_AUTO, &again), GPUDF_EPERM);
  gpudf_table_free(v);
}

TEST(Share, SharedTableNoLongerChanges) {
  Shared sh;
  ShareGenerated(sh, 10, 1);
  double x[10] = {0};
  EXPECT_EQ(gpudf_table_add_column(sh.t, "x", GPUDF_TYPE_F64, x), GPUDF_EBUSY);
  gpudf_share *second;
  EXPECT_EQ(gpudf_table_share(sh.t, "other", GPUDF_BACKEND_AUTO, &second), GPUDF_EBUSY);
  EXPECT_NE(std::string(gpudf_last_error()).find(sh.name), std::string::npos);
}

TEST(Share, AttachingTwiceReusesTheMapping) {
  Shared sh;
  ShareGenerated(sh, 1000, 2);
  gpudf_table *v1, *v2;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v1), GPUDF_OK);
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v2), GPUDF_OK);
  EXPECT_NE(v1, v2);
  for (int c = 0; c < 5; c++)
    EXPECT_EQ(gpudf_table_column_data(v1, c), gpudf_table_column_data(v2, c));
  gpudf_table_free(v1);
  EXPECT_EQ(tg_table_checksum(v2), tg_table_checksum(sh.t));  // still mapped
  gpudf_table_free(v2);
}

// Whether address p lies in a mapping of this process.
bool Mapped(const void *p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uintptr_t a = (uintptr_t)p;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) return true;
  }
  return false;
}

// A Pool task attaches per config: after its last view is freed the mapping
// stays, and the next attach gets the same pages without mapping (and
// faulting) the table again.
TEST(Share, AFreedViewsMappingServesTheNextAttach) {
  Shared sh;
  ShareGenerated(sh, 5000, 21);
  gpudf_unmap_idle();
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  const void *data = gpudf_table_column_data(v, 0);
  gpudf_table_free(v);
  EXPECT_TRUE(Mapped(data));  // idle, not unmapped
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_column_data(v, 0), data);
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  EXPECT_EQ(gpudf_unmap_idle(), 0);  // in use: not idle
  gpudf_table_free(v);
  EXPECT_EQ(gpudf_unmap_idle(), 1);
  EXPECT_FALSE(Mapped(data));
  // A fresh mapping after that still reads the table.
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  gpudf_table_free(v);
  gpudf_unmap_idle();
}

// Closing the share drops this process's idle mapping of it at once.
TEST(Share, ClosingTheShareUnmapsItsIdleMapping) {
  Shared sh;
  ShareGenerated(sh, 5000, 22);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  const void *data = gpudf_table_column_data(v, 1);
  gpudf_table_free(v);
  ASSERT_TRUE(Mapped(data));
  gpudf_share_close(sh.s);
  sh.s = nullptr;
  gpudf_table_free(sh.t);
  sh.t = nullptr;
  EXPECT_FALSE(Mapped(data));
  EXPECT_EQ(gpudf_unmap_idle(), 0);
  // A view that outlives the close is not kept idle when it is freed.
  Shared again;
  ShareGenerated(again, 5000, 24);
  ASSERT_EQ(gpudf_attach(again.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  data = gpudf_table_column_data(v, 1);
  gpudf_share_close(again.s);
  again.s = nullptr;
  EXPECT_TRUE(Mapped(data));
  gpudf_table_free(v);
  EXPECT_FALSE(Mapped(data));
  EXPECT_EQ(gpudf_unmap_idle(), 0);
}

// An owner in another process closes (here: dies, and its files are swept):
// the next cleanup in the attaching process sees the arena gone and drops
// the idle mapping, so the memory of a closed share is not held.
TEST(Share, AnIdleMappingOfAGoneShareIsDroppedByTheNextCall) {
  std::string name = harness::UniqueName("idlegone");
  Child owner = harness::Spawn({"share", name, "20000", "23"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  const void *data = gpudf_table_column_data(v, 0);
  gpudf_table_free(v);
  ASSERT_TRUE(Mapped(data));
  harness::Kill(owner);
  int removed = 0;
  ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK);  // sweeps the files, then the mapping
  EXPECT_GE(removed, 2);
  ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK);
  EXPECT_FALSE(Mapped(data));
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT);
}

// At most 4 idle mappings: the least recently used goes first.
TEST(Share, IdleMappingsAreBounded) {
  gpudf_unmap_idle();
  Shared sh[5];
  const void *data[5];
  for (int i = 0; i < 5; i++) {
    ShareGenerated(sh[i], 1000, 30 + i, "idlecap");
    gpudf_table *v;
    ASSERT_EQ(gpudf_attach(sh[i].name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    data[i] = gpudf_table_column_data(v, 0);
    gpudf_table_free(v);
  }
  EXPECT_FALSE(Mapped(data[0]));
  for (int i = 1; i < 5; i++) EXPECT_TRUE(Mapped(data[i])) << i;
  EXPECT_EQ(gpudf_unmap_idle(), 4);
}

TEST(Share, CloseUnpublishesButViewsStayValid) {
  Shared sh;
  ShareGenerated(sh, 5000, 3);
  uint64_t sum = tg_table_checksum(sh.t);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK);
  gpudf_share_close(sh.s);
  sh.s = nullptr;
  gpudf_table_free(sh.t);
  sh.t = nullptr;
  EXPECT_EQ(tg_table_checksum(v), sum);
  gpudf_table *w;
  EXPECT_EQ(gpudf_attach(sh.name.c_str(), &w), GPUDF_ENOENT);
  EXPECT_NE(std::string(gpudf_last_error()).find(sh.name), std::string::npos);
  gpudf_table_free(v);
  EXPECT_FALSE(EntryExists(sh.name));
}

TEST(Share, TheShareKeepsTheTableAliveAfterTableFree) {
  Shared sh;
  ShareGenerated(sh, 300, 4);
  uint64_t sum = tg_table_checksum(sh.t);
  gpudf_table_free(sh.t);
  sh.t = nullptr;
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(tg_table_checksum(v), sum);
  gpudf_table_free(v);
}

TEST(Share, AnotherProcessAttachesWithoutCopying) {
  Shared sh;
  ShareGenerated(sh, 100003, 5);
  Child c = harness::Spawn({"attach", sh.name});
  std::string line = harness::ReadLine(c);
  EXPECT_EQ(line, "ok 5 100003 " + std::to_string(tg_table_checksum(sh.t)));
  int st = harness::Wait(c);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST(Share, AttachFromAnotherProcessToChildOwner) {
  std::string name = harness::UniqueName("childowner");
  Child owner = harness::Spawn({"share", name, "2048", "77"});
  std::string line = harness::ReadLine(owner);
  ASSERT_EQ(line.rfind("shared ", 0), 0u) << line;
  gpudf_table *local;
  ASSERT_EQ(tg_make_table(2048, 77, &local), GPUDF_OK);
  EXPECT_EQ(line, "shared " + std::to_string(tg_table_checksum(local)));
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(local));
  gpudf_table_free(local);

  // kill -9 the owner: the view keeps working, a new attach is refused with
  // EOWNERDEAD and everything the owner created is removed.
  pid_t pid = owner.pid;
  harness::Kill(owner);
  EXPECT_EQ(tg_table_checksum(v), line.empty() ? 0 : std::stoull(line.substr(7)));
  gpudf_table *w;
  EXPECT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_EOWNERDEAD);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find(std::to_string(pid)), std::string::npos) << msg;
  EXPECT_NE(msg.find("no longer running"), std::string::npos) << msg;
  EXPECT_FALSE(EntryExists(name));
  EXPECT_FALSE(EntryExists("." + std::to_string(pid) + "."));
  // Its tombstone tells the next attacher too; an explicit cleanup takes it.
  EXPECT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_EOWNERDEAD) << gpudf_last_error();
  ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);
  EXPECT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_ENOENT);
  gpudf_table_free(v);
}

// An owner killed but not yet reaped by its parent is a zombie: its /proc
// entry stays, but it is dead for every purpose of the library.
TEST(Share, ZombieOwnerCountsAsDead) {
  std::string name = harness::UniqueName("zombie");
  Child owner = harness::Spawn({"share", name, "100", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  ASSERT_EQ(kill(owner.pid, SIGKILL), 0);
  std::string stat_path = "/proc/" + std::to_string(owner.pid) + "/stat";
  bool zombie = false;
  for (int i = 0; i < 500 && !zombie; i++) {
    std::string st = ReadFile(stat_path);
    size_t p = st.rfind(')');
    zombie = p != std::string::npos && p + 2 < st.size() && st[p + 2] == 'Z';
    if (!zombie) usleep(2000);
  }
  ASSERT_TRUE(zombie);
  gpudf_table *v;
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
  EXPECT_FALSE(EntryExists(name));
  harness::Kill(owner);  // reaps
}

TEST(Share, KilledOwnerLeavesNothingAfterTheNextCall) {
  std::string name = harness::UniqueName("killed");
  Child owner = harness::Spawn({"share", name, "100", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  pid_t pid = owner.pid;
  EXPECT_TRUE(EntryExists(name));
  EXPECT_TRUE(EntryExists("." + std::to_string(pid) + "."));
  harness::Kill(owner);
  int removed = 0;
  ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK);
  EXPECT_GE(removed, 2);  // the descriptor and the arena
  EXPECT_FALSE(EntryExists(name));
  EXPECT_FALSE(EntryExists("." + std::to_string(pid) + "."));
}

TEST(Share, AStaleNameOfADeadOwnerCanBePublishedAgain) {
  std::string name = harness::UniqueName("reuse");
  Child owner = harness::Spawn({"share", name, "100", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  harness::Kill(owner);
  Shared sh;
  ASSERT_EQ(tg_make_table(10, 9, &sh.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_share(sh.t, name.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_OK)
      << gpudf_last_error();
}

// The file that tells attachers of a dead owner's share that it died.
std::string TombstonePath(const std::string &name) {
  return harness::ShmPath("gpudf-" + std::to_string(geteuid()) + "~" + name);
}

// Sets a file's modification time to `ago` seconds before now.
void Age(const std::string &path, int ago) {
  struct timespec times[2] = {{0, UTIME_OMIT}, {time(nullptr) - ago, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// After a killed owner's share is removed, every attach of the name hears
// that the owner died for 30 seconds (its tombstone, a file of 32 bytes,
// mode 0600), not only the first; other library calls leave a fresh
// tombstone alone, and the first one after its window removes it: then the
// name is unknown (ENOENT), and nothing is left.
TEST(Share, ATombstoneTellsOfTheDeathUntilItsWindowEnds) {
  std::string name = harness::UniqueName("tomb");
  Child owner = harness::Spawn({"share", name, "100", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  pid_t pid = owner.pid;
  harness::Kill(owner);
  const std::string who = "process " + std::to_string(pid) + ", which is no longer running";
  gpudf_table *v = nullptr, *other = nullptr;
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
    EXPECT_NE(std::string(gpudf_last_error()).find(who), std::string::npos)
        << gpudf_last_error();
  }
  EXPECT_FALSE(EntryExists(name));
  EXPECT_FALSE(EntryExists("." + std::to_string(pid) + "."));
  struct stat st;
  ASSERT_EQ(stat(TombstonePath(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Age(TombstonePath(name), 25);  // inside the window: kept by other calls
  ASSERT_EQ(gpudf_table_create(10, &other), GPUDF_OK);
  gpudf_table_free(other);
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
  Age(TombstonePath(name), 31);  // past it: the next call removes it
  ASSERT_EQ(gpudf_table_create(10, &other), GPUDF_OK);
  gpudf_table_free(other);
  EXPECT_NE(access(TombstonePath(name).c_str(), F_OK), 0) << "the tombstone outlived its window";
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT) << gpudf_last_error();
  EXPECT_NE(std::string(gpudf_last_error()).find("no share named"), std::string::npos);
}

// A dead owner's name can be published again at once, tombstone or not; the
// new share removes the tombstone, so attachers see it and, once it is
// closed cleanly, hear that there is no such share, not of the old death.
// The tombstone also stays when the death is noticed by a publish of
// another name, or by this name's publish itself (which then removes it).
TEST(Share, ADeadOwnersNameIsPublishedAgainAtOnce) {
  for (int noticed = 0; noticed < 2; noticed++) {
    SCOPED_TRACE(noticed ? "death noticed by the publish" : "death noticed by an attach");
    std::string name = harness::UniqueName("again");
    Child owner = harness::Spawn({"share", name, "100", "1"});
    ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
    harness::Kill(owner);
    gpudf_table *v = nullptr;
    if (!noticed) {
      ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
      ASSERT_EQ(access(TombstonePath(name).c_str(), F_OK), 0);
    }
    Shared sh;
    ASSERT_EQ(tg_make_table(777, 31 + noticed, &sh.t), GPUDF_OK);
    ASSERT_EQ(gpudf_table_share(sh.t, name.c_str(), GPUDF_BACKEND_CPU, &sh.s), GPUDF_OK)
        << gpudf_last_error();
    EXPECT_NE(access(TombstonePath(name).c_str(), F_OK), 0) << "tombstone beside a live share";
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(gpudf_table_nrows(v), 777);
    EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
    gpudf_table_free(v);
    gpudf_share_close(sh.s);
    sh.s = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT) << gpudf_last_error();
  }
}

TEST(Share, OwnerThatExitsWithoutClosingLeavesNothing) {
  std::string name = harness::UniqueName("exit");
  Child owner = harness::Spawn({"share-exit", name, "100", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  pid_t pid = owner.pid;
  int st = harness::Wait(owner);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_FALSE(EntryExists(name));
  EXPECT_FALSE(EntryExists("." + std::to_string(pid) + "."));
}

TEST(Share, AttachedProcessKilledLeavesOwnerIntact) {
  Shared sh;
  ShareGenerated(sh, 1000, 6);
  Child c = harness::Spawn({"attach-hold", sh.name});
  ASSERT_EQ(harness::ReadLine(c), "attached");
  harness::Kill(c);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK);
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  gpudf_table_free(v);
}

TEST(Share, AttachedMemoryIsReadOnly) {
  Shared sh;
  ShareGenerated(sh, 1000, 7);
  uint64_t sum = tg_table_checksum(sh.t);
  Child c = harness::Spawn({"write", sh.name});
  EXPECT_EQ(harness::ReadLine(c), "writing");
  int st = harness::Wait(c);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) << "status " << st;
  EXPECT_EQ(tg_table_checksum(sh.t), sum);
}

TEST(Share, NamesAreValidated) {
  Shared sh;
  ASSERT_EQ(tg_make_table(10, 1, &sh.t), GPUDF_OK);
  struct Case {
    std::string name;
    gpudf_status want;
  } cases[] = {{"", GPUDF_EINVAL},        {"a/b", GPUDF_EINVAL},   {"../x", GPUDF_EINVAL},
               {"/abs", GPUDF_EINVAL},    {"sp ace", GPUDF_EINVAL}, {".", GPUDF_EINVAL},
               {"..", GPUDF_EINVAL},      {"caf\xc3\xa9", GPUDF_EINVAL},
               {std::string(64, 'x'), GPUDF_ENAMETOOLONG},
               {std::string(5000, 'x'), GPUDF_ENAMETOOLONG}};
  for (const auto &c : cases) {
    gpudf_share *s = nullptr;
    EXPECT_EQ(gpudf_table_share(sh.t, c.name.c_str(), GPUDF_BACKEND_AUTO, &s), c.want) << c.name;
    EXPECT_EQ(s, nullptr);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(c.name.c_str(), &v), c.want) << c.name;
    EXPECT_EQ(v, nullptr);
  }
  EXPECT_NE(std::string(gpudf_last_error()).find("63"), std::string::npos);
  gpudf_table *v;
  EXPECT_EQ(gpudf_attach(nullptr, &v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_attach("x", nullptr), GPUDF_EINVAL);
  // The longest valid name works.
  std::string longest = harness::UniqueName("L");
  longest += std::string(GPUDF_NAME_MAX - longest.size(), 'z');
  ASSERT_EQ(gpudf_table_share(sh.t, longest.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_OK)
      << gpudf_last_error();
}

TEST(Share, NullNamePicksAUniqueOne) {
  Shared a, b;
  ASSERT_EQ(tg_make_table(10, 1, &a.t), GPUDF_OK);
  ASSERT_EQ(tg_make_table(10, 2, &b.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_share(a.t, nullptr, GPUDF_BACKEND_AUTO, &a.s), GPUDF_OK);
  ASSERT_EQ(gpudf_table_share(b.t, nullptr, GPUDF_BACKEND_AUTO, &b.s), GPUDF_OK);
  EXPECT_STRNE(gpudf_share_name(a.s), gpudf_share_name(b.s));
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(gpudf_share_name(b.s), &v), GPUDF_OK);
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(b.t));
  gpudf_table_free(v);
}

TEST(Share, ANameIsPublishedOnce) {
  Shared a, b;
  ShareGenerated(a, 10, 1);
  ASSERT_EQ(tg_make_table(10, 2, &b.t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_share(b.t, a.name.c_str(), GPUDF_BACKEND_AUTO, &b.s), GPUDF_EEXIST);
  EXPECT_NE(std::string(gpudf_last_error()).find(std::to_string(getpid())), std::string::npos)
      << gpudf_last_error();
  // A name taken by a live owner in another process is refused too.
  std::string name = harness::UniqueName("other");
  Child owner = harness::Spawn({"share", name, "10", "1"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  EXPECT_EQ(gpudf_table_share(b.t, name.c_str(), GPUDF_BACKEND_AUTO, &b.s), GPUDF_EEXIST);
  EXPECT_NE(std::string(gpudf_last_error()).find(std::to_string(owner.pid)), std::string::npos);
  harness::Kill(owner);
  gpudf_cleanup(nullptr);
}

TEST(Share, AttachToMissingName) {
  gpudf_table *v = nullptr;
  std::string name = harness::UniqueName("missing");
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT);
  EXPECT_EQ(v, nullptr);
  EXPECT_NE(std::string(gpudf_last_error()).find(name), std::string::npos);
}

TEST(Share, EmptyTableCannotBeShared) {
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(10, &t), GPUDF_OK);
  gpudf_share *s;
  EXPECT_EQ(gpudf_table_share(t, "empty", GPUDF_BACKEND_AUTO, &s), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("no columns"), std::string::npos);
  gpudf_table_free(t);
  gpudf_share_close(nullptr);  // harmless
}

TEST(Share, BackendsSelectionAndRefusal) {
  gpudf_backend b;
  for (int i = 0; i <= 3; i++) {
    ASSERT_EQ(gpudf_backend_parse(gpudf_backend_name((gpudf_backend)i), &b), GPUDF_OK);
    EXPECT_EQ(b, i);
  }
  EXPECT_EQ(gpudf_backend_parse("gpu", &b), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_backend_name((gpudf_backend)42), nullptr);
  const char *why = nullptr;
  EXPECT_EQ(gpudf_backend_available(GPUDF_BACKEND_CPU, &why), 1);
  Shared sh;
  ASSERT_EQ(tg_make_table(10, 1, &sh.t), GPUDF_OK);
  sh.name = harness::UniqueName("backend");
  if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why)) {
    // Forcing a backend that cannot work is an error, not a downgrade.
    EXPECT_EQ(gpudf_table_share(sh.t, sh.name.c_str(), GPUDF_BACKEND_CUDA_IPC, &sh.s),
              GPUDF_ENODEV);
    EXPECT_NE(std::string(gpudf_last_error()).find(why), std::string::npos);
    setenv("GPUDF_BACKEND", "cuda-ipc", 1);
    EXPECT_EQ(gpudf_table_share(sh.t, sh.name.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_ENODEV);
  }
  setenv("GPUDF_BACKEND", "warp-drive", 1);
  EXPECT_EQ(gpudf_table_share(sh.t, sh.name.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("warp-drive"), std::string::npos);
  setenv("GPUDF_BACKEND", "cpu", 1);
  ASSERT_EQ(gpudf_table_share(sh.t, sh.name.c_str(), GPUDF_BACKEND_AUTO, &sh.s), GPUDF_OK);
  EXPECT_EQ(gpudf_share_backend(sh.s), GPUDF_BACKEND_CPU);
  unsetenv("GPUDF_BACKEND");
}

TEST(Share, RepeatedShareAttachLeaksNoDescriptors) {
  Shared sh;
  ShareGenerated(sh, 100, 8);
  int before = harness::CountFds();
  for (int i = 0; i < 200; i++) {
    gpudf_table *v;
    ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK);
    gpudf_table_free(v);
    gpudf_table *t;
    gpudf_share *s;
    ASSERT_EQ(tg_make_table(3, i, &t), GPUDF_OK);
    ASSERT_EQ(gpudf_table_share(t, nullptr, GPUDF_BACKEND_AUTO, &s), GPUDF_OK);
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
  EXPECT_EQ(harness::CountFds(), before);
}

// ---------------------------------------------------------------- corrupt
// Each case writes a damaged copy of a real descriptor under a fresh name.

class Corrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    ShareGenerated(sh, 1000, 12, "orig");
    good = ReadFile(harness::ShmPath(harness::PublicFile(sh.name)));
    ASSERT_GE(good.size(), sizeof(gdf_desc_header));
    name = harness::UniqueName("bad");
    path = harness::ShmPath(harness::PublicFile(name));
  }
  void TearDown() override {
    unlink(path.c_str());
    unlink(harness::ShmPath("gpudf-" + std::to_string(geteuid()) + "~" + name).c_str());
  }
  gdf_desc_header *Header(std::string &bytes) { return (gdf_desc_header *)&bytes[0]; }
  // The format's checksum, written out here independently of the library:
  // FNV-1a 64 over everything from owner_uid to the end.
  void Reseal(std::string &bytes) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = offsetof(gdf_desc_header, owner_uid); i < bytes.size(); i++) {
      h ^= (uint8_t)bytes[i];
      h *= 1099511628211ull;
    }
    Header(bytes)->checksum = h;
  }
  // Attaches to the damaged copy and checks status and message.
  void Expect(const std::string &bytes, gpudf_status want, const std::string &words,
              mode_t mode = 0600) {
    WriteFile(path, bytes, mode);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &v), want) << gpudf_last_error();
    EXPECT_EQ(v, nullptr);
    EXPECT_NE(std::string(gpudf_last_error()).find(words), std::string::npos)
        << "message: " << gpudf_last_error() << "\nexpected: " << words;
  }
  Shared sh;
  std::string good, name, path;
};

TEST_F(Corrupt, IntactCopyAttaches) {
  WriteFile(path, good);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  gpudf_table_free(v);
}

TEST_F(Corrupt, WrongMagic) {
  std::string b = good;
  b[0] ^= 0x55;
  Expect(b, GPUDF_EBADMSG, "bad magic");
}

TEST_F(Corrupt, RandomBytes) {
  std::string b(4096, '\0');
  for (auto &ch : b) ch = (char)std::rand();
  Expect(b, GPUDF_EBADMSG, "not a gpudf segment");
}

TEST_F(Corrupt, WrongVersion) {
  std::string b = good;
  Header(b)->version = 99;
  Expect(b, GPUDF_EBADMSG, "version 99");
}

TEST_F(Corrupt, ChecksumMismatch) {
  std::string b = good;
  b[b.size() - 70] ^= 1;  // inside the last column's name
  Expect(b, GPUDF_EBADMSG, "checksum");
}

TEST_F(Corrupt, Truncated) {
  Expect(good.substr(0, 100), GPUDF_EBADMSG, "truncated");
  Expect(good.substr(0, good.size() - 8), GPUDF_EBADMSG, "truncated");
  Expect(std::string(), GPUDF_EBADMSG, "truncated");
}

TEST_F(Corrupt, NotReady) {
  std::string b = good;
  Header(b)->ready = 0;
  Expect(b, GPUDF_EAGAIN, "not ready");
}

TEST_F(Corrupt, ColumnOutsideTheArena) {
  std::string b = good;
  gdf_desc_column *cols = (gdf_desc_column *)&b[sizeof(gdf_desc_header)];
  cols[4].offset = Header(b)->arena_size;  // starts at the end
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "outside");
  b = good;
  cols = (gdf_desc_column *)&b[sizeof(gdf_desc_header)];
  cols[1].offset = UINT64_MAX - 255;  // overflow bait
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "outside");
  b = good;
  Header(b)->nrows = INT64_MAX;
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "outside");
}

TEST_F(Corrupt, BadColumnTypeOrName) {
  std::string b = good;
  gdf_desc_column *cols = (gdf_desc_column *)&b[sizeof(gdf_desc_header)];
  cols[2].type = 77;
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "unknown type 77");
  b = good;
  cols = (gdf_desc_column *)&b[sizeof(gdf_desc_header)];
  memset(cols[0].name, 'x', sizeof cols[0].name);  // no terminator
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "no valid name");
}

TEST_F(Corrupt, ArenaNameTricks) {
  std::string b = good;
  snprintf(Header(b)->arena_name, sizeof Header(b)->arena_name, "../../etc/passwd");
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "no valid arena");
  // A well-formed arena name whose file is missing.
  b = good;
  std::string an = Header(b)->arena_name;
  an[an.size() - 1] = an.back() == '9' ? '8' : '9';
  snprintf(Header(b)->arena_name, sizeof Header(b)->arena_name, "%s", an.c_str());
  Reseal(b);
  Expect(b, GPUDF_ENOENT, "arena");
}

TEST_F(Corrupt, ArenaSizeMismatch) {
  std::string b = good;
  Header(b)->arena_size += 256;
  Reseal(b);
  Expect(b, GPUDF_EBADMSG, "descriptor says");
}

TEST_F(Corrupt, ForeignModeIsRefused) {
  Expect(good, GPUDF_EPERM, "mode 644", 0644);
}

// A segment under this user's name prefix that another user owns (planted
// by root, say) is refused, however valid its bytes.
TEST_F(Corrupt, AnotherUsersSegmentIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another uid";
  WriteFile(path, good);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  gpudf_table *v = nullptr;
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EPERM);
  EXPECT_EQ(v, nullptr);
  EXPECT_NE(std::string(gpudf_last_error()).find("belongs to uid 65534"), std::string::npos)
      << gpudf_last_error();
}

// Field 22 of /proc/PID/stat (start time, in clock ticks after boot), read
// here independently of the library.
uint64_t StartTimeOf(pid_t pid) {
  std::string st = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t p = st.rfind(')');
  if (p == std::string::npos) return 0;
  std::string rest = st.substr(p + 2);  // from field 3
  size_t at = 0;
  for (int field = 3; field < 22 && at != std::string::npos; field++) at = rest.find(' ', at) + 1;
  return std::strtoull(rest.c_str() + at, nullptr, 10);
}

// An owner pid that now belongs to another live process (the pid was
// reused) is a dead owner: the start time recorded with it tells them
// apart. Forged with this process's pid and with a live child's, each with
// a start time off by one tick: attach answers EOWNERDEAD and removes it,
// so does a cleanup, and so a private segment named with such an identity;
// with the child's real start time the same copy attaches (the control).
TEST_F(Corrupt, AnOwnerPidNowOfAnotherProcessIsDead) {
  Child child = harness::Spawn({"attach-hold", sh.name});
  ASSERT_EQ(harness::ReadLine(child), "attached");
  const pid_t pids[2] = {getpid(), child.pid};
  for (pid_t pid : pids) {
    SCOPED_TRACE("owner pid " + std::to_string(pid));
    uint64_t start = StartTimeOf(pid);
    ASSERT_GT(start, 0u);
    std::string b = good;
    Header(b)->owner_pid = pid;
    Header(b)->owner_start = start;
    Reseal(b);
    WriteFile(path, b);
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    gpudf_table_free(v);
    Header(b)->owner_start = start + 1;
    Reseal(b);
    Expect(b, GPUDF_EOWNERDEAD, "process " + std::to_string(pid) + ", which is no longer running");
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "the stale descriptor was not removed";
    WriteFile(path, b);
    int removed = 0;
    ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK);
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "cleanup kept the stale descriptor";
    EXPECT_GE(removed, 1);
    // A private segment under the same identities: the live one stays.
    std::string prefix = harness::ShmPath("gpudf-" + std::to_string(geteuid()) + "+a." +
                                          std::to_string(pid) + ".");
    std::string stale = prefix + std::to_string(start + 1) + ".4242";
    std::string live = prefix + std::to_string(start) + ".4242";
    WriteFile(stale, "x");
    WriteFile(live, "x");
    ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);
    EXPECT_NE(access(stale.c_str(), F_OK), 0) << stale;
    EXPECT_EQ(access(live.c_str(), F_OK), 0) << live;
    unlink(live.c_str());
  }
  harness::Kill(child);
}

TEST_F(Corrupt, DeadOwnerInAnIntactCopy) {
  std::string b = good;
  Header(b)->owner_pid = 0x3ffffff0;  // no such process
  Reseal(b);
  Expect(b, GPUDF_EOWNERDEAD, "no longer running");
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the stale descriptor was not removed";
}

}  // namespace
