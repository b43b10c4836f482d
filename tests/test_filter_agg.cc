// filter_agg through gpudf_run, against a plain reference written here (no
// code shared with the kernel), on fresh random tables; and the validation of
// bad configs by gpudf_run / gpudf_validate.
//
// Tolerances: count, min and max must match exactly (they involve no
// rounding). sum, mean and std are accumulated in a different order than
// the reference (blocks, vector lanes, per-bucket partials merged with Chan's
// formula), so they agree only to rounding: the error of a sum is bounded by
// a few ulps of sum|v| and that of the mean by the same over count; std,
// computed from deviations from the mean (never from a sum of squares), is
// off by a few ulps of max|v|. The bounds below (1e-12 of those scales,
// 1e-11 for std) are far above what double rounding can produce over these
// table sizes and far below any real mistake (a wrong or missed row moves
// the results by whole values).
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

enum Op { kAll, kLt, kLe, kGt, kGe, kEq, kNe, kBetween, kNumOps };
const char *kOpNames[] = {"all", "lt", "le", "gt", "ge", "eq", "ne", "between"};

// A column kept on the test side too, as doubles, for the reference.
struct Col {
  std::string name;
  gpudf_type type;
  std::vector<uint8_t> bytes;  // the values as given to the table
  std::vector<double> as_double;
};

// Makes a column of n random values of type t: small integers (halves for
// f32), so that lo/hi taken from the data hit values exactly, or, when wide,
// reals in [-1000, 1000]. Float columns hold ~7% NaN; i64 has some values
// too large for a double to hold exactly.
Col MakeCol(const std::string &name, gpudf_type t, int64_t n, std::mt19937_64 &rng,
            bool wide) {
  Col c{name, t, std::vector<uint8_t>(n * gpudf_type_size(t)), std::vector<double>(n)};
  std::uniform_int_distribution<int> small(-5, 5);
  std::uniform_real_distribution<double> real(-1000.0, 1000.0);
  std::uniform_int_distribution<int> pct(0, 99);
  for (int64_t i = 0; i < n; i++) {
    bool nan = pct(rng) < 7;  // ~7% NaN in float columns
    double d = 0;
    switch (t) {
    case GPUDF_TYPE_I32: {
      int32_t v = small(rng);
      std::memcpy(&c.bytes[i * 4], &v, 4);
      d = v;
      break;
    }
    case GPUDF_TYPE_I64: {
      // Mostly small, sometimes large enough that double rounds it.
      int64_t v = pct(rng) < 5 ? (int64_t)(rng() >> 8) - (1LL << 55) : small(rng);
      std::memcpy(&c.bytes[i * 8], &v, 8);
      d = (double)v;
      break;
    }
    case GPUDF_TYPE_F32: {
      float v = nan ? std::numeric_limits<float>::quiet_NaN()
                    : (wide ? (float)real(rng) : (float)small(rng) * 0.5f);
      std::memcpy(&c.bytes[i * 4], &v, 4);
      d = v;
      break;
    }
    case GPUDF_TYPE_F64: {
      double v = nan ? kNaN : (wide ? real(rng) : (double)small(rng));
      std::memcpy(&c.bytes[i * 8], &v, 8);
      d = v;
      break;
    }
    case GPUDF_TYPE_BOOL: {
      uint8_t v = (uint8_t)(rng() & 1);
      c.bytes[i] = v;
      d = v;
      break;
    }
    }
    c.as_double[i] = d;
  }
  return c;
}

// A random table with every column type, plus a wide f64 and a wide f32.
struct Table {
  gpudf_table *t = nullptr;
  int64_t nrows = 0;
  std::vector<Col> cols;

  Table(int64_t n, std::mt19937_64 &rng) : nrows(n) {
    cols.push_back(MakeCol("i32", GPUDF_TYPE_I32, n, rng, false));
    cols.push_back(MakeCol("i64", GPUDF_TYPE_I64, n, rng, false));
    cols.push_back(MakeCol("f32", GPUDF_TYPE_F32, n, rng, false));
    cols.push_back(MakeCol("f64", GPUDF_TYPE_F64, n, rng, false));
    cols.push_back(MakeCol("bool", GPUDF_TYPE_BOOL, n, rng, false));
    cols.push_back(MakeCol("f64w", GPUDF_TYPE_F64, n, rng, true));
    cols.push_back(MakeCol("f32w", GPUDF_TYPE_F32, n, rng, true));
    Build();
  }
  Table(int64_t n, std::vector<Col> c) : nrows(n), cols(std::move(c)) { Build(); }
  ~Table() { gpudf_table_free(t); }
  Table(const Table &) = delete;
  Table &operator=(const Table &) = delete;

  void Build() {
    EXPECT_EQ(gpudf_table_create(nrows, &t), GPUDF_OK) << gpudf_last_error();
    for (const Col &c : cols)
      EXPECT_EQ(gpudf_table_add_column(t, c.name.c_str(), c.type, c.bytes.data()), GPUDF_OK)
          << gpudf_last_error();
  }
  int ncols() const { return (int)cols.size(); }
};

