/* csv.c - gpudf_table_read_csv: the file is mmap'd, and its values are
 * written straight into the columns of a table created for the right row
 * count, so the data exists once, in the shared arena. Categorical columns
 * also build a dictionary (engine/load/csv_dict.c).
 *
 * The general way is two passes: the first checks the syntax, counts rows
 * and infers each column's type over the whole file; the second writes the
 * values. Most files go faster, in one pass: pass 1 stops after the first
 * rows (1000), and when the types they give can only be changed by a field
 * that fast_pass does not take (int64, float64, bool, and text labels that
 * are not integers: guessable), the records are counted (one SSE2 scan:
 * the lines, or for a file with text the line ends outside quotes) and
 * fast_pass parses them into a table of that many rows in one go, coding
 * the labels as it goes. The first field that could change a type or that
 * it does not take (a label in a number column, a missing value in an int
 * or bool column, quotes around a number, a blank line, anything the
 * tokenizer would refuse) stops it: that table and the dictionaries are
 * freed and pass 1 resumes where it stopped, then pass 2 as above. So the
 * types, values and errors are always those of the two passes, and no more
 * memory than the table is ever held.
 *
 * On several threads (a file larger than 1 MiB, or GPUDF_CSV_CHUNK_BYTES)
 * both ways run in chunks of the file ("in chunks" below); a read that is
 * not clean is left to the one-core passes, which define every error.
 *
 * Speed: a field of a numeric column is first read in place by the inline
 * scanners of csv_number.h, which accept the plain forms (-12, 3.25, 1e-5)
 * and stop at the first byte that cannot continue the number; when a
 * delimiter or line end (as the field's position in the record requires) is
 * there, the field is done: the first pass learns nothing new from it, the
 * second pass and fast_pass have its value. Anything else (quotes, spaces,
 * missing values, a wrong field count, long mantissas) goes through the
 * general tokenizer and parsers, which define the results and errors. The
 * mapping has a '\n' and zeros after the file's last byte so that the
 * scanners need no bounds checks. */
#include "csv.h"
#include "bus_guard.h"
#include "csv_number.h"
#include "versioned.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
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
  bool fast;         /* the delimiter cannot be part of a number */
  gpudf_table *building; /* a table being filled, freed if the file shrinks */
  struct chunks *par;    /* the parallel read's state, freed if the file shrinks */
  const char *map;       /* the mapping and its length (the file's), for the */
  size_t map_len;        /* bus guards of the parallel read's threads */
  int threads;           /* of the parallel read */
  size_t chunk;          /* its chunks' bytes; 0: the one-core reader alone */
  bool chunk_forced;     /* chunk is GPUDF_CSV_CHUNK_BYTES's (tests) */
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

/* The 4 bytes at s as one word, to compare a field with a spelling. */
static inline uint32_t word4(const char *s) {
  uint32_t w;
  memcpy(&w, s, 4);
  return w;
}

/* The pandas missing-value spellings the reader knows (and the empty field). */
static inline bool is_missing(const field *f) {
  const char *s = f->s;
  switch (f->n) {
  case 0: return true;
  case 2: return s[0] == 'N' && s[1] == 'A';
  case 3:
    return memcmp(s, "NaN", 3) == 0 || memcmp(s, "nan", 3) == 0 || memcmp(s, "N/A", 3) == 0 ||
           memcmp(s, "n/a", 3) == 0 || memcmp(s, "#NA", 3) == 0;
  case 4: {
    uint32_t w = word4(s);
    return w == word4("NULL") || w == word4("null") || w == word4("None") ||
           w == word4("-NaN") || w == word4("-nan") || w == word4("#N/A") || w == word4("<NA>");
  }
  default: return false;
  }
}

/* 1 for true/True/TRUE, 0 for false/False/FALSE, else -1. Without
 * branches on the bytes: in a column of bools, true and false follow no
 * pattern a branch predictor could learn. */
static inline int parse_bool(const field *f) {
  const char *s = f->s;
  size_t n = f->n;
  if (n - 4 > 1) return -1; /* neither 4 nor 5 bytes */
  uint32_t w = word4(s);
  char e = s[n - 1];
  bool t = (n == 4) & ((w == word4("true")) | (w == word4("True")) | (w == word4("TRUE")));
  bool fl = (n == 5) & (((e == 'e') & ((w == word4("fals")) | (w == word4("Fals")))) |
                        ((e == 'E') & (w == word4("FALS"))));
  return (int)t - (int)!(t | fl);
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
    if (memchr(f->s, '\0', f->n)) return bad_value(r, col, "a NUL byte in a text value", f);
    return GPUDF_OK;
  case GPUDF_CSV_INFER: break;
  }
  if (missing) {
    c->missing = true;
    return GPUDF_OK;
  }
  /* Not a number or a bool, so a label, which cannot hold one. */
  if (memchr(f->s, '\0', f->n)) return bad_value(r, col, "a NUL byte in a text value", f);
  c->values = true;
  bool is_int = (c->only_ints || c->may_float) && gdf_parse_i64(f->s, f->n, &iv, &overflow);
  if (!is_int) c->may_int = c->only_ints = false;
  else if (overflow) c->may_int = false;
  if (is_int) {
    /* No type would hold it: not a number exactly, too long for a label. */
    if (f->n > GPUDF_LABEL_MAX)
      return bad_value(r, col, "an integer longer than GPUDF_LABEL_MAX bytes (too long for "
                       "a text label, and no number type holds it exactly)", f);
    const int64_t two53 = INT64_C(1) << 53;
    if (!c->inexact && (overflow || iv < -two53 || iv > two53) &&
        !gdf_int_is_exact_f64(f->s, f->n)) {
      c->inexact = true;
      c->inexact_line = r->rec_line;
      snprintf(c->inexact_text, sizeof c->inexact_text, "%.*s%s", f->n > 40 ? 40 : (int)f->n,
               f->s, f->n > 40 ? "..." : "");
    }
  }
  if (c->may_float && !is_int && !gdf_parse_f64(f->s, f->n, &dv)) c->may_float = false;
  if (c->may_bool && parse_bool(f) < 0) c->may_bool = false;
  if (f->n > GPUDF_LABEL_MAX) c->too_long = true;
  if (c->too_long && !c->may_float && !c->may_bool)
    return bad_value(r, col, "label longer than GPUDF_LABEL_MAX bytes", f);
  /* A value was seen, so only_ints (or may_float) also means no bool: an
   * integer that fits int64 and a double holds exactly (or any number, once
   * an inexact integer was seen) changes nothing from here on. */
  c->fast = c->only_ints   ? GDF_CSV_FAST_SMALL_INT
            : c->may_float ? GDF_CSV_FAST_EXACT_FLOAT
                           : GDF_CSV_FAST_NONE;
  return GPUDF_OK;
}

/* The type of a column after pass 1 over the whole file, or GPUDF_CSV_INFER
 * when no type holds its values as written (type_error says why). No value
 * is ever rounded to a type that cannot hold it, and distinct integers stay
 * distinct: integers are int64 when all fit and none is missing; float64
 * when some are missing (NaN, as pandas) and a double holds every one
 * exactly; else text labels. Numbers written with a '.' or an exponent make
 * float64 (rounded as decimals are), unless an integer among them is not a
 * double exactly: refused. */
