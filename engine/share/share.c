/* share.c - publish a table under a name, attach to it from other processes,
 * and remove what dead owners left behind. */
#include "descriptor.h"
#include "device.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct gpudf_share {
  gpudf_table *table;
  gdf_segment *desc; /* its name is the public one once published */
  char name[GPUDF_NAME_MAX + 1];
  gpudf_backend backend;
  uint64_t share_id;
  struct gpudf_share *next_open; /* open_shares, under attach_lock */
};

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
 * (checked by every attach and cleanup in this process, and at once when
 * this process closes it), when more than GDF_IDLE_MAX are idle, by
 * gpudf_unmap_idle, or at exit. Device attachments are never kept: their
 * IPC handles and registrations close with the last view, as before. */
enum { GDF_IDLE_MAX = 4 };
static struct gdf_attachment *idle;
static int nidle;
static int drop_idle(bool (*match)(const struct gdf_attachment *, const void *),
                     const void *arg);
static bool same_share(const struct gdf_attachment *a, const void *id);
static bool share_gone(const struct gdf_attachment *a, const void *dfd);
/* Shares this process publishes: a view of one of them borrows the owner's
 * device placement, because CUDA cannot open an IPC handle in the process
 * that exported it. */
static struct gpudf_share *open_shares;

static gpudf_status cleanup(bool all, int *removed);

int gdf_sweep_quietly(void) {
  int removed = 0;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0); /* what dead processes left is not the caller's error */
  cleanup(false, &removed);
  gdf_quiet_end(&q);
  return removed;
}

/* ---------------------------------------------------------------- names */

static void public_name(const char *name, char *buf, size_t len) {
  char prefix[32];
  gdf_user_prefix(prefix, sizeof prefix);
  snprintf(buf, len, "%s%s", prefix, name);
}

static uint64_t random_u64(void) {
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)gdf_self_pid();
}

/* ------------------------------------------------------ descriptor files */

/* Reads a descriptor file of this user into a malloc'ed buffer after
 * checking who owns it. On success the caller frees *buf. */
static gpudf_status read_descriptor(int dfd, const char *file, const char *name,
                                    uint8_t **buf, uint64_t *size, struct stat *st) {
  /* O_NONBLOCK: a FIFO planted under the name (anyone can create files in
   * /dev/shm) would otherwise block this open, and every sweep, forever; the
   * regular-file check below then refuses it. */
  int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return GDF_ERR(GPUDF_ENOENT, "no share named '%s' (no %s/%s)", name, gdf_shm_dir(), file);
    return GDF_ERR(gdf_status_from_errno(err), "cannot open share '%s' (%s/%s): %s", name,
                   gdf_shm_dir(), file, strerror(err));
  }
  gpudf_status st_ = GPUDF_OK;
  const uint64_t max = sizeof(gdf_desc_header) + GPUDF_MAX_COLUMNS * sizeof(gdf_desc_column);
  if (fstat(fd, st) != 0)
    st_ = GDF_ERR(GPUDF_EIO, "fstat(%s): %s", file, strerror(errno));
  else if (!S_ISREG(st->st_mode))
    st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' is not a regular file", name);
  else if (st->st_uid != geteuid())
    st_ = GDF_ERR(GPUDF_EPERM, "share '%s' belongs to uid %u, not to this user (uid %u)",
                  name, (unsigned)st->st_uid, (unsigned)geteuid());
  else if ((st->st_mode & 0077) != 0)
    st_ = GDF_ERR(GPUDF_EPERM, "share '%s' has mode %03o; gpudf segments are 0600", name,
                  (unsigned)(st->st_mode & 0777));
  else if ((uint64_t)st->st_size > max)
    st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' is %lld bytes, larger than any descriptor", name,
                  (long long)st->st_size);
  if (st_ == GPUDF_OK) {
    *size = (uint64_t)st->st_size;
    *buf = malloc(*size ? *size : 1);
    if (!*buf)
      st_ = GDF_ERR(GPUDF_ENOMEM, "out of memory");
    else {
      ssize_t got = pread(fd, *buf, *size, 0);
      if (got < 0)
        st_ = GDF_ERR(GPUDF_EIO, "cannot read share '%s' (%s/%s): %s", name, gdf_shm_dir(),
                      file, strerror(errno));
      else if (got != (ssize_t)*size)
        st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' changed size while being read", name);
      if (st_ != GPUDF_OK) free(*buf);
    }
  }
  close(fd);
  return st_;
}

