/*
 * fuzz_config.c - libFuzzer target: config validation and the CPU kernels.
 * The bytes become a kernel and a batch of configs (any numbers: NaN, inf,
 * huge, negative, column indices out of range, columns of the wrong type)
 * over a small table built once. gpudf_validate must answer GPUDF_OK or
 * GPUDF_EINVAL with a message; a valid batch must run (gpudf_run) into
 * results that keep the documented promises: counts are whole numbers in
 * 0..rows, a mean/min/max is NaN exactly when its count is 0, histogram bins
 * add up to at most the rows, and so on; every column it reads is of a type
 * its parameter accepts (a categorical one only as labels); the same batch
 * run again gives the same bits, each config run alone gives the same
 * counts, and a row-split sweep of the batch (2..41 row ranges, some empty)
 * the same counts, min and max, bit for bit.
 *
 * Input: byte 0 the kernel (index modulo the kernel count), byte 1 the batch
 * size (1 + b % 6), then per value a tag byte and its payload:
 *   0: 8 raw bytes (any double)   1: a small integer (next byte, signed)
 *   2: NaN   3: +-inf (next byte's sign bit)   4: +-1e300 or +-DBL_MAX
 *   5: the default   6: a column index (next byte - 2: out of range too)
 *   7: the default plus a small step (next byte, signed, / 4)
 * Values missing at the end take the defaults.
 */
#include <gpudf.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 40, MAX_BATCH = 6, MAX_PARAMS = 64 };

static gpudf_table *g_table;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  double x[ROWS], price[ROWS];
  float f[ROWS];
  int32_t key[ROWS], codes[ROWS];
  int64_t k64[ROWS];
  uint8_t b[ROWS];
  for (int i = 0; i < ROWS; i++) {
    x[i] = i % 9 == 4 ? NAN : (double)((i * 37) % 201 - 100) / 4.0;
    price[i] = 100.0 + (double)((i * 13) % 17) - 8.0;
    f[i] = (float)(i % 5) - 2.5f;
    key[i] = i % 12 - 2; /* -2..9: some keys outside [0, groups) */
    codes[i] = i % 4 - 1; /* -1 = missing */
    k64[i] = i % 4;
    b[i] = (uint8_t)(i % 3 == 0);
  }
  static const char *const labels[] = {"lo", "mid", "hi"};
  if (gpudf_table_create(ROWS, &g_table) ||
      gpudf_table_add_column(g_table, "x", GPUDF_TYPE_F64, x) ||
      gpudf_table_add_column(g_table, "price", GPUDF_TYPE_F64, price) ||
      gpudf_table_add_column(g_table, "key", GPUDF_TYPE_I32, key) ||
      gpudf_table_add_column(g_table, "k64", GPUDF_TYPE_I64, k64) ||
      gpudf_table_add_column(g_table, "f", GPUDF_TYPE_F32, f) ||
      gpudf_table_add_column(g_table, "b", GPUDF_TYPE_BOOL, b) ||
      gpudf_table_add_categorical(g_table, "cat", codes, 3, labels)) {
    fprintf(stderr, "fuzz_config: setup failed: %s\n", gpudf_last_error());
    abort();
  }
  return 0;
}

static void fail(const char *what, const char *kernel, double v) {
  fprintf(stderr, "fuzz_config: %s: %s (%.17g)\n", kernel, what, v);
  abort();
}

typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static int next(reader *r, uint8_t *out) {
  if (!r->left) return 0;
  *out = *r->p++;
  r->left--;
  return 1;
}

static double value(reader *r, const gpudf_param_info *pi) {
  uint8_t tag, b = 0;
  if (!next(r, &tag)) return pi->def;
  switch (tag % 8) {
  case 0: {
    double v = pi->def;
    if (r->left >= sizeof v) {
      memcpy(&v, r->p, sizeof v);
      r->p += sizeof v, r->left -= sizeof v;
    }
    return v;
  }
  case 1: next(r, &b); return (double)(int8_t)b;
  case 2: return NAN;
  case 3: next(r, &b); return b & 0x80 ? -INFINITY : INFINITY;
  case 4: next(r, &b); return (b & 0x80 ? -1 : 1) * (b & 1 ? DBL_MAX : 1e300);
  case 5: return pi->def;
  case 6: next(r, &b); return (double)b - 2.0;
  default: next(r, &b); return pi->def + (double)(int8_t)b / 4.0;
  }
}

static int whole(double v, double max) { return v >= 0 && v <= max && v == floor(v); }

