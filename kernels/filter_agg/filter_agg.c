/*
 * filter_agg.c - the filter_agg kernel: count, sum, mean, min, max and std of
 * one column over the rows where another column passes a comparison. Its
 * description, its cross-parameter check and its CPU implementation, which is
 * the reference for every other backend.
 *
 * How the CPU version is fast. A whole batch of configs is evaluated in one
 * pass over the table: rows go by blocks small enough that the block's
 * columns, converted once to double (f64 columns are read in place), stay in
 * L1/L2 while the configs run over them; each config keeps its own
 * accumulator, merged block by block with Chan's formula. Configs that read
 * the same two columns form a group, run one of two ways:
 *  - config by config ("tiles"): two passes over the cached block, first
 *    count/sum/min/max and the row mask, then the squared deviations from the
 *    block's mean, so std stays accurate. The loops are branch-free on GCC
 *    vectors of the target's native width, specialised per op (the switch is
 *    outside the row loop);
 *  - all at once ("buckets"), for large groups: the group's lo/hi values cut
 *    the filter axis into buckets (between two values, or equal to one), each
 *    row goes to its bucket once, and per-bucket statistics (two passes too)
 *    are merged into each config's answer at the end. A row then costs a
 *    search among the bounds (guided by a table of equal-width cells, so
 *    one or two steps), not one test per config.
 * The next block is prefetched while the current one is worked on, which is
 * what lets a single config run close to memory bandwidth.
 */
#include "filter_agg_math.h"
#include "k_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------ description */

static const gpudf_param_info fa_params[GDF_FA_NPARAMS] = {
    GDF_K_FILTER_PARAMS(
        "column whose value x decides whether a row passes",
        "row test: all (every row), lt x<lo, le x<=lo, gt x>lo, ge x>=lo, eq x==lo, "
        "ne x!=lo, between lo<=x<=hi; a NaN x fails every test but all and ne; a "
        "categorical filter_col takes only all, eq and ne, lo being a label's code",
        "threshold of the comparison, lower bound for between; compared in the "
        "filter column's type (rounded to float32 for an f32 column, as numpy 2)",
        "upper bound for between (lo <= hi); unused by the other ops"),
    {"value_col", "column aggregated over the passing rows; NaN values are skipped",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
};

/* A categorical filter column is compared as labels (gdf_k_check_filter);
 * the value column is summed, so it must hold numbers. */
static const int fa_accepts[GDF_FA_NPARAMS] = {
    [GDF_FA_FILTER_COL] = GDF_K_FILTER_ACCEPTS,
    [GDF_FA_VALUE_COL] = GPUDF_ACCEPT_NUMERIC};

static const gpudf_result_info fa_fields[GDF_FA_NRESULTS] = {
    {"count", "passing rows whose value is not NaN"},
    {"sum", "sum of those values (0 when count is 0; +inf with a +inf value, -inf with "
            "a -inf, NaN with both; finite values never overflow in between)"},
    {"mean", "sum / count (NaN when count is 0; infinities as sum)"},
    {"min", "smallest of those values (NaN when count is 0)"},
    {"max", "largest of those values (NaN when count is 0)"},
    {"std", "sample standard deviation, ddof 1 (NaN when count < 2 or with an infinite "
            "value; inf when squared deviations overflow, as numpy)"},
};

/* The rules the generic checks of run.c cannot see: run.c refuses columns
 * of types a parameter does not accept; a categorical filter column takes
 * eq/ne against a code only; a corrupt type is refused. */
static gpudf_status fa_check(const gpudf_table *t, const double *config) {
  GDF_TRY(gdf_k_check_between("filter_agg", config[GDF_FA_OP], config[GDF_FA_LO],
                              config[GDF_FA_HI]));
  GDF_TRY(gdf_k_check_filter("filter_agg", t, config[GDF_FA_FILTER_COL], config[GDF_FA_OP],
                             config[GDF_FA_LO]));
  static const int cols[] = {GDF_FA_FILTER_COL, GDF_FA_VALUE_COL};
  for (int i = 0; i < 2; i++) {
    int c = (int)config[cols[i]];
    gdf_colref ref = gdf_table_colref(t, c);
    if (gpudf_type_size(ref.type) == 0 || ref.data == NULL)
      return gdf_error(GPUDF_EINVAL, "filter_agg",
                       "parameter '%s' = %d names a column of unknown type %d",
                       fa_params[cols[i]].name, c, (int)ref.type);
  }
  return GPUDF_OK;
}

/* ------------------------------------------------------------ vectors */

/* The native vector width: GCC lowers comparisons of wider vectors to
 * scalar code, which would undo the point. */
#if defined(__AVX__)
#define FA_W 4
#else
#define FA_W 2
#endif
/* Independent accumulators per pass, so that the add chains overlap: pass 1
 * has four chains already, pass 2 only one. */
#define FA_U 2
#define FA_U2 4
/* Rows the vector passes take at a time; the rest goes through fa_tail. */
#define FA_STEP (FA_W * FA_U2)

typedef double fa_vd __attribute__((vector_size(FA_W * sizeof(double))));
typedef int64_t fa_vi __attribute__((vector_size(FA_W * sizeof(int64_t))));

#define FA_INLINE static inline __attribute__((always_inline))

/* Loads through memcpy: f64 columns are read in place, and memcpy makes no
 * alignment promise the compiler could exploit. Vectors go by pointer:
 * passing them by value would change the ABI with the target. */
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
  case GDF_FA_BETWEEN:
#if defined(__SSE2__) && !defined(__AVX__)
    /* Plain SSE2 has no 64-bit integer compare, and GCC 12 then rebuilds an
     * AND of two vector comparisons lane by lane in scalar code (4x slower). */
    *m = (fa_vi)_mm_and_pd(_mm_cmple_pd(*lo, *x), _mm_cmple_pd(*x, *hi));
#else
    *m = (fa_vi)(*lo <= *x) & (fa_vi)(*x <= *hi);
#endif
    break;
  default: *m = ~(fa_vi){0}; break;
  }
}

