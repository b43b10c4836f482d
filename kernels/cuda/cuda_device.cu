// cuda_device.cu - the real device of engine/device/device.h: discovery, device
// memory, staged upload, IPC handles and host registration. Compiled only
// when the build has CUDA; kernels/cuda/cuda_stub.c stands in otherwise.
// Kernels are no part of it: launch runs the CUDA entry a kernel carries.
#include <cuda_runtime.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "cuda_check.h"

static_assert(sizeof(cudaIpcMemHandle_t) == GDF_IPC_HANDLE_BYTES, "IPC handle size");
static_assert(sizeof(cudaUUID_t) == GDF_UUID_BYTES, "UUID size");

gpudf_status gdf_cuda_fail(cudaError_t err, const char *call, const char *func,
                           const char *file, int line) {
  (void)cudaGetLastError();
  gpudf_status st = GPUDF_EIO;
  switch (err) {
  case cudaErrorMemoryAllocation: st = GPUDF_ENOMEM; break;
  case cudaErrorNoDevice:
  case cudaErrorInsufficientDriver:
  case cudaErrorNotSupported:
  case cudaErrorInvalidDevice:
  case cudaErrorDevicesUnavailable: st = GPUDF_ENODEV; break;
  case cudaErrorInvalidValue:
  case cudaErrorInvalidResourceHandle:
  case cudaErrorMapBufferObjectFailed: st = GPUDF_EINVAL; break;
  default: break;
  }
  const char *base = std::strrchr(file, '/');
  return gdf_error(st, func, "%s failed: %s (%s) at %s:%d", call, cudaGetErrorName(err),
                   cudaGetErrorString(err), base ? base + 1 : file, line);
}

namespace {

// Counted once per process: cudaGetDeviceCount initialises the driver, and a
// machine without a driver or device must cost nothing after the first ask
// and print nothing. The pid says which process initialised CUDA: a child
// forked after that (multiprocessing's default start method on Linux) must
// not touch CUDA at all, so there it counts no device and says why, and its
// attaches take the cpu placement of the same host arena.
struct DeviceProbe {
  int count = 0;
  const char *why = "available";
  pid_t pid = getpid();
  DeviceProbe() {
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      count = 0;
      why = err == cudaErrorNoDevice ? "no CUDA device is present"
            : err == cudaErrorInsufficientDriver
                ? "no CUDA driver, or one older than the runtime"
                : "the CUDA runtime reported an error while counting devices";
      (void)cudaGetLastError();
    } else if (count == 0) {
      why = "no CUDA device is present";
    }
  }
};

const DeviceProbe &probe() {
  static DeviceProbe p;  // thread-safe initialisation (C++11)
  return p;
}

int cu_count(const gdf_device *d, const char **why) {
  (void)d;
  if (probe().pid != getpid()) {
    *why = "this process was forked from one that had initialised CUDA, which CUDA does not "
           "support in the child (start workers with the spawn or forkserver method)";
    return 0;
  }
  if (probe().count == 0) *why = probe().why;
  return probe().count;
}

// cudaGetDeviceProperties is cheap here: the runtime fills the struct when
// it creates the context, and the H200 run measured the first call in a
// fresh process at 1 us (bench_gpu section 3), so the attach asks it.
gpudf_status cu_uuid(const gdf_device *d, uint8_t uuid[GDF_UUID_BYTES]) {
  cudaDeviceProp prop;
  GDF_CUDA_TRY(cudaGetDeviceProperties(&prop, d->ordinal));
  std::memcpy(uuid, &prop.uuid, GDF_UUID_BYTES);
  return GPUDF_OK;
}

bool attribute(cudaDeviceAttr attr, int dev) {
  int v = 0;
  return cudaDeviceGetAttribute(&v, attr, dev) == cudaSuccess && v != 0;
}

// Legacy IPC has no capability attribute: it works on Linux with a real
// device and fails at export time under WSL2 and some virtualised setups,
// where the caller falls back to cuda-pinned.
int cu_ipc_supported(const gdf_device *d, const char **why) {
  (void)d;
  (void)why;
  return 1;
}

// The attached arena is mapped PROT_READ, which only the read-only
// registration flag accepts.
int cu_register_supported(const gdf_device *d, const char **why) {
  int dev = d->ordinal;
  if (!attribute(cudaDevAttrHostRegisterSupported, dev)) {
    *why = "the device does not support cudaHostRegister";
    return 0;
  }
  if (!attribute(cudaDevAttrHostRegisterReadOnlySupported, dev)) {
    *why = "the device cannot register read-only host memory (cudaHostRegisterReadOnly)";
    return 0;
  }
  return 1;
}

