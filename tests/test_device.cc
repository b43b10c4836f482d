// Device placements on the simulated device (GPUDF_SIMULATE_DEVICE=1, see
// engine/device/device_sim.c): what the descriptor carries, when it becomes ready,
// how often handles are opened and closed, and every fallback. These run in
// CI, which has no GPU; tests/test_device_gpu.cc runs the real thing.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datagen.h"
#include "descriptor.h"
#include "harness.h"
#include "sim_fixture.h"

namespace {

using harness::Child;

using simtest::EntryExists;
using simtest::ReadAll;

// Every test starts with the simulated device and a fresh trace, and leaves
// the environment as it found it (the harness child inherits it).
class SimDevice : public simtest::SimFixture {
 protected:
  SimDevice() : SimFixture("gpudf-simtrace-", 0, true) {}
  void Share(int64_t rows, uint64_t seed, gpudf_backend b = GPUDF_BACKEND_AUTO) {
    name = harness::UniqueName("dev");
    ASSERT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_table_share(t, name.c_str(), b, &s), GPUDF_OK) << gpudf_last_error();
  }
  int Count(pid_t pid, const std::string &call) {
    int n = 0;
    for (const auto &c : Calls(pid)) n += c.rfind(call + " ", 0) == 0 || c == call;
    return n;
  }
};

std::string Sum(const gpudf_table *t) { return std::to_string(tg_table_checksum(t)); }

// ------------------------------------------------------------ the owner

TEST_F(SimDevice, AutoPicksCudaIpcAndTheDescriptorCarriesUuidAndHandle) {
  Share(3001, 1);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_IPC);
  EXPECT_EQ(gpudf_table_backend(t), GPUDF_BACKEND_CUDA_IPC);
  const gdf_desc_header *h = Header();
  EXPECT_EQ(h->backend, (uint32_t)GPUDF_BACKEND_CUDA_IPC);
  EXPECT_EQ(h->ready, 1u);
  EXPECT_EQ(std::memcmp(h->replicas[0].device_uuid, "gpudf-sim-dev-0", 15), 0);
  std::string handle(reinterpret_cast<const char *>(h->replicas[0].ipc_handle));
  EXPECT_EQ(handle.find("+v." + std::to_string(getpid()) + "."), handle.find('+')) << handle;
  EXPECT_TRUE(EntryExists(handle)) << "the handle names the device allocation";
  // The owner's device copy is a separate copy with the same bytes.
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    const void *d = gpudf_table_column_device_data(t, c);
    ASSERT_NE(d, nullptr);
    EXPECT_NE(d, gpudf_table_column_data(t, c));
    size_t bytes = (size_t)gpudf_table_nrows(t) * gpudf_type_size(gpudf_table_column_type(t, c));
    EXPECT_EQ(std::memcmp(d, gpudf_table_column_data(t, c), bytes), 0) << "column " << c;
  }
  EXPECT_EQ(gpudf_table_column_device_data(t, 5), nullptr);
  EXPECT_EQ(gpudf_table_column_device_data(t, -1), nullptr);
}

// An in-process sweep (workers = 0) runs on the table's own placement, and
// its report says so (it used to say cpu whatever the table's placement).
TEST_F(SimDevice, AnInProcessSweepReportsTheTablesPlacement) {
  Share(2001, 9);
  ASSERT_EQ(gpudf_table_backend(t), GPUDF_BACKEND_CUDA_IPC);
  int d;
  ASSERT_EQ(gpudf_table_find_column(t, "d", &d), GPUDF_OK);
  double cfg[5] = {(double)d, 3, 0, 0, (double)d}, res[6];
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg, 1, res, &o, &r), GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_IPC);
  EXPECT_EQ(rep.done, 1);
  gpudf_sweep_result_free(r);
}

TEST_F(SimDevice, TheDescriptorIsPublishedOnlyAfterTheUpload) {
  Share(100, 2);
  std::vector<std::string> calls = Calls(getpid());
  std::vector<std::string> order;
  for (const auto &c : calls) order.push_back(c.substr(0, c.find(' ')));
  std::vector<std::string> want = {"alloc", "upload", "ipc_get", "publish"};
  EXPECT_EQ(order, want);
}

TEST_F(SimDevice, AFailedUploadPublishesNothingAndLeaksNothing) {
  setenv("GPUDF_SIM_FAIL", "upload", 1);
  name = harness::UniqueName("upfail");
  ASSERT_EQ(tg_make_table(100, 3, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &s), GPUDF_EIO);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("upload failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("simErrorInjected"), std::string::npos) << msg;
  EXPECT_EQ(s, nullptr);
  EXPECT_FALSE(EntryExists(name));
  EXPECT_EQ(Count(getpid(), "free"), 1);
  gpudf_table *v;
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT);
  // Under auto the same failure falls back to cuda-pinned.
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_AUTO, &s), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_PINNED);
  EXPECT_EQ(Header()->backend, (uint32_t)GPUDF_BACKEND_CUDA_PINNED);
}

