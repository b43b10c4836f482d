// groupby_agg against a plain per-group loop written here, on fresh random
// tables; its validation; the simulated device; and CUDA vs CPU (Gpu).
//
// Tolerances: count, min and max are exact (no rounding involved). Sums and
// means are added in another order on the device (atomics), so they agree
// within 1e-12 x the sum of the magnitudes added, far above what double
// rounding produces at these sizes and far below one missed row.
#include <algorithm>
#include <random>

#include "test_k_common.h"

namespace {

using namespace ktest;

enum { kAll, kLt, kLe, kGt, kGe, kEq, kNe, kBetween };

bool Pass(int op, double x, double lo, double hi) {
  if (op == kAll) return true;
  if (op == kLt) return x < lo;
  if (op == kLe) return x <= lo;
  if (op == kGt) return x > lo;
  if (op == kGe) return x >= lo;
  if (op == kEq) return x == lo;
  if (op == kNe) return x != lo;
  return lo <= x && x <= hi;
}

struct Data {
  std::vector<double> x, v;
  std::vector<int32_t> key32;
  std::vector<int64_t> key64;
  std::vector<uint8_t> keyb;
};

Data MakeData(int64_t n, int groups, std::mt19937_64 &rng) {
  Data d;
  std::uniform_int_distribution<int> small(-5, 5), key(-2, groups + 1), pct(0, 99);
  std::normal_distribution<double> val(3.0, 10.0);
  for (int64_t i = 0; i < n; i++) {
    d.x.push_back(pct(rng) < 5 ? kNaN : small(rng));
    d.v.push_back(pct(rng) < 7 ? kNaN : val(rng));
    d.key32.push_back(key(rng));
    d.key64.push_back(key(rng) + (pct(rng) < 2 ? (int64_t)1 << 40 : 0));
    d.keyb.push_back(pct(rng) < 50);
  }
  return d;
}

// count sum mean min max per group, the obvious way.
template <typename K>
std::vector<double> Reference(const Data &d, const std::vector<K> &key, int op, double lo,
                              double hi, int groups, double *mag) {
  std::vector<double> out;
  *mag = 0;
  for (int g = 0; g < groups; g++) {
    double n = 0, s = 0, mn = 0, mx = 0;
    for (size_t i = 0; i < d.v.size(); i++) {
      if ((int64_t)key[i] != g || std::isnan(d.v[i]) || !Pass(op, d.x[i], lo, hi)) continue;
      if (n == 0 || d.v[i] < mn) mn = d.v[i];
      if (n == 0 || d.v[i] > mx) mx = d.v[i];
      n++, s += d.v[i], *mag += std::fabs(d.v[i]);
    }
    out.insert(out.end(), {n, s, n ? s / n : kNaN, n ? mn : kNaN, n ? mx : kNaN});
  }
  return out;
}

void ExpectGroups(const std::vector<double> &want, const double *got, double mag) {
  for (size_t i = 0; i < want.size(); i++) {
    if (i % 5 == 1 || i % 5 == 2)
      EXPECT_TRUE(Same(want[i], got[i]) || std::fabs(want[i] - got[i]) <= 1e-12 * (mag + 1))
          << "result " << i << ": " << want[i] << " vs " << got[i];
    else
      EXPECT_TRUE(Same(want[i], got[i])) << "result " << i << ": " << want[i] << " vs " << got[i];
  }
}

struct Fixture {
  Data d;
  Table t;
  int cx, cv, ck32, ck64, ckb;
  Fixture(int64_t n, int groups, uint64_t seed) : t(n) {
    std::mt19937_64 rng(seed);
    d = MakeData(n, groups, rng);
    cx = t.Add("x", GPUDF_TYPE_F64, d.x);
    cv = t.Add("v", GPUDF_TYPE_F64, d.v);
    ck32 = t.Add("k32", GPUDF_TYPE_I32, d.key32);
    ck64 = t.Add("k64", GPUDF_TYPE_I64, d.key64);
    ckb = t.Add("kb", GPUDF_TYPE_BOOL, d.keyb);
  }
  // Every op over the three key types, as one batch.
  std::vector<double> Configs(int groups) const {
    std::vector<double> c;
    for (int op = kAll; op <= kBetween; op++)
      for (int key : {ck32, ck64, ckb})
        c.insert(c.end(), {(double)cx, (double)op, -1.0, 2.0, (double)key, (double)cv,
                           (double)groups});
    return c;
  }
  void Check(const std::vector<double> &configs, const std::vector<double> &got, int groups) {
    ASSERT_EQ(configs.size() / 7 * 5 * groups, got.size());
    for (size_t k = 0; k < configs.size() / 7; k++) {
      const double *c = &configs[k * 7];
      double mag;
      std::vector<double> want =
          c[4] == ck32   ? Reference(d, d.key32, (int)c[1], c[2], c[3], groups, &mag)
          : c[4] == ck64 ? Reference(d, d.key64, (int)c[1], c[2], c[3], groups, &mag)
                         : Reference(d, d.keyb, (int)c[1], c[2], c[3], groups, &mag);
      ExpectGroups(want, &got[k * 5 * groups], mag);
    }
  }
};

TEST(KGroupbyAgg, MatchesTheReferenceForEveryOpAndKeyType) {
  for (int groups : {1, 3, 17}) {
    Fixture f(5000 + groups, groups, 100 + groups);
    std::vector<double> c = f.Configs(groups);
    f.Check(c, KRun(f.t.t, "groupby_agg", c), groups);
  }
}

// The CPU pass has several ways to one answer: f64 columns read in place
// or other types converted; 4 interleaved accumulator copies (<= 256
// groups: row i into copy i % 4, merged at the end) or one; every op's own
// loop; tails of rows not a multiple of 4; the next block prefetched.
// Counts exact; min and max exact, signed zeros included (the first of
// equal values, as the plain loop keeps it); sums within the bound of one
// recursive sum, (n - 1) * 2^-53 * sum |v|, of a long double sum; and a
// config alone gives the bits it gives in the batch. Each through the
// AVX-512 row loop (where the CPU has AVX-512 F/DQ/VL), the AVX2 one
// (GPUDF_NO_AVX512=1, where it has AVX2) and the SSE2 one (GPUDF_NO_AVX2=1),
// which must also give each other's bits: the same additions in the same
// order.
TEST(KGroupbyAgg, EveryWayThroughTheCpuPassGivesTheReference) {
  const int64_t n = 3 * 2048 + 7;
  std::mt19937_64 rng(77);
  std::vector<double> first_mode;  // results of the first mode, per groups in turn
  size_t at = 0;
  for (const char *path : {"avx512", "avx2", "sse2"}) {
    setenv("GPUDF_NO_AVX512", *path == 'a' && path[3] == '5' ? "0" : "1", 1);
    setenv("GPUDF_NO_AVX2", *path == 's' ? "1" : "0", 1);
    rng.seed(77);
    std::uniform_int_distribution<int> small(-5, 5), pct(0, 99);
    std::normal_distribution<double> val(0.0, 1.0);
    for (int groups : {1, 3, 64, 256, 257, 3000}) {
      std::uniform_int_distribution<int> key(-1, groups);
      std::vector<double> x, v;
      std::vector<float> xf, vf;
      std::vector<int32_t> vi, k32;
      for (int64_t i = 0; i < n; i++) {
        x.push_back(pct(rng) < 5 ? kNaN : small(rng) + 0.1);
        int kind = pct(rng);
        // Large values of both signs cancel: the sums' rounding shows.
        double d = kind < 5 ? kNaN : kind < 10 ? 0.0 : kind < 15 ? -0.0
                 : kind < 40 ? val(rng) * 1e10 : val(rng);
        v.push_back(d);
        xf.push_back((float)x.back());
        vf.push_back((float)d);
        vi.push_back(std::isnan(d) ? 0 : (int32_t)std::fmod(std::round(d), 1e9));
        k32.push_back(key(rng));
      }
      Table t(n);
      int cx = t.Add("x", GPUDF_TYPE_F64, x), cv = t.Add("v", GPUDF_TYPE_F64, v);
      int cxf = t.Add("xf", GPUDF_TYPE_F32, xf), cvf = t.Add("vf", GPUDF_TYPE_F32, vf);
      int cvi = t.Add("vi", GPUDF_TYPE_I32, vi), ck = t.Add("k", GPUDF_TYPE_I32, k32);
      std::vector<double> xfd(xf.begin(), xf.end()), vfd(vf.begin(), vf.end());
      std::vector<double> vid(vi.begin(), vi.end());
      auto column = [&](int c) -> const std::vector<double> & {
        return c == cx ? x : c == cv ? v : c == cxf ? xfd : c == cvf ? vfd : vid;
      };
      std::vector<double> c;
      int j = 0;
      for (int col : {cv, cvf, cvi})
        for (int op = kAll; op <= kBetween; op++, j++) {
          int fcol = j % 2 ? cxf : cx;
          double lo = op == kBetween ? -2.9 : j % 5 - 2 + 0.1;  // on x's grid: ties
          c.insert(c.end(), {(double)fcol, (double)op, lo, 2.1, (double)ck, (double)col,
                             (double)groups});
        }
      std::vector<double> got = KRun(t.t, "groupby_agg", c);
      ASSERT_EQ(c.size() / 7 * 5 * groups, got.size());
      for (size_t i = 0; i < got.size(); i++, at++) {
        if (path == std::string("avx512")) {
          first_mode.push_back(got[i]);
          continue;
        }
        ASSERT_TRUE(Same(first_mode[at], got[i]) &&
                    std::signbit(first_mode[at]) == std::signbit(got[i]))
            << "groups " << groups << " result " << i << ": " << first_mode[at]
            << " (AVX-512 where the CPU has it), " << got[i] << " (" << path << ")";
      }
      for (size_t q = 0; q < c.size() / 7; q++) {
        const double *p = &c[q * 7];
        const std::vector<double> &xs = column((int)p[0]), &vs = column((int)p[5]);
        double flo = p[0] == cxf ? (double)(float)p[2] : p[2];
        double fhi = p[0] == cxf ? (double)(float)p[3] : p[3];
        std::vector<double> one(c.begin() + q * 7, c.begin() + (q + 1) * 7);
        std::vector<double> alone = KRun(t.t, "groupby_agg", one);
        for (int g = 0; g < groups; g++) {
          double cnt = 0, mn = 0, mx = 0, mag = 0;
          long double sum = 0;
          for (int64_t i = 0; i < n; i++) {
            if (k32[i] != g || std::isnan(vs[i]) || !Pass((int)p[1], xs[i], flo, fhi)) continue;
            if (cnt == 0 || vs[i] < mn) mn = vs[i];
            if (cnt == 0 || vs[i] > mx) mx = vs[i];
            cnt++, sum += vs[i], mag += std::fabs(vs[i]);
          }
          const double *r = &got[(q * groups + g) * 5];
          std::string where = "groups " + std::to_string(groups) + ", config " +
                              std::to_string(q) + ", group " + std::to_string(g);
          ASSERT_EQ(cnt, r[0]) << where;
          double bound = (cnt > 1 ? cnt - 1 : 0) * 0x1p-53 * mag;
          ASSERT_LE(std::fabs((double)(sum - (long double)r[1])), bound) << where;
          if (cnt > 0) {
            ASSERT_EQ(mn, r[3]) << where;
            ASSERT_EQ(std::signbit(mn), std::signbit(r[3])) << where << ": min's sign";
            ASSERT_EQ(mx, r[4]) << where;
            ASSERT_EQ(std::signbit(mx), std::signbit(r[4])) << where << ": max's sign";
          }
          for (int f = 0; f < 5; f++) {
            ASSERT_TRUE(Same(r[f], alone[g * 5 + f])) << where << " field " << f << " alone";
            if (f >= 3) {
              ASSERT_EQ(std::signbit(r[f]), std::signbit(alone[g * 5 + f])) << where;
            }
          }
        }
      }
    }
    at = 0;
  }
  unsetenv("GPUDF_NO_AVX2");
  unsetenv("GPUDF_NO_AVX512");
}

// Six or more consecutive configs over the same three columns accumulate
// per (filter bucket, group) once per row, each config merging the buckets
// its filter passes: counts, min and max exactly the reference's (signed
// zeros included), sums within one recursive sum's bound of a long double
// sum. Thresholds: ties with x, -0.0 and 0.0, infinities, a cluster (the
// binary search), evenly spread (the guide); an f32 filter column; NaN and
// infinite filter values; keys outside [0, groups).
TEST(KGroupbyAgg, LongRunsOfConfigsMergeFilterBucketsAsTheReference) {
  const int64_t n = 2 * 2048 + 5;
  std::mt19937_64 rng(13);
  std::uniform_int_distribution<int> small(-6, 6), pct(0, 99);
  std::normal_distribution<double> val(0.0, 1.0);
  const double inf = INFINITY;
  const std::vector<std::vector<double>> sets = {
      {-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5},
      {0.0, -0.0, 1, 1, 2.5, -3},
      {1, -inf, inf, 0.5, -2, 3},
      {1, 1.0000001, 1.0000002, 1.0000003, 1.0000004, 1.0000005, 1.0000006, 2},
  };
  for (int groups : {3, 64, 300}) {
    std::uniform_int_distribution<int> key(-1, groups);
    std::vector<double> x, v;
    std::vector<float> xf;
    std::vector<int32_t> k32;
    for (int64_t i = 0; i < n; i++) {
      int kind = pct(rng);
      x.push_back(kind < 5 ? kNaN : kind < 10 ? -0.0 : kind < 12 ? inf : small(rng) * 0.5);
      xf.push_back((float)x.back());
      kind = pct(rng);
      v.push_back(kind < 5 ? kNaN : kind < 10 ? 0.0 : kind < 15 ? -0.0
                  : kind < 40 ? val(rng) * 1e10 : val(rng));
      k32.push_back(key(rng));
    }
    Table t(n);
    int cx = t.Add("x", GPUDF_TYPE_F64, x), cxf = t.Add("xf", GPUDF_TYPE_F32, xf);
    int cv = t.Add("v", GPUDF_TYPE_F64, v), ck = t.Add("k", GPUDF_TYPE_I32, k32);
    std::vector<double> xfd(xf.begin(), xf.end());
    for (int fcol : {cx, cxf})
      for (const auto &th : sets) {
        std::vector<double> c;
        for (size_t j = 0; j < th.size(); j++)
          for (int op = kAll; op <= kBetween; op++) {
            double lo = th[j], hi = th[(j + 3) % th.size()];
            if (op == kBetween && lo > hi) std::swap(lo, hi);
            c.insert(c.end(), {(double)fcol, (double)op, lo, hi, (double)ck, (double)cv,
                               (double)groups});
          }
        std::vector<double> got = KRun(t.t, "groupby_agg", c);
        ASSERT_EQ(c.size() / 7 * 5 * groups, got.size());
        const std::vector<double> &xs = fcol == cxf ? xfd : x;
        for (size_t q = 0; q < c.size() / 7; q++) {
          const double *p = &c[q * 7];
          double flo = fcol == cxf ? (double)(float)p[2] : p[2];
          double fhi = fcol == cxf ? (double)(float)p[3] : p[3];
          for (int g = 0; g < groups; g++) {
            double cnt = 0, mn = 0, mx = 0, mag = 0;
            long double sum = 0;
            for (int64_t i = 0; i < n; i++) {
              if (k32[i] != g || std::isnan(v[i]) || !Pass((int)p[1], xs[i], flo, fhi)) continue;
              if (cnt == 0 || v[i] < mn) mn = v[i];
              if (cnt == 0 || v[i] > mx) mx = v[i];
              cnt++, sum += v[i], mag += std::fabs(v[i]);
            }
            const double *r = &got[(q * groups + g) * 5];
            std::string where = "groups " + std::to_string(groups) + ", op " +
                                std::to_string((int)p[1]) + " lo " + std::to_string(p[2]) +
                                ", group " + std::to_string(g);
            ASSERT_EQ(cnt, r[0]) << where;
            double bound = (cnt > 1 ? cnt - 1 : 0) * 0x1p-53 * mag;
            ASSERT_LE(std::fabs((double)(sum - (long double)r[1])), bound) << where;
            if (cnt == 0) continue;
            ASSERT_EQ(mn, r[3]) << where;
            ASSERT_EQ(std::signbit(mn), std::signbit(r[3])) << where << ": min's sign";
            ASSERT_EQ(mx, r[4]) << where;
            ASSERT_EQ(std::signbit(mx), std::signbit(r[4])) << where << ": max's sign";
          }
        }
      }
  }
}

// min and max of equal values keep the first in row order, as the plain
// loop does; only a zero's sign shows it. Rows of a group go to different
// accumulator copies (row i to copy i % 4 for <= 256 groups) or filter
// buckets (runs of 6+ configs), whose merge cannot see the order: zeros of
// both signs there send the kernel back to the rows.
TEST(KGroupbyAgg, ZeroOfEitherSignIsTheFirstInRowOrder) {
  // Group 0: +0 then -0; group 1: -0 then +0; group 2: 1, -0, +0, 5.
  std::vector<double> v = {0.0, -0.0, -0.0, 0.0, 1.0, -0.0, 0.0, 5.0, 0.0, -0.0};
  std::vector<int32_t> k = {0, 0, 1, 1, 2, 2, 2, 2, 1, 0};
  std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // filter values: buckets
  Table t((int64_t)v.size());
  int cv = t.Add("v", GPUDF_TYPE_F64, v), ck = t.Add("k", GPUDF_TYPE_I32, k);
  int cx = t.Add("x", GPUDF_TYPE_F64, x);
  for (int groups : {3, 300}) {
    for (int nconf : {1, 8}) {
      std::vector<double> c;
      for (int j = 0; j < nconf; j++)
        c.insert(c.end(), {(double)cx, j == 0 ? (double)kAll : (double)kGe, -1.0 - j, 0,
                           (double)ck, (double)cv, (double)groups});
      std::vector<double> r = KRun(t.t, "groupby_agg", c);
      ASSERT_EQ((size_t)(nconf * groups * 5), r.size());
      for (int j = 0; j < nconf; j++) {
        const double *g = &r[(size_t)j * groups * 5];
        std::string where = std::to_string(groups) + " groups, config " + std::to_string(j) +
                            " of " + std::to_string(nconf);
        EXPECT_FALSE(std::signbit(g[0 * 5 + 3])) << where << ": group 0 min is +0";
        EXPECT_FALSE(std::signbit(g[0 * 5 + 4])) << where << ": group 0 max is +0";
        EXPECT_TRUE(std::signbit(g[1 * 5 + 3])) << where << ": group 1 min is -0";
        EXPECT_TRUE(std::signbit(g[1 * 5 + 4])) << where << ": group 1 max is -0";
        EXPECT_TRUE(std::signbit(g[2 * 5 + 3])) << where << ": group 2 min is -0";
        EXPECT_EQ(5.0, g[2 * 5 + 4]) << where;
      }
    }
  }
}

// The same through filter buckets that split a group's rows (a run of 8
// configs whose thresholds fall between the rows' filter values) and through
// the accumulator copies (a config alone), for groups past the first five
// (each zero lands in its own group's results). Every value here is a zero:
// a group's min and max are the first passing zero in row order.
TEST(KGroupbyAgg, ZeroOfEitherSignAcrossFilterBucketsAndLaterGroups) {
  std::vector<double> x, v;
  std::vector<int32_t> k;
  // (filter value, value, key): groups 5 to 8 hold zeros of both signs, and
  // in groups 5 and 8 the first zero in row order has the higher filter
  // value (a later bucket).
  const double rows[][3] = {{1, 0.0, 7},  {2, -0.0, 7}, {9, -0.0, 8},  {3, 0.0, 8},
                            {5, 2.0, 0},  {6, -0.0, 6}, {7, 0.0, 6},   {4, 0.0, 8},
                            {11, -0.0, 7}, {10, 0.0, 5}, {8, -0.0, 5}, {12, 0.0, 7}};
  for (const auto &r : rows) x.push_back(r[0]), v.push_back(r[1]), k.push_back((int32_t)r[2]);
  Table t((int64_t)v.size());
  int cv = t.Add("v", GPUDF_TYPE_F64, v), ck = t.Add("k", GPUDF_TYPE_I32, k);
  int cx = t.Add("x", GPUDF_TYPE_F64, x);
  for (int groups : {9, 300}) {
    std::vector<double> c;
    for (int j = 0; j < 8; j++)
      c.insert(c.end(), {(double)cx, (double)kGe, 0.5 + 1.5 * j, 0, (double)ck, (double)cv,
                         (double)groups});
    std::vector<double> batch = KRun(t.t, "groupby_agg", c);
    ASSERT_EQ((size_t)(8 * groups * 5), batch.size());
    for (int j = 0; j < 8; j++) {
      std::vector<double> one(c.begin() + j * 7, c.begin() + (j + 1) * 7);
      std::vector<double> alone = KRun(t.t, "groupby_agg", one);
      ASSERT_EQ((size_t)(groups * 5), alone.size());
      for (int g = 5; g <= 8; g++) {
        double first = kNaN;  // the first passing zero of group g
        for (size_t i = 0; i < v.size() && std::isnan(first); i++)
          if (k[i] == g && x[i] >= c[j * 7 + 2] && v[i] == 0.0) first = v[i];
        for (const double *r : {&batch[((size_t)j * groups + g) * 5], &alone[(size_t)g * 5]}) {
          std::string where = std::to_string(groups) + " groups, config " + std::to_string(j) +
                              (r == &alone[(size_t)g * 5] ? " alone" : " in the run") +
                              ", group " + std::to_string(g);
          if (std::isnan(first)) {
            EXPECT_EQ(0.0, r[0]) << where;
            continue;
          }
          EXPECT_EQ(0.0, r[3]) << where;
          EXPECT_EQ(std::signbit(first), std::signbit(r[3])) << where << ": min's sign";
          EXPECT_EQ(0.0, r[4]) << where;
          EXPECT_EQ(std::signbit(first), std::signbit(r[4])) << where << ": max's sign";
        }
      }
    }
  }
}

// A group's sum is added in the documented order (docs/guide.md): up to 256
// groups, row i into copy i % 4 (i counted from the table's first row), each
// copy in row order, then ((s0 + s1) + s2) + s3; with more groups in row
// order. The values (of both signs, magnitudes 1 to 2^61) round
// differently in the two orders, so the exact bits tell them apart; through
// the AVX-512 and AVX2 loops where the CPU has them (GPUDF_NO_AVX512=1 for
// AVX2), the SSE2 one (GPUDF_NO_AVX2=1) and the scalar tail (rows not a
// multiple of 8), and over two blocks of rows.
TEST(KGroupbyAgg, SumsAreAddedInTheDocumentedOrder) {
  const int64_t n = 2 * 2048 + 11;
  std::mt19937_64 rng(31);
  std::uniform_int_distribution<int> pct(0, 99), scale(0, 60);
  std::uniform_real_distribution<double> mant(1.0, 2.0);
  std::vector<double> x(n, 1.0), v;
  for (int64_t i = 0; i < n; i++)
    v.push_back(pct(rng) < 3 ? kNaN : (pct(rng) < 50 ? -1 : 1) * std::ldexp(mant(rng), scale(rng)));
  for (const char *path : {"avx512", "avx2", "sse2"}) {
    setenv("GPUDF_NO_AVX512", *path == 'a' && path[3] == '5' ? "0" : "1", 1);
    setenv("GPUDF_NO_AVX2", *path == 's' ? "1" : "0", 1);
    for (int groups : {1, 2, 256, 257}) {
      std::uniform_int_distribution<int> key(0, groups - 1);
      std::vector<int32_t> k;
      for (int64_t i = 0; i < n; i++) k.push_back(key(rng));
      Table t(n);
      int cx = t.Add("x", GPUDF_TYPE_F64, x), cv = t.Add("v", GPUDF_TYPE_F64, v);
      int ck = t.Add("k", GPUDF_TYPE_I32, k);
      for (int op : {kAll, kGt}) {
        std::vector<double> c = {(double)cx, (double)op, 0.0, 0, (double)ck, (double)cv,
                                 (double)groups};
        std::vector<double> got = KRun(t.t, "groupby_agg", c);
        ASSERT_EQ((size_t)(groups * 5), got.size());
        int differ = 0;
        for (int g = 0; g < groups; g++) {
          double copy[4] = {0, 0, 0, 0}, rows = 0;
          for (int64_t i = 0; i < n; i++)
            if (k[i] == g && !std::isnan(v[i])) copy[i % 4] += v[i], rows += v[i];
          double copies = ((copy[0] + copy[1]) + copy[2]) + copy[3];
          double want = groups <= 256 ? copies : rows, other = groups <= 256 ? rows : copies;
          differ += want != other;
          ASSERT_EQ(want, got[g * 5 + 1])
              << groups << " groups, op " << op << ", " << path << ", group "
              << g << " (the other order: " << other << ")";
        }
        EXPECT_GT(differ, 0) << groups << " groups: the data does not tell the orders apart";
      }
    }
  }
  unsetenv("GPUDF_NO_AVX2");
  unsetenv("GPUDF_NO_AVX512");
}

// The one-config loops take 32 rows a turn (four steps of eight), then eight
// at a time, then the scalar tail of a block: tables whose last block ends
// in each of these (and blocks of 2048 before it), through the AVX-512, AVX2
// and SSE2 paths, with keys at the edges of [0, groups) and outside it
// (INT32_MIN and MAX too), NaN values, zeros of both signs, groups left
// empty, and a filter that some rows fail. Every result is the plain loop's
// over the rows: counts, min and max (their signs included) exactly, sums
// bit for bit in the documented order (row i into copy i % 4 up to 256
// groups, else row order).
TEST(KGroupbyAgg, EveryStepOfTheRowLoopsGivesTheDocumentedBits) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  for (const char *path : {"avx512", "avx2", "sse2"}) {
    setenv("GPUDF_NO_AVX512", *path == 'a' && path[3] == '5' ? "0" : "1", 1);
    setenv("GPUDF_NO_AVX2", *path == 's' ? "1" : "0", 1);
    // last block: 3 turns + 2 steps + 5 rows; one turn; 5 steps; a step and
    // 7 rows; a turn and a step; tails alone
    for (int64_t n : {(int64_t)2048 + 117, (int64_t)32, (int64_t)40, (int64_t)2 * 2048 + 15,
                      (int64_t)2048 + 40, (int64_t)7, (int64_t)2048})
      for (int groups : {64, 257, 4096}) {
        std::mt19937_64 rng(1000 * n + groups);
        std::uniform_int_distribution<int> pct(0, 99), scale(0, 50);
        std::uniform_int_distribution<int> key(0, groups - 1), high(groups / 2, groups - 1);
        std::uniform_real_distribution<double> mant(1.0, 2.0);
        std::vector<double> x, v;
        std::vector<int32_t> k;
        for (int64_t i = 0; i < n; i++) {
          int kind = pct(rng);
          v.push_back(kind < 5 ? kNaN : kind < 10 ? 0.0 : kind < 15 ? -0.0
                      : (pct(rng) < 50 ? -1 : 1) * std::ldexp(mant(rng), scale(rng)));
          int edge = pct(rng);
          // groups / 2 .. groups - 1 only: the lower half stays empty, but
          // for the edge keys 0 and groups - 1
          k.push_back(edge < 4 ? 0 : edge < 8 ? groups - 1 : edge < 11 ? groups
                      : edge < 13 ? -1 : edge < 14 ? kMin : edge < 15 ? kMax
                      : groups == 64 ? key(rng) : high(rng));
          x.push_back(pct(rng) < 10 ? -1.0 : 1.0);
        }
        Table t(n);
        int cx = t.Add("x", GPUDF_TYPE_F64, x), cv = t.Add("v", GPUDF_TYPE_F64, v);
        int ck = t.Add("k", GPUDF_TYPE_I32, k);
        std::vector<double> c = {(double)cx, (double)kGt, 0.0, 0.0, (double)ck, (double)cv,
                                 (double)groups};
        std::vector<double> got = KRun(t.t, "groupby_agg", c);
        ASSERT_EQ((size_t)groups * 5, got.size());
        int empty = 0;
        for (int g = 0; g < groups; g++) {
          double cnt = 0, mn = 0, mx = 0, rows = 0, copy[4] = {0, 0, 0, 0};
          for (int64_t i = 0; i < n; i++) {
            if (k[i] != g || std::isnan(v[i]) || !(x[i] > 0.0)) continue;
            if (cnt == 0 || v[i] < mn) mn = v[i];
            if (cnt == 0 || v[i] > mx) mx = v[i];
            cnt++, rows += v[i], copy[i % 4] += v[i];
          }
          double sum = groups <= 256 ? ((copy[0] + copy[1]) + copy[2]) + copy[3] : rows;
          const double *r = &got[g * 5];
          std::string where = std::string(path) + ", " + std::to_string(n) + " rows, " +
                              std::to_string(groups) + " groups, group " + std::to_string(g);
          ASSERT_EQ(cnt, r[0]) << where;
          ASSERT_EQ(sum, r[1]) << where;
          ASSERT_TRUE(Same(cnt ? sum / cnt : kNaN, r[2])) << where;
          ASSERT_TRUE(Same(cnt ? mn : kNaN, r[3])) << where;
          ASSERT_TRUE(Same(cnt ? mx : kNaN, r[4])) << where;
          if (cnt) {
            ASSERT_EQ(std::signbit(mn), std::signbit(r[3])) << where << ": min's sign";
            ASSERT_EQ(std::signbit(mx), std::signbit(r[4])) << where << ": max's sign";
          }
          empty += cnt == 0;
        }
        if (n >= 2048 && groups > 64) {
          EXPECT_GT(empty, 0) << "no empty group";
        }
      }
  }
  unsetenv("GPUDF_NO_AVX2");
  unsetenv("GPUDF_NO_AVX512");
}

