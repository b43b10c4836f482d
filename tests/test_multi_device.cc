// Several devices on the simulated device (GPUDF_SIM_DEVICES=N, see
// engine/device/device_sim.c): one replica per device from one host upload,
// the device list (share option and GPUDF_DEVICES), devices without room,
// failures part way through, which replica an attacher reads, and the
// descriptor that lists the replicas. CI has no GPU; the trace counts the
// calls per device ("... dev=K").
#include <fcntl.h>
#include <sched.h>
#include <gpudf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "datagen.h"
#include "affinity.h"
#include "descriptor.h"
#include "harness.h"
#include "sim_fixture.h"
#include "table.h"

namespace {

using harness::Child;

using simtest::EntryExists;
using simtest::ReadAll;

// The UUID text of simulated device k with the default GPUDF_SIM_UUID:
// "gpudf-sim-dev-0" padded with zeros to 16 bytes, the last XORed with k.
std::string SimUuid(int k) {
  unsigned char u[16] = {0};
  std::memcpy(u, "gpudf-sim-dev-0", 15);
  u[15] ^= (unsigned char)k;
  char buf[48];
  std::snprintf(buf, sizeof buf,
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                u[13], u[14], u[15]);
  return buf;
}

std::string Sum(const gpudf_table *t) { return std::to_string(tg_table_checksum(t)); }

// Kills a child when the test ends, also when an ASSERT returns early (a
// child left waiting would hold the test's output open).
struct KillAtEnd {
  Child &c;
  ~KillAtEnd() { harness::Kill(c); }
};

std::vector<int> WorkerDevices(const gpudf_sweep_result *r);
void ExpectCpuResults(int64_t rows, uint64_t seed, const std::vector<double> &cfg,
                      const std::vector<double> &got);

class MultiDevice : public simtest::SimFixture {
 protected:
  MultiDevice() : SimFixture("gpudf-multitrace-", 4, false) {}
  void SetUp() override {
    SimFixture::SetUp();
    name = harness::UniqueName("multi");
  }
  // Shares a fresh table with the device list (nullptr: the default).
  gpudf_status ShareOn(const char *devices, int64_t rows = 3000, uint64_t seed = 1,
                       gpudf_backend b = GPUDF_BACKEND_AUTO) {
    if (!t) {
      EXPECT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
    }
    gpudf_share_options o;
    gpudf_share_options_init(&o);
    o.backend = b;
    o.devices = devices;
    return gpudf_table_share_ex(t, name.c_str(), &o, &s);
  }
  // Calls of pid that start with call and, when dev >= 0, end with dev=DEV
  // (or name it before " from=").
  int Count(pid_t pid, const std::string &call, int dev = -1) {
    int n = 0;
    std::string tag = " dev=" + std::to_string(dev);
    for (const auto &c : Calls(pid)) {
      if (c.rfind(call + " ", 0) != 0) continue;
      if (dev < 0) {
        n++;
        continue;
      }
      size_t at = c.find(tag);
      n += at != std::string::npos &&
           (at + tag.size() == c.size() || c.compare(at + tag.size(), 6, " from=") == 0);
    }
    return n;
  }

  // The report of a workers = 0 sweep of n configs over four replica devices:
  // one thread entry per device (pid 0, busy no longer than alive), each
  // thread bound to its device once and launching there as many configs as
  // it reports, every launch on one of the four. Returns each entry's device
  // (-1: an entry on none of them, already reported).
  std::vector<int> ExpectAThreadPerDevice(const gpudf_sweep_result *r, int64_t n) {
    std::vector<int> devs = WorkerDevices(r), seen(4, 0);
    int64_t configs = 0;
    for (int i = 0; i < 4 && i < (int)devs.size(); i++) {
      gpudf_sweep_worker_info wi;
      EXPECT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
      EXPECT_EQ(wi.pid, 0);
      EXPECT_GE(devs[i], 0) << "thread " << i << " ran on '" << wi.device << "'";
      if (devs[i] < 0) continue;
      seen[devs[i]]++;
      configs += wi.configs;
      EXPECT_GE(wi.busy_s, 0.0);
      EXPECT_GE(wi.alive_s, wi.busy_s);
      EXPECT_EQ(Count(getpid(), "bind", devs[i]), 1) << "device " << devs[i];
      EXPECT_EQ(Count(getpid(), "filter_agg", devs[i]), wi.configs) << "device " << devs[i];
    }
    EXPECT_EQ(seen, std::vector<int>(4, 1));
    EXPECT_EQ(configs, n);
    EXPECT_EQ(Count(getpid(), "filter_agg"), n) << "every launch on one of the four";
    return devs;
  }
};

// ------------------------------------------------------------ replicas

TEST_F(MultiDevice, EveryDeviceGetsAReplicaFromOneHostUpload) {
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_IPC);
  ASSERT_EQ(gpudf_share_nreplicas(s), 4);
  for (int k = 0; k < 4; k++) EXPECT_EQ(gpudf_share_replica_device(s, k), SimUuid(k));
  EXPECT_EQ(gpudf_share_replica_device(s, 4), nullptr);
  EXPECT_STREQ(gpudf_share_skipped(s), "");
  pid_t me = getpid();
  EXPECT_EQ(Count(me, "upload"), 1) << "one host-to-device copy in all";
  EXPECT_EQ(Count(me, "upload", 0), 1);
  for (int k = 0; k < 4; k++) EXPECT_EQ(Count(me, "alloc", k), 1) << "device " << k;
  for (int k = 1; k < 4; k++) EXPECT_EQ(Count(me, "peer", k), 1) << "device " << k;
  EXPECT_EQ(Count(me, "staged"), 0);
  // The descriptor lists each replica by UUID with its own handle.
  const gdf_desc_header *h = Header();
  EXPECT_EQ(h->version, 3u);
  ASSERT_EQ(h->nreplicas, 4u);
  for (int k = 0; k < 4; k++) {
    unsigned char u[16] = {0};
    std::memcpy(u, "gpudf-sim-dev-0", 15);
    u[15] ^= (unsigned char)k;
    EXPECT_EQ(std::memcmp(h->replicas[k].device_uuid, u, 16), 0) << k;
    std::string handle(reinterpret_cast<const char *>(h->replicas[k].ipc_handle));
    EXPECT_TRUE(EntryExists(handle)) << handle;
    for (int j = 0; j < k; j++)
      EXPECT_NE(handle, std::string(reinterpret_cast<const char *>(h->replicas[j].ipc_handle)));
  }
  for (int k = 4; k < GDF_DESC_REPLICAS_MAX; k++) EXPECT_EQ(h->replicas[k].device_uuid[0], 0);
}

