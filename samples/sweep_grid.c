/*
 * sweep_grid.c - grid specs, --where filters and config tables for
 * gpudf-sweep (see sweep_grid.h).
 */
#include "sweep_grid.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SG_MAXP = 64 };

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int parse_number(const char *s, size_t len, double *out) {
  char buf[128];
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = 0;
  char *end;
  double v = strtod(buf, &end);
  if (*end || end == buf || isnan(v)) return -1;
  *out = v;
  return 0;
}

/* Index of the parameter named by s[0..len), or -1. */
static int find_param(const gpudf_kernel *k, const char *s, size_t len) {
  int np = gpudf_kernel_nparams(k);
  for (int i = 0; i < np; i++) {
    gpudf_param_info pi;
    if (gpudf_kernel_param(k, i, &pi) != GPUDF_OK) continue;
    if (strlen(pi.name) == len && memcmp(pi.name, s, len) == 0) return i;
  }
  return -1;
}

int sg_check_value(const gpudf_kernel *k, const gpudf_table *t, int param, double v,
                   char *err, size_t errlen) {
  gpudf_param_info pi;
  if (gpudf_kernel_param(k, param, &pi) != GPUDF_OK)
    return fail(err, errlen, "no parameter %d", param);
  if (!isfinite(v) && pi.kind != GPUDF_PARAM_REAL)
    return fail(err, errlen, "parameter '%s': %g is not a finite number", pi.name, v);
  if (isnan(v)) return fail(err, errlen, "parameter '%s' cannot be NaN", pi.name);
  switch (pi.kind) {
  case GPUDF_PARAM_COLUMN:
    if (v != floor(v) || v < 0 || v >= gpudf_table_ncols(t))
      return fail(err, errlen, "parameter '%s': no column %g (the table has %d)", pi.name, v,
                  gpudf_table_ncols(t));
    return 0;
  case GPUDF_PARAM_CHOICE:
    if (v != floor(v) || v < 0 || v >= pi.nchoices)
      return fail(err, errlen, "parameter '%s': choice %g out of range 0..%d", pi.name, v,
                  pi.nchoices - 1);
    return 0;
  case GPUDF_PARAM_INTEGER:
    if (v != floor(v))
      return fail(err, errlen, "parameter '%s' is an integer, got %.17g", pi.name, v);
    /* fall through */
  case GPUDF_PARAM_REAL:
    if (v < pi.min || v > pi.max)
      return fail(err, errlen, "parameter '%s' = %.17g is outside its range [%.17g, %.17g]",
                  pi.name, v, pi.min, pi.max);
    return 0;
  }
  return fail(err, errlen, "parameter '%s' has an unknown kind", pi.name);
}

/* Parses s[0..len) as a value of param (see sg_parse_value). */
static int parse_value_n(const gpudf_kernel *k, const gpudf_table *t, int param,
                         const char *s, size_t len, double *out, char *err, size_t errlen) {
  gpudf_param_info pi;
  if (gpudf_kernel_param(k, param, &pi) != GPUDF_OK)
    return fail(err, errlen, "no parameter %d", param);
  if (pi.kind == GPUDF_PARAM_CHOICE) {
    for (int c = 0; c < pi.nchoices; c++)
      if (strlen(pi.choices[c]) == len && memcmp(pi.choices[c], s, len) == 0) {
        *out = c;
        return 0;
      }
  } else if (pi.kind == GPUDF_PARAM_COLUMN && t) {
    int nc = gpudf_table_ncols(t);
    for (int c = 0; c < nc; c++) {
      const char *name = gpudf_table_column_name(t, c);
      if (name && strlen(name) == len && memcmp(name, s, len) == 0) {
        *out = c;
        return 0;
      }
    }
  }
  double v;
  if (parse_number(s, len, &v) != 0) {
    if (pi.kind == GPUDF_PARAM_CHOICE) {
      char list[512] = "";
      size_t used = 0;
      for (int c = 0; c < pi.nchoices && used < sizeof list; c++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "",
                                 pi.choices[c]);
      return fail(err, errlen, "parameter '%s': unknown choice '%.*s' (choices: %s)", pi.name,
                  (int)len, s, list);
    }
    if (pi.kind == GPUDF_PARAM_COLUMN)
      return fail(err, errlen, "parameter '%s': the table has no column '%.*s'", pi.name,
                  (int)len, s);
    return fail(err, errlen, "parameter '%s': expected a number, got '%.*s'", pi.name, (int)len,
                s);
  }
  if (sg_check_value(k, t, param, v, err, errlen) != 0) return -1;
  *out = v;
  return 0;
}

