// The real CUDA placements and kernel, on a real device. Named *Gpu*, so
// they carry the ctest label "gpu"; without a device every case reports
// SKIPPED with the reason, never a silent pass.
//
// Owner exit: CUDA IPC memory belongs to the exporting process's context and
// is freed when that process exits or is killed. Attaching afterwards is
// refused (ENOENT after a clean exit, EOWNERDEAD after a kill), and a view
// attached before keeps valid HOST data (gpudf_table_column_data) but its
// device pointers must not be used any more: re-attach to a new share.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "datagen.h"
#include "harness.h"

namespace {

using harness::Child;

class DeviceGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("GPUDF_SIMULATE_DEVICE");
    unsetenv("GPUDF_BACKEND");
    const char *why = nullptr;
    if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why))
      GTEST_SKIP() << "no usable CUDA device: " << why;
  }
  void TearDown() override {
    gpudf_share_close(s);
    gpudf_table_free(t);
    unsetenv("GPUDF_BACKEND");
  }
  void Share(int64_t rows, uint64_t seed, gpudf_backend b = GPUDF_BACKEND_AUTO) {
    name = harness::UniqueName("gpu");
    ASSERT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_table_share(t, name.c_str(), b, &s), GPUDF_OK) << gpudf_last_error();
  }
  std::string Child1(const std::vector<std::string> &args) {
    Child c = harness::Spawn(args);
    std::string line = harness::ReadLine(c, 60000);
    std::string more = harness::ReadLine(c, 5000);
    if (!more.empty()) line += "\n" + more;
    int st = harness::Wait(c, 60000);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << " " << line;
    return line;
  }
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
};

std::string Sum(const gpudf_table *t) { return std::to_string(tg_table_checksum(t)); }

// One filter_agg config on column d of t, as the child's run-dev prints it.
std::string OwnerRun(const gpudf_table *t, int op, double lo) {
  const gpudf_kernel *k;
  gpudf_kernel_find("filter_agg", &k);
  int d;
  gpudf_table_find_column(t, "d", &d);
  double cfg[5] = {(double)d, (double)op, lo, 0, (double)d}, r[6];
  EXPECT_EQ(gpudf_run(t, k, cfg, 1, r), GPUDF_OK);
  std::ostringstream o;
  o.precision(17);
  for (double v : r) o << " " << v;
  return o.str();
}

TEST_F(DeviceGpu, UploadAndAttachAcrossProcesses) {
  Share(1000003, 1);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_IPC);
  EXPECT_NE(gpudf_table_column_device_data(t, 0), nullptr);
  EXPECT_EQ(Child1({"attach-dev", name}), "ok cuda-ipc " + Sum(t) + " -");
  std::string run = Child1({"run-dev", name, "3", "0"});
  ASSERT_EQ(run.rfind("cuda-ipc ", 0), 0u) << run;
  // The child's device result against the owner's; both are device runs, so
  // compare counts exactly and the rest closely.
  std::istringstream a(run.substr(9)), b(OwnerRun(t, 3, 0));
  for (int i = 0; i < 6; i++) {
    double x, y;
    a >> x;
    b >> y;
    EXPECT_NEAR(x, y, 1e-9 * (std::fabs(y) + 1)) << "field " << i;
  }
}

TEST_F(DeviceGpu, ASecondAttachInOneProcessReusesTheHandle) {
  Share(100000, 2);
  EXPECT_EQ(Child1({"attach-twice", name}), "ok cuda-ipc cuda-ipc 1\ndetached");
}

// An attach traced with GPUDF_ATTACH_TRACE=1 times the driver's
// cudaIpcOpenMemHandle apart from the rest (bench_gpu section 3 reads it).
TEST_F(DeviceGpu, ATracedAttachTimesTheDriversHandleOpenApart) {
  Share(100003, 15, GPUDF_BACKEND_CUDA_IPC);
  std::string err = "/tmp/gpudf-gputrace-" + std::to_string(getpid()) + ".stderr";
  setenv("GPUDF_TEST_STDERR", err.c_str(), 1);
  setenv("GPUDF_ATTACH_TRACE", "1", 1);
  std::string out = Child1({"attach-dev", name});
  unsetenv("GPUDF_ATTACH_TRACE");
  unsetenv("GPUDF_TEST_STDERR");
  std::ifstream in(err);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(err.c_str());
  EXPECT_EQ(out, "ok cuda-ipc " + Sum(t) + " -");
  std::string head = "gpudf: trace attach '" + name + "' (us):";
  size_t at = log.find(head);
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  for (const char *p : {" device_uuid=", " ipc_device_scope=", " cudaIpcOpenMemHandle=",
                        " ipc_open=", " total=", " status=0"})
    EXPECT_NE(line.find(p), std::string::npos) << p << " in " << line;
  std::printf("  %s\n", line.c_str());  // the device check's log keeps it
}

