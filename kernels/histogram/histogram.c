/*
 * histogram.c - the histogram kernel: counts of a column's values in bins
 * equal-width bins over [range_lo, range_hi] (numpy.histogram's edges and
 * closed last bin), plus underflow and overflow, over the rows that pass
 * filter_agg's filter. Description, checks and the CPU reference.
 *
 * One pass over the rows by blocks (per chunk of configs whose counters
 * fit the bound HI_COUNTERS): each block's filter and value columns are
 * read as doubles once, then every config of the chunk bins it.
 */
#include "histogram_math.h"
#include "k_buckets.h"
#include "k_common.h"

#include <math.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

static const gpudf_param_info hi_params[GDF_HI_NPARAMS] = {
    GDF_K_FILTER_PARAMS("column whose value x decides whether a row passes (as filter_agg)",
                        "row test, as filter_agg: all lt le gt ge eq ne between",
                        "threshold of the FILTER (not the histogram range: see range_lo)",
                        "upper bound of the FILTER for between (see range_hi)"),
    {"col", "column whose values are counted; NaN values are not counted",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"bins", "number of equal-width bins (shape: equal in every config of a batch)",
     GPUDF_PARAM_INTEGER, 10.0, 1.0, GPUDF_BINS_MAX, 0, NULL, 1},
    {"range_lo", "left edge of the first bin (finite, < range_hi)", GPUDF_PARAM_REAL, 0.0,
     -INFINITY, INFINITY, 0, NULL, 0},
    {"range_hi", "right edge of the last bin, which includes it", GPUDF_PARAM_REAL, 1.0,
     -INFINITY, INFINITY, 0, NULL, 0},
};

/* A categorical filter column is compared as labels; the counted column's
 * values fall in numeric bins, so it must hold numbers. */
static const int hi_accepts[GDF_HI_NPARAMS] = {
    [GDF_HI_FILTER_COL] = GDF_K_FILTER_ACCEPTS,
    [GDF_HI_COL] = GPUDF_ACCEPT_NUMERIC};

static const gpudf_result_info hi_fields[1] = {{"bin_0", "values in the first bin"}};

static int hi_nresults(const double *config) { return (int)config[GDF_HI_BINS] + 2; }

static void hi_result_name(const double *config, int i, gpudf_result_info *out) {
  int bins = (int)config[GDF_HI_BINS];
  if (i < bins) {
    gdf_k_name_index(out->name, sizeof out->name, "bin", i);
    out->summary = "values in [range_lo + i*w, range_lo + (i+1)*w), w = (range_hi - "
                   "range_lo) / bins; the last bin also holds range_hi";
  } else {
    snprintf(out->name, sizeof out->name, "%s", i == bins ? "underflow" : "overflow");
    out->summary = i == bins ? "values < range_lo" : "values > range_hi";
  }
}

static gpudf_status hi_check(const gpudf_table *t, const double *config) {
  char a[32], b[32];
  GDF_TRY(gdf_k_check_between("histogram", config[GDF_HI_OP], config[GDF_HI_LO],
                              config[GDF_HI_HI]));
  double rlo = config[GDF_HI_RANGE_LO], rhi = config[GDF_HI_RANGE_HI];
  /* An infinite width would make every edge NaN or infinite. */
  if (!(rlo < rhi) || !isfinite(rhi - rlo))
    return gdf_error(GPUDF_EINVAL, "histogram",
                     "parameter 'range_lo' = %s must be less than parameter 'range_hi' = %s, "
                     "both finite with a finite difference",
                     gdf_fmt_num(a, sizeof a, rlo), gdf_fmt_num(b, sizeof b, rhi));
  long long bins = (long long)config[GDF_HI_BINS];
  if (!gdf_hi_edges_increase(bins, rlo, rhi))
    return gdf_error(GPUDF_EINVAL, "histogram",
                     "parameter 'bins' = %lld is too many for the range [%s, %s]: its edges "
                     "(numpy.linspace's) do not all differ, as numpy.histogram refuses",
                     bins, gdf_fmt_num(a, sizeof a, rlo), gdf_fmt_num(b, sizeof b, rhi));
  /* Every path finds a value's bin from (x - lo) * (bins / (hi - lo)); a
   * range a few subnormals wide makes that factor infinite, and the guesses
   * NaN or infinite: refused rather than counted in the wrong bins. */
  if (!isfinite((double)bins / (rhi - rlo)))
    return gdf_error(GPUDF_EINVAL, "histogram",
                     "the range [%s, %s] is too narrow for parameter 'bins' = %lld: bins / "
                     "(range_hi - range_lo) overflows a double, so no bin can be computed; "
                     "widen the range or use fewer bins",
                     gdf_fmt_num(a, sizeof a, rlo), gdf_fmt_num(b, sizeof b, rhi), bins);
  GDF_TRY(gdf_k_check_col("histogram", t, "filter_col", config[GDF_HI_FILTER_COL]));
  GDF_TRY(gdf_k_check_filter("histogram", t, config[GDF_HI_FILTER_COL], config[GDF_HI_OP],
                             config[GDF_HI_LO]));
  return gdf_k_check_col("histogram", t, "col", config[GDF_HI_COL]);
}

/* ------------------------------------------------------------ the CPU pass
 *
 * Per block of rows, two steps per config:
 *  - the slot of every value (hi_slots): gdf_hi_slot's arithmetic without
 *    its branches (vector masks), so the unpredictable edge tests cost no
 *    mispredictions. Consecutive configs of the same columns and range (a
 *    run, below) share it;
 *  - the count (hi_count): the filter's test picks the row's slot or a dump
 *    slot (bins + 2), and the slot's counter is incremented. Rows go to
 *    HI_COPIES separate counter arrays in turn when the bins are few, so a
 *    run of values in one bin does not wait on its own previous store.
 * Counters are 32-bit per config, summed into the double results at the
 * end (and every HI_FLUSH rows, before they could wrap). An f64 column is
 * read in place; others are converted into the block buffer once. */

/* Slots per counter array: the bins, underflow, overflow, then the dump. */
#define HI_WIDTH(bins) ((bins) + 3)
/* Counter copies for bins <= HI_FEW_BINS; with more, two rows rarely meet
 * in a bin and one array keeps the footprint in cache. */
enum { HI_COPIES = 4, HI_FEW_BINS = 1024 };
/* Rows counted between two flushes of the 32-bit counters. */
#define HI_FLUSH ((int64_t)1 << 31)
/* Bound on counters held at once (64 MiB): configs go in chunks. */
enum { HI_COUNTERS = 1 << 24 };

static int hi_copies(int64_t bins) { return bins <= HI_FEW_BINS ? HI_COPIES : 1; }

/* The two columns a pass reads, GDF_K_AHEAD rows ahead of the row binned,
 * prefetched (by the first slots of a block only): the loads then wait for
 * no memory, which is what lets one config run near the read bandwidth.
 * p: the columns at row start + GDF_K_AHEAD of the block. */
