// test_sweep_progress.cc - the progress callback and cancelling: how often
// it comes, that it moves while a batch runs, that a cancel (from the
// callback or SIGINT) stops the batch that runs and keeps what finished,
// and what the callback may not do. All on the cpu placement.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datagen.h"
#include "harness.h"
#include "sweep_support.h"

namespace {

using namespace sweeptest;

int CancelAfter(const gpudf_sweep_progress *p, void *user) {
  (void)user;
  return p->done >= 30;
}

TEST(Sweep, ProgressCallbackCancels) {
  Table tb(100);
  const int n = 400;
  auto cfg = TestConfigs(n, 3);
  std::vector<double> res(2 * n);
  for (int workers : {0, 2}) {
    auto o = PluginOptions(workers);
    o.batch = 4;
    o.progress = CancelAfter;
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r),
              GPUDF_ECANCELED);
    auto rep = r.Report();
    EXPECT_GE(rep.done, 30);
    EXPECT_GT(rep.cancelled, 0);
    EXPECT_EQ(rep.done + rep.cancelled, n);
    for (int i = 0; i < n; i++) {
      auto st = gpudf_sweep_result_state(r.r, i);
      if (st == GPUDF_CONFIG_DONE) {
        EXPECT_EQ(res[2 * i], 2.0 * i);
      } else {
        EXPECT_EQ(st, GPUDF_CONFIG_CANCELLED);
        EXPECT_EQ(gpudf_sweep_result_error(r.r, i), GPUDF_ECANCELED);
      }
    }
  }
}

// Issue 16 item 14: every worker's first claim was an equal share of the
// sweep, and a claim's configs finish together, so a cancel a third of the
// way in kept nothing. Claims now start small and double: a cancelled sweep
// keeps the configs that finished, with the results gpudf_run gives them,
// and the others end CANCELLED. Both kinds of sweep: ma_crossover over one
// price column (one pass group: claims by config count) and filter_agg over
// many column pairs (claims by whole groups).
int CancelAtAThird(const gpudf_sweep_progress *p, void *) { return p->fraction >= 0.33; }

void ExpectCancelKeepsWhatFinished(const char *kernel, const std::vector<double> &cfg,
                                   int64_t rows, int workers) {
  SCOPED_TRACE(std::string(kernel) + ", " + std::to_string(workers) + " workers");
  Table tb(rows, 17);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find(kernel, &k), GPUDF_OK);
  int np = gpudf_kernel_nparams(k), nr = gpudf_kernel_nresults(k, cfg.data());
  int n = (int)(cfg.size() / (size_t)np);
  ASSERT_EQ(gpudf_table_prepare(tb.t, tg_kernel(kernel), cfg.data(), n), GPUDF_OK) << gpudf_last_error();
  std::vector<double> got((size_t)n * nr, -1), want((size_t)nr);
  auto o = Options(workers);
  o.progress = CancelAtAThird;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel(kernel), cfg.data(), n, got.data(), &o, &r.r), GPUDF_ECANCELED)
      << "no progress call saw a third done before the end";
  auto rep = r.Report();
  EXPECT_GT(rep.done, 0) << "a third of the way in, nothing had finished";
  EXPECT_GT(rep.cancelled, 0);
  EXPECT_EQ(rep.done + rep.cancelled, n);
  EXPECT_GE(rep.first_result_s, 0.0);
  for (int i = 0; i < n; i++) {
    auto st = gpudf_sweep_result_state(r.r, i);
    std::vector<double> mine(got.begin() + (ptrdiff_t)i * nr, got.begin() + (ptrdiff_t)(i + 1) * nr);
    if (st != GPUDF_CONFIG_DONE) {
      EXPECT_EQ(st, GPUDF_CONFIG_CANCELLED) << "config " << i;
      for (double v : mine) EXPECT_TRUE(std::isnan(v)) << "config " << i;
      continue;
    }
    if (nr == 6 && i % 17 != 0) continue;  // a pass each: every 17th of the done ones
    ASSERT_EQ(gpudf_run(tb.t, k, &cfg[(size_t)i * np], 1, want.data()), GPUDF_OK);
    if (nr == 6) {
      // Sums that cancel (the columns' values have both signs; the i64
      // one reaches 2^62) may round differently between batchings by the
      // README's 1e-14 of the sum of the magnitudes, at most count x the
      // column's largest |value| (tg_make_table: a, b, c, d, e).
      const double max_abs[] = {500.0, 0x1p62, 14286.0, 50.0, 1.0};
      ExpectSameFilterAgg(want, mine, max_abs[(int)cfg[(size_t)i * np + 4]]);
    } else {
      for (int j = 0; j < nr; j++)
        EXPECT_TRUE(want[j] == mine[j] || (std::isnan(want[j]) && std::isnan(mine[j])) ||
                    std::fabs(want[j] - mine[j]) <= 1e-12 * std::fabs(want[j]))
            << "config " << i << " result " << j << ": " << mine[j] << ", run " << want[j];
    }
  }
}

