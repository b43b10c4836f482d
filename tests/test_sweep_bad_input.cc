// test_sweep_bad_input.cc - sweeps refused before they start, or ended
// because their workers cannot start: unknown kernels, invalid configs, bad
// options, missing or dying worker executables, bad plugins. Each error
// names gpudf_sweep and the thing that was wrong.
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
#include <cstring>
#include <functional>

#include "ctl_fields.h"
#include "datagen.h"
#include "harness.h"
#include "sweep_support.h"
#include "sweep_worker.h"

namespace {

using namespace sweeptest;

// A kernel is named by the pointer gpudf_kernel_find gives: an unknown name
// is refused there, naming it, and a NULL kernel by the sweep, naming both.
TEST(SweepBadInput, UnknownKernelIsRefusedByTheLookupAndANullKernelByTheSweep) {
  Table tb(10);
  double cfg[5] = {0}, res[6];
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find("nope", &k), GPUDF_ENOENT);
  EXPECT_NE(Err().find("nope"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_sweep(tb.t, k, cfg, 1, res, nullptr, nullptr), GPUDF_EINVAL);
  EXPECT_EQ(Err(), "gpudf_sweep: kernel is NULL");
}

TEST(SweepBadInput, InvalidConfigNamesItsIndex) {
  Table tb(10);
  auto cfg = FilterAggConfigs(6, 3);
  cfg[5 * 3 + 4] = 99;  // value_col out of range
  std::vector<double> res(36);
  auto o = Options(2);
  Result r;
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg.data(), 6, res.data(), &o, &r.r), GPUDF_EINVAL);
  EXPECT_EQ(r.r, nullptr);
  EXPECT_NE(Err().find("config 3"), std::string::npos) << Err();
  EXPECT_NE(Err().find("gpudf_sweep"), std::string::npos) << Err();
  EXPECT_TRUE(WorkerPids(getpid()).empty());
}

TEST(SweepBadInput, WorkerCounts) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  for (int w : {-2, GPUDF_SWEEP_WORKERS_MAX + 1, 1 << 30}) {
    auto o = Options(w);
    EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL) << w;
    EXPECT_NE(Err().find("workers"), std::string::npos) << Err();
  }
}

TEST(SweepBadInput, ResultsNullAndOptionsUninitialised) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, nullptr, nullptr, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("results"), std::string::npos) << Err();
  gpudf_sweep_options o{};
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("gpudf_sweep_options_init"), std::string::npos) << Err();
  EXPECT_EQ(gpudf_sweep(nullptr, tg_kernel("filter_agg"), cfg, 1, res, nullptr, nullptr), GPUDF_EINVAL);
}

TEST(SweepBadInput, MissingWorkerExecutable) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  setenv("GPUDF_WORKER", "/nonexistent/gpudf-worker", 1);
  auto o = Options(1);
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
  unsetenv("GPUDF_WORKER");
  EXPECT_NE(Err().find("/nonexistent/gpudf-worker"), std::string::npos) << Err();
  // Named after the call the user made, not one it made inside.
  EXPECT_EQ(Err().rfind("gpudf_sweep: ", 0), 0u) << Err();
  // And a later, unrelated call's message carries its own name.
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_create(0, &t), GPUDF_EINVAL);
  EXPECT_EQ(Err().rfind("gpudf_table_create: ", 0), 0u) << Err();
}

// A "worker" (GPUDF_WORKER) that is a shell script doing `what`, in a
// scratch file removed with this object.
struct FakeWorker {
  std::string path;
  explicit FakeWorker(const std::string &what) {
    path = "/tmp/gpudf-fake-worker-" + std::to_string(getpid()) + ".sh";
    std::ofstream(path) << "#!/bin/sh\n" << what << "\n";
    chmod(path.c_str(), 0700);
    setenv("GPUDF_WORKER", path.c_str(), 1);
  }
  ~FakeWorker() {
    unsetenv("GPUDF_WORKER");
    unlink(path.c_str());
  }
};

