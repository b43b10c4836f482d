// test_kernels_on_every_placement.cc - every kernel the library registers,
// on every placement, against the CPU reference (in the manner of ggml's
// test-backend-ops). Nothing here knows a kernel's parameters: configs are
// drawn from what gpudf_kernel_param describes (kinds, ranges, choices, the
// column types each column parameter accepts), those gpudf_validate refuses
// are dropped, and the batch runs with gpudf_run on an unshared table (the
// reference, cpu) and on the same table shared on a placement, through the
// owner's table and through an attached view. A kernel added to the library
// is tested here on every placement by registering it.
//
// Placements: cpu; cuda-ipc and cuda-pinned on the simulated device
// (GPUDF_SIMULATE_DEVICE=1, which runs each kernel's CPU code on "device"
// addresses: bit-identical); cuda-ipc and cuda-pinned on a real device
// (test names *Gpu*, ctest label gpu; SKIPPED without one), compared as each
// kernel promises (Promise below).
//
// Only the public API is used, so the driver outlives changes to the device
// interface. Seeds are fixed and printed with every failure; set
// GPUDF_PLACEMENT_SEED to draw other configs and tables.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "datagen.h"
#include "tables.h"

namespace {

const int64_t kRows = 3001;        // not a multiple of any block or vector width
const int kBatchConfigs = 40;      // valid configs per batch
const int kBatches = 3;            // shape parameters: the minimum, small, larger
const int kMaxDraws = 40 * kBatchConfigs;
const double kMinValidFraction = 0.2;

uint64_t BaseSeed() {
  const char *s = getenv("GPUDF_PLACEMENT_SEED");
  return s && *s ? strtoull(s, nullptr, 0) : 20261203ull;
}

// A seed per kernel, so that adding a kernel changes no other kernel's draws.
uint64_t KernelSeed(const std::string &name) {
  uint64_t h = 14695981039346656037ull ^ BaseSeed();
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The kernels the library registers, read once when the tests are
// registered, before any runs (so a test that registers its own kernels or
// loads a plugin adds none here: the test plugin's kernels crash or hang on
// purpose).
const std::vector<std::string> &LibraryKernels() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int i = 0; i < gpudf_kernel_count(); i++)
      v.push_back(gpudf_kernel_name(gpudf_kernel_at(i)));
    return v;
  }();
  return names;
}

// ------------------------------------------------------------ configs

// The accept bit of column col of t (gpudf_accept).
int AcceptBit(const gpudf_table *t, int col) {
  if (gpudf_table_column_is_categorical(t, col)) return GPUDF_ACCEPT_CATEGORICAL;
  switch (gpudf_table_column_type(t, col)) {
  case GPUDF_TYPE_I32: return GPUDF_ACCEPT_I32;
  case GPUDF_TYPE_I64: return GPUDF_ACCEPT_I64;
  case GPUDF_TYPE_F32: return GPUDF_ACCEPT_F32;
  case GPUDF_TYPE_F64: return GPUDF_ACCEPT_F64;
  case GPUDF_TYPE_BOOL: return GPUDF_ACCEPT_BOOL;
  }
  return 0;
}

double ValueAt(const gpudf_table *t, int col, int64_t row) {
  const void *d = gpudf_table_column_data(t, col);
  switch (gpudf_table_column_type(t, col)) {
  case GPUDF_TYPE_I32: return ((const int32_t *)d)[row];
  case GPUDF_TYPE_I64: return (double)((const int64_t *)d)[row];
  case GPUDF_TYPE_F32: return ((const float *)d)[row];
  case GPUDF_TYPE_F64: return ((const double *)d)[row];
  case GPUDF_TYPE_BOOL: return ((const uint8_t *)d)[row];
  }
  return 0;
}

double Unit(uint64_t *s) { return (double)(tg_splitmix(s) >> 11) * 0x1.0p-53; }

// A whole number in [lo, hi], log-uniform so that small values come often
// and large ones still come.
double LogUniformInt(uint64_t *s, double lo, double hi) {
  if (hi <= lo) return lo;
  double v = lo + std::floor(std::exp(Unit(s) * std::log(hi - lo + 1.0))) - 1.0;
  return std::min(hi, std::max(lo, v));
}