Col F64Col(const std::string &name, const std::vector<double> &v) {
  Col c{name, GPUDF_TYPE_F64, std::vector<uint8_t>(v.size() * 8), v};
  std::memcpy(c.bytes.data(), v.data(), c.bytes.size());
  return c;
}

struct Config {
  int filter_col, op;
  double lo, hi;
  int value_col;
  std::vector<double> Row() const {
    return {(double)filter_col, (double)op, lo, hi, (double)value_col};
  }
};

std::string Describe(const Config &c) {
  return "filter_col " + std::to_string(c.filter_col) + " op " + kOpNames[c.op] + " lo " +
         std::to_string(c.lo) + " hi " + std::to_string(c.hi) + " value_col " +
         std::to_string(c.value_col);
}

// The reference: the obvious loops, in long double.
struct Expect {
  double count, sum, mean, min, max, std;
  double sum_abs, max_abs;
};

bool RowPasses(int op, double x, double lo, double hi) {
  switch (op) {
  case kAll: return true;
  case kLt: return x < lo;
  case kLe: return x <= lo;
  case kGt: return x > lo;
  case kGe: return x >= lo;
  case kEq: return x == lo;
  case kNe: return !(x == lo);  // numpy: NaN != anything is true
  case kBetween: return lo <= x && x <= hi;
  }
  return false;
}

// A threshold as a column of type t compares with it: numpy >= 2 (NEP 50)
// compares a float32 array with a Python float in float32, so the threshold
// is first rounded to float (by strtof of its exact hex form, which rounds
// correctly and overflows to inf); every other type compares in double.
double InType(gpudf_type t, double v) {
  if (t != GPUDF_TYPE_F32 || std::isnan(v)) return v;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return (double)std::strtof(buf, nullptr);
}

// The passing non-NaN values of c's value column.
std::vector<double> Passing(const Table &t, const Config &c) {
  std::vector<double> vals;
  const std::vector<double> &x = t.cols[c.filter_col].as_double;
  const std::vector<double> &v = t.cols[c.value_col].as_double;
  gpudf_type ft = t.cols[c.filter_col].type;
  double lo = InType(ft, c.lo), hi = InType(ft, c.hi);
  for (int64_t i = 0; i < t.nrows; i++)
    if (RowPasses(c.op, x[i], lo, hi) && !std::isnan(v[i])) vals.push_back(v[i]);
  return vals;
}

Expect Reference(const Table &t, const Config &c) {
  std::vector<double> vals = Passing(t, c);
  Expect e{};
  e.count = (double)vals.size();
  long double sum = 0, sum_abs = 0;
  for (double a : vals) {
    sum += a;
    sum_abs += std::fabs(a);
    e.max_abs = std::max(e.max_abs, std::fabs(a));
  }
  e.sum = (double)sum;
  e.sum_abs = (double)sum_abs;
  e.mean = vals.empty() ? kNaN : (double)(sum / vals.size());
  e.min = vals.empty() ? kNaN : *std::min_element(vals.begin(), vals.end());
  e.max = vals.empty() ? kNaN : *std::max_element(vals.begin(), vals.end());
  if (vals.size() < 2) {
    e.std = kNaN;
  } else {
    long double mean = sum / vals.size(), m2 = 0;
    for (double a : vals) m2 += (a - mean) * (a - mean);
    e.std = (double)std::sqrt(m2 / (vals.size() - 1));
  }
  return e;
}

bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void ExpectSame(double got, double want, double tol, const char *what) {
  if (!std::isfinite(want)) {
    EXPECT_TRUE(std::isnan(want) ? std::isnan(got) : got == want)
        << what << ": got " << got << ", want " << want;
  } else {
    EXPECT_NEAR(got, want, tol) << what;
  }
}

void CheckResult(const double *r, const Expect &e, const std::string &where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(r[0], e.count) << "count";
  if (e.count == 0) {
    EXPECT_EQ(r[1], 0.0) << "sum of nothing";
  }
  ExpectSame(r[1], e.sum, 1e-12 * e.sum_abs, "sum");
  ExpectSame(r[2], e.mean, 1e-12 * e.sum_abs / std::max(e.count, 1.0), "mean");
  if (std::isnan(e.min)) {
    EXPECT_TRUE(std::isnan(r[3]) && std::isnan(r[4])) << "min/max of nothing";
  } else {
    EXPECT_EQ(r[3], e.min) << "min";
    EXPECT_EQ(r[4], e.max) << "max";
  }
  ExpectSame(r[5], e.std, 1e-11 * e.max_abs, "std");
}

const gpudf_kernel *Kernel() {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK) << gpudf_last_error();
  return k;
}

// Runs configs as one batch and checks every result against the reference.
void RunAndCheck(const Table &t, const std::vector<Config> &cfgs) {
  std::vector<double> in, out(cfgs.size() * 6, -12345.0);
  for (const Config &c : cfgs) {
    std::vector<double> row = c.Row();
    in.insert(in.end(), row.begin(), row.end());
  }
  ASSERT_EQ(gpudf_run(t.t, Kernel(), in.data(), (int64_t)cfgs.size(), out.data()), GPUDF_OK)
      << gpudf_last_error();
  for (size_t i = 0; i < cfgs.size(); i++)
    CheckResult(&out[i * 6], Reference(t, cfgs[i]),
                "config " + std::to_string(i) + " of " + std::to_string(cfgs.size()) + ": " +
                    Describe(cfgs[i]) + ", nrows " + std::to_string(t.nrows));
}