// Workers that die before they start, by a signal or a silent exit 0 (a
// plugin whose init crashes in the worker): a few are replaced (one may
// have been killed), but the sweep then fails with why, rather than
// starting workers forever. Its message names gpudf_sweep, not a call it
// made inside (gpudf_table_share, gpudf_plugin_load).
TEST(SweepBadInput, WorkersThatAlwaysDieAtStartEndTheSweep) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  for (const char *what : {"exit 0", "kill -SEGV $$"}) {
    SCOPED_TRACE(what);
    FakeWorker fake(what);
    auto o = Options(2);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EIO);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 10.0);
    EXPECT_EQ(Err().rfind("gpudf_sweep: worker ", 0), 0u) << Err();
    EXPECT_NE(Err().find("before it started, as did the ones before it"), std::string::npos)
        << Err();
  }
}

// A worker that never gets to start (a hanging plugin init) is killed after
// GPUDF_WORKER_START_TIMEOUT seconds (with a time limit: 60 s at least).
TEST(SweepBadInput, AWorkerThatHangsAtStartIsKilled) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  FakeWorker fake("exec sleep 600");
  setenv("GPUDF_WORKER_START_TIMEOUT", "1", 1);
  auto o = Options(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EIO);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  unsetenv("GPUDF_WORKER_START_TIMEOUT");
  EXPECT_GT(s, 0.9);
  EXPECT_LT(s, 5.0);
  EXPECT_NE(Err().find("did not start within 1 s"), std::string::npos) << Err();
  EXPECT_TRUE(harness::ChildrenNamed(getpid(), "sleep", false).empty()) << "the worker is left";
}

TEST(SweepBadInput, BadPlugins) {
  Table tb(10);
  double cfg[5] = {0, 0, 0, 0, 0}, res[6];
  const char *missing[] = {"/nonexistent/plugin.so"};
  auto o = Options(1);
  o.nplugins = 1;
  o.plugins = missing;
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_ENOENT);
  EXPECT_NE(Err().find("/nonexistent/plugin.so"), std::string::npos) << Err();
  const char *not_plugin[] = {GPUDF_TEST_CHILD};  // an executable, not a library
  o.plugins = not_plugin;
  EXPECT_EQ(gpudf_sweep(tb.t, tg_kernel("filter_agg"), cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("not a loadable shared library"), std::string::npos) << Err();
  EXPECT_TRUE(WorkerPids(getpid()).empty());
}

}  // namespace

namespace {

// A worker checks the control segment it maps before it reads any part of
// it: every part it reads (pass groups, row-split chunks, task states and
// partial states, series, their order and starts) lies inside the segment,
// and the indices in them are in range. Each case below is a segment
// that is right but for one thing (or exactly full, which is right); the
// worker is gpudf_worker_main in a child of this process, and a segment it
// accepts reaches the kernel lookup, which fails on purpose.
struct CtlSegment {
  tg_ctl_fields f = tg_ctl_fields_get();
  std::vector<unsigned char> b;
  template <class T> void Put(size_t off, T v) { std::memcpy(b.data() + off, &v, sizeof v); }
  void Put64(size_t off, int64_t v) { Put(off, v); }
  // The parts: groups at 64 KiB, chunks 128, task states 160, states 256,
  // series 768, order 800, series starts 832; 1 MiB in all.
  enum : uint64_t { kGroups = 64 << 10, kChunks = 128 << 10, kTstate = 160 << 10,
                    kStates = 256 << 10, kSeries = 768 << 10, kPerm = 800 << 10,
                    kStarts = 832 << 10, kSize = 1 << 20 };
  static const int64_t kN = 8;
  explicit CtlSegment(int with) : b(kSize, 0) {
    Put(f.magic, f.magic_value);
    Put(f.version, f.version_value);
    Put(f.nslots, uint32_t{1});
    Put(f.size, uint64_t{kSize});
    Put(f.owner_pid, int32_t(getpid()));
    std::memcpy(b.data() + f.kernel, "no_such_kernel", 15);
    Put64(f.n, kN);
    Put(f.off_slots, uint64_t{(f.header + 7) / 8 * 8});
    Put64(f.ngroups, 2);
    Put(f.off_groups, uint64_t{kGroups});
    Groups({0, 3, 8});
    if (with == 1) {  // row-split: 2 chunks of 3 ranges, 2 doubles of state
      Put64(f.nchunks, 2);
      Put(f.nranges, int32_t{3});
      Put(f.nstate, int32_t{2});
      Put64(f.ntasks, 6);
      Put64(f.nrows, 100);
      Put(f.off_chunks, uint64_t{kChunks});
      Put(f.off_tstate, uint64_t{kTstate});
      Put(f.off_states, uint64_t{kStates});
      Chunks({0, 4, 8});
    }
    if (with == 2) {  // 2 series over 5 rows, the order in the segment
      Put64(f.nseries, 2);
      Put64(f.nperm, 5);
      Put64(f.order_col, -1);
      Put(f.off_series, uint64_t{kSeries});
      Put(f.off_perm, uint64_t{kPerm});
      Put(f.off_starts, uint64_t{kStarts});
      for (int64_t i = 0; i < kN; i++) Put64(kSeries + 8 * i, i < 3 ? 0 : 1);
      Starts({0, 2, 5});
    }
  }
  // A segment `by` bytes short of 1 MiB: the last page of its mapping then
  // reads as zeros past the end, so a part that a check fails to keep
  // inside reads zeros there rather than whatever lies past the mapping.
  static const uint64_t kShort = kSize - 64;
  void Shorten() {
    b.resize(kShort);
    Put(f.size, uint64_t{kShort});
  }
  void Groups(std::vector<int64_t> v) { for (size_t i = 0; i < v.size(); i++) Put64(kGroups + 8 * i, v[i]); }
  void Chunks(std::vector<int64_t> v) { for (size_t i = 0; i < v.size(); i++) Put64(kChunks + 8 * i, v[i]); }
  void Starts(std::vector<int64_t> v) { for (size_t i = 0; i < v.size(); i++) Put64(kStarts + 8 * i, v[i]); }

