/*
 * groupby_agg.c - the groupby_agg kernel: count, sum, mean, min and max of a
 * value column per integer key 0..groups-1, over the rows that pass
 * filter_agg's filter. Description, checks and the CPU reference.
 *
 * A batch is one pass over the rows by blocks (GDF_K_BLOCK rows read as
 * doubles once, then every config runs over the cached block), except that
 * the per-config accumulators (gb_acc_size doubles) are bounded: configs go
 * in chunks of at most GB_ACC_DOUBLES / gb_acc_size(groups), one pass per
 * chunk.
 */
#include "groupby_agg_math.h"
#include "k_buckets.h"
#include "k_common.h"

#include <math.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

static const gpudf_param_info gb_params[GDF_GB_NPARAMS] = {
    GDF_K_FILTER_PARAMS("column whose value x decides whether a row passes (as filter_agg)",
                        "row test, as filter_agg: all lt le gt ge eq ne between",
                        "threshold of the filter, lower bound for between",
                        "upper bound of the filter for between"),
    {"key_col", "integer or categorical column (i32, i64, bool, categorical codes) holding "
     "the group of each row; keys outside [0, groups) (a missing label) are ignored", GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"value_col", "column aggregated per group; NaN values are skipped",
     GPUDF_PARAM_COLUMN, 0.0, 0.0, 0.0, 0, NULL, 0},
    {"groups", "number of groups (shape: equal in every config of a batch)",
     GPUDF_PARAM_INTEGER, 1.0, 1.0, GPUDF_GROUPS_MAX, 0, NULL, 1},
};

/* Codes of a categorical are fine group keys (each label its group); the
 * value column is summed, so it must hold numbers. */
static const int gb_accepts[GDF_GB_NPARAMS] = {
    [GDF_GB_FILTER_COL] = GDF_K_FILTER_ACCEPTS,
    [GDF_GB_KEY_COL] = GPUDF_ACCEPT_INTEGERS | GPUDF_ACCEPT_CATEGORICAL,
    [GDF_GB_VALUE_COL] = GPUDF_ACCEPT_NUMERIC};

static const char *const gb_field_names[GDF_GB_NFIELDS] = {"count", "sum", "mean", "min",
                                                           "max"};
static const char *const gb_field_sums[GDF_GB_NFIELDS] = {
    "passing rows of the group whose value is not NaN", "sum of those values (0 if none)",
    "sum / count (NaN if none)", "smallest value (NaN if none)", "largest value (NaN if none)"};

static const gpudf_result_info gb_fields[GDF_GB_NFIELDS] = {
    {"count_0", "passing rows of group 0 whose value is not NaN"},
    {"sum_0", "sum of those values (0 if none)"},
    {"mean_0", "sum / count (NaN if none)"},
    {"min_0", "smallest value (NaN if none)"},
    {"max_0", "largest value (NaN if none)"},
};

static int gb_nresults(const double *config) {
  return GDF_GB_NFIELDS * (int)config[GDF_GB_GROUPS];
}

/* "count_7", "sum_7", ...: field i % 5 of group i / 5. */
static void gb_result_name(const double *config, int i, gpudf_result_info *out) {
  (void)config;
  gdf_k_name_index(out->name, sizeof out->name, gb_field_names[i % GDF_GB_NFIELDS],
                   i / GDF_GB_NFIELDS);
  out->summary = gb_field_sums[i % GDF_GB_NFIELDS];
}

static gpudf_status gb_check(const gpudf_table *t, const double *config) {
  GDF_TRY(gdf_k_check_between("groupby_agg", config[GDF_GB_OP], config[GDF_GB_LO],
                              config[GDF_GB_HI]));
  GDF_TRY(gdf_k_check_col("groupby_agg", t, "filter_col", config[GDF_GB_FILTER_COL]));
  GDF_TRY(gdf_k_check_filter("groupby_agg", t, config[GDF_GB_FILTER_COL], config[GDF_GB_OP],
                             config[GDF_GB_LO]));
  GDF_TRY(gdf_k_check_col("groupby_agg", t, "value_col", config[GDF_GB_VALUE_COL]));
  /* key_col's type (i32, i64, bool, categorical) is checked by run.c. */
  return GPUDF_OK;
}

/* Bound on accumulator doubles held at once (32 MiB). */
enum { GB_ACC_DOUBLES = 1 << 22 };

/* ------------------------------------------------------------ the CPU pass
 *
 * Per block of rows: the filter and value columns as doubles (an f64 column
 * read in place), the keys as int32 (an i32 column in place; others with
 * every key outside [0, groups) replaced by the dump group `groups`); then
 * per config one branch-free loop over the rows, the op's test outside it:
 * a row that fails the filter, whose value is NaN or whose key is outside
 * [0, groups) goes to the dump group, whose accumulators are never read. A group's four accumulators (count, sum, min, max) are adjacent, the
 * one or two cache lines a row touches.
 *
 * With few groups, consecutive rows often hit the same group and would each
 * wait for the previous row's stores: row i then goes to copy i % GB_COPIES
 * of the accumulators (i counted from the first row of the table, so the
 * split depends on the rows alone, never on the batch), merged at the end:
 * counts, min and max exactly, sums as (((s0 + s1) + s2) + s3). Each copy
 * adds its rows in row order, so a group's sum has the error bound of one
 * recursive sum over its rows (at most (n - 1) * 2^-53 * sum |v|); with more
 * groups one copy adds every row in row order, as the device's reference
 * did before. */
enum { GB_COPIES = 4, GB_FEW_GROUPS = 256, GB_NACC = 4 };

