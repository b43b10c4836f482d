/*
 * share.h - what the files of the share layer (engine/share) give each
 * other: backend.c resolves the backend a share is placed on, publish.c
 * publishes a table under a name, attach.c maps a published share into a
 * view (with its cache of mappings), cleanup.c is gpudf_cleanup.
 */
#ifndef GPUDF_SHARE_H
#define GPUDF_SHARE_H

#include "descriptor.h"
#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* backend.c: AUTO, after GPUDF_BACKEND, becomes the best backend that works
 * (*forced false); a backend asked for (argument or GPUDF_BACKEND) that
 * cannot work is an error, never a silent downgrade. */
gpudf_status gdf_backend_resolve(gpudf_backend asked, gpudf_backend *out, bool *forced);

/* publish.c: a new reference to the cuda-ipc placement of the open share
 * share_id that this process published, or NULL. CUDA cannot open an IPC
 * handle in the process that exported it: a view of its own share borrows
 * the owner's device copy instead. */
gdf_placement *gdf_share_own_placement(uint64_t share_id);

/* attach.c: unmaps this process's idle mapping of share share_id (closed by
 * this process). */
void gdf_attach_forget(uint64_t share_id);
/* attach.c: unmaps the idle mappings whose share was closed or whose arena
 * went (files in the shm directory dfd). */
void gdf_attach_drop_closed(int dfd);

/* replica.c: appends to reps (n used, room for max) the replicas that
 * processes added later to share share_id and still hold, skipping devices
 * already in reps; returns the new count. */
int gdf_replica_records(uint64_t share_id, gdf_replica *reps, int n, int max);

/* replica.c: UUID texts of the devices holding a replica of the cuda-ipc
 * share called name (those its descriptor lists, then those added later
 * and still held), into out (max entries); 0 for another placement or a
 * share that cannot be read. What a sweep over a view spreads its workers
 * over. */
int gdf_share_devices(const char *name, char (*out)[48], int max);

/* attach.c: the devices a thread of this process can run view v's
 * kernels on with a replica of that device's own (an in-process sweep's
 * threads, one per device): its own replica's device, then every device
 * this process sees that holds a replica of the share (descriptor's or
 * added later), each opened there now (gdf_placement_open_more). UUID
 * texts into out (max entries); 0 unless v is a cuda-ipc view. */
int gdf_view_replica_devices(gpudf_table *v, char (*out)[48], int max);

/* cleanup.c: what every share, attach and sweep does first: removes what
 * dead processes left (gdf_remove_dead_quietly) and this process's idle
 * mappings of closed shares, without touching the caller's message.
 * Returns how many segments went. */
int gdf_tidy_quietly(void);

#ifdef __cplusplus
}
#endif

#endif
