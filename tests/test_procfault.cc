// test_procfault.cc - kill -9 at random points: of a share's owner while
// others attach, of attachers, of sweep workers, and of a sweep's owner.
// Each test runs a bounded number of iterations ($GPUDF_STRESS_ITERS
// overrides it) with random delays from a seed it prints
// ($GPUDF_STRESS_SEED replays one). What must hold every time: no call
// waits more than a second past what its work needs, no result marked ok is
// wrong, and after the next library call nothing of the dead process is left
// in the shm directory.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "datagen.h"
#include "harness.h"

namespace {

using harness::Child;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void SleepMs(double ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::microseconds((long)(ms * 1000)));
}

// What a dead process `pid` (or share `name`) still has in the shm directory.
std::vector<std::string> LeftBy(pid_t pid, const std::string &name) {
  std::vector<std::string> out;
  std::string mark = "." + std::to_string(pid) + ".";
  for (const auto &e : harness::ShmEntries())
    if (e.find(mark) != std::string::npos ||
        (!name.empty() && e == harness::PublicFile(name)))
      out.push_back(e);
  return out;
}

std::string Join(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &e : v) s += (s.empty() ? "" : " ") + e;
  return s;
}

uint64_t ChecksumOf(int64_t rows, uint64_t seed) {
  gpudf_table *t = nullptr;
  EXPECT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
  uint64_t sum = t ? tg_table_checksum(t) : 0;
  gpudf_table_free(t);
  return sum;
}

// ------------------------------------------------------------ the owner

// The owner of a share is killed at a random point of its life: before the
// library ran, while it builds the arena, while it publishes, while two
// watcher processes and this one attach and read the table, or while it
// exits and unlinks its files.
TEST(ProcFault, OwnerKilledAtRandomPoints) {
  const int64_t rows = 20000;
  const uint64_t data_seed = 99;
  const uint64_t sum = ChecksumOf(rows, data_seed);
  std::mt19937_64 rng(harness::StressSeed());

  // How long an owner takes from spawn to published (the fastest of three
  // runs, the first one loads the files), to spread the kills over that span.
  double full_ms = 1e9;
  for (int i = 0; i < 3; i++) {
    std::string cal = harness::UniqueName("cal");
    auto t0 = Clock::now();
    Child c = harness::Spawn({"share", cal, std::to_string(rows), std::to_string(data_seed)});
    ASSERT_EQ(harness::ReadLine(c, 30000), "shared " + std::to_string(sum));
    full_ms = std::min(full_ms, MsSince(t0));
    pid_t cal_pid = c.pid;
    harness::Kill(c);
    ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);
    EXPECT_TRUE(LeftBy(cal_pid, cal).empty()) << Join(LeftBy(cal_pid, cal));
  }

  const int iters = harness::StressIters(12);
  int published = 0, attached_here = 0;
  for (int it = 0; it < iters; it++) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    std::string name = harness::UniqueName("owner");
    // Half the owners exit by themselves right after sharing: the kill may
    // then land in the exit-time unlinking, or after it.
    const char *mode = rng() % 2 ? "share" : "share-exit";
    auto start = Clock::now();
    Child owner = harness::Spawn({mode, name, std::to_string(rows), std::to_string(data_seed)});
    ASSERT_GT(owner.pid, 0);
    std::vector<Child> watchers;
    for (int w = 0; w < 2; w++)
      watchers.push_back(harness::Spawn(
          {"attach-watch", name, std::to_string(sum), std::to_string(owner.pid)}));
    // A third of the kills anywhere from the spawn to publication, a third
    // around the span where the library builds and publishes (after exec
    // and loading), a third while the share is up and being read.
    const double spans[3][2] = {{0, 1}, {0.5, 1.2}, {1, 4}};
    const double *span = spans[rng() % 3];
    double delay = std::uniform_real_distribution<double>(span[0], span[1])(rng) * full_ms;
    double slowest = 0;
    while (MsSince(start) < delay) {  // this process attaches too
      auto a0 = Clock::now();
      gpudf_table *v = nullptr;
      gpudf_status st = gpudf_attach(name.c_str(), &v);
      slowest = std::max(slowest, MsSince(a0));
      if (st == GPUDF_OK) {
        attached_here++;
        EXPECT_EQ(tg_table_checksum(v), sum);
        gpudf_table_free(v);
      } else if (st != GPUDF_ENOENT) {
        ADD_FAILURE() << "attach while the owner lives: " << gpudf_last_error();
        break;
      }
    }
    pollfd said{owner.out, POLLIN, 0};
    bool was_published = poll(&said, 1, 0) == 1 &&
                         harness::ReadLine(owner, 1).rfind("shared ", 0) == 0;
    published += was_published;
    pid_t pid = owner.pid;
    harness::Kill(owner);

    // The next library call reports the share gone and removes what the
    // owner left, whatever point it died at.
    auto a0 = Clock::now();
    gpudf_table *v = nullptr;
    gpudf_status st = gpudf_attach(name.c_str(), &v);
    slowest = std::max(slowest, MsSince(a0));
    EXPECT_TRUE(st == GPUDF_ENOENT || st == GPUDF_EOWNERDEAD) << st << " " << gpudf_last_error();
    EXPECT_EQ(v, nullptr);
    EXPECT_TRUE(LeftBy(pid, name).empty()) << "after the owner died at " << delay
                                           << " ms: " << Join(LeftBy(pid, name));
    EXPECT_LT(slowest, 1000) << "an attach took " << slowest << " ms";

    for (auto &w : watchers) {
      std::string line = harness::ReadLine(w, 10000);
      long oks = -1;
      int gone = -1, held = -2;
      double max_ms = -1;
      ASSERT_EQ(std::sscanf(line.c_str(), "done %ld %d %d %lf", &oks, &gone, &held, &max_ms), 4)
          << "watcher said '" << line << "'";
      EXPECT_TRUE(gone == GPUDF_ENOENT || gone == GPUDF_EOWNERDEAD) << line;
      EXPECT_GE(held, 0) << "a view kept past the owner's death changed: " << line;
      EXPECT_LT(max_ms, 1000) << line;
      int ws = harness::Wait(w);
      EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << ws;
    }
  }
  std::printf("[ info     ] %d iterations, %d killed after publishing, %d attaches here "
              "(full share %.0f ms)\n", iters, published, attached_here, full_ms);
}

