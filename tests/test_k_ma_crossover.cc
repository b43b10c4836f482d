// ma_crossover against a plain backtest written here, on fresh random
// walks; the prepare step and sweeps; its validation; the simulated device;
// and CUDA vs CPU (Gpu).
//
// Reference computes the moving averages from double prefix sums, which
// these short, low-priced walks keep accurate; the exact reference below
// (ExactBacktest) sums windows in integers, for the series where double
// prefix sums drift and for missing prices. Given equal signals, trades and exposure are exact, total_return and max_drawdown are
// products in the same order (exact too, checked to 1e-12 to leave room for
// fused multiply-adds), and sharpe, which the kernel computes from shifted
// sums rather than two passes, agrees within 1e-9 relative.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "ma_crossover_math.h"
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
    ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6))
        << gpudf_last_error();
    int idx = -1;
    ASSERT_EQ(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix.price", &idx));
    EXPECT_EQ(GPUDF_TYPE_F64, gpudf_table_column_type(t.t, idx));
    int lo = -1;  // the low parts of the two-double sums
    ASSERT_EQ(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix_lo.price", &lo));
    EXPECT_EQ(idx + 1, lo);
    // Idempotent: a second prepare adds nothing.
    ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6));
    EXPECT_EQ(lo + 1, gpudf_table_ncols(t.t));
    std::vector<double> prepared = KRun(t.t, "ma_crossover", cfg);
    ASSERT_EQ(own.size(), prepared.size());
    for (size_t i = 0; i < own.size(); i++)
      EXPECT_TRUE(Same(own[i], prepared[i])) << "prepared and own prefix sums differ at " << i;
  }
}

// The AVX lock-step loop (kernels/ma_crossover/ma_crossover_avx.c, used when the CPU has
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
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6, r.data(), &o,
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
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6, r.data(), &o,
                                  nullptr)) << gpudf_last_error();
  int idx;
  EXPECT_EQ(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix.close", &idx))
      << "gpudf_sweep did not prepare the table before sharing it";
  for (size_t i = 0; i < r.size(); i++) EXPECT_TRUE(Same(want[i], r[i])) << i;
}

// ---------------------------------------------------------- exact reference
//
// ExactBacktest sums windows exactly: every finite price is a multiple of
// 2^-scale (the series below are made so), so the moving averages compare
// as integers, slow * sum(fast window) > fast * sum(slow window) in
// __int128. Missing prices (NaN, +-inf) are filled with the last finite
// one, rows before the first finite price are left out; the step returns,
// equity and statistics are then computed in long double.
struct Exact {
  std::vector<long double> r;  // total_return sharpe max_drawdown trades exposure
  int64_t steps = 0;
};

Exact ExactBacktest(const std::vector<double> &p, int scale, int fast, int slow, double fee_bps,
                    bool long_short, double ppy) {
  int64_t n = (int64_t)p.size(), first = 0;
  while (first < n && !std::isfinite(p[first])) first++;
  std::vector<double> q(p);
  for (int64_t i = first + 1; i < n; i++)
    if (!std::isfinite(q[i])) q[i] = q[i - 1];
  std::vector<__int128> P(n + 1, 0);  // P[i + 1] = sum of ticks of rows first..i
  int64_t off_grid = 0;
  for (int64_t i = first; i < n; i++) {
    double ticks = std::ldexp(q[i], scale);  // exact: a power of two
    off_grid += ticks != std::floor(ticks) || std::fabs(ticks) >= 0x1p62;
    P[i + 1] = P[i] + (__int128)(int64_t)ticks;
  }
  EXPECT_EQ(0, off_grid) << "prices that are not multiples of 2^-" << scale;
  auto sig = [&](int64_t t) -> int {
    if (t - first < slow - 1) return 0;
    __int128 wf = P[t + 1] - P[t + 1 - fast], ws = P[t + 1] - P[t + 1 - slow];
    return (__int128)slow * wf > (__int128)fast * ws ? 1 : long_short ? -1 : 0;
  };
  Exact e;
  std::vector<long double> R;
  long double trades = 0, exposed = 0;
  int prev = 0;
  for (int64_t t = first; t + 1 < n; t++) {
    int s = sig(t);
    R.push_back(s * ((long double)q[t + 1] / q[t] - 1) - fee_bps / 1e4L * std::abs(s - prev));
    trades += s != prev;
    exposed += s != 0;
    prev = s;
  }
  long double eq = 1, peak = 1, dd = 0, mean = 0, var = 0;
  for (long double r : R) {
    eq *= 1 + r;
    peak = std::max(peak, eq);
    dd = std::max(dd, 1 - eq / peak);
    mean += r;
  }
  long double m = R.size();
  if (m > 0) mean /= m;
  for (long double r : R) var += (r - mean) * (r - mean);
  long double sharpe = m >= 2 && var > 0 ? mean / std::sqrt(var / (m - 1)) * std::sqrt((long double)ppy)
                                         : (long double)kNaN;
  e.r = {eq - 1, sharpe, dd, trades, m > 0 ? exposed / m : (long double)kNaN};
  e.steps = (int64_t)R.size();
  return e;
}