class ConfigDraw {
 public:
  ConfigDraw(const gpudf_kernel *k, const gpudf_table *t, uint64_t seed) : k_(k), t_(t), s_(seed) {}

  // Shape parameters are equal in every config of a batch: batch 0 takes
  // their minimum, batch 1 a small value, batch 2 one up to 4096.
  void ChooseShapes(int batch) {
    shapes_.assign((size_t)gpudf_kernel_nparams(k_), 0.0);
    for (int i = 0; i < gpudf_kernel_nparams(k_); i++) {
      gpudf_param_info p;
      gpudf_kernel_param(k_, i, &p);
      if (!p.shape) continue;
      double hi = std::min(p.max, batch == 1 ? p.min + 63 : 4096.0);
      shapes_[(size_t)i] = batch == 0 ? p.min : LogUniformInt(&s_, p.min, std::max(p.min, hi));
    }
  }

  std::vector<double> Next() {
    int np = gpudf_kernel_nparams(k_);
    std::vector<double> c((size_t)np);
    for (int i = 0; i < np; i++) {
      gpudf_param_info p;
      gpudf_kernel_param(k_, i, &p);
      c[(size_t)i] = p.shape ? shapes_[(size_t)i] : Value(i, p);
    }
    return c;
  }

 private:
  double Value(int i, const gpudf_param_info &p) {
    switch (p.kind) {
    case GPUDF_PARAM_COLUMN: return Column(gpudf_kernel_param_accepts(k_, i));
    case GPUDF_PARAM_CHOICE: return (double)(tg_splitmix(&s_) % (uint64_t)std::max(1, p.nchoices));
    case GPUDF_PARAM_INTEGER: return Integer(p);
    case GPUDF_PARAM_REAL: return Real(p);
    }
    return p.def;
  }
  // A column of an accepted type; now and then any column, so that the
  // refusals are exercised too (and dropped).
  double Column(int accepts) {
    int n = gpudf_table_ncols(t_);
    std::vector<int> fit;
    for (int c = 0; c < n; c++)
      if (AcceptBit(t_, c) & accepts) fit.push_back(c);
    if (fit.empty() || tg_splitmix(&s_) % 10 == 0) return (double)(tg_splitmix(&s_) % (uint64_t)n);
    return fit[tg_splitmix(&s_) % fit.size()];
  }
  // The default, a value near the minimum, or one on the scale of the
  // table's rows (windows, counts), log-uniform.
  double Integer(const gpudf_param_info &p) {
    uint64_t r = tg_splitmix(&s_) % 4;
    if (r == 0) return p.def;
    if (r == 1) return std::min(p.max, p.min + (double)(tg_splitmix(&s_) % 8));
    double hi = std::min(p.max, std::max(p.min, 2.0 * (double)kRows));
    if (r == 2) return LogUniformInt(&s_, p.min, hi);
    return LogUniformInt(&s_, p.min, std::min(p.max, 9007199254740991.0));
  }
  // A value of the table (thresholds that cut the data), a small number,
  // the default, or any magnitude of either sign; clamped to [min, max].
  double Real(const gpudf_param_info &p) {
    double v;
    switch (tg_splitmix(&s_) % 5) {
    case 0:
    case 1: {
      int col = (int)(tg_splitmix(&s_) % (uint64_t)gpudf_table_ncols(t_));
      v = ValueAt(t_, col, (int64_t)(tg_splitmix(&s_) % (uint64_t)gpudf_table_nrows(t_)));
      if (!std::isfinite(v)) v = p.def;
      break;
    }
    case 2: v = (Unit(&s_) - 0.5) * 20.0; break;
    case 3: v = p.def; break;
    default: v = (tg_splitmix(&s_) & 1 ? -1 : 1) * std::pow(10.0, Unit(&s_) * 40.0 - 20.0);
    }
    return std::min(p.max, std::max(p.min, v));
  }

