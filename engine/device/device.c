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
#include "affinity.h"
#include "device.h"
#include "fault.h"
#include "proc.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static const char *uuid_text(const uint8_t *u, char *buf, size_t len) {
  return gdf_uuid_text(u, buf, len);
}

static gdf_placement *placement_new(const gdf_device *dev) {
  gdf_placement *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->refs = 1;
  p->dev = *dev;
  p->backend = GPUDF_BACKEND_CPU;
  p->access = GDF_ACCESS_HOST;
  return p;
}

/* Sets the device kernels run on, with its UUID and text. */
static void set_run_device(gdf_placement *p, const gdf_device *d, const uint8_t *uuid) {
  p->dev = *d;
  memcpy(p->uuid, uuid, GDF_UUID_BYTES);
  uuid_text(uuid, p->uuid_text, sizeof p->uuid_text);
}

gdf_placement *gdf_placement_ref(gdf_placement *p) {
  if (p) __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
  return p;
}

/* Frees the replicas an owner made, last first. */
static void free_replicas(gdf_placement *p) {
  while (p->nreplicas > 0) {
    gdf_replica *r = &p->replicas[--p->nreplicas];
    r->dev.ops->free(&r->dev, r->dbase);
  }
}

/* Undoes what place_ipc_owner, open_ipc or pin did, in reverse order. */
void gdf_placement_free(gdf_placement *p) {
  if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (p->backend == GPUDF_BACKEND_CUDA_IPC && p->owner)
    free_replicas(p);
  else if (p->backend == GPUDF_BACKEND_CUDA_IPC && p->dbase) {
    for (int i = p->nmore - 1; i >= 0; i--) p->more[i].dev.ops->ipc_close(&p->more[i].dev,
                                                                          p->more[i].dbase);
    p->dev.ops->ipc_close(&p->dev, p->dbase);
  }
  else if (p->backend == GPUDF_BACKEND_CUDA_PINNED && p->host)
    p->dev.ops->host_unregister(&p->dev, p->host);
  free(p);
}

/* ------------------------------------------------------------ placements */

