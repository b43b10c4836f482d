/* datagen.h - deterministic test tables, built the same way by the test
 * process and by the harness child, so either side can check the other. */
#ifndef GPUDF_TEST_DATAGEN_H
#define GPUDF_TEST_DATAGEN_H

#include <gpudf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t tg_splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The registered kernel of that name, or NULL (gpudf_last_error says why):
 * the kernels of the test plugin (sweep_test, sweep_keyed, ...) load it
 * first, as a program loads a plugin before it finds the plugin's kernels. */
static inline const gpudf_kernel *tg_kernel(const char *name) {
  const gpudf_kernel *k = NULL;
  if (gpudf_kernel_find(name, &k) == GPUDF_OK) return k;
#ifdef GPUDF_TEST_PLUGIN
  if (gpudf_plugin_load(GPUDF_TEST_PLUGIN) == GPUDF_OK && gpudf_kernel_find(name, &k) == GPUDF_OK)
    return k;
#endif
  return NULL;
}

/* Five columns, one of each type: a i32, b i64, c f32, d f64, e bool. */
static inline gpudf_status tg_make_table(int64_t nrows, uint64_t seed, gpudf_table **out) {
  gpudf_status st = gpudf_table_create(nrows, out);
  if (st != GPUDF_OK) return st;
  const char *names[] = {"a", "b", "c", "d", "e"};
  const gpudf_type types[] = {GPUDF_TYPE_I32, GPUDF_TYPE_I64, GPUDF_TYPE_F32, GPUDF_TYPE_F64,
                              GPUDF_TYPE_BOOL};
  for (int c = 0; c < 5 && st == GPUDF_OK; c++) {
    void *data;
    st = gpudf_table_alloc_column(*out, names[c], types[c], &data);
    for (int64_t i = 0; st == GPUDF_OK && i < nrows; i++) {
      uint64_t r = tg_splitmix(&seed);
      switch (types[c]) {
      case GPUDF_TYPE_I32: ((int32_t *)data)[i] = (int32_t)(r % 1000) - 500; break;
      case GPUDF_TYPE_I64: ((int64_t *)data)[i] = (int64_t)(r >> 1) - (INT64_MAX / 2); break;
      case GPUDF_TYPE_F32: ((float *)data)[i] = (float)(r % 100000) / 7.0f; break;
      case GPUDF_TYPE_F64: ((double *)data)[i] = (double)(r >> 11) * 0x1.0p-53 * 100.0 - 50.0; break;
      case GPUDF_TYPE_BOOL: ((uint8_t *)data)[i] = (uint8_t)(r & 1); break;
      }
    }
  }
  if (st != GPUDF_OK) {
    gpudf_table_free(*out);
    *out = NULL;
  }
  return st;
}

/* FNV-1a over every column's bytes, in column order. */
static inline uint64_t tg_table_checksum(const gpudf_table *t) {
  uint64_t h = 14695981039346656037ull;
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    const uint8_t *p = (const uint8_t *)gpudf_table_column_data(t, c);
    size_t n = (size_t)gpudf_table_nrows(t) * gpudf_type_size(gpudf_table_column_type(t, c));
    for (size_t i = 0; i < n; i++) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  }
  return h;
}

#endif
