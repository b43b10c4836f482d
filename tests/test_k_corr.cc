// corr against a plain long double reference written here (the textbook
// two-pass formulas over the counted rows, with the rules of the kernel's
// description: filter_agg's row test, pairs with a NaN skipped, NaN for
// fewer than 2 rows, a constant column or an infinite value, cov 0 for a
// constant column), on random and adversarial tables; its validation; the
// simulated device; and CUDA vs CPU (Gpu).
#include <cstdio>
#include <random>

#include "test_k_common.h"

namespace {

using namespace ktest;

enum { kAll, kLt, kLe, kGt, kGe, kEq, kNe, kBetween };
enum { kCount, kCorr, kCov, kWidth };

bool Pass(int op, double x, double lo, double hi) {
  switch (op) {
  case kAll: return true;
  case kLt: return x < lo;
  case kLe: return x <= lo;
  case kGt: return x > lo;
  case kGe: return x >= lo;
  case kEq: return x == lo;
  case kNe: return x != lo;
  default: return lo <= x && x <= hi;
  }
}

struct Ref {
  double n, corr, cov;
  long double scale;  // sqrt(sxx * syy) / (n - 1): what cov's error is measured against
};

// The columns as the reference reads them: long double holds every value
// of every column type exactly (i64 included: a 64-bit significand).
Ref Reference(const std::vector<double> &f, const std::vector<long double> &x,
              const std::vector<long double> &y, int op, double lo, double hi) {
  std::vector<size_t> rows;
  for (size_t r = 0; r < f.size(); r++)
    if (Pass(op, f[r], lo, hi) && !std::isnan(x[r]) && !std::isnan(y[r])) rows.push_back(r);
  Ref out = {(double)rows.size(), kNaN, kNaN, 0.0L};
  if (rows.size() < 2) return out;
  // Sums of the values less the first one (exact in long double for every
  // i64 and for doubles of one binade), so the mean keeps every digit of
  // the spread however far the data lie from 0.
  long double sx = 0, sy = 0, x0 = x[rows[0]], y0 = y[rows[0]];
  bool x_const = true, y_const = true;
  for (size_t r : rows) {
    if (std::isinf(x[r]) || std::isinf(y[r])) return out;
    sx += x[r] - x0, sy += y[r] - y0;
    x_const = x_const && x[r] == x0;
    y_const = y_const && y[r] == y0;
  }
  if (x_const || y_const) {
    out.cov = 0.0;
    return out;
  }
  long double n = rows.size(), mx = sx / n, my = sy / n, sxx = 0, syy = 0, sxy = 0;
  for (size_t r : rows) {
    long double dx = (x[r] - x0) - mx, dy = (y[r] - y0) - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  out.corr = (double)(sxy / sqrtl(sxx * syy));
  out.cov = (double)(sxy / (n - 1));
  out.scale = sqrtl(sxx * syy) / (n - 1);
  return out;
}

// Within 1e-12 of the reference: corr absolutely, cov against sigma_x *
// sigma_y (a covariance near 0 has no relative accuracy to keep).
void ExpectClose(const Ref &ref, const double *got, const std::string &what) {
  EXPECT_EQ(ref.n, got[kCount]) << what;
  if (std::isnan(ref.corr)) {
    EXPECT_TRUE(std::isnan(got[kCorr])) << what << ": corr " << got[kCorr];
  } else {
    EXPECT_NEAR(ref.corr, got[kCorr], 1e-12) << what;
    EXPECT_LE(std::fabs(got[kCorr]), 1.0) << what;
  }
  if (std::isnan(ref.cov))
    EXPECT_TRUE(std::isnan(got[kCov])) << what << ": cov " << got[kCov];
  else if (ref.cov == 0.0 || std::isinf(ref.cov))  // beyond the double range: inf
    EXPECT_EQ(ref.cov, got[kCov]) << what;
  else
    EXPECT_LE(std::fabs((long double)got[kCov] - ref.cov), 1e-12L * ref.scale)
        << what << ": cov " << got[kCov] << " vs " << ref.cov;
}

// A table whose columns the test also keeps as the reference reads them.
struct Columns {
  Table t;
  std::vector<std::vector<long double>> values;
  std::vector<bool> f32;
  explicit Columns(int64_t nrows) : t(nrows) {}
  template <typename T>
  int Add(const char *name, gpudf_type type, const std::vector<T> &v) {
    values.emplace_back(v.begin(), v.end());
    f32.push_back(type == GPUDF_TYPE_F32);
    return t.Add(name, type, v);
  }
  // The reference for config c (filter_col, op, lo, hi, x_col, y_col).
  Ref Of(const double *c) const {
    int fc = (int)c[0];
    std::vector<double> f(values[fc].begin(), values[fc].end());
    // A threshold is compared in the filter column's type (float32: rounded).
    double lo = f32[fc] ? (double)(float)c[2] : c[2], hi = f32[fc] ? (double)(float)c[3] : c[3];
    return Reference(f, values[(size_t)c[4]], values[(size_t)c[5]], (int)c[1], lo, hi);
  }
  void Check(const std::vector<double> &configs, const std::vector<double> &out) {
    ASSERT_EQ(out.size(), configs.size() / 6 * kWidth);
    for (size_t k = 0; k < configs.size() / 6; k++) {
      const double *c = &configs[k * 6];
      char what[160];
      std::snprintf(what, sizeof what, "config %zu: filter %g op %g lo %.17g hi %.17g x %g y %g",
                    k, c[0], c[1], c[2], c[3], c[4], c[5]);
      ExpectClose(Of(c), &out[k * kWidth], what);
    }
  }
};

// Random columns of every type: NaN in the float columns, a filter column
// of few values (so eq and ne select something), an i64 column far beyond
// 2^53 with a small spread.
struct Fixture {
  Columns c;
  enum { kF, kX64, kY32, kI32, kI64, kB, kFNaN };
  Fixture(int64_t nrows, uint64_t seed) : c(nrows) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> f(nrows), x(nrows), fn(nrows);
    std::vector<float> y(nrows);
    std::vector<int32_t> i32(nrows);
    std::vector<int64_t> i64(nrows);
    std::vector<uint8_t> b(nrows);
    for (int64_t r = 0; r < nrows; r++) {
      f[r] = (double)(rng() % 20);
      x[r] = g(rng) * 3.0 + 1.0;
      y[r] = (float)(0.6 * x[r] + g(rng));
      i32[r] = (int32_t)(rng() % 1000) - 500;
      i64[r] = (int64_t(1) << 60) + (int64_t)(rng() % 100000) + (int64_t)(x[r] * 1000);
      b[r] = (uint8_t)(x[r] > 1.0);
      fn[r] = rng() % 7 == 0 ? kNaN : g(rng);
      if (rng() % 11 == 0) x[r] = kNaN;
      if (rng() % 13 == 0) y[r] = std::numeric_limits<float>::quiet_NaN();
    }
    c.Add("f", GPUDF_TYPE_F64, f);
    c.Add("x", GPUDF_TYPE_F64, x);
    c.Add("y", GPUDF_TYPE_F32, y);
    c.Add("i", GPUDF_TYPE_I32, i32);
    c.Add("big", GPUDF_TYPE_I64, i64);
    c.Add("flag", GPUDF_TYPE_BOOL, b);
    c.Add("fnan", GPUDF_TYPE_F64, fn);
  }
  std::vector<double> Configs(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<double> cfg;
    for (int k = 0; k < n; k++) {
      double fc = k % 3 == 0 ? (double)kFNaN : (double)(rng() % 7);
      double lo = fc == kFNaN ? std::normal_distribution<double>(0, 1)(rng) : rng() % 20;
      double hi = lo + (double)(rng() % 10);
      cfg.insert(cfg.end(), {fc, (double)(k % 8), lo, hi, (double)(1 + rng() % 6),
                             (double)(1 + rng() % 6)});
    }
    return cfg;
  }
};

TEST(KCorr, MatchesALongDoubleReferenceOnRandomTables) {
  for (uint64_t seed : {1, 2, 3}) {
    Fixture fx(5003, seed);  // not a multiple of the CPU's block
    std::vector<double> cfg = fx.Configs(120, seed);
    fx.c.Check(cfg, KRun(fx.c.t.t, "corr", cfg));
  }
}

TEST(KCorr, ABatchAnswersAsItsConfigsAlone) {
  Fixture fx(3000, 4);
  std::vector<double> cfg = fx.Configs(40, 4);
  std::vector<double> all = KRun(fx.c.t.t, "corr", cfg);
  for (size_t k = 0; k < 40; k++) {
    std::vector<double> one(cfg.begin() + k * 6, cfg.begin() + k * 6 + 6);
    std::vector<double> r = KRun(fx.c.t.t, "corr", one);
    for (int j = 0; j < kWidth; j++) EXPECT_TRUE(Same(all[k * kWidth + j], r[j])) << k;
  }
}

// 1e9 (or 1e15) plus noise of 1 (or 1e-3): the offset must not eat the
// digits of the spread, as a one-pass sum of squares would.
TEST(KCorr, LargeOffsetsKeepTheDigitsOfTheSpread) {
  for (double offset : {1e9, 1e12, 1e15, -3e9}) {
    for (double noise : {1.0, 1e-3}) {
      const int64_t n = 4000;
      std::mt19937_64 rng(7);
      std::normal_distribution<double> g(0.0, 1.0);
      std::vector<double> f(n, 0.0), x(n), y(n);
      for (int64_t r = 0; r < n; r++) {
        double e = g(rng) * noise;
        x[r] = offset + e;
        y[r] = offset * 0.5 + 0.8 * e + 0.3 * noise * g(rng);
      }
      Columns c(n);
      c.Add("f", GPUDF_TYPE_F64, f);
      c.Add("x", GPUDF_TYPE_F64, x);
      c.Add("y", GPUDF_TYPE_F64, y);
      std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kGe, 0, 0, 2, 1, 0, kAll, 0, 0, 1, 1};
      SCOPED_TRACE("offset " + std::to_string(offset) + " noise " + std::to_string(noise));
      c.Check(cfg, KRun(c.t.t, "corr", cfg));
    }
  }
}

