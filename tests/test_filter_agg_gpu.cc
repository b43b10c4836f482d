// filter_agg's CUDA kernels (kernels/filter_agg/cuda_filter_agg.cu) against
// a plain long-double loop written here and against the CPU path: the
// streaming kernel (1 to 3 configs of a column pair) and the
// configs-in-threads kernel (more), over row counts that are not multiples
// of any tile or vector width, NaN values and thresholds, every op, no
// passing row, a large mean against a small spread, values near 1e308, every
// column type and config counts past the launch limit (4096). Named *Gpu*:
// label gpu, SKIPPED without a device. FilterAggInterval (cpu) checks the
// interval form of the row filter that both kernels use.
//
// Tolerances: count, min and max exactly; sum within 1e-13 x count x
// max|v| of the reference (the order of additions differs), mean the same
// over count, std within 1e-9 relative (it is computed around a passing
// value, so it keeps its digits when the mean is large against the spread).
// Where squared deviations exceed the double range (values near +-1e308)
// std is inf on every path, as documented.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "filter_agg_math.h"
#include "harness.h"

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------ the interval

// The bounds both interval tests take: NaN, the infinities, the ends of the
// double range, signed zeros, subnormals and a few ordinary values.
std::vector<double> SpecialValues() {
  const double dn = std::numeric_limits<double>::denorm_min();
  return {kNaN, -kInf, -DBL_MAX, -1.5, -1.0, -dn, -0.0, 0.0, dn,
          DBL_MIN, 1.0, 1.5, 1e300, DBL_MAX, kInf};
}
// Those values and each one's neighbours on both sides: the values tested.
std::vector<double> AroundSpecialValues() {
  std::vector<double> xs;
  for (double b : SpecialValues()) {
    xs.push_back(b);
    xs.push_back(std::nextafter(b, -kInf));
    xs.push_back(std::nextafter(b, kInf));
  }
  return xs;
}

TEST(FilterAggInterval, EqualsEveryOpOnSpecialValues) {
  const std::vector<double> base = SpecialValues(), xs = AroundSpecialValues();
  int checked = 0;
  for (int op = 0; op < GDF_FA_NOPS; op++)
    for (double lo : xs)
      for (double hi : base) {
        gdf_fa_interval f = gdf_fa_interval_of(op, lo, hi);
        for (double x : xs) {
          int want = gdf_fa_pass(op, x, lo, hi);
          ASSERT_EQ(gdf_fa_in(&f, x), want) << "op " << op << " lo " << lo << " hi " << hi
                                            << " x " << x;
          checked++;
        }
      }
  EXPECT_GT(checked, 100000);
}

// The rank form (gdf_fa_rank, gdf_fa_rankcfg_of): over the endpoints of a
// whole set of configs, for every op and special value.
TEST(FilterAggInterval, RanksEqualEveryOp) {
  const std::vector<double> xs = AroundSpecialValues();
  std::mt19937_64 rng(17);
  int checked = 0;
  for (int round = 0; round < 200; round++) {
    // A set of configs of every op, thresholds from xs.
    std::vector<int> ops;
    std::vector<double> los, his;
    std::vector<gdf_fa_interval> f;
    int n = 1 + (int)(rng() % 40);
    for (int i = 0; i < n; i++) {
      int op = (int)(rng() % GDF_FA_NOPS);
      double lo = xs[rng() % xs.size()], hi = xs[rng() % xs.size()];
      if (op == GDF_FA_BETWEEN && lo > hi) std::swap(lo, hi);
      ops.push_back(op);
      los.push_back(lo);
      his.push_back(hi);
      f.push_back(gdf_fa_interval_of(op, lo, hi));
    }
    std::vector<double> bound;
    for (const gdf_fa_interval &g : f)
      if (gdf_fa_interval_nonempty(&g)) {
        bound.push_back(g.a);
        bound.push_back(g.b);
      }
    std::sort(bound.begin(), bound.end());
    bound.erase(std::unique(bound.begin(), bound.end(),
                            [](double a, double b) { return a == b; }),
                bound.end());
    int k = (int)bound.size();
    for (int i = 0; i < n; i++) {
      gdf_fa_rankcfg c = gdf_fa_rankcfg_of(&f[i], bound.data(), k);
      for (double x : xs) {
        ASSERT_EQ(gdf_fa_rank_in(c, gdf_fa_rank(bound.data(), k, x)),
                  gdf_fa_pass(ops[i], x, los[i], his[i]))
            << "op " << ops[i] << " lo " << los[i] << " hi " << his[i] << " x " << x << " of "
            << k << " bounds";
        checked++;
      }
    }
  }
  EXPECT_GT(checked, 100000);
}

