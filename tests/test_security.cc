// test_security.cc - what another local user (or a stray file) can and
// cannot do to this user's shares. The shm directory is world-writable
// (/dev/shm is mode 1777), so anyone can create a file under any name that
// is still free: a FIFO, a symlink, a directory, a copy of a real
// descriptor. The library creates its segments O_EXCL | O_NOFOLLOW with
// mode 0600, opens others' names O_NOFOLLOW | O_NONBLOCK, and trusts a file
// only when this user owns it with mode 0600. (Corrupt.* in test_share.cc
// covers damaged descriptors; Share.NamesAreValidated covers path tricks.)
#include <gpudf.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "datagen.h"
#include "harness.h"

namespace {

std::string Err() { return gpudf_last_error(); }

std::string ReadFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

struct Shared {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  explicit Shared(int64_t rows = 1000, const char *stem = "sec") {
    name = harness::UniqueName(stem);
    EXPECT_EQ(tg_make_table(rows, 17, &t), GPUDF_OK) << Err();
    EXPECT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK) << Err();
  }
  ~Shared() {
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
};

// Any library call below that blocked (on a FIFO, say) would hang the
// test until ctest's timeout; SIGALRM ends it at once instead.
struct Watchdog {
  explicit Watchdog(unsigned s) { alarm(s); }
  ~Watchdog() { alarm(0); }
};

// --------------------------------------------------------- what we make

struct Seen {
  int files = 0, bad = 0;
  bool control = false;
  std::string why;
};

void Inspect(Seen &seen) {
  for (const auto &e : harness::ShmEntries()) {
    struct stat st;
    if (lstat(harness::ShmPath(e).c_str(), &st) != 0) continue;  // gone meanwhile
    seen.files++;
    seen.control = seen.control || e.find("+s.") != std::string::npos;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0600 ||
        st.st_nlink != 1) {
      seen.bad++;
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s: mode %o uid %u links %u; ", e.c_str(),
                    (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_nlink);
      seen.why += buf;
    }
  }
}

int InspectDuringSweep(const gpudf_sweep_progress *, void *user) {
  Inspect(*static_cast<Seen *>(user));
  return 0;
}

// Arena, descriptor and a sweep's control segment: regular files of this
// user, mode 0600 whatever the umask, one link each (the private name of a
// descriptor is gone once it is published).
TEST(Security, EverySegmentIsAPrivateFileOfThisUser) {
  mode_t old = umask(0);  // the mode must not depend on a strict umask
  Shared sh;
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << Err();
  Seen seen;
  Inspect(seen);
  EXPECT_GE(seen.files, 2);  // arena + descriptor
  gpudf_table *t2 = nullptr;
  ASSERT_EQ(tg_make_table(2000, 3, &t2), GPUDF_OK);
  double cfg[40 * 5];
  for (int i = 0; i < 40; i++) {
    double c[5] = {0, 1, (double)i, 0, 3};
    std::copy(c, c + 5, cfg + 5 * i);
  }
  double res[40 * 6];
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 2;
  o.progress = InspectDuringSweep;
  o.progress_user = &seen;
  ASSERT_EQ(gpudf_sweep(t2, tg_kernel("filter_agg"), cfg, 40, res, &o, nullptr), GPUDF_OK) << Err();
  umask(old);
  EXPECT_TRUE(seen.control) << "the sweep's control segment was never seen";
  EXPECT_EQ(seen.bad, 0) << seen.why;
  gpudf_table_free(v);
  gpudf_table_free(t2);
}