typedef struct hi_ahead {
  const char *p[2];
  int64_t w[2]; /* bytes per value */
  int64_t far;  /* rows from p to the L2 prefetch (HI_WALK), 0 near the end */
} hi_ahead;
/* A config's filter, applied by hi_slots itself when no other config
 * shares the slots: rows that fail it get the dump slot. */
typedef struct hi_filter {
  int op;
  double lo, hi;
  const double *x;
} hi_filter;

#define HI_PREFETCH(pf, i)                                                       \
  (__builtin_prefetch((pf)->p[0] + (i) * (pf)->w[0]),                            \
   __builtin_prefetch((pf)->p[1] + (i) * (pf)->w[1]))

/* The AVX2 and AVX-512 loops' prefetches, eight rows a turn: each column's
 * line GDF_K_AHEAD rows ahead into L1 and its line GDF_K_AHEAD_L2 rows
 * ahead into L2, from pointers stepped each turn, so that the loop tests
 * nothing for them. Without a pass ahead (pf NULL) they walk the block
 * itself: a prefetch never faults, and one of a line in cache costs only a
 * load slot. The L2 prefetch keeps more lines on their way from memory
 * than the L1 one can alone; with the lagged counts (HI_LAG) it made a
 * config's pass from memory 1.06-1.35x faster (bench/README.md, issue 21,
 * sixth round). */
#define HI_WALK_INIT(pf, v)                                                      \
  const char *pa = (pf) ? (pf)->p[0] : (const char *)(v);                        \
  const char *pb = (pf) ? (pf)->p[1] : (const char *)(v);                        \
  const int64_t sa = (pf) ? 8 * (pf)->w[0] : 64, sb = (pf) ? 8 * (pf)->w[1] : 64; \
  const int64_t fa = (pf) ? (pf)->far * (pf)->w[0] : 0;                          \
  const int64_t fb = (pf) ? (pf)->far * (pf)->w[1] : 0
#define HI_WALK()                                                                \
  (__builtin_prefetch(pa), __builtin_prefetch(pb), __builtin_prefetch(pa + fa, 0, 1), \
   __builtin_prefetch(pb + fb, 0, 1), pa += sa, pb += sb)

/* The count of a config alone with its slots (the AVX2 and AVX-512 loops):
 * each turn stores its eight slots, plus their rows' copy offsets, in sl
 * and counts those of the turn HI_LAG rows before, from sl. Counting a
 * turn's slots at once, taken out of the vector, measured 1.4x slower with
 * the block in L3, and as fast from memory only without the L2 prefetch
 * (bench/README.md, issue 21, sixth round). HI_COUNT_REST counts the last
 * HI_LAG rows of [i0, i). */
enum { HI_LAG = 64 };
#define HI_COUNT8(q)                                                             \
  (cnt[(q)[0]]++, cnt[(q)[1]]++, cnt[(q)[2]]++, cnt[(q)[3]]++, cnt[(q)[4]]++,    \
   cnt[(q)[5]]++, cnt[(q)[6]]++, cnt[(q)[7]]++)
#define HI_COUNT_REST(i0, i)                                                     \
  for (int64_t j_ = (i) - HI_LAG > (i0) ? (i) - HI_LAG : (i0); j_ < (i); j_++) cnt[sl[j_]]++

#if defined(__x86_64__) && defined(__GNUC__)
#define HI_HAVE_AVX 1
/* hi_slots' vector loop four rows at a time, for CPUs with AVX (chosen at
 * run time: gdf_k_have_avx). The same operations in the same order, so the
 * same slots. Returns the rows done. Selections are and/andnot/or, not
 * blendv: GCC 12 turns blendv with a comparison's mask into a scalar branch
 * per lane on AVX (without AVX2's integer compares). */
#define HI_SEL(m, a, b) _mm256_or_pd(_mm256_and_pd(m, a), _mm256_andnot_pd(m, b))
__attribute__((target("avx"))) static int64_t hi_slots_avx(const double *v, int64_t len,
                                                           int32_t bins, double rlo,
                                                           double rhi, const hi_ahead *pf,
                                                           const hi_filter *f, int32_t *sl) {
  double norm = (double)bins / (rhi - rlo), step = (rhi - rlo) / (double)bins;
  const __m256d vlo = _mm256_set1_pd(rlo), vhi = _mm256_set1_pd(rhi);
  const __m256d vnorm = _mm256_set1_pd(norm), vstep = _mm256_set1_pd(step);
  const __m256d vtop = _mm256_set1_pd((double)(bins - 1)), zero = _mm256_setzero_pd();
  const __m256d one = _mm256_set1_pd(1.0), vbins = _mm256_set1_pd((double)bins);
  const __m256d over = _mm256_set1_pd((double)bins + 1.0);
  const __m256d dump = _mm256_set1_pd((double)bins + 2.0);
  const __m256d flo = _mm256_set1_pd(f ? f->lo : 0.0), fhi = _mm256_set1_pd(f ? f->hi : 0.0);
  int64_t i = 0;
  for (; i + 4 <= len; i += 4) {
    if (pf && (i & 7) == 0) HI_PREFETCH(pf, i);
    __m256d x = _mm256_loadu_pd(v + i);
    __m256d guess = _mm256_mul_pd(_mm256_sub_pd(x, vlo), vnorm);
    __m256d g = _mm256_min_pd(_mm256_max_pd(guess, zero), vtop);
    __m256d b = _mm256_cvtepi32_pd(_mm256_cvttpd_epi32(g));
    __m256d e0 = _mm256_add_pd(_mm256_mul_pd(b, vstep), vlo);
    __m256d b1 = _mm256_add_pd(b, one);
    /* The right edge of the last bin is hi, not this; but the step up
     * never applies to the last bin, whatever e1 says. */
    __m256d e1 = _mm256_add_pd(_mm256_mul_pd(b1, vstep), vlo);
    __m256d below = _mm256_cmp_pd(x, e0, _CMP_LT_OQ);
    __m256d dec = _mm256_and_pd(below, _mm256_cmp_pd(b, zero, _CMP_GT_OQ));
    __m256d inc = _mm256_andnot_pd(below, _mm256_and_pd(_mm256_cmp_pd(b, vtop, _CMP_NEQ_UQ),
                                                        _mm256_cmp_pd(x, e1, _CMP_GE_OQ)));
    b = _mm256_add_pd(_mm256_sub_pd(b, _mm256_and_pd(dec, one)), _mm256_and_pd(inc, one));
    b = HI_SEL(_mm256_cmp_pd(x, vhi, _CMP_GT_OQ), over, b);
    b = HI_SEL(_mm256_cmp_pd(x, vlo, _CMP_LT_OQ), vbins, b);
    b = HI_SEL(_mm256_cmp_pd(x, x, _CMP_UNORD_Q), dump, b);
    if (f) {
      /* The op is the same on every row: a predicted branch. The tests are
       * C's (gdf_fa_pass): ordered, but ne true for NaN. */
      __m256d fx = _mm256_loadu_pd(f->x + i), pass;
      switch (f->op) {
      case GDF_FA_LT: pass = _mm256_cmp_pd(fx, flo, _CMP_LT_OQ); break;
      case GDF_FA_LE: pass = _mm256_cmp_pd(fx, flo, _CMP_LE_OQ); break;
      case GDF_FA_GT: pass = _mm256_cmp_pd(fx, flo, _CMP_GT_OQ); break;
      case GDF_FA_GE: pass = _mm256_cmp_pd(fx, flo, _CMP_GE_OQ); break;
      case GDF_FA_EQ: pass = _mm256_cmp_pd(fx, flo, _CMP_EQ_OQ); break;
      case GDF_FA_NE: pass = _mm256_cmp_pd(fx, flo, _CMP_NEQ_UQ); break;
      case GDF_FA_BETWEEN:
        pass = _mm256_and_pd(_mm256_cmp_pd(flo, fx, _CMP_LE_OQ), _mm256_cmp_pd(fx, fhi, _CMP_LE_OQ));
        break;
      default: pass = _mm256_cmp_pd(fx, fx, _CMP_TRUE_UQ); break;
      }
      b = HI_SEL(pass, b, dump);
    }
    _mm_storeu_si128((__m128i *)(void *)(sl + i), _mm256_cvttpd_epi32(b));
  }
  return i;
}

