/*
 * fuzz_attach.c - libFuzzer target: attach to a share whose descriptor bytes
 * the fuzzer writes. Whatever the bytes, gpudf_attach must answer a status
 * and, when it answers GPUDF_OK, every column it hands out must be readable
 * in full (ASan checks that nothing outside the segments is touched).
 *
 * The first input byte picks how much of the input is left raw:
 *   0: all of it, as written;
 *   1: the checksum is recomputed, so validation goes past it;
 *   2: also the arena name is set to a live arena's, so mapping and column
 *      bounds are reached with valid-looking headers.
 * Four simulated devices (engine/device/device_sim.c) are visible, so that a
 * cuda-ipc descriptor's replica table (version 3) reaches the choice of a
 * replica and its fallbacks.
 */
#include <gpudf.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "descriptor.h"

static char g_name[64], g_path[256];
static char g_arena[128];
static char g_dir[64] = "/dev/shm/gpudf-fuzz-XXXXXX";

/* The run's own shm directory (GPUDF_SHM_DIR), emptied and removed at
 * exit: what the attaches leave (a dead owner's tombstone, for one) never
 * reaches /dev/shm itself. */
static void remove_dir(void) {
  DIR *d = opendir(g_dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  rmdir(g_dir);
}

static void fix_checksum(uint8_t *buf, size_t size) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = offsetof(gdf_desc_header, owner_uid); i < size; i++) {
    h ^= buf[i];
    h *= UINT64_C(1099511628211);
  }
  ((gdf_desc_header *)buf)->checksum = h;
}

/* A real share whose arena name mode 2 borrows; it lives for the run. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static gpudf_table *t;
  static gpudf_share *s;
  double v[64];
  if (!mkdtemp(g_dir) || setenv("GPUDF_SHM_DIR", g_dir, 1) ||
      setenv("GPUDF_SIMULATE_DEVICE", "1", 1) || setenv("GPUDF_SIM_DEVICES", "4", 1))
    abort();
  atexit(remove_dir);
  for (int i = 0; i < 64; i++) v[i] = i * 0.5;
  char seed[64];
  snprintf(seed, sizeof seed, "fuzz-seed-%d", (int)getpid());
  if (gpudf_table_create(64, &t) || gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v) ||
      gpudf_table_add_column(t, "w", GPUDF_TYPE_F64, v) ||
      gpudf_table_share(t, seed, GPUDF_BACKEND_CPU, &s)) {
    fprintf(stderr, "fuzz_attach: setup failed: %s\n", gpudf_last_error());
    abort();
  }
  /* Read the arena's name back from the published descriptor. */
  char path[256];
  snprintf(path, sizeof path, "%s/gpudf-%u-%s", g_dir, (unsigned)geteuid(), seed);
  gdf_desc_header h;
  int fd = open(path, O_RDONLY);
  if (fd < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) abort();
  close(fd);
  memcpy(g_arena, h.arena_name, sizeof g_arena);
  snprintf(g_name, sizeof g_name, "fuzz-%d", (int)getpid());
  snprintf(g_path, sizeof g_path, "%s/gpudf-%u-%s", g_dir, (unsigned)geteuid(), g_name);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 3;
  size--;
  uint8_t *buf = malloc(size ? size : 1);
  memcpy(buf, data + 1, size);
  if (mode >= 2 && size >= sizeof(gdf_desc_header))
    memcpy(((gdf_desc_header *)buf)->arena_name, g_arena, sizeof g_arena);
  if (mode >= 1 && size >= sizeof(gdf_desc_header)) fix_checksum(buf, size);
  int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, buf, size) != (ssize_t)size) abort();
  close(fd);
  free(buf);

  gpudf_table *v = NULL;
  if (gpudf_attach(g_name, &v) == GPUDF_OK) {
    volatile uint8_t sink = 0;
    for (int c = 0; c < gpudf_table_ncols(v); c++) {
      const uint8_t *p = gpudf_table_column_data(v, c);
      size_t n = (size_t)gpudf_table_nrows(v) * gpudf_type_size(gpudf_table_column_type(v, c));
      for (size_t i = 0; i < n; i += 64) sink ^= p[i];
      if (n) sink ^= p[n - 1];
      for (int32_t k = 0; k < gpudf_table_column_nlabels(v, c); k++)
        sink ^= (uint8_t)strlen(gpudf_table_column_label(v, c, k));
    }
    (void)sink;
    gpudf_table_free(v);
  } else if (gpudf_last_error()[0] == '\0') {
    abort(); /* a failure must say why */
  }
  unlink(g_path);
  return 0;
}
