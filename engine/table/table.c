/* table.c - the owner's typed columnar table, built directly in a shared
 * arena: one segment, every column GPUDF_ALIGNMENT-aligned, so sharing it
 * later costs no copy. */
#include "cleanup.h"
#include "device.h"
#include "proc.h"
#include "segment.h"
#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t gdf_column_span(int64_t nrows, gpudf_type type) {
  uint64_t bytes = (uint64_t)nrows * gpudf_type_size(type);
  return (bytes + GPUDF_ALIGNMENT - 1) / GPUDF_ALIGNMENT * GPUDF_ALIGNMENT;
}

gpudf_status gpudf_table_create(int64_t nrows, gpudf_table **out) {
  GDF_ENTER();
  if (!out) return GDF_ERR(GPUDF_EINVAL, "out is NULL");
  *out = NULL;
  if (nrows < 1)
    return GDF_ERR(GPUDF_EINVAL, "a table needs at least 1 row, got %" PRId64, nrows);
  /* The largest column (8 bytes a value) must fit in an off_t. */
  if (nrows > INT64_MAX / 8 - GPUDF_ALIGNMENT)
    return GDF_ERR(GPUDF_EOVERFLOW, "%" PRId64 " rows is too many", nrows);
  gdf_remove_dead_quietly();
  gpudf_table *t = calloc(1, sizeof *t);
  if (!t) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  t->refs = 1;
  t->nrows = nrows;
  gpudf_status st = gdf_segment_create('a', &t->arena);
  if (st != GPUDF_OK) {
    free(t);
    return st;
  }
  *out = t;
  return GPUDF_OK;
}

/* derived: gpudf_table_prepare adds one of its columns (gdf_table_alloc_derived),
 * the only caller allowed the reserved prefixes. */
static gpudf_status check_column_name(const gpudf_table *t, const char *name, bool derived) {
  if (!name) return GDF_ERR(GPUDF_EINVAL, "column name is NULL");
  size_t n = strnlen(name, GPUDF_NAME_MAX + 1);
  if (n == 0) return GDF_ERR(GPUDF_EINVAL, "column name is empty");
  if (n > GPUDF_NAME_MAX)
    return GDF_ERR(GPUDF_ENAMETOOLONG, "column name '%.20s...' is longer than %d bytes",
                   name, GPUDF_NAME_MAX);
  int i = gdf_table_column_index(t, name);
  if (i >= 0) return GDF_ERR(GPUDF_EEXIST, "column '%s' already exists (column %d)", name, i);
  /* A kernel reads these as what gpudf_table_prepare derived: a user's
   * column of that name would be taken for it (a wrong result). */
  const char *reserved = strncmp(name, GDF_DERIVED_PREFIX, strlen(GDF_DERIVED_PREFIX)) == 0
                             ? GDF_DERIVED_PREFIX
                         : strncmp(name, GDF_DERIVED_PREFIX_LO, strlen(GDF_DERIVED_PREFIX_LO)) == 0
                             ? GDF_DERIVED_PREFIX_LO
                         : strncmp(name, GDF_DERIVED_ORDER, strlen(GDF_DERIVED_ORDER)) == 0
                             ? GDF_DERIVED_ORDER
                             : NULL;
  if (!derived && reserved)
    return GDF_ERR(GPUDF_EINVAL, "column name '%s': names starting with '%s' are reserved "
                   "for the columns gpudf_table_prepare derives; rename it", name, reserved);
  return GPUDF_OK;
}

_Thread_local uint64_t gdf_prepare_reserve;

const char *gdf_derived_room(const gpudf_table *t, int ncols, gpudf_type type) {
  static _Thread_local char why[512];
  uint64_t grow = (uint64_t)ncols * gdf_column_span(t->nrows, type);
  gdf_quiet q;
  gdf_quiet_begin(&q, why, sizeof why); /* no room is a decision, not an error */
  gpudf_status st = gdf_shm_check_space(grow + gdf_prepare_reserve,
                                        t->arena_bytes + grow + gdf_prepare_reserve,
                                        "the table with its derived columns");
  gdf_quiet_end(&q);
  return st == GPUDF_OK ? NULL : why;
}

