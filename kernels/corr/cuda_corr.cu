// cuda_corr.cu - corr on the device, with the CPU reference's semantics
// (corr.c) and its math (corr_math.h): the same three passes, the same
// shift and scale, chosen on the host between passes from the same
// numbers, so the answers differ from the CPU only by the order of sums
// (and the CPU's long double).
//
// Grid (row blocks) x (configs): each block reduces its rows of one config
// and writes a partial; the host merges the partials of a config in block
// order, so results do not depend on scheduling.
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "corr_math.h"
#include "cuda_k_common.cuh"

namespace {

using gdfk::Column;
constexpr int kThreads = 256;
constexpr int kMaxBlocks = 128;   // row blocks per config
constexpr int kMaxConfigs = 4096; // per launch: bounds the partials (24 MiB)
constexpr int kVals = 6;          // values a pass reduces

struct Cfg {
  Column f, x, y;
  int op;
  double lo, hi;
  long long ref[2];
  double s[2], mean[2];
};

// The values of a pass and how two partials combine: pass 0 count, min x,
// max x, min y, max y; pass 1 sum x', sum y', min x', max x', min y', max y';
// pass 2 sum dx, sum dy, sum dx^2, sum dy^2, sum dx*dy.
struct Part {
  double v[kVals];
};

enum Kind { kSum, kMin, kMax };

__host__ __device__ inline Kind kind(int pass, int i) {
  if (pass == 0) return i == 0 || i == 5 ? kSum : (i % 2 ? kMin : kMax);
  if (pass == 1) return i < 2 ? kSum : (i % 2 ? kMax : kMin);
  return kSum;
}

__host__ __device__ inline Part empty(int pass) {
  Part p;
  for (int i = 0; i < kVals; i++) {
    Kind k = kind(pass, i);
    p.v[i] = k == kSum ? 0.0 : k == kMin ? INFINITY : -INFINITY;
  }
  return p;
}

__host__ __device__ inline Part combine(int pass, const Part &a, const Part &b) {
  Part r;
  for (int i = 0; i < kVals; i++) {
    Kind k = kind(pass, i);
    r.v[i] = k == kSum ? a.v[i] + b.v[i] : k == kMin ? fmin(a.v[i], b.v[i]) : fmax(a.v[i], b.v[i]);
  }
  return r;
}

template <int P>
struct Combine {
  __device__ Part operator()(const Part &a, const Part &b) const { return combine(P, a, b); }
};

template <int P>
__global__ void __launch_bounds__(kThreads)
co_pass(const Cfg *__restrict__ cfg, int64_t nrows, Part *__restrict__ parts) {
  using Reduce = cub::BlockReduce<Part, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const Cfg c = cfg[blockIdx.y];
  Part acc = empty(P);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nrows;
       i += (int64_t)gridDim.x * blockDim.x) {
    if (!gdf_fa_pass(c.op, gdfk::load(c.f, i), c.lo, c.hi)) continue;
    double v[2] = {gdf_co_load(c.x.data, c.x.type, i, c.ref[0]),
                   gdf_co_load(c.y.data, c.y.type, i, c.ref[1])};
    if (isnan(v[0]) || isnan(v[1])) continue;
    if (P == 0) {
      acc.v[0] += 1.0;
      acc.v[1] = fmin(acc.v[1], v[0]);
      acc.v[2] = fmax(acc.v[2], v[0]);
      acc.v[3] = fmin(acc.v[3], v[1]);
      acc.v[4] = fmax(acc.v[4], v[1]);
    } else if (P == 1) {
      double w0 = v[0] * c.s[0], w1 = v[1] * c.s[1];
      acc.v[0] += w0;
      acc.v[1] += w1;
      acc.v[2] = fmin(acc.v[2], w0);
      acc.v[3] = fmax(acc.v[3], w0);
      acc.v[4] = fmin(acc.v[4], w1);
      acc.v[5] = fmax(acc.v[5], w1);
    } else {
      double e0 = v[0] * c.s[0] - c.mean[0], e1 = v[1] * c.s[1] - c.mean[1];
      acc.v[0] += e0;
      acc.v[1] += e1;
      acc.v[2] += e0 * e0;
      acc.v[3] += e1 * e1;
      acc.v[4] += e0 * e1;
    }
  }
  Part all = Reduce(tmp).Reduce(acc, Combine<P>());
  if (threadIdx.x == 0) parts[(int64_t)blockIdx.y * gridDim.x + blockIdx.x] = all;
}