// An i64 column of 2^62 + k: a double cannot tell 2^62 + 1 from 2^62, so
// reading the column as doubles would see a constant (numpy.corrcoef does,
// and answers NaN). The kernel shifts it by an integer first: exact.
TEST(KCorr, Int64ValuesBeyondTwoTo53AreShiftedNotRounded) {
  const int64_t n = 1000;
  std::vector<int64_t> big(n), neg(n);
  std::vector<int32_t> k(n);
  std::vector<double> f(n, 1.0);
  for (int64_t r = 0; r < n; r++) {
    k[r] = (int32_t)((r * 37) % 101);
    big[r] = (int64_t(1) << 62) + k[r];
    neg[r] = INT64_MIN + 5 * (int64_t)k[r];
  }
  Columns c(n);
  c.Add("f", GPUDF_TYPE_F64, f);
  c.Add("big", GPUDF_TYPE_I64, big);
  c.Add("k", GPUDF_TYPE_I32, k);
  c.Add("neg", GPUDF_TYPE_I64, neg);
  std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kAll, 0, 0, 3, 1, 0, kAll, 0, 0, 1, 1};
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  EXPECT_EQ(1.0, out[kCorr]);
  EXPECT_EQ(1.0, out[kWidth + kCorr]);
  // Both ends of the int64 range at once: the spread (2^64) leaves int64.
  std::vector<int64_t> ends(n);
  for (int64_t r = 0; r < n; r++) ends[r] = r % 2 ? INT64_MAX - k[r] : INT64_MIN + k[r];
  c.Add("ends", GPUDF_TYPE_I64, ends);
  cfg = {0, kAll, 0, 0, 4, 2, 0, kAll, 0, 0, 4, 4};
  c.Check(cfg, KRun(c.t.t, "corr", cfg));
}

