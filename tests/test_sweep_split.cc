// test_sweep_split.cc - row-split sweeps (docs/sweep.md, "Row-split
// sweeps"): the rows of one pass split into ranges that run as separate
// tasks, their partial states merged by the owner. Counts, min and max are
// bit-identical to an unsplit run and to a long double reference (the +0/-0
// tie keeps the row that comes first), sums within the documented bound, on
// random and adversarial values (infinities, 1e308 overflow, +-0, NaN,
// empty ranges, ranges where no row passes). GPUDF_SWEEP_SPLIT forces a
// number of ranges; a worker's `batches` counts the ranges it ran.
#include <malloc.h>

#include <cfloat>
#include <cstring>

#include "sweep_support.h"

namespace {

using namespace sweeptest;

struct Env {
  std::string name, old;
  bool had;
  Env(const char *n, const char *v) : name(n) {
    const char *o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (v) setenv(n, v, 1);
    else unsetenv(n);
  }
  ~Env() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Columns: 0 "f" f64 = the row number (so a filter on it picks row ranges),
// 1 "v" f64 values, 2 "key" i32 in -1..7, 3 "w" f64 1e8 + small noise (std
// needs the shifted means). adversarial: v holds +-inf, +-1e308, +-0 and
// NaN among ordinary values.
struct SplitTable {
  gpudf_table *t = nullptr;
  std::vector<double> f, v, w;
  std::vector<int32_t> key;
  SplitTable(int64_t rows, uint64_t seed, bool adversarial) {
    f.resize(rows), v.resize(rows), w.resize(rows), key.resize(rows);
    for (int64_t i = 0; i < rows; i++) {
      uint64_t r = tg_splitmix(&seed);
      f[i] = (double)i;
      v[i] = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 100.0;
      w[i] = 1e8 + (double)(tg_splitmix(&seed) % 1000) * 1e-6;
      key[i] = (int32_t)(tg_splitmix(&seed) % 9) - 1;
      if (!adversarial) continue;
      switch (tg_splitmix(&seed) % 40) {
      case 0: v[i] = NAN; break;
      case 1: v[i] = 0.0; break;
      case 2: v[i] = -0.0; break;
      case 3: v[i] = 1e308; break;
      case 4: v[i] = -1e308; break;
      default: break;
      }
    }
    // Rare infinities, only in the last quarter (configs over the first
    // rows then see none).
    if (adversarial && rows > 8) {
      v[rows - 3] = INFINITY;
      v[rows * 7 / 8] = -INFINITY;
    }
    EXPECT_EQ(gpudf_table_create(rows, &t), GPUDF_OK);
    EXPECT_EQ(gpudf_table_add_column(t, "f", GPUDF_TYPE_F64, f.data()), GPUDF_OK);
    EXPECT_EQ(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v.data()), GPUDF_OK);
    EXPECT_EQ(gpudf_table_add_column(t, "key", GPUDF_TYPE_I32, key.data()), GPUDF_OK);
    EXPECT_EQ(gpudf_table_add_column(t, "w", GPUDF_TYPE_F64, w.data()), GPUDF_OK);
  }
  ~SplitTable() { gpudf_table_free(t); }
  int64_t rows() const { return (int64_t)f.size(); }
};

const gpudf_kernel *K(const char *name) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find(name, &k), GPUDF_OK);
  return k;
}