/* Unlinks file if it is still the inode we judged (another process may have
 * replaced it in between). */
static bool unlink_if_same(int dfd, const char *file, const struct stat *judged) {
  struct stat now;
  if (fstatat(dfd, file, &now, AT_SYMLINK_NOFOLLOW) != 0) return false;
  if (now.st_ino != judged->st_ino || now.st_dev != judged->st_dev) return false;
  return unlinkat(dfd, file, 0) == 0;
}

/* ----------------------------------------------------------- tombstones */

/* When the descriptor of a dead owner is removed, a tombstone
 * "gpudf-<uid>~<name>" (a file of 32 bytes: who died, which share) stays
 * for GDF_TOMBSTONE_S seconds, so that every attacher in that window hears
 * that the owner died (GPUDF_EOWNERDEAD), not only the first one, which
 * removed the descriptor, while the rest heard only that no such share
 * exists. A tombstone goes with the first library call of the user after
 * its window (create, share, attach, sweep), at once when the name is
 * published again, and with an explicit gpudf_cleanup. '~' is no share
 * name byte: no share's file can be taken for a tombstone. */
enum { GDF_TOMBSTONE_S = 30 };
#define GDF_TOMB_MAGIC UINT64_C(0x424d4f5446445047) /* "GPDFTOMB" */

typedef struct gdf_tombstone {
  uint64_t magic;
  uint32_t owner_uid;
  int32_t owner_pid;
  uint64_t owner_start;
  uint64_t share_id;
} gdf_tombstone;

static void tomb_prefix(char *buf, size_t len) {
  snprintf(buf, len, "gpudf-%u~", (unsigned)geteuid());
}

static void tomb_name(const char *name, char *buf, size_t len) {
  char prefix[32];
  tomb_prefix(prefix, sizeof prefix);
  snprintf(buf, len, "%s%s", prefix, name);
}

/* Whether file (in the shm directory) is a tombstone of this user; then
 * *out holds it. Sets no error: a missing or foreign file is no answer. */
static bool read_tombstone(int dfd, const char *file, gdf_tombstone *out) {
  int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            st.st_size == (off_t)sizeof *out &&
            pread(fd, out, sizeof *out, 0) == (ssize_t)sizeof *out &&
            out->magic == GDF_TOMB_MAGIC && out->owner_uid == (uint32_t)geteuid() &&
            out->owner_pid > 0;
  close(fd);
  return ok;
}

/* Writes the tombstone of the descriptor h under a private name and links
 * it to the public one, so that no reader sees a half-written one (a
 * process killed in between leaves the private file, which the next
 * cleanup removes as any other of a dead process). Best effort: without it
 * attachers hear ENOENT, as before tombstones. On success *made is the
 * tombstone's inode. */
static bool write_tombstone(int dfd, const char *tomb, const gdf_desc_header *h,
                            struct stat *made) {
  static _Atomic unsigned seq;
  char tmp[GDF_SEG_PATH_MAX];
  snprintf(tmp, sizeof tmp, "gpudf-%u+t.%d.%" PRIu64 ".%u", (unsigned)geteuid(),
           gdf_self_pid(), gdf_self_start(), atomic_fetch_add(&seq, 1));
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  gdf_tombstone t = {GDF_TOMB_MAGIC, (uint32_t)geteuid(), h->owner_pid, h->owner_start,
                     h->share_id};
  bool ok = fchmod(fd, 0600) == 0 && write(fd, &t, sizeof t) == (ssize_t)sizeof t &&
            fstat(fd, made) == 0 && linkat(dfd, tmp, dfd, tomb, 0) == 0;
  close(fd);
  unlinkat(dfd, tmp, 0);
  return ok;
}

