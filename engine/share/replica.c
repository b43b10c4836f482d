/*
 * replica.c - replicas added later: a process that sees a device the share
 * has no replica on (an MPI rank given one GPU by CUDA_VISIBLE_DEVICES) adds
 * one there from the shared host arena, so that one host copy per node
 * still gives one replica per GPU when no single process sees every GPU.
 *
 * The descriptor is immutable once published, so an added replica is
 * announced by a record of its own: a private segment
 * "gpudf-<uid>+r.<pid>.<start>.<seq>" holding the share's id, the device's
 * UUID and the IPC handle. Its name carries the adding process's identity,
 * so when that process exits or is killed (its device memory then goes with
 * its CUDA context) the record goes too: at exit, or by the next call that
 * tidies what dead processes left; an attacher also skips the records of
 * dead processes it meets first. Attachers read the records of their share
 * along with the descriptor's replicas (gdf_replica_records).
 */
#include "proc.h"
#include "segment.h"
#include "share.h"
#include "table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GDF_REPLICA_MAGIC UINT64_C(0x5045524644555047) /* "GPUDFREP" */

typedef struct gdf_replica_rec {
  uint64_t magic;
  uint64_t share_id;
  uint8_t uuid[GDF_UUID_BYTES];
  uint8_t handle[GDF_IPC_HANDLE_BYTES];
  uint32_t ready; /* set last */
  uint32_t reserved;
} gdf_replica_rec;

struct gpudf_replica {
  gpudf_table *view; /* keeps the host arena mapped while the replica lives */
  gdf_device dev;
  void *dbase;
  gdf_segment *rec;
  char uuid_text[48];
};

/* Reads one record file; true when it is a live, ready record of share_id. */
static bool read_record(int dfd, const char *file, uint64_t share_id, gdf_replica_rec *r) {
  char kind;
  int pid;
  uint64_t start;
  if (!gdf_parse_private_name(file, &kind, &pid, &start) || kind != 'r') return false;
  int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            (st.st_mode & 0077) == 0 && (uint64_t)st.st_size >= sizeof *r &&
            pread(fd, r, sizeof *r, 0) == (ssize_t)sizeof *r;
  close(fd);
  return ok && r->magic == GDF_REPLICA_MAGIC && r->ready == 1 && r->share_id == share_id &&
         memchr(r->handle, '\0', sizeof r->handle) != NULL && gdf_proc_alive(pid, start);
}

int gdf_replica_records(uint64_t share_id, gdf_replica *reps, int n, int max) {
  int dfd = -1;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0); /* a directory that cannot be listed adds nothing */
  gpudf_status st = gdf_shm_dirfd(&dfd);
  gdf_quiet_end(&q);
  if (st != GPUDF_OK) return n;
  int fd = dup(dfd);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  if (!dir) {
    if (fd >= 0) close(fd);
    return n;
  }
  rewinddir(dir); /* the dup shares the directory offset of earlier listings */
  char prefix[48];
  snprintf(prefix, sizeof prefix, "gpudf-%u+r.", (unsigned)geteuid());
  struct dirent *e;
  while (n < max && (e = readdir(dir)) != NULL) {
    gdf_replica_rec r;
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len >= sizeof reps[0].record ||
        !read_record(dfd, e->d_name, share_id, &r))
      continue;
    bool dup_uuid = false;
    for (int i = 0; i < n && !dup_uuid; i++)
      dup_uuid = memcmp(reps[i].uuid, r.uuid, GDF_UUID_BYTES) == 0;
    if (dup_uuid) continue;
    memset(&reps[n], 0, sizeof reps[n]);
    memcpy(reps[n].uuid, r.uuid, GDF_UUID_BYTES);
    memcpy(reps[n].handle, r.handle, GDF_IPC_HANDLE_BYTES);
    /* Who holds it: a view reading it checks that before each device call
     * (gdf_view_device_check). read_record parsed the name. */
    char kind;
    int pid = 0;
    uint64_t start = 0;
    (void)gdf_parse_private_name(e->d_name, &kind, &pid, &start);
    reps[n].holder_pid = pid;
    reps[n].holder_start = start;
    memcpy(reps[n].record, e->d_name, len + 1); /* fits: checked above */
    n++;
  }
  closedir(dir);
  return n;
}

/* The share's descriptor, validated: its id and the replicas it lists. */
static gpudf_status read_share(const char *name, gdf_desc_header *out) {
  int dfd = -1;
  char file[GDF_SEG_PATH_MAX];
  uint8_t *buf;
  uint64_t size;
  struct stat st;
  GDF_TRY(gdf_desc_read_share(name, &dfd, file, &buf, &size, &st));
  gpudf_status s = gdf_desc_validate(buf, size, name);
  if (s == GPUDF_OK) memcpy(out, buf, sizeof *out);
  free(buf);
  return s;
}

int gdf_share_devices(const char *name, char (*out)[48], int max) {
  gdf_desc_header h;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  gpudf_status st = read_share(name, &h);
  gdf_quiet_end(&q);
  if (st != GPUDF_OK || h.backend != GPUDF_BACKEND_CUDA_IPC) return 0;
  gdf_replica reps[GDF_DESC_REPLICAS_MAX];
  memset(reps, 0, sizeof reps);
  int n = (int)h.nreplicas;
  for (int i = 0; i < n; i++) memcpy(reps[i].uuid, h.replicas[i].device_uuid, GDF_UUID_BYTES);
  n = gdf_replica_records(h.share_id, reps, n, GDF_DESC_REPLICAS_MAX);
  int k = 0;
  for (int i = 0; i < n && k < max; i++) gdf_uuid_text(reps[i].uuid, out[k++], 48);
  return k;
}

