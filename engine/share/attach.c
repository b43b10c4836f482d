/* attach.c - gpudf_attach: map a published share's arena read-only into a
 * view, with a cache of mappings shared by every view of one share in this
 * process and kept idle for the next attach. */
#include "cleanup.h"
#include "proc.h"
#include "segment.h"
#include "share.h"
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A mapping of one share's arena, reused by every attach of it in this
 * process. */
struct gdf_attachment {
  struct gdf_attachment *next;
  int refs;
  uint64_t share_id;
  uint8_t *base;
  uint64_t size;
  gdf_placement *place; /* device placement, NULL on cpu; closed with the last view */
  /* The files it came from, checked before an idle mapping is used again
   * or kept: the arena, and the descriptor of its latest attach (closing a
   * share removes its descriptor; the arena may live on with the table). */
  dev_t dev, desc_dev;
  ino_t ino, desc_ino;
  char arena_name[sizeof(((gdf_desc_header *)0)->arena_name)];
  char desc_name[GDF_SEG_PATH_MAX];
};

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gdf_attachment *attachments;
/* Idle mappings: cpu attachments whose last view was freed, most recent
 * first, kept mapped for the next attach of the same share. A Pool task
 * that attaches per config would otherwise map the arena, fault in every
 * page it reads (a 600 MB table: tens of thousands of faults) and tear the
 * page tables down again, per task. One goes when its share is closed
 * (checked by every share, attach, sweep and gpudf_cleanup in this process
 * (gdf_attach_drop_closed), and at once when this process closes it), when more than GDF_IDLE_MAX are idle, by
 * gpudf_unmap_idle, or at exit. Device attachments are never kept: their
 * IPC handles and registrations close with the last view, as before. */
enum { GDF_IDLE_MAX = 4 };
static struct gdf_attachment *idle;
static int nidle;
static int drop_idle(bool (*match)(const struct gdf_attachment *, const void *),
                     const void *arg);
static bool share_gone(const struct gdf_attachment *a, const void *dfd);

/* A fork while another thread holds attach_lock would leave the child with
 * a lock nobody releases: every attach there would hang. The fork waits for
 * the lock instead, and both sides release it. */
static void attach_fork_prepare(void) { pthread_mutex_lock(&attach_lock); }
static void attach_fork_release(void) { pthread_mutex_unlock(&attach_lock); }
__attribute__((constructor)) static void attach_fork_register(void) {
  pthread_atfork(attach_fork_prepare, attach_fork_release, attach_fork_release);
}

/* The replicas of the descriptor's share into reps (GDF_DESC_REPLICAS_MAX
 * entries): those it lists, then those added later by other processes and
 * still held (engine/share/replica.c). Returns how many. */
static int share_replicas(const gdf_desc_header *h, gdf_replica *reps) {
  memset(reps, 0, sizeof(gdf_replica) * GDF_DESC_REPLICAS_MAX);
  for (uint32_t i = 0; i < h->nreplicas; i++) { /* <= GDF_DESC_REPLICAS_MAX, validated */
    memcpy(reps[i].uuid, h->replicas[i].device_uuid, GDF_UUID_BYTES);
    memcpy(reps[i].handle, h->replicas[i].ipc_handle, GDF_IPC_HANDLE_BYTES);
  }
  int nrep = (int)h->nreplicas;
  if (h->backend == GPUDF_BACKEND_CUDA_IPC)
    nrep = gdf_replica_records(h->share_id, reps, nrep, GDF_DESC_REPLICAS_MAX);
  return nrep;
}

/* The device placement of a new attachment: the owner's own device copy
 * when this process published the share as cuda-ipc (CUDA cannot open its
 * own handle; the copy lives until its last user goes), else what the
 * descriptor offers and this process can use (engine/device.c decides and
 * logs the fallbacks). A cuda-pinned owner's placement is its registration
 * of the owner's own mapping, which goes with the owner's table: a view
 * registers its own mapping instead, so it outlives the owner's table. */
