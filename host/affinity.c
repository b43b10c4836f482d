/* affinity.c - CPU affinity that follows a GPU (see affinity.h). A worker
 * bound to a GPU runs its host side (claims, result copies, the CPU path of
 * a fallback) on the CPUs next to that GPU's PCIe root, so that its pinned
 * buffers and page faults land on the GPU's NUMA node by first touch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity, CPU_* (also when built outside the library) */
#endif
#include "affinity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool read_cpu(const char **p, long *out) {
  if (**p < '0' || **p > '9') return false;
  errno = 0;
  char *end;
  long v = strtol(*p, &end, 10);
  if (errno || v < 0 || v >= CPU_SETSIZE) return false;
  *p = end;
  *out = v;
  return true;
}

bool gdf_cpulist_parse(const char *text, cpu_set_t *set) {
  CPU_ZERO(set);
  if (!text) return false;
  const char *p = text;
  bool any = false;
  for (;;) {
    long lo, hi;
    if (!read_cpu(&p, &lo)) return false;
    hi = lo;
    if (*p == '-') {
      p++;
      if (!read_cpu(&p, &hi) || hi < lo) return false;
    }
    for (long c = lo; c <= hi; c++) CPU_SET((int)c, set);
    any = true;
    if (*p == ',') {
      p++;
      continue;
    }
    break;
  }
  if (*p == '\n') p++;
  return any && *p == '\0';
}

void gdf_cpulist_format(const cpu_set_t *set, char *buf, size_t len) {
  size_t at = 0;
  if (len) buf[0] = '\0';
  for (int c = 0; c < CPU_SETSIZE && at < len; c++) {
    if (!CPU_ISSET(c, set)) continue;
    int e = c;
    while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set)) e++;
    int w = e > c ? snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", c, e)
                  : snprintf(buf + at, len - at, "%s%d", at ? "," : "", c);
    if (w < 0) break;
    at += (size_t)w;
    c = e;
  }
}

bool gdf_pci_bus_id_normal(const char *text, char *out, size_t len) {
  unsigned dom, bus, dev, fn;
  int used = 0;
  if (!text || len < 16 ||
      sscanf(text, "%8x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &used) != 4 ||
      text[used] != '\0' || dom > 0xffff || dev > 0x1f || fn > 7)
    return false;
  snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
  return true;
}

int gdf_affinity_follow_pci(const char *bus_id, char *did, size_t len) {
  const char *off = getenv("GPUDF_AFFINITY");
  if (off && strcmp(off, "0") == 0) {
    snprintf(did, len, "GPUDF_AFFINITY=0");
    return 0;
  }
  char id[32];
  if (!gdf_pci_bus_id_normal(bus_id, id, sizeof id)) {
    snprintf(did, len, "'%s' is not a PCI bus id", bus_id ? bus_id : "(null)");
    return 0;
  }
  const char *root = getenv("GPUDF_SYSFS_ROOT");
  char path[512];
  snprintf(path, sizeof path, "%s/bus/pci/devices/%s/local_cpulist", root && *root ? root : "/sys",
           id);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(did, len, "no %s", path);
    return 0;
  }
  char text[4096];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  cpu_set_t local, now;
  if (n <= 0 || (text[n] = '\0', !gdf_cpulist_parse(text, &local))) {
    snprintf(did, len, "%s is not a CPU list", path);
    return 0;
  }
  if (sched_getaffinity(0, sizeof now, &now) != 0) {
    snprintf(did, len, "cannot read this thread's CPUs: %s", strerror(errno));
    return 0;
  }
  cpu_set_t both;
  CPU_AND(&both, &local, &now);
  if (CPU_COUNT(&both) == 0) {
    snprintf(did, len, "none of the CPUs local to %s may be used here", id);
    return 0;
  }
  if (CPU_EQUAL(&both, &now)) {
    gdf_cpulist_format(&now, did, len);
    return 1;
  }
  if (sched_setaffinity(0, sizeof both, &both) != 0) {
    snprintf(did, len, "cannot set this thread's CPUs: %s", strerror(errno));
    return 0;
  }
  gdf_cpulist_format(&both, did, len);
  return 1;
}