// Fifty processes attach at one moment to the share of an owner killed just
// before: every one hears that the owner died (EOWNERDEAD naming its pid),
// not only the first, which removed the descriptor (the other 49 once got
// "no share named ..."). In the second round a call of this process that
// attaches nothing (a table create, which sweeps) notices the death first.
// Either way the tombstone that tells them stays until its window ends or an
// explicit gpudf_cleanup, and then the name is simply unknown.
TEST(ProcFault, EveryAttacherOfADeadOwnersShareHearsItDied) {
  const int racers = 50;
  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE(round ? "noticed by a sweep" : "noticed by an attacher");
    std::string name = harness::UniqueName("dead");
    Child owner = harness::Spawn({"share", name, "1000", "3"});
    ASSERT_EQ(harness::ReadLine(owner, 30000).rfind("shared ", 0), 0u);
    std::string gate = "/tmp/" + name + ".gate";
    unlink(gate.c_str());
    std::vector<Child> attachers;
    for (int i = 0; i < racers; i++) attachers.push_back(harness::Spawn({"attach-when", name, gate}));
    for (auto &a : attachers) ASSERT_EQ(harness::ReadLine(a, 30000), "ready");
    pid_t pid = owner.pid;
    harness::Kill(owner);
    if (round == 1) {
      gpudf_table *other = nullptr;
      ASSERT_EQ(gpudf_table_create(10, &other), GPUDF_OK);  // its sweep finds the dead owner
      gpudf_table_free(other);
      EXPECT_TRUE(LeftBy(pid, name).empty()) << Join(LeftBy(pid, name));
    }
    FILE *g = std::fopen(gate.c_str(), "w");
    ASSERT_NE(g, nullptr);
    std::fclose(g);
    const std::string want = "err " + std::to_string(GPUDF_EOWNERDEAD) + " ";
    const std::string who = "process " + std::to_string(pid) + ", which is no longer running";
    int told = 0;
    std::vector<std::string> others;
    for (auto &a : attachers) {
      std::string line = harness::ReadLine(a, 30000);
      if (line.rfind(want, 0) == 0 && line.find(who) != std::string::npos) told++;
      else others.push_back(line);
      harness::Wait(a);
    }
    unlink(gate.c_str());
    EXPECT_EQ(told, racers) << others.size() << " not told of the death, the first said: "
                            << (others.empty() ? "" : others[0]);
    // This process too, any number of times while the tombstone lasts.
    for (int i = 0; i < 3; i++) {
      gpudf_table *v = nullptr;
      EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
      EXPECT_NE(std::string(gpudf_last_error()).find(who), std::string::npos)
          << gpudf_last_error();
    }
    EXPECT_TRUE(LeftBy(pid, name).empty()) << Join(LeftBy(pid, name));
    ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);  // explicit: the tombstone goes too
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT) << gpudf_last_error();
  }
}

