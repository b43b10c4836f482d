/*
 * device.c - placing an arena on a device for the share's owner and for
 * attachers, and the fallbacks between placements. Kernels are launched on a
 * placement by engine/kernel/run.c.
 *
 * The order of preference is cuda-ipc, cuda-pinned, cpu. A placement that was
 * asked for explicitly (API argument or GPUDF_BACKEND) and cannot work is an
 * error; under auto every failure falls back one step and says why in the
 * GPUDF_LOG=debug log, because the host arena always exists and nothing is
 * lost by using it.
 */
#include "device.h"
#include "fault.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gdf_device_get(gdf_device *out, const char **why) {
  /* Read on every call, not cached: tests switch it between cases. */
  const char *sim = getenv("GPUDF_SIMULATE_DEVICE");
  if (sim && strcmp(sim, "1") == 0) {
    *out = gdf_sim_device();
  } else if (!gdf_cuda_device(out)) {
    if (why) *why = "libgpudf was built without CUDA (GPUDF_CUDA=OFF, or no nvcc at build time)";
    return false;
  }
  /* Every device use starts here, so fault builds wrap the device at this
   * one point (engine/device/device_fault.c; nothing otherwise). */
  gdf_fault_device(out);
  return true;
}

int gdf_cuda_placement_available(gpudf_backend backend, const char **why) {
  const char *reason = "available";
  gdf_device d;
  int ok = gdf_device_get(&d, &reason) && d.ops->count(&d, &reason) > 0;
  if (ok && backend == GPUDF_BACKEND_CUDA_IPC) ok = d.ops->ipc_supported(&d, &reason);
  if (ok && backend == GPUDF_BACKEND_CUDA_PINNED) ok = d.ops->register_supported(&d, &reason);
  *why = ok ? "available" : reason;
  return ok;
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi -L prints it. */
static const char *uuid_text(const uint8_t *u, char *buf, size_t len) {
  snprintf(buf, len,
           "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
           u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
           u[14], u[15]);
  return buf;
}

static gdf_placement *placement_new(const gdf_device *dev) {
  gdf_placement *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->refs = 1;
  p->dev = *dev;
  p->backend = GPUDF_BACKEND_CPU;
  return p;
}

gdf_placement *gdf_placement_ref(gdf_placement *p) {
  if (p) __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
  return p;
}

/* Undoes what place_ipc_owner, open_ipc or pin did, in reverse order. */
void gdf_placement_free(gdf_placement *p) {
  if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (p->backend == GPUDF_BACKEND_CUDA_IPC && p->owner && p->dbase)
    p->dev.ops->free(&p->dev, p->dbase);
  else if (p->backend == GPUDF_BACKEND_CUDA_IPC && p->dbase)
    p->dev.ops->ipc_close(&p->dev, p->dbase);
  else if (p->backend == GPUDF_BACKEND_CUDA_PINNED && p->host)
    p->dev.ops->host_unregister(&p->dev, p->host);
  free(p);
}

/* ------------------------------------------------------------ placements */

/* Owner: one allocation, one staged upload, one exported handle. */
static gpudf_status place_ipc_owner(gdf_placement *p, const uint8_t *host, uint64_t bytes) {
  const gdf_device *d = &p->dev;
  const gdf_device_ops *ops = d->ops;
  char u[48];
  uint64_t free_b = 0, total = 0;
  GDF_TRY(ops->mem_info(d, &free_b, &total));
  if (bytes > free_b)
    return GDF_ERR(GPUDF_ENOMEM,
                   "the table's arena (%" PRIu64 " bytes) does not fit in the memory of device "
                   "%s (%" PRIu64 " of %" PRIu64 " bytes free); share it as cuda-pinned or cpu",
                   bytes, uuid_text(p->uuid, u, sizeof u), free_b, total);
  void *mem = NULL;
  GDF_TRY(ops->alloc(d, bytes, &mem));
  gdf_range_push("gpudf upload");
  gpudf_status st = ops->upload(d, mem, host, bytes);
  gdf_range_pop();
  if (st == GPUDF_OK) st = ops->ipc_get(d, mem, p->handle);
  if (st != GPUDF_OK) {
    ops->free(d, mem);
    return st;
  }
  p->dbase = mem;
  p->bytes = bytes;
  p->owner = true;
  p->backend = GPUDF_BACKEND_CUDA_IPC;
  return GPUDF_OK;
}

/* Registers a read-only host mapping and takes its device address. */
static gpudf_status pin(gdf_placement *p, void *host, uint64_t bytes) {
  const char *why = NULL;
  const gdf_device *dev = &p->dev;
  if (!dev->ops->register_supported(dev, &why))
    return GDF_ERR(GPUDF_ENODEV, "cuda-pinned is not available: %s", why);
  GDF_TRY(dev->ops->host_register(dev, host, bytes));
  void *d = NULL;
  gpudf_status st = dev->ops->host_device_pointer(dev, host, &d);
  if (st != GPUDF_OK) {
    dev->ops->host_unregister(dev, host);
    return st;
  }
  p->host = host;
  p->dbase = d;
  p->bytes = bytes;
  p->backend = GPUDF_BACKEND_CUDA_PINNED;
  return GPUDF_OK;
}

/* Logs why a placement was not used. Under auto a fallback is a decision,
 * not an error: the attempts run in a quiet scope (engine/base/base.h) whose
 * message is why. */
static void fell_back(const char *why, const char *who, gpudf_backend from,
                      gpudf_backend to) {
  gdf_log("%s: %s not used (%s); falling back to %s", who, gpudf_backend_name(from), why,
          gpudf_backend_name(to));
}

gpudf_status gdf_place_owner(void *base, uint64_t bytes, gpudf_backend backend, bool forced,
                             gdf_placement **out) {
  *out = NULL;
  if (backend == GPUDF_BACKEND_CPU) return GPUDF_OK;
  const char *why = NULL;
  gdf_device dev;
  if (!gdf_device_get(&dev, &why)) return GDF_ERR(GPUDF_ENODEV, "no device: %s", why);
  gdf_placement *p = placement_new(&dev);
  if (!p) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  /* Forced: a failure is the caller's error. Auto: it is a fallback. */
  char failed[512] = "";
  gdf_quiet q = {0};
  if (!forced) gdf_quiet_begin(&q, failed, sizeof failed);
  gpudf_status st = dev.ops->uuid(&p->dev, p->uuid);
  if (st == GPUDF_OK && backend == GPUDF_BACKEND_CUDA_IPC) {
    st = place_ipc_owner(p, base, bytes);
    if (st == GPUDF_OK || forced) goto done;
    fell_back(failed, "share", backend, GPUDF_BACKEND_CUDA_PINNED);
    backend = GPUDF_BACKEND_CUDA_PINNED;
    st = GPUDF_OK;
  }
  if (st == GPUDF_OK && backend == GPUDF_BACKEND_CUDA_PINNED) st = pin(p, base, bytes);
done:
  if (!forced) gdf_quiet_end(&q);
  if (st == GPUDF_OK) {
    *out = p;
    return GPUDF_OK;
  }
  free(p);
  if (forced) return st;
  fell_back(failed, "share", backend, GPUDF_BACKEND_CPU);
  return GPUDF_OK;
}

/* The ordinal of the device whose UUID is uuid, or -1. */
static int find_device(const gdf_device *dev, const uint8_t *uuid) {
  const char *why;
  int n = dev->ops->count(dev, &why);
  for (int i = 0; i < n; i++) {
    uint8_t u[GDF_UUID_BYTES];
    gdf_device d = gdf_device_at(dev, i);
    if (d.ops->uuid(&d, u) == GPUDF_OK && memcmp(u, uuid, sizeof u) == 0) return i;
  }
  return -1;
}

/* Attacher: the device is matched by UUID, never by ordinal, because
 * CUDA_VISIBLE_DEVICES may order devices differently in every process. */
static gpudf_status open_ipc(gdf_placement *p, const uint8_t *uuid, const uint8_t *handle,
                             const char *name) {
  char u[48];
  int dev = find_device(&p->dev, uuid);
  if (dev < 0)
    return GDF_ERR(GPUDF_ENODEV, "share '%s' lives on device %s, which this process does "
                   "not see (check CUDA_VISIBLE_DEVICES)", name, uuid_text(uuid, u, sizeof u));
  p->dev.ordinal = dev;
  memcpy(p->uuid, uuid, GDF_UUID_BYTES);
  void *d = NULL;
  GDF_TRY(p->dev.ops->ipc_open(&p->dev, handle, &d));
  p->dbase = d;
  p->backend = GPUDF_BACKEND_CUDA_IPC;
  return GPUDF_OK;
}

/* GPUDF_BACKEND in an attaching process: auto unless set. */
static gpudf_status attach_wish(gpudf_backend *wish) {
  *wish = GPUDF_BACKEND_AUTO;
  const char *env = getenv("GPUDF_BACKEND");
  if (!env || !*env) return GPUDF_OK;
  if (gpudf_backend_parse(env, wish) != GPUDF_OK)
    return GDF_ERR(GPUDF_EINVAL, "GPUDF_BACKEND='%s' is not one of auto, cpu, cuda-pinned, "
                   "cuda-ipc", env);
  return GPUDF_OK;
}

/* What the attacher tries first, given the share's placement and the wish. */
static gpudf_status attach_target(gpudf_backend desc, gpudf_backend wish, const char *name,
                                  gpudf_backend *first) {
  if (wish == GPUDF_BACKEND_CUDA_IPC && desc != GPUDF_BACKEND_CUDA_IPC)
    return GDF_ERR(GPUDF_ENODEV, "GPUDF_BACKEND=cuda-ipc, but share '%s' was published as %s "
                   "and has no IPC handle", name, gpudf_backend_name(desc));
  if (wish != GPUDF_BACKEND_AUTO) *first = wish;
  else *first = desc;
  return GPUDF_OK;
}

/* A placement forced with GPUDF_BACKEND that failed in this process. */
static gpudf_status refuse(gpudf_backend b) {
  char why[1024];
  snprintf(why, sizeof why, "%s", gpudf_last_error());
  return GDF_ERR(GPUDF_ENODEV, "GPUDF_BACKEND=%s cannot work in this process: %s",
                 gpudf_backend_name(b), why);
}

static gpudf_status attach_steps(gdf_placement *p, gpudf_backend first, bool forced,
                                 const uint8_t *uuid, const uint8_t *handle, void *host,
                                 uint64_t bytes, const char *name, const char *why) {
  char who[GPUDF_NAME_MAX + 16];
  snprintf(who, sizeof who, "attach '%s'", name);
  gpudf_status st = GPUDF_OK;
  if (first == GPUDF_BACKEND_CUDA_IPC) {
    st = open_ipc(p, uuid, handle, name);
    if (st == GPUDF_OK) return st;
    if (forced) return refuse(first);
    fell_back(why, who, GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED);
    int dev = find_device(&p->dev, uuid); /* same device when visible, else the first */
    p->dev.ordinal = dev < 0 ? 0 : dev;
  }
  if (p->dev.ops->uuid(&p->dev, p->uuid) != GPUDF_OK) memset(p->uuid, 0, sizeof p->uuid);
  st = pin(p, host, bytes);
  if (st == GPUDF_OK) return st;
  if (forced) return refuse(first);
  fell_back(why, who, GPUDF_BACKEND_CUDA_PINNED, GPUDF_BACKEND_CPU);
  p->backend = GPUDF_BACKEND_CPU;
  return GPUDF_OK;
}

/* Forced: a failure is the caller's error. Auto: it is a fallback, tried in
 * a quiet scope. */
static gpudf_status attach_device(gdf_placement *p, gpudf_backend first, bool forced,
                                  const uint8_t *uuid, const uint8_t *handle, void *host,
                                  uint64_t bytes, const char *name) {
  char why[512] = "";
  gdf_quiet q;
  if (!forced) gdf_quiet_begin(&q, why, sizeof why);
  gpudf_status st = attach_steps(p, first, forced, uuid, handle, host, bytes, name, why);
  if (!forced) gdf_quiet_end(&q);
  return st;
}

gpudf_status gdf_place_attach(gpudf_backend desc, const uint8_t *uuid, const uint8_t *handle,
                              void *host, uint64_t bytes, const char *name,
                              gdf_placement **out) {
  *out = NULL;
  gpudf_backend wish = GPUDF_BACKEND_AUTO, first = GPUDF_BACKEND_CPU;
  GDF_TRY(attach_wish(&wish));
  GDF_TRY(attach_target(desc, wish, name, &first));
  if (first == GPUDF_BACKEND_CPU) return GPUDF_OK;
  bool forced = wish != GPUDF_BACKEND_AUTO;
  const char *why = "no CUDA device";
  gdf_device dev;
  if (!gdf_device_get(&dev, &why) || dev.ops->count(&dev, &why) <= 0) {
    if (forced)
      return GDF_ERR(GPUDF_ENODEV, "GPUDF_BACKEND=%s, but this process has no device: %s",
                     gpudf_backend_name(wish), why);
    gdf_log("attach '%s': share is %s but this process has no device (%s); using cpu", name,
            gpudf_backend_name(desc), why);
    return GPUDF_OK;
  }
  gdf_placement *p = placement_new(&dev);
  if (!p) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  p->bytes = bytes;
  gpudf_status st = attach_device(p, first, forced, uuid, handle, host, bytes, name);
  if (st != GPUDF_OK || p->backend == GPUDF_BACKEND_CPU) {
    free(p);
    return st;
  }
  *out = p;
  return GPUDF_OK;
}
