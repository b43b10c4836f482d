/*
 * fuzz_grid.c - libFuzzer target: gpudf-sweep's grid/where/--set parser
 * (samples/sweep_grid.c) on fuzzer text, against the parameters of every
 * kernel and a small table shaped like gpudf-sweep's synthetic one.
 *
 * Input: byte 0 picks the kernel (index modulo the kernel count), byte 1 the
 * mode (bit 0: the third section is a --configs CSV file for
 * sg_build_from_table instead of a --set value, with '|' for its line
 * ends). The rest is split at '\n'
 * into sections: the --grid spec, the --where expression, then --set
 * NAME=VALUE strings (at most 8).
 *
 * Either the parser fails with a message in err, or every config it builds
 * passes sg_check_value and survives sg_format_value -> sg_parse_value
 * unchanged (what gpudf-sweep prints can be fed back to it). Leaks and
 * memory errors are ASan's to find.
 */
#include <gpudf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sweep_grid.h"

enum { ROWS = 64, MAX_SETS = 8, MAX_CONFIGS = 20000 };

static gpudf_table *g_table;
static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static const char *const names[] = {"price", "volume", "key", "x", "y"};
  double v[ROWS];
  int32_t k[ROWS];
  for (int i = 0; i < ROWS; i++) v[i] = 100.0 + (i * 37 % 11) - 5.0, k[i] = i % 7;
  if (gpudf_table_create(ROWS, &g_table) != GPUDF_OK) abort();
  for (int c = 0; c < 5; c++)
    if (gpudf_table_add_column(g_table, names[c], c == 2 ? GPUDF_TYPE_I32 : GPUDF_TYPE_F64,
                               c == 2 ? (const void *)k : (const void *)v) != GPUDF_OK)
      abort();
  g_fd = memfd_create("fuzz-grid", 0);
  if (g_fd < 0) abort();
  snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
  return 0;
}

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_grid: %s (%s)\n", what, detail ? detail : "");
  abort();
}

static void check_configs(const gpudf_kernel *k, const double *configs, int64_t n) {
  int np = gpudf_kernel_nparams(k);
  if (n < 0 || n > MAX_CONFIGS) fail("config count outside 0..max_configs", NULL);
  if ((n == 0) != (configs == NULL)) fail("configs must be NULL exactly when n is 0", NULL);
  char err[512], text[128];
  for (int64_t i = 0; i < n; i++)
    for (int p = 0; p < np; p++) {
      double v = configs[i * np + p], back = 0;
      err[0] = '\0';
      if (sg_check_value(k, g_table, p, v, err, sizeof err) != 0)
        fail("a built config breaks its parameter's rule", err);
      sg_format_value(k, g_table, p, v, text, sizeof text);
      if (sg_parse_value(k, g_table, p, text, &back, err, sizeof err) != 0)
        fail("a formatted value does not parse back", text);
      if (back != v) fail("a formatted value parses back to another value", text);
    }
  /* What gpudf-sweep does next: the library's own validation must answer a
   * status with a message, never crash, on whatever passed the parser. */
  if (n > 0 && gpudf_validate(g_table, k, configs, n) != GPUDF_OK &&
      gpudf_last_error()[0] == '\0')
    fail("gpudf_validate failed without a message", NULL);
}

static void check_error(int rc, const char *err, size_t errlen) {
  if (rc == 0) return;
  if (rc != -1) fail("return code other than 0 or -1", NULL);
  if (err[0] == '\0') fail("an error without a message", NULL);
  if (memchr(err, '\0', errlen) == NULL) fail("message not terminated", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 4096) return 0;
  const gpudf_kernel *k = gpudf_kernel_at(data[0] % gpudf_kernel_count());
  int from_table = data[1] & 1;
  /* Sections as NUL-terminated copies; a NUL inside one ends it early, as
   * it would on a command line. */
  char *text = malloc(size - 1);
  memcpy(text, data + 2, size - 2);
  text[size - 2] = '\0';
  char *sec[2 + MAX_SETS + 1] = {0};
  int nsec = 0;
  for (char *s = text; s && nsec < (int)(sizeof sec / sizeof sec[0]); nsec++) {
    sec[nsec] = s;
    s = strchr(s, '\n');
    if (s) *s++ = '\0';
  }
  sg_request req = {sec[0], sec[1], 0, NULL, MAX_CONFIGS};
  const char *sets[MAX_SETS];
  int first_set = 2;
  gpudf_table *cfg = NULL;
  if (from_table && sec[2]) {
    size_t len = strlen(sec[2]);
    for (size_t i = 0; i < len; i++)
      if (sec[2][i] == '|') sec[2][i] = '\n';
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, sec[2], len, 0) != (ssize_t)len) abort();
    if (gpudf_table_read_csv(g_path, NULL, &cfg) != GPUDF_OK) cfg = NULL;
    first_set = 3;
  }
  for (int i = first_set; i < nsec && req.nsets < MAX_SETS; i++) sets[req.nsets++] = sec[i];
  req.sets = sets;

  char err[256];
  double *configs = (double *)1;
  int64_t n = -1;
  err[0] = '\0';
  int rc = cfg ? sg_build_from_table(k, g_table, cfg, &req, &configs, &n, err, sizeof err)
               : sg_build_grid(k, g_table, &req, &configs, &n, err, sizeof err);
  check_error(rc, err, sizeof err);
  if (rc == 0) check_configs(k, configs, n);
  else if (configs != NULL || n != 0) fail("outputs not cleared on error", err);
  free(configs);

  /* One value on its own, as --set parses it. */
  if (sec[0] && gpudf_kernel_nparams(k) > 0) {
    double v;
    int p = data[1] % gpudf_kernel_nparams(k);
    err[0] = '\0';
    rc = sg_parse_value(k, g_table, p, sec[0], &v, err, sizeof err);
    check_error(rc, err, sizeof err);
    if (rc == 0 && sg_check_value(k, g_table, p, v, err, sizeof err) != 0)
      fail("a parsed value breaks its parameter's rule", err);
  }
  gpudf_table_free(cfg);
  free(text);
  return 0;
}