// The fills of the other replicas overlap: all three start (each on a
// stream of its own: a thread here) before the first is waited for and
// exported, and each replica then holds the table's arena byte for byte.
TEST_F(MultiDevice, ReplicaFillsOverlapAndEachHoldsTheArena) {
  for (const char *fail : {"", "nopeer"}) {
    SCOPED_TRACE(fail);
    setenv("GPUDF_SIM_FAIL", fail, 1);
    unlink(trace.c_str());
    ASSERT_EQ(ShareOn(nullptr, 5000, 21), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_share_nreplicas(s), 4);
    pid_t me = getpid();
    EXPECT_EQ(Count(me, "upload"), 1);
    std::vector<std::string> calls = Calls(me);
    size_t last_start = 0, first_export = calls.size();
    int starts = 0;
    for (size_t i = 0; i < calls.size(); i++) {
      for (int k = 1; k < 4; k++)
        if (calls[i] == "copy_start dev=" + std::to_string(k) + " from=0") {
          starts++;
          last_start = i;
        }
      if (calls[i].rfind("ipc_get ", 0) == 0 && calls[i].find(" dev=0") == std::string::npos &&
          i < first_export)
        first_export = i;
    }
    EXPECT_EQ(starts, 3) << "a fill per other device, from the first";
    EXPECT_LT(last_start, first_export) << "every fill started before one was waited for";
    EXPECT_EQ(Count(me, std::string(fail).empty() ? "peer" : "staged"), 3);
    const gdf_desc_header *h = Header();
    std::string arena(reinterpret_cast<const char *>(t->base), gpudf_table_arena_bytes(t));
    for (int k = 0; k < 4; k++) {
      std::string handle(reinterpret_cast<const char *>(h->replicas[k].ipc_handle));
      std::string bytes = ReadAll(harness::ShmPath(handle));
      ASSERT_GE(bytes.size(), arena.size()) << "device " << k;
      EXPECT_TRUE(bytes.compare(0, arena.size(), arena) == 0) << "device " << k;
    }
    gpudf_share_close(s);
    s = nullptr;
    gpudf_table_free(t);
    t = nullptr;
  }
}

TEST_F(MultiDevice, WithoutPeerAccessTheReplicasAreStagedNotUploadedAgain) {
  setenv("GPUDF_SIM_FAIL", "nopeer", 1);
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 4);
  EXPECT_EQ(Count(getpid(), "upload"), 1);
  EXPECT_EQ(Count(getpid(), "staged"), 3);
  EXPECT_EQ(Count(getpid(), "peer"), 0);
}

// Each attacher reads the replica on its own current device, and the bytes
// there are the table's.
TEST_F(MultiDevice, EachAttacherReadsTheReplicaOnItsCurrentDevice) {
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  const gdf_desc_header *h = Header();
  for (int k = 0; k < 4; k++) {
    std::string cur = std::to_string(k);
    pid_t pid;
    std::string out = RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", cur.c_str()}}, &pid);
    EXPECT_EQ(out, "ok cuda-ipc replica " + SimUuid(k) + " " + Sum(t)) << "device " << k;
    std::string handle(reinterpret_cast<const char *>(h->replicas[k].ipc_handle));
    EXPECT_EQ(Count(pid, "ipc_open " + handle, k), 1) << "device " << k << "'s own replica";
    EXPECT_EQ(Count(pid, "ipc_open"), 1);
  }
}

// The same kernel on each device's replica gives the cpu placement's

// CUDA_VISIBLE_DEVICES (how MPI launchers and gpudf.Pool(devices=) give a
// process its GPU) renumbers the devices: the one device a process sees is
// its ordinal 0, and the attach still finds that device's own replica by
// UUID, never replica 0 by ordinal. Named by ordinal or by a UUID prefix, as
// CUDA takes them; an entry that names no device ends the list.
TEST_F(MultiDevice, AnAttacherGivenOneDeviceByCudaVisibleDevicesReadsThatDevicesReplica) {
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  const gdf_desc_header *h = Header();
  struct Case {
    std::string visible;
    int current;  // GPUDF_SIM_CURRENT: an ordinal in the child
    int machine;  // the simulated machine's device it reads
  };
  const std::vector<Case> cases = {
      {"3", 0, 3}, {"2,0", 1, 0}, {" 1 ,3", 0, 1}, {SimUuid(2), 0, 2},
      {"3,3,1", 1, -1}, {"1,9,0", 1, -1}};
  for (const auto &c : cases) {
    std::string cur = std::to_string(c.current);
    pid_t pid;
    std::string out = RunChild({"attach-where", name},
                               {{"CUDA_VISIBLE_DEVICES", c.visible.c_str()},
                                {"GPUDF_SIM_CURRENT", cur.c_str()}},
                               &pid);
    if (c.machine < 0) {  // a repeated or unknown entry ends the list: ordinal 1 does not exist
      EXPECT_NE(out.rfind("ok cuda-ipc replica ", 0), 0u) << c.visible << ": " << out;
      EXPECT_EQ(Count(pid, "ipc_open"), 0) << c.visible;
      continue;
    }
    EXPECT_EQ(out, "ok cuda-ipc replica " + SimUuid(c.machine) + " " + Sum(t)) << c.visible;
    std::string handle(reinterpret_cast<const char *>(h->replicas[c.machine].ipc_handle));
    EXPECT_EQ(Count(pid, "ipc_open " + handle, c.current), 1) << c.visible;
    EXPECT_EQ(Count(pid, "ipc_open"), 1) << c.visible;
  }
  // An empty list hides every device: the attach runs on the cpu placement.
  std::string out = RunChild({"attach-where", name}, {{"CUDA_VISIBLE_DEVICES", ""}});
  EXPECT_EQ(out.rfind("ok cpu ", 0), 0u) << out;
}
// results, and both the count and sum of an independent long-double pass.
TEST_F(MultiDevice, KernelsOnEveryReplicaGiveTheCpuPlacementsResults) {
  ASSERT_EQ(ShareOn(nullptr, 5000, 3), GPUDF_OK) << gpudf_last_error();
  int d = -1;
  ASSERT_EQ(gpudf_table_find_column(t, "d", &d), GPUDF_OK);
  const double *col = static_cast<const double *>(gpudf_table_column_data(t, d));
  long double sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < gpudf_table_nrows(t); i++)
    if (col[i] > 0.5) {
      count++;
      sum += col[i];
    }
  std::string cpu = RunChild({"run-dev", name, "3", "0.5"}, {{"GPUDF_BACKEND", "cpu"}});
  ASSERT_EQ(cpu.rfind("cpu ", 0), 0u) << cpu;
  std::istringstream in(cpu.substr(4));
  double got_count = 0, got_sum = 0;
  in >> got_count >> got_sum;
  EXPECT_EQ(got_count, (double)count);
  EXPECT_NEAR(got_sum, (double)sum, 1e-12 * std::fabs((double)sum) + 1e-9);
  for (int k = 0; k < 4; k++) {
    std::string cur = std::to_string(k);
    pid_t pid;
    std::string out =
        RunChild({"run-dev", name, "3", "0.5"}, {{"GPUDF_SIM_CURRENT", cur.c_str()}}, &pid);
    EXPECT_EQ(out, "cuda-ipc" + cpu.substr(3)) << "device " << k;
    EXPECT_EQ(Count(pid, "filter_agg", k), 1) << "ran on device " << k;
  }
}

// A process on a device without a replica reads a peer's; without peer
// access it falls back to the host arena pinned; the view says which.
TEST_F(MultiDevice, AnAttacherOnADeviceWithoutAReplicaReadsAPeerElsePinned) {
  ASSERT_EQ(ShareOn("1,3"), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_share_nreplicas(s), 2);
  std::string log;
  std::string out = RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", "2"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cuda-ipc peer " + SimUuid(2) + " " + Sum(t));
  EXPECT_NE(log.find("no replica on device " + SimUuid(2)), std::string::npos) << log;
  out = RunChild({"attach-where", name},
                 {{"GPUDF_SIM_CURRENT", "2"}, {"GPUDF_SIM_FAIL", "nopeer"}}, nullptr, &log);
  EXPECT_EQ(out, "ok cuda-pinned pinned " + SimUuid(2) + " " + Sum(t));
  EXPECT_NE(log.find("no replica on this process's device " + SimUuid(2)), std::string::npos)
      << log;
}

