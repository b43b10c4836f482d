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

enum {
  GDF_UUID_BYTES = 16,
  GDF_IPC_HANDLE_BYTES = 64,
  GDF_REPLICAS_MAX = 16, /* device replicas of one share (the descriptor's room) */
  GDF_ORDINAL_MAX = 1024 /* ordinals a device list may name: 0 .. GDF_ORDINAL_MAX - 1 */
};

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
  /* NULL, or a series batch (gdf_run_series; the kernel's series entries
   * only): config i of the run reads series series_of[i] alone, whose table
   * rows in time order are order[starts[q]] .. order[starts[q + 1] - 1]
   * (nrows stays the table's). Host memory, on every device. */
  const int64_t *series_of;
  const int64_t *order;
  const int64_t *starts;
  /* NULL, or (a series batch on a table with a host arena, which a share
   * always has) the same ncols columns at their host addresses: a series
   * entry gathers its series' prices there, through order, instead of
   * copying whole columns back from the device. */
  const gdf_kernel_column *host_cols;
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
  /* The ordinal of the calling thread's current device (CUDA: cudaGetDevice;
   * what an attacher looks for a replica on). */
  int (*current)(const gdf_device *d);
  /* Makes d the calling thread's current device (a worker bound to its
   * device by UUID does this before anything else touches the device). */
  gpudf_status (*bind)(const gdf_device *d);
  /* Whether d can read memory of device peer directly (peer access). */
  int (*can_access_peer)(const gdf_device *d, const gdf_device *peer);
  /* Copies bytes from src on device from to dst on device to, one device
   * to another: a peer copy when the two can access each other, else staged
   * through pinned host memory. *peer says which. Returns when the bytes
   * are on to. */
  gpudf_status (*copy_d2d)(const gdf_device *to, void *dst, const gdf_device *from,
                           const void *src, uint64_t bytes, bool *peer);
  /* d's PCI bus id as the driver writes it ("0000:3B:00.0") into buf (at
   * least 32 bytes): what sysfs lists its local CPUs by. */
  gpudf_status (*pci_bus_id)(const gdf_device *d, char *buf, size_t len);
  /* Starts the copy copy_d2d makes and returns at once, *job being what
   * copy_wait waits for: copies to several devices then overlap, each on a
   * stream of its own (a replica fill). NULL: copy_d2d is used, one copy
   * after another. */
  gpudf_status (*copy_start)(const gdf_device *to, void *dst, const gdf_device *from,
                             const void *src, uint64_t bytes, void **job);
  /* Returns when a started copy is done, with its status, and releases job
   * (also when the copy failed). */
  gpudf_status (*copy_wait)(const gdf_device *to, void *job);
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

/* ------------------------------------------------------- device lists */

/* Which devices a share's replicas go to (engine/device/devices.c): every
 * visible one, or those named by ordinal or UUID. */
typedef struct gdf_devsel_item {
  int ordinal; /* -1 when named by UUID */
  bool by_uuid;
  uint8_t uuid[GDF_UUID_BYTES];
} gdf_devsel_item;
typedef struct gdf_devsel {
  bool all; /* "all": every visible device, skipping those without room */
  int n;
  gdf_devsel_item item[GDF_REPLICAS_MAX];
} gdf_devsel;

/* Parses "all" or "ITEM[,ITEM...]" where ITEM is an ordinal (decimal) or a
 * UUID "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; what names the source in
 * messages ("GPUDF_DEVICES", "devices"). GPUDF_EINVAL for anything else:
 * empty text or entries, unknown forms, duplicates, more than
 * GDF_REPLICAS_MAX entries. */
gpudf_status gdf_devsel_parse(const char *text, const char *what, gdf_devsel *out);
/* The ordinals (in dev's implementation) of what sel names, in its order,
 * into ordinals[GDF_REPLICAS_MAX]. GPUDF_ENODEV for a named device this
 * process does not see. */
gpudf_status gdf_devsel_resolve(const gdf_devsel *sel, const gdf_device *dev, int *ordinals,
                                int *n);
/* A UUID in nvidia-smi form (40 characters of text); false if it is not. */
bool gdf_uuid_parse(const char *text, size_t len, uint8_t uuid[GDF_UUID_BYTES]);
/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into buf (48 bytes suffice). */
const char *gdf_uuid_text(const uint8_t *uuid, char *buf, size_t len);

/* ----------------------------------------------------------- placements */

/* One device copy of an arena: the device, its address there, and what
 * other processes open it by. */
typedef struct gdf_replica {
  gdf_device dev;
  uint8_t *dbase;
  uint8_t uuid[GDF_UUID_BYTES];
  uint8_t handle[GDF_IPC_HANDLE_BYTES];
  /* Who holds the memory: holder_pid 0 for the share's owner (the
   * descriptor lists its replicas); else the process that added it later
   * (engine/share/replica.c), with its start time and the file name of the
   * record that announces it, which that process removes before it frees
   * the memory. */
  int32_t holder_pid;
  uint64_t holder_start;
  char record[128]; /* the shm directory's file names fit (GDF_SEG_PATH_MAX) */
} gdf_replica;

/* Whether the memory of replica r (an attacher's) is gone: r was added by
 * a process that is no longer running, or that withdrew its record (freed
 * it). *freed says which. False for the owner's replicas: the owner's own
 * checks cover them (gdf_view_device_check). */