/* How near (in bins) the first guess g = (x - lo) * norm of an x in [lo,
 * hi] may come to an integer before the edges must be compared: beyond it,
 * trunc(g) is the bin numpy's correction gives. With u = 2^-53 and
 * M = max(|lo|, |hi|), in units of a bin: g is within 4u * bins of x's
 * exact position t (four roundings: x - lo, hi - lo, bins / width, the
 * product; t <= bins), and edge i (i * step + lo, three roundings) within
 * 3u * bins + u * M * bins / width of its exact place. A fraction of g at
 * least their sum from 0 and 1 puts t strictly between the computed edges
 * trunc(g) and trunc(g) + 1, where neither comparison moves it. Twice that
 * sum, rounded up; 2 (always compare) when it is not below 1/4. */
static double hi_near(int32_t bins, double rlo, double rhi) {
  double m = fmax(fabs(rlo), fabs(rhi)), w = rhi - rlo;
  double near = 16.0 * 0x1p-53 * ((double)bins + m * ((double)bins / w));
  return near < 0.25 ? near : 2.0;
}

/* The slots of rows i..i+3 with AVX2 (blendv, round, integer lanes): the
 * same slots in fewer operations. Two of hi_slots_avx's tests are implied
 * by the others: a step down from bin 0 happens only for x < 0 * step + lo
 * = lo, which the underflow then replaces; and as the edges increase
 * (hi_check), x below the left edge is below the right one, so the step up
 * needs no "not stepped down", and "never past the last bin" is a min. The
 * first guess is clamped at 0 although x >= lo gives x - lo >= 0: when
 * bins / (hi - lo) overflows to infinity (a range of a few subnormals), x =
 * lo gives 0 * inf = NaN, which the clamp (max returns its second operand
 * for a NaN) turns into bin 0; the bin of an x below lo (or NaN) is
 * replaced anyway. NaN and a failed filter (KEEP(i): the rows that pass)
 * are one choice of the dump.
 *
 * And the edges are compared only where they could matter: when the first
 * guess's fraction (g - trunc(g), exact) is at least near from 0 and 1 in
 * all four lanes, trunc(g) is the bin (hi_near), and the step by one would
 * change nothing. Random values almost never come that near; values on
 * edges (integers in integer bins) always do, and take the comparisons. */
#define HI_AVX2_SLOTS(i, idx, KEEP)                                              \
  do {                                                                           \
    __m256d x = _mm256_loadu_pd(v + (i));                                        \
    __m256d g = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(_mm256_sub_pd(x, vlo), vnorm), zero), vtop); \
    __m256d b = _mm256_round_pd(g, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);      \
    __m256d fr = _mm256_sub_pd(g, b);                                            \
    if (_mm256_movemask_pd(_mm256_or_pd(_mm256_cmp_pd(fr, vnear, _CMP_LT_OQ),    \
                                        _mm256_cmp_pd(fr, vfar, _CMP_GT_OQ)))) { \
      __m256d e0 = _mm256_add_pd(_mm256_mul_pd(b, vstep), vlo);                  \
      __m256d e1 = _mm256_add_pd(_mm256_mul_pd(_mm256_add_pd(b, one), vstep), vlo); \
      b = _mm256_sub_pd(b, _mm256_and_pd(_mm256_cmp_pd(x, e0, _CMP_LT_OQ), one)); \
      b = _mm256_min_pd(_mm256_add_pd(b, _mm256_and_pd(_mm256_cmp_pd(x, e1, _CMP_GE_OQ), one)), vtop); \
    }                                                                            \
    b = _mm256_blendv_pd(b, over, _mm256_cmp_pd(x, vhi, _CMP_GT_OQ));           \
    b = _mm256_blendv_pd(b, vbins, _mm256_cmp_pd(x, vlo, _CMP_LT_OQ));          \
    __m256d keep = _mm256_and_pd(_mm256_cmp_pd(x, x, _CMP_ORD_Q), KEEP(i));     \
    idx = _mm256_cvttpd_epi32(_mm256_blendv_pd(dump, b, keep));                  \
  } while (0)

/* The loop over rows eight at a time: slots stored in sl, or with cnt
 * counted (HI_LAG). The op's test is chosen outside it (hi_slots_avx2). */
#define HI_AVX2_LOOP(KEEP)                                                       \
  do {                                                                           \
    if (!cnt) {                                                                  \
      for (; i + 8 <= len; i += 8) {                                             \
        HI_WALK();                                                               \
        __m128i lo4, hi4;                                                       \
        HI_AVX2_SLOTS(i, lo4, KEEP);                                            \
        HI_AVX2_SLOTS(i + 4, hi4, KEEP);                                        \
        _mm_storeu_si128((__m128i *)(void *)(sl + i), lo4);                     \
        _mm_storeu_si128((__m128i *)(void *)(sl + i + 4), hi4);                 \
      }                                                                          \
      break;                                                                     \
    }                                                                            \
    int64_t i0 = i;                                                              \
    for (; i + 8 <= len; i += 8) {                                               \
      HI_WALK();                                                                 \
      __m128i lo4, hi4;                                                         \
      HI_AVX2_SLOTS(i, lo4, KEEP);                                              \
      HI_AVX2_SLOTS(i + 4, hi4, KEEP);                                          \
      _mm_storeu_si128((__m128i *)(void *)(sl + i), _mm_add_epi32(lo4, voff));  \
      _mm_storeu_si128((__m128i *)(void *)(sl + i + 4), _mm_add_epi32(hi4, voff)); \
      if (i - i0 >= HI_LAG) HI_COUNT8(sl + i - HI_LAG);                          \
    }                                                                            \
    HI_COUNT_REST(i0, i);                                                        \
  } while (0)