// ------------------------------------------------------------ reference

struct Col {
  std::string name;
  gpudf_type type;
  std::vector<uint8_t> bytes;
  std::vector<double> d;  // as double, as every path reads it
};

template <typename T>
Col MakeCol(const std::string &name, gpudf_type type, const std::vector<T> &v) {
  Col c{name, type, std::vector<uint8_t>(v.size() * sizeof(T)), std::vector<double>(v.size())};
  std::memcpy(c.bytes.data(), v.data(), c.bytes.size());
  for (size_t i = 0; i < v.size(); i++) c.d[i] = (double)v[i];
  return c;
}

Col F64(const std::string &name, const std::vector<double> &v) {
  return MakeCol(name, GPUDF_TYPE_F64, v);
}

// The six results by a plain loop: the filter written out, long double sums
// and a two-pass std around the long double mean.
struct Ref {
  double count, sum, mean, min, max, std;
  long double m2;  // to tell when squared deviations leave the double range
  double maxabs;
};

Ref Reference(const std::vector<Col> &cols, const double *c, int64_t rows) {
  const Col &xc = cols[(int)c[0]], &vc = cols[(int)c[4]];
  int op = (int)c[1];
  double lo = c[2], hi = c[3];
  if (xc.type == GPUDF_TYPE_F32) {  // numpy 2 compares a float32 column in float32
    auto to_f = [](double t) {
      if (std::isnan(t)) return t;
      if (t >= 0x1.ffffffp127) return kInf;
      if (t <= -0x1.ffffffp127) return -kInf;
      return (double)(float)t;
    };
    lo = to_f(lo);
    hi = to_f(hi);
  }
  std::vector<double> vals;
  for (int64_t i = 0; i < rows; i++) {
    double x = xc.d[i], v = vc.d[i];
    bool pass = op == 0   ? true
                : op == 1 ? x < lo
                : op == 2 ? x <= lo
                : op == 3 ? x > lo
                : op == 4 ? x >= lo
                : op == 5 ? x == lo
                : op == 6 ? x != lo
                          : (lo <= x && x <= hi);
    if (pass && !std::isnan(v)) vals.push_back(v);
  }
  Ref r{(double)vals.size(), 0, kNaN, kNaN, kNaN, kNaN, 0, 0};
  long double s = 0;
  bool pinf = false, ninf = false;
  for (double v : vals) {
    pinf |= v == kInf;
    ninf |= v == -kInf;
    if (std::isfinite(v)) s += v;
    r.maxabs = std::max(r.maxabs, std::fabs(v));
    r.min = std::isnan(r.min) || v < r.min ? v : r.min;
    r.max = std::isnan(r.max) || v > r.max ? v : r.max;
  }
  r.sum = pinf && ninf ? kNaN : pinf ? kInf : ninf ? -kInf : (double)s;
  if (vals.empty()) return r;
  r.mean = pinf || ninf ? r.sum : (double)(s / vals.size());
  if (vals.size() > 1 && !pinf && !ninf) {
    long double mean = s / vals.size(), m2 = 0;
    for (double v : vals) m2 += (v - mean) * (v - mean);
    r.m2 = m2;
    r.std = m2 > DBL_MAX ? kInf : (double)std::sqrt(m2 / (vals.size() - 1));
  } else if (vals.size() > 1) {
    r.std = kNaN;
  }
  return r;
}

bool Same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

bool Near(double got, double want, double tol) {
  if (!std::isfinite(want) || !std::isfinite(got) || got == want) return Same(got, want);
  return std::fabs(got - want) <= tol;
}

class FilterAggGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("GPUDF_SIMULATE_DEVICE");
    unsetenv("GPUDF_BACKEND");
    const char *why = nullptr;
    if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why))
      GTEST_SKIP() << "no usable CUDA device: " << why;
  }

  // Runs cfg on the device (each kernel) and on the cpu placement of the
  // same columns and checks both against the reference (the cpu path's own
  // tolerances are those of test_filter_agg.cc; here it is a second
  // witness). Every ref_every-th config is checked against the reference,
  // the others against the cpu path only.
  void Check(const std::vector<Col> &cols, const std::vector<double> &cfg, int ref_every = 1) {
    int64_t rows = (int64_t)cols[0].d.size();
    gpudf_table *dev = nullptr, *cpu = nullptr;
    gpudf_share *sh = nullptr;
    struct Free {  // whatever ASSERT returns early
      gpudf_table **a, **b;
      gpudf_share **s;
      ~Free() {
        gpudf_share_close(*s);
        gpudf_table_free(*a);
        gpudf_table_free(*b);
      }
    } free_all{&dev, &cpu, &sh};
    for (gpudf_table **p : {&dev, &cpu}) {
      ASSERT_EQ(gpudf_table_create(rows, p), GPUDF_OK) << gpudf_last_error();
      for (const Col &c : cols)
        ASSERT_EQ(gpudf_table_add_column(*p, c.name.c_str(), c.type, c.bytes.data()), GPUDF_OK)
            << gpudf_last_error();
    }
    std::string name = harness::UniqueName("gpufa");
    ASSERT_EQ(gpudf_table_share(dev, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &sh), GPUDF_OK)
        << gpudf_last_error();
    ASSERT_EQ(gpudf_table_backend(dev), GPUDF_BACKEND_CUDA_IPC);
    const gpudf_kernel *k;
    ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
    int64_t n = (int64_t)cfg.size() / 5;
    std::vector<double> cp(n * 6);
    ASSERT_EQ(gpudf_run(cpu, k, cfg.data(), n, cp.data()), GPUDF_OK) << gpudf_last_error();
    std::vector<Ref> ref(n);
    for (int64_t c = 0; c < n; c += ref_every) ref[c] = Reference(cols, &cfg[c * 5], rows);
    // The default choice of kernel, then every kernel for every config count:
    // the tiles kernel at each width (GPUDF_FA_STREAM_MAX=0) and, for a few
    // configs, the streaming one.
    struct Variant {
      const char *name, *stream_max, *cpt, *carry, *sorted = nullptr, *ranks = nullptr;
    };
    std::vector<Variant> variants = {
        {"default", nullptr, nullptr, nullptr},
        {"tiles sorted by value, 4 configs a thread", "0", "4", nullptr, "1"},
        {"tiles sorted by value, 2 configs a thread", "0", "2", nullptr, "1"},
        {"tiles sorted by value, 1 config a thread", "0", "1", nullptr, "1"},
        {"tiles, 2 configs a thread", "0", "2", "1", "0"},
        {"tiles, 2 configs a thread, a shift per tile", "0", "2", "0", "0"},
        {"tiles, 1 config a thread", "0", "1", "1", "0"},
        {"tiles, 4 configs a thread", "0", "4", "1", "0"},
        {"tiles, 4 configs a thread, a shift per tile", "0", "4", "0", "0"},
        {"tiles sorted, on ranks, 4 configs a thread", "0", "4", nullptr, "1", "1"},
        {"tiles sorted, on ranks, 1 config a thread", "0", "1", nullptr, "1", "1"},
        {"tiles on ranks, 2 configs a thread", "0", "2", nullptr, "0", "1"},
        {"tiles on ranks, 1 config a thread", "0", "1", nullptr, "0", "1"},
        {"tiles on ranks, 4 configs a thread", "0", "4", nullptr, "0", "1"}};
    if (n <= 64) variants.push_back({"streaming", "1000000", nullptr, nullptr});
    for (const Variant &var : variants) {
      if (var.stream_max) setenv("GPUDF_FA_STREAM_MAX", var.stream_max, 1);
      if (var.cpt) setenv("GPUDF_FA_CONFIGS_PER_THREAD", var.cpt, 1);
      if (var.carry) setenv("GPUDF_FA_CARRY_SHIFT", var.carry, 1);
      if (var.sorted) setenv("GPUDF_FA_SORTED", var.sorted, 1);
      if (var.ranks) setenv("GPUDF_FA_RANKS", var.ranks, 1);
      std::vector<double> got(n * 6);
      gpudf_status st = gpudf_run(dev, k, cfg.data(), n, got.data());
      unsetenv("GPUDF_FA_STREAM_MAX");
      unsetenv("GPUDF_FA_CONFIGS_PER_THREAD");
      unsetenv("GPUDF_FA_CARRY_SHIFT");
      unsetenv("GPUDF_FA_SORTED");
      unsetenv("GPUDF_FA_RANKS");
      ASSERT_EQ(st, GPUDF_OK) << var.name << ": " << gpudf_last_error();
      int bad = 0;
      for (int64_t c = 0; c < n && bad < 8; c++) {
        const double *g = &got[c * 6], *w = &cp[c * 6];
        std::ostringstream where;
        where.precision(17);
        where << var.name << ": " << rows << " rows, " << n << " configs, config " << c << " {"
              << cfg[c * 5] << ", " << cfg[c * 5 + 1] << ", " << cfg[c * 5 + 2] << ", "
              << cfg[c * 5 + 3] << ", " << cfg[c * 5 + 4] << "}: device";
        for (int f = 0; f < 6; f++) where << " " << g[f];
        where << " cpu";
        for (int f = 0; f < 6; f++) where << " " << w[f];
        // The device against the cpu path: count, min, max exact; the rest as below.
        bool ok = Same(g[0], w[0]) && Same(g[3], w[3]) && Same(g[4], w[4]);
        if (c % ref_every == 0) {
          const Ref &r = ref[c];
          where << " reference " << r.count << " " << r.sum << " " << r.mean << " " << r.min
                << " " << r.max << " " << r.std;
          double tol = 1e-13 * r.count * r.maxabs + 1e-300;
          ok = ok && Same(g[0], r.count) && Same(g[3], r.min) && Same(g[4], r.max) &&
               Near(g[1], r.sum, tol) && Near(g[2], r.mean, tol / std::max(1.0, r.count));
          if (std::isnan(r.std) || std::isinf(r.std))
            ok = ok && Same(g[5], r.std) && Same(w[5], r.std);
          else
            ok = ok && Near(g[5], r.std, 1e-9 * r.std + 1e-300);
        } else {
          double tol = 1e-12 * std::fabs(w[1]) +
                       1e-13 * w[0] * std::max(std::fabs(w[3]), std::fabs(w[4]));
          ok = ok && Near(g[1], w[1], tol) && Near(g[5], w[5], 1e-9 * std::fabs(w[5]) + 1e-300);
        }
        if (!ok) {
          bad++;
          ADD_FAILURE() << where.str();
        }
      }
    }
  }
};