// A sweep in this process with GPUDF_SWEEP_SPLIT=ranges; returns the
// batches (ranges) run.
int64_t SplitSweep(gpudf_table *t, const gpudf_kernel *k, const std::vector<double> &cfg,
                   std::vector<double> &res, const char *ranges, int workers = 0) {
  Env split("GPUDF_SWEEP_SPLIT", ranges);
  int64_t n = (int64_t)(cfg.size() / (size_t)gpudf_kernel_nparams(k));
  res.assign((size_t)n * (size_t)gpudf_kernel_nresults(k, cfg.data()), -1.0);
  auto o = Options(workers);
  Result r;
  EXPECT_EQ(gpudf_sweep(t, k, cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK) << Err();
  if (!r.r) return -1;
  EXPECT_EQ(r.Report().done, n);
  return BatchesOf(r.r);
}

// filter_agg configs over f (the row number) and value column vcol: all
// rows, only the first quarter, only the last tenth, a window inside one
// range, none, and random thresholds.
std::vector<double> FaConfigs(int64_t rows, int vcol, uint64_t seed, int random) {
  double q = (double)rows;
  std::vector<double> c = {0, 0, 0, 0, (double)vcol,          // all
                           0, 1, q / 4, 0, (double)vcol,      // f < rows/4
                           0, 3, q * 0.9, 0, (double)vcol,    // f > 0.9 rows
                           0, 7, q / 3, q / 3 + 5, (double)vcol,  // a window of 6 rows
                           0, 1, -1, 0, (double)vcol,          // nothing passes
                           0, 5, q / 2, 0, (double)vcol};      // one row
  for (int i = 0; i < random; i++) {
    double lo = (double)(tg_splitmix(&seed) % (uint64_t)(rows + 1));
    c.insert(c.end(), {0, 1 + (double)(tg_splitmix(&seed) % 7), lo, lo + q / 5, (double)vcol});
  }
  return c;
}

bool Passes(int op, double x, double lo, double hi) {
  switch (op) {
  case 1: return x < lo;
  case 2: return x <= lo;
  case 3: return x > lo;
  case 4: return x >= lo;
  case 5: return x == lo;
  case 6: return x != lo;
  case 7: return lo <= x && x <= hi;
  default: return true;
  }
}

// The long double reference of one filter_agg config: count, sum (exact
// for these magnitudes in long double's range), min and max with the first
// row's zero on a tie, mean, sample std (two passes).
struct FaRef {
  int64_t n = 0;
  long double sum = 0, abs = 0;
  double min = NAN, max = NAN;
  bool pinf = false, ninf = false;
  double mean = NAN, std = NAN;
};

FaRef Reference(const SplitTable &tb, const double *c) {
  FaRef r;
  const std::vector<double> &x = tb.f, &v = c[4] == 1 ? tb.v : tb.w;
  std::vector<double> kept;
  for (int64_t i = 0; i < tb.rows(); i++) {
    if (!Passes((int)c[1], x[i], c[2], c[3]) || std::isnan(v[i])) continue;
    if (r.n == 0 || v[i] < r.min) r.min = v[i];
    if (r.n == 0 || v[i] > r.max) r.max = v[i];
    r.n++;
    r.pinf |= v[i] == INFINITY;
    r.ninf |= v[i] == -INFINITY;
    if (std::isfinite(v[i])) r.sum += v[i], r.abs += std::fabs((long double)v[i]), kept.push_back(v[i]);
  }
  if (r.n > 0 && !r.pinf && !r.ninf) {
    long double m = r.sum / (long double)r.n, m2 = 0;
    for (double d : kept) m2 += ((long double)d - m) * ((long double)d - m);
    r.mean = (double)m;
    if (r.n > 1) r.std = (double)sqrtl(m2 / (long double)(r.n - 1));
  }
  return r;
}

// Checks one split result row against the unsplit row and the reference.
// The documented bound for sums: |sum - exact| <= 2^-50 x (sum of |v|), so
// (rows + ranges) x 2^-53 with room for the blocks' order; 1e308 values
// whose exact sum is beyond the double range give +-inf as unsplit.
void ExpectFa(const SplitTable &tb, const double *c, const double *got, const double *one,
              const std::string &at) {
  FaRef r = Reference(tb, c);
  EXPECT_EQ(got[0], (double)r.n) << at;
  EXPECT_TRUE(SameBits(got[0], one[0])) << at;
  EXPECT_TRUE(SameBits(got[3], one[3])) << at << " min " << got[3] << " unsplit " << one[3];
  EXPECT_TRUE(SameBits(got[4], one[4])) << at << " max " << got[4] << " unsplit " << one[4];
  if (r.n == 0) {
    EXPECT_EQ(got[1], 0.0) << at;
    for (int j : {2, 3, 4, 5}) EXPECT_TRUE(std::isnan(got[j])) << at << " field " << j;
    return;
  }
  EXPECT_TRUE(SameBits(got[3], r.min)) << at << " min " << got[3] << " reference " << r.min;
  EXPECT_TRUE(SameBits(got[4], r.max)) << at << " max " << got[4] << " reference " << r.max;
  if (r.pinf || r.ninf) {
    double want = r.pinf && r.ninf ? NAN : r.pinf ? INFINITY : -INFINITY;
    EXPECT_TRUE(SameBits(got[1], want) || (std::isnan(want) && std::isnan(got[1]))) << at;
    EXPECT_TRUE(std::isnan(got[5])) << at;
    return;
  }
  if (std::fabs(r.sum) > (long double)DBL_MAX) {
    EXPECT_EQ(got[1], r.sum > 0 ? INFINITY : -INFINITY) << at;
    return;
  }
  double bound = (double)(r.abs * 0x1p-50L);
  EXPECT_LE(std::fabs((long double)got[1] - r.sum), (long double)bound + 1e-300L)
      << at << " sum " << got[1] << " exact " << (double)r.sum;
  EXPECT_LE(std::fabs(got[2] - r.mean), bound / (double)r.n + 1e-300) << at;
  if (r.n > 1 && r.abs < 1e300L) {
    EXPECT_LE(std::fabs(got[5] - r.std), 1e-9 * r.std + 1e-12) << at << " std " << got[5]
                                                                    << " ref " << r.std;
  }
}

void CheckFilterAgg(const SplitTable &tb, int vcol, const char *ranges, int workers = 0) {
  const gpudf_kernel *k = K("filter_agg");
  auto cfg = FaConfigs(tb.rows(), vcol, 5, 20);
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> one((size_t)n * 6), got;
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, one.data()), GPUDF_OK) << Err();
  int64_t batches = SplitSweep(tb.t, k, cfg, got, ranges, workers);
  EXPECT_EQ(batches, std::atoll(ranges)) << "one pass group: one chunk of " << ranges << " ranges";
  for (int64_t i = 0; i < n; i++)
    ExpectFa(tb, &cfg[i * 5], &got[i * 6], &one[i * 6],
             "config " + std::to_string(i) + ", " + ranges + " ranges");
}

