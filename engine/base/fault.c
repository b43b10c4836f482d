/*
 * fault.c - fault injection for tests (see fault.h). Compiled into the
 * library only with GPUDF_FAULT_INJECTION=ON, which also links it with
 * -Wl,--wrap=<call> for every call below: the library's own references to
 * malloc, open, ... then land in __wrap_<call> here, and __real_<call> is
 * the C library's. Other code in the process (the test itself, the C++
 * runtime, glibc's internals) is not affected.
 *
 * One class is armed at a time; its calls are counted from 0 and the Nth
 * fails (or the Nth and all later ones). Unarmed, a wrapper costs one
 * relaxed atomic load.
 */
#ifdef GPUDF_FAULT_INJECTION

#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

static _Atomic int armed_class = -1;
static _Atomic long target;      /* 0: fail none */
static _Atomic int persist;
static _Atomic long seen;        /* calls of the armed class since arming */
static _Atomic int fired;

void gdf_fault_arm(int cls, long n, int persistent) {
  atomic_store(&armed_class, -1);
  atomic_store(&target, n > 0 ? n : 0);
  atomic_store(&persist, persistent != 0);
  atomic_store(&seen, 0);
  atomic_store(&fired, 0);
  atomic_store(&armed_class, cls >= 0 && cls < GDF_FAULT_CLASSES ? cls : -1);
}

long gdf_fault_disarm(void) {
  atomic_store(&armed_class, -1);
  return atomic_load(&seen);
}

int gdf_fault_fired(void) { return atomic_load(&fired); }

/* Counts one call of class cls; true when this one must fail. */
static bool hit(int cls) {
  if (atomic_load_explicit(&armed_class, memory_order_relaxed) != cls) return false;
  long k = atomic_fetch_add(&seen, 1) + 1;
  long n = atomic_load(&target);
  if (n == 0 || k < n || (k > n && !atomic_load(&persist))) return false;
  atomic_store(&fired, 1);
  return true;
}

/* ------------------------------------------------------------- memory */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

#define FAIL_IF(cls, err, ret) \
  do {                         \
    if (hit(cls)) {            \
      errno = (err);           \
      return ret;              \
    }                          \
  } while (0)

void *__wrap_malloc(size_t n) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL);
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL);
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL); /* p stays valid, as with a real failure */
  return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL);
  return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL);
  return __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
  FAIL_IF(GDF_FAULT_ALLOC, ENOMEM, NULL);
  return __real_aligned_alloc(align, n);
}

/* ---------------------------------------------------------------- files */

int __real_open(const char *path, int flags, ...);
int __real_openat(int dfd, const char *path, int flags, ...);
int __real_dup(int fd);
DIR *__real_fdopendir(int fd);
int __real_fstat(int fd, struct stat *st);
int __real_fstatvfs(int fd, struct statvfs *st);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
int __real_ftruncate(int fd, off_t size);
int __real_posix_fallocate(int fd, off_t off, off_t len);
int __real_linkat(int from_dfd, const char *from, int to_dfd, const char *to, int flags);
int __wrap_open(const char *path, int flags, ...);
int __wrap_openat(int dfd, const char *path, int flags, ...);
int __wrap_dup(int fd);
DIR *__wrap_fdopendir(int fd);
int __wrap_fstat(int fd, struct stat *st);
int __wrap_fstatvfs(int fd, struct statvfs *st);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
int __wrap_ftruncate(int fd, off_t size);
int __wrap_posix_fallocate(int fd, off_t off, off_t len);
int __wrap_linkat(int from_dfd, const char *from, int to_dfd, const char *to, int flags);

/* The mode argument exists only when the flags create a file. */
static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int __wrap_open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  FAIL_IF(GDF_FAULT_FILE, EMFILE, -1);
  return __real_open(path, flags, mode);
}

int __wrap_openat(int dfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  FAIL_IF(GDF_FAULT_FILE, EMFILE, -1);
  return __real_openat(dfd, path, flags, mode);
}

int __wrap_dup(int fd) {
  FAIL_IF(GDF_FAULT_FILE, EMFILE, -1);
  return __real_dup(fd);
}

