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

// The auto claim size, as docs/sweep.md states it: an equal share of what
// is left, never under half an equal share of the sweep, and (claims start
// small and double) never over max(lo, n / (32 workers)) configs. With a
// pass key a claim takes the rest of its group when that is at most a
// quarter over the auto size, plus the whole groups after it that fit in
// half an equal share (one worker: the auto size) and the ramp; a larger
// group is cut in near-equal pieces. Claims are taken one after another, so
// the ranges are the same whatever the timing: they are read back from the
// batch size each config reports and compared with these rules.
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int64_t> DocumentedClaims(int64_t n, int64_t w, const std::vector<int64_t> &groups) {
  std::vector<int64_t> ends;
  for (int64_t lo = 0; lo < n;) {
    int64_t b = std::max<int64_t>({CeilDiv(n - lo, w), CeilDiv(n, 2 * w), 1});
    int64_t ramp = std::max<int64_t>(lo, CeilDiv(n, 32 * w));
    int64_t hi;
    if (groups.empty()) {
      hi = std::min(n, lo + std::min(b, ramp));
    } else {
      size_t j = 0;
      while (groups[j] <= lo) j++;  // groups[j]: the end of lo's group
      int64_t rest = groups[j] - lo;
      if (rest > b + b / 4) {
        int64_t pieces = CeilDiv(rest, b);
        hi = lo + CeilDiv(rest, pieces);
      } else {
        int64_t fit = std::min({w == 1 ? b : CeilDiv(n, 2 * w), b, ramp});
        if (lo + fit >= n) {
          hi = n;
        } else {
          hi = groups[j];
          for (int64_t g : groups)
            if (g <= lo + fit && g > hi) hi = g;
        }
      }
    }
    ends.push_back(hi);
    lo = hi;
  }
  return ends;
}

// The claims as they ran: configs in the owner's order (stably by key),
// each batch as many configs as its size says.
std::vector<int64_t> ObservedClaims(const std::vector<double> &res, const std::vector<int> &order) {
  std::vector<int64_t> ends;
  int64_t lo = 0, n = (int64_t)order.size();
  while (lo < n) {
    int64_t size = (int64_t)res[4 * order[lo] + 3];
    if (size < 1) return {};
    for (int64_t i = lo; i < lo + size && i < n; i++)
      if ((int64_t)res[4 * order[i] + 3] != size) return {};  // not one batch
    lo += size;
    ends.push_back(lo);
  }
  return ends;
}

TEST(Sweep, AutoClaimsFollowTheDocumentedSizes) {
  Table tb(50);
  for (int n : {1000, 997, 61}) {
    for (int workers : {0, 2, 3}) {
      int64_t w = workers > 0 ? workers : 1;
      // Without a pass key (sweep_old_def): the caller's order.
      auto cfg = KeyedConfigs(n, 1, 1);
      std::vector<int> order(n);
      for (int i = 0; i < n; i++) order[i] = i;
      std::vector<double> res(4 * n, -1);
      auto o = PluginOptions(workers);
      Result r;
      ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_old_def"), cfg.data(), n, res.data(), &o, &r.r),
                GPUDF_OK) << gpudf_last_error();
      EXPECT_EQ(ObservedClaims(res, order), DocumentedClaims(n, w, {}))
          << n << " configs, " << workers << " workers, no pass key";
      // With a pass key, interleaved: groups of very unequal sizes (one key
      // takes half the configs, a few keys a handful each), then 40 keys of
      // near-equal groups (claims of several whole groups).
      for (int scheme : {0, 1}) {
        uint64_t seed = 77 + n + workers + scheme;
        std::vector<int> key(n);
        for (int i = 0; i < n; i++) {
          uint64_t x = tg_splitmix(&seed) % 100;
          key[i] = scheme == 1 ? (int)(tg_splitmix(&seed) % 40)
                               : x < 50 ? 0 : x < 80 ? 1 : 2 + (int)(x % 6);
          cfg[4 * i + 3] = 7.0 * key[i] + 3;
        }
        for (int i = 0; i < n; i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return key[a] < key[b]; });
        std::vector<int64_t> groups;
        for (int i = 1; i <= n; i++)
          if (i == n || key[order[i]] != key[order[i - 1]]) groups.push_back(i);
        std::fill(res.begin(), res.end(), -1);
        Result rk;
        ASSERT_EQ(gpudf_sweep(tb.t, tg_kernel("sweep_keyed"), cfg.data(), n, res.data(), &o,
                              &rk.r), GPUDF_OK) << gpudf_last_error();
        EXPECT_EQ(ObservedClaims(res, order), DocumentedClaims(n, w, groups))
            << n << " configs, " << workers << " workers, " << groups.size() << " pass keys";
      }
    }
  }
}

}  // namespace
