// Fault injection: walks every error path of share, attach, run, sweep, CSV
// read and the device placements by failing the 1st, 2nd, 3rd, ... call of
// one class (allocation, file, mapping, process start, device call) until the
// operation gets through without meeting the fault. At every step: a failed
// call returns a status with a message; nothing leaks (file descriptors,
// mappings of shared memory, entries in the shm directory, heap memory under
// LeakSanitizer); the table is unchanged; and the same call, retried without
// the fault, succeeds with the right answer.
//
// Needs a library built with -DGPUDF_FAULT_INJECTION=ON (tests/run.sh does so
// for its ASan pass); against any other build every test here is SKIPPED.
#include <dlfcn.h>
#include <gpudf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datagen.h"
#include "harness.h"

// LeakSanitizer: with ASan (tests/run.sh), or alone (-fsanitize=leak
// -DGPUDF_TEST_LSAN=1: GPUDF_MUT_LSAN=1 of tests/mutation/run.sh).
#if defined(__SANITIZE_ADDRESS__) && !defined(GPUDF_TEST_LSAN)
#define GPUDF_TEST_LSAN 1
#endif
#ifdef GPUDF_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace {

// The classes of engine/base/fault.h.
enum FaultClass { kAlloc = 0, kFile = 1, kMmap = 2, kSpawn = 3, kDevice = 4, kMove = 5 };
const char *const kClassName[] = {"alloc", "file", "mmap", "spawn", "device", "move"};
// A walk that never gets through is a bug (a retry loop, a fault that is
// never reported); no operation here makes this many calls of one class.
const long kMaxSteps = 3000;

// The control calls exported by a fault build (engine/base/fault.h).
struct FaultApi {
  void (*arm)(int, long, int) = nullptr;
  long (*disarm)() = nullptr;
  int (*fired)() = nullptr;
  bool ok() const { return arm && disarm && fired; }
};

const FaultApi &Api() {
  static FaultApi api = [] {
    FaultApi a;
    *(void **)(&a.arm) = dlsym(RTLD_DEFAULT, "gdf_fault_arm");
    *(void **)(&a.disarm) = dlsym(RTLD_DEFAULT, "gdf_fault_disarm");
    *(void **)(&a.fired) = dlsym(RTLD_DEFAULT, "gdf_fault_fired");
    return a;
  }();
  return api;
}

#define REQUIRE_FAULT_BUILD()                                                             \
  do {                                                                                    \
    if (!Api().ok())                                                                      \
      GTEST_SKIP() << "libgpudf was built without fault injection (configure with "       \
                      "-DGPUDF_FAULT_INJECTION=ON; tests/run.sh does for its ASan pass)"; \
  } while (0)

// ------------------------------------------------------------ resources

std::string ShmDir() {
  const char *d = std::getenv("GPUDF_SHM_DIR");
  return d && *d ? d : "/dev/shm";
}

// What a failed call must give back: descriptors, mappings of files in the
// shm directory (or of the extra file, e.g. a CSV input), and entries there.
// Anonymous mappings are not counted: the allocator (and ASan's) keeps those.
struct Resources {
  int fds = 0;
  int maps = 0;
  std::set<std::string> shm;
  std::string Diff(const Resources &now) const {
    std::ostringstream o;
    if (now.fds != fds) o << " fds " << fds << " -> " << now.fds << ";";
    if (now.maps != maps) o << " mappings " << maps << " -> " << now.maps << ";";
    for (const auto &e : now.shm)
      if (!shm.count(e)) o << " new entry " << e << ";";
    for (const auto &e : shm)
      if (!now.shm.count(e)) o << " entry gone " << e << ";";
    return o.str();
  }
};

Resources Take(const std::string &extra) {
  // An attach's mapping stays idle after its last view, for the next attach
  // (bounded, and tested in test_share.cc); drop it, so that what remains is
  // what leaked. Every walk step then maps afresh, which is the path walked.
  gpudf_unmap_idle();
  Resources r;
  r.fds = harness::CountFds();
  std::ifstream maps("/proc/self/maps");
  std::string line, dir = ShmDir() + "/";
  while (std::getline(maps, line))
    r.maps += line.find(dir) != std::string::npos ||
              (!extra.empty() && line.find(extra) != std::string::npos);
  for (const auto &e : harness::ShmEntries()) r.shm.insert(e);
  return r;
}

// Unreachable heap blocks since the last check (none without LSan).
bool Leaked() {
#ifdef GPUDF_TEST_LSAN
  return __lsan_do_recoverable_leak_check() != 0;
#else
  return false;
#endif
}

