// gpudf_sweep over the series of a long-format table (options.series): each
// (config, series) row against a backtest of that series alone written here
// in long double (windows summed exactly on a 2^-20 price grid), on
// interleaved panels of unequal lengths, with NaN bars inside one series, a
// series shorter than the slow window, and integer series labels; and what
// stays as it was: old-size options, kernels that do not depend on order.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <limits>
#include <map>
#include <random>
#include <thread>
#include <string>
#include <vector>

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// total_return sharpe max_drawdown trades exposure of one series' prices in
// time order: NaN prices carry the last finite one, rows before the first
// finite price are left out, windows counted from it.
std::vector<long double> Backtest(const std::vector<double> &p, int fast, int slow, double fee_bps,
                                  bool long_short, double ppy) {
  int64_t n = (int64_t)p.size(), first = 0;
  while (first < n && !std::isfinite(p[first])) first++;
  std::vector<long double> q;
  for (int64_t i = first; i < n; i++)
    q.push_back(std::isfinite(p[i]) ? (long double)p[i] : q.back());
  int64_t m = (int64_t)q.size();
  auto sum = [&](int64_t t, int w) {  // exact: grid prices, few of them
    long double s = 0;
    for (int64_t i = t + 1 - w; i <= t; i++) s += q[i];
    return s;
  };
  std::vector<long double> R;
  long double trades = 0, exposed = 0, prev = 0;
  for (int64_t t = 0; t + 1 < m; t++) {
    long double s = 0;
    if (t >= slow - 1) s = slow * sum(t, fast) > fast * sum(t, slow) ? 1 : long_short ? -1 : 0;
    R.push_back(s * (q[t + 1] / q[t] - 1) - fee_bps / 1e4L * std::fabs(s - prev));
    trades += s != prev;
    exposed += s != 0;
    prev = s;
  }
  long double eq = 1, peak = 1, dd = 0, mean = 0, var = 0, k = (long double)R.size();
  for (long double r : R) {
    eq *= 1 + r;
    peak = std::max(peak, eq);
    dd = std::max(dd, 1 - eq / peak);
    mean += r;
  }
  mean /= k;
  for (long double r : R) var += (r - mean) * (r - mean);
  long double sharpe = k >= 2 && var > 0 ? mean / std::sqrt(var / (k - 1)) * std::sqrt((long double)ppy)
                                         : (long double)kNaN;
  return {eq - 1, sharpe, dd, trades, exposed / k};
}

void ExpectClose(const std::vector<long double> &want, const double *got, const std::string &what) {
  EXPECT_EQ((double)want[3], got[3]) << what << ": trades";
  EXPECT_EQ((double)want[4], got[4]) << what << ": exposure";
  EXPECT_NEAR((double)want[0], got[0], 1e-12 * (1 + std::fabs((double)want[0]))) << what;
  EXPECT_NEAR((double)want[2], got[2], 1e-12) << what << ": max_drawdown";
  if (std::isnan((double)want[1]))
    EXPECT_TRUE(std::isnan(got[1])) << what << ": sharpe " << got[1];
  else
    EXPECT_NEAR((double)want[1], got[1], 1e-8 * std::max(1.0, std::fabs((double)want[1]))) << what;
}

const gpudf_kernel *K(const char *name) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find(name, &k), GPUDF_OK) << name;
  return k;
}

struct Owned {
  gpudf_table *t = nullptr;
  Owned() = default;
  Owned(Owned &&o) noexcept : t(o.t) { o.t = nullptr; }
  Owned(const Owned &) = delete;
  Owned &operator=(const Owned &) = delete;
  ~Owned() { gpudf_table_free(t); }
};

// A long table: rows of every series interleaved at random (each series
// keeps its own order), a price column "close" and a column "symbol".
struct Panel {
  std::vector<std::vector<double>> prices;  // by series, in time order
  std::vector<int64_t> key;                 // per row: its series
  std::vector<double> close;
};

Panel MakePanel(const std::vector<int64_t> &lengths, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 0.02);
  Panel p;
  for (size_t s = 0; s < lengths.size(); s++) {
    double x = 50.0 + 100.0 * (double)s;  // a jump between series if they were joined
    std::vector<double> v;
    for (int64_t i = 0; i < lengths[s]; i++) {
      x *= std::exp(z(rng));
      v.push_back(std::ldexp(std::round(std::ldexp(x, 20)), -20));
    }
    p.prices.push_back(v);
  }
  std::vector<int64_t> left(lengths), next(lengths.size(), 0);
  int64_t total = 0;
  for (int64_t l : lengths) total += l;
  for (int64_t r = 0; r < total; r++) {
    int64_t pick = (int64_t)(rng() % (uint64_t)(total - r)), s = 0;
    while (pick >= left[s]) pick -= left[s++];
    left[s]--;
    p.key.push_back(s);
    p.close.push_back(p.prices[s][next[s]++]);
  }
  return p;
}