TEST_F(SimDevice, TooLargeForTheDeviceIsAClearErrorAndTheHostShareStillWorks) {
  setenv("GPUDF_SIM_MEM", "4096", 1);
  name = harness::UniqueName("big");
  ASSERT_EQ(tg_make_table(10000, 4, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &s), GPUDF_ENOMEM);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4096 bytes free"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(gpudf_table_arena_bytes(t))), std::string::npos) << msg;
  EXPECT_EQ(Count(getpid(), "alloc"), 0) << "the size is checked before allocating";
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_AUTO, &s), GPUDF_OK);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_PINNED);
  pid_t pid;
  EXPECT_EQ(RunChild({"attach-dev", name}, {}, &pid), "ok cuda-pinned " + Sum(t) + " " + Sum(t));
}

// The device's free memory, not its total, decides: with one table already
// on it, a second that fits the total but not what is left is refused, and
// the message says both figures.
TEST_F(SimDevice, ASecondTableThatFitsTheDeviceButNotWhatIsLeftIsRefused) {
  name = harness::UniqueName("one");
  ASSERT_EQ(tg_make_table(2000, 5, &t), GPUDF_OK);
  uint64_t a = gpudf_table_arena_bytes(t);
  std::string mem = std::to_string(2 * a - 1);
  setenv("GPUDF_SIM_MEM", mem.c_str(), 1);
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &s), GPUDF_OK)
      << gpudf_last_error();
  gpudf_table *t2 = nullptr;
  gpudf_share *s2 = nullptr;
  ASSERT_EQ(tg_make_table(2000, 6, &t2), GPUDF_OK);
  ASSERT_EQ(gpudf_table_arena_bytes(t2), a);
  std::string name2 = harness::UniqueName("two");
  EXPECT_EQ(gpudf_table_share(t2, name2.c_str(), GPUDF_BACKEND_CUDA_IPC, &s2), GPUDF_ENOMEM);
  std::string msg = gpudf_last_error();
  std::string figures = "(" + std::to_string(a - 1) + " of " + mem + " bytes free)";
  EXPECT_NE(msg.find(figures), std::string::npos) << msg << "\nwanted " << figures;
  EXPECT_EQ(Count(getpid(), "alloc"), 1) << "only the first table was allocated";
  gpudf_share_close(s2);
  gpudf_table_free(t2);
}

// The UUID in a message is the whole UUID, in nvidia-smi's form, byte for
// byte (16 distinct bytes, so that a byte out of place shows).
TEST_F(SimDevice, MessagesNameTheDeviceByItsWholeUuid) {
  setenv("GPUDF_SIM_MEM", "4096", 1);
  setenv("GPUDF_SIM_UUID", "0123456789abcdef", 1);
  name = harness::UniqueName("big");
  ASSERT_EQ(tg_make_table(10000, 4, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &s), GPUDF_ENOMEM);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("device GPU-30313233-3435-3637-3839-616263646566 ("), std::string::npos)
      << msg;
}

// Only GPUDF_SIMULATE_DEVICE=1 selects the simulation; any other value is
// the real device (here: none in a build without CUDA, which says so).
TEST_F(SimDevice, OnlyTheValueOneSelectsTheSimulation) {
  for (const char *v : {"2", "yes", "0", ""}) {
    setenv("GPUDF_SIMULATE_DEVICE", v, 1);
    const char *why = nullptr;
    bool ok = gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why);
    EXPECT_TRUE(Calls(getpid()).empty()) << "GPUDF_SIMULATE_DEVICE=" << v << " used the simulation";
#ifndef GPUDF_TEST_LIB_HAS_CUDA
    EXPECT_FALSE(ok) << v;
    EXPECT_NE(std::string(why ? why : "").find("built without CUDA"), std::string::npos)
        << "GPUDF_SIMULATE_DEVICE=" << v << ": " << (why ? why : "(null)");
#else
    (void)ok;
#endif
  }
}

TEST_F(SimDevice, NoIpcPicksCudaPinned) {
  setenv("GPUDF_SIM_FAIL", "noipc", 1);
  const char *why;
  EXPECT_FALSE(gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why));
  EXPECT_NE(std::string(why).find("IPC is not supported"), std::string::npos);
  Share(500, 5);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_PINNED);
  // Pinned: the device reads the host arena itself.
  EXPECT_EQ(gpudf_table_column_device_data(t, 2), gpudf_table_column_data(t, 2));
  pid_t pid;
  EXPECT_EQ(RunChild({"attach-dev", name}, {}, &pid), "ok cuda-pinned " + Sum(t) + " " + Sum(t));
  EXPECT_EQ(Count(pid, "register"), 1);
  EXPECT_EQ(Count(pid, "unregister"), 1);
  EXPECT_EQ(Count(pid, "ipc_open"), 0);
}

