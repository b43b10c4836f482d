// histogram against a plain reference written here (numpy.histogram's rule:
// edges e_i = lo + i*step as numpy.linspace computes them, e_bins = hi,
// bin i = [e_i, e_{i+1}), the last bin closed), on fresh random tables; its
// validation; the simulated device; and CUDA vs CPU (Gpu). Counts involve no
// rounding, so every comparison is exact.
#include <random>

#include "histogram_math.h"
#include "test_k_common.h"

namespace {

using namespace ktest;

enum { kAll, kLt, kLe, kGt, kGe, kEq, kNe, kBetween };

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

// The CPU pass's vector loops, chosen at run time: "avx512" (where the CPU
// has AVX-512 F/DQ/VL, else AVX2), "avx2", "avx" and "sse2"; each path is
// switched off by its variable (GPUDF_NO_AVX512, GPUDF_NO_AVX2,
// GPUDF_NO_SIMD) for the next runs.
const char *const kPaths[] = {"avx512", "avx2", "avx", "sse2"};
void UsePath(const std::string &path) {
  setenv("GPUDF_NO_SIMD", path == "sse2" ? "1" : "0", 1);
  setenv("GPUDF_NO_AVX2", path == "avx" || path == "sse2" ? "1" : "0", 1);
  setenv("GPUDF_NO_AVX512", path == "avx512" ? "0" : "1", 1);
}
void UseBestPath() {
  unsetenv("GPUDF_NO_SIMD");
  unsetenv("GPUDF_NO_AVX2");
  unsetenv("GPUDF_NO_AVX512");
}

std::vector<double> Reference(const std::vector<double> &x, const std::vector<double> &v,
                              int op, double flo, double fhi, int bins, double lo, double hi) {
  std::vector<double> edges(bins + 1);
  double step = (hi - lo) / bins;
  for (int i = 0; i < bins; i++) edges[i] = i * step + lo;
  edges[bins] = hi;
  std::vector<double> out(bins + 2, 0.0);
  for (size_t r = 0; r < v.size(); r++) {
    if (!Pass(op, x[r], flo, fhi) || std::isnan(v[r])) continue;
    if (v[r] < lo) {
      out[bins]++;
    } else if (v[r] > hi) {
      out[bins + 1]++;
    } else {
      int b = bins - 1;  // hi itself, and anything on the last edge
      for (int i = 0; i < bins; i++)
        if (edges[i] <= v[r] && v[r] < edges[i + 1]) b = i;
      out[b]++;
    }
  }
  return out;
}

struct Fixture {
  std::vector<double> x, v;
  std::vector<int32_t> vi;
  Table t;
  int cx, cv, cvi;
  Fixture(int64_t n, uint64_t seed) : t(n) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> small(-5, 5), pct(0, 99), iv(-20, 20);
    std::normal_distribution<double> val(0.0, 3.0);
    for (int64_t i = 0; i < n; i++) {
      x.push_back(pct(rng) < 5 ? kNaN : small(rng));
      // Some values exactly on edges (tenths of small ranges), some NaN.
      double d = pct(rng) < 20 ? std::round(val(rng) * 10) / 10 : val(rng);
      v.push_back(pct(rng) < 6 ? kNaN : d);
      vi.push_back(iv(rng));
    }
    cx = t.Add("x", GPUDF_TYPE_F64, x);
    cv = t.Add("v", GPUDF_TYPE_F64, v);
    cvi = t.Add("vi", GPUDF_TYPE_I32, vi);
  }
  void Check(const std::vector<double> &c, const std::vector<double> &got) {
    int bins = (int)c[5];
    size_t w = bins + 2;
    ASSERT_EQ(c.size() / 8 * w, got.size());
    for (size_t k = 0; k < c.size() / 8; k++) {
      const double *p = &c[k * 8];
      std::vector<double> vd = p[4] == cvi ? std::vector<double>(vi.begin(), vi.end()) : v;
      std::vector<double> want = Reference(x, vd, (int)p[1], p[2], p[3], bins, p[6], p[7]);
      for (size_t i = 0; i < w; i++)
        EXPECT_EQ(want[i], got[k * w + i]) << "config " << k << " slot " << i;
    }
  }
  std::vector<double> Configs(int bins) const {
    std::vector<double> c;
    const double ranges[][2] = {{-3, 3}, {-1, 0.7}, {0.1, 0.3}, {-20, 20}};
    for (int op = kAll; op <= kBetween; op++)
      for (auto &r : ranges)
        for (int col : {cv, cvi})
          c.insert(c.end(), {(double)cx, (double)op, -1, 2, (double)col, (double)bins, r[0], r[1]});
    return c;
  }
};