// ------------------------------------------------------ devices without room

TEST_F(MultiDevice, ADeviceWithoutRoomIsSkippedWithAMessage) {
  ASSERT_EQ(tg_make_table(3000, 4, &t), GPUDF_OK);
  uint64_t a = gpudf_table_arena_bytes(t);
  std::string big = std::to_string(4 * a), small = std::to_string(a - 100);
  std::string mem = big + "," + big + "," + small + "," + big;
  setenv("GPUDF_SIM_MEM", mem.c_str(), 1);
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_share_nreplicas(s), 3);
  EXPECT_EQ(gpudf_share_replica_device(s, 2), SimUuid(3));
  std::string why = gpudf_share_skipped(s);
  EXPECT_NE(why.find("device " + SimUuid(2) + " (ordinal 2) skipped"), std::string::npos) << why;
  EXPECT_NE(why.find("(100 missing)"), std::string::npos) << why;
  EXPECT_EQ(Count(getpid(), "alloc", 2), 0);
  EXPECT_EQ(Header()->nreplicas, 3u);
}

TEST_F(MultiDevice, NamedDevicesThatCannotHoldTheTableFailCleanly) {
  ASSERT_EQ(tg_make_table(3000, 5, &t), GPUDF_OK);
  uint64_t a = gpudf_table_arena_bytes(t);
  std::string mem = std::to_string(4 * a) + "," + std::to_string(4 * a) + "," +
                    std::to_string(a - 1);
  setenv("GPUDF_SIM_MEM", mem.c_str(), 1);
  EXPECT_EQ(ShareOn("0,2"), GPUDF_ENOMEM);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("device " + SimUuid(2)), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 bytes missing"), std::string::npos) << msg;
  EXPECT_EQ(s, nullptr);
  EXPECT_FALSE(EntryExists(harness::PublicFile(name))) << "nothing published";
  EXPECT_EQ(Count(getpid(), "alloc"), Count(getpid(), "free")) << "device 0's replica freed";
  // A device this process does not see, by ordinal or UUID.
  EXPECT_EQ(ShareOn("0,7"), GPUDF_ENODEV);
  EXPECT_NE(std::string(gpudf_last_error()).find("device 7 was named but this process sees 4"),
            std::string::npos) << gpudf_last_error();
  std::string other = "GPU-00000000-0000-0000-0000-000000000001";
  EXPECT_EQ(ShareOn(other.c_str()), GPUDF_ENODEV);
  EXPECT_NE(std::string(gpudf_last_error()).find(other), std::string::npos);
  // Devices and a cpu placement contradict each other.
  EXPECT_EQ(ShareOn("0", 0, 0, GPUDF_BACKEND_CPU), GPUDF_EINVAL);
  // The table is still shareable, on the devices that have room.
  ASSERT_EQ(ShareOn("1,GPU-67707564-662d-7369-6d2d-6465762d3000"), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 2);
  EXPECT_EQ(gpudf_share_replica_device(s, 0), SimUuid(1));
  EXPECT_EQ(gpudf_share_replica_device(s, 1), SimUuid(0));
}

// A table keeps the replicas of its first device share: a later share that
// names the same devices (any order, ordinal or UUID) or "all" publishes
// them; one that names other devices is refused instead of publishing
// replicas the caller did not ask for.
TEST_F(MultiDevice, SharingATableAgainOnOtherDevicesIsRefused) {
  ASSERT_EQ(ShareOn("1,3"), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_share_nreplicas(s), 2);
  gpudf_share_close(s);
  s = nullptr;
  for (const char *other : {"2", "1", "1,2", "1,3,0"}) {
    EXPECT_EQ(ShareOn(other), GPUDF_EBUSY) << other;
    std::string msg = gpudf_last_error();
    EXPECT_NE(msg.find("placed on " + SimUuid(1) + "," + SimUuid(3)), std::string::npos) << msg;
    EXPECT_EQ(s, nullptr);
    EXPECT_FALSE(EntryExists(harness::PublicFile(name))) << other << ": nothing published";
  }
  setenv("GPUDF_DEVICES", "0", 1);
  EXPECT_EQ(ShareOn(nullptr), GPUDF_EBUSY) << "the variable names devices as the option does";
  unsetenv("GPUDF_DEVICES");
  std::string by_uuid = SimUuid(3) + ",1";
  for (const char *same : {"3,1", by_uuid.c_str(), "all", static_cast<const char *>(nullptr)}) {
    ASSERT_EQ(ShareOn(same), GPUDF_OK) << (same ? same : "(default)") << ": "
                                       << gpudf_last_error();
    ASSERT_EQ(gpudf_share_nreplicas(s), 2);
    EXPECT_EQ(gpudf_share_replica_device(s, 0), SimUuid(1));
    EXPECT_EQ(gpudf_share_replica_device(s, 1), SimUuid(3));
    gpudf_share_close(s);
    s = nullptr;
  }
  EXPECT_EQ(Count(getpid(), "upload"), 1) << "the replicas were made once";
}

// A failure on the third replica: under "all" the device is skipped and its
// allocation freed; on named devices the share fails and frees every one.
TEST_F(MultiDevice, AFailureOnTheThirdReplicaLeavesNothingBehind) {
  for (const char *fail : {"alloc:2", "copy:2", "copywait:2", "ipc_get:2"}) {
    SCOPED_TRACE(fail);
    setenv("GPUDF_SIM_FAIL", fail, 1);
    unlink(trace.c_str());
    ASSERT_EQ(ShareOn("0,1,2,3"), GPUDF_EIO);
    EXPECT_NE(std::string(gpudf_last_error()).find("simErrorInjected"), std::string::npos);
    EXPECT_EQ(Count(getpid(), "alloc") - Count(getpid(), "alloc failed"),
              Count(getpid(), "free"));
    EXPECT_FALSE(EntryExists("+v." + std::to_string(getpid()) + ".")) << "device memory left";
    EXPECT_FALSE(EntryExists(harness::PublicFile(name)));
    ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(gpudf_share_nreplicas(s), 3);
    EXPECT_NE(std::string(gpudf_share_skipped(s)).find("(ordinal 2) skipped"), std::string::npos)
        << gpudf_share_skipped(s);
    gpudf_share_close(s);
    s = nullptr;
    gpudf_table_free(t);
    t = nullptr;
    EXPECT_FALSE(EntryExists("+v." + std::to_string(getpid()) + ".")) << "device memory left";
  }
}

// ------------------------------------------------------------ device lists