  const gpudf_kernel *k_;
  const gpudf_table *t_;
  uint64_t s_;
  std::vector<double> shapes_;
};

// ------------------------------------------------------------ placements

struct Placement {
  const char *label;
  gpudf_backend backend;
  bool simulated;
  const char *sim_devices = nullptr;  // GPUDF_SIM_DEVICES; nullptr: one device
  const char *sim_current = nullptr;  // GPUDF_SIM_CURRENT: the device runs use
};

// How a placement's results must agree with the CPU reference.
// Simulated device and cpu: bit for bit (the same code on the same bytes).
// Real device (docs/placements.md, "Same numbers as the CPU"): counts,
// minima, maxima, histogram bins and every ma_crossover result exactly;
// sums over rows differ only by their order, so the others (sums, means,
// std, bootstrap statistics, and every result of a kernel not listed here)
// within 1e-14 of the sum of the magnitudes involved (docs/guide.md,
// filter_agg; taken as rows x the largest |value| of the config's columns),
// or 1e-9 relative (std of a tight spread, docs/reliability.md).
struct Promise {
  const char *kernel;
  const char *exact_prefixes[4];  // result names starting so are exact; "" = all
};
const Promise kPromises[] = {
    {"filter_agg", {"count", "min", "max"}},
    {"groupby_agg", {"count_", "min_", "max_"}},
    {"histogram", {""}},
    {"ma_crossover", {""}},
};

bool ExactOnDevice(const std::string &kernel, const std::string &result) {
  for (const Promise &p : kPromises) {
    if (kernel != p.kernel) continue;
    for (const char *pre : p.exact_prefixes)
      if (pre && result.rfind(pre, 0) == 0) return true;
  }
  return false;
}

// Largest finite |value| of the columns config names.
double MagnitudeOf(const gpudf_kernel *k, const gpudf_table *t, const double *config) {
  double m = 0;
  for (int i = 0; i < gpudf_kernel_nparams(k); i++) {
    gpudf_param_info p;
    gpudf_kernel_param(k, i, &p);
    if (p.kind != GPUDF_PARAM_COLUMN) continue;
    int col = (int)config[i];
    for (int64_t r = 0; r < gpudf_table_nrows(t); r++) {
      double v = std::fabs(ValueAt(t, col, r));
      if (std::isfinite(v)) m = std::max(m, v);
    }
  }
  return m;
}

std::vector<std::string> ResultNames(const gpudf_kernel *k, const double *config) {
  size_t need = 0;
  EXPECT_EQ(gpudf_kernel_result_names(k, config, nullptr, 0, &need), GPUDF_OK)
      << gpudf_last_error();
  std::string buf(need, '\0');
  EXPECT_EQ(gpudf_kernel_result_names(k, config, &buf[0], need, &need), GPUDF_OK);
  std::vector<std::string> names;
  for (size_t at = 0; at < buf.size(); at += names.back().size() + 1)
    names.push_back(buf.c_str() + at);
  return names;
}

std::string Show(const std::vector<double> &cfg, size_t at, int np) {
  std::ostringstream o;
  o.precision(17);
  for (int i = 0; i < np; i++) o << (i ? ", " : "{") << cfg[at + (size_t)i];
  return o.str() + "}";
}

// Environment variables the placements set, restored after each test.
class KernelsOnEveryPlacement : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    for (const char *v : kVars) {
      const char *was = getenv(v);
      saved_.push_back(was ? std::string(was) : std::string("\x01"));
      unsetenv(v);
    }
  }
  void TearDown() override {
    for (size_t i = 0; i < saved_.size(); i++) {
      if (saved_[i] == "\x01")
        unsetenv(kVars[i]);
      else
        setenv(kVars[i], saved_[i].c_str(), 1);
    }
  }
  void Run(const Placement &where);
  void RunBatch(const Placement &where, const gpudf_kernel *k, int batch, uint64_t seed);

  static constexpr const char *kVars[] = {"GPUDF_SIMULATE_DEVICE", "GPUDF_BACKEND",
                                          "GPUDF_SIM_FAIL",        "GPUDF_SIM_MEM",
                                          "GPUDF_SIM_DEVICES",     "GPUDF_SIM_CURRENT",
                                          "GPUDF_DEVICES"};
  std::vector<std::string> saved_;
};