TEST(KHistogram, MatchesTheReference) {
  for (int bins : {1, 2, 7, 10, 64}) {
    Fixture f(6000, bins);
    std::vector<double> c = f.Configs(bins);
    f.Check(c, KRun(f.t.t, "histogram", c));
  }
}

// The CPU pass has several ways to one answer, each checked here against
// the reference: an f64 column read in place or another type converted;
// four counter copies (bins <= 1024) or one; slots shared by the configs of
// one range (the filter then applied by each config) or made for one config
// with its filter inside the vector loop, and then counted in the same loop
// (a config alone); AVX-512 or AVX2 (where the CPU has them;
// GPUDF_NO_AVX512=1 for AVX2), AVX (GPUDF_NO_AVX2=1) or SSE2
// (GPUDF_NO_SIMD=1) with a scalar tail (rows not a multiple of 8); the
// next block prefetched (tables over two blocks of 2048 rows).
TEST(KHistogram, EveryWayThroughTheCpuPassGivesTheReference) {
  const int64_t n = 3 * 2048 + 7;
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> small(-5, 5), pct(0, 99);
  std::normal_distribution<double> val(0.0, 3.0);
  std::vector<double> x, v;
  std::vector<float> xf, vf;
  std::vector<int64_t> vl;
  for (int64_t i = 0; i < n; i++) {
    x.push_back(pct(rng) < 5 ? kNaN : small(rng) + 0.1);
    double d = pct(rng) < 20 ? std::round(val(rng) * 10) / 10 : val(rng);
    v.push_back(pct(rng) < 6 ? kNaN : d);
    xf.push_back((float)x.back());
    vf.push_back((float)v.back());
    vl.push_back(std::isnan(d) ? 0 : (int64_t)std::llround(d * 7));
  }
  Table t(n);
  int cx = t.Add("x", GPUDF_TYPE_F64, x), cv = t.Add("v", GPUDF_TYPE_F64, v);
  int cxf = t.Add("xf", GPUDF_TYPE_F32, xf), cvf = t.Add("vf", GPUDF_TYPE_F32, vf);
  int cvl = t.Add("vl", GPUDF_TYPE_I64, vl);
  // f32 values and thresholds compare in float32 (numpy 2): 0.1f != 0.1.
  std::vector<double> xfd(xf.begin(), xf.end()), vfd(vf.begin(), vf.end());
  std::vector<double> vld(vl.begin(), vl.end());
  auto column = [&](int c) -> const std::vector<double> & {
    return c == cx ? x : c == cv ? v : c == cxf ? xfd : c == cvf ? vfd : vld;
  };
  for (const char *simd : kPaths) {
    UsePath(simd);
    for (int bins : {3, 100, 1024, 1025, 5000}) {
      // Runs of configs over one range (shared slots) between configs of
      // their own, every op, each filter and value column type.
      std::vector<double> c;
      const double ranges[][2] = {{-3, 3}, {-3, 3}, {-1, 0.7}, {-3, 3}, {-20, 20}, {-20, 20}};
      int k = 0;
      for (int ri = 0; ri < 6; ri++)
        for (int col : {cv, cvf, cvl})
          for (int rep = 0, runs = 1 + (ri + col) % 3; rep < runs; rep++, k++) {
            int op = k % 8, fcol = col == cvf ? cxf : cx;
            double lo = op == kBetween ? -2.9 : k % 5 - 2 + 0.1;  // on x's grid: ties
            c.insert(c.end(), {(double)fcol, (double)op, lo, 2.1, (double)col, (double)bins,
                               ranges[ri][0], ranges[ri][1]});
          }
      std::vector<double> got = KRun(t.t, "histogram", c);
      size_t w = bins + 2;
      ASSERT_EQ(c.size() / 8 * w, got.size());
      for (size_t j = 0; j < c.size() / 8; j++) {
        const double *p = &c[j * 8];
        double flo = p[0] == cxf ? (double)(float)p[2] : p[2];
        double fhi = p[0] == cxf ? (double)(float)p[3] : p[3];
        std::vector<double> want =
            Reference(column((int)p[0]), column((int)p[4]), (int)p[1], flo, fhi, bins, p[6], p[7]);
        for (size_t i = 0; i < w; i++)
          ASSERT_EQ(want[i], got[j * w + i])
              << "mode " << simd << ", " << bins << " bins, config " << j << " slot " << i;
        // The same config alone: its slots are its own.
        std::vector<double> one(c.begin() + j * 8, c.begin() + (j + 1) * 8);
        std::vector<double> alone = KRun(t.t, "histogram", one);
        for (size_t i = 0; i < w; i++) ASSERT_EQ(want[i], alone[i]) << "config " << j << " alone";
      }
    }
  }
  UseBestPath();
}