/* hi_slots' vector loop with AVX2; with cnt, the slots are counted (row i
 * in copy i % copies of the counters, cnt + copy * w; sl then holds the
 * slots plus their copies' offsets): a config with slots of its own then
 * makes one pass over its values. Returns the rows done. */
__attribute__((target("avx2"))) static int64_t hi_slots_avx2(
    const double *v, int64_t len, int32_t bins, double rlo, double rhi, const hi_ahead *pf,
    const hi_filter *f, int32_t *sl, uint32_t *cnt, int copies, int64_t w) {
  double norm = (double)bins / (rhi - rlo), step = (rhi - rlo) / (double)bins;
  const __m256d vlo = _mm256_set1_pd(rlo), vhi = _mm256_set1_pd(rhi);
  const __m256d vnorm = _mm256_set1_pd(norm), vstep = _mm256_set1_pd(step);
  const __m256d vtop = _mm256_set1_pd((double)(bins - 1)), zero = _mm256_setzero_pd();
  const __m256d one = _mm256_set1_pd(1.0), vbins = _mm256_set1_pd((double)bins);
  const __m256d over = _mm256_set1_pd((double)bins + 1.0);
  const __m256d dump = _mm256_set1_pd((double)bins + 2.0);
  const __m256d flo = _mm256_set1_pd(f ? f->lo : 0.0), fhi = _mm256_set1_pd(f ? f->hi : 0.0);
  const double near = hi_near(bins, rlo, rhi);
  const __m256d vnear = _mm256_set1_pd(near), vfar = _mm256_set1_pd(1.0 - near);
  const double *fx = f ? f->x : NULL;
  const int32_t o = cnt && copies == HI_COPIES ? (int32_t)w : 0;
  const __m128i voff = _mm_setr_epi32(0, o, 2 * o, 3 * o);
  HI_WALK_INIT(pf, v);
  int64_t i = 0;
  /* The tests are gdf_fa_pass's: ordered, but ne true for NaN. */
#define HI_V_ALL(i) _mm256_castsi256_pd(_mm256_set1_epi64x(-1))
#define HI_V_LT(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_LT_OQ)
#define HI_V_LE(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_LE_OQ)
#define HI_V_GT(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_GT_OQ)
#define HI_V_GE(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_GE_OQ)
#define HI_V_EQ(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_EQ_OQ)
#define HI_V_NE(i) _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), flo, _CMP_NEQ_UQ)
#define HI_V_BETWEEN(i)                                                          \
  _mm256_and_pd(_mm256_cmp_pd(flo, _mm256_loadu_pd(fx + (i)), _CMP_LE_OQ),       \
                _mm256_cmp_pd(_mm256_loadu_pd(fx + (i)), fhi, _CMP_LE_OQ))
  switch (f ? f->op : GDF_FA_ALL) {
  case GDF_FA_LT: HI_AVX2_LOOP(HI_V_LT); break;
  case GDF_FA_LE: HI_AVX2_LOOP(HI_V_LE); break;
  case GDF_FA_GT: HI_AVX2_LOOP(HI_V_GT); break;
  case GDF_FA_GE: HI_AVX2_LOOP(HI_V_GE); break;
  case GDF_FA_EQ: HI_AVX2_LOOP(HI_V_EQ); break;
  case GDF_FA_NE: HI_AVX2_LOOP(HI_V_NE); break;
  case GDF_FA_BETWEEN: HI_AVX2_LOOP(HI_V_BETWEEN); break;
  default: HI_AVX2_LOOP(HI_V_ALL); break;
  }
#undef HI_V_ALL
#undef HI_V_LT
#undef HI_V_LE
#undef HI_V_GT
#undef HI_V_GE
#undef HI_V_EQ
#undef HI_V_NE
#undef HI_V_BETWEEN
  return i;
}
#undef HI_AVX2_LOOP
#undef HI_AVX2_SLOTS

/* hi_slots_avx2's work eight rows at a time with AVX-512 (F, DQ, VL; chosen
 * at run time: gdf_k_have_avx512), in fewer operations, with the same
 * slots. The guess g = (x - lo) * norm is only capped at bins + 1/2 (a NaN
 * guess becomes that too), and its distance to the nearest integer
 * (vreducepd, exact) decides, as hi_near's bound allows, whether the edges
 * must be compared. Where no lane needs them, floor(g) is the slot of an x
 * in [lo, hi] and tells the others apart: below 0 (x < lo: x - lo is then
 * negative, and its product with norm too, or within near of 0) is the
 * underflow, bins or more the overflow (x > hi puts g within near of bins
 * or past it; x <= hi within near of bins or below it), so no comparison of
 * x with lo and hi; a NaN x (ordered test) or a row that fails the filter
 * (its test a mask feeding the NaN test) takes the dump. Where a lane is
 * near an integer, the AVX2 loop's comparisons on trunc(g) (0..bins for x
 * in range), stepped into [0, bins - 1], and the range tested on x. The
 * slots are int32 lanes straight from the guess; a config alone counts
 * them HI_LAG rows later, from sl. */
#define HI_AVX512_SLOTS(i, idx, KEEP)                                            \
  do {                                                                           \
    __m512d x = _mm512_loadu_pd(v + (i));                                        \
    __m512d g = _mm512_min_pd(_mm512_mul_pd(_mm512_sub_pd(x, vlo), vnorm), vcap); \
    __m512d fr = _mm512_reduce_pd(g, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); \
    if (_mm512_cmp_pd_mask(_mm512_abs_pd(fr), vnear, _CMP_LT_OQ)) {              \
      __m512d b = _mm512_roundscale_pd(g, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); \
      __m512d e0 = _mm512_add_pd(_mm512_mul_pd(b, vstep), vlo);                  \
      __m512d e1 = _mm512_add_pd(_mm512_mul_pd(_mm512_add_pd(b, one), vstep), vlo); \
      b = _mm512_mask_sub_pd(b, _mm512_cmp_pd_mask(x, e0, _CMP_LT_OQ), b, one);  \
      b = _mm512_min_pd(_mm512_mask_add_pd(b, _mm512_cmp_pd_mask(x, e1, _CMP_GE_OQ), b, one), vtop); \
      idx = _mm512_cvttpd_epi32(b);                                              \
      idx = _mm256_mask_mov_epi32(idx, _mm512_cmp_pd_mask(x, vhi, _CMP_GT_OQ), over); \
      idx = _mm256_mask_mov_epi32(idx, _mm512_cmp_pd_mask(x, vlo, _CMP_LT_OQ), under); \
    } else {                                                                     \
      idx = _mm512_cvt_roundpd_epi32(g, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); \
      __m256i out = _mm256_mask_blend_epi32(_mm256_cmpgt_epi32_mask(zero, idx), over, under); \
      idx = _mm256_mask_blend_epi32(_mm256_cmplt_epu32_mask(idx, under), out, idx); \
    }                                                                            \
    idx = _mm256_mask_blend_epi32(_mm512_mask_cmp_pd_mask(KEEP(i), x, x, _CMP_ORD_Q), dump, idx); \
  } while (0)

