// cuda_filter_agg.cu - filter_agg on the device, with the CPU reference's
// semantics (kernels/filter_agg/filter_agg.c) and its math (filter_agg_math.h).
//
// Batching is the point: configs that read the same (filter, value) column
// pair form a group, and one launch per group reads each row tile ONCE into
// registers, then loops every config of the group over it. Each block keeps
// a per-config accumulator in global memory (block-private, so no atomics)
// and merges every tile into it with Chan's formula; a tile's own statistics
// are two-pass (mean first, then squared deviations from it), as on the CPU,
// so std stays accurate when the mean is large against the spread. A second
// kernel merges the blocks' accumulators per config and finalizes. All sums
// are double; only the order of additions differs from the CPU.
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "cuda_check.h"
#include "cuda_k_common.cuh"
#include "filter_agg_math.h"

namespace {

using gdfk::Column;
using gdfk::column;
using gdfk::load;

constexpr int kThreads = 256;
constexpr int kItems = 8;                   // rows per thread per tile, in registers
constexpr int64_t kTile = kThreads * kItems;
constexpr int kMaxConfigs = 4096;           // per launch: bounds the accumulators

struct Cfg {
  int op;
  double lo;
  double hi;
};

// Count, sum, min and max of a tile: the first pass.
struct Pass1 {
  double n, sum, min, max;
};

struct Pass1Merge {
  __device__ Pass1 operator()(const Pass1 &a, const Pass1 &b) const {
    return {a.n + b.n, a.sum + b.sum, fmin(a.min, b.min), fmax(a.max, b.max)};
  }
};

struct AccMerge {
  __device__ gdf_fa_acc operator()(gdf_fa_acc a, const gdf_fa_acc &b) const {
    gdf_fa_merge(&a, &b);
    return a;
  }
};

struct DoubleSum {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Sums of d = v - shift and of d * d: the second pass.
struct Pass2 {
  double ds, d2;
};

struct Pass2Sum {
  __device__ Pass2 operator()(const Pass2 &a, const Pass2 &b) const {
    return {a.ds + b.ds, a.d2 + b.d2};
  }
};


// Rows past the end read as NaN values, which every config skips.
__device__ __forceinline__ void load_tile(Column x, Column v, int64_t base, int64_t nrows,
                                          double *xs, double *vs) {
#pragma unroll
  for (int k = 0; k < kItems; k++) {
    int64_t i = base + (int64_t)k * kThreads + threadIdx.x;  // coalesced
    bool in = i < nrows;
    xs[k] = in ? load(x, i) : 0.0;
    vs[k] = in ? load(v, i) : NAN;
  }
}

__global__ void __launch_bounds__(kThreads)
fa_blocks(Column x, Column v, int64_t nrows, const Cfg *__restrict__ cfg, int ncfg,
          gdf_fa_acc *__restrict__ acc) {
  using Reduce1 = cub::BlockReduce<Pass1, kThreads>;
  using Reduce2 = cub::BlockReduce<Pass2, kThreads>;
  using ReduceBig = cub::BlockReduce<double, kThreads>;
  __shared__ union {
    typename Reduce1::TempStorage r1;
    typename Reduce2::TempStorage r2;
    typename ReduceBig::TempStorage rb;
  } tmp;
  __shared__ double tile_n, tile_sum, tile_big, tile_mean;
  __shared__ int tile_over;
  gdf_fa_acc *mine = acc + (int64_t)blockIdx.x * ncfg;
  for (int c = threadIdx.x; c < ncfg; c += kThreads) mine[c] = gdf_fa_empty();
  __syncthreads();
  for (int64_t base = (int64_t)blockIdx.x * kTile; base < nrows; base += (int64_t)gridDim.x * kTile) {
    double xs[kItems], vs[kItems];
    load_tile(x, v, base, nrows, xs, vs);
    for (int c = 0; c < ncfg; c++) {
      const Cfg f = cfg[c];
      Pass1 p = {0.0, 0.0, INFINITY, -INFINITY};
      unsigned pass = 0;
#pragma unroll
      for (int k = 0; k < kItems; k++) {
        bool ok = gdf_fa_pass(f.op, xs[k], f.lo, f.hi) && !isnan(vs[k]);
        if (ok) {
          p.n += 1.0;
          p.sum += vs[k];
          p.min = fmin(p.min, vs[k]);
          p.max = fmax(p.max, vs[k]);
          pass |= 1u << k;
        }
      }
      Pass1 b = Reduce1(tmp.r1).Reduce(p, Pass1Merge());
      if (threadIdx.x == 0) {
        tile_n = b.n;
        tile_sum = b.sum;
        tile_big = 0.0;
        // Finite values that overflowed the plain sum: summed again scaled.
        tile_over = !isfinite(b.sum) && isfinite(b.min) && isfinite(b.max);
        tile_mean = b.n > 0.0 ? gdf_fa_shift(b.n, b.sum, 0.0) : 0.0;
      }
      __syncthreads();
      if (tile_over) {  // uniform, and rare
        double big = 0.0;
#pragma unroll
        for (int k = 0; k < kItems; k++)
          if (pass >> k & 1u) big += vs[k] * GDF_FA_DOWN;
        double bb = ReduceBig(tmp.rb).Reduce(big, DoubleSum());
        if (threadIdx.x == 0) {
          tile_big = bb;
          tile_sum = 0.0;
          tile_mean = gdf_fa_shift(tile_n, 0.0, bb);
        }
        __syncthreads();
      }
      if (tile_n > 0.0) {  // uniform: skips the second pass of empty tiles
        const double shift = tile_mean;
        Pass2 d = {0.0, 0.0};
#pragma unroll
        for (int k = 0; k < kItems; k++)
          if (pass >> k & 1u) {
            double e = vs[k] - shift;
            d.ds += e;
            d.d2 += e * e;
          }
        Pass2 bd = Reduce2(tmp.r2).Reduce(d, Pass2Sum());
        if (threadIdx.x == 0) {
          gdf_fa_acc part =
              gdf_fa_part(b.n, tile_sum, tile_big, b.min, b.max, shift, bd.ds, bd.d2);
          gdf_fa_merge(&mine[c], &part);
        }
      }
      __syncthreads();  // tile_n, tile_mean and tmp are reused
    }
  }
}

// One block per config: merges the blocks' accumulators and finalizes.
__global__ void __launch_bounds__(kThreads)
fa_finish(const gdf_fa_acc *__restrict__ acc, int nblocks, int ncfg, double *__restrict__ out) {
  using Reduce = cub::BlockReduce<gdf_fa_acc, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int c = blockIdx.x;
  gdf_fa_acc a = gdf_fa_empty();
  for (int b = threadIdx.x; b < nblocks; b += kThreads) gdf_fa_merge(&a, &acc[(int64_t)b * ncfg + c]);
  gdf_fa_acc all = Reduce(tmp).Reduce(a, AccMerge());
  if (threadIdx.x == 0) gdf_fa_finalize(&all, out + (int64_t)c * GDF_FA_NRESULTS);
}

// Enough blocks to fill the device once, no more: each block then streams
// many tiles and its accumulators stay few.
gpudf_status grid_size(int dev, int64_t nrows, int *blocks) {
  int sms = 0, per_sm = 0;
  GDF_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  GDF_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fa_blocks, kThreads, 0));
  int64_t tiles = (nrows + kTile - 1) / kTile;
  *blocks = (int)std::max<int64_t>(1, std::min<int64_t>(tiles, (int64_t)sms * std::max(per_sm, 1)));
  return GPUDF_OK;
}