TEST(SweepSplit, FilterAggOverRowRangesMatchesTheUnsplitRunAndALongDoubleReference) {
  SplitTable tb(50000, 3, false);
  for (const char *r : {"2", "3", "7"}) CheckFilterAgg(tb, 1, r);
}

TEST(SweepSplit, FilterAggKeepsInfinitiesOverflowSignedZerosAndNaNAcrossRanges) {
  SplitTable tb(30011, 9, true);
  for (const char *r : {"2", "5", "16"}) CheckFilterAgg(tb, 1, r);
}

TEST(SweepSplit, FilterAggStdOfLargeNearlyEqualValuesMergesWithShiftedMeans) {
  SplitTable tb(20000, 4, false);
  CheckFilterAgg(tb, 3, "6");
}

// More ranges than rows: most ranges are empty, and merge as nothing.
TEST(SweepSplit, EmptyRangesMergeAsNothing) {
  SplitTable tb(40, 6, true);
  CheckFilterAgg(tb, 1, "100");
}

// The overflow rule across ranges: each range's sum of 1e308s overflows,
// the next range's brings it back (exact 1e308), as in one pass.
TEST(SweepSplit, ASumThatOverflowsInOneRangeComesBackInTheNext) {
  std::vector<double> f = {0, 1, 2, 3, 4, 5}, v = {1e308, 1e308, 1e308, -1e308, -1e308, 0.0};
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(6, &t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "f", GPUDF_TYPE_F64, f.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v.data()), GPUDF_OK);
  std::vector<double> cfg = {0, 0, 0, 0, 1}, res;
  EXPECT_EQ(SplitSweep(t, K("filter_agg"), cfg, res, "2"), 2);
  EXPECT_EQ(res[0], 6.0);
  EXPECT_EQ(res[1], 1e308) << "sum";
  EXPECT_EQ(res[3], -1e308);
  EXPECT_EQ(res[4], 1e308);
  gpudf_table_free(t);
}

TEST(SweepSplit, HistogramCountsAreBitIdenticalToTheUnsplitRun) {
  SplitTable tb(40000, 8, true);
  const gpudf_kernel *k = K("histogram");
  double q = (double)tb.rows();
  // filter on f, histogram of v over [-60, 60] with 64 bins.
  std::vector<double> cfg;
  for (double lo : {-1.0, q / 4, q / 2, q * 0.99})
    for (int op : {0, 1, 3}) cfg.insert(cfg.end(), {0, (double)op, lo, 0, 1, 64, -60, 60});
  int64_t n = (int64_t)cfg.size() / 8;
  std::vector<double> one((size_t)n * 66), got;
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, one.data()), GPUDF_OK) << Err();
  for (const char *r : {"2", "9"}) {
    EXPECT_EQ(SplitSweep(tb.t, k, cfg, got, r), std::atoll(r));
    for (int64_t i = 0; i < n; i++) {
      // Independent: under/overflow and the total against a plain loop.
      double under = 0, over = 0, total = 0;
      for (int64_t j = 0; j < tb.rows(); j++) {
        double x = tb.v[j];
        if (!Passes((int)cfg[i * 8 + 1], tb.f[j], cfg[i * 8 + 2], 0) || std::isnan(x)) continue;
        under += x < -60, over += x > 60, total++;
      }
      double sum = 0;
      for (int s = 0; s < 66; s++) {
        EXPECT_TRUE(SameBits(got[i * 66 + s], one[i * 66 + s])) << "config " << i << " slot " << s;
        sum += got[i * 66 + s];
      }
      EXPECT_EQ(got[i * 66 + 64], under) << "config " << i;
      EXPECT_EQ(got[i * 66 + 65], over) << "config " << i;
      EXPECT_EQ(sum, total) << "config " << i;
    }
  }
}

