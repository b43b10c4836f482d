// test_stress.cc - many processes, many workers, many tables: every count
// of what the library holds (file descriptors, mappings, files in the shm
// directory, resident memory) returns to where it started.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "datagen.h"
#include "harness.h"

namespace {

using harness::Child;
using Clock = std::chrono::steady_clock;

// Row `row` of column `c` as a double, as filter_agg reads it.
double ValueAt(const gpudf_table *t, int c, int64_t row) {
  const void *d = gpudf_table_column_data(t, c);
  switch (gpudf_table_column_type(t, c)) {
  case GPUDF_TYPE_I32: return (double)static_cast<const int32_t *>(d)[row];
  case GPUDF_TYPE_I64: return (double)static_cast<const int64_t *>(d)[row];
  case GPUDF_TYPE_F32: return (double)static_cast<const float *>(d)[row];
  case GPUDF_TYPE_F64: return static_cast<const double *>(d)[row];
  default: return (double)static_cast<const uint8_t *>(d)[row];
  }
}

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Resident memory may grow by this much after the warm-up: allocator
// arenas settle, but a leak of one page per cycle would show.
// Under ASan or TSan the runtime maps and holds memory of its own (ASan's
// quarantine keeps freed blocks, TSan's shadow follows every address used):
// only the mappings of shm segments are counted there, and LeakSanitizer
// checks the heap instead of the resident size.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GPUDF_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GPUDF_TEST_SANITIZED 1
#endif
#endif
#ifdef GPUDF_TEST_SANITIZED
constexpr bool kPlainAllocator = false;
#else
constexpr bool kPlainAllocator = true;
#endif
constexpr long kRssSlackKiB = 4096;

struct Counts {
  int fds, maps, shm_maps;
  std::vector<std::string> entries;
  long rss;
  static Counts Now() {
    return {harness::CountFds(), harness::CountMaps(), harness::CountShmMaps(),
            harness::ShmEntries(), harness::RssKiB()};
  }
};

void ExpectBackTo(const Counts &start) {
  Counts now = Counts::Now();
  EXPECT_EQ(now.fds, start.fds) << "file descriptors";
  EXPECT_EQ(now.shm_maps, start.shm_maps) << "mappings of shm segments";
  EXPECT_EQ(now.entries, start.entries) << "files in the shm directory";
  if (kPlainAllocator) {
    EXPECT_EQ(now.maps, start.maps) << "mappings";
    EXPECT_LT(now.rss - start.rss, kRssSlackKiB) << "resident memory grew from " << start.rss
                                                 << " KiB to " << now.rss << " KiB";
  }
  std::printf("[ info     ] fds %d -> %d, mappings %d -> %d (of shm segments %d -> %d), "
              "shm files %zu -> %zu, rss %ld -> %ld KiB\n", start.fds, now.fds, start.maps,
              now.maps, start.shm_maps, now.shm_maps, start.entries.size(),
              now.entries.size(), start.rss, now.rss);
}

// One create-share-close-free cycle of a small table, with an attach of it
// every `attach_every` cycles.
void ShareCloseCycle(int i, int attach_every) {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  ASSERT_EQ(gpudf_table_create(64, &t), GPUDF_OK) << gpudf_last_error();
  int32_t *col = nullptr;
  ASSERT_EQ(gpudf_table_alloc_column(t, "x", GPUDF_TYPE_I32, (void **)&col), GPUDF_OK);
  for (int r = 0; r < 64; r++) col[r] = i + r;
  ASSERT_EQ(gpudf_table_share(t, nullptr, GPUDF_BACKEND_CPU, &s), GPUDF_OK) << gpudf_last_error();
  if (attach_every > 0 && i % attach_every == 0) {
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(gpudf_share_name(s), &v), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(((const int32_t *)gpudf_table_column_data(v, 0))[63], i + 63);
    gpudf_table_free(v);
  }
  gpudf_share_close(s);
  gpudf_table_free(t);
}

// 10,000 tables shared and closed in a loop.
TEST(Stress, TenThousandSharesOpenedAndClosed) {
  for (int i = 0; i < 200; i++) ASSERT_NO_FATAL_FAILURE(ShareCloseCycle(i, 10));  // warm-up
  Counts start = Counts::Now();
  auto t0 = Clock::now();
  for (int i = 0; i < 10000; i++) ASSERT_NO_FATAL_FAILURE(ShareCloseCycle(i, 10));
  std::printf("[ info     ] 10000 share/close cycles in %.0f ms\n", MsSince(t0));
  ExpectBackTo(start);
}

// 8 processes attach and detach 500 times each, at once, while the owner
// shares and closes other tables, one of them under a name the attachers
// also try (and find open, or closed, never half there).
TEST(Stress, EightAttachersWhileTheOwnerChurns) {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  ASSERT_EQ(tg_make_table(2000, 3, &t), GPUDF_OK);
  std::string name = harness::UniqueName("steady");
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK)
      << gpudf_last_error();
  const uint64_t sum = tg_table_checksum(t);
  std::string churn = harness::UniqueName("churn");
  gpudf_table *probe = nullptr;
  ASSERT_EQ(tg_make_table(100, 4, &probe), GPUDF_OK);
  const uint64_t churn_sum = tg_table_checksum(probe);
  gpudf_table_free(probe);
  for (int i = 0; i < 50; i++) ASSERT_NO_FATAL_FAILURE(ShareCloseCycle(i, 1));  // warm-up
  Counts start = Counts::Now();