TEST_F(MultiDevice, TheDeviceListNamesWhatIsWrongWithIt) {
  ASSERT_EQ(tg_make_table(100, 6, &t), GPUDF_OK);
  const std::vector<std::pair<const char *, const char *>> bad = {
      {"", "is empty"},
      {",", "empty entry at byte 0"},
      {"0,", "empty entry at byte 2"},
      {"0,,1", "empty entry at byte 2"},
      {"gpu0", "'gpu0' is not a device ordinal or a UUID"},
      {"-1", "'-1' is not a device ordinal or a UUID"},
      {" 0", "' 0' is not a device ordinal"},
      {"0x1", "'0x1' is not a device ordinal (0 to 1023)"},
      {"1024", "'1024' is not a device ordinal (0 to 1023)"},
      {"99999999999999999999", "is not a device ordinal (0 to 1023)"},
      {"GPU-6770756", "is not a device ordinal or a UUID"},
      {"GPU-67707564-662d-7369-6d2d-6465762d300g", "is not a device ordinal or a UUID"},
      {"1,2,1", "names device '1' twice"},
      {"All", "'All' is not a device ordinal or a UUID"},
      {"0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", "names more than 16 devices"},
  };
  for (auto &b : bad) {
    EXPECT_EQ(ShareOn(b.first), GPUDF_EINVAL) << b.first;
    std::string msg = gpudf_last_error();
    EXPECT_EQ(msg.rfind("gpudf_table_share_ex: devices ", 0), 0u) << msg;
    EXPECT_NE(msg.find(b.second), std::string::npos) << b.first << ": " << msg;
  }
  // The same device by ordinal and by UUID.
  EXPECT_EQ(ShareOn(("0," + SimUuid(0)).c_str()), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("named twice, by ordinal and by UUID"),
            std::string::npos) << gpudf_last_error();
  // GPUDF_DEVICES takes the same syntax, named as such, and the option wins.
  setenv("GPUDF_DEVICES", "0,,", 1);
  EXPECT_EQ(ShareOn(nullptr), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("GPUDF_DEVICES '0,,'"), std::string::npos)
      << gpudf_last_error();
  setenv("GPUDF_DEVICES", "2", 1);
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 1);
  EXPECT_EQ(gpudf_share_replica_device(s, 0), SimUuid(2));
  gpudf_share_close(s);
  s = nullptr;
  gpudf_table_free(t); // a table keeps its placement when shared again
  t = nullptr;
  ASSERT_EQ(ShareOn("all"), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 4);
}

TEST_F(MultiDevice, ShareOptionsFollowTheStructSizeRule) {
  ASSERT_EQ(tg_make_table(100, 7, &t), GPUDF_OK);
  gpudf_share_options o;
  gpudf_share_options_init(&o);
  EXPECT_EQ(o.size, sizeof o);
  EXPECT_EQ(o.version, GPUDF_SHARE_OPTIONS_VERSION);
  EXPECT_EQ(o.backend, GPUDF_BACKEND_AUTO);
  EXPECT_EQ(o.devices, nullptr);
  o.size = sizeof(size_t);
  EXPECT_EQ(gpudf_table_share_ex(t, name.c_str(), &o, &s), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("call gpudf_share_options_init first"),
            std::string::npos) << gpudf_last_error();
  // NULL options: the defaults, every device.
  ASSERT_EQ(gpudf_table_share_ex(t, name.c_str(), nullptr, &s), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 4);
}

// The owner killed with -9 while it fills the third replica: nothing was
// published, and the next call removes its host arena and every replica.
TEST_F(MultiDevice, AnOwnerKilledMidReplicationLeavesNothingAfterTheNextCall) {
  setenv("GPUDF_SIM_FAIL", "stall:2", 1);
  Child c = harness::Spawn({"share", name, "3000", "3"});
  unsetenv("GPUDF_SIM_FAIL");
  bool stalled = false;
  for (int i = 0; i < 1000 && !stalled; i++) {  // events, not time: up to 10 s of polls
    stalled = Count(c.pid, "stall", 2) == 1;
    if (!stalled) usleep(10000);
  }
  ASSERT_TRUE(stalled) << "the owner never reached the third replica";
  EXPECT_EQ(Count(c.pid, "alloc"), 4) << "every replica allocated, the fills overlapped";
  EXPECT_EQ(Count(c.pid, "copy_start"), 3);
  std::string its = "." + std::to_string(c.pid) + ".";
  EXPECT_TRUE(EntryExists("+v" + its));
  harness::Kill(c);
  gpudf_table *v = nullptr;
  EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_ENOENT) << "never published";
  EXPECT_FALSE(EntryExists("+v" + its)) << "device memory left behind";
  EXPECT_FALSE(EntryExists("+a" + its)) << "host arena left behind";
  EXPECT_FALSE(EntryExists(harness::PublicFile(name)));
}

// ------------------------------------------------------ replicas added later

// A process on a device without a replica adds one from the host arena; the
// next attacher on that device reads it; once freed, attachers read a
// peer's again, and the device memory is gone.
TEST_F(MultiDevice, AReplicaAddedLaterIsUsedByTheNextAttacherOnItsDevice) {
  ASSERT_EQ(ShareOn("0,1"), GPUDF_OK) << gpudf_last_error();
  setenv("GPUDF_SIM_CURRENT", "3", 1);
  gpudf_replica *r = nullptr;
  unlink(trace.c_str());
  ASSERT_EQ(gpudf_share_add_replica(name.c_str(), &r), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_replica_device(r), SimUuid(3));
  EXPECT_EQ(Count(getpid(), "upload", 3), 1) << "from the host arena";
  EXPECT_EQ(Count(getpid(), "upload"), 1);
  std::string out = RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", "3"}});
  EXPECT_EQ(out, "ok cuda-ipc replica " + SimUuid(3) + " " + Sum(t));
  // A second one on the same device is refused, naming it.
  setenv("GPUDF_SIM_CURRENT", "3", 1);  // RunChild unset it
  gpudf_replica *again = nullptr;
  EXPECT_EQ(gpudf_share_add_replica(name.c_str(), &again), GPUDF_EEXIST);
  EXPECT_NE(std::string(gpudf_last_error()).find("already has a replica on device " + SimUuid(3)),
            std::string::npos) << gpudf_last_error();
  setenv("GPUDF_SIM_CURRENT", "1", 1);
  EXPECT_EQ(gpudf_share_add_replica(name.c_str(), &again), GPUDF_EEXIST) << "the descriptor's";
  gpudf_replica_free(r);
  out = RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", "3"}});
  EXPECT_EQ(out, "ok cuda-ipc peer " + SimUuid(3) + " " + Sum(t));
  unsetenv("GPUDF_SIM_CURRENT");
}

// The adding process killed with -9: its replica is not offered, and the
// next call that tidies removes its record and device memory.
TEST_F(MultiDevice, AReplicaWhoseProcessWasKilledLeavesNothingAfterTheNextCall) {
  ASSERT_EQ(ShareOn("0"), GPUDF_OK) << gpudf_last_error();
  setenv("GPUDF_SIM_CURRENT", "2", 1);
  Child c = harness::Spawn({"add-replica", name});
  unsetenv("GPUDF_SIM_CURRENT");
  ASSERT_EQ(harness::ReadLine(c), "added " + SimUuid(2));
  std::string mine = "+r." + std::to_string(c.pid) + ".";
  std::string its_memory = "+v." + std::to_string(c.pid) + ".";
  EXPECT_TRUE(EntryExists(mine));
  EXPECT_TRUE(EntryExists(its_memory));
  EXPECT_EQ(RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", "2"}}),
            "ok cuda-ipc replica " + SimUuid(2) + " " + Sum(t));
  harness::Kill(c);
  EXPECT_EQ(RunChild({"attach-where", name}, {{"GPUDF_SIM_CURRENT", "2"}}),
            "ok cuda-ipc peer " + SimUuid(2) + " " + Sum(t));
  EXPECT_FALSE(EntryExists(mine)) << "record left behind";
  EXPECT_FALSE(EntryExists(its_memory)) << "device memory left behind";
}