// What corr answers where there is no correlation: numbers, never errors,
// as filter_agg answers an empty filter.
TEST(KCorr, FewRowsConstantAndInfiniteColumnsAnswerNaN) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> f = {0, 1, 2, 3, 4, 5}, x = {1, 2, 3, 4, 5, 6}, c7(6, 7.0),
                      y = {2, 1, 4, 3, 6, 5}, xi = {1, 2, inf, 4, 5, 6};
  Columns c(6);
  c.Add("f", GPUDF_TYPE_F64, f);
  c.Add("x", GPUDF_TYPE_F64, x);
  c.Add("seven", GPUDF_TYPE_F64, c7);
  c.Add("y", GPUDF_TYPE_F64, y);
  c.Add("xi", GPUDF_TYPE_F64, xi);
  std::vector<double> cfg = {
      0, kLt, -1, 0, 1, 3,  // no row
      0, kEq, 2,  0, 1, 3,  // one row
      0, kLt, 2,  0, 1, 3,  // two rows
      0, kAll, 0, 0, 2, 3,  // x constant
      0, kAll, 0, 0, 3, 2,  // y constant
      0, kAll, 0, 0, 4, 3,  // an infinite x
      0, kLt, 2,  0, 4, 3,  // the infinite row filtered out
  };
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  auto at = [&](int k, int j) { return out[(size_t)(k * kWidth + j)]; };
  EXPECT_EQ(0.0, at(0, kCount));
  EXPECT_TRUE(std::isnan(at(0, kCorr)) && std::isnan(at(0, kCov)));
  EXPECT_EQ(1.0, at(1, kCount));
  EXPECT_TRUE(std::isnan(at(1, kCorr)) && std::isnan(at(1, kCov)));
  EXPECT_EQ(-1.0, at(2, kCorr));  // (1, 2) against (2, 1)
  EXPECT_TRUE(std::isnan(at(3, kCorr)));
  EXPECT_EQ(0.0, at(3, kCov));
  EXPECT_TRUE(std::isnan(at(4, kCorr)));
  EXPECT_EQ(0.0, at(4, kCov));
  EXPECT_EQ(6.0, at(5, kCount));
  EXPECT_TRUE(std::isnan(at(5, kCorr)) && std::isnan(at(5, kCov)));
  EXPECT_EQ(-1.0, at(6, kCorr));
}