// Six or more consecutive configs over one column and range are counted
// by filter buckets: each row once, in the bucket its filter value falls in
// among the run's thresholds, each config's counts summed from the buckets
// its filter passes. Thresholds here: ties with x (on its grid), -0.0 and
// 0.0 (one threshold), infinities and clusters (no guide: the binary
// search), spread evenly (the guide), few and many; an f32 filter column;
// NaN and infinite filter values.
// A config alone with its slots is counted by the AVX2 and AVX-512 loops
// from slots stored HI_LAG (64) rows before, the block's last rows after
// the loop: every block length around those turns (a table's last block is
// its rows modulo 2048) counts each row once, on every path, with four
// counter copies (10 bins) or one (1025), with and without a filter.
TEST(KHistogram, AConfigAloneCountsEveryRowWhateverTheBlocksLength) {
  for (int64_t n : {1, 7, 8, 9, 56, 63, 64, 65, 71, 72, 73, 80, 127, 128, 129, 2048, 2049,
                    2048 + 64, 2048 + 72, 2 * 2048 + 600, 3 * 2048 + 1537}) {
    Fixture f(n, 1000 + n);
    for (const char *simd : kPaths) {
      UsePath(simd);
      for (int bins : {10, 1025})
        for (int op : {kAll, kGt, kBetween})
          for (int col : {f.cv, f.cvi}) {
            std::vector<double> c = {(double)f.cx, (double)op, -1, 2, (double)col,
                                     (double)bins, -3, 3};
            SCOPED_TRACE(std::string(simd) + " rows " + std::to_string(n) + " bins " +
                         std::to_string(bins) + " op " + std::to_string(op));
            f.Check(c, KRun(f.t.t, "histogram", c));
          }
    }
  }
  UseBestPath();
}

TEST(KHistogram, LongRunsOfConfigsCountByFilterBucketsAsTheReference) {
  const int64_t n = 2 * 2048 + 3;
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int> small(-6, 6), pct(0, 99);
  std::normal_distribution<double> val(0.0, 3.0);
  std::vector<double> x, v;
  std::vector<float> xf;
  for (int64_t i = 0; i < n; i++) {
    int kind = pct(rng);
    x.push_back(kind < 5 ? kNaN : kind < 10 ? -0.0 : kind < 12 ? INFINITY : small(rng) * 0.5);
    xf.push_back((float)x.back());
    v.push_back(pct(rng) < 5 ? kNaN : val(rng));
  }
  Table t(n);
  int cx = t.Add("x", GPUDF_TYPE_F64, x), cxf = t.Add("xf", GPUDF_TYPE_F32, xf);
  int cv = t.Add("v", GPUDF_TYPE_F64, v);
  std::vector<double> xfd(xf.begin(), xf.end());
  const double inf = INFINITY;
  const std::vector<std::vector<double>> sets = {
      {-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5},                       // even: the guide
      {0.0, -0.0, 1, 1, 2.5, -3},                                // repeats, signed zeros
      {1, -inf, inf, 0.5, -2, 3},                                // infinities
      {1, 1.0000001, 1.0000002, 1.0000003, 1.0000004, 1.0000005, 1.0000006, 2},  // a cluster
      {-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, -6},
  };
  for (int bins : {5, 300, 2000})
    for (int fcol : {cx, cxf})
      for (const auto &th : sets) {
        std::vector<double> c;
        for (size_t j = 0; j < th.size(); j++)
          for (int op = kAll; op <= kBetween; op++) {
            double lo = th[j], hi = th[(j + 3) % th.size()];
            if (op == kBetween && lo > hi) std::swap(lo, hi);
            c.insert(c.end(), {(double)fcol, (double)op, lo, hi, (double)cv, (double)bins, -4, 4});
          }
        std::vector<double> got = KRun(t.t, "histogram", c);
        size_t w = bins + 2;
        ASSERT_EQ(c.size() / 8 * w, got.size());
        for (size_t k = 0; k < c.size() / 8; k++) {
          const double *p = &c[k * 8];
          double flo = fcol == cxf ? (double)(float)p[2] : p[2];
          double fhi = fcol == cxf ? (double)(float)p[3] : p[3];
          std::vector<double> want = Reference(fcol == cxf ? xfd : x, v, (int)p[1], flo, fhi,
                                               bins, p[6], p[7]);
          for (size_t i = 0; i < w; i++)
            ASSERT_EQ(want[i], got[k * w + i]) << bins << " bins, filter column " << fcol
                                               << ", op " << p[1] << " lo " << p[2] << " hi "
                                               << p[3] << ", slot " << i;
        }
      }
}

