// ma_crossover against a plain backtest written here, on fresh random
// walks; the prepare step and sweeps; its validation; the simulated device;
// and CUDA vs CPU (Gpu).
//
// The reference computes the moving averages from its own prefix sums with
// the same expression, (S_t - S_{t-w}) / w: a direct windowed sum rounds
// differently and, on a tie to the last ulp, would flip a signal; that is a
// property of floating point, not a bug either side could fix. Given equal
// signals, trades and exposure are exact, total_return and max_drawdown are
// products in the same order (exact too, checked to 1e-12 to leave room for
// fused multiply-adds), and sharpe, which the kernel computes from shifted
// sums rather than two passes, agrees within 1e-9 relative.
#include <random>

#include "test_k_common.h"

namespace {

using namespace ktest;

std::vector<double> RandomWalk(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 0.01);
  std::vector<double> p(n);
  double x = 100.0;
  for (auto &v : p) v = x *= std::exp(z(rng));
  return p;
}

// total_return sharpe max_drawdown trades exposure, step by step.
std::vector<double> Reference(const std::vector<double> &p, int fast, int slow, double fee_bps,
                              bool long_short, double ppy) {
  int64_t n = (int64_t)p.size();
  std::vector<double> S(n + 1, 0.0);  // S[i + 1] = p_0 + .. + p_i
  for (int64_t i = 0; i < n; i++) S[i + 1] = S[i] + p[i];
  auto sma = [&](int64_t t, int w) { return (S[t + 1] - S[t + 1 - w]) / w; };
  std::vector<double> s(n, 0.0);
  for (int64_t t = slow - 1; t < n; t++) s[t] = sma(t, fast) > sma(t, slow) ? 1 : long_short ? -1 : 0;
  std::vector<double> R;
  double trades = 0, exposed = 0, prev = 0;
  for (int64_t t = 0; t + 1 < n; t++) {
    R.push_back(s[t] * (p[t + 1] / p[t] - 1) - fee_bps / 1e4 * std::fabs(s[t] - prev));
    trades += s[t] != prev;
    exposed += s[t] != 0;
    prev = s[t];
  }
  double e = 1, peak = 1, dd = 0, mean = 0, var = 0;
  for (double r : R) {
    e *= 1 + r;
    peak = std::max(peak, e);
    dd = std::max(dd, 1 - e / peak);
    mean += r / R.size();
  }
  if (R.size() >= 2)
    for (double r : R) var += (r - mean) * (r - mean) / (R.size() - 1);
  double sharpe = R.size() >= 2 && var > 0 ? mean / std::sqrt(var) * std::sqrt(ppy) : kNaN;
  return {e - 1, sharpe, dd, trades, exposed / R.size()};
}

void ExpectClose(const std::vector<double> &want, const double *got, const char *what) {
  EXPECT_NEAR(want[0], got[0], 1e-12 * std::max(1.0, std::fabs(want[0]))) << what;
  if (std::isnan(want[1]))
    EXPECT_TRUE(std::isnan(got[1])) << what;
  else
    EXPECT_NEAR(want[1], got[1], 1e-9 * std::max(1.0, std::fabs(want[1]))) << what;
  EXPECT_NEAR(want[2], got[2], 1e-12) << what;
  EXPECT_EQ(want[3], got[3]) << what;
  EXPECT_EQ(want[4], got[4]) << what;
}

std::vector<double> Configs(int col, int64_t nrows) {
  std::vector<double> c;
  int pairs[][2] = {{1, 2}, {1, 5}, {3, 10}, {5, 20}, {10, 50}, {2, 3}, {1, (int)nrows}};
  for (auto &pr : pairs)
    for (double fee : {0.0, 5.0})
      for (int mode : {0, 1})
        c.insert(c.end(), {(double)col, (double)pr[0], (double)pr[1], fee, (double)mode,
                           mode ? 365.0 : 252.0});
  return c;
}

void CheckAll(const std::vector<double> &p, const std::vector<double> &c,
              const std::vector<double> &got) {
  ASSERT_EQ(c.size() / 6 * 5, got.size());
  for (size_t k = 0; k < c.size() / 6; k++) {
    const double *q = &c[k * 6];
    std::string what = "config " + std::to_string(k);
    ExpectClose(Reference(p, (int)q[1], (int)q[2], q[3], q[4] == 1, q[5]), &got[k * 5],
                what.c_str());
  }
}

