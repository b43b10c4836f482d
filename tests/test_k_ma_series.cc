// The per-thread logic of the CUDA series launch of ma_crossover, checked on
// the host: ma_crossover_series.h lays a claim's series out as the CUDA entry
// does (slots, segments, gather through the row order, fill and prefix sums,
// refusals), and gdf_ma_series_pair, the function each thread of the launch
// runs, is called here for every (config, series) index of the grid in a
// shuffled order, as threads would run. Each pair's results must be the CPU
// series sweep's (itself tested against a long-double backtest and pandas)
// bit for bit, land in its own slot only, and the pairs the CPU refuses
// must be the ones the layout refuses. Random panels: unequal lengths, rows
// interleaved, a series shorter than slow, one without any finite price,
// NaN bars (the first ones too), f64 and f32 prices.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ma_crossover_series.h"

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct RandomPanel {
  int64_t S = 0;
  std::vector<int32_t> key;    // per row: its series
  std::vector<double> close;   // per row, f64
  std::vector<float> close32;  // the same rounded to float
};

// S series of random lengths (one of 12 rows, one all NaN), interleaved at
// random; NaN bars in series 1, its first rows among them.
RandomPanel MakeRandomPanel(uint64_t seed) {
  std::mt19937_64 rng(seed);
  RandomPanel p;
  p.S = 4 + (int64_t)(rng() % 6);
  std::vector<int64_t> len((size_t)p.S);
  for (auto &l : len) l = 50 + (int64_t)(rng() % 300);
  len[2] = 12;  // shorter than the slow windows below but 10
  std::vector<std::vector<double>> px((size_t)p.S);
  std::normal_distribution<double> z(0.0, 0.02);
  for (int64_t s = 0; s < p.S; s++) {
    double x = 20.0 + 50.0 * (double)s;
    for (int64_t i = 0; i < len[(size_t)s]; i++) {
      x *= std::exp(z(rng));
      bool nan = (s == 1 && (i < 3 || rng() % 7 == 0)) || s == 3;
      px[(size_t)s].push_back(nan ? kNaN : x);
    }
  }
  std::vector<int64_t> left(len), next((size_t)p.S, 0);
  int64_t total = std::accumulate(len.begin(), len.end(), (int64_t)0);
  for (int64_t r = 0; r < total; r++) {
    int64_t pick = (int64_t)(rng() % (uint64_t)(total - r)), s = 0;
    while (pick >= left[(size_t)s]) pick -= left[(size_t)s++];
    left[(size_t)s]--;
    p.key.push_back((int32_t)s);
    p.close.push_back(px[(size_t)s][(size_t)next[(size_t)s]++]);
    p.close32.push_back((float)p.close.back());
  }
  return p;
}

std::vector<double> Grid() {
  std::vector<double> cfg;
  const double g[][4] = {{2, 5, 0, 0}, {3, 10, 5, 1}, {5, 20, 1, 0}, {4, 13, 0, 1}, {8, 40, 2, 1}};
  for (auto &c : g) cfg.insert(cfg.end(), {0, c[0], c[1], c[2], c[3], 252});
  return cfg;
}

struct Sweep {
  std::vector<double> res;
  std::vector<gpudf_config_state> state;
  std::vector<std::string> reason;
};

Sweep RunSweep(gpudf_table *t, const std::vector<double> &cfg, int64_t S, gpudf_backend b) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find("ma_crossover", &k), GPUDF_OK);
  int64_t C = (int64_t)cfg.size() / GDF_MA_NPARAMS;
  Sweep out;
  out.res.assign((size_t)(C * S * GDF_MA_NRESULTS), -1.0);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.backend = b;
  o.series = 1;
  gpudf_sweep_result *r = nullptr;
  EXPECT_EQ(gpudf_sweep(t, k, cfg.data(), C, out.res.data(), &o, &r), GPUDF_OK)
      << gpudf_last_error();
  gpudf_sweep_report rep;
  EXPECT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.backend, b) << rep.fallback;
  EXPECT_EQ(gpudf_sweep_result_count(r), C * S);
  for (int64_t i = 0; i < C * S; i++) {
    out.state.push_back(gpudf_sweep_result_state(r, i));
    out.reason.push_back(gpudf_sweep_result_reason(r, i));
  }
  gpudf_sweep_result_free(r);
  return out;
}

