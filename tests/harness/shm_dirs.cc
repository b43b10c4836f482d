// shm_dirs.cc - see shm_dirs.h.
#include "shm_dirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

namespace harness {

namespace {

const char kPrefix[] = "gpudf-test.";

// No such process, or a zombie (exited, not yet reaped by a parent that was
// itself killed): it holds no lock and starts nothing any more.
bool Dead(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char *paren = std::strrchr(buf, ')');
  return paren && paren[1] == ' ' && paren[2] == 'Z';
}

// Everything inside directory dfd (not dfd itself), without following
// links; depth bounds the recursion. Returns false when something stayed.
bool EmptyDir(int dfd, int depth) {
  int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return false;
  DIR *d = fdopendir(dup_fd);
  if (!d) {
    close(dup_fd);
    return false;
  }
  std::vector<std::string> names;
  while (dirent *e = readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      names.push_back(e->d_name);
  closedir(d);
  bool all = true;
  for (const std::string &n : names) {
    if (unlinkat(dfd, n.c_str(), 0) == 0) continue;
    struct stat st;
    if (depth > 0 && fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
      int sub = openat(dfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        bool emptied = EmptyDir(sub, depth - 1);
        close(sub);
        if (emptied && unlinkat(dfd, n.c_str(), AT_REMOVEDIR) == 0) continue;
      }
    }
    all = false;
  }
  return all;
}

bool SameFile(const struct stat &a, const struct stat &b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Removes root's entry `name` (the directory of pid) when the rules allow.
bool RemoveIfStale(int rootfd, const std::string &name, pid_t pid, pid_t self) {
  struct stat st;
  if (fstatat(rootfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != geteuid())
    return false;
  if (pid != self && !Dead(pid)) return false;
  int fd = openat(rootfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  bool removed = false;
  struct stat fst;
  // The lock, then the pid again: a process that made this directory after
  // the first check is alive now, and holds the lock or is about to.
  if (fstat(fd, &fst) == 0 && SameFile(st, fst) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
      (pid == self || Dead(pid)) && EmptyDir(fd, 16)) {
    struct stat now;
    removed = fstatat(rootfd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
              SameFile(now, fst) && unlinkat(rootfd, name.c_str(), AT_REMOVEDIR) == 0;
  }
  close(fd);  // releases the lock
  return removed;
}

}  // namespace

pid_t TestDirPid(const std::string &name) {
  size_t n = sizeof kPrefix - 1;
  if (name.compare(0, n, kPrefix) != 0 || name.size() == n || name.size() > n + 10 ||
      name[n] == '0')
    return -1;
  long long v = 0;
  for (size_t i = n; i < name.size(); i++) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v > INT_MAX ? -1 : (pid_t)v;
}

int RemoveStaleTestDirs(const std::string &root, pid_t self) {
  int rootfd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return 0;
  std::vector<std::string> names;
  int dup_fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr) {
    while (dirent *e = readdir(d))
      if (TestDirPid(e->d_name) > 0) names.push_back(e->d_name);
    closedir(d);
  } else if (dup_fd >= 0) {
    close(dup_fd);
  }
  int removed = 0;
  for (const std::string &n : names) removed += RemoveIfStale(rootfd, n, TestDirPid(n), self);
  close(rootfd);
  return removed;
}

std::string MakeTestDir(const std::string &root, pid_t self, int *lock_fd) {
  *lock_fd = -1;
  std::string name = kPrefix + std::to_string(self), dir = root + "/" + name;
  if (mkdir(dir.c_str(), 0700) != 0) {
    // Left by a dead process that had this pid: removed when its lock is free.
    if (errno != EEXIST) return "";
    int rootfd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) return "";
    bool gone = RemoveIfStale(rootfd, name, self, self);
    close(rootfd);
    if (!gone || mkdir(dir.c_str(), 0700) != 0) return "";
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  // Blocking: another process's removal pass may hold it for a moment (and
  // then leaves it, since this pid lives).
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    if (fd >= 0) close(fd);
    rmdir(dir.c_str());
    return "";
  }
  *lock_fd = fd;
  return dir;
}

}  // namespace harness