// Trades and exposure exactly (equal signals at every step); the products
// and sums of the step returns to the rounding of their steps: each step
// rounds its return and the equity product (a few 2^-53), so equity and
// drawdown are within 4 * steps * 2^-53 relative; sharpe within 1e-8
// relative (shifted sums of the returns against two passes in long double).
void ExpectExact(const Exact &want, const double *got, const std::string &what) {
  long double tol = 4.0L * (want.steps + 1) * 0x1p-53L;
  EXPECT_EQ((double)want.r[3], got[3]) << what << ": trades";
  if (std::isnan((double)want.r[4]))
    EXPECT_TRUE(std::isnan(got[4])) << what;
  else
    EXPECT_EQ((double)want.r[4], got[4]) << what << ": exposure";
  EXPECT_LE(std::fabs((double)(want.r[0] - got[0])), (double)(tol * (1 + std::fabs(want.r[0]))))
      << what << ": total_return " << (double)want.r[0] << " vs " << got[0];
  EXPECT_LE(std::fabs((double)(want.r[2] - got[2])), (double)(2 * tol)) << what << ": max_drawdown";
  if (std::isnan((double)want.r[1]))
    EXPECT_TRUE(std::isnan(got[1])) << what << ": sharpe " << got[1];
  else
    EXPECT_NEAR((double)want.r[1], got[1], 1e-8 * std::max(1.0, std::fabs((double)want.r[1])))
        << what << ": sharpe";
}

std::vector<double> Cfg(int col, int fast, int slow, double fee, int mode) {
  return {(double)col, (double)fast, (double)slow, fee, (double)mode, 252};
}

// Runs cfg on t without and with prepared prefix columns (the same bits
// both ways) and compares each config with the exact backtest of p.
void CheckExact(Table &t, const std::vector<double> &p, int scale, const std::vector<double> &cfg,
                const char *what) {
  std::vector<double> own = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(cfg.size() / 6 * 5, own.size());
  for (size_t k = 0; k < cfg.size() / 6; k++) {
    const double *c = &cfg[k * 6];
    ExpectExact(ExactBacktest(p, scale, (int)c[1], (int)c[2], c[3], c[4] == 1, c[5]), &own[k * 5],
                std::string(what) + ", config (" + std::to_string((int)c[1]) + ", " +
                    std::to_string((int)c[2]) + ", fee " + std::to_string(c[3]) + ", mode " +
                    std::to_string((int)c[4]) + ")");
  }
  ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6))
      << gpudf_last_error();
  std::vector<double> prepared = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(own.size(), prepared.size());
  for (size_t i = 0; i < own.size(); i++)
    EXPECT_TRUE(Same(own[i], prepared[i])) << what << ": prepared and own prefix sums differ at "
                                           << i << ": " << own[i] << " vs " << prepared[i];
}