/* Eight rows a turn, as HI_AVX2_LOOP; the slow edge comparisons are out
 * of line. */
#define HI_AVX512_LOOP(KEEP)                                                     \
  do {                                                                           \
    if (!cnt) {                                                                  \
      for (; i + 8 <= len; i += 8) {                                             \
        HI_WALK();                                                               \
        __m256i idx;                                                             \
        HI_AVX512_SLOTS(i, idx, KEEP);                                           \
        _mm256_storeu_si256((__m256i *)(void *)(sl + i), idx);                   \
      }                                                                          \
      break;                                                                     \
    }                                                                            \
    int64_t i0 = i;                                                              \
    for (; i + 8 <= len; i += 8) {                                               \
      HI_WALK();                                                                 \
      __m256i idx;                                                               \
      HI_AVX512_SLOTS(i, idx, KEEP);                                             \
      _mm256_storeu_si256((__m256i *)(void *)(sl + i), _mm256_add_epi32(idx, voff)); \
      if (i - i0 >= HI_LAG) HI_COUNT8(sl + i - HI_LAG);                          \
    }                                                                            \
    HI_COUNT_REST(i0, i);                                                        \
  } while (0)

__attribute__((target("avx512f,avx512dq,avx512vl"))) static int64_t hi_slots_avx512(
    const double *v, int64_t len, int32_t bins, double rlo, double rhi, const hi_ahead *pf,
    const hi_filter *f, int32_t *sl, uint32_t *cnt, int copies, int64_t w) {
  double norm = (double)bins / (rhi - rlo), step = (rhi - rlo) / (double)bins;
  const __m512d vlo = _mm512_set1_pd(rlo), vhi = _mm512_set1_pd(rhi);
  const __m512d vnorm = _mm512_set1_pd(norm), vstep = _mm512_set1_pd(step);
  const __m512d vtop = _mm512_set1_pd((double)(bins - 1)), one = _mm512_set1_pd(1.0);
  const __m512d vcap = _mm512_set1_pd((double)bins + 0.5);
  const __m256i zero = _mm256_setzero_si256(), under = _mm256_set1_epi32(bins), over = _mm256_set1_epi32(bins + 1);
  const __m256i dump = _mm256_set1_epi32(bins + 2);
  const __m512d flo = _mm512_set1_pd(f ? f->lo : 0.0), fhi = _mm512_set1_pd(f ? f->hi : 0.0);
  const double near = hi_near(bins, rlo, rhi);
  const __m512d vnear = _mm512_set1_pd(near);
  const double *fx = f ? f->x : NULL;
  const int32_t o = cnt && copies == HI_COPIES ? (int32_t)w : 0;
  const __m256i voff = _mm256_setr_epi32(0, o, 2 * o, 3 * o, 0, o, 2 * o, 3 * o);
  HI_WALK_INIT(pf, v);
  int64_t i = 0;
  /* The tests are gdf_fa_pass's: ordered, but ne true for NaN. */
#define HI_K_ALL(i) ((__mmask8)0xff)
#define HI_K_LT(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_LT_OQ)
#define HI_K_LE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_LE_OQ)
#define HI_K_GT(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_GT_OQ)
#define HI_K_GE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_GE_OQ)
#define HI_K_EQ(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_EQ_OQ)
#define HI_K_NE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(fx + (i)), flo, _CMP_NEQ_UQ)
#define HI_K_BETWEEN(i)                                                          \
  _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(flo, _mm512_loadu_pd(fx + (i)), _CMP_LE_OQ), \
                          _mm512_loadu_pd(fx + (i)), fhi, _CMP_LE_OQ)
  switch (f ? f->op : GDF_FA_ALL) {
  case GDF_FA_LT: HI_AVX512_LOOP(HI_K_LT); break;
  case GDF_FA_LE: HI_AVX512_LOOP(HI_K_LE); break;
  case GDF_FA_GT: HI_AVX512_LOOP(HI_K_GT); break;
  case GDF_FA_GE: HI_AVX512_LOOP(HI_K_GE); break;
  case GDF_FA_EQ: HI_AVX512_LOOP(HI_K_EQ); break;
  case GDF_FA_NE: HI_AVX512_LOOP(HI_K_NE); break;
  case GDF_FA_BETWEEN: HI_AVX512_LOOP(HI_K_BETWEEN); break;
  default: HI_AVX512_LOOP(HI_K_ALL); break;
  }
#undef HI_K_ALL
#undef HI_K_LT
#undef HI_K_LE
#undef HI_K_GT
#undef HI_K_GE
#undef HI_K_EQ
#undef HI_K_NE
#undef HI_K_BETWEEN
  return i;
}
#undef HI_AVX512_LOOP
#undef HI_AVX512_SLOTS
#undef HI_WALK_INIT
#undef HI_WALK
#undef HI_COUNT8
#undef HI_COUNT_REST
#endif

/* The slot of each of v[0..len) as gdf_hi_slot gives it (NaN: the dump
 * slot bins + 2). Same operations in the same order: the first guess
 * (x - lo) * norm clamped to [0, bins - 1], the edges i * step + lo (the
 * last hi), one step down when x is below the left edge (never below bin
 * 0), one up when it is at or past the right edge (never past the last).
 * With f, rows that fail its filter get the dump slot too. SSE2 two rows
 * at a time, AVX (simd 1) or AVX2 (simd 2) four, AVX-512 (simd 3) eight
 * when the CPU has it, then the scalar tail: the same slots. With cnt (a
 * config alone with its slots), each row's slot is counted in cnt (copies
 * of w counters, as hi_count), and sl is then scratch. */
