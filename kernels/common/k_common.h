/*
 * k_common.h - what the CPU side of the kernels shares: reading any column
 * type as a double, naming results, and the description and checks of the
 * row filter that filter_agg, groupby_agg and histogram take first (its
 * math is in k_hd.h). Private to kernels/.
 */
#ifndef GPUDF_K_COMMON_H
#define GPUDF_K_COMMON_H

#include "k_hd.h"
#include "kernel.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value i of a column as a double (bool and integers convert exactly up to
 * 2^53, as filter_agg reads them). */
static inline double gdf_k_load(gdf_colref c, int64_t i) {
  switch (c.type) {
  case GPUDF_TYPE_I32: return (double)((const int32_t *)c.data)[i];
  case GPUDF_TYPE_I64: return (double)((const int64_t *)c.data)[i];
  case GPUDF_TYPE_F32: return (double)((const float *)c.data)[i];
  case GPUDF_TYPE_F64: return ((const double *)c.data)[i];
  default: return (double)((const uint8_t *)c.data)[i];
  }
}

/* Rows [start, start + len) of a column as doubles into buf. */
static inline void gdf_k_load_block(gdf_colref c, int64_t start, int64_t len, double *buf) {
  for (int64_t i = 0; i < len; i++) buf[i] = gdf_k_load(c, start + i);
}

/* Rows [start, start + len) of a column as doubles: an f64 column in place
 * (copying it would cost as much as reading it), any other converted into
 * buf, with the type's switch outside the row loop so each loop is one
 * plain conversion the compiler can vectorize. */
static inline const double *gdf_k_block(gdf_colref c, int64_t start, int64_t len, double *buf) {
  switch (c.type) {
  case GPUDF_TYPE_F64: return (const double *)c.data + start;
  case GPUDF_TYPE_F32: {
    const float *p = (const float *)c.data + start;
    for (int64_t i = 0; i < len; i++) buf[i] = (double)p[i];
    break;
  }
  case GPUDF_TYPE_I32: {
    const int32_t *p = (const int32_t *)c.data + start;
    for (int64_t i = 0; i < len; i++) buf[i] = (double)p[i];
    break;
  }
  case GPUDF_TYPE_I64: {
    const int64_t *p = (const int64_t *)c.data + start;
    for (int64_t i = 0; i < len; i++) buf[i] = (double)p[i];
    break;
  }
  default: gdf_k_load_block(c, start, len, buf); break;
  }
  return buf;
}

/* Whether this CPU runs AVX code (the library is built for baseline x86-64;
 * kernels compile AVX loops with __attribute__((target("avx"))) and choose
 * at run time), unless GPUDF_NO_SIMD=1 asks for the baseline loops, which
 * tests use to compare both. Read once per kernel run. */
static inline int gdf_k_have_avx(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  static _Atomic int cpu = -1;
  if (cpu < 0) {
    __builtin_cpu_init();
    cpu = __builtin_cpu_supports("avx") ? 1 : 0;
  }
  const char *off = getenv("GPUDF_NO_SIMD");
  return cpu && !(off && strcmp(off, "1") == 0);
#else
  return 0;
#endif
}

/* Whether this CPU runs AVX2 code (integer vectors, blendv, round), for the
 * histogram and groupby_agg loops compiled with target("avx2"); 0 whenever
 * gdf_k_have_avx is, and also when GPUDF_NO_AVX2=1 asks for the AVX loops
 * (tests compare the three). Read once per kernel run. */
static inline int gdf_k_have_avx2(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  static _Atomic int cpu = -1;
  if (cpu < 0) {
    __builtin_cpu_init();
    cpu = __builtin_cpu_supports("avx2") ? 1 : 0;
  }
  const char *off = getenv("GPUDF_NO_AVX2");
  return cpu && gdf_k_have_avx() && !(off && strcmp(off, "1") == 0);
#else
  return 0;
#endif
}

/* Whether this CPU (and its OS) runs AVX-512 code with the F, DQ and VL
 * parts (8-double vectors, mask registers, 256-bit integer lanes with
 * masks, vreducepd), for the histogram and groupby_agg loops compiled with
 * target("avx512f,avx512dq,avx512vl"); 0 whenever gdf_k_have_avx2 is, and
 * also when GPUDF_NO_AVX512=1 asks for the AVX2 loops (tests compare them
 * all). Read once per kernel run. */
static inline int gdf_k_have_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  static _Atomic int cpu = -1;
  if (cpu < 0) {
    __builtin_cpu_init();
    cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl")
              ? 1
              : 0;
  }
  const char *off = getenv("GPUDF_NO_AVX512");
  return cpu && gdf_k_have_avx2() && !(off && strcmp(off, "1") == 0);
#else
  return 0;
#endif
}

/* out = "<prefix>_<i>" (i >= 0), truncated to cap - 1 bytes like snprintf:
 * the wide kernels name up to 5 x 65536 results, and snprintf's format
 * parsing was most of gpudf_kernel_result_names' time there. */
static inline void gdf_k_name_index(char *out, size_t cap, const char *prefix, int i) {
  char digits[12];
  int nd = 0;
  do {
    digits[nd++] = (char)('0' + i % 10);
    i /= 10;
  } while (i > 0 && nd < (int)sizeof digits);
  size_t n = 0;
  for (; prefix[n] && n + 1 < cap; n++) out[n] = prefix[n];
  if (n + 1 < cap) out[n++] = '_';
  while (nd > 0 && n + 1 < cap) out[n++] = digits[--nd];
  out[n] = '\0';
}

