/* cuda_stub.c - what the library has of CUDA when it was built without it:
 * no CUDA device (the simulated one still works) and no NVTX ranges, so the
 * exported symbols are the same either way. */
#include "device.h"

#ifndef GPUDF_HAVE_CUDA
bool gdf_cuda_device(gdf_device *out) {
  (void)out;
  return false;
}
void gdf_range_push(const char *what) { (void)what; }
void gdf_range_pop(void) {}
#else
/* Built with CUDA: kernels/cuda/cuda_device.cu and cuda_nvtx.cu define them. ISO
 * C forbids an empty translation unit. */
typedef int gdf_cuda_stub_unused;
#endif