/* The documented promises of one config's results. */
static void check_results(const char *name, const double *r, int nres) {
  if (strcmp(name, "filter_agg") == 0) {
    double n = r[0];
    if (!whole(n, ROWS)) fail("count is not a whole number in 0..rows", name, n);
    if (!isfinite(r[1])) fail("sum is not finite", name, r[1]);
    for (int i = 2; i <= 4; i++)
      if (isnan(r[i]) != (n == 0)) fail("mean/min/max NaN when count > 0 or not when 0", name, r[i]);
    if (n > 0 && !(r[3] <= r[2] * (1 + 1e-12) + 1e-9 && r[2] <= r[4] * (1 + 1e-12) + 1e-9))
      fail("mean outside [min, max]", name, r[2]);
    if (isnan(r[5]) != (n < 2) || (n >= 2 && !(r[5] >= 0)))
      fail("std NaN when count >= 2, not NaN when < 2, or negative", name, r[5]);
  } else if (strcmp(name, "groupby_agg") == 0) {
    double total = 0;
    for (int g = 0; g + 5 <= nres; g += 5) {
      double n = r[g];
      if (!whole(n, ROWS)) fail("count is not a whole number in 0..rows", name, n);
      if (!isfinite(r[g + 1])) fail("sum is not finite", name, r[g + 1]);
      for (int i = 2; i <= 4; i++)
        if (isnan(r[g + i]) != (n == 0)) fail("mean/min/max NaN when count > 0 or not when 0", name, r[g + i]);
      total += n;
    }
    if (total > ROWS) fail("groups count more rows than the table has", name, total);
  } else if (strcmp(name, "histogram") == 0) {
    double total = 0;
    for (int i = 0; i < nres; i++) {
      if (!whole(r[i], ROWS)) fail("bin count is not a whole number in 0..rows", name, r[i]);
      total += r[i];
    }
    if (total > ROWS) fail("bins count more rows than the table has", name, total);
  } else if (strcmp(name, "ma_crossover") == 0) {
    if (!whole(r[3], ROWS)) fail("trades is not a whole number in 0..rows", name, r[3]);
    if (!(r[4] >= 0 && r[4] <= 1)) fail("exposure outside [0, 1]", name, r[4]);
  } else if (strcmp(name, "bootstrap") == 0) {
    if (isinf(r[0])) fail("statistic is infinite", name, r[0]);
  }
}

/* Counts must not depend on the batch a config runs in. */
static int is_count(const char *name, int i) {
  if (strcmp(name, "filter_agg") == 0) return i == 0;
  if (strcmp(name, "groupby_agg") == 0) return i % 5 == 0;
  if (strcmp(name, "histogram") == 0) return 1;
  if (strcmp(name, "ma_crossover") == 0) return i == 3;
  return 0;
}

/* A valid config reads every column as a type its parameter accepts: a
 * categorical column (codes of labels) never where numbers are needed, and
 * a categorical filter only with all, eq or ne against one of its codes. */
static void check_column_types(const gpudf_kernel *k, const char *name, const double *configs,
                               int64_t n, int np) {
  int filter = -1, op = -1, lo = -1;
  gpudf_kernel_param_index(k, "filter_col", &filter);
  gpudf_kernel_param_index(k, "op", &op);
  gpudf_kernel_param_index(k, "lo", &lo);
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < np; j++) {
      int accepts = gpudf_kernel_param_accepts(k, j);
      if (!accepts) continue;
      int col = (int)configs[i * np + j];
      int bit = gpudf_table_column_is_categorical(g_table, col)
                    ? GPUDF_ACCEPT_CATEGORICAL
                    : 1 << gpudf_table_column_type(g_table, col);
      if (!(accepts & bit)) fail("a valid config reads a column of a type not accepted", name, col);
      if (j == filter && bit == GPUDF_ACCEPT_CATEGORICAL && op >= 0) {
        int o = (int)configs[i * np + op];
        double code = configs[i * np + lo];
        if (o != 0 && o != 5 && o != 6) fail("a categorical filter compared by order", name, o);
        if (o != 0 && !(code == floor(code) && code >= -1 &&
                        code < gpudf_table_column_nlabels(g_table, col)))
          fail("a categorical filter compared with a value that is no code", name, code);
      }
    }
}

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Whether result i of config is a count, a min or a max: bit-identical in
 * a row-split sweep. */
static int exact_field(const gpudf_kernel *k, const char *name, const double *config, int i) {
  gpudf_result_info info;
  if (is_count(name, i)) return 1;
  if (gpudf_kernel_result(k, config, i, &info) != GPUDF_OK) return 0;
  return strncmp(info.name, "min", 3) == 0 || strncmp(info.name, "max", 3) == 0;
}

/* The batch as a row-split sweep in this process (docs/sweep.md, "Row-split
 * sweeps"): 2..41 ranges over the 40 rows, some of them empty, merged by
 * the kernel's merge (a kernel without one runs as claims). Every config
 * must end DONE (or fail for memory), its counts, min and max bit-identical
 * to the unsplit run's. */