TEST_F(SimDevice, NoDeviceMeansCpuAndForcingADeviceIsENODEV) {
  setenv("GPUDF_SIM_FAIL", "nodevice", 1);
  name = harness::UniqueName("nodev");
  ASSERT_EQ(tg_make_table(100, 6, &t), GPUDF_OK);
  for (gpudf_backend b : {GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED}) {
    EXPECT_EQ(gpudf_table_share(t, name.c_str(), b, &s), GPUDF_ENODEV);
    EXPECT_NE(std::string(gpudf_last_error()).find("no device"), std::string::npos)
        << gpudf_last_error();
  }
  setenv("GPUDF_BACKEND", "cuda-pinned", 1);
  EXPECT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_AUTO, &s), GPUDF_ENODEV);
  unsetenv("GPUDF_BACKEND");
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_AUTO, &s), GPUDF_OK);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CPU);
  EXPECT_EQ(gpudf_table_backend(t), GPUDF_BACKEND_CPU);
  EXPECT_EQ(gpudf_table_column_device_data(t, 0), nullptr);
  EXPECT_TRUE(Calls(getpid()).size() == 1) << "only the publish line";
}

TEST_F(SimDevice, ForcedCpuStaysOnTheHost) {
  setenv("GPUDF_BACKEND", "cpu", 1);
  Share(100, 7);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CPU);
  EXPECT_EQ(Count(getpid(), "alloc"), 0);
}

// ------------------------------------------------------------ attachers

TEST_F(SimDevice, AnotherProcessOpensTheHandleOnceAndClosesItOnTheLastDetach) {
  Share(2000, 8);
  pid_t pid;
  std::string out = RunChild({"attach-twice", name}, {}, &pid);
  EXPECT_EQ(out, "ok cuda-ipc cuda-ipc 1\ndetached");
  EXPECT_EQ(Count(pid, "ipc_open"), 1);
  EXPECT_EQ(Count(pid, "ipc_close"), 1);
  std::vector<std::string> calls = Calls(pid);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].substr(0, 8), "ipc_open");
  EXPECT_EQ(calls[1], "ipc_close dev=0");
  // It reads the device copy, which holds the table's bytes.
  EXPECT_EQ(RunChild({"attach-dev", name}, {}), "ok cuda-ipc " + Sum(t) + " " + Sum(t));
}

// GPUDF_ATTACH_TRACE=1: each attach prints one line on stderr with the time
// of each of its phases, the device's handle open apart from our own work,
// and the status; nothing without it (docs/placements.md, "Attach cost").
std::map<std::string, double> TracePhases(const std::string &log, const std::string &name,
                                          int *lines) {
  std::map<std::string, double> out;
  std::istringstream in(log);
  std::string line, head = "gpudf: trace attach '" + name + "' (us):";
  *lines = 0;
  while (std::getline(in, line)) {
    if (line.rfind(head, 0) != 0) continue;
    ++*lines;
    std::istringstream f(line.substr(head.size()));
    std::string kv;
    while (f >> kv) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos) out[kv.substr(0, eq)] = std::atof(kv.c_str() + eq + 1);
    }
  }
  return out;
}

TEST_F(SimDevice, TheAttachTraceTimesEveryPhaseOnOneLine) {
  Share(1500, 14);
  std::string log;
  EXPECT_EQ(RunChild({"attach-dev", name}, {{"GPUDF_ATTACH_TRACE", "1"}}, nullptr, &log),
            "ok cuda-ipc " + Sum(t) + " " + Sum(t));
  int lines = 0;
  std::map<std::string, double> ph = TracePhases(log, name, &lines);
  EXPECT_EQ(lines, 1) << log;
  double sum = 0;
  for (const char *p : {"read_descriptor", "validate_descriptor", "owner_alive",
                        "map_host_arena", "replica_records", "device_probe", "current_device",
                        "device_uuid", "pick_replica", "ipc_open", "place", "validate_dicts",
                        "make_view", "log", "tidy"}) {
    ASSERT_TRUE(ph.count(p)) << "phase " << p << " missing: " << log;
    EXPECT_GE(ph[p], 0) << p;
    sum += ph[p];
  }
  EXPECT_EQ(ph["status"], 0);
  // The phases cover the attach: their sum is the total (each printed to
  // 0.1 us).
  EXPECT_LE(sum, ph["total"] + 2) << log;
  // Without the variable (and with any other value), nothing.
  for (const char *v : {"", "0", "yes"}) {
    RunChild({"attach-dev", name}, {{"GPUDF_ATTACH_TRACE", v}}, nullptr, &log);
    EXPECT_EQ(log.find("gpudf: trace"), std::string::npos) << v << ": " << log;
  }
}