static void replica_undo(gpudf_replica *r) {
  gdf_segment_destroy(r->rec);
  if (r->dbase) r->dev.ops->free(&r->dev, r->dbase);
  gpudf_table_free(r->view);
  free(r);
}

/* Allocates, uploads from the view's host arena, exports and announces. */
static gpudf_status replica_make(gpudf_replica *r, const gdf_desc_header *h,
                                 const uint8_t *uuid) {
  const gdf_device *d = &r->dev;
  uint64_t bytes = (uint64_t)gpudf_table_arena_bytes(r->view);
  uint64_t free_b = 0, total = 0;
  GDF_TRY(d->ops->mem_info(d, &free_b, &total));
  if (bytes > free_b)
    return GDF_ERR(GPUDF_ENOMEM, "the arena (%" PRIu64 " bytes) does not fit in the memory of "
                   "device %s (%" PRIu64 " of %" PRIu64 " bytes free), %" PRIu64 " bytes "
                   "missing", bytes, r->uuid_text, free_b, total, bytes - free_b);
  GDF_TRY(d->ops->alloc(d, bytes, &r->dbase));
  gdf_range_push("gpudf upload");
  gpudf_status st = d->ops->upload(d, r->dbase, r->view->base, bytes);
  gdf_range_pop();
  gdf_replica_rec rec = {0};
  if (st == GPUDF_OK) st = d->ops->ipc_get(d, r->dbase, rec.handle);
  if (st == GPUDF_OK) st = gdf_segment_create('r', &r->rec);
  if (st == GPUDF_OK) st = gdf_segment_resize(r->rec, sizeof rec);
  if (st != GPUDF_OK) return st;
  rec.magic = GDF_REPLICA_MAGIC;
  rec.share_id = h->share_id;
  memcpy(rec.uuid, uuid, GDF_UUID_BYTES);
  memcpy(r->rec->addr, &rec, sizeof rec);
  __atomic_store_n(&((gdf_replica_rec *)r->rec->addr)->ready, 1, __ATOMIC_RELEASE);
  return GPUDF_OK;
}

gpudf_status gpudf_share_add_replica(const char *name, gpudf_replica **out) {
  GDF_ENTER();
  if (!out) return GDF_ERR(GPUDF_EINVAL, "out is NULL");
  *out = NULL;
  GDF_TRY(gdf_check_share_name(name));
  gdf_desc_header h;
  GDF_TRY(read_share(name, &h));
  if (h.backend != GPUDF_BACKEND_CUDA_IPC)
    return GDF_ERR(GPUDF_EINVAL, "share '%s' is published as %s: only a cuda-ipc share has "
                   "device replicas", name, gpudf_backend_name((gpudf_backend)h.backend));
  const char *why = NULL;
  gdf_device dev;
  if (!gdf_device_get(&dev, &why) || dev.ops->count(&dev, &why) <= 0)
    return GDF_ERR(GPUDF_ENODEV, "no device: %s", why);
  gpudf_replica *r = calloc(1, sizeof *r);
  if (!r) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  r->dev = gdf_device_at(&dev, dev.ops->current(&dev));
  uint8_t uuid[GDF_UUID_BYTES];
  gpudf_status st = r->dev.ops->uuid(&r->dev, uuid);
  if (st != GPUDF_OK) {
    free(r);
    return st;
  }
  gdf_uuid_text(uuid, r->uuid_text, sizeof r->uuid_text);
  /* One replica per device: the descriptor's and those added before. */
  gdf_replica reps[GDF_REPLICAS_MAX];
  int n = (int)h.nreplicas;
  for (int i = 0; i < n; i++) {
    memcpy(reps[i].uuid, h.replicas[i].device_uuid, GDF_UUID_BYTES);
    memcpy(reps[i].handle, h.replicas[i].ipc_handle, GDF_IPC_HANDLE_BYTES);
  }
  n = gdf_replica_records(h.share_id, reps, n, GDF_REPLICAS_MAX);
  for (int i = 0; i < n; i++)
    if (memcmp(reps[i].uuid, uuid, GDF_UUID_BYTES) == 0) {
      st = GDF_ERR(GPUDF_EEXIST, "share '%s' already has a replica on device %s", name,
                   r->uuid_text);
      free(r);
      return st;
    }
  if (n == GDF_REPLICAS_MAX) {
    free(r);
    return GDF_ERR(GPUDF_ENOSPC, "share '%s' already has %d replicas, the most it can list",
                   name, GDF_REPLICAS_MAX);
  }
  st = gpudf_attach(name, &r->view); /* the shared host arena, mapped */
  if (st == GPUDF_OK) st = replica_make(r, &h, uuid);
  if (st != GPUDF_OK) {
    replica_undo(r);
    return st;
  }
  gdf_log("share '%s': replica added on device %s from the host arena", name, r->uuid_text);
  *out = r;
  return GPUDF_OK;
}

const char *gpudf_replica_device(const gpudf_replica *r) { return r ? r->uuid_text : NULL; }

void gpudf_replica_free(gpudf_replica *r) {
  if (r) replica_undo(r);
}
