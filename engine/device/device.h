/*
 * device.h - the device layer: what the share/attach code and gpudf_run need
 * from a GPU, behind a small vtable so that plain C never sees CUDA.
 *
 * Two implementations: the real one (kernels/cuda/cuda_device.cu, built only with
 * CUDA) and a simulated device (engine/device/device_sim.c, always built) whose
 * "device memory" is host memory. GPUDF_SIMULATE_DEVICE=1 selects the
 * simulated one, so that every placement decision, fallback and refcount is
 * tested in CI, which has no GPU. See device_sim.c for its knobs.
 *
 * On top of the vtable, a placement says where one arena lives for kernels:
 * the owner's uploaded copy (cuda-ipc), the IPC mapping an attacher opened
 * (cuda-ipc), a host arena registered with the device (cuda-pinned), or
 * nothing (cpu).
 */
#ifndef GPUDF_DEVICE_H
#define GPUDF_DEVICE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { GDF_UUID_BYTES = 16, GDF_IPC_HANDLE_BYTES = 64 };

/* One device implementation. Every function returns a status with a message
 * (CUDA error names included); dev is an ordinal of this process. Pointers
 * called "device" are what kernels read; with the simulated device they are
 * host addresses. */
typedef struct gdf_device_ops {
  const char *name; /* "cuda" or "simulated" */
  /* Usable devices; 0 with *why saying why there are none. */
  int (*count)(const char **why);
  gpudf_status (*uuid)(int dev, uint8_t uuid[GDF_UUID_BYTES]);
  /* Whether IPC memory handles can work on dev (0 with *why if not). */
  int (*ipc_supported)(int dev, const char **why);
  /* Whether host memory can be registered read-only and mapped. */
  int (*register_supported)(int dev, const char **why);
  gpudf_status (*mem_info)(int dev, uint64_t *free_bytes, uint64_t *total_bytes);
  gpudf_status (*alloc)(int dev, uint64_t bytes, void **dptr);
  void (*free)(int dev, void *dptr);
  /* Copies host -> device through pinned memory and returns only when the
   * bytes are on the device. */
  gpudf_status (*upload)(int dev, void *dst, const void *src, uint64_t bytes);
  gpudf_status (*ipc_get)(int dev, void *dptr, uint8_t handle[GDF_IPC_HANDLE_BYTES]);
  gpudf_status (*ipc_open)(int dev, const uint8_t handle[GDF_IPC_HANDLE_BYTES], void **dptr);
  void (*ipc_close)(int dev, void *dptr);
  /* Registers [host, host + bytes), which is mapped PROT_READ. */
  gpudf_status (*host_register)(int dev, void *host, uint64_t bytes);
  void (*host_unregister)(int dev, void *host);
  gpudf_status (*host_device_pointer)(int dev, void *host, void **dptr);
  /* filter_agg over a table whose base is the device address of its arena. */
  gpudf_status (*filter_agg)(int dev, const gpudf_table *dev_table, const double *configs,
                             int64_t n, double *results);
  /* The other built-in kernels, the same way; NULL runs them on the CPU. */
  gpudf_status (*groupby_agg)(int dev, const gpudf_table *dev_table, const double *configs,
                              int64_t n, double *results);
  gpudf_status (*histogram)(int dev, const gpudf_table *dev_table, const double *configs,
                            int64_t n, double *results);
  gpudf_status (*ma_crossover)(int dev, const gpudf_table *dev_table, const double *configs,
                               int64_t n, double *results);
  gpudf_status (*bootstrap)(int dev, const gpudf_table *dev_table, const double *configs,
                            int64_t n, double *results);
} gdf_device_ops;

/* The real CUDA device (kernels/cuda/cuda_device.cu); NULL without CUDA
 * (kernels/cuda/cuda_stub.c). */
const gdf_device_ops *gdf_cuda_device_ops(void);
/* The simulated device (engine/device/device_sim.c). */
const gdf_device_ops *gdf_sim_device_ops(void);
/* The device of this process: the simulated one when GPUDF_SIMULATE_DEVICE=1,
 * else the CUDA one, else NULL. *why says why there is none. */
const gdf_device_ops *gdf_device(const char **why);

/* Appends "PID LINE" to $GPUDF_SIM_TRACE (if set) so tests can count device
 * calls across processes. */
void gdf_sim_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NVTX ranges in the "gpudf" domain (kernels/cuda/cuda_nvtx.cu; no-ops without
 * CUDA). */
void gdf_range_push(const char *what);
void gdf_range_pop(void);

/* Where an arena lives for kernels. */
typedef struct gdf_placement {
  int refs;              /* atomic: an owner's table and its in-process views */
  gpudf_backend backend; /* CPU, CUDA_PINNED or CUDA_IPC */
  const gdf_device_ops *ops;
  int dev;
  uint8_t *dbase;        /* device address of the arena base */
  void *host;            /* the registered host range (cuda-pinned) */
  uint64_t bytes;
  bool owner;            /* cuda-ipc: we allocated it (else we opened a handle) */
  uint8_t uuid[GDF_UUID_BYTES];
  uint8_t handle[GDF_IPC_HANDLE_BYTES];
} gdf_placement;

/* Owner side, at share time. Places the sealed arena for backend (resolved,
 * never AUTO): cuda-ipc uploads it and exports a handle, cuda-pinned
 * registers it. When forced is false a failing placement falls back
 * (cuda-ipc -> cuda-pinned -> cpu) with a log line saying why; when forced it
 * is an error. On success the caller owns *out (gdf_placement_free). */
gpudf_status gdf_place_owner(const gpudf_table *t, gpudf_backend backend, bool forced,
                             gdf_placement **out);

/* Attacher side. desc_backend, uuid and handle come from the descriptor;
 * host/bytes is this process's read-only mapping of the arena. Honours
 * GPUDF_BACKEND the same way (forced: error; auto: fall back and log). */
gpudf_status gdf_place_attach(gpudf_backend desc_backend, const uint8_t *uuid,
                              const uint8_t *handle, void *host, uint64_t bytes,
                              const char *share_name, gdf_placement **out);

/* Takes one more reference (a view of a share whose owner is this process:
 * CUDA cannot open an IPC handle in the process that exported it). */
gdf_placement *gdf_placement_ref(gdf_placement *p);
/* Drops a reference; the last one frees, closes or unregisters. NULL is
 * harmless. */
void gdf_placement_free(gdf_placement *p);

/* Whether a CUDA placement can work in this process, and why not. */
int gdf_cuda_placement_available(gpudf_backend backend, const char **why);

/* Runs n validated configs of kernel on the table's device placement (or on
 * the CPU when the kernel has no device implementation, with a log line). */
gpudf_status gdf_device_run(const gpudf_table *t, const gpudf_kernel *k, const double *configs,
                            int64_t n, double *results);

#ifdef __cplusplus
}
#endif

#endif