std::vector<double> Cfg(int col, int fast, int slow, double fee, int mode) {
  return {(double)col, (double)fast, (double)slow, fee, (double)mode, 252};
}

void CheckPanel(gpudf_table *t, const Panel &p, const std::vector<std::string> &labels,
                int series_col, int workers, gpudf_backend backend = GPUDF_BACKEND_CPU,
                std::vector<double> *out = nullptr) {
  std::vector<double> cfg;
  for (auto c : {Cfg(0, 3, 10, 0, 0), Cfg(0, 5, 20, 5, 1), Cfg(0, 2, 7, 1, 1)})
    cfg.insert(cfg.end(), c.begin(), c.end());
  int64_t C = 3, S = 0;
  ASSERT_EQ(gpudf_sweep_series_count(t, series_col, &S), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(S, (int64_t)p.prices.size());
  std::vector<double> res(C * S * 5, -1.0);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = backend;
  o.workers = workers;
  o.series = series_col;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, K("ma_crossover"), cfg.data(), C, res.data(), &o, &r),
            GPUDF_OK)
      << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.backend, backend) << rep.fallback;
  if (out) *out = res;
  ASSERT_EQ(gpudf_sweep_result_count(r), C * S);
  ASSERT_EQ(gpudf_sweep_result_nseries(r), S);
  for (int64_t k = 0; k < C; k++)
    for (int64_t s = 0; s < S; s++) {
      int64_t row = k * S + s;
      const double *c = &cfg[k * 6];
      std::string what = "config " + std::to_string(k) + " on " + labels[s];
      EXPECT_EQ(labels[s], gpudf_sweep_result_series(r, row)) << what;
      if ((int64_t)p.prices[s].size() < (int64_t)c[2]) {
        // Too short for its slow window: that row only fails, with why.
        EXPECT_EQ(gpudf_sweep_result_state(r, row), GPUDF_CONFIG_FAILED) << what;
        EXPECT_NE(std::string(gpudf_sweep_result_reason(r, row)).find("fewer than parameter 'slow'"),
                  std::string::npos) << gpudf_sweep_result_reason(r, row);
        for (int j = 0; j < 5; j++) EXPECT_TRUE(std::isnan(res[row * 5 + j])) << what;
        continue;
      }
      ASSERT_EQ(gpudf_sweep_result_state(r, row), GPUDF_CONFIG_DONE)
          << what << ": " << gpudf_sweep_result_reason(r, row);
      ExpectClose(Backtest(p.prices[s], (int)c[1], (int)c[2], c[3], c[4] == 1, c[5]),
                  &res[row * 5], what);
    }
  gpudf_sweep_result_free(r);
}

TEST(SweepSeries, EachSeriesOfAnInterleavedCategoricalPanelIsBacktestedOnItsOwnRows) {
  // Unequal lengths, one series (CCC) shorter than the slow window 20, NaN
  // bars inside BBB (its first bar too), rows interleaved.
  Panel p = MakePanel({150, 90, 12, 60}, 7);
  std::vector<double> close = p.close;
  int nan_seen = 0;
  for (size_t i = 0; i < close.size(); i++)
    if (p.key[i] == 1 && (nan_seen++ % 9 == 0)) close[i] = kNaN;
  Panel q = p;
  // The reference series with the same NaN bars.
  std::vector<size_t> pos(p.prices.size(), 0);
  for (size_t i = 0; i < close.size(); i++) q.prices[p.key[i]][pos[p.key[i]]++] = close[i];
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  std::vector<std::string> labels = {"AAA", "BBB", "CCC", "DDD"};
  const char *lab[] = {"AAA", "BBB", "CCC", "DDD"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)close.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), 4, lab), GPUDF_OK);
  CheckPanel(t.t, q, labels, 1, 0);
  CheckPanel(t.t, q, labels, 1, 2);  // the same through worker processes
}

// The panel of the test above: interleaved, unequal lengths, NaN bars in
// BBB, CCC shorter than slow = 20 when short is set.
Owned PanelTable(bool short_series, Panel *ref) {
  Panel p = MakePanel({150, 90, short_series ? 12 : 40, 60}, 7);
  std::vector<double> close = p.close;
  int nan_seen = 0;
  for (size_t i = 0; i < close.size(); i++)
    if (p.key[i] == 1 && (nan_seen++ % 9 == 0)) close[i] = kNaN;
  *ref = p;
  std::vector<size_t> pos(p.prices.size(), 0);
  for (size_t i = 0; i < close.size(); i++) ref->prices[p.key[i]][pos[p.key[i]]++] = close[i];
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  const char *lab[] = {"AAA", "BBB", "CCC", "DDD"};
  Owned t;
  EXPECT_EQ(gpudf_table_create((int64_t)close.size(), &t.t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close.data()), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), 4, lab), GPUDF_OK);
  return t;
}

