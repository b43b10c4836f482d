/* cleanup.c - gpudf_cleanup and the tidying every share, attach and sweep
 * does first: what dead processes left (host/cleanup.c) and this process's
 * idle mappings of closed shares (attach.c). */
#include "cleanup.h"
#include "share.h"

int gdf_tidy_quietly(void) {
  gdf_quiet q;
  gdf_quiet_begin(&q, NULL, 0); /* not the caller's error */
  int dfd = -1;
  if (gdf_shm_dirfd(&dfd) == GPUDF_OK) gdf_attach_drop_closed(dfd);
  gdf_quiet_end(&q);
  return gdf_remove_dead_quietly();
}

gpudf_status gpudf_cleanup(int *removed) {
  GDF_ENTER();
  if (removed) *removed = 0;
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  gdf_attach_drop_closed(dfd);
  return gdf_remove_dead(true, removed);
}