// filter_agg's NaN rules: a NaN filter value fails every op but all and ne;
// a row whose x or y is NaN is not counted.
TEST(KCorr, NaNFollowsFilterAggsRules) {
  std::vector<double> f = {kNaN, kNaN, 1, 2, 3, 4, 5}, x = {1, 2, 3, kNaN, 5, 6, 7},
                      y = {3, 1, 2, 4, kNaN, 5, 9};
  Columns c(7);
  c.Add("f", GPUDF_TYPE_F64, f);
  c.Add("x", GPUDF_TYPE_F64, x);
  c.Add("y", GPUDF_TYPE_F64, y);
  std::vector<double> cfg;
  for (int op = kAll; op <= kBetween; op++) cfg.insert(cfg.end(), {0, (double)op, 2, 4, 1, 2});
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  EXPECT_EQ(5.0, out[kAll * kWidth]);      // rows 0, 1, 2, 5, 6: x and y not NaN
  EXPECT_EQ(5.0, out[kNe * kWidth]);       // a NaN filter value passes ne (rows 0, 1)
  EXPECT_EQ(1.0, out[kLt * kWidth]);       // and fails lt: row 2 only
  EXPECT_EQ(1.0, out[kBetween * kWidth]);  // 2..4: row 5 (rows 3 and 4 have a NaN)
}

// float32 columns: the threshold is compared in float32 (0.1f != 0.1), and
// the values are read exactly.
TEST(KCorr, Float32ColumnsAndThresholds) {
  const int64_t n = 3001;
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> f(n), x(n), y(n);
  for (int64_t r = 0; r < n; r++) {
    f[r] = r % 5 == 0 ? 0.1f : g(rng);
    x[r] = 1000.0f + g(rng);
    y[r] = x[r] * -0.25f + g(rng);
  }
  Columns c(n);
  c.Add("f", GPUDF_TYPE_F32, f);
  c.Add("x", GPUDF_TYPE_F32, x);
  c.Add("y", GPUDF_TYPE_F32, y);
  std::vector<double> cfg = {0, kEq, 0.1, 0, 1, 2,  //
                             0, kLe, 0.1, 0, 1, 2,  //
                             0, kBetween, -0.5, 0.1, 2, 1};
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  EXPECT_EQ((double)((n + 4) / 5), out[kCount]) << "0.1 in float32 finds the 0.1f rows";
}