TEST(KHistogram, EdgesAndTheClosedLastBin) {
  std::vector<double> v = {0.0, 0.1, 0.2, 0.3, 0.7, 1.0, -0.0, 1.0000000000000002, -1e-300, kNaN};
  Table t((int64_t)v.size());
  int c = t.Add("v", GPUDF_TYPE_F64, v);
  std::vector<double> cfg = {(double)c, kAll, 0, 0, (double)c, 10, 0.0, 1.0};
  std::vector<double> r = KRun(t.t, "histogram", cfg);
  std::vector<double> want = Reference(v, v, kAll, 0, 0, 10, 0.0, 1.0);
  ASSERT_EQ(want.size(), r.size());
  for (size_t i = 0; i < r.size(); i++) EXPECT_EQ(want[i], r[i]) << i;
  EXPECT_EQ(1.0, r[9]);   // 1.0 is in the last bin
  EXPECT_EQ(1.0, r[10]);  // -1e-300 underflows
  EXPECT_EQ(1.0, r[11]);  // the next double above 1 overflows
}

TEST(KHistogram, EmptySelectionAndBatchOfOne) {
  Fixture f(2000, 5);
  std::vector<double> c = {(double)f.cx, kGt, 1e9, 0, (double)f.cv, 4, -1, 1};
  std::vector<double> r = KRun(f.t.t, "histogram", c);
  ASSERT_EQ(6u, r.size());
  for (double x : r) EXPECT_EQ(0.0, x);
  std::vector<double> all = f.Configs(4), whole = KRun(f.t.t, "histogram", all);
  for (size_t k = 0; k < all.size() / 8; k += 5) {
    std::vector<double> one(all.begin() + k * 8, all.begin() + (k + 1) * 8);
    std::vector<double> r1 = KRun(f.t.t, "histogram", one);
    for (size_t i = 0; i < 6; i++) EXPECT_EQ(whole[k * 6 + i], r1[i]);
  }
}

TEST(KHistogram, ValidationNamesTheParameter) {
  Fixture f(50, 1);
  std::string msg;
  std::vector<double> c = {0, 0, 0, 0, 1, 10, 1, 1};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "histogram", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'range_lo' = 1")) << msg;
  c = {0, 0, 0, 0, 1, 0, 0, 1};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "histogram", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'bins' = 0")) << msg;
  c = {0, 0, 0, 0, 1, GPUDF_BINS_MAX + 1.0, 0, 1};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "histogram", c, &msg));
  c = {0, 0, 0, 0, 1, 4, -1.7e308, 1.7e308};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "histogram", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("finite")) << msg;
}

// Edges as numpy.linspace(lo, hi, bins + 1) makes them, step 0 included
// (a width below bins times the smallest double): (i / bins) * width + lo.
std::vector<double> NumpyEdges(int bins, double lo, double hi) {
  std::vector<double> e(bins + 1);
  double width = hi - lo, step = width / bins;
  for (int i = 0; i < bins; i++) e[i] = step == 0 ? (double)i / bins * width + lo : i * step + lo;
  e[bins] = hi;
  return e;
}

