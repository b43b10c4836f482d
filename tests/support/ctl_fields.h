/*
 * ctl_fields.h - byte offsets of a sweep control segment's fields and the
 * constants its worker checks (tests/support/ctl_fields.c).
 */
#ifndef GPUDF_TEST_CTL_FIELDS_H
#define GPUDF_TEST_CTL_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_ctl_fields {
  size_t header, slot, msg; /* sizes of the header, a worker slot, a message */
  int msgs;                 /* messages in the ring */
  uint64_t magic_value;
  uint32_t version_value;
  int32_t ranges_max;
  /* offsets: uint64 magic, size, off_*; uint32 version, nslots; int32
   * owner_pid, nparams, nresults, nranges, nstate; char kernel[]; the rest int64 */
  size_t magic, version, nslots, size, owner_pid, kernel, n, ngroups, nparams, nresults,
      off_configs, off_results, off_state, off_err, off_slots, off_msgs, off_groups,
      nseries, nperm, order_col, off_series, off_perm, off_starts, ntasks, nchunks, nrows,
      nranges, nstate, off_chunks, off_tstate, off_states;
} tg_ctl_fields;

tg_ctl_fields tg_ctl_fields_get(void);

#ifdef __cplusplus
}
#endif

#endif
