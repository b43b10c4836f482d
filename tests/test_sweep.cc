// test_sweep.cc - gpudf_sweep: results against gpudf_run, worker counts,
// crashes, hangs, cancellation, owner death, plugins and bad input. All on
// the cpu placement.
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

namespace {

struct Table {
  gpudf_table *t = nullptr;
  explicit Table(int64_t rows = 20000, uint64_t seed = 11) {
    EXPECT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
  }
  ~Table() { gpudf_table_free(t); }
};

struct Result {
  gpudf_sweep_result *r = nullptr;
  ~Result() { gpudf_sweep_result_free(r); }
  gpudf_sweep_report Report() const {
    gpudf_sweep_report rep{};
    EXPECT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    return rep;
  }
};

gpudf_sweep_options Options(int workers) {
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU;  // the engine on cpu, device or not (auto would pick a GPU)
  o.workers = workers;
  return o;
}

// Random filter_agg configs over every column and op.
std::vector<double> FilterAggConfigs(int n, uint64_t seed) {
  std::vector<double> c;
  for (int i = 0; i < n; i++) {
    double lo = (double)(tg_splitmix(&seed) % 100) - 50;
    c.insert(c.end(), {(double)(tg_splitmix(&seed) % 5), (double)(tg_splitmix(&seed) % 8), lo,
                       lo + 20, (double)(tg_splitmix(&seed) % 5)});
  }
  return c;
}

// count, min and max must match exactly. sum, mean and std are compared to
// 1e-12 relative: filter_agg accumulates per row block and merges blocks
// (Chan's formula), and how many configs share a pass decides whether a
// group runs config by config or by buckets, so a batch cut differently
// may round differently in the last bits.
// max_abs: the largest |value| of the value column, when its sums may
// cancel (then sum and mean are compared to 1e-14 of count x max_abs too).
void ExpectSameFilterAgg(const std::vector<double> &want, const std::vector<double> &got,
                         double max_abs = 0.0) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); i++) {
    int field = (int)(i % 6);
    double a = want[i], b = got[i];
    double count = want[i - (size_t)field];
    double slack = field == 1 ? 1e-14 * count * max_abs : field == 2 ? 1e-14 * max_abs : 0.0;
    if (std::isnan(a)) {
      EXPECT_TRUE(std::isnan(b)) << "value " << i;
    } else if (field == 0 || field == 3 || field == 4) {
      EXPECT_EQ(a, b) << "config " << i / 6 << " field " << field;
    } else {
      EXPECT_LE(std::fabs(a - b), std::fmax(1e-12 * std::fmax(1.0, std::fabs(a)), slack))
          << "config " << i / 6 << " field " << field;
    }
  }
}

void SweepMatchesRun(int workers, int n, int64_t batch = 0) {
  Table tb;
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  auto cfg = FilterAggConfigs(n, 1234 + workers);
  std::vector<double> want(6 * (size_t)n), got(6 * (size_t)n, -1);
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  auto o = Options(workers);
  o.batch = batch;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg.data(), n, got.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ExpectSameFilterAgg(want, got);
  auto rep = r.Report();
  EXPECT_EQ(rep.total, n);
  EXPECT_EQ(rep.done, n);
  EXPECT_EQ(rep.failed + rep.timed_out + rep.cancelled, 0);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CPU);
  int64_t sum = 0;
  for (int w = 0; w < gpudf_sweep_result_nworkers(r.r); w++) {
    gpudf_sweep_worker_info wi;
    ASSERT_EQ(gpudf_sweep_result_worker(r.r, w, &wi), GPUDF_OK);
    sum += wi.configs;
  }
  EXPECT_EQ(sum, n);
  for (int i = 0; i < n; i++) EXPECT_EQ(gpudf_sweep_result_state(r.r, i), GPUDF_CONFIG_DONE);
}

TEST(Sweep, InProcessMatchesRun) { SweepMatchesRun(0, 200); }
TEST(Sweep, OneWorkerMatchesRun) { SweepMatchesRun(1, 200); }
TEST(Sweep, TwoWorkersMatchRun) { SweepMatchesRun(2, 300); }
TEST(Sweep, SixteenWorkersMatchRun) { SweepMatchesRun(16, 300, 8); }
TEST(Sweep, BatchLargerThanConfigCount) { SweepMatchesRun(2, 10, 1000); }
TEST(Sweep, OneConfig) { SweepMatchesRun(2, 1); }

