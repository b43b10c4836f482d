// cuda_filter_agg.cu - filter_agg on the device, with the CPU reference's
// semantics (kernels/filter_agg/filter_agg.c) and its math (filter_agg_math.h).
//
// Configs that read the same (filter, value) column pair run together, by
// one of two kernels chosen by their number:
//
//  - up to kStreamMax configs: fa_stream, once per config. A read at memory
//    speed: a grid sized to fill the SMs once, each thread walking the rows
//    grid-stride with several independent 16-byte loads in flight (two f64
//    columns whose starts are equally aligned; other columns, or a column
//    that a row range left misaligned, go by plain loads of their type) and
//    accumulating in registers across the whole walk. Only at the end does a
//    block merge its threads' partials, once, into one accumulator.
//  - more configs: configs in threads. A block stages a tile of 1024 rows
//    (x and v; rows whose value is NaN dropped) in shared memory and every
//    thread runs its own kConfigsPerThread configs over all of it, reading
//    each row by a broadcast; the grid is row chunks x config groups, so
//    configs of one group share the loads, and a thread's sums stay in
//    registers over the tile. No block reductions: each thread merges its
//    configs' statistics of the tile into the block's partial (its own
//    slot, in L2). The default, fa_tiles_sorted, sorts each tile by value
//    first (a bitonic sort in shared memory, ~5% of the work): a config's
//    first passing row then holds its minimum and its last the maximum, so
//    a row costs no fp64 comparison for them (fa_tiles, which compares,
//    took 101 ms for 1024 configs over 1e8 rows on an H200 against 72 ms).
//
// Accuracy: a thread keeps, per config, the count, min, max and the sums of
// d = v - shift and of d * d around shift = a passing value (fa_stream and
// fa_tiles: its first; fa_tiles_sorted: the tile's smallest), so std
// stays accurate when the mean is large against the spread (the shift is
// within the spread of the data); the partials become gdf_fa_acc (the
// corrected two-pass formula) and are merged with Chan's formula, as on the
// CPU. fa_stream sums the values plainly (gdf_fa_sum_add, so finite values
// whose sum overflows are summed again scaled, as the CPU does). The tiles
// kernels, whose budget is a few instructions per row and config, keep no plain
// sum: a thread merges its statistics of each tile (at most kTileRows rows,
// as the CPU's blocks of 1024) into running ones, the tile's sum taken as
// n * shift + sum(d) (exact for integers below 2^53; otherwise within a few
// ulps of n * max|v| of the tile, the bound of a plain sum), and flags a
// config whose tile sum overflows with finite values; the host then reruns
// those configs through fa_stream. Count, min and max are exact; sums, mean
// and std differ from the CPU's only by rounding of that order.
//
// fa_finish merges the partials of each config (one block per config) and
// writes its six results. GPUDF_FA_STREAM_MAX, GPUDF_FA_CONFIGS_PER_THREAD,
// GPUDF_FA_SORTED, GPUDF_FA_CARRY_SHIFT and GPUDF_FA_RANKS override the
// defaults (run_all), for the benchmark's and the tests' side-by-side runs
// of the same configs through each kernel.
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
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
constexpr int kUnroll = 4;           // independent vector loads per column in flight
// Configs of a pair that go by fa_stream, one pass each. Measured on an
// H200 over 1e8 rows (bench_gpu 1, run 2026-12-04): a pass 0.385 ms; the
// tiles kernel 17.6 ms for 4 configs, 19 ms for 16 (one warp a block then
// walks every row: its time is one warp's), 72 ms for 1024. They cross
// near 45 configs.
constexpr int kStreamMax = 44;
// fa_tiles: configs in each thread's registers (the default; 1 and 2 are
// there for the benchmark's side-by-side, GPUDF_FA_CONFIGS_PER_THREAD).
// Measured: 4 (sorted) 71.8 ms for 1024 configs, 2 81.2 ms, 1 104.9 ms.
constexpr int kConfigsPerThread = 4;
constexpr int kWarps = kThreads / 32;
constexpr int kSegRows = 4 * 32;     // rows a warp stages per tile
constexpr int kTileRows = kWarps * kSegRows;
constexpr int kMaxConfigs = 4096;    // per fa_tiles launch: bounds the partials
// fa_tiles' blocks an SM by configs per thread: the registers each may use
// without spilling (ptxas -v: 1: 64, 2: 85 (4 would spill), 4: 128).
constexpr int tiles_blocks_per_sm(int cpt) { return cpt == 1 ? 4 : cpt == 2 ? 3 : 2; }

// ------------------------------------------------------------ per thread