// Issue 16 item 2: on a long, high-priced, low-volatility series, double
// prefix sums lost the low digits of the moving averages and flipped
// signals: p = 1e6 + a random walk of 0.01 steps over 1e6 rows, (5, 20)
// long_only, gave 63,696 trades where the exact windowed sums give 63,684.
// Prices on a 2^-30 grid so that the reference sums them exactly.
TEST(KMaCrossover, SignalsMatchExactWindowSumsOnAHighPricedWalk) {
  const int64_t n = 1000000;
  const int scale = 30;
  std::mt19937_64 rng(1606);
  std::normal_distribution<double> z(0.0, 0.01);
  std::vector<double> p(n);
  int64_t ticks = (int64_t)1000000 << scale;
  for (auto &v : p) {
    v = std::ldexp((double)ticks, -scale);
    ticks += (int64_t)std::llround(std::ldexp(z(rng), scale));
  }
  Table t(n);
  int c = t.Add("p", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Cfg(c, 5, 20, 0, 0);
  for (double v : Cfg(c, 5, 20, 2.5, 1)) cfg.push_back(v);
  for (double v : Cfg(c, 1, 2, 0, 0)) cfg.push_back(v);
  for (double v : Cfg(c, 50, 200, 0, 1)) cfg.push_back(v);
  CheckExact(t, p, scale, cfg, "1e6 + walk(0.01)");
}

// The second series: 5e6 bars of a geometric walk at 3e4 with
// volatility 3e-4 per bar, (1, 2): 2,499,533 trades against 2,499,535 and
// total_return 1.26887 against 1.26780. Prices on a 2^-32 grid.
TEST(KMaCrossover, SignalsMatchExactWindowSumsOnALongSeries) {
  const int64_t n = 5000000;
  const int scale = 32;
  std::mt19937_64 rng(16002);
  std::normal_distribution<double> z(0.0, 3e-4);
  std::vector<double> p(n);
  double x = 3e4;
  for (auto &v : p) {
    v = std::ldexp(std::round(std::ldexp(x, scale)), -scale);
    x *= std::exp(z(rng));
  }
  Table t(n);
  int c = t.Add("close", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Cfg(c, 1, 2, 0, 0);
  for (double v : Cfg(c, 1, 2, 1, 1)) cfg.push_back(v);
  for (double v : Cfg(c, 3, 7, 0, 0)) cfg.push_back(v);
  CheckExact(t, p, scale, cfg, "3e4 geometric walk, 5e6 bars");
}

// Issue 16 item 3: a NaN or infinite price made every later step's return
// NaN (total_return NaN with normal-looking trades, exposure, drawdown). The
// rule: a missing price carries the last finite one, rows before the first
// finite price are left out, a column without one is refused. Missing
// prices at random places, in runs, at the start and at the end; f64 and
// f32; windows up to and beyond the filled series' length.
TEST(KMaCrossover, MissingPricesCarryTheLastFinitePrice) {
  std::mt19937_64 rng(33);
  const double bad[] = {kNaN, INFINITY, -INFINITY};
  for (int variant = 0; variant < 6; variant++) {
    const int64_t n = 3000;
    const int scale = 10;  // also exact in f32: prices below 2^14
    std::normal_distribution<double> z(0.0, 0.3);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> p(n);
    double x = 100;
    for (auto &v : p) v = std::ldexp(std::round(std::ldexp(x = std::max(1.0, x + z(rng)), scale)), -scale);
    int64_t lead = variant % 3 == 0 ? 0 : variant % 3 == 1 ? 1 : 37;
    for (int64_t i = 0; i < lead; i++) p[i] = bad[i % 3];
    for (int64_t i = lead; i < n; i++)
      if (u(rng) < 0.05) p[i] = bad[rng() % 3];
    for (int64_t i = 1000; i < 1060; i++) p[i] = kNaN;  // a run: a flat stretch, ties
    if (variant >= 3)
      for (int64_t i = n - 25; i < n; i++) p[i] = bad[i % 3];
    bool f32 = variant % 2 == 1;
    Table t(n);
    int c = f32 ? t.Add("px", GPUDF_TYPE_F32, std::vector<float>(p.begin(), p.end()))
                : t.Add("px", GPUDF_TYPE_F64, p);
    std::vector<double> cfg;
    int pairs[][2] = {{1, 2}, {2, 3}, {3, 10}, {5, 20}, {10, 50}, {20, 100},
                      {1, (int)(n - lead)}, {1, (int)(n - lead) + (lead > 0)}};
    for (auto &pr : pairs)
      for (int mode : {0, 1})
        for (double v : Cfg(c, pr[0], pr[1], mode * 3.0, mode)) cfg.push_back(v);
    std::string what = std::string(f32 ? "f32" : "f64") + ", " + std::to_string(lead) +
                       " leading, variant " + std::to_string(variant);
    CheckExact(t, p, scale, cfg, what.c_str());
    std::vector<double> got = KRun(t.t, "ma_crossover", cfg);
    for (double v : got) EXPECT_FALSE(std::isinf(v)) << what;
    for (size_t k = 0; k < got.size() / 5; k++)
      EXPECT_FALSE(std::isnan(got[k * 5])) << what << ": total_return NaN, config " << k;
  }
}

// Only the last price finite: no step at all (exposure NaN, as for any
// series of one row); none finite: refused, naming the column.
TEST(KMaCrossover, ASeriesWithoutAFinitePriceIsRefused) {
  std::vector<double> p(50, kNaN);
  p[10] = INFINITY;
  Table t(50);
  int c = t.Add("quote", GPUDF_TYPE_F64, p);
  std::string msg;
  std::vector<double> cfg = Cfg(c, 1, 2, 0, 1);
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", cfg, &msg));
  EXPECT_NE(std::string::npos, msg.find("column 'quote'")) << msg;
  EXPECT_NE(std::string::npos, msg.find("no finite price")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), 1));
  EXPECT_NE(std::string::npos, std::string(gpudf_last_error()).find("column 'quote'"))
      << gpudf_last_error();
  EXPECT_EQ(1, gpudf_table_ncols(t.t)) << "a refused prepare added a column";
  p[49] = 123.5;
  Table one(50);
  c = one.Add("quote", GPUDF_TYPE_F64, p);
  std::vector<double> r = KRun(one.t, "ma_crossover", Cfg(c, 1, 2, 0, 1));
  ASSERT_EQ(5u, r.size());
  EXPECT_EQ(0.0, r[0]);
  EXPECT_TRUE(std::isnan(r[1]));
  EXPECT_EQ(0.0, r[2]);
  EXPECT_EQ(0.0, r[3]);
  EXPECT_TRUE(std::isnan(r[4]));
}

