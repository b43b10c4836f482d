/*
 * descriptor.h - the bytes a published share consists of.
 *
 * A share is a small descriptor segment "gpudf-<uid>-<name>" that points at
 * the table's arena segment. The descriptor is written completely under a
 * private name and then hard-linked to the public name, so the public name
 * never shows a half-written descriptor and publication is atomic and
 * exclusive (link fails with EEXIST). Attachers trust nothing in it: every
 * field, offset and size is checked against the real segment sizes first.
 */
#ifndef GPUDF_DESCRIPTOR_H
#define GPUDF_DESCRIPTOR_H

#include "base.h"

#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version 3 (libgpudf 0.5): a replica per device instead of one UUID and
 * handle. Version 2 descriptors (0.4) are refused with a message. */
enum { GDF_DESC_VERSION = 3, GDF_DESC_REPLICAS_MAX = 16 };
#define GDF_DESC_MAGIC UINT64_C(0x5248534644555047) /* "GPUDFSHR" */

typedef struct gdf_desc_column {
  char name[64];
  uint32_t type;
  uint32_t nlabels;     /* categorical columns; 0 otherwise */
  uint64_t offset;
  /* version 2: the dictionary of a categorical column in the arena (layout
   * in engine/table/table.h, gdf_column); both 0 for other columns */
  uint64_t dict_offset;
  uint64_t dict_size;
} gdf_desc_column;

typedef struct gdf_desc_header {
  uint64_t magic;
  uint32_t version;
  uint32_t header_size; /* sizeof(gdf_desc_header) */
  uint64_t total_size;  /* header_size + ncols * sizeof(gdf_desc_column) */
  uint32_t ready;       /* set last; not covered by the checksum */
  uint32_t reserved0;
  uint64_t checksum;    /* FNV-1a 64 of bytes [offsetof(owner_uid), total_size) */
  uint32_t owner_uid;
  int32_t owner_pid;
  uint64_t owner_start; /* start time of owner_pid, clock ticks since boot */
  uint64_t share_id;    /* random, tells two shares of one name apart */
  uint32_t backend;
  uint32_t ncols;
  int64_t nrows;
  uint64_t arena_size;
  char arena_name[128];
  char share_name[64];
  /* cuda-ipc: one replica of the arena per device, named by the device's
   * UUID (never an ordinal: CUDA_VISIBLE_DEVICES numbers devices per
   * process), with the IPC handle it is opened by; distinct UUIDs, entries
   * past nreplicas all zero. Other placements: none. */
  uint32_t nreplicas;
  uint32_t reserved1;
  struct gdf_desc_replica {
    uint8_t device_uuid[16];
    uint8_t ipc_handle[64];
  } replicas[GDF_DESC_REPLICAS_MAX];
  uint8_t reserved[64];
} gdf_desc_header;

/* The file name in the shm directory of the share called name:
 * "gpudf-<uid>-<name>". */
void gdf_desc_file_name(const char *name, char *buf, size_t len);

/* Reads the descriptor file (in the shm directory dfd) of the share called
 * name into a malloc'ed buffer of *size bytes after checking that it is a
 * regular file of this user, mode 0600, no larger than any descriptor; *st
 * is what was checked. On success the caller frees *buf. Nothing is
 * validated yet (gdf_desc_validate). */
gpudf_status gdf_desc_read(int dfd, const char *file, const char *name, uint8_t **buf,
                           uint64_t *size, struct stat *st);

/* gdf_desc_read of the share called name in this user's shm directory:
 * *dfd is that directory (gdf_shm_dirfd's, not to be closed) and file
 * (GDF_SEG_PATH_MAX bytes) the descriptor's file name in it. */
gpudf_status gdf_desc_read_share(const char *name, int *dfd, char *file, uint8_t **buf,
                                 uint64_t *size, struct stat *st);

uint64_t gdf_desc_checksum(const uint8_t *desc, uint64_t size);

/* Checks a descriptor of size bytes (the segment's real size): layout,
 * magic, version, checksum, readiness and every column against arena_size
 * bounds. name is the share name for messages. */
gpudf_status gdf_desc_validate(const uint8_t *desc, uint64_t size, const char *name);

/* Checks every dictionary of a descriptor that passed gdf_desc_validate
 * against the mapped arena (arena_size bytes at arena): offsets in order and
 * inside the dictionary, every label NUL-terminated exactly at its end and at
 * most GPUDF_LABEL_MAX bytes. */
gpudf_status gdf_desc_validate_dicts(const uint8_t *desc, const uint8_t *arena,
                                     const char *name);

#ifdef __cplusplus
}
#endif

#endif