void KernelsOnEveryPlacement::Run(const Placement &where) {
  if (where.simulated) setenv("GPUDF_SIMULATE_DEVICE", "1", 1);
  if (where.sim_devices) setenv("GPUDF_SIM_DEVICES", where.sim_devices, 1);
  if (where.sim_current) setenv("GPUDF_SIM_CURRENT", where.sim_current, 1);
  const char *why = nullptr;
  if (where.backend != GPUDF_BACKEND_CPU && !gpudf_backend_available(where.backend, &why))
    GTEST_SKIP() << gpudf_backend_name(where.backend) << " is not available here: " << why;
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_find(GetParam().c_str(), &k), GPUDF_OK) << gpudf_last_error();
  for (int batch = 0; batch < kBatches; batch++) {
    uint64_t seed = KernelSeed(GetParam()) + (uint64_t)batch;
    SCOPED_TRACE(GetParam() + " on " + where.label + ", batch " + std::to_string(batch) +
                 ", table and config seed " + std::to_string(seed) + " (GPUDF_PLACEMENT_SEED=" +
                 std::to_string(BaseSeed()) + " replays it)");
    RunBatch(where, k, batch, seed);
    if (HasFatalFailure()) return;
  }
}

void KernelsOnEveryPlacement::RunBatch(const Placement &where, const gpudf_kernel *k, int batch,
                                       uint64_t seed) {
  const std::string kernel = GetParam();
  support::Table ref = support::MixedTable(kRows, seed);  // never shared: the cpu reference
  ASSERT_EQ(gpudf_table_backend(ref.t), GPUDF_BACKEND_CPU);
  int np = gpudf_kernel_nparams(k);

  // Draw until kBatchConfigs validate; a decent share of the draws must.
  ConfigDraw draw(k, ref.t, seed ^ 0x5eedull);
  draw.ChooseShapes(batch);
  std::vector<double> cfg;
  int draws = 0, valid = 0;
  while (valid < kBatchConfigs && draws < kMaxDraws) {
    std::vector<double> c = draw.Next();
    draws++;
    if (gpudf_validate(ref.t, k, c.data(), 1) != GPUDF_OK) continue;
    cfg.insert(cfg.end(), c.begin(), c.end());
    valid++;
  }
  EXPECT_GE((double)valid, kMinValidFraction * draws)
      << valid << " of " << draws << " drawn configs validate: the draw does not fit "
      << kernel << "'s parameters any more";
  ASSERT_GT(valid, 0) << "no drawn config of " << kernel << " validates (" << draws << " draws)";
  const int64_t n = valid;
  const int nr = gpudf_kernel_nresults(k, cfg.data());
  ASSERT_GT(nr, 0) << gpudf_last_error();
  std::vector<double> want((size_t)(n * nr));
  std::vector<double> got_owner(want.size(), -1.0), got_view(want.size(), -1.0);
  ASSERT_EQ(gpudf_run(ref.t, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();

  // The same table on the placement: prepared as a sweep prepares it,
  // shared, and attached.
  support::Table placed = support::MixedTable(kRows, seed);
  ASSERT_EQ(gpudf_table_prepare(placed.t, tg_kernel(kernel.c_str()), cfg.data(), n), GPUDF_OK)
      << gpudf_last_error();
  std::string why;
  ASSERT_TRUE(placed.Share(where.backend, &why)) << why;
  ASSERT_EQ(gpudf_share_backend(placed.s), where.backend);
  gpudf_table *view = nullptr;
  ASSERT_EQ(gpudf_attach(gpudf_share_name(placed.s), &view), GPUDF_OK) << gpudf_last_error();
  std::unique_ptr<gpudf_table, void (*)(gpudf_table *)> view_owner(view, gpudf_table_free);
  EXPECT_EQ(gpudf_table_backend(placed.t), where.backend);
  EXPECT_EQ(gpudf_table_backend(view), where.backend);
  ASSERT_EQ(gpudf_run(placed.t, k, cfg.data(), n, got_owner.data()), GPUDF_OK)
      << gpudf_last_error();
  ASSERT_EQ(gpudf_run(view, k, cfg.data(), n, got_view.data()), GPUDF_OK) << gpudf_last_error();

  bool device = where.backend != GPUDF_BACKEND_CPU && !where.simulated;
  std::vector<std::string> names = ResultNames(k, cfg.data());
  ASSERT_EQ(names.size(), (size_t)nr);
  int shown = 0;
  for (int64_t i = 0; i < n && shown < 10; i++) {
    const double *c = &cfg[(size_t)(i * np)];
    double slack = device ? 1e-14 * (double)kRows * MagnitudeOf(k, ref.t, c) : 0.0;
    for (int j = 0; j < nr && shown < 10; j++) {
      size_t at = (size_t)(i * nr + j);
      double w = want[at];
      bool exact = !device || ExactOnDevice(kernel, names[(size_t)j]);
      for (const auto &side :
           {std::make_pair("owner", got_owner[at]), std::make_pair("view", got_view[at])}) {
        double g = side.second;
        bool same = (std::isnan(w) && std::isnan(g)) || w == g;
        bool close = !exact && std::fabs(w - g) <= std::max(1e-9 * std::fabs(w), slack);
        if (same || close) continue;
        shown++;
        ADD_FAILURE() << std::setprecision(17) << "config " << i << " "
                      << Show(cfg, (size_t)(i * np), np) << ", result " << names[(size_t)j]
                      << " through the " << side.first << ": " << g << ", cpu reference " << w
                      << (exact ? " (must be bit-identical)" : "") << "; slack " << slack;
      }
    }
  }
}

constexpr const char *KernelsOnEveryPlacement::kVars[];

TEST_P(KernelsOnEveryPlacement, Cpu) { Run({"cpu", GPUDF_BACKEND_CPU, false}); }
TEST_P(KernelsOnEveryPlacement, SimulatedCudaIpc) {
  Run({"simulated cuda-ipc", GPUDF_BACKEND_CUDA_IPC, true});
}
// Four simulated devices: the owner and its view run on the replica of
// device 3, which was filled device to device from device 0's upload.
TEST_P(KernelsOnEveryPlacement, SimulatedCudaIpcOnTheFourthOfFourDevices) {
  Run({"simulated cuda-ipc, device 3 of 4", GPUDF_BACKEND_CUDA_IPC, true, "4", "3"});
}
TEST_P(KernelsOnEveryPlacement, SimulatedCudaPinned) {
  Run({"simulated cuda-pinned", GPUDF_BACKEND_CUDA_PINNED, true});
}
TEST_P(KernelsOnEveryPlacement, GpuCudaIpc) {
  Run({"gpu cuda-ipc", GPUDF_BACKEND_CUDA_IPC, false});
}
TEST_P(KernelsOnEveryPlacement, GpuCudaPinned) {
  Run({"gpu cuda-pinned", GPUDF_BACKEND_CUDA_PINNED, false});
}

// Test names carry the kernel's name ([A-Za-z0-9_] kept, others as '_').
std::string KernelLabel(const ::testing::TestParamInfo<std::string> &info) {
  std::string s = info.param;
  for (char &c : s)
    if (!isalnum((unsigned char)c) && c != '_') c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(, KernelsOnEveryPlacement, ::testing::ValuesIn(LibraryKernels()),
                         KernelLabel);

// The driver's kernels come from the registry as it was when the tests were
// registered: never none (a registry filled only later would drive nothing,
// silently), and the built-ins among them.
TEST(KernelsOnEveryPlacementCoverage, EveryLibraryKernelIsDriven) {
  const std::vector<std::string> &names = LibraryKernels();
  EXPECT_GE(names.size(), 5u);
  for (const char *builtin :
       {"filter_agg", "groupby_agg", "histogram", "ma_crossover", "bootstrap"})
    EXPECT_NE(std::find(names.begin(), names.end(), builtin), names.end()) << builtin;
}

}  // namespace