// lo/hi that hit data exactly, fall between values, or lie outside them.
double PickBound(const Table &t, int col, std::mt19937_64 &rng) {
  std::uniform_int_distribution<int64_t> row(0, t.nrows - 1);
  std::uniform_int_distribution<int> kind(0, 9);
  int k = kind(rng);
  if (k == 0) return (rng() & 1) ? kInf : -kInf;
  if (k <= 2) return std::uniform_real_distribution<double>(-6.0, 6.0)(rng);
  double v = t.cols[col].as_double[row(rng)];  // a value of the column itself
  return std::isnan(v) ? 0.5 : v;
}

Config RandomConfig(const Table &t, std::mt19937_64 &rng) {
  std::uniform_int_distribution<int> col(0, t.ncols() - 1), op(0, kNumOps - 1);
  Config c{col(rng), op(rng), 0, 0, col(rng)};
  c.lo = PickBound(t, c.filter_col, rng);
  c.hi = PickBound(t, c.filter_col, rng);
  if (c.op == kBetween && c.lo > c.hi) std::swap(c.lo, c.hi);
  return c;
}

uint64_t FreshSeed() {
  std::random_device rd;
  return ((uint64_t)rd() << 32) ^ rd();
}

class FilterAgg : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = FreshSeed();
    rng_.seed(seed_);
  }
  std::string Seed() const { return "seed " + std::to_string(seed_); }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_F(FilterAgg, HandWorkedExample) {
  // x: 1 NaN 3 2 2 ; v: 10 20 NaN 40 -5
  Table t(5, {F64Col("x", {1, kNaN, 3, 2, 2}), F64Col("v", {10, 20, kNaN, 40, -5})});
  std::vector<double> cfg = {0, kNe, 2, 0, 1,       // rows 0 1 2 -> 10 20
                             0, kEq, 2, 0, 1,       // rows 3 4 -> 40 -5
                             0, kAll, 0, 0, 1,      // every non-NaN value
                             0, kLt, 1, 0, 1,       // nothing
                             0, kBetween, 3, 3, 1}; // row 2, whose value is NaN
  std::vector<double> r(5 * 6);
  ASSERT_EQ(gpudf_run(t.t, Kernel(), cfg.data(), 5, r.data()), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(r[0], 2);
  EXPECT_EQ(r[1], 30);
  EXPECT_EQ(r[2], 15);
  EXPECT_EQ(r[3], 10);
  EXPECT_EQ(r[4], 20);
  EXPECT_DOUBLE_EQ(r[5], std::sqrt(50.0));
  EXPECT_EQ(r[6], 2);
  EXPECT_EQ(r[7], 35);
  EXPECT_DOUBLE_EQ(r[11], std::sqrt(1012.5));
  EXPECT_EQ(r[12], 4);
  EXPECT_EQ(r[13], 65);
  EXPECT_EQ(r[15], -5);
  EXPECT_EQ(r[16], 40);
  for (int i : {3, 4}) {
    EXPECT_EQ(r[i * 6 + 0], 0) << i;
    EXPECT_EQ(r[i * 6 + 1], 0) << i;
    for (int f = 2; f < 6; f++) EXPECT_TRUE(std::isnan(r[i * 6 + f])) << i << " " << f;
  }
}

TEST_F(FilterAgg, EveryOpOnEveryFilterType) {
  SCOPED_TRACE(Seed());
  Table t(3 * 1024 + 37, rng_);  // not a multiple of any block or vector size
  std::vector<Config> cfgs;
  for (int f = 0; f < t.ncols(); f++)
    for (int op = 0; op < kNumOps; op++)
      for (int rep = 0; rep < 3; rep++) {
        Config c{f, op, PickBound(t, f, rng_), PickBound(t, f, rng_), (f + rep + 1) % t.ncols()};
        if (op == kBetween && c.lo > c.hi) std::swap(c.lo, c.hi);
        cfgs.push_back(c);
      }
  for (const Config &c : cfgs) RunAndCheck(t, {c});  // one by one
  RunAndCheck(t, cfgs);                               // and as one batch
}

TEST_F(FilterAgg, EveryValueType) {
  SCOPED_TRACE(Seed());
  Table t(2000, rng_);
  std::vector<Config> cfgs;
  for (int v = 0; v < t.ncols(); v++)
    for (int f = 0; f < t.ncols(); f++) {
      cfgs.push_back({f, kAll, 0, 0, v});
      cfgs.push_back({f, kGe, PickBound(t, f, rng_), 0, v});
      cfgs.push_back({f, kNe, PickBound(t, f, rng_), 0, v});
    }
  for (const Config &c : cfgs) RunAndCheck(t, {c});
  RunAndCheck(t, cfgs);
}

TEST_F(FilterAgg, NanFilterValuesFailAllButNeAndAll) {
  SCOPED_TRACE(Seed());
  const int64_t n = 777;
  std::vector<double> x(n), v(n);
  std::uniform_int_distribution<int> small(-3, 3);
  for (int64_t i = 0; i < n; i++) {
    x[i] = i % 3 == 0 ? kNaN : small(rng_);
    v[i] = small(rng_) + 0.25 * (i % 4);
  }
  Table t(n, {F64Col("x", x), F64Col("v", v)});
  std::vector<Config> cfgs;
  for (int op = 0; op < kNumOps; op++)
    for (double lo : {-kInf, -1.0, 0.0, 2.5, kInf}) cfgs.push_back({0, op, lo, kInf, 1});
  RunAndCheck(t, cfgs);
  // ne counts the NaN rows, eq/lt/... never do.
  std::vector<double> in = {0, kNe, 0.5, 0, 1, 0, kGe, -kInf, 0, 1};
  std::vector<double> out(12);
  ASSERT_EQ(gpudf_run(t.t, Kernel(), in.data(), 2, out.data()), GPUDF_OK);
  EXPECT_EQ(out[0], (double)n);
  EXPECT_EQ(out[6], (double)(n - (n + 2) / 3));
}

TEST_F(FilterAgg, EmptyAndSingleRowSelections) {
  SCOPED_TRACE(Seed());
  Table t(1500, rng_);
  std::vector<double> w = t.cols[5].as_double;  // f64w: reals, unique in practice
  int64_t pick = 0;
  while (std::isnan(w[pick])) pick++;
  std::vector<Config> cfgs = {
      {5, kLt, -kInf, 0, 3},        // nothing is below -inf
      {5, kGt, 1e9, 0, 0},          // nothing above the data
      {5, kEq, 0.123456789, 0, 1},  // a value no row has
      {5, kBetween, 7, 7, 3},       // reals are never exactly 7
      {5, kEq, w[pick], 0, 5},      // exactly one row: std is NaN
      {5, kBetween, w[pick], w[pick], 1},
  };
  RunAndCheck(t, cfgs);
  std::vector<double> out(6);
  std::vector<double> one = cfgs[4].Row();
  ASSERT_EQ(gpudf_run(t.t, Kernel(), one.data(), 1, out.data()), GPUDF_OK);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], w[pick]);
  EXPECT_EQ(out[3], w[pick]);
  EXPECT_TRUE(std::isnan(out[5]));
}