int sg_parse_value(const gpudf_kernel *k, const gpudf_table *t, int param, const char *text,
                   double *out, char *err, size_t errlen) {
  return parse_value_n(k, t, param, text, strlen(text), out, err, errlen);
}

void sg_format_value(const gpudf_kernel *k, const gpudf_table *t, int param, double v,
                     char *buf, size_t len) {
  gpudf_param_info pi;
  if (gpudf_kernel_param(k, param, &pi) == GPUDF_OK && v == floor(v) && v >= 0) {
    if (pi.kind == GPUDF_PARAM_CHOICE && v < pi.nchoices) {
      snprintf(buf, len, "%s", pi.choices[(int)v]);
      return;
    }
    if (pi.kind == GPUDF_PARAM_COLUMN && t && v < gpudf_table_ncols(t)) {
      snprintf(buf, len, "%s", gpudf_table_column_name(t, (int)v));
      return;
    }
  }
  snprintf(buf, len, "%.17g", v);
}

/* ------------------------------------------------------------------ where */

typedef enum { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE } cmp_op;

typedef struct operand {
  int param; /* -1: a constant */
  double value;
} operand;

typedef struct clause {
  operand a, b;
  cmp_op op;
} clause;

typedef struct where_expr {
  int n;
  clause *c;
} where_expr;

static void skip_ws(const char *s, size_t *i) {
  while (s[*i] && isspace((unsigned char)s[*i])) (*i)++;
}

/* A token: identifier [A-Za-z_][A-Za-z0-9_.-]* or a number. */
static size_t token_len(const char *s) {
  size_t n = 0;
  if (isalpha((unsigned char)s[0]) || s[0] == '_') {
    while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.') n++;
    return n;
  }
  while (s[n] && (isalnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '+' || s[n] == '-')) {
    /* '+'/'-' only at the start or after an exponent */
    if ((s[n] == '+' || s[n] == '-') && n > 0 && s[n - 1] != 'e' && s[n - 1] != 'E') break;
    n++;
  }
  return n;
}

static int is_ident(const char *s) { return isalpha((unsigned char)s[0]) || s[0] == '_'; }

static int parse_where(const gpudf_kernel *k, const gpudf_table *t, const char *w,
                       where_expr *out, char *err, size_t errlen) {
  out->n = 0;
  out->c = NULL;
  size_t i = 0, cap = 0;
  skip_ws(w, &i);
  if (!w[i]) return 0;
  for (;;) {
    clause c;
    const char *tok[2];
    size_t tlen[2], tpos[2];
    for (int side = 0; side < 2; side++) {
      skip_ws(w, &i);
      size_t n = token_len(w + i);
      if (n == 0)
        return fail(err, errlen, "--where: at position %zu: expected a parameter name or a number, got '%.10s'",
                    i + 1, w[i] ? w + i : "end of expression");
      tok[side] = w + i;
      tlen[side] = n;
      tpos[side] = i;
      i += n;
      if (side == 0) {
        skip_ws(w, &i);
        const char *o = w + i;
        size_t ol = 0;
        if (o[0] == '<' && o[1] == '=') c.op = OP_LE, ol = 2;
        else if (o[0] == '>' && o[1] == '=') c.op = OP_GE, ol = 2;
        else if (o[0] == '=' && o[1] == '=') c.op = OP_EQ, ol = 2;
        else if (o[0] == '!' && o[1] == '=') c.op = OP_NE, ol = 2;
        else if (o[0] == '<') c.op = OP_LT, ol = 1;
        else if (o[0] == '>') c.op = OP_GT, ol = 1;
        else
          return fail(err, errlen,
                      "--where: at position %zu: expected a comparison (<, <=, >, >=, ==, !=), got '%.10s'",
                      i + 1, o[0] ? o : "end of expression");
        i += ol;
      }
    }
    operand *ops[2] = {&c.a, &c.b};
    for (int side = 0; side < 2; side++) {
      ops[side]->param = -1;
      if (is_ident(tok[side])) {
        int p = find_param(k, tok[side], tlen[side]);
        if (p >= 0) {
          ops[side]->param = p;
          continue;
        }
        /* A choice or column name compared with such a parameter. */
        int other = find_param(k, tok[1 - side], tlen[1 - side]);
        char sub[256];
        if (other >= 0 &&
            parse_value_n(k, t, other, tok[side], tlen[side], &ops[side]->value, sub,
                          sizeof sub) == 0)
          continue;
        return fail(err, errlen, "--where: at position %zu: unknown parameter '%.*s'",
                    tpos[side] + 1, (int)tlen[side], tok[side]);
      }
      if (parse_number(tok[side], tlen[side], &ops[side]->value) != 0)
        return fail(err, errlen, "--where: at position %zu: expected a number, got '%.*s'",
                    tpos[side] + 1, (int)tlen[side], tok[side]);
    }
    if ((size_t)out->n == cap) {
      cap = cap ? 2 * cap : 4;
      clause *nc = realloc(out->c, cap * sizeof *nc);
      if (!nc) return fail(err, errlen, "out of memory");
      out->c = nc;
    }
    out->c[out->n++] = c;
    skip_ws(w, &i);
    if (!w[i]) return 0;
    if (strncmp(w + i, "and", 3) == 0 && !isalnum((unsigned char)w[i + 3]) && w[i + 3] != '_') {
      i += 3;
      continue;
    }
    return fail(err, errlen, "--where: at position %zu: expected 'and' or the end, got '%.10s'",
                i + 1, w + i);
  }
}

