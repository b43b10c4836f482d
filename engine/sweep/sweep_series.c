/* sweep_series.c - the series of a long-format table (one row per symbol
 * and bar, symbols interleaved or not): the stable order of its rows by
 * series (and by a time column within each series) that a sweep over a
 * row-order kernel runs each series on, kept with the table once it is
 * computed, and the aggregates of a series sweep's results across series. */
#include "sweep_owner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct keyed_row {
  int64_t key;  /* the series */
  int64_t time; /* its order within the series (0 without a time column) */
  int64_t row;
} keyed_row;

static int by_key_then_row(const void *a, const void *b) {
  const keyed_row *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
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

/* ------------------------------------------------------------ time order */

/* The shape of an ISO-8601 date or timestamp label into shape (digits as
 * '9', the zone kept as written); false when s is not one. Accepted:
 * YYYY-MM-DD, then optionally T or a space and HH:MM, :SS, a fraction .F+,
 * and a zone Z or +-HH:MM. Labels of one shape (and one zone) sort as time
 * as text; two shapes may not (a fraction before a zone, T against a
 * space), so a column must hold one. */
static bool iso_shape(const char *s, char *shape, size_t cap) {
  static const char *const parts[] = {"9999-99-99", "T99:99", ":99", NULL};
  size_t n = strlen(s), i = 0;
  if (n + 1 > cap) return false;
  for (int p = 0; parts[p]; p++) {
    const char *f = parts[p];
    size_t len = strlen(f);
    /* The time and the seconds are optional: absent when the next
     * character does not start them (a zone may follow instead). */
    if (p > 0 && (i == n || (p == 1 ? s[i] != 'T' && s[i] != ' ' : s[i] != f[0]))) break;
    if (i + len > n) return false;
    for (size_t j = 0; j < len; j++) {
      char c = s[i + j], want = f[j];
      bool ok = want == '9' ? c >= '0' && c <= '9'
                : p == 1 && j == 0 ? c == 'T' || c == ' '
                : c == want;
      if (!ok) return false;
      shape[i + j] = want == '9' ? '9' : c;
    }
    i += len;
  }
  if (i < n && s[i] == '.' && i == 19) { /* a fraction of a second */
    shape[i++] = '.';
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') shape[i++] = '9';
    if (i == d0) return false;
  }
  if (i < n && i >= 16) { /* a zone, kept as written: two zones do not sort as text */
    bool z = s[i] == 'Z' && i + 1 == n;
    bool off = (s[i] == '+' || s[i] == '-') && n - i == 6 && s[i + 3] == ':';
    for (size_t j = i + 1; off && j < n; j++) off = j == i + 3 || (s[j] >= '0' && s[j] <= '9');
    if (!z && !off) return false;
    memcpy(shape + i, s + i, n - i);
    i = n;
  }
  if (i != n) return false;
  shape[n] = '\0';
  /* Month 01-12, day 01-31, hour 00-23, minute 00-59, second 00-60. */
  int mo = (s[5] - '0') * 10 + s[6] - '0', d = (s[8] - '0') * 10 + s[9] - '0';
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  if (n >= 16) {
    int h = (s[11] - '0') * 10 + s[12] - '0', mi = (s[14] - '0') * 10 + s[15] - '0';
    if (h > 23 || mi > 59) return false;
    if (n >= 19 && shape[16] == ':' && (s[17] - '0') * 10 + s[18] - '0' > 60) return false;
  }
  return true;
}

static const char *iso_formats =
    "ISO-8601 dates (YYYY-MM-DD) or timestamps (YYYY-MM-DDTHH:MM[:SS[.F]], or a space "
    "for the T, optionally with Z or +HH:MM), all labels in one format";

/* The labels of a categorical time column in time order: rank[code] (the
 * codes' order as text, which is time order for labels of one ISO shape;
 * computed here rather than trusting the dictionary's order). */
typedef struct label_sort {
  const gpudf_table *t;
  int col;
  int32_t code;
} label_sort;

static int cmp_label(const void *a, const void *b) {
  const label_sort *x = a, *y = b;
  return strcmp(gpudf_table_column_label(x->t, x->col, x->code),
                gpudf_table_column_label(y->t, y->col, y->code));
}

/* The order keys of a time column: rank of a label, an integer, or a
 * float's bits mapped to an order-preserving integer. */
typedef struct time_keys {
  gdf_colref r;
  bool cat;
  int64_t *rank; /* categorical: per code */
} time_keys;

static gpudf_status time_keys_init(const gpudf_table *t, int time, time_keys *k) {
  memset(k, 0, sizeof *k);
  int ncols = gpudf_table_ncols(t);
  if (time < 0 || time >= ncols)
    return GDF_ERR(GPUDF_EINVAL, "time = %d is not a column index (an integer in 0..%d: the "
                   "table has %d columns), or -1 for none", time, ncols - 1, ncols);
  const char *name = gpudf_table_column_name(t, time);
  gpudf_type ty = gpudf_table_column_type(t, time);
  k->r = gdf_table_colref(t, time);
  k->cat = gpudf_table_column_is_categorical(t, time);
  if (!k->cat) {
    if (ty == GPUDF_TYPE_I32 || ty == GPUDF_TYPE_I64 || ty == GPUDF_TYPE_F32 ||
        ty == GPUDF_TYPE_F64)
      return GPUDF_OK;
    return GDF_ERR(GPUDF_EINVAL, "time = %d is column '%s' of type %s; a time column is "
                   "numeric (i32, i64, f32, f64) or holds %s", time, name, gpudf_type_name(ty),
                   iso_formats);
  }
  int32_t nl = gpudf_table_column_nlabels(t, time);
  char first[96] = "", shape[96];
  int32_t first_code = -1;
  for (int32_t c = 0; c < nl; c++) {
    const char *l = gpudf_table_column_label(t, time, c);
    if (!iso_shape(l ? l : "", shape, sizeof shape))
      return GDF_ERR(GPUDF_EINVAL, "time = %d: column '%s' holds the label '%.40s', which is "
                     "not an ISO-8601 date: its labels would not sort as time; use %s, or a "
                     "numeric time column", time, name, l ? l : "", iso_formats);
    if (first_code < 0) {
      snprintf(first, sizeof first, "%s", shape);
      first_code = c;
    } else if (strcmp(first, shape) != 0) {
      return GDF_ERR(GPUDF_EINVAL, "time = %d: column '%s' mixes date formats ('%.40s' and "
                     "'%.40s'), which do not sort as time together; use %s", time, name,
                     gpudf_table_column_label(t, time, first_code), l, iso_formats);
    }
  }
  label_sort *ls = malloc(sizeof *ls * (size_t)(nl > 0 ? nl : 1));
  k->rank = malloc(sizeof *k->rank * (size_t)(nl > 0 ? nl : 1));
  if (!ls || !k->rank) {
    free(ls), free(k->rank);
    k->rank = NULL;
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %d time labels", (int)nl);
  }
  for (int32_t c = 0; c < nl; c++) ls[c] = (label_sort){t, time, c};
  qsort(ls, (size_t)nl, sizeof *ls, cmp_label);
  for (int32_t c = 0; c < nl; c++) k->rank[ls[c].code] = c;
  free(ls);
  return GPUDF_OK;
}

/* Row i's time key; false when it has none (a missing label, NaN). */
static bool time_key(const time_keys *k, int64_t i, int64_t *out) {
  switch (k->r.type) {
  case GPUDF_TYPE_I32: {
    int32_t v = ((const int32_t *)k->r.data)[i];
    if (k->cat) {
      if (v < 0) return false;
      *out = k->rank[v];
    } else {
      *out = v;
    }
    return true;
  }
  case GPUDF_TYPE_I64: *out = ((const int64_t *)k->r.data)[i]; return true;
  default: {
    double d = k->r.type == GPUDF_TYPE_F32 ? (double)((const float *)k->r.data)[i]
                                           : ((const double *)k->r.data)[i];
    if (isnan(d)) return false;
    if (d == 0.0) d = 0.0; /* -0 and +0 are one time */
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    /* Negative floats order backwards as bits: flip them; then shift the
     * unsigned order onto int64. */
    b = (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
    *out = (int64_t)(b ^ (UINT64_C(1) << 63));
    return true;
  }
  }
}

/* ------------------------------------------------------- the row order */

/* Name of the derived column that keeps the row order of (series col,
 * time col): column indices, which never change in a table (columns are
 * only appended), so the name is unambiguous. */
static void order_name(char out[GPUDF_NAME_MAX + 1], int col, int time) {
  snprintf(out, GPUDF_NAME_MAX + 1, "%s%d.%d", GDF_DERIVED_ORDER, col, time < 0 ? -1 : time);
}

int gdf_series_order_col(const gpudf_table *t, int col, int time) {
  char name[GPUDF_NAME_MAX + 1];
  order_name(name, col, time);
  int idx = gdf_table_column_index(t, name);
  return idx >= 0 && gpudf_table_column_type(t, idx) == GPUDF_TYPE_I64 ? idx : -1;
}

static int64_t series_key(gdf_colref r, int64_t i) {
  return r.type == GPUDF_TYPE_I64 ? ((const int64_t *)r.data)[i] : ((const int32_t *)r.data)[i];
}

/* The rows with a label, ordered by series then time then row, into a new
 * *perm (*nperm of them). */
static gpudf_status sort_rows(const gpudf_table *t, int col, int time, int64_t **perm,
                              int64_t *nperm) {
  int64_t nrows = gpudf_table_nrows(t);
  bool cat = gpudf_table_column_is_categorical(t, col);
  gdf_colref r = gdf_table_colref(t, col);
  time_keys tk = {0};
  if (time >= 0) GDF_TRY(time_keys_init(t, time, &tk));
  keyed_row *kv = malloc(sizeof *kv * (size_t)(nrows > 0 ? nrows : 1));
  if (!kv) {
    free(tk.rank);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for the series of %lld rows",
                   (long long)nrows);
  }
  int64_t m = 0;
  bool sorted = true;
  gpudf_status st = GPUDF_OK;
  for (int64_t i = 0; i < nrows; i++) {
    int64_t key = series_key(r, i), tv = 0;
    if (cat && key < 0) continue; /* a missing label: in no series */
    if (time >= 0 && !time_key(&tk, i, &tv)) {
      st = GDF_ERR(GPUDF_EINVAL, "time = %d: column '%s' has no time in row %lld (of series "
                   "column '%s'): every row of a series needs one to be ordered", time,
                   gpudf_table_column_name(t, time), (long long)i,
                   gpudf_table_column_name(t, col));
      break;
    }
    kv[m] = (keyed_row){key, tv, i};
    if (m > 0) sorted &= by_key_then_row(&kv[m - 1], &kv[m]) < 0;
    m++;
  }
  free(tk.rank);
  /* Exports sorted by symbol (and date) are already in order; ORDER BY
   * date, symbol ones are not and are grouped here, once. */
  if (st == GPUDF_OK && !sorted) qsort(kv, (size_t)m, sizeof *kv, by_key_then_row);
  int64_t *p = st == GPUDF_OK ? malloc(sizeof *p * (size_t)(m > 0 ? m : 1)) : NULL;
  if (st == GPUDF_OK && !p)
    st = GDF_ERR(GPUDF_ENOMEM, "out of memory for the series of %lld rows", (long long)nrows);
  for (int64_t i = 0; st == GPUDF_OK && i < m; i++) p[i] = kv[i].row;
  free(kv);
  if (st != GPUDF_OK) return st;
  *perm = p, *nperm = m;
  return GPUDF_OK;
}

/* The series starts in perm (and labels) from the series column. */
static gpudf_status series_starts(const gpudf_table *t, int col, const int64_t *p, int64_t m,
                                  int64_t **starts, int64_t *nseries, char ***labels) {
  bool cat = gpudf_table_column_is_categorical(t, col);
  gdf_colref r = gdf_table_colref(t, col);
  int64_t ns = 0;
  for (int64_t i = 0; i < m; i++)
    ns += i == 0 || series_key(r, p[i]) != series_key(r, p[i - 1]);
  int64_t *st = malloc(sizeof *st * ((size_t)ns + 1));
  char **lab = labels ? calloc((size_t)ns + 1, sizeof *lab) : NULL;
  if (!st || (labels && !lab)) {
    free(st), free(lab);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld series", (long long)ns);
  }
  int64_t q = 0;
  for (int64_t i = 0; i < m; i++) {
    int64_t key = series_key(r, p[i]);
    if (i > 0 && key == series_key(r, p[i - 1])) continue;
    st[q] = i;
    if (lab) {
      char num[32];
      const char *l = cat ? gpudf_table_column_label(t, col, (int32_t)key) : NULL;
      if (!cat) snprintf(num, sizeof num, "%lld", (long long)key);
      lab[q] = strdup(cat ? (l ? l : "") : num);
      if (!lab[q]) {
        free(st);
        gdf_series_free_labels(lab, q);
        return GDF_ERR(GPUDF_ENOMEM, "out of memory for series labels");
      }
    }
    q++;
  }
  st[ns] = m;
  *starts = st, *nseries = ns;
  if (labels) *labels = lab;
  return GPUDF_OK;
}

gpudf_status gdf_series_build(const gpudf_table *t, int col, int time, int64_t **perm,
                              int64_t *nperm, int64_t **starts, int64_t *nseries,
                              char ***labels, int *order_col) {
  *perm = NULL, *starts = NULL, *nperm = 0, *nseries = 0;
  if (labels) *labels = NULL;
  if (order_col) *order_col = -1;
  GDF_TRY(check_series_col(t, col));
  int kept = gdf_series_order_col(t, col, time);
  const int64_t *p;
  int64_t m = 0;
  if (kept >= 0) {
    /* Kept with the table by an earlier sweep: the order without a sort.
     * Rows in a series come first, then -1. */
    p = gdf_table_colref(t, kept).data;
    int64_t nrows = gpudf_table_nrows(t);
    while (m < nrows && p[m] >= 0) m++;
  } else {
    GDF_TRY(sort_rows(t, col, time, perm, nperm));
    p = *perm, m = *nperm;
  }
  gpudf_status st = series_starts(t, col, p, m, starts, nseries, labels);
  if (st != GPUDF_OK) {
    free(*perm);
    *perm = NULL, *nperm = 0;
    return st;
  }
  *nperm = m;
  if (order_col) *order_col = kept;
  return GPUDF_OK;
}

int gdf_series_keep(gpudf_table *t, int col, int time, const int64_t *perm, int64_t nperm) {
  if (t->is_view || t->sealed) return -1;
  int kept = gdf_series_order_col(t, col, time);
  if (kept >= 0) return kept;
  const char *why = gdf_derived_room(t, 1, GPUDF_TYPE_I64);
  char name[GPUDF_NAME_MAX + 1];
  order_name(name, col, time);
  void *d = NULL;
  if (why || gdf_table_alloc_derived(t, name, GPUDF_TYPE_I64, &d) != GPUDF_OK) {
    gdf_log("prepare: the row order of series column %d is not kept with the table (%s); "
            "each sweep orders the rows again", col, why ? why : gpudf_last_error());
    return -1;
  }
  int64_t *o = d, nrows = gpudf_table_nrows(t);
  memcpy(o, perm, sizeof *o * (size_t)nperm);
  for (int64_t i = nperm; i < nrows; i++) o[i] = -1;
  gdf_log("prepare: the row order of series column %d (time column %d) kept as '%s'", col,
          time, name);
  return gdf_table_column_index(t, name);
}

gpudf_status gpudf_sweep_series_count(const gpudf_table *table, int series, int64_t *out) {
  GDF_ENTER();
  if (!out) return GDF_ERR(GPUDF_EINVAL, "out is NULL");
  *out = 0;
  int64_t *perm, *starts, nperm;
  GDF_TRY(gdf_series_build(table, series, -1, &perm, &nperm, &starts, out, NULL, NULL));
  free(perm), free(starts);
  return GPUDF_OK;
}

gpudf_status gpudf_sweep_series_check(const gpudf_table *table, int series, int time,
                                      int64_t *nseries) {
  GDF_ENTER();
  if (nseries) *nseries = 0;
  int64_t *perm, *starts, nperm, ns;
  GDF_TRY(gdf_series_build(table, series, time, &perm, &nperm, &starts, &ns, NULL, NULL));
  free(perm), free(starts);
  if (ns == 0)
    return GDF_ERR(GPUDF_EINVAL, "series = %d: column '%s' has no label in any row", series,
                   gpudf_table_column_name(table, series));
  if (nseries) *nseries = ns;
  return GPUDF_OK;
}

/* Whether every label of categorical column c is an ISO-8601 date or
 * timestamp: a time column, whose labels come in runs in an export sorted
 * by date (and cycle in one sorted by symbol), never the series. */
static bool iso_dated(const gpudf_table *t, int c) {
  char shape[96];
  int32_t nl = gpudf_table_column_nlabels(t, c);
  for (int32_t i = 0; i < nl; i++) {
    const char *l = gpudf_table_column_label(t, c, i);
    if (!iso_shape(l ? l : "", shape, sizeof shape)) return false;
  }
  return nl > 0;
}

int gpudf_sweep_series_guess(const gpudf_table *t, const gpudf_kernel *k) {
  if (!t || !k || !k->row_order) return -1;
  int64_t nrows = gpudf_table_nrows(t);
  int best = -1;
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    int32_t nl = gpudf_table_column_nlabels(t, c);
    if (!gpudf_table_column_is_categorical(t, c) || nl < 2 || iso_dated(t, c)) continue;
    const int32_t *code = gdf_table_colref(t, c).data;
    int64_t changes = 0;
    for (int64_t i = 1; i < nrows; i++) changes += code[i] != code[i - 1];
    bool runs = changes >= 1 && 2 * changes < nrows;
    /* Interleaved (ORDER BY date, symbol): each label comes back after as
     * many rows as there are symbols that day, so the gap before a row's
     * label is the gap before its previous occurrence in most rows (all
     * but where a symbol starts, stops or misses a bar). Random labels
     * keep their gap in about 1 row in 2 * nl. */
    bool cycles = false;
    int64_t *last = runs ? NULL : malloc(sizeof *last * 2 * (size_t)nl);
    if (last) {
      int64_t *gap = last + nl, same = 0, seen = 0;
      for (int32_t l = 0; l < nl; l++) last[l] = -1, gap[l] = -1;
      for (int64_t i = 0; i < nrows; i++) {
        int32_t l = code[i];
        if (l < 0 || l >= nl) continue;
        int64_t g = last[l] >= 0 ? i - last[l] : -1;
        if (g > 0 && gap[l] > 0) seen++, same += g == gap[l];
        gap[l] = g, last[l] = i;
      }
      free(last);
      cycles = 2 * seen >= nrows && 10 * same >= 8 * seen;
    }
    /* Of several candidates, the one with the fewest labels: symbols
     * repeat over many bars, other columns that come in runs or cycle
     * (a non-ISO date, a session) usually have more labels. */
    if ((runs || cycles) && (best < 0 || nl < gpudf_table_column_nlabels(t, best))) best = c;
  }
  return best;
}

