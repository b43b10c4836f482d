/*
 * proc.h - process identity: whether the process that made a segment is alive
 * (pid + start time, so a reused pid is not mistaken for the owner).
 */
#ifndef GPUDF_PROC_H
#define GPUDF_PROC_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ process */

/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat);
 * 0 when the process does not exist. */
uint64_t gdf_proc_start_time(int pid);
/* Whether the process pid with that start time is still alive. */
bool gdf_proc_alive(int pid, uint64_t start_time);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_PROC_H */