/* Removes the descriptor file (judged as st) of a dead owner, leaving its
 * tombstone first, so that an attacher that finds the descriptor gone
 * finds the tombstone. Returns whether this call removed the descriptor. */
static bool bury(int dfd, const char *file, const struct stat *st, const gdf_desc_header *h) {
  char user[32], tomb[GDF_SEG_PATH_MAX];
  gdf_user_prefix(user, sizeof user);
  tomb_name(file + strlen(user), tomb, sizeof tomb);
  struct stat made;
  bool wrote = write_tombstone(dfd, tomb, h, &made);
  if (unlink_if_same(dfd, file, st)) return true;
  /* The name holds another share now (published again since the owner
   * was judged dead; its publish removed the tombstone there was): ours
   * would tell its attachers of a death that is not its owner's. */
  struct stat now;
  if (wrote && fstatat(dfd, file, &now, AT_SYMLINK_NOFOLLOW) == 0) unlink_if_same(dfd, tomb, &made);
  return false;
}

/* The tombstone of share name, as the error an attacher that found no
 * descriptor gets instead of status (ENOENT); status unchanged without one. */
static gpudf_status tombstone_says(int dfd, const char *name, gpudf_status status) {
  if (status != GPUDF_ENOENT) return status;
  char tomb[GDF_SEG_PATH_MAX];
  tomb_name(name, tomb, sizeof tomb);
  gdf_tombstone t;
  if (!read_tombstone(dfd, tomb, &t)) return status;
  return GDF_ERR(GPUDF_EOWNERDEAD, "share '%s' was published by process %d, which is no "
                 "longer running; its segments have been removed", name, t.owner_pid);
}

/* Whether the tombstone file is past its window (or its clock is off by
 * more than that). */
static bool tombstone_expired(int dfd, const char *file, struct stat *st) {
  if (fstatat(dfd, file, st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st->st_mode) ||
      st->st_uid != geteuid())
    return false; /* gone, or not provably ours: left alone */
  time_t now = time(NULL);
  return st->st_mtime < now - GDF_TOMBSTONE_S || st->st_mtime > now + GDF_TOMBSTONE_S;
}

/* ------------------------------------------------------------- backends */

const char *gpudf_backend_name(gpudf_backend b) {
  switch (b) {
  case GPUDF_BACKEND_AUTO: return "auto";
  case GPUDF_BACKEND_CPU: return "cpu";
  case GPUDF_BACKEND_CUDA_PINNED: return "cuda-pinned";
  case GPUDF_BACKEND_CUDA_IPC: return "cuda-ipc";
  }
  return NULL;
}

gpudf_status gpudf_backend_parse(const char *text, gpudf_backend *out) {
  if (!text || !out) return GDF_ERR(GPUDF_EINVAL, "text or out is NULL");
  for (int b = GPUDF_BACKEND_AUTO; b <= GPUDF_BACKEND_CUDA_IPC; b++)
    if (strcmp(text, gpudf_backend_name((gpudf_backend)b)) == 0) {
      *out = (gpudf_backend)b;
      return GPUDF_OK;
    }
  return GDF_ERR(GPUDF_EINVAL, "unknown backend '%s' (use auto, cpu, cuda-pinned or cuda-ipc)",
                 text);
}

int gpudf_backend_available(gpudf_backend b, const char **why) {
  const char *reason = "available";
  int ok = 1;
  switch (b) {
  case GPUDF_BACKEND_AUTO:
  case GPUDF_BACKEND_CPU: break;
  case GPUDF_BACKEND_CUDA_PINNED:
  case GPUDF_BACKEND_CUDA_IPC:
    ok = gdf_cuda_placement_available(b, &reason);
    break;
  default:
    ok = 0;
    reason = "unknown backend";
  }
  if (why) *why = reason;
  return ok;
}