/* ----------------------------------------------------- across series */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

gpudf_status gpudf_series_summary_of(const double *results, const unsigned char *state,
                                    int64_t n, int64_t nseries, int nresults, int sharpe,
                                    int total_return, gpudf_series_summary *out) {
  GDF_ENTER();
  if (!results || !state || !out)
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL",
                   !results ? "results" : !state ? "state" : "out");
  if (nresults < 1 || sharpe < 0 || sharpe >= nresults || total_return < 0 ||
      total_return >= nresults)
    return GDF_ERR(GPUDF_EINVAL, "fields sharpe = %d and total_return = %d must be result "
                   "columns 0..%d", sharpe, total_return, nresults - 1);
  if (nseries < 1 || n < 0 || n % nseries != 0)
    return GDF_ERR(GPUDF_EINVAL, "%lld result rows are not whole configs of %lld series",
                   (long long)n, (long long)nseries);
  int64_t S = nseries;
  double *v = malloc(sizeof *v * (size_t)S);
  if (!v) return GDF_ERR(GPUDF_ENOMEM, "out of memory for %lld series", (long long)S);
  for (int64_t k = 0; k < n / S; k++) {
    gpudf_series_summary *o = &out[k];
    int64_t m = 0, ok = 0, pos = 0, rets = 0;
    for (int64_t q = 0; q < S; q++) {
      int64_t i = k * S + q;
      if (state[i] != GPUDF_CONFIG_DONE) continue;
      ok++;
      double s = results[i * nresults + sharpe], tr = results[i * nresults + total_return];
      if (isfinite(s)) v[m++] = s;
      if (!isnan(tr)) rets++, pos += tr > 0.0;
    }
    o->series = S;
    o->series_ok = ok;
    o->series_sharpe = m;
    double sum = 0.0;
    for (int64_t j = 0; j < m; j++) sum += v[j];
    o->mean_sharpe = m ? sum / (double)m : NAN;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    o->median_sharpe = !m ? NAN : m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    o->positive = rets ? (double)pos / (double)rets : NAN;
    o->portfolio_return = NAN;
    o->portfolio_sharpe = NAN;
    o->portfolio_bars = 0;
  }
  free(v);
  return GPUDF_OK;
}