static gpudf_csv_type resolve(const gdf_csv_col *c) {
  if (c->forced != GPUDF_CSV_INFER) return c->forced;
  if (!c->values) return GPUDF_CSV_FLOAT64; /* all missing, as pandas */
  if (c->only_ints) {
    if (c->may_int && !c->missing) return GPUDF_CSV_INT64;
    return c->may_int && !c->inexact ? GPUDF_CSV_FLOAT64 : GPUDF_CSV_CATEGORY;
  }
  if (c->may_float) return c->inexact ? GPUDF_CSV_INFER : GPUDF_CSV_FLOAT64;
  if (c->may_bool && !c->missing) return GPUDF_CSV_BOOL;
  return GPUDF_CSV_CATEGORY;
}

/* After pass 1 over the whole file: the first column, left to right, that
 * no type holds (resolve). */
static gpudf_status type_error(const reader *r, const gdf_csv_file *cf) {
  for (int j = 0; j < cf->ncols; j++) {
    const gdf_csv_col *c = &cf->cols[j];
    if (resolve(c) != GPUDF_CSV_INFER) continue;
    return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: column '%s': the integer '%s' is not "
                   "exactly a float64 (it would be rounded), and the column also has numbers "
                   "that are not integers, so no type holds all its values as written; force "
                   "its type to float64 to accept the rounding, or to category to keep the "
                   "values as text", r->path, c->inexact_line, j + 1, c->name,
                   c->inexact_text);
  }
  return GPUDF_OK;
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

/* A CR that does not start a CRLF: lines that end in CR alone. */
static bool bare_cr(const char *s, size_t n) {
  for (const char *p = memchr(s, '\r', n); p; p = memchr(p + 1, '\r', n - (size_t)(p + 1 - s)))
    if (p + 1 == s + n || p[1] != '\n') return true;
  return false;
}

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
    if (bare_cr(f.s, f.n))
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: column name contains a carriage return: "
                     "the lines seem to end in CR alone (classic Mac); convert the line ends "
                     "to LF or CRLF (e.g. tr '\\r' '\\n')", r->path, r->rec_line, col + 1);
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
    /* What gdf_table alloc_column would refuse later, here, so that it comes
     * before any error of a row (the documented order). */
    const char *reserved = strncmp(c->name, GDF_DERIVED_PREFIX, strlen(GDF_DERIVED_PREFIX)) == 0
                               ? GDF_DERIVED_PREFIX
                           : strncmp(c->name, GDF_DERIVED_ORDER, strlen(GDF_DERIVED_ORDER)) == 0
                               ? GDF_DERIVED_ORDER
                               : NULL;
    if (reserved)
      return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ":%d: column name '%s': names starting with "
                     "'%s' are reserved for the columns gpudf_table_prepare derives; rename it",
                     r->path, r->rec_line, col + 1, c->name, reserved);
    c->may_int = c->only_ints = c->may_float = c->may_bool = true;
  }
  return GPUDF_OK;
}

/* What options.types can be refused for without the file: checked before it
 * is opened (the documented order). */
static gpudf_status check_forced(const gpudf_csv_options *o) {
  if (o->ntypes > 0 && !o->types) return GDF_ERR(GPUDF_EINVAL, "options.types is NULL");
  for (int k = 0; k < o->ntypes; k++) {
    const gpudf_csv_column_type *ft = &o->types[k];
    if (!ft->name) return GDF_ERR(GPUDF_EINVAL, "options.types[%d].name is NULL", k);
    if ((int)ft->type < GPUDF_CSV_INFER || (int)ft->type > GPUDF_CSV_CATEGORY)
      return GDF_ERR(GPUDF_EINVAL, "options.types[%d] ('%s'): unknown type %d", k, ft->name,
                     (int)ft->type);
  }
  return GPUDF_OK;
}

/* The plain form pass 1 expects of a forced type (gdf_csv_fast). */
static uint8_t fast_of_forced(gpudf_csv_type t) {
  return t == GPUDF_CSV_INT64 ? GDF_CSV_FAST_INT
         : t == GPUDF_CSV_FLOAT64 ? GDF_CSV_FAST_FLOAT
                                  : GDF_CSV_FAST_NONE;
}

/* options.types (check_forced took them) onto the header's columns. */
static gpudf_status apply_forced(const reader *r, gdf_csv_file *cf,
                                 const gpudf_csv_options *o) {
  for (int k = 0; k < o->ntypes; k++) {
    const gpudf_csv_column_type *ft = &o->types[k];
    int j = 0;
    while (j < cf->ncols && strcmp(cf->cols[j].name, ft->name) != 0) j++;
    if (j == cf->ncols)
      return GDF_ERR(GPUDF_ENOENT, "%s: options.types[%d] names column '%s', which the header "
                     "does not have", r->path, k, ft->name);
    cf->cols[j].forced = ft->type;
    cf->cols[j].fast = fast_of_forced(ft->type);
  }
  return GPUDF_OK;
}

/* A column's state before any row (read_header, apply_forced), from c. */
static void initial_col(const gdf_csv_col *c, gdf_csv_col *out) {
  memset(out, 0, sizeof *out);
  memcpy(out->name, c->name, sizeof out->name);
  out->forced = c->forced;
  out->fast = fast_of_forced(c->forced);
  out->may_int = out->only_ints = out->may_float = out->may_bool = true;
}

static gpudf_status record_width(const reader *r, int got, int want) {
  return GDF_ERR(GPUDF_EINVAL, "%s:%" PRId64 ": expected %d fields (as in the header), got %d",
                 r->path, r->rec_line, want, got);
}

/* After a field read in place ends at q: where the next field starts, or
 * NULL when q is not the end the field's position needs (a delimiter, or a
 * line end for the last field); the tokenizer then reads the field again. */
static inline const char *field_end(reader *r, const char *q, bool last_col) {
  if (!last_col) return *q == r->delim ? q + 1 : NULL;
  if (*q == '\n') { /* the '\n' after the last byte included */
    r->line++;
    return q + 1 <= r->end ? q + 1 : r->end;
  }
  if (*q == '\r' && q[1] == '\n') {
    r->line++;
    return q + 2 <= r->end ? q + 2 : r->end;
  }
  return NULL;
}

/* Pass 1 over one record, whose first field starts at r->p (next_record
 * found it): what its fields allow for each column (infer_field), the
 * errors of its fields, then its field count. Inline: the serial pass and
 * the chunks of the parallel one (infer_chunk) share it. */
static inline __attribute__((always_inline)) gpudf_status infer_record(reader *r,
                                                                      gdf_csv_col *cols,
                                                                      int ncols) {
  for (int col = 0; col < ncols; col++) {
    gdf_csv_col *c = &cols[col];
    const char *q = NULL, *next = NULL;
    if (r->fast) {
      switch (c->fast) {
      case GDF_CSV_FAST_INT: q = gdf_skip_i64(r->p); break;
      case GDF_CSV_FAST_SMALL_INT: {
        /* once the column has an inexact integer, another changes nothing */
        int64_t v;
        q = gdf_scan_i64(r->p, &v);
        if (q && !c->inexact && !gdf_i64_is_exact_f64(v)) q = NULL;
        break;
      }
      case GDF_CSV_FAST_FLOAT: q = gdf_skip_f64(r->p); break;
      case GDF_CSV_FAST_EXACT_FLOAT:
        q = c->inexact ? gdf_skip_f64(r->p) : gdf_skip_exact_f64(r->p);
        break;
      default: break;
      }
      if (q && q - r->p > GPUDF_LABEL_MAX) q = NULL; /* sets too_long */
      if (q) next = field_end(r, q, col == ncols - 1);
    }
    if (next) {
      r->p = next;
      continue;
    }
    field f;
    bool last;
    GDF_TRY(next_field(r, col, &f, &last));
    GDF_TRY(infer_field(r, c, col, &f));
    if (last && col < ncols - 1) return record_width(r, col + 1, ncols);
    if (!last && col == ncols - 1) {
      int got = col;
      while (!last) GDF_TRY(next_field(r, ++got, &f, &last));
      return record_width(r, got + 1, ncols);
    }
  }
  return GPUDF_OK;
}