TEST_F(FilterAgg, RandomBatchesOfOneAndOfAThousand) {
  SCOPED_TRACE(Seed());
  Table t(5003, rng_);
  std::vector<Config> cfgs;
  for (int i = 0; i < 1000; i++) cfgs.push_back(RandomConfig(t, rng_));
  RunAndCheck(t, cfgs);
  for (int i = 0; i < 1000; i += 7) RunAndCheck(t, {cfgs[i]});
}

TEST_F(FilterAgg, ManyConfigsOnOneColumnPair) {
  // Large groups over the same two columns, as a sweep over thresholds makes.
  SCOPED_TRACE(Seed());
  Table t(4099, rng_);
  for (int f : {3, 5, 2}) {
    std::vector<Config> cfgs;
    for (int i = 0; i < (f == 5 ? 700 : 200); i++) {  // 5: more bounds than a block has rows
      Config c = RandomConfig(t, rng_);
      c.filter_col = f;
      c.value_col = 6;
      c.lo = PickBound(t, f, rng_);
      c.hi = PickBound(t, f, rng_);
      if (c.op == kBetween && c.lo > c.hi) std::swap(c.lo, c.hi);
      cfgs.push_back(c);
    }
    RunAndCheck(t, cfgs);
  }
}

TEST_F(FilterAgg, ThresholdSweepsWithAwkwardBounds) {
  // Many configs over one column pair whose lo/hi are all equal, infinite,
  // absent (op all), at the ends of the double range, a few ulps apart or
  // clustered; the filter column holds such values too.
  SCOPED_TRACE(Seed());
  const double big = 1e308, tiny = 1e-300;
  const std::vector<double> specials = {-kInf, -big, -5, -tiny, 0, tiny, 3, big, kInf, kNaN};
  const int64_t n = 3001;
  std::vector<double> x(n), v(n);
  std::uniform_real_distribution<double> u(-10.0, 10.0);
  std::uniform_int_distribution<size_t> pick(0, specials.size() - 1);
  for (int64_t i = 0; i < n; i++) {
    x[i] = i % 2 ? specials[pick(rng_)] : u(rng_);
    v[i] = u(rng_);
  }
  Table t(n, {F64Col("x", x), F64Col("v", v)});
  std::vector<std::vector<double>> bound_sets = {
      {3},
      {-kInf, kInf},
      {-big, big, 0},
      {-tiny, 0, tiny},
      {0, 1e-9, 2e-9, 3e-9, 4e-9, 5e-9, 6e-9, 7e-9, 8e-9, 1e6},
      {-5, std::nextafter(-5.0, 0.0), std::nextafter(-5.0, -10.0), 3, kInf},
  };
  for (const std::vector<double> &bounds : bound_sets) {
    std::vector<Config> cfgs;
    std::uniform_int_distribution<size_t> b(0, bounds.size() - 1);
    for (int i = 0; i < 40; i++) {
      Config c{0, i % kNumOps, bounds[b(rng_)], bounds[b(rng_)], 1};
      if (c.lo > c.hi) std::swap(c.lo, c.hi);
      cfgs.push_back(c);
    }
    RunAndCheck(t, cfgs);
  }
  std::vector<Config> all(20, Config{0, kAll, 0, 0, 1});
  RunAndCheck(t, all);
}