  std::vector<Child> kids;
  for (int k = 0; k < 8; k++)
    kids.push_back(harness::Spawn({"attach-loop", name, "500", std::to_string(sum), churn,
                                   std::to_string(churn_sum)}));
  std::vector<std::string> lines(kids.size());
  size_t answered = 0;
  int cycles = 0;
  auto t0 = Clock::now();
  while (answered < kids.size() && MsSince(t0) < 90000) {
    gpudf_table *c = nullptr;
    gpudf_share *cs = nullptr;
    ASSERT_EQ(tg_make_table(100, 4, &c), GPUDF_OK);
    ASSERT_EQ(gpudf_table_share(c, churn.c_str(), GPUDF_BACKEND_CPU, &cs), GPUDF_OK)
        << gpudf_last_error();
    ASSERT_NO_FATAL_FAILURE(ShareCloseCycle(cycles, 4));
    gpudf_share_close(cs);
    gpudf_table_free(c);
    cycles++;
    // Collect the answers without slowing the churn: read only what poll
    // says is there.
    std::vector<pollfd> pf;
    for (auto &kid : kids) pf.push_back({kid.out, POLLIN, 0});
    if (poll(pf.data(), pf.size(), 0) <= 0) continue;
    for (size_t k = 0; k < kids.size(); k++)
      if (lines[k].empty() && pf[k].revents) {
        lines[k] = harness::ReadLine(kids[k], 10000);
        if (lines[k].empty()) lines[k] = "(exited without an answer)";
        answered++;
      }
  }
  double ms = MsSince(t0);
  int churn_seen = 0;
  for (size_t k = 0; k < kids.size(); k++) {
    int fd0 = -1, fd1 = -2, map0 = -1, map1 = -2, churn_ok = -1, idle = -1;
    ASSERT_EQ(std::sscanf(lines[k].c_str(), "ok 500 %d %d %d %d %d %d", &churn_ok, &fd0, &fd1,
                          &map0, &map1, &idle), 6)
        << "attacher " << k << " said '" << lines[k] << "'";
    EXPECT_EQ(fd1, fd0) << "attacher " << k << " file descriptors";
    EXPECT_EQ(map1, map0) << "attacher " << k << " mappings";
    // Idle mappings: the steady share's, and at most the churning share's
    // latest (earlier ones went when their arena was unlinked).
    EXPECT_GE(idle, 1) << "attacher " << k;
    EXPECT_LE(idle, 2) << "attacher " << k;
    churn_seen += churn_ok;
    int st = harness::Wait(kids[k]);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  }
  std::printf("[ info     ] 8 x 500 attaches in %.0f ms; the owner shared and closed %d x 2 "
              "tables; the churning share was found open %d times\n", ms, cycles, churn_seen);
  ExpectBackTo(start);
  gpudf_share_close(s);
  gpudf_table_free(t);
}