// What `gpudf-sweep --describe` and gpudf.describe() tell a user, and the
// defaults a config or grid gets for what it does not say (one group).
TEST(KGroupbyAgg, TheDescriptionIsTheDocumentedOne) {
  const double inf = INFINITY;
  ExpectDescription(
      "groupby_agg",
      {{"filter_col", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, 0, GPUDF_ACCEPT_ANY, {"filter_agg"}},
       {"op", GPUDF_PARAM_CHOICE, 0, 0, 7, 8, 0, 0, {"all lt le gt ge eq ne between"}},
       {"lo", GPUDF_PARAM_REAL, 0, -inf, inf, 0, 0, 0, {"threshold", "between"}},
       {"hi", GPUDF_PARAM_REAL, 0, -inf, inf, 0, 0, 0, {"upper bound", "between"}},
       {"key_col", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, 0,
        GPUDF_ACCEPT_INTEGERS | GPUDF_ACCEPT_CATEGORICAL,
        {"i32, i64, bool, categorical codes", "group", "[0, groups)", "ignored"}},
       {"value_col", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, 0, GPUDF_ACCEPT_NUMERIC, {"NaN"}},
       {"groups", GPUDF_PARAM_INTEGER, 1, 1, GPUDF_GROUPS_MAX, 0, 1, 0, {"groups", "shape"}}});
}