gpudf_status gpudf_sweep_series_summary(const gpudf_sweep_result *r, const double *results,
                                        int nresults, int sharpe, int total_return,
                                        gpudf_series_summary *out) {
  GDF_ENTER();
  if (!r) return GDF_ERR(GPUDF_EINVAL, "result is NULL");
  int64_t S = gpudf_sweep_result_nseries(r);
  GDF_TRY(gpudf_series_summary_of(results, r->state, r->n, S, nresults, sharpe, total_return,
                                  out));
  for (int64_t k = 0; r->portfolio && k < r->n / S; k++) {
    out[k].portfolio_return = r->portfolio[3 * k];
    out[k].portfolio_sharpe = r->portfolio[3 * k + 1];
    out[k].portfolio_bars = (int64_t)r->portfolio[3 * k + 2];
  }
  return GPUDF_OK;
}

/* ------------------------------------------- equal-weight portfolio */

typedef struct stamp_row {
  int64_t key; /* time key */
  int64_t pos; /* position in the series order */
} stamp_row;

static int by_stamp(const void *a, const void *b) {
  const stamp_row *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The dense rank of each row's time among all the rows in a series
 * (stamp[p] for position p of the series order perm), into *nstamps. */
static gpudf_status stamps_of(const gpudf_table *t, int time, const int64_t *perm, int64_t m,
                              int64_t *stamp, int64_t *nstamps) {
  time_keys tk;
  GDF_TRY(time_keys_init(t, time, &tk));
  stamp_row *sr = malloc(sizeof *sr * (size_t)(m > 0 ? m : 1));
  if (!sr) {
    free(tk.rank);
    return GDF_ERR(GPUDF_ENOMEM, "out of memory for the times of %lld rows", (long long)m);
  }
  for (int64_t p = 0; p < m; p++) {
    int64_t key = 0;
    time_key(&tk, perm[p], &key); /* every row of a series has one (sort_rows) */
    sr[p] = (stamp_row){key, p};
  }
  free(tk.rank);
  qsort(sr, (size_t)m, sizeof *sr, by_stamp);
  int64_t ns = 0;
  for (int64_t i = 0; i < m; i++) {
    if (i > 0 && sr[i].key != sr[i - 1].key) ns++;
    stamp[sr[i].pos] = ns;
  }
  *nstamps = m > 0 ? ns + 1 : 0;
  free(sr);
  return GPUDF_OK;
}

void gdf_series_portfolio(gdf_sweep *s, const gpudf_table *t, const double *configs) {
  gpudf_sweep_result *r = s->res;
  const gpudf_kernel *k = s->k;
  char *why = r->portfolio_why;
  size_t wl = sizeof r->portfolio_why;
  if (s->nseries <= 0 || !k->row_order) {
    snprintf(why, wl, "no series: the portfolio is across the series of a series sweep");
    return;
  }
  if (s->o.time < 0) {
    snprintf(why, wl, "no time column: the bars of different series cannot be aligned by "
             "date (give a time column: --time, time=)");
    return;
  }
  if (s->cancelled) {
    snprintf(why, wl, "the sweep was cancelled: a portfolio needs every series");
    return;
  }
  if (!k->bar_returns) {
    snprintf(why, wl, "kernel '%s' does not give per-bar returns", k->name);
    return;
  }
  if (!t->base) {
    snprintf(why, wl, "the table has no host copy to replay the positions on");
    return;
  }
  int64_t S = s->nseries, C = s->n / S, m = s->nperm, T = 0;
  const int64_t *perm = s->sperm ? s->sperm : gdf_table_colref(t, s->order_col).data;
  /* Configs in chunks of K: each series' prices and prefix sums once per
   * chunk (bar_returns), the chunk's sums per time stamp side by side. */
  enum { K = 64 };
  int64_t longest = 0;
  for (int64_t q = 0; q < S; q++)
    if (s->starts[q + 1] - s->starts[q] > longest) longest = s->starts[q + 1] - s->starts[q];
  int64_t *stamp = malloc(sizeof *stamp * (size_t)(m > 0 ? m : 1));
  int64_t *cnt = NULL, first[K];
  double *sum = NULL, *R = NULL, *P = NULL, *out = NULL, *ppy = NULL;
  double ppys[K];
  gpudf_status st = stamp ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  if (st == GPUDF_OK) st = stamps_of(t, s->o.time, perm, m, stamp, &T);
  if (st == GPUDF_OK) {
    size_t uT = (size_t)(T > 0 ? T : 1);
    cnt = malloc(sizeof *cnt * uT * K);
    sum = malloc(sizeof *sum * uT * K);
    P = malloc(sizeof *P * uT);
    R = malloc(sizeof *R * (size_t)(longest > 0 ? longest : 1) * K);
    ppy = malloc(sizeof *ppy * (size_t)(C > 0 ? C : 1));
    out = malloc(sizeof *out * 3 * (size_t)(C > 0 ? C : 1));
    if (!cnt || !sum || !P || !R || !ppy || !out)
      st = GDF_ERR(GPUDF_ENOMEM, "out of memory for a portfolio over %lld time stamps",
                   (long long)T);
  }
  int np = k->nparams;
  for (int64_t c0 = 0; c0 < C && st == GPUDF_OK; c0 += K) {
    int64_t kc = C - c0 < K ? C - c0 : K;
    for (int64_t j = 0; j < T * kc; j++) cnt[j] = 0, sum[j] = 0.0;
    for (int64_t c = 0; c < kc; c++) ppy[c0 + c] = NAN;
    for (int64_t q = 0; q < S && st == GPUDF_OK; q++) {
      int64_t a = s->starts[q], len = s->starts[q + 1] - a;
      st = k->bar_returns(t, perm + a, len, configs + (c0 * S + q) * np, kc, S * np, R, first,
                          ppys);
      for (int64_t c = 0; c < kc && st == GPUDF_OK; c++) {
        /* Rows that did not finish are left out, as from the Sharpe aggregates. */
        if (r->state[(c0 + c) * S + q] != GPUDF_CONFIG_DONE) continue;
        ppy[c0 + c] = ppys[c];
        const double *Rc = R + c * len;
        double *sc = sum + c * T;
        int64_t *nc = cnt + c * T;
        /* Rows of one time stamp in a series (equal times) compound into
         * one return at that stamp. */
        for (int64_t j = first[c] + 1; j < len;) {
          int64_t ts = stamp[a + j];
          double ret = Rc[j++];
          if (j < len && stamp[a + j] == ts) {
            double g = 1.0 + ret;
            while (j < len && stamp[a + j] == ts) g *= 1.0 + Rc[j++];
            ret = g - 1.0;
          }
          sc[ts] += ret;
          nc[ts]++;
        }
      }
    }
    /* The portfolio's return at each stamp where some series has one: the
     * mean of those; its total return and Sharpe as the kernel's. */
    for (int64_t c = 0; c < kc && st == GPUDF_OK; c++) {
      int64_t nb = 0;
      double equity = 1.0;
      for (int64_t j = 0; j < T; j++) {
        if (!cnt[c * T + j]) continue;
        P[nb] = sum[c * T + j] / (double)cnt[c * T + j];
        equity *= 1.0 + P[nb++];
      }
      double sharpe = NAN;
      if (nb >= 2) {
        long double mean = 0.0L, ss = 0.0L;
        for (int64_t j = 0; j < nb; j++) mean += P[j];
        mean /= (long double)nb;
        for (int64_t j = 0; j < nb; j++) ss += (P[j] - mean) * (P[j] - mean);
        long double var = ss / (long double)(nb - 1);
        if (var > 0.0L) sharpe = (double)(mean / sqrtl(var) * sqrtl((long double)ppy[c0 + c]));
      }
      out[3 * (c0 + c)] = nb ? equity - 1.0 : NAN;
      out[3 * (c0 + c) + 1] = sharpe;
      out[3 * (c0 + c) + 2] = (double)nb;
    }
  }
  free(stamp), free(cnt), free(sum), free(P), free(R), free(ppy);
  if (st != GPUDF_OK) {
    free(out);
    snprintf(why, wl, "%s", gpudf_last_error());
    return;
  }
  r->portfolio = out;
  why[0] = '\0';
}

const char *gpudf_sweep_series_portfolio_reason(const gpudf_sweep_result *r) {
  if (!r) return "result is NULL";
  return r->portfolio ? "" : r->portfolio_why;
}
