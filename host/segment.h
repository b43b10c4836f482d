/*
 * segment.h - named shared-memory segments of this user.
 *
 * Every segment lives in the shm directory (/dev/shm, or $GPUDF_SHM_DIR) and
 * is named "gpudf-<uid>-<name>" when a user published it, or
 * "gpudf-<uid>+<kind>.<pid>.<start>.<seq>" when the library made it for a
 * process: the owner's identity is then part of the name, so a segment whose
 * owner died can always be recognised and removed, even if the owner was killed
 * before it wrote a single byte. Files are created O_EXCL with mode 0600 and
 * space is reserved with posix_fallocate before it is mapped, so a full
 * /dev/shm is a status and never a SIGBUS.
 */
#ifndef GPUDF_SEGMENT_H
#define GPUDF_SEGMENT_H

#include "base.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { GDF_SEG_PATH_MAX = 128 };

typedef struct gdf_segment {
  int fd;
  char name[GDF_SEG_PATH_MAX]; /* file name inside the shm directory */
  uint8_t *addr;               /* mapping, read-write, or NULL */
  uint64_t size;               /* bytes reserved in the file and mapped */
  int creator_pid;             /* only this process may unlink it at exit */
} gdf_segment;

/* The directory holding the segments ("/dev/shm" unless GPUDF_SHM_DIR). */
const char *gdf_shm_dir(void);
/* An fd of that directory (opened once, kept for the process). */
gpudf_status gdf_shm_dirfd(int *fd);

/* "gpudf-<uid>-" : the prefix of user-published names. */
void gdf_user_prefix(char *buf, size_t len);

/* Checks a user share name: 1..GPUDF_NAME_MAX bytes of [A-Za-z0-9._-], not
 * "." or "..". The message names the offending byte. */
gpudf_status gdf_check_share_name(const char *name);

/* Creates an empty private segment "gpudf-<uid>+<kind>.<pid>.<start>.<seq>".
 * On success the caller owns *out and frees it with gdf_segment_destroy. */
gpudf_status gdf_segment_create(char kind, gdf_segment **out);
/* Grows the segment to size bytes (reserving the space first) and maps it
 * read-write; the address may move. */
gpudf_status gdf_segment_resize(gdf_segment *seg, uint64_t size);
/* Makes the mapping read-only. */
gpudf_status gdf_segment_seal(gdf_segment *seg);
/* Undoes gdf_segment_seal, for an arena no other process has seen. */
gpudf_status gdf_segment_unseal(gdf_segment *seg);
/* Unmaps, closes and unlinks. NULL is harmless. */
void gdf_segment_destroy(gdf_segment *seg);
/* Unlinks the name now (its creator only), keeping the mapping: other
 * processes see the segment gone before what it backs is freed. */
void gdf_segment_unlink(gdf_segment *seg);

/* Whether grow bytes more (total in all) can be reserved in the shm
 * directory; ENOSPC with a message that says what needs them, the sizes
 * asked, the size free and how to raise it. */
gpudf_status gdf_shm_check_space(uint64_t grow, uint64_t total, const char *what);

/* Identity of this process, computed once. */
int gdf_self_pid(void);
uint64_t gdf_self_start(void);

/* Parses "gpudf-<uid>+<kind>.<pid>.<start>.<seq>"; false if not that shape. */
bool gdf_parse_private_name(const char *name, char *kind, int *pid, uint64_t *start);

#ifdef __cplusplus
}
#endif

#endif
