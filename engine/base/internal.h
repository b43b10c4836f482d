/*
 * internal.h - every internal header at once. Transitional: a file includes
 * the header of the layer it uses (docs/architecture.md); this umbrella goes
 * when none includes it any more.
 */
#ifndef GPUDF_INTERNAL_H
#define GPUDF_INTERNAL_H

#include "base.h"
#include "proc.h"
#include "table.h"
#include "kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- device */

/* Whether a CUDA placement can work in this process, and why not
 * (engine/device.c, over the device of engine/device.h). */
int gdf_cuda_placement_available(gpudf_backend backend, const char **why);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_INTERNAL_H */