TEST_F(DeviceGpu, AttachAfterTheOwnerExitedIsRefused) {
  std::string n = harness::UniqueName("gpuexit");
  Child owner = harness::Spawn({"share-exit", n, "1000", "3"});
  ASSERT_EQ(harness::ReadLine(owner, 60000).rfind("shared ", 0), 0u);
  harness::Wait(owner, 60000);
  gpudf_table *v;
  EXPECT_EQ(gpudf_attach(n.c_str(), &v), GPUDF_ENOENT) << gpudf_last_error();
  Child killed = harness::Spawn({"share", n, "1000", "3"});
  ASSERT_EQ(harness::ReadLine(killed, 60000).rfind("shared ", 0), 0u);
  harness::Kill(killed);
  gpudf_status st = gpudf_attach(n.c_str(), &v);  // ENOENT if another process swept first
  EXPECT_TRUE(st == GPUDF_EOWNERDEAD || st == GPUDF_ENOENT) << gpudf_last_error();
}

// multiprocessing's fork start method: a child forked after this process
// initialised CUDA must not call CUDA (it would fail or hang). Its attach
// takes the cpu placement of the same host arena and reads the same bytes.
TEST_F(DeviceGpu, AForkedChildAttachesOnCpu) {
  Share(100003, 6);
  ASSERT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_IPC);
  uint64_t want = tg_table_checksum(t);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    gpudf_table *v = nullptr;
    int code = 1;
    if (gpudf_attach(name.c_str(), &v) == GPUDF_OK)
      code = gpudf_table_backend(v) != GPUDF_BACKEND_CPU ? 2
             : tg_table_checksum(v) != want             ? 3
                                                        : 0;
    const char *why = nullptr;
    if (code == 0 && gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why)) code = 4;
    _exit(code);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0) << "1 attach failed, 2 not cpu, 3 other bytes, 4 device offered";
}

TEST_F(DeviceGpu, ForcedCudaPinned) {
  const char *why;
  if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_PINNED, &why))
    GTEST_SKIP() << "cuda-pinned not available: " << why;
  setenv("GPUDF_BACKEND", "cuda-pinned", 1);
  Share(200000, 4);
  EXPECT_EQ(gpudf_share_backend(s), GPUDF_BACKEND_CUDA_PINNED);
  EXPECT_EQ(Child1({"attach-dev", name}), "ok cuda-pinned " + Sum(t) + " -");
  std::string run = Child1({"run-dev", name, "7", "-10"});
  EXPECT_EQ(run.rfind("cuda-pinned ", 0), 0u) << run;
}