/* AUTO, after GPUDF_BACKEND, becomes the best backend that works; a forced
 * one that cannot work is an error, never a silent downgrade. */
static gpudf_status resolve_backend(gpudf_backend asked, gpudf_backend *out, bool *forced) {
  const char *env = getenv("GPUDF_BACKEND");
  if (asked == GPUDF_BACKEND_AUTO && env && *env) {
    if (gpudf_backend_parse(env, &asked) != GPUDF_OK)
      return GDF_ERR(GPUDF_EINVAL, "GPUDF_BACKEND='%s' is not one of auto, cpu, "
                     "cuda-pinned, cuda-ipc", env);
  }
  const char *why;
  *forced = asked != GPUDF_BACKEND_AUTO;
  if (asked == GPUDF_BACKEND_AUTO) {
    const gpudf_backend order[] = {GPUDF_BACKEND_CUDA_IPC, GPUDF_BACKEND_CUDA_PINNED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
      if (gpudf_backend_available(order[i], &why)) {
        *out = order[i];
        return GPUDF_OK;
      }
      gdf_log("backend %s not used: %s", gpudf_backend_name(order[i]), why);
    }
    *out = GPUDF_BACKEND_CPU;
    return GPUDF_OK;
  }
  if (!gpudf_backend_name(asked))
    return GDF_ERR(GPUDF_EINVAL, "unknown backend %d", (int)asked);
  if (!gpudf_backend_available(asked, &why))
    return GDF_ERR(GPUDF_ENODEV, "backend %s was asked for but is not available: %s",
                   gpudf_backend_name(asked), why);
  *out = asked;
  return GPUDF_OK;
}

/* ---------------------------------------------------------------- share */

static void fill_descriptor(const gpudf_table *t, const char *name, const gdf_placement *place,
                            uint8_t *buf, uint64_t size) {
  gpudf_backend backend = place ? place->backend : GPUDF_BACKEND_CPU;
  gdf_desc_header *h = (gdf_desc_header *)buf;
  memset(buf, 0, size);
  h->magic = GDF_DESC_MAGIC;
  h->version = GDF_DESC_VERSION;
  h->header_size = sizeof *h;
  h->total_size = size;
  h->owner_uid = (uint32_t)geteuid();
  h->owner_pid = gdf_self_pid();
  h->owner_start = gdf_self_start();
  h->share_id = random_u64();
  h->backend = (uint32_t)backend;
  if (place) memcpy(h->device_uuid, place->uuid, sizeof h->device_uuid);
  if (backend == GPUDF_BACKEND_CUDA_IPC) memcpy(h->ipc_handle, place->handle, sizeof h->ipc_handle);
  h->ncols = (uint32_t)t->ncols;
  h->nrows = t->nrows;
  h->arena_size = t->arena_bytes;
  snprintf(h->arena_name, sizeof h->arena_name, "%s", t->arena->name);
  snprintf(h->share_name, sizeof h->share_name, "%s", name);
  gdf_desc_column *cols = (gdf_desc_column *)(buf + sizeof *h);
  for (int i = 0; i < t->ncols; i++) {
    memcpy(cols[i].name, t->cols[i].name, sizeof cols[i].name);
    cols[i].type = (uint32_t)t->cols[i].type;
    cols[i].offset = t->cols[i].offset;
    cols[i].nlabels = (uint32_t)t->cols[i].nlabels;
    cols[i].dict_offset = t->cols[i].dict_offset;
    cols[i].dict_size = t->cols[i].dict_size;
  }
  h->checksum = gdf_desc_checksum(buf, size);
  atomic_thread_fence(memory_order_release);
  h->ready = 1;
}

/* Links the finished descriptor under its public name. A name held by a
 * dead owner is reclaimed once; a live owner's is GPUDF_EEXIST. */
