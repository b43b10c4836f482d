// bootstrap: statistical checks (the spread of replicate means is the
// standard error std/sqrt(N); the replicate mean centres on the sample
// mean), determinism (identical bits across batch sizes, orders, a sweep
// with 2 workers and in process), NaN handling, validation, the simulated
// device, and CUDA vs CPU (Gpu).
//
// The draws are a private detail of the kernel (its counter-based
// generator), so the tests check properties a correct resampler must have
// rather than recomputing it: a replicate only ever uses the column's
// non-NaN values (checked on a column whose values are all equal, and one of
// 0/1 values whose sum must be an integer count), with N' draws.
#include <algorithm>
#include <random>

#include "test_k_common.h"

namespace {

using namespace ktest;

struct Fixture {
  std::vector<double> v;
  Table t;
  int c;
  Fixture(int64_t n, uint64_t seed, int nan_pct) : t(n) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> z(5.0, 2.0);
    std::uniform_int_distribution<int> pct(0, 99);
    for (int64_t i = 0; i < n; i++) v.push_back(pct(rng) < nan_pct ? kNaN : z(rng));
    c = t.Add("v", GPUDF_TYPE_F64, v);
  }
  std::vector<double> Configs(int64_t n, int stat, double seed0 = 0) const {
    std::vector<double> cfg;
    for (int64_t i = 0; i < n; i++) cfg.insert(cfg.end(), {(double)c, seed0 + i, (double)stat});
    return cfg;
  }
};

// Sample mean and std (ddof 1) of the non-NaN values.
void Moments(const std::vector<double> &v, double *mean, double *sd, double *count) {
  double n = 0, s = 0, ss = 0;
  for (double x : v)
    if (!std::isnan(x)) n++, s += x;
  for (double x : v)
    if (!std::isnan(x)) ss += (x - s / n) * (x - s / n);
  *mean = s / n, *sd = std::sqrt(ss / (n - 1)), *count = n;
}

TEST(KBootstrap, SpreadOfReplicateMeansIsTheStandardError) {
  Fixture f(2000, 1, 10);
  std::vector<double> r = KRun(f.t.t, "bootstrap", f.Configs(2000, 0));
  double m, sd, n, rm, rsd, rn;
  Moments(f.v, &m, &sd, &n);
  Moments(r, &rm, &rsd, &rn);
  ASSERT_EQ(2000, rn);
  double se = sd / std::sqrt(n);
  // 2,000 replicates estimate a spread to about 1/sqrt(2 * 2000) = 1.6%.
  EXPECT_NEAR(se, rsd, 0.08 * se);
  EXPECT_NEAR(m, rm, 5 * se / std::sqrt(2000.0));
}

TEST(KBootstrap, StdAndSumAreConsistentWithTheData) {
  Fixture f(3000, 2, 5);
  double m, sd, n, rm, rsd, rn;
  Moments(f.v, &m, &sd, &n);
  std::vector<double> s = KRun(f.t.t, "bootstrap", f.Configs(300, 1));
  Moments(s, &rm, &rsd, &rn);
  EXPECT_NEAR(sd, rm, 0.02 * sd);  // replicate stds centre on the sample std
  std::vector<double> sum = KRun(f.t.t, "bootstrap", f.Configs(300, 2));
  std::vector<double> mean = KRun(f.t.t, "bootstrap", f.Configs(300, 0));
  for (size_t i = 0; i < sum.size(); i++) EXPECT_NEAR(sum[i] / n, mean[i], 1e-12 * std::fabs(mean[i]));
}

TEST(KBootstrap, DrawsOnlyNonNaNValuesNPrimeTimes) {
  std::vector<double> v = {kNaN, 3.0, kNaN, 3.0, 3.0, kNaN};
  Table t(6);
  t.Add("v", GPUDF_TYPE_F64, v);
  for (double seed : {0.0, 1.0, 12345.0}) {
    EXPECT_EQ(3.0, KRun(t.t, "bootstrap", {0, seed, 0})[0]);
    EXPECT_EQ(9.0, KRun(t.t, "bootstrap", {0, seed, 2})[0]);
    EXPECT_EQ(0.0, KRun(t.t, "bootstrap", {0, seed, 1})[0]);
  }
  std::vector<uint8_t> b(1001);
  for (size_t i = 0; i < b.size(); i++) b[i] = i % 3 == 0;
  Table tb(1001);
  tb.Add("b", GPUDF_TYPE_BOOL, b);
  std::vector<double> sums = KRun(tb.t, "bootstrap", {0, 7, 2, 0, 8, 2, 0, 9, 2});
  for (double s : sums) {
    EXPECT_EQ(s, std::floor(s));
    EXPECT_GT(s, 250);  // about 334 of 1001 draws are ones
    EXPECT_LT(s, 420);
  }
}

