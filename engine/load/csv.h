/* csv.h - the CSV reader's per-column state (engine/load/csv.c) and the
 * dictionaries of its categorical columns (engine/load/csv_dict.c). */
#ifndef GPUDF_CSV_H
#define GPUDF_CSV_H

#include "table.h"

#include <string.h>

/* Distinct labels of one column in order of first appearance, with a hash
 * index; after gdf_csv_dict_sort, labels/lens list them sorted. */
typedef struct gdf_csv_dict {
  char *bytes;       /* the labels, concatenated */
  size_t used, cap;
  uint64_t *off;     /* per code: start in bytes */
  uint32_t *len;     /* per code: length */
  uint64_t *hash;    /* per code */
  int32_t n, cap_n;
  int32_t *slots;    /* open addressing: code, or -1 */
  uint32_t nslots;   /* power of two */
  char **labels;     /* sorted, set by gdf_csv_dict_sort */
  uint32_t *lens;
} gdf_csv_dict;

/* The hash of label s[0..n) in a dictionary: its first and last 8 bytes
 * (4, or 3 bytes, for shorter ones) and the words between, mixed by
 * multiplication; it reads s[0..n) only. */
static inline uint64_t gdf_csv_hash(const char *s, size_t n) {
  const uint64_t k1 = UINT64_C(0x9E3779B97F4A7C15), k2 = UINT64_C(0xC2B2AE3D27D4EB4F);
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    for (size_t i = 8; i + 8 < n; i += 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      a = (a ^ w) * k1;
      a ^= a >> 31;
    }
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    a = x;
    b = y;
  } else if (n > 0) {
    a = (uint64_t)(uint8_t)s[0] | (uint64_t)(uint8_t)s[n / 2] << 8 |
        (uint64_t)(uint8_t)s[n - 1] << 16;
  }
  uint64_t h = (a ^ k2) * k1 ^ (b + n) * k2;
  h ^= h >> 32;
  h *= k1;
  return h ^ (h >> 29);
}

/* Whether a[0..n) and b[0..n) are the same bytes; reads nothing else. */
static inline bool gdf_csv_same(const char *a, const char *b, size_t n) {
  if (n > 16) return memcmp(a, b, n) == 0;
  uint64_t x, y, u, v;
  if (n >= 8) {
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    memcpy(&u, a + n - 8, 8);
    memcpy(&v, b + n - 8, 8);
    return ((x ^ y) | (u ^ v)) == 0;
  }
  if (n >= 4) {
    uint32_t p, q, r, s;
    memcpy(&p, a, 4);
    memcpy(&q, b, 4);
    memcpy(&r, a + n - 4, 4);
    memcpy(&s, b + n - 4, 4);
    return ((p ^ q) | (r ^ s)) == 0;
  }
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

/* Adds label s[0..n) (hash h, not in d) and gives its code. */
gpudf_status gdf_csv_dict_add(gdf_csv_dict *d, const char *s, size_t n, uint64_t h,
                              int32_t *code);

/* The code of label s[0..n), adding it when new. Inline for the labels
 * already there (nearly every field of a column). */
static inline gpudf_status gdf_csv_dict_code(gdf_csv_dict *d, const char *s, size_t n,
                                             int32_t *code) {
  uint64_t h = gdf_csv_hash(s, n);
  if (d->nslots && (uint64_t)d->n * 2 < d->nslots) {
    for (uint32_t i = (uint32_t)h & (d->nslots - 1); d->slots[i] >= 0;
         i = (i + 1) & (d->nslots - 1)) {
      int32_t c = d->slots[i];
      if (d->hash[c] == h && d->len[c] == n && gdf_csv_same(d->bytes + d->off[c], s, n)) {
        *code = c;
        return GPUDF_OK;
      }
    }
  }
  return gdf_csv_dict_add(d, s, n, h, code);
}
/* Sorts the labels bytewise (as pandas sorts str categories) and renumbers
 * the nrows codes accordingly (-1 stays). */
void gdf_csv_dict_sort(gdf_csv_dict *d, int32_t *codes, int64_t nrows);
void gdf_csv_dict_free(gdf_csv_dict *d);

/* The plain numbers (csv_number.h) the first pass accepts without
 * tokenizing the field, because they cannot change what it knows: INT and
 * FLOAT for a forced type (gdf_skip_i64, gdf_skip_f64), SMALL_INT and
 * EXACT_FLOAT for an inferred one, where the first integer that a double
 * does not hold exactly can change the type (gdf_scan_i64 and
 * gdf_i64_is_exact_f64, gdf_skip_exact_f64; the plain skips once one was
 * seen). */
enum gdf_csv_fast {
  GDF_CSV_FAST_NONE,
  GDF_CSV_FAST_INT,
  GDF_CSV_FAST_FLOAT,
  GDF_CSV_FAST_SMALL_INT,
  GDF_CSV_FAST_EXACT_FLOAT
};

typedef struct gdf_csv_col {
  char name[GPUDF_NAME_MAX + 1];
  gpudf_csv_type forced;       /* GPUDF_CSV_INFER unless the options say */
  gpudf_csv_type type;         /* resolved after the first pass, or guessed */
  /* What pass 1 saw of an inferred column: may_int, every value an integer
   * that fits int64; only_ints, an integer of any size; may_float, a number;
   * inexact, an integer a double does not hold exactly (the first at
   * inexact_line, inexact_text its first bytes). */
  bool may_int, only_ints, may_float, may_bool, missing, values, too_long, inexact;
  int64_t inexact_line;
  char inexact_text[48];
  uint8_t fast;                /* gdf_csv_fast: the plain form pass 1 expects */
  void *data;                  /* the column in the arena, second pass */
  gdf_csv_dict dict;
} gdf_csv_col;

typedef struct gdf_csv_file {
  int ncols;
  int64_t nrows;
  gdf_csv_col cols[GPUDF_MAX_COLUMNS];
} gdf_csv_file;

/* ------------------------------------------------ threads (csv_threads.c) */

enum { GDF_CSV_THREADS_MAX = 256 };

/* The threads a read uses, into *out: option when > 0
 * (gpudf_csv_options.threads), else the environment variable GPUDF_THREADS
 * when set, else the machine's online CPUs; at most GDF_CSV_THREADS_MAX.
 * GPUDF_EINVAL for a negative option or a variable that is not a positive
 * whole number (named, with its value): a typo is not "every CPU". */
gpudf_status gdf_csv_threads(int option, int *out);
/* GPUDF_CSV_CHUNK_BYTES into *out when set (tests and the fuzzer force
 * many small chunks with it), else 0: the reader picks the size. The same
 * rule for its value as for GPUDF_THREADS. */
gpudf_status gdf_csv_chunk_bytes(size_t *out);

typedef void (*gdf_csv_task)(void *ctx, int k);
/* Runs task(ctx, k) for k = 0..n-1 on up to threads threads, the caller's
 * included, and returns when all are done. Threads that cannot be started
 * leave their tasks to the others: never an error. */
void gdf_csv_run(int threads, int n, gdf_csv_task task, void *ctx);

#endif
