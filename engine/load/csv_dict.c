/* csv_dict.c - the dictionary of a categorical CSV column: distinct labels,
 * found by hash while parsing, sorted once at the end. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

static gpudf_status grow_slots(gdf_csv_dict *d) {
  uint32_t n = d->nslots ? d->nslots * 2 : 64;
  int32_t *slots = malloc((size_t)n * sizeof *slots);
  if (!slots) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  memset(slots, 0xff, (size_t)n * sizeof *slots);
  for (int32_t c = 0; c < d->n; c++) {
    uint32_t i = (uint32_t)d->hash[c] & (n - 1);
    while (slots[i] >= 0) i = (i + 1) & (n - 1);
    slots[i] = c;
  }
  free(d->slots);
  d->slots = slots;
  d->nslots = n;
  return GPUDF_OK;
}

static gpudf_status add_label(gdf_csv_dict *d, const char *s, size_t n, uint64_t h) {
  if (d->n >= GPUDF_LABELS_MAX)
    return GDF_ERR(GPUDF_EINVAL, "more than %d distinct labels in one column",
                   GPUDF_LABELS_MAX);
  if (d->n == d->cap_n) {
    int32_t cap = d->cap_n ? d->cap_n * 2 : 64;
    uint64_t *off = realloc(d->off, (size_t)cap * sizeof *off);
    if (off) d->off = off;
    uint32_t *len = realloc(d->len, (size_t)cap * sizeof *len);
    if (len) d->len = len;
    uint64_t *hash = realloc(d->hash, (size_t)cap * sizeof *hash);
    if (hash) d->hash = hash;
    if (!off || !len || !hash) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
    d->cap_n = cap;
  }
  if (d->used + n > d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 4096;
    while (cap < d->used + n) cap *= 2;
    char *b = realloc(d->bytes, cap);
    if (!b) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
    d->bytes = b;
    d->cap = cap;
  }
  memcpy(d->bytes + d->used, s, n);
  d->off[d->n] = d->used;
  d->len[d->n] = (uint32_t)n;
  d->hash[d->n] = h;
  d->used += n;
  d->n++;
  return GPUDF_OK;
}

gpudf_status gdf_csv_dict_add(gdf_csv_dict *d, const char *s, size_t n, uint64_t h,
                              int32_t *code) {
  if (n > GPUDF_LABEL_MAX)
    return GDF_ERR(GPUDF_EINVAL, "label longer than %d bytes", GPUDF_LABEL_MAX);
  if ((uint64_t)d->n * 2 >= d->nslots) GDF_TRY(grow_slots(d));
  uint32_t i = (uint32_t)h & (d->nslots - 1);
  for (; d->slots[i] >= 0; i = (i + 1) & (d->nslots - 1)) {
    int32_t c = d->slots[i];
    if (d->hash[c] == h && d->len[c] == n && memcmp(d->bytes + d->off[c], s, n) == 0) {
      *code = c;
      return GPUDF_OK;
    }
  }
  GDF_TRY(add_label(d, s, n, h));
  d->slots[i] = d->n - 1;
  *code = d->n - 1;
  return GPUDF_OK;
}

static int compare_labels(const void *a, const void *b, void *ctx) {
  const gdf_csv_dict *d = ctx;
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  size_t n = d->len[x] < d->len[y] ? d->len[x] : d->len[y];
  int c = memcmp(d->bytes + d->off[x], d->bytes + d->off[y], n);
  if (c) return c;
  return (d->len[x] > d->len[y]) - (d->len[x] < d->len[y]);
}

void gdf_csv_dict_sort(gdf_csv_dict *d, int32_t *codes, int64_t nrows) {
  int32_t n = d->n;
  int32_t *order = malloc(((size_t)n + 1) * sizeof *order);
  int32_t *rank = malloc(((size_t)n + 1) * sizeof *rank);
  d->labels = malloc(((size_t)n + 1) * sizeof *d->labels);
  d->lens = malloc(((size_t)n + 1) * sizeof *d->lens);
  if (!order || !rank || !d->labels || !d->lens) {
    free(d->labels); /* NULL labels: the caller reports out of memory */
    free(d->lens);
    d->labels = NULL;
    d->lens = NULL;
    free(order);
    free(rank);
    return;
  }
  for (int32_t c = 0; c < n; c++) order[c] = c;
  qsort_r(order, (size_t)n, sizeof *order, compare_labels, d);
  for (int32_t k = 0; k < n; k++) {
    rank[order[k]] = k;
    d->labels[k] = d->bytes + d->off[order[k]];
    d->lens[k] = d->len[order[k]];
  }
  for (int64_t r = 0; r < nrows; r++)
    if (codes[r] >= 0) codes[r] = rank[codes[r]];
  free(order);
  free(rank);
}

void gdf_csv_dict_free(gdf_csv_dict *d) {
  free(d->bytes);
  free(d->off);
  free(d->len);
  free(d->hash);
  free(d->slots);
  free(d->labels);
  free(d->lens);
}