// Ranges of every scale, a few ulps wide up to wide, around 0 and far from
// it, with few and many bins.
void RandomRange(std::mt19937_64 &rng, int *bins, double *lo, double *hi) {
  std::uniform_int_distribution<int> kind(0, 5), nb(1, 40), ulps(1, 200);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int> ex(-300, 300);
  *bins = kind(rng) == 0 ? 1000 : nb(rng);
  double c = std::ldexp(u(rng), ex(rng));
  switch (kind(rng)) {
  case 0: *lo = c, *hi = c + std::fabs(c) * (0.5 + u(rng)) + 1e-300; break;
  case 1: *lo = -std::fabs(c), *hi = std::fabs(c) * 3; break;
  case 2: *lo = 1e8 + u(rng), *hi = *lo + std::ldexp(1.0, -ulps(rng) % 30); break;
  default: {  // bins to a few thousand ulps: some have repeated edges
    *lo = c;
    *hi = c;
    for (int i = ulps(rng) * (*bins) / 50 + 1; i > 0; i--) *hi = std::nextafter(*hi, 1e300);
  }
  }
}

// A RandomRange whose numpy edges strictly increase (the others are refused,
// RefusesRangesTooNarrowForItsBins), its edges, and every edge with the
// double below and the one above.
void UsableRangeAndValuesAroundItsEdges(std::mt19937_64 &rng, int *bins, double *lo, double *hi,
                                        std::vector<double> *e, std::vector<double> *v) {
  for (;;) {
    RandomRange(rng, bins, lo, hi);
    *e = NumpyEdges(*bins, *lo, *hi);
    bool increasing = true;
    for (int i = 0; i < *bins; i++) increasing &= (*e)[i] < (*e)[i + 1];
    if (increasing && std::isfinite(*hi - *lo)) break;
  }
  v->clear();
  for (double x : *e)
    for (double d : {std::nextafter(x, -INFINITY), x, std::nextafter(x, INFINITY)}) v->push_back(d);
}

TEST(KHistogram, ValuesNextToEveryEdgeFallOnTheirSide) {
  // Every edge, the double below and the one above: the first guess of the
  // bin is moved by one exactly where rounding put it on the wrong side
  // (the edge between bins 0 and 1 included). Through each vector loop:
  // AVX-512 and AVX2 (where the CPU has them; they leave out tests the
  // others make), AVX and SSE2.
  std::mt19937_64 rng(std::random_device{}());
  for (int ranges = 0; ranges < 600; ranges++) {
    UsePath(kPaths[ranges % 4]);
    int bins;
    double lo, hi;
    std::vector<double> e, v;
    UsableRangeAndValuesAroundItsEdges(rng, &bins, &lo, &hi, &e, &v);
    Table t((int64_t)v.size());
    int c = t.Add("v", GPUDF_TYPE_F64, v);
    std::vector<double> r = KRun(t.t, "histogram", {(double)c, kAll, 0, 0, (double)c, (double)bins, lo, hi});
    std::vector<double> want = Reference(v, v, kAll, 0, 0, bins, lo, hi);
    ASSERT_EQ(want, r) << bins << " bins over [" << lo << ", " << hi << "], " << kPaths[ranges % 4];
  }
  UseBestPath();
}

// The AVX-512 and AVX2 loops compare a value with the edges only when its
// first guess comes within a rounding bound of an edge (hi_near); elsewhere
// they take the guess. Values 2 to 2^24 ulps off every edge (in both
// directions), through them and through the AVX and SSE2 loops that always
// compare: a bound too
// small would let a guess that rounded across an edge through.
TEST(KHistogram, ValuesSomeUlpsOffEveryEdgeFallOnTheirSide) {
  std::mt19937_64 rng(std::random_device{}());
  for (int ranges = 0; ranges < 300; ranges++) {
    int bins;
    double lo, hi;
    std::vector<double> e, near, v;
    UsableRangeAndValuesAroundItsEdges(rng, &bins, &lo, &hi, &e, &near);
    for (double x : e)
      for (int k = 2; k <= 1 << 24; k = k < 16 ? k + 1 : k * 2)
        for (double dir : {-INFINITY, INFINITY}) {
          double d = x;
          for (int j = 0; j < k && j < 16; j++) d = std::nextafter(d, dir);
          if (k > 16) d = x + (d - x) * (k / 16);  // k ulps of x where the exponent allows
          v.push_back(d);
        }
    Table t((int64_t)v.size());
    int c = t.Add("v", GPUDF_TYPE_F64, v);
    std::vector<double> want = Reference(v, v, kAll, 0, 0, bins, lo, hi);
    for (const char *mode : kPaths) {
      UsePath(mode);
      std::vector<double> r =
          KRun(t.t, "histogram", {(double)c, kAll, 0, 0, (double)c, (double)bins, lo, hi});
      ASSERT_EQ(want, r) << bins << " bins over [" << lo << ", " << hi << "], " << mode;
    }
  }
  UseBestPath();
}