static gpudf_status place_attachment(struct gdf_attachment *a, const gdf_desc_header *h,
                                     const char *name) {
  if (h->owner_pid == gdf_self_pid()) {
    a->place = gdf_share_own_placement(h->share_id);
    if (a->place) return GPUDF_OK;
  }
  gdf_replica reps[GDF_DESC_REPLICAS_MAX];
  int nrep = share_replicas(h, reps);
  gdf_trace_mark("replica_records");
  gdf_range_push("gpudf attach");
  gpudf_status st = gdf_place_attach((gpudf_backend)h->backend, reps, nrep,
                                     a->base, a->size, name, &a->place);
  gdf_range_pop();
  return st;
}

/* Whether file name in the shm directory is gone or another file now. */
static bool file_changed(int dfd, const char *name, dev_t dev, ino_t ino) {
  struct stat st;
  return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != dev ||
         st.st_ino != ino;
}

static void unmap_attachment(struct gdf_attachment *a) {
  if (!a) return;
  gdf_placement_free(a->place); /* before the unmap: it may be registered */
  munmap(a->base, a->size);
  free(a);
}

/* Takes the idle mapping of the descriptor's share off the idle list, or
 * gives NULL. Called with attach_lock held. */
static struct gdf_attachment *take_idle(const gdf_desc_header *h) {
  for (struct gdf_attachment **p = &idle; *p; p = &(*p)->next)
    if ((*p)->share_id == h->share_id && (*p)->size == h->arena_size) {
      struct gdf_attachment *a = *p;
      *p = a->next;
      nidle--;
      return a;
    }
  return NULL;
}

/* Takes the least recently used idle mapping off the list. Called with
 * attach_lock held and at least one idle. */
static struct gdf_attachment *pop_oldest_idle(void) {
  struct gdf_attachment **p = &idle;
  while ((*p)->next) p = &(*p)->next;
  struct gdf_attachment *a = *p;
  *p = NULL;
  nidle--;
  return a;
}

static void set_desc(struct gdf_attachment *a, const char *file, const struct stat *desc) {
  snprintf(a->desc_name, sizeof a->desc_name, "%s", file);
  a->desc_dev = desc->st_dev;
  a->desc_ino = desc->st_ino;
}

/* Whether attachment a maps share id (size bytes) and can serve another
 * view: not when the replica it opened was added by another process that
 * has let it go since (a new attach then follows the attach order again,
 * while the views that hold a keep it). */
static bool reusable(const struct gdf_attachment *a, uint64_t id, uint64_t size) {
  bool freed;
  return a->share_id == id && a->size == size &&
         !(a->place && !a->place->owner && gdf_replica_gone(&a->place->src, &freed));
}

/* Links a new or revived attachment a, unless another thread linked one of
 * the same share meanwhile: that one then takes the reference and a is
 * unmapped, so that a share has one mapping per process. */
static struct gdf_attachment *adopt(struct gdf_attachment *a, const char *file,
                                    const struct stat *desc) {
  struct gdf_attachment *use = a;
  pthread_mutex_lock(&attach_lock);
  for (struct gdf_attachment *b = attachments; b && use == a; b = b->next)
    if (b != a && reusable(b, a->share_id, a->size)) {
      b->refs++;
      use = b;
    }
  if (use == a) {
    a->next = attachments;
    attachments = a;
  }
  set_desc(use, file, desc);
  pthread_mutex_unlock(&attach_lock);
  if (use != a) unmap_attachment(a);
  return use;
}

