/* cuda_stub.c - what the library answers about CUDA when it was built
 * without it, so the exported symbols are the same either way. */
#include "internal.h"

#ifndef GPUDF_HAVE_CUDA
int gdf_cuda_placement_available(gpudf_backend backend, const char **why) {
  (void)backend;
  *why = "libgpudf was built without CUDA (GPUDF_CUDA=OFF, or no nvcc at build time)";
  return 0;
}
#else
/* Built with CUDA: kernels/cuda_device.cu defines it. ISO C forbids an empty
 * translation unit. */
typedef int gdf_cuda_stub_unused;
#endif
