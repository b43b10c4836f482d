/* segment.c - create, grow, seal and remove shared-memory segments. */
#include "proc.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifdef MADV_POPULATE_WRITE
#define GDF_MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#else
#define GDF_MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* ThreadSanitizer does not intercept mremap: addresses a segment moved to
 * would keep what TSan recorded there for memory another thread has since
 * unmapped, and it would report races with that. Under TSan a segment
 * grows by a fresh mapping of its file instead, which it does see. */
#if defined(__SANITIZE_THREAD__)
#define GDF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GDF_TSAN 1
#endif
#endif

/* ------------------------------------------------------------ directory */

/* Opened on first use and kept; a failed open (out of descriptors) is tried
 * again by the next call rather than remembered for the process. */
static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int dir_fd = -1;

const char *gdf_shm_dir(void) {
  const char *d = getenv("GPUDF_SHM_DIR");
  return d && *d ? d : "/dev/shm";
}

gpudf_status gdf_shm_dirfd(int *fd) {
  int d = atomic_load(&dir_fd);
  if (d >= 0) {
    *fd = d;
    return GPUDF_OK;
  }
  int err = 0;
  pthread_mutex_lock(&dir_lock);
  d = atomic_load(&dir_fd);
  if (d < 0) {
    d = open(gdf_shm_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) err = errno;
    else atomic_store(&dir_fd, d);
  }
  pthread_mutex_unlock(&dir_lock);
  if (d < 0)
    return GDF_ERR(gdf_status_from_errno(err), "cannot open the shared-memory directory %s: %s",
                   gdf_shm_dir(), strerror(err));
  *fd = d;
  return GPUDF_OK;
}

void gdf_user_prefix(char *buf, size_t len) {
  snprintf(buf, len, "gpudf-%u-", (unsigned)geteuid());
}

