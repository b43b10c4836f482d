/*
 * cleanup.h - what dead processes of this user left in the shm directory,
 * and the tombstones that tell attachers of a share that its owner died.
 */
#ifndef GPUDF_CLEANUP_H
#define GPUDF_CLEANUP_H

#include "descriptor.h"
#include "segment.h"

#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Removes the private segments of dead processes and the descriptors of
 * dead owners, and says how many in *removed (may be NULL). A dead owner's
 * descriptor leaves its tombstone and tombstones go once past their window,
 * unless all (an explicit gpudf_cleanup): then tombstones go too. Files that
 * are not provably this user's are left alone. */
gpudf_status gdf_remove_dead(bool all, int *removed);
/* gdf_remove_dead(false) as internal work of another call: in a quiet
 * scope, since what dead processes left is not the caller's error. Returns
 * how many segments went. */
int gdf_remove_dead_quietly(void);

/* Removes the descriptor file (judged as st, header h) of a dead owner,
 * leaving its tombstone first, so that an attacher that finds the
 * descriptor gone finds the tombstone. Returns whether this call removed
 * the descriptor. */
bool gdf_tomb_bury(int dfd, const char *file, const struct stat *st, const gdf_desc_header *h);
/* The tombstone of share name, as the error an attacher that found no
 * descriptor gets instead of status (ENOENT); status unchanged without one. */
gpudf_status gdf_tomb_says(int dfd, const char *name, gpudf_status status);
/* Removes the tombstone of share name: the name is published again. */
void gdf_tomb_remove(int dfd, const char *name);

#ifdef __cplusplus
}
#endif

#endif