TEST_F(SimDevice, TheAttachTraceOfAFailedAttachGivesItsStatus) {
  setenv("GPUDF_ATTACH_TRACE", "1", 1);
  testing::internal::CaptureStderr();
  gpudf_table *v = nullptr;
  gpudf_status st = gpudf_attach("no-such-share-here", &v);
  std::string err = testing::internal::GetCapturedStderr();
  unsetenv("GPUDF_ATTACH_TRACE");
  EXPECT_EQ(st, GPUDF_ENOENT);
  int lines = 0;
  std::map<std::string, double> ph = TracePhases(err, "no-such-share-here", &lines);
  EXPECT_EQ(lines, 1) << err;
  EXPECT_EQ(ph["status"], GPUDF_ENOENT) << err;
  EXPECT_TRUE(ph.count("read_descriptor")) << err;
  EXPECT_FALSE(ph.count("ipc_open")) << err;
}

TEST_F(SimDevice, AViewInTheOwnersProcessBorrowsItsPlacement) {
  Share(1000, 9);
  gpudf_table *v1, *v2;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v1), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_attach(name.c_str(), &v2), GPUDF_OK);
  EXPECT_EQ(gpudf_table_backend(v1), GPUDF_BACKEND_CUDA_IPC);
  EXPECT_EQ(gpudf_table_column_device_data(v1, 3), gpudf_table_column_device_data(t, 3));
  EXPECT_EQ(gpudf_table_column_device_data(v2, 3), gpudf_table_column_device_data(t, 3));
  EXPECT_EQ(Count(getpid(), "ipc_open"), 0) << "CUDA cannot open its own handle";
  // The owner lets go first: the device copy lives until the last view goes.
  gpudf_share_close(s);
  s = nullptr;
  gpudf_table_free(t);
  t = nullptr;
  EXPECT_EQ(Count(getpid(), "free"), 0);
  gpudf_table_free(v1);
  EXPECT_EQ(Count(getpid(), "free"), 0);
  const double *d = static_cast<const double *>(gpudf_table_column_device_data(v2, 3));
  EXPECT_EQ(d[0], static_cast<const double *>(gpudf_table_column_data(v2, 3))[0]);
  gpudf_table_free(v2);
  EXPECT_EQ(Count(getpid(), "free"), 1);
}

// A cuda-pinned share's placement is the owner's registration of its own
// mapping: a view in the same process registers its own mapping, so it
// still reads (on the device's side) after the owner closed and freed.
TEST_F(SimDevice, APinnedViewInTheOwnersProcessOutlivesTheOwner) {
  Share(3000, 17, GPUDF_BACKEND_CUDA_PINNED);
  ASSERT_EQ(gpudf_table_backend(t), GPUDF_BACKEND_CUDA_PINNED);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  double cfg[5] = {3, 3, 0, 0, 3}, want[6], got[6];  // d > 0, sum of d
  ASSERT_EQ(gpudf_run(t, k, cfg, 1, want), GPUDF_OK) << gpudf_last_error();
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_backend(v), GPUDF_BACKEND_CUDA_PINNED);
  gpudf_share_close(s);
  s = nullptr;
  gpudf_table_free(t);
  t = nullptr;
  ASSERT_EQ(gpudf_run(v, k, cfg, 1, got), GPUDF_OK) << gpudf_last_error();
  for (int i = 0; i < 6; i++) EXPECT_EQ(want[i], got[i]) << "field " << i;
  gpudf_table_free(v);
}

TEST_F(SimDevice, AWorkerWhoseIpcOpenFailsFallsBackToPinnedAndSaysSo) {
  Share(1500, 10);
  pid_t pid;
  std::string log;
  std::string out = RunChild({"attach-dev", name}, {{"GPUDF_SIM_FAIL", "ipc_open"}}, &pid, &log);
  EXPECT_EQ(out, "ok cuda-pinned " + Sum(t) + " " + Sum(t));
  EXPECT_NE(log.find("cuda-ipc not used"), std::string::npos) << log;
  EXPECT_NE(log.find("falling back to cuda-pinned"), std::string::npos) << log;
  EXPECT_NE(log.find("used as cuda-pinned"), std::string::npos) << log;
  EXPECT_EQ(Count(pid, "register"), 1);
  EXPECT_EQ(Count(pid, "unregister"), 1);
  // Its kernels run on the pinned placement and agree with the owner's.
  std::string run = RunChild({"run-dev", name, "3", "0"}, {{"GPUDF_SIM_FAIL", "ipc_open"}});
  std::string direct = RunChild({"run-dev", name, "3", "0"}, {});
  ASSERT_EQ(run.rfind("cuda-pinned ", 0), 0u) << run;
  ASSERT_EQ(direct.rfind("cuda-ipc ", 0), 0u) << direct;
  EXPECT_EQ(run.substr(12), direct.substr(9));
}