/* t < m ? t : m and t > m ? t : m, lane by lane, so a NaN t leaves m alone.
 * Those are exactly x86's minpd/maxpd; GCC does not see it through the
 * generic select, which costs three more instructions on SSE2. */
FA_INLINE void fa_min(fa_vd *m, const fa_vd *t) {
#if defined(__AVX__)
  *m = _mm256_min_pd(*t, *m);
#elif defined(__SSE2__)
  *m = _mm_min_pd(*t, *m);
#else
  fa_vi s = (fa_vi)(*t < *m);
  *m = (fa_vd)((s & (fa_vi)*t) | (~s & (fa_vi)*m));
#endif
}

FA_INLINE void fa_max(fa_vd *m, const fa_vd *t) {
#if defined(__AVX__)
  *m = _mm256_max_pd(*t, *m);
#elif defined(__SSE2__)
  *m = _mm_max_pd(*t, *m);
#else
  fa_vi s = (fa_vi)(*t > *m);
  *m = (fa_vd)((s & (fa_vi)*t) | (~s & (fa_vi)*m));
#endif
}

/* m &= (v == v): keeps the lanes whose value is not NaN. */
FA_INLINE void fa_and_ord(fa_vi *m, const fa_vd *v) {
#if defined(__SSE2__) && !defined(__AVX__)
  *m = (fa_vi)_mm_and_pd((__m128d)*m, _mm_cmpord_pd(*v, *v)); /* see fa_pred */
#else
  *m &= (fa_vi)(*v == *v);
#endif
}

/* How a pass learns which values are NaN: it cannot hold any (integer column,
 * or no NaN in this block), from the slot's valid mask, or by testing. */
enum { FA_NAN_NONE, FA_NAN_TILE, FA_NAN_INLINE };

/* ------------------------------------------------------------ the plan */

/* A column some config reads, as doubles for the current block. */
typedef struct fa_slot {
  gdf_colref col;
  size_t width;        /* bytes per value in the table */
  double *tile;        /* conversion buffer; NULL for f64, read in place */
  int64_t *valid;      /* not-NaN lanes of this block (float value columns) */
  const double *x;     /* the block's values */
  const int64_t *ok;   /* valid when this block holds a NaN value, else NULL */
  const char *ahead;   /* the next block in the table, when it is full size */
  int64_t readers;     /* configs that read it as value column one by one */
  bool nan_inline;     /* may hold NaN, and has no valid mask: test in the loop */
} fa_slot;

typedef struct fa_cfg {
  int64_t index; /* row of configs and results */
  int fslot, vslot, op;
  double lo, hi;
} fa_cfg;

/* Configs reading the same two columns: cfg[first, first + count). */
typedef struct fa_group {
  int64_t first, count;
  int fslot, vslot;
  int nbound;       /* buckets only: distinct lo/hi values, */
  double *bound;    /* sorted, then NaNs (which compare false) up to the
                       last window fa_rank8 may read */
  gdf_fa_acc *acc;  /* per bucket (fa_nbuckets), over the blocks done so far:
                       the leaves of tree */
  gdf_fa_acc *tree; /* a segment tree over the buckets (node i merges 2i and
                       2i + 1, leaves from tsize), so that a config's range
                       of buckets takes log(buckets) merges, not one each */
  int tsize;
  /* A guide to the bounds: x falls in cell fa_cell(x) of equal-width cells
   * over the finite bounds, and its rank is within guide[cell] .. + window. */
  double g0, gscale, gtop; /* gtop = gcells - 1 */
  int gcells, window;
  int32_t *guide;
} fa_group;

/* Each bucket's sums are kept in this many copies, row i going to copy
 * i % FA_COPIES: rows of one bucket in a row then update different memory
 * instead of each waiting for the previous one's store. */
#define FA_COPIES 2

/* One bucket's statistics over the current block, all in one or two cache
 * lines. Between blocks every bucket is empty (n 0, min +inf, ...). */
typedef struct fa_bucket {
  double n[FA_COPIES], sum[FA_COPIES], min[FA_COPIES], max[FA_COPIES], m2[FA_COPIES];
  double ds[FA_COPIES]; /* sum of v - mean, for the corrected two-pass m2 */
  double mean;   /* of the block's rows, once copy 0 holds them all */
  double big;    /* the scaled sum when the block's finite values overflowed sum */
  int32_t over;  /* 1: they did, and big is to be made; 2: it is made */
  int64_t stamp; /* the fa_bucket_block call that computed mean */
} fa_bucket;

/* The per-row and per-bucket state of one block, shared by the groups. Only
 * the buckets the block's rows fall in are visited, so a block costs the
 * same whatever the number of buckets. */
typedef struct fa_bscratch {
  int32_t *idx;       /* bucket of each row */
  fa_bucket *bucket;
  int64_t tick;       /* fa_bucket_block calls so far */
} fa_bscratch;

typedef struct fa_plan {
  int64_t n;
  fa_cfg *cfg;     /* sorted so that configs reading the same columns follow */
  gdf_fa_acc *acc; /* one per cfg */
  int nslots;
  fa_slot *slots;
  int64_t ngroups;
  fa_group *groups;
  int64_t block;   /* rows per block */
  int64_t *mask;   /* pass-1 row mask of the current config */
  fa_bscratch bs;
} fa_plan;

/* A float value column read by this many configs (one by one) gets its NaN
 * mask made once per block; fewer test each value in their own loop, which
 * costs less than a pass of its own. */
enum { FA_VALID_MIN = 3 };

/* Groups at least this large go by buckets: a row then costs a guided
 * search and a few scattered adds, about 20 cycles whatever the group size,
 * against 2-3 cycles per config by tiles on SSE2 (measured: the two cross
 * near 8 configs). */
enum { FA_BUCKET_MIN = 8 };

