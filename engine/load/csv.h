/* csv.h - the CSV reader's per-column state (engine/load/csv.c) and the
 * dictionaries of its categorical columns (engine/load/csv_dict.c). */
#ifndef GPUDF_CSV_H
#define GPUDF_CSV_H

#include "table.h"

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

/* The code of label s[0..n), adding it when new. */
gpudf_status gdf_csv_dict_code(gdf_csv_dict *d, const char *s, size_t n, int32_t *code);
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