/* Appends the column's space to the arena and gives its address. */
/* Grows the arena to size bytes; it may move, so never while an in-process
 * sweep's kernels read it (a progress callback adding a column, preparing
 * or sweeping the same table would pull the memory from under them). */
static gpudf_status grow_arena(gpudf_table *t, uint64_t size) {
  if (t->busy)
    return GDF_ERR(GPUDF_EBUSY, "an in-process sweep is reading this table: its progress "
                   "callback cannot add columns or labels to it (or prepare or sweep it with "
                   "workers); do that before or after the sweep");
  GDF_TRY(gdf_segment_resize(t->arena, size));
  t->base = t->arena->addr;
  t->arena_bytes = t->arena->size;
  return GPUDF_OK;
}

static gpudf_status append_column(gpudf_table *t, const char *name, gpudf_type type,
                                  bool derived, uint8_t **data) {
  if (!t) return GDF_ERR(GPUDF_EINVAL, "table is NULL");
  if (t->is_view) return GDF_ERR(GPUDF_EPERM, "an attached view is read-only");
  if (t->sealed)
    return GDF_ERR(GPUDF_EBUSY, "table was shared and is read-only from then on; "
                   "build a new table to add columns");
  if (!gpudf_type_name(type))
    return GDF_ERR(GPUDF_EINVAL, "unknown column type %d for column '%s'", (int)type,
                   name ? name : "(null)");
  GDF_TRY(check_column_name(t, name, derived));
  if (t->ncols >= GPUDF_MAX_COLUMNS)
    return GDF_ERR(GPUDF_EINVAL, "a table holds at most %d columns", GPUDF_MAX_COLUMNS);
  if (t->ncols == t->cap_cols) {
    int cap = t->cap_cols ? t->cap_cols * 2 : 8;
    gdf_column *cols = realloc(t->cols, (size_t)cap * sizeof *cols);
    if (!cols) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
    t->cols = cols;
    t->cap_cols = cap;
  }
  uint64_t offset = t->arena_bytes;
  GDF_TRY(grow_arena(t, offset + gdf_column_span(t->nrows, type)));
  gdf_column *c = &t->cols[t->ncols++];
  memset(c, 0, sizeof *c);
  strcpy(c->name, name); /* length checked above */
  c->type = type;
  c->offset = offset;
  *data = t->base + offset;
  return GPUDF_OK;
}

gpudf_status gpudf_table_add_column(gpudf_table *table, const char *name, gpudf_type type,
                                    const void *data) {
  GDF_ENTER();
  if (!data) return GDF_ERR(GPUDF_EINVAL, "data of column '%s' is NULL", name ? name : "(null)");
  uint8_t *dst = NULL;
  GDF_TRY(append_column(table, name, type, false, &dst));
  size_t n = (size_t)table->nrows;
  if (type == GPUDF_TYPE_BOOL) {
    const uint8_t *src = data;
    for (size_t i = 0; i < n; i++) dst[i] = src[i] != 0;
  } else {
    memcpy(dst, data, n * gpudf_type_size(type));
  }
  return GPUDF_OK;
}

gpudf_status gpudf_table_alloc_column(gpudf_table *table, const char *name, gpudf_type type,
                                      void **data) {
  GDF_ENTER();
  if (!data) return GDF_ERR(GPUDF_EINVAL, "data is NULL");
  uint8_t *dst = NULL;
  GDF_TRY(append_column(table, name, type, false, &dst));
  *data = dst; /* fresh shared pages read as zero */
  return GPUDF_OK;
}

gpudf_status gdf_table_alloc_derived(gpudf_table *t, const char *name, gpudf_type type,
                                     void **data) {
  uint8_t *dst = NULL;
  GDF_TRY(append_column(t, name, type, true, &dst));
  *data = dst;
  return GPUDF_OK;
}

