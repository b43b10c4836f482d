/* An MPI application built against an installed libgpudf_mpi through
 * find_package(gpudf COMPONENTS mpi): filter_agg's count of v < lo over
 * v = 0..9, for lo = 1, 5, 10, must be 1, 5, 10 exactly. */
#include <gpudf_mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  gpudf_table *t = NULL;
  double v[10];
  for (int i = 0; i < 10; i++) v[i] = i;
  const gpudf_kernel *k = NULL;
  int rc = 1;
  if (gpudf_table_create(10, &t) != GPUDF_OK ||
      gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v) != GPUDF_OK ||
      gpudf_kernel_find("filter_agg", &k) != GPUDF_OK) {
    fprintf(stderr, "%s\n", gpudf_last_error());
    MPI_Finalize();
    return 1;
  }
  int np = gpudf_kernel_nparams(k), lo = 0, op = 0, count = -1;
  gpudf_kernel_param_index(k, "lo", &lo);
  gpudf_kernel_param_index(k, "op", &op);
  double cfg[3 * 16], los[3] = {1, 5, 10}, want[3] = {1, 5, 10};
  for (int i = 0; i < 3; i++) {
    gpudf_kernel_defaults(k, cfg + i * np);
    cfg[i * np + op] = 1; /* lt */
    cfg[i * np + lo] = los[i];
  }
  int nres = gpudf_kernel_nresults(k, cfg);
  gpudf_result_info info;
  for (int r = 0; r < nres; r++)
    if (gpudf_kernel_result(k, cfg, r, &info) == GPUDF_OK && strcmp(info.name, "count") == 0)
      count = r;
  double *res = malloc(sizeof *res * (size_t)(3 * nres));
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.workers = 0;
  gpudf_mpi_result *out = NULL;
  if (gpudf_mpi_sweep(MPI_COMM_WORLD, t, NULL, k, cfg, 3, res, &o, &out) != GPUDF_OK) {
    fprintf(stderr, "%s\n", gpudf_last_error());
  } else if (count >= 0) {
    rc = 0;
    for (int i = 0; i < 3; i++)
      if (res[i * nres + count] != want[i]) rc = 1;
    printf("gpudf_mpi %s: counts %g %g %g\n", gpudf_version(), res[count], res[nres + count],
           res[2 * nres + count]);
  }
  gpudf_mpi_result_free(out);
  free(res);
  gpudf_table_free(t);
  MPI_Finalize();
  return rc;
}