// The launches "ma_crossover N" in a GPUDF_SIM_TRACE file: N per launch.
std::vector<int64_t> TracedLaunches(const std::string &path) {
  std::vector<int64_t> n;
  FILE *f = fopen(path.c_str(), "r");
  if (!f) return n;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    int pid;
    long long m;
    char name[64];
    if (sscanf(line, "%d %63s %lld dev=", &pid, name, &m) == 3 &&
        std::string(name) == "ma_crossover")
      n.push_back(m);
  }
  fclose(f);
  return n;
}

// On a device placement a claim of a series sweep is one launch of the
// kernel's series entry over its (config, series) pairs (configs x series
// as the launch grid), not one host run per series: the simulated device
// (which runs the CPU code of that entry on its "device" addresses) shows
// the launches, and every row still matches the backtest of its series
// alone. A claim with a series too short for a config fails as one launch
// and runs series by series: that row alone fails, with why.
TEST(SweepSeries, OnADevicePlacementAClaimOfManySeriesIsOneLaunch) {
  std::string trace = testing::TempDir() + "/series_sim_trace.txt";
  for (bool short_series : {false, true}) {
    SCOPED_TRACE(short_series ? "with CCC shorter than slow" : "every series long enough");
    remove(trace.c_str());
    setenv("GPUDF_SIMULATE_DEVICE", "1", 1);
    setenv("GPUDF_SIM_TRACE", trace.c_str(), 1);
    Panel q;
    Owned t = PanelTable(short_series, &q);
    CheckPanel(t.t, q, {"AAA", "BBB", "CCC", "DDD"}, 1, 0, GPUDF_BACKEND_CUDA_IPC);
    unsetenv("GPUDF_SIM_TRACE");
    unsetenv("GPUDF_SIMULATE_DEVICE");
    std::vector<int64_t> launches = TracedLaunches(trace);
    ASSERT_FALSE(launches.empty()) << "no ma_crossover launch on the simulated device";
    int64_t most = 0, all = 0;
    for (int64_t n : launches) most = std::max(most, n), all += n;
    EXPECT_GT(most, 3) << "a launch holds the pairs of more than one series (3 configs)";
    if (!short_series) {
      EXPECT_EQ(all, 3 * 4) << "each pair launched once";
    }
    remove(trace.c_str());
  }
}

// The same on a real device (label gpu; SKIPPED without one): the CUDA
// series entry against the long-double backtest of each series, and equal
// to the CPU path's results (trades and exposure exactly).
TEST(SweepSeriesGpu, TheCudaSeriesLaunchMatchesTheCpuPathAndTheBacktest) {
  unsetenv("GPUDF_SIMULATE_DEVICE");
  const char *why = nullptr;
  if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why))
    GTEST_SKIP() << "no usable CUDA device: " << why;
  for (bool short_series : {false, true}) {
    SCOPED_TRACE(short_series ? "with CCC shorter than slow" : "every series long enough");
    Panel q;
    Owned t = PanelTable(short_series, &q), c = PanelTable(short_series, &q);
    std::vector<double> dev, cpu;
    CheckPanel(t.t, q, {"AAA", "BBB", "CCC", "DDD"}, 1, 0, GPUDF_BACKEND_CUDA_IPC, &dev);
    CheckPanel(c.t, q, {"AAA", "BBB", "CCC", "DDD"}, 1, 0, GPUDF_BACKEND_CPU, &cpu);
    ASSERT_EQ(dev.size(), cpu.size());
    for (size_t i = 0; i < dev.size(); i++) {
      if (std::isnan(cpu[i])) {
        EXPECT_TRUE(std::isnan(dev[i])) << i;
        continue;
      }
      if (i % 5 >= 3) {
        EXPECT_EQ(dev[i], cpu[i]) << "row " << i / 5 << " field " << i % 5;
      } else {
        EXPECT_NEAR(dev[i], cpu[i], 1e-12 * (1 + std::fabs(cpu[i]))) << i;
      }
    }
  }
}

// What a series sweep shows while one claim of several series runs: each
// series runs as its own gpudf_run, which reports 0 to 1 of its own
// configs, and the sweep shows that share of those configs, never of the
// whole claim's (a claim of four equal series half way through the second
// showed 0.75 instead of 0.375). One worker takes the whole sweep as one
// claim; the owner samples what it shows about every 100 ms: every sample
// is at most the finished configs plus one series' worth, and at least the
// finished ones. The series are long enough (about a second in all) that
// samples fall inside the later series.
struct SeriesProgress {
  std::vector<std::pair<int64_t, double>> seen;  // done, fraction
};

int RecordSeriesProgress(const gpudf_sweep_progress *p, void *user) {
  static_cast<SeriesProgress *>(user)->seen.push_back({p->done, p->fraction});
  return 0;
}