/* Buckets of a group with k bounds: 2k + 1 for a non-NaN x, one for a NaN x;
 * fa_bucket_rows sends rows whose value is NaN one further, where nothing
 * reads them. */
static int fa_nbuckets(int k) { return 2 * k + 2; }

static void *fa_alloc(size_t count, size_t size) {
  /* 64-byte lines, and a size that is a multiple of them as C11 asks. */
  if (size != 0 && count > (SIZE_MAX - 64) / size) return NULL;
  size_t bytes = (count * size + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes ? bytes : 64);
}

static void fa_plan_free(fa_plan *p) {
  for (int s = 0; s < p->nslots; s++) {
    free(p->slots[s].tile);
    free(p->slots[s].valid);
  }
  for (int64_t g = 0; g < p->ngroups; g++) {
    free(p->groups[g].bound);
    free(p->groups[g].tree);
    free(p->groups[g].guide);
  }
  free(p->bs.idx);
  free(p->bs.bucket);
  free(p->slots);
  free(p->groups);
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
static int fa_slot_of(fa_plan *p, int *slot_of, const gdf_kernel_input *in, int c) {
  if (slot_of[c] < 0) {
    fa_slot *s = &p->slots[p->nslots];
    slot_of[c] = p->nslots++;
    s->col = gdf_input_col(in, c);
    s->width = gpudf_type_size(s->col.type);
  }
  return slot_of[c];
}

static gpudf_status fa_plan_configs(fa_plan *p, const gdf_kernel_input *in,
                                    const double *configs) {
  int ncols = in->ncols;
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
    f->fslot = fa_slot_of(p, slot_of, in, (int)c[GDF_FA_FILTER_COL]);
    f->vslot = fa_slot_of(p, slot_of, in, (int)c[GDF_FA_VALUE_COL]);
    f->op = (int)c[GDF_FA_OP];
    /* Compared in the filter column's type, as numpy does. */
    int f32 = p->slots[f->fslot].col.type == GPUDF_TYPE_F32;
    f->lo = gdf_fa_bound(f32, c[GDF_FA_LO]);
    f->hi = gdf_fa_bound(f32, c[GDF_FA_HI]);
    p->acc[k] = gdf_fa_empty();
  }
  free(slot_of);
  qsort(p->cfg, (size_t)p->n, sizeof *p->cfg, fa_cfg_cmp);
  return GPUDF_OK;
}

static int fa_double_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The guide's cell of x. Monotone in x (rounding is, and so is clamping),
 * which is all fa_group_guide relies on; a NaN x lands in cell 0, and its
 * bucket comes from elsewhere. */
static inline int fa_cell(const fa_group *g, double x) {
  double t = (x - g->g0) * g->gscale;
#if defined(__SSE2__)
  /* GCC 12 branches on t > 0 ? t : 0, which mispredicts on rows below the
   * first bound; maxsd is the same select (a NaN t gives 0). */
  t = _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(t), _mm_setzero_pd()));
#else
  t = t > 0.0 ? t : 0.0;
#endif
  t = t < g->gtop ? t : g->gtop;
  return (int)t;
}

/* guide[c] = the number of bounds in cells before c. A bound in a cell
 * before x's is below x and one in a cell after is above it (monotony), so
 * x's rank lies in guide[c] .. guide[c] + (bounds in cell c), and the window
 * is the most bounds any cell holds. Without two distinct finite bounds
 * there is one cell and the window is every bound. */
static gpudf_status fa_group_guide(fa_group *g) {
  int k = g->nbound, lo = 0, hi = k - 1;
  while (lo < k && !isfinite(g->bound[lo])) lo++;
  while (hi >= 0 && !isfinite(g->bound[hi])) hi--;
  g->gcells = 16;
  while (g->gcells < 4 * k && g->gcells < 16384) g->gcells *= 2;
  g->g0 = lo < hi ? g->bound[lo] : 0.0;
  g->gscale = lo < hi ? g->gcells / (g->bound[hi] - g->bound[lo]) : 0.0;
  if (!isfinite(g->gscale)) g->gscale = 0.0; /* a range too small or too wide */
  if (g->gscale == 0.0) g->gcells = 1;
  g->gtop = g->gcells - 1;
  if (!(g->guide = calloc((size_t)g->gcells, sizeof *g->guide)))
    return GDF_ERR(GPUDF_ENOMEM, "no memory for a %d-cell guide", g->gcells);
  int32_t *count = g->guide; /* bounds per cell first, then their prefix sums */
  for (int i = 0; i < k; i++) count[fa_cell(g, g->bound[i])]++;
  int before = 0;
  g->window = 0;
  for (int c = 0; c < g->gcells; c++) {
    int here = count[c];
    g->window = here > g->window ? here : g->window;
    count[c] = before;
    before += here;
  }
  for (int i = k; i <= k + g->window; i++) g->bound[i] = NAN;
  return GPUDF_OK;
}

/* The sorted distinct lo (and, for between, hi) values of a group, their
 * guide and the group's bucket accumulators. */
static gpudf_status fa_group_bounds(const fa_plan *p, fa_group *g) {
  /* Room for 2 bounds per config, the NaN after them and a window of NaNs. */
  g->bound = malloc((size_t)(4 * g->count + 2) * sizeof *g->bound);
  if (!g->bound) return GDF_ERR(GPUDF_ENOMEM, "no memory for %lld bounds", (long long)g->count);
  int64_t k = 0;
  for (int64_t i = g->first; i < g->first + g->count; i++) {
    const fa_cfg *c = &p->cfg[i];
    if (c->op == GDF_FA_ALL) continue;
    g->bound[k++] = c->lo;
    if (c->op == GDF_FA_BETWEEN) g->bound[k++] = c->hi;
  }
  qsort(g->bound, (size_t)k, sizeof *g->bound, fa_double_cmp);
  int64_t u = 0;
  for (int64_t i = 0; i < k; i++) /* == also merges -0.0 with 0.0, as the tests do */
    if (u == 0 || g->bound[i] != g->bound[u - 1]) g->bound[u++] = g->bound[i];
  g->nbound = (int)u;
  GDF_TRY(fa_group_guide(g));
  int nb = fa_nbuckets(g->nbound) + 1; /* + the NaN-value bucket, never read */
  for (g->tsize = 1; g->tsize < nb;) g->tsize *= 2;
  if (!(g->tree = malloc(2 * (size_t)g->tsize * sizeof *g->tree)))
    return GDF_ERR(GPUDF_ENOMEM, "no memory for %d buckets", nb);
  for (int j = 0; j < 2 * g->tsize; j++) g->tree[j] = gdf_fa_empty();
  g->acc = g->tree + g->tsize;
  return GPUDF_OK;
}