TEST_F(FilterAgg, TinyTables) {
  SCOPED_TRACE(Seed());
  for (int64_t n : {1, 2, 3, 7, 8, 9, 15, 17, 1023, 1024, 1025}) {
    SCOPED_TRACE("nrows " + std::to_string(n));
    Table t(n, rng_);
    std::vector<Config> cfgs;
    for (int i = 0; i < 40; i++) cfgs.push_back(RandomConfig(t, rng_));
    RunAndCheck(t, cfgs);
    RunAndCheck(t, {cfgs[0]});
  }
}

TEST_F(FilterAgg, LargeMeanSmallSpreadKeepsStd) {
  // A sum of squares would lose every digit here; deviations keep them.
  SCOPED_TRACE(Seed());
  const int64_t n = 10000;
  std::vector<double> v(n), x(n);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int64_t i = 0; i < n; i++) {
    v[i] = 1e9 + u(rng_);
    x[i] = u(rng_);
  }
  Table t(n, {F64Col("x", x), F64Col("v", v)});
  RunAndCheck(t, {{0, kAll, 0, 0, 1}, {0, kGt, 0.0, 0, 1}, {0, kBetween, -0.5, 0.5, 1}});
  std::vector<double> in = {0, kAll, 0, 0, 1}, out(6);
  ASSERT_EQ(gpudf_run(t.t, Kernel(), in.data(), 1, out.data()), GPUDF_OK);
  EXPECT_NEAR(out[5], 1.0 / std::sqrt(3.0), 0.02);  // uniform(-1, 1)
}

// One config per op, then the same again enough times that the batch goes
// by buckets (8 or more configs on one column pair); results per config.
std::vector<std::vector<double>> RunBothWays(const Table &t, const std::vector<Config> &cfgs) {
  std::vector<std::vector<double>> out;
  std::vector<double> in, all(cfgs.size() * 6 * 3);
  for (int rep = 0; rep < 3; rep++)
    for (const Config &c : cfgs) {
      std::vector<double> row = c.Row();
      in.insert(in.end(), row.begin(), row.end());
    }
  EXPECT_EQ(gpudf_run(t.t, Kernel(), in.data(), (int64_t)cfgs.size() * 3, all.data()), GPUDF_OK)
      << gpudf_last_error();
  for (size_t i = 0; i < cfgs.size(); i++) {
    std::vector<double> one(6);
    std::vector<double> row = cfgs[i].Row();
    EXPECT_EQ(gpudf_run(t.t, Kernel(), row.data(), 1, one.data()), GPUDF_OK) << gpudf_last_error();
    out.push_back(one);
    for (int rep = 0; rep < 3; rep++)
      out.push_back(std::vector<double>(all.begin() + (rep * cfgs.size() + i) * 6,
                                        all.begin() + (rep * cfgs.size() + i + 1) * 6));
  }
  return out;  // 4 results per config: alone, then three times in the batch
}

