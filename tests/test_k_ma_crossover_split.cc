// ma_crossover's split launch on the device (issue 22): the time axis cut
// into segments walked in parallel, the equity and peak entering each one
// carried by a scan of the segments' products. Every device result is
// compared with the CPU path and with a long-double backtest whose signals
// are exact integer comparisons (prices on a 2^-kScale grid), at segment
// lengths forced with GPUDF_MA_SEGMENT (0: the one-thread-per-config
// launch) and at the launch's own choice. The documented rounding
// (docs/placements.md, "ma_crossover with few configs splits the time
// axis"): trades and exposure equal; total_return and max_drawdown within
// 4 (steps + 1) 2^-53 relative of the exact value (so twice that of the
// CPU's), sharpe within 1e-8 relative.
//
// Without a device, KMaCrossoverSplit.* runs the kernels' segment logic
// (ma_crossover_split.h) over every segment on the host, and checks the
// CPU on the same data sets, against the same references.
//
// A failure names the first differing config (its parameters), the field
// and both values, then how many values differ and how many are
// bit-identical to the CPU's: one device run should say what went wrong.
#include <algorithm>
#include <random>
#include <sstream>

#include "ma_crossover_series.h" /* gdf_ma_fill_prefix */
#include "ma_crossover_split.h"
#include "test_k_common.h"

namespace {

using namespace ktest;

constexpr int kScale = 20;  // prices are multiples of 2^-kScale
const char *const kField[5] = {"total_return", "sharpe", "max_drawdown", "trades", "exposure"};

// GPUDF_MA_SEGMENT for the scope (nullptr: unset, the launch's own choice).
struct Segment {
  explicit Segment(const char *v) {
    if (v)
      setenv("GPUDF_MA_SEGMENT", v, 1);
    else
      unsetenv("GPUDF_MA_SEGMENT");
  }
  ~Segment() { unsetenv("GPUDF_MA_SEGMENT"); }
};

double OnGrid(double x) { return std::ldexp(std::nearbyint(std::ldexp(x, kScale)), -kScale); }

std::vector<double> Walk(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 0.01);
  std::vector<double> p((size_t)n);
  double x = 100.0;
  for (auto &v : p) v = OnGrid(x *= std::exp(z(rng)));
  return p;
}

// A config row: price column 0, then fast, slow, fee_bps, mode, ppy.
void Add(std::vector<double> *cfg, int fast, int slow, double fee, int mode) {
  cfg->insert(cfg->end(), {0.0, (double)fast, (double)slow, fee, (double)mode, 252.0});
}

// The backtest in long double: missing prices filled with the last finite
// one, rows before the first finite price left out, signals from window
// sums in integers (slow * fast-window sum > fast * slow-window sum).
struct Ref {
  long double r[5];
  int64_t steps;
};