TEST(Sweep, ZeroConfigs) {
  Table tb;
  auto o = Options(2);
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "filter_agg", nullptr, 0, nullptr, &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_sweep_result_count(r.r), 0);
  EXPECT_EQ(r.Report().done, 0);
  EXPECT_EQ(r.Report().workers_started, 0);
}

TEST(Sweep, OverAViewOfAnExistingShare) {
  Table tb;
  gpudf_share *s;
  std::string name = harness::UniqueName("sweepview");
  ASSERT_EQ(gpudf_table_share(tb.t, name.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK);
  auto cfg = FilterAggConfigs(40, 5);
  std::vector<double> want(240), got(240);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  ASSERT_EQ(gpudf_run(v, k, cfg.data(), 40, want.data()), GPUDF_OK);
  auto o = Options(2);
  EXPECT_EQ(gpudf_sweep(v, "filter_agg", cfg.data(), 40, got.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ExpectSameFilterAgg(want, got);
  gpudf_table_free(v);
  gpudf_share_close(s);
}

// ------------------------------------------------------ the test plugin

std::vector<double> TestConfigs(int n, int sleep_ms) {
  std::vector<double> c;
  for (int i = 0; i < n; i++) c.insert(c.end(), {(double)i, 0, (double)sleep_ms});
  return c;
}

gpudf_sweep_options PluginOptions(int workers) {
  static const char *plugins[] = {GPUDF_TEST_PLUGIN};
  auto o = Options(workers);
  o.nplugins = 1;
  o.plugins = plugins;
  return o;
}

void ExpectEchoes(const std::vector<double> &res, int n, int64_t rows, int skip = -1) {
  for (int i = 0; i < n; i++) {
    if (i == skip) continue;
    EXPECT_EQ(res[2 * i], 2.0 * i) << "config " << i;
    EXPECT_EQ(res[2 * i + 1], (double)rows) << "config " << i;
  }
}

// Worker processes of this process, by their parent pid.
std::vector<int> WorkerPids(int parent) {
  std::vector<int> pids;
  DIR *d = opendir("/proc");
  while (dirent *e = d ? readdir(d) : nullptr) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    size_t rp = line.rfind(')');
    if (rp == std::string::npos || line.find("(gpudf-worker)") == std::string::npos) continue;
    std::istringstream rest(line.substr(rp + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') pids.push_back(pid);
  }
  if (d) closedir(d);
  return pids;
}

bool Gone(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  size_t rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z';
}

TEST(Sweep, PluginKernelInWorkers) {
  Table tb(100);
  auto cfg = TestConfigs(50, 0);
  std::vector<double> res(100);
  auto o = PluginOptions(2);
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), 50, res.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ExpectEchoes(res, 50, 100);
}

TEST(Sweep, SamplePluginRuns) {
  Table tb(1000);
  static const char *plugins[] = {GPUDF_SAMPLE_PLUGIN};
  auto o = Options(2);
  o.nplugins = 1;
  o.plugins = plugins;
  double cfg[] = {3, 0.0, 0, -1e300}, res[4];  // d is uniform in [-50, 50)
  ASSERT_EQ(gpudf_sweep(tb.t, "count_above", cfg, 2, res, &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(res[2], 1000);  // every i32 value is above -1e300
  EXPECT_EQ(res[3], 1.0);
  EXPECT_GT(res[0], 300);
  EXPECT_LT(res[0], 700);
}

int KillOneWorker(const gpudf_sweep_progress *p, void *user) {
  int *killed = static_cast<int *>(user);
  if (*killed || p->done < 20) return 0;
  auto pids = WorkerPids(getpid());
  if (!pids.empty() && kill(pids[0], SIGKILL) == 0) *killed = pids[0];
  return 0;
}

TEST(Sweep, WorkerKilledMidSweepIsRetried) {
  Table tb(100);
  const int n = 300;
  auto cfg = TestConfigs(n, 3);
  std::vector<double> res(2 * n);
  auto o = PluginOptions(2);
  o.batch = 8;
  int killed = 0;
  o.progress = KillOneWorker;
  o.progress_user = &killed;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ASSERT_NE(killed, 0) << "the sweep ended before a worker could be killed";
  ExpectEchoes(res, n, 100);
  auto rep = r.Report();
  EXPECT_EQ(rep.done, n);
  EXPECT_EQ(rep.workers_lost, 1);
  EXPECT_GE(rep.retried, 1);
  EXPECT_GE(rep.workers_started, 3);  // the killed one was replaced
}

TEST(Sweep, CrashingConfigIsTheOnlyFailure) {
  Table tb(100);
  const int n = 64, bad = 37;
  auto cfg = TestConfigs(n, 0);
  cfg[3 * bad + 1] = 1;  // crash
  std::vector<double> res(2 * n);
  auto o = PluginOptions(2);
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  for (int i = 0; i < n; i++)
    EXPECT_EQ(gpudf_sweep_result_state(r.r, i), i == bad ? GPUDF_CONFIG_FAILED : GPUDF_CONFIG_DONE)
        << "config " << i;
  std::string why = gpudf_sweep_result_reason(r.r, bad);
  EXPECT_NE(why.find("signal 11"), std::string::npos) << why;
  EXPECT_NE(why.find("config 37"), std::string::npos) << why;
  EXPECT_EQ(gpudf_sweep_result_error(r.r, bad), GPUDF_EIO);
  EXPECT_TRUE(std::isnan(res[2 * bad]));
  ExpectEchoes(res, n, 100, bad);
  auto rep = r.Report();
  EXPECT_EQ(rep.failed, 1);
  EXPECT_EQ(rep.done, n - 1);
}

TEST(Sweep, KernelErrorFailsOnlyItsConfig) {
  Table tb(100);
  const int n = 20, bad = 4;
  auto cfg = TestConfigs(n, 0);
  cfg[3 * bad + 1] = 3;  // fail
  std::vector<double> res(2 * n);
  for (int workers : {0, 2}) {
    auto o = PluginOptions(workers);
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK);
    EXPECT_EQ(gpudf_sweep_result_state(r.r, bad), GPUDF_CONFIG_FAILED);
    EXPECT_EQ(gpudf_sweep_result_error(r.r, bad), GPUDF_EINVAL);
    // The whole message: in process, the worker slot's counters once
    // overwrote part of the first kernel message (a layout without slots).
    EXPECT_NE(std::string(gpudf_sweep_result_reason(r.r, bad))
                  .find("sweep_test: asked to fail by its action parameter (action = fail)"),
              std::string::npos) << gpudf_sweep_result_reason(r.r, bad);
    EXPECT_EQ(r.Report().done, n - 1);
    ExpectEchoes(res, n, 100, bad);
  }
}

TEST(Sweep, HangingConfigTimesOut) {
  Table tb(100);
  const int n = 24, bad = 5;
  auto cfg = TestConfigs(n, 0);
  cfg[3 * bad + 1] = 2;  // hang
  std::vector<double> res(2 * n);
  auto o = PluginOptions(2);
  o.batch = 4;
  o.time_limit_s = 0.2;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  for (int i = 0; i < n; i++)
    EXPECT_EQ(gpudf_sweep_result_state(r.r, i),
              i == bad ? GPUDF_CONFIG_TIMED_OUT : GPUDF_CONFIG_DONE) << "config " << i;
  std::string why = gpudf_sweep_result_reason(r.r, bad);
  EXPECT_NE(why.find("time limit"), std::string::npos) << why;
  ExpectEchoes(res, n, 100, bad);
  EXPECT_EQ(r.Report().timed_out, 1);
}

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
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r),
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
  ASSERT_EQ(gpudf_table_prepare(tb.t, kernel, cfg.data(), n), GPUDF_OK) << gpudf_last_error();
  std::vector<double> got((size_t)n * nr, -1), want((size_t)nr);
  auto o = Options(workers);
  o.progress = CancelAtAThird;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, kernel, cfg.data(), n, got.data(), &o, &r.r), GPUDF_ECANCELED)
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
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
    return gpudf_sweep(t, "ma_crossover", cfg.data(), n, got->data(), &o, &r->r);
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
  ASSERT_EQ(gpudf_sweep(job.t, "ma_crossover", job.cfg.data(), job.n, got.data(), &o, nullptr),
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
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, &r.r),
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
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, nullptr), GPUDF_OK)
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
    EXPECT_EQ(gpudf_sweep(tb.t, "sweep_test", cfg.data(), n, res.data(), &o, nullptr),
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

TEST(Sweep, OwnerKilledTakesItsWorkersAlong) {
  auto c = harness::Spawn({"sweep-hold"});
  ASSERT_EQ(harness::ReadLine(c), "running");
  int owner = c.pid;
  auto workers = WorkerPids(owner);
  ASSERT_EQ(workers.size(), 2u);
  harness::Kill(c);
  for (int ms = 0; ms < 1000; ms += 10) {
    bool all = true;
    for (int w : workers) all = all && Gone(w);
    if (all) break;
    usleep(10000);
  }
  for (int w : workers) EXPECT_TRUE(Gone(w)) << "worker " << w << " outlived its owner";
  int removed = 0;
  ASSERT_EQ(gpudf_cleanup(&removed), GPUDF_OK);
  // removed may be 0: a test running beside this one may have swept them first.
  std::string mark = "." + std::to_string(owner) + ".";
  for (const auto &e : harness::ShmEntries())
    EXPECT_EQ(e.find(mark), std::string::npos) << "left behind: " << e;
}

// ------------------------------------------------------------ pass keys

// n configs of sweep_keyed over nkeys keys (n / nkeys each) in a shuffled
// order: config i echoes 2 i, and its key comes from a fixed shuffle.
std::vector<double> KeyedConfigs(int n, int nkeys, uint64_t seed) {
  std::vector<int> keys(n);
  for (int i = 0; i < n; i++) keys[i] = i % nkeys;
  for (int i = n - 1; i > 0; i--) std::swap(keys[i], keys[tg_splitmix(&seed) % (uint64_t)(i + 1)]);
  std::vector<double> c;
  for (int i = 0; i < n; i++) c.insert(c.end(), {(double)i, 0, 0, (double)(7 * keys[i] + 3)});
  return c;
}

// Passes the batches paid: the sum over batches of their runs of equal
// keys, from each config's runs / batch size.
double PassesOf(const std::vector<double> &res, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) sum += res[4 * i + 2] / res[4 * i + 3];
  return sum;
}

