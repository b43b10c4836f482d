// sweep_support.h - what the gpudf_sweep tests (test_sweep_*.cc) share:
// options on the cpu placement, random filter_agg configs and their
// comparison with gpudf_run, the test plugin's configs and echoes, pass-keyed
// configs, and the worker processes of a sweep.
#ifndef GPUDF_TEST_SWEEP_SUPPORT_H
#define GPUDF_TEST_SWEEP_SUPPORT_H

#include <gpudf.h>
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datagen.h"
#include "harness.h"
#include "tables.h"
namespace sweeptest {

// The sweeps' table: support::RandomTable's five columns, 20,000 rows of
// seed 11 unless a test says otherwise.
struct Table : support::RandomTable {
  explicit Table(int64_t rows = 20000, uint64_t seed = 11) : RandomTable(rows, seed) {}
};

struct Result {
  gpudf_sweep_result *r = nullptr;
  ~Result() { gpudf_sweep_result_free(r); }
  gpudf_sweep_report Report() const {
    gpudf_sweep_report rep{};
    EXPECT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    return rep;
  }
};

inline gpudf_sweep_options Options(int workers) {
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.backend = GPUDF_BACKEND_CPU;  // the engine on cpu, device or not (auto would pick a GPU)
  o.workers = workers;
  return o;
}

// Random filter_agg configs over every column and op.
inline std::vector<double> FilterAggConfigs(int n, uint64_t seed) {
  std::vector<double> c;
  for (int i = 0; i < n; i++) {
    double lo = (double)(tg_splitmix(&seed) % 100) - 50;
    c.insert(c.end(), {(double)(tg_splitmix(&seed) % 5), (double)(tg_splitmix(&seed) % 8), lo,
                       lo + 20, (double)(tg_splitmix(&seed) % 5)});
  }
  return c;
}

// count, min and max must match exactly. sum, mean and std are compared to
// 1e-12 relative: filter_agg accumulates per row block and merges blocks
// (Chan's formula), and how many configs share a pass decides whether a
// group runs config by config or by buckets, so a batch cut differently
// may round differently in the last bits.
// max_abs: the largest |value| of the value column, when its sums may
// cancel (then sum and mean are compared to 1e-14 of count x max_abs too).
inline void ExpectSameFilterAgg(const std::vector<double> &want, const std::vector<double> &got,
                         double max_abs = 0.0) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); i++) {
    int field = (int)(i % 6);
    double a = want[i], b = got[i];
    double count = want[i - (size_t)field];
    double slack = field == 1 ? 1e-14 * count * max_abs : field == 2 ? 1e-14 * max_abs : 0.0;
    if (std::isnan(a)) {
      EXPECT_TRUE(std::isnan(b)) << "value " << i;
    } else if (field == 0 || field == 3 || field == 4) {
      EXPECT_EQ(a, b) << "config " << i / 6 << " field " << field;
    } else {
      EXPECT_LE(std::fabs(a - b), std::fmax(1e-12 * std::fmax(1.0, std::fabs(a)), slack))
          << "config " << i / 6 << " field " << field;
    }
  }
}

inline std::vector<double> TestConfigs(int n, int sleep_ms) {
  std::vector<double> c;
  for (int i = 0; i < n; i++) c.insert(c.end(), {(double)i, 0, (double)sleep_ms});
  return c;
}

inline gpudf_sweep_options PluginOptions(int workers) {
  static const char *plugins[] = {GPUDF_TEST_PLUGIN};
  auto o = Options(workers);
  o.nplugins = 1;
  o.plugins = plugins;
  return o;
}

inline void ExpectEchoes(const std::vector<double> &res, int n, int64_t rows, int skip = -1) {
  for (int i = 0; i < n; i++) {
    if (i == skip) continue;
    EXPECT_EQ(res[2 * i], 2.0 * i) << "config " << i;
    EXPECT_EQ(res[2 * i + 1], (double)rows) << "config " << i;
  }
}

// Worker processes of this process, by their parent pid.
inline std::vector<int> WorkerPids(int parent) {
  std::vector<int> pids;
  DIR *d = opendir("/proc");
  while (dirent *e = d ? readdir(d) : nullptr) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    size_t rp = line.rfind(')');
    if (rp == std::string::npos || line.find("(gpudf-worker)") == std::string::npos) continue;
    std::istringstream rest(line.substr(rp + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') pids.push_back(pid);
  }
  if (d) closedir(d);
  return pids;
}

inline bool Gone(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  size_t rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z';
}

// n configs of sweep_keyed over nkeys keys (n / nkeys each) in a shuffled
// order: config i echoes 2 i, and its key comes from a fixed shuffle.
inline std::vector<double> KeyedConfigs(int n, int nkeys, uint64_t seed) {
  std::vector<int> keys(n);
  for (int i = 0; i < n; i++) keys[i] = i % nkeys;
  for (int i = n - 1; i > 0; i--) std::swap(keys[i], keys[tg_splitmix(&seed) % (uint64_t)(i + 1)]);
  std::vector<double> c;
  for (int i = 0; i < n; i++) c.insert(c.end(), {(double)i, 0, 0, (double)(7 * keys[i] + 3)});
  return c;
}

// Passes the batches paid: the sum over batches of their runs of equal
// keys, from each config's runs / batch size.
inline double PassesOf(const std::vector<double> &res, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) sum += res[4 * i + 2] / res[4 * i + 3];
  return sum;
}

inline int64_t BatchesOf(const gpudf_sweep_result *r) {
  int64_t sum = 0;
  for (int w = 0; w < gpudf_sweep_result_nworkers(r); w++) {
    gpudf_sweep_worker_info wi;
    EXPECT_EQ(gpudf_sweep_result_worker(r, w, &wi), GPUDF_OK);
    sum += wi.batches;
  }
  return sum;
}

inline void ExpectKeyedEchoes(const std::vector<double> &res, const gpudf_sweep_result *r, int n,
                       int64_t rows, std::vector<int> bad = {}) {
  for (int i = 0; i < n; i++) {
    if (std::find(bad.begin(), bad.end(), i) != bad.end()) continue;
    EXPECT_EQ(gpudf_sweep_result_state(r, i), GPUDF_CONFIG_DONE) << "config " << i;
    EXPECT_EQ(res[4 * i], 2.0 * i) << "config " << i;
    EXPECT_EQ(res[4 * i + 1], (double)rows) << "config " << i;
  }
}

inline std::string Err() { return gpudf_last_error(); }

}  // namespace sweeptest

#endif