// Device buffers of one launch, freed in stream order whatever happens.
struct Buffers {
  cudaStream_t s;
  Cfg *cfg = nullptr;
  gdf_fa_acc *acc = nullptr;
  double *out = nullptr;
  explicit Buffers(cudaStream_t stream) : s(stream) {}
  ~Buffers() {
    if (cfg) (void)cudaFreeAsync(cfg, s);
    if (acc) (void)cudaFreeAsync(acc, s);
    if (out) (void)cudaFreeAsync(out, s);
  }
};

// Runs configs idx[0..count) of one column pair; writes their results.
gpudf_status run_chunk(int dev, Column x, Column v, int64_t nrows, const double *configs,
                       const int64_t *idx, int count, double *results) {
  cudaStream_t s = cudaStreamPerThread;
  std::vector<Cfg> host_cfg(count);
  for (int i = 0; i < count; i++) {
    const double *c = configs + idx[i] * GDF_FA_NPARAMS;
    int f32 = x.type == GPUDF_TYPE_F32;  // compared in the column's type, as on the CPU
    host_cfg[i] = {(int)c[GDF_FA_OP], gdf_fa_bound(f32, c[GDF_FA_LO]),
                   gdf_fa_bound(f32, c[GDF_FA_HI])};
  }
  int blocks = 0;
  GDF_TRY(grid_size(dev, nrows, &blocks));
  Buffers b(s);
  GDF_CUDA_TRY(cudaMallocAsync((void **)&b.cfg, sizeof(Cfg) * count, s));
  GDF_CUDA_TRY(cudaMallocAsync((void **)&b.acc, sizeof(gdf_fa_acc) * count * (size_t)blocks, s));
  GDF_CUDA_TRY(cudaMallocAsync((void **)&b.out, sizeof(double) * GDF_FA_NRESULTS * count, s));
  GDF_CUDA_TRY(cudaMemcpyAsync(b.cfg, host_cfg.data(), sizeof(Cfg) * count,
                               cudaMemcpyHostToDevice, s));
  gdf_range_push("gpudf launch filter_agg");
  fa_blocks<<<blocks, kThreads, 0, s>>>(x, v, nrows, b.cfg, count, b.acc);
  cudaError_t launched = cudaGetLastError();
  if (launched == cudaSuccess) {
    fa_finish<<<count, kThreads, 0, s>>>(b.acc, blocks, count, b.out);
    launched = cudaGetLastError();
  }
  gdf_range_pop();
  GDF_CUDA_TRY(launched);
  std::vector<double> out((size_t)count * GDF_FA_NRESULTS);
  GDF_CUDA_TRY(cudaMemcpyAsync(out.data(), b.out, sizeof(double) * out.size(),
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernels
  for (int i = 0; i < count; i++)
    std::copy_n(&out[(size_t)i * GDF_FA_NRESULTS], GDF_FA_NRESULTS,
                results + idx[i] * GDF_FA_NRESULTS);
  return GPUDF_OK;
}


gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  // Configs of one column pair next to each other, in their original order.
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; i++) idx[i] = i;
  auto pair = [configs](int64_t i) {
    const double *c = configs + i * GDF_FA_NPARAMS;
    return std::make_pair(c[GDF_FA_FILTER_COL], c[GDF_FA_VALUE_COL]);
  };
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return pair(a) < pair(b); });
  for (int64_t first = 0; first < n;) {
    int64_t end = first;
    while (end < n && pair(idx[end]) == pair(idx[first])) end++;
    const double *c = configs + idx[first] * GDF_FA_NPARAMS;
    Column x = column(in, c[GDF_FA_FILTER_COL]), v = column(in, c[GDF_FA_VALUE_COL]);
    for (int64_t at = first; at < end; at += kMaxConfigs) {
      int count = (int)std::min<int64_t>(kMaxConfigs, end - at);
      GDF_TRY(run_chunk(in->device, x, v, in->nrows, configs, &idx[at], count, results));
    }
    first = end;
  }
  return GPUDF_OK;
}

}  // namespace

extern "C" gdf_kernel_fn gdf_kernel_filter_agg_cuda;  // named in filter_agg.c

gpudf_status gdf_kernel_filter_agg_cuda(const gdf_kernel_input *in, const double *configs,
                                        int64_t n, double *results) {
  return gdfk::entry(in, n, [&] { return run_all(in, configs, n, results); });
}