TEST(SweepSeries, TheProgressOfAClaimOfSeveralSeriesCountsEachSeriesShare) {
  const int64_t S = 4, C = 96, R = 1000000;
  Panel p = MakePanel({R, R, R, R}, 11);
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  const char *lab[] = {"AAA", "BBB", "CCC", "DDD"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)p.close.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), (int32_t)S, lab), GPUDF_OK);
  std::vector<double> cfg;
  for (int k = 0; k < C; k++) {
    std::vector<double> c = Cfg(0, 2 + k % 7, 20 + k, 0, k % 2);
    cfg.insert(cfg.end(), c.begin(), c.end());
  }
  std::vector<double> res(C * S * 5);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU;
  o.workers = 1;
  o.series = 1;
  SeriesProgress seen;
  o.progress = RecordSeriesProgress;
  o.progress_user = &seen;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), C, res.data(), &o, &r), GPUDF_OK)
      << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.done, C * S);
  EXPECT_EQ(gpudf_sweep_result_nworkers(r), 1);
  gpudf_sweep_result_free(r);
  const double n = (double)(C * S);
  int inside = 0;
  for (auto [done, f] : seen.seen) {
    EXPECT_LE(f, (double)(done + C) / n + 1e-9) << done << " configs done";
    EXPECT_GE(f, (double)done / n - 1e-9) << done << " configs done";
    if (done >= C && done < (S - 1) * C && f > (double)done / n) inside++;
  }
  // Not vacuous: samples came while the second or third series ran.
  EXPECT_GT(inside, 0) << seen.seen.size() << " samples, none inside the second or third series";
  // (The results of series sweeps are checked against the reference by the
  // tests above; these walks of a million steps run into prices that round
  // to 0.)
}

TEST(SweepSeries, IntegerSymbolsAreSeriesInNumericOrder) {
  Panel p = MakePanel({40, 70, 25}, 3);
  const int64_t ids[] = {1000, -3, 7};  // series order: -3, 7, 1000
  std::vector<int64_t> sym;
  for (int64_t k : p.key) sym.push_back(ids[k]);
  Panel q;
  q.prices = {p.prices[1], p.prices[2], p.prices[0]};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)sym.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "symbol", GPUDF_TYPE_I64, sym.data()), GPUDF_OK);
  CheckPanel(t.t, q, {"-3", "7", "1000"}, 1, 0);
}

TEST(SweepSeries, OptionsFromBeforeSeriesAndKernelsWithoutRowOrderKeepOneRowPerConfig) {
  Panel p = MakePanel({60, 60}, 5);
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  const char *lab[] = {"A", "B"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)codes.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), 2, lab), GPUDF_OK);
  std::vector<double> cfg = Cfg(0, 3, 10, 0, 0), res(5), whole(5);
  ASSERT_EQ(gpudf_run(t.t, K("ma_crossover"), cfg.data(), 1, whole.data()),
            GPUDF_OK);
  // An options struct from a header without series: the whole column, as before.
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.series = 1;
  o.size = offsetof(gpudf_sweep_options, series);
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, res.data(), &o, &r),
            GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_sweep_result_count(r), 1);
  EXPECT_EQ(gpudf_sweep_result_nseries(r), 1);
  EXPECT_STREQ(gpudf_sweep_result_series(r, 0), "");
  for (int j = 0; j < 5; j++) EXPECT_TRUE(res[j] == whole[j] || (std::isnan(res[j]) && std::isnan(whole[j])));
  gpudf_sweep_result_free(r);
  // filter_agg does not depend on row order: one row per config.
  double fa[5] = {0, 0, 0, 1e9, 0}, far[6];
  o.size = sizeof o;
  ASSERT_EQ(gpudf_sweep(t.t, K("filter_agg"), fa, 1, far, &o, &r), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_sweep_result_count(r), 1);
  gpudf_sweep_result_free(r);
}

TEST(SweepSeries, ASeriesColumnThatHoldsNoLabelsIsRefusedByName) {
  Panel p = MakePanel({30}, 9);
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)p.close.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  std::vector<double> cfg = Cfg(0, 3, 10, 0, 0), res(5);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.series = 0;
  EXPECT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, res.data(), &o, nullptr),
            GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("column 'close' of type f64"), std::string::npos)
      << gpudf_last_error();
  o.series = 5;
  EXPECT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, res.data(), &o, nullptr),
            GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("series = 5 is not a column index"), std::string::npos)
      << gpudf_last_error();
}

TEST(SweepSeries, TheRowOrderIsKeptWithTheTableOnceAndEveryLaterSweepReadsIt) {
  Panel p = MakePanel({80, 45, 60}, 11);
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  std::vector<std::string> labels = {"A", "B", "C"};
  const char *lab[] = {"A", "B", "C"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)codes.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), 3, lab), GPUDF_OK);
  int col = -1;
  EXPECT_NE(gpudf_table_find_column(t.t, "__order.1.-1", &col), GPUDF_OK);
  // In process, an unshared table is not grown (the caller's column
  // pointers stay valid): the rows are ordered for that sweep alone.
  CheckPanel(t.t, p, labels, 1, 0);
  EXPECT_NE(gpudf_table_find_column(t.t, "__order.1.-1", &col), GPUDF_OK);
  // A sweep with workers shares the table: the order goes with it.
  CheckPanel(t.t, p, labels, 1, 2);
  ASSERT_EQ(gpudf_table_find_column(t.t, "__order.1.-1", &col), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_column_type(t.t, col), GPUDF_TYPE_I64);
  const int64_t *order = static_cast<const int64_t *>(gpudf_table_column_data(t.t, col));
  ASSERT_NE(order, nullptr);
  std::vector<int64_t> want;
  for (int64_t q = 0; q < 3; q++)
    for (size_t i = 0; i < p.key.size(); i++)
      if (p.key[i] == q) want.push_back((int64_t)i);
  ASSERT_EQ(std::vector<int64_t>(order, order + want.size()), want);
  // Later sweeps, in process and with workers, read it: the same rows.
  CheckPanel(t.t, p, labels, 1, 0);
  CheckPanel(t.t, p, labels, 1, 2);
  EXPECT_EQ(gpudf_table_ncols(t.t), 3 + 2);  // and it is kept once (with the prefix sums' two)
}