/* ------------------------------------------------------------ categoricals */

static gpudf_status check_labels(int32_t nlabels, const char *const *labels,
                                 const uint32_t *lens, uint64_t *bytes) {
  if (nlabels < 0 || nlabels > GPUDF_LABELS_MAX)
    return GDF_ERR(GPUDF_EINVAL, "%" PRId32 " labels; a dictionary holds 0..%d", nlabels,
                   GPUDF_LABELS_MAX);
  if (nlabels > 0 && !labels) return GDF_ERR(GPUDF_EINVAL, "labels is NULL");
  uint64_t total = ((uint64_t)nlabels + 1) * sizeof(uint64_t);
  for (int32_t i = 0; i < nlabels; i++) {
    if (!labels[i]) return GDF_ERR(GPUDF_EINVAL, "label %" PRId32 " is NULL", i);
    size_t n = lens ? lens[i] : strnlen(labels[i], GPUDF_LABEL_MAX + 1);
    if (n > GPUDF_LABEL_MAX)
      return GDF_ERR(GPUDF_ENAMETOOLONG, "label %" PRId32 " ('%.20s...') is longer than %d "
                     "bytes", i, labels[i], GPUDF_LABEL_MAX);
    if (lens && memchr(labels[i], '\0', n))
      return GDF_ERR(GPUDF_EINVAL, "label %" PRId32 " contains a NUL byte", i);
    total += n + 1;
  }
  *bytes = total;
  return GPUDF_OK;
}

gpudf_status gdf_table_set_dictionary(gpudf_table *t, int col, int32_t nlabels,
                                      const char *const *labels, const uint32_t *lens) {
  uint64_t bytes = 0;
  GDF_TRY(check_labels(nlabels, labels, lens, &bytes));
  uint64_t offset = t->arena_bytes;
  uint64_t span = (bytes + GPUDF_ALIGNMENT - 1) / GPUDF_ALIGNMENT * GPUDF_ALIGNMENT;
  GDF_TRY(grow_arena(t, offset + span));
  uint8_t *dict = t->base + offset;
  uint64_t pos = ((uint64_t)nlabels + 1) * sizeof(uint64_t);
  for (int32_t i = 0; i <= nlabels; i++) {
    memcpy(dict + (uint64_t)i * sizeof pos, &pos, sizeof pos);
    if (i == nlabels) break;
    size_t n = lens ? lens[i] : strlen(labels[i]);
    memcpy(dict + pos, labels[i], n);
    dict[pos + n] = '\0';
    pos += n + 1;
  }
  gdf_column *c = &t->cols[col];
  c->dict_offset = offset;
  c->dict_size = bytes;
  c->nlabels = nlabels;
  return GPUDF_OK;
}

gpudf_status gpudf_table_add_categorical(gpudf_table *table, const char *name,
                                         const int32_t *codes, int32_t nlabels,
                                         const char *const *labels) {
  GDF_ENTER();
  const char *cname = name ? name : "(null)";
  if (!table) return GDF_ERR(GPUDF_EINVAL, "table is NULL");
  if (!codes) return GDF_ERR(GPUDF_EINVAL, "codes of column '%s' is NULL", cname);
  uint64_t bytes;
  GDF_TRY(check_labels(nlabels, labels, NULL, &bytes));
  for (int64_t r = 0; r < table->nrows; r++)
    if (codes[r] < -1 || codes[r] >= nlabels)
      return GDF_ERR(GPUDF_EINVAL, "column '%s' row %" PRId64 ": code %" PRId32 " is out of "
                     "range (-1 for missing, else 0..%" PRId32 ")", cname, r, codes[r],
                     nlabels - 1);
  uint8_t *dst = NULL;
  GDF_TRY(append_column(table, name, GPUDF_TYPE_I32, false, &dst));
  memcpy(dst, codes, (size_t)table->nrows * sizeof *codes);
  gpudf_status st = gdf_table_set_dictionary(table, table->ncols - 1, nlabels, labels, NULL);
  if (st != GPUDF_OK) table->ncols--; /* the column's space stays, unused */
  return st;
}