Ref LongDouble(const std::vector<double> &p, const double *c) {
  const int fast = (int)c[1], slow = (int)c[2];
  const bool ls = c[4] == 1.0;
  const long double fee = (long double)c[3] / 1e4L;
  int64_t n = (int64_t)p.size(), first = 0;
  while (first < n && !std::isfinite(p[(size_t)first])) first++;
  std::vector<double> q(p);
  for (int64_t i = first + 1; i < n; i++)
    if (!std::isfinite(q[(size_t)i])) q[(size_t)i] = q[(size_t)i - 1];
  std::vector<__int128> P((size_t)n + 1, 0);  // P[i + 1]: ticks of rows first..i
  for (int64_t i = first; i < n; i++)
    P[(size_t)i + 1] = P[(size_t)i] + (__int128)(int64_t)std::ldexp(q[(size_t)i], kScale);
  auto sig = [&](int64_t t) -> int {
    if (t - first < slow - 1) return 0;
    __int128 wf = P[(size_t)(t + 1)] - P[(size_t)(t + 1 - fast)];
    __int128 ws = P[(size_t)(t + 1)] - P[(size_t)(t + 1 - slow)];
    return (__int128)slow * wf > (__int128)fast * ws ? 1 : ls ? -1 : 0;
  };
  std::vector<long double> R;
  long double trades = 0, exposed = 0;
  int prev = 0;
  for (int64_t t = first; t + 1 < n; t++) {
    int s = sig(t);
    R.push_back(s * ((long double)q[(size_t)t + 1] / q[(size_t)t] - 1) - fee * std::abs(s - prev));
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
  long double m = (long double)R.size();
  if (m > 0) mean /= m;
  for (long double r : R) var += (r - mean) * (r - mean);
  long double sharpe = m >= 2 && var > 0 ? mean / std::sqrt(var / (m - 1)) * std::sqrt(252.0L)
                                         : (long double)kNaN;
  Ref e{{eq - 1, sharpe, dd, trades, m > 0 ? exposed / m : (long double)kNaN}, (int64_t)R.size()};
  return e;
}

std::string Describe(const double *c) {
  std::ostringstream o;
  o << "(fast " << c[1] << ", slow " << c[2] << ", fee " << c[3] << ", "
    << (c[4] == 1.0 ? "long_short" : "long_only") << ")";
  return o.str();
}

// Whether got is within the documented rounding of want: exact for trades
// and exposure, rel_steps * (steps + 1) * 2^-53 relative to 1 + |want| for
// total_return and max_drawdown, sharpe_rel relative for sharpe.
bool Within(int f, long double want, double got, int64_t steps, double rel_steps,
            double sharpe_rel) {
  if (std::isnan((double)want) || std::isnan(got))
    return std::isnan((double)want) && std::isnan(got);
  if (f >= 3) return (double)want == got;
  long double err = std::fabs(want - (long double)got);
  if (f == 1) return err <= sharpe_rel * std::max(1.0L, std::fabs(want));
  long double tol = rel_steps * (steps + 1) * 0x1p-53L;
  if (f == 2) return err <= 2 * tol;  // 1 - E / peak: the errors of both
  return err <= tol * (1 + std::fabs(want));
}

// Compares the device's results with the CPU's (trades, exposure equal;
// reals within twice the reference's bound) and with the long-double
// backtests; one failure per field names its first config; says how many
// values are bit-identical to the CPU's.
void Check(const std::string &what, const std::vector<double> &cfg, const std::vector<Ref> &ref,
           const std::vector<double> &cpu, const std::vector<double> &dev) {
  const size_t n = cfg.size() / 6;
  ASSERT_EQ(n * 5, dev.size()) << what;
  ASSERT_EQ(n * 5, cpu.size()) << what;
  int64_t same = 0, off_cpu[5] = {0}, off_ref[5] = {0};
  for (size_t k = 0; k < n; k++) {
    const double *c = &cfg[k * 6];
    for (int f = 0; f < 5; f++) {
      double d = dev[k * 5 + f], h = cpu[k * 5 + f];
      same += Same(d, h);
      if (!Within(f, (long double)h, d, ref[k].steps, 8.0, 2e-8) && off_cpu[f]++ == 0)
        ADD_FAILURE() << what << ": config " << k << " " << Describe(c) << ", " << kField[f]
                      << ": device " << d << " vs cpu " << h << " (long double "
                      << (double)ref[k].r[f] << ", " << ref[k].steps << " steps)";
      if (!Within(f, ref[k].r[f], d, ref[k].steps, 4.0, 1e-8) && off_ref[f]++ == 0)
        ADD_FAILURE() << what << ": config " << k << " " << Describe(c) << ", " << kField[f]
                      << ": device " << d << " vs long double " << (double)ref[k].r[f]
                      << " (cpu " << h << ", " << ref[k].steps << " steps)";
    }
  }
  for (int f = 0; f < 5; f++)
    EXPECT_EQ(0, off_cpu[f] + off_ref[f])
        << what << ": " << kField[f] << " differs from the cpu in " << off_cpu[f]
        << " and from the long double backtest in " << off_ref[f] << " of " << n << " configs";
  std::printf("[ split ] %s: %zu configs, %lld of %zu values bit-identical to the cpu\n",
              what.c_str(), n, (long long)same, n * 5);
}

// One data set of the split tests: prices, configs, the segment lengths to
// force (nullptr: the launch's own choice), and whether to prepare the
// prefix columns before sharing.
struct Case {
  std::string what;
  std::vector<double> p, cfg;
  std::vector<const char *> segments;
  bool prepare;
};

// Runs c's configs on the CPU and checks them against the long double
// backtest (the reference and tolerances are checked so without a device),
// then, with device, on the device at each segment length.
void RunCase(const Case &c, bool device) {
  const std::string &what = c.what;
  const std::vector<double> &p = c.p, &cfg = c.cfg;
  Table t((int64_t)p.size());
  t.Add("p", GPUDF_TYPE_F64, p);
  const size_t n = cfg.size() / 6;
  std::vector<Ref> ref;
  for (size_t k = 0; k < n; k++) ref.push_back(LongDouble(p, &cfg[k * 6]));
  std::vector<double> cpu = KRun(t.t, "ma_crossover", cfg);
  ASSERT_EQ(n * 5, cpu.size()) << what;
  // Not fatal: the device runs below are still compared (one device run
  // should show both).
  int64_t cpu_off = 0;
  for (size_t k = 0; k < n; k++)
    for (int f = 0; f < 5; f++)
      if (!Within(f, ref[k].r[f], cpu[k * 5 + f], ref[k].steps, 4.0, 1e-8) && cpu_off++ == 0)
        ADD_FAILURE() << what << ": the cpu itself, config " << k << " " << Describe(&cfg[k * 6])
                      << ", " << kField[f] << ": " << cpu[k * 5 + f] << " vs long double "
                      << (double)ref[k].r[f];
  EXPECT_EQ(0, cpu_off) << what << ": cpu values off the long double backtest";
  if (!device) return;
  if (c.prepare) {
    ASSERT_EQ(GPUDF_OK, gpudf_table_prepare(t.t, Kernel("ma_crossover"), cfg.data(), (int64_t)n))
        << gpudf_last_error();
  }
  std::string why;
  ASSERT_TRUE(t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  for (const char *seg : c.segments) {
    Segment env(seg);
    std::vector<double> dev = KRun(t.t, "ma_crossover", cfg);
    Check(what + (c.prepare ? ", prepared" : ", own prefix sums") + ", GPUDF_MA_SEGMENT=" +
              (seg ? seg : "(unset)"),
          cfg, ref, cpu, dev);
  }
}

// A random walk whose length is no multiple of any segment length, with
// leading missing prices, missing ones across segment starts (a segment
// that starts inside a gap finds the last finite price before it) and
// 1054 configs, fast == slow - 1 among them.
Case ManyConfigs() {
  Case c{"1000+ configs", Walk(100003, 22), {}, {"0", "97", "1000", "4099", nullptr}, true};
  for (int i = 0; i < 3; i++) c.p[(size_t)i] = kNaN;
  for (int i = 9990; i < 10020; i++) c.p[(size_t)i] = kNaN;  // across 3 + 10000 (length 1000)
  for (int i = 40000; i < 100003; i += 4099) c.p[(size_t)i] = i % 2 ? INFINITY : -INFINITY;
  for (int f = 1; f <= 70; f++)  // 1054 configs
    for (int s : {f + 1, f + 2, 2 * f + 1, 50, 97, 200, 201, 500, 1000, 2048, 33, 64, 150, 300,
                  700, 1500})
      if (s > f) Add(&c.cfg, f, s, (s + f) % 3 ? 2.0 : 0.0, (s + f) % 2);
  return c;
}

std::vector<Case> FewConfigs() {
  std::vector<double> p = Walk(50001, 7);
  Case one{"1 config", p, {}, {"0", "50", "4096", nullptr}, false};
  Add(&one.cfg, 9, 10, 1.0, 1);  // fast == slow - 1
  Case many{"64 configs", p, {}, {"0", "3", "50", "4096", nullptr}, true};
  for (int k = 0; k < 64; k++)
    Add(&many.cfg, 1 + k % 16, 2 + k % 16 + 3 * (k / 16) * (k % 5), 5.0, k % 2);
  return {one, many};
}

// Flat stretches make the two averages equal (no position, or short) and
// a flat series gives no return at all; segments shorter than the slow
// window start where the windows reach into earlier segments.
std::vector<Case> Flat() {
  Case steps{"flat stretches", std::vector<double>(30011), {}, {"0", "7", "64", "1000", nullptr},
             false};
  for (size_t i = 0; i < steps.p.size(); i++) {
    const size_t b = i / 700;
    steps.p[i] = b % 3 == 0   ? 100.0
                 : b % 3 == 1 ? 100.0 + (double)(i % 4) * 0.25
                              : 99.5 + (double)(b % 7);
  }
  for (int f : {1, 2, 3, 4, 19})
    for (int s : {f + 1, 4, 8, 20, 100, 1200})
      if (s > f) Add(&steps.cfg, f, s, 3.0, s % 2), Add(&steps.cfg, f, s, 0.0, 1 - s % 2);
  Case flat{"a flat series", std::vector<double>(20000, 42.0), steps.cfg, {"0", "13", "4096", nullptr},
            true};
  return {steps, flat};
}

// Windows as long as the prices after the leading missing ones or longer
// (slow <= rows is all the kernel asks): no signal, no position; a slow
// window over kMaxLookback (2048) takes the one-thread launch whatever
// GPUDF_MA_SEGMENT says.
std::vector<Case> LongWindows() {
  Case c{"windows around the length", Walk(3000, 3), {}, {"0", "100", "1", nullptr}, false};
  for (int i = 0; i < 1000; i++) c.p[(size_t)i] = kNaN;  // 2000 prices from row 1000
  for (int s : {1998, 1999, 2000, 2001, 2047, 2048})
    Add(&c.cfg, s - 1, s, 1.0, 1), Add(&c.cfg, 5, s, 1.0, 0);
  Case longer = c;
  longer.what = "one window over 2048";
  longer.segments = {"100", nullptr};
  Add(&longer.cfg, 10, 2049, 1.0, 1);
  Add(&longer.cfg, 2999, 3000, 1.0, 1);
  return {c, longer};
}

std::vector<Case> AllCases() {
  std::vector<Case> all{ManyConfigs()};
  for (auto f : {FewConfigs, Flat, LongWindows})
    for (Case &c : f()) all.push_back(c);
  return all;
}

// The split launch's segment logic (ma_crossover_split.h) run on the host:
// every segment of seg_len steps walked by pass 1, the scan, every segment
// walked again by pass 2, then the finish, as the kernels do (signals from
// the same prefix sums, returns from the filled prices).
std::vector<double> HostSplit(const std::vector<double> &p, const std::vector<double> &cfg,
                              int64_t seg_len) {
  const int64_t rows = (int64_t)p.size(), n = (int64_t)cfg.size() / 6;
  std::vector<double> q(p), H((size_t)rows), L((size_t)rows);
  const int64_t first = gdf_ma_fill_prefix(q.data(), rows, H.data(), L.data());
  const int64_t steps = rows - 1 - first;
  const int segs = (int)((steps + seg_len - 1) / seg_len);
  std::vector<double> sum((size_t)GDF_MA_SUM_FIELDS * (size_t)segs * (size_t)n, -777.0);
  std::vector<double> out((size_t)n * 5, -12345.0);
  for (int pass = 1; pass <= 2; pass++) {
    for (int64_t k = 0; k < n; k++)
      for (int g = 0; g < segs; g++) {
        gdf_ma_state s = gdf_ma_init(&cfg[(size_t)k * 6]);
        const int64_t tb = first + g * seg_len, te = std::min(tb + seg_len, rows - 1);
        gdf_ma_split_enter(&s, pass, H.data(), L.data(), tb, first, p[(size_t)first],
                           p[(size_t)first + 1], sum.data(), segs, g, n, k);
        double P = 1.0, M = -INFINITY;
        for (int64_t t = tb; t < te; t++) {
          double sig = gdf_ma_signal2(&s, H.data(), L.data(), t, first);
          double r = q[(size_t)t + 1] / q[(size_t)t] - 1.0;
          if (pass == 1)
            gdf_ma_split_product(&s, sig, r, &P, &M);
          else
            gdf_ma_step_r(&s, sig, r);
        }
        gdf_ma_split_leave(&s, pass, P, M, sum.data(), segs, g, n, k);
      }
    if (pass == 1)
      for (int64_t k = 0; k < n; k++) gdf_ma_split_scan(sum.data(), segs, n, k);
  }
  for (int64_t k = 0; k < n; k++)
    gdf_ma_split_finish(&cfg[(size_t)k * 6], sum.data(), segs, n, k, (double)steps,
                        &out[(size_t)k * 5]);
  return out;
}

// Without a device: what the split launch computes, its segment logic run
// on the host over the device tests' data sets (the many-configs one
// thinned to every 8th config), at their segment lengths and at one
// segment for all; against the CPU path and the long double backtest.
TEST(KMaCrossoverSplit, TheSegmentLogicOnTheHostMatchesTheCpu) {
  for (Case c : AllCases()) {
    if (c.cfg.size() / 6 > 500) {
      std::vector<double> thin;
      for (size_t k = 0; k < c.cfg.size() / 6; k += 8)
        thin.insert(thin.end(), c.cfg.begin() + (long)k * 6, c.cfg.begin() + (long)k * 6 + 6);
      c.cfg = thin;
    }
    Table t((int64_t)c.p.size());
    t.Add("p", GPUDF_TYPE_F64, c.p);
    const size_t n = c.cfg.size() / 6;
    std::vector<Ref> ref;
    for (size_t k = 0; k < n; k++) ref.push_back(LongDouble(c.p, &c.cfg[k * 6]));
    std::vector<double> cpu = KRun(t.t, "ma_crossover", c.cfg);
    std::vector<std::string> lengths{std::to_string(c.p.size())};
    for (const char *seg : c.segments)
      if (seg && std::atoll(seg) > 0) lengths.push_back(seg);
    for (const std::string &len : lengths)
      Check(c.what + ", on the host, segments of " + len, c.cfg, ref, cpu,
            HostSplit(c.p, c.cfg, std::atoll(len.c_str())));
  }
}

// Without a device: the CPU against the long double backtest on every data
// set of the device tests (so that their reference and bounds are known
// right before a device run).
TEST(KMaCrossoverSplit, TheCpuMatchesTheLongDoubleBacktestOnTheSplitTestData) {
  for (const Case &c : AllCases()) RunCase(c, false);
}

TEST(KMaCrossoverSplitGpu, ManyConfigsMatchTheCpuAndALongDoubleBacktest) {
  K_SKIP_WITHOUT_CUDA();
  Case c = ManyConfigs();
  ASSERT_GE(c.cfg.size() / 6, 1000u);
  RunCase(c, true);
}

TEST(KMaCrossoverSplitGpu, OneAndSixtyFourConfigs) {
  K_SKIP_WITHOUT_CUDA();
  for (const Case &c : FewConfigs()) RunCase(c, true);
}

TEST(KMaCrossoverSplitGpu, FlatPricesAndTies) {
  K_SKIP_WITHOUT_CUDA();
  for (const Case &c : Flat()) RunCase(c, true);
}

TEST(KMaCrossoverSplitGpu, WindowsLongerThanTheSeries) {
  K_SKIP_WITHOUT_CUDA();
  for (const Case &c : LongWindows()) RunCase(c, true);
}

// A column without a finite price is refused as before, on either launch;
// a malformed GPUDF_MA_SEGMENT is refused naming it.
TEST(KMaCrossoverSplitGpu, RefusalsNameTheColumnAndTheVariable) {
  K_SKIP_WITHOUT_CUDA();
  std::vector<double> p(5000, kNaN);
  p[17] = INFINITY;
  Table t(5000);
  t.Add("p", GPUDF_TYPE_F64, p);
  std::string why;
  ASSERT_TRUE(t.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  std::vector<double> cfg;
  Add(&cfg, 2, 5, 1.0, 1);
  for (const char *seg : {"0", "10", (const char *)nullptr}) {
    Segment env(seg);
    std::string msg;
    EXPECT_EQ(GPUDF_EINVAL, RunStatus(t.t, "ma_crossover", cfg, &msg)) << (seg ? seg : "unset");
    EXPECT_NE(std::string::npos, msg.find("no finite price")) << msg;
  }
  Table u(5000);
  std::vector<double> w = Walk(5000, 1);
  u.Add("p", GPUDF_TYPE_F64, w);
  ASSERT_TRUE(u.Share(GPUDF_BACKEND_CUDA_IPC, &why)) << why;
  for (const char *bad : {"abc", "-5", "12x"}) {
    Segment env(bad);
    std::string msg;
    EXPECT_EQ(GPUDF_EINVAL, RunStatus(u.t, "ma_crossover", cfg, &msg)) << bad;
    EXPECT_NE(std::string::npos, msg.find("GPUDF_MA_SEGMENT")) << msg;
  }
}

}  // namespace