TEST(SweepSplit, GroupbyAggregatesMatchAReferenceWithTheFirstZeroOnATie) {
  SplitTable tb(30000, 12, true);
  const gpudf_kernel *k = K("groupby_agg");
  double q = (double)tb.rows();
  std::vector<double> cfg;
  for (double lo : {-1.0, q / 5, q / 2}) cfg.insert(cfg.end(), {0, 3, lo, 0, 2, 1, 8});
  cfg.insert(cfg.end(), {0, 1, q / 5, 0, 2, 1, 8});  // only the first fifth
  int64_t n = (int64_t)cfg.size() / 7;
  std::vector<double> one((size_t)n * 40), got;
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, one.data()), GPUDF_OK) << Err();
  for (const char *r : {"2", "7"}) {
    EXPECT_EQ(SplitSweep(tb.t, k, cfg, got, r), std::atoll(r));
    for (int64_t i = 0; i < n; i++) {
      const double *c = &cfg[i * 7];
      for (int g = 0; g < 8; g++) {
        int64_t cnt = 0;
        long double sum = 0, abs = 0;
        double mn = NAN, mx = NAN;
        bool pinf = false, ninf = false;
        for (int64_t j = 0; j < tb.rows(); j++) {
          double x = tb.v[j];
          if (tb.key[j] != g || !Passes((int)c[1], tb.f[j], c[2], 0) || std::isnan(x)) continue;
          if (cnt == 0 || x < mn) mn = x;
          if (cnt == 0 || x > mx) mx = x;
          cnt++;
          pinf |= x == INFINITY, ninf |= x == -INFINITY;
          if (std::isfinite(x)) sum += x, abs += std::fabs((long double)x);
        }
        const double *o = &got[i * 40 + g * 5], *u = &one[i * 40 + g * 5];
        std::string at = "config " + std::to_string(i) + " group " + std::to_string(g) + ", " +
                         r + " ranges";
        EXPECT_EQ(o[0], (double)cnt) << at;
        EXPECT_TRUE(SameBits(o[0], u[0])) << at;
        EXPECT_TRUE(SameBits(o[3], u[3])) << at << " min " << o[3] << " unsplit " << u[3];
        EXPECT_TRUE(SameBits(o[4], u[4])) << at << " max " << o[4] << " unsplit " << u[4];
        if (cnt == 0) continue;
        EXPECT_TRUE(SameBits(o[3], mn)) << at << " min " << o[3] << " reference " << mn;
        EXPECT_TRUE(SameBits(o[4], mx)) << at << " max " << o[4] << " reference " << mx;
        if (pinf || ninf) {
          EXPECT_TRUE(pinf && ninf ? std::isnan(o[1]) : o[1] == (pinf ? INFINITY : -INFINITY))
              << at;
        } else if (std::fabs(sum) <= (long double)DBL_MAX && abs < (long double)DBL_MAX) {
          // Plain sums (no rescale) of values whose partial sums stay finite.
          EXPECT_LE(std::fabs((long double)o[1] - sum), abs * 0x1p-50L + 1e-300L) << at;
        }
      }
    }
  }
}

// Two workers share one pass group's rows: 4 ranges in all, the same
// results as in process.
TEST(SweepSplit, TwoWorkersRunTheRangesOfOnePassGroup) {
  SplitTable tb(60000, 21, true);
  CheckFilterAgg(tb, 1, "4", 2);
}