/* Cuts the sorted configs into groups and gives the large ones buckets. A
 * group holds at most INT32_MAX / 32 configs so that bucket numbers (four per
 * config, times the copies) fit in an int32_t. */
static gpudf_status fa_plan_groups(fa_plan *p) {
  p->groups = malloc((size_t)p->n * sizeof *p->groups);
  if (!p->groups) return GDF_ERR(GPUDF_ENOMEM, "no memory for %lld groups", (long long)p->n);
  for (int64_t i = 0; i < p->n;) {
    fa_group *g = &p->groups[p->ngroups++];
    memset(g, 0, sizeof *g);
    g->first = i;
    g->fslot = p->cfg[i].fslot;
    g->vslot = p->cfg[i].vslot;
    while (i < p->n && g->count < INT32_MAX / 32 && p->cfg[i].fslot == g->fslot &&
           p->cfg[i].vslot == g->vslot) {
      g->count++;
      i++;
    }
    if (g->count >= FA_BUCKET_MIN) GDF_TRY(fa_group_bounds(p, g));
    else p->slots[g->vslot].readers += g->count;
  }
  return GPUDF_OK;
}

/* Blocks of 1024 rows (8 KiB per column) keep two columns and the mask in
 * L1; with many columns the block shrinks so that all of them stay in L2. */
static int64_t fa_block_rows(int nslots) {
  int64_t rows = 1024;
  while (rows > 64 && (int64_t)nslots * rows * 16 > 256 * 1024) rows /= 2;
  return rows;
}

static void fa_bucket_clear(fa_bucket *b) {
  for (int c = 0; c < FA_COPIES; c++) {
    b->n[c] = b->sum[c] = b->m2[c] = 0.0;
    b->ds[c] = 0.0;
    b->min[c] = INFINITY;
    b->max[c] = -INFINITY;
  }
  b->big = 0.0;
  b->over = 0;
}

static gpudf_status fa_plan_buckets(fa_plan *p) {
  int cap = 0; /* the most buckets of a group, its NaN-value bucket included */
  for (int64_t g = 0; g < p->ngroups; g++)
    if (p->groups[g].bound && fa_nbuckets(p->groups[g].nbound) + 1 > cap)
      cap = fa_nbuckets(p->groups[g].nbound) + 1;
  if (cap == 0) return GPUDF_OK;
  fa_bscratch *b = &p->bs;
  b->idx = malloc((size_t)p->block * sizeof *b->idx);
  b->bucket = malloc((size_t)cap * sizeof *b->bucket);
  if (!b->idx || !b->bucket) return GDF_ERR(GPUDF_ENOMEM, "no memory for %d buckets", cap);
  for (int j = 0; j < cap; j++) {
    fa_bucket_clear(&b->bucket[j]);
    b->bucket[j].stamp = -1;
  }
  return GPUDF_OK;
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
    sl->nan_inline = floating && sl->readers < FA_VALID_MIN;
    if (floating && !sl->nan_inline && !(sl->valid = fa_alloc(rows, sizeof(int64_t))))
      return GDF_ERR(GPUDF_ENOMEM, "no memory for a %zu-row mask", rows);
  }
  return fa_plan_buckets(p);
}

static gpudf_status fa_plan_init(fa_plan *p, const gdf_kernel_input *in,
                                 const double *configs, int64_t n) {
  memset(p, 0, sizeof *p);
  p->n = n;
  if ((uint64_t)n > SIZE_MAX / (sizeof(fa_cfg) + sizeof(gdf_fa_acc) + sizeof(fa_group)))
    return GDF_ERR(GPUDF_ENOMEM, "%lld configs do not fit in memory", (long long)n);
  p->cfg = malloc((size_t)n * sizeof *p->cfg);
  p->acc = malloc((size_t)n * sizeof *p->acc);
  if (!p->cfg || !p->acc)
    return GDF_ERR(GPUDF_ENOMEM, "no memory for the state of %lld configs", (long long)n);
  GDF_TRY(fa_plan_configs(p, in, configs));
  GDF_TRY(fa_plan_groups(p));
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
  int64_t i = 0, nan = 0;
  fa_vi any = {0};
  for (; i + FA_W <= len; i += FA_W) {
    fa_vd v;
    fa_load(&v, x + i);
    fa_vi ok = (fa_vi)(v == v);
    fa_storei(valid + i, &ok);
    any |= ~ok;
  }
  for (; i < len; i++) {
    valid[i] = -(int64_t)(x[i] == x[i]);
    nan |= ~valid[i];
  }
  for (int j = 0; j < FA_W; j++) nan |= any[j];
  return nan ? valid : NULL;
}

/* Gets every slot's rows [start, start + len) ready, and notes where the
 * next block starts so that the first pass over this one can prefetch it. */
static void fa_load_block(fa_plan *p, int64_t start, int64_t len, int64_t nrows) {
  bool next_full = nrows - (start + len) >= len;
  for (int s = 0; s < p->nslots; s++) {
    fa_slot *sl = &p->slots[s];
    sl->x = fa_convert(&sl->col, start, len, sl->tile);
    sl->ok = sl->valid ? fa_valid(sl->x, len, sl->valid) : NULL;
    sl->ahead = next_full ? (const char *)sl->col.data + (size_t)(start + len) * sl->width
                          : NULL;
  }
}

