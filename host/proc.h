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
/* The start time (field 22, decimal) and state (field 3) of one line of
 * /proc/PID/stat, whose command name (field 2, in parentheses) may hold
 * spaces and ')'; 0 (state untouched) when the line is not of that form. */
uint64_t gdf_proc_parse_stat(const char *line, char *state);
/* Whether the process pid with that start time is still alive. Unable to
 * read /proc (out of descriptors, say) it answers alive: no proof of death. */
bool gdf_proc_alive(int pid, uint64_t start_time);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_PROC_H */
