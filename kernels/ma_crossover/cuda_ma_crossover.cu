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
// step with 312 configs over 1e7 prices on an H100). The two-double prefix
// sums are the prepared "__prefix.<col>" / "__prefix_lo.<col>" columns when
// the table has them (gpudf_table_prepare), read in place; otherwise they
// are computed once per batch on the host, sequentially, and uploaded, so
// that they are the CPU's bit for bit and signals (hence trades and
// exposure) match exactly. Missing prices (NaN, inf) carry the last finite
// one and the walk starts at the first finite row, as on the CPU.
//
// Splitting the time axis (issue 22). One thread per config leaves the
// device idle when the configs are few: 312 configs are 3 blocks on a
// 132-SM device, each thread a chain of 1e7 dependent steps (3.86 s on an
// H100 against 1.77 s on 16 cores). So when the configs' blocks are fewer
// than a quarter of kWaves (2) x SMs x resident blocks per SM (the
// occupancy of the tiled walk), the launch also cuts the steps into
// segments, of at least kMinSegmentSteps (4096) steps, as many as make up
// that many blocks (4 segments at least, else it does not pay for its
// second pass), grid (config blocks, segments), and:
//   - the position entering a segment is the signal of the bar before it,
//     a function of the two moving averages there (prefix sums): computed
//     directly, so each segment's trades, exposed steps and step returns
//     are exactly those of the whole walk (the same expressions on the same
//     prefix sums), and trades and exposure, sums of integer counts, equal
//     the CPU's bit for bit;
//   - pass 1 walks every segment from equity 1 for its product P of
//     (1 + R) and its largest running product M; a scan per config over
//     the segments in order gives the equity entering each one (E' = E P)
//     and the peak (K' = max(K, E M));
//   - pass 2 walks every segment again from that equity and peak: its last
//     equity, its largest closed drawdown (the drawdown periods of the whole
//     walk are pieces of these), and its sums of R - shift and their
//     squares (shift: the first step's return, computed directly);
//   - one thread per config adds the segments' counts and sums in order,
//     takes the largest drawdown and the last equity, and finalizes.
// What a segment starts from, leaves, and the scan and finish are plain C
// in ma_crossover_split.h, which a CPU test also runs over every segment.
// Rounding: every step return R is the CPU's bit for bit; equity is a
// product of the same factors grouped by segment (about steps + segments
// roundings instead of steps), so total_return and max_drawdown are within
// 4 (steps + 1) 2^-53 relative of the exact backtest, as the CPU's are, and
// so within twice that of the CPU's; sharpe's sums are added per segment
// then in order (within 1e-8 relative of the exact value in the tests).
// Measured on an H200 (2026-12-04), 1e7 prices: 64 configs 12.6 ms, 312
// configs 46 ms, 9,455 configs 1.15 s (the one-thread launch: 3.2-3.3 s at
// each size; 16 CPU cores: 0.40, 1.19 and 21.4 s).
// Windows over kMaxLookback (2048) keep the one-thread launch (ma_run);
// GPUDF_MA_SEGMENT=0 forces the one-thread launch, a positive value a
// split at that segment length (tests, benchmarks).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "cuda_k_common.cuh"
#include "ma_crossover_math.h"
#include "ma_crossover_series.h"
#include "ma_crossover_split.h"

namespace {

using gdfk::Column;
constexpr int kThreads = 128;

// The untiled walk, for windows longer than kMaxLookback: prices read from
// global memory, filled as they come. first: the first finite row.
__global__ void __launch_bounds__(kThreads)
ma_run(const double *__restrict__ configs, int n, Column price, const double *__restrict__ H,
       const double *__restrict__ L, int64_t nrows, int64_t first, double *__restrict__ out) {
  int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= n) return;
  const double *c = configs + (int64_t)k * GDF_MA_NPARAMS;
  gdf_ma_state s = gdf_ma_init(c);
  double p0 = gdfk::load(price, first);
  for (int64_t t = first; t + 1 < nrows; t++) {
    double p1 = gdfk::load(price, t + 1);
    p1 = gdf_ma_valid(p1) ? p1 : p0;
    gdf_ma_step(&s, gdf_ma_signal2(&s, H, L, t, first), p0, p1);
    p0 = p1;
  }
  gdf_ma_finalize(&s, (double)(nrows - 1 - first), c[GDF_MA_PPY],
                  out + (int64_t)k * GDF_MA_NRESULTS);
}