// Without GPUDF_SWEEP_SPLIT, a sweep whose pass groups are fewer than 4 per
// worker over enough rows (2^16 per range) splits by itself: one group, 2
// workers, 2^18 rows give 4 ranges; a small table is not split.
TEST(SweepSplit, FewPassGroupsOverManyRowsSplitByThemselves) {
  Env none("GPUDF_SWEEP_SPLIT", nullptr);
  SplitTable big(1 << 18, 2, false), small(1000, 2, false);
  const gpudf_kernel *k = K("filter_agg");
  auto cfg = FaConfigs(big.rows(), 1, 3, 2);
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> res((size_t)n * 6);
  auto o = Options(2);
  Result r;
  ASSERT_EQ(gpudf_sweep(big.t, k, cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK) << Err();
  EXPECT_EQ(r.Report().done, n);
  EXPECT_EQ(BatchesOf(r.r), 4);
  Result s;
  auto cs = FaConfigs(small.rows(), 1, 3, 2);
  ASSERT_EQ(gpudf_sweep(small.t, k, cs.data(), n, res.data(), &o, &s.r), GPUDF_OK) << Err();
  EXPECT_LT(BatchesOf(s.r), n) << "claims of configs, not 4 ranges per config";
  // 2^19 rows allow 8 ranges: the 4 per worker decide, 8.
  SplitTable bigger(1 << 19, 2, false);
  auto cb = FaConfigs(bigger.rows(), 1, 3, 2);
  Result b;
  ASSERT_EQ(gpudf_sweep(bigger.t, k, cb.data(), n, res.data(), &o, &b.r), GPUDF_OK) << Err();
  EXPECT_EQ(b.Report().done, n);
  EXPECT_EQ(BatchesOf(b.r), 8) << "4 tasks per worker";
}

// GPUDF_SWEEP_SPLIT as docs/sweep.md states it: N of 2..4096 forces N
// ranges per chunk (in process too, over a table of fewer rows), read as
// a decimal number (010 is 10), 0 and 1 never split, and anything else
// (auto, empty, past 4096, negative, not a whole decimal number such as
// 0x2; -4294967294 is 2 cut to an int) is auto, which in process does not
// split and with workers over enough rows does.
TEST(SweepSplit, TheSplitVariableForcesTwoToTheMostRangesAndElseIsAuto) {
  SplitTable tb(1000, 1, false);
  const gpudf_kernel *k = K("filter_agg");
  auto cfg = FaConfigs(tb.rows(), 1, 5, 0);
  std::vector<double> res;
  int64_t plain = SplitSweep(tb.t, k, cfg, res, nullptr);
  ASSERT_GE(plain, 1);
  ASSERT_NE(plain, 2);
  EXPECT_EQ(SplitSweep(tb.t, k, cfg, res, "2"), 2);
  EXPECT_EQ(SplitSweep(tb.t, k, cfg, res, "4096"), 4096);
  EXPECT_EQ(SplitSweep(tb.t, k, cfg, res, "010"), 10) << "decimal, not octal";
  for (const char *v : {"0", "1", "auto", "", "4097", "-2", "-4294967294", "2x", "x2",
                        "99999999999999999999", "0x2"})
    EXPECT_EQ(SplitSweep(tb.t, k, cfg, res, v), plain) << "GPUDF_SWEEP_SPLIT=" << v;
  // Auto where it does split: 2 workers want 8 ranges of one pass group,
  // 2^17 rows allow 2 of 65,536. Any value that is not a number of ranges
  // is auto too; 0 and 1 are not.
  SplitTable big(1 << 17, 1, false);
  auto cb = FaConfigs(big.rows(), 1, 5, 0);
  int64_t nb = (int64_t)cb.size() / 5;
  for (const char *v : {"auto", "", "4097", "-2", "2x", "0x2", "99999999999999999999"}) {
    Env e("GPUDF_SWEEP_SPLIT", v);
    EXPECT_EQ(gpudf_sweep_split_ranges(big.t, k, cb.data(), nb, 1, 2), 2)
        << "GPUDF_SWEEP_SPLIT=" << v;
  }
  for (const char *v : {"0", "1"}) {
    Env e("GPUDF_SWEEP_SPLIT", v);
    EXPECT_EQ(gpudf_sweep_split_ranges(big.t, k, cb.data(), nb, 1, 2), 0)
        << "GPUDF_SWEEP_SPLIT=" << v;
  }
}

// A kernel without a merge, or whose results depend on row order, is never
// split, even when forced.
TEST(SweepSplit, KernelsWithoutMergeOrWithRowOrderAreNeverSplit) {
  SplitTable tb(5000, 1, false);
  for (const char *name : {"ma_crossover", "corr", "bootstrap"}) {
    const gpudf_kernel *k = K(name);
    int np = gpudf_kernel_nparams(k);
    std::vector<double> cfg((size_t)np);
    ASSERT_EQ(gpudf_kernel_defaults(k, cfg.data()), GPUDF_OK);
    for (int i = 0; i < np; i++) {
      gpudf_param_info p;
      ASSERT_EQ(gpudf_kernel_param(k, i, &p), GPUDF_OK);
      if (p.kind == GPUDF_PARAM_COLUMN) cfg[i] = 1;
    }
    std::vector<double> a, b;
    int64_t split = SplitSweep(tb.t, k, cfg, a, "4"), plain = SplitSweep(tb.t, k, cfg, b, "0");
    EXPECT_EQ(split, plain) << name;
    EXPECT_EQ(split, 1) << name;
  }
}

// A user kernel with run_rows and merge (gpudf_kernel_def, 0.6): count,
// sum and min of a f64 column over the rows.
void UserRows(const gpudf_table *t, int64_t lo, int64_t hi, const double *c, double *out) {
  const double *x = static_cast<const double *>(gpudf_table_column_data(t, (int)c[0]));
  out[0] = 0, out[1] = 0, out[2] = INFINITY;
  for (int64_t i = lo; i < hi; i++) out[0]++, out[1] += x[i], out[2] = std::fmin(out[2], x[i]);
}
gpudf_status UserRunRows(const gpudf_table *t, int64_t lo, int64_t hi, const double *configs,
                         int64_t n, double *results) {
  for (int64_t k = 0; k < n; k++) UserRows(t, lo, hi, configs + k, results + 3 * k);
  return GPUDF_OK;
}
gpudf_status UserRunCpu(const gpudf_table *t, const double *configs, int64_t n, double *results) {
  return UserRunRows(t, 0, gpudf_table_nrows(t), configs, n, results);
}
void UserMerge(const double *, double *acc, const double *part) {
  acc[0] += part[0], acc[1] += part[1], acc[2] = std::fmin(acc[2], part[2]);
}

const gpudf_kernel *RegisterUser(const char *name, size_t size) {
  static const gpudf_param_info params[] = {
      {"col", "a f64 column", GPUDF_PARAM_COLUMN, 1, 0, 0, 0, nullptr, 0}};
  static const gpudf_result_info fields[] = {{"count", ""}, {"sum", ""}, {"min", ""}};
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = name;
  d.nparams = 1;
  d.params = params;
  d.nfields = 3;
  d.fields = fields;
  d.run_cpu = UserRunCpu;
  d.run_rows = UserRunRows;
  d.merge = UserMerge;
  d.size = size;
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_register(&d, &k), GPUDF_OK) << Err();
  return k;
}

TEST(SweepSplit, AUserKernelWithRunRowsAndMergeSplitsAndAnOlderDefNever) {
  SplitTable tb(10000, 2, false);
  const gpudf_kernel *now = RegisterUser("split_user_now", sizeof(gpudf_kernel_def));
  const gpudf_kernel *old = RegisterUser("split_user_old", offsetof(gpudf_kernel_def, run_rows));
  ASSERT_TRUE(now && old);
  std::vector<double> cfg = {1, 3}, a, b, one(6);
  ASSERT_EQ(gpudf_run(tb.t, now, cfg.data(), 2, one.data()), GPUDF_OK);
  EXPECT_EQ(SplitSweep(tb.t, now, cfg, a, "5"), 5);
  std::vector<double> c;
  EXPECT_EQ(SplitSweep(tb.t, old, cfg, b, "5"), SplitSweep(tb.t, old, cfg, c, "0"))
      << "an older def has no merge: claims of configs, as unsplit";
  for (int i = 0; i < 6; i++) {
    EXPECT_NEAR(a[i], one[i], 1e-9 * std::fabs(one[i])) << i;
    EXPECT_EQ(b[i], one[i]) << i;
  }
  EXPECT_EQ(a[0], 10000.0);
  EXPECT_EQ(a[2], one[2]);
}

