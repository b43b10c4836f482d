/* cleanup.c - removing what dead processes of this user left in the shm
 * directory: private segments, descriptors of dead owners (with the
 * tombstones that tell their attachers), expired tombstones. It needs only
 * segment names, process identity and descriptors, so it sits in host/,
 * below the table, which calls it on every create. */
#include "cleanup.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

void gdf_tomb_remove(int dfd, const char *name) {
  char tomb[GDF_SEG_PATH_MAX];
  tomb_name(name, tomb, sizeof tomb);
  unlinkat(dfd, tomb, 0);
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

bool gdf_tomb_bury(int dfd, const char *file, const struct stat *st, const gdf_desc_header *h) {
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

gpudf_status gdf_tomb_says(int dfd, const char *name, gpudf_status status) {
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
  if (gdf_desc_read(dfd, file, msg, &buf, &size, st) == GPUDF_OK) {
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

gpudf_status gdf_remove_dead(bool all, int *removed) {
  int count = 0;
  if (removed) *removed = 0;
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
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
          (all ? unlink_if_same(dfd, e->d_name, &st) : gdf_tomb_bury(dfd, e->d_name, &st, &h)))
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

int gdf_remove_dead_quietly(void) {
  int removed = 0;
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0); /* what dead processes left is not the caller's error */
  gdf_remove_dead(false, &removed);
  gdf_quiet_end(&q);
  return removed;
}