// Issue 16 item 13: the prefix columns double a price table's shared
// memory; a sweep with workers failed with ENOSPC when /dev/shm could hold
// the table but not them. Now it runs without them (each batch computes the
// sums; GPUDF_LOG=debug says so), with the same results. Needs a fault
// build (gdf_fault_shm_free makes statvfs report a small /dev/shm).
TEST(KMaCrossover, SweepWithoutRoomForThePrefixColumnsComputesThemPerBatch) {
  void (*shm_free)(long long) = nullptr;
  *(void **)(&shm_free) = dlsym(RTLD_DEFAULT, "gdf_fault_shm_free");
  if (!shm_free) GTEST_SKIP() << "needs -DGPUDF_FAULT_INJECTION=ON (tests/run.sh's ASan pass)";
  setenv("GPUDF_LOG", "debug", 1);
  const int64_t n = 400000;  // 3.2 MB of prices; their prefix columns 6.4 MB
  std::vector<double> p = RandomWalk(n, 13);
  Table t(n);
  int c = t.Add("close", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Configs(c, n), want = KRun(t.t, "ma_crossover", cfg);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 2;
  o.backend = GPUDF_BACKEND_CPU;
  o.batch = 5;
  std::vector<double> r(want.size());
  shm_free(2 << 20);  // room for the control segment and descriptor only
  testing::internal::CaptureStderr();
  gpudf_status st = gpudf_sweep(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6, r.data(), &o,
                                nullptr);
  std::string log = testing::internal::GetCapturedStderr();
  shm_free(-1);
  unsetenv("GPUDF_LOG");
  ASSERT_EQ(GPUDF_OK, st) << gpudf_last_error();
  int idx;
  EXPECT_NE(GPUDF_OK, gpudf_table_find_column(t.t, "__prefix.close", &idx));
  for (size_t i = 0; i < r.size(); i++) EXPECT_TRUE(Same(want[i], r[i])) << i;
  if (log.find("gpudf: ") == std::string::npos)
    GTEST_SKIP() << "the debug log was switched off earlier in this process";
  EXPECT_NE(std::string::npos, log.find("no ma_crossover prefix columns for column")) << log;
  EXPECT_NE(std::string::npos, log.find("computes the prefix sums itself")) << log;
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
  EXPECT_EQ(GPUDF_EBUSY, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), ok.data(), 1));
}