DIR *__wrap_fdopendir(int fd) {
  FAIL_IF(GDF_FAULT_FILE, ENOMEM, NULL);
  return __real_fdopendir(fd);
}

int __wrap_fstat(int fd, struct stat *st) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  return __real_fstat(fd, st);
}

static _Atomic long long shm_free_cap = -1;

void gdf_fault_shm_free(long long bytes) { atomic_store(&shm_free_cap, bytes < 0 ? -1 : bytes); }

int __wrap_fstatvfs(int fd, struct statvfs *st) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  int r = __real_fstatvfs(fd, st);
  long long cap = atomic_load(&shm_free_cap);
  if (r == 0 && cap >= 0 && st->f_frsize > 0 &&
      (unsigned long long)st->f_bavail > (unsigned long long)cap / st->f_frsize)
    st->f_bavail = (fsblkcnt_t)((unsigned long long)cap / st->f_frsize);
  return r;
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  return __real_read(fd, buf, n);
}

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  return __real_pread(fd, buf, n, off);
}

int __wrap_ftruncate(int fd, off_t size) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  return __real_ftruncate(fd, size);
}

int __wrap_posix_fallocate(int fd, off_t off, off_t len) {
  if (hit(GDF_FAULT_FILE)) return ENOSPC; /* returns the error, errno untouched */
  return __real_posix_fallocate(fd, off, len);
}

int __wrap_linkat(int from_dfd, const char *from, int to_dfd, const char *to, int flags) {
  FAIL_IF(GDF_FAULT_FILE, EIO, -1);
  return __real_linkat(from_dfd, from, to_dfd, to, flags);
}

/* ------------------------------------------------------------- mappings */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__real_mremap(void *old, size_t old_len, size_t new_len, int flags, ...);
int __real_mprotect(void *addr, size_t len, int prot);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags, ...);
int __wrap_mprotect(void *addr, size_t len, int prot);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  FAIL_IF(GDF_FAULT_MMAP, ENOMEM, MAP_FAILED);
  return __real_mmap(addr, len, prot, flags, fd, off);
}

void *__wrap_mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  FAIL_IF(GDF_FAULT_MMAP, ENOMEM, MAP_FAILED);
  static int move_all = -1; /* GPUDF_FAULT_MOVE_ALL=1: every growth moves, armed or not */
  if (move_all < 0) {
    const char *v = getenv("GPUDF_FAULT_MOVE_ALL");
    move_all = v && strcmp(v, "1") == 0;
  }
  bool may_move = (flags & MREMAP_MAYMOVE) && !(flags & MREMAP_FIXED);
  if (may_move && (hit(GDF_FAULT_MOVE) || move_all)) {
    /* Somewhere else: a fresh reservation the mapping replaces. */
    void *to = __real_mmap(NULL, new_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (to != MAP_FAILED) return __real_mremap(old, old_len, new_len, flags | MREMAP_FIXED, to);
  }
  return __real_mremap(old, old_len, new_len, flags, new_addr);
}

int __wrap_mprotect(void *addr, size_t len, int prot) {
  FAIL_IF(GDF_FAULT_MMAP, ENOMEM, -1);
  return __real_mprotect(addr, len, prot);
}

/* ------------------------------------------------------------ processes */

int __real_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int __wrap_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);

int __wrap_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  if (hit(GDF_FAULT_SPAWN)) return EAGAIN; /* returns the error, like the real one */
  return __real_posix_spawn(pid, path, fa, attr, argv, envp);
}

/* A thread start counts as a process start: both are the library asking
 * the system for another worker (the parallel CSV reader starts threads). */
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg) {
  if (hit(GDF_FAULT_SPAWN)) return EAGAIN;
  return __real_pthread_create(t, attr, fn, arg);
}

/* The device layer's calls are counted by the fault device
 * (engine/device/device_fault.c), through this. */
bool gdf_fault_hit(int cls, long *call) {
  bool h = hit(cls);
  if (call) *call = atomic_load(&seen);
  return h;
}

#else
/* A build without GPUDF_FAULT_INJECTION (tests/fuzz/run.sh compiles every
 * engine file): nothing here. */
typedef int gdf_fault_not_built;
#endif