// The name the library will create next is predictable. A symlink planted
// there (to a file of the attacker's choosing) makes the create fail with
// a message naming the file; it is never followed, truncated or written.
TEST(Security, PlantedLinkAtTheNextSegmentNameIsNotFollowed) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(16, &t), GPUDF_OK) << Err();
  std::string mine = "+a." + std::to_string(getpid()) + ".";
  std::string prefix;
  uint64_t seq = 0;
  for (const auto &e : harness::ShmEntries()) {
    size_t p = e.find(mine), dot = e.rfind('.');
    if (p == std::string::npos) continue;
    uint64_t s = std::stoull(e.substr(dot + 1));
    if (prefix.empty() || s > seq) {
      seq = s;
      prefix = e.substr(0, dot + 1);
    }
  }
  ASSERT_FALSE(prefix.empty()) << "no arena of this process in the shm directory";
  std::string victim = "/tmp/gpudf-victim-" + std::to_string(getpid());
  {
    std::ofstream(victim) << "precious";
  }
  chmod(victim.c_str(), 0644);
  // The next arena (seq + 1), then the descriptor after the next arena
  // (seq + 3): the sequence is shared by every kind of segment.
  std::string arena_plant = prefix + std::to_string(seq + 1);
  std::string desc_plant = prefix;
  desc_plant.replace(desc_plant.find("+a."), 3, "+d.");
  desc_plant += std::to_string(seq + 3);
  ASSERT_EQ(symlink(victim.c_str(), harness::ShmPath(arena_plant).c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), harness::ShmPath(desc_plant).c_str()), 0);

  gpudf_table *u = nullptr;
  EXPECT_EQ(gpudf_table_create(16, &u), GPUDF_EEXIST);
  EXPECT_EQ(u, nullptr);
  EXPECT_NE(Err().find(arena_plant), std::string::npos) << Err();
  ASSERT_EQ(gpudf_table_create(16, &u), GPUDF_OK) << Err();  // seq + 2
  double x[16] = {0};
  ASSERT_EQ(gpudf_table_add_column(u, "x", GPUDF_TYPE_F64, x), GPUDF_OK);
  gpudf_share *s = nullptr;
  EXPECT_EQ(gpudf_table_share(u, nullptr, GPUDF_BACKEND_CPU, &s), GPUDF_EEXIST);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(Err().find(desc_plant), std::string::npos) << Err();

  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(ReadFile(victim), "precious");
  // The library leaves what it did not make (a live pid's name) alone.
  ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);
  struct stat ls;
  EXPECT_EQ(lstat(harness::ShmPath(arena_plant).c_str(), &ls), 0);
  unlink(harness::ShmPath(arena_plant).c_str());
  unlink(harness::ShmPath(desc_plant).c_str());
  unlink(victim.c_str());
  ASSERT_EQ(gpudf_table_share(u, nullptr, GPUDF_BACKEND_CPU, &s), GPUDF_OK) << Err();
  gpudf_share_close(s);
  gpudf_table_free(u);
  gpudf_table_free(t);
}

// A FIFO, a directory or a symlink under a share's public name: attach
// refuses each with a message, share reports the name taken, and neither
// they nor the sweep of dead owners' files that every call runs blocks.
TEST(Security, FifoDirectoryOrSymlinkUnderAShareName) {
  Shared real;
  std::string fifo = harness::UniqueName("fifo"), dir = harness::UniqueName("dir"),
              link = harness::UniqueName("link");
  std::string fifo_path = harness::ShmPath(harness::PublicFile(fifo));
  std::string dir_path = harness::ShmPath(harness::PublicFile(dir));
  std::string link_path = harness::ShmPath(harness::PublicFile(link));
  ASSERT_EQ(mkfifo(fifo_path.c_str(), 0600), 0);
  ASSERT_EQ(mkdir(dir_path.c_str(), 0700), 0);
  ASSERT_EQ(symlink(harness::ShmPath(harness::PublicFile(real.name)).c_str(), link_path.c_str()),
            0);
  {
    Watchdog dog(10);
    int removed = -1;
    EXPECT_EQ(gpudf_cleanup(&removed), GPUDF_OK) << Err();
    EXPECT_EQ(removed, 0);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(fifo.c_str(), &v), GPUDF_EBADMSG);
    EXPECT_NE(Err().find("not a regular file"), std::string::npos) << Err();
    EXPECT_EQ(gpudf_attach(dir.c_str(), &v), GPUDF_EBADMSG);
    EXPECT_NE(Err().find("not a regular file"), std::string::npos) << Err();
    EXPECT_NE(gpudf_attach(link.c_str(), &v), GPUDF_OK);  // O_NOFOLLOW: ELOOP
    EXPECT_NE(Err().find(link), std::string::npos) << Err();
    EXPECT_EQ(v, nullptr);
    gpudf_table *t = nullptr;
    gpudf_share *s = nullptr;
    ASSERT_EQ(tg_make_table(10, 1, &t), GPUDF_OK) << Err();
    EXPECT_EQ(gpudf_table_share(t, fifo.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_EEXIST);
    EXPECT_NE(Err().find("not a live gpudf share"), std::string::npos) << Err();
    gpudf_table_free(t);
  }
  struct stat st;
  EXPECT_EQ(lstat(fifo_path.c_str(), &st), 0);  // not ours to remove
  unlink(fifo_path.c_str());
  rmdir(dir_path.c_str());
  unlink(link_path.c_str());
}