// Steps per tile, and the longest lookback kept in shared memory with it:
// (kTile + lookback) two-double prefix sums + kTile + 1 prices, at most
// 44 KiB (under the 48 KiB a block gets without opting in).
constexpr int kTile = 512;
constexpr int kMaxLookback = 2048;

// The split launch: blocks wanted = kWaves x SMs x resident blocks per SM;
// split only into kMinSegments or more segments of kMinSegmentSteps or more.
constexpr int kWaves = 2;
constexpr int kMinSegments = 4;
constexpr int kMinSegmentSteps = 8 * kTile;

// What a launch of the tiled walk computes over its segment of the time
// axis (see "Splitting the time axis" in the header):
//   kWhole:    the whole axis, one segment, the results (the one-thread-
//              per-config launch);
//   kProducts: the segment's equity product P and its largest running
//              product M (pass 1);
//   kPaths:    the segment walked from the equity and peak entering it
//              (pass 2): its last equity, drawdown, return sums, trades and
//              exposed steps.
enum WalkMode { kWhole = 0, kProducts = 1, kPaths = 2 };

// The filled price of row t (t >= first): the last finite price at or
// before it, searched backwards by the whole block (a segment that starts
// inside a gap of missing prices).
__device__ double filled_price_at(Column price, int64_t t, int64_t first) {
  __shared__ unsigned long long found;  // 1 + the latest finite row seen, 0: none yet
  if (threadIdx.x == 0) found = 0;
  __syncthreads();
  for (int64_t base = t; base >= first; base -= blockDim.x) {
    const int64_t i = base - threadIdx.x;
    if (i >= first && gdf_ma_valid(gdfk::load(price, i)))
      atomicMax(&found, (unsigned long long)i + 1);
    __syncthreads();
    const bool done = found != 0;  // the same in every thread: a uniform exit
    __syncthreads();                // read by all before the next round writes
    if (done) break;
  }
  // Row first is finite, so the search found a row.
  return gdfk::load(price, found ? (int64_t)found - 1 : first);
}

// The tiled walk's dynamic shared memory for windows up to lookback rows.
constexpr size_t tiled_smem(int lookback) {
  return sizeof(double) * (2 * ((size_t)kTile + (size_t)lookback) + kTile + 1);
}