// A thread's statistics of one config: n values, their min and max, sums of
// d = v - shift (ds) and d * d (d2) around shift = its first value; sum and
// big only in fa_stream (plain sum, overflow scaled as on the CPU).
struct Part {
  double shift = 0.0, ds = 0.0, d2 = 0.0, sum = 0.0, big = 0.0;
  double mn = INFINITY, mx = -INFINITY;
  unsigned n = 0;
};

// fa_stream's per-row step: v passes and is not NaN.
__device__ __forceinline__ void add_exact(Part &p, double v) {
  if (p.n == 0) p.shift = v;
  p.n++;
  double d = v - p.shift;
  p.ds += d;
  p.d2 = fma(d, d, p.d2);
  gdf_fa_sum_add(&p.sum, &p.big, v);
  p.mn = v < p.mn ? v : p.mn;  // v is no NaN: fmin's NaN handling is 4 more instructions
  p.mx = v > p.mx ? v : p.mx;
}

__device__ __forceinline__ void row(Part &p, const gdf_fa_interval &f, double x, double v) {
  if (gdf_fa_in(&f, x) && v == v) add_exact(p, v);
}

__device__ __forceinline__ gdf_fa_acc to_acc(const Part &p, double sum, double big) {
  if (p.n == 0) return gdf_fa_empty();
  return gdf_fa_part((double)p.n, sum, big, p.mn, p.mx, p.shift, p.ds, p.d2);
}

__device__ __forceinline__ gdf_fa_acc shfl_down(const gdf_fa_acc &a, int by) {
  gdf_fa_acc b;
  b.n = __shfl_down_sync(0xffffffffu, a.n, by);
  b.sum = __shfl_down_sync(0xffffffffu, a.sum, by);
  b.big = __shfl_down_sync(0xffffffffu, a.big, by);
  b.shift = __shfl_down_sync(0xffffffffu, a.shift, by);
  b.mean = __shfl_down_sync(0xffffffffu, a.mean, by);
  b.m2 = __shfl_down_sync(0xffffffffu, a.m2, by);
  b.min = __shfl_down_sync(0xffffffffu, a.min, by);
  b.max = __shfl_down_sync(0xffffffffu, a.max, by);
  return b;
}

// Merges the block's accumulators (Chan's formula, a tree) into out.
__device__ void block_merge(gdf_fa_acc a, gdf_fa_acc *out) {
  __shared__ gdf_fa_acc warp_acc[kWarps];
  for (int by = 16; by > 0; by >>= 1) {
    gdf_fa_acc b = shfl_down(a, by);
    gdf_fa_merge(&a, &b);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_acc[warp] = a;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kWarps; w++) gdf_fa_merge(&a, &warp_acc[w]);
    *out = a;
  }
}

// ------------------------------------------------------------ fa_stream

// One config over all rows; block b's accumulator into acc[b]. Vec: x and v
// are f64 columns whose starts are equally aligned: rows [0, head) and the
// last odd row go by scalar loads, the rest by double2 loads.
template <bool Vec>
__global__ void __launch_bounds__(kThreads)
fa_stream(Column x, Column v, int64_t nrows, gdf_fa_interval f, gdf_fa_acc *__restrict__ acc) {
  Part p;
  const int64_t tid = (int64_t)blockIdx.x * kThreads + threadIdx.x;
  const int64_t stride = (int64_t)gridDim.x * kThreads;
  if (Vec) {
    const double *xd = static_cast<const double *>(x.data);
    const double *vd = static_cast<const double *>(v.data);
    const int64_t head = ((uintptr_t)xd & 15u) ? 1 : 0;
    const int64_t npairs = nrows > head ? (nrows - head) / 2 : 0;
    const double2 *x2 = reinterpret_cast<const double2 *>(xd + head);
    const double2 *v2 = reinterpret_cast<const double2 *>(vd + head);
    int64_t i = tid;
    for (; i + (kUnroll - 1) * stride < npairs; i += kUnroll * stride) {
      double2 xs[kUnroll], vs[kUnroll];
#pragma unroll
      for (int k = 0; k < kUnroll; k++) {
        xs[k] = __ldg(x2 + i + k * stride);
        vs[k] = __ldg(v2 + i + k * stride);
      }
#pragma unroll
      for (int k = 0; k < kUnroll; k++) {
        row(p, f, xs[k].x, vs[k].x);
        row(p, f, xs[k].y, vs[k].y);
      }
    }
    for (; i < npairs; i += stride) {
      double2 xs = __ldg(x2 + i), vs = __ldg(v2 + i);
      row(p, f, xs.x, vs.x);
      row(p, f, xs.y, vs.y);
    }
    // The rows outside the pairs: the head and the odd last one.
    if (tid == 0 && head && nrows > 0) row(p, f, xd[0], vd[0]);
    const int64_t last = head + 2 * npairs;
    if (tid == 1 % stride && last < nrows) row(p, f, xd[last], vd[last]);
  } else {
    int64_t i = tid;
    for (; i + (kUnroll - 1) * stride < nrows; i += kUnroll * stride) {
      double xs[kUnroll], vs[kUnroll];
#pragma unroll
      for (int k = 0; k < kUnroll; k++) {
        xs[k] = load(x, i + k * stride);
        vs[k] = load(v, i + k * stride);
      }
#pragma unroll
      for (int k = 0; k < kUnroll; k++) row(p, f, xs[k], vs[k]);
    }
    for (; i < nrows; i += stride) row(p, f, load(x, i), load(v, i));
  }
  block_merge(to_acc(p, p.sum, p.big), &acc[blockIdx.x]);
}