static int gb_copies(int64_t groups) { return groups <= GB_FEW_GROUPS ? GB_COPIES : 1; }

/* Doubles of one config's accumulators: copies x (groups + dump) x 4. */
static int64_t gb_acc_size(int64_t groups) {
  return (int64_t)gb_copies(groups) * (groups + 1) * GB_NACC;
}

/* The keys of rows [start, start + len) as int32, groups for a key outside
 * [0, groups). */
static void gb_keys(gdf_colref k, int64_t start, int64_t len, int64_t groups, int32_t *out) {
  int32_t dump = (int32_t)groups;
  switch (k.type) {
  case GPUDF_TYPE_I32: {
    const int32_t *p = (const int32_t *)k.data + start;
    for (int64_t i = 0; i < len; i++) out[i] = (uint32_t)p[i] < (uint32_t)dump ? p[i] : dump;
    break;
  }
  case GPUDF_TYPE_I64: {
    const int64_t *p = (const int64_t *)k.data + start;
    for (int64_t i = 0; i < len; i++)
      out[i] = (uint64_t)p[i] < (uint64_t)dump ? (int32_t)p[i] : dump;
    break;
  }
  default: {
    const uint8_t *p = (const uint8_t *)k.data + start;
    for (int64_t i = 0; i < len; i++) out[i] = p[i] < dump ? p[i] : dump;
  }
  }
}

/* Adds row i's value into copy c's accumulators of its group, or of the
 * dump when PASS(i) fails or the value is NaN (picked by masks: as a choice
 * GCC would branch on it). The four accumulators are n, sum, min and -max:
 * with SSE2 a row is two vector updates, (n, sum) + (1, v) and
 * min((min, -max), (v, -v)), half the loads and stores. minpd is C's
 * v < m ? v : m lane by lane, and -max(v, M) = min(-v, -M) exactly (signed
 * zeros included), so the results are those of the scalar choices. */
#if defined(__SSE2__)
#define GB_ADD(a_, val_)                                                         \
  do {                                                                           \
    _mm_storeu_pd(a_, _mm_add_pd(_mm_loadu_pd(a_), _mm_set_pd(val_, 1.0)));    \
    _mm_storeu_pd(a_ + 2, _mm_min_pd(_mm_set_pd(-(val_), val_), _mm_loadu_pd(a_ + 2))); \
  } while (0)
#else
#define GB_ADD(a_, val_)                                                         \
  do {                                                                           \
    a_[0] += 1.0;                                                                \
    a_[1] += val_;                                                               \
    a_[2] = val_ < a_[2] ? val_ : a_[2];                                         \
    a_[3] = -(val_) < a_[3] ? -(val_) : a_[3];                                   \
  } while (0)
#endif
#define GB_ROW(PASS, i, c)                                                       \
  do {                                                                           \
    double val_ = v[i];                                                          \
    int32_t k_ = key[i];                                                         \
    int32_t ok_ = -(int32_t)((PASS(i)) & (val_ == val_) & ((uint32_t)k_ < (uint32_t)dump)); \
    double *a_ = acc + (c) * cstride + (int64_t)(dump ^ ((k_ ^ dump) & ok_)) * GB_NACC; \
    GB_ADD(a_, val_);                                                            \
  } while (0)

#define GB_LOOP(PASS)                                                            \
  do {                                                                           \
    int64_t i = i0;                                                              \
    if (copies == GB_COPIES)                                                     \
      for (; i + 4 <= len; i += 4) {                                             \
        if (pf && (i & 7) == 0) GB_PREFETCH(i);                                  \
        GB_ROW(PASS, i, 0);                                                      \
        GB_ROW(PASS, i + 1, 1);                                                  \
        GB_ROW(PASS, i + 2, 2);                                                  \
        GB_ROW(PASS, i + 3, 3);                                                  \
      }                                                                          \
    for (; i < len; i++) {                                                       \
      if (pf && (i & 7) == 0) GB_PREFETCH(i);                                    \
      GB_ROW(PASS, i, copies == GB_COPIES ? (i & 3) : 0);                        \
    }                                                                            \
  } while (0)

/* Rows i..i+7 of the three columns GDF_K_AHEAD rows ahead (pf: the
 * columns at the block's start + GDF_K_AHEAD), into the cache while this
 * block is worked on (the first config of a block only): the loads then
 * wait for no memory, which is what lets one config run near the read
 * bandwidth. */
#define GB_PREFETCH(i)                                                           \
  (__builtin_prefetch(pf[0] + (i) * pw[0]), __builtin_prefetch(pf[1] + (i) * pw[1]), \
   __builtin_prefetch(pf[2] + (i) * pw[2]))

#if defined(__x86_64__) && defined(__GNUC__)
/* gb_config_block's rows four at a time with AVX2, for CPUs that have it
 * (gdf_k_have_avx2): the filter, NaN and key tests and the accumulator
 * offsets of four rows in vector lanes (stored, then read back one row at a
 * time: cheaper than extracting lanes), then each row's two pair updates
 * as in GB_ADD, in row order, with the pairs (1, v) and (v, -v) made from
 * (v, v) loaded by movddup: a blend with 1 and a sign flip, no shuffles.
 * The same additions and minima on the same accumulators in the same
 * order, so the same bits; half the operations of the scalar tests. Eight
 * rows a step: one prefetch per cache line of the f64 columns, no test of
 * i for it; four steps a turn of the loop (then a step at a time for the
 * block's last rows), which lets the next rows' accumulator loads start
 * while the previous ones are still coming from L2: 1-9% less CPU time at
 * 4096 groups (four runs), 0-2% at 64, than a step a turn (the two builds
 * side by side, GPUDF_NO_AVX512=1, Zen 4). Returns the rows done. */
