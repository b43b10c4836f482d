/* proc.c - identity of a process: pid plus start time, so that a reused pid
 * is never mistaken for the process that created a segment. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_CLOEXEC, kill (also when the tests compile this file) */
#endif
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads field 3 (state) and field 22 (start time) of /proc/PID/stat; 0
 * when there is no such process. *unknown is set when the file could not be
 * read for another reason (out of descriptors or memory): the process may
 * well be alive then. */
static uint64_t read_stat(int pid, char *state, bool *unknown) {
  char path[64], buf[1024];
  *unknown = false;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *unknown = errno != ENOENT && errno != ESRCH;
    return 0;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int err = errno;
  close(fd);
  if (n < 0) *unknown = err != ESRCH;
  if (n <= 0) return 0;
  buf[n] = '\0';
  return gdf_proc_parse_stat(buf, state);
}

uint64_t gdf_proc_parse_stat(const char *line, char *state) {
  /* The command name (field 2) may hold spaces and ')'; fields resume after
   * the last ')'. starttime is field 22, the 20th after that point. */
  const char *p = strrchr(line, ')');
  if (!p || p[1] != ' ') return 0;
  p++;
  *state = p[1];
  for (int field = 3; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (!p) return 0;
  }
  return strtoull(p + 1, NULL, 10);
}

uint64_t gdf_proc_start_time(int pid) {
  char state;
  bool unknown;
  return read_stat(pid, &state, &unknown);
}

bool gdf_proc_alive(int pid, uint64_t start_time) {
  if (pid <= 0) return false;
  char state = '?';
  bool unknown = false;
  uint64_t now = read_stat(pid, &state, &unknown);
  /* Not being able to look is no proof of death: judging a live owner dead
   * would remove the segments it is using. */
  if (unknown) return true;
  /* A killed process that its parent has not reaped yet is a zombie: its
   * /proc entry stays, but it will never touch a segment again. */
  if (now != 0 && (state == 'Z' || state == 'X')) return false;
  if (now == 0) {
    /* Without /proc the owner recorded a start time of 0 too: fall back to
     * asking the kernel whether the pid exists (EPERM: it does). */
    if (start_time == 0) return kill(pid, 0) == 0 || errno == EPERM;
    return false;
  }
  return now == start_time;
}