TEST(KBootstrap, EmptyAndSingleValueColumns) {
  std::vector<double> none = {kNaN, kNaN};
  Table t(2);
  t.Add("v", GPUDF_TYPE_F64, none);
  std::vector<double> r = KRun(t.t, "bootstrap", {0, 1, 0, 0, 1, 1, 0, 1, 2});
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_TRUE(std::isnan(r[1]));
  EXPECT_TRUE(std::isnan(r[2]));  // the description's NaN: no value, no sum either
  std::vector<double> one = {kNaN, 4.5};
  Table t1(2);
  t1.Add("v", GPUDF_TYPE_F64, one);
  r = KRun(t1.t, "bootstrap", {0, 1, 0, 0, 1, 1});
  EXPECT_EQ(4.5, r[0]);
  EXPECT_TRUE(std::isnan(r[1]));
}

TEST(KBootstrap, HugeValuesAndATinySpread) {
  // Three 1e308 and three -1e308: every replicate's sum is k * 1e308 for an
  // even k in [-6, 6], so its mean k * 1e308 / 6 is finite and its sum 0 or
  // +-inf, with the mean's sign; adding in draw order overflowed (mean inf
  // or NaN, sum inf where the true sum is 0).
  std::vector<double> h = {1e308, 1e308, 1e308, -1e308, -1e308, -1e308};
  Table t(6);
  t.Add("v", GPUDF_TYPE_F64, h);
  int zero = 0;
  for (double seed = 0; seed < 60; seed++) {
    double mean = KRun(t.t, "bootstrap", {0, seed, 0})[0];
    double sum = KRun(t.t, "bootstrap", {0, seed, 2})[0];
    double k = mean / 1e308 * 6;
    ASSERT_TRUE(std::isfinite(mean)) << "seed " << seed;
    EXPECT_NEAR(k, std::round(k), 1e-12) << "seed " << seed;
    EXPECT_EQ(0.0, std::fmod(std::round(k), 2.0)) << "seed " << seed;
    EXPECT_EQ(std::round(k) == 0 ? 0.0 : std::copysign(INFINITY, k), sum) << "seed " << seed;
    zero += std::round(k) == 0;
  }
  EXPECT_GT(zero, 5);
  // A column of one value 1e8 + 0.3 (not a multiple of its ulp's halves):
  // std 0, which a mean rounded by an ulp made 1.5e-8; and 1e8 +- 1e-6.
  std::vector<double> c(1000, 1e8 + 0.3), w(1000);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(-1e-6, 1e-6);
  for (double &x : w) x = 1e8 + u(rng);
  Table tc(1000);
  tc.Add("c", GPUDF_TYPE_F64, c);
  tc.Add("w", GPUDF_TYPE_F64, w);
  for (double seed = 0; seed < 5; seed++) {
    EXPECT_LE(KRun(tc.t, "bootstrap", {0, seed, 1})[0], 1e-20) << "seed " << seed;
    double sd = KRun(tc.t, "bootstrap", {1, seed, 1})[0];
    EXPECT_GT(sd, 4e-7);  // uniform(-1e-6, 1e-6): 5.8e-7, not 1e-5
    EXPECT_LT(sd, 7e-7);
  }
}

TEST(KBootstrap, IdenticalBitsAcrossBatchSizesAndOrder) {
  Fixture f(5000, 3, 3);
  std::vector<double> cfg = f.Configs(64, 1, 1000);
  std::vector<double> all = KRun(f.t.t, "bootstrap", cfg);
  for (size_t k = 0; k < 64; k += 7) {
    std::vector<double> one(cfg.begin() + k * 3, cfg.begin() + k * 3 + 3);
    EXPECT_EQ(all[k], KRun(f.t.t, "bootstrap", one)[0]);
  }
  std::vector<double> rev;
  for (size_t k = 64; k-- > 0;) rev.insert(rev.end(), cfg.begin() + k * 3, cfg.begin() + k * 3 + 3);
  std::vector<double> r = KRun(f.t.t, "bootstrap", rev);
  for (size_t k = 0; k < 64; k++) EXPECT_EQ(all[k], r[63 - k]);
  EXPECT_NE(all[0], all[1]);  // different seeds, different replicates
}