TEST_F(MultiDevice, OnlyACudaIpcShareTakesAReplica) {
  ASSERT_EQ(ShareOn(nullptr, 100, 1, GPUDF_BACKEND_CPU), GPUDF_OK) << gpudf_last_error();
  gpudf_replica *r = nullptr;
  EXPECT_EQ(gpudf_share_add_replica(name.c_str(), &r), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("is published as cpu"), std::string::npos)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_share_add_replica("no-such-share-here", &r), GPUDF_ENOENT);
  EXPECT_EQ(r, nullptr);
}

// ------------------------------------------------------------ sweeps

// An owner that frees its table while it goes on running takes the device
// memory with it: the attacher's next device call (a device column, a run)
// says so instead of handing out or reading an address that points at
// nothing, and the view's host arena stays readable.
TEST_F(MultiDevice, AnOwnerThatFreesItsTableWhileRunningIsReportedOnTheNextDeviceCall) {
  std::string gate = trace + ".gate";
  files.push_back(gate);
  harness::Child owner = harness::Spawn({"share-free-when", name, "3000", "4", gate});
  std::string line = harness::ReadLine(owner);
  ASSERT_EQ(line.rfind("shared ", 0), 0u) << line;
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_backend(v), GPUDF_BACKEND_CUDA_IPC);
  const void *data = nullptr;
  int dev = -1;
  EXPECT_EQ(gpudf_table_column_device(v, 3, &data, &dev), GPUDF_OK) << gpudf_last_error();
  const double cfg[5] = {3, 3, -0.5, 0, 3};
  double before[6], after[6];
  ASSERT_EQ(gpudf_run(v, tg_kernel("filter_agg"), cfg, 1, before), GPUDF_OK) << gpudf_last_error();
  { std::ofstream(gate.c_str()) << "go"; }
  EXPECT_EQ(harness::ReadLine(owner), "freed");
  EXPECT_EQ(gpudf_table_column_device(v, 3, &data, &dev), GPUDF_ENOENT);
  EXPECT_EQ(data, nullptr);
  EXPECT_NE(std::string(gpudf_last_error()).find("was freed by its owner (process " +
                                                 std::to_string(owner.pid) + ", still running)"),
            std::string::npos)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_run(v, tg_kernel("filter_agg"), cfg, 1, after), GPUDF_ENOENT);
  EXPECT_NE(std::string(gpudf_last_error()).find("device memory with it"), std::string::npos);
  EXPECT_EQ(std::to_string(tg_table_checksum(v)), line.substr(7)) << "host reads go on";
  gpudf_table_free(v);
  harness::Kill(owner);
}

// A replica added later by another process (devices 0 and 1 hold the
// owner's, process "adder" adds one on device 3) is read by this process's
// view on device 3. When the adder frees it (kill_adder false) or is killed
// with -9 (true), the view's next device call (a run, a device column) is
// refused with GPUDF_ENOENT naming the adder and the device instead of
// reading memory that is gone; the host arena stays readable, and a new
// attach follows the documented order (here: a peer replica).
void AddedReplicaGoes(const std::string &name, const std::string &trace,
                      std::vector<std::string> &files, bool kill_adder) {
  std::string gate = trace + ".gate";
  files.push_back(gate);
  setenv("GPUDF_DEVICES", "0,1", 1);
  Child owner = harness::Spawn({"share", name, "3000", "4"});
  KillAtEnd owner_end{owner};
  unsetenv("GPUDF_DEVICES");
  std::string line = harness::ReadLine(owner);
  ASSERT_EQ(line.rfind("shared ", 0), 0u) << line;
  setenv("GPUDF_SIM_CURRENT", "3", 1);
  Child adder = harness::Spawn({"add-replica-free-when", name, gate});
  KillAtEnd adder_end{adder};
  ASSERT_EQ(harness::ReadLine(adder), "added " + SimUuid(3));
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_access(v), GPUDF_ACCESS_REPLICA);
  ASSERT_EQ(std::string(gpudf_table_device(v)), SimUuid(3));
  const double cfg[5] = {3, 3, -0.5, 0, 3};
  double before[6], after[6];
  ASSERT_EQ(gpudf_run(v, tg_kernel("filter_agg"), cfg, 1, before), GPUDF_OK)
      << gpudf_last_error();
  std::string who = "process " + std::to_string(adder.pid);  // Kill forgets it
  if (kill_adder) {
    harness::Kill(adder);
  } else {
    { std::ofstream(gate.c_str()) << "go"; }
    EXPECT_EQ(harness::ReadLine(adder), "freed");
  }
  std::string why = kill_adder ? "is no longer running" : "freed it";
  EXPECT_EQ(gpudf_run(v, tg_kernel("filter_agg"), cfg, 1, after), GPUDF_ENOENT);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find(who), std::string::npos) << msg;
  EXPECT_NE(msg.find(SimUuid(3)), std::string::npos) << msg;
  EXPECT_NE(msg.find(why), std::string::npos) << msg;
  const void *data = &data;
  int dev = 7;
  EXPECT_EQ(gpudf_table_column_device(v, 3, &data, &dev), GPUDF_ENOENT);
  EXPECT_EQ(data, nullptr);
  EXPECT_EQ(dev, -1);
  EXPECT_NE(std::string(gpudf_last_error()).find(who), std::string::npos) << gpudf_last_error();
  EXPECT_EQ(std::to_string(tg_table_checksum(v)), line.substr(7)) << "host reads go on";
  // Attaching again, with the old view still held: no replica on device 3
  // now, so a peer's; it runs and gives the same results.
  gpudf_table *w = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_access(w), GPUDF_ACCESS_PEER);
  ASSERT_EQ(gpudf_run(w, tg_kernel("filter_agg"), cfg, 1, after), GPUDF_OK)
      << gpudf_last_error();
  for (int i = 0; i < 6; i++)
    EXPECT_TRUE(after[i] == before[i] || (std::isnan(after[i]) && std::isnan(before[i]))) << i;
  gpudf_table_free(w);
  gpudf_table_free(v);
  unsetenv("GPUDF_SIM_CURRENT");
  harness::Kill(adder);
  harness::Kill(owner);
  EXPECT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);  // the killed owner's share
}

TEST_F(MultiDevice, AReplicaItsAdderFreesIsReportedOnTheNextDeviceCall) {
  AddedReplicaGoes(name, trace, files, false);
}

TEST_F(MultiDevice, AReplicaWhoseAdderIsKilledIsReportedOnTheNextDeviceCall) {
  AddedReplicaGoes(name, trace, files, true);
}