// One pass of count configs; merged[k] is config k's result.
gpudf_status run_pass(int pass, const std::vector<Cfg> &host, int64_t nrows, int xblocks,
                      std::vector<Part> *merged) {
  cudaStream_t s = cudaStreamPerThread;
  int count = (int)host.size();
  gdfk::DevBuf<Cfg> dcfg;
  gdfk::DevBuf<Part> parts;
  GDF_TRY(dcfg.alloc(host.size()));
  GDF_TRY(parts.alloc((size_t)count * xblocks));
  GDF_CUDA_TRY(cudaMemcpyAsync(dcfg.p, host.data(), sizeof(Cfg) * host.size(),
                               cudaMemcpyHostToDevice, s));
  dim3 grid(xblocks, count);
  gdf_range_push("gpudf launch corr");
  if (pass == 0) co_pass<0><<<grid, kThreads, 0, s>>>(dcfg.p, nrows, parts.p);
  else if (pass == 1) co_pass<1><<<grid, kThreads, 0, s>>>(dcfg.p, nrows, parts.p);
  else co_pass<2><<<grid, kThreads, 0, s>>>(dcfg.p, nrows, parts.p);
  cudaError_t launched = cudaGetLastError();
  gdf_range_pop();
  GDF_CUDA_TRY(launched);
  std::vector<Part> out((size_t)count * xblocks);
  GDF_CUDA_TRY(cudaMemcpyAsync(out.data(), parts.p, sizeof(Part) * out.size(),
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernel
  merged->assign((size_t)count, empty(pass));
  for (int k = 0; k < count; k++)
    for (int b = 0; b < xblocks; b++)
      (*merged)[k] = combine(pass, (*merged)[k], out[(size_t)k * xblocks + b]);
  return GPUDF_OK;
}

bool infinite(const Part &a) {
  for (int i = 1; i <= 4; i++)
    if (!std::isfinite(a.v[i])) return true;
  return false;
}

// Configs [0, count) of a launch: the three passes, the host steps between
// them as corr.c does them, then the results.
gpudf_status run_chunk(const gdf_kernel_input *in, const double *configs, int count,
                       double *results) {
  std::vector<Cfg> host(count);
  for (int k = 0; k < count; k++) {
    const double *c = configs + (int64_t)k * GDF_CO_NPARAMS;
    Column f = gdfk::column(in, c[GDF_CO_FILTER_COL]);
    int f32 = f.type == GPUDF_TYPE_F32;  // compared in the column's type, as on the CPU
    host[k] = {f, gdfk::column(in, c[GDF_CO_X_COL]), gdfk::column(in, c[GDF_CO_Y_COL]),
               (int)c[GDF_CO_OP], gdf_fa_bound(f32, c[GDF_CO_LO]),
               gdf_fa_bound(f32, c[GDF_CO_HI]), {0, 0}, {1.0, 1.0}, {0.0, 0.0}};
  }
  int64_t nrows = in->nrows;
  int xblocks = (int)std::max<int64_t>(
      1, std::min<int64_t>((nrows + kThreads - 1) / kThreads, kMaxBlocks));
  std::vector<Part> a, b, d;
  GDF_TRY(run_pass(0, host, nrows, xblocks, &a));
  for (int k = 0; k < count; k++) {
    if (a[k].v[0] == 0.0 || infinite(a[k])) continue;  // answered by n or the infinity
    for (int j = 0; j < 2; j++) {
      Column col = j ? host[k].y : host[k].x;
      double mn = a[k].v[1 + 2 * j], mx = a[k].v[2 + 2 * j];
      int64_t ref = gdf_co_ref(col.type, mn);
      host[k].ref[j] = ref;
      host[k].s[j] = gdf_co_scale(mn, mx, ref);
    }
  }
  GDF_TRY(run_pass(1, host, nrows, xblocks, &b));
  for (int k = 0; k < count; k++)
    for (int j = 0; j < 2; j++) host[k].mean[j] = a[k].v[0] > 0.0 ? b[k].v[j] / a[k].v[0] : 0.0;
  GDF_TRY(run_pass(2, host, nrows, xblocks, &d));
  for (int k = 0; k < count; k++)
    gdf_co_finalize(a[k].v[0], infinite(a[k]), b[k].v[2] == b[k].v[3], b[k].v[4] == b[k].v[5],
                    d[k].v[0], d[k].v[1], d[k].v[2], d[k].v[3], d[k].v[4], host[k].s[0],
                    host[k].s[1], results + (int64_t)k * GDF_CO_NRESULTS);
  return GPUDF_OK;
}

gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  for (int64_t at = 0; at < n; at += kMaxConfigs) {
    int count = (int)std::min<int64_t>(kMaxConfigs, n - at);
    GDF_TRY(run_chunk(in, configs + at * GDF_CO_NPARAMS, count,
                      results + at * GDF_CO_NRESULTS));
  }
  return GPUDF_OK;
}

}  // namespace

extern "C" gdf_kernel_fn gdf_kernel_corr_cuda;  // named in corr.c

gpudf_status gdf_kernel_corr_cuda(const gdf_kernel_input *in, const double *configs, int64_t n,
                                  double *results) {
  return gdfk::entry(in, n, [&] { return run_all(in, configs, n, results); });
}