TEST(Sweep, ACancelledSweepKeepsWhatFinished) {
  std::vector<double> ma;  // price_col (c, f32 >= 0) fast slow fee_bps mode periods_per_year
  for (int fast = 2; fast <= 60; fast += 2)
    for (int slow = fast + 5; slow <= fast + 200; slow += 5)
      ma.insert(ma.end(), {2, (double)fast, (double)slow, 0, (double)(slow % 2), 252});
  auto fa = FilterAggConfigs(3000, 4242);
  for (int workers : {0, 2}) {
    ExpectCancelKeepsWhatFinished("ma_crossover", ma, 100000, workers);
    ExpectCancelKeepsWhatFinished("filter_agg", fa, 3000000, workers);
  }
}

// The callback comes about 10 times a second, in process and with worker
// processes, whose owner sleeps between looks (woken by worker exits) rather
// than polling.
int RecordTimes(const gpudf_sweep_progress *p, void *user) {
  static_cast<std::vector<double> *>(user)->push_back(p->elapsed_s);
  return 0;
}

TEST(Sweep, ProgressComesAboutTenTimesASecond) {
  Table tb(100);
  const int n = 48;
  auto cfg = TestConfigs(n, 50);  // 50 ms per config: about 1.2 s with 2 workers
  std::vector<double> res(2 * n);
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    auto o = PluginOptions(workers);
    o.batch = 1;
    std::vector<double> at;
    o.progress = RecordTimes;
    o.progress_user = &at;
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectEchoes(res, n, 100);
    double wall = r.Report().wall_s, gap = at.empty() ? wall : at[0];
    for (size_t i = 1; i < at.size(); i++) gap = std::max(gap, at[i] - at[i - 1]);
    EXPECT_GE((double)at.size(), 6.0 * wall) << at.size() << " calls in " << wall << " s";
    EXPECT_LE((double)at.size(), 14.0 * wall + 2) << at.size() << " calls in " << wall << " s";
    EXPECT_LT(gap, 0.4) << "longest time without a call";
  }
}

// The progress moves while a batch runs, not only when it ends: a kernel
// reports the fraction of its batch done (gpudf_kernel_progress), and the
// fraction and ETA the callback sees count it. Without that, a sweep of
// one long claim per worker shows 0 done and no ETA until the claims end.
struct Seen {
  int64_t done;
  double fraction, eta;
};

int RecordFractions(const gpudf_sweep_progress *p, void *user) {
  static_cast<std::vector<Seen> *>(user)->push_back({p->done, p->fraction, p->eta_s});
  return 0;
}

void ExpectProgressWithinTheBatch(const std::vector<Seen> &seen, int64_t n) {
  ASSERT_FALSE(seen.empty());
  int within = 0;
  for (size_t i = 0; i < seen.size(); i++) {
    const Seen &s = seen[i];
    EXPECT_GE(s.fraction, 0.0);
    EXPECT_LE(s.fraction, 1.0);
    if (i > 0) {
      EXPECT_GE(s.fraction, seen[i - 1].fraction) << "the fraction went back";
    }
    EXPECT_GE(s.fraction * (double)n + 1e-9, (double)s.done) << "below the configs done";
    // Claims start small and double (gdf_claim_ramp): the batches that run
    // count beyond the configs done.
    if (s.fraction * (double)n > (double)s.done + 1e-6 && s.fraction < 1.0) {
      within++;
      EXPECT_GT(s.eta, 0.0) << "no ETA although a fraction is known";
    }
  }
  EXPECT_GE(within, 2) << "no progress reported while a batch ran";
  EXPECT_EQ(seen.back().done, n);
  EXPECT_EQ(seen.back().fraction, 1.0);
}

