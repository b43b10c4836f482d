/*
 * fuzz_csv.c - libFuzzer target: gpudf_table_read_csv on whatever bytes the
 * fuzzer writes to a file. It must answer a status; on GPUDF_OK the table
 * must hold what the header documents (nrows >= 1, every column readable for
 * nrows, bools 0/1, category codes in -1..nlabels-1 over a sorted
 * dictionary); on failure the status must be one of the documented ones and
 * gpudf_last_error() must say why.
 *
 * The first input byte picks the options of the second read (the first one
 * uses the defaults); the rest is the file:
 *   bits 0-1: delimiter , ; TAB |
 *   bits 2-4: forced type (0 none, 1..4 = gpudf_csv_type) of the header's
 *             first field, or of a name that is not a column (5..7)
 *   bits 5-6: the reader guesses the types from the first 1..4 rows in a
 *             third read (GPUDF_CSV_INFER_ROWS; default options), which must
 *             give what the first read gave: the same table, or the same
 *             status and message.
 *   bit 7:    the chunks of the parallel reader: 1 byte (0) or 5 bytes (1).
 * Both option sets are also read by the parallel reader in chunks that
 * small (GPUDF_CSV_CHUNK_BYTES, 2 threads) against one thread without
 * chunks: the same table, or the same status and message. Those four reads
 * (two of them starting threads) cost more than the rest together, so they
 * run for one input in PAR_EVERY, chosen by a hash of the input: the same
 * inputs every run (a finding reproduces), and a 15-second run executes
 * several times more inputs.
 */
#include <gpudf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* A memfd: no file system traffic, and the path works for open(). */
  g_fd = memfd_create("fuzz-csv", 0);
  if (g_fd < 0) abort();
  snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
  return 0;
}

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_csv: %s (%s)\n", what, detail ? detail : "");
  abort();
}

static int documented(gpudf_status st) {
  switch (st) {
  case GPUDF_EINVAL:       /* malformed content */
  case GPUDF_ENAMETOOLONG: /* column name or label too long */
  case GPUDF_EOVERFLOW:    /* sizes overflow */
  case GPUDF_ENOMEM:
  case GPUDF_ENOSPC:       /* /dev/shm full */
  case GPUDF_EIO:
    return 1;
  default:
    return 0;
  }
}

static void check_table(const gpudf_table *t) {
  int64_t nrows = gpudf_table_nrows(t);
  int ncols = gpudf_table_ncols(t);
  if (nrows < 1) fail("a table with no rows", NULL);
  if (ncols < 1 || ncols > GPUDF_MAX_COLUMNS) fail("bad column count", NULL);
  volatile uint8_t sink = 0;
  for (int c = 0; c < ncols; c++) {
    const char *name = gpudf_table_column_name(t, c);
    if (!name || strlen(name) > GPUDF_NAME_MAX) fail("bad column name", name);
    int idx = -1;
    /* Names are unique: find_column gives this very column back. */
    if (gpudf_table_find_column(t, name, &idx) != GPUDF_OK || idx != c)
      fail("column name not found or not unique", name);
    gpudf_type type = gpudf_table_column_type(t, c);
    size_t w = gpudf_type_size(type);
    const uint8_t *p = gpudf_table_column_data(t, c);
    if (w == 0 || !p) fail("column without type or data", name);
    size_t bytes = (size_t)nrows * w;
    for (size_t i = 0; i < bytes; i++) sink ^= p[i];
    if (type == GPUDF_TYPE_BOOL)
      for (int64_t i = 0; i < nrows; i++)
        if (p[i] > 1) fail("bool value other than 0/1", name);
    int32_t nl = gpudf_table_column_nlabels(t, c);
    if (!gpudf_table_column_is_categorical(t, c)) {
      if (nl != 0) fail("labels on a plain column", name);
      continue;
    }
    if (type != GPUDF_TYPE_I32 || nl < 0 || nl > GPUDF_LABELS_MAX)
      fail("bad categorical column", name);
    const int32_t *codes = (const int32_t *)p;
    for (int64_t i = 0; i < nrows; i++)
      if (codes[i] < -1 || codes[i] >= nl) fail("category code outside the dictionary", name);
    if (gpudf_table_column_label(t, c, -1) || gpudf_table_column_label(t, c, nl))
      fail("label of an out-of-range code", name);
    const char *prev = NULL;
    for (int32_t k = 0; k < nl; k++) {
      const char *l = gpudf_table_column_label(t, c, k);
      if (!l || strlen(l) > GPUDF_LABEL_MAX) fail("bad label", name);
      /* Documented: distinct labels, sorted bytewise. */
      if (prev && strcmp(prev, l) >= 0) fail("labels not sorted or not distinct", l);
      prev = l;
    }
  }
  (void)sink;
}

/* Reads the file; the checked table on GPUDF_OK, else NULL with the status
 * in *st and the message in msg. */