/* Notes a device left out under "all" (the share reports it). */
static void skip(gdf_placement *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(gdf_placement *p, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  gdf_log("share: %s", line);
  size_t used = strlen(p->skipped);
  snprintf(p->skipped + used, sizeof p->skipped - used, "%s%s", used ? "; " : "", line);
}

/* Exports mem on d as the next replica. Nothing is left of mem on failure. */
static gpudf_status add_replica(gdf_placement *p, const gdf_device *d, const uint8_t *uuid,
                                void *mem) {
  gdf_replica *r = &p->replicas[p->nreplicas];
  gpudf_status st = d->ops->ipc_get(d, mem, r->handle);
  if (st != GPUDF_OK) {
    d->ops->free(d, mem);
    return st;
  }
  r->dev = *d;
  r->dbase = mem;
  memcpy(r->uuid, uuid, GDF_UUID_BYTES);
  p->nreplicas++;
  return GPUDF_OK;
}

static void log_fill(const gdf_device *d, const gdf_device *from, bool peer, const char *how) {
  gdf_log("share: replica on device %d filled from device %d (%s%s)", d->ordinal, from->ordinal,
          peer ? "peer copy" : "staged through pinned host memory", how);
}

/* A replica on d whose fill runs while the next ones start (a copy of the
 * first replica on a stream of d's own): its memory and the copy. */
typedef struct gdf_fill {
  gdf_device dev;
  uint8_t uuid[GDF_UUID_BYTES];
  int ordinal;
  void *mem;
  void *job;
} gdf_fill;

/* One replica on d: allocated, then filled from the host when it is the
 * first, else device to device from the first: started and left in *fill
 * when the device overlaps copies (*started true; finish_fill ends it),
 * else copied and exported here. Nothing is left of it on failure. */
static gpudf_status make_replica(gdf_placement *p, const gdf_device *d, const uint8_t *uuid,
                                 const uint8_t *host, uint64_t bytes, gdf_fill *fill,
                                 bool *started) {
  const gdf_device_ops *ops = d->ops;
  *started = false;
  void *mem = NULL;
  GDF_TRY(ops->alloc(d, bytes, &mem));
  gpudf_status st;
  const gdf_replica *first = &p->replicas[0];
  if (p->nreplicas == 0) {
    gdf_range_push("gpudf upload");
    st = ops->upload(d, mem, host, bytes);
    gdf_range_pop();
  } else if (ops->copy_start && ops->copy_wait) {
    gdf_range_push("gpudf replicate");
    st = ops->copy_start(d, mem, &first->dev, first->dbase, bytes, &fill->job);
    gdf_range_pop();
    if (st == GPUDF_OK) {
      fill->dev = *d;
      memcpy(fill->uuid, uuid, GDF_UUID_BYTES);
      fill->mem = mem;
      *started = true;
      return GPUDF_OK;
    }
  } else {
    bool peer = false;
    gdf_range_push("gpudf replicate");
    st = ops->copy_d2d(d, mem, &first->dev, first->dbase, bytes, &peer);
    gdf_range_pop();
    if (st == GPUDF_OK) log_fill(d, &first->dev, peer, "");
  }
  if (st != GPUDF_OK) {
    ops->free(d, mem);
    return st;
  }
  return add_replica(p, d, uuid, mem);
}

/* Waits for a started fill and exports it. Nothing is left of it on failure. */
static gpudf_status finish_fill(gdf_placement *p, gdf_fill *f) {
  const gdf_device *d = &f->dev;
  gpudf_status st = d->ops->copy_wait(d, f->job);
  if (st != GPUDF_OK) {
    d->ops->free(d, f->mem);
    return st;
  }
  log_fill(d, &p->replicas[0].dev, d->ops->can_access_peer(d, &p->replicas[0].dev) != 0,
           ", overlapped with the other fills");
  return add_replica(p, d, f->uuid, f->mem);
}

/* Fills that failed or were given up on: waited for and freed. */
static void drop_fills(gdf_fill *fills, int from, int n) {
  for (int i = from; i < n; i++) {
    gdf_quiet q;
    gdf_quiet_begin(&q, NULL, 0);
    (void)fills[i].dev.ops->copy_wait(&fills[i].dev, fills[i].job);
    gdf_quiet_end(&q);
    fills[i].dev.ops->free(&fills[i].dev, fills[i].mem);
  }
}

/* Owner: a replica on every chosen device from one host upload; the fills
 * of the others from the first start one after another and run together
 * (each on a stream of its own), then are waited for in order. */
static gpudf_status place_ipc_owner(gdf_placement *p, const uint8_t *host, uint64_t bytes,
                                    const gdf_devsel *sel) {
  static const gdf_devsel every = {.all = true};
  if (!sel) sel = &every;
  const bool strict = !sel->all; /* named devices must each hold a replica */
  int ords[GDF_REPLICAS_MAX], n = 0;
  GDF_TRY(gdf_devsel_resolve(sel, &p->dev, ords, &n));
  char u[48];
  uint64_t free_b = 0, total = 0;
  int fits = 0, nfill = 0;
  gdf_fill fills[GDF_REPLICAS_MAX];
  gpudf_status st = GPUDF_OK;
  for (int k = 0; k < n; k++) {
    gdf_device d = gdf_device_at(&p->dev, ords[k]);
    uint8_t uuid[GDF_UUID_BYTES];
    st = d.ops->uuid(&d, uuid);
    if (st == GPUDF_OK) st = d.ops->mem_info(&d, &free_b, &total);
    if (st != GPUDF_OK) {
      if (strict || n == 1) goto fail;
      skip(p, "device %d skipped: cannot query it", ords[k]);
      continue;
    }
    if (bytes > free_b) {
      if (strict || n == 1) {
        st = GDF_ERR(GPUDF_ENOMEM,
                     "the table's arena (%" PRIu64 " bytes) does not fit in the memory of device "
                     "%s (%" PRIu64 " of %" PRIu64 " bytes free), %" PRIu64 " bytes missing; "
                     "share it as cuda-pinned or cpu%s", bytes, uuid_text(uuid, u, sizeof u), free_b,
                     total, bytes - free_b, strict ? ", or name other devices" : "");
        goto fail;
      }
      skip(p, "device %s (ordinal %d) skipped: the arena needs %" PRIu64 " bytes, %" PRIu64
           " are free (%" PRIu64 " missing)", uuid_text(uuid, u, sizeof u), ords[k], bytes,
           free_b, bytes - free_b);
      continue;
    }
    fits++;
    bool started = false;
    fills[nfill].ordinal = ords[k];
    if (strict) {
      st = make_replica(p, &d, uuid, host, bytes, &fills[nfill], &started);
      if (st != GPUDF_OK) goto fail;
      nfill += started;
      continue;
    }
    /* Under "all" a failing replica is one device fewer, not a failed share. */
    char why[256] = "";
    gdf_quiet q;
    gdf_quiet_begin(&q, why, sizeof why);
    st = make_replica(p, &d, uuid, host, bytes, &fills[nfill], &started);
    gdf_quiet_end(&q);
    nfill += started;
    if (st != GPUDF_OK) {
      if (n == 1) { /* the only device: its failure is the placement's */
        st = GDF_ERR(st, "%s", why);
        goto fail;
      }
      skip(p, "device %s (ordinal %d) skipped: %s", uuid_text(uuid, u, sizeof u), ords[k],
           why);
    }
  }
  st = GPUDF_OK;
  for (int i = 0; i < nfill; i++) {
    if (strict) {
      st = finish_fill(p, &fills[i]);
      if (st != GPUDF_OK) {
        drop_fills(fills, i + 1, nfill);
        nfill = 0;
        goto fail;
      }
      continue;
    }
    char why[256] = "";
    gdf_quiet q;
    gdf_quiet_begin(&q, why, sizeof why);
    gpudf_status fs = finish_fill(p, &fills[i]);
    gdf_quiet_end(&q);
    if (fs != GPUDF_OK)
      skip(p, "device %s (ordinal %d) skipped: %s", uuid_text(fills[i].uuid, u, sizeof u),
           fills[i].ordinal, why);
  }
  nfill = 0;
  if (p->nreplicas == 0)
    return GDF_ERR(fits ? GPUDF_EIO : GPUDF_ENOMEM, "no device could hold the table's arena "
                   "(%" PRIu64 " bytes): %s; share it as cuda-pinned or cpu", bytes, p->skipped);
  set_run_device(p, &p->replicas[0].dev, p->replicas[0].uuid);
  p->dbase = p->replicas[0].dbase;
  p->bytes = bytes;
  p->owner = true;
  p->backend = GPUDF_BACKEND_CUDA_IPC;
  p->access = GDF_ACCESS_REPLICA;
  return GPUDF_OK;
fail:
  /* Fills still running read the first replica: they end before it goes. */
  drop_fills(fills, 0, nfill);
  free_replicas(p);
  return st;
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
  p->access = GDF_ACCESS_PINNED;
  return GPUDF_OK;
}

/* Owner, cuda-pinned: the devices of sel (NULL: every visible one) that
 * kernels may run on over the registration; at least dev. A device that
 * cannot be queried is left out (it is a speed question: the registration
 * itself is done). */
static void pinned_devices(gdf_placement *p, const gdf_devsel *sel) {
  static const gdf_devsel every = {.all = true};
  int ords[GDF_REPLICAS_MAX], n = 0;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  if (gdf_devsel_resolve(sel ? sel : &every, &p->dev, ords, &n) != GPUDF_OK) n = 0;
  p->pinned[0] = p->dev;
  memcpy(p->pinned_uuid[0], p->uuid, GDF_UUID_BYTES);
  p->npinned = 1;
  for (int k = 0; k < n && p->npinned < GDF_REPLICAS_MAX; k++) {
    if (ords[k] == p->dev.ordinal) continue;
    gdf_device d = gdf_device_at(&p->dev, ords[k]);
    if (d.ops->uuid(&d, p->pinned_uuid[p->npinned]) != GPUDF_OK) continue;
    p->pinned[p->npinned++] = d;
  }
  gdf_quiet_end(&q);
}

int gdf_placement_devices(const gdf_placement *p, char (*out)[48], int max) {
  int n = 0;
  if (p && p->owner && p->backend == GPUDF_BACKEND_CUDA_IPC)
    for (int i = 0; i < p->nreplicas && n < max; i++)
      gdf_uuid_text(p->replicas[i].uuid, out[n++], 48);
  else if (p && p->backend == GPUDF_BACKEND_CUDA_PINNED)
    for (int i = 0; i < p->npinned && n < max; i++)
      gdf_uuid_text(p->pinned_uuid[i], out[n++], 48);
  return n;
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
                             const gdf_devsel *devices, gdf_placement **out) {
  *out = NULL;
  if (backend == GPUDF_BACKEND_CPU) return GPUDF_OK;
  const char *why = NULL;
  gdf_device dev;
  if (!gdf_device_get(&dev, &why)) return GDF_ERR(GPUDF_ENODEV, "no device: %s", why);
  /* Devices named explicitly must be honoured: a failure is an error even
   * under auto. cuda-pinned registers with the first one named. */
  if (devices && !devices->all) {
    forced = true;
    int ords[GDF_REPLICAS_MAX], n = 0;
    GDF_TRY(gdf_devsel_resolve(devices, &dev, ords, &n));
    dev.ordinal = ords[0];
  }
  gdf_placement *p = placement_new(&dev);
  if (!p) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  /* Forced: a failure is the caller's error. Auto: it is a fallback. */
  char failed[512] = "";
  gdf_quiet q = {0};
  if (!forced) gdf_quiet_begin(&q, failed, sizeof failed);
  gpudf_status st = dev.ops->uuid(&p->dev, p->uuid);
  if (st == GPUDF_OK) set_run_device(p, &p->dev, p->uuid);
  if (st == GPUDF_OK && backend == GPUDF_BACKEND_CUDA_IPC) {
    st = place_ipc_owner(p, base, bytes, devices);
    if (st == GPUDF_OK || forced) goto done;
    fell_back(failed, "share", backend, GPUDF_BACKEND_CUDA_PINNED);
    backend = GPUDF_BACKEND_CUDA_PINNED;
    st = GPUDF_OK;
  }
  if (st == GPUDF_OK && backend == GPUDF_BACKEND_CUDA_PINNED) {
    st = pin(p, base, bytes);
    if (st == GPUDF_OK) pinned_devices(p, devices);
  }
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

/* Attacher: devices are matched by UUID, never by ordinal, because
 * CUDA_VISIBLE_DEVICES may order devices differently in every process. The
 * replica on the current device is read there; without one, a replica on a
 * device the current one reaches as a peer (its handle opened on the current
 * device, reads crossing the interconnect). */
static gpudf_status open_ipc(gdf_placement *p, const gdf_replica *reps, int nrep,
                             const char *name) {
  char u[48], cu[48];
  gdf_device cur = gdf_device_at(&p->dev, p->dev.ops->current(&p->dev));
  gdf_trace_mark("current_device");
  uint8_t cur_uuid[GDF_UUID_BYTES];
  GDF_TRY(cur.ops->uuid(&cur, cur_uuid));
  gdf_trace_mark("device_uuid");
  const gdf_replica *pick = NULL;
  for (int i = 0; i < nrep && !pick; i++)
    if (memcmp(reps[i].uuid, cur_uuid, GDF_UUID_BYTES) == 0) pick = &reps[i];
  gdf_access access = GDF_ACCESS_REPLICA;
  if (!pick) {
    for (int i = 0; i < nrep && !pick; i++) {
      int ord = find_device(&p->dev, reps[i].uuid);
      gdf_device peer = gdf_device_at(&p->dev, ord);
      if (ord >= 0 && cur.ops->can_access_peer(&cur, &peer)) pick = &reps[i];
    }
    if (!pick)
      return GDF_ERR(GPUDF_ENODEV, "share '%s' has no replica on this process's device %s, "
                     "and its %d replica(s) (the first on %s) are on devices which this "
                     "process does not see or cannot reach as peers (check "
                     "CUDA_VISIBLE_DEVICES)", name, uuid_text(cur_uuid, cu, sizeof cu), nrep,
                     uuid_text(reps[0].uuid, u, sizeof u));
    gdf_log("attach '%s': no replica on device %s; reading the one on %s as a peer", name,
            uuid_text(cur_uuid, cu, sizeof cu), uuid_text(pick->uuid, u, sizeof u));
    access = GDF_ACCESS_PEER;
  }
  set_run_device(p, &cur, cur_uuid);
  gdf_trace_mark("pick_replica");
  void *d = NULL;
  GDF_TRY(p->dev.ops->ipc_open(&p->dev, pick->handle, &d));
  gdf_trace_mark("ipc_open");
  p->dbase = d;
  p->src = *pick;
  p->src.dev = p->dev;
  p->src.dbase = d;
  p->backend = GPUDF_BACKEND_CUDA_IPC;
  p->access = access;
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
                                 const gdf_replica *reps, int nrep, void *host,
                                 uint64_t bytes, const char *name, const char *why) {
  char who[GPUDF_NAME_MAX + 16];
  snprintf(who, sizeof who, "attach '%s'", name);
  gpudf_status st = GPUDF_OK;
  if (first == GPUDF_BACKEND_CUDA_IPC) {
    st = open_ipc(p, reps, nrep, name);
    if (st == GPUDF_OK) return st;
    if (forced) return refuse(first);
    fell_back(why, who, GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED);
  }
  /* Pinned on the current device: the host arena, registered there. */
  p->dev.ordinal = p->dev.ops->current(&p->dev);
  uint8_t uuid[GDF_UUID_BYTES] = {0};
  (void)p->dev.ops->uuid(&p->dev, uuid);
  set_run_device(p, &p->dev, uuid);
  st = pin(p, host, bytes);
  gdf_trace_mark("pin_register");
  if (st == GPUDF_OK) return st;
  if (forced) return refuse(first);
  fell_back(why, who, GPUDF_BACKEND_CUDA_PINNED, GPUDF_BACKEND_CPU);
  p->backend = GPUDF_BACKEND_CPU;
  return GPUDF_OK;
}

/* Forced: a failure is the caller's error. Auto: it is a fallback, tried in
 * a quiet scope. */
static gpudf_status attach_device(gdf_placement *p, gpudf_backend first, bool forced,
                                  const gdf_replica *reps, int nrep, void *host,
                                  uint64_t bytes, const char *name) {
  char why[512] = "";
  gdf_quiet q;
  if (!forced) gdf_quiet_begin(&q, why, sizeof why);
  gpudf_status st = attach_steps(p, first, forced, reps, nrep, host, bytes, name, why);
  if (!forced) gdf_quiet_end(&q);
  return st;
}

gpudf_status gdf_place_attach(gpudf_backend desc, const gdf_replica *reps, int nrep,
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
  bool have = gdf_device_get(&dev, &why) && dev.ops->count(&dev, &why) > 0;
  gdf_trace_mark("device_probe");
  if (!have) {
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
  gpudf_status st = attach_device(p, first, forced, reps, nrep, host, bytes, name);
  if (st != GPUDF_OK || p->backend == GPUDF_BACKEND_CPU) {
    free(p);
    return st;
  }
  *out = p;
  return GPUDF_OK;
}

/* A worker bound to a GPU runs on the CPUs local to it, where the platform
 * says which (affinity.h); a speed hint, so nothing here fails the bind. */
static void follow_device_cpus(const gdf_device *d) {
  char bus[64] = "", did[256] = "";
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  gpudf_status st = d->ops->pci_bus_id ? d->ops->pci_bus_id(d, bus, sizeof bus) : GPUDF_ENODEV;
  gdf_quiet_end(&q);
  if (st != GPUDF_OK) {
    gdf_log("device %d: no PCI bus id; CPU affinity left as it is", d->ordinal);
    return;
  }
  if (gdf_affinity_follow_pci(bus, did, sizeof did)) {
    gdf_log("device %d (%s): this worker runs on CPUs %s", d->ordinal, bus, did);
    gdf_sim_trace("affinity dev=%d cpus=%s", d->ordinal, did);
  } else {
    gdf_log("device %d (%s): CPU affinity left as it is: %s", d->ordinal, bus, did);
  }
}

gpudf_status gdf_device_bind_uuid(const char *text) {
  uint8_t uuid[GDF_UUID_BYTES];
  if (!text || !gdf_uuid_parse(text, strlen(text), uuid))
    return GDF_ERR(GPUDF_EINVAL, "'%s' is not a device UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-"
                   "xxxxxxxxxxxx)", text ? text : "(null)");
  const char *why = NULL;
  gdf_device dev;
  if (!gdf_device_get(&dev, &why)) return GDF_ERR(GPUDF_ENODEV, "no device: %s", why);
  int ord = find_device(&dev, uuid);
  if (ord < 0)
    return GDF_ERR(GPUDF_ENODEV, "device %s, which this worker was bound to, is not visible "
                   "in this process (check CUDA_VISIBLE_DEVICES)", text);
  gdf_device d = gdf_device_at(&dev, ord);
  GDF_TRY(d.ops->bind(&d));
  follow_device_cpus(&d);
  return GPUDF_OK;
}

/* ------------------------------------------- replicas added by others */

bool gdf_replica_gone(const gdf_replica *r, bool *freed) {
  *freed = false;
  if (!r || r->holder_pid == 0) return false;
  if (!gdf_proc_alive(r->holder_pid, r->holder_start)) return true;
  /* The holder removes the record before it frees the memory
   * (gpudf_replica_free), so a missing record means the memory is going or
   * gone. A directory that cannot be read says nothing either way. */
  int dfd = -1;
  struct stat st;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  gpudf_status s = gdf_shm_dirfd(&dfd);
  gdf_quiet_end(&q);
  if (s != GPUDF_OK) return false;
  *freed = fstatat(dfd, r->record, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
  return *freed;
}

const gdf_replica *gdf_placement_read(const gdf_placement *p, const gdf_device **dev,
                                      const uint8_t **dbase) {
  *dev = &p->dev;
  *dbase = p->dbase;
  if (p->backend == GPUDF_BACKEND_CUDA_PINNED) {
    /* A pinned registration is portable: a thread bound to another of its
     * devices runs there over the same address. */
    if (p->npinned > 1) {
      int cur = p->dev.ops->current(&p->dev);
      for (int i = 1; i < p->npinned; i++)
        if (p->pinned[i].ordinal == cur) *dev = &p->pinned[i];
    }
    return NULL;
  }
  if (p->owner) {
    /* An owner with several replicas runs on the one of the calling
     * thread's current device, when there is one (else on the first). */
    const gdf_replica *r = &p->replicas[0];
    if (p->nreplicas > 1) {
      int cur = p->dev.ops->current(&p->dev);
      for (int i = 0; i < p->nreplicas; i++)
        if (p->replicas[i].dev.ordinal == cur) r = &p->replicas[i];
    }
    *dev = &r->dev;
    *dbase = r->dbase;
    return r;
  }
  int nmore = __atomic_load_n(&p->nmore, __ATOMIC_ACQUIRE);
  if (nmore > 0) {
    int cur = p->dev.ops->current(&p->dev);
    for (int i = 0; i < nmore; i++)
      if (p->more[i].dev.ordinal == cur) {
        *dev = &p->more[i].dev;
        *dbase = p->more[i].dbase;
        return &p->more[i];
      }
  }
  return &p->src;
}

/* Serialises gdf_placement_open_more (two sweeps over views of one share). */
static pthread_mutex_t more_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens replica r on device ord of p's implementation as p's next extra
 * replica. Called with more_lock held. */
static void open_more(gdf_placement *p, const gdf_replica *r, int ord) {
  char u[48];
  gdf_uuid_text(r->uuid, u, sizeof u);
  gdf_device d = gdf_device_at(&p->dev, ord);
  void *mem = NULL;
  char why[256] = "";
  gdf_quiet q;
  gdf_quiet_begin(&q, why, sizeof why);
  gpudf_status st = d.ops->ipc_open(&d, r->handle, &mem);
  gdf_quiet_end(&q);
  if (st != GPUDF_OK) {
    gdf_log("attach: the replica on device %s not opened there (%s); no thread runs on it", u,
            why);
    return;
  }
  gdf_replica *m = &p->more[p->nmore];
  *m = *r;
  m->dev = d;
  m->dbase = mem;
  __atomic_store_n(&p->nmore, p->nmore + 1, __ATOMIC_RELEASE);
  gdf_log("attach: the replica on device %s opened there for a thread of this process", u);
}

/* Whether p can run on device ord with a replica of that device's own
 * (uuid): its own replica, or one opened before; *stale when that one's
 * holder has let it go. Called with more_lock held. */
static bool has_replica_on(const gdf_placement *p, int ord, const uint8_t *uuid, bool *stale) {
  bool freed;
  *stale = false;
  if (p->access == GDF_ACCESS_REPLICA && p->dev.ordinal == ord) {
    *stale = gdf_replica_gone(&p->src, &freed);
    return true;
  }
  for (int i = 0; i < p->nmore; i++)
    if (memcmp(p->more[i].uuid, uuid, GDF_UUID_BYTES) == 0) {
      *stale = gdf_replica_gone(&p->more[i], &freed);
      return true;
    }
  return false;
}

int gdf_placement_open_more(gdf_placement *p, const gdf_replica *reps, int nrep,
                            char (*out)[48], int max) {
  if (!p || p->owner || p->backend != GPUDF_BACKEND_CUDA_IPC) return 0;
  int n = 0;
  pthread_mutex_lock(&more_lock);
  /* Its own replica first: the thread on the device the view reads. */
  bool freed;
  if (p->access == GDF_ACCESS_REPLICA && !gdf_replica_gone(&p->src, &freed) && n < max)
    gdf_uuid_text(p->src.uuid, out[n++], 48);
  for (int i = 0; i < nrep && n < max; i++) {
    int ord = find_device(&p->dev, reps[i].uuid);
    bool stale = false;
    if (ord < 0) continue; /* a device this process does not see */
    if (has_replica_on(p, ord, reps[i].uuid, &stale)) {
      bool own = p->access == GDF_ACCESS_REPLICA && p->dev.ordinal == ord;
      if (!stale && !own) gdf_uuid_text(reps[i].uuid, out[n++], 48);
      continue;
    }
    if (p->nmore == GDF_REPLICAS_MAX) break;
    int before = p->nmore;
    open_more(p, &reps[i], ord);
    if (p->nmore > before) gdf_uuid_text(reps[i].uuid, out[n++], 48);
  }
  pthread_mutex_unlock(&more_lock);
  return n;
}