static void hi_slots(const double *v, int64_t len, int32_t bins, double rlo, double rhi,
                     int simd, const hi_ahead *pf, const hi_filter *f, int32_t *sl,
                     uint32_t *cnt, int copies, int64_t w) {
  double norm = (double)bins / (rhi - rlo), step = (rhi - rlo) / (double)bins;
  double top = (double)(bins - 1);
  int64_t i = 0;
  /* With cnt, rows [0, counted) are counted (by the AVX2 loop), the rest
   * at the end from their slots. */
  int64_t counted = cnt ? 0 : len;
#ifdef HI_HAVE_AVX
  if (simd == 3) i = hi_slots_avx512(v, len, bins, rlo, rhi, pf, f, sl, cnt, copies, w);
  else if (simd == 2) i = hi_slots_avx2(v, len, bins, rlo, rhi, pf, f, sl, cnt, copies, w);
  else if (simd == 1) i = hi_slots_avx(v, len, bins, rlo, rhi, pf, f, sl);
  if (cnt && simd >= 2) counted = i;
#else
  (void)simd, (void)copies, (void)w;
#endif
#if !defined(__SSE2__)
  (void)pf;
#endif
#if defined(__SSE2__)
  /* Two rows at a time, every choice a mask: GCC turns the scalar loop's
   * double selects into branches, mispredicted on every other row. The bin
   * index stays a double (small integers, exact) until the store. */
  const __m128d vlo = _mm_set1_pd(rlo), vhi = _mm_set1_pd(rhi), vnorm = _mm_set1_pd(norm);
  const __m128d vstep = _mm_set1_pd(step), vtop = _mm_set1_pd(top), zero = _mm_setzero_pd();
  const __m128d one = _mm_set1_pd(1.0), vbins = _mm_set1_pd((double)bins);
  const __m128d under = vbins, over = _mm_set1_pd((double)bins + 1.0);
  const __m128d dump = _mm_set1_pd((double)bins + 2.0);
  const __m128d flo = _mm_set1_pd(f ? f->lo : 0.0), fhi = _mm_set1_pd(f ? f->hi : 0.0);
  for (; i + 2 <= len; i += 2) {
    if (pf && (i & 7) == 0) HI_PREFETCH(pf, i);
    __m128d x = _mm_loadu_pd(v + i);
    __m128d guess = _mm_mul_pd(_mm_sub_pd(x, vlo), vnorm);
    /* maxpd gives its second operand for a NaN: guess > 0 ? guess : 0;
     * minpd then g < top ? g : top, as gdf_hi_slot's clamp. */
    __m128d g = _mm_min_pd(_mm_max_pd(guess, zero), vtop);
    __m128d b = _mm_cvtepi32_pd(_mm_cvttpd_epi32(g));
    __m128d e0 = _mm_add_pd(_mm_mul_pd(b, vstep), vlo);
    __m128d b1 = _mm_add_pd(b, one);
    /* The right edge of the last bin is hi, not this; but the step up
     * never applies to the last bin, whatever e1 says. */
    __m128d e1 = _mm_add_pd(_mm_mul_pd(b1, vstep), vlo);
    __m128d below = _mm_cmplt_pd(x, e0);
    __m128d dec = _mm_and_pd(below, _mm_cmpgt_pd(b, zero));
    __m128d inc = _mm_andnot_pd(below, _mm_and_pd(_mm_cmpneq_pd(b, vtop), _mm_cmpge_pd(x, e1)));
    b = _mm_add_pd(_mm_sub_pd(b, _mm_and_pd(dec, one)), _mm_and_pd(inc, one));
    __m128d m = _mm_cmpgt_pd(x, vhi);
    b = _mm_or_pd(_mm_and_pd(m, over), _mm_andnot_pd(m, b));
    m = _mm_cmplt_pd(x, vlo);
    b = _mm_or_pd(_mm_and_pd(m, under), _mm_andnot_pd(m, b));
    m = _mm_cmpunord_pd(x, x);
    b = _mm_or_pd(_mm_and_pd(m, dump), _mm_andnot_pd(m, b));
    if (f) {
      __m128d fx = _mm_loadu_pd(f->x + i);
      switch (f->op) { /* as in hi_slots_avx */
      case GDF_FA_LT: m = _mm_cmplt_pd(fx, flo); break;
      case GDF_FA_LE: m = _mm_cmple_pd(fx, flo); break;
      case GDF_FA_GT: m = _mm_cmpgt_pd(fx, flo); break;
      case GDF_FA_GE: m = _mm_cmpge_pd(fx, flo); break;
      case GDF_FA_EQ: m = _mm_cmpeq_pd(fx, flo); break;
      case GDF_FA_NE: m = _mm_cmpneq_pd(fx, flo); break;
      case GDF_FA_BETWEEN: m = _mm_and_pd(_mm_cmple_pd(flo, fx), _mm_cmple_pd(fx, fhi)); break;
      default: m = _mm_castsi128_pd(_mm_set1_epi32(-1)); break;
      }
      b = _mm_or_pd(_mm_and_pd(m, b), _mm_andnot_pd(m, dump));
    }
    _mm_storel_epi64((__m128i *)(void *)(sl + i), _mm_cvttpd_epi32(b));
  }
#endif
  for (; i < len; i++) {
    double x = v[i], guess = (x - rlo) * norm;
    /* NaN guesses (NaN x, or 0 * inf for a range narrower than bins /
     * DBL_MAX) take 0 as gdf_hi_slot's; x outside the range is replaced
     * below, whatever its guess. */
    double g = guess >= top ? top : guess > 0.0 ? guess : 0.0;
    int32_t b = (int32_t)g;
    double e0 = (double)b * step + rlo;
    double e1 = b + 1 == bins ? rhi : (double)(b + 1) * step + rlo;
    int below = x < e0;
    b -= below & (b > 0);
    b += !below & (b != bins - 1) & (x >= e1);
    b = x > rhi ? bins + 1 : b;
    b = x < rlo ? bins : b;
    b = x != x ? bins + 2 : b;
    sl[i] = f && !gdf_fa_pass(f->op, f->x[i], f->lo, f->hi) ? bins + 2 : b;
  }
  for (; counted < len; counted++)
    cnt[(copies == HI_COPIES ? (counted & 3) * w : 0) + sl[counted]]++;
}

/* Counts the slots of the rows that pass, the op's test outside the loop.
 * PASS(i) is the test of row i; copies are cnt + j * w. */
#define HI_COUNT(PASS)                                                          \
  do {                                                                          \
    int64_t i = 0;                                                              \
    if (copies == HI_COPIES) {                                                  \
      uint32_t *c1 = cnt + w, *c2 = cnt + 2 * w, *c3 = cnt + 3 * w;             \
      for (; i + 4 <= len; i += 4) {                                            \
        int32_t s0 = HI_PICK(PASS, i), s1 = HI_PICK(PASS, i + 1);               \
        int32_t s2 = HI_PICK(PASS, i + 2), s3 = HI_PICK(PASS, i + 3);           \
        cnt[s0]++, c1[s1]++, c2[s2]++, c3[s3]++;                                \
      }                                                                         \
    }                                                                           \
    for (; i < len; i++) cnt[HI_PICK(PASS, i)]++;                               \
  } while (0)
/* Row i's slot when it passes, else the dump, by masks: written as a
 * choice, GCC branches on the comparison, mispredicted wherever the
 * filter is not near all or nothing. */
#define HI_PICK(PASS, i) (dump ^ ((sl[i] ^ dump) & -(int32_t)(PASS(i))))