// Columns x (filter) and v (value), f64, NaN in both now and then.
std::vector<Col> XV(int64_t rows, uint64_t seed, double mean = 0.0, double spread = 100.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> x(rows), v(rows);
  for (int64_t i = 0; i < rows; i++) {
    x[i] = rng() % 97 == 0 ? kNaN : std::round(u(rng) * 50.0);
    v[i] = rng() % 89 == 0 ? kNaN : mean + spread * u(rng);
  }
  return {F64("x", x), F64("v", v)};
}

// Every op, thresholds inside the data's range (and one outside).
std::vector<double> EveryOp(int per_op) {
  std::vector<double> cfg;
  for (int i = 0; i < per_op; i++)
    for (int op = 0; op < GDF_FA_NOPS; op++) {
      double lo = -40.0 + 80.0 * (i + 0.5) / per_op;
      cfg.insert(cfg.end(), {0, (double)op, std::round(lo), std::round(lo) + 17, 1});
    }
  return cfg;
}

TEST_F(FilterAggGpu, RowCountsThatAreNoMultipleOfATileOrVector) {
  for (int64_t rows : {1, 2, 3, 15, 16, 17, 255, 1023, 1024, 1025, 2049, 4097, 131073, 1000003}) {
    SCOPED_TRACE(rows);
    std::vector<Col> cols = XV(rows, 100 + rows);
    for (int op = 0; op < GDF_FA_NOPS; op++)  // one config: the streaming kernel
      Check(cols, {0, (double)op, 3, 20, 1});
    Check(cols, EveryOp(1));  // 8 configs: the tiles
    Check(cols, {0, 3, -10, 0, 1, 0, 1, 10, 0, 1});  // 2: streaming, one after the other
  }
}