// Values outside the range, far outside it (guesses of the bin past any
// int32, infinities), on the grid of edges extended past both ends (guesses
// that are whole numbers below 0 and above bins), just past lo and hi, NaN
// and signed zeros, mixed with values inside: underflow, overflow, dump and
// bins as the reference, through every vector loop (the AVX-512 one tells
// underflow and overflow from the guess where no lane is near an edge), for
// a config alone (counted as binned), with its filter, and two configs
// sharing the slots.
TEST(KHistogram, ValuesOutsideTheRangeAndNaNOnEveryPath) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> pick(0, 39), pct(0, 99);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double ranges[][3] = {{-1, 1, 100}, {0, 3, 3}, {-7.5, 1e6, 4096}, {2.5, 2.75, 1}};
  for (const auto &rg : ranges) {
    double lo = rg[0], hi = rg[1];
    int bins = (int)rg[2];
    double step = (hi - lo) / bins;
    std::vector<double> v, x;
    for (int i = 0; i < 4000 + 5; i++) {
      int k = pct(rng) % 9 - 4;
      double d;
      switch (pick(rng)) {
      case 0: d = pct(rng) % 2 ? INFINITY : -INFINITY; break;
      case 1: d = (pct(rng) % 2 ? 1 : -1) * 1e300 * unit(rng); break;
      case 2: d = lo + (3e9 + pct(rng)) * step * (pct(rng) % 2 ? 1 : -1); break;
      case 3: d = lo - (1 + pct(rng)) * step; break;
      case 4: d = hi + (1 + pct(rng)) * step; break;
      case 5: d = std::nextafter(lo, -INFINITY); break;
      case 6: d = std::nextafter(hi, INFINITY); break;
      case 7: d = k < 0 ? lo : hi; break;
      case 8: d = kNaN; break;
      case 9: d = pct(rng) % 2 ? 0.0 : -0.0; break;
      case 10: d = lo + (pct(rng) % (bins + 1)) * step; break;
      // Mostly values whose guesses are nowhere near an edge, so that
      // whole vectors of them take the guess alone.
      case 11: case 12: case 13: case 14: case 15: case 16: case 17:
        d = lo - (hi - lo) * 3 * unit(rng); break;
      case 18: case 19: case 20: case 21: case 22: case 23: case 24:
        d = hi + (hi - lo) * 3 * unit(rng); break;
      default: d = lo + (hi - lo) * unit(rng); break;
      }
      v.push_back(d);
      x.push_back(pct(rng) < 5 ? kNaN : k);
    }
    Table t((int64_t)v.size());
    int cx = t.Add("x", GPUDF_TYPE_F64, x), cv = t.Add("v", GPUDF_TYPE_F64, v);
    for (const char *mode : kPaths) {
      UsePath(mode);
      for (int op : {kAll, kGt, kBetween}) {
        std::vector<double> one = {(double)cx, (double)op, -1.5, 2.5, (double)cv, (double)bins, lo, hi};
        std::vector<double> want = Reference(x, v, op, -1.5, 2.5, bins, lo, hi);
        ASSERT_EQ(want, KRun(t.t, "histogram", one)) << mode << ", op " << op << ", " << bins
                                                     << " bins over [" << lo << ", " << hi << "]";
        std::vector<double> two = one;
        two.insert(two.end(), {(double)cx, kLe, 0.5, 0, (double)cv, (double)bins, lo, hi});
        std::vector<double> both = want, second = Reference(x, v, kLe, 0.5, 0, bins, lo, hi);
        both.insert(both.end(), second.begin(), second.end());
        ASSERT_EQ(both, KRun(t.t, "histogram", two)) << mode << ", op " << op << ", shared slots";
      }
    }
  }
  UseBestPath();
}