/* Finds or makes the mapping of the arena the descriptor names. */
static gpudf_status map_arena(int dfd, const gdf_desc_header *h, const char *name,
                              const char *file, const struct stat *desc,
                              struct gdf_attachment **out) {
  pthread_mutex_lock(&attach_lock);
  for (struct gdf_attachment *a = attachments; a; a = a->next)
    if (reusable(a, h->share_id, h->arena_size)) {
      a->refs++;
      set_desc(a, file, desc);
      pthread_mutex_unlock(&attach_lock);
      *out = a;
      return GPUDF_OK;
    }
  struct gdf_attachment *kept = take_idle(h);
  pthread_mutex_unlock(&attach_lock);
  if (kept) {
    if (strcmp(kept->arena_name, h->arena_name) == 0 &&
        !file_changed(dfd, h->arena_name, kept->dev, kept->ino)) {
      kept->refs = 1;
      *out = adopt(kept, file, desc);
      return GPUDF_OK;
    }
    unmap_attachment(kept); /* not the arena it mapped: a stale one */
  }

  int fd = openat(dfd, h->arena_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return GDF_ERR(GPUDF_ENOENT, "share '%s' was closed while attaching (its arena %s "
                     "is gone)", name, h->arena_name);
    return GDF_ERR(gdf_status_from_errno(err), "cannot open the arena of share '%s' (%s): %s",
                   name, h->arena_name, strerror(err));
  }
  struct stat st;
  gpudf_status status = GPUDF_OK;
  if (fstat(fd, &st) != 0)
    status = GDF_ERR(GPUDF_EIO, "fstat(%s): %s", h->arena_name, strerror(errno));
  else if (st.st_uid != geteuid())
    status = GDF_ERR(GPUDF_EPERM, "arena of share '%s' belongs to uid %u, not to uid %u", name,
                     (unsigned)st.st_uid, (unsigned)geteuid());
  else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != h->arena_size)
    status = GDF_ERR(GPUDF_EBADMSG, "arena of share '%s' is %lld bytes; its descriptor says "
                     "%" PRIu64, name, (long long)st.st_size, h->arena_size);
  struct gdf_attachment *a = NULL;
  if (status == GPUDF_OK) {
    a = calloc(1, sizeof *a);
    if (!a) status = GDF_ERR(GPUDF_ENOMEM, "out of memory");
  }
  if (status == GPUDF_OK) {
    void *base = mmap(NULL, h->arena_size, PROT_READ, MAP_SHARED, fd, 0);
    gdf_trace_mark("map_host_arena");
    if (base == MAP_FAILED) {
      status = GDF_ERR(gdf_status_from_errno(errno), "cannot map share '%s' (%" PRIu64
                       " bytes): %s", name, h->arena_size, strerror(errno));
      free(a);
    } else {
      a->base = base;
      a->size = h->arena_size;
      a->share_id = h->share_id;
      a->refs = 1;
      a->dev = st.st_dev;
      a->ino = st.st_ino;
      snprintf(a->arena_name, sizeof a->arena_name, "%s", h->arena_name);
      status = place_attachment(a, h, name);
    }
    if (status != GPUDF_OK && base != MAP_FAILED) {
      munmap(base, h->arena_size);
      free(a);
    } else if (status == GPUDF_OK) {
      *out = adopt(a, file, desc);
    }
  }
  close(fd);
  return status;
}

/* Whether the arena a view maps was removed: the owner freed the table, or
 * died and was swept (the table's withdrawn hook, set by make_view). */
static bool attachment_withdrawn(const void *hold) {
  const struct gdf_attachment *a = hold;
  int dfd = -1;
  return a && gdf_shm_dirfd(&dfd) == GPUDF_OK && file_changed(dfd, a->arena_name, a->dev, a->ino);
}

/* Drops a view's hold on its mapping (the table's let_go hook, set by
 * make_view): the last one unmaps it, or keeps it idle. */
static void attachment_release(void *hold) {
  struct gdf_attachment *a = hold;
  if (!a) return;
  pthread_mutex_lock(&attach_lock);
  bool last = --a->refs == 0;
  if (last)
    for (struct gdf_attachment **p = &attachments; *p; p = &(*p)->next)
      if (*p == a) {
        *p = a->next;
        break;
      }
  pthread_mutex_unlock(&attach_lock);
  if (!last) return;
  /* Kept idle only while its share is still published. */
  int dfd = -1;
  if (a->place || gdf_shm_dirfd(&dfd) != GPUDF_OK || share_gone(a, &dfd)) {
    unmap_attachment(a);
    return;
  }
  struct gdf_attachment *drop = NULL;
  pthread_mutex_lock(&attach_lock);
  for (struct gdf_attachment *b = idle; b && !drop; b = b->next)
    if (b->share_id == a->share_id) drop = a; /* one idle mapping per share */
  if (!drop) {
    a->next = idle;
    idle = a;
    if (++nidle > GDF_IDLE_MAX) drop = pop_oldest_idle();
  }
  pthread_mutex_unlock(&attach_lock);
  unmap_attachment(drop);
}

/* Unmaps the idle mappings that match (all of them for NULL) and returns
 * how many. Called with attach_lock not held. */