  // Runs a worker on it as slot `slot`; returns its exit status and message.
  std::pair<int, std::string> RunWorker(int slot = 0) const {
    std::string name = harness::UniqueName("ctl");
    std::ofstream(harness::ShmPath(name), std::ios::binary)
        .write(reinterpret_cast<const char *>(b.data()), (std::streamsize)b.size());
    int fds[2];
    if (pipe(fds) != 0) return {-1, "pipe"};
    pid_t p = fork();
    if (p == 0) {
      close(fds[0]);
      std::string s = std::to_string(slot);
      char prog[] = "gpudf-worker";
      char *argv[] = {prog, const_cast<char *>(name.c_str()), const_cast<char *>(s.c_str()),
                      nullptr};
      int rc = gpudf_worker_main(3, argv);
      const char *msg = gpudf_last_error();
      if (write(fds[1], msg, std::strlen(msg)) < 0) rc = 99;
      _exit(rc);
    }
    close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t got;
    while ((got = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, (size_t)got);
    close(fds[0]);
    int ws = 0;
    waitpid(p, &ws, 0);
    unlink(harness::ShmPath(name).c_str());
    return {WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), msg};
  }
};

TEST(SweepBadInput, AWorkerRefusesAControlSegmentWhosePartsLieOutsideIt) {
  using S = CtlSegment;
  const char *ok = "no kernel named 'no_such_kernel'";
  const char *alien = "is not a gpudf sweep control segment of this version";
  const char *parts = "its configs, results or slots lie outside the segment";
  const char *groups = "its pass groups lie outside the segment";
  const char *tasks = "its row-split tasks lie outside the segment";
  const char *series = "its series lie outside the segment";
  const tg_ctl_fields f = tg_ctl_fields_get();
  const int64_t R = f.ranges_max;
  struct Case {
    const char *what;
    int with;
    std::function<void(S &)> change;
    const char *expect;
  };
  std::vector<Case> cases = {
      {"right", 0, [](S &) {}, ok},
      {"right, row-split", 1, [](S &) {}, ok},
      {"right, series", 2, [](S &) {}, ok},
      {"magic", 0, [&](S &s) { s.Put(f.magic, f.magic_value + 1); }, alien},
      {"version", 0, [&](S &s) { s.Put(f.version, f.version_value + 1); }, alien},
      {"size field", 0, [&](S &s) { s.Put(f.size, uint64_t{S::kSize - 8}); }, alien},
      // The parts every worker reads or writes: configs, results, state
      // and error per config, the slots, the messages.
      {"n -1", 0, [&](S &s) { s.Put64(f.n, -1); }, parts},
      {"nparams -1", 0, [&](S &s) { s.Put(f.nparams, int32_t{-1}); }, parts},
      {"nresults -1", 0, [&](S &s) { s.Put(f.nresults, int32_t{-1}); }, parts},
      {"configs end the segment", 0, [&](S &s) { s.Put(f.nparams, int32_t{3}); s.Put(f.off_configs, uint64_t{S::kSize - 8 * 3 * S::kN}); }, ok},
      {"configs past its end", 0, [&](S &s) { s.Put(f.nparams, int32_t{3}); s.Put(f.off_configs, uint64_t{S::kSize - 8 * 3 * S::kN + 8}); }, parts},
      {"configs start past its end", 0, [&](S &s) { s.Put(f.off_configs, uint64_t{S::kSize + 8}); }, parts},
      {"results end the segment", 0, [&](S &s) { s.Put(f.nresults, int32_t{2}); s.Put(f.off_results, uint64_t{S::kSize - 8 * 2 * S::kN}); }, ok},
      {"results past its end", 0, [&](S &s) { s.Put(f.nresults, int32_t{2}); s.Put(f.off_results, uint64_t{S::kSize - 8 * 2 * S::kN + 8}); }, parts},
      {"results start past its end", 0, [&](S &s) { s.Put(f.off_results, uint64_t{S::kSize + 8}); }, parts},
      {"states end the segment", 0, [&](S &s) { s.Put(f.off_state, uint64_t{S::kSize - S::kN}); }, ok},
      {"states past its end", 0, [&](S &s) { s.Put(f.off_state, uint64_t{S::kSize - S::kN + 1}); }, parts},
      {"errors end the segment", 0, [&](S &s) { s.Put(f.off_err, uint64_t{S::kSize - 4 * S::kN}); }, ok},
      {"errors past its end", 0, [&](S &s) { s.Put(f.off_err, uint64_t{S::kSize - 4 * S::kN + 4}); }, parts},
      {"slots end the segment", 0, [&](S &s) { s.Put(f.off_slots, uint64_t{S::kSize - f.slot}); }, ok},
      {"slots past its end", 0, [&](S &s) { s.Put(f.off_slots, uint64_t{S::kSize - f.slot + 8}); }, parts},
      {"a second slot past its end", 0, [&](S &s) { s.Put(f.nslots, uint32_t{2}); s.Put(f.off_slots, uint64_t{S::kSize - f.slot}); }, parts},
      {"slots far past its end", 0, [&](S &s) { s.Put(f.off_slots, uint64_t{S::kSize + (1 << 20)}); }, parts},
      {"messages end the segment", 0, [&](S &s) { s.Put(f.off_msgs, uint64_t{S::kSize - f.msg * f.msgs}); }, ok},
      {"messages past its end", 0, [&](S &s) { s.Put(f.off_msgs, uint64_t{S::kSize - f.msg * f.msgs + 8}); }, parts},
      // Pass groups: 0..n of them, ngroups + 1 starts inside.
      {"ngroups -1", 0, [&](S &s) { s.Put64(f.ngroups, -1); }, groups},
      {"ngroups n", 0, [&](S &s) { s.Put64(f.ngroups, S::kN); }, ok},
      {"ngroups n + 1", 0, [&](S &s) { s.Put64(f.ngroups, S::kN + 1); }, groups},
      {"groups end the segment", 0, [&](S &s) { s.Put(f.off_groups, uint64_t{S::kSize - 24}); }, ok},
      {"groups past its end", 0, [&](S &s) { s.Put(f.off_groups, uint64_t{S::kSize - 16}); }, groups},
      {"groups start past its end", 0, [&](S &s) { s.Put(f.off_groups, uint64_t{S::kSize + 8}); }, groups},
      {"no groups at its end", 0, [&](S &s) { s.Put64(f.ngroups, 0); s.Put(f.off_groups, uint64_t{S::kSize}); }, ok},
      {"one group past its end", 0, [&](S &s) { s.Put64(f.ngroups, 1); s.Put(f.off_groups, uint64_t{S::kSize - 8}); }, groups},
      // Row-split tasks.
      {"nchunks 0", 1, [&](S &s) { s.Put64(f.nchunks, 0); s.Put64(f.ntasks, 0); }, ok},
      {"nchunks 0, tasks", 1, [&](S &s) { s.Put64(f.nchunks, 0); }, tasks},
      {"nchunks n", 1, [&](S &s) { s.Put64(f.nchunks, S::kN); s.Put64(f.ntasks, 3 * S::kN);
                                    for (int64_t j = 0; j <= S::kN; j++) s.Put64(S::kChunks + 8 * j, j); }, ok},
      {"nchunks n + 1", 1, [&](S &s) { s.Put64(f.nchunks, S::kN + 1); s.Put64(f.ntasks, 3 * S::kN + 3);
                                        for (int64_t j = 0; j <= S::kN + 1; j++) s.Put64(S::kChunks + 8 * j, j > S::kN ? S::kN : j); }, tasks},
      {"nranges 0", 1, [&](S &s) { s.Put(f.nranges, int32_t{0}); s.Put64(f.ntasks, 0); }, ok},
      {"nranges 0, tasks", 1, [&](S &s) { s.Put(f.nranges, int32_t{0}); }, tasks},
      {"nranges at most", 1, [&](S &s) { s.Put(f.nranges, int32_t(R)); s.Put64(f.ntasks, 2 * R);
                                          s.Put(f.nstate, int32_t{1}); s.Put(f.off_states, uint64_t{S::kSize - 8 * S::kN * R}); }, ok},
      {"nranges past most", 1, [&](S &s) { s.Put(f.nranges, int32_t(R + 1)); s.Put64(f.ntasks, 2 * R + 2);
                                            s.Put(f.nstate, int32_t{1}); s.Put(f.off_states, uint64_t{S::kSize - 8 * S::kN * (R + 1)}); }, tasks},
      {"nstate 0", 1, [&](S &s) { s.Put(f.nstate, int32_t{0}); }, tasks},
      {"nrows 0", 1, [&](S &s) { s.Put64(f.nrows, 0); }, ok},
      {"nrows -1", 1, [&](S &s) { s.Put64(f.nrows, -1); }, tasks},
      {"ntasks one more", 1, [&](S &s) { s.Put64(f.ntasks, 7); }, tasks},
      {"ntasks one less", 1, [&](S &s) { s.Put64(f.ntasks, 5); }, tasks},
      {"chunks end the segment", 1, [&](S &s) { s.Put(f.off_chunks, uint64_t{S::kSize - 24});
                                                s.b[S::kSize - 24] = 0; s.Put64(S::kSize - 16, 4); s.Put64(S::kSize - 8, 8); }, ok},
      {"chunks past its end", 1, [&](S &s) { s.Put(f.off_chunks, uint64_t{S::kSize - 16}); s.Put64(S::kSize - 16, 4); s.Put64(S::kSize - 8, 8); }, tasks},
      {"chunks start past its end", 1, [&](S &s) { s.Put(f.off_chunks, uint64_t{S::kSize + 8}); }, tasks},
      {"task states end the segment", 1, [&](S &s) { s.Put(f.off_tstate, uint64_t{S::kSize - 24}); }, ok},
      {"task states past its end", 1, [&](S &s) { s.Put(f.off_tstate, uint64_t{S::kSize - 20}); }, tasks},
      {"task states start past its end", 1, [&](S &s) { s.Put(f.off_tstate, uint64_t{S::kSize + 4}); }, tasks},
      {"states end the segment", 1, [&](S &s) { s.Put(f.off_states, uint64_t{S::kSize - 8 * 8 * 3 * 2}); }, ok},
      {"states past its end", 1, [&](S &s) { s.Put(f.off_states, uint64_t{S::kSize - 8 * 8 * 3 * 2 + 8}); }, tasks},
      {"states start past its end", 1, [&](S &s) { s.Put(f.off_states, uint64_t{S::kSize + 8}); }, tasks},
      {"chunks past a short end", 1, [&](S &s) { s.Shorten(); s.Put(f.off_chunks, uint64_t{S::kShort - 16});
                                                 s.Put64(S::kShort - 16, 0); s.Put64(S::kShort - 8, 0); }, tasks},
      {"chunks down", 1, [&](S &s) { s.Chunks({0, 5, 4}); }, tasks},
      {"chunks equal", 1, [&](S &s) { s.Chunks({0, 0, 8}); }, ok},
      {"chunk below 0", 1, [&](S &s) { s.Chunks({-1, 4, 8}); }, tasks},
      {"chunk past n", 1, [&](S &s) { s.Chunks({0, 4, 9}); }, tasks},
      // Series.
      {"nperm -1", 2, [&](S &s) { s.Put64(f.nperm, -1); s.Starts({0, 0, 0}); }, series},
      {"nperm 0", 2, [&](S &s) { s.Put64(f.nperm, 0); s.Starts({0, 0, 0}); }, ok},
      {"series end the segment", 2, [&](S &s) { s.Put(f.off_series, uint64_t{S::kSize - 8 * S::kN}); }, ok},
      {"series past its end", 2, [&](S &s) { s.Put(f.off_series, uint64_t{S::kSize - 8 * S::kN + 8}); }, series},
      {"series start past its end", 2, [&](S &s) { s.Put(f.off_series, uint64_t{S::kSize + 8}); }, series},
      {"order ends the segment", 2, [&](S &s) { s.Put(f.off_perm, uint64_t{S::kSize - 40}); }, ok},
      {"order past its end", 2, [&](S &s) { s.Put(f.off_perm, uint64_t{S::kSize - 32}); }, series},
      {"order start past its end", 2, [&](S &s) { s.Put(f.off_perm, uint64_t{S::kSize + 8}); }, series},
      {"order in the table", 2, [&](S &s) { s.Put64(f.order_col, 0); s.Put(f.off_perm, uint64_t{S::kSize - 8}); }, ok},
      {"starts end the segment", 2, [&](S &s) { s.Put(f.off_starts, uint64_t{S::kSize - 24});
                                                s.Put64(S::kSize - 16, 2); s.Put64(S::kSize - 8, 5); }, ok},
      {"starts past its end", 2, [&](S &s) { s.Put(f.off_starts, uint64_t{S::kSize - 16}); }, series},
      {"starts start past its end", 2, [&](S &s) { s.Put(f.off_starts, uint64_t{S::kSize + 8}); }, series},
      {"series past a short end", 2, [&](S &s) { s.Shorten(); s.Put(f.off_series, uint64_t{S::kShort - 8 * S::kN + 8}); }, series},
      {"starts past a short end", 2, [&](S &s) { s.Shorten(); s.Put(f.off_starts, uint64_t{S::kShort - 16});
                                                 s.Put64(S::kShort - 16, 0); s.Put64(S::kShort - 8, 0); }, series},
      {"a series -1", 2, [&](S &s) { s.Put64(S::kSeries + 8 * 7, -1); }, series},
      {"a series of nseries", 2, [&](S &s) { s.Put64(S::kSeries + 8 * 7, 2); }, series},
      {"first series -1", 2, [&](S &s) { s.Put64(S::kSeries, -1); }, series},
      {"starts down", 2, [&](S &s) { s.Starts({0, 3, 2}); }, series},
      {"starts equal", 2, [&](S &s) { s.Starts({0, 0, 5}); }, ok},
      {"start below 0", 2, [&](S &s) { s.Starts({-1, 2, 5}); }, series},
      {"start past nperm", 2, [&](S &s) { s.Starts({0, 2, 6}); }, series},
  };
  for (const Case &c : cases) {
    S seg(c.with);
    c.change(seg);
    auto [rc, msg] = seg.RunWorker();
    EXPECT_EQ(rc, 3) << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
  }
  // The slot: 0 .. nslots - 1.
  S seg(0);
  EXPECT_NE(seg.RunWorker(0).second.find(ok), std::string::npos);
  EXPECT_NE(seg.RunWorker(1).second.find("slot 1 is out of range"), std::string::npos);
  EXPECT_NE(seg.RunWorker(-1).second.find("slot -1 is out of range"), std::string::npos);
  // Shorter than its header.
  seg.b.resize(f.header - 1);
  EXPECT_NE(seg.RunWorker().second.find("is too small"), std::string::npos);
}

}  // namespace
