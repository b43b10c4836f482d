/*
 * filter_agg.c - the filter_agg kernel: count, sum, mean, min, max and std of
 * one column over the rows where another column passes a comparison. Its
 * description, its cross-parameter check and its CPU implementation, which is
 * the reference for every other backend.
 *
 * How the CPU version is fast: a whole batch of configs is evaluated in one
 * pass over the table. Rows go by blocks small enough that the block's
 * columns, converted once to double (f64 columns are read in place), stay in
 * L1/L2 while every config of the batch runs over them; each config keeps its
 * own accumulator, merged block by block (Chan). Inside a block each config
 * makes two passes over cached data: count/sum/min/max and the row mask, then
 * the squared deviations from the block's mean, so std stays accurate. The
 * inner loops are branch-free on GCC vectors of the target's native width and
 * specialised per op, the switch being outside the row loop.
 */
#include "internal.h"
#include "filter_agg_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ description */

static const char *const fa_op_names[GDF_FA_NOPS] = {"all", "lt", "le", "gt",
                                                     "ge",  "eq", "ne", "between"};

static const gpudf_param_info fa_params[GDF_FA_NPARAMS] = {
    {"filter_col", "column whose value x decides whether a row passes",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"op",
     "row test: all (every row), lt x<lo, le x<=lo, gt x>lo, ge x>=lo, eq x==lo, "
     "ne x!=lo, between lo<=x<=hi; a NaN x fails every test but all and ne",
     GPUDF_PARAM_CHOICE, GDF_FA_ALL, 0.0, GDF_FA_NOPS - 1, GDF_FA_NOPS, fa_op_names, 0},
    {"lo", "threshold of the comparison, lower bound for between",
     GPUDF_PARAM_REAL, 0.0, -INFINITY, INFINITY, 0, NULL, 0},
    {"hi", "upper bound for between (lo <= hi); unused by the other ops",
     GPUDF_PARAM_REAL, 0.0, -INFINITY, INFINITY, 0, NULL, 0},
    {"value_col", "column aggregated over the passing rows; NaN values are skipped",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
};

static const gpudf_result_info fa_fields[GDF_FA_NRESULTS] = {
    {"count", "passing rows whose value is not NaN"},
    {"sum", "sum of those values (0 when count is 0)"},
    {"mean", "sum / count (NaN when count is 0)"},
    {"min", "smallest of those values (NaN when count is 0)"},
    {"max", "largest of those values (NaN when count is 0)"},
    {"std", "sample standard deviation, ddof 1 (NaN when count < 2)"},
};

/* Shortest "%g" that reads back as v, so messages show what the user gave. */
static const char *fa_num(char *buf, size_t len, double v) {
  snprintf(buf, len, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
  return buf;
}

static bool fa_type_known(gpudf_type type) {
  return type >= GPUDF_TYPE_I32 && type <= GPUDF_TYPE_BOOL;
}

/* The rules the generic checks of run.c cannot see. Every column type is
 * read as double, so only a corrupt type is refused. */
static gpudf_status fa_check(const gpudf_table *t, const double *config) {
  double lo = config[GDF_FA_LO], hi = config[GDF_FA_HI];
  if ((int)config[GDF_FA_OP] == GDF_FA_BETWEEN && !(lo <= hi)) {
    char a[32], b[32];
    return gdf_error(GPUDF_EINVAL, "filter_agg",
                     "parameter 'lo' = %s is greater than parameter 'hi' = %s "
                     "(op between needs lo <= hi)",
                     fa_num(a, sizeof a, lo), fa_num(b, sizeof b, hi));
  }
  static const int cols[] = {GDF_FA_FILTER_COL, GDF_FA_VALUE_COL};
  for (int i = 0; i < 2; i++) {
    int c = (int)config[cols[i]];
    gdf_colref ref = gdf_table_colref(t, c);
    if (!fa_type_known(ref.type) || ref.data == NULL)
      return gdf_error(GPUDF_EINVAL, "filter_agg",
                       "parameter '%s' = %d names a column of unknown type %d",
                       fa_params[cols[i]].name, c, (int)ref.type);
  }
  return GPUDF_OK;
}

/* ------------------------------------------------------------ vectors */

/* The native vector width: a wider GCC vector is lowered to scalar code
 * for comparisons, which would undo the point. */
#if defined(__AVX__)
#define FA_W 4
#else
#define FA_W 2
#endif
/* Two vectors per step so that the add/min/max chains overlap. */
#define FA_U 2
#define FA_STEP (FA_W * FA_U)

typedef double fa_vd __attribute__((vector_size(FA_W * sizeof(double))));
typedef int64_t fa_vi __attribute__((vector_size(FA_W * sizeof(int64_t))));

#define FA_INLINE static inline __attribute__((always_inline))

/* Loads through memcpy: a column of another type may be read in place at
 * any row offset, and memcpy makes no alignment promise the compiler could
 * exploit. Vectors go by pointer: passing them by value changes the ABI. */
FA_INLINE void fa_load(fa_vd *out, const double *p) { memcpy(out, p, sizeof *out); }
FA_INLINE void fa_loadi(fa_vi *out, const int64_t *p) { memcpy(out, p, sizeof *out); }
FA_INLINE void fa_storei(int64_t *p, const fa_vi *v) { memcpy(p, v, sizeof *v); }

/* All-ones lanes where the row passes. GCC's vector comparisons are C's, so
 * NaN lanes follow the same numpy rules as gdf_fa_pass. */
FA_INLINE void fa_pred(int op, const fa_vd *x, const fa_vd *lo, const fa_vd *hi,
                       fa_vi *m) {
  switch (op) {
  case GDF_FA_LT: *m = (fa_vi)(*x < *lo); break;
  case GDF_FA_LE: *m = (fa_vi)(*x <= *lo); break;
  case GDF_FA_GT: *m = (fa_vi)(*x > *lo); break;
  case GDF_FA_GE: *m = (fa_vi)(*x >= *lo); break;
  case GDF_FA_EQ: *m = (fa_vi)(*x == *lo); break;
  case GDF_FA_NE: *m = (fa_vi)(*x != *lo); break;
  case GDF_FA_BETWEEN: *m = (fa_vi)(*lo <= *x) & (fa_vi)(*x <= *hi); break;
  default: *m = ~(fa_vi){0}; break;
  }
}

/* a where s is set, else b. */
FA_INLINE void fa_select(fa_vd *out, const fa_vi *s, const fa_vd *a, const fa_vd *b) {
  *out = (fa_vd)((*s & (fa_vi)*a) | (~*s & (fa_vi)*b));
}

/* ------------------------------------------------------------ the plan */

/* A column some config reads, as doubles for the current block. */
typedef struct fa_slot {
  gdf_colref col;
  double *tile;        /* conversion buffer; NULL for f64, read in place */
  int64_t *valid;      /* not-NaN lanes of this block (float value columns) */
  const double *x;     /* the block's values */
  const int64_t *ok;   /* valid when this block holds a NaN value, else NULL */
  bool is_value;
} fa_slot;

typedef struct fa_cfg {
  int64_t index; /* row of configs and results */
  int fslot, vslot, op;
  double lo, hi;
} fa_cfg;

typedef struct fa_plan {
  int64_t n;
  fa_cfg *cfg;     /* sorted so that configs reading the same columns follow */
  gdf_fa_acc *acc; /* one per cfg */
  int nslots;
  fa_slot *slots;
  int64_t block;   /* rows per block, a multiple of FA_STEP */
  int64_t *mask;   /* pass-1 row mask of the current config */
} fa_plan;

static void *fa_alloc(size_t count, size_t size) {
  /* 64-byte lines, and a size that is a multiple of them as C11 asks. */
  if (size != 0 && count > SIZE_MAX / size - 64) return NULL;
  size_t bytes = (count * size + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes ? bytes : 64);
}

static void fa_plan_free(fa_plan *p) {
  for (int s = 0; s < p->nslots; s++) {
    free(p->slots[s].tile);
    free(p->slots[s].valid);
  }
  free(p->slots);
  free(p->cfg);
  free(p->acc);
  free(p->mask);
}

static int fa_cfg_cmp(const void *a, const void *b) {
  const fa_cfg *x = a, *y = b;
  if (x->vslot != y->vslot) return x->vslot < y->vslot ? -1 : 1;
  if (x->fslot != y->fslot) return x->fslot < y->fslot ? -1 : 1;
  if (x->op != y->op) return x->op < y->op ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Gives column c a slot, once. */
static int fa_slot_of(fa_plan *p, int *slot_of, const gpudf_table *t, int c,
                      bool is_value) {
  if (slot_of[c] < 0) {
    slot_of[c] = p->nslots++;
    p->slots[slot_of[c]].col = gdf_table_colref(t, c);
  }
  p->slots[slot_of[c]].is_value |= is_value;
  return slot_of[c];
}

static gpudf_status fa_plan_configs(fa_plan *p, const gpudf_table *t,
                                    const double *configs) {
  int ncols = gpudf_table_ncols(t);
  int *slot_of = malloc((size_t)ncols * sizeof *slot_of);
  p->slots = calloc((size_t)ncols, sizeof *p->slots);
  if (!slot_of || !p->slots) {
    free(slot_of);
    return GDF_ERR(GPUDF_ENOMEM, "no memory for %d column slots", ncols);
  }
  for (int c = 0; c < ncols; c++) slot_of[c] = -1;
  for (int64_t k = 0; k < p->n; k++) {
    const double *c = configs + k * GDF_FA_NPARAMS;
    fa_cfg *f = &p->cfg[k];
    f->index = k;
    f->fslot = fa_slot_of(p, slot_of, t, (int)c[GDF_FA_FILTER_COL], false);
    f->vslot = fa_slot_of(p, slot_of, t, (int)c[GDF_FA_VALUE_COL], true);
    f->op = (int)c[GDF_FA_OP];
    f->lo = c[GDF_FA_LO];
    f->hi = c[GDF_FA_HI];
    p->acc[k] = gdf_fa_empty();
  }
  free(slot_of);
  qsort(p->cfg, (size_t)p->n, sizeof *p->cfg, fa_cfg_cmp);
  return GPUDF_OK;
}

/* Blocks of 1024 rows (8 KiB per column) keep two columns and the mask in
 * L1; with many columns the block shrinks so that all of them stay in L2. */
static int64_t fa_block_rows(int nslots) {
  int64_t rows = 1024;
  while (rows > 64 && (int64_t)nslots * rows * 16 > 256 * 1024) rows /= 2;
  return rows;
}

static gpudf_status fa_plan_buffers(fa_plan *p) {
  p->block = fa_block_rows(p->nslots);
  size_t rows = (size_t)p->block;
  p->mask = fa_alloc(rows, sizeof *p->mask);
  if (!p->mask) return GDF_ERR(GPUDF_ENOMEM, "no memory for a %zu-row mask", rows);
  for (int s = 0; s < p->nslots; s++) {
    fa_slot *sl = &p->slots[s];
    gpudf_type ty = sl->col.type;
    if (ty != GPUDF_TYPE_F64 && !(sl->tile = fa_alloc(rows, sizeof(double))))
      return GDF_ERR(GPUDF_ENOMEM, "no memory for a %zu-row tile", rows);
    bool floating = ty == GPUDF_TYPE_F32 || ty == GPUDF_TYPE_F64;
    if (sl->is_value && floating && !(sl->valid = fa_alloc(rows, sizeof(int64_t))))
      return GDF_ERR(GPUDF_ENOMEM, "no memory for a %zu-row mask", rows);
  }
  return GPUDF_OK;
}

static gpudf_status fa_plan_init(fa_plan *p, const gpudf_table *t,
                                 const double *configs, int64_t n) {
  memset(p, 0, sizeof *p);
  p->n = n;
  if ((uint64_t)n > SIZE_MAX / (sizeof(fa_cfg) + sizeof(gdf_fa_acc)))
    return GDF_ERR(GPUDF_ENOMEM, "%lld configs do not fit in memory", (long long)n);
  p->cfg = malloc((size_t)n * sizeof *p->cfg);
  p->acc = malloc((size_t)n * sizeof *p->acc);
  if (!p->cfg || !p->acc)
    return GDF_ERR(GPUDF_ENOMEM, "no memory for the state of %lld configs", (long long)n);
  GDF_TRY(fa_plan_configs(p, t, configs));
  return fa_plan_buffers(p);
}

/* ------------------------------------------------------------ one block */

/* Converts rows [start, start + len) of a column to doubles. */
static const double *fa_convert(const gdf_colref *col, int64_t start, int64_t len,
                                double *tile) {
  switch (col->type) {
  case GPUDF_TYPE_F64: return (const double *)col->data + start;
  case GPUDF_TYPE_F32: {
    const float *s = (const float *)col->data + start;
    for (int64_t i = 0; i < len; i++) tile[i] = s[i];
    break;
  }
  case GPUDF_TYPE_I32: {
    const int32_t *s = (const int32_t *)col->data + start;
    for (int64_t i = 0; i < len; i++) tile[i] = s[i];
    break;
  }
  case GPUDF_TYPE_I64: {
    const int64_t *s = (const int64_t *)col->data + start;
    for (int64_t i = 0; i < len; i++) tile[i] = (double)s[i];
    break;
  }
  case GPUDF_TYPE_BOOL: {
    const uint8_t *s = (const uint8_t *)col->data + start;
    for (int64_t i = 0; i < len; i++) tile[i] = s[i];
    break;
  }
  }
  return tile;
}

/* Marks the not-NaN rows; NULL when the block has no NaN, so that configs
 * skip the extra mask. */
static const int64_t *fa_valid(const double *x, int64_t len, int64_t *valid) {
  int64_t nan = 0;
  for (int64_t i = 0; i < len; i++) {
    valid[i] = -(int64_t)(x[i] == x[i]);
    nan |= ~valid[i];
  }
  return nan ? valid : NULL;
}

static void fa_load_block(fa_plan *p, int64_t start, int64_t len) {
  for (int s = 0; s < p->nslots; s++) {
    fa_slot *sl = &p->slots[s];
    sl->x = fa_convert(&sl->col, start, len, sl->tile);
    sl->ok = sl->valid ? fa_valid(sl->x, len, sl->valid) : NULL;
  }
}

/* A block's partial sums before its mean is known. */
typedef struct fa_part {
  double n, sum, min, max;
} fa_part;

FA_INLINE void fa_reduce(fa_part *out, const fa_vd *cnt, const fa_vd *sum,
                         const fa_vd *mn, const fa_vd *mx) {
  out->n = out->sum = 0.0;
  out->min = INFINITY;
  out->max = -INFINITY;
  for (int u = 0; u < FA_U; u++)
    for (int j = 0; j < FA_W; j++) {
      out->n += cnt[u][j];
      out->sum += sum[u][j];
      out->min = mn[u][j] < out->min ? mn[u][j] : out->min;
      out->max = mx[u][j] > out->max ? mx[u][j] : out->max;
    }
}

/* Pass 1 over len rows (a multiple of FA_STEP): count, sum, min, max of the
 * passing not-NaN values, and their row mask for pass 2. min and max see a
 * failing row as NaN (value | ~mask is all ones), which loses every
 * comparison, as does a NaN value, so neither needs the validity mask. */
FA_INLINE void fa_pass1(int op, bool checked, const fa_cfg *c, const double *x,
                        const double *v, const int64_t *ok, int64_t len,
                        int64_t *mask, fa_part *out) {
  const fa_vd zero = {0};
  const fa_vd lo = zero + c->lo, hi = zero + c->hi, one = zero + 1.0;
  fa_vd cnt[FA_U], sum[FA_U], mn[FA_U], mx[FA_U];
  for (int u = 0; u < FA_U; u++) {
    cnt[u] = sum[u] = zero;
    mn[u] = zero + INFINITY;
    mx[u] = zero - INFINITY;
  }
  for (int64_t i = 0; i < len; i += FA_STEP) {
    for (int u = 0; u < FA_U; u++) {
      int64_t r = i + u * FA_W;
      fa_vd xv, vv, t;
      fa_vi m, valid, s;
      fa_load(&xv, x + r);
      fa_load(&vv, v + r);
      fa_pred(op, &xv, &lo, &hi, &m);
      t = (fa_vd)((fa_vi)vv | ~m);
      if (checked) {
        fa_loadi(&valid, ok + r);
        m &= valid;
      }
      if (op != GDF_FA_ALL || checked) fa_storei(mask + r, &m);
      cnt[u] += (fa_vd)(m & (fa_vi)one);
      sum[u] += (fa_vd)(m & (fa_vi)vv);
      s = (fa_vi)(t < mn[u]);
      fa_select(&mn[u], &s, &t, &mn[u]);
      s = (fa_vi)(t > mx[u]);
      fa_select(&mx[u], &s, &t, &mx[u]);
    }
  }
  fa_reduce(out, cnt, sum, mn, mx);
}

/* Pass 2: sum of squared deviations from the block's mean, over rows still in
 * cache. Masked-out lanes (a NaN value included) contribute exactly 0. */
FA_INLINE double fa_pass2(bool masked, const double *v, const int64_t *mask,
                          int64_t len, double mean) {
  const fa_vd zero = {0};
  const fa_vd mu = zero + mean;
  fa_vd m2[FA_U];
  for (int u = 0; u < FA_U; u++) m2[u] = zero;
  for (int64_t i = 0; i < len; i += FA_STEP) {
    for (int u = 0; u < FA_U; u++) {
      int64_t r = i + u * FA_W;
      fa_vd d;
      fa_vi m;
      fa_load(&d, v + r);
      d -= mu;
      if (masked) {
        fa_loadi(&m, mask + r);
        d = (fa_vd)((fa_vi)d & m);
      }
      m2[u] += d * d;
    }
  }
  double s = 0.0;
  for (int u = 0; u < FA_U; u++)
    for (int j = 0; j < FA_W; j++) s += m2[u][j];
  return s;
}

/* One config over the vector part of a block, merged into its accumulator. */
FA_INLINE void fa_block_op(int op, bool checked, const fa_cfg *c, const double *x,
                           const double *v, const int64_t *ok, int64_t len,
                           int64_t *mask, gdf_fa_acc *acc) {
  fa_part p;
  fa_pass1(op, checked, c, x, v, ok, len, mask, &p);
  if (p.n == 0.0) return;
  bool masked = op != GDF_FA_ALL || checked;
  double m2 = fa_pass2(masked, v, mask, len, p.sum / p.n);
  gdf_fa_acc part = gdf_fa_part(p.n, p.sum, m2, p.min, p.max);
  gdf_fa_merge(acc, &part);
}

#define FA_CASE(OP)                                                   \
  case OP:                                                            \
    if (ok) fa_block_op(OP, true, c, x, v, ok, len, mask, acc);       \
    else fa_block_op(OP, false, c, x, v, ok, len, mask, acc);         \
    break

static void fa_block(const fa_cfg *c, const double *x, const double *v,
                     const int64_t *ok, int64_t len, int64_t *mask, gdf_fa_acc *acc) {
  switch (c->op) {
    FA_CASE(GDF_FA_ALL);
    FA_CASE(GDF_FA_LT);
    FA_CASE(GDF_FA_LE);
    FA_CASE(GDF_FA_GT);
    FA_CASE(GDF_FA_GE);
    FA_CASE(GDF_FA_EQ);
    FA_CASE(GDF_FA_NE);
    FA_CASE(GDF_FA_BETWEEN);
  }
}

/* The last rows of the table, fewer than FA_STEP: one at a time, with the
 * shared scalar predicate. */
static void fa_tail(const fa_cfg *c, const double *x, const double *v, int64_t from,
                    int64_t to, gdf_fa_acc *acc) {
  gdf_fa_acc part = gdf_fa_empty();
  for (int64_t i = from; i < to; i++)
    if (gdf_fa_pass(c->op, x[i], c->lo, c->hi) && !isnan(v[i])) gdf_fa_add(&part, v[i]);
  gdf_fa_merge(acc, &part);
}

static void fa_run_block(fa_plan *p, int64_t len) {
  int64_t vec = len - len % FA_STEP;
  for (int64_t k = 0; k < p->n; k++) {
    const fa_cfg *c = &p->cfg[k];
    const fa_slot *f = &p->slots[c->fslot], *v = &p->slots[c->vslot];
    if (vec > 0) fa_block(c, f->x, v->x, v->ok, vec, p->mask, &p->acc[k]);
    if (vec < len) fa_tail(c, f->x, v->x, vec, len, &p->acc[k]);
  }
}

static gpudf_status fa_run_cpu(const gpudf_table *t, const double *configs, int64_t n,
                               double *results) {
  fa_plan p;
  gpudf_status st = fa_plan_init(&p, t, configs, n);
  if (st == GPUDF_OK) {
    int64_t nrows = gpudf_table_nrows(t);
    for (int64_t start = 0; start < nrows; start += p.block) {
      int64_t len = nrows - start < p.block ? nrows - start : p.block;
      fa_load_block(&p, start, len);
      fa_run_block(&p, len);
    }
    for (int64_t k = 0; k < n; k++)
      gdf_fa_finalize(&p.acc[k], results + p.cfg[k].index * GDF_FA_NRESULTS);
  }
  fa_plan_free(&p);
  return st;
}

const gpudf_kernel gdf_kernel_filter_agg = {
    .name = "filter_agg",
    .summary = "count, sum, mean, min, max and sample std (ddof 1) of value_col over "
               "the rows whose filter_col passes op against lo/hi (numpy NaN rules); "
               "NaN values are skipped as pandas does",
    .nparams = GDF_FA_NPARAMS,
    .params = fa_params,
    .nfields = GDF_FA_NRESULTS,
    .fields = fa_fields,
    .nresults = NULL,
    .result_name = NULL,
    .check = fa_check,
    .run_cpu = fa_run_cpu,
};
