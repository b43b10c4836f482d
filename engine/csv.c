/* csv.c - gpudf_table_read_csv: two passes over the mmap'd file. The first
 * checks the syntax, counts rows and infers each column's type; the second
 * writes the values straight into the columns of a table created for that
 * row count, so the data exists once, in the shared arena. Categorical
 * columns also build a dictionary (engine/csv_dict.c). */
#include "csv.h"
#include "csv_number.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void gpudf_csv_options_init(gpudf_csv_options *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->version = GPUDF_CSV_OPTIONS_VERSION;
  opts->delimiter = ',';
}

/* ------------------------------------------------------------ tokenizer */

typedef struct reader {
  const char *path;
  const char *p, *end;
  char delim;
  int64_t line;      /* of the current position, 1-based */
  int64_t rec_line;  /* where the current record starts */
  char *scratch;     /* unescaped quoted fields */
  size_t scratch_cap;
} reader;

typedef struct field {
  const char *s;
  size_t n;
  bool quoted;
} field;

/* Copies a quoted field without its doubled quotes into the scratch buffer. */
static gpudf_status unescape(reader *r, field *f) {
  if (f->n + 1 > r->scratch_cap) {
    size_t cap = f->n + 1 > 2 * r->scratch_cap ? f->n + 1 : 2 * r->scratch_cap;
    char *b = realloc(r->scratch, cap);
    if (!b) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
    r->scratch = b;
    r->scratch_cap = cap;
  }
  size_t k = 0;
  for (size_t i = 0; i < f->n; i++) {
    r->scratch[k++] = f->s[i];
    if (f->s[i] == '"') i++; /* the second of a pair */
  }
  f->s = r->scratch;
  f->n = k;
  return GPUDF_OK;
}

/* Reads the next field; *last tells whether it ended its record. */
static gpudf_status next_field(reader *r, int col, field *f, bool *last) {
  const char *p = r->p, *end = r->end;
  f->quoted = false;
  if (p < end && *p == '"') {
    int64_t start_line = r->line;
    bool escaped = false;
    const char *s = ++p;
    for (;;) {
      const char *q = memchr(p, '"', (size_t)(end - p));
      for (const char *c = memchr(p, '\n', (size_t)((q ? q : end) - p)); c;
           c = memchr(c + 1, '\n', (size_t)((q ? q : end) - c - 1)))
        r->line++;
      if (!q)
        return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: unterminated quoted field (the "
                       "closing '\"' is missing)", r->path, start_line, col + 1);
      if (q + 1 < end && q[1] == '"') {
        escaped = true;
        p = q + 2;
        continue;
      }
      f->s = s;
      f->n = (size_t)(q - s);
      p = q + 1;
      break;
    }
    f->quoted = true;
    if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n') p++;
    if (p < end && *p != r->delim && *p != '\n')
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: expected '%c' or a line end after the "
                     "closing quote, got '%c'", r->path, r->line, col + 1, r->delim, *p);
    if (escaped) GDF_TRY(unescape(r, f));
  } else {
    const char *s = p;
    while (p < end && *p != r->delim && *p != '\n') p++;
    f->s = s;
    f->n = (size_t)(p - s);
    if (f->n && s[f->n - 1] == '\r' && (p == end || *p == '\n')) f->n--;
  }
  *last = p == end || *p == '\n';
  if (p < end) {
    if (*p == '\n') r->line++;
    p++;
  }
  r->p = p;
  return GPUDF_OK;
}

/* Skips blank lines; false at the end of the file. */
static bool next_record(reader *r) {
  while (r->p < r->end) {
    if (*r->p == '\n') {
      r->p++;
      r->line++;
    } else if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n') {
      r->p += 2;
      r->line++;
    } else {
      r->rec_line = r->line;
      return true;
    }
  }
  return false;
}

/* ------------------------------------------------------------ values */

static bool is_missing(const field *f) {
  static const char *const na[] = {"NaN", "nan", "NA", "N/A", "n/a", "NULL", "null",
                                   "None", "-NaN", "-nan", "#N/A", "<NA>", "#NA"};
  if (f->n == 0) return true;
  if (f->n > 4) return false;
  for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
    if (strlen(na[i]) == f->n && memcmp(na[i], f->s, f->n) == 0) return true;
  return false;
}

static int parse_bool(const field *f) {
  static const char *const t[] = {"true", "True", "TRUE"}, *const fa[] = {"false", "False",
                                                                         "FALSE"};
  for (int i = 0; i < 3; i++) {
    if (strlen(t[i]) == f->n && memcmp(t[i], f->s, f->n) == 0) return 1;
    if (strlen(fa[i]) == f->n && memcmp(fa[i], f->s, f->n) == 0) return 0;
  }
  return -1;
}