// A sweep of a table shared over four devices starts one worker per replica
// by default, binds each to its device by UUID before it attaches, and each
// reads that device's replica; the results are the cpu placement's.
TEST_F(MultiDevice, ASweepRunsOneWorkerPerReplicaEachOnItsOwnDevice) {
  ASSERT_EQ(ShareOn(nullptr, 4000, 9), GPUDF_OK) << gpudf_last_error();
  const gdf_desc_header *h = Header();
  std::vector<double> cfg;
  for (int i = 0; i < 64; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 32.0, 0, 3});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.batch = 1;  // one config per batch: each result comes from the same pass as below
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r), GPUDF_OK)
      << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.workers, 4) << "one per replica";
  EXPECT_EQ(rep.done, n);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_IPC);
  std::vector<int> devs = WorkerDevices(r), seen(4, 0);
  int64_t configs = 0;
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info wi;
    ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
    configs += wi.configs;
    int k = devs[i];
    ASSERT_TRUE(k >= 0 && k < 4) << "worker " << i << " ran on '" << wi.device << "'";
    seen[k]++;
    // Bound first, then it opened its own device's replica there, only it.
    std::vector<std::string> calls = Calls(wi.pid);
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls[0], "bind dev=" + std::to_string(k));
    std::string handle(reinterpret_cast<const char *>(h->replicas[k].ipc_handle));
    EXPECT_EQ(Count(wi.pid, "ipc_open " + handle, k), 1) << "worker on device " << k;
    EXPECT_EQ(Count(wi.pid, "ipc_open"), 1);
    EXPECT_EQ(Count(wi.pid, "filter_agg"), Count(wi.pid, "filter_agg", k)) << "ran only on " << k;
  }
  EXPECT_EQ(seen, std::vector<int>(4, 1));
  EXPECT_EQ(configs, n);
  gpudf_sweep_result_free(r);
  ExpectCpuResults(4000, 9, cfg, got);
}

// A sweep that shares the table itself says which devices it left out (the
// CLI prints it, also with --quiet); its workers run on the others.
TEST_F(MultiDevice, ASweepSaysWhichDevicesItsShareLeftOut) {
  ASSERT_EQ(tg_make_table(3000, 4, &t), GPUDF_OK);
  uint64_t a = gpudf_table_arena_bytes(t);
  std::string big = std::to_string(8 * a), small = std::to_string(a / 2);
  setenv("GPUDF_SIM_MEM", (big + "," + small + "," + big + "," + big).c_str(), 1);
  std::vector<double> cfg;
  for (int i = 0; i < 12; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 8.0, 0, 3});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), nullptr, &r),
            GPUDF_OK) << gpudf_last_error();
  std::string why = gpudf_sweep_result_skipped(r);
  EXPECT_NE(why.find("device " + SimUuid(1) + " (ordinal 1) skipped"), std::string::npos) << why;
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.done, n);
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info wi;
    ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
    EXPECT_NE(std::string(wi.device), SimUuid(1));
  }
  gpudf_sweep_result_free(r);
  EXPECT_STREQ(gpudf_sweep_result_skipped(nullptr), "");
  // Every device with room: nothing to say.
  unsetenv("GPUDF_SIM_MEM");
  gpudf_table *u = nullptr;
  ASSERT_EQ(tg_make_table(3000, 4, &u), GPUDF_OK);
  ASSERT_EQ(gpudf_sweep(u, tg_kernel("filter_agg"), cfg.data(), n, got.data(), nullptr, &r),
            GPUDF_OK) << gpudf_last_error();
  EXPECT_STREQ(gpudf_sweep_result_skipped(r), "");
  gpudf_sweep_result_free(r);
  gpudf_table_free(u);
  // The CLI, quiet, on a file: the line on stderr, exit 0.
  std::string csv = "/tmp/gpudf-multi-" + std::to_string(getpid()) + ".csv";
  {
    std::ofstream f(csv);
    f << "x,y\n";
    for (int i = 0; i < 2000; i++) f << i % 97 << "," << (i * 7) % 13 << "\n";
  }
  setenv("GPUDF_SIM_MEM", ("1000000000,100," + big + "," + big).c_str(), 1);
  std::string cmd = std::string(GPUDF_SWEEP_BIN) + " --table " + csv +
                    " --kernel filter_agg --grid 'lo=1,2' --quiet --out - 2>&1 >/dev/null";
  FILE *p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) err += buf;
  int rc = pclose(p);
  std::remove(csv.c_str());
  EXPECT_EQ(rc, 0) << err;
  EXPECT_NE(err.find("gpudf-sweep: device " + SimUuid(1) + " (ordinal 1) skipped: the arena "
                     "needs"), std::string::npos) << err;
}

// Each worker bound to a device runs on the CPUs sysfs lists as local to it
// (intersected with what this process may use); without a list, or with
// GPUDF_AFFINITY=0, its CPUs stay as they were.
TEST_F(MultiDevice, EachWorkerRunsOnTheCpusLocalToItsDevice) {
  char tmpl[] = "/tmp/gpudf-sysfs-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  const char *lists[] = {"0\n", "1\n", "0-1\n", nullptr};  // device 3: no list
  std::vector<std::string> made;
  for (int k = 0; k < 4; k++) {
    std::string dir = root + "/bus/pci/devices/0000:a" + std::to_string(k) +
                      ":00.0";
    std::string cmd = "mkdir -p '" + dir + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    if (lists[k]) std::ofstream(dir + "/local_cpulist") << lists[k];
  }
  // The driver writes bus ids in upper case; sysfs names them in lower.
  setenv("GPUDF_SIM_PCI", "0000:A0:00.0,0000:A1:00.0,0000:A2:00.0,0000:A3:00.0", 1);
  setenv("GPUDF_SYSFS_ROOT", root.c_str(), 1);
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  ASSERT_EQ(ShareOn(nullptr, 4000, 3), GPUDF_OK) << gpudf_last_error();
  std::vector<double> cfg;
  for (int i = 0; i < 16; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 8.0, 0, 3});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  for (bool off : {false, true}) {
    if (off) setenv("GPUDF_AFFINITY", "0", 1);
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), nullptr, &r),
              GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_sweep_result_nworkers(r), 4);
    std::vector<int> devs = WorkerDevices(r);
    for (int i = 0; i < 4; i++) {
      gpudf_sweep_worker_info wi;
      ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
      int k = devs[i];
      ASSERT_TRUE(k >= 0 && k < 4) << "worker " << i << " ran on '" << wi.device << "'";
      std::string want;  // the local CPUs this process may use, as a list
      if (lists[k] && !off) {
        cpu_set_t local, both;
        ASSERT_TRUE(gdf_cpulist_parse(lists[k], &local));
        CPU_AND(&both, &local, &mine);
        char text[256];
        gdf_cpulist_format(&both, text, sizeof text);
        want = text;
      }
      std::vector<std::string> lines;
      for (const auto &c : Calls(wi.pid))
        if (c.rfind("affinity ", 0) == 0) lines.push_back(c);
      if (want.empty()) {
        EXPECT_TRUE(lines.empty()) << "device " << k << (off ? " (off)" : "") << ": "
                                   << (lines.empty() ? "" : lines[0]);
      } else {
        ASSERT_EQ(lines.size(), 1u) << "device " << k;
        EXPECT_EQ(lines[0], "affinity dev=" + std::to_string(k) + " cpus=" + want);
      }
    }
    gpudf_sweep_result_free(r);
  }
  unsetenv("GPUDF_AFFINITY");
  unsetenv("GPUDF_SYSFS_ROOT");
  unsetenv("GPUDF_SIM_PCI");
  std::string rm = "rm -rf '" + root + "'";
  EXPECT_EQ(std::system(rm.c_str()), 0);
}

