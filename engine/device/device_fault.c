/*
 * device_fault.c - the fault-injecting device of fault builds
 * (GPUDF_FAULT_INJECTION=ON): a device that holds another one, counts its
 * calls as class GDF_FAULT_DEVICE (engine/base/fault.h) and fails the armed
 * one with GPUDF_EIO, or with "no device" for a count. gdf_device_get wraps
 * every device it hands out with it, so nothing else knows about it.
 */
#ifdef GPUDF_FAULT_INJECTION

#include "device.h"
#include "fault.h"

#include <pthread.h>
#include <stddef.h>

/* A device call that fails with a message, as the real ones do. */
static gpudf_status device_fault(const char *call, long n) {
  return GDF_ERR(GPUDF_EIO, "device call %s failed (fault injection, call %ld)", call, n);
}

/* Counts one device call; GPUDF_OK unless it is the one to fail. */
static gpudf_status dev_hit(const char *call) {
  long n = 0;
  return gdf_fault_hit(GDF_FAULT_DEVICE, &n) ? device_fault(call, n) : GPUDF_OK;
}
#define DEV_HIT(call) dev_hit(call)
static const char no_device[] = "no device (fault injection)";

/* The fault device's context is the device it holds. The device a call
 * goes to is that one at the caller's ordinal. Calls that cannot fail (free,
 * close, unregister) and questions about kernels are not counted. */
static gdf_device inner(const gdf_device *d) {
  return gdf_device_at((const gdf_device *)d->ctx, d->ordinal);
}

static int f_count(const gdf_device *d, const char **why) {
  if (gdf_fault_hit(GDF_FAULT_DEVICE, NULL)) {
    *why = no_device;
    return 0;
  }
  gdf_device in = inner(d);
  return in.ops->count(&in, why);
}
static gpudf_status f_uuid(const gdf_device *d, uint8_t uuid[GDF_UUID_BYTES]) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("uuid");
  return st != GPUDF_OK ? st : in.ops->uuid(&in, uuid);
}
static int f_ipc_supported(const gdf_device *d, const char **why) {
  if (gdf_fault_hit(GDF_FAULT_DEVICE, NULL)) {
    *why = "IPC is not supported (fault injection)";
    return 0;
  }
  gdf_device in = inner(d);
  return in.ops->ipc_supported(&in, why);
}
static int f_register_supported(const gdf_device *d, const char **why) {
  if (gdf_fault_hit(GDF_FAULT_DEVICE, NULL)) {
    *why = "host registration is not supported (fault injection)";
    return 0;
  }
  gdf_device in = inner(d);
  return in.ops->register_supported(&in, why);
}
static gpudf_status f_mem_info(const gdf_device *d, uint64_t *f, uint64_t *t) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("mem_info");
  return st != GPUDF_OK ? st : in.ops->mem_info(&in, f, t);
}
static gpudf_status f_alloc(const gdf_device *d, uint64_t bytes, void **p) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("alloc");
  return st != GPUDF_OK ? st : in.ops->alloc(&in, bytes, p);
}
static void f_free(const gdf_device *d, void *p) {
  gdf_device in = inner(d);
  in.ops->free(&in, p);
}
static gpudf_status f_upload(const gdf_device *d, void *dst, const void *src, uint64_t bytes) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("upload");
  return st != GPUDF_OK ? st : in.ops->upload(&in, dst, src, bytes);
}
static gpudf_status f_ipc_get(const gdf_device *d, void *p, uint8_t handle[GDF_IPC_HANDLE_BYTES]) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("ipc_get");
  return st != GPUDF_OK ? st : in.ops->ipc_get(&in, p, handle);
}
static gpudf_status f_ipc_open(const gdf_device *d, const uint8_t handle[GDF_IPC_HANDLE_BYTES],
                               void **p) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("ipc_open");
  return st != GPUDF_OK ? st : in.ops->ipc_open(&in, handle, p);
}
static void f_ipc_close(const gdf_device *d, void *p) {
  gdf_device in = inner(d);
  in.ops->ipc_close(&in, p);
}
static gpudf_status f_host_register(const gdf_device *d, void *h, uint64_t b) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("host_register");
  return st != GPUDF_OK ? st : in.ops->host_register(&in, h, b);
}
static void f_host_unregister(const gdf_device *d, void *h) {
  gdf_device in = inner(d);
  in.ops->host_unregister(&in, h);
}
static gpudf_status f_host_device_pointer(const gdf_device *d, void *h, void **p) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("host_device_pointer");
  return st != GPUDF_OK ? st : in.ops->host_device_pointer(&in, h, p);
}
static gdf_entry_kind f_entry_kind(const gdf_device *d) {
  gdf_device in = inner(d);
  return in.ops->entry_kind(&in);
}
/* A launch fails as the kernel's device call, named as the kernel. */
static gpudf_status f_launch(const gdf_device *d, const char *kernel, gdf_kernel_fn *fn,
                             const gdf_kernel_input *kin, const double *configs, int64_t n,
                             double *results) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT(kernel);
  return st != GPUDF_OK ? st : in.ops->launch(&in, kernel, fn, kin, configs, n, results);
}