// ------------------------------------------------------------ fa_tiles

// The rows of a staged tile, for each of a thread's configs. Check: a
// config's first passing row of the tile gives its shift; without Check
// every config already has one (a passing value of an earlier tile, carried).
// Rank: the tile holds each row's filter rank (gdf_fa_rank) in place of x,
// and the configs are tested on it (rc).
template <int kConfigsPerThread, bool Check, bool Rank>
__device__ __forceinline__ void tile_rows(const double2 *tile, const int *seg_n,
                                          const gdf_fa_interval *f, const gdf_fa_rankcfg *rc,
                                          Part *p) {
  for (int w = 0; w < kWarps; w++) {
    const double2 *seg = tile + w * kSegRows;
    const int m = seg_n[w];
#pragma unroll 2
    for (int r = 0; r < m; r++) {
      const double2 xv = seg[r];  // the same address in every thread: a broadcast
#pragma unroll
      for (int j = 0; j < kConfigsPerThread; j++) {
        const bool in = Rank ? gdf_fa_rank_in(rc[j], (unsigned)__double_as_longlong(xv.x))
                             : gdf_fa_in(&f[j], xv.x);
        if (in) {
          if (Check && p[j].n == 0) p[j].shift = xv.y;
          p[j].n++;
          double d = xv.y - p[j].shift;
          p[j].ds += d;
          p[j].d2 = fma(d, d, p[j].d2);
          p[j].mn = xv.y < p[j].mn ? xv.y : p[j].mn;  // as in add_exact
          p[j].mx = xv.y > p[j].mx ? xv.y : p[j].mx;
        }
      }
    }
  }
}

// A tiles kernel thread's configs c0 + j * kThreads (j < kConfigsPerThread):
// their block partials emptied, their filters (and ranks) loaded; a config
// past the end never passes and is not written. Returns bit j set for each
// config past the end.
template <int kConfigsPerThread, bool Rank>
__device__ __forceinline__ unsigned thread_configs(const gdf_fa_interval *__restrict__ cfg,
                                                   const gdf_fa_rankcfg *__restrict__ rcfg,
                                                   int ncfg, int c0, gdf_fa_acc *mine,
                                                   gdf_fa_interval *f, gdf_fa_rankcfg *rc) {
  unsigned past = 0;
#pragma unroll
  for (int j = 0; j < kConfigsPerThread; j++) {
    int c = c0 + j * kThreads;
    if (c < ncfg) mine[j * kThreads] = gdf_fa_empty();
    f[j] = c < ncfg ? cfg[c] : gdf_fa_interval{INFINITY, -INFINITY, 0};
    rc[j] = c < ncfg && Rank ? rcfg[c] : gdf_fa_rankcfg{GDF_FA_RANK_NAN - 1u, 0u};
    if (c >= ncfg) past |= 1u << j;
  }
  return past;
}

