/*
 * affinity.h - CPU affinity that follows a GPU: the CPUs Linux lists as
 * local to a PCI device (sysfs local_cpulist), for a worker bound to it.
 */
#ifndef GPUDF_AFFINITY_H
#define GPUDF_AFFINITY_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a Linux CPU list ("0-3,8,10-11", a trailing newline allowed) into
 * *set; false (set unspecified) for anything else: empty text, a range
 * that runs backwards, a CPU past CPU_SETSIZE. */
bool gdf_cpulist_parse(const char *text, cpu_set_t *set);

/* Writes set as a CPU list ("0-3,8") into buf; "" for an empty set. */
void gdf_cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* "0000:3b:00.0" from any case and a 4- or 8-digit domain (as CUDA and
 * nvidia-smi write it) into out (>= 16 bytes); false if it is not one. */
bool gdf_pci_bus_id_normal(const char *text, char *out, size_t len);

/* Restricts the calling thread to the CPUs local to the PCI device bus_id
 * (ROOT/bus/pci/devices/ID/local_cpulist, ROOT = GPUDF_SYSFS_ROOT or
 * /sys), intersected with the CPUs it may use now (a taskset or cgroup
 * limit is never widened). Returns 1 when it did (what into did: the
 * new CPU list), 0 when it left the mask as it was (why into did: no list,
 * no CPU in common, GPUDF_AFFINITY=0), never an error: affinity is a
 * speed hint. */
int gdf_affinity_follow_pci(const char *bus_id, char *did, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_AFFINITY_H */
