// test_sweep_bad_input.cc - sweeps refused before they start, or ended
// because their workers cannot start: unknown kernels, invalid configs, bad
// options, missing or dying worker executables, bad plugins. Each error
// names gpudf_sweep and the thing that was wrong.
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

// A kernel is named by the pointer gpudf_kernel_find gives: an unknown name
// is refused there, naming it, and a NULL kernel by the sweep, naming both.
TEST(SweepBadInput, UnknownKernelIsRefusedByTheLookupAndANullKernelByTheSweep) {
  Table tb(10);
  double cfg[5] = {0}, res[6];
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find("nope", &k), GPUDF_ENOENT);
  EXPECT_NE(Err().find("nope"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_sweep(tb.t, k, cfg, 1, res, nullptr, nullptr), GPUDF_EINVAL);
  EXPECT_EQ(Err(), "gpudf_sweep: kernel is NULL");
}

TEST(SweepBadInput, InvalidConfigNamesItsIndex) {
  Table tb(10);
  auto cfg = FilterAggConfigs(6, 3);
  cfg[5 * 3 + 4] = 99;  // value_col out of range
  std::vector<double> res(36);
  auto o = Options(2);
  Result r;
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg.data(), 6, res.data(), &o, &r.r), GPUDF_EINVAL);
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
    EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL) << w;
    EXPECT_NE(Err().find("workers"), std::string::npos) << Err();
  }
}

TEST(SweepBadInput, ResultsNullAndOptionsUninitialised) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, nullptr, nullptr, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("results"), std::string::npos) << Err();
  gpudf_sweep_options o{};
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("gpudf_sweep_options_init"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_sweep(nullptr, tg_kernel("filter_agg"), cfg, 1, res, nullptr, nullptr), GPUDF_EINVAL);
}

TEST(SweepBadInput, MissingWorkerExecutable) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  setenv("GPUDF_WORKER", "/nonexistent/gpudf-worker", 1);
  auto o = Options(1);
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
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
    EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EIO);
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
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EIO);
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
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
  EXPECT_NE(Err().find("/nonexistent/plugin.so"), std::string::npos) << Err();
  const char *not_plugin[] = {GPUDF_TEST_CHILD};  // an executable, not a library
  o.plugins = not_plugin;
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("not a loadable shared library"), std::string::npos) << Err();
  EXPECT_TRUE(WorkerPids(getpid()).empty());
}

}  // namespace
