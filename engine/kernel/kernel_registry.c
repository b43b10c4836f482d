/*
 * kernel_registry.c - the list of kernels, and the public calls that let the
 * CLI, Python and the sweep engine build configs without knowing a kernel.
 */
#include "kernel.h"
#include "versioned.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for the built-ins and for kernels registered at run time (a later
 * gpudf_kernel_register). Entries are appended under the lock and never
 * removed, and kernels are static, so a pointer read once stays valid. */
enum { GDF_KERNELS_MAX = 64 };
/* Bound on a kernel's parameters, so that defaults fit on the stack. */
enum { GDF_KERNEL_PARAMS_MAX = 64 };

/* The built-in kernels, in the order gpudf_kernel_at lists them: each is
 * defined in kernels/<name>/ as gdf_kernel_<name>, and one line here
 * registers it. */
#define GDF_BUILTIN_KERNELS(X) \
  X(filter_agg)                \
  X(groupby_agg)               \
  X(histogram)                 \
  X(ma_crossover)              \
  X(bootstrap)                 \
  X(corr)                      \
  /* one line per kernel, above */

#define GDF_DECLARE_KERNEL(name) extern const gpudf_kernel gdf_kernel_##name;
#define GDF_KERNEL_ADDRESS(name) &gdf_kernel_##name,
#define GDF_KERNEL_ONE(name) +1
GDF_BUILTIN_KERNELS(GDF_DECLARE_KERNEL)

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const gpudf_kernel *reg_kernels[GDF_KERNELS_MAX] = {
    GDF_BUILTIN_KERNELS(GDF_KERNEL_ADDRESS)};
static int reg_count = 0 GDF_BUILTIN_KERNELS(GDF_KERNEL_ONE);

int gpudf_kernel_count(void) {
  pthread_mutex_lock(&reg_lock);
  int n = reg_count;
  pthread_mutex_unlock(&reg_lock);
  return n;
}

const gpudf_kernel *gpudf_kernel_at(int index) {
  const gpudf_kernel *k = NULL;
  pthread_mutex_lock(&reg_lock);
  if (index >= 0 && index < reg_count) k = reg_kernels[index];
  pthread_mutex_unlock(&reg_lock);
  if (!k) GDF_ERR(GPUDF_EINVAL, "no kernel at index %d (there are %d)", index, gpudf_kernel_count());
  return k;
}

void gdf_join_names(char *buf, size_t len, int n, const char *(*name)(const void *ctx, int i),
                    const void *ctx) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name(ctx, i));
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* Name of registered kernel i (under reg_lock), for gdf_join_names. */
static const char *kernel_at(const void *ctx, int i) {
  (void)ctx;
  return reg_kernels[i]->name;
}