TEST(SweepSeries, AColumnOfTheUsersCannotTakeTheNameOfAKeptOrder) {
  Owned t;
  ASSERT_EQ(gpudf_table_create(4, &t.t), GPUDF_OK);
  int64_t v[4] = {3, 2, 1, 0};
  EXPECT_EQ(gpudf_table_add_column(t.t, "__order.0.-1", GPUDF_TYPE_I64, v), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("reserved"), std::string::npos)
      << gpudf_last_error();
}

TEST(SweepSeries, InterleavedLabelsOfALongTableAreGuessedAsItsSeries) {
  // ORDER BY date, symbol: the labels cycle; random labels do not.
  std::vector<int32_t> cyc, rnd;
  std::vector<double> close;
  std::mt19937_64 rng(5);
  for (int d = 0; d < 100; d++)
    for (int32_t s = 0; s < 3; s++) {
      if (d < 10 && s == 2) continue;  // C starts later
      cyc.push_back(s);
      close.push_back(100 + d + s);
    }
  for (size_t i = 0; i < cyc.size(); i++) rnd.push_back((int32_t)(rng() % 3));
  const char *lab[] = {"A", "B", "C"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)cyc.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "side", rnd.data(), 3, lab), GPUDF_OK);
  EXPECT_EQ(gpudf_sweep_series_guess(t.t, K("ma_crossover")), -1);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", cyc.data(), 3, lab), GPUDF_OK);
  EXPECT_EQ(gpudf_sweep_series_guess(t.t, K("ma_crossover")), 2);
  EXPECT_EQ(gpudf_sweep_series_guess(t.t, K("filter_agg")), -1);
}

// A two-series table whose "date" column holds these labels (series A on
// even rows, B on odd ones); gpudf_sweep_series_check's verdict on --time.
gpudf_status TimeCheck(const std::vector<const char *> &dates, std::string *msg) {
  Owned t;
  std::vector<int32_t> sym, code;
  std::vector<double> close;
  for (size_t i = 0; i < dates.size(); i++) {
    sym.push_back((int32_t)(i % 2));
    code.push_back((int32_t)i);
    close.push_back(100.0 + (double)i);
  }
  const char *lab[] = {"A", "B"};
  EXPECT_EQ(gpudf_table_create((int64_t)dates.size(), &t.t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close.data()), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t.t, "symbol", sym.data(), 2, lab), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t.t, "date", code.data(), (int32_t)dates.size(),
                                    dates.data()),
            GPUDF_OK);
  int64_t S = -1;
  gpudf_status st = gpudf_sweep_series_check(t.t, 1, 2, &S);
  *msg = gpudf_last_error();
  if (st == GPUDF_OK) {
    EXPECT_EQ(S, 2);
  }
  return st;
}

TEST(SweepSeriesTime, IsoDatesAndTimestampsOfOneFormatAreTimeColumns) {
  std::string msg;
  for (auto dates : std::vector<std::vector<const char *>>{
           {"2024-01-03", "2024-01-02", "2023-12-29", "2024-02-01"},
           {"2024-01-03T09:30:00", "2024-01-03T09:29:59", "2024-01-02T16:00:00",
            "2024-01-03T10:00:00"},
           {"2024-01-03 09:30", "2024-01-03 09:29", "2024-01-02 16:00", "2024-01-03 10:00"},
           {"2024-01-03T09:30:00.5Z", "2024-01-03T09:30:00.4Z", "2024-01-03T09:30:01.0Z",
            "2024-01-03T09:30:00.9Z"},
           {"2024-01-03T09:30+01:00", "2024-01-03T09:31+01:00", "2024-01-03T09:32+01:00",
            "2024-01-03T09:33+01:00"}})
    EXPECT_EQ(TimeCheck(dates, &msg), GPUDF_OK) << dates[0] << ": " << msg;
}