gpudf_status gdf_check_share_name(const char *name) {
  if (!name) return GDF_ERR(GPUDF_EINVAL, "share name is NULL");
  size_t n = strnlen(name, GPUDF_NAME_MAX + 1);
  if (n == 0) return GDF_ERR(GPUDF_EINVAL, "share name is empty");
  if (n > GPUDF_NAME_MAX)
    return GDF_ERR(GPUDF_ENAMETOOLONG, "share name is longer than %d bytes",
                   GPUDF_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return GDF_ERR(GPUDF_EINVAL,
                     "share name '%.*s' has byte 0x%02x at position %zu; "
                     "use only letters, digits, '.', '_' and '-'",
                     (int)n, name, c, i);
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return GDF_ERR(GPUDF_EINVAL, "share name '%s' is reserved", name);
  return GPUDF_OK;
}

/* ------------------------------------------------------------- identity */

static _Atomic int self_pid_cached;
static _Atomic uint64_t self_start_cached;

int gdf_self_pid(void) { return (int)getpid(); }

uint64_t gdf_self_start(void) {
  /* Recomputed after a fork: the child is another process. A 0 (no /proc,
   * or it could not be read just now) is not kept, so that a passing
   * failure does not stay with the process. */
  int pid = gdf_self_pid();
  if (atomic_load(&self_pid_cached) != pid) {
    uint64_t start = gdf_proc_start_time(pid);
    if (start == 0) return 0;
    atomic_store(&self_start_cached, start);
    atomic_store(&self_pid_cached, pid);
  }
  return atomic_load(&self_start_cached);
}

bool gdf_parse_private_name(const char *name, char *kind, int *pid, uint64_t *start) {
  unsigned uid;
  char k;
  int p;
  uint64_t s, seq;
  int used = 0;
  if (sscanf(name, "gpudf-%u+%c.%d.%" SCNu64 ".%" SCNu64 "%n", &uid, &k, &p, &s, &seq,
             &used) != 5 ||
      name[used] != '\0' || uid != (unsigned)geteuid() || p <= 0)
    return false;
  *kind = k;
  *pid = p;
  *start = s;
  return true;
}

/* ---------------------------------------------------- exit-time cleanup */

/* Segments this process created, unlinked at exit so that a normal exit
 * leaves nothing behind even when the caller forgot to free. A forked child
 * inherits the list but must not unlink its parent's segments. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static gdf_segment *live[1024];
static int nlive;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void unlink_live_at_exit(void) {
  int dfd = -1;
  if (gdf_shm_dirfd(&dfd) != GPUDF_OK) return;
  pthread_mutex_lock(&live_lock);
  for (int i = 0; i < nlive; i++)
    if (live[i]->creator_pid == gdf_self_pid()) unlinkat(dfd, live[i]->name, 0);
  nlive = 0;
  pthread_mutex_unlock(&live_lock);
}

static void register_atexit(void) { atexit(unlink_live_at_exit); }

/* A fork while another thread holds one of these locks would leave the
 * child with a lock nobody releases; the fork waits for them instead. */
static void segment_fork_prepare(void) {
  pthread_mutex_lock(&dir_lock);
  pthread_mutex_lock(&live_lock);
}
static void segment_fork_release(void) {
  pthread_mutex_unlock(&live_lock);
  pthread_mutex_unlock(&dir_lock);
}
__attribute__((constructor)) static void segment_fork_register(void) {
  pthread_atfork(segment_fork_prepare, segment_fork_release, segment_fork_release);
}

static void live_add(gdf_segment *seg) {
  pthread_once(&atexit_once, register_atexit);
  pthread_mutex_lock(&live_lock);
  /* Past the list's capacity a segment is still removed by the next
   * library call after this process exits (its name carries our pid). */
  if (nlive < (int)(sizeof live / sizeof live[0])) live[nlive++] = seg;
  pthread_mutex_unlock(&live_lock);
}

static void live_remove(gdf_segment *seg) {
  pthread_mutex_lock(&live_lock);
  for (int i = 0; i < nlive; i++)
    if (live[i] == seg) {
      live[i] = live[--nlive];
      break;
    }
  pthread_mutex_unlock(&live_lock);
}

/* -------------------------------------------------------------- segments */

static void human(uint64_t bytes, char *buf, size_t len) {
  const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* Bytes free in the shm directory; false when statvfs fails. */
static bool shm_free(uint64_t *free_bytes) {
  int dfd = -1;
  struct statvfs vfs;
  if (gdf_shm_dirfd(&dfd) != GPUDF_OK || fstatvfs(dfd, &vfs) != 0) return false;
  *free_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
  return true;
}

static gpudf_status no_space(uint64_t grow, uint64_t total, uint64_t free_bytes,
                             const char *what) {
  char g[32], t[32], f[32];
  human(grow, g, sizeof g);
  human(total, t, sizeof t);
  human(free_bytes, f, sizeof f);
  return GDF_ERR(GPUDF_ENOSPC,
                 "%s needs %s more (%s in all) but %s has only %s free; free space there "
                 "or raise its size (docker run --shm-size=..., or "
                 "mount -o remount,size=... %s)",
                 what, g, t, gdf_shm_dir(), f, gdf_shm_dir());
}

/* What a segment holds, for messages: its kind is in its name. */
static const char *segment_what(const gdf_segment *seg) {
  const char *plus = strchr(seg->name, '+');
  switch (plus ? plus[1] : 0) {
  case 'a': return "the table's shared memory";
  case 'd': return "the share's descriptor";
  case 's': return "the sweep's control segment (its configs and results)";
  case 'v': return "the simulated device's memory";
  default: return "a shared segment";
  }
}

gpudf_status gdf_shm_check_space(uint64_t grow, uint64_t total, const char *what) {
  uint64_t free_bytes;
  if (!shm_free(&free_bytes))
    return GDF_ERR(GPUDF_EIO, "statvfs(%s): %s", gdf_shm_dir(), strerror(errno));
  if (grow > free_bytes) return no_space(grow, total, free_bytes, what);
  return GPUDF_OK;
}

gpudf_status gdf_segment_create(char kind, gdf_segment **out) {
  static _Atomic uint64_t seq;
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  /* The name must carry the real start time where there is one: with 0 in
   * it, another process would judge the segment's owner dead. */
  uint64_t start = gdf_self_start();
  if (start == 0 && access("/proc/self/stat", F_OK) == 0)
    return GDF_ERR(GPUDF_EIO, "cannot read the start time of this process from "
                   "/proc/self/stat");
  gdf_segment *seg = calloc(1, sizeof *seg);
  if (!seg) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  seg->fd = -1;
  seg->creator_pid = gdf_self_pid();
  snprintf(seg->name, sizeof seg->name, "gpudf-%u+%c.%d.%" PRIu64 ".%" PRIu64,
           (unsigned)geteuid(), kind, seg->creator_pid, start,
           atomic_fetch_add(&seq, 1));
  seg->fd = openat(dfd, seg->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   0600);
  if (seg->fd < 0) {
    int err = errno;
    gpudf_status st = GDF_ERR(gdf_status_from_errno(err), "cannot create %s/%s: %s",
                              gdf_shm_dir(), seg->name, strerror(err));
    free(seg);
    return st;
  }
  live_add(seg);
  *out = seg;
  return GPUDF_OK;
}

gpudf_status gdf_segment_resize(gdf_segment *seg, uint64_t size) {
  if (size <= seg->size) return GPUDF_OK;
  uint64_t grow = size - seg->size;
  if (size > (uint64_t)INT64_MAX || size > (uint64_t)SIZE_MAX)
    return GDF_ERR(GPUDF_EOVERFLOW, "segment size %" PRIu64 " is too large", size);
  /* Refuse at once what cannot fit: never allocate to discover the limit. */
  GDF_TRY(gdf_shm_check_space(grow, size, segment_what(seg)));
  /* posix_fallocate guards against a race with other users of the space. */
  int err = posix_fallocate(seg->fd, (off_t)seg->size, (off_t)grow);
  if (err) {
    if (ftruncate(seg->fd, (off_t)seg->size) != 0) { /* give back what we got */ }
    uint64_t free_bytes = 0;
    if (err == ENOSPC) /* taken meanwhile by another process: what is free now */
      return no_space(grow, size, shm_free(&free_bytes) ? free_bytes : 0, segment_what(seg));
    return GDF_ERR(gdf_status_from_errno(err), "posix_fallocate(%s, %" PRIu64 " bytes): %s",
                   seg->name, grow, strerror(err));
  }
  void *addr;
  if (!seg->addr) {
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
  } else {
#ifdef GDF_TSAN
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
    if (addr != MAP_FAILED) munmap(seg->addr, seg->size);
#else
    addr = mremap(seg->addr, seg->size, size, MREMAP_MAYMOVE);
#endif
  }
  if (addr == MAP_FAILED) {
    err = errno;
    if (ftruncate(seg->fd, (off_t)seg->size) != 0) { /* keep the old size */ }
    return GDF_ERR(gdf_status_from_errno(err), "cannot map %" PRIu64 " bytes of %s: %s",
                   size, seg->name, strerror(err));
  }
  /* The pages exist (posix_fallocate made them): map them writable in one
   * call rather than trapping on each first write, which a table's columns
   * are about to get (a 610 MiB table: 156,000 faults). Best effort: older
   * kernels refuse the advice, and then the writes fault as before. */
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t from = ((uintptr_t)addr + seg->size) & ~(page - 1);
  (void)madvise((void *)from, (uintptr_t)addr + size - from, GDF_MADV_POPULATE_WRITE);
  seg->addr = addr;
  seg->size = size;
  return GPUDF_OK;
}

gpudf_status gdf_segment_seal(gdf_segment *seg) {
  if (seg->addr && mprotect(seg->addr, seg->size, PROT_READ) != 0)
    return GDF_ERR(GPUDF_EIO, "mprotect(%s): %s", seg->name, strerror(errno));
  return GPUDF_OK;
}

gpudf_status gdf_segment_unseal(gdf_segment *seg) {
  if (seg->addr && mprotect(seg->addr, seg->size, PROT_READ | PROT_WRITE) != 0)
    return GDF_ERR(GPUDF_EIO, "mprotect(%s): %s", seg->name, strerror(errno));
  return GPUDF_OK;
}

void gdf_segment_unlink(gdf_segment *seg) {
  int dfd = -1;
  if (seg && seg->creator_pid == gdf_self_pid() && gdf_shm_dirfd(&dfd) == GPUDF_OK)
    unlinkat(dfd, seg->name, 0);
}

void gdf_segment_destroy(gdf_segment *seg) {
  if (!seg) return;
  live_remove(seg);
  if (seg->addr) munmap(seg->addr, seg->size);
  if (seg->fd >= 0) close(seg->fd);
  int dfd = -1;
  if (seg->creator_pid == gdf_self_pid() && gdf_shm_dirfd(&dfd) == GPUDF_OK)
    unlinkat(dfd, seg->name, 0);
  free(seg);
}