gpudf_status gpudf_kernel_find(const char *name, const gpudf_kernel **out) {
  if (!name || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", name ? "out" : "name");
  *out = NULL;
  char known[512];
  pthread_mutex_lock(&reg_lock);
  for (int i = 0; i < reg_count && !*out; i++)
    if (strcmp(reg_kernels[i]->name, name) == 0) *out = reg_kernels[i];
  if (!*out) gdf_join_names(known, sizeof known, reg_count, kernel_at, NULL);
  pthread_mutex_unlock(&reg_lock);
  if (*out) return GPUDF_OK;
  return GDF_ERR(GPUDF_ENOENT, "no kernel named '%s' (known kernels: %s)", name, known);
}

const char *gpudf_kernel_name(const gpudf_kernel *kernel) {
  if (!kernel) {
    GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
    return NULL;
  }
  return kernel->name;
}

const char *gpudf_kernel_summary(const gpudf_kernel *kernel) {
  if (!kernel) {
    GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
    return NULL;
  }
  return kernel->summary;
}

int gpudf_kernel_nparams(const gpudf_kernel *kernel) {
  if (!kernel) {
    GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
    return 0;
  }
  return kernel->nparams;
}

gpudf_status gpudf_kernel_param(const gpudf_kernel *kernel, int index,
                                gpudf_param_info *out) {
  if (!kernel || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", kernel ? "out" : "kernel");
  if (index < 0 || index >= kernel->nparams)
    return GDF_ERR(GPUDF_EINVAL, "parameter index %d is out of range: kernel '%s' has %d",
                   index, kernel->name, kernel->nparams);
  *out = kernel->params[index];
  return GPUDF_OK;
}

/* Name of parameter i of kernel ctx, for gdf_join_names. */
static const char *param_at(const void *ctx, int i) {
  return ((const gpudf_kernel *)ctx)->params[i].name;
}

gpudf_status gpudf_kernel_param_index(const gpudf_kernel *kernel, const char *name,
                                      int *index) {
  if (!kernel || !name || !index)
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL", !kernel ? "kernel" : !name ? "name" : "index");
  for (int i = 0; i < kernel->nparams; i++)
    if (strcmp(kernel->params[i].name, name) == 0) {
      *index = i;
      return GPUDF_OK;
    }
  char known[512];
  gdf_join_names(known, sizeof known, kernel->nparams, param_at, kernel);
  return GDF_ERR(GPUDF_ENOENT, "kernel '%s' has no parameter '%s' (its parameters: %s)",
                 kernel->name, name, known);
}

/* ------------------------------------------------------ column types */

int gdf_param_accepts(const gpudf_kernel *k, int i) {
  if (k->params[i].kind != GPUDF_PARAM_COLUMN) return 0;
  int m = k->accepts ? k->accepts[i] : 0;
  return m ? m : GPUDF_ACCEPT_NUMERIC;
}

int gdf_column_accept(const gpudf_table *t, int col) {
  if (gpudf_table_column_is_categorical(t, col)) return GPUDF_ACCEPT_CATEGORICAL;
  gpudf_type type = gpudf_table_column_type(t, col);
  return gpudf_type_size(type) ? 1 << type : 0;
}

void gdf_accept_names(int mask, char *buf, size_t len) {
  static const struct {
    int bit;
    const char *name;
  } names[] = {{GPUDF_ACCEPT_I32, "i32"},   {GPUDF_ACCEPT_I64, "i64"},
               {GPUDF_ACCEPT_F32, "f32"},   {GPUDF_ACCEPT_F64, "f64"},
               {GPUDF_ACCEPT_BOOL, "bool"}, {GPUDF_ACCEPT_CATEGORICAL, "categorical"}};
  int n = 0, total = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) total += (mask & names[i].bit) != 0;
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0] && used < len; i++) {
    if (!(mask & names[i].bit)) continue;
    n++;
    const char *sep = n == 1 ? "" : n == total ? " or " : ", ";
    int w = snprintf(buf + used, len - used, "%s%s", sep, names[i].name);
    if (w < 0) break;
    used += (size_t)w;
  }
}

int gpudf_kernel_param_accepts(const gpudf_kernel *kernel, int index) {
  if (!kernel || index < 0 || index >= kernel->nparams) return 0;
  return gdf_param_accepts(kernel, index);
}

/* "date (categorical), volume (i64)" of the table's columns, cut short with
 * "..." if it does not fit. */
static void column_list(const gpudf_table *t, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    const char *type = gpudf_table_column_is_categorical(t, c)
                           ? "categorical"
                           : gpudf_type_name(gpudf_table_column_type(t, c));
    int w = snprintf(buf + used, len - used, "%s%s (%s)", c ? ", " : "",
                     gpudf_table_column_name(t, c), type ? type : "unknown");
    if (w < 0 || (size_t)w >= len - used) {
      if (len > 4) snprintf(buf + len - 4, 4, "...");
      return;
    }
    used += (size_t)w;
  }
}

/* Whether column c may be a default: accepted, and not one the library
 * derived (a prepare step's prefix sums are no one's data column). */
static bool default_fits(const gpudf_table *t, int c, int accepts) {
  const char *name = gpudf_table_column_name(t, c);
  return (gdf_column_accept(t, c) & accepts) &&
         strncmp(name, GDF_DERIVED_PREFIX, strlen(GDF_DERIVED_PREFIX)) != 0 &&
         strncmp(name, GDF_DERIVED_ORDER, strlen(GDF_DERIVED_ORDER)) != 0;
}