TEST(KMaCrossover, MatchesTheReferenceWithAndWithoutPrepare) {
  for (int64_t n : {2, 3, 60, 5000}) {
    std::vector<double> p = RandomWalk(n, 40 + n);
    Table t(n);
    int c = t.Add("price", GPUDF_TYPE_F64, p);
    std::vector<double> cfg;
    std::vector<double> all = Configs(c, n);
    for (size_t k = 0; k < all.size() / 6; k++)
      if (all[k * 6 + 2] <= n) cfg.insert(cfg.end(), all.begin() + k * 6, all.begin() + k * 6 + 6);
    std::vector<double> own = KRun(t.t, "ma_crossover", cfg);
    CheckAll(p, cfg, own);
    ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, "ma_crossover", cfg.data(), cfg.size() / 6))
        << gpudf_last_error();
    int idx = -1;
    ASSERT_EQ(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix.price", &idx));
    EXPECT_EQ(GPUDF_TYPE_F64, gpudf_table_column_type(t.t, idx));
    // Idempotent: a second prepare adds nothing.
    ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, "ma_crossover", cfg.data(), cfg.size() / 6));
    EXPECT_EQ(idx + 1, gpudf_table_ncols(t.t));
    std::vector<double> prepared = KRun(t.t, "ma_crossover", cfg);
    ASSERT_EQ(own.size(), prepared.size());
    for (size_t i = 0; i < own.size(); i++)
      EXPECT_TRUE(Same(own[i], prepared[i])) << "prepared and own prefix sums differ at " << i;
  }
}

// The AVX lock-step loop (kernels/ma_crossover_avx.c, used when the CPU has
// AVX) and the scalar one give the same bits: GPUDF_NO_SIMD=1 forces the
// scalar one. Long and short, fees, windows from 1, a flat stretch (equal
// SMAs), and a NaN price in the middle.
TEST(KMaCrossover, VectorAndScalarLoopsGiveTheSameBits) {
  std::vector<double> p = RandomWalk(60000, 21);
  for (int i = 20000; i < 20500; i++) p[i] = 100.0;
  p[40000] = NAN;
  Table t((int64_t)p.size());
  int c = t.Add("p", GPUDF_TYPE_F64, p);
  std::vector<double> cfg;
  for (int f = 1; f < 60; f += 4)
    for (int s = f + 1; s < 400; s += 23)
      cfg.insert(cfg.end(), {(double)c, (double)f, (double)s, (double)(f % 3) * 2.5,
                             (double)((f + s) % 2), 252});
  ASSERT_GT(cfg.size() / 6, 100u);
  setenv("GPUDF_NO_SIMD", "1", 1);
  std::vector<double> scalar = KRun(t.t, "ma_crossover", cfg);
  unsetenv("GPUDF_NO_SIMD");
  std::vector<double> vec = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(scalar.size(), vec.size());
  for (size_t i = 0; i < scalar.size(); i++)
    EXPECT_TRUE(Same(scalar[i], vec[i])) << "config " << i / 5 << " field " << i % 5 << ": "
                                         << scalar[i] << " vs " << vec[i];
}

TEST(KMaCrossover, IntegerPricesAndBatchOfOne) {
  std::vector<int32_t> p;
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> step(-3, 3);
  int x = 1000;
  for (int i = 0; i < 3000; i++) p.push_back(x += step(rng));
  Table t(3000);
  int c = t.Add("p", GPUDF_TYPE_I32, p);
  std::vector<double> cfg = Configs(c, 3000), all = KRun(t.t, "ma_crossover", cfg);
  CheckAll(std::vector<double>(p.begin(), p.end()), cfg, all);
  for (size_t k = 0; k < cfg.size() / 6; k++) {
    std::vector<double> one(cfg.begin() + k * 6, cfg.begin() + k * 6 + 6);
    std::vector<double> r = KRun(t.t, "ma_crossover", one);
    for (int i = 0; i < 5; i++) EXPECT_TRUE(Same(all[k * 5 + i], r[i]));
  }
}