// The tiled walk, for windows up to kMaxLookback. lookback = the longest
// slow window of the launch; first: the first finite row. Block (x, y)
// walks configs x * kThreads .. over the steps of segment y, rows
// [first + y * seg_len, first + (y + 1) * seg_len) clipped to nrows - 1
// (kWhole: one segment, seg_len >= the steps).
template <int kMode>
__global__ void __launch_bounds__(kThreads)
ma_run_tiled(const double *__restrict__ configs, int n, Column price,
             const double *__restrict__ H, const double *__restrict__ L, int64_t nrows,
             int64_t first, int lookback, int64_t seg_len, double *__restrict__ sum,
             double *__restrict__ out) {
  // Dynamic shared memory, tiled_smem(lookback) bytes: the longest window
  // of the launch sets it, so short windows leave room for more blocks.
  extern __shared__ double smem[];
  double *const sH = smem;                     // H[t0 - lookback .. t0 + kTile)
  double *const sL = smem + kTile + lookback;  // L, the same rows
  // The filled prices of rows t0 .. t0 + kTile, then the step returns.
  double *const sP = smem + 2 * (kTile + lookback);
  __shared__ double carry;  // the filled price of the tile's first row
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  const bool live = k < n;
  const int g = blockIdx.y, segs = gridDim.y;
  const int64_t t_begin = first + (int64_t)g * seg_len;
  const int64_t t_end = kMode == kWhole || nrows - 1 - t_begin <= seg_len ? nrows - 1
                                                                           : t_begin + seg_len;
  gdf_ma_state s = gdf_ma_init(configs + (int64_t)(live ? k : 0) * GDF_MA_NPARAMS);
  const double carry0 = t_begin == first ? gdfk::load(price, first)
                                         : filled_price_at(price, t_begin, first);
  if (threadIdx.x == 0) carry = carry0;
  double P = 1.0, M = -INFINITY;  // kProducts
  if (kMode != kWhole && live)
    gdf_ma_split_enter(&s, kMode == kPaths ? 2 : 1, H, L, t_begin, first,
                       kMode == kPaths ? gdfk::load(price, first) : 0.0,
                       kMode == kPaths ? gdfk::load(price, first + 1) : 0.0, sum, segs, g, n, k);
  for (int64_t t0 = t_begin; t0 < t_end; t0 += kTile) {
    const int len = (int)(t_end - t0 < kTile ? t_end - t0 : kTile);
    __syncthreads();  // the previous tile is no longer read
    for (int j = threadIdx.x; j < len + lookback; j += blockDim.x) {
      int64_t i = t0 - lookback + j;
      sH[j] = i < 0 ? 0.0 : H[i];  // row -1 and before: 0, as gdf_ma_sma2
      sL[j] = i < 0 ? 0.0 : L[i];
    }
    int missing = 0;
    for (int j = threadIdx.x; j <= len; j += blockDim.x) {
      double p = gdfk::load(price, t0 + j);
      missing |= !gdf_ma_valid(p);
      sP[j] = p;
    }
    // A tile with a missing price is filled in order by one thread (rare;
    // the walk over the tile is sequential anyway).
    if (__syncthreads_or(missing) && threadIdx.x == 0) {
      double q = carry;
      for (int j = 0; j <= len; j++) sP[j] = q = gdf_ma_valid(sP[j]) ? sP[j] : q;
    }
    __syncthreads();
    const double next = sP[len];  // the next tile's first row
    double rs[kTile / kThreads];
    for (int q = 0; q < kTile / kThreads; q++) {
      int j = threadIdx.x + q * kThreads;
      rs[q] = j < len ? sP[j + 1] / sP[j] - 1.0 : 0.0;
    }
    __syncthreads();  // every price read: returns replace them
    for (int q = 0; q < kTile / kThreads; q++) {
      int j = threadIdx.x + q * kThreads;
      if (j < len) sP[j] = rs[q];
    }
    if (threadIdx.x == 0) carry = next;
    __syncthreads();
    if (live) {
      const double *h = sH + lookback, *l = sL + lookback;  // h[j] = H[t0 + j]
      const double inv_f = 1.0 / (double)s.fast, inv_s = 1.0 / (double)s.slow;
      for (int j = 0; j < len; j++) {
        const int64_t t = t0 + j;
        double sig = 0.0;
        if (t - first >= s.slow - 1)  // gdf_ma_signal2, on the shared copy
          sig = gdf_ma_mean(h[j], l[j], h[j - s.fast], l[j - s.fast], s.fast, inv_f) >
                        gdf_ma_mean(h[j], l[j], h[j - s.slow], l[j - s.slow], s.slow, inv_s)
                    ? 1.0
                : s.long_short ? -1.0
                               : 0.0;
        if (kMode == kProducts) {
          gdf_ma_split_product(&s, sig, sP[j], &P, &M);
        } else {
          gdf_ma_step_r(&s, sig, sP[j]);
        }
      }
    }
  }
  if (!live) return;
  if (kMode == kWhole) {
    gdf_ma_finalize(&s, (double)(nrows - 1 - first),
                    configs[(int64_t)k * GDF_MA_NPARAMS + GDF_MA_PPY],
                    out + (int64_t)k * GDF_MA_NRESULTS);
  } else {
    gdf_ma_split_leave(&s, kMode == kPaths ? 2 : 1, P, M, sum, segs, g, n, k);
  }
}

// Between the passes: the equity and peak entering each segment, from the
// segments' products in order (one thread per config, segs steps).
__global__ void __launch_bounds__(kThreads)
ma_scan_segments(int n, int segs, double *__restrict__ sum) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < n) gdf_ma_split_scan(sum, segs, n, k);
}