gpudf_status gpudf_kernel_default_column(const gpudf_kernel *kernel, int index,
                                         const gpudf_table *table, int *col) {
  GDF_ENTER();
  if (!kernel || !table || !col)
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL", !kernel ? "kernel" : !table ? "table" : "col");
  if (index < 0 || index >= kernel->nparams ||
      kernel->params[index].kind != GPUDF_PARAM_COLUMN)
    return GDF_ERR(GPUDF_EINVAL, "kernel '%s': parameter index %d is not a column parameter",
                   kernel->name, index);
  int accepts = gdf_param_accepts(kernel, index), ncols = gpudf_table_ncols(table);
  const char *const *prefer = kernel->prefer ? kernel->prefer[index] : NULL;
  for (int p = 0; prefer && prefer[p]; p++)
    for (int c = 0; c < ncols; c++)
      if (default_fits(table, c, accepts) &&
          strcasecmp(gpudf_table_column_name(table, c), prefer[p]) == 0) {
        *col = c;
        return GPUDF_OK;
      }
  for (int c = 0; c < ncols; c++)
    if (default_fits(table, c, accepts)) {
      *col = c;
      return GPUDF_OK;
    }
  char types[128], cols[640];
  gdf_accept_names(accepts, types, sizeof types);
  column_list(table, cols, sizeof cols);
  return GDF_ERR(GPUDF_EINVAL, "kernel '%s': no column fits parameter '%s', which takes %s "
                 "columns; the table's columns: %s", kernel->name, kernel->params[index].name,
                 types, cols);
}

gpudf_status gpudf_kernel_defaults(const gpudf_kernel *kernel, double *config) {
  if (!kernel || !config) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", kernel ? "config" : "kernel");
  for (int i = 0; i < kernel->nparams; i++) config[i] = kernel->params[i].def;
  return GPUDF_OK;
}

/* Whether a shape parameter's value is one its rule allows. A kernel's
 * nresults converts it to an int: NaN, inf or a huge value (a config not
 * validated yet) would be undefined behaviour there, or a bogus width. */
static bool shape_ok(const gpudf_param_info *p, double v) {
  bool whole = isfinite(v) && v == floor(v);
  switch (p->kind) {
  case GPUDF_PARAM_INTEGER: return whole && v >= p->min && v <= p->max;
  case GPUDF_PARAM_CHOICE: return whole && v >= 0 && v < p->nchoices;
  case GPUDF_PARAM_COLUMN: return whole && v >= 0 && v < GPUDF_MAX_COLUMNS;
  case GPUDF_PARAM_REAL: return v >= p->min && v <= p->max;
  }
  return false;
}

/* config, or the kernel's defaults in buf when config is NULL; NULL (with
 * the message) when a shape parameter of config is not a valid value. */
static const double *config_or_defaults(const gpudf_kernel *k, const double *config,
                                        double buf[GDF_KERNEL_PARAMS_MAX]) {
  if (config) {
    for (int i = 0; i < k->nparams; i++)
      if (k->params[i].shape && !shape_ok(&k->params[i], config[i])) {
        GDF_ERR(GPUDF_EINVAL, "kernel '%s': shape parameter '%s' = %.17g is not a valid value",
                k->name, k->params[i].name, config[i]);
        return NULL;
      }
    return config;
  }
  if (k->nparams > GDF_KERNEL_PARAMS_MAX) {
    GDF_ERR(GPUDF_EINVAL, "kernel '%s' has %d parameters, more than %d", k->name,
            k->nparams, GDF_KERNEL_PARAMS_MAX);
    return NULL;
  }
  for (int i = 0; i < k->nparams; i++) buf[i] = k->params[i].def;
  return buf;
}

int gpudf_kernel_row_order(const gpudf_kernel *kernel) { return kernel && kernel->row_order; }

int gpudf_kernel_nresults(const gpudf_kernel *kernel, const double *config) {
  if (!kernel) {
    GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
    return 0;
  }
  if (!kernel->nresults) return kernel->nfields;
  double buf[GDF_KERNEL_PARAMS_MAX];
  const double *c = config_or_defaults(kernel, config, buf);
  return c ? kernel->nresults(c) : 0;
}

/* Result i's name into *out (a field table entry or the kernel's own
 * result_name), as gpudf_kernel_result gives it. */
static void result_info(const gpudf_kernel *k, const double *c, int i, gpudf_result_info *out) {
  if (k->result_name) {
    memset(out, 0, sizeof *out);
    k->result_name(c, i, out);
  } else {
    *out = k->fields[i];
  }
}