TEST(SweepSplit, AUserKernelWithMergeButNoRunRowsIsRefused) {
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  static const gpudf_result_info fields[] = {{"x", ""}};
  d.name = "split_user_half";
  d.nfields = 1;
  d.fields = fields;
  d.run_cpu = UserRunCpu;
  d.merge = UserMerge;
  EXPECT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("run_rows and merge go together"), std::string::npos) << Err();
}

// A worker killed while it runs a range: the range is run again and every
// config ends right; with retries = 0 the configs of its chunk fail, with
// the reason, and no other.
int KillDuringARange(const gpudf_sweep_progress *p, void *user) {
  int *killed = static_cast<int *>(user);
  if (*killed || !(p->fraction > 0.0) || p->fraction > 0.8) return 0;
  auto pids = WorkerPids(getpid());
  if (!pids.empty() && kill(pids[0], SIGKILL) == 0) *killed = pids[0];
  return 0;
}

void KilledRangeSweep(int retries) {
  Env split("GPUDF_SWEEP_SPLIT", "16");
  SplitTable tb(3000000, 5, false);
  // Histograms over ranges that all differ: each config counts every row
  // itself, so that the ranges take long enough to be killed in.
  const gpudf_kernel *k = K("histogram");
  const int64_t n = 256, w = 66;  // about a second of ranges: progress ticks every 0.1 s
  std::vector<double> cfg;
  for (int64_t i = 0; i < n; i++)
    cfg.insert(cfg.end(), {0, 3, (double)i * 1000, 0, 1, 64, -50, 40 + (double)i});
  std::vector<double> one((size_t)(n * w)), res((size_t)(n * w));
  ASSERT_EQ(gpudf_run(tb.t, k, cfg.data(), n, one.data()), GPUDF_OK);
  auto o = Options(2);
  o.retries = retries;
  int killed = 0;
  o.progress = KillDuringARange;
  o.progress_user = &killed;
  Result r;
  // A loaded machine may give the progress callback no turn while a range
  // runs: the sweep is run again then (at most 3 times).
  for (int attempt = 0; attempt < 3 && !killed; attempt++) {
    gpudf_sweep_result_free(r.r);
    r.r = nullptr;
    ASSERT_EQ(gpudf_sweep(tb.t, k, cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK) << Err();
  }
  ASSERT_NE(killed, 0) << "the sweep ended before a worker could be killed, 3 times";
  auto rep = r.Report();
  EXPECT_EQ(rep.workers_lost, 1);
  if (retries > 0) {
    EXPECT_EQ(rep.done, n);
    EXPECT_GE(rep.retried, 1);
  }
  EXPECT_EQ(rep.done + rep.failed, n);
  for (int64_t i = 0; i < n; i++) {
    if (gpudf_sweep_result_state(r.r, i) == GPUDF_CONFIG_DONE) {
      for (int64_t j = 0; j < w; j++)
        EXPECT_EQ(res[i * w + j], one[i * w + j]) << "config " << i << " slot " << j;
      continue;
    }
    EXPECT_EQ(gpudf_sweep_result_state(r.r, i), GPUDF_CONFIG_FAILED);
    std::string why = gpudf_sweep_result_reason(r.r, i);
    EXPECT_NE(why.find("killed by signal 9"), std::string::npos) << why;
  }
}

TEST(SweepSplit, AWorkerKilledMidRangeHasTheRangeRunAgain) { KilledRangeSweep(1); }

TEST(SweepSplit, AWorkerKilledMidRangeWithoutRetriesFailsThatChunksConfigsOnly) {
  KilledRangeSweep(0);
}

}  // namespace

// The public pieces (0.6) a program that hands out row ranges itself needs
// (libgpudf_mpi): the ranges of the local rule, each range run by
// gpudf_run_partial and the states merged by gpudf_kernel_merge_states give
// the row-split sweep's results bit for bit; bad input is refused.
namespace {
void SplitByHand(gpudf_table *t, const gpudf_kernel *k, const std::vector<double> &cfg,
                 int64_t R, std::vector<double> &out) {
  int np = gpudf_kernel_nparams(k), nres = gpudf_kernel_nresults(k, cfg.data());
  int ns = gpudf_kernel_state_width(k, cfg.data());
  ASSERT_GT(ns, 0);
  int64_t n = (int64_t)cfg.size() / np, rows = gpudf_table_nrows(t);
  std::vector<double> states((size_t)(R * n * ns));
  for (int64_t r = 0; r < R; r++) {
    int64_t lo = rows * r / R, hi = rows * (r + 1) / R;
    ASSERT_EQ(gpudf_run_partial(t, k, cfg.data(), n, lo, hi, states.data() + r * n * ns),
              GPUDF_OK) << Err();
  }
  out.assign((size_t)(n * nres), -1.0);
  std::vector<double> one((size_t)(R * ns));
  for (int64_t i = 0; i < n; i++) {
    for (int64_t r = 0; r < R; r++)
      std::memcpy(&one[(size_t)(r * ns)], &states[(size_t)((r * n + i) * ns)], sizeof(double) * ns);
    ASSERT_EQ(gpudf_kernel_merge_states(k, cfg.data() + i * np, one.data(), (int)R,
                                        out.data() + i * nres), GPUDF_OK) << Err();
  }
}
}  // namespace