// Ranges a few subnormals wide, where bins / (range_hi - range_lo)
// overflows to infinity: the first guess of a value's bin would be 0 * inf
// = NaN at range_lo and inf inside, and every path counted the values in
// the wrong bins (the fuzz_config corpus found it through a row-split sweep
// that disagreed with one run). Such a range is refused, saying why; the
// narrowest ranges that are not give every value the bin whose edges hold
// it, on every path.
TEST(KHistogram, RangesOfAFewSubnormalsCountEveryValueInItsBin) {
  for (double hi : {1.3262476855553085e-315, 1e-320, 5e-324 * 7, 2.2e-308}) {
    for (int bins : {1, 2, 7, 41, 130}) {
      std::vector<double> v;
      for (int i = 0; i < 64; i++) {
        double d = i % 4 == 0 ? 0.0 : i % 4 == 1 ? hi : i % 4 == 2 ? hi * (i % 9) / 9 : -hi;
        v.push_back(i % 13 == 5 ? kNaN : d);
      }
      Table t((int64_t)v.size());
      int c = t.Add("v", GPUDF_TYPE_F64, v);
      if (!std::isfinite(bins / hi)) {  // no bin can be computed: refused, naming why
        const gpudf_kernel *k = nullptr;
        ASSERT_EQ(gpudf_kernel_find("histogram", &k), GPUDF_OK);
        double cfg[8] = {(double)c, kAll, 0, 0, (double)c, (double)bins, 0.0, hi};
        EXPECT_EQ(gpudf_validate(t.t, k, cfg, 1), GPUDF_EINVAL) << bins << " bins, " << hi;
        std::string why = gpudf_last_error();  // too narrow, or edges that coincide
        EXPECT_TRUE(why.find("is too narrow for parameter 'bins'") != std::string::npos ||
                    why.find("do not all differ") != std::string::npos)
            << why;
        continue;
      }
      std::vector<double> want = Reference(v, v, kAll, 0, 0, bins, 0.0, hi);
      for (const char *mode : kPaths) {
        UsePath(mode);
        std::vector<double> r =
            KRun(t.t, "histogram", {(double)c, kAll, 0, 0, (double)c, (double)bins, 0.0, hi});
        EXPECT_EQ(want, r) << bins << " bins over [0, " << hi << "], " << mode;
      }
    }
  }
  UseBestPath();
}

// gdf_hi_slot, the bin rule the CUDA kernel runs (the CPU pass does the same
// arithmetic in SIMD form, checked against the reference above), next to
// every edge, against the reference's linear search. The case that needs the
// rule's downward correction at the first inner edge is sought on purpose:
// a value just below edge 1 whose first guess (x - lo) * bins / (hi - lo)
// rounds up to 1, so that only the correction puts it in bin 0.
TEST(KHistogram, TheDeviceBinRuleMatchesTheReferenceNextToEveryEdge) {
  std::mt19937_64 rng(11);
  int ranges = 0, below_first_edge_guessed_one = 0;
  for (; ranges < 20000 && (ranges < 2000 || below_first_edge_guessed_one < 5); ranges++) {
    int bins;
    double lo, hi;
    std::vector<double> e, v;
    UsableRangeAndValuesAroundItsEdges(rng, &bins, &lo, &hi, &e, &v);
    std::vector<double> want = Reference(v, v, kAll, 0, 0, bins, lo, hi);
    std::vector<double> got(bins + 2, 0.0);
    for (double x : v) {
      long long slot = gdf_hi_slot(x, bins, lo, hi);
      ASSERT_GE(slot, 0);
      got[(size_t)slot]++;
    }
    ASSERT_EQ(want, got) << bins << " bins over [" << lo << ", " << hi << "]";
    if (bins >= 2) {
      double x = std::nextafter(e[1], -INFINITY);
      if (x >= lo && (x - lo) * ((double)bins / (hi - lo)) >= 1.0) {
        below_first_edge_guessed_one++;
        EXPECT_EQ(gdf_hi_slot(x, bins, lo, hi), 0) << x << " in " << bins << " bins over [" << lo
                                                   << ", " << hi << "]";
      }
    }
  }
  EXPECT_GE(ranges, 2000);
  EXPECT_GE(below_first_edge_guessed_one, 5) << "the correction at edge 1 was not reached";
}