#define GB_AVX2_ROW(o, nv, mm)                                                   \
  do {                                                                           \
    double *a_ = acc + (o);                                                      \
    _mm_storeu_pd(a_, _mm_add_pd(_mm_loadu_pd(a_), nv));                         \
    _mm_storeu_pd(a_ + 2, _mm_min_pd(mm, _mm_loadu_pd(a_ + 2)));                 \
  } while (0)
#define GB_AVX2_FOUR(i, PASSV)                                                   \
  do {                                                                           \
    __m256d vv = _mm256_loadu_pd(v + (i));                                       \
    __m256d ok = _mm256_and_pd(PASSV(i), _mm256_cmp_pd(vv, vv, _CMP_ORD_Q));     \
    __m128i k4 = _mm_loadu_si128((const __m128i *)(const void *)(key + (i)));    \
    __m128i kin = _mm_cmpeq_epi32(_mm_min_epu32(k4, kmax), k4);                  \
    __m256i okm = _mm256_and_si256(_mm256_castpd_si256(ok), _mm256_cvtepi32_epi64(kin)); \
    __m256i g = _mm256_blendv_epi8(vdump, _mm256_cvtepi32_epi64(k4), okm);       \
    __m256i o4 = _mm256_add_epi64(_mm256_slli_epi64(g, 2), coff);                \
    int64_t o_[4];                                                               \
    _mm256_storeu_si256((__m256i *)(void *)o_, o4);                              \
    for (int j_ = 0; j_ < 4; j_++) {                                             \
      __m128d d_ = _mm_loaddup_pd(v + (i) + j_);                                 \
      GB_AVX2_ROW(o_[j_], _mm_blend_pd(ones, d_, 2), _mm_xor_pd(d_, sign));      \
    }                                                                            \
  } while (0)
#define GB_AVX2_TURN(PASSV)                                                      \
  do {                                                                           \
    if (pf) GB_PREFETCH(i);                                                      \
    GB_AVX2_FOUR(i, PASSV);                                                      \
    GB_AVX2_FOUR(i + 4, PASSV);                                                  \
    i += 8;                                                                      \
  } while (0)
#define GB_AVX2_LOOP(PASSV)                                                      \
  while (i + 32 <= len) {                                                        \
    GB_AVX2_TURN(PASSV);                                                         \
    GB_AVX2_TURN(PASSV);                                                         \
    GB_AVX2_TURN(PASSV);                                                         \
    GB_AVX2_TURN(PASSV);                                                         \
  }                                                                              \
  while (i + 8 <= len) GB_AVX2_TURN(PASSV);                                      \
  for (; i + 4 <= len; i += 4) GB_AVX2_FOUR(i, PASSV);

__attribute__((target("avx2"))) static int64_t gb_block_avx2(
    int op, double lo, double hi, const double *x, const double *v, const int32_t *key,
    int64_t len, int32_t dump, int copies, const char *const *pf, const int64_t *pw,
    double *acc) {
  int64_t cs = copies == GB_COPIES ? (int64_t)(dump + 1) * GB_NACC : 0;
  const __m256i coff = _mm256_set_epi64x(3 * cs, 2 * cs, cs, 0);
  const __m256i vdump = _mm256_set1_epi64x(dump);
  const __m128i kmax = _mm_set1_epi32(dump - 1); /* dump = groups >= 1 */
  const __m128d ones = _mm_set1_pd(1.0), sign = _mm_set_pd(-0.0, 0.0);
  const __m256d vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi);
  int64_t i = 0;
#define GB_V_ALL(i) _mm256_castsi256_pd(_mm256_set1_epi64x(-1))
#define GB_V_LT(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_LT_OQ)
#define GB_V_LE(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_LE_OQ)
#define GB_V_GT(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_GT_OQ)
#define GB_V_GE(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_GE_OQ)
#define GB_V_EQ(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_EQ_OQ)
#define GB_V_NE(i) _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vlo, _CMP_NEQ_UQ)
#define GB_V_BETWEEN(i)                                                          \
  _mm256_and_pd(_mm256_cmp_pd(vlo, _mm256_loadu_pd(x + (i)), _CMP_LE_OQ),        \
                _mm256_cmp_pd(_mm256_loadu_pd(x + (i)), vhi, _CMP_LE_OQ))
  switch (op) { /* the tests are gdf_fa_pass's (ordered; ne true for NaN) */
  case GDF_FA_LT: GB_AVX2_LOOP(GB_V_LT); break;
  case GDF_FA_LE: GB_AVX2_LOOP(GB_V_LE); break;
  case GDF_FA_GT: GB_AVX2_LOOP(GB_V_GT); break;
  case GDF_FA_GE: GB_AVX2_LOOP(GB_V_GE); break;
  case GDF_FA_EQ: GB_AVX2_LOOP(GB_V_EQ); break;
  case GDF_FA_NE: GB_AVX2_LOOP(GB_V_NE); break;
  case GDF_FA_BETWEEN: GB_AVX2_LOOP(GB_V_BETWEEN); break;
  default: GB_AVX2_LOOP(GB_V_ALL); break;
  }
#undef GB_V_ALL
#undef GB_V_LT
#undef GB_V_LE
#undef GB_V_GT
#undef GB_V_GE
#undef GB_V_EQ
#undef GB_V_NE
#undef GB_V_BETWEEN
  return i;
}
#define GB_HAVE_AVX2 1

