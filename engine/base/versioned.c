/* versioned.c - reading a caller's versioned struct (see versioned.h). */
#include "versioned.h"

#include <string.h>

gpudf_status gdf_versioned_in(void *ours, size_t our_size, const void *theirs, size_t min_size,
                              const char *what, const char *init) {
  size_t size;
  memcpy(&size, theirs, sizeof size); /* every versioned struct starts with it */
  if (size < min_size)
    return GDF_ERR(GPUDF_EINVAL, "%s->size is %zu, expected at least %zu: call %s first", what,
                   size, min_size, init);
  if (size > our_size) {
    /* A newer header's struct: its extra fields must be at their zero value,
     * the only one an older library can honour (by not knowing them). */
    const unsigned char *tail = (const unsigned char *)theirs;
    for (size_t i = our_size; i < size; i++)
      if (tail[i])
        return GDF_ERR(GPUDF_EINVAL, "%s->size is %zu, larger than this library's %zu "
                       "(libgpudf %s), and byte %zu past it is set: the caller uses a field "
                       "this library does not have; link a newer libgpudf", what, size,
                       our_size, gpudf_version(), i);
  }
  memcpy(ours, theirs, size < our_size ? size : our_size);
  memcpy(ours, &our_size, sizeof our_size); /* ours is this library's struct now */
  return GPUDF_OK;
}
