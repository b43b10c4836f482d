// cuda_ma_crossover.cu - ma_crossover on the device, with the CPU
// reference's semantics (kernels/ma_crossover.c) and its per-step math
// (ma_crossover_math.h).
//
// One thread per config walks the time axis (a backtest is sequential in
// t), so a batch is one pass over time with every config in flight at once.
// The time axis goes through shared memory in tiles: the block loads the
// tile's prefix sums (with the lookback of its longest window) and its
// returns p_{t+1}/p_t - 1 cooperatively, coalesced and all in flight at
// once, and each thread then walks its config over the tile from shared
// memory. The first device run read S and p straight from global memory in
// the sequential loop: every step waited on a DRAM round trip (~575 ns a
// step with 312 configs over 1e7 prices on an H100). The prefix sums are the prepared "__prefix.<col>" column when the
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

// Steps per tile, and the longest lookback kept in shared memory with it:
// (kTile + kMaxLookback) prefix sums + kTile returns = 40 KiB.
constexpr int kTile = 1024;
constexpr int kMaxLookback = 3072;

// The tiled walk, for windows up to kMaxLookback. lookback = the longest
// slow window of the launch.
__global__ void __launch_bounds__(kThreads)
ma_run_tiled(const double *__restrict__ configs, int n, Column price,
             const double *__restrict__ S, int64_t nrows, int lookback,
             double *__restrict__ out) {
  __shared__ double sS[kTile + kMaxLookback];  // S[t0 - lookback .. t0 + kTile)
  __shared__ double sR[kTile];                 // r_t for t in [t0, t0 + kTile)
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  const bool live = k < n;
  gdf_ma_state s = gdf_ma_init(configs + (int64_t)(live ? k : 0) * GDF_MA_NPARAMS);
  const int64_t steps = nrows - 1;
  for (int64_t t0 = 0; t0 < steps; t0 += kTile) {
    const int len = (int)(steps - t0 < kTile ? steps - t0 : kTile);
    __syncthreads();  // the previous tile is no longer read
    for (int j = threadIdx.x; j < len + lookback; j += blockDim.x) {
      int64_t i = t0 - lookback + j;
      sS[j] = i < 0 ? 0.0 : S[i];  // S_{-1..} = 0, as gdf_ma_prefix
    }
    for (int j = threadIdx.x; j < len; j += blockDim.x)
      sR[j] = gdfk::load(price, t0 + j + 1) / gdfk::load(price, t0 + j) - 1.0;
    __syncthreads();
    if (live) {
      const double *w = sS + lookback;  // w[j] = S[t0 + j]
      for (int j = 0; j < len; j++) {
        const int64_t t = t0 + j;
        double sig = 0.0;
        if (t >= s.slow - 1) {
          // gdf_ma_sma's expression, on the shared copy of S.
          double f = (w[j] - w[j - s.fast]) / (double)s.fast;
          double sl = (w[j] - w[j - s.slow]) / (double)s.slow;
          sig = f > sl ? 1.0 : s.long_short ? -1.0 : 0.0;
        }
        gdf_ma_step_r(&s, sig, sR[j]);
      }
    }
  }
  if (live)
    gdf_ma_finalize(&s, (double)steps, configs[(int64_t)k * GDF_MA_NPARAMS + GDF_MA_PPY],
                    out + (int64_t)k * GDF_MA_NRESULTS);
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
  int lookback = 0;
  for (int k = 0; k < n; k++)
    lookback = std::max(lookback, (int)cfg[(size_t)k * GDF_MA_NPARAMS + GDF_MA_SLOW]);
  gdf_range_push("gpudf launch ma_crossover");
  if (lookback <= kMaxLookback)
    ma_run_tiled<<<(n + kThreads - 1) / kThreads, kThreads, 0, s>>>(dcfg.p, n, price, S, nrows,
                                                                    lookback, out.p);
  else
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