// 64 workers on 2 cores: every result equals gpudf_run's in-process one,
// every worker is reaped, and the owner holds no more than before.
TEST(Stress, SixtyFourWorkersOnTwoCores) {
  cpu_set_t old_set, two;
  ASSERT_EQ(sched_getaffinity(0, sizeof old_set, &old_set), 0);
  CPU_ZERO(&two);
  for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
    if (CPU_ISSET(c, &old_set)) {
      CPU_SET(c, &two);
      n++;
    }
  ASSERT_EQ(sched_setaffinity(0, sizeof two, &two), 0);  // the workers inherit it

  gpudf_table *t = nullptr;
  ASSERT_EQ(tg_make_table(50000, 8, &t), GPUDF_OK);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::mt19937_64 rng(harness::StressSeed());
  const int n = 640;
  std::vector<double> cfg;
  for (int i = 0; i < n; i++) {
    double lo = (double)(rng() % 100) - 50;
    cfg.insert(cfg.end(), {(double)(rng() % 5), (double)(rng() % 8), lo, lo + 20,
                           (double)(rng() % 5)});
  }
  std::vector<double> want(6 * n), got(6 * n, -1);
  ASSERT_EQ(gpudf_run(t, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU;  // 64 processes on cpu, device or not
  o.workers = 64;
  o.batch = 4;
  o.retries = 0;  // no crash is expected, and none may go unnoticed
  gpudf_sweep_result *r = nullptr;
  {
    // A first sweep shares the table; what is measured is the second.
    std::vector<double> warm(6 * n);
    ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, warm.data(), &o, nullptr), GPUDF_OK);
  }
  Counts start = Counts::Now();
  auto t0 = Clock::now();
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r), GPUDF_OK)
      << gpudf_last_error();
  double ms = MsSince(t0);
  sched_setaffinity(0, sizeof old_set, &old_set);
  gpudf_sweep_report rep{};
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.done, n);
  EXPECT_EQ(rep.workers, 64);
  EXPECT_EQ(rep.workers_lost, 0);
  EXPECT_GE(rep.workers_started, 64);
  int64_t configs = 0;
  for (int w = 0; w < gpudf_sweep_result_nworkers(r); w++) {
    gpudf_sweep_worker_info wi;
    ASSERT_EQ(gpudf_sweep_result_worker(r, w, &wi), GPUDF_OK);
    configs += wi.configs;
    EXPECT_STREQ(wi.exit, "exited with status 0") << "worker " << w;
  }
  EXPECT_EQ(configs, n);
  gpudf_sweep_result_free(r);
  // Counts, min and max are exact. Sums, means and std depend on the order
  // of summation, which differs with the batch a config ran in (one config
  // alone, or 640 at once in the reference): bounded by 1e-12 x the sum of
  // the magnitudes involved (x the squares' for the variance), taken over
  // the whole value column as an upper bound of the selected rows'.
  double abs_sum[5] = {0}, sq_sum[5] = {0};
  for (int c = 0; c < 5; c++)
    for (int64_t row = 0; row < gpudf_table_nrows(t); row++) {
      double v = ValueAt(t, c, row);
      abs_sum[c] += std::fabs(v);
      sq_sum[c] += v * v;
    }
  for (int i = 0; i < 6 * n; i++) {
    int field = i % 6, vc = (int)cfg[(i / 6) * 5 + 4];
    double count = want[(i / 6) * 6];
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << i;
      continue;
    }
    double tol = 0;
    if (field == 1) tol = 1e-12 * abs_sum[vc];
    if (field == 2) tol = 1e-12 * abs_sum[vc] / count;
    if (field == 5) tol = 1e-12 * sq_sum[vc] / (count - 1) / std::fmax(want[i], 1e-300) + 1e-12 * want[i];
    EXPECT_LE(std::fabs(got[i] - want[i]), tol) << "config " << i / 6 << " field " << field;
  }
  EXPECT_TRUE(harness::ChildrenNamed(getpid(), "gpudf-worker", true).empty());
  std::printf("[ info     ] 64 workers, %d configs on 2 cores: %.0f ms, %d processes started\n",
              n, ms, rep.workers_started);
  ExpectBackTo(start);
  gpudf_table_free(t);
}

}  // namespace
