/*
 * ctl_fields.c - where the fields of a sweep's control segment lie
 * (engine/sweep/sweep_ctl.h), for tests in C++, which cannot include that
 * header (its _Atomic fields are C11): they build control segments byte by
 * byte, as a damaged or foreign one would be, and hand them to the worker.
 */
#include "ctl_fields.h"

#include "sweep_ctl.h"

#include <stddef.h>

tg_ctl_fields tg_ctl_fields_get(void) {
  tg_ctl_fields f = {
      .header = sizeof(gdf_sweep_ctl),
      .slot = sizeof(gdf_sweep_slot),
      .msg = sizeof(gdf_sweep_msg),
      .msgs = GDF_SWEEP_MSGS,
      .magic_value = GDF_SWEEP_MAGIC,
      .version_value = GDF_SWEEP_VERSION,
      .ranges_max = GDF_SPLIT_RANGES_MAX,
#define TG_AT(field) .field = offsetof(gdf_sweep_ctl, field)
      TG_AT(magic), TG_AT(version), TG_AT(nslots), TG_AT(size), TG_AT(owner_pid),
      TG_AT(kernel), TG_AT(n), TG_AT(ngroups), TG_AT(nparams), TG_AT(nresults),
      TG_AT(off_configs), TG_AT(off_results), TG_AT(off_state), TG_AT(off_err),
      TG_AT(off_slots), TG_AT(off_msgs), TG_AT(off_groups),
      TG_AT(nseries), TG_AT(nperm), TG_AT(order_col), TG_AT(off_series), TG_AT(off_perm),
      TG_AT(off_starts), TG_AT(ntasks), TG_AT(nchunks), TG_AT(nrows), TG_AT(nranges),
      TG_AT(nstate), TG_AT(off_chunks), TG_AT(off_tstate), TG_AT(off_states),
#undef TG_AT
  };
  return f;
}
