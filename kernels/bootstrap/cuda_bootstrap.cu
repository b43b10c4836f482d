// cuda_bootstrap.cu - bootstrap on the device, with the CPU reference's
// semantics (kernels/bootstrap/bootstrap.c) and its counter-based draws
// (bootstrap_math.h): the same seed draws the same indices here, so CUDA
// and CPU replicates differ only in the order of the additions.
//
// The column's non-NaN values are compacted once per batch on the host (in
// row order, as the CPU does, so index j means the same value) and
// uploaded. One block per config: threads take draws j = tid, tid + 256,
// ..., and a CUB block reduction sums them; std reduces the squared
// deviations from that mean in a second pass over regenerated draws.
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "bootstrap_math.h"
#include "cuda_k_common.cuh"

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65535;

struct Cfg {
  double seed;
  int stat;
};

// Count-free partial of the draws: sum + big * 2^600, min and max.
struct Draws {
  double sum, big, min, max;
};

struct DrawsMerge {
  __device__ Draws operator()(Draws a, const Draws &b) const {
    gdf_fa_sum_add(&a.sum, &a.big, b.sum);
    a.big += b.big;
    a.min = fmin(a.min, b.min);
    a.max = fmax(a.max, b.max);
    return a;
  }
};

struct Pair {
  double ds, d2;
};

struct PairSum {
  __device__ Pair operator()(const Pair &a, const Pair &b) const {
    return {a.ds + b.ds, a.d2 + b.d2};
  }
};

__global__ void __launch_bounds__(kThreads)
bs_run(const Cfg *__restrict__ cfg, const double *__restrict__ vals, int64_t m,
       double *__restrict__ out) {
  using Reduce = cub::BlockReduce<Draws, kThreads>;
  using Reduce2 = cub::BlockReduce<Pair, kThreads>;
  __shared__ union {
    typename Reduce::TempStorage r1;
    typename Reduce2::TempStorage r2;
  } tmp;
  __shared__ double shift;
  const Cfg f = cfg[blockIdx.x];
  const uint64_t key = gdf_bs_key(f.seed), n = (uint64_t)m;
  Draws part = {0.0, 0.0, INFINITY, -INFINITY};
  for (uint64_t j = threadIdx.x; j < n; j += kThreads) {
    double v = vals[gdf_bs_draw(key, j, n)];
    gdf_fa_sum_add(&part.sum, &part.big, v);
    part.min = fmin(part.min, v);
    part.max = fmax(part.max, v);
  }
  Draws all = Reduce(tmp.r1).Reduce(part, DrawsMerge());
  if (threadIdx.x == 0) shift = m > 0 ? gdf_fa_shift((double)m, all.sum, all.big) : 0.0;
  __syncthreads();  // shift, and tmp is reused
  Pair dev = {0.0, 0.0};
  if (f.stat == GDF_BS_STD && m > 1) {  // uniform across the block
    for (uint64_t j = threadIdx.x; j < n; j += kThreads) {
      double d = vals[gdf_bs_draw(key, j, n)] - shift;
      dev.ds += d;
      dev.d2 += d * d;
    }
    dev = Reduce2(tmp.r2).Reduce(dev, PairSum());
  }
  if (threadIdx.x == 0)
    out[blockIdx.x] = gdf_bs_value(f.stat, (double)m, all.sum, all.big, all.min, all.max,
                                   dev.ds, dev.d2);
}

// Configs [0, count) of a run on one column, whose compacted values are vals.
gpudf_status run_chunk(const double *configs, int count, const double *vals, int64_t m,
                       double *results) {
  cudaStream_t s = cudaStreamPerThread;
  std::vector<Cfg> host(count);
  for (int k = 0; k < count; k++) {
    const double *c = configs + (int64_t)k * GDF_BS_NPARAMS;
    host[k] = {c[GDF_BS_SEED], (int)c[GDF_BS_STAT]};
  }
  gdfk::DevBuf<Cfg> dcfg;
  gdfk::DevBuf<double> out;
  GDF_TRY(dcfg.alloc(count));
  GDF_TRY(out.alloc(count));
  GDF_CUDA_TRY(cudaMemcpyAsync(dcfg.p, host.data(), sizeof(Cfg) * count, cudaMemcpyHostToDevice, s));
  gdf_range_push("gpudf launch bootstrap");
  bs_run<<<count, kThreads, 0, s>>>(dcfg.p, vals, m, out.p);
  gdf_range_pop();
  GDF_CUDA_LAUNCHED();
  GDF_CUDA_TRY(cudaMemcpyAsync(results, out.p, sizeof(double) * count, cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernel
  return GPUDF_OK;
}

// The non-NaN values of column c, in row order, on the device.
gpudf_status compact(const gdf_kernel_input *in, double c, gdfk::DevBuf<double> *vals, int64_t *m) {
  std::vector<double> all, keep;
  GDF_TRY(gdfk::host_copy(gdfk::column(in, c), in->nrows, &all));
  for (double v : all)
    if (!std::isnan(v)) keep.push_back(v);
  *m = (int64_t)keep.size();
  GDF_TRY(vals->alloc(keep.size()));
  GDF_CUDA_TRY(cudaMemcpyAsync(vals->p, keep.data(), sizeof(double) * keep.size(),
                               cudaMemcpyHostToDevice, cudaStreamPerThread));
  GDF_CUDA_TRY(cudaStreamSynchronize(cudaStreamPerThread));  // keep is freed on return
  return GPUDF_OK;
}

gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  for (int64_t first = 0; first < n;) {
    double c = configs[first * GDF_BS_NPARAMS + GDF_BS_COL];
    int64_t end = first;
    while (end < n && end - first < kMaxBlocks && configs[end * GDF_BS_NPARAMS + GDF_BS_COL] == c)
      end++;
    gdfk::DevBuf<double> vals;
    int64_t m = 0;
    GDF_TRY(compact(in, c, &vals, &m));
    GDF_TRY(run_chunk(configs + first * GDF_BS_NPARAMS, (int)(end - first), vals.p, m,
                      results + first));
    first = end;
  }
  return GPUDF_OK;
}

}  // namespace

extern "C" gdf_kernel_fn gdf_kernel_bootstrap_cuda;  // named in bootstrap.c

gpudf_status gdf_kernel_bootstrap_cuda(const gdf_kernel_input *in, const double *configs,
                                       int64_t n, double *results) {
  return gdfk::entry(in, n, [&] { return run_all(in, configs, n, results); });
}