TEST(KMaCrossover, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  std::vector<double> p = RandomWalk(3000, 3);
  Table t(3000);
  int c = t.Add("p", GPUDF_TYPE_F64, p);
  std::vector<double> cfg = Configs(c, 3000), cpu = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6));
  std::string why;
  ASSERT_TRUE(t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  std::vector<double> dev = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); i++) EXPECT_TRUE(Same(cpu[i], dev[i])) << i;
}

TEST(KMaCrossoverGpu, MatchesTheCpu) {
  K_SKIP_WITHOUT_CUDA();
  // Windows up to 2048 go through shared-memory tiles of the time axis on
  // the device, longer ones read global memory: both paths, prepared or not,
  // with missing prices (a tile filled in order, leading ones skipped).
  for (int variant = 0; variant < 4; variant++) {
    bool prepared = variant % 2 == 0, long_windows = variant >= 2;
    std::vector<double> p = RandomWalk(200000, 8 + variant);
    for (int i = 0; i < variant * 5; i++) p[i] = kNaN;
    for (int i = 1000; i < 200000; i += 997) p[i] = i % 2 ? kNaN : INFINITY;
    for (int i = 150000; i < 151500; i++) p[i] = -INFINITY;
    Table t(200000);
    int c = t.Add("p", GPUDF_TYPE_F64, p);
    std::vector<double> cfg;
    for (int f = 1; f < 40; f += 3)
      for (int s = f + 1; s < 200; s += 11)
        cfg.insert(cfg.end(), {(double)c, (double)f, (double)s, 2.0, (double)(s % 2), 252});
    if (long_windows)
      for (int s : {2047, 2048, 2049, 9000})
        cfg.insert(cfg.end(), {(double)c, (double)(s / 3), (double)s, 1.0, (double)(s % 2), 252});
    std::vector<double> cpu = KRun(t.t, "ma_crossover", cfg);
    if (prepared) {
      ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, tg_kernel("ma_crossover"), cfg.data(), cfg.size() / 6));
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

// A cancel that lands while an in-process batch of backtests runs (one
// claim of every config) stops it at the kernel's next report: no config of
// it finishes, and no later progress call sees more of it done than the
// call that asked to cancel.
struct CancelSeen {
  double at_cancel = -1.0;  // the fraction of the call that cancelled
  double after = -1.0;      // the largest fraction of a later call
  int64_t done = -1;        // configs finished when it cancelled
};

int CancelOnceTheBatchMoves(const gpudf_sweep_progress *p, void *user) {
  auto *seen = static_cast<CancelSeen *>(user);
  if (seen->at_cancel >= 0.0) {
    seen->after = std::max(seen->after, p->fraction);
    return 1;
  }
  if (p->fraction > 0.0 && p->done < p->total) {
    seen->at_cancel = p->fraction;
    seen->done = p->done;
    return 1;
  }
  return 0;
}

TEST(KMaCrossover, ACancelStopsTheBacktestBatchThatRuns) {
  // 64 configs x 2e6 steps: seconds here, and more than 0.1 s, when the
  // first call after the start comes, on any machine.
  const int64_t rows = 2000000;
  std::vector<double> p = RandomWalk(rows, 77);
  Table t(rows);
  int c = t.Add("price", GPUDF_TYPE_F64, p);
  std::vector<double> cfg;
  for (int fast = 1; fast <= 8; fast++)
    for (int slow = 10; slow <= 80; slow += 10)
      cfg.insert(cfg.end(), {(double)c, (double)fast, (double)slow, 1.0, 1.0, 252.0});
  int64_t n = (int64_t)cfg.size() / 6;
  std::vector<double> got(5 * (size_t)n, -1.0);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.batch = n;
  CancelSeen seen;
  o.progress = CancelOnceTheBatchMoves;
  o.progress_user = &seen;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t.t, tg_kernel("ma_crossover"), cfg.data(), n, got.data(), &o, &r),
            GPUDF_ECANCELED)
      << gpudf_last_error();
  ASSERT_GE(seen.at_cancel, 0.0) << "no progress call came while the batch ran";
  EXPECT_LE(seen.after, seen.at_cancel) << "the batch went on after the cancel";
  // Claims start small and double (docs/sweep.md): the configs of claims
  // that finished before the cancel are done; the batch that ran when it
  // came, and every later one, finish nothing.
  ASSERT_LT(seen.done, n);
  int64_t done = 0;
  for (int64_t i = 0; i < n; i++) {
    if (gpudf_sweep_result_state(r, i) == GPUDF_CONFIG_DONE) {
      done++;
      EXPECT_FALSE(std::isnan(got[5 * (size_t)i])) << "config " << i;
      continue;
    }
    EXPECT_EQ(gpudf_sweep_result_state(r, i), GPUDF_CONFIG_CANCELLED) << "config " << i;
    EXPECT_TRUE(std::isnan(got[5 * (size_t)i])) << "config " << i;
  }
  EXPECT_EQ(done, seen.done) << "a config of the batch that ran at the cancel finished";
  gpudf_sweep_result_free(r);
}