/* Pass 1 over the records from r->p until the end of the file (*done) or
 * until cf->nrows reaches limit; it can be resumed where it stopped.
 * noinline: profiles then tell the passes apart. */
__attribute__((noinline)) static gpudf_status first_pass(reader *r, gdf_csv_file *cf,
                                                         int64_t limit, bool *done) {
  *done = false;
  while (next_record(r)) {
    if (cf->nrows >= limit) return GPUDF_OK;
    GDF_TRY(infer_record(r, cf->cols, cf->ncols));
    cf->nrows++;
  }
  *done = true;
  if (cf->nrows == 0)
    return GDF_ERR(GPUDF_EINVAL, "%s: the file has a header but no rows", r->path);
  return GPUDF_OK;
}

/* Pass 2 over one record (next_record found it): writes its values into
 * row of each column's data. Pass 1 read the same record without an error,
 * so only store_field can fail (a dictionary: memory, too many labels). */
static inline __attribute__((always_inline)) gpudf_status store_record(reader *r,
                                                                      gdf_csv_col *cols,
                                                                      int ncols, int64_t row) {
  for (int col = 0; col < ncols; col++) {
    gdf_csv_col *c = &cols[col];
    const char *q = NULL, *next = NULL;
    if (r->fast) {
      if (c->type == GPUDF_CSV_FLOAT64)
        q = gdf_scan_f64(r->p, (double *)c->data + row);
      else if (c->type == GPUDF_CSV_INT64)
        q = gdf_scan_i64(r->p, (int64_t *)c->data + row);
      if (q) next = field_end(r, q, col == ncols - 1);
    }
    if (next) {
      r->p = next;
      continue;
    }
    field f;
    bool last;
    GDF_TRY(next_field(r, col, &f, &last));
    gpudf_status st = store_field(c, row, &f);
    if (st != GPUDF_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", gpudf_last_error());
      return GDF_ERR(st, "%s:%" PRId64 ":%d: %s", r->path, r->rec_line, col + 1, why);
    }
  }
  return GPUDF_OK;
}

__attribute__((noinline)) static gpudf_status second_pass(reader *r, gdf_csv_file *cf) {
  for (int64_t row = 0; next_record(r); row++) GDF_TRY(store_record(r, cf->cols, cf->ncols, row));
  return GPUDF_OK;
}

/* ------------------------------------------------------------ one pass */

/* A numeric field read in place for the fast pass: where it ends, or NULL.
 * Besides the forms of the scanners it takes an empty field of a float64
 * column (missing: NaN) and the plain numbers that no fast path of
 * gdf_scan_f64 decides (more digits, a halfway case: gdf_parse_f64). */
static inline const char *fast_f64(const char *p, char delim, double *out) {
  const char *q = gdf_scan_f64(p, out);
  if (q) return q;
  if (*p == delim || *p == '\n' || *p == '\r') { /* the caller checks the end */
    *out = __builtin_nan("");
    return p;
  }
  q = gdf_skip_f64(p);
  if (!q || !gdf_parse_f64(p, (size_t)(q - p), out)) return NULL;
  return q;
}

/* Whether the number from p to q (fast_f64 took it) is written as an integer. */
static bool is_integer(const char *p, const char *q) {
  int64_t v;
  bool overflow;
  return gdf_parse_i64(p, (size_t)(q - p), &v, &overflow);
}

/* The first byte from p on that is the delimiter, '\n', '"' or NUL: an
 * unquoted field ends at the first two, and fast_text leaves the other two
 * to the tokenizer. The mapping's '\n' after the file's last byte stops it. */
static inline const char *text_stop(const char *p, char delim) {
#ifdef __SSE2__
  const __m128i d = _mm_set1_epi8(delim), nl = _mm_set1_epi8('\n'), dq = _mm_set1_epi8('"'),
                zero = _mm_setzero_si128();
  for (;; p += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, nl)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, dq), _mm_cmpeq_epi8(v, zero)));
    unsigned bits = (unsigned)_mm_movemask_epi8(m);
    if (bits) return p + __builtin_ctz(bits);
  }
#else
  while (*p != delim && *p != '\n' && *p != '"' && *p != '\0') p++;
  return p;
#endif
}

/* The first '"' or NUL from p on (the zeros after the mapping's '\n' stop
 * it). */
static inline const char *quote_stop(const char *p) {
#ifdef __SSE2__
  const __m128i dq = _mm_set1_epi8('"'), zero = _mm_setzero_si128();
  for (;; p += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    unsigned bits = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, dq), _mm_cmpeq_epi8(v, zero)));
    if (bits) return p + __builtin_ctz(bits);
  }
#else
  while (*p != '"' && *p != '\0') p++;
  return p;
#endif
}

/* A field of a bool or categorical column read in place for the fast pass:
 * into *f the bytes next_field would give (quotes and doubled quotes
 * removed, a CR before the line end dropped), and where it ends (the
 * delimiter or line end after it). NULL where next_field would refuse it or
 * the record counts of count_records could be wrong: a '"' inside an
 * unquoted field, an unterminated quoted field, a byte other than the
 * delimiter or line end after a closing quote; also a NUL byte, which no
 * bool or label holds. */
static inline const char *fast_text(reader *r, const char *p, field *f) {
  if (*p != '"') {
    const char *q = text_stop(p, r->delim);
    if (*q == '"' || *q == '\0') return NULL;
    f->s = p;
    f->n = (size_t)(q - p);
    if (*q == '\n' && f->n && q[-1] == '\r') f->n--;
    f->quoted = false;
    return q;
  }
  const char *s = p + 1, *q = s;
  bool escaped = false;
  for (;;) {
    q = quote_stop(q);
    if (*q == '\0' || q >= r->end) return NULL;
    if (q[1] != '"') break; /* the mapping's '\n' follows a '"' at the end */
    escaped = true;
    q += 2;
  }
  f->s = s;
  f->n = (size_t)(q - s);
  f->quoted = true;
  p = q + 1;
  if (*p == '\r' && p + 1 < r->end && p[1] == '\n') p++;
  if (*p != r->delim && *p != '\n') return NULL; /* at the end, the mapping's '\n' */
  if (escaped && unescape(r, f) != GPUDF_OK) return NULL;
  return p;
}

/* Pass 2 in one go, on types that hold for the whole file: reads nrows
 * records from body to end (the file's end, or a chunk's: after a '\n') into
 * rows row0.. of cols' data, with the in-place scanners (numbers) and
 * fast_text (bools, labels), no line numbers. The types are either final
 * (pass 1 read the whole file) or guessed from the first rows in a way that
 * only a field this pass does not take can change (guessable).
 * false when that is not enough: a field the scanners or fast_text do not
 * take (quotes around a number, spaces, a missing value other than the empty
 * field of a float64 or a categorical column, a value of another type, a
 * label too long or with a NUL byte, a dictionary that cannot grow), a blank
 * line, or a record count other than nrows; the caller then frees the
 * dictionaries and falls back on the general passes, which define the
 * results and errors. Every value it writes is the one store_field would;
 * an integer of 2^53 or more in an inferred float64 column also stops it
 * (the types came from the first rows, and only pass 1 knows what such an
 * integer makes). The categorical columns' codes are those of their
 * dictionaries, in order of first appearance, as in pass 2. */