// Block (chunk r, group g): configs g * kGroup + threadIdx.x + j * kThreads
// (j < kConfigsPerThread) over the tiles r, r + gridDim.x, ...; each
// thread's tiles of config c merged into acc[r * ncfg + c] as they are done.
// over[c] is set when a tile's sum overflowed with finite values (the host
// reruns c). Carry: once every config of a warp's threads has had a passing
// row, the next tiles keep that shift (the row loop then has no test for
// the first row); else each tile takes its first passing value.
template <int kConfigsPerThread, bool Carry, bool Rank>
__global__ void __launch_bounds__(kThreads, tiles_blocks_per_sm(kConfigsPerThread))
fa_tiles(Column x, Column v, int64_t nrows, const gdf_fa_interval *__restrict__ cfg,
         const gdf_fa_rankcfg *__restrict__ rcfg, const double *__restrict__ bound, int nbound,
         int ncfg, gdf_fa_acc *__restrict__ acc, int *__restrict__ over) {
  constexpr int kGroup = kThreads * kConfigsPerThread;  // configs of one block
  __shared__ double2 tile[kTileRows];  // (x, v) of rows whose v is not NaN
  __shared__ int seg_n[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c0 = blockIdx.y * kGroup + threadIdx.x;
  gdf_fa_interval f[kConfigsPerThread];
  gdf_fa_rankcfg rc[kConfigsPerThread];
  Part p[kConfigsPerThread];  // this tile's
  unsigned have = 0;          // bit j: config j has a shift, or is past the end
  // The tiles' before it: this block's partials, in global memory (L2) as
  // they are touched once a tile.
  gdf_fa_acc *mine = acc + (int64_t)blockIdx.x * ncfg + c0;
  have = thread_configs<kConfigsPerThread, Rank>(cfg, rcfg, ncfg, c0, mine, f, rc);
  const bool active = c0 < ncfg;
  for (int64_t base = (int64_t)blockIdx.x * kTileRows; base < nrows;
       base += (int64_t)gridDim.x * kTileRows) {
    // Stage: each warp its segment of kSegRows rows, NaN values dropped.
    int kept = 0;
#pragma unroll
    for (int k = 0; k < kSegRows / 32; k++) {
      int64_t i = base + warp * kSegRows + k * 32 + lane;
      double xi = 0.0, vi = NAN;
      if (i < nrows) {
        xi = load(x, i);
        vi = load(v, i);
      }
      unsigned keep = __ballot_sync(0xffffffffu, vi == vi);
      if (Rank && vi == vi)
        xi = __longlong_as_double((long long)gdf_fa_rank(bound, nbound, xi));
      if (vi == vi) tile[warp * kSegRows + kept + __popc(keep & ((1u << lane) - 1u))] =
          make_double2(xi, vi);
      kept += __popc(keep);
    }
    if (lane == 0) seg_n[warp] = kept;
    __syncthreads();
    constexpr unsigned kAll = (1u << kConfigsPerThread) - 1u;
    const bool carried = Carry && __all_sync(0xffffffffu, have == kAll);
    if (active) {
      if (carried) tile_rows<kConfigsPerThread, false, Rank>(tile, seg_n, f, rc, p);
      else tile_rows<kConfigsPerThread, true, Rank>(tile, seg_n, f, rc, p);
      // The tile's statistics into the running ones (Chan): the cancellation
      // in d2 - ds^2 / n and the rounding of n * shift stay those of one
      // tile, whatever the chunk's length.
#pragma unroll
      for (int j = 0; j < kConfigsPerThread; j++) {
        const double shift = p[j].shift;
        const bool had = p[j].n > 0;
        if (had) {
          double sum = (double)p[j].n * p[j].shift + p[j].ds;
          if (!isfinite(sum) && isfinite(p[j].mn) && isfinite(p[j].mx))
            over[c0 + j * kThreads] = 1;
          gdf_fa_acc t = to_acc(p[j], sum, 0.0);
          gdf_fa_merge(&mine[j * kThreads], &t);  // this thread's own slot: no race
          p[j] = Part();
        }
        // Kept for the next tile once set (a passing value: near the data).
        if (Carry) p[j].shift = shift;
        if (had) have |= 1u << j;
      }
    }
    __syncthreads();  // the tile is restaged
  }
}

// A value's bits as an unsigned key in the order of the values (NaN is
// never keyed: such rows are dropped before).
__device__ __forceinline__ unsigned long long order_key(double v) {
  unsigned long long b = (unsigned long long)__double_as_longlong(v);
  return b >> 63 ? ~b : b | 0x8000000000000000ull;
}

__device__ __forceinline__ double key_value(unsigned long long k) {
  return __longlong_as_double((long long)(k >> 63 ? k & 0x7fffffffffffffffull : ~k));
}

// fa_tiles with each tile's rows sorted by value (GPUDF_FA_SORTED=1): a
// config's first passing row then holds its minimum and its last the
// maximum, so a row costs no comparison for them; the first also serves
// as the tile's shift.
// Rank: as in fa_tiles, rows tested by their rank among bound[0..nbound).
template <int kConfigsPerThread, bool Rank>
__global__ void __launch_bounds__(kThreads, tiles_blocks_per_sm(kConfigsPerThread))
fa_tiles_sorted(Column x, Column v, int64_t nrows, const gdf_fa_interval *__restrict__ cfg,
                const gdf_fa_rankcfg *__restrict__ rcfg, const double *__restrict__ bound,
                int nbound, int ncfg, gdf_fa_acc *__restrict__ acc, int *__restrict__ over) {
  constexpr int kGroup = kThreads * kConfigsPerThread;
  constexpr int kPer = kTileRows / kThreads;  // rows a thread stages
  __shared__ unsigned long long skey[kTileRows];  // value keys, then the values
  __shared__ double sx[kTileRows];
  const int c0 = blockIdx.y * kGroup + threadIdx.x;
  gdf_fa_interval f[kConfigsPerThread];
  gdf_fa_rankcfg rc[kConfigsPerThread];
  Part p[kConfigsPerThread];
  gdf_fa_acc *mine = acc + (int64_t)blockIdx.x * ncfg + c0;
  thread_configs<kConfigsPerThread, Rank>(cfg, rcfg, ncfg, c0, mine, f, rc);
  const bool active = c0 < ncfg;
  for (int64_t base = (int64_t)blockIdx.x * kTileRows; base < nrows;
       base += (int64_t)gridDim.x * kTileRows) {
    int m = 0;
#pragma unroll
    for (int k = 0; k < kPer; k++) {
      const int at = k * kThreads + threadIdx.x;
      const int64_t i = base + at;
      double xi = 0.0, vi = NAN;
      if (i < nrows) {
        xi = load(x, i);
        vi = load(v, i);
      }
      const bool ok = vi == vi;
      skey[at] = ok ? order_key(vi) : ~0ull;  // after every value, +inf's included
      sx[at] = Rank && ok ? __longlong_as_double((long long)gdf_fa_rank(bound, nbound, xi)) : xi;
      m += __syncthreads_count(ok);
    }
    // Bitonic sort of (key, x), ascending: 2 pairs a thread a step.
    for (int size = 2; size <= kTileRows; size <<= 1)
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        __syncthreads();
#pragma unroll
        for (int q = 0; q < kTileRows / 2 / kThreads; q++) {
          const int pr = q * kThreads + threadIdx.x;
          const int lo = 2 * stride * (pr / stride) + pr % stride, hi = lo + stride;
          const bool up = (lo & size) == 0;
          const unsigned long long a = skey[lo], b = skey[hi];
          if ((a > b) == up) {
            skey[lo] = b;
            skey[hi] = a;
            const double t = sx[lo];
            sx[lo] = sx[hi];
            sx[hi] = t;
          }
        }
      }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kPer; k++) {  // keys back to values, in place
      const int at = k * kThreads + threadIdx.x;
      skey[at] = (unsigned long long)__double_as_longlong(key_value(skey[at]));
    }
    __syncthreads();
    if (active) {
#pragma unroll 2
      for (int r = 0; r < m; r++) {
        const double xr = sx[r], vr = __longlong_as_double((long long)skey[r]);  // broadcasts
#pragma unroll
        for (int j = 0; j < kConfigsPerThread; j++) {
          const bool in = Rank ? gdf_fa_rank_in(rc[j], (unsigned)__double_as_longlong(xr))
                               : gdf_fa_in(&f[j], xr);
          if (in) {
            if (p[j].n == 0) p[j].shift = vr;  // the smallest passing value
            p[j].n++;
            double d = vr - p[j].shift;
            p[j].ds += d;
            p[j].d2 = fma(d, d, p[j].d2);
            p[j].mx = vr;  // the largest so far
          }
        }
      }
#pragma unroll
      for (int j = 0; j < kConfigsPerThread; j++) {
        if (p[j].n == 0) continue;
        p[j].mn = p[j].shift;
        double sum = (double)p[j].n * p[j].shift + p[j].ds;
        if (!isfinite(sum) && isfinite(p[j].mn) && isfinite(p[j].mx)) over[c0 + j * kThreads] = 1;
        gdf_fa_acc t = to_acc(p[j], sum, 0.0);
        gdf_fa_merge(&mine[j * kThreads], &t);
        p[j] = Part();
      }
    }
    __syncthreads();  // the tile is restaged
  }
}