/* gb_block_avx2's work eight rows at a time with AVX-512 (F, DQ, VL; chosen
 * at run time: gdf_k_have_avx512): the filter and NaN tests as one mask
 * (the filter's feeding the NaN test), the key test an unsigned compare
 * under it, the eight accumulator offsets int32 lanes; then per row one
 * 256-bit read-modify-write of its group's (n, sum, min, -max): the row's
 * (1, v, v, -v) is one masked xor of v broadcast from memory over (1, 0,
 * 0, -0), added into lanes 0-1 and min'ed into lanes 2-3 under masks (the
 * operands in GB_ADD's order, so min keeps the old value on a tie). The
 * same additions and minima on the same accumulators in the same order as
 * the AVX2 and SSE2 loops: the same bits. */
#define GB_AVX512_ROW(o, j)                                                      \
  do {                                                                           \
    double *a_ = acc + (o);                                                      \
    __m256d r_ = _mm256_mask_xor_pd(ones, 0xe, signs, _mm256_set1_pd(v[(i) + (j)])); \
    __m256d s_ = _mm256_loadu_pd(a_);                                            \
    s_ = _mm256_mask_add_pd(s_, 0x3, s_, r_);                                    \
    _mm256_storeu_pd(a_, _mm256_mask_min_pd(s_, 0xc, r_, s_));                   \
  } while (0)
#define GB_AVX512_EIGHT(i, PASSK)                                                \
  do {                                                                           \
    __m512d vv = _mm512_loadu_pd(v + (i));                                       \
    __m256i k8 = _mm256_loadu_si256((const __m256i *)(const void *)(key + (i))); \
    __mmask8 ok = _mm512_mask_cmp_pd_mask(PASSK(i), vv, vv, _CMP_ORD_Q);         \
    ok = _mm256_mask_cmplt_epu32_mask(ok, k8, vgroups);                          \
    __m256i o8 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_mask_blend_epi32(ok, vgroups, k8), 2), coff); \
    __m128i l4 = _mm256_castsi256_si128(o8), h4 = _mm256_extracti128_si256(o8, 1); \
    uint64_t o01 = (uint64_t)_mm_cvtsi128_si64(l4), o23 = (uint64_t)_mm_extract_epi64(l4, 1); \
    uint64_t o45 = (uint64_t)_mm_cvtsi128_si64(h4), o67 = (uint64_t)_mm_extract_epi64(h4, 1); \
    GB_AVX512_ROW((uint32_t)o01, 0);                                             \
    GB_AVX512_ROW(o01 >> 32, 1);                                                 \
    GB_AVX512_ROW((uint32_t)o23, 2);                                             \
    GB_AVX512_ROW(o23 >> 32, 3);                                                 \
    GB_AVX512_ROW((uint32_t)o45, 4);                                             \
    GB_AVX512_ROW(o45 >> 32, 5);                                                 \
    GB_AVX512_ROW((uint32_t)o67, 6);                                             \
    GB_AVX512_ROW(o67 >> 32, 7);                                                 \
  } while (0)
/* Thirty-two rows a turn, four eights in row order, then eight at a time
 * for the block's last rows (the same updates in the same order): with four
 * eights in one turn the loads of the next rows' accumulators start while
 * the previous rows' are still on their way from L2, measured 12-13% less
 * CPU time at 4096 groups (7-12% at 1024 keys in range, none at 64, whose
 * accumulators stay in L1) than one eight a turn on Zen 4; 16 rows a turn
 * gained 8-10%, 64 no more than 32. (The histogram's counting loop, the
 * same way, was 4-10% slower: its counters fit L1.) */
#define GB_AVX512_TURN(PASSK)                                                    \
  do {                                                                           \
    if (pf0) GB_AVX512_PREFETCH(i);                                              \
    GB_AVX512_EIGHT(i, PASSK);                                                   \
    i += 8;                                                                      \
  } while (0)
#define GB_AVX512_LOOP(PASSK)                                                    \
  while (i + 32 <= len) {                                                        \
    GB_AVX512_TURN(PASSK);                                                       \
    GB_AVX512_TURN(PASSK);                                                       \
    GB_AVX512_TURN(PASSK);                                                       \
    GB_AVX512_TURN(PASSK);                                                       \
  }                                                                              \
  while (i + 8 <= len) GB_AVX512_TURN(PASSK);
/* The columns' addresses in locals: the accumulators' stores would make
 * the compiler read them from pf again every turn. */
#define GB_AVX512_PREFETCH(i)                                                    \
  (__builtin_prefetch(pf0 + (i) * pw0), __builtin_prefetch(pf1 + (i) * pw1),     \
   __builtin_prefetch(pf2 + (i) * pw2))