int64_t BatchesOf(const gpudf_sweep_result *r) {
  int64_t sum = 0;
  for (int w = 0; w < gpudf_sweep_result_nworkers(r); w++) {
    gpudf_sweep_worker_info wi;
    EXPECT_EQ(gpudf_sweep_result_worker(r, w, &wi), GPUDF_OK);
    sum += wi.batches;
  }
  return sum;
}

void ExpectKeyedEchoes(const std::vector<double> &res, const gpudf_sweep_result *r, int n,
                       int64_t rows, std::vector<int> bad = {}) {
  for (int i = 0; i < n; i++) {
    if (std::find(bad.begin(), bad.end(), i) != bad.end()) continue;
    EXPECT_EQ(gpudf_sweep_result_state(r, i), GPUDF_CONFIG_DONE) << "config " << i;
    EXPECT_EQ(res[4 * i], 2.0 * i) << "config " << i;
    EXPECT_EQ(res[4 * i + 1], (double)rows) << "config " << i;
  }
}

// 1,000 configs over 4 keys, shuffled: with 2 workers each claim is one
// group (never a group cut in two), so the batches pay exactly 4 passes in
// 4 claims whatever the timing, and in process (or 1 worker) the claims
// double by whole groups (gdf_claim_ramp: 1, 1, then 2 groups); without the key (the old-size def) every batch holds every key
// many times over.
TEST(Sweep, PassKeyedClaimsKeepGroupsTogether) {
  Table tb(100);
  const int n = 1000;
  auto cfg = KeyedConfigs(n, 4, 99);
  for (int workers : {0, 1, 2}) {
    std::vector<double> res(4 * n, -1);
    auto o = PluginOptions(workers);
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectKeyedEchoes(res, r.r, n, 100);
    EXPECT_NEAR(PassesOf(res, n), 4.0, 1e-9) << workers << " workers";
    EXPECT_EQ(BatchesOf(r.r), workers == 2 ? 4 : 3) << workers << " workers";
    EXPECT_EQ(r.Report().done, n);
  }
  std::vector<double> res(4 * n, -1);
  auto o = PluginOptions(2);
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_old_def", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ExpectKeyedEchoes(res, r.r, n, 100);
  EXPECT_GT(PassesOf(res, n), 100.0) << "configs of a kernel without a pass key were regrouped";
}