/* What one config (or group) reads in the current block. */
typedef struct fa_in {
  const double *x, *v;  /* filter and value columns, as doubles */
  const int64_t *ok;    /* not-NaN lanes of v; NULL when v has no NaN here */
  bool nan_inline;      /* v may hold NaN and has no ok: test it in the loop */
  int64_t len;          /* rows */
  int64_t *mask;        /* scratch for the pass-1 row mask */
  const char *ax, *av;  /* the next block of both columns, or NULL */
  size_t axw, avw;      /* their bytes per row */
} fa_in;

/* One line of the next block per line of this one: spread over the pass so
 * that memory streams while the block is worked on, which a burst of
 * prefetches at the start of the block does not achieve. */
FA_INLINE void fa_prefetch(const fa_in *in, int64_t r) {
  __builtin_prefetch(in->ax + (size_t)r * in->axw, 0, 2);
  __builtin_prefetch(in->av + (size_t)r * in->avw, 0, 2);
}

/* ------------------------------------------------------------ tiles */

/* A block's partial sums before its mean is known. */
typedef struct fa_part {
  double n, sum, min, max;
} fa_part;

FA_INLINE void fa_reduce(fa_part *out, const fa_vi *cnt, const fa_vd *sum,
                         const fa_vd *mn, const fa_vd *mx) {
  out->n = out->sum = 0.0;
  out->min = INFINITY;
  out->max = -INFINITY;
  for (int u = 0; u < FA_U; u++)
    for (int j = 0; j < FA_W; j++) {
      out->n += (double)cnt[u][j];
      out->sum += sum[u][j];
      out->min = mn[u][j] < out->min ? mn[u][j] : out->min;
      out->max = mx[u][j] > out->max ? mx[u][j] : out->max;
    }
}

/* Pass 1 over in->len rows (a multiple of FA_STEP): count, sum, min, max of
 * the passing not-NaN values, and their row mask for pass 2. min and max see
 * a failing row as NaN (value | ~mask is all ones), which loses every
 * comparison, as does a NaN value, so neither needs the validity mask. */
FA_INLINE void fa_pass1(int op, int nan, bool pf, const fa_cfg *c, const fa_in *in,
                        fa_part *out) {
  const fa_in l = *in; /* a local copy: the mask stores (memcpy) could alias *in */
  const fa_vd zero = {0};
  const fa_vd lo = zero + c->lo, hi = zero + c->hi;
  fa_vd sum[FA_U], mn[FA_U], mx[FA_U];
  fa_vi cnt[FA_U];
  for (int u = 0; u < FA_U; u++) {
    cnt[u] = (fa_vi){0};
    sum[u] = zero;
    mn[u] = zero + INFINITY;
    mx[u] = zero - INFINITY;
  }
  for (int64_t i = 0; i < l.len; i += FA_U * FA_W) {
    if (pf) fa_prefetch(&l, i);
    for (int u = 0; u < FA_U; u++) {
      int64_t r = i + u * FA_W;
      fa_vd xv, vv, t;
      fa_vi m, valid;
      fa_load(&xv, l.x + r);
      fa_load(&vv, l.v + r);
      fa_pred(op, &xv, &lo, &hi, &m);
      t = (fa_vd)((fa_vi)vv | ~m);
      if (nan == FA_NAN_TILE) {
        fa_loadi(&valid, l.ok + r);
        m &= valid;
      } else if (nan == FA_NAN_INLINE) {
        fa_and_ord(&m, &vv);
      }
      if (op != GDF_FA_ALL || nan != FA_NAN_NONE) fa_storei(l.mask + r, &m);
      cnt[u] -= m; /* all-ones lanes are -1 */
      sum[u] += (fa_vd)(m & (fa_vi)vv);
      fa_min(&mn[u], &t);
      fa_max(&mx[u], &t);
    }
  }
  fa_reduce(out, cnt, sum, mn, mx);
}

/* Pass 2: the sums of d = v - shift (with_ds; else 0) and of d * d, over rows
 * still in cache. Masked-out lanes (a NaN value included) contribute
 * exactly 0. */
FA_INLINE void fa_pass2(bool masked, bool with_ds, const fa_in *in, double shift,
                        double *ds, double *d2) {
  const fa_in l = *in;
  const fa_vd zero = {0};
  const fa_vd mu = zero + shift;
  fa_vd m2[FA_U2], s[FA_U2];
  for (int u = 0; u < FA_U2; u++) m2[u] = s[u] = zero;
  for (int64_t i = 0; i < l.len; i += FA_STEP) {
    for (int u = 0; u < FA_U2; u++) {
      int64_t r = i + u * FA_W;
      fa_vd d;
      fa_vi m;
      fa_load(&d, l.v + r);
      d -= mu;
      if (masked) {
        fa_loadi(&m, l.mask + r);
        d = (fa_vd)((fa_vi)d & m);
      }
      if (with_ds) s[u] += d;
      m2[u] += d * d;
    }
  }
  *ds = *d2 = 0.0;
  for (int u = 0; u < FA_U2; u++)
    for (int j = 0; j < FA_W; j++) {
      *ds += s[u][j];
      *d2 += m2[u][j];
    }
}

/* The passing values' sum scaled by 2^-600: the rare pass for a block whose
 * finite values overflowed the plain sum (gdf_fa_sum_add). */
static double fa_scaled_sum(bool masked, const fa_in *in) {
  double big = 0.0;
  for (int64_t i = 0; i < in->len; i++)
    if (!masked || in->mask[i]) big += in->v[i] * GDF_FA_DOWN;
  return big;
}