// After pass 2: each config's results from its segments' summaries.
__global__ void __launch_bounds__(kThreads)
ma_finish_segments(const double *__restrict__ configs, int n, int segs, double steps,
                   const double *__restrict__ sum, double *__restrict__ out) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < n)
    gdf_ma_split_finish(configs + (int64_t)k * GDF_MA_NPARAMS, sum, segs, n, k, steps,
                        out + (int64_t)k * GDF_MA_NRESULTS);
}

// The prepared f64 column called name on the device, or NULL: not having
// it is normal (no gpudf_table_prepare).
const double *find_f64(const gdf_kernel_input *in, const char *name) {
  int idx = gdf_input_find(in, name);
  if (idx < 0 || in->cols[idx].type != GPUDF_TYPE_F64) return nullptr;
  return static_cast<const double *>(in->cols[idx].data);
}

// The prepared prefix sums of column c on the device (*L: low parts), or NULL.
const double *prepared(const gdf_kernel_input *in, int c, const double **L) {
  char hi[GPUDF_NAME_MAX + 1], lo[GPUDF_NAME_MAX + 1];
  const char *p = in->cols[c].name;
  int a = std::snprintf(hi, sizeof hi, "%s%s", GDF_DERIVED_PREFIX, p);
  int b = std::snprintf(lo, sizeof lo, "%s%s", GDF_DERIVED_PREFIX_LO, p);
  if (a <= 0 || a > GPUDF_NAME_MAX || b <= 0 || b > GPUDF_NAME_MAX) return nullptr;
  const double *H = find_f64(in, hi);
  *L = H ? find_f64(in, lo) : nullptr;
  return *L ? H : nullptr;
}

// The first row with a finite price (nrows when none), read in chunks from
// the device: usually the first chunk's first value.
gpudf_status first_valid(Column price, int64_t nrows, int64_t *first) {
  *first = 0;
  if (price.type != GPUDF_TYPE_F64 && price.type != GPUDF_TYPE_F32) return GPUDF_OK;
  size_t w = gpudf_type_size((gpudf_type)price.type);
  std::vector<unsigned char> raw;
  for (int64_t i0 = 0; i0 < nrows; i0 += 65536) {
    int64_t len = std::min<int64_t>(65536, nrows - i0);
    raw.resize(w * (size_t)len);
    GDF_CUDA_TRY(cudaMemcpyAsync(raw.data(), static_cast<const unsigned char *>(price.data) + w * i0,
                                 raw.size(), cudaMemcpyDefault, cudaStreamPerThread));
    GDF_CUDA_TRY(cudaStreamSynchronize(cudaStreamPerThread));
    for (int64_t i = 0; i < len; i++) {
      double v = price.type == GPUDF_TYPE_F64 ? ((const double *)raw.data())[i]
                                              : (double)((const float *)raw.data())[i];
      if (gdf_ma_valid(v)) {
        *first = i0 + i;
        return GPUDF_OK;
      }
    }
  }
  *first = nrows;
  return GPUDF_OK;
}

// The n results a launch wrote at dres, back to results at the configs'
// places idx[]; waits for the stream, which also reports errors the kernel
// raised (and the host vectors of the launch are freed on return).
gpudf_status copy_back(const double *dres, int n, const std::vector<int64_t> &idx,
                       double *results, cudaStream_t s) {
  std::vector<double> res((size_t)n * GDF_MA_NRESULTS);
  GDF_CUDA_TRY(cudaMemcpyAsync(res.data(), dres, sizeof(double) * res.size(),
                               cudaMemcpyDeviceToHost, s));
  GDF_CUDA_TRY(cudaStreamSynchronize(s));
  for (int k = 0; k < n; k++)
    std::copy_n(&res[(size_t)k * GDF_MA_NRESULTS], GDF_MA_NRESULTS,
                results + idx[k] * GDF_MA_NRESULTS);
  return GPUDF_OK;
}