bool SameBits(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

struct Table {
  gpudf_table *t = nullptr;
  ~Table() { gpudf_table_free(t); }
};

void MakeTable(const RandomPanel &p, bool f32, Table *out) {
  const char *lab[] = {"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"};
  ASSERT_EQ(gpudf_table_create((int64_t)p.key.size(), &out->t), GPUDF_OK);
  if (f32)
    ASSERT_EQ(gpudf_table_add_column(out->t, "close", GPUDF_TYPE_F32, p.close32.data()), GPUDF_OK);
  else
    ASSERT_EQ(gpudf_table_add_column(out->t, "close", GPUDF_TYPE_F64, p.close.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(out->t, "symbol", p.key.data(), (int32_t)p.S, lab),
            GPUDF_OK);
}

// Every (config, series) pair of the grid, in claims of random size as the
// sweep hands them out (pairs ordered by series), each claim laid out and
// run pair by pair in a shuffled order, as the launch's threads.
TEST(MaSeriesLaunch, EveryPairOfTheGridIsTheCpuSweepBitForBit) {
  for (uint64_t seed = 1; seed <= 6; seed++) {
    const bool f32 = seed % 3 == 0;
    SCOPED_TRACE("seed " + std::to_string(seed) + (f32 ? " (f32 prices)" : ""));
    RandomPanel p = MakeRandomPanel(seed);
    Table t;
    MakeTable(p, f32, &t);
    std::vector<double> cfg = Grid();
    const int64_t C = (int64_t)cfg.size() / GDF_MA_NPARAMS, S = p.S;
    Sweep cpu = RunSweep(t.t, cfg, S, GPUDF_BACKEND_CPU);
    // The row order of the series (stable: each series in file order).
    std::vector<int64_t> order, starts{0};
    for (int64_t s = 0; s < S; s++) {
      for (size_t r = 0; r < p.key.size(); r++)
        if (p.key[r] == s) order.push_back((int64_t)r);
      starts.push_back((int64_t)order.size());
    }
    // Pairs by series, then config (result row k * S + s).
    std::vector<int64_t> pk, ps;
    for (int64_t s = 0; s < S; s++)
      for (int64_t k = 0; k < C; k++) pk.push_back(k), ps.push_back(s);
    std::mt19937_64 rng(seed * 77);
    const void *data = f32 ? (const void *)p.close32.data() : (const void *)p.close.data();
    const int type = f32 ? GPUDF_TYPE_F32 : GPUDF_TYPE_F64;
    int64_t checked = 0;
    for (size_t lo = 0; lo < pk.size();) {
      size_t hi = std::min(pk.size(), lo + 1 + (size_t)(rng() % (2 * (size_t)C + 3)));
      const int64_t n = (int64_t)(hi - lo);
      std::vector<double> bc;
      std::vector<int64_t> of(ps.begin() + lo, ps.begin() + hi), series((size_t)n);
      for (size_t i = lo; i < hi; i++)
        bc.insert(bc.end(), cfg.begin() + pk[i] * GDF_MA_NPARAMS,
                  cfg.begin() + (pk[i] + 1) * GDF_MA_NPARAMS);
      std::vector<int> pair((size_t)n);
      const int64_t ns = gdf_ma_series_slots(of.data(), n, series.data(), pair.data());
      std::vector<int64_t> seg((size_t)ns + 1), first((size_t)ns);
      gdf_ma_series_segments(series.data(), ns, starts.data(), seg.data());
      const size_t rows = (size_t)seg[(size_t)ns];
      std::vector<double> P(rows), H(rows), L(rows);
      gdf_ma_series_gather(data, type, order.data(), starts.data(), series.data(), ns,
                           seg.data(), P.data(), H.data(), L.data(), first.data());
      // The first pair the CPU sweep failed is the one the layout refuses.
      int64_t want_bad = n;
      for (int64_t i = n - 1; i >= 0; i--)
        if (cpu.state[(size_t)(pk[lo + i] * S + ps[lo + i])] != GPUDF_CONFIG_DONE) want_bad = i;
      EXPECT_EQ(gdf_ma_series_refused(bc.data(), n, pair.data(), seg.data(), first.data()),
                want_bad) << "claim at pair " << lo;
      // The threads, in any order: each writes its own slot only.
      std::vector<int64_t> tid((size_t)n);
      std::iota(tid.begin(), tid.end(), (int64_t)0);
      std::shuffle(tid.begin(), tid.end(), rng);
      const double sentinel = -12345.0;
      std::vector<double> out((size_t)(n * GDF_MA_NRESULTS), sentinel);
      std::vector<bool> ran((size_t)n, false);
      for (int64_t k : tid) {
        const size_t row = (size_t)(pk[lo + k] * S + ps[lo + k]);
        if (cpu.state[row] != GPUDF_CONFIG_DONE) continue;  // refused: never launched
        gdf_ma_series_pair(k, bc.data(), pair.data(), seg.data(), first.data(), P.data(),
                           H.data(), L.data(), out.data());
        ran[(size_t)k] = true;
        for (int64_t i = 0; i < n; i++) {
          if (ran[(size_t)i]) continue;
          for (int f = 0; f < GDF_MA_NRESULTS; f++) {
            ASSERT_EQ(out[(size_t)(i * GDF_MA_NRESULTS + f)], sentinel)
                << "pair " << k << " wrote into pair " << i << "'s results";
          }
        }
      }
      for (int64_t k = 0; k < n; k++) {
        const size_t row = (size_t)(pk[lo + k] * S + ps[lo + k]);
        if (!ran[(size_t)k]) continue;
        for (int f = 0; f < GDF_MA_NRESULTS; f++) {
          double got = out[(size_t)(k * GDF_MA_NRESULTS + f)];
          double want = cpu.res[row * GDF_MA_NRESULTS + (size_t)f];
          EXPECT_TRUE(SameBits(got, want)) << "config " << pk[lo + k] << " series " << ps[lo + k]
                                           << " field " << f << ": " << got << " vs " << want;
        }
        checked++;
      }
      lo = hi;
    }
    // Series 2 (12 rows) fails the slow windows above 12, series 3 (no
    // finite price) every config; the rest ran.
    int64_t done = 0;
    for (auto st : cpu.state) done += st == GPUDF_CONFIG_DONE;
    EXPECT_EQ(checked, done);
    EXPECT_EQ(done, C * S - C - 3);
  }
}

// The same logic through the sweep: on the simulated device a claim is one
// launch of the series entry, which builds this layout from the table's
// host arena (gdf_kernel_input.host_cols) and runs gdf_ma_series_pair for
// every pair; its rows, states and reasons are the CPU sweep's, bit for bit.
TEST(MaSeriesLaunch, TheSimulatedDeviceSweepIsTheCpuSweepBitForBit) {
  for (uint64_t seed = 11; seed <= 13; seed++) {
    const bool f32 = seed == 12;
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomPanel p = MakeRandomPanel(seed);
    Table cpu_t, dev_t;
    MakeTable(p, f32, &cpu_t);
    MakeTable(p, f32, &dev_t);
    std::vector<double> cfg = Grid();
    Sweep cpu = RunSweep(cpu_t.t, cfg, p.S, GPUDF_BACKEND_CPU);
    setenv("GPUDF_SIMULATE_DEVICE", "1", 1);
    Sweep dev = RunSweep(dev_t.t, cfg, p.S, GPUDF_BACKEND_CUDA_IPC);
    unsetenv("GPUDF_SIMULATE_DEVICE");
    ASSERT_EQ(dev.res.size(), cpu.res.size());
    for (size_t i = 0; i < cpu.state.size(); i++) {
      EXPECT_EQ(dev.state[i], cpu.state[i]) << "row " << i;
      EXPECT_EQ(dev.reason[i], cpu.reason[i]) << "row " << i;
      for (int f = 0; f < GDF_MA_NRESULTS; f++)
        EXPECT_TRUE(SameBits(dev.res[i * GDF_MA_NRESULTS + (size_t)f],
                             cpu.res[i * GDF_MA_NRESULTS + (size_t)f]))
            << "row " << i << " field " << f;
    }
  }
}

// A claim's pairs name each series once in the layout, however they come
// (runs of one series, a series met again later, series ids in any order)
// and whatever the series buffer held before (the CUDA entry's is not
// zeroed): one slot per distinct series, in the order they first come, so
// a claim never gathers a series twice.
TEST(MaSeriesLaunch, EachSeriesOfAClaimHasOneSlot) {
  const std::vector<std::vector<int64_t>> claims = {
      {0, 0, 1, 1, 0}, {3, 3, 3}, {2, 0, 2, 0, 1, 2}, {5}, {1, 4, 4, 1, 4, 0, 0}};
  for (const auto &of : claims) {
    const int64_t n = (int64_t)of.size();
    std::vector<int64_t> want_series;
    std::vector<int> want_pair;
    for (int64_t q : of) {
      auto at = std::find(want_series.begin(), want_series.end(), q);
      want_pair.push_back((int)(at - want_series.begin()));
      if (at == want_series.end()) want_series.push_back(q);
    }
    // The buffer filled with the series ids themselves, and with zeros; the
    // word before it holds the first pair's series (it is not the buffer's).
    for (int fill = 0; fill < 2; fill++) {
      std::vector<int64_t> buf((size_t)n + 1, 0);
      if (fill == 0) std::copy(of.begin(), of.end(), buf.begin() + 1);
      buf[0] = of[0];
      int64_t *series = buf.data() + 1;
      std::vector<int> pair((size_t)n, -1);
      const int64_t ns = gdf_ma_series_slots(of.data(), n, series, pair.data());
      ASSERT_EQ(ns, (int64_t)want_series.size()) << "claim of " << n << " pairs, fill " << fill;
      EXPECT_EQ(std::vector<int64_t>(series, series + ns), want_series);
      EXPECT_EQ(pair, want_pair);
    }
  }
}

// A series without any finite price: its first finite row is its length
// (the refusal's "none"), and the fill neither reads nor writes past its
// rows, whatever follows them (here NaN prices, then a finite one).
TEST(MaSeriesLaunch, ASeriesWithoutAFinitePriceStaysInItsRows) {
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t n : {0, 1, 5}) {
    const int64_t guard = 4;
    std::vector<double> p((size_t)(n + guard + 1), kNaN), H((size_t)(n + guard + 1), -7.0),
        L((size_t)(n + guard + 1), -7.0);
    for (int64_t i = 0; i < n; i++) p[(size_t)i] = i % 2 ? inf : kNaN;
    p[(size_t)(n + guard)] = 1.5;
    EXPECT_EQ(gdf_ma_fill_prefix(p.data(), n, H.data(), L.data()), n) << n << " rows";
    for (int64_t i = 0; i < n; i++) EXPECT_EQ(H[(size_t)i], 0.0) << "row " << i;
    for (int64_t i = n; i < n + guard + 1; i++) {
      EXPECT_EQ(H[(size_t)i], -7.0) << "row " << i << " past the " << n;
      EXPECT_EQ(L[(size_t)i], -7.0) << "row " << i << " past the " << n;
    }
  }
}

}  // namespace