// The batch option still bounds every claim, and a claim stays in its group.
TEST(Sweep, BatchOptionBoundsPassKeyedClaims) {
  Table tb(100);
  const int n = 1000;
  auto cfg = KeyedConfigs(n, 4, 5);
  for (int workers : {0, 2, 3}) {
    std::vector<double> res(4 * n, -1);
    auto o = PluginOptions(workers);
    o.batch = 30;
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectKeyedEchoes(res, r.r, n, 100);
    for (int i = 0; i < n; i++) {
      EXPECT_LE(res[4 * i + 3], 30) << "config " << i;
      EXPECT_EQ(res[4 * i + 2], 1) << "config " << i;
    }
  }
}

// Few configs, many keys, batches larger than the sweep, one per config.
TEST(Sweep, PassKeyedTinySweeps) {
  Table tb(10);
  for (int n : {1, 2, 3, 5, 17})
    for (int workers : {0, 1, 2, 3})
      for (int64_t batch : {0, 1, 1000}) {
        auto cfg = KeyedConfigs(n, n < 3 ? n : 3, (uint64_t)n);
        std::vector<double> res(4 * (size_t)n, -1);
        auto o = PluginOptions(workers);
        o.batch = batch;
        Result r;
        ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r),
                  GPUDF_OK) << gpudf_last_error();
        ExpectKeyedEchoes(res, r.r, n, 10);
        EXPECT_EQ(r.Report().done, n) << n << " configs, " << workers << " workers, batch "
                                      << batch;
      }
}

