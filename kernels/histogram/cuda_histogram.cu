// cuda_histogram.cu - histogram on the device, with the CPU reference's
// semantics (kernels/histogram/histogram.c) and numpy's bin index (histogram_math.h),
// so every value lands in the same slot and counts match exactly.
//
// Grid (row blocks) x (configs): each block counts its rows for one config
// into a shared-memory histogram (bins + 2 32-bit counters, when they fit in
// 48 KiB; beyond, straight into global 64-bit counters), then adds it to
// the config's global counts. Configs of a batch read the same rows, which
// then come from L2 rather than DRAM; a single-pass variant that keeps all
// configs' histograms resident is future work.
#include <cuda_runtime.h>

#include <algorithm>
#include <new>
#include <vector>

#include "cuda_k_common.cuh"
#include "histogram_math.h"

namespace {

using gdfk::Column;
constexpr int kThreads = 256;
constexpr int kSharedSlots = 12 * 1024;  // 48 KiB of 32-bit counters
constexpr int kMaxGridY = 65535;

struct Cfg {
  Column x, v;
  int op;
  double lo, hi, rlo, rhi;
};

__global__ void __launch_bounds__(kThreads)
hist_rows(const Cfg *__restrict__ cfg, int64_t nrows, long long bins,
          unsigned long long *__restrict__ counts) {
  extern __shared__ unsigned int local[];
  const Cfg f = cfg[blockIdx.y];
  const long long slots = bins + 2;
  const bool shared = slots <= kSharedSlots;
  unsigned long long *mine = counts + (int64_t)blockIdx.y * slots;
  if (shared)
    for (long long s = threadIdx.x; s < slots; s += blockDim.x) local[s] = 0;
  __syncthreads();
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nrows;
       i += (int64_t)gridDim.x * blockDim.x) {
    if (!gdf_fa_pass(f.op, gdfk::load(f.x, i), f.lo, f.hi)) continue;
    long long s = gdf_hi_slot(gdfk::load(f.v, i), bins, f.rlo, f.rhi);
    if (s < 0) continue;
    if (shared)
      atomicAdd(&local[s], 1u);
    else
      atomicAdd(&mine[s], 1ull);
  }
  __syncthreads();
  if (shared)
    for (long long s = threadIdx.x; s < slots; s += blockDim.x)
      if (local[s]) atomicAdd(&mine[s], (unsigned long long)local[s]);
}

gpudf_status run_chunk(const gdf_kernel_input *in, const double *configs, int count, long long bins,
                       double *results) {
  cudaStream_t s = cudaStreamPerThread;
  std::vector<Cfg> host(count);
  for (int k = 0; k < count; k++) {
    const double *c = configs + (int64_t)k * GDF_HI_NPARAMS;
    gdfk::Column x = gdfk::column(in, c[GDF_HI_FILTER_COL]);
    int f32 = x.type == GPUDF_TYPE_F32;  // compared in the column's type, as on the CPU
    host[k] = {x, gdfk::column(in, c[GDF_HI_COL]), (int)c[GDF_HI_OP],
               gdf_fa_bound(f32, c[GDF_HI_LO]), gdf_fa_bound(f32, c[GDF_HI_HI]),
               c[GDF_HI_RANGE_LO], c[GDF_HI_RANGE_HI]};
  }
  size_t slots = (size_t)bins + 2, cells = slots * count;
  gdfk::DevBuf<Cfg> dcfg;
  gdfk::DevBuf<unsigned long long> counts;
  GDF_TRY(dcfg.alloc(count));
  GDF_TRY(counts.alloc(cells));
  GDF_CUDA_TRY(cudaMemcpyAsync(dcfg.p, host.data(), sizeof(Cfg) * count, cudaMemcpyHostToDevice, s));
  GDF_CUDA_TRY(cudaMemsetAsync(counts.p, 0, sizeof(unsigned long long) * cells, s));
  int xblocks =
      (int)std::max<int64_t>(1, std::min<int64_t>((in->nrows + kThreads - 1) / kThreads, 256));
  size_t shmem = slots <= (size_t)kSharedSlots ? slots * sizeof(unsigned int) : 0;
  gdf_range_push("gpudf launch histogram");
  hist_rows<<<dim3(xblocks, count), kThreads, shmem, s>>>(dcfg.p, in->nrows, bins, counts.p);
  gdf_range_pop();
  GDF_CUDA_LAUNCHED();
  std::vector<unsigned long long> out(cells);
  GDF_CUDA_TRY(cudaMemcpyAsync(out.data(), counts.p, sizeof(unsigned long long) * cells,
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernel
  for (size_t i = 0; i < cells; i++) results[i] = (double)out[i];
  return GPUDF_OK;
}

gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  long long bins = (long long)configs[GDF_HI_BINS];
  // Chunks whose counters fit in 256 MiB, and the grid's y limit.
  int64_t per = std::max<int64_t>(1, ((int64_t)256 << 20) / (8 * (bins + 2)));
  per = std::min<int64_t>(per, kMaxGridY);
  for (int64_t at = 0; at < n; at += per) {
    int count = (int)std::min<int64_t>(per, n - at);
    GDF_TRY(run_chunk(in, configs + at * GDF_HI_NPARAMS, count, bins, results + at * (bins + 2)));
  }
  return GPUDF_OK;
}

}  // namespace

extern "C" gdf_kernel_fn gdf_kernel_histogram_cuda;  // named in histogram.c

gpudf_status gdf_kernel_histogram_cuda(const gdf_kernel_input *in, const double *configs,
                                       int64_t n, double *results) {
  return gdfk::entry(in, n, [&] { return run_all(in, configs, n, results); });
}