static gpudf_status bad_value(const reader *r, int col, const char *what, const field *f) {
  const char *more = f->n > 40 ? "..." : "";
  return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: %s, got '%.*s%s'", r->path, r->rec_line,
                 col + 1, what, f->n > 40 ? 40 : (int)f->n, f->s, more);
}

/* Pass 1: what this field allows for the column, or the error of a forced
 * type. */
static gpudf_status infer_field(const reader *r, gdf_csv_col *c, int col, const field *f) {
  bool missing = is_missing(f);
  bool overflow = false;
  int64_t iv;
  double dv;
  switch (c->forced) {
  case GPUDF_CSV_INT64:
    if (f->n == 0) return bad_value(r, col, "expected an integer (column is int64)", f);
    if (!gdf_parse_i64(f->s, f->n, &iv, &overflow))
      return bad_value(r, col, "expected an integer", f);
    if (overflow) return bad_value(r, col, "integer overflow (int64)", f);
    return GPUDF_OK;
  case GPUDF_CSV_FLOAT64:
    if (!missing && !gdf_parse_f64(f->s, f->n, &dv))
      return bad_value(r, col, "expected a number", f);
    return GPUDF_OK;
  case GPUDF_CSV_BOOL:
    if (parse_bool(f) < 0) return bad_value(r, col, "expected true or false", f);
    return GPUDF_OK;
  case GPUDF_CSV_CATEGORY:
    if (!missing && f->n > GPUDF_LABEL_MAX)
      return bad_value(r, col, "label longer than GPUDF_LABEL_MAX bytes", f);
    return GPUDF_OK;
  case GPUDF_CSV_INFER: break;
  }
  if (missing) {
    c->missing = true;
    return GPUDF_OK;
  }
  c->values = true;
  if (c->may_int && (!gdf_parse_i64(f->s, f->n, &iv, &overflow) || overflow))
    c->may_int = false;
  if (c->may_float && !c->may_int && !gdf_parse_f64(f->s, f->n, &dv)) c->may_float = false;
  if (c->may_bool && parse_bool(f) < 0) c->may_bool = false;
  if (f->n > GPUDF_LABEL_MAX) c->too_long = true;
  if (c->too_long && !c->may_float && !c->may_bool)
    return bad_value(r, col, "label longer than GPUDF_LABEL_MAX bytes", f);
  return GPUDF_OK;
}

static gpudf_csv_type resolve(const gdf_csv_col *c) {
  if (c->forced != GPUDF_CSV_INFER) return c->forced;
  if (!c->values) return GPUDF_CSV_FLOAT64; /* all missing, as pandas */
  if (c->may_int && !c->missing) return GPUDF_CSV_INT64;
  if (c->may_int || c->may_float) return GPUDF_CSV_FLOAT64;
  if (c->may_bool && !c->missing) return GPUDF_CSV_BOOL;
  return GPUDF_CSV_CATEGORY;
}

/* Pass 2: writes one value of row. */
static gpudf_status store_field(gdf_csv_col *c, int64_t row, const field *f) {
  bool overflow;
  switch (c->type) {
  case GPUDF_CSV_INT64:
    gdf_parse_i64(f->s, f->n, &((int64_t *)c->data)[row], &overflow);
    return GPUDF_OK;
  case GPUDF_CSV_FLOAT64: {
    double *d = (double *)c->data + row;
    if (is_missing(f) || !gdf_parse_f64(f->s, f->n, d)) *d = __builtin_nan("");
    return GPUDF_OK;
  }
  case GPUDF_CSV_BOOL:
    ((uint8_t *)c->data)[row] = (uint8_t)(parse_bool(f) == 1);
    return GPUDF_OK;
  case GPUDF_CSV_CATEGORY:
    if (is_missing(f)) {
      ((int32_t *)c->data)[row] = -1;
      return GPUDF_OK;
    }
    return gdf_csv_dict_code(&c->dict, f->s, f->n, &((int32_t *)c->data)[row]);
  case GPUDF_CSV_INFER: break;
  }
  return GDF_ERR(GPUDF_EINVAL, "internal: column type unresolved");
}

/* ------------------------------------------------------------ passes */