// ---------------------------------------------------------- attachers

// Attachers killed at random points (opening, mapping, reading, detaching)
// change nothing for the owner or for the next attacher, and leave no file
// descriptor, mapping or file behind in the owner.
TEST(ProcFault, AttacherKilledAtRandomPoints) {
  const int64_t rows = 200000;
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  ASSERT_EQ(tg_make_table(rows, 5, &t), GPUDF_OK);
  std::string name = harness::UniqueName("victims");
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK)
      << gpudf_last_error();
  const uint64_t sum = tg_table_checksum(t);
  const std::string ok = "ok 5 " + std::to_string(rows) + " " + std::to_string(sum);
  std::mt19937_64 rng(harness::StressSeed());
  const int fds = harness::CountFds(), maps = harness::CountShmMaps();
  const auto entries = harness::ShmEntries();

  auto t0 = Clock::now();
  Child cal = harness::Spawn({"attach", name});
  ASSERT_EQ(harness::ReadLine(cal, 30000), ok);
  harness::Wait(cal);
  double full_ms = MsSince(t0);

  const int iters = harness::StressIters(10);
  int finished = 0, killed = 0;
  for (int it = 0; it < iters; it++) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    std::vector<std::pair<double, Child>> victims;
    for (int k = 0; k < 3; k++)
      victims.emplace_back(std::uniform_real_distribution<double>(0, 1.5 * full_ms)(rng),
                           harness::Spawn({"attach", name}));
    std::sort(victims.begin(), victims.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    auto start = Clock::now();
    for (auto &[at, c] : victims) {
      SleepMs(at - MsSince(start));
      std::string line = harness::ReadLine(c, 1);
      harness::Kill(c);
      if (line.empty()) {
        killed++;
      } else {
        finished++;
        EXPECT_EQ(line, ok);
      }
    }
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(tg_table_checksum(v), sum);
    gpudf_table_free(v);
  }
  Child last = harness::Spawn({"attach", name});
  EXPECT_EQ(harness::ReadLine(last, 30000), ok);
  int st = harness::Wait(last);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(harness::CountFds(), fds);
  // The loop's own attaches leave one idle mapping of the share, kept for
  // the next attach; nothing else.
  EXPECT_EQ(gpudf_unmap_idle(), 1);
  EXPECT_EQ(harness::CountShmMaps(), maps);
  EXPECT_EQ(harness::ShmEntries(), entries);
  gpudf_share_close(s);
  gpudf_table_free(t);
  std::printf("[ info     ] %d attachers killed, %d finished first (full attach %.0f ms)\n",
              killed, finished, full_ms);
}

// ------------------------------------------------------------- workers

std::vector<double> RandomFilterAgg(int n, std::mt19937_64 &rng) {
  std::vector<double> c;
  std::uniform_int_distribution<int> col(0, 4), op(0, 7), lo(-50, 50);
  for (int i = 0; i < n; i++) {
    double l = lo(rng);
    c.insert(c.end(), {(double)col(rng), (double)op(rng), l, l + 20, (double)col(rng)});
  }
  return c;
}

// Largest |value| of every column of t, for the rounding bounds below.
std::vector<double> ColumnMaxAbs(const gpudf_table *t) {
  std::vector<double> out;
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    const void *d = gpudf_table_column_data(t, c);
    double m = 0;
    for (int64_t i = 0; i < gpudf_table_nrows(t); i++) {
      double v = 0;
      switch (gpudf_table_column_type(t, c)) {
      case GPUDF_TYPE_I32: v = ((const int32_t *)d)[i]; break;
      case GPUDF_TYPE_I64: v = (double)((const int64_t *)d)[i]; break;
      case GPUDF_TYPE_F32: v = ((const float *)d)[i]; break;
      case GPUDF_TYPE_F64: v = ((const double *)d)[i]; break;
      default: v = ((const uint8_t *)d)[i]; break;
      }
      m = std::fmax(m, std::fabs(v));
    }
    out.push_back(m);
  }
  return out;
}