/* GPUDF_OK when config[param] names a column of a known type. */
static inline gpudf_status gdf_k_check_col(const char *kernel, const gpudf_table *t,
                                           const char *param, double index) {
  gdf_colref r = gdf_table_colref(t, (int)index);
  if (gpudf_type_size(r.type) != 0 && r.data != NULL) return GPUDF_OK;
  return gdf_error(GPUDF_EINVAL, kernel, "parameter '%s' = %d names a column of unknown type %d",
                   param, (int)index, (int)r.type);
}

/* ------------------------------------------------------------ the filter */

/* The op choice's names, in the order of GDF_FA_ALL..GDF_FA_BETWEEN. */
static const char *const gdf_k_op_names[GDF_FA_NOPS] = {"all", "lt", "le", "gt",
                                                        "ge",  "eq", "ne", "between"};

/* The four parameters of the filter (GDF_K_FILTER_COL..GDF_K_HI), with each
 * kernel's own summaries. */
#define GDF_K_FILTER_PARAMS(col_summary, op_summary, lo_summary, hi_summary)          \
  {"filter_col", col_summary, GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},        \
      {"op", op_summary, GPUDF_PARAM_CHOICE, GDF_FA_ALL, 0.0, GDF_FA_NOPS - 1,        \
       GDF_FA_NOPS, gdf_k_op_names, 0},                                               \
      {"lo", lo_summary, GPUDF_PARAM_REAL, 0.0, -INFINITY, INFINITY, 0, NULL, 0},     \
      {"hi", hi_summary, GPUDF_PARAM_REAL, 0.0, -INFINITY, INFINITY, 0, NULL, 0}

/* What filter_col accepts: a categorical column is compared as labels
 * (gdf_k_check_filter). */
#define GDF_K_FILTER_ACCEPTS (GPUDF_ACCEPT_NUMERIC | GPUDF_ACCEPT_CATEGORICAL)

/* The filter's own rule: between needs lo <= hi (false for a NaN bound). */
static inline gpudf_status gdf_k_check_between(const char *kernel, double op, double lo,
                                               double hi) {
  if ((int)op != GDF_FA_BETWEEN || lo <= hi) return GPUDF_OK;
  char a[32], b[32];
  return gdf_error(GPUDF_EINVAL, kernel,
                   "parameter 'lo' = %s is greater than parameter 'hi' = %s "
                   "(op between needs lo <= hi)",
                   gdf_fmt_num(a, sizeof a, lo), gdf_fmt_num(b, sizeof b, hi));
}

/* The rule of a filter over a categorical column (filter_agg, groupby_agg,
 * histogram): its codes are labels, so a row test may only ask whether the
 * label is (eq) or is not (ne) one of them, given as its code in lo (-1: a
 * missing value), or take every row (all). Codes follow the dictionary's
 * order, which the CSV reader sorts bytewise and pandas takes from its
 * categories, so lt/le/gt/ge/between would answer for an order nobody chose;
 * and a lo that is no code would silently match no row (eq) or every row
 * (ne). GPUDF_OK for any other column. */
static inline gpudf_status gdf_k_check_filter(const char *kernel, const gpudf_table *t,
                                              double col, double op, double lo) {
  int c = (int)col, o = (int)op;
  if (!gpudf_table_column_is_categorical(t, c) || o == GDF_FA_ALL) return GPUDF_OK;
  const char *name = gpudf_table_column_name(t, c);
  if (o != GDF_FA_EQ && o != GDF_FA_NE)
    return gdf_error(GPUDF_EINVAL, kernel,
                     "parameter 'op' = %s cannot compare column '%s' (filter_col = %d), which "
                     "holds text labels (categorical): its codes have no order; use eq or ne "
                     "with lo = a label's code, or all",
                     o >= 0 && o < GDF_FA_NOPS ? gdf_k_op_names[o] : "?", name, c);
  int32_t nlabels = gpudf_table_column_nlabels(t, c);
  if (lo != floor(lo) || lo < -1 || lo >= (double)nlabels) {
    char b[32];
    return gdf_error(GPUDF_EINVAL, kernel,
                     "parameter 'lo' = %s is not a code of column '%s' (filter_col = %d), "
                     "which holds text labels (categorical): %s compares a label's code, "
                     "0..%d, or -1 for a missing value",
                     gdf_fmt_num(b, sizeof b, lo), name, c, gdf_k_op_names[o],
                     (int)nlabels - 1);
  }
  return GPUDF_OK;
}

/* Rows per block of the CPU passes: a few columns of it as doubles stay in
 * L1/L2 while every config of the batch runs over them. */
enum { GDF_K_BLOCK = 2048 };
/* How far ahead (rows) the first config of a block prefetches its columns
 * (histogram, groupby_agg): 4 KiB of an f64 column, far enough to hide the
 * memory's latency at these loops' speed, near enough not to evict the
 * block in use (a whole block ahead measured 5-10% slower). */
enum { GDF_K_AHEAD = 512 };
/* How far ahead (rows) the histogram's loops also prefetch into L2 (12
 * KiB of an f64 column): with the L1 prefetch alone they read memory well
 * below the plain read's speed (likely because an L1 prefetch holds one of
 * the core's few line-fill buffers until its line arrives); lines already
 * in L2 this far ahead are at hand when the L1 prefetch asks for them.
 * groupby_agg measured slower with it (bench/README.md, issue 21, sixth
 * round). */
enum { GDF_K_AHEAD_L2 = 1536 };

#endif
