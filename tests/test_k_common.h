// test_k_common.h - what the tests of the kernel library (test_k_*.cc)
// share: building tables, running a kernel by name, and running the same
// batch on the CPU, the simulated device and a real CUDA device. Nothing
// here computes a kernel's answer: each test file has its own reference.
#ifndef GPUDF_TEST_K_COMMON_H
#define GPUDF_TEST_K_COMMON_H

#include <gpudf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "datagen.h"
#include "tables.h"

namespace ktest {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// An owner table freed (and its share closed) with the object: the tests'
// one table fixture (support/tables.h).
using Table = support::Table;

inline const gpudf_kernel *Kernel(const char *name) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(GPUDF_OK, gpudf_kernel_find(name, &k)) << gpudf_last_error();
  return k;
}

// Runs configs (n x nparams) with gpudf_run; empty on failure (with a test
// failure saying why).
inline std::vector<double> KRun(const gpudf_table *t, const char *kernel,
                               const std::vector<double> &configs) {
  const gpudf_kernel *k = Kernel(kernel);
  if (!k) return {};
  int np = gpudf_kernel_nparams(k);
  int64_t n = (int64_t)configs.size() / np;
  int w = gpudf_kernel_nresults(k, n ? configs.data() : nullptr);
  std::vector<double> out((size_t)(n * w), -12345.0);
  gpudf_status st = gpudf_run(t, k, configs.data(), n, out.data());
  EXPECT_EQ(GPUDF_OK, st) << gpudf_last_error();
  if (st != GPUDF_OK) return {};
  return out;
}

// gpudf_run's status and message for a batch expected to be refused.
inline gpudf_status RunStatus(const gpudf_table *t, const char *kernel,
                              const std::vector<double> &configs, std::string *msg) {
  const gpudf_kernel *k = Kernel(kernel);
  int np = gpudf_kernel_nparams(k);
  int64_t n = (int64_t)configs.size() / np;
  std::vector<double> out(1 << 20);
  gpudf_status st = gpudf_run(t, k, configs.data(), n, out.data());
  *msg = gpudf_last_error();
  return st;
}

// Equal, NaN equal to NaN.
inline bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// One parameter as a kernel's description gives it to users (gpudf_kernel_param:
// `gpudf-sweep --describe`, gpudf.describe(), and the defaults that
// gpudf_kernel_defaults and grids fill in): name, kind, default, bounds,
// choices, shape, the column types it takes, and a summary that says each of
// words.
struct ParamWant {
  const char *name;
  gpudf_param_kind kind;
  double def, min, max;
  int nchoices, shape, accepts;
  std::vector<std::string> words;
};

inline void ExpectDescription(const char *kernel, const std::vector<ParamWant> &want) {
  const gpudf_kernel *k = Kernel(kernel);
  ASSERT_NE(nullptr, k);
  ASSERT_EQ((int)want.size(), gpudf_kernel_nparams(k));
  std::vector<double> defaults(want.size());
  ASSERT_EQ(GPUDF_OK, gpudf_kernel_defaults(k, defaults.data()));
  for (int i = 0; i < (int)want.size(); i++) {
    const ParamWant &w = want[i];
    gpudf_param_info p;
    ASSERT_EQ(GPUDF_OK, gpudf_kernel_param(k, i, &p));
    std::string where = std::string(kernel) + " parameter " + std::to_string(i);
    ASSERT_NE(nullptr, p.name) << where;
    EXPECT_STREQ(w.name, p.name) << where;
    EXPECT_EQ(w.kind, p.kind) << where;
    EXPECT_EQ(w.def, p.def) << where;
    EXPECT_EQ(w.def, defaults[i]) << where << ": gpudf_kernel_defaults";
    EXPECT_EQ(w.min, p.min) << where;
    EXPECT_EQ(w.max, p.max) << where;
    EXPECT_EQ(w.nchoices, p.nchoices) << where;
    EXPECT_EQ(w.shape, p.shape) << where;
    EXPECT_EQ(w.accepts, gpudf_kernel_param_accepts(k, i)) << where;
    int j = -1;
    EXPECT_EQ(GPUDF_OK, gpudf_kernel_param_index(k, w.name, &j)) << where;
    EXPECT_EQ(i, j) << where << ": found by its name";
    ASSERT_NE(nullptr, p.summary) << where;
    for (const std::string &word : w.words)
      EXPECT_NE(std::string::npos, std::string(p.summary).find(word))
          << where << ": the summary \"" << p.summary << "\" does not say " << word;
  }
}

// Sets GPUDF_SIMULATE_DEVICE=1 for the scope (and no forced backend).
struct SimulatedDevice {
  SimulatedDevice() {
    unsetenv("GPUDF_BACKEND");
    setenv("GPUDF_SIMULATE_DEVICE", "1", 1);
  }
  ~SimulatedDevice() { unsetenv("GPUDF_SIMULATE_DEVICE"); }
};

// GTEST_SKIP unless a real CUDA device can hold an IPC placement.
#define K_SKIP_WITHOUT_CUDA()                                              \
  do {                                                                     \
    unsetenv("GPUDF_SIMULATE_DEVICE");                                     \
    unsetenv("GPUDF_BACKEND");                                             \
    const char *why_ = nullptr;                                            \
    if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why_))           \
      GTEST_SKIP() << "no usable CUDA device: " << why_;                   \
  } while (0)

}  // namespace ktest

#endif
