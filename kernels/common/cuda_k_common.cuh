// cuda_k_common.cuh - what the CUDA kernels of groupby_agg, histogram,
// ma_crossover and bootstrap share: a column as the device sees it, a typed
// load, double atomics, and a host copy of a column for the batch-level
// preparation steps. Private to kernels/.
#ifndef GPUDF_CUDA_K_COMMON_CUH
#define GPUDF_CUDA_K_COMMON_CUH

#include <cuda_runtime.h>

#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "cuda_check.h"
#include "kernel.h"

namespace gdfk {

struct Column {
  const void *data;
  int type;
};

inline Column column(const gdf_kernel_input *in, double index) {
  const gdf_kernel_column &c = in->cols[(int)index];
  return {c.data, (int)c.type};
}

// The uniform branch on type costs nothing next to the load itself.
__device__ __forceinline__ double load(Column c, int64_t i) {
  switch (c.type) {
  case GPUDF_TYPE_I32: return (double)static_cast<const int32_t *>(c.data)[i];
  case GPUDF_TYPE_I64: return (double)static_cast<const int64_t *>(c.data)[i];
  case GPUDF_TYPE_F32: return (double)static_cast<const float *>(c.data)[i];
  case GPUDF_TYPE_F64: return static_cast<const double *>(c.data)[i];
  default: return (double)static_cast<const uint8_t *>(c.data)[i];
  }
}

// min/max on doubles by compare-and-swap: exact, whatever the order.
__device__ __forceinline__ void atomic_min(double *a, double v) {
  auto *p = reinterpret_cast<unsigned long long *>(a);
  // volatile: a plain load may come from a stale L1 line and cost a CAS.
  unsigned long long old = *reinterpret_cast<volatile unsigned long long *>(p);
  while (v < __longlong_as_double((long long)old)) {
    unsigned long long seen = atomicCAS(p, old, (unsigned long long)__double_as_longlong(v));
    if (seen == old) break;
    old = seen;
  }
}

__device__ __forceinline__ void atomic_max(double *a, double v) {
  auto *p = reinterpret_cast<unsigned long long *>(a);
  // volatile: a plain load may come from a stale L1 line and cost a CAS.
  unsigned long long old = *reinterpret_cast<volatile unsigned long long *>(p);
  while (v > __longlong_as_double((long long)old)) {
    unsigned long long seen = atomicCAS(p, old, (unsigned long long)__double_as_longlong(v));
    if (seen == old) break;
    old = seen;
  }
}

// A device allocation freed in stream order whatever happens.
template <typename T>
struct DevBuf {
  T *p = nullptr;
  cudaStream_t s = cudaStreamPerThread;
  DevBuf() = default;
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  ~DevBuf() {
    if (p) (void)cudaFreeAsync(p, s);
  }
  gpudf_status alloc(size_t count) {
    GDF_CUDA_TRY(cudaMallocAsync((void **)&p, sizeof(T) * (count ? count : 1), s));
    return GPUDF_OK;
  }
};

// The nrows values of a column (device or mapped address) as host doubles:
// the host-side steps of a batch (prefix sums, compaction) then give the
// same numbers as the CPU reference, bit for bit.
inline gpudf_status host_copy(Column c, int64_t nrows, std::vector<double> *out) {
  size_t w = gpudf_type_size((gpudf_type)c.type);
  std::vector<unsigned char> raw(w * (size_t)nrows);
  GDF_CUDA_TRY(cudaMemcpyAsync(raw.data(), c.data, raw.size(), cudaMemcpyDefault,
                               cudaStreamPerThread));
  GDF_CUDA_TRY(cudaStreamSynchronize(cudaStreamPerThread));
  gdf_colref r = {raw.data(), (gpudf_type)c.type};
  out->resize((size_t)nrows);
  for (int64_t i = 0; i < nrows; i++) {
    switch (r.type) {
    case GPUDF_TYPE_I32: (*out)[i] = (double)((const int32_t *)r.data)[i]; break;
    case GPUDF_TYPE_I64: (*out)[i] = (double)((const int64_t *)r.data)[i]; break;
    case GPUDF_TYPE_F32: (*out)[i] = (double)((const float *)r.data)[i]; break;
    case GPUDF_TYPE_F64: (*out)[i] = ((const double *)r.data)[i]; break;
    default: (*out)[i] = (double)((const uint8_t *)r.data)[i]; break;
    }
  }
  return GPUDF_OK;
}

// A kernel's launch setting from the environment (the tests' and the
// benchmarks' choice of launch): unset or empty leaves *out = dflt; a whole
// number in [lo, hi] is taken; anything else is refused naming the variable
// and what it takes (e.g. "0 or 1").
inline gpudf_status env_setting(const char *kernel, const char *name, long long lo,
                                long long hi, long long dflt, const char *takes,
                                long long *out) {
  *out = dflt;
  const char *e = std::getenv(name);
  if (!e || !*e) return GPUDF_OK;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(e, &end, 10);
  if (end == e || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    return gdf_error(GPUDF_EINVAL, kernel, "%s='%s': expected %s", name, e, takes);
  *out = v;
  return GPUDF_OK;
}

}  // namespace gdfk

namespace gdfk {

// What every CUDA entry does around its work: make the input's device
// current (the launch did already; a direct call is as safe) and turn
// std::bad_alloc into a status.
template <typename F>
gpudf_status entry(const gdf_kernel_input *in, int64_t n, F &&work) {
  GdfDeviceScope scope(in->device);
  GDF_CUDA_TRY(scope.error());
  try {
    return work();
  } catch (const std::bad_alloc &) {
    return GDF_ERR(GPUDF_ENOMEM, "out of host memory for %lld configs", (long long)n);
  }
}

}  // namespace gdfk

#endif