// The sweep's answer against the in-process one: exact for count, min and
// max; sum, mean and std to 1e-12 relative (a batch cut differently adds in
// another order; see support/sweep_support.h), plus, for sum and mean, what
// another order can change when the values cancel: the i64 column's values of
// +-4.6e18 sum to ~1e16, where 1e-12 relative is below one rounding of a
// partial sum (a worker's rerun of one config once missed by 1.9e-12).
void ExpectSameFilterAgg(const std::vector<double> &want, const std::vector<double> &got,
                         const std::vector<double> &cfg, const std::vector<double> &maxabs) {
  ASSERT_EQ(want.size(), got.size());
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 10; i++) {
    int field = (int)(i % 6);
    double a = want[i], b = got[i], count = want[i - (size_t)field];
    double scale = maxabs[(size_t)cfg[(i / 6) * 5 + 4]] * 0x1p-50;  // value column's
    double slack = field == 1 ? scale * count : field == 2 ? scale : 0.0;
    bool same = std::isnan(a) ? std::isnan(b)
                : (field == 0 || field == 3 || field == 4)
                    ? a == b
                    : std::fabs(a - b) <= 1e-12 * std::fmax(1.0, std::fabs(a)) + slack;
    if (!same) bad++;
    EXPECT_TRUE(same) << "config " << i / 6 << " field " << field << ": " << a << " vs " << b;
  }
}

struct SweepRun {
  gpudf_status st = GPUDF_EIO;
  gpudf_sweep_report rep{};
  std::vector<int> states;
  double wall_ms = 0;
};

SweepRun Sweep(gpudf_table *t, const std::vector<double> &cfg, std::vector<double> &res,
               int retries) {
  SweepRun r;
  int n = (int)(cfg.size() / 5);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU;  // the cpu engine's faults, device or not
  o.workers = 3;
  o.batch = 4;
  o.retries = retries;
  gpudf_sweep_result *out = nullptr;
  auto t0 = Clock::now();
  r.st = gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, res.data(), &o, &out);
  r.wall_ms = MsSince(t0);
  if (out) {
    gpudf_sweep_result_report(out, &r.rep);
    for (int i = 0; i < n; i++) r.states.push_back(gpudf_sweep_result_state(out, i));
  }
  gpudf_sweep_result_free(out);
  return r;
}