TEST(SweepSplit, PublicPartialRunsAndMergeGiveTheSplitSweepBitForBit) {
  SplitTable tb(200003, 11, true);  // 3 ranges of at least 2^16 rows
  for (const char *name : {"filter_agg", "histogram"}) {
    const gpudf_kernel *k = K(name);
    std::vector<double> cfg;
    if (std::strcmp(name, "filter_agg") == 0) cfg = FaConfigs(tb.rows(), 1, 5, 20);
    else
      for (double lo : {-1.0, 5000.0, 100000.0}) cfg.insert(cfg.end(), {0, 1, lo, 0, 1, 32, -60, 60});
    int np = gpudf_kernel_nparams(k);
    int64_t n = (int64_t)cfg.size() / np;
    // The local rule: one pass group, 8 workers want 32 ranges, 3 fit.
    {
      Env auto_split("GPUDF_SWEEP_SPLIT", nullptr);
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, 1, 8), 3) << name;
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, 1, 1), 0) << name;
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, 32, 8), 0) << name;
    }
    {
      Env off("GPUDF_SWEEP_SPLIT", "0");
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, 1, 8), 0) << name;
    }
    for (int64_t R : {2, 3, 7}) {
      Env forced("GPUDF_SWEEP_SPLIT", std::to_string(R).c_str());
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, 1, 1), R) << name;
      std::vector<double> sweep, hand;
      EXPECT_EQ(SplitSweep(tb.t, k, cfg, sweep, std::to_string(R).c_str()), R);
      SplitByHand(tb.t, k, cfg, R, hand);
      ASSERT_EQ(sweep.size(), hand.size());
      for (size_t i = 0; i < sweep.size(); i++)
        EXPECT_TRUE(SameBits(sweep[i], hand[i])) << name << " R " << R << " value " << i << ": "
                                                 << hand[i] << " vs the sweep's " << sweep[i];
    }
  }
}

TEST(SweepSplit, PublicPartialRunsRefuseBadInputWithAReason) {
  SplitTable tb(1000, 2, false);
  const gpudf_kernel *fa = K("filter_agg"), *ma = K("ma_crossover");
  std::vector<double> cfg = FaConfigs(tb.rows(), 1, 1, 0), st(64), out(8);
  EXPECT_EQ(gpudf_run_partial(nullptr, fa, cfg.data(), 1, 0, 10, st.data()), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_run_partial(tb.t, fa, cfg.data(), 1, 0, 1001, st.data()), GPUDF_EINVAL);
  EXPECT_NE(std::string(Err()).find("outside the table"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_run_partial(tb.t, fa, cfg.data(), 1, -1, 10, st.data()), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_run_partial(tb.t, fa, cfg.data(), 1, 0, 10, nullptr), GPUDF_EINVAL);
  std::vector<double> bad = cfg;
  bad[0] = 99;  // no such column
  EXPECT_EQ(gpudf_run_partial(tb.t, fa, bad.data(), 1, 0, 10, st.data()), GPUDF_EINVAL);
  std::vector<double> mcfg((size_t)gpudf_kernel_nparams(ma));
  gpudf_kernel_defaults(ma, mcfg.data());
  EXPECT_EQ(gpudf_kernel_state_width(ma, mcfg.data()), 0);
  EXPECT_EQ(gpudf_run_partial(tb.t, ma, mcfg.data(), 1, 0, 10, st.data()), GPUDF_ENODEV);
  EXPECT_EQ(gpudf_kernel_merge_states(ma, mcfg.data(), st.data(), 1, out.data()), GPUDF_ENODEV);
  EXPECT_EQ(gpudf_kernel_merge_states(fa, cfg.data(), st.data(), 0, out.data()), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_merge_states(fa, cfg.data(), nullptr, 1, out.data()), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_sweep_split_ranges(nullptr, fa, cfg.data(), 1, 1, 8), 0);
  EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, ma, mcfg.data(), 1, 1, 8), 0);
}