TEST(KMaCrossover, RandomWalkSharpeIsNearZero) {
  std::vector<double> p = RandomWalk(20000, 99);
  Table t(20000);
  int c = t.Add("p", GPUDF_TYPE_F64, p);
  std::vector<double> cfg;
  for (int f = 2; f < 30; f += 2)
    for (int s = f + 5; s < 120; s += 7) cfg.insert(cfg.end(), {(double)c, (double)f, (double)s, 0, 1, 252});
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  std::vector<double> r(cfg.size() / 6 * 5);
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(t.t, "ma_crossover", cfg.data(), cfg.size() / 6, r.data(), &o,
                                  nullptr)) << gpudf_last_error();
  double mean = 0;
  for (size_t k = 0; k < r.size() / 5; k++) mean += r[k * 5 + 1] / (r.size() / 5);
  // One config's Sharpe over 20,000 steps has a spread of about
  // sqrt(252 / 20000) = 0.11 around 0 on a driftless walk.
  EXPECT_LT(std::fabs(mean), 0.5) << "mean sharpe " << mean;
}

TEST(KMaCrossover, SweepWithWorkersPreparesAndMatchesTheRun) {
  std::vector<double> p = RandomWalk(4000, 7);
  Table t(4000);
  int c = t.Add("close", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Configs(c, 4000), want = KRun(t.t, "ma_crossover", cfg);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 2;
  o.backend = GPUDF_BACKEND_CPU;
  o.batch = 5;
  std::vector<double> r(want.size());
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(t.t, "ma_crossover", cfg.data(), cfg.size() / 6, r.data(), &o,
                                  nullptr)) << gpudf_last_error();
  int idx;
  EXPECT_EQ(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix.close", &idx))
      << "gpudf_sweep did not prepare the table before sharing it";
  for (size_t i = 0; i < r.size(); i++) EXPECT_TRUE(Same(want[i], r[i])) << i;
}

TEST(KMaCrossover, ValidationNamesTheParameter) {
  std::vector<double> p = RandomWalk(100, 1);
  Table t(100);
  t.Add("p", GPUDF_TYPE_F64, p);
  std::string msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", {0, 20, 20, 0, 0, 252}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'fast' = 20")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", {0, 5, 101, 0, 0, 252}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'slow' = 101")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", {0, 0, 5, 0, 0, 252}, &msg));
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", {0, 1, 5, -1, 0, 252}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'fee_bps'")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", {0, 1, 5, 0, 0, 0}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'periods_per_year'")) << msg;
  std::vector<double> ok = {0, 1, 5, 0, 0, 252};
  std::string why;
  ASSERT_TRUE(t.Share(GPUDF_BACKEND_CPU, &why)) << why;
  EXPECT_EQ(GPUDF_EBUSY, gpudf_table_prepare(t.t, "ma_crossover", ok.data(), 1));
}

TEST(KMaCrossover, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  std::vector<double> p = RandomWalk(3000, 3);
  Table t(3000);
  int c = t.Add("p", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Configs(c, 3000), cpu = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, "ma_crossover", cfg.data(), cfg.size() / 6));
  std::string why;
  ASSERT_TRUE(t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  std::vector<double> dev = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); i++) EXPECT_TRUE(Same(cpu[i], dev[i])) << i;
}

TEST(KMaCrossoverGpu, MatchesTheCpu) {
  K_SKIP_WITHOUT_CUDA();
  // Windows up to 3072 go through shared-memory tiles of the time axis on
  // the device, longer ones read global memory: both paths, prepared or not.
  for (int variant = 0; variant < 4; variant++) {
    bool prepared = variant % 2 == 0, long_windows = variant >= 2;
    std::vector<double> p = RandomWalk(200000, 8 + variant);
    Table t(200000);
    int c = t.Add("p", GPUDF_TYPE_F64, p);
    std::vector<double> cfg;
    for (int f = 1; f < 40; f += 3)
      for (int s = f + 1; s < 200; s += 11)
        cfg.insert(cfg.end(), {(double)c, (double)f, (double)s, 2.0, (double)(s % 2), 252});
    if (long_windows)
      for (int s : {3071, 3072, 3073, 9000})
        cfg.insert(cfg.end(), {(double)c, (double)(s / 3), (double)s, 1.0, (double)(s % 2), 252});
    std::vector<double> cpu = KRun(t.t, "ma_crossover", cfg);
    if (prepared) {
      ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, "ma_crossover", cfg.data(), cfg.size() / 6));
    }
    std::string why;
    ASSERT_TRUE(t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
    std::vector<double> dev = KRun(t.t, "ma_crossover", cfg);
    ASSERT_EQ(cpu.size(), dev.size());
    for (size_t k = 0; k < cpu.size() / 5; k++) {
      std::vector<double> want(cpu.begin() + k * 5, cpu.begin() + k * 5 + 5);
      ExpectClose(want, &dev[k * 5], prepared ? "prepared" : "own prefix sums");
    }
  }
}

}  // namespace
