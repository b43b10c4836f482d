/*
 * versioned.h - the one rule for reading a caller's versioned struct
 * (gpudf_csv_options, gpudf_kernel_def, gpudf_sweep_options: each starts
 * with size_t size, which its init function sets to the sizeof the
 * caller's header saw).
 *
 * The library reads min(caller's size, our size) bytes into a copy that
 * already holds our defaults, so a struct from an older header gets the
 * defaults for the fields it does not have. A size smaller than the first
 * release's struct (0 included: never initialised) is refused. A size larger
 * than ours comes from a newer header: accepted when every byte past ours is
 * zero (the newer fields at their zero value), refused otherwise, since
 * this library cannot honour a field it does not know. docs/api.md says so
 * for users.
 */
#ifndef GPUDF_VERSIONED_H
#define GPUDF_VERSIONED_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies the caller's struct theirs into ours (our_size bytes, already
 * filled by the init function) under the rule above. min_size: the size of
 * the oldest struct still accepted. what names the argument in messages
 * ("options", "def"), init the function that fills it. GPUDF_EINVAL with a
 * message naming what->size when refused; ours is then unspecified. */
gpudf_status gdf_versioned_in(void *ours, size_t our_size, const void *theirs, size_t min_size,
                              const char *what, const char *init);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_VERSIONED_H */