TEST(KHistogram, RefusesRangesTooNarrowForItsBins) {
  // numpy.histogram raises "Too many bins for data range" when its edges do
  // not strictly increase; counts over such edges mean nothing.
  Fixture f(20, 3);
  std::string msg;
  std::vector<double> c = {0, 0, 0, 0, (double)f.cv, 3, -5e-324, 5e-324};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "histogram", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'bins' = 3")) << msg;
  EXPECT_NE(std::string::npos, msg.find("numpy.histogram")) << msg;
  std::mt19937_64 rng(std::random_device{}());
  int refused = 0, accepted = 0;
  for (int k = 0; k < 800; k++) {
    int bins;
    double lo, hi;
    RandomRange(rng, &bins, &lo, &hi);
    if (!std::isfinite(hi - lo)) continue;
    std::vector<double> e = NumpyEdges(bins, lo, hi);
    bool increasing = true;
    for (int i = 0; i < bins; i++) increasing &= e[i] < e[i + 1];
    c = {0, 0, 0, 0, (double)f.cv, (double)bins, lo, hi};
    gpudf_status st = RunStatus(f.t.t, "histogram", c, &msg);
    EXPECT_EQ(increasing ? GPUDF_OK : GPUDF_EINVAL, st)
        << bins << " bins over [" << lo << ", " << hi << "]: " << msg;
    (increasing ? accepted : refused)++;
  }
  EXPECT_GT(refused, 40);
  EXPECT_GT(accepted, 40);
}

// What `gpudf-sweep --describe` and gpudf.describe() tell a user, and the
// defaults a config or grid gets for what it does not say: 10 bins over
// [0, 1] (docs/guide.md), the filter's lo/hi told apart from the range.
TEST(KHistogram, TheDescriptionIsTheDocumentedOne) {
  const double inf = INFINITY;
  ExpectDescription(
      "histogram",
      {{"filter_col", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, 0, GPUDF_ACCEPT_ANY, {"filter_agg"}},
       {"op", GPUDF_PARAM_CHOICE, 0, 0, 7, 8, 0, 0, {"all lt le gt ge eq ne between"}},
       {"lo", GPUDF_PARAM_REAL, 0, -inf, inf, 0, 0, 0, {"FILTER", "range_lo"}},
       {"hi", GPUDF_PARAM_REAL, 0, -inf, inf, 0, 0, 0, {"FILTER", "between", "range_hi"}},
       {"col", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, 0, GPUDF_ACCEPT_NUMERIC, {"counted", "NaN"}},
       {"bins", GPUDF_PARAM_INTEGER, 10, 1, GPUDF_BINS_MAX, 0, 1, 0, {"equal-width", "shape"}},
       {"range_lo", GPUDF_PARAM_REAL, 0, -inf, inf, 0, 0, 0, {"first bin", "range_hi"}},
       {"range_hi", GPUDF_PARAM_REAL, 1, -inf, inf, 0, 0, 0, {"last bin", "includes"}}});
  const gpudf_kernel *k = Kernel("histogram");
  gpudf_param_info p;
  ASSERT_EQ(GPUDF_OK, gpudf_kernel_param(k, 1, &p));
  const char *ops[] = {"all", "lt", "le", "gt", "ge", "eq", "ne", "between"};
  for (int i = 0; i < 8; i++) EXPECT_STREQ(ops[i], p.choices[i]);
}

TEST(KHistogram, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  Fixture f(3000, 9);
  std::vector<double> c = f.Configs(8);
  std::vector<double> cpu = KRun(f.t.t, "histogram", c);
  std::string why;
  ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  ASSERT_EQ(cpu, KRun(f.t.t, "histogram", c));
}

TEST(KHistogramGpu, MatchesTheCpu) {
  K_SKIP_WITHOUT_CUDA();
  for (int bins : {1, 10, 5000, 20000}) {
    Fixture f(400000, bins);
    std::vector<double> c = f.Configs(bins);
    std::vector<double> cpu = KRun(f.t.t, "histogram", c);
    std::string why;
    ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
    EXPECT_EQ(cpu, KRun(f.t.t, "histogram", c));
  }
}

}  // namespace
