/* backend.c - which backend a share is placed on: what this process can
 * use, and AUTO or GPUDF_BACKEND resolved to one. The names of the backends
 * are in engine/base/names.c: the device and descriptor layers below print
 * them too. */
#include "share.h"

#include <stdlib.h>

int gpudf_backend_available(gpudf_backend b, const char **why) {
  const char *reason = "available";
  int ok = 1;
  switch (b) {
  case GPUDF_BACKEND_AUTO:
  case GPUDF_BACKEND_CPU: break;
  case GPUDF_BACKEND_CUDA_PINNED:
  case GPUDF_BACKEND_CUDA_IPC:
    ok = gdf_cuda_placement_available(b, &reason);
    break;
  default:
    ok = 0;
    reason = "unknown backend";
  }
  if (why) *why = reason;
  return ok;
}

gpudf_status gdf_backend_resolve(gpudf_backend asked, gpudf_backend *out, bool *forced) {
  const char *env = getenv("GPUDF_BACKEND");
  if (asked == GPUDF_BACKEND_AUTO && env && *env) {
    if (gpudf_backend_parse(env, &asked) != GPUDF_OK)
      return GDF_ERR(GPUDF_EINVAL, "GPUDF_BACKEND='%s' is not one of auto, cpu, "
                     "cuda-pinned, cuda-ipc", env);
  }
  const char *why;
  *forced = asked != GPUDF_BACKEND_AUTO;
  if (asked == GPUDF_BACKEND_AUTO) {
    const gpudf_backend order[] = {GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
      if (gpudf_backend_available(order[i], &why)) {
        *out = order[i];
        return GPUDF_OK;
      }
      gdf_log("backend %s not used: %s", gpudf_backend_name(order[i]), why);
    }
    *out = GPUDF_BACKEND_CPU;
    return GPUDF_OK;
  }
  if (!gpudf_backend_name(asked))
    return GDF_ERR(GPUDF_EINVAL, "unknown backend %d", (int)asked);
  if (!gpudf_backend_available(asked, &why))
    return GDF_ERR(GPUDF_ENODEV, "backend %s was asked for but is not available: %s",
                   gpudf_backend_name(asked), why);
  *out = asked;
  return GPUDF_OK;
}