// Restores an environment variable when it goes out of scope.
struct EnvVar {
  std::string name;
  bool had = false;
  std::string old;
  EnvVar(const char *n, const char *value) : name(n) {
    const char *v = std::getenv(n);
    had = v != nullptr;
    if (had) old = v;
    if (value) setenv(n, value, 1);
    else unsetenv(n);
  }
  ~EnvVar() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

// ---------------------------------------------------------- operations

// One operation under test. Prepare builds what it needs (unarmed), Run is
// the call the faults go into, Check verifies a successful Run's output and
// Release frees it, Finish frees what Prepare made. Sum is the checksum of
// the input table that must survive a failed Run.
struct Op {
  virtual ~Op() = default;
  virtual void Prepare() {}
  virtual gpudf_status Run() = 0;
  virtual void Check() {}
  virtual void Release() {}
  virtual void Finish() {}
  virtual uint64_t Sum() { return 0; }
  virtual std::string Extra() { return ""; }
  // After a failed Run, before the retry: checks that the input is still
  // usable the way it was before the call.
  virtual void AfterFailure() {}
};

struct WalkResult {
  long points = 0;   // calls of the class the operation makes: faults injected
  long failed = 0;   // steps that returned an error
  long absorbed = 0; // steps where the library recovered (fallback) and said OK
  std::map<int, int> statuses;
  std::string Summary() const {
    std::ostringstream o;
    o << points << " fault points, " << failed << " failed, " << absorbed << " absorbed";
    for (const auto &s : statuses) o << "; status " << s.first << " x" << s.second;
    return o.str();
  }
};

// Walks N = 1, 2, ... over one class until the operation runs without
// meeting the Nth call. Stops at the first step that breaks a rule.
WalkResult Walk(const char *what, Op &op, int cls, bool persistent = false) {
  WalkResult w;
  std::string tag = std::string(what) + " / " + kClassName[cls] +
                    (persistent ? " (persistent)" : "");
  Leaked(); // what earlier tests left is not this walk's
  for (long n = 1; n <= kMaxSteps; n++) {
    std::string at = tag + ", fault at call " + std::to_string(n) + ": ";
    Resources start = Take(op.Extra());
    op.Prepare();
    if (::testing::Test::HasFatalFailure()) return w;
    Resources before = Take(op.Extra());
    uint64_t sum = op.Sum();
    // A known message, so that a failure must set one of its own.
    gpudf_backend unused;
    gpudf_backend_parse("fault-walk-sentinel", &unused);
    std::string msg_before = gpudf_last_error();
    Api().arm(cls, n, persistent);
    gpudf_status st = op.Run();
    long calls = Api().disarm();
    bool fired = Api().fired();
    if (!fired) {
      // No Nth call: the walk is over, and nothing may have gone wrong.
      EXPECT_EQ(st, GPUDF_OK) << at << "failed without a fault: " << gpudf_last_error();
      w.points = n - 1;
      if (st == GPUDF_OK) {
        op.Check();
        op.Release();
      }
      op.Finish();
      std::string diff = start.Diff(Take(op.Extra()));
      EXPECT_EQ(diff, "") << at << "without a fault, after everything was freed:" << diff;
      EXPECT_EQ(calls, n - 1) << at << "call count";
      EXPECT_FALSE(Leaked()) << at << "leak on the path without a fault";
      std::printf("[ walk     ] %s: %s\n", tag.c_str(), w.Summary().c_str());
      return w;
    }
    w.statuses[(int)st]++;
    if (st == GPUDF_OK) {
      // Recovered (a fallback, a cleanup that can wait): the result must
      // be right. What it holds is compared once Finish freed the input,
      // since a table keeps its device placement after its share closes.
      w.absorbed++;
      op.Check();
      op.Release();
    } else {
      w.failed++;
      std::string msg = gpudf_last_error();
      EXPECT_NE(msg, msg_before) << at << "status " << st << " without a new message";
      EXPECT_EQ(msg.rfind("gpudf_", 0), 0u) << at << "message does not name the call: " << msg;
      std::string diff = before.Diff(Take(op.Extra()));
      EXPECT_EQ(diff, "") << at << "status " << st << " (" << msg << ") left:" << diff;
      EXPECT_EQ(op.Sum(), sum) << at << "the table changed";
      op.AfterFailure();
      // The failure was transient: the same call now works.
      gpudf_status again = op.Run();
      EXPECT_EQ(again, GPUDF_OK) << at << "retry without the fault: " << gpudf_last_error()
                                 << " (first: " << msg << ")";
      if (again == GPUDF_OK) {
        op.Check();
        op.Release();
      }
    }
    op.Finish();
    std::string diff = start.Diff(Take(op.Extra()));
    EXPECT_EQ(diff, "") << at << "status " << st << ", and after everything was freed:" << diff;
    EXPECT_FALSE(Leaked()) << at << "heap memory leaked (status " << st << ", "
                           << gpudf_last_error() << ")";
    if (::testing::Test::HasFailure()) {
      std::printf("[ walk     ] %s: stopped at call %ld: %s\n", tag.c_str(), n,
                  w.Summary().c_str());
      return w;
    }
  }
  ADD_FAILURE() << tag << ": still meeting faults after " << kMaxSteps << " calls";
  return w;
}

// An owner's table with the five columns of datagen.h.
gpudf_table *MakeTable(int64_t rows = 2000, uint64_t seed = 11) {
  gpudf_table *t = nullptr;
  EXPECT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
  return t;
}

// ------------------------------------------------------- add column

// Appends a categorical column (codes, then the dictionary) to a table of
// five: a failure leaves the five as they were.
struct AddCategoricalOp : Op {
  gpudf_table *t = nullptr;
  std::vector<int32_t> codes;
  uint64_t ref = 0;
  void Prepare() override {
    t = MakeTable();
    codes.resize((size_t)gpudf_table_nrows(t));
    for (size_t i = 0; i < codes.size(); i++) codes[i] = (int32_t)(i % 4) - 1;
  }
  gpudf_status Run() override {
    const char *labels[] = {"red", "green", "blue"};
    return gpudf_table_add_categorical(t, "colour", codes.data(), 3, labels);
  }
  void Check() override {
    ASSERT_EQ(gpudf_table_ncols(t), 6);
    EXPECT_STREQ(gpudf_table_column_label(t, 5, 2), "blue");
  }
  void AfterFailure() override { EXPECT_EQ(gpudf_table_ncols(t), 5); }
  void Finish() override {
    gpudf_table_free(t);
    t = nullptr;
  }
  uint64_t Sum() override { return tg_table_checksum(t); }
};

// ------------------------------------------------------------ share

struct ShareOp : Op {
  gpudf_backend backend;
  gpudf_backend want; // what a successful share must report (AUTO: anything)
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  uint64_t ref = 0;
  ShareOp(gpudf_backend b, gpudf_backend w) : backend(b), want(w) {}
  void Prepare() override {
    t = MakeTable();
    ref = tg_table_checksum(t);
    name = harness::UniqueName("fault");
  }
  gpudf_status Run() override { return gpudf_table_share(t, name.c_str(), backend, &s); }
  // A share that failed left the table as it was: still open for columns.
  void AfterFailure() override {
    void *data = nullptr;
    EXPECT_EQ(gpudf_table_alloc_column(t, "added", GPUDF_TYPE_I32, &data), GPUDF_OK)
        << gpudf_last_error();
    ref = tg_table_checksum(t);
  }
  void Check() override {
    if (want != GPUDF_BACKEND_AUTO) {
      EXPECT_EQ(gpudf_share_backend(s), want);
    }
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(tg_table_checksum(v), ref);
    gpudf_table_free(v);
  }
  void Release() override {
    gpudf_share_close(s);
    s = nullptr;
  }
  void Finish() override {
    gpudf_table_free(t);
    t = nullptr;
  }
  uint64_t Sum() override { return tg_table_checksum(t); }
};

// ----------------------------------------------------------- attach

// Attaches a share this process publishes (the usual case in one process:
// the arena is mapped again, a device placement is borrowed).
struct AttachOp : Op {
  gpudf_table *t = nullptr, *v = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  uint64_t ref = 0;
  explicit AttachOp(gpudf_backend backend = GPUDF_BACKEND_CPU) {
    t = MakeTable();
    ref = tg_table_checksum(t);
    name = harness::UniqueName("fault-at");
    EXPECT_EQ(gpudf_table_share(t, name.c_str(), backend, &s), GPUDF_OK) << gpudf_last_error();
  }
  ~AttachOp() override {
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
  gpudf_status Run() override { return gpudf_attach(name.c_str(), &v); }
  void Check() override {
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(gpudf_table_is_view(v), 1);
    EXPECT_EQ(tg_table_checksum(v), ref);
  }
  void Release() override {
    gpudf_table_free(v);
    v = nullptr;
  }
  uint64_t Sum() override { return tg_table_checksum(t); }
};

// Attaches a share another process (the harness child) publishes: with the
// simulated device the view opens the owner's IPC handle here.
struct ForeignAttachOp : Op {
  harness::Child c;
  gpudf_table *v = nullptr;
  std::string name, ref;
  gpudf_backend want;
  explicit ForeignAttachOp(gpudf_backend w) : want(w) {
    name = harness::UniqueName("fault-fa");
    c = harness::Spawn({"share", name, "3000", "5"});
    std::string line = harness::ReadLine(c);
    EXPECT_EQ(line.rfind("shared ", 0), 0u) << line;
    ref = line.substr(line.find(' ') + 1);
  }
  ~ForeignAttachOp() override {
    harness::Kill(c);
    gpudf_cleanup(nullptr);
  }
  gpudf_status Run() override { return gpudf_attach(name.c_str(), &v); }
  void Check() override {
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(std::to_string(tg_table_checksum(v)), ref);
    if (want != GPUDF_BACKEND_AUTO) {
      EXPECT_EQ(gpudf_table_backend(v), want);
    }
  }
  void Release() override {
    gpudf_table_free(v);
    v = nullptr;
  }
};

// -------------------------------------------------------------- run

// Configs of a built-in kernel that pass validation on the datagen table:
// the defaults with column and choice parameters varied per config (a
// variation the kernel refuses is left at its default).
std::vector<double> KernelConfigs(const gpudf_table *t, const gpudf_kernel *k, int n) {
  int np = gpudf_kernel_nparams(k);
  std::vector<double> def(np), out;
  std::vector<gpudf_param_info> info(np);
  for (int p = 0; p < np; p++) {
    EXPECT_EQ(gpudf_kernel_param(k, p, &info[p]), GPUDF_OK);
    def[p] = info[p].def;
  }
  for (int i = 0; i < n; i++) {
    std::vector<double> c = def;
    for (int p = 0; p < np; p++) {
      if (info[p].shape) continue;
      double old = c[p];
      if (info[p].kind == GPUDF_PARAM_COLUMN) c[p] = (i + p) % gpudf_table_ncols(t);
      else if (info[p].kind == GPUDF_PARAM_CHOICE) c[p] = (i + p) % info[p].nchoices;
      else continue;
      if (gpudf_validate(t, k, c.data(), 1) != GPUDF_OK) c[p] = old;
    }
    EXPECT_EQ(gpudf_validate(t, k, c.data(), 1), GPUDF_OK) << gpudf_last_error();
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

// Equal up to rounding: a batch that failed is re-run config by config
// (engine/sweep/sweep_ctl.c), and a batch kernel may sum in another order then.
bool Close(double x, double y) {
  return x == y || (std::isnan(x) && std::isnan(y)) ||
         std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
}

bool SameResults(const std::vector<double> &a, const std::vector<double> &b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (!Close(a[i], b[i])) return false;
  return true;
}

std::string Diff(const std::vector<double> &a, const std::vector<double> &b) {
  std::ostringstream o;
  o.precision(17);
  int shown = 0;
  for (size_t i = 0; i < a.size() && i < b.size() && shown < 5; i++)
    if (!Close(a[i], b[i])) {
      o << " [" << i << "] " << a[i] << " != " << b[i];
      shown++;
    }
  return o.str();
}

// gpudf_run of one kernel over table t, compared with an unarmed run.
struct RunOp : Op {
  const gpudf_table *t;
  const gpudf_kernel *k = nullptr;
  std::vector<double> configs, out, ref;
  int64_t n = 12;
  RunOp(const gpudf_table *table, const char *kernel) : t(table) {
    EXPECT_EQ(gpudf_kernel_find(kernel, &k), GPUDF_OK);
    configs = KernelConfigs(t, k, (int)n);
    int w = gpudf_kernel_nresults(k, configs.data());
    ref.assign((size_t)(n * w), 0.0);
    EXPECT_EQ(gpudf_run(t, k, configs.data(), n, ref.data()), GPUDF_OK) << gpudf_last_error();
  }
  gpudf_status Run() override {
    out.assign(ref.size(), -12345.0);
    return gpudf_run(t, k, configs.data(), n, out.data());
  }
  void Check() override { EXPECT_TRUE(SameResults(out, ref)) << gpudf_kernel_name(k) << Diff(out, ref); }
  uint64_t Sum() override { return tg_table_checksum(t); }
};

// ------------------------------------------------------------ sweep

struct SweepOp : Op {
  int workers;
  const gpudf_kernel *k = nullptr;
  gpudf_table *t = nullptr;
  gpudf_sweep_result *res = nullptr;
  std::vector<double> configs, out, ref;
  int64_t n = 40;
  explicit SweepOp(int w, const char *kernel = "filter_agg") : workers(w) {
    EXPECT_EQ(gpudf_kernel_find(kernel, &k), GPUDF_OK);
    gpudf_table *probe = MakeTable();
    configs = KernelConfigs(probe, k, (int)n);
    ref.assign((size_t)(n * gpudf_kernel_nresults(k, configs.data())), 0.0);
    EXPECT_EQ(gpudf_run(probe, k, configs.data(), n, ref.data()), GPUDF_OK);
    gpudf_table_free(probe);
  }
  void Prepare() override { t = MakeTable(); }
  gpudf_status Run() override {
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    o.workers = workers;
    o.batch = 8;
    out.assign(ref.size(), -12345.0);
    return gpudf_sweep(t, k, configs.data(), n, out.data(), &o, &res);
  }
  // Under persistent faults a kernel's allocations keep failing: its
  // configs then end FAILED with a status and NaN results, and the sweep
  // itself is OK (gpudf.h). Otherwise every config must be done and right.
  bool configs_may_fail = false;
  void Check() override {
    ASSERT_NE(res, nullptr);
    gpudf_sweep_report rep;
    ASSERT_EQ(gpudf_sweep_result_report(res, &rep), GPUDF_OK);
    if (!configs_may_fail) {
      EXPECT_EQ(rep.done, n) << "failed " << rep.failed << ": "
                             << gpudf_sweep_result_reason(res, 0);
      EXPECT_TRUE(SameResults(out, ref)) << Diff(out, ref);
      return;
    }
    EXPECT_EQ(rep.done + rep.failed, n);
    size_t w = ref.size() / (size_t)n;
    for (int64_t i = 0; i < n; i++) {
      std::vector<double> got(out.begin() + i * w, out.begin() + (i + 1) * w);
      if (gpudf_sweep_result_state(res, i) == GPUDF_CONFIG_DONE) {
        std::vector<double> want(ref.begin() + i * w, ref.begin() + (i + 1) * w);
        EXPECT_TRUE(SameResults(got, want)) << "config " << i << Diff(got, want);
      } else {
        EXPECT_EQ(gpudf_sweep_result_state(res, i), GPUDF_CONFIG_FAILED) << "config " << i;
        EXPECT_NE(gpudf_sweep_result_error(res, i), GPUDF_OK) << "config " << i;
        for (double v : got) EXPECT_TRUE(std::isnan(v)) << "config " << i;
      }
    }
  }
  void Release() override {
    gpudf_sweep_result_free(res);
    res = nullptr;
  }
  void Finish() override {
    gpudf_table_free(t);
    t = nullptr;
  }
  uint64_t Sum() override { return tg_table_checksum(t); }
};

// -------------------------------------------------------------- CSV

struct CsvOp : Op {
  std::string path;
  gpudf_table *t = nullptr;
  uint64_t ref = 0;
  int ncols = 0;
  std::vector<std::string> labels;
  // tags > 0: a sixth column of that many distinct labels (a dictionary
  // that grows past its first 64 labels and 4 KiB of bytes).
  explicit CsvOp(int tags = 0) {
    path = "/tmp/gpudf-fault-" + std::to_string(getpid()) + ".csv";
    std::ofstream f(path);
    f << "id,price,flag,city,note" << (tags > 0 ? ",tag" : "") << "\n";
    const char *cities[] = {"Oslo", "Lima", "\"Rio, RJ\"", "Pune", ""};
    for (int i = 0; i < 500; i++) {
      f << i << "," << (i % 7 == 3 ? "" : std::to_string(i * 0.25)) << ","
        << (i % 3 ? "true" : "false") << "," << cities[i % 5] << ",n" << (i % 11);
      if (tags > 0) f << ",tag-" << std::string(20, 'x') << "-" << (i * 7 % tags);
      f << "\n";
    }
    f.close();
    EXPECT_EQ(gpudf_table_read_csv(path.c_str(), nullptr, &t), GPUDF_OK) << gpudf_last_error();
    if (!t) return;
    ref = tg_table_checksum(t);
    ncols = gpudf_table_ncols(t);
    labels = Labels();
    gpudf_table_free(t);
    t = nullptr;
  }
  ~CsvOp() override { unlink(path.c_str()); }
  std::vector<std::string> Labels() {
    std::vector<std::string> all;
    for (int c = 0; c < gpudf_table_ncols(t); c++)
      for (int32_t i = 0; i < gpudf_table_column_nlabels(t, c); i++)
        all.push_back(gpudf_table_column_label(t, c, i));
    return all;
  }
  std::string Extra() override { return path; }
  gpudf_status Run() override { return gpudf_table_read_csv(path.c_str(), nullptr, &t); }
  void Check() override {
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(gpudf_table_ncols(t), ncols);
    EXPECT_EQ(tg_table_checksum(t), ref);
    EXPECT_EQ(Labels(), labels);
  }
  void Release() override {
    gpudf_table_free(t);
    t = nullptr;
  }
};

// --------------------------------------------------------- fixtures

class Fault : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_FAULT_BUILD();
    // First calls open what the library keeps for the process (the shm
    // directory's descriptor): not a leak of the walks that follow.
    gpudf_cleanup(nullptr);
  }
  EnvVar no_backend{"GPUDF_BACKEND", nullptr};
  EnvVar no_sim{"GPUDF_SIMULATE_DEVICE", nullptr};
};

// With the simulated device of engine/device/device_sim.c.
class FaultSim : public Fault {
 protected:
  EnvVar sim{"GPUDF_SIMULATE_DEVICE", "1"};
};

const int kHostClasses[] = {kAlloc, kFile, kMmap};

TEST_F(Fault, TableShare) {
  for (int cls : kHostClasses) {
    ShareOp op(GPUDF_BACKEND_CPU, GPUDF_BACKEND_CPU);
    WalkResult w = Walk("gpudf_table_share cpu", op, cls);
    EXPECT_GT(w.points, 0) << kClassName[cls];
    if (HasFailure()) return;
  }
  ShareOp op(GPUDF_BACKEND_CPU, GPUDF_BACKEND_CPU);
  Walk("gpudf_table_share cpu", op, kAlloc, true);
}

// Every growth of a mapping moves it (kMove: not a failure). A pointer kept
// across a growth then points at unmapped memory, and the test crashes or
// ASan reports it, instead of depending on whether the kernel could grow the
// mapping in place (the CSV reader once kept its code pointers across the
// dictionaries it appends, and crashed on some files only).
bool RunMoved(const char *what, Op &op) {
  op.Prepare();
  Api().arm(kMove, 1, 1);
  gpudf_status st = op.Run();
  Api().disarm();
  bool moved = Api().fired();
  EXPECT_EQ(st, GPUDF_OK) << what << ": " << gpudf_last_error();
  if (st == GPUDF_OK) {
    op.Check();
    op.Release();
  }
  op.Finish();
  return moved;
}

TEST_F(Fault, EveryGrowthMovesTheMapping) {
  {
    CsvOp op;  // two text columns: a dictionary appended after each
    EXPECT_TRUE(RunMoved("gpudf_table_read_csv", op)) << "no growth moved";
  }
  {
    AddCategoricalOp op;
    RunMoved("gpudf_table_add_categorical", op);
  }
  {
    ShareOp op(GPUDF_BACKEND_CPU, GPUDF_BACKEND_CPU);
    RunMoved("gpudf_table_share cpu", op);
  }
  {
    SweepOp op(0);
    RunMoved("gpudf_sweep workers=0", op);
  }
}

TEST_F(Fault, AddCategorical) {
  for (int cls : kHostClasses) {
    AddCategoricalOp op;
    Walk("gpudf_table_add_categorical", op, cls);
    if (HasFailure()) return;
  }
}

TEST_F(Fault, Attach) {
  for (int cls : kHostClasses) {
    AttachOp op;
    WalkResult w = Walk("gpudf_attach", op, cls);
    EXPECT_GT(w.points, 0) << kClassName[cls];
    if (HasFailure()) return;
  }
  AttachOp op;
  Walk("gpudf_attach", op, kAlloc, true);
}

TEST_F(Fault, RunEveryKernel) {
  gpudf_table *t = MakeTable(3000, 3);
  for (int i = 0; i < gpudf_kernel_count() && !HasFailure(); i++) {
    const char *name = gpudf_kernel_name(gpudf_kernel_at(i));
    RunOp op(t, name);
    Walk((std::string("gpudf_run ") + name).c_str(), op, kAlloc);
    if (!HasFailure()) Walk((std::string("gpudf_run ") + name).c_str(), op, kAlloc, true);
  }
  gpudf_table_free(t);
}

// Runs of configs over the same columns take other paths (filter buckets:
// kernels/common/k_buckets.h, with allocations of their own): a failed
// allocation there is a clean ENOMEM, never other sums or counts.
TEST_F(Fault, RunLongBatchesOverOneColumnSet) {
  gpudf_table *t = MakeTable(3000, 5);
  // Columns a i32, c f32, d f64 (datagen.h); 12 configs, ops and thresholds varied.
  for (const char *name : {"groupby_agg", "histogram"}) {
    RunOp op(t, name);
    op.configs.clear();
    for (int i = 0; i < (int)op.n; i++) {
      double lo = 1000.0 * (i % 7), op_ = (double)(i % 8);
      if (std::string(name) == "groupby_agg")
        op.configs.insert(op.configs.end(), {2, op_, lo, lo + 5000, 0, 3, 300});
      else
        op.configs.insert(op.configs.end(), {2, op_, lo, lo + 5000, 3, 50, -1, 1});
    }
    op.ref.assign((size_t)(op.n * gpudf_kernel_nresults(op.k, op.configs.data())), 0.0);
    EXPECT_EQ(gpudf_run(t, op.k, op.configs.data(), op.n, op.ref.data()), GPUDF_OK)
        << gpudf_last_error();
    Walk((std::string("gpudf_run batch ") + name).c_str(), op, kAlloc);
    if (!HasFailure()) Walk((std::string("gpudf_run batch ") + name).c_str(), op, kAlloc, true);
  }
  gpudf_table_free(t);
}

TEST_F(Fault, SweepInProcess) {
  for (int cls : kHostClasses) {
    SweepOp op(0);
    Walk("gpudf_sweep workers=0", op, cls);
    if (HasFailure()) return;
  }
}

TEST_F(Fault, SweepInProcessPersistent) {
  SweepOp op(0);
  op.configs_may_fail = true;
  Walk("gpudf_sweep workers=0", op, kAlloc, true);
}

TEST_F(Fault, SweepWorkersAlloc) {
  SweepOp op(2);
  Walk("gpudf_sweep workers=2", op, kAlloc);
}

// Row-split sweeps (GPUDF_SWEEP_SPLIT forces 3 row ranges per chunk): the
// tasks, their partial states and the owner's merge under every failing
// allocation, in process and with workers, filter_agg (own state) and
// histogram (the result row as state).
TEST_F(Fault, SweepRowSplitInProcess) {
  EnvVar split("GPUDF_SWEEP_SPLIT", "3");
  for (const char *kernel : {"filter_agg", "histogram"}) {
    SweepOp op(0, kernel);
    Walk("gpudf_sweep workers=0, rows split", op, kAlloc);
    if (HasFailure()) return;
    SweepOp persistent(0, kernel);
    persistent.configs_may_fail = true;
    Walk("gpudf_sweep workers=0, rows split", persistent, kAlloc, true);
    if (HasFailure()) return;
  }
}

TEST_F(Fault, SweepRowSplitWorkers) {
  EnvVar split("GPUDF_SWEEP_SPLIT", "3");
  for (int cls : {kAlloc, kFile, kMmap}) {
    SweepOp op(2);
    Walk("gpudf_sweep workers=2, rows split", op, cls);
    if (HasFailure()) return;
  }
}

TEST_F(Fault, SweepWorkersFileAndMmap) {
  for (int cls : {kFile, kMmap}) {
    SweepOp op(2);
    Walk("gpudf_sweep workers=2", op, cls);
    if (HasFailure()) return;
  }
}

TEST_F(Fault, SweepWorkersSpawn) {
  SweepOp op(2);
  WalkResult w = Walk("gpudf_sweep workers=2", op, kSpawn);
  EXPECT_EQ(w.points, 2) << "one process start per worker";
}

// The CSV reader (engine/csv*.c).
TEST_F(Fault, ReadCsv) {
  for (int cls : kHostClasses) {
    CsvOp op;
    Walk("gpudf_table_read_csv", op, cls);
    if (HasFailure()) return;
  }
  CsvOp op;
  Walk("gpudf_table_read_csv", op, kAlloc, true);
}

// A dictionary that grows (300 labels of 26-28 bytes: its codes' arrays
// past 64 and 128 entries, its bytes past 4 KiB): an allocation that fails
// in any growth is ENOMEM, and frees what the dictionary held (LSan's check
// after each step, tests/run.sh's ASan pass).
TEST_F(Fault, ReadCsvWithAGrowingDictionary) {
  EnvVar threads("GPUDF_THREADS", "1");
  CsvOp op(300);
  Walk("gpudf_table_read_csv, 300 labels", op, kAlloc);
}

// The parallel CSV reader (chunks of 512 bytes on 3 threads): a thread that
// cannot be started leaves its chunks to the others; an allocation that fails
// in a chunk hands the file to the one-core reader, whose table or status is
// the answer (ENOMEM when it fails there too: the persistent walk).
TEST_F(Fault, ReadCsvInChunks) {
  for (int cls : {kAlloc, kSpawn, kMmap, kFile}) {
    CsvOp op;  // its reference read: one core
    EnvVar chunk("GPUDF_CSV_CHUNK_BYTES", "512");
    EnvVar threads("GPUDF_THREADS", "3");
    WalkResult w = Walk("gpudf_table_read_csv in chunks", op, cls);
    if (cls == kSpawn) {
      EXPECT_GT(w.points, 0) << "no thread was started";
    }
    if (HasFailure()) return;
  }
  CsvOp op;
  EnvVar chunk("GPUDF_CSV_CHUNK_BYTES", "512");
  EnvVar threads("GPUDF_THREADS", "3");
  Walk("gpudf_table_read_csv in chunks", op, kAlloc, true);
}

// options.threads, else GPUDF_THREADS, else the online CPUs, is how many
// threads parse, the caller one of them: each parallel step of a read in
// chunks starts threads - 1 (the thread starts are counted by the fault
// hooks, failing none). One thread starts none.
TEST_F(Fault, ReadCsvInChunksStartsTheThreadsAsked) {
  CsvOp op;
  EnvVar chunk("GPUDF_CSV_CHUNK_BYTES", "512");  // about 40 chunks
  EnvVar no_env("GPUDF_THREADS", nullptr);
  auto started = [&](int threads) {
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    o.threads = threads;
    gpudf_table *t = nullptr;
    Api().arm(kSpawn, 0, false);
    gpudf_status st = gpudf_table_read_csv(op.path.c_str(), &o, &t);
    long n = Api().disarm();
    EXPECT_EQ(st, GPUDF_OK) << gpudf_last_error();
    if (t) {
      EXPECT_EQ(tg_table_checksum(t), op.ref) << threads << " threads";
    }
    gpudf_table_free(t);
    return n;
  };
  EXPECT_EQ(started(1), 0);
  const long steps = started(2);  // one thread per parallel step
  ASSERT_GT(steps, 0);
  EXPECT_EQ(started(3), 2 * steps);
  EXPECT_EQ(started(5), 4 * steps);
  {
    EnvVar env("GPUDF_THREADS", "3");
    EXPECT_EQ(started(0), 2 * steps);
    EXPECT_EQ(started(4), 3 * steps) << "options.threads comes before GPUDF_THREADS";
  }
  // The default: every online CPU (as many threads as chunks at most).
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(started(0), started((int)std::min(cpus, 256L))) << cpus << " CPUs";
  if (cpus > 1) {
    EXPECT_GT(started(0), 0);
  }
}

// The one pass on types guessed from the first rows, in chunks (csv.c,
// parallel_guess): an allocation or a thread that fails there (a chunk's
// columns, its dictionaries, their merge) hands the file on to the two
// passes; the table is the reference's, or GPUDF_ENOMEM.
TEST_F(Fault, ReadCsvInChunksOnGuessedTypes) {
  for (int cls : {kAlloc, kSpawn}) {
    CsvOp op;  // its reference read: one core, the default inference
    EnvVar chunk("GPUDF_CSV_CHUNK_BYTES", "512");
    EnvVar threads("GPUDF_THREADS", "3");
    EnvVar rows("GPUDF_CSV_INFER_ROWS", "50");
    WalkResult w = Walk("gpudf_table_read_csv in chunks on guessed types", op, cls);
    EXPECT_GT(w.points, 0);
    if (HasFailure()) return;
  }
}

// Placements on the simulated device: forced placements fail with the
// device's status, auto falls back (and must still be right).
TEST_F(FaultSim, ShareCudaIpc) {
  for (int cls : {kDevice, kAlloc, kFile, kMmap}) {
    ShareOp op(GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_IPC);
    WalkResult w = Walk("gpudf_table_share cuda-ipc (simulated)", op, cls);
    EXPECT_GT(w.points, 0) << kClassName[cls];
    if (HasFailure()) return;
  }
}

// Four devices: every device call of the four replicas fails in turn. Under
// "all" a failed replica is a device skipped; with the devices named it is
// the share's error; either way nothing is left behind.
TEST_F(FaultSim, ShareCudaIpcOnFourDevices) {
  EnvVar four{"GPUDF_SIM_DEVICES", "4"};
  for (const char *devices : {"all", "0,1,2,3"}) {
    EnvVar named{"GPUDF_DEVICES", devices};
    for (int cls : {kDevice, kAlloc}) {
      ShareOp op(GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_IPC);
      std::string what = std::string("gpudf_table_share cuda-ipc on devices ") + devices;
      WalkResult w = Walk(what.c_str(), op, cls);
      EXPECT_GT(w.points, 0) << kClassName[cls];
      if (HasFailure()) return;
    }
  }
}

TEST_F(FaultSim, ShareCudaPinned) {
  for (int cls : {kDevice, kAlloc}) {
    ShareOp op(GPUDF_BACKEND_CUDA_PINNED, GPUDF_BACKEND_CUDA_PINNED);
    WalkResult w = Walk("gpudf_table_share cuda-pinned (simulated)", op, cls);
    EXPECT_GT(w.points, 0) << kClassName[cls];
    if (HasFailure()) return;
  }
}

TEST_F(FaultSim, ShareAutoFallsBack) {
  ShareOp op(GPUDF_BACKEND_AUTO, GPUDF_BACKEND_AUTO);
  WalkResult w = Walk("gpudf_table_share auto (simulated)", op, kDevice);
  EXPECT_GT(w.absorbed, 0) << "auto falls back to cuda-pinned or cpu instead of failing";
}

TEST_F(FaultSim, RunOnDevice) {
  for (gpudf_backend b : {GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED}) {
    gpudf_table *t = MakeTable(3000, 9);
    gpudf_share *s = nullptr;
    ASSERT_EQ(gpudf_table_share(t, nullptr, b, &s), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_table_backend(t), b);
    for (int i = 0; i < gpudf_kernel_count() && !HasFailure(); i++) {
      const char *name = gpudf_kernel_name(gpudf_kernel_at(i));
      RunOp op(t, name);
      std::string what = std::string("gpudf_run ") + name + " on " + gpudf_backend_name(b);
      Walk(what.c_str(), op, kDevice);
      if (!HasFailure()) Walk(what.c_str(), op, kAlloc);
    }
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
}

TEST_F(FaultSim, AttachOwnShare) {
  for (int cls : {kDevice, kAlloc, kFile, kMmap}) {
    AttachOp op(GPUDF_BACKEND_CUDA_IPC);
    Walk("gpudf_attach of an own cuda-ipc share (simulated)", op, cls);
    if (HasFailure()) return;
  }
}

TEST_F(FaultSim, AttachForeignShare) {
  for (int cls : {kDevice, kAlloc, kFile, kMmap}) {
    ForeignAttachOp op(GPUDF_BACKEND_AUTO);
    WalkResult w = Walk("gpudf_attach of another process's share (simulated)", op, cls);
    EXPECT_GT(w.points, 0) << kClassName[cls];
    if (HasFailure()) return;
  }
}

TEST_F(FaultSim, AttachForeignShareForcedIpc) {
  EnvVar forced("GPUDF_BACKEND", "cuda-ipc");
  ForeignAttachOp op(GPUDF_BACKEND_CUDA_IPC);
  WalkResult w = Walk("gpudf_attach, GPUDF_BACKEND=cuda-ipc (simulated)", op, kDevice);
  EXPECT_EQ(w.absorbed, 0) << "a forced placement never falls back";
}

TEST_F(FaultSim, SweepWorkers) {
  SweepOp op(2);
  Walk("gpudf_sweep workers=2 (simulated device)", op, kDevice);
}

}  // namespace
