// cuda_device.cu - device discovery for the CUDA placements. Compiled only
// when the build has CUDA; kernels/cuda_stub.c stands in otherwise.
#include <cuda_runtime.h>

#include "internal.h"

namespace {

// Counted once per process: cudaGetDeviceCount initialises the driver, and a
// machine without a driver or device must cost nothing after the first ask.
struct DeviceProbe {
  int count = 0;
  const char *why = "available";
  DeviceProbe() {
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      count = 0;
      why = err == cudaErrorNoDevice ? "no CUDA device is present"
            : err == cudaErrorInsufficientDriver ? "no CUDA driver, or one older than the runtime"
                                                 : "the CUDA runtime reported an error while counting devices";
      (void)cudaGetLastError();  // clear the sticky-free error state
    } else if (count == 0) {
      why = "no CUDA device is present";
    }
  }
};

}  // namespace

extern "C" int gdf_cuda_placement_available(gpudf_backend backend, const char **why) {
  static DeviceProbe probe;
  (void)backend;
  if (probe.count == 0) {
    *why = probe.why;
    return 0;
  }
  // The device placements (upload, IPC export, pinned registration) are the
  // next milestone; until they land a forced CUDA backend is refused clearly.
  *why = "a CUDA device is present, but this version of libgpudf does not implement the CUDA placements yet";
  return 0;
}