int gpudf_table_column_is_categorical(const gpudf_table *t, int i) {
  return t && i >= 0 && i < t->ncols && t->cols[i].dict_size != 0;
}

int32_t gpudf_table_column_nlabels(const gpudf_table *t, int i) {
  return gpudf_table_column_is_categorical(t, i) ? t->cols[i].nlabels : 0;
}

const char *gpudf_table_column_label(const gpudf_table *t, int i, int32_t code) {
  if (!gpudf_table_column_is_categorical(t, i) || code < 0 || code >= t->cols[i].nlabels)
    return NULL;
  const uint8_t *dict = t->base + t->cols[i].dict_offset;
  uint64_t pos;
  memcpy(&pos, dict + (uint64_t)code * sizeof pos, sizeof pos);
  return (const char *)dict + pos;
}

int64_t gpudf_table_nrows(const gpudf_table *t) { return t ? t->nrows : 0; }
int gpudf_table_ncols(const gpudf_table *t) { return t ? t->ncols : 0; }
int gpudf_table_is_view(const gpudf_table *t) { return t && t->is_view; }
int64_t gpudf_table_arena_bytes(const gpudf_table *t) { return t ? (int64_t)t->arena_bytes : 0; }

const char *gpudf_table_column_name(const gpudf_table *t, int i) {
  return t && i >= 0 && i < t->ncols ? t->cols[i].name : NULL;
}

gpudf_type gpudf_table_column_type(const gpudf_table *t, int i) {
  return t && i >= 0 && i < t->ncols ? t->cols[i].type : (gpudf_type)0;
}

const void *gpudf_table_column_data(const gpudf_table *t, int i) {
  return t && i >= 0 && i < t->ncols ? t->base + t->cols[i].offset : NULL;
}

gdf_colref gdf_table_colref(const gpudf_table *t, int i) {
  gdf_colref r = {t->base + t->cols[i].offset, t->cols[i].type};
  return r;
}

int gdf_table_column_index(const gpudf_table *t, const char *name) {
  for (int i = 0; i < t->ncols; i++)
    if (strcmp(t->cols[i].name, name) == 0) return i;
  return -1;
}

gpudf_status gpudf_table_find_column(const gpudf_table *t, const char *name, int *index) {
  if (!t || !name || !index) return GDF_ERR(GPUDF_EINVAL, "table, name or index is NULL");
  int i = gdf_table_column_index(t, name);
  if (i < 0)
    return GDF_ERR(GPUDF_ENOENT, "no column named '%s' (the table has %d columns)", name,
                   t->ncols);
  *index = i;
  return GPUDF_OK;
}

void gdf_table_release(gpudf_table *t) {
  if (!t || --t->refs > 0) return;
  /* Attachers learn that the table is gone from its arena's name before its
   * device memory goes (gdf_view_device_check). */
  gdf_segment_unlink(t->arena);
  gdf_placement_free(t->place); /* before the arena: it may be registered */
  gdf_segment_destroy(t->arena);
  free(t->cols);
  free(t);
}

void gpudf_table_free(gpudf_table *t) {
  if (!t) return;
  if (t->is_view) {
    if (t->let_go) t->let_go(t->hold);
    free(t->cols);
    free(t);
    return;
  }
  gdf_table_release(t);
}

/* ------------------------------------------- the device placement, public */

gpudf_backend gpudf_table_backend(const gpudf_table *t) {
  if (!t) return GPUDF_BACKEND_AUTO;
  return t->place ? t->place->backend : GPUDF_BACKEND_CPU;
}

const void *gpudf_table_column_device_data(const gpudf_table *t, int i) {
  if (!t || !t->place || i < 0 || i >= t->ncols) return NULL;
  return t->place->dbase + t->cols[i].offset;
}

