/* sweep_order.c - what a sweep spread over several processes of its own
 * (libgpudf_mpi) needs to know of the local engine's ordering: the order of
 * configs by the kernel's pass key with the groups that share a pass
 * (gpudf_kernel_pass_order), and the series row order kept with a table
 * before it is shared (gpudf_table_prepare_series). */
#include "sweep_owner.h"

#include <stdlib.h>
#include <string.h>

typedef struct pass_of {
  uint64_t key;
  int64_t at;
} pass_of;

static int pass_cmp(const void *a, const void *b) {
  const pass_of *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->at > y->at) - (x->at < y->at); /* equal keys keep the caller's order */
}

gpudf_status gpudf_kernel_pass_order(const gpudf_kernel *kernel, const double *configs,
                                     int64_t n, int64_t *order, int64_t *groups,
                                     int64_t *ngroups) {
  GDF_ENTER();
  if (ngroups) *ngroups = 0;
  if (!kernel) return GDF_ERR(GPUDF_EINVAL, "kernel is NULL");
  if (n < 0) return GDF_ERR(GPUDF_EINVAL, "n = %lld configs is negative", (long long)n);
  if (n > 0 && (!configs || !order))
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL for %lld configs", !configs ? "configs" : "order",
                   (long long)n);
  if (!ngroups) return GDF_ERR(GPUDF_EINVAL, "ngroups is NULL");
  for (int64_t i = 0; i < n; i++) order[i] = i;
  if (!kernel->pass_key || n == 0) return GPUDF_OK;
  pass_of *p = malloc(sizeof *p * (size_t)n);
  if (!p) return GDF_ERR(GPUDF_ENOMEM, "out of memory for the pass keys of %lld configs",
                         (long long)n);
  for (int64_t i = 0; i < n; i++) p[i] = (pass_of){kernel->pass_key(configs + i * kernel->nparams), i};
  qsort(p, (size_t)n, sizeof *p, pass_cmp);
  int64_t g = 0;
  for (int64_t i = 0; i < n; i++) {
    order[i] = p[i].at;
    if (i == 0 || p[i].key != p[i - 1].key) {
      if (groups) groups[g] = i;
      g++;
    }
  }
  if (groups) groups[g] = n;
  *ngroups = g;
  free(p);
  return GPUDF_OK;
}

gpudf_status gpudf_table_prepare_series(gpudf_table *table, int series, int time) {
  GDF_ENTER();
  int64_t *perm = NULL, *starts = NULL, nperm = 0, ns = 0;
  int kept = -1;
  GDF_TRY(gdf_series_build(table, series, time, &perm, &nperm, &starts, &ns, NULL, &kept));
  if (kept < 0 && perm) (void)gdf_series_keep(table, series, time, perm, nperm);
  free(perm);
  free(starts);
  return GPUDF_OK;
}

/* ------------------------------------------- row splits for other processes */

int64_t gpudf_sweep_split_ranges(const gpudf_table *table, const gpudf_kernel *kernel,
                                 const double *configs, int64_t n, int64_t ngroups,
                                 int workers) {
  if (!table || !kernel || !configs || n <= 0 || ngroups < 0) return 0;
  return gdf_split_ranges(kernel, table, configs, n, ngroups, workers,
                          gpudf_table_backend(table), NULL);
}

int gpudf_kernel_state_width(const gpudf_kernel *kernel, const double *config) {
  if (!kernel || !config || !kernel->split || !kernel->split->merge || kernel->row_order)
    return 0;
  int w = gdf_kernel_nstate(kernel, config);
  return w > 0 ? w : 0;
}

gpudf_status gpudf_run_partial(const gpudf_table *table, const gpudf_kernel *kernel,
                               const double *configs, int64_t n, int64_t row_lo, int64_t row_hi,
                               double *states) {
  GDF_ENTER();
  if (!table || !kernel) return GDF_ERR(GPUDF_EINVAL, "%s is NULL", !table ? "table" : "kernel");
  if (n < 0) return GDF_ERR(GPUDF_EINVAL, "n = %lld configs is negative", (long long)n);
  if (n > 0 && (!configs || !states))
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL for %lld configs", !configs ? "configs" : "states",
                   (long long)n);
  if (gpudf_kernel_state_width(kernel, configs) < 1 && n > 0)
    return GDF_ERR(GPUDF_ENODEV, "kernel '%s' has no merge of partial results (or depends on "
                   "row order): its rows cannot be split", kernel->name);
  GDF_TRY(gpudf_validate(table, kernel, configs, n));
  return gdf_run_partial(table, kernel, configs, n, row_lo, row_hi, states);
}

gpudf_status gpudf_kernel_merge_states(const gpudf_kernel *kernel, const double *config,
                                       const double *states, int nranges, double *result) {
  GDF_ENTER();
  if (!kernel || !config || !states || !result)
    return GDF_ERR(GPUDF_EINVAL, "%s is NULL", !kernel ? "kernel" : !config ? "config"
                   : !states ? "states" : "result");
  int ns = gpudf_kernel_state_width(kernel, config);
  if (ns < 1)
    return GDF_ERR(GPUDF_ENODEV, "kernel '%s' has no merge of partial results", kernel->name);
  if (nranges < 1) return GDF_ERR(GPUDF_EINVAL, "nranges = %d (at least 1)", nranges);
  const gdf_kernel_split *sp = kernel->split;
  double stack[64], *acc = ns <= 64 ? stack : malloc(sizeof *acc * (size_t)ns);
  if (!acc) return GDF_ERR(GPUDF_ENOMEM, "out of memory for a state of %d doubles", ns);
  memcpy(acc, states, sizeof *acc * (size_t)ns);
  for (int r = 1; r < nranges; r++) sp->merge(config, acc, states + (int64_t)r * ns);
  if (sp->finish) sp->finish(config, acc, result);
  else memcpy(result, acc, sizeof *acc * (size_t)gpudf_kernel_nresults(kernel, config));
  if (acc != stack) free(acc);
  return GPUDF_OK;
}