static gpudf_table *read_once(const gpudf_csv_options *opts, gpudf_status *st_out, char *msg,
                              size_t len) {
  gpudf_table *t = NULL;
  gpudf_status st = gpudf_table_read_csv(g_path, opts, &t);
  *st_out = st;
  msg[0] = '\0';
  if (st == GPUDF_OK) {
    if (!t) fail("GPUDF_OK without a table", NULL);
    check_table(t);
    return t;
  }
  if (t) fail("a table handed out with an error", gpudf_status_str(st));
  /* A forced type naming a column the header lacks: "no column of that
   * name". The file itself is always there. */
  int no_column = st == GPUDF_ENOENT && opts && opts->ntypes > 0;
  if (!documented(st) && !no_column) fail("undocumented status", gpudf_status_str(st));
  if (gpudf_last_error()[0] == '\0') fail("a failure that does not say why", NULL);
  snprintf(msg, len, "%s", gpudf_last_error());
  return NULL;
}

/* Two reads of the same file must agree on everything. */
static void same_tables(const gpudf_table *a, const gpudf_table *b) {
  if (gpudf_table_nrows(a) != gpudf_table_nrows(b) || gpudf_table_ncols(a) != gpudf_table_ncols(b))
    fail("the reads differ in shape", NULL);
  size_t nrows = (size_t)gpudf_table_nrows(a);
  for (int c = 0; c < gpudf_table_ncols(a); c++) {
    const char *name = gpudf_table_column_name(a, c);
    gpudf_type type = gpudf_table_column_type(a, c);
    if (strcmp(name, gpudf_table_column_name(b, c)) != 0 || type != gpudf_table_column_type(b, c))
      fail("the reads differ in a column's name or type", name);
    if (memcmp(gpudf_table_column_data(a, c), gpudf_table_column_data(b, c),
               nrows * gpudf_type_size(type)) != 0)
      fail("the reads differ in a column's values", name);
    int32_t nl = gpudf_table_column_nlabels(a, c);
    if (nl != gpudf_table_column_nlabels(b, c)) fail("the reads differ in labels", name);
    for (int32_t k = 0; k < nl; k++)
      if (strcmp(gpudf_table_column_label(a, c, k), gpudf_table_column_label(b, c, k)) != 0)
        fail("the reads differ in a label", name);
  }
}

/* The header's first field: up to the delimiter or line end, BOM and
 * quotes dropped, so that a forced type mostly names a real column. */
static void first_field(const uint8_t *d, size_t n, char delim, char *out, size_t len) {
  size_t i = 0, o = 0;
  if (n >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) i = 3;
  for (; i < n && o + 1 < len; i++) {
    if (d[i] == (uint8_t)delim || d[i] == '\n' || d[i] == '\r') break;
    if (d[i] != '"') out[o++] = (char)d[i];
  }
  out[o] = '\0';
}

/* The read of opts (the defaults when NULL) on one thread, then in chunks
 * on two: they must agree. */
static void read_both_ways(const gpudf_csv_options *opts, const char *chunk) {
  gpudf_csv_options o;
  if (opts) o = *opts;
  else gpudf_csv_options_init(&o);
  static char msg[1024], msg_par[1024];
  gpudf_status st, st_par;
  o.threads = 1;
  gpudf_table *t = read_once(&o, &st, msg, sizeof msg);
  setenv("GPUDF_CSV_CHUNK_BYTES", chunk, 1);
  o.threads = 2;
  gpudf_table *par = read_once(&o, &st_par, msg_par, sizeof msg_par);
  unsetenv("GPUDF_CSV_CHUNK_BYTES");
  if (st != st_par || strcmp(msg, msg_par) != 0) fail("the parallel read differs", msg_par);
  if (t) same_tables(t, par);
  gpudf_table_free(t);
  gpudf_table_free(par);
}

enum { PAR_EVERY = 4 };

/* FNV-1a of the input: which inputs the parallel reads check. */
static uint32_t input_hash(const uint8_t *data, size_t size) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, body, n, 0) != (ssize_t)n) abort();

  gpudf_status st, st_guess;
  static char msg[1024], msg_guess[1024];
  gpudf_table *t = read_once(NULL, &st, msg, sizeof msg);
  char rows[2] = {(char)('1' + ((mode >> 5) & 3)), '\0'};
  setenv("GPUDF_CSV_INFER_ROWS", rows, 1);
  gpudf_table *guess = read_once(NULL, &st_guess, msg_guess, sizeof msg_guess);
  unsetenv("GPUDF_CSV_INFER_ROWS");
  if (st != st_guess || strcmp(msg, msg_guess) != 0)
    fail("guessed types change the result", msg_guess);
  if (t) same_tables(t, guess);
  gpudf_table_free(t);
  gpudf_table_free(guess);

  static const char delims[4] = {',', ';', '\t', '|'};
  gpudf_csv_options opts;
  gpudf_csv_options_init(&opts);
  opts.delimiter = delims[mode & 3];
  int forced = (mode >> 2) & 7;
  char name[80];
  gpudf_csv_column_type ct;
  if (forced) {
    if (forced <= 4) first_field(body, n, opts.delimiter, name, sizeof name);
    else snprintf(name, sizeof name, "no such column %d", forced);
    ct.name = name;
    ct.type = (gpudf_csv_type)(forced <= 4 ? forced : forced - 4);
    opts.ntypes = 1;
    opts.types = &ct;
  }
  gpudf_table_free(read_once(&opts, &st, msg, sizeof msg));

  if (input_hash(data, size) % PAR_EVERY != 0) return 0;
  const char *chunk = mode & 0x80 ? "5" : "1";
  read_both_ways(NULL, chunk);
  read_both_ways(&opts, chunk);
  return 0;
}