// ------------------------------------------------------------ descriptor v3

TEST_F(MultiDevice, ADescriptorOfAnOlderLibraryIsRefusedWithAMessage) {
  ASSERT_EQ(ShareOn(nullptr), GPUDF_OK) << gpudf_last_error();
  // A version 2 descriptor was smaller (one UUID and handle): its first
  // fields are where they are now.
  std::string bytes = ReadAll(harness::ShmPath(harness::PublicFile(name)));
  uint32_t two = 2;
  std::memcpy(&bytes[offsetof(gdf_desc_header, version)], &two, sizeof two);
  bytes.resize(bytes.size() - GDF_DESC_REPLICAS_MAX * 80 - 8 + 80);
  std::string old = harness::UniqueName("old");
  std::string path = harness::ShmPath(harness::PublicFile(old));
  files.push_back(path);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
  close(fd);
  gpudf_table *v = nullptr;
  EXPECT_EQ(gpudf_attach(old.c_str(), &v), GPUDF_EBADMSG);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("share '" + old + "' was published by an older libgpudf (descriptor "
                     "version 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("publish it again with this library"), std::string::npos) << msg;
  EXPECT_EQ(v, nullptr);
}

// ------------------------------------------------- sweeps over the devices

// 64 filter_agg configs (5 parameters, 6 results each).
std::vector<double> SweepConfigs() {
  std::vector<double> cfg;
  for (int i = 0; i < 64; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 32.0, 0, 3});
  return cfg;
}

// The same configs over the cpu placement of a fresh table of the same
// rows, one at a time, against the results of a device sweep.
void ExpectCpuResults(int64_t rows, uint64_t seed, const std::vector<double> &cfg,
                      const std::vector<double> &got) {
  gpudf_table *ref = nullptr;
  ASSERT_EQ(tg_make_table(rows, seed, &ref), GPUDF_OK);
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> want(n * 6);
  for (int64_t i = 0; i < n; i++)
    ASSERT_EQ(gpudf_run(ref, tg_kernel("filter_agg"), &cfg[i * 5], 1, &want[i * 6]), GPUDF_OK);
  gpudf_table_free(ref);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++)
    EXPECT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))
        << i << ": " << got[i] << " vs " << want[i];
}

// The simulated device index of each worker entry of r (-1: none of them).
std::vector<int> WorkerDevices(const gpudf_sweep_result *r) {
  std::vector<int> out;
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info wi;
    EXPECT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
    int k = -1;
    for (int d = 0; d < 16; d++)
      if (SimUuid(d) == wi.device) k = d;
    out.push_back(k);
  }
  return out;
}

// workers = 0 (in this process) on a share with four replicas: a thread per
// device, each bound to its device and running its kernels there only; the
// report has one entry per thread with its device, configs and time.
TEST_F(MultiDevice, WorkersZeroRunsAThreadPerReplicaDeviceInThisProcess) {
  ASSERT_EQ(ShareOn(nullptr, 4000, 9), GPUDF_OK) << gpudf_last_error();
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  o.batch = 1;  // one launch per config: the trace counts each thread's configs
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r), GPUDF_OK)
      << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.workers, 0);
  EXPECT_EQ(rep.done, n);
  EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_IPC);
  ASSERT_EQ(gpudf_sweep_result_nworkers(r), 4) << "a thread per replica device";
  ExpectAThreadPerDevice(r, n);
  gpudf_sweep_result_free(r);
  ExpectCpuResults(4000, 9, cfg, got);
}

// workers = 0 on a view in a process that did not publish the share (the
// owner holds replicas on devices 0 to 2, another process added one on 3):
// a thread per replica device, each bound to its device by UUID and reading
// that device's replica, opened there once (the view's own, on device 0, is
// not opened again); the report has an entry per device with its configs;
// the results are the cpu placement's. A second sweep opens nothing more,
// and freeing the view closes all four.
TEST_F(MultiDevice, WorkersZeroOnAViewRunsAThreadPerReplicaDevice) {
  setenv("GPUDF_DEVICES", "0,1,2", 1);
  Child owner = harness::Spawn({"share", name, "4000", "9"});
  KillAtEnd owner_end{owner};
  unsetenv("GPUDF_DEVICES");
  std::string line = harness::ReadLine(owner);
  ASSERT_EQ(line.rfind("shared ", 0), 0u) << line;
  setenv("GPUDF_SIM_CURRENT", "3", 1);
  Child adder = harness::Spawn({"add-replica", name});
  KillAtEnd adder_end{adder};
  unsetenv("GPUDF_SIM_CURRENT");
  ASSERT_EQ(harness::ReadLine(adder), "added " + SimUuid(3));
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_access(v), GPUDF_ACCESS_REPLICA);
  ASSERT_EQ(std::string(gpudf_table_device(v)), SimUuid(0));
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE("sweep " + std::to_string(round + 1));
    unlink(trace.c_str());
    std::vector<double> got(n * 6);
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    o.workers = 0;
    o.batch = 1;  // one launch per config: the trace counts each thread's configs
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(v, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
              GPUDF_OK) << gpudf_last_error();
    gpudf_sweep_report rep;
    ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    EXPECT_EQ(rep.workers, 0);
    EXPECT_EQ(rep.done, n);
    EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_IPC);
    ASSERT_EQ(gpudf_sweep_result_nworkers(r), 4) << "a thread per replica device";
    for (int d : ExpectAThreadPerDevice(r, n)) {
      if (d < 0) continue;
      EXPECT_EQ(Count(getpid(), "ipc_open", d), round == 0 && d != 0 ? 1 : 0) << "device " << d;
    }
    gpudf_sweep_result_free(r);
    ExpectCpuResults(4000, 9, cfg, got);
  }
  unlink(trace.c_str());
  gpudf_table_free(v);
  EXPECT_EQ(Count(getpid(), "ipc_close"), 4);
  harness::Kill(adder);
  harness::Kill(owner);
  EXPECT_EQ(gpudf_cleanup(nullptr), GPUDF_OK);  // the killed owner's share
}

// workers_per_device: the default workers are that many per replica device,
// workers = 0 that many threads; out of range is refused by name; a struct
// from an older header (which ends before it) gets 1.
TEST_F(MultiDevice, WorkersPerDeviceGivesThatManyOnEachDevice) {
  ASSERT_EQ(ShareOn(nullptr, 3000, 5), GPUDF_OK) << gpudf_last_error();
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  for (int workers : {(int)GPUDF_SWEEP_WORKERS_DEFAULT, 0}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    EXPECT_EQ(o.workers_per_device, 1);
    o.workers = workers;
    o.workers_per_device = 2;
    o.batch = 1;
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
              GPUDF_OK) << gpudf_last_error();
    gpudf_sweep_report rep;
    ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    EXPECT_EQ(rep.workers, workers == 0 ? 0 : 8);
    EXPECT_EQ(rep.done, n);
    std::vector<int> per(4, 0);
    for (int k : WorkerDevices(r)) {
      ASSERT_GE(k, 0);
      per[k]++;
    }
    EXPECT_EQ(per, std::vector<int>(4, 2));
    gpudf_sweep_result_free(r);
    ExpectCpuResults(3000, 5, cfg, got);
  }
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers_per_device = 0;
  EXPECT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, nullptr),
            GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("workers_per_device = 0"), std::string::npos)
      << gpudf_last_error();
  // An older header's struct: the field is past its size, whatever lies there.
  gpudf_sweep_options_init(&o);
  o.size = offsetof(gpudf_sweep_options, workers_per_device);
  o.workers_per_device = -7;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
            GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.workers, 4);
  gpudf_sweep_result_free(r);
}

