/* descriptor.c - the descriptor file of a share: its name, reading it, its
 * checksum and validation. Everything an attacher reads from another process
 * passes through gdf_desc_validate. */
#include "descriptor.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The replica table: as many as the placement has, distinct, the rest zero. */
static gpudf_status check_replicas(const gdf_desc_header *h, const char *name) {
  static const struct gdf_desc_replica zero;
  bool ipc = h->backend == GPUDF_BACKEND_CUDA_IPC;
  if (ipc ? h->nreplicas < 1 || h->nreplicas > GDF_DESC_REPLICAS_MAX : h->nreplicas != 0)
    return GDF_ERR(GPUDF_EBADMSG, "share '%s' lists %u device replicas for backend %s "
                   "(cuda-ipc: 1 to %d; others: none)", name, h->nreplicas,
                   gpudf_backend_name((gpudf_backend)h->backend), GDF_DESC_REPLICAS_MAX);
  for (uint32_t i = 0; i < GDF_DESC_REPLICAS_MAX; i++) {
    const struct gdf_desc_replica *r = &h->replicas[i];
    if (i >= h->nreplicas) {
      if (memcmp(r, &zero, sizeof zero) != 0)
        return GDF_ERR(GPUDF_EBADMSG, "share '%s': replica slot %u is past its %u replicas "
                       "but not empty", name, i, h->nreplicas);
      continue;
    }
    if (memcmp(r->device_uuid, zero.device_uuid, sizeof zero.device_uuid) == 0)
      return GDF_ERR(GPUDF_EBADMSG, "share '%s': replica %u names no device", name, i);
    for (uint32_t j = 0; j < i; j++)
      if (memcmp(h->replicas[j].device_uuid, r->device_uuid, sizeof r->device_uuid) == 0)
        return GDF_ERR(GPUDF_EBADMSG, "share '%s': replicas %u and %u are on the same device",
                       name, j, i);
  }
  return GPUDF_OK;
}

gpudf_status gdf_desc_validate(const uint8_t *desc, uint64_t size, const char *name) {
  const gdf_desc_header *h = (const gdf_desc_header *)desc;
  /* The version first (magic and version lead every version's header): an
   * older descriptor is smaller, and "truncated" would be the wrong news. */
  uint64_t magic = 0;
  uint32_t version = 0;
  if (size >= offsetof(gdf_desc_header, header_size)) {
    memcpy(&magic, desc, sizeof magic);
    memcpy(&version, desc + offsetof(gdf_desc_header, version), sizeof version);
    if (magic == GDF_DESC_MAGIC && version < GDF_DESC_VERSION)
      return GDF_ERR(GPUDF_EBADMSG,
                     "share '%s' was published by an older libgpudf (descriptor version %u, "
                     "one device copy); this library (%s) reads version %d, which lists a "
                     "replica per device: publish it again with this library", name, version,
                     gpudf_version(), GDF_DESC_VERSION);
  }
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
  GDF_TRY(check_replicas(h, name));
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

/* ------------------------------------------------------------- the file */

void gdf_desc_file_name(const char *name, char *buf, size_t len) {
  char prefix[32];
  gdf_user_prefix(prefix, sizeof prefix);
  snprintf(buf, len, "%s%s", prefix, name);
}

gpudf_status gdf_desc_read_share(const char *name, int *dfd, char *file, uint8_t **buf,
                                 uint64_t *size, struct stat *st) {
  GDF_TRY(gdf_shm_dirfd(dfd));
  gdf_desc_file_name(name, file, GDF_SEG_PATH_MAX);
  return gdf_desc_read(*dfd, file, name, buf, size, st);
}

gpudf_status gdf_desc_read(int dfd, const char *file, const char *name, uint8_t **buf,
                           uint64_t *size, struct stat *st) {
  /* O_NONBLOCK: a FIFO planted under the name (anyone can create files in
   * /dev/shm) would otherwise block this open, and every sweep, forever; the
   * regular-file check below then refuses it. */
  int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return GDF_ERR(GPUDF_ENOENT, "no share named '%s' (no %s/%s)", name, gdf_shm_dir(), file);
    return GDF_ERR(gdf_status_from_errno(err), "cannot open share '%s' (%s/%s): %s", name,
                   gdf_shm_dir(), file, strerror(err));
  }
  gpudf_status st_ = GPUDF_OK;
  const uint64_t max = sizeof(gdf_desc_header) + GPUDF_MAX_COLUMNS * sizeof(gdf_desc_column);
  if (fstat(fd, st) != 0)
    st_ = GDF_ERR(GPUDF_EIO, "fstat(%s): %s", file, strerror(errno));
  else if (!S_ISREG(st->st_mode))
    st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' is not a regular file", name);
  else if (st->st_uid != geteuid())
    st_ = GDF_ERR(GPUDF_EPERM, "share '%s' belongs to uid %u, not to this user (uid %u)",
                  name, (unsigned)st->st_uid, (unsigned)geteuid());
  else if ((st->st_mode & 0077) != 0)
    st_ = GDF_ERR(GPUDF_EPERM, "share '%s' has mode %03o; gpudf segments are 0600", name,
                  (unsigned)(st->st_mode & 0777));
  else if ((uint64_t)st->st_size > max)
    st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' is %lld bytes, larger than any descriptor", name,
                  (long long)st->st_size);
  if (st_ == GPUDF_OK) {
    *size = (uint64_t)st->st_size;
    *buf = malloc(*size ? *size : 1);
    if (!*buf)
      st_ = GDF_ERR(GPUDF_ENOMEM, "out of memory");
    else {
      ssize_t got = pread(fd, *buf, *size, 0);
      if (got < 0)
        st_ = GDF_ERR(GPUDF_EIO, "cannot read share '%s' (%s/%s): %s", name, gdf_shm_dir(),
                      file, strerror(errno));
      else if (got != (ssize_t)*size)
        st_ = GDF_ERR(GPUDF_EBADMSG, "share '%s' changed size while being read", name);
      if (st_ != GPUDF_OK) free(*buf);
    }
  }
  close(fd);
  return st_;
}
