/* sweep_launch.c - see sweep_launch.h. */
#include "sweep_launch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GPUDF_BINDIR_ABS
#define GPUDF_BINDIR_ABS "/usr/local/bin"
#endif

static int env_int(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) return -1;
  char *end;
  long n = strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n <= INT_MAX ? (int)n : -1;
}

int sweep_launcher_ranks(void) {
  int n = env_int("OMPI_COMM_WORLD_SIZE");
  if (n < 0) n = env_int("PMI_SIZE");
  if (n < 0 && getenv("PMIX_RANK")) n = env_int("SLURM_STEP_NUM_TASKS");
  return n < 0 ? 0 : n;
}

static int launcher_rank(void) {
  const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    int r = env_int(names[i]);
    if (r >= 0) return r;
  }
  return 0;
}

/* Appends path to tried; 1 when it is an executable file. */
static int candidate(const char *path, char *tried, size_t len) {
  size_t used = strlen(tried);
  snprintf(tried + used, len - used, "%s%s", used ? ", " : "", path);
  return access(path, X_OK) == 0;
}

void sweep_launch_mpi(int argc, char **argv) {
  (void)argc;
  int ranks = sweep_launcher_ranks();
  const char *alone = getenv("GPUDF_SWEEP_ALONE");
  if (ranks <= 1 || (alone && strcmp(alone, "1") == 0)) return;
  char tried[2048] = "", path[PATH_MAX + 32] = "";
  int found = 0;
  const char *env = getenv("GPUDF_SWEEP_MPI");
  if (env && *env) {
    snprintf(path, sizeof path, "%s", env);
    found = candidate(path, tried, sizeof tried);
  } else {
    /* Next to this program (the build tree, an installed bin/), then the
     * bin/ it was configured to install into. */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
      self[len] = '\0';
      char *slash = strrchr(self, '/');
      if (slash) {
        *slash = '\0';
        snprintf(path, sizeof path, "%s/gpudf-sweep-mpi", self);
        found = candidate(path, tried, sizeof tried);
      }
    }
    if (!found) {
      snprintf(path, sizeof path, "%s/gpudf-sweep-mpi", GPUDF_BINDIR_ABS);
      found = candidate(path, tried, sizeof tried);
    }
  }
  const char *why = "not an executable file";
  if (found) {
    fflush(NULL);
    argv[0] = path;
    execv(path, argv);
    why = strerror(errno);
  }
  if (launcher_rank() == 0)
    fprintf(stderr, "gpudf-sweep: started by an MPI launcher as one of %d ranks, but "
            "gpudf-sweep-mpi cannot run (tried %s: %s); build libgpudf where CMake finds MPI "
            "(docs/mpi.md), or set GPUDF_SWEEP_ALONE=1 to run %d independent sweeps\n",
            ranks, tried, why, ranks);
  exit(2);
}