static int drop_idle(bool (*match)(const struct gdf_attachment *, const void *),
                     const void *arg) {
  struct gdf_attachment *gone = NULL;
  pthread_mutex_lock(&attach_lock);
  for (struct gdf_attachment **p = &idle; *p;) {
    struct gdf_attachment *a = *p;
    if (match && !match(a, arg)) {
      p = &a->next;
      continue;
    }
    *p = a->next;
    nidle--;
    a->next = gone;
    gone = a;
  }
  pthread_mutex_unlock(&attach_lock);
  int n = 0;
  for (struct gdf_attachment *a = gone, *next; a; a = next, n++) {
    next = a->next;
    unmap_attachment(a);
  }
  return n;
}

static bool same_share(const struct gdf_attachment *a, const void *id) {
  return a->share_id == *(const uint64_t *)id;
}

void gdf_attach_forget(uint64_t share_id) { drop_idle(same_share, &share_id); }

/* An attachment whose share was closed (its descriptor is gone), or whose
 * arena was removed (the owner freed the table or died and was swept). */
static bool share_gone(const struct gdf_attachment *a, const void *dfd) {
  int d = *(const int *)dfd;
  return file_changed(d, a->desc_name, a->desc_dev, a->desc_ino) ||
         file_changed(d, a->arena_name, a->dev, a->ino);
}

void gdf_attach_drop_closed(int dfd) {
  int unmapped = drop_idle(share_gone, &dfd);
  if (unmapped) gdf_log("unmapped %d idle attachment(s) of closed shares", unmapped);
}

int gpudf_unmap_idle(void) {
  int n = drop_idle(NULL, NULL);
  if (n) gdf_log("unmapped %d idle attachment(s)", n);
  return n;
}

/* The descriptor's owner is dead: say so and remove what it left. */
static gpudf_status owner_dead(int dfd, const char *file, const struct stat *st,
                               const gdf_desc_header *h, const char *name) {
  gdf_tomb_bury(dfd, file, st, h); /* its arena goes in the cleanup that follows */
  return GDF_ERR(GPUDF_EOWNERDEAD, "share '%s' was published by process %d, which is no "
                 "longer running; its segments have been removed", name, h->owner_pid);
}

static gpudf_status make_view(const gdf_desc_header *h, struct gdf_attachment *a,
                              gpudf_table **view) {
  gpudf_table *v = calloc(1, sizeof *v);
  gdf_column *cols = calloc(h->ncols, sizeof *cols);
  if (!v || !cols) {
    free(v);
    free(cols);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  }
  const gdf_desc_column *dc = (const gdf_desc_column *)(h + 1);
  for (uint32_t i = 0; i < h->ncols; i++) {
    memcpy(cols[i].name, dc[i].name, sizeof cols[i].name);
    cols[i].type = (gpudf_type)dc[i].type;
    cols[i].offset = dc[i].offset;
    cols[i].nlabels = (int32_t)dc[i].nlabels; /* <= GPUDF_LABELS_MAX, validated */
    cols[i].dict_offset = dc[i].dict_offset;
    cols[i].dict_size = dc[i].dict_size;
  }
  v->refs = 1;
  v->is_view = true;
  v->nrows = h->nrows;
  v->ncols = v->cap_cols = (int)h->ncols;
  v->cols = cols;
  v->base = a->base;
  v->arena_bytes = a->size;
  v->hold = a;
  v->let_go = attachment_release;
  v->withdrawn = attachment_withdrawn;
  v->place = a->place;
  snprintf(v->view_share, sizeof v->view_share, "%s", h->share_name);
  v->view_backend = (gpudf_backend)h->backend;
  v->view_owner_pid = h->owner_pid;
  v->view_owner_start = h->owner_start;
  *view = v;
  return GPUDF_OK;
}

static gpudf_status attach(const char *name, gpudf_table **view);

/* The attach, timed phase by phase under GPUDF_ATTACH_TRACE=1 (one line on
 * stderr; the phases are marked in attach, map_arena, device.c and the CUDA
 * device). */
gpudf_status gpudf_attach(const char *name, gpudf_table **view) {
  GDF_ENTER();
  gdf_trace_begin(gdf_attach_trace_enabled());
  gpudf_status st = attach(name, view);
  gdf_trace_end("attach", name ? name : "(null)", (int)st);
  return st;
}