// Values near the ends of the double range: squares and products of the
// raw values would overflow or underflow; the kernel's scaled ones do not.
TEST(KCorr, HugeAndTinyMagnitudes) {
  const int64_t n = 500;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> f(n, 0.0), big(n), tiny(n);
  for (int64_t r = 0; r < n; r++) {
    double e = g(rng);
    big[r] = e * 1e300;
    tiny[r] = (e + 0.5 * g(rng)) * 1e-300;
  }
  Columns c(n);
  c.Add("f", GPUDF_TYPE_F64, f);
  c.Add("big", GPUDF_TYPE_F64, big);
  c.Add("tiny", GPUDF_TYPE_F64, tiny);
  std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kAll, 0, 0, 1, 1, 0, kAll, 0, 0, 2, 2};
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  EXPECT_TRUE(std::isfinite(out[kCorr]) && std::isfinite(out[kCov])) << out[kCorr];
  EXPECT_TRUE(std::isinf(out[kWidth + kCov])) << "1e600 is beyond the double range";
}

// A correlation is never outside [-1, 1], even where rounding puts the
// ratio of the sums a hair beyond it (y = a * x exactly, many rows):
// corrcoef's clip, which the kernel applies too.
TEST(KCorr, ACorrelationIsNeverBeyondOne) {
  const int64_t n = 3001;
  int beyond = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1e3, 1e3);
    std::vector<double> f(n, 0.0), x(n), y(n), z(n);
    double a = u(rng) / 7.0;
    for (int64_t r = 0; r < n; r++) {
      x[r] = u(rng);
      y[r] = a * x[r];
      z[r] = -x[r];
    }
    Columns c(n);
    c.Add("f", GPUDF_TYPE_F64, f);
    c.Add("x", GPUDF_TYPE_F64, x);
    c.Add("y", GPUDF_TYPE_F64, y);
    c.Add("z", GPUDF_TYPE_F64, z);
    std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kAll, 0, 0, 1, 1, 0, kAll, 0, 0, 1, 3};
    std::vector<double> out = KRun(c.t.t, "corr", cfg);
    c.Check(cfg, out);
    for (int k = 0; k < 3; k++) {
      double r = out[k * kWidth + kCorr];
      EXPECT_TRUE(r >= -1.0 && r <= 1.0) << "seed " << seed << " config " << k << ": " << r;
      EXPECT_NEAR(std::fabs(r), 1.0, 1e-14) << "seed " << seed << " config " << k;
      beyond += std::fabs(r) == 1.0;
    }
  }
  EXPECT_GT(beyond, 0) << "no config reached |corr| = 1: the clip is not exercised";
}

// i64 columns whose smallest value is near either end of the range, or
// negative, with a spread of a few thousand: shifted by an integer near the
// smallest value, every digit of the spread stays (a shift by the wrong
// end of the range would leave int64 and round them away).
TEST(KCorr, Int64ColumnsNearEitherEndOrBelowZeroKeepTheirSpread) {
  const int64_t n = 2000;
  std::vector<int32_t> k(n);
  std::vector<double> f(n, 1.0);
  for (int64_t r = 0; r < n; r++) k[r] = (int32_t)((r * 53) % 197);
  // INT64_MAX - 2 k: its smallest value reads as 2^63 in double.
  for (int64_t base : {INT64_MAX, INT64_MIN + 1, (int64_t)-1000000000000, (int64_t)-7}) {
    const int64_t step = base == INT64_MAX ? -2 : 3;
    std::vector<int64_t> v(n), w(n);
    for (int64_t r = 0; r < n; r++) {
      v[r] = base + step * (int64_t)k[r];
      int64_t d = (int64_t)((r * 31) % 211);
      w[r] = base == INT64_MAX ? base - d : base + d;
    }
    Columns c(n);
    c.Add("f", GPUDF_TYPE_F64, f);
    c.Add("v", GPUDF_TYPE_I64, v);
    c.Add("k", GPUDF_TYPE_I32, k);
    c.Add("w", GPUDF_TYPE_I64, w);
    std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kAll, 0, 0, 1, 3, 0, kAll, 0, 0, 3, 3};
    SCOPED_TRACE("base " + std::to_string(base));
    std::vector<double> out = KRun(c.t.t, "corr", cfg);
    c.Check(cfg, out);
    EXPECT_EQ(step > 0 ? 1.0 : -1.0, out[kCorr]) << "v is a multiple of k plus a constant";
  }
}