__attribute__((target("avx512f,avx512dq,avx512vl"))) static int64_t gb_block_avx512(
    int op, double lo, double hi, const double *x, const double *v, const int32_t *key,
    int64_t len, int32_t dump, int copies, const char *const *pf, const int64_t *pw,
    double *acc) {
  int32_t cs = copies == GB_COPIES ? (dump + 1) * GB_NACC : 0;
  const __m256i coff = _mm256_setr_epi32(0, cs, 2 * cs, 3 * cs, 0, cs, 2 * cs, 3 * cs);
  const __m256i vgroups = _mm256_set1_epi32(dump); /* dump = groups */
  const __m256d ones = _mm256_set1_pd(1.0), signs = _mm256_set_pd(-0.0, 0.0, 0.0, 0.0);
  const __m512d vlo = _mm512_set1_pd(lo), vhi = _mm512_set1_pd(hi);
  const char *pf0 = pf ? pf[0] : NULL, *pf1 = pf ? pf[1] : NULL, *pf2 = pf ? pf[2] : NULL;
  int64_t pw0 = pf ? pw[0] : 0, pw1 = pf ? pw[1] : 0, pw2 = pf ? pw[2] : 0;
  int64_t i = 0;
#define GB_K_ALL(i) ((__mmask8)0xff)
#define GB_K_LT(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_LT_OQ)
#define GB_K_LE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_LE_OQ)
#define GB_K_GT(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_GT_OQ)
#define GB_K_GE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_GE_OQ)
#define GB_K_EQ(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_EQ_OQ)
#define GB_K_NE(i) _mm512_cmp_pd_mask(_mm512_loadu_pd(x + (i)), vlo, _CMP_NEQ_UQ)
#define GB_K_BETWEEN(i)                                                          \
  _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(vlo, _mm512_loadu_pd(x + (i)), _CMP_LE_OQ), \
                          _mm512_loadu_pd(x + (i)), vhi, _CMP_LE_OQ)
  switch (op) { /* the tests are gdf_fa_pass's (ordered; ne true for NaN) */
  case GDF_FA_LT: GB_AVX512_LOOP(GB_K_LT); break;
  case GDF_FA_LE: GB_AVX512_LOOP(GB_K_LE); break;
  case GDF_FA_GT: GB_AVX512_LOOP(GB_K_GT); break;
  case GDF_FA_GE: GB_AVX512_LOOP(GB_K_GE); break;
  case GDF_FA_EQ: GB_AVX512_LOOP(GB_K_EQ); break;
  case GDF_FA_NE: GB_AVX512_LOOP(GB_K_NE); break;
  case GDF_FA_BETWEEN: GB_AVX512_LOOP(GB_K_BETWEEN); break;
  default: GB_AVX512_LOOP(GB_K_ALL); break;
  }
#undef GB_K_ALL
#undef GB_K_LT
#undef GB_K_LE
#undef GB_K_GT
#undef GB_K_GE
#undef GB_K_EQ
#undef GB_K_NE
#undef GB_K_BETWEEN
  return i;
}
#undef GB_AVX512_ROW
#undef GB_AVX512_EIGHT
#undef GB_AVX512_LOOP
#undef GB_AVX512_TURN
#undef GB_AVX512_PREFETCH
#endif

/* One config over one block (len rows; the block starts at a multiple of
 * GB_COPIES, so row i of the block has copy i % GB_COPIES of the table);
 * simd 2: the AVX-512 loop first, 1: the AVX2 one, then this one for the
 * last rows. */
static void gb_config_block(int op, double lo, double hi, const double *x, const double *v,
                            const int32_t *key, int64_t len, int32_t dump, int copies,
                            const char *const *pf, const int64_t *pw, double *acc, int simd) {
  int64_t cstride = (int64_t)(dump + 1) * GB_NACC, i0 = 0;
#ifdef GB_HAVE_AVX2
  if (simd == 2) i0 = gb_block_avx512(op, lo, hi, x, v, key, len, dump, copies, pf, pw, acc);
  else if (simd == 1) i0 = gb_block_avx2(op, lo, hi, x, v, key, len, dump, copies, pf, pw, acc);
#else
  (void)simd;
#endif
#define GB_ALL(i) 1
#define GB_LT(i) (x[i] < lo)
#define GB_LE(i) (x[i] <= lo)
#define GB_GT(i) (x[i] > lo)
#define GB_GE(i) (x[i] >= lo)
#define GB_EQ(i) (x[i] == lo)
#define GB_NE(i) (x[i] != lo)
#define GB_BETWEEN(i) ((lo <= x[i]) & (x[i] <= hi))
  switch (op) {
  case GDF_FA_LT: GB_LOOP(GB_LT); break;
  case GDF_FA_LE: GB_LOOP(GB_LE); break;
  case GDF_FA_GT: GB_LOOP(GB_GT); break;
  case GDF_FA_GE: GB_LOOP(GB_GE); break;
  case GDF_FA_EQ: GB_LOOP(GB_EQ); break;
  case GDF_FA_NE: GB_LOOP(GB_NE); break;
  case GDF_FA_BETWEEN: GB_LOOP(GB_BETWEEN); break;
  default: GB_LOOP(GB_ALL); break;
  }
#undef GB_ALL
#undef GB_LT
#undef GB_LE
#undef GB_GT
#undef GB_GE
#undef GB_EQ
#undef GB_NE
#undef GB_BETWEEN
}

/* ------------------------------------------------------------ runs
 *
 * Consecutive configs reading the same three columns form a run. A long
 * run (GDF_KB_MIN configs or more) visits each row once, whatever its
 * size: the row's filter bucket among the run's thresholds (k_buckets.h)
 * and its group pick one cell of bucket x group accumulators, and each
 * config merges, per group, the cells of the bucket ranges its filter
 * passes, in bucket order. Counts, min and max are exactly those of the
 * config alone; a sum is the bucket sums (each in row order) added in
 * bucket order: another order of the same additions, with the same bound,
 * at most (n - 1) * 2^-53 * sum |v| (in a batch such a config's sums may
 * then differ from its own run's in the last bits, as between devices). */
/* Bound on a run's bucket accumulators (32 MiB); beyond it, config by
 * config. */
enum { GB_BUCKET_DOUBLES = 1 << 22 };

typedef struct gb_run {
  int64_t first, count; /* configs [first, first + count) of the chunk */
  int buckets;
  gdf_kb kb;
  double *bacc; /* (groups + 1) x kb.nb x GB_NACC: n, sum, min, -max (a
                   group's buckets adjacent, for the merges) */
} gb_run;