// The report gives the placement the workers' kernels ran on, and why it is
// not the share's, rather than the share's own.
TEST_F(SimDevice, ASweepReportsWhereItsWorkersRan) {
  Share(1500, 10);
  ASSERT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_IPC);
  setenv("GPUDF_SIM_FAIL", "ipc_open", 1);  // the workers cannot open the handle
  double cfg[10] = {3, 3, 0, 0, 3, 3, 1, 0, 0, 3}, res[12];
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 2;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg, 2, res, &o, &r), GPUDF_OK) << gpudf_last_error();
  unsetenv("GPUDF_SIM_FAIL");
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.done, 2);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_PINNED);
  EXPECT_NE(std::string(rep.fallback).find("the share is cuda-ipc"), std::string::npos)
      << rep.fallback;
  gpudf_sweep_result_free(r);
}

// With workers = 0 a device placement asked for an unshared table is made
// (the sweep shares it so), or refused as with workers; one asked for a table
// that already has another is reported, never silently dropped.
TEST_F(SimDevice, AnInProcessSweepPlacesAnUnsharedTableAsAsked) {
  ASSERT_EQ(tg_make_table(1200, 4, &t), GPUDF_OK);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  double cfg[5] = {3, 3, 0, 0, 3}, want[6], got[6];
  ASSERT_EQ(gpudf_run(t, k, cfg, 1, want), GPUDF_OK);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.backend = GPUDF_BACKEND_CUDA_PINNED;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg, 1, got, &o, &r), GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_PINNED);
  EXPECT_STREQ(rep.fallback, "");
  for (int i = 0; i < 6; i++) EXPECT_EQ(want[i], got[i]) << "field " << i;
  gpudf_sweep_result_free(r);
  // A table shared as cuda-pinned: asking for cuda-ipc in process is refused
  // (AForcedBackendIsRefusedForATableSharedOtherwise has every pair).
  gpudf_table_free(t);
  t = nullptr;
  Share(1200, 4, GPUDF_BACKEND_CUDA_PINNED);
  o.backend = GPUDF_BACKEND_CUDA_IPC;
  r = nullptr;
  EXPECT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg, 1, got, &o, &r), GPUDF_ENODEV);
  EXPECT_EQ(r, nullptr);
  // No device: refused, as with workers.
  gpudf_table *plain = nullptr;
  ASSERT_EQ(tg_make_table(100, 5, &plain), GPUDF_OK);
  setenv("GPUDF_SIM_FAIL", "nodevice", 1);
  EXPECT_EQ(gpudf_sweep(plain, tg_kernel("filter_agg"), cfg, 1, got, &o, nullptr), GPUDF_ENODEV);
  unsetenv("GPUDF_SIM_FAIL");
  gpudf_table_free(plain);
}

// A backend forced for a sweep (opts.backend other than auto) is where the
// kernels run, or the sweep is refused: for a table (or a view) shared with
// another placement, GPUDF_ENODEV naming what was asked, the share and its
// placement, in process and with workers, as for an unshared table whose
// placement cannot be made (it once ran on the share's placement and said
// so only in report.fallback). Auto and the share's own placement run, with
// the numbers of a long double loop over the column (count, min and max
// exactly, the sum to 1e-12).
TEST_F(SimDevice, AForcedBackendIsRefusedForATableSharedOtherwise) {
  const gpudf_backend placements[3] = {GPUDF_BACKEND_CPU, GPUDF_BACKEND_CUDA_PINNED,
                                       GPUDF_BACKEND_CUDA_IPC};
  const gpudf_backend asks[4] = {GPUDF_BACKEND_AUTO, GPUDF_BACKEND_CPU,
                                 GPUDF_BACKEND_CUDA_PINNED, GPUDF_BACKEND_CUDA_IPC};
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (gpudf_backend shared : placements) {
    Share(1500 + 100 * shared, 50 + shared, shared);
    ASSERT_EQ(gpudf_share_backend(s), shared);
    gpudf_table *v = nullptr;
    ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_table_backend(v), shared);
    const double *d = (const double *)gpudf_table_column_data(t, 3);
    const int64_t rows = gpudf_table_nrows(t);
    for (gpudf_table *table : {t, v})
      for (gpudf_backend asked : asks)
        for (int workers : {0, 2}) {
          SCOPED_TRACE(std::string("shared as ") + gpudf_backend_name(shared) + ", asked " +
                       gpudf_backend_name(asked) + ", workers " + std::to_string(workers) +
                       (table == v ? ", a view" : ""));
          double lo = (double)(tg_splitmix(&rng) % 8000) / 100.0 - 40.0;
          double cfg[5] = {3, 3, lo, 0, 3}, got[6];  // d > lo: count, sum, mean, min, max, std
          gpudf_sweep_options o;
          gpudf_sweep_options_init(&o);
          o.workers = workers;
          o.backend = asked;
          gpudf_sweep_result *r = nullptr;
          gpudf_status st = gpudf_sweep(table, tg_kernel("filter_agg"), cfg, 1, got, &o, &r);
          if (asked != GPUDF_BACKEND_AUTO && asked != shared) {
            EXPECT_EQ(st, GPUDF_ENODEV) << gpudf_last_error();
            EXPECT_EQ(r, nullptr);
            std::string msg = gpudf_last_error();
            EXPECT_NE(msg.find(std::string("backend ") + gpudf_backend_name(asked) +
                               " was asked for"), std::string::npos) << msg;
            EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
            EXPECT_NE(msg.find(std::string("placement") + (workers ? " " : ", ") +
                               gpudf_backend_name(shared)), std::string::npos) << msg;
            gpudf_sweep_result_free(r);
            continue;
          }
          ASSERT_EQ(st, GPUDF_OK) << gpudf_last_error();
          gpudf_sweep_report rep;
          ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
          EXPECT_EQ(rep.done, 1);
          EXPECT_EQ(rep.backend, shared);
          EXPECT_STREQ(rep.fallback, "");
          gpudf_sweep_result_free(r);
          long double sum = 0;
          int64_t count = 0;
          double mn = INFINITY, mx = -INFINITY;
          for (int64_t i = 0; i < rows; i++)
            if (d[i] > lo) {
              count++;
              sum += d[i];
              mn = std::min(mn, d[i]);
              mx = std::max(mx, d[i]);
            }
          ASSERT_GT(count, 0);
          EXPECT_EQ(got[0], (double)count);
          EXPECT_NEAR(got[1], (double)sum, 1e-12 * (double)fabsl(sum) + 1e-9);
          EXPECT_EQ(got[3], mn);
          EXPECT_EQ(got[4], mx);
        }
    gpudf_table_free(v);
    gpudf_share_close(s);
    s = nullptr;
    gpudf_table_free(t);
    t = nullptr;
  }
}

