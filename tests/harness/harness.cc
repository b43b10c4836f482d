// harness.cc - see harness.h.
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char **environ;

namespace harness {

static std::string ShmDir() {
  const char *d = std::getenv("GPUDF_SHM_DIR");
  return d && *d ? d : "/dev/shm";
}

Child Spawn(const std::vector<std::string> &args) {
  Child c;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return c;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  std::vector<std::string> all{GPUDF_TEST_CHILD};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (auto &a : all) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  if (posix_spawn(&c.pid, GPUDF_TEST_CHILD, &fa, nullptr, argv.data(), environ) != 0)
    c.pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  c.out = fds[0];
  return c;
}

static long NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

std::string ReadLine(Child &c, int timeout_ms) {
  long deadline = NowMs() + timeout_ms;
  for (;;) {
    size_t nl = c.buffered.find('\n');
    if (nl != std::string::npos) {
      std::string line = c.buffered.substr(0, nl);
      c.buffered.erase(0, nl + 1);
      return line;
    }
    long left = deadline - NowMs();
    if (left <= 0 || c.out < 0) return "";
    pollfd p{c.out, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) return "";
    char buf[512];
    ssize_t n = read(c.out, buf, sizeof buf);
    if (n <= 0) return "";
    c.buffered.append(buf, (size_t)n);
  }
}

int Wait(Child &c, int timeout_ms) {
  if (c.pid <= 0) return -1;
  long deadline = NowMs() + timeout_ms;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) break;
    if (NowMs() >= deadline) {
      Kill(c);
      return -1;
    }
    usleep(2000);
  }
  c.pid = -1;
  if (c.out >= 0) close(c.out);
  c.out = -1;
  return status;
}

void Kill(Child &c) {
  if (c.pid > 0) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
  }
  c.pid = -1;
  if (c.out >= 0) close(c.out);
  c.out = -1;
}

std::vector<std::string> ShmEntries() {
  std::vector<std::string> out;
  std::string prefix = "gpudf-" + std::to_string(geteuid());
  DIR *d = opendir(ShmDir().c_str());
  if (!d) return out;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) == 0 &&
        (n[prefix.size()] == '-' || n[prefix.size()] == '+'))
      out.push_back(n);
  }
  closedir(d);
  return out;
}

std::string UniqueName(const std::string &stem) {
  static std::atomic<int> seq{0};
  return "t-" + stem + "-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
}

std::string ShmPath(const std::string &file) { return ShmDir() + "/" + file; }

std::string PublicFile(const std::string &name) {
  return "gpudf-" + std::to_string(geteuid()) + "-" + name;
}

int CountFds() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent *e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;  // the directory's own fd
}

int CountMaps() {
  FILE *f = std::fopen("/proc/self/maps", "r");
  if (!f) return -1;
  int n = 0, c;
  while ((c = std::fgetc(f)) != EOF) n += c == '\n';
  std::fclose(f);
  return n;
}

int CountShmMaps() {
  FILE *f = std::fopen("/proc/self/maps", "r");
  if (!f) return -1;
  std::string dir = ShmDir() + "/gpudf-";
  char line[4096];
  int n = 0;
  while (std::fgets(line, sizeof line, f)) n += std::strstr(line, dir.c_str()) != nullptr;
  std::fclose(f);
  return n;
}

long RssKiB() {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string &comm, bool with_zombies) {
  std::vector<pid_t> out;
  DIR *d = opendir("/proc");
  if (!d) return out;
  std::string want = "(" + comm + ")";
  while (dirent *e = readdir(d)) {
    pid_t pid = (pid_t)std::atoi(e->d_name);
    if (pid <= 0) continue;
    char path[64], buf[512];
    std::snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    std::string line(buf);
    size_t lp = line.find('('), rp = line.rfind(')');
    if (lp == std::string::npos || rp == std::string::npos || rp < lp ||
        line.substr(lp, rp + 1 - lp) != want)
      continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + rp + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == parent && (with_zombies || state != 'Z')) out.push_back(pid);
  }
  closedir(d);
  return out;
}

unsigned long long StressSeed() {
  static unsigned long long seed = [] {
    const char *env = std::getenv("GPUDF_STRESS_SEED");
    unsigned long long s = env && *env ? std::strtoull(env, nullptr, 0)
                                       : (unsigned long long)time(nullptr) ^
                                             ((unsigned long long)getpid() << 32);
    return s;
  }();
  std::printf("[ seed     ] GPUDF_STRESS_SEED=%llu\n", seed);
  std::fflush(stdout);
  return seed;
}

int StressIters(int dflt) {
  const char *env = std::getenv("GPUDF_STRESS_ITERS");
  int n = env && *env ? std::atoi(env) : 0;
  return n > 0 ? n : dflt;
}

}  // namespace harness