static int f_current(const gdf_device *d) {
  gdf_device in = inner(d);
  return in.ops->current(&in);
}
static gpudf_status f_bind(const gdf_device *d) {
  gdf_device in = inner(d);
  gpudf_status st = DEV_HIT("bind");
  return st != GPUDF_OK ? st : in.ops->bind(&in);
}
static int f_can_access_peer(const gdf_device *d, const gdf_device *peer) {
  gdf_device in = inner(d), p = inner(peer);
  return in.ops->can_access_peer(&in, &p);
}
static gpudf_status f_copy_d2d(const gdf_device *to, void *dst, const gdf_device *from,
                               const void *src, uint64_t bytes, bool *peer) {
  gdf_device t = inner(to), f = inner(from);
  gpudf_status st = DEV_HIT("copy_d2d");
  return st != GPUDF_OK ? st : t.ops->copy_d2d(&t, dst, &f, src, bytes, peer);
}

static gpudf_status f_copy_start(const gdf_device *to, void *dst, const gdf_device *from,
                                 const void *src, uint64_t bytes, void **job) {
  gdf_device t = inner(to), f = inner(from);
  gpudf_status st = DEV_HIT("copy_start");
  if (st != GPUDF_OK) return st;
  return t.ops->copy_start ? t.ops->copy_start(&t, dst, &f, src, bytes, job)
                           : GDF_ERR(GPUDF_ENODEV, "no overlapped copies on this device");
}
/* The held copy is always waited for (it owns its job); a failure injected
 * here is one that came at the end of the copy. */
static gpudf_status f_copy_wait(const gdf_device *to, void *job) {
  gdf_device t = inner(to);
  gpudf_status st = t.ops->copy_wait(&t, job);
  gpudf_status hit = DEV_HIT("copy_wait");
  return st != GPUDF_OK ? st : hit;
}

/* A question about the device, not counted (as can_access_peer). */
static gpudf_status f_pci_bus_id(const gdf_device *d, char *buf, size_t len) {
  gdf_device in = inner(d);
  return in.ops->pci_bus_id ? in.ops->pci_bus_id(&in, buf, len) : GPUDF_ENODEV;
}

static const gdf_device_ops fault_ops = {
    .name = "fault",
    .count = f_count,
    .uuid = f_uuid,
    .ipc_supported = f_ipc_supported,
    .register_supported = f_register_supported,
    .mem_info = f_mem_info,
    .alloc = f_alloc,
    .free = f_free,
    .upload = f_upload,
    .ipc_get = f_ipc_get,
    .ipc_open = f_ipc_open,
    .ipc_close = f_ipc_close,
    .host_register = f_host_register,
    .host_unregister = f_host_unregister,
    .host_device_pointer = f_host_device_pointer,
    .entry_kind = f_entry_kind,
    .launch = f_launch,
    .current = f_current,
    .bind = f_bind,
    .can_access_peer = f_can_access_peer,
    .copy_d2d = f_copy_d2d,
    .pci_bus_id = f_pci_bus_id,
    .copy_start = f_copy_start,
    .copy_wait = f_copy_wait,
};

/* The devices held, one per implementation met (simulated, CUDA): a device
 * is a value, but the context must outlive every copy of it (placements keep
 * one), so the held devices live as long as the process. Found again by
 * their ops and context, so wrapping allocates nothing after the first. */
enum { HELD_MAX = 4 };
static gdf_device held[HELD_MAX];
static int nheld;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

void gdf_fault_device(gdf_device *d) {
  if (d->ops == &fault_ops) return; /* already wrapped */
  gdf_device *h = NULL;
  pthread_mutex_lock(&held_lock);
  for (int i = 0; i < nheld && !h; i++)
    if (held[i].ops == d->ops && held[i].ctx == d->ctx) h = &held[i];
  if (!h && nheld < HELD_MAX) {
    h = &held[nheld++];
    *h = gdf_device_at(d, 0);
  }
  pthread_mutex_unlock(&held_lock);
  if (!h) return; /* more implementations than room: not counted */
  d->ops = &fault_ops;
  d->ctx = h;
  /* ordinal stays: the fault device has the ordinals of the one it holds */
}

#else
/* A build without GPUDF_FAULT_INJECTION: nothing here. */
typedef int gdf_device_fault_not_built;
#endif