// The split launch's segment length in steps, or 0 for the one-thread-
// per-config launch (see "Splitting the time axis" in the header).
// GPUDF_MA_SEGMENT overrides the choice: 0 never splits, a positive length
// splits at that length (tests and benchmarks reach both launches so).
gpudf_status split_length(int n, int64_t steps, int lookback, int64_t *seg_len) {
  *seg_len = 0;
  if (steps < 2 || lookback > kMaxLookback) return GPUDF_OK;
  // The grid's y dimension holds at most 65535 segments.
  const int64_t shortest = (steps + 65534) / 65535;
  long long forced;
  GDF_TRY(gdfk::env_setting("ma_crossover", "GPUDF_MA_SEGMENT", 0, LLONG_MAX, -1,
                            "0 (never split the time axis) or a segment length in steps",
                            &forced));
  if (forced >= 0) {
    if (forced > 0) *seg_len = std::max<int64_t>(forced, shortest);
    return GPUDF_OK;
  }
  int dev = 0, sms = 0, per_sm = 0;
  GDF_CUDA_TRY(cudaGetDevice(&dev));
  GDF_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  GDF_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ma_run_tiled<kPaths>,
                                                             kThreads, tiled_smem(lookback)));
  const int64_t config_blocks = (n + kThreads - 1) / kThreads;
  const int64_t want = (int64_t)kWaves * sms * std::max(per_sm, 1);
  if (config_blocks * kMinSegments > want) return GPUDF_OK;  // the configs fill the device
  int64_t segs = want / config_blocks;
  int64_t len = std::max<int64_t>({(steps + segs - 1) / segs, (int64_t)kMinSegmentSteps, shortest});
  if ((steps + len - 1) / len < kMinSegments) return GPUDF_OK;  // too short to pay
  *seg_len = len;
  return GPUDF_OK;
}

// The split launch: pass 1 (segment products), the scan of the entering
// equity and peak, pass 2 (segment paths), then the per-config results.
gpudf_status run_split(const double *cfg, int n, Column price, const double *H, const double *L,
                       int64_t nrows, int64_t first, int lookback, int64_t seg_len, double *out,
                       cudaStream_t st) {
  const int64_t steps = nrows - 1 - first;
  const int segs = (int)((steps + seg_len - 1) / seg_len);
  gdfk::DevBuf<double> sum;
  GDF_TRY(sum.alloc((size_t)GDF_MA_SUM_FIELDS * segs * n));
  const dim3 grid((unsigned)((n + kThreads - 1) / kThreads), (unsigned)segs);
  const int blocks = (n + kThreads - 1) / kThreads;
  const size_t smem = tiled_smem(lookback);
  ma_run_tiled<kProducts><<<grid, kThreads, smem, st>>>(cfg, n, price, H, L, nrows, first, lookback,
                                                     seg_len, sum.p, out);
  ma_scan_segments<<<blocks, kThreads, 0, st>>>(n, segs, sum.p);
  ma_run_tiled<kPaths><<<grid, kThreads, smem, st>>>(cfg, n, price, H, L, nrows, first, lookback,
                                                  seg_len, sum.p, out);
  ma_finish_segments<<<blocks, kThreads, 0, st>>>(cfg, n, segs, (double)steps, sum.p, out);
  GDF_CUDA_LAUNCHED();
  // sum is freed on return, in stream order (cudaFreeAsync): no wait here.
  return GPUDF_OK;
}