TEST_F(FilterAgg, F32FilterComparesInFloat32) {
  // numpy 2: x = np.float32([0.1, 0.2, 0.3, 1.0]); (x == 0.1).sum() is 1
  // (0.1 is rounded to float32 first), not 0 as a comparison in double says.
  SCOPED_TRACE(Seed());
  {
    std::vector<float> f = {0.1f, 0.2f, 0.3f, 1.0f};
    Col x{"x", GPUDF_TYPE_F32, std::vector<uint8_t>(16), {}};
    std::memcpy(x.bytes.data(), f.data(), 16);
    for (float a : f) x.as_double.push_back(a);
    Table t(4, {x, F64Col("v", {1, 2, 3, 4})});
    std::vector<double> out(6 * 3);
    std::vector<double> in = {0, kEq, 0.1, 0, 1, 0, kBetween, 0.1, 0.3, 1, 0, kGt, 0.3, 0, 1};
    ASSERT_EQ(gpudf_run(t.t, Kernel(), in.data(), 3, out.data()), GPUDF_OK);
    EXPECT_EQ(out[0], 1);   // count of x == 0.1
    EXPECT_EQ(out[1], 1);   // its value
    EXPECT_EQ(out[6], 3);   // 0.1 <= x <= 0.3: all three
    EXPECT_EQ(out[12], 1);  // x > 0.3: only 1.0 (0.3f is above 0.3)
  }
  // Random floats, thresholds at them, a double away from them, at float
  // rounding ties, beyond float's range and below its smallest value.
  const int64_t n = 2000;
  std::vector<float> f(n);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  std::uniform_int_distribution<int> pct(0, 99);
  for (int64_t i = 0; i < n; i++) {
    int k = pct(rng_);
    f[i] = k < 5 ? std::numeric_limits<float>::quiet_NaN()
           : k < 10 ? (k & 1 ? 1.0f : -1.0f) * std::numeric_limits<float>::infinity()
           : k < 20 ? std::numeric_limits<float>::denorm_min() * (float)(k - 14)
           : k < 25 ? (k & 1 ? 1.0f : -1.0f) * std::numeric_limits<float>::max()
                    : u(rng_);
  }
  Col x{"x", GPUDF_TYPE_F32, std::vector<uint8_t>(n * 4), {}};
  std::memcpy(x.bytes.data(), f.data(), n * 4);
  for (float a : f) x.as_double.push_back(a);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; i++) v[i] = (double)i;
  Table t(n, {x, F64Col("v", v)});
  std::uniform_int_distribution<int64_t> row(0, n - 1);
  const double fmax = std::numeric_limits<float>::max();
  std::vector<double> specials = {1e300, -1e300, 1e-50, -1e-50, 3e38, 3.5e38, -3.5e38,
                                  std::ldexp(fmax, 0) + std::ldexp(1.0, 103),  // the tie: inf
                                  std::nextafter(fmax + std::ldexp(1.0, 103), 0.0), 0.1, 0.3,
                                  1e-45, 7e-46, 0.0, -0.0};
  std::vector<Config> cfgs;
  for (int i = 0; i < 120; i++) {
    double a = (double)f[row(rng_)];
    if (std::isnan(a)) a = 0.5;
    int k = i % 4;
    double lo = k == 0 ? a : k == 1 ? specials[i % specials.size()]
                : std::nextafter(a, k == 2 ? 1e300 : -1e300);  // rounds to a as a float
    double hi = std::nextafter((double)f[row(rng_)], 1e300);
    if (std::isnan(hi)) hi = 0.5;
    Config c{0, i % kNumOps, lo, hi, 1};
    if (c.op == kBetween && !(c.lo <= c.hi)) std::swap(c.lo, c.hi);
    if (c.op == kBetween && !(c.lo <= c.hi)) c.hi = c.lo;
    cfgs.push_back(c);
  }
  for (size_t i = 0; i < cfgs.size(); i += 11) RunAndCheck(t, {cfgs[i]});  // tiles, alone
  RunAndCheck(t, cfgs);                                                     // buckets
  // The other kernels with this filter count the same rows.
  const gpudf_kernel *hk = nullptr;
  ASSERT_EQ(gpudf_kernel_find("histogram", &hk), GPUDF_OK);
  for (size_t i = 0; i < cfgs.size(); i += 7) {
    const Config &c = cfgs[i];
    std::vector<double> h = {0, (double)c.op, c.lo, c.hi, 1, 1, -1, (double)n}, ho(3);
    ASSERT_EQ(gpudf_run(t.t, hk, h.data(), 1, ho.data()), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(ho[0] + ho[1] + ho[2], Reference(t, c).count) << Describe(c);
  }
}

