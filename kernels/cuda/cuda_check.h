// cuda_check.h - turning CUDA errors into gpudf statuses, for the .cu files.
#ifndef GPUDF_CUDA_CHECK_H
#define GPUDF_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "device.h"

// Sets the message "<func>: <call> failed: <cudaErrorName> (<text>) at
// file:line" and returns the closest status. Clears the non-sticky error so
// that the next call does not report it again.
gpudf_status gdf_cuda_fail(cudaError_t err, const char *call, const char *func,
                           const char *file, int line);

#define GDF_CUDA_TRY(call)                                                  \
  do {                                                                      \
    cudaError_t gdf_cuda_e_ = (call);                                       \
    if (gdf_cuda_e_ != cudaSuccess)                                         \
      return gdf_cuda_fail(gdf_cuda_e_, #call, __func__, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: launch errors only; execution errors surface at
// the next synchronising call, which is checked too.
#define GDF_CUDA_LAUNCHED() GDF_CUDA_TRY(cudaGetLastError())

// Makes dev current for the scope and puts the caller's device back: a
// library must not change the application's current device.
class GdfDeviceScope {
 public:
  explicit GdfDeviceScope(int dev) {
    if (cudaGetDevice(&prev_) != cudaSuccess) prev_ = -1;
    err_ = prev_ == dev ? cudaSuccess : cudaSetDevice(dev);
  }
  ~GdfDeviceScope() {
    if (prev_ >= 0 && err_ == cudaSuccess) (void)cudaSetDevice(prev_);
  }
  cudaError_t error() const { return err_; }
  GdfDeviceScope(const GdfDeviceScope &) = delete;
  GdfDeviceScope &operator=(const GdfDeviceScope &) = delete;

 private:
  int prev_ = -1;
  cudaError_t err_ = cudaSuccess;
};

#endif