// filter_agg over four column pairs in a random order, as a sweep of
// thresholds usually is: every worker count and batch size gives what
// gpudf_run gives, in the caller's order.
TEST(Sweep, ShuffledColumnPairsMatchRun) {
  Table tb;
  const int n = 2000;
  std::vector<double> cfg;
  uint64_t seed = 77;
  for (int i = 0; i < n; i++) {
    double lo = (double)(tg_splitmix(&seed) % 100) - 50;
    cfg.insert(cfg.end(), {(double)(tg_splitmix(&seed) % 2) * 2, (double)(tg_splitmix(&seed) % 8),
                           lo, lo + 20, 1 + (double)(tg_splitmix(&seed) % 2) * 2});
  }
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::vector<double> want(6 * (size_t)n);
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  struct { int workers; int64_t batch; } runs[] = {{0, 0}, {0, 300}, {2, 0}, {3, 128}};
  for (auto run : runs) {
    std::vector<double> got(6 * (size_t)n, -1);
    auto o = Options(run.workers);
    o.batch = run.batch;
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg.data(), n, got.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectSameFilterAgg(want, got);
    for (int i = 0; i < n; i++) EXPECT_EQ(gpudf_sweep_result_state(r.r, i), GPUDF_CONFIG_DONE);
    EXPECT_EQ(r.Report().done, n);
  }
}

// A crash and a kernel error among shuffled keys: each is reported at the
// caller's index, every other config is done.
TEST(Sweep, FailuresInAShuffledKeyedSweepKeepTheirIndex) {
  Table tb(100);
  const int n = 400, crash = 137, fail = 211;
  auto cfg = KeyedConfigs(n, 4, 3);
  cfg[4 * fail + 1] = 3;
  for (int workers : {0, 2}) {
    if (workers > 0) cfg[4 * crash + 1] = 1;  // no crash in this process
    std::vector<double> res(4 * n, -1);
    auto o = PluginOptions(workers);
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    std::vector<int> bad = {fail};
    if (workers > 0) bad.push_back(crash);
    ExpectKeyedEchoes(res, r.r, n, 100, bad);
    EXPECT_EQ(gpudf_sweep_result_state(r.r, fail), GPUDF_CONFIG_FAILED);
    EXPECT_EQ(gpudf_sweep_result_error(r.r, fail), GPUDF_EINVAL);
    EXPECT_NE(std::string(gpudf_sweep_result_reason(r.r, fail)).find("asked to fail"),
              std::string::npos) << gpudf_sweep_result_reason(r.r, fail);
    EXPECT_TRUE(std::isnan(res[4 * fail]));
    if (workers > 0) {
      EXPECT_EQ(gpudf_sweep_result_state(r.r, crash), GPUDF_CONFIG_FAILED);
      std::string why = gpudf_sweep_result_reason(r.r, crash);
      EXPECT_NE(why.find("signal 11"), std::string::npos) << why;
      EXPECT_NE(why.find("on config 137"), std::string::npos) << why;
      EXPECT_TRUE(std::isnan(res[4 * crash]));
    }
    EXPECT_EQ(r.Report().failed, (int64_t)bad.size());
    EXPECT_EQ(r.Report().done, n - (int64_t)bad.size());
  }
}