TEST_F(SimDevice, AWorkerOnAnotherDeviceFallsBackToPinned) {
  Share(300, 11);
  std::string log;
  std::string out = RunChild({"attach-dev", name}, {{"GPUDF_SIM_UUID", "another-gpu"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cuda-pinned " + Sum(t) + " " + Sum(t));
  EXPECT_NE(log.find("which this process does not see"), std::string::npos) << log;
  EXPECT_NE(log.find("GPU-6770"), std::string::npos) << "the UUID in nvidia-smi form: " << log;
}

// The fallback's log line names the share whole, however long its name.
TEST_F(SimDevice, TheFallbackLogNamesAShareOfTheLongestNameWhole) {
  name = harness::UniqueName("dev");
  name += std::string(GPUDF_NAME_MAX - name.size(), 'n');
  ASSERT_EQ(name.size(), (size_t)GPUDF_NAME_MAX);
  ASSERT_EQ(tg_make_table(300, 11, &t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_share(t, name.c_str(), GPUDF_BACKEND_AUTO, &s), GPUDF_OK)
      << gpudf_last_error();
  std::string log;
  std::string out = RunChild({"attach-dev", name}, {{"GPUDF_SIM_UUID", "another-gpu"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cuda-pinned " + Sum(t) + " " + Sum(t));
  EXPECT_NE(log.find("attach '" + name + "': cuda-ipc not used"), std::string::npos) << log;
}

TEST_F(SimDevice, AWorkerThatForcesCudaIpcAndCannotOpenGetsENODEV) {
  Share(300, 12);
  std::string out = RunChild({"attach-dev", name},
                             {{"GPUDF_SIM_FAIL", "ipc_open"}, {"GPUDF_BACKEND", "cuda-ipc"}});
  EXPECT_EQ(out.rfind("err 19 ", 0), 0u) << out;
  EXPECT_NE(out.find("ipc_open failed"), std::string::npos) << out;
  // Forcing cuda-pinned skips the handle; forcing cpu skips the device.
  pid_t pid;
  out = RunChild({"attach-dev", name}, {{"GPUDF_BACKEND", "cuda-pinned"}}, &pid);
  EXPECT_EQ(out, "ok cuda-pinned " + Sum(t) + " " + Sum(t));
  EXPECT_EQ(Count(pid, "ipc_open"), 0);
  out = RunChild({"attach-dev", name}, {{"GPUDF_BACKEND", "cpu"}}, &pid);
  EXPECT_EQ(out, "ok cpu " + Sum(t) + " -");
  EXPECT_TRUE(Calls(pid).empty());
}

TEST_F(SimDevice, AWorkerWithoutADeviceUsesCpu) {
  Share(300, 13);
  std::string log;
  std::string out = RunChild({"attach-dev", name}, {{"GPUDF_SIM_FAIL", "nodevice"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cpu " + Sum(t) + " -");
  EXPECT_NE(log.find("has no device"), std::string::npos) << log;
  out = RunChild({"attach-dev", name},
                 {{"GPUDF_SIM_FAIL", "nodevice"}, {"GPUDF_BACKEND", "cuda-pinned"}});
  EXPECT_EQ(out.rfind("err 19 ", 0), 0u) << out;
}

TEST_F(SimDevice, PinnedRegistrationFailureFallsBackToCpu) {
  Share(300, 14);
  std::string log;
  std::string out = RunChild({"attach-dev", name},
                             {{"GPUDF_SIM_FAIL", "ipc_open,register"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cpu " + Sum(t) + " -");
  EXPECT_NE(log.find("falling back to cpu"), std::string::npos) << log;
}

// A descriptor that claims cuda-ipc with a handle that opens nothing: the
// attacher falls back to the host arena, which is always there.
TEST_F(SimDevice, AGarbageHandleFallsBackToPinned) {
  Share(400, 15);
  std::string bytes = ReadAll(harness::ShmPath(harness::PublicFile(name)));
  auto *h = reinterpret_cast<gdf_desc_header *>(&bytes[0]);
  for (size_t i = 0; i < sizeof h->replicas[0].ipc_handle; i++)
    h->replicas[0].ipc_handle[i] = (uint8_t)(i * 37 + 1);
  h->share_id ^= 1;  // another share, so the owner's placement is not borrowed
  uint64_t sum = 14695981039346656037ull;  // the format's FNV-1a, from owner_uid on
  for (size_t i = offsetof(gdf_desc_header, owner_uid); i < bytes.size(); i++)
    sum = (sum ^ (uint8_t)bytes[i]) * 1099511628211ull;
  h->checksum = sum;
  std::string copy = harness::UniqueName("garbage");
  std::string path = harness::ShmPath(harness::PublicFile(copy));
  files.push_back(path);
  {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
  }
  chmod(path.c_str(), 0600);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(copy.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_backend(v), GPUDF_BACKEND_CUDA_PINNED);
  EXPECT_EQ(tg_table_checksum(v), tg_table_checksum(t));
  gpudf_table_free(v);
  EXPECT_EQ(RunChild({"attach-dev", copy}, {}), "ok cuda-pinned " + Sum(t) + " " + Sum(t));
}

TEST_F(SimDevice, AnIpcShareWhoseOwnerDiedIsReportedAndItsDeviceMemoryRemoved) {
  name = harness::UniqueName("deadipc");
  Child owner = harness::Spawn({"share", name, "1000", "16"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  pid_t pid = owner.pid;
  EXPECT_TRUE(EntryExists("+v." + std::to_string(pid) + "."));
  harness::Kill(owner);
  gpudf_table *v;
  // Each test process has its own shm directory (harness/main.cc): nobody
  // else sweeps the dead owner's share before this attach sees it.
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EOWNERDEAD) << gpudf_last_error();
  EXPECT_NE(std::string(gpudf_last_error()).find("no longer running"), std::string::npos);
  EXPECT_FALSE(EntryExists("+v." + std::to_string(pid) + "."))
      << "the dead owner's device memory (a segment in the simulation) is removed";
}

// gpudf_table_column_device: the address gpudf_table_column_device_data
// gives and the device's ordinal, or a refusal saying why there is none.
TEST_F(SimDevice, TheCheckedDeviceAddressIsTheDeviceDataOnDeviceZero) {
  Share(700, 21);
  const void *d = nullptr;
  int dev = 7;
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    ASSERT_EQ(gpudf_table_column_device(t, c, &d, &dev), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(d, gpudf_table_column_device_data(t, c));
    EXPECT_NE(d, gpudf_table_column_data(t, c)) << "cuda-ipc: the device copy, not the host";
    EXPECT_EQ(dev, 0);
  }
  // A view in the owner's process borrows the owner's device copy.
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK);
  ASSERT_EQ(gpudf_table_column_device(v, 1, &d, &dev), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(d, gpudf_table_column_device_data(t, 1));
  EXPECT_EQ(gpudf_table_column_device(v, 6, &d, &dev), GPUDF_EINVAL);
  EXPECT_EQ(d, nullptr);
  EXPECT_EQ(dev, -1);
  EXPECT_NE(std::string(gpudf_last_error()).find("column index 6 is out of range"),
            std::string::npos) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_column_device(v, -1, &d, &dev), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_column_device(v, 0, nullptr, &dev), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_column_device(nullptr, 0, &d, &dev), GPUDF_EINVAL);
  gpudf_table_free(v);
}

TEST_F(SimDevice, TheCheckedDeviceAddressOfAPinnedTableIsItsMappedArena) {
  Share(300, 22, GPUDF_BACKEND_CUDA_PINNED);
  const void *d = nullptr;
  int dev = -1;
  ASSERT_EQ(gpudf_table_column_device(t, 2, &d, &dev), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(d, gpudf_table_column_device_data(t, 2));
  EXPECT_EQ(dev, 0);
}

TEST_F(SimDevice, TheCpuPlacementHasNoDeviceAddressAndSaysHowToGetOne) {
  Share(300, 23, GPUDF_BACKEND_CPU);
  const void *d = &d;
  int dev = 5;
  EXPECT_EQ(gpudf_table_column_device(t, 0, &d, &dev), GPUDF_ENODEV);
  EXPECT_EQ(d, nullptr);
  EXPECT_EQ(dev, -1);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("gpudf_table_column_device: column '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cpu placement"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backend cuda-ipc or cuda-pinned"), std::string::npos) << msg;
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK);
  EXPECT_EQ(gpudf_table_column_device(v, 0, &d, &dev), GPUDF_ENODEV);
  EXPECT_NE(std::string(gpudf_last_error()).find("view of share '" + name + "'"),
            std::string::npos) << gpudf_last_error();
  gpudf_table_free(v);
}

// An attacher's cuda-ipc address is the owner's device memory: once the
// owner died it is refused, while the view's host arena stays readable.
TEST_F(SimDevice, TheDeviceAddressOfAViewWhoseIpcOwnerDiedIsRefused) {
  name = harness::UniqueName("deaddev");
  Child owner = harness::Spawn({"share", name, "1000", "16"});
  ASSERT_EQ(harness::ReadLine(owner).rfind("shared ", 0), 0u);
  gpudf_table *v;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_backend(v), GPUDF_BACKEND_CUDA_IPC);
  const void *d = nullptr;
  int dev = -1;
  ASSERT_EQ(gpudf_table_column_device(v, 0, &d, &dev), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(d, gpudf_table_column_device_data(v, 0));
  EXPECT_NE(d, gpudf_table_column_data(v, 0)) << "the opened handle, not the host arena";
  EXPECT_EQ(dev, 0);
  uint64_t before = tg_table_checksum(v);
  harness::Kill(owner);
  EXPECT_EQ(gpudf_table_column_device(v, 0, &d, &dev), GPUDF_EOWNERDEAD);
  EXPECT_EQ(d, nullptr);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("no longer running"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
  EXPECT_EQ(tg_table_checksum(v), before) << "the host arena is still readable";
  gpudf_table_free(v);
  int removed = 0;
  gpudf_cleanup(&removed);
}

TEST_F(SimDevice, FilterAggOnTheDeviceEqualsTheCpu) {
  Share(20000, 17);
  gpudf_table *ref;
  ASSERT_EQ(tg_make_table(20000, 17, &ref), GPUDF_OK);  // never shared: cpu
  EXPECT_EQ(gpudf_table_backend(ref), GPUDF_BACKEND_CPU);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::vector<double> cfg;
  for (int op = 0; op < 8; op++)
    for (int fc = 0; fc < 5; fc++) cfg.insert(cfg.end(), {(double)fc, (double)op, -3.5, 7.25, 3.0});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> dev(n * 6), cpu(n * 6);
  ASSERT_EQ(gpudf_run(t, k, cfg.data(), n, dev.data()), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_run(ref, k, cfg.data(), n, cpu.data()), GPUDF_OK);
  EXPECT_EQ(Count(getpid(), "filter_agg"), 1) << "one batch, one device call";
  for (size_t i = 0; i < dev.size(); i++)
    EXPECT_TRUE(dev[i] == cpu[i] || (std::isnan(dev[i]) && std::isnan(cpu[i]))) << i;
  setenv("GPUDF_SIM_FAIL", "run", 1);
  EXPECT_EQ(gpudf_run(t, k, cfg.data(), n, dev.data()), GPUDF_EIO);
  gpudf_table_free(ref);
}

TEST_F(SimDevice, RepeatedShareAndAttachLeakNothing) {
  Share(100, 18);
  int before = harness::CountFds();
  for (int i = 0; i < 50; i++) {
    gpudf_table *tt, *v;
    gpudf_share *ss;
    ASSERT_EQ(tg_make_table(50, (uint64_t)i, &tt), GPUDF_OK);
    ASSERT_EQ(gpudf_table_share(tt, nullptr, GPUDF_BACKEND_AUTO, &ss), GPUDF_OK);
    ASSERT_EQ(gpudf_attach(gpudf_share_name(ss), &v), GPUDF_OK);
    gpudf_table_free(v);
    gpudf_share_close(ss);
    gpudf_table_free(tt);
  }
  EXPECT_EQ(harness::CountFds(), before);
  EXPECT_EQ(Count(getpid(), "alloc"), 51);
  EXPECT_EQ(Count(getpid(), "free"), 50);
}

TEST(DeviceApi, CpuTablesHaveNoDevicePlacement) {
  gpudf_table *t;
  ASSERT_EQ(tg_make_table(10, 1, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_backend(t), GPUDF_BACKEND_CPU);
  EXPECT_EQ(gpudf_table_column_device_data(t, 0), nullptr);
  EXPECT_EQ(gpudf_table_backend(nullptr), GPUDF_BACKEND_AUTO);
  EXPECT_EQ(gpudf_table_column_device_data(nullptr, 0), nullptr);
  gpudf_table_free(t);
}

}  // namespace