TEST(Sweep, ProgressMovesWhileAPluginKernelsBatchRuns) {
  Table tb(100);
  const int n = 16;
  auto cfg = TestConfigs(n, 50);  // one claim of 0.8 s
  std::vector<double> res(2 * n);
  auto o = PluginOptions(1);
  std::vector<Seen> seen;
  o.progress = RecordFractions;
  o.progress_user = &seen;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ExpectEchoes(res, n, 100);
  EXPECT_EQ(r.Report().workers_started, 1);
  ExpectProgressWithinTheBatch(seen, n);
}

// The default job's kernel over a 2,000,000-row random walk: one claim
// over the time axis (one worker, or in process).
struct MaJob {
  gpudf_table *t = nullptr;
  const gpudf_kernel *k = nullptr;
  std::vector<double> cfg;
  int64_t n = 0;
  MaJob() {
    const int64_t rows = 2000000;
    EXPECT_EQ(gpudf_table_create(rows, &t), GPUDF_OK) << gpudf_last_error();
    double *p = nullptr;
    EXPECT_EQ(gpudf_table_alloc_column(t, "price", GPUDF_TYPE_F64, (void **)&p), GPUDF_OK);
    uint64_t seed = 5;
    p[0] = 100.0;
    for (int64_t i = 1; i < rows; i++)
      p[i] = p[i - 1] * (1.0 + ((double)(tg_splitmix(&seed) >> 11) * 0x1.0p-53 - 0.5) * 0.01);
    EXPECT_EQ(gpudf_kernel_find("ma_crossover", &k), GPUDF_OK);
    for (int fast = 2; fast < 12; fast++)
      for (int slow = 20; slow < 220; slow += 20) {
        std::vector<double> one(6);
        EXPECT_EQ(gpudf_kernel_defaults(k, one.data()), GPUDF_OK);
        one[0] = 0, one[1] = fast, one[2] = slow;  // price column 0
        cfg.insert(cfg.end(), one.begin(), one.end());
      }
    n = (int64_t)cfg.size() / 6;
  }
  ~MaJob() { gpudf_table_free(t); }
  // A sweep of it whose progress callback fn records into seen.
  gpudf_status Sweep(int workers, gpudf_sweep_progress_fn fn, std::vector<Seen> *seen,
                     std::vector<double> *got, Result *r) const {
    got->assign(5 * (size_t)n, 0.0);
    auto o = Options(workers);
    o.progress = fn;
    o.progress_user = seen;
    return gpudf_sweep(t, tg_kernel("ma_crossover"), cfg.data(), n, got->data(), &o, &r->r);
  }
};

TEST(Sweep, ProgressMovesWhileAMaCrossoverBatchRuns) {
  MaJob job;
  std::vector<double> want(5 * (size_t)job.n);
  ASSERT_EQ(gpudf_run(job.t, job.k, job.cfg.data(), job.n, want.data()), GPUDF_OK)
      << gpudf_last_error();
  // In process too: the kernel's reports run the callback mid-batch there.
  for (int workers : {1, 0}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    std::vector<double> got;
    std::vector<Seen> seen;
    Result r;
    ASSERT_EQ(job.Sweep(workers, RecordFractions, &seen, &got, &r), GPUDF_OK)
        << gpudf_last_error();
    ExpectProgressWithinTheBatch(seen, job.n);
    EXPECT_EQ(want, got) << "reporting changed the results";
  }
}

// A cancel lands inside a long batch: the kernel sees it at its next
// report and stops, rather than finishing the whole claim first (in
// process the callback would otherwise not even run until the end).
int CancelAtAQuarter(const gpudf_sweep_progress *p, void *user) {
  auto *seen = static_cast<std::vector<Seen> *>(user);
  seen->push_back({p->done, p->fraction, p->eta_s});
  return p->fraction >= 0.25;
}