// What a sweep shows of a batch of backtests while it runs is the share of
// the backtest done: the kernel reports, after each block of time steps,
// (configs of the price columns it finished + configs of the column it runs
// x that column's steps done / its steps) / configs of the batch, where a
// column's steps count from its first finite price, and the sweep shows
// that share of the claim's configs. One claim of five configs over two
// price columns (the first with 37 leading NaNs; price_col is no shape
// parameter: one batch may read several), in process. The callback
// runs at most every 100 ms, so that every report reaches it the batch runs
// inside a kernel of the test's that waits 101 ms first (a plugin may run a
// built-in kernel: its reports go to the sweep that runs the plugin), and
// the callback waits 101 ms after each call. The blocks are equal but the
// last, so each column's reports are k x its first report's steps, then all
// of them.
struct BatchSeen {
  std::vector<double> within;  // fractions seen while no config was done
  double last = -1.0;
};

int RecordTheBatch(const gpudf_sweep_progress *p, void *user) {
  auto *seen = static_cast<BatchSeen *>(user);
  seen->last = p->fraction;
  if (p->done == 0 && p->fraction > 0.0) seen->within.push_back(p->fraction);
  if (p->done < p->total) std::this_thread::sleep_for(std::chrono::milliseconds(101));
  return 0;
}