// ------------------------------------------------------------ fa_finish

struct AccMerge {
  __device__ gdf_fa_acc operator()(gdf_fa_acc a, const gdf_fa_acc &b) const {
    gdf_fa_merge(&a, &b);
    return a;
  }
};

// One block per config: merges the partials acc[b * ncfg + c] (b < nparts)
// and finalizes.
__global__ void __launch_bounds__(kThreads)
fa_finish(const gdf_fa_acc *__restrict__ acc, int nparts, int ncfg, double *__restrict__ out) {
  using Reduce = cub::BlockReduce<gdf_fa_acc, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int c = blockIdx.x;
  gdf_fa_acc a = gdf_fa_empty();
  for (int b = threadIdx.x; b < nparts; b += kThreads) gdf_fa_merge(&a, &acc[(int64_t)b * ncfg + c]);
  gdf_fa_acc all = Reduce(tmp).Reduce(a, AccMerge());
  if (threadIdx.x == 0) gdf_fa_finalize(&all, out + (int64_t)c * GDF_FA_NRESULTS);
}

// ------------------------------------------------------------ host

// Resident blocks of kernel k on device dev: the grid that fills it once.
// Remembered per kernel and device (the first 64 ordinals): a one-config
// run is a few hundred microseconds, and the queries are part of its wall
// time. A race only computes the same number twice.
template <auto kernel>
gpudf_status resident(int dev, int *blocks) {
  static std::atomic<int> known[64];  // one array per kernel
  if (dev >= 0 && dev < 64 && (*blocks = known[dev].load(std::memory_order_relaxed)) > 0)
    return GPUDF_OK;
  int sms = 0, per_sm = 0;
  GDF_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  GDF_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  *blocks = std::max(1, sms) * std::max(1, per_sm);
  if (dev >= 0 && dev < 64) known[dev].store(*blocks, std::memory_order_relaxed);
  return GPUDF_OK;
}