/* One config over the block, merged into its accumulator. */
FA_INLINE void fa_tile_op(int op, int nan, bool pf, const fa_cfg *c,
                          const fa_in *in, gdf_fa_acc *acc) {
  fa_part p;
  fa_pass1(op, nan, pf, c, in, &p);
  if (p.n == 0.0) return;
  bool masked = op != GDF_FA_ALL || nan != FA_NAN_NONE;
  double big = 0.0;
  if (!isfinite(p.sum) && isfinite(p.min) && isfinite(p.max)) {
    big = fa_scaled_sum(masked, in);
    p.sum = 0.0;
  }
  double shift = gdf_fa_shift(p.n, p.sum, big), ds, d2;
  /* The sum of d corrects m2 for the rounding of shift (at most ~1e-13 of
   * it over a block's 1024 rows), which only matters where the spread is
   * small against the mean: std is at least (max - min) / 46 over 1024
   * rows, so with max - min >= 1e-3 |shift| the correction is below 1e-16
   * of m2 and the add it costs per row (10-15%) is skipped. */
  if (p.max - p.min >= 1e-3 * fabs(shift)) fa_pass2(masked, false, in, shift, &ds, &d2);
  else fa_pass2(masked, true, in, shift, &ds, &d2);
  gdf_fa_acc part = gdf_fa_part(p.n, p.sum, big, p.min, p.max, shift, ds, d2);
  gdf_fa_merge(acc, &part);
}

FA_INLINE void fa_tile_nan(int op, bool pf, const fa_cfg *c, const fa_in *in,
                           gdf_fa_acc *acc) {
  if (in->ok) fa_tile_op(op, FA_NAN_TILE, pf, c, in, acc);
  else if (in->nan_inline) fa_tile_op(op, FA_NAN_INLINE, pf, c, in, acc);
  else fa_tile_op(op, FA_NAN_NONE, pf, c, in, acc);
}

#define FA_CASE(OP)                                                              \
  case OP:                                                                       \
    if (pf) fa_tile_nan(OP, true, c, in, acc);                                   \
    else fa_tile_nan(OP, false, c, in, acc);                                     \
    break