// Configs idx[] (all reading price column c): one launch.
gpudf_status run_group(const gdf_kernel_input *in, int c, const double *configs,
                       const std::vector<int64_t> &idx, double *results) {
  cudaStream_t s = cudaStreamPerThread;
  int64_t nrows = in->nrows;
  int n = (int)idx.size();
  Column price = gdfk::column(in, c);
  gdfk::DevBuf<double> own, dcfg, out;
  const double *L = nullptr, *H = prepared(in, c, &L);
  int64_t first = 0;
  if (!H) {
    // The CPU's ma_prefix_sums, step for step (the kernel fills the prices
    // itself: only the sums go up).
    std::vector<double> p, host(2 * (size_t)nrows);
    GDF_TRY(gdfk::host_copy(price, nrows, &p));
    first = gdf_ma_fill_prefix(p.data(), nrows, host.data(), host.data() + nrows);
    if (first < nrows) {
      GDF_TRY(own.alloc(host.size()));
      GDF_CUDA_TRY(cudaMemcpyAsync(own.p, host.data(), sizeof(double) * host.size(),
                                   cudaMemcpyHostToDevice, s));
      GDF_CUDA_TRY(cudaStreamSynchronize(s));  // host is freed on return
      H = own.p, L = own.p + nrows;
    }
  } else {
    GDF_TRY(first_valid(price, nrows, &first));
  }
  if (first == nrows)
    return gdf_error(GPUDF_EINVAL, "ma_crossover", "column '%s' (price_col = %d) has no finite "
                     "price: every value is NaN or infinite", in->cols[c].name, c);
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
  const int64_t steps = nrows - 1 - first;
  int64_t seg_len = 0;
  GDF_TRY(split_length(n, steps, lookback, &seg_len));
  gdf_range_push("gpudf launch ma_crossover");
  if (seg_len > 0) {
    GDF_TRY(run_split(dcfg.p, n, price, H, L, nrows, first, lookback, seg_len, out.p, s));
  } else if (lookback <= kMaxLookback) {
    ma_run_tiled<kWhole><<<(n + kThreads - 1) / kThreads, kThreads, tiled_smem(lookback), s>>>(
        dcfg.p, n, price, H, L, nrows, first, lookback, nrows, nullptr, out.p);
  } else {
    ma_run<<<(n + kThreads - 1) / kThreads, kThreads, 0, s>>>(dcfg.p, n, price, H, L, nrows,
                                                              first, out.p);
  }
  gdf_range_pop();
  GDF_CUDA_LAUNCHED();
  return copy_back(out.p, n, idx, results, s);
}

typedef gpudf_status group_fn(const gdf_kernel_input *in, int col, const double *configs,
                              const std::vector<int64_t> &idx, double *results);

// Runs fn once per price column over the configs that read it (idx: their
// indices, in order).
gpudf_status by_price_column(const gdf_kernel_input *in, const double *configs, int64_t n,
                             double *results, group_fn *fn) {
  std::vector<char> done((size_t)n, 0);
  for (int64_t first = 0; first < n; first++) {
    if (done[first]) continue;
    double c = configs[first * GDF_MA_NPARAMS + GDF_MA_PRICE_COL];
    std::vector<int64_t> idx;
    for (int64_t k = first; k < n; k++)
      if (!done[k] && configs[k * GDF_MA_NPARAMS + GDF_MA_PRICE_COL] == c)
        idx.push_back(k), done[k] = 1;
    GDF_TRY(fn(in, (int)c, configs, idx, results));
  }
  return GPUDF_OK;
}

gpudf_status run_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                     double *results) {
  return by_price_column(in, configs, n, results, run_group);
}

// A series batch: one thread per (config, series) pair, the pairs of one
// series side by side (the sweep orders a claim's configs by series), each
// running gdf_ma_series_pair (ma_crossover_series.h, where the layout of p,
// H, L, seg and first is described): its own series' segment of the
// gathered arrays, from the series' first finite row to its last, never
// past it into another series. The simulated device's series entry and a
// CPU test run the same function for every pair.
__global__ void __launch_bounds__(kThreads)
ma_run_series(const double *__restrict__ configs, int n, const int *__restrict__ pair,
              const int64_t *__restrict__ seg, const int64_t *__restrict__ first,
              const double *__restrict__ p, const double *__restrict__ H,
              const double *__restrict__ L, double *__restrict__ out) {
  int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < n) gdf_ma_series_pair(k, configs, pair, seg, first, p, H, L, out);
}

// v into a new device buffer *d, on stream st before the launch (a copy
// from pageable memory: v may go once the call returns).
template <typename T>
gpudf_status upload(const std::vector<T> &v, gdfk::DevBuf<T> *d, cudaStream_t st) {
  GDF_TRY(d->alloc(v.size()));
  GDF_CUDA_TRY(cudaMemcpyAsync(d->p, v.data(), sizeof(T) * v.size(), cudaMemcpyHostToDevice, st));
  return GPUDF_OK;
}