TEST_F(FilterAggGpu, NanValuesNanThresholdsAndNoPassingRow) {
  const int64_t rows = 70001;
  std::vector<Col> cols = XV(rows, 7);
  std::vector<double> allnan(rows, kNaN), xnan(rows);
  for (int64_t i = 0; i < rows; i++) xnan[i] = i % 3 ? kNaN : (double)(i % 11);
  cols.push_back(F64("allnan", allnan));
  cols.push_back(F64("xnan", xnan));
  std::vector<double> cfg = {
      0, 1, -1e300, 0, 1,   // lt below everything: no row passes
      0, 5, 0.5, 0, 1,      // eq a value no row holds: none
      0, 7, 1e300, 1e301, 1,  // between above everything: none
      0, 6, 0.5, 0, 1,      // ne a value no row holds: every row with x not NaN, and NaN x
      0, 0, 0, 0, 2,        // all rows, every value NaN
      3, 6, 5, 0, 1,        // ne over a filter that is mostly NaN: NaN x passes
      3, 0, 0, 0, 1,        // all over it
      3, 5, 5, 0, 1,        // eq over it: NaN x fails
  };
  Check(cols, cfg);  // 8 configs: the tiles
  for (size_t c = 0; c < cfg.size(); c += 5)
    Check(cols, std::vector<double>(cfg.begin() + c, cfg.begin() + c + 5));  // streaming
}

TEST_F(FilterAggGpu, StdStaysAccurateWhenTheMeanIsLargeAgainstTheSpread) {
  const int64_t rows = 300007;
  for (double mean : {1e8, 1e12}) {
    SCOPED_TRACE(mean);
    std::vector<Col> cols = XV(rows, 21, mean, mean * 1e-12);
    Check(cols, {0, 3, 0, 0, 1});
    Check(cols, EveryOp(5));
  }
}

TEST_F(FilterAggGpu, ValuesNear1e308) {
  const int64_t rows = 20011;
  std::mt19937_64 rng(5);
  std::vector<double> x(rows), pos(rows), mixed(rows), inf(rows);
  for (int64_t i = 0; i < rows; i++) {
    x[i] = (double)(i % 100);
    pos[i] = 1.7e308 - (double)(rng() % 1000) * 1e300;  // finite; the sum overflows
    mixed[i] = (i % 2 ? 1.0 : -1.0) * (1e308 - (double)(rng() % 1000) * 1e300);
    inf[i] = i == 777 ? kInf : i == 9999 ? -kInf : pos[i];
  }
  std::vector<Col> cols = {F64("x", x), F64("pos", pos), F64("mixed", mixed), F64("inf", inf)};
  for (int vcol : {1, 2, 3}) {
    SCOPED_TRACE(vcol);
    std::vector<double> cfg;
    for (int op = 0; op < GDF_FA_NOPS; op++)
      cfg.insert(cfg.end(), {0, (double)op, 50, 80, (double)vcol});
    Check(cols, cfg);  // the tiles (overflowing configs are rerun by the streaming kernel)
    for (size_t c = 0; c < cfg.size(); c += 5)
      Check(cols, std::vector<double>(cfg.begin() + c, cfg.begin() + c + 5));
  }
}

TEST_F(FilterAggGpu, ConfigCountsAcrossGroupsAndTheLaunchLimit) {
  const int64_t rows = 40009;
  std::vector<Col> cols = XV(rows, 99);
  for (int n : {1, 2, 3, 4, 31, 33, 511, 513, 1024, 4096 + 37}) {
    SCOPED_TRACE(n);
    std::vector<double> cfg;
    for (int i = 0; i < n; i++) {
      double lo = std::round(-50.0 + 100.0 * i / n);
      cfg.insert(cfg.end(), {0, (double)(i % GDF_FA_NOPS), lo, lo + 9, 1});
    }
    Check(cols, cfg, n > 600 ? 7 : 1);
  }
}