TEST_F(FilterAgg, InfinitiesAndOverflowFollowOneRule) {
  // numpy: sum([inf, 1e308, -1e308, 1]) is inf; gpudf gave NaN. The rule:
  // +inf among the values makes sum and mean +inf, -inf -inf, both NaN, std
  // NaN; finite values are summed as if with unbounded range (the reference
  // sums in long double, whose range is), so overflowing partial sums do
  // not change the answer; std is inf where the squared deviations exceed
  // the double range.
  SCOPED_TRACE(Seed());
  // Doubles have no digits below a few denormals (kTiny), and squares of
  // deviations below 1e-162 underflow (kUnder on std, as in numpy).
  const long double kTiny = 4 * 4.9e-324L, kUnder = 1e-160L;
  const double big = 1e308, half = 5e307;
  const std::vector<double> specials = {big, -big, half, -half, kInf, -kInf, 4.9e-324, -1e-310};
  std::uniform_int_distribution<int> pct(0, 99);
  std::uniform_real_distribution<double> u(-10.0, 10.0);
  for (int64_t n : {4, 9, 100, 1024, 3001}) {
    for (int variant = 0; variant < 4; variant++) {
      std::vector<double> x(n), v(n);
      for (int64_t i = 0; i < n; i++) {
        x[i] = u(rng_);
        int k = pct(rng_);
        bool infs = variant >= 2;  // half the tables hold no infinity at all
        int lim = infs ? 40 : 30;
        v[i] = k < lim ? specials[(size_t)k % (infs ? 8 : 4)] : k < 45 ? 4.9e-324 * k : u(rng_);
      }
      if (n == 4 && variant == 0) v = {kInf, big, -big, 1};  // the column
      if (n == 4 && variant == 1) v = {big, big, -big, big};
      Table t(n, {F64Col("x", x), F64Col("v", v)});
      std::vector<Config> cfgs;
      for (int op = 0; op < kNumOps; op++) cfgs.push_back({0, op, u(rng_), 10, 1});
      for (Config &c : cfgs)
        if (c.op == kBetween) c.lo = -10;
      std::vector<std::vector<double>> got = RunBothWays(t, cfgs);
      for (size_t i = 0; i < cfgs.size(); i++) {
        std::vector<double> vals = Passing(t, cfgs[i]);
        long double sum = 0, sum_abs = 0, max_abs = 0;
        for (double a : vals) sum += a, sum_abs += std::fabs(a), max_abs = std::max<long double>(max_abs, std::fabs(a));
        long double mean = vals.empty() ? 0 : sum / vals.size(), m2 = 0, ds = 0;
        for (double a : vals) m2 += (a - mean) * (a - mean), ds += a - mean;
        m2 -= ds * ds / std::max<size_t>(vals.size(), 1);
        bool inf_in = std::isnan((double)sum) || std::isinf(max_abs);
        for (size_t w = 0; w < 4; w++) {
          const std::vector<double> &r = got[i * 4 + w];
          SCOPED_TRACE(Describe(cfgs[i]) + " way " + std::to_string(w) + " n " + std::to_string(n));
          ASSERT_EQ(r[0], (double)vals.size());
          if (vals.empty()) continue;
          if (inf_in) {
            EXPECT_TRUE(Same(r[1], (double)sum)) << r[1] << " want " << (double)sum;
            EXPECT_TRUE(Same(r[2], (double)mean)) << r[2] << " want " << (double)mean;
          } else {
            if (std::isinf((double)sum))  // beyond the double range: an honest inf
              EXPECT_EQ(r[1], (double)sum);
            else
              EXPECT_LE(std::fabs((long double)r[1] - sum), 1e-12L * sum_abs + kTiny)
                  << r[1] << " want " << (double)sum;
            EXPECT_LE(std::fabs((long double)r[2] - mean), 1e-12L * sum_abs / vals.size() + kTiny)
                << r[2] << " want " << (double)mean;
          }
          EXPECT_EQ(r[3], *std::min_element(vals.begin(), vals.end()));
          EXPECT_EQ(r[4], *std::max_element(vals.begin(), vals.end()));
          if (vals.size() < 2 || inf_in) {
            EXPECT_TRUE(std::isnan(r[5])) << r[5];
          } else if (m2 > 2.0L * std::numeric_limits<double>::max()) {
            EXPECT_EQ(r[5], kInf);
          } else {
            long double sd = std::sqrt(m2 / (vals.size() - 1));
            // At 1e154 and beyond the squared deviations (in units of an
            // ulp of the values) may exceed the range: inf, as numpy says.
            bool may_overflow = max_abs > 1e150L;
            EXPECT_TRUE((may_overflow && r[5] == kInf) ||
                        std::fabs((long double)r[5] - sd) <= 1e-12L * max_abs + kUnder)
                << r[5] << " want " << (double)sd;
          }
        }
      }
    }
  }
}

TEST_F(FilterAgg, StdOfALargeMeanWithATinySpreadKeepsItsDigits) {
  // 1e8 +- 1e-6: two passes around the rounded mean (an ulp of 1e8 is 1.5e-8)
  // lost 5e-4 of std; the block means carried their rounding into the merges.
  SCOPED_TRACE(Seed());
  std::uniform_real_distribution<double> u(-1e-6, 1e-6), off(-0.5, 0.5);
  for (int64_t n : {1000, 10000, 100003}) {
    double center = 1e8 + off(rng_);
    std::vector<double> v(n), x(n);
    for (int64_t i = 0; i < n; i++) {
      v[i] = center + u(rng_);
      x[i] = off(rng_);
    }
    Table t(n, {F64Col("x", x), F64Col("v", v)});
    std::vector<Config> cfgs;
    for (int op = 0; op < kNumOps; op++) cfgs.push_back({0, op, off(rng_) * 0.5, 0.3, 1});
    for (Config &c : cfgs)
      if (c.op == kBetween) c.lo = -0.3;
    std::vector<std::vector<double>> got = RunBothWays(t, cfgs);
    for (size_t i = 0; i < cfgs.size(); i++) {
      std::vector<double> vals = Passing(t, cfgs[i]);
      if (vals.size() < 2) continue;
      long double sum = 0, m2 = 0, ds = 0;
      for (double a : vals) sum += a;
      long double mean = sum / vals.size();
      for (double a : vals) m2 += (a - mean) * (a - mean), ds += a - mean;
      m2 -= ds * ds / vals.size();
      double sd = (double)std::sqrt(m2 / (vals.size() - 1));
      for (size_t w = 0; w < 4; w++) {
        SCOPED_TRACE(Describe(cfgs[i]) + " way " + std::to_string(w) + " n " + std::to_string(n));
        EXPECT_NEAR(got[i * 4 + w][5], sd, 1e-9 * sd);
        EXPECT_NEAR(got[i * 4 + w][2], (double)mean, 1e-12 * (double)mean);  // sum / count
      }
    }
  }
}

TEST_F(FilterAgg, ZeroConfigsIsANoOp) {
  SCOPED_TRACE(Seed());
  Table t(10, rng_);
  double out = 42;
  EXPECT_EQ(gpudf_run(t.t, Kernel(), nullptr, 0, nullptr), GPUDF_OK);
  EXPECT_EQ(gpudf_run(t.t, Kernel(), nullptr, 0, &out), GPUDF_OK);
  EXPECT_EQ(out, 42);
  EXPECT_EQ(gpudf_validate(t.t, Kernel(), nullptr, 0), GPUDF_OK);
}