TEST(SweepSeriesTime, DatesInAnotherFormatAreRefusedSayingWhichFormatWorks) {
  std::string msg;
  for (auto dates : std::vector<std::vector<const char *>>{
           {"01/03/2024", "01/02/2024", "12/29/2023", "02/01/2024"},
           {"03.01.2024", "02.01.2024", "29.12.2023", "01.02.2024"},
           {"Jan 3 2024", "Jan 2 2024", "Dec 29 2023", "Feb 1 2024"},
           {"2024-13-01", "2024-01-02", "2024-01-03", "2024-01-04"},
           {"20240103", "20240102", "20231229", "20240201"}}) {
    EXPECT_EQ(TimeCheck(dates, &msg), GPUDF_EINVAL) << dates[0];
    EXPECT_NE(msg.find("column 'date' holds the label"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not an ISO-8601 date"), std::string::npos) << msg;
    EXPECT_NE(msg.find("YYYY-MM-DD"), std::string::npos) << msg;
  }
  // Two ISO formats in one column do not sort as time together.
  for (auto dates : std::vector<std::vector<const char *>>{
           {"2024-01-03", "2024-01-03T09:30", "2024-01-02", "2024-01-04"},
           {"2024-01-03T09:30", "2024-01-03 09:31", "2024-01-03T09:32", "2024-01-03T09:33"},
           {"2024-01-03T09:30Z", "2024-01-03T09:30+01:00", "2024-01-03T09:32Z",
            "2024-01-03T09:33Z"}}) {
    EXPECT_EQ(TimeCheck(dates, &msg), GPUDF_EINVAL) << dates[1];
    EXPECT_NE(msg.find("mixes date formats"), std::string::npos) << msg;
  }
}

TEST(SweepSeriesTime, ARowOfASeriesWithoutATimeIsRefusedNamingTheRow) {
  Owned t;
  int32_t sym[4] = {0, 1, 0, 1};
  double when[4] = {2, 1, kNaN, 3}, close[4] = {1, 2, 3, 4};
  const char *lab[] = {"A", "B"};
  ASSERT_EQ(gpudf_table_create(4, &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", sym, 2, lab), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "t", GPUDF_TYPE_F64, when), GPUDF_OK);
  EXPECT_EQ(gpudf_sweep_series_check(t.t, 1, 2, nullptr), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("column 't' has no time in row 2"),
            std::string::npos) << gpudf_last_error();
  EXPECT_EQ(gpudf_sweep_series_check(t.t, 1, 0, nullptr), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_sweep_series_check(t.t, 1, 7, nullptr), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("time = 7 is not a column index"),
            std::string::npos) << gpudf_last_error();
}

TEST(SweepSeriesTime, OptionsFromBeforeTimeKeepTheFileOrderAndTimeNeedsASeries) {
  Panel p = MakePanel({40, 40}, 13);
  std::vector<int32_t> codes(p.key.begin(), p.key.end());
  std::vector<double> backwards;  // a time that reverses every series
  for (size_t i = 0; i < codes.size(); i++) backwards.push_back(-(double)i);
  const char *lab[] = {"A", "B"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)codes.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", codes.data(), 2, lab), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "t", GPUDF_TYPE_F64, backwards.data()), GPUDF_OK);
  std::vector<double> cfg = Cfg(0, 3, 10, 0, 0), old(10), now(10);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.series = 1;
  o.time = 2;
  o.size = offsetof(gpudf_sweep_options, time);  // a 0.4 or 0.5 header: no time field
  ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, old.data(), &o, nullptr),
            GPUDF_OK) << gpudf_last_error();
  for (int q = 0; q < 2; q++)
    ExpectClose(Backtest(p.prices[q], 3, 10, 0, false, 252), &old[q * 5], "file order");
  o.size = sizeof o;
  ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, now.data(), &o, nullptr),
            GPUDF_OK) << gpudf_last_error();
  for (int q = 0; q < 2; q++) {
    std::vector<double> rev(p.prices[q].rbegin(), p.prices[q].rend());
    ExpectClose(Backtest(rev, 3, 10, 0, false, 252), &now[q * 5], "time order");
  }
  o.series = -1;
  EXPECT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), 1, now.data(), &o, nullptr),
            GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("time = 2 needs a series column"),
            std::string::npos) << gpudf_last_error();
}

}  // namespace