// Without retries a crash fails its whole claim; the reason names configs
// by the caller's indices, and those are the configs that failed.
TEST(Sweep, CrashWithoutRetriesNamesTheCallersIndices) {
  Table tb(100);
  const int n = 400, crash = 137;
  auto cfg = KeyedConfigs(n, 4, 3);
  cfg[4 * crash + 1] = 1;
  std::vector<double> res(4 * n, -1);
  auto o = PluginOptions(2);
  o.retries = 0;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  std::vector<int> failed;
  for (int i = 0; i < n; i++)
    if (gpudf_sweep_result_state(r.r, i) != GPUDF_CONFIG_DONE) failed.push_back(i);
  ASSERT_NE(std::find(failed.begin(), failed.end(), crash), failed.end());
  std::string why = gpudf_sweep_result_reason(r.r, crash);
  EXPECT_NE(why.find("signal 11"), std::string::npos) << why;
  size_t open = why.find("configs (");
  ASSERT_NE(open, std::string::npos) << why;
  EXPECT_NE(why.find("a batch of " + std::to_string(failed.size()) + " configs"),
            std::string::npos) << why;
  std::istringstream listed(why.substr(open + 9));
  int listed_count = 0;
  for (std::string tok; listed >> tok && tok != "...)";) {
    int idx = atoi(tok.c_str());
    EXPECT_NE(std::find(failed.begin(), failed.end(), idx), failed.end())
        << "config " << idx << " is named in '" << why << "' but did not fail";
    listed_count++;
  }
  EXPECT_GE(listed_count, 1) << why;
  for (int i : failed) EXPECT_EQ(gpudf_sweep_result_reason(r.r, i), why) << "config " << i;
}

TEST(Sweep, HangInAShuffledKeyedSweepTimesOutAtItsIndex) {
  Table tb(100);
  const int n = 48, bad = 29;
  auto cfg = KeyedConfigs(n, 4, 8);
  cfg[4 * bad + 1] = 2;  // hang
  std::vector<double> res(4 * n, -1);
  auto o = PluginOptions(2);
  o.batch = 4;
  o.time_limit_s = 0.2;
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, "sweep_keyed", cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ExpectKeyedEchoes(res, r.r, n, 100, {bad});
  EXPECT_EQ(gpudf_sweep_result_state(r.r, bad), GPUDF_CONFIG_TIMED_OUT);
  std::string why = gpudf_sweep_result_reason(r.r, bad);
  EXPECT_NE(why.find("time limit"), std::string::npos) << why;
  EXPECT_NE(why.find("config 29"), std::string::npos) << why;
  EXPECT_EQ(r.Report().timed_out, 1);
}

// ------------------------------------------------------------- kernels

gpudf_status Triple(const gpudf_table *, const double *c, int64_t n, double *r) {
  for (int64_t i = 0; i < n; i++) r[i] = 3 * c[i];
  return GPUDF_OK;
}

TEST(Sweep, RegisteredKernelInProcess) {
  static const gpudf_param_info params[] = {
      {"x", "a number", GPUDF_PARAM_REAL, 0, -1e9, 1e9, 0, nullptr, 0}};
  static const gpudf_result_info fields[] = {{"triple", "3 x"}};
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "triple";
  d.nparams = 1;
  d.params = params;
  d.nfields = 1;
  d.fields = fields;
  d.run_cpu = Triple;
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_register(&d, &k), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_EEXIST);
  Table tb(10);
  double cfg[] = {1, 2, 3}, res[3];
  auto o = Options(0);
  ASSERT_EQ(gpudf_sweep(tb.t, "triple", cfg, 3, res, &o, nullptr), GPUDF_OK);
  EXPECT_EQ(res[2], 9);
  gpudf_kernel_def bad;
  gpudf_kernel_def_init(&bad);
  bad.name = "no_run";
  EXPECT_EQ(gpudf_kernel_register(&bad, nullptr), GPUDF_EINVAL);
}

