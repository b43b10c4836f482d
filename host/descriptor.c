/* descriptor.c - checksum and validation of share descriptors. Everything an
 * attacher reads from another process passes through gdf_desc_validate. */
#include "descriptor.h"
#include "segment.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

uint64_t gdf_desc_checksum(const uint8_t *desc, uint64_t size) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (uint64_t i = offsetof(gdf_desc_header, owner_uid); i < size; i++) {
    h ^= desc[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

/* The dictionary fields of a column, against the descriptor alone; the
 * labels themselves are checked once the arena is mapped. */
static gpudf_status check_dict_fields(const gdf_desc_header *h, const gdf_desc_column *c,
                                      uint32_t i, const char *name) {
  if (c->dict_size == 0) {
    if (c->dict_offset != 0 || c->nlabels != 0)
      return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u has %u labels but no dictionary",
                     name, i, c->nlabels);
    return GPUDF_OK;
  }
  if (c->type != GPUDF_TYPE_I32)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u has a dictionary but type %u, not "
                   "i32", name, i, c->type);
  if (c->nlabels > GPUDF_LABELS_MAX)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u has %u labels, more than %d", name,
                   i, c->nlabels, GPUDF_LABELS_MAX);
  if (c->dict_offset % GPUDF_ALIGNMENT != 0 || c->dict_offset > h->arena_size ||
      c->dict_size > h->arena_size - c->dict_offset ||
      c->dict_size < ((uint64_t)c->nlabels + 1) * sizeof(uint64_t))
    return GDF_ERR(GPUDF_EBADMSG,
                   "share '%s': dictionary of column %u (%u labels, %" PRIu64 " bytes at %"
                   PRIu64 ") lies outside the %" PRIu64 "-byte arena or is misaligned",
                   name, i, c->nlabels, c->dict_size, c->dict_offset, h->arena_size);
  return GPUDF_OK;
}

static gpudf_status check_column(const gdf_desc_header *h, const gdf_desc_column *c,
                                 uint32_t i, const char *name) {
  if (!terminated(c->name, sizeof c->name) || c->name[0] == '\0')
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u has no valid name", name, i);
  size_t width = gpudf_type_size((gpudf_type)c->type);
  if (width == 0)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u has unknown type %u", name, i,
                   c->type);
  if (c->offset % GPUDF_ALIGNMENT != 0)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': column %u offset %" PRIu64 " is not aligned",
                   name, i, c->offset);
  /* offset + nrows * width <= arena_size, without overflow */
  if (c->offset > h->arena_size ||
      (uint64_t)h->nrows > (h->arena_size - c->offset) / width)
    return GDF_ERR(GPUDF_EBADMSG,
                   "share '%s': column %u (%" PRId64 " x %zu bytes at %" PRIu64
                   ") lies outside the %" PRIu64 "-byte arena",
                   name, i, h->nrows, width, c->offset, h->arena_size);
  return check_dict_fields(h, c, i, name);
}

gpudf_status gdf_desc_validate(const uint8_t *desc, uint64_t size, const char *name) {
  const gdf_desc_header *h = (const gdf_desc_header *)desc;
  if (size < sizeof *h)
    return GDF_ERR(GPUDF_EBADMSG,
                   "share '%s' is truncated: %" PRIu64 " bytes, a descriptor needs at least %zu",
                   name, size, sizeof *h);
  if (h->magic != GDF_DESC_MAGIC)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' is not a gpudf segment (bad magic)", name);
  if (h->version != GDF_DESC_VERSION)
    return GDF_ERR(GPUDF_EBADMSG,
                   "share '%s' has format version %u; this library (%s) reads version %d",
                   name, h->version, gpudf_version(), GDF_DESC_VERSION);
  if (h->header_size != sizeof *h || h->ncols == 0 || h->ncols > GPUDF_MAX_COLUMNS ||
      h->total_size != sizeof *h + (uint64_t)h->ncols * sizeof(gdf_desc_column))
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' has an inconsistent layout (%u columns, %" PRIu64
                   " bytes)", name, h->ncols, h->total_size);
  if (h->total_size != size)
    return GDF_ERR(GPUDF_EBADMSG,
                   "share '%s' is truncated or padded: segment is %" PRIu64
                   " bytes, descriptor says %" PRIu64, name, size, h->total_size);
  if (h->checksum != gdf_desc_checksum(desc, size))
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' is corrupt (checksum mismatch)", name);
  if (h->ready != 1)
    return GDF_ERR(GPUDF_EAGAIN, "share '%s' is not ready yet", name);
  if (h->nrows < 1 || h->arena_size > (uint64_t)INT64_MAX ||
      !gpudf_backend_name((gpudf_backend)h->backend) ||
      !terminated(h->share_name, sizeof h->share_name))
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' has invalid header fields", name);
  char kind;
  int pid;
  uint64_t start;
  if (!terminated(h->arena_name, sizeof h->arena_name) ||
      !gdf_parse_private_name(h->arena_name, &kind, &pid, &start) || kind != 'a')
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' names no valid arena segment", name);
  const gdf_desc_column *cols = (const gdf_desc_column *)(desc + sizeof *h);
  for (uint32_t i = 0; i < h->ncols; i++) GDF_TRY(check_column(h, &cols[i], i, name));
  return GPUDF_OK;
}

static gpudf_status check_labels(const gdf_desc_column *c, const uint8_t *arena, uint32_t i,
                                 const char *name) {
  const uint8_t *dict = arena + c->dict_offset;
  uint64_t off[2];
  memcpy(&off[0], dict, sizeof off[0]);
  if (off[0] != ((uint64_t)c->nlabels + 1) * sizeof(uint64_t))
    return GDF_ERR(GPUDF_EBADMSG, "share '%s': dictionary of column %u does not start with "
                   "its %u label offsets", name, i, c->nlabels);
  for (uint32_t k = 0; k < c->nlabels; k++) {
    memcpy(off, dict + (uint64_t)k * sizeof(uint64_t), sizeof off);
    if (off[1] <= off[0] || off[1] > c->dict_size || off[1] - off[0] - 1 > GPUDF_LABEL_MAX)
      return GDF_ERR(GPUDF_EBADMSG, "share '%s': label %u of column %u (bytes %" PRIu64
                     "..%" PRIu64 ") lies outside its %" PRIu64 "-byte dictionary or is too "
                     "long", name, k, i, off[0], off[1], c->dict_size);
    const uint8_t *nul = memchr(dict + off[0], '\0', off[1] - off[0]);
    if (nul != dict + off[1] - 1)
      return GDF_ERR(GPUDF_EBADMSG, "share '%s': label %u of column %u is not a "
                     "NUL-terminated string of %" PRIu64 " bytes", name, k, i,
                     off[1] - off[0] - 1);
  }
  return GPUDF_OK;
}

gpudf_status gdf_desc_validate_dicts(const uint8_t *desc, const uint8_t *arena,
                                     const char *name) {
  const gdf_desc_header *h = (const gdf_desc_header *)desc;
  const gdf_desc_column *cols = (const gdf_desc_column *)(desc + sizeof *h);
  for (uint32_t i = 0; i < h->ncols; i++)
    if (cols[i].dict_size != 0) GDF_TRY(check_labels(&cols[i], arena, i, name));
  return GPUDF_OK;
}