__attribute__((noinline)) static bool fast_pass(reader *r, const char *body, const char *end,
                                                 gdf_csv_col *cols, int ncols, int64_t row0,
                                                 int64_t nrows) {
  const char delim = r->delim;
  const char *p = body;
  for (int64_t row = row0; row < row0 + nrows; row++) {
    if (p >= end || *p == '\n' || *p == '\r') return false; /* blank line, or too few */
    for (int col = 0;; col++) {
      gdf_csv_col *c = &cols[col];
      const char *q;
      field f;
      switch (c->type) {
      case GPUDF_CSV_FLOAT64: {
        double *d = (double *)c->data + row;
        q = fast_f64(p, delim, d);
        /* An integer of 2^53 or more (a double may not hold it, int64 may
         * not either) in a type inferred from the first rows: pass 1
         * decides what it makes of the column (text labels, a refusal,
         * float64). Such an integer has 16 digits or more: the length is
         * known before the value (a division away in the common case). */
        if (q && q - p >= 16 && c->forced != GPUDF_CSV_FLOAT64 &&
            !(__builtin_fabs(*d) < 0x1p53) && is_integer(p, q))
          return false;
        break;
      }
      case GPUDF_CSV_INT64: q = gdf_scan_i64(p, (int64_t *)c->data + row); break;
      case GPUDF_CSV_BOOL: {
        q = fast_text(r, p, &f);
        int b = q ? parse_bool(&f) : -1;
        if (b < 0) return false;
        ((uint8_t *)c->data)[row] = (uint8_t)b;
        break;
      }
      case GPUDF_CSV_CATEGORY: {
        q = fast_text(r, p, &f);
        if (!q) return false;
        int32_t *code = (int32_t *)c->data + row;
        if (is_missing(&f)) *code = -1;
        else if (f.n > GPUDF_LABEL_MAX || gdf_csv_dict_code(&c->dict, f.s, f.n, code) != GPUDF_OK)
          return false;
        break;
      }
      default: return false;
      }
      if (!q) return false;
      if (col < ncols - 1) {
        if (*q != delim) return false;
        p = q + 1;
        continue;
      }
      if (*q == '\r') q++;
      if (*q != '\n') return false;
      p = q + 1; /* at most r->end + 1: the '\n' after the last byte */
      break;
    }
  }
  /* blank lines at the end */
  while (p < end && (*p == '\n' || (*p == '\r' && p[1] == '\n'))) p += *p == '\r' ? 2 : 1;
  return p == end || (end == r->end && p == end + 1);
}

/* The dictionaries of the categorical columns emptied: what a fast_pass
 * that did not get through put in them. */
static void clear_dicts(gdf_csv_col *cols, int ncols) {
  for (int j = 0; j < ncols; j++) {
    gdf_csv_dict_free(&cols[j].dict);
    memset(&cols[j].dict, 0, sizeof cols[j].dict);
  }
}

/* The lines from p to end (the last one may lack its '\n'); false when a
 * '"' is there (a quoted field may hold line ends). */
static bool count_lines(const char *p, const char *end, int64_t *lines) {
  int64_t n = 0;
  bool quote = false;
#ifdef __SSE2__
  const __m128i nl = _mm_set1_epi8('\n'), dq = _mm_set1_epi8('"');
  while (end - p >= 16) {
    /* up to 255 blocks into 8-bit counters (each match subtracts -1) */
    __m128i cnt = _mm_setzero_si128(), q = _mm_setzero_si128();
    for (int k = 0; k < 255 && end - p >= 16; k++, p += 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
      cnt = _mm_sub_epi8(cnt, _mm_cmpeq_epi8(v, nl));
      q = _mm_or_si128(q, _mm_cmpeq_epi8(v, dq));
    }
    __m128i sums = _mm_sad_epu8(cnt, _mm_setzero_si128());
    n += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
    if (_mm_movemask_epi8(q)) quote = true;
  }
#endif
  for (; p < end; p++) {
    n += *p == '\n';
    quote |= *p == '"';
  }
  *lines = n;
  return !quote;
}

/* The bits set in x (the builtin calls a library function without
 * -mpopcnt). */
static inline int popcount64(uint64_t x) {
  x -= (x >> 1) & UINT64_C(0x5555555555555555);
  x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
  x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
  return (int)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* The '\n's from p to end outside quotes, taking p as outside: the records,
 * when every '"' there opens or closes a quoted field or is one of a
 * doubled pair inside one (fast_pass, which reads them, stops at any other);
 * false when end is inside quotes (a chunk's end: then its next chunk may
 * not start at a record). */
static bool count_records(const char *p, const char *end, int64_t *records) {
  int64_t n = 0;
  uint64_t inside = 0; /* all ones inside quotes */
#ifdef __SSE2__
  const __m128i nl = _mm_set1_epi8('\n'), dq = _mm_set1_epi8('"');
  for (; end - p >= 64; p += 64) {
    uint64_t mn = 0, mq = 0;
    for (int k = 0; k < 4; k++) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
      mn |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) << (16 * k);
      mq |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dq)) << (16 * k);
    }
    /* bit i of x: an odd number of quotes at or before byte i (prefix xor),
     * flipped when the block starts inside quotes */
    uint64_t x = mq;
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x ^= inside;
    n += popcount64(mn & ~x);
    inside = (uint64_t)0 - (x >> 63);
  }
#endif
  for (; p < end; p++) {
    if (*p == '"') inside = ~inside;
    n += *p == '\n' && !inside;
  }
  *records = n;
  return !inside;
}

static gpudf_type table_type(gpudf_csv_type t) {
  switch (t) {
  case GPUDF_CSV_INT64: return GPUDF_TYPE_I64;
  case GPUDF_CSV_BOOL: return GPUDF_TYPE_BOOL;
  case GPUDF_CSV_CATEGORY: return GPUDF_TYPE_I32;
  default: return GPUDF_TYPE_F64;
  }
}

/* A table of nrows rows with a column of each cols[j].type; sets
 * cols[j].data. */
static gpudf_status create_columns(gdf_csv_col *cols, int ncols, int64_t nrows,
                                   gpudf_table **out) {
  gpudf_table *t = NULL;
  gpudf_status st = gpudf_table_create(nrows, &t);
  for (int j = 0; j < ncols && st == GPUDF_OK; j++) {
    void *data;
    st = gpudf_table_alloc_column(t, cols[j].name, table_type(cols[j].type), &data);
  }
  if (st != GPUDF_OK) {
    gpudf_table_free(t);
    return st;
  }
  /* Stable until a dictionary is appended, which may move the arena. */
  for (int j = 0; j < ncols; j++) cols[j].data = (void *)gpudf_table_column_data(t, j);
  *out = t;
  return GPUDF_OK;
}

static gpudf_status create_table(gdf_csv_file *cf, int64_t nrows, gpudf_table **out) {
  return create_columns(cf->cols, cf->ncols, nrows, out);
}

/* Whether fast_pass can read the file on the types of cf->cols: any type
 * once pass 1 has read the whole file (final); guessed from the first rows,
 * those that only a field fast_pass refuses can change: int64, float64,
 * bool (any other value, a missing one included, makes it categorical) and
 * a categorical column that is not made of integers (no value can make it
 * a number or a bool again). *numbers: every column is int64 or float64 (a
 * '"' then stops fast_pass anyway). The delimiter must not be part of a
 * number (r->fast). */