std::string Err();

int mod3_calls = 0;

uint64_t Mod3(const double *c) {
  mod3_calls++;
  return (uint64_t)c[0] % 3;
}

gpudf_kernel_def TripleDef(const char *name) {
  static const gpudf_param_info params[] = {
      {"x", "a number", GPUDF_PARAM_INTEGER, 0, 0, 1e9, 0, nullptr, 0}};
  static const gpudf_result_info fields[] = {{"triple", "3 x"}};
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = name;
  d.nparams = 1;
  d.params = params;
  d.nfields = 1;
  d.fields = fields;
  d.run_cpu = Triple;
  return d;
}

// A pass key reorders the configs in the sweep, never the results.
TEST(Sweep, RegisteredKernelWithAPassKey) {
  auto d = TripleDef("triple_keyed");
  d.pass_key = Mod3;
  ASSERT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_OK) << gpudf_last_error();
  Table tb(10);
  std::vector<double> cfg, res(100);
  for (int i = 0; i < 100; i++) cfg.push_back((double)((i * 37) % 100));
  for (int64_t batch : {0, 1, 7}) {
    auto o = Options(0);
    o.batch = batch;
    ASSERT_EQ(gpudf_sweep(tb.t, "triple_keyed", cfg.data(), 100, res.data(), &o, nullptr),
              GPUDF_OK) << gpudf_last_error();
    for (int i = 0; i < 100; i++) EXPECT_EQ(res[i], 3 * cfg[i]) << "config " << i;
  }
  EXPECT_GT(mod3_calls, 0);
}

// A definition from a header without pass_key: accepted, and nothing past
// its size is read; smaller than that is refused.
TEST(Sweep, RegisteredKernelWithAnOldSizeDef) {
  auto d = TripleDef("triple_old");
  d.pass_key = Mod3;  // beyond the size: must not be used
  d.size = offsetof(gpudf_kernel_def, pass_key);
  ASSERT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_OK) << gpudf_last_error();
  Table tb(10);
  double cfg[] = {5, 1, 9}, res[3];
  auto o = Options(0);
  int calls = mod3_calls;
  ASSERT_EQ(gpudf_sweep(tb.t, "triple_old", cfg, 3, res, &o, nullptr), GPUDF_OK);
  EXPECT_EQ(mod3_calls, calls) << "a pass key past the def's size was read";
  EXPECT_EQ(res[0], 15);
  EXPECT_EQ(res[1], 3);
  EXPECT_EQ(res[2], 27);
  auto small = TripleDef("triple_small");
  small.size = offsetof(gpudf_kernel_def, pass_key) - 1;
  EXPECT_EQ(gpudf_kernel_register(&small, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("def->size"), std::string::npos) << Err();
}

TEST(Sweep, ProgressBarIsQuietWithoutATerminal) {
  gpudf_sweep_progress p{5, 0, 10, 1.0, 1.0, 0.5};
  EXPECT_EQ(gpudf_progress_bar(&p, nullptr), 0);
}

// ----------------------------------------------------------- bad input

std::string Err() { return gpudf_last_error(); }

TEST(SweepBadInput, UnknownKernel) {
  Table tb(10);
  double cfg[5] = {0}, res[6];
  EXPECT_EQ(gpudf_sweep(tb.t, "nope", cfg, 1, res, nullptr, nullptr), GPUDF_ENOENT);
  EXPECT_NE(Err().find("nope"), std::string::npos) << Err();
}

TEST(SweepBadInput, InvalidConfigNamesItsIndex) {
  Table tb(10);
  auto cfg = FilterAggConfigs(6, 3);
  cfg[5 * 3 + 4] = 99;  // value_col out of range
  std::vector<double> res(36);
  auto o = Options(2);
  Result r;
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg.data(), 6, res.data(), &o, &r.r), GPUDF_EINVAL);
  EXPECT_EQ(r.r, nullptr);
  EXPECT_NE(Err().find("config 3"), std::string::npos) << Err();
  EXPECT_NE(Err().find("gpudf_sweep"), std::string::npos) << Err();
  EXPECT_TRUE(WorkerPids(getpid()).empty());
}