TEST(KBootstrap, SweepWithTwoWorkersGivesTheSameBits) {
  Fixture f(4000, 4, 5);
  std::vector<double> cfg = f.Configs(200, 0, 77);
  std::vector<double> a(200), b(200);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(f.t.t, tg_kernel("bootstrap"), cfg.data(), 200, a.data(), &o, nullptr))
      << gpudf_last_error();
  o.workers = 2;
  o.batch = 13;
  o.backend = GPUDF_BACKEND_CPU;
  ASSERT_EQ(GPUDF_OK, gpudf_sweep(f.t.t, tg_kernel("bootstrap"), cfg.data(), 200, b.data(), &o, nullptr))
      << gpudf_last_error();
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(double) * 200));
}

TEST(KBootstrap, ValidationNamesTheParameter) {
  Fixture f(10, 5, 0);
  std::string msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "bootstrap", {0, -1, 0}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'seed' = -1")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "bootstrap", {0, 1, 3}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'stat' = 3")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "bootstrap", {1, 1, 0}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'col' = 1")) << msg;
}

TEST(KBootstrap, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  Fixture f(3000, 6, 4);
  std::vector<double> cfg = f.Configs(30, 1);
  std::vector<double> cpu = KRun(f.t.t, "bootstrap", cfg);
  std::string why;
  ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  EXPECT_EQ(cpu, KRun(f.t.t, "bootstrap", cfg));
}

