/*
 * kernel_registry.c - the list of kernels, and the public calls that let the
 * CLI, Python and the sweep engine build configs without knowing a kernel.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Room for the built-ins and for kernels registered at run time (a later
 * gpudf_kernel_register). Entries are appended under the lock and never
 * removed, and kernels are static, so a pointer read once stays valid. */
enum { GDF_KERNELS_MAX = 64 };
/* Bound on a kernel's parameters, so that defaults fit on the stack. */
enum { GDF_KERNEL_PARAMS_MAX = 64 };

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const gpudf_kernel *reg_kernels[GDF_KERNELS_MAX] = {&gdf_kernel_filter_agg};
static int reg_count = 1;

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

/* "a, b, c" of the registered names, cut short if it does not fit. */
static void kernel_names(char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < reg_count && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", reg_kernels[i]->name);
    if (w < 0) break;
    used += (size_t)w;
  }
}

gpudf_status gpudf_kernel_find(const char *name, const gpudf_kernel **out) {
  if (!name || !out) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", name ? "out" : "name");
  *out = NULL;
  char known[512];
  pthread_mutex_lock(&reg_lock);
  for (int i = 0; i < reg_count && !*out; i++)
    if (strcmp(reg_kernels[i]->name, name) == 0) *out = reg_kernels[i];
  if (!*out) kernel_names(known, sizeof known);
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

/* "a, b, c" of the kernel's parameter names, cut short if it does not fit. */
static void param_names(const gpudf_kernel *k, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < k->nparams && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", k->params[i].name);
    if (w < 0) break;
    used += (size_t)w;
  }
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
  param_names(kernel, known, sizeof known);
  return GDF_ERR(GPUDF_ENOENT, "kernel '%s' has no parameter '%s' (its parameters: %s)",
                 kernel->name, name, known);
}

gpudf_status gpudf_kernel_defaults(const gpudf_kernel *kernel, double *config) {
  if (!kernel || !config) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", kernel ? "config" : "kernel");
  for (int i = 0; i < kernel->nparams; i++) config[i] = kernel->params[i].def;
  return GPUDF_OK;
}

/* config, or the kernel's defaults in buf when config is NULL. */
static const double *config_or_defaults(const gpudf_kernel *k, const double *config,
                                        double buf[GDF_KERNEL_PARAMS_MAX]) {
  if (config) return config;
  if (k->nparams > GDF_KERNEL_PARAMS_MAX) {
    GDF_ERR(GPUDF_EINVAL, "kernel '%s' has %d parameters, more than %d", k->name,
            k->nparams, GDF_KERNEL_PARAMS_MAX);
    return NULL;
  }
  for (int i = 0; i < k->nparams; i++) buf[i] = k->params[i].def;
  return buf;
}

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
  if (kernel->result_name) {
    memset(out, 0, sizeof *out);
    kernel->result_name(c, index, out);
  } else {
    *out = kernel->fields[index];
  }
  return GPUDF_OK;
}
