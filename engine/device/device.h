/*
 * device.h - the device layer: what the share/attach code and gpudf_run need
 * from a GPU, behind a small vtable so that plain C never sees CUDA.
 *
 * Shaped like ggml's backends: a device is an object (gdf_device: its ops,
 * its own context, an ordinal) and every operation takes it. Kernels are not
 * operations of the device: a kernel carries its entries (engine/kernel.h),
 * and the device's one launch operation runs the entry of the kind it runs
 * over a gdf_kernel_input, the rows and column addresses of the placement in
 * use. Adding a kernel touches no file here.
 *
 * Implementations: the real one (kernels/cuda/cuda_device.cu, built only
 * with CUDA); a simulated device (engine/device/device_sim.c, always built)
 * whose "device memory" is host memory and which launches a kernel's CPU
 * entry on its "device" addresses, so that every placement decision,
 * fallback and refcount is tested in CI, which has no GPU
 * (GPUDF_SIMULATE_DEVICE=1 selects it; see device_sim.c for its knobs); and,
 * in fault-injection builds, a device that holds another one and fails its
 * calls on demand (engine/base/fault.c).
 *
 * On top of the device, a placement says where one arena lives for kernels:
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

/* ------------------------------------------------------- kernel input */

/* One column as a kernel entry reads it. */
typedef struct gdf_kernel_column {
  const void *data; /* the column's first value, in the address space of the run */
  gpudf_type type;
  int32_t nlabels;  /* categorical: labels in its dictionary (host memory); else 0 */
  const char *name; /* host memory */
} gdf_kernel_column;

/* What a kernel entry runs over: the rows and every column of the table,
 * with addresses for the placement in use (host addresses on the CPU and the
 * simulated device, device addresses on a CUDA device). Read-only. */
typedef struct gdf_kernel_input {
  int64_t nrows;
  int ncols;
  const gdf_kernel_column *cols;
  int device; /* ordinal of the device the addresses belong to; -1: host */
  /* NULL: rows 0..nrows-1 of the table in order. Else (a series of a
   * long-format sweep, only for kernels with row_order, only on the host):
   * the table rows this run reads, row i being table row rows[i]; nrows is
   * then the series' length. */
  const int64_t *rows;
} gdf_kernel_input;

/* A kernel entry: evaluates n validated configs over in in one pass. */
typedef gpudf_status gdf_kernel_fn(const gdf_kernel_input *in, const double *configs,
                                   int64_t n, double *results);

/* Which of a kernel's entries a device launches. */
typedef enum gdf_entry_kind {
  GDF_ENTRY_CPU = 0, /* host code: the simulated device runs it on its host "device" memory */
  GDF_ENTRY_CUDA = 1
} gdf_entry_kind;

/* -------------------------------------------------------------- device */

typedef struct gdf_device gdf_device;

/* One device implementation. Every operation takes the device it acts on and
 * returns a status with a message (CUDA error names included). Pointers
 * called "device" are what kernels read; with the simulated device they are
 * host addresses. */
typedef struct gdf_device_ops {
  const char *name; /* "cuda" or "simulated" */
  /* Usable devices of this implementation; 0 with *why saying why there are
   * none. */
  int (*count)(const gdf_device *d, const char **why);
  gpudf_status (*uuid)(const gdf_device *d, uint8_t uuid[GDF_UUID_BYTES]);
  /* Whether IPC memory handles can work on d (0 with *why if not). */
  int (*ipc_supported)(const gdf_device *d, const char **why);
  /* Whether host memory can be registered read-only and mapped. */
  int (*register_supported)(const gdf_device *d, const char **why);
  gpudf_status (*mem_info)(const gdf_device *d, uint64_t *free_bytes, uint64_t *total_bytes);
  gpudf_status (*alloc)(const gdf_device *d, uint64_t bytes, void **dptr);
  void (*free)(const gdf_device *d, void *dptr);
  /* Copies host -> device through pinned memory and returns only when the
   * bytes are on the device. */
  gpudf_status (*upload)(const gdf_device *d, void *dst, const void *src, uint64_t bytes);
  gpudf_status (*ipc_get)(const gdf_device *d, void *dptr, uint8_t handle[GDF_IPC_HANDLE_BYTES]);
  gpudf_status (*ipc_open)(const gdf_device *d, const uint8_t handle[GDF_IPC_HANDLE_BYTES],
                           void **dptr);
  void (*ipc_close)(const gdf_device *d, void *dptr);
  /* Registers [host, host + bytes), which is mapped PROT_READ. */
  gpudf_status (*host_register)(const gdf_device *d, void *host, uint64_t bytes);
  void (*host_unregister)(const gdf_device *d, void *host);
  gpudf_status (*host_device_pointer)(const gdf_device *d, void *host, void **dptr);
  /* Which entry of a kernel launch runs; a kernel without one runs on the
   * CPU instead. */
  gdf_entry_kind (*entry_kind)(const gdf_device *d);
  /* Runs fn, a kernel's entry of entry_kind, over in (whose addresses are
   * d's) and returns when results are written. kernel names it in traces. */
  gpudf_status (*launch)(const gdf_device *d, const char *kernel, gdf_kernel_fn *fn,
                         const gdf_kernel_input *in, const double *configs, int64_t n,
                         double *results);
} gdf_device_ops;