static gpudf_status read_header(reader *r, gdf_csv_file *cf) {
  if (r->end - r->p >= 3 && memcmp(r->p, "\xEF\xBB\xBF", 3) == 0) r->p += 3;
  if (!next_record(r))
    return GDF_ERR(GPUDF_EINVAL, "%s: the file is empty (expected a header row of column "
                   "names)", r->path);
  for (bool last = false; !last;) {
    field f;
    int col = cf->ncols;
    GDF_TRY(next_field(r, col, &f, &last));
    if (f.n == 0)
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: empty column name", r->path,
                     r->rec_line, col + 1);
    if (f.n > GPUDF_NAME_MAX)
      return GDF_ERR(GPUDF_ENAMETOOLONG, "%s:%" PRId64 ":%d: column name '%.20s...' is longer "
                     "than %d bytes", r->path, r->rec_line, col + 1, f.s, GPUDF_NAME_MAX);
    if (memchr(f.s, '\0', f.n))
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: column name contains a NUL byte",
                     r->path, r->rec_line, col + 1);
    if (cf->ncols == GPUDF_MAX_COLUMNS)
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ": more than %d columns", r->path,
                     r->rec_line, GPUDF_MAX_COLUMNS);
    gdf_csv_col *c = &cf->cols[cf->ncols++];
    memcpy(c->name, f.s, f.n);
    c->name[f.n] = '\0';
    for (int j = 0; j < col; j++)
      if (strcmp(cf->cols[j].name, c->name) == 0)
        return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: duplicate column name '%s' (also "
                       "column %d)", r->path, r->rec_line, col + 1, c->name, j + 1);
    c->may_int = c->may_float = c->may_bool = true;
  }
  return GPUDF_OK;
}

static gpudf_status apply_forced(const reader *r, gdf_csv_file *cf,
                                 const gpudf_csv_options *o) {
  if (o->ntypes > 0 && !o->types) return GDF_ERR(GPUDF_EINVAL, "options.types is NULL");
  for (int k = 0; k < o->ntypes; k++) {
    const gpudf_csv_column_type *ft = &o->types[k];
    if (!ft->name) return GDF_ERR(GPUDF_EINVAL, "options.types[%d].name is NULL", k);
    if ((int)ft->type < GPUDF_CSV_INFER || (int)ft->type > GPUDF_CSV_CATEGORY)
      return GDF_ERR(GPUDF_EINVAL, "options.types[%d] ('%s'): unknown type %d", k, ft->name,
                     (int)ft->type);
    int j = 0;
    while (j < cf->ncols && strcmp(cf->cols[j].name, ft->name) != 0) j++;
    if (j == cf->ncols)
      return GDF_ERR(GPUDF_ENOENT, "%s: options.types[%d] names column '%s', which the header "
                     "does not have", r->path, k, ft->name);
    cf->cols[j].forced = ft->type;
  }
  return GPUDF_OK;
}

static gpudf_status record_width(const reader *r, int got, int want) {
  return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ": expected %d fields (as in the header), got %d",
                 r->path, r->rec_line, want, got);
}

static gpudf_status first_pass(reader *r, gdf_csv_file *cf) {
  while (next_record(r)) {
    int col = 0;
    for (bool last = false; !last; col++) {
      field f;
      GDF_TRY(next_field(r, col, &f, &last));
      if (col >= cf->ncols) {
        while (!last) GDF_TRY(next_field(r, ++col, &f, &last));
        return record_width(r, col + 1, cf->ncols);
      }
      GDF_TRY(infer_field(r, &cf->cols[col], col, &f));
    }
    if (col != cf->ncols) return record_width(r, col, cf->ncols);
    cf->nrows++;
  }
  if (cf->nrows == 0)
    return GDF_ERR(GPUDF_EINVAL, "%s: the file has a header but no rows", r->path);
  return GPUDF_OK;
}

static gpudf_status second_pass(reader *r, gdf_csv_file *cf) {
  for (int64_t row = 0; next_record(r); row++) {
    bool last = false;
    for (int col = 0; col < cf->ncols; col++) {
      field f;
      GDF_TRY(next_field(r, col, &f, &last));
      gpudf_status st = store_field(&cf->cols[col], row, &f);
      if (st != GPUDF_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", gpudf_last_error());
        return GDF_ERR(st, "%s:%" PRId64 ":%d: %s", r->path, r->rec_line, col + 1, why);
      }
    }
  }
  return GPUDF_OK;
}

static gpudf_type table_type(gpudf_csv_type t) {
  switch (t) {
  case GPUDF_CSV_INT64: return GPUDF_TYPE_I64;
  case GPUDF_CSV_BOOL: return GPUDF_TYPE_BOOL;
  case GPUDF_CSV_CATEGORY: return GPUDF_TYPE_I32;
  default: return GPUDF_TYPE_F64;
  }
}