static void hi_count(int op, const double *x, double lo, double hi, const int32_t *sl,
                     int64_t len, uint32_t *cnt, int copies, int64_t w, int32_t dump) {
  /* The tests are gdf_fa_pass's, one op per loop. */
#define HI_ALL(i) 1
#define HI_LT(i) (x[i] < lo)
#define HI_LE(i) (x[i] <= lo)
#define HI_GT(i) (x[i] > lo)
#define HI_GE(i) (x[i] >= lo)
#define HI_EQ(i) (x[i] == lo)
#define HI_NE(i) (x[i] != lo)
#define HI_BETWEEN(i) ((lo <= x[i]) & (x[i] <= hi))
  switch (op) {
  case GDF_FA_LT: HI_COUNT(HI_LT); break;
  case GDF_FA_LE: HI_COUNT(HI_LE); break;
  case GDF_FA_GT: HI_COUNT(HI_GT); break;
  case GDF_FA_GE: HI_COUNT(HI_GE); break;
  case GDF_FA_EQ: HI_COUNT(HI_EQ); break;
  case GDF_FA_NE: HI_COUNT(HI_NE); break;
  case GDF_FA_BETWEEN: HI_COUNT(HI_BETWEEN); break;
  default: HI_COUNT(HI_ALL); break;
  }
#undef HI_ALL
#undef HI_LT
#undef HI_LE
#undef HI_GT
#undef HI_GE
#undef HI_EQ
#undef HI_NE
#undef HI_BETWEEN
}

/* Adds configs [0, n)'s counters into their results and zeroes them. */
static void hi_flush(uint32_t *cnt, int64_t n, int64_t bins, int copies, double *results) {
  int64_t w = HI_WIDTH(bins);
  for (int64_t k = 0; k < n; k++) {
    uint32_t *c = cnt + k * copies * w;
    double *r = results + k * (bins + 2);
    for (int j = 0; j < copies; j++)
      for (int64_t s = 0; s < bins + 2; s++) r[s] += (double)c[j * w + s];
    memset(c, 0, sizeof *c * (size_t)(copies * w));
  }
}

/* ------------------------------------------------------------ runs
 *
 * Consecutive configs reading the same columns and range form a run: they
 * share the block's slots. A run of one config applies its filter in the
 * slot loop; a short run counts config by config, each picking its rows.
 * A long run counts every row once, whatever its size, in the row of
 * counters of its filter bucket (k_buckets.h), and a config's counts are
 * the sums over the bucket ranges its filter passes. Counts add exactly,
 * so this is the same answer; a row costs a search among the thresholds
 * instead of one test per config. */
/* Bound on a run's bucket counters (16 MiB); a run beyond it counts config
 * by config. */
enum { HI_BUCKET_COUNTERS = 1 << 22 };

typedef struct hi_run {
  int64_t first, count; /* configs [first, first + count) of the chunk */
  int buckets;          /* counted by buckets (kb), else config by config */
  gdf_kb kb;
  uint32_t *bcnt; /* kb.nb x HI_WIDTH(bins) counters */
} hi_run;

/* Makes r a bucket run when it is long enough and its counters fit; 0, or
 * -1 out of memory. */
static int hi_run_buckets(hi_run *r, const gdf_kernel_input *in, const double *configs,
                          int64_t bins) {
  const double *c0 = configs + r->first * GDF_HI_NPARAMS;
  int f32 = in->cols[(int)c0[GDF_HI_FILTER_COL]].type == GPUDF_TYPE_F32;
  if (r->count < GDF_KB_MIN) return 0;
  int st = gdf_kb_build(&r->kb, c0, r->count, GDF_HI_NPARAMS, f32,
                        HI_BUCKET_COUNTERS / HI_WIDTH(bins));
  if (st <= 0) return st;
  r->bcnt = calloc((size_t)(r->kb.nb * HI_WIDTH(bins)), sizeof *r->bcnt);
  if (!r->bcnt) return -1; /* kb freed with the runs */
  r->buckets = 1;
  return 0;
}

/* Counts each row of the block in its bucket's row of counters. */
static void hi_bucket_count(const hi_run *r, const double *x, const int32_t *sl, int64_t len,
                            int64_t w, int32_t *bk) {
  gdf_kb_buckets(&r->kb, x, len, bk);
  uint32_t *cnt = r->bcnt;
  for (int64_t i = 0; i < len; i++) cnt[(int64_t)bk[i] * w + sl[i]]++;
}

/* Adds a bucket run's counts into its configs' results and zeroes them:
 * prefix sums over the buckets (at most HI_FLUSH rows: no wrap), then each
 * range is a difference of two prefixes. */
static void hi_bucket_flush(const hi_run *r, int64_t bins, double *results) {
  int64_t w = HI_WIDTH(bins), nb = r->kb.nb;
  uint32_t *c = r->bcnt;
  for (int64_t b = 1; b < nb; b++)
    for (int64_t s = 0; s < bins + 2; s++) c[b * w + s] += c[(b - 1) * w + s];
  for (int64_t k = 0; k < r->count; k++) {
    const int32_t *g = r->kb.range + 4 * k;
    double *out = results + (r->first + k) * (bins + 2);
    for (int j = 0; j < 4; j += 2) {
      if (g[j] >= g[j + 1]) continue;
      const uint32_t *hi = c + (int64_t)(g[j + 1] - 1) * w;
      const uint32_t *lo = g[j] > 0 ? c + (int64_t)(g[j] - 1) * w : NULL;
      for (int64_t s = 0; s < bins + 2; s++) out[s] += (double)(hi[s] - (lo ? lo[s] : 0u));
    }
  }
  memset(c, 0, sizeof *c * (size_t)(nb * w));
}

static void hi_runs_free(hi_run *runs, int64_t nruns) {
  for (int64_t i = 0; runs && i < nruns; i++)
    gdf_kb_free(&runs[i].kb), free(runs[i].bcnt);
  free(runs);
}

/* One pass over the rows for configs [0, n) of a chunk, configs [at, at +
 * n) of the batch's total (for the progress it reports). */