/* Makes r a bucket run when it is long enough and its accumulators fit;
 * 0, or -1 out of memory. */
static int gb_run_buckets(gb_run *r, const gdf_kernel_input *in, const double *configs,
                          int64_t groups) {
  const double *c0 = configs + r->first * GDF_GB_NPARAMS;
  int f32 = in->cols[(int)c0[GDF_GB_FILTER_COL]].type == GPUDF_TYPE_F32;
  int64_t cell = (groups + 1) * GB_NACC;
  if (r->count < GDF_KB_MIN) return 0;
  int st = gdf_kb_build(&r->kb, c0, r->count, GDF_GB_NPARAMS, f32, GB_BUCKET_DOUBLES / cell);
  if (st <= 0) return st;
  r->bacc = malloc(sizeof(double) * (size_t)(r->kb.nb * cell));
  if (!r->bacc) return -1; /* kb freed with the runs */
  for (int64_t j = 0; j < r->kb.nb * cell; j += GB_NACC)
    r->bacc[j] = 0.0, r->bacc[j + 1] = 0.0, r->bacc[j + 2] = INFINITY, r->bacc[j + 3] = INFINITY;
  r->buckets = 1;
  return 0;
}

/* Adds each row of the block into its (bucket, group) cell, or the dump
 * group of its bucket for a NaN value or a key outside [0, groups). */
static void gb_bucket_block(const gb_run *r, const double *x, const double *v,
                            const int32_t *key, int64_t len, int32_t dump, int32_t *bk) {
  gdf_kb_buckets(&r->kb, x, len, bk);
  int64_t nb = r->kb.nb;
  for (int64_t i = 0; i < len; i++) {
    double val_ = v[i];
    int32_t k_ = key[i];
    int32_t ok_ = -(int32_t)((val_ == val_) & ((uint32_t)k_ < (uint32_t)dump));
    int64_t g_ = dump ^ ((k_ ^ dump) & ok_);
    double *a_ = r->bacc + (g_ * nb + bk[i]) * GB_NACC;
    GB_ADD(a_, val_);
  }
}

/* ------------------------------------------------------------ merging
 *
 * A config's group may be added in parts (accumulator copies, or filter
 * buckets), merged here. Counts and sums add; min and max are exact, but
 * between equal values a merge cannot tell which part saw its value first,
 * and the plain loop keeps the first in row order: that only shows in the
 * sign of a zero. When parts hold a zero min (or max) of both signs, the
 * group is flagged and gb_fix_zeros finds the first such zero in the rows. */
typedef struct gb_merge {
  double cnt, sum, mn, nmx; /* nmx: -max */
  int zmin, zmax;           /* bit 1: a part's extreme is +0.0, bit 2: -0.0 */
} gb_merge;

static inline void gb_merge_part(gb_merge *m, const double *a) {
  m->cnt += a[0], m->sum += a[1];
  m->mn = a[2] < m->mn ? a[2] : m->mn, m->nmx = a[3] < m->nmx ? a[3] : m->nmx;
  if (a[2] == 0.0) m->zmin |= signbit(a[2]) ? 2 : 1;
  if (a[3] == 0.0) m->zmax |= signbit(a[3]) ? 1 : 2; /* -max's sign is max's opposite */
}

/* The merged group's results; its flags: 1 when min is a zero of either
 * sign, 2 the same for max. */
static inline int gb_merge_finish(const gb_merge *m, double *out) {
  gdf_gb_finalize(m->cnt, m->sum, m->mn, -m->nmx, out);
  return (m->mn == 0.0 && m->zmin == 3 ? 1 : 0) | (m->nmx == 0.0 && m->zmax == 3 ? 2 : 0);
}

/* For the groups of config c flagged in flags (gb_merge_finish), min and
 * max := the first zero in row order among the group's rows that pass and
 * hold a zero: what the plain loop keeps. One pass over the rows, made only
 * when zeros of both signs met in a merge. */
static void gb_fix_zeros(const gdf_kernel_input *in, const double *c, int64_t groups,
                         uint8_t *flags, double *out) {
  gdf_colref fx = gdf_input_col(in, (int)c[GDF_GB_FILTER_COL]);
  gdf_colref fv = gdf_input_col(in, (int)c[GDF_GB_VALUE_COL]);
  gdf_colref fk = gdf_input_col(in, (int)c[GDF_GB_KEY_COL]);
  int f32 = fx.type == GPUDF_TYPE_F32, op = (int)c[GDF_GB_OP];
  double lo = gdf_fa_bound(f32, c[GDF_GB_LO]), hi = gdf_fa_bound(f32, c[GDF_GB_HI]);
  int32_t key;
  for (int64_t i = 0; i < in->nrows; i++) {
    double v = gdf_k_load(fv, i);
    if (v != 0.0) continue;
    gb_keys(fk, i, 1, groups, &key);
    if (key == groups || !flags[key] || !gdf_fa_pass(op, gdf_k_load(fx, i), lo, hi)) continue;
    if (flags[key] & 1) out[key * GDF_GB_NFIELDS + GDF_GB_MIN] = v;
    if (flags[key] & 2) out[key * GDF_GB_NFIELDS + GDF_GB_MAX] = v;
    flags[key] = 0;
  }
}

/* Config k's results from its run's bucket cells (flags: gb_merge_finish's
 * per group; returns whether any is set). */