/* Creates the table, parses into it, and attaches the dictionaries. */
static gpudf_status build_table(reader *r, const char *body, gdf_csv_file *cf,
                                gpudf_table **out) {
  gpudf_table *t = NULL;
  GDF_TRY(gpudf_table_create(cf->nrows, &t));
  gpudf_status st = GPUDF_OK;
  for (int j = 0; j < cf->ncols && st == GPUDF_OK; j++) {
    void *data;
    cf->cols[j].type = resolve(&cf->cols[j]);
    st = gpudf_table_alloc_column(t, cf->cols[j].name, table_type(cf->cols[j].type), &data);
  }
  for (int j = 0; j < cf->ncols && st == GPUDF_OK; j++)
    cf->cols[j].data = (void *)gpudf_table_column_data(t, j); /* stable from here */
  if (st == GPUDF_OK) {
    r->p = body;
    st = second_pass(r, cf);
  }
  for (int j = 0; j < cf->ncols && st == GPUDF_OK; j++) {
    gdf_csv_col *c = &cf->cols[j];
    if (c->type != GPUDF_CSV_CATEGORY) continue;
    gdf_csv_dict_sort(&c->dict, (int32_t *)c->data, cf->nrows);
    if (!c->dict.labels) {
      st = GDF_ERR(GPUDF_ENOMEM, "out of memory sorting the labels of column '%s'", c->name);
      break;
    }
    st = gdf_table_set_dictionary(t, j, c->dict.n, (const char *const *)c->dict.labels,
                                  c->dict.lens);
  }
  if (st != GPUDF_OK) {
    gpudf_table_free(t);
    return st;
  }
  *out = t;
  return GPUDF_OK;
}

static gpudf_status map_file(const char *path, const char **data, size_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return GDF_ERR(gdf_status_from_errno(err), "%s: cannot open: %s", path, strerror(err));
  }
  struct stat st;
  gpudf_status s = GPUDF_OK;
  if (fstat(fd, &st) != 0)
    s = GDF_ERR(GPUDF_EIO, "%s: fstat: %s", path, strerror(errno));
  else if (S_ISDIR(st.st_mode))
    s = GDF_ERR(GPUDF_EINVAL, "%s: is a directory, not a CSV file", path);
  else if (st.st_size == 0)
    s = GDF_ERR(GPUDF_EINVAL, "%s: the file is empty (expected a header row of column "
                "names)", path);
  if (s == GPUDF_OK) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      s = GDF_ERR(gdf_status_from_errno(errno), "%s: cannot map %lld bytes: %s", path,
                  (long long)st.st_size, strerror(errno));
    } else {
      madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
      *data = p;
      *size = (size_t)st.st_size;
    }
  }
  close(fd);
  return s;
}

gpudf_status gpudf_table_read_csv(const char *path, const gpudf_csv_options *opts,
                                  gpudf_table **out) {
  GDF_ENTER();
  if (!path || !out) return GDF_ERR(GPUDF_EINVAL, "path or out is NULL");
  *out = NULL;
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  if (opts) {
    if (opts->size < sizeof o || opts->version != GPUDF_CSV_OPTIONS_VERSION)
      return GDF_ERR(GPUDF_EINVAL, "options not initialised with gpudf_csv_options_init "
                     "(size %zu, version %d)", opts->size, opts->version);
    o = *opts;
  }
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r' || o.delimiter == '\0')
    return GDF_ERR(GPUDF_EINVAL, "delimiter %d cannot separate fields", (int)o.delimiter);
  const char *data = NULL;
  size_t size = 0;
  GDF_TRY(map_file(path, &data, &size));
  reader r = {.path = path, .p = data, .end = data + size, .delim = o.delimiter, .line = 1};
  gdf_csv_file *cf = calloc(1, sizeof *cf);
  gpudf_status st = cf ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  if (st == GPUDF_OK) st = read_header(&r, cf);
  if (st == GPUDF_OK) st = apply_forced(&r, cf, &o);
  const char *body = r.p;
  int64_t body_line = r.line;
  if (st == GPUDF_OK) st = first_pass(&r, cf);
  if (st == GPUDF_OK) {
    r.line = body_line;
    st = build_table(&r, body, cf, out);
  }
  if (cf)
    for (int j = 0; j < cf->ncols; j++) gdf_csv_dict_free(&cf->cols[j].dict);
  free(cf);
  free(r.scratch);
  munmap((void *)data, size);
  return st;
}