// Draws must be exact: on small integers every sum is exact in double in
// any order, so CUDA and CPU agree to the bit; on reals, sums agree within
// 1e-12 x the sum of magnitudes (N' x max|v| bounds it) and std likewise.
TEST(KBootstrapGpu, MatchesTheCpu) {
  K_SKIP_WITHOUT_CUDA();
  std::vector<int32_t> ints(100000);
  std::mt19937_64 rng(9);
  for (auto &x : ints) x = (int32_t)(rng() % 1000);
  Table ti(100000);
  ti.Add("i", GPUDF_TYPE_I32, ints);
  std::vector<double> cfg;
  for (int s = 0; s < 50; s++) cfg.insert(cfg.end(), {0, (double)s, 2});
  std::vector<double> cpu = KRun(ti.t, "bootstrap", cfg);
  std::string why;
  ASSERT_TRUE(ti.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  EXPECT_EQ(cpu, KRun(ti.t, "bootstrap", cfg)) << "draws differ between CUDA and CPU";
  Fixture f(100000, 10, 5);
  for (int stat : {0, 1, 2}) {
    std::vector<double> c = f.Configs(40, stat);
    std::vector<double> want = KRun(f.t.t, "bootstrap", c);
    if (!f.t.s) {
      ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
    }
    std::vector<double> got = KRun(f.t.t, "bootstrap", c);
    for (size_t i = 0; i < want.size(); i++)
      EXPECT_NEAR(want[i], got[i], 1e-12 * 100000 * 15) << stat << " " << i;
  }
}

// The draws as docs/guide.md states them, written out here: splitmix64's
// output function, the key mix(seed ^ 0x6A09E667F3BCC909), draw j at index
// mix(key + (j + 1) * 0x9E3779B97F4A7C15) mod N' among the non-NaN values in
// row order. A published replicate must stay the same replicate.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The replicate of values v (NaN left out) with this seed: its mean, std
// (ddof 1, two passes in long double) and sum, NaN where there is none;
// then the tolerance of each (rounding of a sum in another order: 1e-12 of
// the sum of magnitudes; a wrong draw moves them by whole values).
std::vector<double> Replicate(const std::vector<double> &v, uint64_t seed) {
  std::vector<double> vals;
  for (double x : v)
    if (!std::isnan(x)) vals.push_back(x);
  uint64_t n = vals.size(), key = Mix(seed ^ 0x6A09E667F3BCC909ull);
  if (n == 0) return {kNaN, kNaN, kNaN, 0, 0, 0};
  std::vector<double> drawn;
  long double sum = 0, sum_abs = 0, max_abs = 0;
  for (uint64_t j = 0; j < n; j++) {
    drawn.push_back(vals[Mix(key + (j + 1) * 0x9E3779B97F4A7C15ull) % n]);
    sum += drawn.back();
    sum_abs += std::fabs(drawn.back());
    max_abs = std::max(max_abs, (long double)std::fabs(drawn.back()));
  }
  long double mean = sum / n, m2 = 0;
  for (double x : drawn) m2 += (x - mean) * (x - mean);
  double sd = n < 2 ? kNaN : (double)std::sqrt(m2 / (n - 1));
  return {(double)mean, sd, (double)sum, (double)(1e-12L * sum_abs / n),
          (double)(1e-11L * max_abs), (double)(1e-12L * sum_abs)};
}

// Every replicate of a batch whose configs go back and forth between
// columns of every numeric type (with NaNs, and one column of 1 value) is
// the documented draws of that column's own values, stat by stat.
TEST(KBootstrap, EveryReplicateIsTheDocumentedDrawsOfItsColumnsValues) {
  std::mt19937_64 rng(std::random_device{}());
  const int64_t n = 777;
  std::vector<double> f64(n), f32d(n), i64d(n), one(n, kNaN);
  std::vector<float> f32(n);
  std::vector<int64_t> i64(n);
  std::vector<int32_t> i32(n);
  std::vector<uint8_t> b(n);
  std::uniform_real_distribution<double> u(-50.0, 150.0);
  for (int64_t i = 0; i < n; i++) {
    f64[i] = rng() % 9 == 0 ? kNaN : u(rng);
    f32[i] = rng() % 5 == 0 ? std::numeric_limits<float>::quiet_NaN() : (float)u(rng);
    f32d[i] = f32[i];
    i64[i] = (int64_t)(rng() % 2000001) - 1000000;
    i64d[i] = (double)i64[i];
    i32[i] = (int32_t)(rng() % 100);
    b[i] = rng() % 3 == 0;
  }
  one[n / 2] = 2.5;
  Table t(n);
  t.Add("f64", GPUDF_TYPE_F64, f64);
  t.Add("f32", GPUDF_TYPE_F32, f32);
  t.Add("i64", GPUDF_TYPE_I64, i64);
  t.Add("i32", GPUDF_TYPE_I32, i32);
  t.Add("b", GPUDF_TYPE_BOOL, b);
  t.Add("one", GPUDF_TYPE_F64, one);
  std::vector<std::vector<double>> as_double = {f64, f32d, i64d,
                                                std::vector<double>(i32.begin(), i32.end()),
                                                std::vector<double>(b.begin(), b.end()), one};
  std::vector<double> cfg;
  std::vector<int> col;
  std::vector<uint64_t> seed;
  std::vector<int> stat;
  for (int k = 0; k < 90; k++) {
    // Runs of the same column, and a column back after another.
    int c = k % 15 < 6 ? k % 6 : (int)(rng() % 6);
    uint64_t s = k % 4 == 0 ? (uint64_t)k : rng() >> 11;  // up to 2^53
    int st = (int)(rng() % 3);
    cfg.insert(cfg.end(), {(double)c, (double)s, (double)st});
    col.push_back(c), seed.push_back(s), stat.push_back(st);
  }
  std::vector<double> got = KRun(t.t, "bootstrap", cfg);
  ASSERT_EQ(got.size(), 90u);
  for (int k = 0; k < 90; k++) {
    std::vector<double> want = Replicate(as_double[col[k]], seed[k]);
    double w = want[stat[k]];
    std::string where = "config " + std::to_string(k) + ": col " + std::to_string(col[k]) +
                        " seed " + std::to_string(seed[k]) + " stat " + std::to_string(stat[k]);
    if (std::isnan(w)) {
      EXPECT_TRUE(std::isnan(got[k])) << where << ": got " << got[k];
      continue;
    }
    EXPECT_NEAR(got[k], w, want[3 + stat[k]]) << where;
  }
}

// A cancel that lands while a batch of replicates runs (in process, one
// claim of every config) stops the batch at the kernel's next report: the
// sweep ends cancelled with configs left undone and their results NaN, and
// the replicates that finished have gpudf_run's values.
int CancelOnceABatchHasMoved(const gpudf_sweep_progress *p, void *) { return p->fraction > 0.0; }

TEST(KBootstrap, ACancelStopsTheBatchOfReplicatesThatRuns) {
  const int64_t rows = 400000, n = 400;  // 1.6e8 draws: seconds, the cancel after 0.1 s
  Fixture f(rows, 11, 5);
  std::vector<double> cfg = f.Configs(n, 0, 5);
  std::vector<double> got((size_t)n, -1.0);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.batch = n;
  o.progress = CancelOnceABatchHasMoved;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(f.t.t, tg_kernel("bootstrap"), cfg.data(), n, got.data(), &o, &r),
            GPUDF_ECANCELED)
      << gpudf_last_error();
  int64_t done = 0;
  for (int64_t i = 0; i < n; i++) {
    if (gpudf_sweep_result_state(r, i) == GPUDF_CONFIG_DONE) {
      done++;
      std::vector<double> one(cfg.begin() + i * 3, cfg.begin() + i * 3 + 3);
      if (i % 10 == 0) {
        EXPECT_EQ(got[(size_t)i], KRun(f.t.t, "bootstrap", one)[0]) << i;
      }
    } else {
      EXPECT_TRUE(std::isnan(got[(size_t)i])) << "config " << i << " not done: " << got[(size_t)i];
    }
  }
  EXPECT_LT(done, n) << "the batch ran to its end after the cancel";
  gpudf_sweep_result_free(r);
}

}  // namespace