static int gb_bucket_finish(const gb_run *r, int64_t k, int64_t groups, double *out,
                            uint8_t *flags) {
  const int32_t *g = r->kb.range + 4 * k;
  int64_t nb = r->kb.nb;
  int any = 0;
  for (int64_t q = 0; q < groups; q++) {
    gb_merge m = {0.0, 0.0, INFINITY, INFINITY, 0, 0};
    const double *cells = r->bacc + q * nb * GB_NACC;
    for (int j = 0; j < 4; j += 2)
      for (int32_t b = g[j]; b < g[j + 1]; b++) gb_merge_part(&m, cells + b * GB_NACC);
    flags[q] = (uint8_t)gb_merge_finish(&m, out + q * GDF_GB_NFIELDS);
    any |= flags[q];
  }
  return any;
}

static void gb_runs_free(gb_run *runs, int64_t nruns) {
  for (int64_t i = 0; runs && i < nruns; i++) gdf_kb_free(&runs[i].kb), free(runs[i].bacc);
  free(runs);
}

/* One pass over the rows for configs [0, n) of a chunk, configs [at, at +
 * n) of the batch's total (for the progress it reports). */
static gpudf_status gb_chunk(const gdf_kernel_input *in, const double *configs, int64_t n,
                             int64_t groups, double *acc, double *results, int64_t at,
                             int64_t total) {
  int64_t nrows = in->nrows, size = gb_acc_size(groups), cstride = (groups + 1) * GB_NACC;
  int64_t nruns = 0;
  int copies = gb_copies(groups), simd = gdf_k_have_avx512() ? 2 : gdf_k_have_avx2();
  double *buf = malloc(sizeof(double) * GDF_K_BLOCK * 2);
  int32_t *key = malloc(sizeof(int32_t) * GDF_K_BLOCK * 2), *bk = key + GDF_K_BLOCK;
  gb_run *runs = calloc((size_t)n, sizeof *runs);
  if (!buf || !key || !runs) {
    free(buf), free(key), free(runs);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld groupby_agg configs", (long long)n);
  }
  for (int64_t k = 0; k < n; k++) {
    const double *c = configs + k * GDF_GB_NPARAMS, *p = c - GDF_GB_NPARAMS;
    if (k == 0 || c[GDF_GB_FILTER_COL] != p[GDF_GB_FILTER_COL] ||
        c[GDF_GB_VALUE_COL] != p[GDF_GB_VALUE_COL] || c[GDF_GB_KEY_COL] != p[GDF_GB_KEY_COL])
      runs[nruns++].first = k;
    runs[nruns - 1].count++;
  }
  for (int64_t i = 0; i < nruns; i++)
    if (gb_run_buckets(&runs[i], in, configs, groups) < 0) {
      long long m = (long long)runs[i].count;
      free(buf), free(key), gb_runs_free(runs, nruns);
      return GDF_ERR(GPUDF_ENOMEM, "out of memory for the filter buckets of %lld groupby_agg "
                     "configs", m);
    }
  for (int64_t k = 0; k < n; k++)
    for (int64_t j = 0; j < size; j += GB_NACC) {
      double *a = acc + k * size + j;
      a[0] = 0.0, a[1] = 0.0, a[2] = INFINITY, a[3] = INFINITY; /* min, -max */
    }
  for (int64_t start = 0; start < nrows; start += GDF_K_BLOCK) {
    int64_t len = nrows - start < GDF_K_BLOCK ? nrows - start : GDF_K_BLOCK;
    const double *x = NULL, *v = NULL;
    const int32_t *keys = key;
    int64_t prev_cols[3] = {-1, -1, -1};
    for (int64_t ri = 0; ri < nruns; ri++) {
      const gb_run *r = &runs[ri];
      const double *c = configs + r->first * GDF_GB_NPARAMS;
      int64_t cols[3] = {(int64_t)c[GDF_GB_FILTER_COL], (int64_t)c[GDF_GB_VALUE_COL],
                         (int64_t)c[GDF_GB_KEY_COL]};
      /* Runs reading the same columns reuse the block. */
      if (cols[0] != prev_cols[0] || cols[1] != prev_cols[1])
        x = gdf_k_block(gdf_input_col(in, (int)cols[0]), start, len, buf),
        v = gdf_k_block(gdf_input_col(in, (int)cols[1]), start, len, buf + GDF_K_BLOCK);
      /* i32 keys are read in place (the row loops test the range). */
      if (cols[2] != prev_cols[2]) {
        gdf_colref kc = gdf_input_col(in, (int)cols[2]);
        if (kc.type == GPUDF_TYPE_I32) keys = (const int32_t *)kc.data + start;
        else gb_keys(kc, start, len, groups, key), keys = key;
      }
      memcpy(prev_cols, cols, sizeof cols);
      if (r->buckets) {
        gb_bucket_block(r, x, v, keys, len, (int32_t)groups, bk);
        continue;
      }
      int f32 = in->cols[(int)cols[0]].type == GPUDF_TYPE_F32;
      for (int64_t k = r->first; k < r->first + r->count; k++) {
        const double *ck = configs + k * GDF_GB_NPARAMS;
        /* The first config prefetches its columns GDF_K_AHEAD rows ahead. */
        const char *pf[3];
        int64_t pw[3];
        bool ahead = ri == 0 && k == r->first && start + len + GDF_K_AHEAD <= nrows;
        for (int j = 0; ahead && j < 3; j++) {
          pw[j] = (int64_t)gpudf_type_size(in->cols[(int)cols[j]].type);
          pf[j] = (const char *)in->cols[(int)cols[j]].data + (start + GDF_K_AHEAD) * pw[j];
        }
        gb_config_block((int)ck[GDF_GB_OP], gdf_fa_bound(f32, ck[GDF_GB_LO]),
                        gdf_fa_bound(f32, ck[GDF_GB_HI]), x, v, keys, len, (int32_t)groups,
                        copies, ahead ? pf : NULL, pw, acc + k * size, simd);
      }
    }
    if (gpudf_kernel_progress(((double)at + (double)n * (double)(start + len) / (double)nrows) /
                              (double)total)) {
      free(buf), free(key), gb_runs_free(runs, nruns);
      return GDF_KERNEL_CANCELLED();
    }
  }
  uint8_t *flags = malloc((size_t)groups);
  if (!flags) {
    free(buf), free(key), gb_runs_free(runs, nruns);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld groups", (long long)groups);
  }
  for (int64_t ri = 0; ri < nruns; ri++) {
    const gb_run *r = &runs[ri];
    for (int64_t k = r->first; k < r->first + r->count; k++) {
      double *out = results + k * groups * GDF_GB_NFIELDS;
      int any = 0;
      if (r->buckets) {
        any = gb_bucket_finish(r, k - r->first, groups, out, flags);
      } else {
        for (int64_t g = 0; g < groups; g++) {
          gb_merge m = {0.0, 0.0, INFINITY, INFINITY, 0, 0};
          for (int j = 0; j < copies; j++) gb_merge_part(&m, acc + k * size + j * cstride + g * GB_NACC);
          flags[g] = (uint8_t)gb_merge_finish(&m, out + g * GDF_GB_NFIELDS);
          any |= flags[g];
        }
      }
      if (any) gb_fix_zeros(in, configs + k * GDF_GB_NPARAMS, groups, flags, out);
    }
  }
  free(flags);
  free(buf), free(key), gb_runs_free(runs, nruns);
  return GPUDF_OK;
}