TEST(KGroupbyAgg, BatchOfOneEqualsTheBatch) {
  Fixture f(3001, 7, 7);
  std::vector<double> c = f.Configs(7);
  std::vector<double> all = KRun(f.t.t, "groupby_agg", c);
  for (size_t k = 0; k < c.size() / 7; k++) {
    std::vector<double> one(c.begin() + k * 7, c.begin() + (k + 1) * 7);
    std::vector<double> r = KRun(f.t.t, "groupby_agg", one);
    for (size_t i = 0; i < r.size(); i++) EXPECT_TRUE(Same(r[i], all[k * 35 + i]));
  }
}

TEST(KGroupbyAgg, EmptySelectionAndEmptyGroups) {
  Fixture f(1000, 4, 3);
  // lt -1e9 passes nothing: every group count 0, sum 0, the rest NaN.
  std::vector<double> c = {(double)f.cx, kLt, -1e9, 0, (double)f.ck32, (double)f.cv, 4};
  std::vector<double> r = KRun(f.t.t, "groupby_agg", c);
  ASSERT_EQ(20u, r.size());
  for (int g = 0; g < 4; g++) {
    EXPECT_EQ(0.0, r[g * 5]);
    EXPECT_EQ(0.0, r[g * 5 + 1]);
    for (int j = 2; j < 5; j++) EXPECT_TRUE(std::isnan(r[g * 5 + j]));
  }
}