static gpudf_status publish(gdf_segment *desc, const char *name) {
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  char file[GDF_SEG_PATH_MAX];
  public_name(name, file, sizeof file);
  for (int attempt = 0;; attempt++) {
    if (linkat(dfd, desc->name, dfd, file, 0) == 0) break;
    int err = errno;
    if (err != EEXIST)
      return GDF_ERR(gdf_status_from_errno(err), "cannot publish '%s' as %s/%s: %s", name,
                     gdf_shm_dir(), file, strerror(err));
    if (attempt == 0 && gdf_sweep_quietly() > 0) continue;
    uint8_t *buf;
    uint64_t size;
    struct stat st;
    int pid = 0;
    if (read_descriptor(dfd, file, name, &buf, &size, &st) == GPUDF_OK) {
      if (size >= sizeof(gdf_desc_header)) pid = ((gdf_desc_header *)buf)->owner_pid;
      free(buf);
    }
    if (pid > 0)
      return GDF_ERR(GPUDF_EEXIST, "share name '%s' is already published by process %d", name,
                     pid);
    return GDF_ERR(GPUDF_EEXIST, "share name '%s' is taken by %s/%s, which is not a live "
                   "gpudf share of this user; remove it or pick another name",
                   name, gdf_shm_dir(), file);
  }
  unlinkat(dfd, desc->name, 0);
  snprintf(desc->name, sizeof desc->name, "%s", file);
  /* The name is live again: a tombstone of an earlier owner would tell its
   * attachers, once this share is closed, of a death that is not its own. */
  char tomb[GDF_SEG_PATH_MAX];
  tomb_name(name, tomb, sizeof tomb);
  unlinkat(dfd, tomb, 0);
  return GPUDF_OK;
}

/* Places the sealed arena on the device once per table: a table shared
 * again after its share closed keeps the placement other processes may
 * still be reading. */
static gpudf_status place_table(gpudf_table *t, gpudf_backend resolved, bool forced) {
  if (t->place) {
    if (!forced || t->place->backend == resolved) return GPUDF_OK;
    return GDF_ERR(GPUDF_EBUSY, "table was placed as %s when it was first shared; it cannot "
                   "be shared as %s", gpudf_backend_name(t->place->backend),
                   gpudf_backend_name(resolved));
  }
  if (t->sealed && t->arena_bytes > 0 && resolved != GPUDF_BACKEND_CPU) {
    gdf_range_push("gpudf place");
    gpudf_status st = gdf_place_owner(t, resolved, forced, &t->place);
    gdf_range_pop();
    return st;
  }
  return GPUDF_OK;
}

/* Writes the descriptor (ready last, after the upload finished) and links it
 * under its public name. */
static gpudf_status publish_share(gpudf_share *s, gpudf_table *t, const char *name) {
  uint64_t size = sizeof(gdf_desc_header) + (uint64_t)t->ncols * sizeof(gdf_desc_column);
  GDF_TRY(gdf_segment_create('d', &s->desc));
  GDF_TRY(gdf_segment_resize(s->desc, size));
  fill_descriptor(t, name, t->place, s->desc->addr, size);
  s->share_id = ((const gdf_desc_header *)s->desc->addr)->share_id;
  s->backend = t->place ? t->place->backend : GPUDF_BACKEND_CPU;
  gdf_range_push("gpudf publish");
  gpudf_status st = publish(s->desc, name);
  gdf_range_pop();
  if (st == GPUDF_OK) gdf_sim_trace("publish %s %s", name, gpudf_backend_name(s->backend));
  return st;
}