gpudf_status LateMaCrossover(const gpudf_table *t, const double *configs, int64_t n,
                             double *results) {
  std::this_thread::sleep_for(std::chrono::milliseconds(101));
  return gpudf_run(t, Kernel("ma_crossover"), configs, n, results);
}

// "ma_crossover_late": ma_crossover's parameters and results, run by
// LateMaCrossover. Its pass groups: configs with periods_per_year 365 apart
// from the others, so that a sweep claims the others together (the ramp of
// claim sizes never cuts a pass group).
const gpudf_kernel *LateKernel() {
  static gpudf_param_info params[GDF_MA_NPARAMS];
  static gpudf_result_info fields[GDF_MA_NRESULTS];
  static const gpudf_kernel *late = nullptr;
  if (late) return late;
  const gpudf_kernel *ma = Kernel("ma_crossover");
  for (int i = 0; i < GDF_MA_NPARAMS; i++) EXPECT_EQ(gpudf_kernel_param(ma, i, &params[i]), GPUDF_OK);
  for (int i = 0; i < GDF_MA_NRESULTS; i++)
    EXPECT_EQ(gpudf_kernel_result(ma, nullptr, i, &fields[i]), GPUDF_OK);
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "ma_crossover_late";
  d.nparams = GDF_MA_NPARAMS;
  d.params = params;
  d.nfields = GDF_MA_NRESULTS;
  d.fields = fields;
  d.run_cpu = LateMaCrossover;
  d.pass_key = [](const double *c) -> uint64_t { return c[GDF_MA_PPY] == 365.0; };
  EXPECT_EQ(gpudf_kernel_register(&d, &late), GPUDF_OK) << gpudf_last_error();
  return late;
}