static bool guessable(const reader *r, const gdf_csv_file *cf, bool final, bool *numbers) {
  *numbers = true;
  if (!r->fast) return false;
  for (int j = 0; j < cf->ncols; j++) {
    const gdf_csv_col *c = &cf->cols[j];
    if (c->type == GPUDF_CSV_INT64 || c->type == GPUDF_CSV_FLOAT64) continue;
    *numbers = false;
    if (c->type == GPUDF_CSV_INFER) return false;
    if (!final && c->type == GPUDF_CSV_CATEGORY && c->forced != GPUDF_CSV_CATEGORY &&
        c->only_ints)
      return false;
  }
  return true;
}

/* Sorts the dictionaries of the categorical columns of t (nrows rows; cols
 * as the read has them), renumbers their codes and attaches them. */
static gpudf_status attach_dicts(gpudf_table *t, gdf_csv_col *cols, int ncols, int64_t nrows) {
  for (int j = 0; j < ncols; j++) {
    gdf_csv_col *c = &cols[j];
    if (c->type != GPUDF_CSV_CATEGORY) continue;
    /* The previous column's dictionary grew the arena, which may have
     * moved it (mremap): the codes are where the table says now. */
    c->data = (void *)gpudf_table_column_data(t, j);
    gdf_csv_dict_sort(&c->dict, (int32_t *)c->data, nrows);
    if (!c->dict.labels)
      return GDF_ERR(GPUDF_ENOMEM, "out of memory sorting the labels of column '%s'", c->name);
    GDF_TRY(gdf_table_set_dictionary(t, j, c->dict.n, (const char *const *)c->dict.labels,
                                     c->dict.lens));
  }
  return GPUDF_OK;
}

/* After pass 1 over the whole file: creates the table, parses into it, and
 * attaches the dictionaries. try_fast: fast_pass first when it can. */
static gpudf_status build_table(reader *r, const char *body, gdf_csv_file *cf, bool try_fast,
                                gpudf_table **out) {
  for (int j = 0; j < cf->ncols; j++) cf->cols[j].type = resolve(&cf->cols[j]);
  gpudf_table *t = NULL;
  GDF_TRY(create_table(cf, cf->nrows, &t));
  r->building = t;
  gpudf_status st = GPUDF_OK;
  bool numbers;
  if (!(try_fast && guessable(r, cf, true, &numbers) &&
        fast_pass(r, body, r->end, cf->cols, cf->ncols, 0, cf->nrows))) {
    clear_dicts(cf->cols, cf->ncols);
    r->p = body;
    st = second_pass(r, cf);
  }
  if (st == GPUDF_OK) st = attach_dicts(t, cf->cols, cf->ncols, cf->nrows);
  r->building = NULL;
  if (st != GPUDF_OK) {
    gpudf_table_free(t);
    return st;
  }
  *out = t;
  return GPUDF_OK;
}

/* ------------------------------------------------------------ in chunks */

/* The parallel reader. The body is cut into chunks at line starts; each
 * chunk reads the records that start in it (the last one may run past its
 * end) on one of the threads (csv_threads.c): pass 1 from the column state
 * the header and options.types leave (the one-core reader's state at the
 * first row), then pass 2 into the rows that follow the earlier chunks'.
 *
 * A line start is a record start unless a quoted field spans it, which a
 * chunk cannot know. So each chunk parses as if it were one, and the
 * chunks are then checked in file order: chunk 0 starts at the first
 * record; the record where chunk k stopped (the first at or after its end)
 * must be the first record chunk k+1 found. When it is not (its start was
 * inside a quoted field), chunk k+1 is parsed again, on this thread, from
 * where chunk k stopped. The reader's state at a record start is its
 * position alone, so the records found are the one-core reader's.
 *
 * Anything but a clean read (an error in a row, a type no inferred rule
 * gives, memory, a dictionary over GPUDF_LABELS_MAX, the file shrinking)
 * drops what the chunks made and leaves the file to the one-core passes,
 * which define every error and its place: the parallel reader only ever
 * returns the table the one-core reader gives. Pass 1's flags only go one
 * way (a value can clear may_int, never set it), so the chunks' flags,
 * ANDed and ORed in file order, are those of one pass over the file; the
 * errors that depend on them (a label longer than GPUDF_LABEL_MAX in a
 * column that is not numeric) are found again from the merged flags.
 *
 * The categorical columns: each chunk codes its labels in its own
 * dictionary; the union of them, sorted, is the one-core reader's sorted
 * dictionary, and each chunk's codes are renumbered to ranks in it. */

enum { CHUNKS_MAX = 4096 };
#define COLS_BYTES ((size_t)64 << 20)

typedef struct chunk {
  const char *lo, *hi;  /* the line starts that bound it (hi: the next chunk's lo) */
  const char *first;    /* pass 1: its first record, or where it found none */
  const char *stop;     /* pass 1: the first record at or after hi, or the end */
  int64_t nrows, row0;  /* its records, and the row of its first */
  gdf_csv_col *cols;    /* pass 1: what it saw of each column; pass 2: its dictionaries */
  size_t map;           /* where its codes' ranks start in maps */
  reader r;
  bool failed;          /* the one-core reader decides */
} chunk;

typedef struct chunks {
  reader base;          /* path, end, delim, fast of the read */
  int n, ncols;
  chunk *c;
  gdf_csv_col *init;    /* the columns before any row (initial_col) */
  const gdf_csv_file *cf; /* the one pass (guess_table): types and columns */
  bool numbers;         /* the one pass: every column a number (count_lines) */
  int32_t *maps;        /* every chunk's code ranks, of column col */
  int col;
} chunks;

static void free_chunks(chunks *s) {
  if (!s) return;
  for (int k = 0; s->c && k < s->n; k++) {
    chunk *ch = &s->c[k];
    for (int j = 0; ch->cols && j < s->ncols; j++) gdf_csv_dict_free(&ch->cols[j].dict);
    free(ch->cols);
    free(ch->r.scratch);
  }
  free(s->c);
  free(s->maps);
  free(s->init);
  free(s);
}

/* Cuts body..end into chunks of about step bytes at line starts; false
 * when that gives fewer than two. */
static gpudf_status split(chunks *s, const char *body, const char *end, size_t step,
                          bool *split_ok) {
  *split_ok = false;
  size_t len = (size_t)(end - body);
  /* Each chunk holds a state per column: at most COLS_BYTES of them in all
   * (with 4096 columns, about 64 chunks), whatever the chunk size. */
  size_t per = (size_t)s->ncols * sizeof(gdf_csv_col);
  int most = (size_t)CHUNKS_MAX * per > COLS_BYTES ? (int)(COLS_BYTES / per) : CHUNKS_MAX;
  if (most < 2) most = 2;
  if (len / (size_t)most >= step) step = len / (size_t)most + 1;
  int n = 0;
  const char *lo[CHUNKS_MAX + 1];
  lo[n++] = body;
  for (size_t at = step; at < len && n < most;) {
    const char *nl = memchr(body + at, '\n', len - at);
    if (!nl || nl + 1 >= end) break;
    lo[n++] = nl + 1;
    /* the next chunk at least step bytes on, and after this line end */
    at += step;
    if (at <= (size_t)(nl - body)) at = (size_t)(nl - body) + 1;
  }
  if (n < 2) return GPUDF_OK;
  s->c = calloc((size_t)n, sizeof *s->c);
  if (!s->c) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  s->n = n;
  for (int k = 0; k < n; k++) {
    s->c[k].lo = lo[k];
    s->c[k].hi = k + 1 < n ? lo[k + 1] : end;
    s->c[k].r = s->base;
  }
  *split_ok = true;
  return GPUDF_OK;
}

