/* names.c - the names of the public enums (column types, backends) and back:
 * every layer prints or parses them, so they sit at the bottom. */
#include "base.h"

#include <string.h>

const char *gpudf_type_name(gpudf_type type) {
  switch (type) {
  case GPUDF_TYPE_I32: return "i32";
  case GPUDF_TYPE_I64: return "i64";
  case GPUDF_TYPE_F32: return "f32";
  case GPUDF_TYPE_F64: return "f64";
  case GPUDF_TYPE_BOOL: return "bool";
  }
  return NULL;
}

size_t gpudf_type_size(gpudf_type type) {
  switch (type) {
  case GPUDF_TYPE_I32: return 4;
  case GPUDF_TYPE_I64: return 8;
  case GPUDF_TYPE_F32: return 4;
  case GPUDF_TYPE_F64: return 8;
  case GPUDF_TYPE_BOOL: return 1;
  }
  return 0;
}

const char *gpudf_backend_name(gpudf_backend b) {
  switch (b) {
  case GPUDF_BACKEND_AUTO: return "auto";
  case GPUDF_BACKEND_CPU: return "cpu";
  case GPUDF_BACKEND_CUDA_PINNED: return "cuda-pinned";
  case GPUDF_BACKEND_CUDA_IPC: return "cuda-ipc";
  }
  return NULL;
}

gpudf_status gpudf_backend_parse(const char *text, gpudf_backend *out) {
  if (!text || !out) return GDF_ERR(GPUDF_EINVAL, "text or out is NULL");
  for (int b = GPUDF_BACKEND_AUTO; b <= GPUDF_BACKEND_CUDA_IPC; b++)
    if (strcmp(text, gpudf_backend_name((gpudf_backend)b)) == 0) {
      *out = (gpudf_backend)b;
      return GPUDF_OK;
    }
  return GDF_ERR(GPUDF_EINVAL, "unknown backend '%s' (use auto, cpu, cuda-pinned or cuda-ipc)",
                 text);
}