// The equal-weight portfolio across series (gpudf_series_summary.portfolio_*)
// against a long-double reference: per series its step returns in time order
// (windows summed exactly on the 2^-20 grid), each dated by the row the step
// ends on; at every time the mean of the returns there of the series whose
// row finished; compounded, and mean / std (ddof 1) * sqrt(252). Days missing
// in some series, NaN bars (a first one too), a series shorter than slow = 20
// (left out of those configs), rows in random order ordered by an i64 time;
// 67 configs (two chunks of the replay).
TEST(SweepSeriesTime, TheEqualWeightPortfolioIsTheMeanOfTheFinishedSeriesReturnsAtEachTime) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> z(0.0, 0.02);
  struct Row {
    int32_t sym;
    int64_t day;
    double close;
  };
  std::vector<Row> rows;
  const int starts[4] = {0, 9, 100, 30}, ends[4] = {120, 110, 112, 120};
  for (int32_t s = 0; s < 4; s++) {
    double x = 50.0 + 40.0 * s;
    int bar = 0;
    for (int64_t d = starts[s]; d < ends[s]; d++) {
      if (s == 3 && (d % 17 == 5 || d % 17 == 6)) continue;  // days D misses
      x *= std::exp(z(rng));
      double p = std::ldexp(std::round(std::ldexp(x, 20)), -20);
      if (s == 1 && bar % 13 == 0) p = kNaN;  // NaN bars of B, its first one too
      rows.push_back({s, d, p});
      bar++;
    }
  }
  std::shuffle(rows.begin(), rows.end(), rng);
  std::vector<int32_t> sym;
  std::vector<int64_t> day;
  std::vector<double> close;
  for (const Row &r : rows) sym.push_back(r.sym), day.push_back(r.day), close.push_back(r.close);
  const char *lab[] = {"A", "B", "C", "D"};
  Owned t;
  ASSERT_EQ(gpudf_table_create((int64_t)rows.size(), &t.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "close", GPUDF_TYPE_F64, close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t.t, "symbol", sym.data(), 4, lab), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t.t, "day", GPUDF_TYPE_I64, day.data()), GPUDF_OK);
  std::vector<double> cfg;
  for (auto c : {Cfg(0, 3, 10, 2, 0), Cfg(0, 5, 20, 1, 1), Cfg(0, 2, 7, 0, 1)})
    cfg.insert(cfg.end(), c.begin(), c.end());
  // And 64 more: the replay runs configs in chunks of 64, this is two.
  for (int fast = 2; fast < 10; fast++)
    for (int slow : {10, 11, 13, 16, 19, 22, 25, 30}) {
      auto c = Cfg(0, fast, slow, fast % 3, slow % 2);
      cfg.insert(cfg.end(), c.begin(), c.end());
    }
  const int64_t C = 67, S = 4;
  // Each series in time order (the reference's own sort).
  std::vector<std::vector<std::pair<int64_t, double>>> series(S);
  for (const Row &r : rows) series[r.sym].push_back({r.day, r.close});
  for (auto &v : series) std::sort(v.begin(), v.end());
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    std::vector<double> res(C * S * 5);
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    o.backend = GPUDF_BACKEND_CPU;
    o.workers = workers;
    o.series = 1;
    o.time = 2;
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), C, res.data(), &o, &r), GPUDF_OK)
        << gpudf_last_error();
    EXPECT_STREQ(gpudf_sweep_series_portfolio_reason(r), "");
    std::vector<gpudf_series_summary> sum(C);
    ASSERT_EQ(gpudf_sweep_series_summary(r, res.data(), 5, 1, 0, sum.data()), GPUDF_OK);
    for (int64_t k = 0; k < C; k++) {
      const double *c = &cfg[k * 6];
      int fast = (int)c[1], slow = (int)c[2];
      std::map<int64_t, std::pair<long double, int>> at;
      for (int64_t s = 0; s < S; s++) {
        const auto &v = series[s];
        size_t f = 0;
        while (f < v.size() && !std::isfinite(v[f].second)) f++;
        if ((int64_t)(v.size() - f) < slow) {
          EXPECT_EQ(gpudf_sweep_result_state(r, k * S + s), GPUDF_CONFIG_FAILED);
          continue;
        }
        std::vector<long double> q;
        for (size_t i = f; i < v.size(); i++)
          q.push_back(std::isfinite(v[i].second) ? (long double)v[i].second : q.back());
        auto wsum = [&](size_t e, int w) {
          long double x = 0;
          for (size_t i = e + 1 - (size_t)w; i <= e; i++) x += q[i];
          return x;
        };
        long double prev = 0;
        for (size_t i = 0; i + 1 < q.size(); i++) {
          long double sg = 0;
          if ((int64_t)i >= slow - 1)
            sg = slow * wsum(i, fast) > fast * wsum(i, slow) ? 1 : c[4] == 1 ? -1 : 0;
          long double R = sg * (q[i + 1] / q[i] - 1) - c[3] / 1e4L * std::fabs(sg - prev);
          prev = sg;
          auto &cell = at[v[f + i + 1].first];
          cell.first += R;
          cell.second++;
        }
      }
      std::vector<long double> P;
      long double eq = 1, mean = 0, var = 0;
      for (auto &e : at) P.push_back(e.second.first / e.second.second);
      for (long double x : P) eq *= 1 + x, mean += x;
      mean /= (long double)P.size();
      for (long double x : P) var += (x - mean) * (x - mean);
      double sharpe = (double)(mean / std::sqrt(var / (long double)(P.size() - 1)) *
                               std::sqrt(252.0L));
      std::string what = "config " + std::to_string(k);
      EXPECT_EQ(sum[k].portfolio_bars, (int64_t)P.size()) << what;
      EXPECT_NEAR(sum[k].portfolio_return, (double)(eq - 1), 1e-12 * (1 + std::fabs((double)eq)))
          << what;
      EXPECT_NEAR(sum[k].portfolio_sharpe, sharpe, 1e-9 * std::max(1.0, std::fabs(sharpe)))
          << what;
    }
    gpudf_sweep_result_free(r);
  }
  // Without a time column: NaN, and why.
  std::vector<double> res(C * S * 5);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.series = 1;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t.t, K("ma_crossover"), cfg.data(), C, res.data(), &o, &r), GPUDF_OK);
  std::vector<gpudf_series_summary> sum(C);
  ASSERT_EQ(gpudf_sweep_series_summary(r, res.data(), 5, 1, 0, sum.data()), GPUDF_OK);
  EXPECT_TRUE(std::isnan(sum[0].portfolio_return) && std::isnan(sum[0].portfolio_sharpe));
  EXPECT_EQ(sum[0].portfolio_bars, 0);
  EXPECT_NE(std::string(gpudf_sweep_series_portfolio_reason(r)).find("no time column"),
            std::string::npos) << gpudf_sweep_series_portfolio_reason(r);
  gpudf_sweep_result_free(r);
}