// docs/sweep.md: over 1 GiB of partial states (configs x ranges x state
// width doubles) a sweep does not split rows, forced or not: the states
// live in the control segment (or the heap in process) for the whole
// sweep. At 4096 forced ranges, the most configs whose states fit in
// exactly 1 GiB or just under it split; one config more does not.
TEST(SweepSplit, OverOneGiBOfPartialStatesRowsAreNotSplit) {
  SplitTable tb(1000, 3, false);
  Env forced("GPUDF_SWEEP_SPLIT", "4096");
  const uint64_t cap = 1ull << 30, R = 4096;
  std::vector<double> one_fa = FaConfigs(tb.rows(), 1, 1, 0);
  std::vector<double> one_h = {0, 1, 500, 0, 1, 64, -60, 60};
  for (const std::vector<double> *one : {&one_fa, &one_h}) {
    const gpudf_kernel *k = K(one == &one_fa ? "filter_agg" : "histogram");
    int np = gpudf_kernel_nparams(k), ns = gpudf_kernel_state_width(k, one->data());
    ASSERT_GT(ns, 0);
    uint64_t fit = cap / (R * (uint64_t)ns * sizeof(double));
    std::vector<double> cfg;
    for (uint64_t i = 0; i <= fit; i++) cfg.insert(cfg.end(), one->begin(), one->begin() + np);
    std::string at = std::string(gpudf_kernel_name(k)) + ": " + std::to_string(fit) +
                     " configs x 4096 ranges x " + std::to_string(ns) + " doubles";
    EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), (int64_t)fit, 1, 2), (int64_t)R) << at;
    EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), (int64_t)fit + 1, 1, 2), 0)
        << at << ", one config more";
    if (fit * R * (uint64_t)ns * sizeof(double) == cap) {
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), (int64_t)fit, 1, 2), (int64_t)R)
          << at << ": exactly 1 GiB still splits";
    }
  }
}

// A program that runs sweep after sweep (a service, a notebook) keeps the
// heap it had: what a row-split sweep allocates for its chunks, task
// attempts, merge flags and accumulator is given back. The heap in use
// (glibc's mallinfo2, every arena) after 41 sweeps in process is that after
// the first, within 64 KiB of allocator caches; the task attempts alone of
// 4096 ranges are 16 KiB a sweep, so a leak of them would be 640 KiB.
// (Under ASan, whose allocator glibc does not see, the counts stay put and
// LeakSanitizer checks instead.)
TEST(SweepSplit, SweepAfterSweepGivesItsHeapBack) {
  SplitTable tb(1000, 4, false);
  const gpudf_kernel *k = K("filter_agg");
  auto cfg = FaConfigs(tb.rows(), 1, 2, 4);
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> res((size_t)n * 6);
  Env split("GPUDF_SWEEP_SPLIT", "4096");
  auto sweep = [&] {
    auto o = Options(0);
    Result r;
    ASSERT_EQ(gpudf_sweep(tb.t, k, cfg.data(), n, res.data(), &o, &r.r), GPUDF_OK) << Err();
    EXPECT_EQ(r.Report().done, n);
    EXPECT_EQ(BatchesOf(r.r), 4096) << "one chunk of 4096 ranges";
  };
  auto in_use = [] {
    struct mallinfo2 m = mallinfo2();
    return (int64_t)(m.uordblks + m.hblkhd);
  };
  sweep();
  int64_t before = in_use();
  for (int i = 0; i < 40; i++) sweep();
  int64_t after = in_use();
  EXPECT_LT(after - before, 64 * 1024) << "heap in use grew from " << before << " to " << after
                                       << " bytes over 40 sweeps";
}

// The automatic rule of docs/sweep.md, "Row-split sweeps": with 2 or more
// workers and fewer than 4 pass groups per worker, ceil(4 x workers /
// groups) ranges, at most one per 65,536 rows; else none. 2^20 rows allow
// 16 ranges, so the ceiling shows (2 groups of 2 workers: 4, not 5).
TEST(SweepSplit, AutomaticRangesAreTheCeilingOfFourTasksPerWorkerOverTheGroups) {
  Env none("GPUDF_SWEEP_SPLIT", nullptr);
  SplitTable tb(1 << 20, 6, false);
  const gpudf_kernel *k = K("filter_agg");
  auto cfg = FaConfigs(tb.rows(), 1, 5, 0);
  int64_t n = (int64_t)cfg.size() / 5;
  for (int workers : {1, 2, 3, 5})
    for (int64_t groups : {1, 2, 3, 5, 7, 11, 12, 13}) {
      int64_t want = 4 * (int64_t)workers, ranges = (want + groups - 1) / groups;
      if (ranges > 16) ranges = 16;
      if (workers < 2 || groups >= want || ranges < 2) ranges = 0;
      EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), n, groups, workers), ranges)
          << workers << " workers, " << groups << " pass groups";
    }
}

// A config whose state has no width (groupby_agg over 0 groups, which
// validation refuses) is never split, forced or not.
TEST(SweepSplit, AConfigWithoutAStateIsNeverSplit) {
  SplitTable tb(1000, 7, false);
  Env forced("GPUDF_SWEEP_SPLIT", "4");
  const gpudf_kernel *k = K("groupby_agg");
  std::vector<double> cfg = {0, 3, -1, 0, 2, 1, 8};
  EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), 1, 0, 2), 4);
  cfg[6] = 0;
  ASSERT_EQ(gpudf_kernel_state_width(k, cfg.data()), 0);
  EXPECT_EQ(gpudf_sweep_split_ranges(tb.t, k, cfg.data(), 1, 0, 2), 0);
}
