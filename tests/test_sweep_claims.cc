// test_sweep_claims.cc - how a sweep cuts its configs into claims: configs
// of a kernel with a pass key are claimed by whole groups (so a batch pays
// one pass per key), the batch option bounds every claim, and the results
// stay in the caller's order. All on the cpu placement.
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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
        << gpudf_last_error();
    ExpectKeyedEchoes(res, r.r, n, 100);
    EXPECT_NEAR(PassesOf(res, n), 4.0, 1e-9) << workers << " workers";
    EXPECT_EQ(BatchesOf(r.r), workers == 2 ? 4 : 3) << workers << " workers";
    EXPECT_EQ(r.Report().done, n);
  }
  std::vector<double> res(4 * n, -1);
  auto o = PluginOptions(2);
  Result r;
  ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_old_def"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
    ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK)
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
        ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o, &r.r),
                  GPUDF_OK) << gpudf_last_error();
        ExpectKeyedEchoes(res, r.r, n, 10);
        EXPECT_EQ(r.Report().done, n) << n << " configs, " << workers << " workers, batch "
                                      << batch;
      }
}

}  // namespace