bool gdf_replica_gone(const gdf_replica *r, bool *freed);

/* How the kernels of a placement reach the arena (what a view reports). */
typedef enum gdf_access {
  GDF_ACCESS_HOST = 0,    /* no device: cpu */
  GDF_ACCESS_REPLICA = 1, /* a replica on the device the kernels run on */
  GDF_ACCESS_PEER = 2,    /* a replica on another device, over peer access */
  GDF_ACCESS_PINNED = 3   /* the host arena registered with the device */
} gdf_access;

/* Where an arena lives for kernels. */
typedef struct gdf_placement {
  int refs;              /* atomic: an owner's table and its in-process views */
  gpudf_backend backend; /* CPU, CUDA_PINNED or CUDA_IPC */
  gdf_access access;
  gdf_device dev;        /* the device kernels run on (the first replica's, for an owner) */
  uint8_t *dbase;        /* address of the arena base for kernels on dev */
  void *host;            /* the registered host range (cuda-pinned) */
  uint64_t bytes;
  bool owner;            /* cuda-ipc: we allocated the replicas (else we opened a handle) */
  uint8_t uuid[GDF_UUID_BYTES]; /* dev's */
  char uuid_text[48];
  /* Owner, cuda-ipc: every replica, the first being dev/dbase. */
  int nreplicas;
  gdf_replica replicas[GDF_REPLICAS_MAX];
  char skipped[2048];    /* owner: devices left out under "all", and why; "" if none */
  /* Owner, cuda-pinned: the devices its kernels may run on (its
   * registration is portable: the same device address on each), the first
   * being dev. What a sweep spreads its workers over, as a cuda-ipc one
   * spreads them over the replicas. */
  int npinned;
  gdf_device pinned[GDF_REPLICAS_MAX];
  uint8_t pinned_uuid[GDF_REPLICAS_MAX][GDF_UUID_BYTES];
  /* Attacher, cuda-ipc: the replica its handle was opened from (UUID and
   * holder; dev/dbase being where it was opened: dev/dbase above). */
  gdf_replica src;
  /* Attacher, cuda-ipc: the replicas on other devices opened for the
   * threads of an in-process sweep (gdf_placement_open_more), each on its
   * own device. Appended under a lock; nmore is published with release
   * after its entry is written, so readers need no lock. */
  int nmore;
  gdf_replica more[GDF_REPLICAS_MAX];
} gdf_placement;

/* What the calling thread's kernels read of p: the device and base of the
 * replica on its current device (an owner's replicas, an attacher's own or
 * those opened for more devices), else p's own; a pinned registration's
 * device when the thread is bound to another of its devices. Returns the
 * replica read (NULL for cuda-pinned). */
const gdf_replica *gdf_placement_read(const gdf_placement *p, const gdf_device **dev,
                                      const uint8_t **dbase);

/* Attacher, cuda-ipc: opens, on its own device, every replica of reps
 * (the share's: descriptor and records) whose device this process sees
 * and that p has not opened yet, so that a thread bound to that device
 * reads it there; one that cannot be opened is left out (logged). Writes
 * the UUID texts of the devices p can then run on with a replica of their
 * own (its own replica's first) into out (max entries) and returns how
 * many; 0 for another placement. */
int gdf_placement_open_more(gdf_placement *p, const gdf_replica *reps, int nrep,
                            char (*out)[48], int max);

/* UUID texts of the devices an owner's placement p lets kernels run on, in
 * order, into out (max entries): its replicas (cuda-ipc), the devices its
 * registration serves (cuda-pinned); 0 for NULL, cpu or an attacher's. */
int gdf_placement_devices(const gdf_placement *p, char (*out)[48], int max);

/* Owner side, at share time. Places the sealed arena [base, base + bytes)
 * for backend (resolved, never AUTO): cuda-ipc makes a replica on every
 * device devices names (NULL: all), uploading from the host once and filling
 * the others device to device, and exports a handle per replica; cuda-pinned
 * registers it. Under "all" a device without room, or whose replica fails,
 * is skipped with a message (*out's skipped); a device named explicitly that
 * cannot hold one is an error. When forced is false a failing placement
 * falls back (cuda-ipc -> cuda-pinned -> cpu) with a log line saying why;
 * when forced it is an error. On success the caller owns *out
 * (gdf_placement_free). */
gpudf_status gdf_place_owner(void *base, uint64_t bytes, gpudf_backend backend, bool forced,
                             const gdf_devsel *devices, gdf_placement **out);

/* Attacher side. desc_backend and the replicas (UUID and handle each) come
 * from the descriptor; host/bytes is this process's read-only mapping of the
 * arena. Picks the replica on this thread's current device; without one, a
 * replica on a device the current one can access as a peer; else the host
 * arena pinned; else cpu (each step logged). Honours GPUDF_BACKEND the same
 * way (forced: error; auto: fall back and log). */
gpudf_status gdf_place_attach(gpudf_backend desc_backend, const gdf_replica *replicas,
                              int nreplicas, void *host, uint64_t bytes,
                              const char *share_name, gdf_placement **out);

/* Binds this thread to the device whose UUID text is uuid (a sweep worker's
 * first act); GPUDF_ENODEV naming it when this process does not see it. */
gpudf_status gdf_device_bind_uuid(const char *uuid);

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