gpudf_status cu_mem_info(const gdf_device *d, uint64_t *free_bytes, uint64_t *total) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  size_t f = 0, t = 0;
  GDF_CUDA_TRY(cudaMemGetInfo(&f, &t));
  *free_bytes = f;
  *total = t;
  return GPUDF_OK;
}

gpudf_status cu_alloc(const gdf_device *d, uint64_t bytes, void **dptr) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  GDF_CUDA_TRY(cudaMalloc(dptr, bytes));
  return GPUDF_OK;
}

void cu_free(const gdf_device *d, void *dptr) {
  GdfDeviceScope scope(d->ordinal);
  cudaError_t err = cudaFree(dptr);
  if (err != cudaSuccess) gdf_log("cudaFree: %s", cudaGetErrorName(err));
}

// Two pinned buffers and two events: the CPU fills one while the copy engine
// drains the other, so the upload runs at the slower of memcpy and PCIe
// rather than at pageable-copy speed.
struct Staging {
  static constexpr uint64_t kChunk = uint64_t(64) << 20;
  void *buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  cudaStream_t stream = nullptr;
  ~Staging() {
    if (stream) (void)cudaStreamSynchronize(stream);
    for (int i = 0; i < 2; i++) {
      if (buf[i]) (void)cudaFreeHost(buf[i]);
      if (done[i]) (void)cudaEventDestroy(done[i]);
    }
    if (stream) (void)cudaStreamDestroy(stream);
  }
  gpudf_status init(uint64_t bytes) {
    size_t chunk = (size_t)std::min(bytes, kChunk);
    GDF_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (int i = 0; i < 2; i++) {
      GDF_CUDA_TRY(cudaMallocHost(&buf[i], chunk));
      GDF_CUDA_TRY(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
    }
    return GPUDF_OK;
  }
};

gpudf_status cu_upload(const gdf_device *d, void *dst, const void *src, uint64_t bytes) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  Staging s;
  gpudf_status st = s.init(bytes);
  if (st != GPUDF_OK) return st;
  int k = 0;
  for (uint64_t off = 0; off < bytes; off += Staging::kChunk, k ^= 1) {
    size_t len = (size_t)std::min(bytes - off, Staging::kChunk);
    GDF_CUDA_TRY(cudaEventSynchronize(s.done[k]));  // buffer k is free again
    std::memcpy(s.buf[k], static_cast<const uint8_t *>(src) + off, len);
    GDF_CUDA_TRY(cudaMemcpyAsync(static_cast<uint8_t *>(dst) + off, s.buf[k], len,
                                 cudaMemcpyHostToDevice, s.stream));
    GDF_CUDA_TRY(cudaEventRecord(s.done[k], s.stream));
  }
  // The descriptor is made ready only after this returns: every byte is
  // on the device by then.
  GDF_CUDA_TRY(cudaStreamSynchronize(s.stream));
  return GPUDF_OK;
}

gpudf_status cu_ipc_get(const gdf_device *d, void *dptr, uint8_t handle[GDF_IPC_HANDLE_BYTES]) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  cudaIpcMemHandle_t h;
  GDF_CUDA_TRY(cudaIpcGetMemHandle(&h, dptr));
  std::memcpy(handle, &h, GDF_IPC_HANDLE_BYTES);
  return GPUDF_OK;
}

gpudf_status cu_ipc_open(const gdf_device *d, const uint8_t handle[GDF_IPC_HANDLE_BYTES],
                         void **dptr) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  cudaIpcMemHandle_t h;
  std::memcpy(&h, handle, GDF_IPC_HANDLE_BYTES);
  gdf_trace_mark("ipc_device_scope");
  // The driver's own cost, marked apart from ours (GPUDF_ATTACH_TRACE). On
  // the H200 it grows with the allocation, about 7.5 us per MB (12.1 ms for
  // a 1.6 GB arena, 0.1 ms for 1.6 MB), and is most of an attach; flags 0
  // is refused there (cudaErrorInvalidValue): the lazy-peer flag stays.
  cudaError_t err = cudaIpcOpenMemHandle(dptr, h, cudaIpcMemLazyEnablePeerAccess);
  gdf_trace_mark("cudaIpcOpenMemHandle");
  GDF_CUDA_TRY(err);
  return GPUDF_OK;
}

void cu_ipc_close(const gdf_device *d, void *dptr) {
  GdfDeviceScope scope(d->ordinal);
  cudaError_t err = cudaIpcCloseMemHandle(dptr);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    gdf_log("cudaIpcCloseMemHandle: %s", cudaGetErrorName(err));
  }
}

gpudf_status cu_host_register(const gdf_device *d, void *host, uint64_t bytes) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  unsigned flags = cudaHostRegisterMapped | cudaHostRegisterPortable | cudaHostRegisterReadOnly;
  GDF_CUDA_TRY(cudaHostRegister(host, bytes, flags));
  return GPUDF_OK;
}