static gpudf_status attach(const char *name, gpudf_table **view) {
  if (!view) return GDF_ERR(GPUDF_EINVAL, "view is NULL");
  *view = NULL;
  GDF_TRY(gdf_check_share_name(name));
  int dfd = -1;
  char file[GDF_SEG_PATH_MAX];
  uint8_t *buf;
  uint64_t size;
  struct stat st;
  gpudf_status status = gdf_desc_read_share(name, &dfd, file, &buf, &size, &st);
  gdf_trace_mark("read_descriptor");
  if (status != GPUDF_OK && dfd < 0) return status; /* no shm directory */
  if (status != GPUDF_OK) {
    status = gdf_tomb_says(dfd, name, status);
    gdf_tidy_quietly();
    return status;
  }
  status = gdf_desc_validate(buf, size, name);
  gdf_trace_mark("validate_descriptor");
  const gdf_desc_header *h = (const gdf_desc_header *)buf;
  if (status == GPUDF_OK && h->owner_uid != (uint32_t)geteuid())
    status = GDF_ERR(GPUDF_EPERM, "share '%s' was published by uid %u", name, h->owner_uid);
  if (status == GPUDF_OK && !gdf_proc_alive(h->owner_pid, h->owner_start))
    status = owner_dead(dfd, file, &st, h, name);
  gdf_trace_mark("owner_alive");
  struct gdf_attachment *a = NULL;
  if (status == GPUDF_OK) {
    status = map_arena(dfd, h, name, file, &st, &a);
    /* The owner died after it was judged alive, and a sweep took its arena. */
    if (status == GPUDF_ENOENT && !gdf_proc_alive(h->owner_pid, h->owner_start))
      status = owner_dead(dfd, file, &st, h, name);
  }
  gdf_trace_mark("place"); /* what the marks of the placement left */
  if (status == GPUDF_OK) {
    status = gdf_desc_validate_dicts(buf, a->base, name);
    if (status != GPUDF_OK) attachment_release(a);
  }
  gdf_trace_mark("validate_dicts");
  if (status == GPUDF_OK) {
    status = make_view(h, a, view);
    if (status != GPUDF_OK) attachment_release(a);
  }
  gdf_trace_mark("make_view");
  if (status == GPUDF_OK)
    gdf_log("attached '%s': %u columns, %" PRId64 " rows, published as %s, used as %s", name,
            h->ncols, h->nrows, gpudf_backend_name((gpudf_backend)h->backend),
            gpudf_backend_name(gpudf_table_backend(*view)));
  free(buf);
  gdf_trace_mark("log");
  /* After the descriptor was read, so that the share of a dead owner is
   * reported as such (EOWNERDEAD) rather than removed unseen (ENOENT). */
  gdf_tidy_quietly();
  gdf_trace_mark("tidy");
  return status;
}

int gdf_view_replica_devices(gpudf_table *v, char (*out)[48], int max) {
  struct gdf_attachment *a = v && v->is_view ? v->hold : NULL;
  if (!a || !a->place || a->place->backend != GPUDF_BACKEND_CUDA_IPC) return 0;
  /* A view of this process's own share borrows the owner's placement,
   * which holds every replica it made. */
  if (a->place->owner) return gdf_placement_devices(a->place, out, max);
  int dfd = -1;
  char file[GDF_SEG_PATH_MAX];
  uint8_t *buf = NULL;
  uint64_t size;
  struct stat st;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0); /* a share that cannot be read: one device, as before */
  gpudf_status s = gdf_desc_read_share(v->view_share, &dfd, file, &buf, &size, &st);
  if (s == GPUDF_OK) s = gdf_desc_validate(buf, size, v->view_share);
  gdf_quiet_end(&q);
  int n = 0;
  const gdf_desc_header *h = (const gdf_desc_header *)buf;
  /* The name may stand for another share by now (closed and published
   * again): its replicas hold another table. */
  if (s == GPUDF_OK && h->share_id == a->share_id) {
    gdf_replica reps[GDF_DESC_REPLICAS_MAX];
    int nrep = share_replicas(h, reps);
    n = gdf_placement_open_more(a->place, reps, nrep, out, max);
  }
  free(buf);
  return n;
}