gpudf_status gpudf_table_share(gpudf_table *t, const char *name, gpudf_backend backend,
                               gpudf_share **out) {
  GDF_ENTER();
  static _Atomic unsigned anon_seq;
  if (!t || !out) return GDF_ERR(GPUDF_EINVAL, "table or out is NULL");
  *out = NULL;
  if (t->is_view) return GDF_ERR(GPUDF_EPERM, "an attached view cannot be shared again; "
                                 "attach to the original share instead");
  if (t->share)
    return GDF_ERR(GPUDF_EBUSY, "table is already shared as '%s'", t->share->name);
  if (t->ncols == 0) return GDF_ERR(GPUDF_EINVAL, "table has no columns to share");
  char anon[GPUDF_NAME_MAX + 1];
  if (!name) {
    snprintf(anon, sizeof anon, "anon.%d.%u", gdf_self_pid(), atomic_fetch_add(&anon_seq, 1));
    name = anon;
  }
  GDF_TRY(gdf_check_share_name(name));
  gpudf_backend resolved = GPUDF_BACKEND_CPU;
  bool forced = false;
  GDF_TRY(resolve_backend(backend, &resolved, &forced));
  gdf_sweep_quietly();

  gpudf_share *s = calloc(1, sizeof *s);
  if (!s) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  snprintf(s->name, sizeof s->name, "%s", name);
  gpudf_status st = GPUDF_OK;
  bool sealed_before = t->sealed;
  if (!t->sealed) {
    st = gdf_segment_seal(t->arena);
    t->sealed = st == GPUDF_OK;
  }
  bool placed_before = t->place != NULL;
  if (st == GPUDF_OK) st = place_table(t, resolved, forced);
  if (st == GPUDF_OK) st = publish_share(s, t, name);
  if (st != GPUDF_OK) {
    gdf_segment_destroy(s->desc);
    free(s);
    /* A placement this call made was never published: give its device
     * memory back now rather than when the table is freed. */
    if (!placed_before) {
      gdf_placement_free(t->place);
      t->place = NULL;
    }
    /* Nobody saw the arena: the table stays open for columns, as before. */
    if (!sealed_before && t->sealed) {
      gdf_quiet q;
      gdf_quiet_begin(&q, NULL, 0); /* the share's failure is the one to report */
      t->sealed = gdf_segment_unseal(t->arena) != GPUDF_OK;
      gdf_quiet_end(&q);
    }
    return st;
  }
  gdf_log("shared table as '%s' (%s/%s): %d columns, %" PRId64 " rows, %" PRIu64
          " arena bytes, backend %s", name, gdf_shm_dir(), s->desc->name, t->ncols, t->nrows,
          t->arena_bytes, gpudf_backend_name(s->backend));
  s->table = t;
  t->share = s;
  t->refs++;
  pthread_mutex_lock(&attach_lock);
  s->next_open = open_shares;
  open_shares = s;
  pthread_mutex_unlock(&attach_lock);
  *out = s;
  return GPUDF_OK;
}

const char *gpudf_share_name(const gpudf_share *s) { return s ? s->name : NULL; }
gpudf_backend gpudf_share_backend(const gpudf_share *s) {
  return s ? s->backend : GPUDF_BACKEND_AUTO;
}

void gpudf_share_close(gpudf_share *s) {
  if (!s) return;
  pthread_mutex_lock(&attach_lock);
  for (gpudf_share **p = &open_shares; *p; p = &(*p)->next_open)
    if (*p == s) {
      *p = s->next_open;
      break;
    }
  pthread_mutex_unlock(&attach_lock);
  drop_idle(same_share, &s->share_id); /* this process's own idle view of it */
  gdf_segment_destroy(s->desc); /* unlinks the public name */
  s->table->share = NULL;
  gdf_table_release(s->table);
  free(s);
}

/* --------------------------------------------------------------- attach */

/* A fork while another thread holds attach_lock would leave the child with
 * a lock nobody releases: every attach there would hang. The fork waits for
 * the lock instead, and both sides release it. */