/* Pass 1 of one chunk from ch->lo (or from where the previous one stopped,
 * when again): the records that start before ch->hi. */
__attribute__((noinline)) static gpudf_status infer_chunk(const chunks *s, chunk *ch,
                                                          const char *from) {
  reader *r = &ch->r;
  memcpy(ch->cols, s->init, (size_t)s->ncols * sizeof *ch->cols);
  ch->nrows = 0;
  r->p = from;
  if (!next_record(r)) {
    ch->first = ch->stop = r->end;
    return GPUDF_OK;
  }
  ch->first = r->p;
  while (r->p < ch->hi) {
    GDF_TRY(infer_record(r, ch->cols, s->ncols));
    ch->nrows++;
    if (!next_record(r)) {
      ch->stop = r->end;
      return GPUDF_OK;
    }
  }
  ch->stop = r->p;
  return GPUDF_OK;
}

/* Pass 2 of one chunk: its nrows records from ch->first into row0... */
__attribute__((noinline)) static gpudf_status store_chunk(const chunks *s, chunk *ch) {
  reader *r = &ch->r;
  r->p = ch->first;
  for (int64_t row = ch->row0; row < ch->row0 + ch->nrows; row++) {
    if (!next_record(r)) return GDF_ERR(GPUDF_EINVAL, "internal: a chunk has fewer records");
    GDF_TRY(store_record(r, ch->cols, s->ncols, row));
  }
  return GPUDF_OK;
}

/* A chunk's task under its own bus guard (a truncated file raises SIGBUS in
 * the thread that reads past its new end); what it allocates is in ch. */
static void guarded(const chunks *s, chunk *ch, int pass) {
  gdf_bus_guard g;
  gdf_bus_guard_enter(&g, s->base.map, s->base.map_len);
  if (sigsetjmp(g.jmp, 1) == 0) {
    gpudf_status st = GPUDF_OK;
    if (pass == 1 && !ch->cols) {
      ch->cols = malloc((size_t)s->ncols * sizeof *ch->cols);
      if (!ch->cols) st = GPUDF_ENOMEM;
    }
    if (st != GPUDF_OK) {
    } else if (pass == 1) {
      st = infer_chunk(s, ch, ch->lo);
    } else if (pass == 2) {
      st = store_chunk(s, ch);
    } else if (pass == 3) { /* the records' count of the one pass (guess_table) */
      if (!(s->numbers ? count_lines(ch->lo, ch->hi, &ch->nrows)
                       : count_records(ch->lo, ch->hi, &ch->nrows)))
        st = GPUDF_EINVAL;
    } else {
      /* the one pass into rows row0..: the table's columns, the chunk's
       * own dictionaries */
      if (!ch->cols) {
        ch->cols = malloc((size_t)s->ncols * sizeof *ch->cols);
        if (ch->cols) {
          memcpy(ch->cols, s->cf->cols, (size_t)s->ncols * sizeof *ch->cols);
          for (int j = 0; j < s->ncols; j++) memset(&ch->cols[j].dict, 0, sizeof ch->cols[j].dict);
        }
      }
      if (!ch->cols || !fast_pass(&ch->r, ch->lo, ch->hi, ch->cols, s->ncols, ch->row0, ch->nrows))
        st = GPUDF_EINVAL;
    }
    ((volatile chunk *)ch)->failed = st != GPUDF_OK;
  } else {
    ((volatile chunk *)ch)->failed = true;
  }
  gdf_bus_guard_leave(&g);
}

static void task_infer(void *ctx, int k) {
  chunks *s = ctx;
  guarded(s, &s->c[k], 1);
}

static void task_store(void *ctx, int k) {
  chunks *s = ctx;
  guarded(s, &s->c[k], 2);
}

static void task_count(void *ctx, int k) {
  chunks *s = ctx;
  guarded(s, &s->c[k], 3);
}

static void task_fast(void *ctx, int k) {
  chunks *s = ctx;
  guarded(s, &s->c[k], 4);
}

/* Renumbers a chunk's codes of column s->col to their ranks. */
static void task_remap(void *ctx, int k) {
  chunks *s = ctx;
  chunk *ch = &s->c[k];
  int32_t *codes = (int32_t *)ch->cols[s->col].data + ch->row0;
  const int32_t *rank = s->maps + (size_t)ch->map;
  for (int64_t i = 0; i < ch->nrows; i++)
    if (codes[i] >= 0) codes[i] = rank[codes[i]];
}

/* Pass 1 merged: the chunks checked in file order (parsed again from the
 * right record where their start was not one) and their flags combined into
 * c[0].cols. false: the one-core reader decides. */
static bool merge_first(chunks *s) {
  const char *at = NULL; /* where the previous chunk stopped */
  int64_t rows = 0;
  for (int k = 0; k < s->n; k++) {
    chunk *ch = &s->c[k];
    if (k > 0 && ch->first != at) {
      /* its start was not a record start (a quoted field spans it): again
       * from the record where the previous chunk stopped; what it did from
       * the wrong start, a failure included, does not count */
      if (!ch->cols || infer_chunk(s, ch, at) != GPUDF_OK) return false;
    } else if (ch->failed) {
      return false;
    }
    at = ch->stop;
    ch->row0 = rows;
    rows += ch->nrows;
  }
  if (rows == 0) return false; /* "a header but no rows" */
  gdf_csv_col *m = s->c[0].cols;
  for (int k = 1; k < s->n; k++) {
    for (int j = 0; j < s->ncols; j++) {
      const gdf_csv_col *c = &s->c[k].cols[j];
      m[j].may_int &= c->may_int;
      m[j].only_ints &= c->only_ints;
      m[j].may_float &= c->may_float;
      m[j].may_bool &= c->may_bool;
      m[j].missing |= c->missing;
      m[j].values |= c->values;
      m[j].too_long |= c->too_long;
      m[j].inexact |= c->inexact;
    }
  }
  for (int j = 0; j < s->ncols; j++) {
    gdf_csv_col *c = &m[j];
    /* infer_field's refusal of an over-long label, which one pass gives at
     * the value that makes it true */
    if (c->forced == GPUDF_CSV_INFER && c->too_long && !c->may_float && !c->may_bool)
      return false;
    c->type = resolve(c);
    if (c->type == GPUDF_CSV_INFER) return false; /* type_error */
  }
  s->c[0].row0 = rows; /* reused below as the total */
  return true;
}

/* The sorted union of the chunks' dictionaries of column j, into d, and each
 * chunk's codes' ranks in it (s->maps). */
static gpudf_status merge_labels(chunks *s, int j, gdf_csv_dict *d) {
  size_t total = 0;
  for (int k = 0; k < s->n; k++) {
    s->c[k].map = total;
    total += (size_t)s->c[k].cols[j].dict.n;
  }
  free(s->maps);
  s->maps = malloc((total + 1) * sizeof *s->maps);
  if (!s->maps) return GPUDF_ENOMEM;
  for (int k = 0; k < s->n; k++) {
    const gdf_csv_dict *cd = &s->c[k].cols[j].dict;
    int32_t *map = s->maps + s->c[k].map;
    /* more than GPUDF_LABELS_MAX labels in all: gdf_csv_dict_code refuses */
    for (int32_t c = 0; c < cd->n; c++)
      GDF_TRY(gdf_csv_dict_code(d, cd->bytes + cd->off[c], cd->len[c], &map[c]));
  }
  /* The maps hold codes of d: sorting d renumbers them to ranks. */
  gdf_csv_dict_sort(d, s->maps, (int64_t)total);
  return d->labels ? GPUDF_OK : GPUDF_ENOMEM;
}