TEST(Security, NamesWithControlOrFormatBytesAreRefused) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(tg_make_table(10, 1, &t), GPUDF_OK);
  for (const char *bad : {"a\nb", "a\tb", "%s%s%n", "a\\b", "a:b", "\x7f", "\xff", "a*",
                          "~root", "a/../b", "./a", "a/.", "\x1b[2J"}) {
    gpudf_share *s = nullptr;
    EXPECT_EQ(gpudf_table_share(t, bad, GPUDF_BACKEND_CPU, &s), GPUDF_EINVAL) << bad;
    EXPECT_EQ(s, nullptr);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(bad, &v), GPUDF_EINVAL) << bad;
    EXPECT_NE(Err().find("byte 0x"), std::string::npos) << Err();
  }
  gpudf_table_free(t);
}

// ------------------------------------------------------- another user

// As root: a child switched to uid 65534 ("nobody") cannot open this user's
// segments, does not see its shares under its own names, and what it plants
// under this user's names (a valid copy of a real descriptor, a FIFO) is
// refused with a message naming its uid, never attached, never removed.
TEST(Security, AnotherUserCanNeitherReadNorImpersonate) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch a child to another uid";
  const uid_t other = 65534;
  Shared sh(1000, "rootshare");
  std::string dir = harness::ShmPath("");
  struct stat dst;
  ASSERT_EQ(stat(dir.c_str(), &dst), 0);
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);  // like /dev/shm itself
  std::string desc_path = harness::ShmPath(harness::PublicFile(sh.name));
  std::string arena_path;
  for (const auto &e : harness::ShmEntries())
    if (e.find("+a." + std::to_string(getpid()) + ".") != std::string::npos)
      arena_path = harness::ShmPath(e);
  const std::string good = ReadFile(desc_path);
  std::string copy = harness::UniqueName("copy"), fifo = harness::UniqueName("fifo");
  std::string copy_path = harness::ShmPath(harness::PublicFile(copy));
  std::string fifo_path = harness::ShmPath(harness::PublicFile(fifo));

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Exit codes: 0 all as expected, else the number of the first surprise.
    if (setgid(other) != 0 || setuid(other) != 0) _exit(10);
    if (geteuid() != other) _exit(11);
    if (open(desc_path.c_str(), O_RDONLY) >= 0 || errno != EACCES) _exit(12);
    if (!arena_path.empty() && (open(arena_path.c_str(), O_RDONLY) >= 0 || errno != EACCES))
      _exit(13);
    if (open(desc_path.c_str(), O_WRONLY) >= 0) _exit(14);
    if (unlink(desc_path.c_str()) == 0) _exit(15);  // sticky directory
    gpudf_table *v = nullptr;
    if (gpudf_attach(sh.name.c_str(), &v) != GPUDF_ENOENT) _exit(16);  // nobody's namespace
    int fd = open(copy_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, good.data(), good.size()) != (ssize_t)good.size()) _exit(17);
    close(fd);
    if (mkfifo(fifo_path.c_str(), 0600) != 0) _exit(18);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  chmod(dir.c_str(), dst.st_mode & 07777);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the other user's child: see the exit codes in the test";

  {
    Watchdog dog(10);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(copy.c_str(), &v), GPUDF_EPERM);
    EXPECT_NE(Err().find("belongs to uid 65534"), std::string::npos) << Err();
    EXPECT_EQ(gpudf_attach(fifo.c_str(), &v), GPUDF_EBADMSG);
    EXPECT_NE(Err().find("not a regular file"), std::string::npos) << Err();
    EXPECT_EQ(v, nullptr);
    gpudf_table *t = nullptr;
    gpudf_share *s = nullptr;
    ASSERT_EQ(tg_make_table(10, 1, &t), GPUDF_OK);
    EXPECT_EQ(gpudf_table_share(t, copy.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_EEXIST);
    EXPECT_NE(Err().find("not a live gpudf share of this user"), std::string::npos) << Err();
    gpudf_table_free(t);
    int removed = -1;
    EXPECT_EQ(gpudf_cleanup(&removed), GPUDF_OK);
    EXPECT_EQ(removed, 0);
  }
  struct stat st;
  EXPECT_EQ(lstat(copy_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, other);
  EXPECT_EQ(lstat(fifo_path.c_str(), &st), 0);
  // The real share is untouched.
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(sh.name.c_str(), &v), GPUDF_OK) << Err();
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(sh.t));
  gpudf_table_free(v);
  unlink(copy_path.c_str());
  unlink(fifo_path.c_str());
}

}  // namespace