// Huge values of one sign with a tiny one among them: the scale must come
// from the larger of |min| and |max|, or the sums overflow.
TEST(KCorr, HugeNegativeValuesBesideATinyOne) {
  const int64_t n = 400;
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(0.05, 1.0);
  std::vector<double> f(n, 0.0), x(n), y(n);
  for (int64_t r = 0; r < n; r++) {
    x[r] = -1.5e308 * u(rng);
    y[r] = 0.5 * x[r] + 1e307 * (u(rng) - 0.5);
  }
  x[0] = -1e-300;
  y[0] = -2e-300;
  Columns c(n);
  c.Add("f", GPUDF_TYPE_F64, f);
  c.Add("x", GPUDF_TYPE_F64, x);
  c.Add("y", GPUDF_TYPE_F64, y);
  std::vector<double> cfg = {0, kAll, 0, 0, 1, 2, 0, kAll, 0, 0, 2, 1};
  std::vector<double> out = KRun(c.t.t, "corr", cfg);
  c.Check(cfg, out);
  EXPECT_TRUE(std::isfinite(out[kCorr])) << out[kCorr];
}

TEST(KCorr, RefusesWhatItCannotComputeNamingTheColumn) {
  Fixture fx(50, 1);
  std::vector<const char *> lp = {"a", "b"};
  std::vector<int32_t> codes(50);
  for (int r = 0; r < 50; r++) codes[(size_t)r] = r % 2;
  ASSERT_EQ(GPUDF_OK, gpudf_table_add_categorical(fx.c.t.t, "label", codes.data(), 2, lp.data()))
      << gpudf_last_error();
  int label = gpudf_table_ncols(fx.c.t.t) - 1;
  std::string msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(fx.c.t.t, "corr", {0, 0, 0, 0, (double)label, 1}, &msg));
  EXPECT_NE(std::string::npos, msg.find("column 'label'")) << msg;
  EXPECT_NE(std::string::npos, msg.find("'x_col' needs numbers")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(fx.c.t.t, "corr", {0, 0, 0, 0, 1, (double)label}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'y_col' needs numbers")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(fx.c.t.t, "corr", {(double)label, kLt, 0, 0, 1, 2}, &msg));
  EXPECT_NE(std::string::npos, msg.find("column 'label'")) << msg;
  EXPECT_EQ(GPUDF_OK, RunStatus(fx.c.t.t, "corr", {(double)label, kEq, 1, 0, 1, 2}, &msg)) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(fx.c.t.t, "corr", {0, kBetween, 3, 2, 1, 2}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'lo' = 3 is greater than parameter 'hi' = 2")) << msg;
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(fx.c.t.t, "corr", {0, 0, 0, 0, 1, 99}, &msg));
  EXPECT_NE(std::string::npos, msg.find("'y_col' = 99 is not a column index")) << msg;
}

TEST(KCorr, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  Fixture fx(3000, 9);
  std::vector<double> c = fx.Configs(30, 9);
  std::vector<double> cpu = KRun(fx.c.t.t, "corr", c);
  std::string why;
  ASSERT_TRUE(fx.c.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  ASSERT_EQ(GPUDF_BACKEND_CUDA_IPC, gpudf_table_backend(fx.c.t.t));
  std::vector<double> dev = KRun(fx.c.t.t, "corr", c);
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); i++) EXPECT_TRUE(Same(cpu[i], dev[i])) << i;
}

TEST(KCorrGpu, MatchesTheReference) {
  K_SKIP_WITHOUT_CUDA();
  Fixture fx(400003, 21);
  std::vector<double> c = fx.Configs(200, 21);
  std::string why;
  ASSERT_TRUE(fx.c.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  fx.c.Check(c, KRun(fx.c.t.t, "corr", c));
}

}  // namespace
