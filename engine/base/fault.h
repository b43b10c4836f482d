/*
 * fault.h - fault injection for tests: fail the Nth allocation, file call,
 * mapping, process start or device call, so that a test can walk every error
 * path (tests/test_fault.cc). Only in builds configured with
 * GPUDF_FAULT_INJECTION=ON; never in a release.
 *
 * The library's calls to malloc, open, mmap, posix_spawn, ... are redirected
 * at link time (-Wl,--wrap=..., see CMakeLists.txt) to engine/fault.c, which
 * counts them per class while armed and fails the Nth with the errno the real
 * call would give. Device calls are counted by a device that holds the real
 * one (engine/device/device_fault.c; gdf_device_get wraps every device with
 * it). Nothing else in the library knows about it.
 *
 * The control functions below are exported from libgpudf in fault builds
 * only (cmake/gpudf-fault.map); tests find them with dlsym, so that the same
 * test binary skips visibly against a normal build.
 */
#ifndef GPUDF_FAULT_H
#define GPUDF_FAULT_H

#include "base.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a fault is injected into. */
enum {
  GDF_FAULT_ALLOC = 0,  /* malloc calloc realloc strdup strndup aligned_alloc: NULL, ENOMEM */
  GDF_FAULT_FILE = 1,   /* open openat dup fdopendir fstat fstatvfs read pread ftruncate
                           posix_fallocate linkat: EMFILE, EIO or ENOSPC */
  GDF_FAULT_MMAP = 2,   /* mmap mremap mprotect: ENOMEM */
  GDF_FAULT_SPAWN = 3,  /* posix_spawn pthread_create: EAGAIN */
  GDF_FAULT_DEVICE = 4, /* every device call that can fail: GPUDF_EIO, or no device */
  GDF_FAULT_MOVE = 5,   /* mremap(MREMAP_MAYMOVE) moves the mapping, even where it could
                           grow in place: not a failure, a test for stale pointers. The
                           environment variable GPUDF_FAULT_MOVE_ALL=1 moves every growth
                           of the process, armed or not (tests/run.sh) */
  GDF_FAULT_CLASSES = 6
};

#ifdef GPUDF_FAULT_INJECTION
/* Starts counting the calls of class cls made by this process, from 0, and
 * fails call number n (n >= 1; 0 fails none). persistent: every call from the
 * nth on fails, not only the nth. Replaces any earlier arming. */
__attribute__((visibility("default"))) void gdf_fault_arm(int cls, long n, int persistent);
/* Stops injecting; returns how many calls of the armed class were made while
 * armed (the fault points one walk has to cover). */
__attribute__((visibility("default"))) long gdf_fault_disarm(void);
/* Whether the armed fault was injected at least once. */
__attribute__((visibility("default"))) int gdf_fault_fired(void);
/* Makes fstatvfs report at most bytes free (a small /dev/shm) until called
 * with -1; not a class: it stays in effect across arm and disarm. */
__attribute__((visibility("default"))) void gdf_fault_shm_free(long long bytes);

/* Counts one call of class cls, made outside this file (the fault device,
 * engine/device/device_fault.c); true when it is the one to fail. *call, if
 * not NULL, gets the calls counted since arming, for the message. */
bool gdf_fault_hit(int cls, long *call);
#endif

#ifdef __cplusplus
}
#endif

#endif