// Random typed columns with NaNs, random configs over every op and column
// pair: the device answer against the CPU reference.
// Every visible device holds a replica (one upload, the others filled device
// to device: cu_copy_d2d runs where there are two or more GPUs), naming the
// first device explicitly gives that one only, and a sweep binds one worker
// to each replica's device (cu_bind, cu_current) with the cpu's answers.
TEST_F(DeviceGpu, EveryDeviceHoldsAReplicaAndASweepBindsAWorkerToEach) {
  ASSERT_EQ(tg_make_table(200003, 11, &t), GPUDF_OK) << gpudf_last_error();
  gpudf_share_options so;
  gpudf_share_options_init(&so);
  so.backend = GPUDF_BACKEND_CUDA_IPC;
  so.devices = "all";
  name = harness::UniqueName("gpurep");
  ASSERT_EQ(gpudf_table_share_ex(t, name.c_str(), &so, &s), GPUDF_OK) << gpudf_last_error();
  int nrep = gpudf_share_nreplicas(s);
  ASSERT_GE(nrep, 1);
  std::vector<std::string> uuids;
  for (int k = 0; k < nrep; k++) {
    std::string u = gpudf_share_replica_device(s, k);
    EXPECT_EQ(u.rfind("GPU-", 0), 0u) << u;
    for (const std::string &seen : uuids) EXPECT_NE(u, seen) << "two replicas on one device";
    uuids.push_back(u);
  }
  std::vector<double> cfg;
  for (int i = 0; i < 32; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 16.0, 0, 3});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6), want(n * 6);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  gpudf_sweep_result *r = nullptr;
  ASSERT_EQ(gpudf_sweep(t, k, cfg.data(), n, got.data(), &o, &r), GPUDF_OK) << gpudf_last_error();
  std::vector<int> workers_on(nrep, 0);
  for (int i = 0; i < gpudf_sweep_result_nworkers(r); i++) {
    gpudf_sweep_worker_info wi;
    ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
    int at = -1;
    for (int d = 0; d < nrep; d++)
      if (uuids[d] == wi.device) at = d;
    ASSERT_GE(at, 0) << "worker " << i << " ran on '" << wi.device << "'";
    workers_on[at]++;
  }
  EXPECT_EQ(workers_on, std::vector<int>(nrep, 1)) << "one worker per replica";
  gpudf_sweep_result_free(r);
  gpudf_table *ref = nullptr;
  ASSERT_EQ(tg_make_table(200003, 11, &ref), GPUDF_OK);
  ASSERT_EQ(gpudf_run(ref, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  gpudf_table_free(ref);
  for (int64_t c = 0; c < n; c++) {
    EXPECT_EQ(got[c * 6], want[c * 6]) << "count, config " << c;
    EXPECT_NEAR(got[c * 6 + 1], want[c * 6 + 1], 1e-9 * (std::fabs(want[c * 6 + 1]) + 1))
        << "sum, config " << c;
  }
  // The first device named by its UUID (a fresh table: a table keeps the
  // replicas of its first device share): a replica there and nowhere else.
  gpudf_share_close(s);
  s = nullptr;
  gpudf_table_free(t);
  t = nullptr;
  ASSERT_EQ(tg_make_table(200003, 11, &t), GPUDF_OK) << gpudf_last_error();
  so.devices = uuids[0].c_str();
  name = harness::UniqueName("gpurep1");
  ASSERT_EQ(gpudf_table_share_ex(t, name.c_str(), &so, &s), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_share_nreplicas(s), 1);
  EXPECT_EQ(uuids[0], gpudf_share_replica_device(s, 0));
}

TEST_F(DeviceGpu, FilterAggMatchesTheCpuOnRandomData) {
  const int64_t rows = 3000017;
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> u(-1000, 1000);
  std::vector<double> f64(rows);
  std::vector<float> f32(rows);
  std::vector<int32_t> i32(rows);
  std::vector<uint8_t> b8(rows);
  for (int64_t i = 0; i < rows; i++) {
    f64[i] = rng() % 50 == 0 ? NAN : 1e6 + u(rng);  // large mean: std must stay stable
    f32[i] = (float)u(rng);
    i32[i] = (int32_t)(rng() % 2001) - 1000;
    b8[i] = rng() & 1;
  }
  gpudf_table *dev, *cpu;
  for (gpudf_table **p : {&dev, &cpu}) {
    ASSERT_EQ(gpudf_table_create(rows, p), GPUDF_OK);
    ASSERT_EQ(gpudf_table_add_column(*p, "f64", GPUDF_TYPE_F64, f64.data()), GPUDF_OK);
    ASSERT_EQ(gpudf_table_add_column(*p, "f32", GPUDF_TYPE_F32, f32.data()), GPUDF_OK);
    ASSERT_EQ(gpudf_table_add_column(*p, "i32", GPUDF_TYPE_I32, i32.data()), GPUDF_OK);
    ASSERT_EQ(gpudf_table_add_column(*p, "b", GPUDF_TYPE_BOOL, b8.data()), GPUDF_OK);
  }
  name = harness::UniqueName("gpurand");
  ASSERT_EQ(gpudf_table_share(dev, name.c_str(), GPUDF_BACKEND_CUDA_IPC, &s), GPUDF_OK)
      << gpudf_last_error();
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  std::vector<double> cfg;
  for (int i = 0; i < 96; i++) {
    double lo = u(rng) / (i % 3 ? 1 : 1000), hi = lo + std::fabs(u(rng));
    cfg.insert(cfg.end(), {(double)(rng() % 4), (double)(i % 8), lo, hi, (double)(rng() % 4)});
  }
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> got(n * 6), want(n * 6);
  ASSERT_EQ(gpudf_run(dev, k, cfg.data(), n, got.data()), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_run(cpu, k, cfg.data(), n, want.data()), GPUDF_OK);
  for (int64_t c = 0; c < n; c++) {
    const double *g = &got[c * 6], *w = &want[c * 6];
    // An upper bound of the sum of magnitudes of the values summed (every
    // value lies within 2000 of the mean), which bounds the reordering error.
    double mag = (std::fabs(w[2]) + 2000) * w[0];
    EXPECT_EQ(g[0], w[0]) << "count, config " << c;
    if (w[0] == 0) continue;
    EXPECT_EQ(g[3], w[3]) << "min, config " << c;
    EXPECT_EQ(g[4], w[4]) << "max, config " << c;
    EXPECT_NEAR(g[1], w[1], 1e-12 * mag) << "sum, config " << c;
    EXPECT_NEAR(g[2], w[2], 1e-12 * mag / w[0]) << "mean, config " << c;
    if (w[0] > 1) {
      EXPECT_NEAR(g[5], w[5], 1e-9 * w[5] + 1e-12) << "std, config " << c;
    }
  }
  gpudf_table_free(cpu);
  gpudf_table_free(dev);
}

// The one-device path, and the multi-device path on the one GPU a device
// session lends: the share and gpudf-sweep with --devices naming it (by UUID
// and by ordinal), workers = 0 (the calling thread alone, then two threads
// on it with workers_per_device = 2) and cuda-pinned; every result against
// the cpu placement.
TEST_F(DeviceGpu, TheOneDevicePathAndDevicesNamingTheGpu) {
  ASSERT_EQ(tg_make_table(200003, 12, &t), GPUDF_OK) << gpudf_last_error();
  gpudf_share_options so;
  gpudf_share_options_init(&so);
  so.backend = GPUDF_BACKEND_CUDA_IPC;
  so.devices = "0";
  name = harness::UniqueName("gpuone");
  ASSERT_EQ(gpudf_table_share_ex(t, name.c_str(), &so, &s), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_share_nreplicas(s), 1);
  std::string uuid = gpudf_share_replica_device(s, 0);
  std::vector<double> cfg;
  for (int i = 0; i < 32; i++) cfg.insert(cfg.end(), {3, 3, -1.0 + i / 16.0, 0, 3});
  int64_t n = (int64_t)cfg.size() / 5;
  std::vector<double> want(n * 6);
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  gpudf_table *ref = nullptr;
  ASSERT_EQ(tg_make_table(200003, 12, &ref), GPUDF_OK);
  ASSERT_EQ(gpudf_run(ref, k, cfg.data(), n, want.data()), GPUDF_OK) << gpudf_last_error();
  gpudf_table_free(ref);
  struct Case {
    int workers, per, entries;
  };
  for (Case c : {Case{0, 1, 1}, Case{0, 2, 2}, Case{GPUDF_SWEEP_WORKERS_DEFAULT, 1, 1}}) {
    SCOPED_TRACE("workers " + std::to_string(c.workers) + ", per device " +
                 std::to_string(c.per));
    std::vector<double> got(n * 6);
    gpudf_sweep_options o;
    gpudf_sweep_options_init(&o);
    o.workers = c.workers;
    o.workers_per_device = c.per;
    gpudf_sweep_result *r = nullptr;
    ASSERT_EQ(gpudf_sweep(t, k, cfg.data(), n, got.data(), &o, &r), GPUDF_OK)
        << gpudf_last_error();
    gpudf_sweep_report rep;
    ASSERT_EQ(gpudf_sweep_result_report(r, &rep), GPUDF_OK);
    EXPECT_EQ(rep.done, n);
    EXPECT_EQ(rep.backend, GPUDF_BACKEND_CUDA_IPC);
    ASSERT_EQ(gpudf_sweep_result_nworkers(r), c.entries);
    for (int i = 0; i < c.entries; i++) {
      gpudf_sweep_worker_info wi;
      ASSERT_EQ(gpudf_sweep_result_worker(r, i, &wi), GPUDF_OK);
      // The calling thread alone reports no device (as before); threads and
      // workers name theirs.
      if (c.workers != 0 || c.per > 1) {
        EXPECT_EQ(uuid, wi.device);
      }
    }
    gpudf_sweep_result_free(r);
    for (int64_t i = 0; i < n; i++) {
      EXPECT_EQ(got[i * 6], want[i * 6]) << "count, config " << i;
      EXPECT_NEAR(got[i * 6 + 1], want[i * 6 + 1], 1e-9 * (std::fabs(want[i * 6 + 1]) + 1))
          << "sum, config " << i;
    }
  }
  // gpudf-sweep with --devices naming the GPU, by UUID and by ordinal.
  std::string csv = "/tmp/gpudf-gpu-devices-" + std::to_string(getpid()) + ".csv";
  {
    FILE *f = std::fopen(csv.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "x,y\n");
    for (int i = 0; i < 100000; i++) std::fprintf(f, "%d,%d\n", i % 97, (i * 7) % 13);
    std::fclose(f);
  }
  for (std::string flags : {"--devices " + uuid, std::string("--devices 0"),
                            "--devices " + uuid +
                                " --workers 0 --workers-per-device 2 --backend cuda-ipc",
                            "--devices " + uuid + " --backend cuda-pinned"}) {
    SCOPED_TRACE(flags);
    std::string cmd = std::string(GPUDF_SWEEP_BIN) + " --table " + csv +
                      " --kernel filter_agg --grid 'lo=1,2,3,4' " + flags +
                      " --out /dev/null 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string err;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) err += buf;
    EXPECT_EQ(pclose(p), 0) << err;
    EXPECT_NE(err.find("device   " + uuid + ": 4 configs"), std::string::npos) << err;
  }
  std::remove(csv.c_str());
}

}  // namespace