// gpudf_series_summary_of, the aggregates libgpudf_mpi's rank 0 computes on
// gathered rows, against a plain computation of the documented definitions
// on random rows: only finished rows count, non-finite Sharpe ratios are
// left out of mean and median, NaN returns out of the positive fraction.
TEST(SweepSeries, TheSummaryOfGatheredRowsFollowsItsDefinitions) {
  std::mt19937_64 rng(11);
  const int nres = 3, sharpe = 2, ret = 0;
  for (int64_t S : {1, 2, 5}) {
    const int64_t nconf = 40, n = nconf * S;
    std::vector<double> res((size_t)(n * nres));
    std::vector<unsigned char> st((size_t)n);
    std::uniform_real_distribution<double> u(-2, 2);
    for (int64_t i = 0; i < n; i++) {
      st[i] = rng() % 5 ? (unsigned char)GPUDF_CONFIG_DONE : (unsigned char)(2 + rng() % 3);
      int pick = (int)(rng() % 10);
      res[i * nres + sharpe] = pick == 0   ? NAN
                               : pick == 1 ? INFINITY
                                           : u(rng);
      res[i * nres + ret] = pick == 2 ? NAN : pick == 3 ? 0.0 : u(rng);
      res[i * nres + 1] = u(rng);
    }
    std::vector<gpudf_series_summary> out((size_t)nconf);
    ASSERT_EQ(gpudf_series_summary_of(res.data(), st.data(), n, S, nres, sharpe, ret, out.data()),
              GPUDF_OK)
        << gpudf_last_error();
    for (int64_t k = 0; k < nconf; k++) {
      std::vector<long double> sh;
      int64_t ok = 0, up = 0, withret = 0;
      for (int64_t q = 0; q < S; q++) {
        int64_t i = k * S + q;
        if (st[i] != GPUDF_CONFIG_DONE) continue;
        ok++;
        if (std::isfinite(res[i * nres + sharpe])) sh.push_back(res[i * nres + sharpe]);
        if (!std::isnan(res[i * nres + ret])) withret++, up += res[i * nres + ret] > 0;
      }
      const gpudf_series_summary &o = out[(size_t)k];
      EXPECT_EQ(o.series, S);
      EXPECT_EQ(o.series_ok, ok);
      EXPECT_EQ(o.series_sharpe, (int64_t)sh.size());
      if (sh.empty()) {
        EXPECT_TRUE(std::isnan(o.mean_sharpe) && std::isnan(o.median_sharpe)) << k;
      } else {
        long double sum = 0;
        for (long double v : sh) sum += v;
        std::sort(sh.begin(), sh.end());
        size_t m = sh.size();
        long double med = m % 2 ? sh[m / 2] : (sh[m / 2 - 1] + sh[m / 2]) / 2;
        EXPECT_NEAR(o.mean_sharpe, (double)(sum / m), 1e-15) << k;
        EXPECT_NEAR(o.median_sharpe, (double)med, 1e-15) << k;
      }
      if (withret == 0) EXPECT_TRUE(std::isnan(o.positive)) << k;
      else EXPECT_DOUBLE_EQ(o.positive, (double)up / (double)withret) << k;
      EXPECT_TRUE(std::isnan(o.portfolio_return) && std::isnan(o.portfolio_sharpe)) << k;
      EXPECT_EQ(o.portfolio_bars, 0);
    }
  }
  std::vector<double> r(7 * nres, 0.0);
  std::vector<unsigned char> st(7, GPUDF_CONFIG_DONE);
  gpudf_series_summary o[7];
  EXPECT_EQ(gpudf_series_summary_of(r.data(), st.data(), 7, 2, nres, sharpe, ret, o), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("7 result rows are not whole configs of 2 series"),
            std::string::npos);
  EXPECT_EQ(gpudf_series_summary_of(r.data(), st.data(), 7, 1, nres, 3, ret, o), GPUDF_EINVAL);
}