TEST(Sweep, ACancelStopsTheBatchThatRuns) {
  MaJob job;
  std::vector<double> want(5 * (size_t)job.n);
  ASSERT_EQ(gpudf_run(job.t, job.k, job.cfg.data(), job.n, want.data()), GPUDF_OK)
      << gpudf_last_error();
  for (int workers : {0, 1}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    std::vector<double> got;
    std::vector<Seen> seen;
    Result r;
    ASSERT_EQ(job.Sweep(workers, CancelAtAQuarter, &seen, &got, &r), GPUDF_ECANCELED)
        << gpudf_last_error();
    auto rep = r.Report();
    // Claims of 4, 4, 8, 16, 32, 36 configs (gdf_claim_ramp): the claim
    // that runs at a quarter ends at 32 or 64; had it run to its end after
    // the cancel, more than half would be done.
    EXPECT_LT(rep.done, job.n / 2) << "the batch ran to its end";
    EXPECT_EQ(rep.done + rep.cancelled, job.n);
    ASSERT_FALSE(seen.empty());
    EXPECT_LT(seen.back().fraction, 0.9);
    for (int64_t i = 0; i < job.n; i++) {
      if (gpudf_sweep_result_state(r.r, i) == GPUDF_CONFIG_DONE) {
        EXPECT_EQ(got[5 * (size_t)i], want[5 * (size_t)i]) << "config " << i;
        continue;
      }
      EXPECT_EQ(gpudf_sweep_result_state(r.r, i), GPUDF_CONFIG_CANCELLED);
      EXPECT_TRUE(std::isnan(got[5 * (size_t)i]));
    }
    if (workers > 0) {  // the worker stopped by itself, not killed after the grace time
      gpudf_sweep_worker_info wi;
      ASSERT_EQ(gpudf_sweep_result_worker(r.r, 0, &wi), GPUDF_OK);
      EXPECT_STREQ(wi.exit, "exited with status 0");
      EXPECT_LT(wi.alive_s, 0.9 * rep.wall_s + 0.5);
    }
  }
}

// In process the callback runs while a kernel reads the table: growing the
// table from it (a column, a prepare, a sweep with workers) would move the
// memory under the kernel, so it is refused with EBUSY, and the sweep goes on.
struct Grower {
  gpudf_table *t;
  std::vector<gpudf_status> got;
};

int GrowFromTheCallback(const gpudf_sweep_progress *p, void *user) {
  auto *g = static_cast<Grower *>(user);
  if (p->fraction < 1.0 && g->got.size() < 3) {
    void *data;
    std::string name = "extra" + std::to_string(g->got.size());
    g->got.push_back(gpudf_table_alloc_column(g->t, name.c_str(), GPUDF_TYPE_F64, &data));
  }
  return 0;
}

TEST(Sweep, ACallbackCannotGrowTheTableAnInProcessSweepReads) {
  MaJob job;
  std::vector<double> want(5 * (size_t)job.n), got(5 * (size_t)job.n);
  ASSERT_EQ(gpudf_run(job.t, job.k, job.cfg.data(), job.n, want.data()), GPUDF_OK);
  int ncols = gpudf_table_ncols(job.t);
  auto o = Options(0);
  Grower g{job.t, {}};
  o.progress = GrowFromTheCallback;
  o.progress_user = &g;
  ASSERT_EQ(gpudf_sweep(job.t, tg_kernel("ma_crossover"), job.cfg.data(), job.n, got.data(), &o, nullptr),
            GPUDF_OK) << gpudf_last_error();
  ASSERT_FALSE(g.got.empty()) << "the callback never ran mid-batch";
  for (gpudf_status st : g.got) EXPECT_EQ(st, GPUDF_EBUSY);
  EXPECT_EQ(gpudf_table_ncols(job.t), ncols);
  EXPECT_EQ(want, got);
  void *data;  // after the sweep it grows again
  EXPECT_EQ(gpudf_table_alloc_column(job.t, "after", GPUDF_TYPE_F64, &data), GPUDF_OK)
      << gpudf_last_error();
}