gpudf_status gpudf_table_column_device(const gpudf_table *t, int i, const void **data,
                                       int *device) {
  GDF_ENTER();
  if (data) *data = NULL;
  if (device) *device = -1;
  if (!t || !data || !device) return GDF_ERR(GPUDF_EINVAL, "table, data or device is NULL");
  if (i < 0 || i >= t->ncols)
    return GDF_ERR(GPUDF_EINVAL, "column index %d is out of range (the table has %d columns)",
                   i, t->ncols);
  const char *what = t->is_view ? "the view of share" : "this table";
  const char *share = t->is_view ? t->view_share : "";
  if (!t->place || !t->place->dbase)
    return GDF_ERR(GPUDF_ENODEV,
                   "column '%s': %s%s%s%s has the cpu placement, so it has no device "
                   "address; share the table with backend cuda-ipc or cuda-pinned in a "
                   "process that has a CUDA device (attachers must see that device and be "
                   "started by spawn, not fork; GPUDF_LOG=debug says why an attach fell "
                   "back to cpu)",
                   t->cols[i].name, what, t->is_view ? " '" : "", share,
                   t->is_view ? "'" : "");
  GDF_TRY(gdf_view_device_check(t, NULL, t->cols[i].name));
  *data = t->place->dbase + t->cols[i].offset;
  *device = t->place->dev.ordinal;
  return GPUDF_OK;
}

/* An attacher's cuda-ipc memory is the owner's device allocation, freed
 * with the owner's table or its CUDA context: after the owner freed the
 * table or died, the address points at nothing, so it is refused rather
 * than handed to a GPU library or a kernel. (The host arena stays valid:
 * host reads of the view go on working.) */
gpudf_status gdf_view_device_check(const gpudf_table *t, const gdf_replica *read,
                                   const char *column) {
  if (!t->is_view || !t->place || t->place->backend != GPUDF_BACKEND_CUDA_IPC ||
      t->place->owner)
    return GPUDF_OK;
  char what[GPUDF_NAME_MAX + 16] = "";
  if (column) snprintf(what, sizeof what, "column '%s': ", column);
  if (!gdf_proc_alive(t->view_owner_pid, t->view_owner_start))
    return GDF_ERR(GPUDF_EOWNERDEAD,
                   "%sshare '%s' was published by process %d, which is no longer "
                   "running, and its device memory died with it; attach a share of a "
                   "running owner (the host arena of this view is still readable)",
                   what, t->view_share, (int)t->view_owner_pid);
  if (t->withdrawn && t->withdrawn(t->hold))
    return GDF_ERR(GPUDF_ENOENT,
                   "%sthe table of share '%s' was freed by its owner (process %d, still "
                   "running), and its device memory with it; the owner must keep the table "
                   "until its workers are done with the device copy (the host arena of this "
                   "view is still readable)",
                   what, t->view_share, (int)t->view_owner_pid);
  /* A replica added later by another process lives as long as that one
   * keeps it: the share's owner knows nothing of its end. */
  if (!read) read = &t->place->src;
  bool freed = false;
  if (gdf_replica_gone(read, &freed)) {
    char u[48];
    gdf_uuid_text(read->uuid, u, sizeof u);
    return GDF_ERR(GPUDF_ENOENT,
                   "%sthe replica of share '%s' on device %s was added by process %d, which "
                   "%s, and its device memory went with it; attach the share again to read "
                   "another replica (or a peer's, or the pinned host arena, in the attach "
                   "order), and keep an added replica until its readers are done (the host "
                   "arena of this view is still readable)",
                   what, t->view_share, u, (int)read->holder_pid,
                   freed ? "freed it (gpudf_replica_free) and is still running"
                         : "is no longer running");
  }
  return GPUDF_OK;
}

gpudf_access gpudf_table_access(const gpudf_table *t) {
  return t && t->place ? (gpudf_access)t->place->access : GPUDF_ACCESS_HOST;
}

const char *gpudf_table_device(const gpudf_table *t) {
  return t && t->place ? t->place->uuid_text : NULL;
}
