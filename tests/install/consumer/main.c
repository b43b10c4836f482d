/* An application built against an installed libgpudf. */
#include <gpudf.h>
#include <stdio.h>

int main(void) {
  gpudf_table *t = NULL;
  double v[3] = {1, 2, 3};
  if (gpudf_table_create(3, &t) != GPUDF_OK ||
      gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v) != GPUDF_OK) {
    fprintf(stderr, "%s\n", gpudf_last_error());
    return 1;
  }
  printf("gpudf %s, %d column(s)\n", gpudf_version(), gpudf_table_ncols(t));
  gpudf_table_free(t);
  return gpudf_version_number() == GPUDF_VERSION_NUMBER ? 0 : 1;
}