/* in->len is a multiple of FA_STEP here; pf asks for the next block. */
static void fa_tile(const fa_cfg *c, const fa_in *in, bool pf, gdf_fa_acc *acc) {
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

/* ------------------------------------------------------------ buckets */

/* Number of bounds below x: a branch-free binary search (the loop count
 * depends on k only), whose selects compile to conditional moves. */
static inline int fa_rank(const double *bound, int k, double x) {
  const double *base = bound;
  int n = k;
  while (n > 1) {
    int half = n / 2;
    base = base[half] < x ? base + half : base;
    n -= half;
  }
  return (int)(base - bound) + (n == 1 && *base < x);
}

/* The ranks of 8 rows at once, in lock step (one row's search is a chain of
 * dependent loads; eight are independent and overlap): start from the guide,
 * then a branch-free binary search over the window. */
enum { FA_LANES = 8 };
static inline void fa_rank8(const fa_group *g, const double *x, int *p) {
  const double *bound = g->bound;
  int base[FA_LANES];
  for (int r = 0; r < FA_LANES; r++) base[r] = g->guide[fa_cell(g, x[r])];
  int n = g->window;
  while (n > 1) {
    int half = n / 2;
    for (int r = 0; r < FA_LANES; r++)
      base[r] = bound[base[r] + half] < x[r] ? base[r] + half : base[r];
    n -= half;
  }
  /* Written so that it is a setcc, not a branch that random rows mispredict;
   * with no bounds the read is bound[0], a NaN pad. */
  int last = n == 1;
  for (int r = 0; r < FA_LANES; r++) p[r] = base[r] + ((bound[base[r]] < x[r]) & last);
}

/* Bucket of the row whose rank among the bounds is p: 2p for x strictly
 * between bound[p-1] and bound[p], 2p + 1 for x == bound[p], 2k + 1 for a
 * NaN x, 2k + 2 (read by nobody) for a NaN value. */
static inline int32_t fa_bucket_of(const double *bound, int k, int p, double x, double v) {
  int j = 2 * p + (bound[p] == x); /* bound[k] is NaN */
  /* Masks rather than ?:, which GCC turns into branches on the NaN tests. */
  int nan_x = -(x != x), nan_v = -(v != v);
  j = (j & ~nan_x) | ((2 * k + 1) & nan_x);
  return (j & ~nan_v) | ((2 * k + 2) & nan_v);
}

/* idx[i] = the bucket of row i. */
static void fa_bucket_rows(const fa_group *g, const fa_in *in, int32_t *idx) {
  const double *b = g->bound, *x = in->x, *v = in->v;
  int k = g->nbound, p[FA_LANES];
  int64_t i = 0;
  for (; i + FA_LANES <= in->len; i += FA_LANES) {
    if (in->ax) fa_prefetch(in, i);
    fa_rank8(g, x + i, p);
    for (int r = 0; r < FA_LANES; r++) idx[i + r] = fa_bucket_of(b, k, p[r], x[i + r], v[i + r]);
  }
  for (; i < in->len; i++) idx[i] = fa_bucket_of(b, k, fa_rank(b, k, x[i]), x[i], v[i]);
}

/* Pass 1: count, sum, min and max per bucket copy. */
static void fa_bucket_pass1(fa_bscratch *s, const double *v, int64_t len) {
  const int32_t *idx = s->idx;
  for (int64_t i = 0; i < len; i++) {
    fa_bucket *b = &s->bucket[idx[i]];
    int c = (int)(i % FA_COPIES);
    b->n[c] += 1.0;
    b->sum[c] += v[i];
    b->min[c] = v[i] < b->min[c] ? v[i] : b->min[c];
    b->max[c] = v[i] > b->max[c] ? v[i] : b->max[c];
  }
}

/* Folds a bucket's copies into copy 0 and sets its mean for pass 2. */
static bool fa_bucket_fold1(fa_bucket *b) {
  for (int c = 1; c < FA_COPIES; c++) {
    b->n[0] += b->n[c];
    b->sum[0] += b->sum[c];
    b->min[0] = b->min[c] < b->min[0] ? b->min[c] : b->min[0];
    b->max[0] = b->max[c] > b->max[0] ? b->max[c] : b->max[0];
  }
  b->mean = b->n[0] > 0.0 ? b->sum[0] / b->n[0] : 0.0;
  b->over = !isfinite(b->sum[0]) && isfinite(b->min[0]) && isfinite(b->max[0]);
  return b->over;
}

/* Merges a bucket into the group's and empties it, when a row fell in it. */
static void fa_bucket_merge1(fa_bucket *b, gdf_fa_acc *acc) {
  if (b->n[0] == 0.0) return;
  double d2 = 0.0, ds = 0.0;
  for (int c = 0; c < FA_COPIES; c++) d2 += b->m2[c], ds += b->ds[c];
  gdf_fa_acc part = gdf_fa_part(b->n[0], b->sum[0], b->big, b->min[0], b->max[0], b->mean,
                                ds, d2);
  gdf_fa_merge(acc, &part);
  fa_bucket_clear(b);
}

/* Folds, then later merges, the buckets the block's rows fall in: all of
 * them when there are fewer buckets than rows (no branch per row), else only
 * those the rows name, each once (the stamp, or the emptied bucket, says it
 * is done), so that a block never costs more than its rows. */
static bool fa_bucket_fold(fa_bscratch *s, int64_t len, int nb) {
  bool over = false;
  if (nb <= len) {
    for (int j = 0; j < nb; j++) over |= fa_bucket_fold1(&s->bucket[j]);
    return over;
  }
  for (int64_t i = 0; i < len; i++) {
    fa_bucket *b = &s->bucket[s->idx[i]];
    if (b->stamp == s->tick) continue;
    b->stamp = s->tick;
    over |= fa_bucket_fold1(b);
  }
  return over;
}

static void fa_bucket_merge(fa_bscratch *s, int64_t len, int nb, gdf_fa_acc *acc) {
  if (nb <= len) {
    for (int j = 0; j < nb; j++) fa_bucket_merge1(&s->bucket[j], &acc[j]);
    return;
  }
  for (int64_t i = 0; i < len; i++) fa_bucket_merge1(&s->bucket[s->idx[i]], &acc[s->idx[i]]);
}

/* The rare pass for buckets whose finite values overflowed their sum this
 * block (fa_bucket_fold1 marks them): their sum again, scaled by 2^-600,
 * and the mean from it. */
static void fa_bucket_overflow(fa_bscratch *s, const double *v, int64_t len) {
  for (int64_t i = 0; i < len; i++) {
    fa_bucket *b = &s->bucket[s->idx[i]];
    if (b->over == 1) b->big += v[i] * GDF_FA_DOWN;
  }
  for (int64_t i = 0; i < len; i++) {
    fa_bucket *b = &s->bucket[s->idx[i]];
    if (b->over != 1) continue;
    b->over = 2;
    b->sum[0] = 0.0;
    b->mean = gdf_fa_shift(b->n[0], 0.0, b->big);
  }
}

/* Both passes of a block, bucket by bucket, merged into the group's buckets
 * (the NaN-value bucket too: nothing reads it). */
static void fa_bucket_block(fa_group *g, const fa_in *in, fa_bscratch *s) {
  const double *v = in->v;
  const int32_t *idx = s->idx;
  int nb = fa_nbuckets(g->nbound) + 1;
  s->tick++;
  fa_bucket_rows(g, in, s->idx);
  fa_bucket_pass1(s, v, in->len);
  if (fa_bucket_fold(s, in->len, nb)) fa_bucket_overflow(s, v, in->len);
  for (int64_t i = 0; i < in->len; i++) {
    fa_bucket *b = &s->bucket[idx[i]];
    double d = v[i] - b->mean;
    b->ds[i % FA_COPIES] += d;
    b->m2[i % FA_COPIES] += d * d;
  }
  fa_bucket_merge(s, in->len, nb, g->acc);
}

/* Fills the inner nodes of the tree once every block is done. */
static void fa_tree_build(fa_group *g) {
  for (int i = g->tsize - 1; i >= 1; i--) {
    g->tree[i] = g->tree[2 * i];
    gdf_fa_merge(&g->tree[i], &g->tree[2 * i + 1]);
  }
}

/* Merges buckets [from, to) into acc, left to right, in O(log) nodes. */
static void fa_bucket_range(const fa_group *g, int from, int to, gdf_fa_acc *acc) {
  gdf_fa_acc right = gdf_fa_empty();
  for (int l = from + g->tsize, r = to + g->tsize; l < r; l /= 2, r /= 2) {
    if (l & 1) gdf_fa_merge(acc, &g->tree[l++]);
    if (r & 1) {
      gdf_fa_acc node = g->tree[--r];
      gdf_fa_merge(&node, &right);
      right = node;
    }
  }
  gdf_fa_merge(acc, &right);
}

/* A config's answer from the buckets its rows fall in. lo and hi are bounds
 * of the group, so the number of bounds below one is its index r, and
 * bucket 2r + 1 holds the rows equal to it. */
static void fa_bucket_finish(const fa_group *g, const fa_cfg *c, gdf_fa_acc *acc) {
  int k = g->nbound, end = 2 * k + 1; /* end: the NaN-x bucket */
  int q = 2 * fa_rank(g->bound, k, c->lo);
  switch (c->op) {
  case GDF_FA_LT: fa_bucket_range(g, 0, q + 1, acc); break;
  case GDF_FA_LE: fa_bucket_range(g, 0, q + 2, acc); break;
  case GDF_FA_GT: fa_bucket_range(g, q + 2, end, acc); break;
  case GDF_FA_GE: fa_bucket_range(g, q + 1, end, acc); break;
  case GDF_FA_EQ: fa_bucket_range(g, q + 1, q + 2, acc); break;
  case GDF_FA_NE:
    fa_bucket_range(g, 0, q + 1, acc);
    fa_bucket_range(g, q + 2, end + 1, acc);
    break;
  case GDF_FA_BETWEEN:
    fa_bucket_range(g, q + 1, 2 * fa_rank(g->bound, k, c->hi) + 2, acc);
    break;
  default: fa_bucket_range(g, 0, end + 1, acc); break;
  }
}

/* ------------------------------------------------------------ the run */

/* Configs of one (filter column, value column) pair form one group of a
 * batch, which costs one pass over the rows whatever its size (fa_plan_groups):
 * that pair is the pass a config needs. Column indices are < 2^12. */
static uint64_t fa_pass_key(const double *config) {
  return (uint64_t)config[GDF_FA_FILTER_COL] << 32 | (uint64_t)config[GDF_FA_VALUE_COL];
}

static fa_in fa_input(const fa_plan *p, const fa_group *g, int64_t len) {
  const fa_slot *f = &p->slots[g->fslot], *v = &p->slots[g->vslot];
  fa_in in = {f->x, v->x, v->ok, v->nan_inline, len, p->mask,
              f->ahead, v->ahead, f->width, v->width};
  if (!in.ax || !in.av) in.ax = in.av = NULL;
  return in;
}

static void fa_run_group(fa_plan *p, fa_group *g, int64_t len) {
  fa_in in = fa_input(p, g, len);
  if (g->bound) {
    fa_bucket_block(g, &in, &p->bs);
    return;
  }
  int64_t vec = len - len % FA_STEP;
  in.len = vec;
  for (int64_t k = g->first; k < g->first + g->count; k++) {
    const fa_cfg *c = &p->cfg[k];
    /* The group's first config streams the next block in. */
    if (vec > 0) fa_tile(c, &in, k == g->first && in.ax, &p->acc[k]);
    if (vec < len) fa_tail(c, in.x, in.v, vec, len, &p->acc[k]);
  }
}

/* Ends the pass: each config's accumulator complete (the bucketed groups'
 * too), then its results (results) or its state over these rows (states,
 * FA_NSTATE doubles per config, for a merge with other ranges). */
static void fa_finish(fa_plan *p, double *results, double *states) {
  for (int64_t g = 0; g < p->ngroups; g++) {
    fa_group *gr = &p->groups[g];
    if (!gr->bound) continue;
    fa_tree_build(gr);
    for (int64_t k = gr->first; k < gr->first + gr->count; k++)
      fa_bucket_finish(gr, &p->cfg[k], &p->acc[k]);
  }
  for (int64_t k = 0; k < p->n; k++) {
    if (results)
      gdf_fa_finalize(&p->acc[k], results + p->cfg[k].index * GDF_FA_NRESULTS);
    else
      memcpy(states + p->cfg[k].index * (int64_t)(sizeof(gdf_fa_acc) / sizeof(double)),
             &p->acc[k], sizeof(gdf_fa_acc));
  }
}

/* One pass over the input's rows for n configs, into results or states. */
static gpudf_status fa_pass(const gdf_kernel_input *in, const double *configs, int64_t n,
                            double *results, double *states) {
  if (n == 0) return GPUDF_OK; /* and no allocation of size 0 below */
  fa_plan p;
  gpudf_status st = fa_plan_init(&p, in, configs, n);
  if (st == GPUDF_OK) {
    int64_t nrows = in->nrows;
    for (int64_t start = 0; start < nrows; start += p.block) {
      int64_t len = nrows - start < p.block ? nrows - start : p.block;
      fa_load_block(&p, start, len, nrows);
      for (int64_t g = 0; g < p.ngroups; g++) fa_run_group(&p, &p.groups[g], len);
      if (gpudf_kernel_progress((double)(start + len) / (double)nrows)) {
        st = GDF_KERNEL_CANCELLED();
        break;
      }
    }
    if (st == GPUDF_OK) fa_finish(&p, results, states);
  }
  fa_plan_free(&p);
  return st;
}

static gpudf_status fa_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  return fa_pass(in, configs, n, results, NULL);
}