/* Consecutive configs of a batch that read the same three columns share
 * the converted block (gb_chunk): the columns are the pass a config needs. */
static uint64_t gb_pass_key(const double *config) {
  return (uint64_t)config[GDF_GB_FILTER_COL] << 32 | (uint64_t)config[GDF_GB_KEY_COL] << 16 |
         (uint64_t)config[GDF_GB_VALUE_COL];
}

static gpudf_status gb_run_cpu(const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  if (n == 0) return GPUDF_OK;
  int64_t groups = (int64_t)configs[GDF_GB_GROUPS];
  int64_t chunk = GB_ACC_DOUBLES / gb_acc_size(groups);
  if (chunk < 1) chunk = 1;
  if (chunk > n) chunk = n;
  /* 64-byte aligned: a group's four accumulators (32 bytes) then never
   * straddle two cache lines (with malloc's 16, every other one would:
   * two lines to fetch per row where the groups outgrow L1). */
  size_t bytes = sizeof(double) * (size_t)gb_acc_size(groups) * (size_t)chunk;
  double *acc = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!acc) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld groups", (long long)groups);
  gpudf_status st = GPUDF_OK;
  for (int64_t at = 0; at < n && st == GPUDF_OK; at += chunk) {
    int64_t m = n - at < chunk ? n - at : chunk;
    st = gb_chunk(in, configs + at * GDF_GB_NPARAMS, m, groups, acc,
                  results + at * groups * GDF_GB_NFIELDS, at, n);
  }
  free(acc);
  return st;
}

/* Row splitting: a state is the result row. Per group, counts add, min
 * and max are the smaller and larger (on a tie, as between +0 and -0, the
 * earlier range's: the unsplit pass keeps the earlier row's), sums add
 * (plain sums, as in one pass: +-inf and NaN then follow from min and max,
 * gdf_fa_total) and the mean is the merged sum over the merged count. */
static void gb_merge_rows(const double *config, double *acc, const double *part) {
  int64_t groups = (int64_t)config[GDF_GB_GROUPS];
  for (int64_t q = 0; q < groups; q++) {
    double *a = acc + q * GDF_GB_NFIELDS;
    const double *b = part + q * GDF_GB_NFIELDS;
    if (!(b[GDF_GB_COUNT] > 0.0)) continue;
    if (!(a[GDF_GB_COUNT] > 0.0)) {
      memcpy(a, b, sizeof(double) * GDF_GB_NFIELDS);
      continue;
    }
    double min = b[GDF_GB_MIN] < a[GDF_GB_MIN] ? b[GDF_GB_MIN] : a[GDF_GB_MIN];
    double max = b[GDF_GB_MAX] > a[GDF_GB_MAX] ? b[GDF_GB_MAX] : a[GDF_GB_MAX];
    gdf_gb_finalize(a[GDF_GB_COUNT] + b[GDF_GB_COUNT], a[GDF_GB_SUM] + b[GDF_GB_SUM], min, max,
                    a);
  }
}

static const gdf_kernel_split gb_split = {NULL, NULL, gb_merge_rows, NULL};

gdf_kernel_fn gdf_kernel_groupby_agg_cuda; /* cuda_groupby_agg.cu */

const gpudf_kernel gdf_kernel_groupby_agg = {
    .name = "groupby_agg",
    .summary = "count, sum, mean, min and max of value_col per key 0..groups-1 of the "
               "integer key_col, over the rows whose filter_col passes op against lo/hi "
               "(as filter_agg); NaN values skipped, other keys ignored",
    .nparams = GDF_GB_NPARAMS,
    .params = gb_params,
    .nfields = GDF_GB_NFIELDS,
    .fields = gb_fields,
    .nresults = gb_nresults,
    .result_name = gb_result_name,
    .check = gb_check,
    .cpu = gb_run_cpu,
    .cuda = GDF_CUDA_ENTRY(gdf_kernel_groupby_agg_cuda),
    .pass_key = gb_pass_key,
    .accepts = gb_accepts,
    .split = &gb_split,
};
