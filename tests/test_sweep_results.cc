// test_sweep_results.cc - what a sweep gives back: the same results as
// gpudf_run for every worker count and batch size, over a view, with the
// test and sample plugins and with kernels registered at run time. All on
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
#include "sweep_support.h"

namespace {

using namespace sweeptest;

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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r.r), GPUDF_OK)
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), nullptr, 0, nullptr, &o, &r.r), GPUDF_OK)
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
  EXPECT_EQ(gpudf_sweep(v, tg_kernel("filter_agg"), cfg.data(), 40, got.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ExpectSameFilterAgg(want, got);
  gpudf_table_free(v);
  gpudf_share_close(s);
}

TEST(Sweep, PluginKernelInWorkers) {
  Table tb(100);
  auto cfg = TestConfigs(50, 0);
  std::vector<double> res(100);
  auto o = PluginOptions(2);
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_test"), cfg.data(), 50, res.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ExpectEchoes(res, 50, 100);
}

TEST(Sweep, SamplePluginRuns) {
  Table tb(1000);
  static const char *plugins[] = {GPUDF_SAMPLE_PLUGIN};
  auto o = Options(2);
  o.nplugins = 1;
  o.plugins = plugins;
  // Loaded here first to find its kernel; the sweep loads it in every worker.
  ASSERT_EQ(gpudf_plugin_load(GPUDF_SAMPLE_PLUGIN), GPUDF_OK) << gpudf_last_error();
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_find("count_above", &k), GPUDF_OK) << gpudf_last_error();
  double cfg[] = {3, 0.0, 0, -1e300}, res[4];  // d is uniform in [-50, 50)
  ASSERT_EQ(gpudf_sweep(tb.t, k, cfg, 2, res, &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(res[2], 1000);  // every i32 value is above -1e300
  EXPECT_EQ(res[3], 1.0);
  EXPECT_GT(res[0], 300);
  EXPECT_LT(res[0], 700);
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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectSameFilterAgg(want, got);
    for (int i = 0; i < n; i++) EXPECT_EQ(gpudf_sweep_result_state(r.r, i), GPUDF_CONFIG_DONE);
    EXPECT_EQ(r.Report().done, n);
  }
}

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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("triple"), cfg, 3, res, &o, nullptr), GPUDF_OK);
  EXPECT_EQ(res[2], 9);
  gpudf_kernel_def bad;
  gpudf_kernel_def_init(&bad);
  bad.name = "no_run";
  EXPECT_EQ(gpudf_kernel_register(&bad, nullptr), GPUDF_EINVAL);
}

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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("triple_keyed"), cfg.data(), 100, res.data(), &o, nullptr),
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
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("triple_old"), cfg, 3, res, &o, nullptr), GPUDF_OK);
  EXPECT_EQ(mod3_calls, calls) << "a pass key past the def's size was read";
  EXPECT_EQ(res[0], 15);
  EXPECT_EQ(res[1], 3);
  EXPECT_EQ(res[2], 27);
  auto small = TripleDef("triple_small");
  small.size = offsetof(gpudf_kernel_def, pass_key) - 1;
  EXPECT_EQ(gpudf_kernel_register(&small, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("def->size"), std::string::npos) << Err();
}

}  // namespace