static int where_holds(const where_expr *e, const double *cfg) {
  for (int j = 0; j < e->n; j++) {
    const clause *c = &e->c[j];
    double a = c->a.param >= 0 ? cfg[c->a.param] : c->a.value;
    double b = c->b.param >= 0 ? cfg[c->b.param] : c->b.value;
    int ok = 0;
    switch (c->op) {
    case OP_LT: ok = a < b; break;
    case OP_LE: ok = a <= b; break;
    case OP_GT: ok = a > b; break;
    case OP_GE: ok = a >= b; break;
    case OP_EQ: ok = a == b; break;
    case OP_NE: ok = a != b; break;
    }
    if (!ok) return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------- grid */

typedef struct axis {
  int param;
  int64_t n;
  double *values;
} axis;

static void free_axes(axis *ax, int n) {
  for (int i = 0; i < n; i++) free(ax[i].values);
}

/* The default of each column parameter: the first column of t of a type it
 * accepts (gpudf_kernel_default_column), not column 0 whatever it holds.
 * Where none fits, base keeps column 0 and nofit[p] is set: an error only if
 * no --set, axis or --configs column gives the parameter (needs_column). */
static void default_columns(const gpudf_kernel *k, const gpudf_table *t, double *base,
                            int *nofit) {
  for (int p = 0; t && p < gpudf_kernel_nparams(k); p++) {
    int col;
    if (!gpudf_kernel_param_accepts(k, p)) continue;
    if (gpudf_kernel_default_column(k, p, t, &col) == GPUDF_OK) base[p] = col;
    else nofit[p] = 1;
  }
}

/* -1 with gpudf_kernel_default_column's message when a parameter without a
 * default column is given by nothing (given[p] == 0). */
static int needs_column(const gpudf_kernel *k, const gpudf_table *t, const int *nofit,
                        const int *given, char *err, size_t errlen) {
  for (int p = 0; p < gpudf_kernel_nparams(k); p++) {
    int col;
    if (nofit[p] && !given[p] && gpudf_kernel_default_column(k, p, t, &col) != GPUDF_OK)
      return fail(err, errlen, "%s; give the column with --set", gpudf_last_error());
  }
  return 0;
}

/* Applies --set values and defaults to base; marks fixed[], and nofit[]
 * (see default_columns). */
static int apply_sets(const gpudf_kernel *k, const gpudf_table *t, const sg_request *req,
                      double *base, int *fixed, int *nofit, char *err, size_t errlen) {
  if (gpudf_kernel_defaults(k, base) != GPUDF_OK)
    return fail(err, errlen, "%s", gpudf_last_error());
  default_columns(k, t, base, nofit);
  for (int s = 0; s < req->nsets; s++) {
    const char *set = req->sets[s];
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
      return fail(err, errlen, "--set: expected NAME=VALUE, got '%s'", set);
    int p = find_param(k, set, (size_t)(eq - set));
    if (p < 0)
      return fail(err, errlen, "--set: kernel '%s' has no parameter '%.*s'",
                  gpudf_kernel_name(k), (int)(eq - set), set);
    char sub[512];
    if (sg_parse_value(k, t, p, eq + 1, &base[p], sub, sizeof sub) != 0)
      return fail(err, errlen, "--set %s: %s", set, sub);
    fixed[p] = 1;
  }
  return 0;
}

static int parse_axis(const gpudf_kernel *k, const gpudf_table *t, const char *g, size_t pos,
                      size_t len, const int *fixed, const int *in_grid, int64_t max_n, axis *ax,
                      char *err, size_t errlen) {
  const char *s = g + pos;
  ax->param = -1;
  ax->n = 0;
  ax->values = NULL;
  const char *eq = memchr(s, '=', len);
  if (!eq || eq == s)
    return fail(err, errlen, "--grid: at position %zu: expected NAME=VALUES, got '%.*s'",
                pos + 1, (int)len, s);
  size_t nlen = (size_t)(eq - s);
  int p = find_param(k, s, nlen);
  if (p < 0)
    return fail(err, errlen, "--grid: at position %zu: kernel '%s' has no parameter '%.*s'",
                pos + 1, gpudf_kernel_name(k), (int)nlen, s);
  if (fixed[p])
    return fail(err, errlen, "--grid: at position %zu: parameter '%.*s' is also given by --set",
                pos + 1, (int)nlen, s);
  if (in_grid[p])
    return fail(err, errlen, "--grid: at position %zu: parameter '%.*s' appears twice",
                pos + 1, (int)nlen, s);
  ax->param = p;
  ax->n = 0;
  ax->values = NULL;
  const char *v = eq + 1;
  size_t vlen = len - nlen - 1;
  size_t vpos = pos + nlen + 1;
  char sub[512];
  if (vlen == 0)
    return fail(err, errlen, "--grid: at position %zu: no values for '%.*s'", vpos + 1,
                (int)nlen, s);
  if (memchr(v, ':', vlen)) {
    double r[3] = {0, 0, 1};
    int nr = 0;
    size_t a = 0;
    for (;;) {
      const char *c = memchr(v + a, ':', vlen - a);
      size_t e = c ? (size_t)(c - v) : vlen;
      if (nr == 3)
        return fail(err, errlen, "--grid: at position %zu: a range is start:stop:step",
                    vpos + a + 1);
      if (parse_number(v + a, e - a, &r[nr]) != 0 || !isfinite(r[nr]))
        return fail(err, errlen, "--grid: at position %zu: expected a number in range '%.*s', got '%.*s'",
                    vpos + a + 1, (int)vlen, v, (int)(e - a), v + a);
      nr++;
      if (!c) break;
      a = e + 1;
    }
    if (nr < 2)
      return fail(err, errlen, "--grid: at position %zu: a range is start:stop:step",
                  vpos + 1);
    if (!(r[2] > 0))
      return fail(err, errlen, "--grid: at position %zu: range '%.*s': step must be > 0",
                  vpos + 1, (int)vlen, v);
    if (!(r[1] > r[0]))
      return fail(err, errlen,
                  "--grid: at position %zu: range '%.*s' is empty (stop must be greater than start; stop is excluded)",
                  vpos + 1, (int)vlen, v);
    double q = (r[1] - r[0]) / r[2];
    double cnt = ceil(q - 1e-9 * (q > 1 ? q : 1));
    if (cnt < 1) cnt = 1;
    if (cnt > (double)max_n)
      return fail(err, errlen, "--grid: at position %zu: range '%.*s' has %.0f values, more than the limit of %lld configs",
                  vpos + 1, (int)vlen, v, cnt, (long long)max_n);
    ax->n = (int64_t)cnt;
    ax->values = malloc((size_t)ax->n * sizeof(double));
    if (!ax->values) return fail(err, errlen, "out of memory");
    for (int64_t i = 0; i < ax->n; i++) {
      ax->values[i] = r[0] + (double)i * r[2];
      if (sg_check_value(k, t, p, ax->values[i], sub, sizeof sub) != 0)
        return fail(err, errlen, "--grid: at position %zu: range '%.*s': %s", vpos + 1,
                    (int)vlen, v, sub);
    }
    return 0;
  }
  size_t cap = 0, a = 0;
  for (;;) {
    const char *c = memchr(v + a, ',', vlen - a);
    size_t e = c ? (size_t)(c - v) : vlen;
    if ((size_t)ax->n == cap) {
      cap = cap ? 2 * cap : 8;
      double *nv = realloc(ax->values, cap * sizeof *nv);
      if (!nv) return fail(err, errlen, "out of memory");
      ax->values = nv;
    }
    if (e == a)
      return fail(err, errlen, "--grid: at position %zu: empty value in list '%.*s'",
                  vpos + a + 1, (int)vlen, v);
    if (parse_value_n(k, t, p, v + a, e - a, &ax->values[ax->n], sub, sizeof sub) != 0)
      return fail(err, errlen, "--grid: at position %zu: %s", vpos + a + 1, sub);
    ax->n++;
    if (!c) break;
    a = e + 1;
  }
  return 0;
}

int sg_build_grid(const gpudf_kernel *k, const gpudf_table *t, const sg_request *req,
                  double **configs, int64_t *n, char *err, size_t errlen) {
  *configs = NULL;
  *n = 0;
  int np = gpudf_kernel_nparams(k);
  if (np < 0 || np > SG_MAXP) return fail(err, errlen, "kernel has %d parameters", np);
  double base[SG_MAXP];
  int fixed[SG_MAXP] = {0}, in_grid[SG_MAXP] = {0}, nofit[SG_MAXP] = {0};
  int64_t max_n = req->max_configs > 0 ? req->max_configs : INT64_MAX / 2;
  if (apply_sets(k, t, req, base, fixed, nofit, err, errlen) != 0) return -1;

  axis ax[SG_MAXP];
  int nax = 0;
  int rc = -1;
  double *out = NULL;
  where_expr we = {0, NULL};
  const char *g = req->grid ? req->grid : "";
  size_t i = 0;
  for (;;) {
    while (g[i] && isspace((unsigned char)g[i])) i++;
    if (!g[i]) break;
    size_t j = i;
    while (g[j] && !isspace((unsigned char)g[j])) j++;
    if (nax == SG_MAXP) {
      fail(err, errlen, "--grid: at position %zu: too many axes", i + 1);
      goto done;
    }
    if (parse_axis(k, t, g, i, j - i, fixed, in_grid, max_n, &ax[nax], err, errlen) != 0) {
      nax++;
      goto done;
    }
    in_grid[ax[nax].param] = 1;
    nax++;
    i = j;
  }
  for (int p = 0; p < np; p++) in_grid[p] |= fixed[p];
  if (needs_column(k, t, nofit, in_grid, err, errlen) != 0) goto done;
  double total = 1;
  for (int a = 0; a < nax; a++) total *= (double)ax[a].n;
  if (total > (double)max_n) {
    char desc[256] = "";
    size_t used = 0;
    for (int a = 0; a < nax && used < sizeof desc; a++)
      used += (size_t)snprintf(desc + used, sizeof desc - used, "%s%lld", a ? " x " : "",
                               (long long)ax[a].n);
    fail(err, errlen,
         "--grid: %s = %.0f configs, more than the limit of %lld; use coarser steps or --configs",
         desc, total, (long long)max_n);
    goto done;
  }
  if (parse_where(k, t, req->where ? req->where : "", &we, err, errlen) != 0) goto done;
  int64_t tot = (int64_t)total;
  out = malloc((size_t)(tot ? tot : 1) * (size_t)(np ? np : 1) * sizeof(double));
  if (!out) {
    fail(err, errlen, "out of memory for %lld configs", (long long)tot);
    goto done;
  }
  int64_t idx[SG_MAXP] = {0};
  int64_t kept = 0;
  double cfg[SG_MAXP];
  memcpy(cfg, base, (size_t)np * sizeof(double));
  for (int64_t c = 0; c < tot; c++) {
    for (int a = 0; a < nax; a++) cfg[ax[a].param] = ax[a].values[idx[a]];
    if (where_holds(&we, cfg)) memcpy(out + kept++ * np, cfg, (size_t)np * sizeof(double));
    for (int a = nax - 1; a >= 0; a--) {
      if (++idx[a] < ax[a].n) break;
      idx[a] = 0;
    }
  }
  if (kept == 0) {
    free(out);
    out = NULL;
  }
  *configs = out;
  *n = kept;
  out = NULL;
  rc = 0;
done:
  free(out);
  free(we.c);
  free_axes(ax, nax);
  return rc;
}

int sg_build_from_table(const gpudf_kernel *k, const gpudf_table *t, const gpudf_table *cfg,
                        const sg_request *req, double **configs, int64_t *n, char *err,
                        size_t errlen) {
  *configs = NULL;
  *n = 0;
  int np = gpudf_kernel_nparams(k);
  if (np < 0 || np > SG_MAXP) return fail(err, errlen, "kernel has %d parameters", np);
  double base[SG_MAXP];
  int fixed[SG_MAXP] = {0}, nofit[SG_MAXP] = {0}, given[SG_MAXP] = {0};
  if (apply_sets(k, t, req, base, fixed, nofit, err, errlen) != 0) return -1;
  int nc = gpudf_table_ncols(cfg);
  int colp[GPUDF_MAX_COLUMNS];
  for (int c = 0; c < nc; c++) {
    const char *name = gpudf_table_column_name(cfg, c);
    int p = find_param(k, name, strlen(name));
    if (p < 0)
      return fail(err, errlen, "--configs: column '%s' is not a parameter of kernel '%s'", name,
                  gpudf_kernel_name(k));
    if (fixed[p])
      return fail(err, errlen, "--configs: parameter '%s' is also given by --set", name);
    for (int d = 0; d < c; d++)
      if (colp[d] == p) return fail(err, errlen, "--configs: column '%s' appears twice", name);
    colp[c] = p;
    given[p] = 1;
  }
  for (int p = 0; p < np; p++) given[p] |= fixed[p];
  if (needs_column(k, t, nofit, given, err, errlen) != 0) return -1;
  where_expr we;
  if (parse_where(k, t, req->where ? req->where : "", &we, err, errlen) != 0) {
    free(we.c);
    return -1;
  }
  int64_t rows = gpudf_table_nrows(cfg);
  if (req->max_configs > 0 && rows > req->max_configs) {
    free(we.c);
    return fail(err, errlen, "--configs: %lld configs, more than the limit of %lld",
                (long long)rows, (long long)req->max_configs);
  }
  double *out = malloc((size_t)(rows ? rows : 1) * (size_t)(np ? np : 1) * sizeof(double));
  if (!out) {
    free(we.c);
    return fail(err, errlen, "out of memory");
  }
  int64_t kept = 0;
  char sub[512];
  for (int64_t r = 0; r < rows; r++) {
    double row[SG_MAXP];
    memcpy(row, base, (size_t)np * sizeof(double));
    for (int c = 0; c < nc; c++) {
      const void *data = gpudf_table_column_data(cfg, c);
      double v = NAN;
      if (gpudf_table_column_is_categorical(cfg, c)) {
        int32_t code = ((const int32_t *)data)[r];
        const char *label = gpudf_table_column_label(cfg, c, code);
        if (!label || sg_parse_value(k, t, colp[c], label, &v, sub, sizeof sub) != 0) {
          free(out);
          free(we.c);
          return fail(err, errlen, "--configs: row %lld: %s", (long long)r + 1,
                      label ? sub : "missing value");
        }
      } else {
        switch (gpudf_table_column_type(cfg, c)) {
        case GPUDF_TYPE_I32: v = ((const int32_t *)data)[r]; break;
        case GPUDF_TYPE_I64: v = (double)((const int64_t *)data)[r]; break;
        case GPUDF_TYPE_F32: v = ((const float *)data)[r]; break;
        case GPUDF_TYPE_F64: v = ((const double *)data)[r]; break;
        case GPUDF_TYPE_BOOL: v = ((const uint8_t *)data)[r]; break;
        }
        if (sg_check_value(k, t, colp[c], v, sub, sizeof sub) != 0) {
          free(out);
          free(we.c);
          return fail(err, errlen, "--configs: row %lld: %s", (long long)r + 1, sub);
        }
      }
      row[colp[c]] = v;
    }
    if (where_holds(&we, row)) memcpy(out + kept++ * np, row, (size_t)np * sizeof(double));
  }
  free(we.c);
  if (kept == 0) {
    free(out);
    out = NULL;
  }
  *configs = out;
  *n = kept;
  return 0;
}
