// cuda_ma_crossover.cu - ma_crossover on the device, with the CPU
// reference's semantics (kernels/ma_crossover.c) and its per-step math
// (ma_crossover_math.h).
//
// One thread per config walks the time axis (a backtest is sequential in
// t), so a batch is one pass over time with every config in flight at once;
// the threads of a warp read the same p_t and S_t (broadcast) and
// S_{t-fast}, S_{t-slow} from a window of a few hundred values that stays in
// L1/L2. The prefix sums are the prepared "__prefix.<col>" column when the
// table has it (gpudf_table_prepare), read in place; otherwise they are
// computed once per batch on the host, sequentially, and uploaded, so that
// they are the CPU's bit for bit and signals (hence trades and exposure)
// match exactly.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "cuda_k_common.cuh"
#include "ma_crossover_math.h"

namespace {

using gdfk::Column;
constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads)
ma_run(const double *__restrict__ configs, int n, Column price, const double *__restrict__ S,
       int64_t nrows, double *__restrict__ out) {
  int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= n) return;
  const double *c = configs + (int64_t)k * GDF_MA_NPARAMS;
  gdf_ma_state s = gdf_ma_init(c);
  double p0 = gdfk::load(price, 0);
  for (int64_t t = 0; t + 1 < nrows; t++) {
    double p1 = gdfk::load(price, t + 1);
    gdf_ma_step(&s, gdf_ma_signal(&s, S, t), p0, p1);
    p0 = p1;
  }
  gdf_ma_finalize(&s, (double)(nrows - 1), c[GDF_MA_PPY], out + (int64_t)k * GDF_MA_NRESULTS);
}

// The prepared prefix sums of column c on the device, or NULL.
const double *prepared(const gpudf_table *t, int c) {
  char name[GPUDF_NAME_MAX + 1];
  int w = std::snprintf(name, sizeof name, "__prefix.%s", gpudf_table_column_name(t, c));
  if (w <= 0 || w > GPUDF_NAME_MAX) return nullptr;
  std::string saved = gpudf_last_error();
  int idx = -1;
  if (gpudf_table_find_column(t, name, &idx) != GPUDF_OK) {
    gdf_restore_error(saved.c_str());  // not having it is normal
    return nullptr;
  }
  gdf_colref r = gdf_table_colref(t, idx);
  return r.type == GPUDF_TYPE_F64 ? static_cast<const double *>(r.data) : nullptr;
}

// Configs idx[] (all reading price column c): one launch.
gpudf_status run_group(const gpudf_table *t, int c, const double *configs,
                       const std::vector<int64_t> &idx, double *results) {
  cudaStream_t s = cudaStreamPerThread;
  int64_t nrows = t->nrows;
  int n = (int)idx.size();
  Column price = gdfk::column(t, c);
  gdfk::DevBuf<double> own, dcfg, out;
  const double *S = prepared(t, c);
  if (!S) {
    std::vector<double> p, host;
    GDF_TRY(gdfk::host_copy(price, nrows, &p));
    host.resize(p.size());
    double acc = 0.0;
    for (size_t i = 0; i < p.size(); i++) host[i] = acc += p[i];
    GDF_TRY(own.alloc(host.size()));
    GDF_CUDA_TRY(cudaMemcpyAsync(own.p, host.data(), sizeof(double) * host.size(),
                                 cudaMemcpyHostToDevice, s));
    GDF_CUDA_TRY(cudaStreamSynchronize(s));  // host is freed on return
    S = own.p;
  }
  std::vector<double> cfg((size_t)n * GDF_MA_NPARAMS);
  for (int k = 0; k < n; k++)
    std::copy_n(configs + idx[k] * GDF_MA_NPARAMS, GDF_MA_NPARAMS, &cfg[(size_t)k * GDF_MA_NPARAMS]);
  GDF_TRY(dcfg.alloc(cfg.size()));
  GDF_TRY(out.alloc((size_t)n * GDF_MA_NRESULTS));
  GDF_CUDA_TRY(cudaMemcpyAsync(dcfg.p, cfg.data(), sizeof(double) * cfg.size(),
                               cudaMemcpyHostToDevice, s));
  gdf_range_push("gpudf launch ma_crossover");
  ma_run<<<(n + kThreads - 1) / kThreads, kThreads, 0, s>>>(dcfg.p, n, price, S, nrows, out.p);
  gdf_range_pop();
  GDF_CUDA_LAUNCHED();
  std::vector<double> res((size_t)n * GDF_MA_NRESULTS);
  GDF_CUDA_TRY(cudaMemcpyAsync(res.data(), out.p, sizeof(double) * res.size(),
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernel
  for (int k = 0; k < n; k++)
    std::copy_n(&res[(size_t)k * GDF_MA_NRESULTS], GDF_MA_NRESULTS,
                results + idx[k] * GDF_MA_NRESULTS);
  return GPUDF_OK;
}

gpudf_status run_all(const gpudf_table *t, const double *configs, int64_t n, double *results) {
  std::vector<char> done((size_t)n, 0);
  for (int64_t first = 0; first < n; first++) {
    if (done[first]) continue;
    double c = configs[first * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    std::vector<int64_t> idx;
    for (int64_t k = first; k < n; k++)
      if (!done[k] && configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL] == c)
        idx.push_back(k), done[k] = 1;
    GDF_TRY(run_group(t, (int)c, configs, idx, results));
  }
  return GPUDF_OK;
}

}  // namespace

gpudf_status gdf_cuda_ma_crossover(int dev, const gpudf_table *dev_table, const double *configs,
                                   int64_t n, double *results) {
  return gdfk::entry(dev, n, [&] { return run_all(dev_table, configs, n, results); });
}