// Workers killed at random points (starting up, claiming, mid-batch,
// writing results, leaving): every config still ends DONE with the value
// gpudf_run gives in-process, the sweep takes at most a second more than
// three times the same sweep without kills (each kill costs at most the
// claim it held and a process start), and nothing is left behind.
TEST(ProcFault, WorkerKilledAtRandomPoints) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(tg_make_table(50000, 21, &t), GPUDF_OK);
  const auto maxabs = ColumnMaxAbs(t);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::mt19937_64 rng(harness::StressSeed());
  const int n = 120;
  const auto entries = harness::ShmEntries();
  const int fds = harness::CountFds(), maps = harness::CountShmMaps();

  // The same sweep without kills: what "expected" means below.
  auto cfg = RandomFilterAgg(n, rng);
  std::vector<double> want(6 * n), got(6 * n);
  ASSERT_EQ(gpudf_run(t, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  SweepRun base = Sweep(t, cfg, got, 1);
  ASSERT_EQ(base.st, GPUDF_OK) << gpudf_last_error();
  ExpectSameFilterAgg(want, got, cfg, maxabs);

  const int iters = harness::StressIters(5);
  int kills = 0, lost = 0;
  for (int it = 0; it < iters; it++) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    cfg = RandomFilterAgg(n, rng);
    ASSERT_EQ(gpudf_run(t, k, cfg.data(), n, want.data()), GPUDF_OK);
    std::fill(got.begin(), got.end(), -1.0);
    const int max_kills = 1 + (int)(rng() % 3);
    std::vector<double> delays;
    for (int i = 0; i < max_kills; i++)
      delays.push_back(std::uniform_real_distribution<double>(0, base.wall_ms)(rng));
    std::sort(delays.begin(), delays.end());
    std::atomic<bool> over{false};
    std::atomic<int> done_kills{0};
    unsigned long long pick = rng();
    std::thread killer([&] {
      auto start = Clock::now();
      for (double d : delays) {
        while (!over && MsSince(start) < d) SleepMs(0.2);
        if (over) return;
        auto pids = harness::ChildrenNamed(getpid(), "gpudf-worker", false);
        if (pids.empty()) continue;
        if (kill(pids[pick++ % pids.size()], SIGKILL) == 0) done_kills++;
      }
    });
    // A config is re-run once per death of a worker that held it: with a
    // retry per kill, none may fail.
    SweepRun r = Sweep(t, cfg, got, max_kills);
    over = true;
    killer.join();
    kills += done_kills;
    lost += r.rep.workers_lost;
    ASSERT_EQ(r.st, GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(r.rep.done, n);
    EXPECT_LE(r.rep.workers_lost, done_kills);
    for (int i = 0; i < n; i++) EXPECT_EQ(r.states[i], GPUDF_CONFIG_DONE) << "config " << i;
    ExpectSameFilterAgg(want, got, cfg, maxabs);
    EXPECT_LT(r.wall_ms, 3 * base.wall_ms + 1000)
        << done_kills << " kills; the sweep without kills took " << base.wall_ms << " ms";
    EXPECT_TRUE(harness::ChildrenNamed(getpid(), "gpudf-worker", true).empty());
  }
  EXPECT_EQ(harness::ShmEntries(), entries);
  EXPECT_EQ(harness::CountFds(), fds);
  EXPECT_EQ(harness::CountShmMaps(), maps);
  gpudf_table_free(t);
  std::printf("[ info     ] %d workers killed, %d reported lost (sweep without kills %.0f ms)\n",
              kills, lost, base.wall_ms);
}

// -------------------------------------------------------- a sweep's owner

// Reaps the orphaned workers this process adopted (as a subreaper); returns
// how many are still running.
int ReapOrphans(std::set<pid_t> &seen) {
  int live = 0;
  for (pid_t p : harness::ChildrenNamed(getpid(), "gpudf-worker", true)) {
    seen.insert(p);
    if (waitpid(p, nullptr, WNOHANG) != p) live++;
  }
  return live;
}

// The owner of a sweep is killed at a random point: validating, sharing
// the table, starting workers, or while they run. Its workers follow it
// within a second, and the next library call removes its table, its share
// and its control segment.
struct Subreaper {
  Subreaper() { EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

TEST(ProcFault, SweepOwnerKilledAtRandomPoints) {
  // Orphans are reparented to this process, so it can see that they die
  // (and reap them).
  Subreaper subreaper;
  std::mt19937_64 rng(harness::StressSeed());
  auto t0 = Clock::now();
  Child cal = harness::Spawn({"sweep-hold"});
  ASSERT_EQ(harness::ReadLine(cal, 30000), "running");
  double running_ms = MsSince(t0);
  harness::Kill(cal);
  std::set<pid_t> seen;
  for (int ms = 0; ms < 1000 && ReapOrphans(seen) > 0; ms += 5) SleepMs(5);

  const int iters = harness::StressIters(8);
  int with_workers = 0;
  for (int it = 0; it < iters; it++) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    Child owner = harness::Spawn({"sweep-hold"});
    SleepMs(std::uniform_real_distribution<double>(0, 1.5 * running_ms)(rng));
    pid_t pid = owner.pid;
    size_t before = seen.size();
    harness::Kill(owner);
    auto dead = Clock::now();
    int live = ReapOrphans(seen);
    while (live > 0 && MsSince(dead) < 1000) {
      SleepMs(5);
      live = ReapOrphans(seen);
    }
    EXPECT_EQ(live, 0) << "workers still running " << MsSince(dead) << " ms after their owner died";
    for (pid_t p : harness::ChildrenNamed(getpid(), "gpudf-worker", true)) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    with_workers += seen.size() > before;
    ASSERT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);
    EXPECT_TRUE(LeftBy(pid, "").empty()) << Join(LeftBy(pid, ""));
    for (const auto &e : harness::ShmEntries())
      EXPECT_EQ(e.find("anon." + std::to_string(pid) + "."), std::string::npos) << e;
  }
  std::printf("[ info     ] %d of %d owners killed with workers running (first result %.0f ms)\n",
              with_workers, iters, running_ms);
}

}  // namespace