TEST(KGroupbyAgg, ManyGroupsAndManyConfigs) {
  Fixture f(10000, 1000, 11);
  std::vector<double> c;
  for (int i = 0; i < 20; i++)
    c.insert(c.end(), {(double)f.cx, (double)(i % 8), -3.0 + i % 5, 3.0, (double)f.ck32,
                       (double)f.cv, 1000});
  f.Check(c, KRun(f.t.t, "groupby_agg", c), 1000);
}

TEST(KGroupbyAgg, InfinitiesDecideSumAndMeanWhateverTheOrder) {
  // A group holding -inf sums to -inf, one holding +inf to +inf, one holding
  // both to NaN, as the long double sum here says; 1e308 + 1e308 overflowing
  // to +inf before the -inf came gave NaN. Rows in shuffled orders.
  std::mt19937_64 rng(std::random_device{}());
  const double inf = INFINITY, big = 1e308;
  std::vector<std::vector<double>> groups = {
      {big, big, -inf, 1}, {-big, -big, inf, 2}, {inf, -inf, 3, big}, {1, 2.5, -7}, {inf}};
  for (int rep = 0; rep < 20; rep++) {
    std::vector<std::pair<int32_t, double>> rows;
    for (int32_t g = 0; g < (int32_t)groups.size(); g++)
      for (double v : groups[g]) rows.push_back({g, v});
    if (rep > 0) std::shuffle(rows.begin(), rows.end(), rng);
    std::vector<int32_t> key;
    std::vector<double> v;
    for (auto &r : rows) key.push_back(r.first), v.push_back(r.second);
    Table t((int64_t)rows.size());
    int cv = t.Add("v", GPUDF_TYPE_F64, v), ck = t.Add("k", GPUDF_TYPE_I32, key);
    std::vector<double> r =
        KRun(t.t, "groupby_agg", {(double)cv, kAll, 0, 0, (double)ck, (double)cv, 5});
    ASSERT_EQ(25u, r.size());
    for (size_t g = 0; g < groups.size(); g++) {
      long double sum = 0;
      for (double x : groups[g]) sum += x;
      double want = (double)sum, mean = (double)(sum / groups[g].size());
      EXPECT_TRUE(Same(want, r[g * 5 + 1])) << "group " << g << ": " << r[g * 5 + 1] << " want " << want;
      EXPECT_TRUE(Same(mean, r[g * 5 + 2])) << "group " << g << ": " << r[g * 5 + 2] << " want " << mean;
    }
  }
}