/* A device: a value, copied freely. Another ordinal of the same
 * implementation is the same value with ordinal changed. */
struct gdf_device {
  const gdf_device_ops *ops;
  void *ctx;   /* the implementation's own state (the fault device: the one it holds) */
  int ordinal; /* which device of the implementation, in this process */
};

/* The real CUDA device, ordinal 0 (kernels/cuda/cuda_device.cu); false
 * without CUDA (kernels/cuda/cuda_stub.c). */
bool gdf_cuda_device(gdf_device *out);
/* The simulated device, ordinal 0 (engine/device/device_sim.c). */
gdf_device gdf_sim_device(void);
/* The device of this process: the simulated one when GPUDF_SIMULATE_DEVICE=1,
 * else the CUDA one; false with *why when there is none. */
bool gdf_device_get(gdf_device *out, const char **why);
/* d with another ordinal. */
static inline gdf_device gdf_device_at(const gdf_device *d, int ordinal) {
  gdf_device o = *d;
  o.ordinal = ordinal;
  return o;
}

/* Appends "PID LINE" to $GPUDF_SIM_TRACE (if set) so tests can count device
 * calls across processes. */
void gdf_sim_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NVTX ranges in the "gpudf" domain (kernels/cuda/cuda_nvtx.cu; no-ops
 * without CUDA). */
void gdf_range_push(const char *what);
void gdf_range_pop(void);

/* Where an arena lives for kernels. */
typedef struct gdf_placement {
  int refs;              /* atomic: an owner's table and its in-process views */
  gpudf_backend backend; /* CPU, CUDA_PINNED or CUDA_IPC */
  gdf_device dev;        /* the device of dbase */
  uint8_t *dbase;        /* device address of the arena base */
  void *host;            /* the registered host range (cuda-pinned) */
  uint64_t bytes;
  bool owner;            /* cuda-ipc: we allocated it (else we opened a handle) */
  uint8_t uuid[GDF_UUID_BYTES];
  uint8_t handle[GDF_IPC_HANDLE_BYTES];
} gdf_placement;

/* Owner side, at share time. Places the sealed arena [base, base + bytes)
 * for backend (resolved, never AUTO): cuda-ipc uploads it and exports a
 * handle, cuda-pinned registers it. When forced is false a failing placement falls back
 * (cuda-ipc -> cuda-pinned -> cpu) with a log line saying why; when forced it
 * is an error. On success the caller owns *out (gdf_placement_free). */
gpudf_status gdf_place_owner(void *base, uint64_t bytes, gpudf_backend backend, bool forced,
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

/* Fault builds: replaces *d (what gdf_device_get found) by a device that
 * holds it and counts its calls, failing the armed one
 * (engine/device/device_fault.c). Nothing otherwise. */
#ifdef GPUDF_FAULT_INJECTION
void gdf_fault_device(gdf_device *d);
#else
static inline void gdf_fault_device(gdf_device *d) { (void)d; }
#endif

/* Whether a CUDA placement can work in this process, and why not. */
int gdf_cuda_placement_available(gpudf_backend backend, const char **why);

#ifdef __cplusplus
}
#endif

#endif