static gpudf_status hi_chunk(const gdf_kernel_input *in, const double *configs, int64_t n,
                             int64_t bins, uint32_t *cnt, double *results, int64_t at,
                             int64_t total) {
  int64_t nrows = in->nrows, w = HI_WIDTH(bins), nruns = 0;
  int copies = hi_copies(bins);
  int simd = gdf_k_have_avx512() ? 3 : gdf_k_have_avx2() ? 2 : gdf_k_have_avx();
  double *buf = malloc(sizeof(double) * GDF_K_BLOCK * 2);
  int32_t *sl = malloc(sizeof(int32_t) * GDF_K_BLOCK * 2), *bk = sl + GDF_K_BLOCK;
  hi_run *runs = calloc((size_t)n, sizeof *runs);
  if (!buf || !sl || !runs) {
    free(buf), free(sl), free(runs);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  }
  for (int64_t k = 0; k < n; k++) {
    const double *c = configs + k * GDF_HI_NPARAMS, *p = c - GDF_HI_NPARAMS;
    if (k == 0 || c[GDF_HI_FILTER_COL] != p[GDF_HI_FILTER_COL] ||
        c[GDF_HI_COL] != p[GDF_HI_COL] || c[GDF_HI_RANGE_LO] != p[GDF_HI_RANGE_LO] ||
        c[GDF_HI_RANGE_HI] != p[GDF_HI_RANGE_HI])
      runs[nruns++].first = k;
    runs[nruns - 1].count++;
  }
  for (int64_t i = 0; i < nruns; i++)
    if (hi_run_buckets(&runs[i], in, configs, bins) < 0) {
      long long m = (long long)runs[i].count;
      free(buf), free(sl), hi_runs_free(runs, nruns);
      return GDF_ERR(GPUDF_ENOMEM, "out of memory for the filter buckets of %lld histogram "
                     "configs", m);
    }
  memset(cnt, 0, sizeof *cnt * (size_t)(n * copies * w));
  for (int64_t i = 0; i < n * (bins + 2); i++) results[i] = 0.0;
  int64_t since_flush = 0;
  for (int64_t start = 0; start < nrows; start += GDF_K_BLOCK) {
    int64_t len = nrows - start < GDF_K_BLOCK ? nrows - start : GDF_K_BLOCK;
    if (since_flush + len > HI_FLUSH) {
      hi_flush(cnt, n, bins, copies, results);
      for (int64_t i = 0; i < nruns; i++)
        if (runs[i].buckets) hi_bucket_flush(&runs[i], bins, results);
      since_flush = 0;
    }
    since_flush += len;
    const double *x = NULL, *v = NULL, *prev = NULL;
    for (int64_t ri = 0; ri < nruns; ri++) {
      const hi_run *r = &runs[ri];
      const double *c = configs + r->first * GDF_HI_NPARAMS;
      /* Runs reading the same columns reuse the block. */
      if (!prev || c[GDF_HI_FILTER_COL] != prev[GDF_HI_FILTER_COL] ||
          c[GDF_HI_COL] != prev[GDF_HI_COL]) {
        x = gdf_k_block(gdf_input_col(in, (int)c[GDF_HI_FILTER_COL]), start, len, buf);
        v = gdf_k_block(gdf_input_col(in, (int)c[GDF_HI_COL]), start, len, buf + GDF_K_BLOCK);
      }
      prev = c;
      int f32 = in->cols[(int)c[GDF_HI_FILTER_COL]].type == GPUDF_TYPE_F32;
      hi_filter f = {(int)c[GDF_HI_OP], gdf_fa_bound(f32, c[GDF_HI_LO]),
                     gdf_fa_bound(f32, c[GDF_HI_HI]), x};
      hi_ahead pf;
      bool ahead = ri == 0 && start + len + GDF_K_AHEAD <= nrows;
      for (int j = 0; ahead && j < 2; j++) {
        int col = (int)c[j == 0 ? GDF_HI_FILTER_COL : GDF_HI_COL];
        pf.w[j] = (int64_t)gpudf_type_size(in->cols[col].type);
        pf.p[j] = (const char *)in->cols[col].data + (start + GDF_K_AHEAD) * pf.w[j];
      }
      /* The L2 prefetch stays inside the columns too. */
      pf.far = start + len + GDF_K_AHEAD_L2 <= nrows ? GDF_K_AHEAD_L2 - GDF_K_AHEAD : 0;
      /* A run of one config takes its filter in the slot loop, and its
       * count is then the plain one. */
      bool own = r->count == 1 && f.op != GDF_FA_ALL;
      /* A run of one config counts as it bins (hi_slots' cnt). */
      uint32_t *alone = r->count == 1 ? cnt + r->first * copies * w : NULL;
      hi_slots(v, len, (int32_t)bins, c[GDF_HI_RANGE_LO], c[GDF_HI_RANGE_HI], simd,
               ahead ? &pf : NULL, own ? &f : NULL, sl, alone, copies, w);
      if (alone) continue;
      if (r->buckets) {
        hi_bucket_count(r, x, sl, len, w, bk);
        continue;
      }
      for (int64_t k = r->first; k < r->first + r->count; k++) {
        const double *ck = configs + k * GDF_HI_NPARAMS;
        hi_count(own ? GDF_FA_ALL : (int)ck[GDF_HI_OP], x, gdf_fa_bound(f32, ck[GDF_HI_LO]),
                 gdf_fa_bound(f32, ck[GDF_HI_HI]), sl, len, cnt + k * copies * w, copies, w,
                 (int32_t)(bins + 2));
      }
    }
    if (gpudf_kernel_progress(((double)at + (double)n * (double)(start + len) / (double)nrows) /
                              (double)total)) {
      free(buf), free(sl), hi_runs_free(runs, nruns);
      return GDF_KERNEL_CANCELLED();
    }
  }
  hi_flush(cnt, n, bins, copies, results);
  for (int64_t i = 0; i < nruns; i++)
    if (runs[i].buckets) hi_bucket_flush(&runs[i], bins, results);
  free(buf), free(sl), hi_runs_free(runs, nruns);
  return GPUDF_OK;
}

/* Consecutive configs of a batch that read the same two columns share
 * the converted block (hi_chunk): the columns are the pass a config needs. */
static uint64_t hi_pass_key(const double *config) {
  return (uint64_t)config[GDF_HI_FILTER_COL] << 32 | (uint64_t)config[GDF_HI_COL];
}

static gpudf_status hi_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t bins = (int64_t)configs[GDF_HI_BINS];
  int64_t per = hi_copies(bins) * HI_WIDTH(bins);
  int64_t chunk = HI_COUNTERS / per;
  if (chunk < 1) chunk = 1;
  if (chunk > n) chunk = n;
  uint32_t *cnt = malloc(sizeof(uint32_t) * (size_t)(per * chunk));
  if (!cnt) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld bins", (long long)bins);
  gpudf_status st = GPUDF_OK;
  for (int64_t at = 0; at < n && st == GPUDF_OK; at += chunk) {
    int64_t m = n - at < chunk ? n - at : chunk;
    st = hi_chunk(in, configs + at * GDF_HI_NPARAMS, m, bins, cnt,
                  results + at * (bins + 2), at, n);
  }
  free(cnt);
  return st;
}

/* Row splitting: a state is the result row (bins, underflow, overflow),
 * counts of whole numbers below 2^53 that add exactly. */
static void hi_merge(const double *config, double *acc, const double *part) {
  int64_t slots = (int64_t)config[GDF_HI_BINS] + 2;
  for (int64_t s = 0; s < slots; s++) acc[s] += part[s];
}

static const gdf_kernel_split hi_split = {NULL, NULL, hi_merge, NULL};

gdf_kernel_fn gdf_kernel_histogram_cuda; /* cuda_histogram.cu */

const gpudf_kernel gdf_kernel_histogram = {
    .name = "histogram",
    .summary = "counts of col in bins equal-width bins over [range_lo, range_hi] (as "
               "numpy.histogram: last bin closed), then underflow and overflow, over the "
               "rows whose filter_col passes op against lo/hi; NaN not counted",
    .nparams = GDF_HI_NPARAMS,
    .params = hi_params,
    .nfields = 1,
    .fields = hi_fields,
    .nresults = hi_nresults,
    .result_name = hi_result_name,
    .check = hi_check,
    .cpu = hi_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_histogram_cuda),
    .pass_key = hi_pass_key,
    .accepts = hi_accepts,
    .split = &hi_split,
};