gpudf_status gpudf_kernel_result(const gpudf_kernel *kernel, const double *config,
                                 int index, gpudf_result_info *out) {
  if (!kernel || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", kernel ? "out" : "kernel");
  double buf[GDF_KERNEL_PARAMS_MAX];
  const double *c = config_or_defaults(kernel, config, buf);
  if (!c) return GPUDF_EINVAL;
  int n = kernel->nresults ? kernel->nresults(c) : kernel->nfields;
  if (index < 0 || index >= n)
    return GDF_ERR(GPUDF_EINVAL, "result index %d is out of range: kernel '%s' gives %d results",
                   index, kernel->name, n);
  result_info(kernel, c, index, out);
  return GPUDF_OK;
}

gpudf_status gpudf_kernel_result_names(const gpudf_kernel *kernel, const double *config,
                                       char *buf, size_t size, size_t *needed) {
  if (!kernel) return GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
  if (!buf && size) return GDF_ERR(GPUDF_EINVAL, "buf is NULL but size is %zu", size);
  double cbuf[GDF_KERNEL_PARAMS_MAX];
  const double *c = config_or_defaults(kernel, config, cbuf);
  if (!c) return GPUDF_EINVAL;
  int n = kernel->nresults ? kernel->nresults(c) : kernel->nfields;
  size_t used = 0;
  gpudf_result_info info;
  for (int i = 0; i < n; i++) {
    result_info(kernel, c, i, &info);
    size_t len = strnlen(info.name, sizeof info.name - 1);
    /* Past the end: keep counting, so that *needed says how much to give. */
    if (used + len + 1 <= size) {
      memcpy(buf + used, info.name, len);
      buf[used + len] = '\0';
    }
    used += len + 1;
  }
  if (needed) *needed = used;
  if (buf && used > size)
    return GDF_ERR(GPUDF_EOVERFLOW, "kernel '%s': %d result names need %zu bytes, buf has %zu",
                   kernel->name, n, used, size);
  return GPUDF_OK;
}

/* ------------------------------------------------------- user kernels */

void gpudf_kernel_def_init(gpudf_kernel_def *def) {
  if (!def) return;
  memset(def, 0, sizeof *def);
  def->size = sizeof *def;
}

/* Sizes of the definitions that earlier headers gave: every field up to
 * run_cpu (0.1.0), then pass_key (0.2), then accepts (0.3). A def is read
 * up to its own size only (gdf_versioned_in): the fields past it keep
 * gpudf_kernel_def_init's NULL. */
#define GDF_KERNEL_DEF_SIZE_0 offsetof(gpudf_kernel_def, pass_key)

/* The rules a definition must meet before anything may call it. */
static gpudf_status check_def(const gpudf_kernel_def *d) {
  size_t len = d->name ? strnlen(d->name, GPUDF_NAME_MAX + 1) : 0;
  if (len == 0 || len > GPUDF_NAME_MAX)
    return GDF_ERR(GPUDF_EINVAL, "kernel name must be 1..%d bytes", GPUDF_NAME_MAX);
  if (d->nparams < 0 || d->nparams > GDF_KERNEL_PARAMS_MAX || (d->nparams && !d->params))
    return GDF_ERR(GPUDF_EINVAL, "kernel '%s': nparams %d must be 0..%d with params set",
                   d->name, d->nparams, GDF_KERNEL_PARAMS_MAX);
  for (int i = 0; i < d->nparams; i++) {
    const gpudf_param_info *p = &d->params[i];
    if (!p->name || p->kind < GPUDF_PARAM_COLUMN || p->kind > GPUDF_PARAM_CHOICE)
      return GDF_ERR(GPUDF_EINVAL, "kernel '%s': parameter %d has no name or an unknown kind",
                     d->name, i);
    if (p->kind == GPUDF_PARAM_COLUMN) {
      int m = d->accepts ? d->accepts[i] : 0;
      if (m & ~GPUDF_ACCEPT_ANY)
        return GDF_ERR(GPUDF_EINVAL, "kernel '%s': column parameter '%s': accepts = %#x has "
                       "bits that are no gpudf_accept type", d->name, p->name, (unsigned)m);
      continue;
    }
    /* A parameter no config could pass would fail every call later. */
    if (p->kind == GPUDF_PARAM_CHOICE) {
      bool named = p->nchoices >= 1 && p->choices;
      for (int j = 0; named && j < p->nchoices; j++) named = p->choices[j] != NULL;
      if (!named)
        return GDF_ERR(GPUDF_EINVAL, "kernel '%s': choice parameter '%s' needs nchoices >= 1 "
                       "and a name for each", d->name, p->name);
      if (!(p->def >= 0 && p->def < p->nchoices) || p->def != floor(p->def))
        return GDF_ERR(GPUDF_EINVAL, "kernel '%s': parameter '%s': default %g is not one of "
                       "its %d choices", d->name, p->name, p->def, p->nchoices);
      continue;
    }
    if (!(p->min <= p->max))
      return GDF_ERR(GPUDF_EINVAL, "kernel '%s': parameter '%s': range [%g, %g] is empty or "
                     "NaN", d->name, p->name, p->min, p->max);
    if (!(p->def >= p->min && p->def <= p->max))
      return GDF_ERR(GPUDF_EINVAL, "kernel '%s': parameter '%s': default %g is outside its "
                     "range [%g, %g]", d->name, p->name, p->def, p->min, p->max);
  }
  if (!d->nresults && (d->nfields < 1 || !d->fields))
    return GDF_ERR(GPUDF_EINVAL, "kernel '%s': nfields %d must be >= 1 with fields set (or "
                   "give an nresults callback)", d->name, d->nfields);
  if (!d->run_cpu) return GDF_ERR(GPUDF_EINVAL, "kernel '%s' has no run_cpu", d->name);
  return GPUDF_OK;
}

/* The registry stores struct gpudf_kernel; a definition is converted field by
 * field, so fields the library adds later (device runs) start NULL. */
static gpudf_kernel *kernel_from_def(const gpudf_kernel_def *d) {
  gpudf_kernel *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->name = d->name;
  k->summary = d->summary ? d->summary : "";
  k->nparams = d->nparams;
  k->params = d->params;
  k->nfields = d->nfields;
  k->fields = d->fields;
  k->nresults = d->nresults;
  k->result_name = d->result_name;
  k->check = d->check;
  k->run_cpu = d->run_cpu;
  k->pass_key = d->pass_key;
  k->accepts = d->accepts;
  return k;
}

gpudf_status gpudf_kernel_register(const gpudf_kernel_def *def, const gpudf_kernel **out) {
  GDF_ENTER();
  if (out) *out = NULL;
  if (!def) return GDF_ERR(GPUDF_EINVAL, "def is NULL");
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  GDF_TRY(gdf_versioned_in(&d, sizeof d, def, GDF_KERNEL_DEF_SIZE_0, "def",
                           "gpudf_kernel_def_init"));
  GDF_TRY(check_def(&d));
  gpudf_kernel *k = kernel_from_def(&d);
  if (!k) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  gpudf_status st = GPUDF_OK;
  pthread_mutex_lock(&reg_lock);
  for (int i = 0; i < reg_count && st == GPUDF_OK; i++)
    if (strcmp(reg_kernels[i]->name, def->name) == 0)
      st = GDF_ERR(GPUDF_EEXIST, "a kernel named '%s' is already registered", def->name);
  if (st == GPUDF_OK && reg_count == GDF_KERNELS_MAX)
    st = GDF_ERR(GPUDF_ENOSPC, "the registry is full (%d kernels)", GDF_KERNELS_MAX);
  if (st == GPUDF_OK) reg_kernels[reg_count++] = k; /* reachable from a static for good */
  pthread_mutex_unlock(&reg_lock);
  if (st != GPUDF_OK) {
    free(k);
    return st;
  }
  gdf_log("registered kernel '%s'", def->name);
  if (out) *out = k;
  return GPUDF_OK;
}

/* ------------------------------------------------------------ prepare */

gpudf_status gpudf_table_prepare(gpudf_table *table, const gpudf_kernel *k,
                                 const double *configs, int64_t n) {
  GDF_ENTER();
  GDF_TRY(gpudf_validate(table, k, configs, n));
  if (!k->prepare || n == 0) return GPUDF_OK;
  if (table->is_view)
    return GDF_ERR(GPUDF_EPERM, "a view cannot be prepared: its owner prepares the table "
                   "before sharing it");
  return k->prepare(table, configs, n);
}