/* The chunks' dictionaries of the categorical columns of t (types in m)
 * merged into one sorted dictionary each, the codes renumbered, and
 * attached; false when that fails (memory, too many labels). */
static bool chunk_dicts(chunks *s, gpudf_table *t, const gdf_csv_col *m) {
  /* Every column's codes renumbered before the first dictionary is
   * attached, which may move the arena (the data pointers go stale). */
  gdf_csv_dict *dicts = calloc((size_t)s->ncols, sizeof *dicts);
  bool ok = dicts != NULL;
  for (int j = 0; j < s->ncols && ok; j++) {
    if (m[j].type != GPUDF_CSV_CATEGORY) continue;
    ok = merge_labels(s, j, &dicts[j]) == GPUDF_OK;
    s->col = j;
    if (ok) gdf_csv_run(s->base.threads, s->n, task_remap, s);
  }
  for (int j = 0; j < s->ncols && ok; j++)
    if (m[j].type == GPUDF_CSV_CATEGORY)
      ok = gdf_table_set_dictionary(t, j, dicts[j].n, (const char *const *)dicts[j].labels,
                                    dicts[j].lens) == GPUDF_OK;
  for (int j = 0; dicts && j < s->ncols; j++) gdf_csv_dict_free(&dicts[j]);
  free(dicts);
  return ok;
}

/* Pass 2 and the dictionaries, after merge_first: true with the table. */
static bool build_chunks(chunks *s, reader *r, gpudf_table **out) {
  gdf_csv_col *m = s->c[0].cols;
  int64_t rows = s->c[0].row0;
  s->c[0].row0 = 0;
  gpudf_table *t = NULL;
  if (create_columns(m, s->ncols, rows, &t) != GPUDF_OK) return false;
  r->building = t;
  for (int k = 1; k < s->n; k++)
    for (int j = 0; j < s->ncols; j++) {
      s->c[k].cols[j].type = m[j].type;
      s->c[k].cols[j].data = m[j].data;
    }
  gdf_csv_run(s->base.threads, s->n, task_store, s);
  bool ok = true;
  for (int k = 0; k < s->n && ok; k++) ok = !s->c[k].failed;
  ok = ok && chunk_dicts(s, t, m);
  r->building = NULL;
  if (!ok) {
    gpudf_table_free(t);
    return false;
  }
  *out = t;
  return true;
}

/* A chunks for the records from body (read_header stopped there), cut; NULL
 * when the file does not make two chunks or memory is short (the one-core
 * reader then reports it). On r->par, so that a SIGBUS landing frees it. */
static chunks *start_chunks(reader *r, const char *body, const gdf_csv_file *cf) {
  chunks *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  r->par = s;
  s->base = *r;
  s->base.scratch = NULL;
  s->base.scratch_cap = 0;
  s->base.building = NULL;
  s->base.par = NULL;
  s->ncols = cf->ncols;
  s->cf = cf;
  s->init = malloc((size_t)cf->ncols * sizeof *s->init);
  bool split_ok = false;
  if (s->init) {
    for (int j = 0; j < cf->ncols; j++) initial_col(&cf->cols[j], &s->init[j]);
    if (split(s, body, r->end, r->chunk, &split_ok) != GPUDF_OK) split_ok = false;
  }
  if (!split_ok) {
    r->par = NULL;
    free_chunks(s);
    return NULL;
  }
  return s;
}

static void end_chunks(reader *r) {
  free_chunks(r->par);
  r->par = NULL;
}

/* The parallel read (the two passes in chunks): *out, or NULL for the
 * one-core reader. */
static void parallel_read(reader *r, const char *body, const gdf_csv_file *cf,
                          gpudf_table **out) {
  *out = NULL;
  chunks *s = start_chunks(r, body, cf);
  if (!s) return;
  gdf_csv_run(r->threads, s->n, task_infer, s);
  if (merge_first(s)) build_chunks(s, r, out);
  end_chunks(r);
}

/* guess_table's count and fast_pass in chunks (cf as guess_table has it;
 * numbers: every column int64 or float64): *out with every value read;
 * NULL when the one-core way would not give a table either (a '"' in a file
 * of numbers, a table that cannot be created, a field fast_pass does not
 * take), or when a chunk ends inside quotes (its next one may not start at
 * a record). false when the file makes no chunks: then the one-core way.
 * The chunks are read at once, each from its first line, taking it for a
 * record start; each must then read exactly the records counted in it and
 * end where the next one starts. Chunk 0 starts at the first record, so
 * then each chunk starts at one (in file order), and reads what the one-core
 * fast_pass reads there. */
static bool parallel_guess(reader *r, const char *body, gdf_csv_file *cf, bool numbers,
                           gpudf_table **out) {
  *out = NULL;
  chunks *s = start_chunks(r, body, cf);
  if (!s) return false;
  s->numbers = numbers;
  bool ok = true;
  gdf_csv_run(r->threads, s->n, task_count, s);
  int64_t rows = 0;
  for (int k = 0; k < s->n && ok; k++) {
    ok = !s->c[k].failed;
    s->c[k].row0 = rows;
    rows += s->c[k].nrows;
  }
  /* the last line may lack its '\n' */
  if (ok && r->end[-1] != '\n') {
    s->c[s->n - 1].nrows++;
    rows++;
  }
  gpudf_table *t = NULL;
  ok = ok && rows >= 1 && create_table(cf, rows, &t) == GPUDF_OK;
  if (ok) {
    r->building = t;
    gdf_csv_run(r->threads, s->n, task_fast, s);
    for (int k = 0; k < s->n && ok; k++) ok = !s->c[k].failed;
    ok = ok && chunk_dicts(s, t, cf->cols);
    r->building = NULL;
    if (ok) *out = t;
    else gpudf_table_free(t);
  }
  end_chunks(r);
  return true;
}

/* One pass instead of two: after pass 1 over the first rows (cf as it left
 * it), takes the types they give for the whole file when only a field that
 * fast_pass refuses could change them (guessable), counts the records and
 * parses them with fast_pass. *out stays NULL when that does not work out
 * (a type the first rows did not show, a field fast_pass does not take, a
 * quote in a file of numbers); nothing is kept then (the dictionaries are
 * emptied), and the caller goes on with pass 1 where it stopped. */
static gpudf_status guess_table(reader *r, const char *body, gdf_csv_file *cf,
                                gpudf_table **out) {
  *out = NULL;
  for (int j = 0; j < cf->ncols; j++) cf->cols[j].type = resolve(&cf->cols[j]);
  bool numbers;
  if (!guessable(r, cf, false, &numbers)) return GPUDF_OK;
  /* In chunks when the read has them; the same outcome as below, or the
   * way below when the file does not make chunks. */
  if (r->chunk && parallel_guess(r, body, cf, numbers, out)) return GPUDF_OK;
  int64_t lines;
  if (!(numbers ? count_lines(body, r->end, &lines) : count_records(body, r->end, &lines)))
    return GPUDF_OK;
  lines += r->end > body && r->end[-1] != '\n';
  if (lines < 1) return GPUDF_OK;
  /* Failing to create the table (memory) is no error yet: the rows after
   * the first may hold one, which comes first (the documented order); the
   * general passes create the table again and report what fails then. */
  gpudf_table *t = NULL;
  if (create_table(cf, lines, &t) != GPUDF_OK) return GPUDF_OK;
  r->building = t;
  bool read = fast_pass(r, body, r->end, cf->cols, cf->ncols, 0, lines) &&
              attach_dicts(t, cf->cols, cf->ncols, lines) == GPUDF_OK;
  r->building = NULL;
  clear_dicts(cf->cols, cf->ncols);
  if (read) *out = t;
  else gpudf_table_free(t);
  return GPUDF_OK;
}