// A cancel reaches the one-config-at-a-time reruns after a kernel error too.
int CancelAfterASecond(const gpudf_sweep_progress *p, void *) { return p->elapsed_s > 1.0; }

TEST(Sweep, ACancelStopsTheRerunsAfterAKernelError) {
  Table tb(100);
  const int n = 20, bad = 10;
  auto cfg = TestConfigs(n, 100);  // the batch fails after 1 s; reruns would take 2 s more
  cfg[3 * bad + 1] = 3;            // fail
  std::vector<double> res(2 * n);
  auto o = PluginOptions(0);
  o.progress = CancelAfterASecond;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r),
            GPUDF_ECANCELED) << gpudf_last_error();
  auto rep = r.Report();
  EXPECT_GT(rep.cancelled, 5) << rep.done << " done";
  EXPECT_LT(rep.wall_s, 2.0);
  EXPECT_EQ(rep.done + rep.failed + rep.cancelled, n);
}

TEST(Sweep, KernelProgressOutsideASweepDoesNothing) {
  gpudf_kernel_progress(0.5);  // no sweep worker in this thread: no effect, no crash
  gpudf_kernel_progress(NAN);
  gpudf_kernel_progress(-3.0);
  Table tb(100);
  const int n = 4;
  auto cfg = TestConfigs(n, 0);
  std::vector<double> res(2 * n);
  auto o = PluginOptions(0);  // in process: the plugin's reports go nowhere
  std::vector<Seen> seen;
  o.progress = RecordFractions;
  o.progress_user = &seen;
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ExpectEchoes(res, n, 100);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().fraction, 1.0);
}

TEST(Sweep, SigintCancelsAndRestoresTheHandler) {
  auto c = harness::Spawn({"sweep-sigint"});
  ASSERT_EQ(harness::ReadLine(c), "running");
  kill(c.pid, SIGINT);
  std::string line = harness::ReadLine(c);
  int st = -1, restored = -1;
  long long done = -1, cancelled = -1;
  ASSERT_EQ(sscanf(line.c_str(), "cancelled %d %lld %lld %d", &st, &done, &cancelled, &restored),
            4) << line;
  EXPECT_EQ(st, GPUDF_ECANCELED);
  EXPECT_GT(cancelled, 0);
  EXPECT_EQ(done + cancelled, 400);
  EXPECT_EQ(restored, 1);
  int status = harness::Wait(c);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A child forked while another thread runs a sweep is not in that sweep: it
// has the process's own SIGINT/SIGTERM handlers, not the sweep's (which
// would swallow both for the child's whole life).
TEST(Sweep, AChildForkedDuringASweepHasTheCallersHandlers) {
  Table tb(100);
  const int n = 20;
  auto cfg = TestConfigs(n, 50);  // 1 s in process
  std::vector<double> res(2 * n);
  struct sigaction before = {};
  sigaction(SIGTERM, nullptr, &before);
  std::thread sweeper([&] {
    auto o = PluginOptions(0);
    o.batch = 1;
    EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, nullptr),
              GPUDF_OK) << gpudf_last_error();
  });
  struct sigaction now = {};
  for (int ms = 0; ms < 5000; ms += 5) {  // until the sweep's handler is in
    sigaction(SIGTERM, nullptr, &now);
    if (now.sa_handler != before.sa_handler) break;
    usleep(5000);
  }
  ASSERT_NE(now.sa_handler, before.sa_handler) << "the sweep never installed its handler";
  pid_t child = fork();
  if (child == 0) {
    struct sigaction mine = {};
    sigaction(SIGTERM, nullptr, &mine);
    _exit(mine.sa_handler == before.sa_handler ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  waitpid(child, &status, 0);
  sweeper.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child kept the sweep's handler";
  sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, before.sa_handler) << "not restored after the sweep";
}

TEST(Sweep, ProgressBarIsQuietWithoutATerminal) {
  gpudf_sweep_progress p{5, 0, 10, 1.0, 1.0, 0.5};
  EXPECT_EQ(gpudf_progress_bar(&p, nullptr), 0);
}

}  // namespace
