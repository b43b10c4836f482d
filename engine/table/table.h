/*
 * table.h - the table: one arena of aligned columns, categorical dictionaries.
 */
#ifndef GPUDF_TABLE_H
#define GPUDF_TABLE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- table */

typedef struct gdf_column {
  char name[GPUDF_NAME_MAX + 1];
  gpudf_type type;
  uint64_t offset; /* from the arena base, multiple of GPUDF_ALIGNMENT */
  /* Categorical columns: the dictionary at dict_offset (aligned), dict_size
   * bytes: uint64 offsets[nlabels + 1] relative to the dictionary start,
   * then the labels, each NUL-terminated; label i spans
   * [offsets[i], offsets[i + 1]). dict_size is 0 for other columns. */
  uint64_t dict_offset;
  uint64_t dict_size;
  int32_t nlabels;
} gdf_column;

struct gdf_segment; /* host/segment.h */
struct gdf_placement; /* engine/device/device.h: where kernels read the arena */

struct gpudf_table {
  int refs;        /* the handle + an open share; guarded by the caller */
  bool is_view;
  bool sealed;     /* shared once: the arena is read-only from then on */
  int busy;        /* in-process sweeps running kernels over it: the arena must not
                    * grow (it may move), e.g. from their progress callback */
  int64_t nrows;
  int ncols;
  int cap_cols;
  gdf_column *cols;
  uint8_t *base;   /* arena base in this process (NULL until a column exists) */
  uint64_t arena_bytes;
  /* owner only */
  struct gdf_segment *arena;
  gpudf_share *share;
  /* view only: what the share layer holds for it (its cached mapping of the
   * arena), let go when the view is freed. The table knows nothing above
   * it: the share layer sets both (make_view in engine/share/attach.c). */
  void *hold;
  void (*let_go)(void *hold);
  /* view only: whether the owner freed the table since (its arena was
   * removed), which takes a cuda-ipc view's device memory with it */
  bool (*withdrawn)(const void *hold);
  /* view only: the share it was attached from, so a sweep over a view can
   * send its workers to the same share (set by make_view) */
  char view_share[GPUDF_NAME_MAX + 1];
  gpudf_backend view_backend;
  /* view only: the process that published the share (pid + start time), so
   * that handing out a cuda-ipc device address can first check that the
   * memory behind it still exists (set by make_view) */
  int32_t view_owner_pid;
  uint64_t view_owner_start;
  /* Device placement (cuda-ipc or cuda-pinned), NULL on cpu. An owner's is
   * its own reference (set by gpudf_table_share, released with the table);
   * a view's is borrowed from its attachment (engine/device/device.h). */
  struct gdf_placement *place;
};

/* Column access for kernels: the pointer in this process and the type. */
typedef struct gdf_colref {
  const void *data;
  gpudf_type type;
} gdf_colref;
/* Column index's reference, for a kernel run. */
gdf_colref gdf_table_colref(const gpudf_table *t, int index);

/* Drops one reference; frees the table when the last one goes. */
void gdf_table_release(gpudf_table *t);

struct gdf_replica;
/* GPUDF_OK unless t is a cuda-ipc view whose device memory is gone: its
 * owner died (GPUDF_EOWNERDEAD) or freed the table (GPUDF_ENOENT), or the
 * replica it reads (read; NULL: the one its handle was opened from) was
 * added by another process which freed it or is no longer running
 * (GPUDF_ENOENT, naming that process and the device). column (may be NULL)
 * is named in the message. */
gpudf_status gdf_view_device_check(const gpudf_table *t, const struct gdf_replica *read,
                                   const char *column);
/* Appends the dictionary of nlabels labels (lens[i] bytes each, no NUL
 * needed; lens may be NULL for NUL-terminated labels) to the arena for the
 * existing i32 column col of an owner's table (engine/table.c). Column
 * pointers obtained before become invalid. */
gpudf_status gdf_table_set_dictionary(gpudf_table *t, int col, int32_t nlabels,
                                      const char *const *labels, const uint32_t *lens);
/* The index of the column called name, or -1: a quiet query for callers to
 * whom a missing column is normal (gpudf_table_find_column is the public
 * one, with a message). t and name are not NULL. */
int gdf_table_column_index(const gpudf_table *t, const char *name);
/* gpudf_table_alloc_column for a column gpudf_table_prepare derives: the
 * only way to a name with GDF_DERIVED_PREFIX or GDF_DERIVED_PREFIX_LO. */
gpudf_status gdf_table_alloc_derived(gpudf_table *t, const char *name, gpudf_type type,
                                     void **data);
/* Size of one column of this table, rounded up to GPUDF_ALIGNMENT. */
uint64_t gdf_column_span(int64_t nrows, gpudf_type type);
/* NULL when the shared memory has room for ncols more columns of type in
 * the owner's table t, leaving gdf_prepare_reserve free; otherwise why not
 * (a message in thread-local storage, valid until the next call). Derived
 * columns are optional: a kernel computes them per batch instead, so no
 * room is no error: the last error is left as it was. */
const char *gdf_derived_room(const gpudf_table *t, int ncols, gpudf_type type);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_TABLE_H */