/* The rows pass 1 looks at before guess_table tries the types they give;
 * GPUDF_CSV_INFER_ROWS (a positive number) sets it, for the tests. */
static int64_t infer_rows(void) {
  const char *e = getenv("GPUDF_CSV_INFER_ROWS");
  long long n = e ? strtoll(e, NULL, 10) : 0;
  return n > 0 ? (int64_t)n : 1000;
}

enum { TAIL_PAD = 64 }; /* readable bytes after the file: '\n', then zeros */

/* Maps the file privately into a reservation TAIL_PAD bytes longer (the
 * reservation's pages past the file are anonymous zeros; so are the bytes
 * after the end of the file in its last page) and writes '\n' after the last
 * byte, in this process's copy only. *span is what to unmap. */
static gpudf_status map_file(const char *path, char **data, size_t *size, size_t *span) {
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
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (size_t)st.st_size, whole = (n + TAIL_PAD + page - 1) / page * page;
    void *base = mmap(NULL, whole, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* Read-only: only the page that gets the '\n' is made writable (a
     * private copy of at most one page). */
    void *p = base == MAP_FAILED ? MAP_FAILED
                                 : mmap(base, n, PROT_READ, MAP_PRIVATE | MAP_FIXED,
                                        fd, 0);
    if (p != MAP_FAILED && n % page &&
        mprotect((char *)p + n / page * page, page, PROT_READ | PROT_WRITE) != 0)
      p = MAP_FAILED;
    if (p == MAP_FAILED) {
      s = GDF_ERR(gdf_status_from_errno(errno), "%s: cannot map %lld bytes: %s", path,
                  (long long)st.st_size, strerror(errno));
      if (base != MAP_FAILED) munmap(base, whole);
    } else {
      madvise(p, n, MADV_SEQUENTIAL);
      *data = p;
      (*data)[n] = '\n';
      *size = n;
      *span = whole;
    }
  }
  close(fd);
  return s;
}

/* Everything that reads the mapped file, out of line so that its state is
 * in r, cf and *out (memory the caller can still free) when a SIGBUS jumps
 * back to gpudf_table_read_csv. */
__attribute__((noinline)) static gpudf_status parse(reader *r, gdf_csv_file *cf,
                                                    const gpudf_csv_options *o,
                                                    gpudf_table **out) {
  gpudf_status st = read_header(r, cf);
  if (st == GPUDF_OK) st = apply_forced(r, cf, o);
  const char *body = r->p;
  int64_t body_line = r->line;
  bool done = false;
  if (st == GPUDF_OK) st = first_pass(r, cf, infer_rows(), &done);
  bool try_fast = true;
  if (st == GPUDF_OK && !done) {
    st = guess_table(r, body, cf, out);
    if (st == GPUDF_OK && !*out && r->chunk) parallel_read(r, body, cf, out);
    if (st == GPUDF_OK && !*out) {
      st = first_pass(r, cf, INT64_MAX, &done);
      /* fast_pass again only when the types it stopped at changed */
      try_fast = false;
      for (int j = 0; j < cf->ncols; j++) try_fast |= resolve(&cf->cols[j]) != cf->cols[j].type;
    }
  } else if (st == GPUDF_OK && r->chunk && r->chunk_forced) {
    /* A file shorter than the rows pass 1 looked at is read in chunks only
     * when the chunks were asked for (tests: the same table either way). */
    parallel_read(r, body, cf, out);
  }
  if (st == GPUDF_OK && !*out) st = type_error(r, cf);
  if (st == GPUDF_OK && !*out) {
    r->line = body_line;
    st = build_table(r, body, cf, try_fast, out);
  }
  return st;
}

gpudf_status gpudf_table_read_csv(const char *path, const gpudf_csv_options *opts,
                                  gpudf_table **out) {
  GDF_ENTER();
  if (!path || !out) return GDF_ERR(GPUDF_EINVAL, "path or out is NULL");
  *out = NULL;
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  if (opts) {
    /* Since 0.1, up to types; threads was added after (0 when absent). */
    GDF_TRY(gdf_versioned_in(&o, sizeof o, opts, offsetof(gpudf_csv_options, threads),
                             "options", "gpudf_csv_options_init"));
    if (o.version != GPUDF_CSV_OPTIONS_VERSION)
      return GDF_ERR(GPUDF_EINVAL, "options not initialised with gpudf_csv_options_init "
                     "(size %zu, version %d)", opts->size, o.version);
  }
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r' || o.delimiter == '\0')
    return GDF_ERR(GPUDF_EINVAL, "delimiter %d cannot separate fields", (int)o.delimiter);
  GDF_TRY(check_forced(&o));
  int threads = 1;
  size_t forced_chunk = 0;
  GDF_TRY(gdf_csv_threads(o.threads, &threads));
  GDF_TRY(gdf_csv_chunk_bytes(&forced_chunk));
  char *data = NULL;
  size_t size = 0, span = 0;
  GDF_TRY(map_file(path, &data, &size, &span));
  reader r = {.path = path, .p = data, .end = data + size, .delim = o.delimiter, .line = 1,
              .map = data, .map_len = size, .threads = threads};
  r.chunk_forced = forced_chunk > 0;
  /* Chunks of GPUDF_CSV_CHUNK_BYTES when set (tests), else a few per thread
   * of at least 1 MiB: a smaller file is read on one core. */
  r.chunk = forced_chunk;
  if (!r.chunk && r.threads > 1) {
    r.chunk = size / ((size_t)r.threads * 4);
    if (r.chunk < ((size_t)1 << 20)) r.chunk = (size_t)1 << 20;
  }
  /* The in-place scanners would read a delimiter that can be part of a
   * number as part of it. */
  r.fast = !memchr("0123456789+-.eE", o.delimiter, 15);
  gdf_csv_file *cf = calloc(1, sizeof *cf);
  gpudf_status st = cf ? GPUDF_OK : GDF_ERR(GPUDF_ENOMEM, "out of memory");
  if (st == GPUDF_OK) {
    /* Another process may truncate the file while it is read: the pages
     * past its new end then raise SIGBUS, which becomes this error. */
    gdf_bus_guard guard;
    gdf_bus_guard_enter(&guard, data, size);
    if (sigsetjmp(guard.jmp, 1) == 0) {
      st = parse(&r, cf, &o, out);
    } else {
      /* r and *out are read from memory: parse wrote them there. */
      gpudf_table *volatile *building = &r.building;
      if (*building) gpudf_table_free(*building);
      *building = NULL;
      chunks *volatile *par = &r.par;
      free_chunks(*par);
      *par = NULL;
      gpudf_table *volatile *made = out;
      if (*made) gpudf_table_free(*made);
      *made = NULL;
      st = GDF_ERR(GPUDF_EIO, "%s: the file shrank while it was read (it had %zu bytes when "
                   "opened: another process truncated or rewrote it); nothing was loaded",
                   path, size);
    }
    gdf_bus_guard_leave(&guard);
  }
  if (cf)
    for (int j = 0; j < cf->ncols; j++) gdf_csv_dict_free(&cf->cols[j].dict);
  free(cf);
  free(*(char *volatile *)&r.scratch); /* parse may have grown it before a jump */
  munmap(data, span);
  return st;
}
