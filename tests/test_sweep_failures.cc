// test_sweep_failures.cc - what goes wrong in a sweep and what it costs:
// a killed worker is replaced and its claim retried, a crashing, failing or
// hanging config is the only one that ends badly (reported at the caller's
// index, also among shuffled pass keys), and an owner that dies takes its
// workers along. All on the cpu placement.
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK);
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  for (int i = 0; i < n; i++)
    EXPECT_EQ(gpudf_sweep_result_state(r.r, i),
              i == bad ? GPUDF_CONFIG_TIMED_OUT : GPUDF_CONFIG_DONE) << "config " << i;
  std::string why = gpudf_sweep_result_reason(r.r, bad);
  EXPECT_NE(why.find("time limit"), std::string::npos) << why;
  ExpectEchoes(res, n, 100, bad);
  EXPECT_EQ(r.Report().timed_out, 1);
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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
      << gpudf_last_error();
  ExpectKeyedEchoes(res, r.r, n, 100, {bad});
  EXPECT_EQ(gpudf_sweep_result_state(r.r, bad), GPUDF_CONFIG_TIMED_OUT);
  std::string why = gpudf_sweep_result_reason(r.r, bad);
  EXPECT_NE(why.find("time limit"), std::string::npos) << why;
  EXPECT_NE(why.find("config 29"), std::string::npos) << why;
  EXPECT_EQ(r.Report().timed_out, 1);
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

}  // namespace