TEST(KMaCrossover, TheProgressOfABatchIsTheShareOfItsStepsDone) {
  const int64_t rows = 5000, lead = 37;
  std::vector<double> a = RandomWalk(rows, 3), b = RandomWalk(rows, 4);
  for (int64_t i = 0; i < lead; i++) a[i] = kNaN;
  Table t(rows);
  int ca = t.Add("a", GPUDF_TYPE_F64, a), cb = t.Add("b", GPUDF_TYPE_F64, b);
  // The claim: configs 0 and 2 read a, 1, 3 and 4 read b. Config 5 is a
  // second claim.
  std::vector<double> cfg = {(double)ca, 3, 10, 1, 0, 252, (double)cb, 2, 7,  0, 1, 252,
                             (double)ca, 5, 20, 0, 1, 252, (double)cb, 3, 10, 2, 0, 252,
                             (double)cb, 4, 30, 1, 1, 252, (double)ca, 2, 9,  0, 0, 365};
  const int64_t n = 6, claim = 5, ma = 2, mb = 3;
  const double steps_a = (double)(rows - 1 - lead), steps_b = (double)(rows - 1);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.backend = GPUDF_BACKEND_CPU;
  BatchSeen seen;
  o.progress = RecordTheBatch;
  o.progress_user = &seen;
  std::vector<double> got(5 * n);
  const gpudf_kernel *late = LateKernel();
  ASSERT_NE(late, nullptr);
  ASSERT_EQ(gpudf_sweep(t.t, late, cfg.data(), n, got.data(), &o, nullptr), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(seen.last, 1.0);
  // What the sweep shows of a kernel's fraction f of the claim (kept in
  // 1/65536), and back.
  auto shown = [&](double f) { return std::floor(f * 65536.0) / 65536.0 * claim / n; };
  auto kernels = [&](double seen_f) { return seen_f * n / claim; };
  // The reports of one column: (before + m x k x block / steps) / claim,
  // then (before + m) / claim.
  auto expected = [&](double before, double m, double steps, double block) {
    std::vector<double> f;
    for (double k = 1; k * block < steps; k++)
      f.push_back(shown((before + m * (k * block / steps)) / claim));
    f.push_back(shown((before + m) / claim));
    return f;
  };
  ASSERT_FALSE(seen.within.empty()) << "no progress while the batch ran";
  // The steps of a's first block, from its first report.
  double block_a = std::round(kernels(seen.within[0]) * claim / ma * steps_a);
  ASSERT_GE(block_a, 1.0);
  ASSERT_LT(block_a, steps_a) << "a's first report says all of a is done";
  std::vector<double> want = expected(0, ma, steps_a, block_a);
  ASSERT_GT(seen.within.size(), want.size()) << "no report of b's column";
  double block_b = std::round((kernels(seen.within[want.size()]) * claim - ma) / mb * steps_b);
  ASSERT_GE(block_b, 1.0);
  ASSERT_LT(block_b, steps_b) << "b's first report says all of b is done";
  std::vector<double> wb = expected(ma, mb, steps_b, block_b);
  want.insert(want.end(), wb.begin(), wb.end());
  ASSERT_EQ(seen.within.size(), want.size());
  for (size_t i = 0; i < want.size(); i++)
    EXPECT_NEAR(seen.within[i], want[i], 1e-12) << "report " << i;
  // And the batch's results are the reference's.
  for (int64_t k = 0; k < n; k++) {
    const double *q = &cfg[k * 6];
    std::vector<double> p = q[0] == ca ? std::vector<double>(a.begin() + lead, a.end()) : b;
    ExpectClose(Reference(p, (int)q[1], (int)q[2], q[3], q[4] == 1, q[5]), &got[k * 5],
                ("config " + std::to_string(k)).c_str());
  }
}

// The window mean every backend shares (ma_crossover_math.h: the CUDA
// kernel computes each signal with it, the CPU its first rows) is the exact
// mean of the window, correctly rounded, for every window end t and length
// w, the windows that start at row 0 included: integer prices, whose window
// sums are exact integers here.
TEST(KMaCrossover, TheSharedWindowMeanIsTheExactMeanOfEveryWindow) {
  std::mt19937_64 rng(std::random_device{}());
  const int n = 300;
  std::vector<double> price(n), H(n), L(n);
  std::vector<int64_t> sum(n + 1, 0);  // sum[i + 1] = p_0 + .. + p_i
  double hi = 0.0, lo = 0.0;
  for (int i = 0; i < n; i++) {
    price[i] = (double)(rng() % 1000000000 + 1);
    sum[i + 1] = sum[i] + (int64_t)price[i];
    gdf_ma_prefix_add(&hi, &lo, price[i]);
    H[i] = hi, L[i] = lo;
  }
  for (int w = 1; w <= 40; w++)
    for (int t = w - 1; t < n; t++) {
      double want = (double)(sum[t + 1] - sum[t + 1 - w]) / (double)w;  // one rounding
      ASSERT_EQ(gdf_ma_sma2(H.data(), L.data(), t, w, 1.0 / w), want) << "t " << t << " w " << w;
    }
}

// A batch's state starts from nothing, whatever the memory it gets held
// before: results on a heap full of freed, non-zero blocks are the
// reference's.
TEST(KMaCrossover, ResultsDoNotDependOnWhatFreedMemoryHeld) {
  std::vector<double> p = RandomWalk(3000, 91);
  Table t(3000);
  int c = t.Add("price", GPUDF_TYPE_F64, p);
  std::vector<double> cfg;
  for (int k = 0; k < 9; k++)
    cfg.insert(cfg.end(), {(double)c, (double)(1 + k), (double)(12 + 7 * k), 2.0, (double)(k % 2), 252.0});
  for (int round = 0; round < 3; round++) {
    std::vector<void *> blocks;
    for (size_t size = 16; size <= 16384; size += 16) {
      void *b = std::malloc(size);
      std::memset(b, 0x5a + round, size);
      blocks.push_back(b);
    }
    for (size_t j = blocks.size(); j-- > 0;) std::free(blocks[j]);
    CheckAll(p, cfg, KRun(t.t, "ma_crossover", cfg));
  }
}

}  // namespace