void cu_host_unregister(const gdf_device *d, void *host) {
  GdfDeviceScope scope(d->ordinal);
  cudaError_t err = cudaHostUnregister(host);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    gdf_log("cudaHostUnregister: %s", cudaGetErrorName(err));
  }
}

gpudf_status cu_host_device_pointer(const gdf_device *d, void *host, void **dptr) {
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  GDF_CUDA_TRY(cudaHostGetDevicePointer(dptr, host, 0));
  return GPUDF_OK;
}

gdf_entry_kind cu_entry_kind(const gdf_device *d) {
  (void)d;
  return GDF_ENTRY_CUDA;
}

// Every kernel the same way: its CUDA entry, with d current for the launch
// (and the caller's device put back after it).
gpudf_status cu_launch(const gdf_device *d, const char *kernel, gdf_kernel_fn *fn,
                       const gdf_kernel_input *in, const double *configs, int64_t n,
                       double *results) {
  (void)kernel;
  GdfDeviceScope scope(d->ordinal);
  GDF_CUDA_TRY(scope.error());
  return fn(in, configs, n, results);
}

int cu_current(const gdf_device *d) {
  (void)d;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return dev;
}

// Deliberately not scoped: binding is the one call that changes the
// thread's current device (a worker bound to its GPU, before anything else).
gpudf_status cu_bind(const gdf_device *d) {
  GDF_CUDA_TRY(cudaSetDevice(d->ordinal));
  return GPUDF_OK;
}

int cu_can_access_peer(const gdf_device *d, const gdf_device *peer) {
  int can = 0;
  if (d->ordinal == peer->ordinal) return 0;
  if (cudaDeviceCanAccessPeer(&can, d->ordinal, peer->ordinal) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return can;
}

// A device-to-device copy left running on a stream of its own, so that the
// fills of several replicas overlap (engine/device/device.c); cu_copy_wait
// ends it.
gpudf_status cu_copy_start(const gdf_device *to, void *dst, const gdf_device *from,
                           const void *src, uint64_t bytes, void **job) {
  GdfDeviceScope scope(to->ordinal);
  GDF_CUDA_TRY(scope.error());
  cudaStream_t stream = nullptr;
  GDF_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaError_t err = cudaMemcpyPeerAsync(dst, to->ordinal, src, from->ordinal, bytes, stream);
  if (err != cudaSuccess) {
    (void)cudaStreamSynchronize(stream);
    (void)cudaStreamDestroy(stream);
    GDF_CUDA_TRY(err);
  }
  *job = stream;
  return GPUDF_OK;
}

gpudf_status cu_copy_wait(const gdf_device *to, void *job) {
  GdfDeviceScope scope(to->ordinal);
  cudaStream_t stream = static_cast<cudaStream_t>(job);
  cudaError_t sync = cudaStreamSynchronize(stream);
  (void)cudaStreamDestroy(stream);
  GDF_CUDA_TRY(scope.error());
  GDF_CUDA_TRY(sync);
  return GPUDF_OK;
}

// cudaMemcpyPeer takes the peer path when the devices can reach each other
// and otherwise stages through pinned host memory in the driver, so one call
// serves both; peer reports which it will have been.
gpudf_status cu_copy_d2d(const gdf_device *to, void *dst, const gdf_device *from,
                         const void *src, uint64_t bytes, bool *peer) {
  *peer = cu_can_access_peer(to, from) != 0;
  void *job = nullptr;
  GDF_TRY(cu_copy_start(to, dst, from, src, bytes, &job));
  return cu_copy_wait(to, job);
}

gpudf_status cu_pci_bus_id(const gdf_device *d, char *buf, size_t len) {
  GDF_CUDA_TRY(cudaDeviceGetPCIBusId(buf, (int)len, d->ordinal));
  return GPUDF_OK;
}

const gdf_device_ops cuda_ops = {
    "cuda",
    cu_count,
    cu_uuid,
    cu_ipc_supported,
    cu_register_supported,
    cu_mem_info,
    cu_alloc,
    cu_free,
    cu_upload,
    cu_ipc_get,
    cu_ipc_open,
    cu_ipc_close,
    cu_host_register,
    cu_host_unregister,
    cu_host_device_pointer,
    cu_entry_kind,
    cu_launch,
    cu_current,
    cu_bind,
    cu_can_access_peer,
    cu_copy_d2d,
    cu_pci_bus_id,
    cu_copy_start,
    cu_copy_wait,
};

}  // namespace

// Every use of the device goes through here (engine/device/device.c
// gdf_device_get), so the probe, and the pid that initialised CUDA, come
// before any CUDA call.
extern "C" bool gdf_cuda_device(gdf_device *out) {
  (void)probe();
  *out = {&cuda_ops, nullptr, 0};
  return true;
}