TEST_F(FilterAggGpu, EveryColumnType) {
  const int64_t rows = 100003;
  std::mt19937_64 rng(3);
  std::vector<int32_t> i32(rows);
  std::vector<int64_t> i64(rows);
  std::vector<float> f32(rows);
  std::vector<uint8_t> b8(rows);
  std::vector<double> f64(rows);
  for (int64_t i = 0; i < rows; i++) {
    i32[i] = (int32_t)(rng() % 2001) - 1000;
    i64[i] = (int64_t)(rng() >> 8) * (i % 5 == 0 ? 1 : -1);  // beyond 2^53: rounded to double
    f32[i] = rng() % 50 == 0 ? NAN : (float)((double)(rng() % 100000) * 0.01 - 500.0);
    b8[i] = (uint8_t)(rng() & 1);
    f64[i] = (double)(rng() % 1000) * 0.125;
  }
  std::vector<Col> cols = {MakeCol("i32", GPUDF_TYPE_I32, i32), MakeCol("i64", GPUDF_TYPE_I64, i64),
                           MakeCol("f32", GPUDF_TYPE_F32, f32), MakeCol("b", GPUDF_TYPE_BOOL, b8),
                           F64("f64", f64)};
  // Thresholds an f32 filter must see rounded to float (0.1 is not a float).
  const double lo[5] = {-100, -1e17, 0.1, 0, 60.1};
  for (int xc = 0; xc < 5; xc++)
    for (int vc = 0; vc < 5; vc++) {
      SCOPED_TRACE(std::to_string(xc) + " " + std::to_string(vc));
      std::vector<double> cfg;
      for (int op = 0; op < GDF_FA_NOPS; op++)
        cfg.insert(cfg.end(), {(double)xc, (double)op, lo[xc], lo[xc] + 300, (double)vc});
      Check(cols, cfg);
      Check(cols, {(double)xc, 4, lo[xc], 0, (double)vc});
    }
}

}  // namespace

// The launch settings are for tests and benchmarks, but a malformed one is
// refused naming it rather than read as some other choice (atoi read "3"
// as 4 configs a thread and "abc" as 0).
TEST_F(FilterAggGpu, MalformedLaunchSettingsAreRefusedNamingTheVariable) {
  const int64_t rows = 4096;
  std::vector<double> x(rows), v(rows);
  for (int64_t i = 0; i < rows; i++) x[i] = (double)(i % 100), v[i] = (double)i;
  gpudf_table *t = nullptr;
  gpudf_share *sh = nullptr;
  ASSERT_EQ(gpudf_table_create(rows, &t), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_column(t, "x", GPUDF_TYPE_F64, x.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v.data()), GPUDF_OK);
  std::string name = harness::UniqueName("gpufaenv");
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &sh), GPUDF_OK)
      << gpudf_last_error();
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::vector<double> cfg;
  for (int c = 0; c < 64; c++) cfg.insert(cfg.end(), {0, 1, (double)c, 0, 1});
  std::vector<double> out(64 * 6);
  const struct {
    const char *var, *value;
  } bad[] = {{"GPUDF_FA_CONFIGS_PER_THREAD", "3"}, {"GPUDF_FA_CONFIGS_PER_THREAD", "abc"},
             {"GPUDF_FA_STREAM_MAX", "-1"},        {"GPUDF_FA_STREAM_MAX", "12x"},
             {"GPUDF_FA_SORTED", "2"},             {"GPUDF_FA_CARRY_SHIFT", "yes"},
             {"GPUDF_FA_RANKS", "-0x1"}};
  for (const auto &b : bad) {
    setenv(b.var, b.value, 1);
    EXPECT_EQ(gpudf_run(t, k, cfg.data(), 64, out.data()), GPUDF_EINVAL) << b.var << "=" << b.value;
    std::string msg = gpudf_last_error();
    EXPECT_NE(msg.find(b.var), std::string::npos) << msg;
    EXPECT_NE(msg.find(b.value), std::string::npos) << msg;
    unsetenv(b.var);
  }
  EXPECT_EQ(gpudf_run(t, k, cfg.data(), 64, out.data()), GPUDF_OK) << gpudf_last_error();
  gpudf_share_close(sh);
  gpudf_table_free(t);
}