// ------------------------------------------------------------ validation

class FilterAggValidation : public FilterAgg {
 protected:
  void SetUp() override {
    FilterAgg::SetUp();
    table_ = std::make_unique<Table>(100, rng_);
    for (int i = 0; i < 20; i++) {
      std::vector<double> row = {1, (double)(i % kNumOps), -1, 1, 3};
      cfgs_.insert(cfgs_.end(), row.begin(), row.end());
    }
    out_.resize(20 * 6);
  }
  // Puts value into parameter param of config 17 and expects EINVAL from
  // both calls, with a message naming the config, the parameter and `also`.
  void ExpectRejected(int param, double value, const std::string &name,
                      const std::string &also) {
    std::vector<double> c = cfgs_;
    c[17 * 5 + param] = value;
    ExpectRejectedConfigs(c, name, also);
  }
  void ExpectRejectedConfigs(const std::vector<double> &c, const std::string &name,
                             const std::string &also) {
    for (bool run : {true, false}) {
      gpudf_status st = run ? gpudf_run(table_->t, Kernel(), c.data(), 20, out_.data())
                            : gpudf_validate(table_->t, Kernel(), c.data(), 20);
      EXPECT_EQ(st, GPUDF_EINVAL) << name << " " << also;
      std::string msg = gpudf_last_error();
      EXPECT_NE(msg.find(run ? "gpudf_run" : "gpudf_validate"), std::string::npos) << msg;
      EXPECT_NE(msg.find("config 17"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(also), std::string::npos) << msg;
    }
  }
  std::unique_ptr<Table> table_;
  std::vector<double> cfgs_, out_;
};

TEST_F(FilterAggValidation, TheValidBatchPasses) {
  EXPECT_EQ(gpudf_validate(table_->t, Kernel(), cfgs_.data(), 20), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_run(table_->t, Kernel(), cfgs_.data(), 20, out_.data()), GPUDF_OK)
      << gpudf_last_error();
}

TEST_F(FilterAggValidation, BadColumnIndex) {
  int ncols = table_->ncols();
  ExpectRejected(0, -1, "filter_col", "-1");
  ExpectRejected(0, ncols, "filter_col", std::to_string(ncols));
  ExpectRejected(0, 1.5, "filter_col", "1.5");
  ExpectRejected(4, ncols, "value_col", "column");
  ExpectRejected(4, kNaN, "value_col", "nan");
  ExpectRejected(4, kInf, "value_col", "inf");
}

TEST_F(FilterAggValidation, BadOp) {
  ExpectRejected(1, 8, "op", "between");  // the message lists the choices
  ExpectRejected(1, -1, "op", "not a valid choice");
  ExpectRejected(1, 0.5, "op", "0.5");
}

TEST_F(FilterAggValidation, BadBounds) {
  ExpectRejected(2, kNaN, "lo", "NaN");
  ExpectRejected(3, kNaN, "hi", "NaN");
  std::vector<double> c = cfgs_;
  c[17 * 5 + 1] = kBetween;
  c[17 * 5 + 2] = 5;
  c[17 * 5 + 3] = 4;
  ExpectRejectedConfigs(c, "lo", "'hi' = 4");
  // hi below lo is fine for every other op: hi is not used.
  c[17 * 5 + 1] = kLt;
  EXPECT_EQ(gpudf_run(table_->t, Kernel(), c.data(), 20, out_.data()), GPUDF_OK)
      << gpudf_last_error();
}

TEST_F(FilterAggValidation, BadArguments) {
  const gpudf_kernel *k = Kernel();
  gpudf_table *t = table_->t;
  const double *c = cfgs_.data();
  double *r = out_.data();
  EXPECT_EQ(gpudf_run(t, k, c, -1, r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("negative"), std::string::npos)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_validate(t, k, c, -5), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_run(nullptr, k, c, 1, r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("table"), std::string::npos);
  EXPECT_EQ(gpudf_run(t, nullptr, c, 1, r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("kernel"), std::string::npos);
  EXPECT_EQ(gpudf_run(t, k, nullptr, 1, r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("configs"), std::string::npos);
  EXPECT_EQ(gpudf_run(t, k, c, 1, nullptr), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("results"), std::string::npos);
  EXPECT_EQ(gpudf_validate(nullptr, k, c, 1), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_validate(t, nullptr, c, 1), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_validate(t, k, nullptr, 1), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_run(nullptr, nullptr, nullptr, 0, nullptr), GPUDF_EINVAL);
}

TEST_F(FilterAggValidation, TableWithoutColumns) {
  gpudf_table *empty = nullptr;
  ASSERT_EQ(gpudf_table_create(10, &empty), GPUDF_OK) << gpudf_last_error();
  std::vector<double> c = {0, 0, 0, 0, 0};
  double r[6];
  EXPECT_EQ(gpudf_run(empty, Kernel(), c.data(), 1, r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("no columns"), std::string::npos)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_validate(empty, Kernel(), c.data(), 1), GPUDF_EINVAL);
  gpudf_table_free(empty);
}

}  // namespace