// One device allocation for a launch's partials and results, freed in stream
// order whatever happens.
struct Scratch {
  void *p = nullptr;
  cudaStream_t s;
  explicit Scratch(cudaStream_t stream) : s(stream) {}
  ~Scratch() {
    if (p) (void)cudaFreeAsync(p, s);
  }
};

size_t round_up(size_t n) { return (n + 255) & ~(size_t)255; }

gdf_fa_interval interval_of(Column x, const double *c) {
  int f32 = x.type == GPUDF_TYPE_F32;  // compared in the column's type, as on the CPU
  return gdf_fa_interval_of((int)c[GDF_FA_OP], gdf_fa_bound(f32, c[GDF_FA_LO]),
                            gdf_fa_bound(f32, c[GDF_FA_HI]));
}

// Config configs[k] (one pass of fa_stream) into results[k].
gpudf_status run_stream(int dev, Column x, Column v, int64_t nrows, const double *configs,
                        int64_t k, double *results) {
  cudaStream_t s = cudaStreamPerThread;
  const bool vec = x.type == GPUDF_TYPE_F64 && v.type == GPUDF_TYPE_F64 &&
                   ((uintptr_t)x.data & 15u) == ((uintptr_t)v.data & 15u) &&
                   ((uintptr_t)x.data & 7u) == 0;
  int blocks = 0;
  GDF_TRY(vec ? resident<fa_stream<true>>(dev, &blocks) : resident<fa_stream<false>>(dev, &blocks));
  // No more blocks than rows to give each thread kUnroll of.
  int64_t useful = (nrows + (int64_t)kThreads * kUnroll - 1) / ((int64_t)kThreads * kUnroll);
  blocks = (int)std::max<int64_t>(1, std::min<int64_t>(blocks, useful));
  Scratch sc(s);
  size_t acc_bytes = round_up(sizeof(gdf_fa_acc) * (size_t)blocks);
  GDF_CUDA_TRY(cudaMallocAsync(&sc.p, acc_bytes + sizeof(double) * GDF_FA_NRESULTS, s));
  gdf_fa_acc *acc = static_cast<gdf_fa_acc *>(sc.p);
  double *out = reinterpret_cast<double *>(static_cast<char *>(sc.p) + acc_bytes);
  gdf_fa_interval f = interval_of(x, configs + k * GDF_FA_NPARAMS);
  gdf_range_push("gpudf launch filter_agg stream");
  if (vec) fa_stream<true><<<blocks, kThreads, 0, s>>>(x, v, nrows, f, acc);
  else fa_stream<false><<<blocks, kThreads, 0, s>>>(x, v, nrows, f, acc);
  cudaError_t launched = cudaGetLastError();
  if (launched == cudaSuccess) {
    fa_finish<<<1, kThreads, 0, s>>>(acc, blocks, 1, out);
    launched = cudaGetLastError();
  }
  gdf_range_pop();
  GDF_CUDA_TRY(launched);
  GDF_CUDA_TRY(cudaMemcpyAsync(results + k * GDF_FA_NRESULTS, out,
                               sizeof(double) * GDF_FA_NRESULTS, cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernels
  return GPUDF_OK;
}

// Configs idx[0..count) of one column pair by fa_tiles; writes their results
// and reruns through fa_stream those whose sums overflowed.
template <int kConfigsPerThread, bool Carry, bool Sorted = false, bool Rank = false>
gpudf_status run_tiles(int dev, Column x, Column v, int64_t nrows, const double *configs,
                       const int64_t *idx, int count, double *results) {
  constexpr int kGroup = kThreads * kConfigsPerThread;
  cudaStream_t s = cudaStreamPerThread;
  std::vector<gdf_fa_interval> host_cfg(count);
  for (int i = 0; i < count; i++) host_cfg[i] = interval_of(x, configs + idx[i] * GDF_FA_NPARAMS);
  // Rank: the distinct ends of the intervals, sorted, and each config's ranks.
  std::vector<double> bound;
  std::vector<gdf_fa_rankcfg> host_rank;
  if (Rank) {
    for (const gdf_fa_interval &f : host_cfg)
      if (gdf_fa_interval_nonempty(&f)) {
        bound.push_back(f.a);
        bound.push_back(f.b);
      }
    std::sort(bound.begin(), bound.end());
    bound.erase(std::unique(bound.begin(), bound.end(), [](double a, double b) { return a == b; }),
                bound.end());
    for (const gdf_fa_interval &f : host_cfg)
      host_rank.push_back(gdf_fa_rankcfg_of(&f, bound.data(), (int)bound.size()));
  }
  const int groups = (count + kGroup - 1) / kGroup;
  int fill = 0;
  if (Sorted) GDF_TRY((resident<fa_tiles_sorted<kConfigsPerThread, Rank>>(dev, &fill)));
  else GDF_TRY((resident<fa_tiles<kConfigsPerThread, Carry, Rank>>(dev, &fill)));
  // Row chunks: enough blocks, over the groups, to fill the device once, no
  // more than there are tiles, and few enough rows per thread for its count.
  int64_t tiles = (nrows + kTileRows - 1) / kTileRows;
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(tiles, fill / groups));
  chunks = std::max<int64_t>(chunks, nrows / ((int64_t)1 << 30) + 1);
  chunks = std::min<int64_t>(chunks, 65535 * 16);
  Scratch sc(s);
  size_t cfg_bytes = round_up(sizeof(gdf_fa_interval) * count);
  size_t acc_bytes = round_up(sizeof(gdf_fa_acc) * (size_t)count * (size_t)chunks);
  size_t out_bytes = round_up(sizeof(double) * GDF_FA_NRESULTS * count);
  size_t over_bytes = round_up(sizeof(int) * count);
  size_t rank_bytes = round_up(sizeof(gdf_fa_rankcfg) * host_rank.size());
  size_t bound_bytes = sizeof(double) * bound.size();
  GDF_CUDA_TRY(cudaMallocAsync(&sc.p, cfg_bytes + acc_bytes + out_bytes + over_bytes + rank_bytes +
                                          bound_bytes, s));
  char *at = static_cast<char *>(sc.p);
  auto *cfg = reinterpret_cast<gdf_fa_interval *>(at);
  auto *acc = reinterpret_cast<gdf_fa_acc *>(at + cfg_bytes);
  auto *out = reinterpret_cast<double *>(at + cfg_bytes + acc_bytes);
  auto *over = reinterpret_cast<int *>(at + cfg_bytes + acc_bytes + out_bytes);
  auto *rank = reinterpret_cast<gdf_fa_rankcfg *>(at + cfg_bytes + acc_bytes + out_bytes + over_bytes);
  auto *bnd = reinterpret_cast<double *>(at + cfg_bytes + acc_bytes + out_bytes + over_bytes +
                                         rank_bytes);
  if (Rank) {
    GDF_CUDA_TRY(cudaMemcpyAsync(rank, host_rank.data(), sizeof(gdf_fa_rankcfg) * count,
                                 cudaMemcpyHostToDevice, s));
    if (!bound.empty())
      GDF_CUDA_TRY(cudaMemcpyAsync(bnd, bound.data(), bound_bytes, cudaMemcpyHostToDevice, s));
  }
  GDF_CUDA_TRY(cudaMemcpyAsync(cfg, host_cfg.data(), sizeof(gdf_fa_interval) * count,
                               cudaMemcpyHostToDevice, s));
  GDF_CUDA_TRY(cudaMemsetAsync(over, 0, over_bytes, s));
  gdf_range_push("gpudf launch filter_agg tiles");
  if (Sorted)
    fa_tiles_sorted<kConfigsPerThread, Rank>
        <<<dim3((unsigned)chunks, (unsigned)groups), kThreads, 0, s>>>(
            x, v, nrows, cfg, rank, bnd, (int)bound.size(), count, acc, over);
  else
    fa_tiles<kConfigsPerThread, Carry, Rank>
        <<<dim3((unsigned)chunks, (unsigned)groups), kThreads, 0, s>>>(
            x, v, nrows, cfg, rank, bnd, (int)bound.size(), count, acc, over);
  cudaError_t launched = cudaGetLastError();
  if (launched == cudaSuccess) {
    fa_finish<<<count, kThreads, 0, s>>>(acc, (int)chunks, count, out);
    launched = cudaGetLastError();
  }
  gdf_range_pop();
  GDF_CUDA_TRY(launched);
  std::vector<double> res((size_t)count * GDF_FA_NRESULTS);
  std::vector<int> flagged(count);
  GDF_CUDA_TRY(cudaMemcpyAsync(res.data(), out, sizeof(double) * res.size(),
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaMemcpyAsync(flagged.data(), over, over_bytes, cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));  // also reports errors raised by the kernels
  for (int i = 0; i < count; i++) {
    if (flagged[i]) GDF_TRY(run_stream(dev, x, v, nrows, configs, idx[i], results));
    else std::copy_n(&res[(size_t)i * GDF_FA_NRESULTS], GDF_FA_NRESULTS,
                     results + idx[i] * GDF_FA_NRESULTS);
  }
  return GPUDF_OK;
}

// A benchmark's choice instead of the defaults, for side-by-side runs:
// GPUDF_FA_STREAM_MAX (configs of a pair that stream, default kStreamMax),
// GPUDF_FA_CONFIGS_PER_THREAD (1, 2 or 4; default kConfigsPerThread),
// GPUDF_FA_SORTED (default 1: fa_tiles_sorted; 0: fa_tiles, which compares
// every value for min and max), GPUDF_FA_CARRY_SHIFT (fa_tiles only; 0:
// every tile takes its own first passing value as shift, default 1:
// carried once set) and GPUDF_FA_RANKS (1: either tiles kernel testing
// each row's rank among the configs' bounds, gdf_fa_rank, instead of x: two
// integer instructions a config instead of two fp64 comparisons; not yet
// measured on a device). A malformed value is refused naming it.
gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  long long stream_max, cpt, carry, sorted, ranks;
  GDF_TRY(gdfk::env_setting("filter_agg", "GPUDF_FA_STREAM_MAX", 0, LLONG_MAX, kStreamMax,
                            "a number of configs, 0 or more", &stream_max));
  GDF_TRY(gdfk::env_setting("filter_agg", "GPUDF_FA_CONFIGS_PER_THREAD", 1, 4,
                            kConfigsPerThread, "1, 2 or 4", &cpt));
  if (cpt == 3)
    return gdf_error(GPUDF_EINVAL, "filter_agg",
                     "GPUDF_FA_CONFIGS_PER_THREAD='3': expected 1, 2 or 4");
  GDF_TRY(gdfk::env_setting("filter_agg", "GPUDF_FA_CARRY_SHIFT", 0, 1, 1, "0 or 1", &carry));
  GDF_TRY(gdfk::env_setting("filter_agg", "GPUDF_FA_SORTED", 0, 1, 1, "0 or 1", &sorted));
  GDF_TRY(gdfk::env_setting("filter_agg", "GPUDF_FA_RANKS", 0, 1, 0, "0 or 1", &ranks));
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
    if (end - first <= stream_max) {
      for (int64_t i = first; i < end; i++)
        GDF_TRY(run_stream(in->device, x, v, in->nrows, configs, idx[i], results));
    } else {
      for (int64_t at = first; at < end; at += kMaxConfigs) {
        int count = (int)std::min<int64_t>(kMaxConfigs, end - at);
        auto run = ranks && sorted ? (cpt == 1   ? run_tiles<1, false, true, true>
                                      : cpt == 2 ? run_tiles<2, false, true, true>
                                                 : run_tiles<4, false, true, true>)
                   : ranks ? (cpt == 1   ? run_tiles<1, true, false, true>
                            : cpt == 2 ? run_tiles<2, true, false, true>
                                       : run_tiles<4, true, false, true>)
                   : sorted ? (cpt == 1   ? run_tiles<1, false, true>
                             : cpt == 2 ? run_tiles<2, false, true>
                                        : run_tiles<4, false, true>)
                   : carry ? (cpt == 1   ? run_tiles<1, true>
                            : cpt == 2 ? run_tiles<2, true>
                                       : run_tiles<4, true>)
                         : (cpt == 1   ? run_tiles<1, false>
                            : cpt == 2 ? run_tiles<2, false>
                                       : run_tiles<4, false>);
        GDF_TRY(run(in->device, x, v, in->nrows, configs, &idx[at], count, results));
      }
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