TEST(KGroupbyAgg, ResultNamesFollowTheGroups) {
  const gpudf_kernel *k = Kernel("groupby_agg");
  double c[7] = {0, 0, 0, 0, 0, 0, 3};
  EXPECT_EQ(15, gpudf_kernel_nresults(k, c));
  gpudf_result_info info;
  ASSERT_EQ(GPUDF_OK, gpudf_kernel_result(k, c, 12, &info));
  EXPECT_STREQ("mean_2", info.name);
}

TEST(KGroupbyAgg, ValidationNamesTheParameter) {
  Fixture f(100, 2, 1);
  std::string msg;
  std::vector<double> c = {(double)f.cx, 0, 0, 0, (double)f.cv, (double)f.cv, 2};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "groupby_agg", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'key_col' = 1")) << msg;
  EXPECT_NE(std::string::npos, msg.find("f64")) << msg;
  c = {(double)f.cx, 0, 0, 0, (double)f.ck32, (double)f.cv, GPUDF_GROUPS_MAX + 1.0};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "groupby_agg", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'groups' = 65537")) << msg;
  c = {(double)f.cx, kBetween, 2, 1, (double)f.ck32, (double)f.cv, 2};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "groupby_agg", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("'lo' = 2")) << msg;
  // groups is a shape parameter: one value per batch.
  c = {(double)f.cx, 0, 0, 0, (double)f.ck32, (double)f.cv, 2,
       (double)f.cx, 0, 0, 0, (double)f.ck32, (double)f.cv, 3};
  EXPECT_EQ(GPUDF_EINVAL, RunStatus(f.t.t, "groupby_agg", c, &msg));
  EXPECT_NE(std::string::npos, msg.find("shape")) << msg;
}

TEST(KGroupbyAgg, RunsOnTheSimulatedDevice) {
  SimulatedDevice sim;
  Fixture f(4000, 5, 21);
  std::vector<double> c = f.Configs(5);
  std::vector<double> cpu = KRun(f.t.t, "groupby_agg", c);
  std::string why;
  ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  ASSERT_EQ(GPUDF_BACKEND_CUDA_IPC, gpudf_table_backend(f.t.t));
  std::vector<double> dev = KRun(f.t.t, "groupby_agg", c);
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); i++) EXPECT_TRUE(Same(cpu[i], dev[i])) << i;
}

TEST(KGroupbyAggGpu, MatchesTheCpu) {
  K_SKIP_WITHOUT_CUDA();
  for (int groups : {1, 9, 3000}) {
    Fixture f(300000, groups, 31 + groups);
    std::vector<double> c = f.Configs(groups);
    std::vector<double> cpu = KRun(f.t.t, "groupby_agg", c);
    std::string why;
    ASSERT_TRUE(f.t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
    f.Check(c, KRun(f.t.t, "groupby_agg", c), groups);
    ExpectGroups(cpu, KRun(f.t.t, "groupby_agg", c).data(), 1e6);
  }
}

}  // namespace