static void check_split(const gpudf_kernel *k, const char *name, const double *configs,
                        int64_t n, int np, const double *want, double *got, int nres,
                        int pick) {
  char ranges[16];
  snprintf(ranges, sizeof ranges, "%d", 2 + pick % 40);
  setenv("GPUDF_SWEEP_SPLIT", ranges, 1);
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_sweep_result *sr = NULL;
  gpudf_status st = gpudf_sweep(g_table, k, configs, n, got, &o, &sr);
  unsetenv("GPUDF_SWEEP_SPLIT");
  if (st != GPUDF_OK) {
    if (st != GPUDF_ENOMEM) fail("a row-split sweep of a valid batch failed", name, st);
    gpudf_sweep_result_free(sr);
    return;
  }
  for (int64_t c = 0; c < n; c++) {
    if (gpudf_sweep_result_state(sr, c) != GPUDF_CONFIG_DONE) {
      if (gpudf_sweep_result_error(sr, c) != GPUDF_ENOMEM)
        fail("a config of a row-split sweep failed", name, (double)c);
      continue;
    }
    for (int i = 0; i < nres; i++) {
      double a = want[c * nres + i], b = got[c * nres + i];
      if (exact_field(k, name, configs + c * np, i) && memcmp(&a, &b, sizeof a) != 0 &&
          !(isnan(a) && isnan(b)))
        fail("a count, min or max differs between a row-split sweep and one run", name,
             (double)i);
    }
  }
  gpudf_sweep_result_free(sr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const gpudf_kernel *k = gpudf_kernel_at(data[0] % gpudf_kernel_count());
  const char *name = gpudf_kernel_name(k);
  int64_t n = 1 + data[1] % MAX_BATCH;
  int np = gpudf_kernel_nparams(k);
  if (np < 0 || np > MAX_PARAMS) abort();
  reader r = {data + 2, size - 2};
  double configs[MAX_BATCH * MAX_PARAMS];
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < np; j++) {
      gpudf_param_info pi;
      if (gpudf_kernel_param(k, j, &pi) != GPUDF_OK) abort();
      configs[i * np + j] = value(&r, &pi);
    }

  /* The width of a config not validated yet (what a binding asks before it
   * allocates): a count, or 0 with a message; never undefined behaviour. */
  int width0 = gpudf_kernel_nresults(k, configs);
  if (width0 < 0) fail("negative result width", name, width0);
  if (width0 == 0 && gpudf_last_error()[0] == '\0') fail("width 0 without a message", name, 0);
  gpudf_result_info ri0;
  gpudf_kernel_result(k, configs, 0, &ri0);

  gpudf_status st = gpudf_validate(g_table, k, configs, n);
  if (st != GPUDF_OK) {
    if (st != GPUDF_EINVAL) fail("validate answered a status other than EINVAL", name, st);
    if (gpudf_last_error()[0] == '\0') fail("validate failed without a message", name, st);
    /* gpudf_run validates first: the same answer, and nothing written. */
    if (gpudf_run(g_table, k, configs, n, NULL) != st) fail("run disagrees with validate", name, st);
    return 0;
  }
  check_column_types(k, name, configs, n, np);
  int nres = gpudf_kernel_nresults(k, configs);
  if (nres < 1) fail("a valid config with no results", name, nres);
  for (int i = 0; i < nres; i += nres > 8 ? nres / 4 + 1 : 1) {
    gpudf_result_info ri;
    if (gpudf_kernel_result(k, configs, i, &ri) != GPUDF_OK || !ri.name[0])
      fail("result without a name", name, i);
  }
  size_t width = (size_t)nres;
  double *res = malloc(sizeof(double) * width * (size_t)n * 3);
  double *again = res + width * (size_t)n, *one = again + width * (size_t)n;
  for (size_t i = 0; i < width * (size_t)n * 3; i++) res[i] = 12345.0;
  st = gpudf_run(g_table, k, configs, n, res);
  if (st != GPUDF_OK) {
    /* Only running out of memory may still fail after validation. */
    if (st != GPUDF_ENOMEM || gpudf_last_error()[0] == '\0')
      fail("a validated batch failed to run", name, st);
    free(res);
    return 0;
  }
  if (gpudf_run(g_table, k, configs, n, again) != GPUDF_OK) fail("second run failed", name, 0);
  for (size_t i = 0; i < width * (size_t)n; i++)
    if (memcmp(&res[i], &again[i], sizeof(double)) != 0 && !same(res[i], again[i]))
      fail("the same batch gave another result", name, (double)i);
  for (int64_t c = 0; c < n; c++) {
    const double *rc = res + (size_t)c * width;
    check_results(name, rc, nres);
    if (n > 1) {
      if (gpudf_run(g_table, k, configs + c * np, 1, one) != GPUDF_OK)
        fail("a config of a valid batch failed alone", name, (double)c);
      for (int i = 0; i < nres; i++)
        if (is_count(name, i) && !same(rc[i], one[i]))
          fail("a count differs between the batch and the config alone", name, (double)i);
    }
  }
  check_split(k, name, configs, n, np, res, one, nres, data[1] / MAX_BATCH);
  free(res);
  return 0;
}
