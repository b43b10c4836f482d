/* sweep_series.c - the series of a long-format table (one row per symbol
 * and bar, symbols interleaved or not): the stable order of its rows by
 * series that a sweep over a row-order kernel runs each series on. */
#include "sweep_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct keyed_row {
  int64_t key;
  int64_t row;
} keyed_row;

static int by_key_then_row(const void *a, const void *b) {
  const keyed_row *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row); /* stable: the file's order */
}

void gdf_series_free_labels(char **labels, int64_t nseries) {
  if (!labels) return;
  for (int64_t q = 0; q < nseries; q++) free(labels[q]);
  free(labels);
}

static gpudf_status check_series_col(const gpudf_table *t, int col) {
  if (!t) return GDF_ERR(GPUDF_EINVAL, "table is NULL");
  int ncols = gpudf_table_ncols(t);
  if (col < 0 || col >= ncols)
    return GDF_ERR(GPUDF_EINVAL, "series = %d is not a column index (an integer in 0..%d: the "
                   "table has %d columns), or -1 for none", col, ncols - 1, ncols);
  gpudf_type ty = gpudf_table_column_type(t, col);
  if (!gpudf_table_column_is_categorical(t, col) && ty != GPUDF_TYPE_I32 &&
      ty != GPUDF_TYPE_I64)
    return GDF_ERR(GPUDF_EINVAL, "series = %d is column '%s' of type %s; a series column "
                   "holds labels: categorical, i32 or i64", col,
                   gpudf_table_column_name(t, col), gpudf_type_name(ty));
  return GPUDF_OK;
}

gpudf_status gdf_series_build(const gpudf_table *t, int col, int64_t **perm, int64_t *nperm,
                              int64_t **starts, int64_t *nseries, char ***labels) {
  *perm = NULL, *starts = NULL, *nperm = 0, *nseries = 0;
  if (labels) *labels = NULL;
  GDF_TRY(check_series_col(t, col));
  int64_t nrows = gpudf_table_nrows(t);
  bool cat = gpudf_table_column_is_categorical(t, col);
  gdf_colref r = gdf_table_colref(t, col);
  keyed_row *kv = malloc(sizeof *kv * (size_t)(nrows > 0 ? nrows : 1));
  if (!kv) return GDF_ERR(GPUDF_ENOMEM, "out of memory for the series of %lld rows",
                          (long long)nrows);
  int64_t m = 0;
  bool sorted = true;
  for (int64_t i = 0; i < nrows; i++) {
    int64_t key = r.type == GPUDF_TYPE_I64 ? ((const int64_t *)r.data)[i]
                                           : ((const int32_t *)r.data)[i];
    if (cat && key < 0) continue; /* a missing label: in no series */
    if (m > 0) sorted &= key >= kv[m - 1].key;
    kv[m++] = (keyed_row){key, i};
  }
  /* Exports sorted by symbol are already in order; ORDER BY date, symbol
   * ones are not and are grouped here, once. */
  if (!sorted) qsort(kv, (size_t)m, sizeof *kv, by_key_then_row);
  int64_t ns = 0;
  for (int64_t i = 0; i < m; i++) ns += i == 0 || kv[i].key != kv[i - 1].key;
  int64_t *p = malloc(sizeof *p * (size_t)(m > 0 ? m : 1));
  int64_t *st = malloc(sizeof *st * ((size_t)ns + 1));
  char **lab = labels ? calloc((size_t)ns + 1, sizeof *lab) : NULL;
  gpudf_status status = GPUDF_OK;
  if (!p || !st || (labels && !lab)) {
    status = GDF_ERR(GPUDF_ENOMEM, "out of memory for the series of %lld rows", (long long)nrows);
  } else {
    int64_t q = 0;
    for (int64_t i = 0; i < m && status == GPUDF_OK; i++) {
      p[i] = kv[i].row;
      if (i > 0 && kv[i].key == kv[i - 1].key) continue;
      st[q] = i;
      if (lab) {
        char num[32];
        const char *l = cat ? gpudf_table_column_label(t, col, (int32_t)kv[i].key) : NULL;
        if (!cat) snprintf(num, sizeof num, "%lld", (long long)kv[i].key);
        lab[q] = strdup(cat ? (l ? l : "") : num);
        if (!lab[q]) status = GDF_ERR(GPUDF_ENOMEM, "out of memory for series labels");
      }
      q++;
    }
    st[ns] = m;
  }
  free(kv);
  if (status != GPUDF_OK) {
    free(p), free(st);
    gdf_series_free_labels(lab, ns);
    return status;
  }
  *perm = p, *starts = st, *nperm = m, *nseries = ns;
  if (labels) *labels = lab;
  return GPUDF_OK;
}

gpudf_status gpudf_sweep_series_count(const gpudf_table *table, int series, int64_t *out) {
  GDF_ENTER();
  if (!out) return GDF_ERR(GPUDF_EINVAL, "out is NULL");
  *out = 0;
  int64_t *perm, *starts, nperm;
  GDF_TRY(gdf_series_build(table, series, &perm, &nperm, &starts, out, NULL));
  free(perm), free(starts);
  return GPUDF_OK;
}

int gpudf_sweep_series_guess(const gpudf_table *t, const gpudf_kernel *k) {
  if (!t || !k || !k->row_order) return -1;
  int64_t nrows = gpudf_table_nrows(t);
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    if (!gpudf_table_column_is_categorical(t, c) || gpudf_table_column_nlabels(t, c) < 2)
      continue;
    const int32_t *code = gdf_table_colref(t, c).data;
    int64_t changes = 0;
    for (int64_t i = 1; i < nrows; i++) changes += code[i] != code[i - 1];
    if (changes >= 1 && 2 * changes < nrows) return c;
  }
  return -1;
}