TEST(SweepBadInput, WorkerCounts) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  for (int w : {-2, GPUDF_SWEEP_WORKERS_MAX + 1, 1 << 30}) {
    auto o = Options(w);
    EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_EINVAL) << w;
    EXPECT_NE(Err().find("workers"), std::string::npos) << Err();
  }
}

TEST(SweepBadInput, ResultsNullAndOptionsUninitialised) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, nullptr, nullptr, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("results"), std::string::npos) << Err();
  gpudf_sweep_options o{};
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("gpudf_sweep_options_init"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_sweep(nullptr, "filter_agg", cfg, 1, res, nullptr, nullptr), GPUDF_EINVAL);
}

TEST(SweepBadInput, MissingWorkerExecutable) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  setenv("GPUDF_WORKER", "/nonexistent/gpudf-worker", 1);
  auto o = Options(1);
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
  unsetenv("GPUDF_WORKER");
  EXPECT_NE(Err().find("/nonexistent/gpudf-worker"), std::string::npos) << Err();
  // Named after the call the user made, not one it made inside.
  EXPECT_EQ(Err().rfind("gpudf_sweep: ", 0), 0u) << Err();
  // And a later, unrelated call's message carries its own name.
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_create(0, &t), GPUDF_EINVAL);
  EXPECT_EQ(Err().rfind("gpudf_table_create: ", 0), 0u) << Err();
}

// A "worker" (GPUDF_WORKER) that is a shell script doing `what`, in a
// scratch file removed with this object.
struct FakeWorker {
  std::string path;
  explicit FakeWorker(const std::string &what) {
    path = "/tmp/gpudf-fake-worker-" + std::to_string(getpid()) + ".sh";
    std::ofstream(path) << "#!/bin/sh\n" << what << "\n";
    chmod(path.c_str(), 0700);
    setenv("GPUDF_WORKER", path.c_str(), 1);
  }
  ~FakeWorker() {
    unsetenv("GPUDF_WORKER");
    unlink(path.c_str());
  }
};

// Workers that die before they start, by a signal or a silent exit 0 (a
// plugin whose init crashes in the worker): a few are replaced (one may
// have been killed), but the sweep then fails with why, rather than
// starting workers forever. Its message names gpudf_sweep, not a call it
// made inside (gpudf_table_share, gpudf_plugin_load).
TEST(SweepBadInput, WorkersThatAlwaysDieAtStartEndTheSweep) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  for (const char *what : {"exit 0", "kill -SEGV $$"}) {
    SCOPED_TRACE(what);
    FakeWorker fake(what);
    auto o = Options(2);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_EIO);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 10.0);
    EXPECT_EQ(Err().rfind("gpudf_sweep: worker ", 0), 0u) << Err();
    EXPECT_NE(Err().find("before it started, as did the ones before it"), std::string::npos)
        << Err();
  }
}

// A worker that never gets to start (a hanging plugin init) is killed after
// GPUDF_WORKER_START_TIMEOUT seconds (with a time limit: 60 s at least).
TEST(SweepBadInput, AWorkerThatHangsAtStartIsKilled) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  FakeWorker fake("exec sleep 600");
  setenv("GPUDF_WORKER_START_TIMEOUT", "1", 1);
  auto o = Options(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_EIO);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  unsetenv("GPUDF_WORKER_START_TIMEOUT");
  EXPECT_GT(s, 0.9);
  EXPECT_LT(s, 5.0);
  EXPECT_NE(Err().find("did not start within 1 s"), std::string::npos) << Err();
  EXPECT_TRUE(harness::ChildrenNamed(getpid(), "sleep", false).empty()) << "the worker is left";
}

TEST(SweepBadInput, BadPlugins) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  const char *missing[] = {"/nonexistent/plugin.so"};
  auto o = Options(1);
  o.nplugins = 1;
  o.plugins = missing;
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
  EXPECT_NE(Err().find("/nonexistent/plugin.so"), std::string::npos) << Err();
  const char *not_plugin[] = {GPUDF_TEST_CHILD};  // an executable, not a library
  o.plugins = not_plugin;
  EXPECT_EQ(gpudf_sweep(tb.t, "filter_agg", cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("not a loadable shared library"), std::string::npos) << Err();
  EXPECT_TRUE(WorkerPids(getpid()).empty());
}

}  // namespace