// A sweep that shares the table itself: a device skipped for room holds no
// replica and gets no worker, so no two workers share a device.
TEST_F(MultiDevice, TheDefaultWorkersLeaveOutADeviceSkippedForRoom) {
  ASSERT_EQ(tg_make_table(3000, 4, &t), GPUDF_OK);
  uint64_t a = gpudf_table_arena_bytes(t);
  std::string big = std::to_string(8 * a), small = std::to_string(a / 2);
  setenv("GPUDF_SIM_MEM", (big + "," + small + "," + big + "," + big).c_str(), 1);
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.batch = 1;  // each result from a pass of its own, as the cpu reference's
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
            GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.workers, 3) << "devices 0, 2 and 3";
  EXPECT_EQ(rep.done, n);
  std::vector<int> per(4, 0);
  for (int k : WorkerDevices(r)) {
    ASSERT_GE(k, 0);
    per[k]++;
  }
  EXPECT_EQ(per, (std::vector<int>{1, 0, 1, 1}));
  gpudf_sweep_result_free(r);
  ExpectCpuResults(3000, 4, cfg, got);
}

// cuda-pinned: its registration is portable, so its workers spread over
// every device the same way (each bound to its own), and workers = 0 runs a
// thread per device; no replica is made.
TEST_F(MultiDevice, ACudaPinnedSweepSpreadsOverTheDevicesToo) {
  ASSERT_EQ(ShareOn(nullptr, 4000, 9, GPUDF_BACKEND_CUDA_PINNED), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_share_nreplicas(s), 0);
  EXPECT_EQ(Count(getpid(), "alloc"), 0);
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  for (int workers : {(int)GPUDF_SWEEP_WORKERS_DEFAULT, 0}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    std::vector<double> got(n * 6);
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    o.workers = workers;
    o.batch = 1;
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(t, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
              GPUDF_OK) << gpudf_last_error();
    gpudf_sweep_report rep;
    ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    EXPECT_EQ(rep.workers, workers == 0 ? 0 : 4);
    EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_PINNED);
    EXPECT_EQ(rep.done, n);
    std::vector<int> devs = WorkerDevices(r), seen(4, 0);
    ASSERT_EQ(devs.size(), 4u);
    for (int i = 0; i < 4; i++) {
      ASSERT_GE(devs[i], 0);
      seen[devs[i]]++;
      gpudf_sweep_worker_info wi;
      ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
      pid_t pid = wi.pid ? wi.pid : getpid();
      if (wi.pid) {
        EXPECT_EQ(Count(pid, "filter_agg"), Count(pid, "filter_agg", devs[i]));
        EXPECT_EQ(Count(pid, "register"), Count(pid, "register", devs[i]));
      }
    }
    EXPECT_EQ(seen, std::vector<int>(4, 1));
    for (int k = 0; workers == 0 && k < 4; k++)
      EXPECT_GT(Count(getpid(), "bind", k), 0) << "device " << k;
    gpudf_sweep_result_free(r);
    ExpectCpuResults(4000, 9, cfg, got);
  }
}

// A sweep over a view (a process that attached the share) sends its
// workers to the share's replicas, one per device, as the owner's does.
TEST_F(MultiDevice, ASweepOverAViewSpreadsOverTheSharesReplicas) {
  ASSERT_EQ(ShareOn(nullptr, 4000, 9), GPUDF_OK) << gpudf_last_error();
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  std::vector<double> cfg = SweepConfigs();
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.batch = 1;
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(v, tg_kernel("filter_agg"), cfg.data(), n, got.data(), &o, &r),
            GPUDF_OK) << gpudf_last_error();
  gpudf_sweep_report rep;
  ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
  EXPECT_EQ(rep.workers, 4);
  EXPECT_EQ(rep.done, n);
  std::vector<int> devs = WorkerDevices(r), seen(4, 0);
  for (int k : devs) {
    ASSERT_GE(k, 0);
    seen[k]++;
  }
  EXPECT_EQ(seen, std::vector<int>(4, 1));
  gpudf_sweep_result_free(r);
  gpudf_table_free(v);
  ExpectCpuResults(4000, 9, cfg, got);
  // Another process that attached the share does the same.
  Child c = harness::Spawn({"sweep-view", name});
  std::string line = harness::ReadLine(c, 60000);
  EXPECT_EQ(harness::Wait(c, 60000), 0) << line;
  std::istringstream words(line);
  std::string ok, dev;
  int workers = 0;
  words >> ok >> workers;
  EXPECT_EQ(ok, "ok") << line;
  EXPECT_EQ(workers, 4) << line;
  std::vector<int> other(4, 0);
  while (words >> dev)
    for (int k = 0; k < 4; k++) other[k] += dev == SimUuid(k);
  EXPECT_EQ(other, std::vector<int>(4, 1)) << line;
}

// gpudf-sweep --workers-per-device: the summary's per-device lines show that
// many workers on each device, --workers 0 a thread per device; out of
// range is a usage error naming the flag.
TEST_F(MultiDevice, TheCliRunsWorkersPerDeviceAndThreadsPerDevice) {
  std::string csv = "/tmp/gpudf-multi-wpd-" + std::to_string(getpid()) + ".csv";
  {
    std::ofstream f(csv);
    f << "x,y\n";
    for (int i = 0; i < 2000; i++) f << i % 97 << "," << (i * 7) % 13 << "\n";
  }
  auto run = [&](const std::string &flags, int *rc) {
    std::string cmd = std::string(GPUDF_SWEEP_BIN) + " --table " + csv +
                      " --kernel filter_agg --grid 'lo=1,2,3,4,5,6,7,8' --batch 1 " + flags +
                      " --out /dev/null 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    std::string err;
    char buf[512];
    while (p && fgets(buf, sizeof buf, p)) err += buf;
    *rc = p ? pclose(p) : -1;
    return err;
  };
  int rc = 0;
  std::string err = run("--workers-per-device 2", &rc);
  EXPECT_EQ(rc, 0) << err;
  for (int k = 0; k < 4; k++)
    EXPECT_NE(err.find("device   " + SimUuid(k) + ": "), std::string::npos) << err;
  EXPECT_EQ(err.find(" 1 worker\n"), std::string::npos) << err;
  size_t two = 0;
  for (size_t at = err.find(" 2 workers\n"); at != std::string::npos;
       at = err.find(" 2 workers\n", at + 1))
    two++;
  EXPECT_EQ(two, 4u) << err;
  err = run("--workers 0 --backend cuda-ipc", &rc);
  EXPECT_EQ(rc, 0) << err;
  size_t one = 0;
  for (size_t at = err.find(" 1 worker\n"); at != std::string::npos;
       at = err.find(" 1 worker\n", at + 1))
    one++;
  EXPECT_EQ(one, 4u) << "a thread per device: " << err;
  err = run("--workers-per-device 0", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("--workers-per-device needs 1..256, got '0'"), std::string::npos) << err;
  std::remove(csv.c_str());
}

}  // namespace
