// bench_gpu.cu - gpudf-bench_gpu: the CUDA placements and the CUDA
// filter_agg against their baselines, measured in the same run, with a
// summary table printed last.
//
//   gpudf-bench_gpu [--rows N]          (default 1e8 rows of two f64 columns)
//
//   1  filter_agg, 1 config, 1 pass over the owner's cuda-ipc table, as a
//      fraction of the device-to-device copy bandwidth (cudaMemcpy D2D of the
//      same bytes, counted read + write). Target >= 80%.
//   2  1024 configs in one gpudf_run vs 1024 one-config gpudf_run calls.
//   3  IPC attach latency in a fresh process (context created first, so the
//      time is the attach alone), and device memory used by the owner (upload)
//      and by each attached process (cudaMemGetInfo deltas).
//   4  one pass from a cuda-pinned attacher vs a cuda-ipc attacher.
// A benchmark, not a test: a missed target still exits 0; 1 when something
// failed, 2 when batched and single answers differ.
//
// Hidden mode used by 3 and 4: --child NAME prints
//   "attach_us RUN_MS USED_BYTES BACKEND" for one attach and one pass.
#include <cuda_runtime.h>
#include <gpudf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

#define CK(call)                                                                    \
  do {                                                                              \
    cudaError_t e_ = (call);                                                        \
    if (e_ != cudaSuccess) {                                                        \
      std::fprintf(stderr, "bench_gpu: %s: %s\n", #call, cudaGetErrorName(e_));     \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

#define GK(call)                                                                    \
  do {                                                                              \
    gpudf_status s_ = (call);                                                       \
    if (s_ != GPUDF_OK) {                                                           \
      std::fprintf(stderr, "bench_gpu: %s: %s\n", #call, gpudf_last_error());       \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

size_t FreeBytes() {
  size_t f = 0, t = 0;
  CK(cudaMemGetInfo(&f, &t));
  return f;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

const gpudf_kernel *FilterAgg() {
  const gpudf_kernel *k;
  GK(gpudf_kernel_find("filter_agg", &k));
  return k;
}

// Median seconds of one gpudf_run of n configs (one warm-up first).
double TimeRun(const gpudf_table *t, const std::vector<double> &cfg, std::vector<double> &res,
               int reps) {
  int64_t n = (int64_t)cfg.size() / 5;
  res.resize(n * 6);
  std::vector<double> times;
  for (int r = 0; r <= reps; r++) {
    double t0 = Now();
    GK(gpudf_run(t, FilterAgg(), cfg.data(), n, res.data()));
    if (r) times.push_back(Now() - t0);
  }
  return Median(times);
}

int Child(const char *name) {
  CK(cudaFree(nullptr));  // the context first: its cost is not the attach's
  size_t before = FreeBytes();
  double t0 = Now();
  gpudf_table *v;
  GK(gpudf_attach(name, &v));
  double attach = Now() - t0;
  size_t after = FreeBytes();
  std::vector<double> cfg = {0, 3, 0, 0, 1}, res;
  double run = TimeRun(v, cfg, res, 3);
  std::printf("%.1f %.3f %lld %s\n", attach * 1e6, run * 1e3,
              (long long)before - (long long)after, gpudf_backend_name(gpudf_table_backend(v)));
  gpudf_table_free(v);
  return 0;
}

// Runs this program as "--child NAME" with backend in GPUDF_BACKEND.
bool RunChild(const char *name, const char *backend, double *attach_us, double *run_ms,
              long long *used, std::string *got) {
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return false;
  exe[len] = '\0';
  std::string cmd = std::string("GPUDF_BACKEND=") + backend + " '" + exe + "' --child " + name;
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) return false;
  char b[64] = "";
  int n = std::fscanf(p, "%lf %lf %lld %63s", attach_us, run_ms, used, b);
  int st = pclose(p);
  *got = b;
  return n == 4 && st == 0;
}

struct Row {
  std::string what, value, target;
};

}  // namespace

int main(int argc, char **argv) {
  if (argc == 3 && std::strcmp(argv[1], "--child") == 0) return Child(argv[2]);
  int64_t rows = 100000000;
  if (argc == 3 && std::strcmp(argv[1], "--rows") == 0) rows = std::atoll(argv[2]);
  const char *why;
  if (!gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why)) {
    std::printf("bench_gpu: SKIPPED: no CUDA device (%s)\n", why);
    return 0;
  }
  std::vector<Row> rows_out;
  char buf[160];

  // The table: filter column x, value column v, both f64.
  gpudf_table *t;
  GK(gpudf_table_create(rows, &t));
  double *x, *v;
  GK(gpudf_table_alloc_column(t, "x", GPUDF_TYPE_F64, (void **)&x));
  GK(gpudf_table_alloc_column(t, "v", GPUDF_TYPE_F64, (void **)&v));
  uint64_t s = 42;
  for (int64_t i = 0; i < rows; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (double)(s >> 11) * 0x1.0p-53 * 200.0 - 100.0;
    v[i] = (double)(s >> 20 & 0xfffff) * 0.01;
  }
  CK(cudaFree(nullptr));
  size_t free0 = FreeBytes();
  double t0 = Now();
  gpudf_share *sh;
  GK(gpudf_table_share(t, "bench-gpu", GPUDF_BACKEND_CUDA_IPC, &sh));
  double upload = Now() - t0;
  long long owner_used = (long long)free0 - (long long)FreeBytes();
  uint64_t bytes = (uint64_t)gpudf_table_arena_bytes(t);
  std::snprintf(buf, sizeof buf, "%.2f s (%.1f GB/s)", upload, bytes / upload / 1e9);
  rows_out.push_back({"share: staged upload of the arena", buf, ""});

  // 1. one pass against a device-to-device copy of the same bytes.
  void *scratch;
  CK(cudaMalloc(&scratch, bytes));
  const void *src = gpudf_table_column_device_data(t, 0);
  std::vector<double> copies;
  for (int r = 0; r < 6; r++) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a));
    CK(cudaMemcpy(scratch, src, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    if (r) copies.push_back(ms / 1e3);
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
  }
  CK(cudaFree(scratch));
  double copy_bw = 2.0 * bytes / Median(copies);  // read + write
  std::vector<double> one = {0, 3, 0, 0, 1}, r1;
  double pass = TimeRun(t, one, r1, 5);
  double pass_bw = 2.0 * rows * 8 / pass;
  std::snprintf(buf, sizeof buf, "%.0f / %.0f GB/s = %.0f%%", pass_bw / 1e9, copy_bw / 1e9,
                100 * pass_bw / copy_bw);
  rows_out.push_back({"1 config, 1 pass vs D2D copy", buf, ">= 80%"});

  // 2. 1024 configs batched vs one by one.
  std::vector<double> cfg;
  for (int i = 0; i < 1024; i++) {
    double lo = -100 + 200.0 * i / 1024;
    cfg.insert(cfg.end(), {0, (double)(1 + i % 7), lo, lo + 10, 1});
  }
  std::vector<double> batched, single(6);
  double tb = TimeRun(t, cfg, batched, 1);
  double t1 = Now();
  int wrong = 0;
  for (int i = 0; i < 1024; i++) {
    std::vector<double> c(cfg.begin() + i * 5, cfg.begin() + i * 5 + 5);
    GK(gpudf_run(t, FilterAgg(), c.data(), 1, single.data()));
    wrong += single[0] != batched[i * 6];
  }
  double ts = Now() - t1;
  std::snprintf(buf, sizeof buf, "%.3f s vs %.3f s = %.1fx", tb, ts, ts / tb);
  rows_out.push_back({"1024 configs: batched vs 1024 runs", buf, "faster"});

  // 3 and 4. attachers.
  double a_ipc, r_ipc, a_pin, r_pin;
  long long u_ipc, u_pin;
  std::string b_ipc, b_pin;
  bool ok = RunChild("bench-gpu", "cuda-ipc", &a_ipc, &r_ipc, &u_ipc, &b_ipc) &&
            RunChild("bench-gpu", "cuda-pinned", &a_pin, &r_pin, &u_pin, &b_pin);
  if (ok) {
    std::snprintf(buf, sizeof buf, "%.0f us (%s)", a_ipc, b_ipc.c_str());
    rows_out.push_back({"IPC attach latency", buf, ""});
    std::snprintf(buf, sizeof buf, "owner %.0f MiB, attacher %.1f MiB (ipc) %.1f MiB (pinned)",
                  owner_used / 1048576.0, u_ipc / 1048576.0, u_pin / 1048576.0);
    rows_out.push_back({"device memory used", buf, "attacher ~0"});
    std::snprintf(buf, sizeof buf, "%.1f vs %.1f GB/s (%s vs %s)", 16.0 * rows / r_pin / 1e6,
                  16.0 * rows / r_ipc / 1e6, b_pin.c_str(), b_ipc.c_str());
    rows_out.push_back({"1 pass: cuda-pinned vs cuda-ipc", buf, ""});
  }
  gpudf_share_close(sh);
  gpudf_table_free(t);

  std::printf("\n== gpudf-bench_gpu summary (%lld rows, %.2f GB arena)\n", (long long)rows,
              bytes / 1e9);
  for (const auto &r : rows_out)
    std::printf("  %-38s %-52s %s\n", r.what.c_str(), r.value.c_str(), r.target.c_str());
  if (!ok) std::printf("  attacher processes FAILED\n");
  if (wrong) std::printf("  %d batched counts differ from single runs: WRONG\n", wrong);
  return wrong ? 2 : ok ? 0 : 1;
}