// The configs idx[] of a series batch that read price column c: the layout
// of their series built on the host from the table's host arena (the row
// order is host memory, and the prefix sums are sequential anyway), then
// one launch over the (config, series) pairs. Only without a host arena
// (never for a share) is the column copied back from the device first.
gpudf_status run_series_group(const gdf_kernel_input *in, int c, const double *configs,
                              const std::vector<int64_t> &idx, double *results) {
  cudaStream_t st = cudaStreamPerThread;
  const int n = (int)idx.size();
  const void *data = in->host_cols ? in->host_cols[c].data : nullptr;
  int type = in->cols[c].type;
  std::vector<double> copy;
  if (!data) {
    GDF_TRY(gdfk::host_copy(gdfk::column(in, c), in->nrows, &copy));
    data = copy.data(), type = GPUDF_TYPE_F64;
  }
  std::vector<int64_t> of((size_t)n), series((size_t)n);
  std::vector<double> cfg((size_t)n * GDF_MA_NPARAMS);
  for (int k = 0; k < n; k++) {
    of[(size_t)k] = in->series_of[idx[k]];
    std::copy_n(configs + idx[k] * GDF_MA_NPARAMS, GDF_MA_NPARAMS, &cfg[(size_t)k * GDF_MA_NPARAMS]);
  }
  std::vector<int> pair((size_t)n);
  const int64_t ns = gdf_ma_series_slots(of.data(), n, series.data(), pair.data());
  std::vector<int64_t> seg((size_t)ns + 1), first((size_t)ns);
  gdf_ma_series_segments(series.data(), ns, in->starts, seg.data());
  const size_t rows = (size_t)seg[(size_t)ns];
  std::vector<double> p(rows), H(rows), L(rows);
  gdf_ma_series_gather(data, type, in->order, in->starts, series.data(), ns, seg.data(), p.data(),
                       H.data(), L.data(), first.data());
  // The CPU's refusals: the whole batch fails and the sweep runs it series
  // by series, which fails those pairs alone.
  const int64_t bad = gdf_ma_series_refused(cfg.data(), n, pair.data(), seg.data(), first.data());
  if (bad < n) {
    const size_t j = (size_t)pair[(size_t)bad];
    return gdf_ma_series_refusal(in->cols[c].name, c,
                                 (int)cfg[(size_t)bad * GDF_MA_NPARAMS + GDF_MA_SLOW],
                                 seg[j + 1] - seg[j], first[j]);
  }
  gdfk::DevBuf<double> dcfg, dp, dH, dL, out;
  gdfk::DevBuf<int64_t> dseg, dfirst;
  gdfk::DevBuf<int> dpair;
  GDF_TRY(upload(cfg, &dcfg, st));
  GDF_TRY(upload(p, &dp, st));
  GDF_TRY(upload(H, &dH, st));
  GDF_TRY(upload(L, &dL, st));
  GDF_TRY(upload(seg, &dseg, st));
  GDF_TRY(upload(first, &dfirst, st));
  GDF_TRY(upload(pair, &dpair, st));
  GDF_TRY(out.alloc((size_t)n * GDF_MA_NRESULTS));
  gdf_range_push("gpudf launch ma_crossover series");
  ma_run_series<<<(n + kThreads - 1) / kThreads, kThreads, 0, st>>>(
      dcfg.p, n, dpair.p, dseg.p, dfirst.p, dp.p, dH.p, dL.p, out.p);
  gdf_range_pop();
  GDF_CUDA_LAUNCHED();
  return copy_back(out.p, n, idx, results, st);
}

gpudf_status run_series_all(const gdf_kernel_input *in, const double *configs, int64_t n,
                            double *results) {
  return by_price_column(in, configs, n, results, run_series_group);
}

}  // namespace

extern "C" gdf_kernel_fn gdf_kernel_ma_crossover_cuda;  // named in ma_crossover.c
extern "C" gdf_kernel_fn gdf_kernel_ma_crossover_cuda_series;

gpudf_status gdf_kernel_ma_crossover_cuda_series(const gdf_kernel_input *in,
                                                 const double *configs, int64_t n,
                                                 double *results) {
  return gdfk::entry(in, n, [&] { return run_series_all(in, configs, n, results); });
}

gpudf_status gdf_kernel_ma_crossover_cuda(const gdf_kernel_input *in, const double *configs,
                                          int64_t n, double *results) {
  return gdfk::entry(in, n, [&] { return run_all(in, configs, n, results); });
}