/* ------------------------------------------------------- row splitting */

/* A config's state over a range of rows is its accumulator (gdf_fa_acc,
 * eight doubles); merging two is Chan's update (gdf_fa_merge), which keeps
 * count, min and max exact (a tie of +0 and -0 keeps the earlier range's,
 * as the unsplit pass keeps the earlier row's) and the sum's 2^-600
 * rescale, so that an overflow in one range is undone by the next as in
 * one pass. */
enum { FA_NSTATE = sizeof(gdf_fa_acc) / sizeof(double) };
_Static_assert(sizeof(gdf_fa_acc) == FA_NSTATE * sizeof(double), "gdf_fa_acc is doubles only");

static int fa_nstate(const double *config) {
  (void)config;
  return FA_NSTATE;
}

static gpudf_status fa_run_partial(const gdf_kernel_input *in, const double *configs,
                                   int64_t n, double *states) {
  return fa_pass(in, configs, n, NULL, states);
}

static void fa_merge_state(const double *config, double *acc, const double *part) {
  (void)config;
  gdf_fa_acc a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, part, sizeof b);
  gdf_fa_merge(&a, &b);
  memcpy(acc, &a, sizeof a);
}

static void fa_finish_state(const double *config, const double *state, double *result) {
  (void)config;
  gdf_fa_acc a;
  memcpy(&a, state, sizeof a);
  gdf_fa_finalize(&a, result);
}

static const gdf_kernel_split fa_split = {fa_nstate, fa_run_partial, fa_merge_state,
                                          fa_finish_state};

gdf_kernel_fn gdf_kernel_filter_agg_cuda; /* cuda_filter_agg.cu */

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
    .cpu = fa_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_filter_agg_cuda),
    .pass_key = fa_pass_key,
    .accepts = fa_accepts,
    .split = &fa_split,
};