static void attach_fork_prepare(void) { pthread_mutex_lock(&attach_lock); }
static void attach_fork_release(void) { pthread_mutex_unlock(&attach_lock); }
__attribute__((constructor)) static void attach_fork_register(void) {
  pthread_atfork(attach_fork_prepare, attach_fork_release, attach_fork_release);
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
    pthread_mutex_lock(&attach_lock);
    for (gpudf_share *s = open_shares; s && !a->place; s = s->next_open)
      if (s->share_id == h->share_id && s->table->place &&
          s->table->place->backend == GPUDF_BACKEND_CUDA_IPC)
        a->place = gdf_placement_ref(s->table->place);
    pthread_mutex_unlock(&attach_lock);
    if (a->place) return GPUDF_OK;
  }
  gdf_range_push("gpudf attach");
  gpudf_status st = gdf_place_attach((gpudf_backend)h->backend, h->device_uuid, h->ipc_handle,
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

/* Links a new or revived attachment a, unless another thread linked one of
 * the same share meanwhile: that one then takes the reference and a is
 * unmapped, so that a share has one mapping per process. */
static struct gdf_attachment *adopt(struct gdf_attachment *a, const char *file,
                                    const struct stat *desc) {
  struct gdf_attachment *use = a;
  pthread_mutex_lock(&attach_lock);
  for (struct gdf_attachment *b = attachments; b && use == a; b = b->next)
    if (b->share_id == a->share_id && b->size == a->size) {
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
    if (a->share_id == h->share_id && a->size == h->arena_size) {
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

void gdf_attachment_release(struct gdf_attachment *a) {
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

/* An attachment whose share was closed (its descriptor is gone), or whose
 * arena was removed (the owner freed the table or died and was swept). */
static bool share_gone(const struct gdf_attachment *a, const void *dfd) {
  int d = *(const int *)dfd;
  return file_changed(d, a->desc_name, a->desc_dev, a->desc_ino) ||
         file_changed(d, a->arena_name, a->dev, a->ino);
}

int gpudf_unmap_idle(void) {
  int n = drop_idle(NULL, NULL);
  if (n) gdf_log("unmapped %d idle attachment(s)", n);
  return n;
}

/* The descriptor's owner is dead: say so and remove what it left. */
static gpudf_status owner_dead(int dfd, const char *file, const struct stat *st,
                               const gdf_desc_header *h, const char *name) {
  bury(dfd, file, st, h); /* its arena goes in the sweep that follows */
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
  v->attachment = a;
  v->place = a->place;
  snprintf(v->view_share, sizeof v->view_share, "%s", h->share_name);
  v->view_backend = (gpudf_backend)h->backend;
  *view = v;
  return GPUDF_OK;
}

gpudf_status gpudf_attach(const char *name, gpudf_table **view) {
  GDF_ENTER();
  if (!view) return GDF_ERR(GPUDF_EINVAL, "view is NULL");
  *view = NULL;
  GDF_TRY(gdf_check_share_name(name));
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  char file[GDF_SEG_PATH_MAX];
  public_name(name, file, sizeof file);
  uint8_t *buf;
  uint64_t size;
  struct stat st;
  gpudf_status status = read_descriptor(dfd, file, name, &buf, &size, &st);
  if (status != GPUDF_OK) {
    status = tombstone_says(dfd, name, status);
    gdf_sweep_quietly();
    return status;
  }
  status = gdf_desc_validate(buf, size, name);
  const gdf_desc_header *h = (const gdf_desc_header *)buf;
  if (status == GPUDF_OK && h->owner_uid != (uint32_t)geteuid())
    status = GDF_ERR(GPUDF_EPERM, "share '%s' was published by uid %u", name, h->owner_uid);
  if (status == GPUDF_OK && !gdf_proc_alive(h->owner_pid, h->owner_start))
    status = owner_dead(dfd, file, &st, h, name);
  struct gdf_attachment *a = NULL;
  if (status == GPUDF_OK) {
    status = map_arena(dfd, h, name, file, &st, &a);
    /* The owner died after it was judged alive, and a sweep took its arena. */
    if (status == GPUDF_ENOENT && !gdf_proc_alive(h->owner_pid, h->owner_start))
      status = owner_dead(dfd, file, &st, h, name);
  }
  if (status == GPUDF_OK) {
    status = gdf_desc_validate_dicts(buf, a->base, name);
    if (status != GPUDF_OK) gdf_attachment_release(a);
  }
  if (status == GPUDF_OK) {
    status = make_view(h, a, view);
    if (status != GPUDF_OK) gdf_attachment_release(a);
  }
  if (status == GPUDF_OK)
    gdf_log("attached '%s': %u columns, %" PRId64 " rows, published as %s, used as %s", name,
            h->ncols, h->nrows, gpudf_backend_name((gpudf_backend)h->backend),
            gpudf_backend_name(gpudf_table_backend(*view)));
  free(buf);
  /* After the descriptor was read, so that the share of a dead owner is
   * reported as such (EOWNERDEAD) rather than swept away unseen (ENOENT). */
  gdf_sweep_quietly();
  return status;
}

/* -------------------------------------------------------------- cleanup */

/* Whether a user-published descriptor belongs to a dead owner; then *h is
 * its header. Files that are not valid descriptors are left alone: they are
 * not provably ours. */
static bool descriptor_is_stale(int dfd, const char *file, struct stat *st,
                                gdf_desc_header *h) {
  uint8_t *buf;
  uint64_t size;
  char msg[256];
  snprintf(msg, sizeof msg, "%.200s", file);
  /* Any file may lie in the shm directory: one that is no descriptor, or
   * no longer one, is no error, and the caller's message stays. */
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0);
  bool stale = false;
  if (read_descriptor(dfd, file, msg, &buf, &size, st) == GPUDF_OK) {
    gpudf_status v = gdf_desc_validate(buf, size, msg);
    if (v == GPUDF_OK || v == GPUDF_EAGAIN) { /* both checked the size first */
      memcpy(h, buf, sizeof *h);
      stale = !gdf_proc_alive(h->owner_pid, h->owner_start);
    }
    free(buf);
  }
  gdf_quiet_end(&q);
  return stale;
}

/* Removes what dead processes of this user left and returns how many
 * segments. A dead owner's descriptor leaves its tombstone unless
 * tombstones go too (all: an explicit gpudf_cleanup); otherwise tombstones
 * go once past their window. */
static gpudf_status cleanup(bool all, int *removed) {
  int count = 0;
  if (removed) *removed = 0;
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  int unmapped = drop_idle(share_gone, &dfd);
  if (unmapped) gdf_log("unmapped %d idle attachment(s) of closed shares", unmapped);
  int fd = dup(dfd);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  if (!dir) {
    if (fd >= 0) close(fd);
    return GDF_ERR(GPUDF_EIO, "cannot list %s: %s", gdf_shm_dir(), strerror(errno));
  }
  rewinddir(dir);
  char user[32], own[32], tombs[32];
  gdf_user_prefix(user, sizeof user);
  snprintf(own, sizeof own, "gpudf-%u+", (unsigned)geteuid());
  tomb_prefix(tombs, sizeof tombs);
  int buried = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    char kind;
    int pid;
    uint64_t start;
    struct stat st;
    gdf_desc_header h;
    if (strncmp(e->d_name, own, strlen(own)) == 0) {
      if (gdf_parse_private_name(e->d_name, &kind, &pid, &start) &&
          !gdf_proc_alive(pid, start) && unlinkat(dfd, e->d_name, 0) == 0)
        count++;
    } else if (strncmp(e->d_name, user, strlen(user)) == 0) {
      if (descriptor_is_stale(dfd, e->d_name, &st, &h) &&
          (all ? unlink_if_same(dfd, e->d_name, &st) : bury(dfd, e->d_name, &st, &h)))
        count++;
    } else if (strncmp(e->d_name, tombs, strlen(tombs)) == 0) {
      if ((all ? fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                     S_ISREG(st.st_mode) && st.st_uid == geteuid()
               : tombstone_expired(dfd, e->d_name, &st)) &&
          unlink_if_same(dfd, e->d_name, &st))
        buried++;
    }
  }
  closedir(dir);
  if (count) gdf_log("removed %d segment(s) left by dead processes", count);
  if (buried) gdf_log("removed %d tombstone(s) of dead owners' shares", buried);
  if (removed) *removed = count;
  return GPUDF_OK;
}

gpudf_status gpudf_cleanup(int *removed) {
  GDF_ENTER();
  return cleanup(true, removed);
}
