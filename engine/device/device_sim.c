/*
 * device_sim.c - a simulated device, so that placements, fallbacks and handle
 * refcounts are tested where there is no GPU (CI).
 *
 * Device memory is host memory: an allocation is a private shared-memory
 * segment "gpudf-<uid>+v.<pid>.<start>.<seq>", so it dies with its owner the
 * way CUDA memory does and the library's cleanup removes it after kill -9;
 * its IPC handle is the segment's name, and opening it maps the segment
 * read-only. Registering host memory records the range and gives the host
 * address back as the device address. A launch runs the kernel's CPU entry
 * (entry_kind GDF_ENTRY_CPU) on the "device" addresses of its input, through
 * the same path as a CUDA launch, for every kernel.
 *
 * Knobs (environment, read on every call):
 *   GPUDF_SIMULATE_DEVICE=1   use this device instead of CUDA
 *   GPUDF_SIM_DEVICES=N       how many devices (1..16, default 1)
 *   GPUDF_SIM_UUID=TEXT       the UUID of device 0 (up to 16 bytes of TEXT);
 *                             device k's has its last byte XORed with k
 *   GPUDF_SIM_MEM=B0,B1,...   memory size of device 0, 1, ... in bytes; the
 *                             last one given holds for the devices after it
 *                             (default 16 GiB each)
 *   GPUDF_SIM_CURRENT=K       the current device of a thread that bound none
 *                             (default 0)
 *   GPUDF_SIM_FAIL=a,b,...    make calls fail: nodevice noipc noregister
 *                             nopeer alloc upload ipc_get ipc_open register
 *                             run copy copywait (a started copy's wait);
 *                             "call:K" fails it on device K only;
 *                             "stall:K" blocks the copy to device K forever
 *                             (tests kill the process mid-replication)
 *   GPUDF_SIM_TRACE=PATH      append "PID CALL ARGS dev=K" per call (tests
 *                             count them per device)
 *   CUDA_VISIBLE_DEVICES      as with CUDA: the devices this process sees, in
 *                             that order, by ordinal or (a prefix of) the
 *                             UUID text "GPU-..."; an entry that names none,
 *                             or one already listed, ends the list ("" hides
 *                             every device). It renumbers the devices: the
 *                             UUID, memory size (GPUDF_SIM_MEM) and bus id
 *                             (GPUDF_SIM_PCI) follow the device named, while
 *                             the K of GPUDF_SIM_FAIL, GPUDF_SIM_CURRENT and
 *                             the trace are ordinals in the calling process.
 * Like CUDA, a handle cannot be opened by the process that exported it.
 */
#include "device.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void gdf_sim_trace(const char *fmt, ...) {
  const char *path = getenv("GPUDF_SIM_TRACE");
  if (!path || !*path) return;
  char line[512];
  int len = snprintf(line, sizeof line, "%d ", gdf_self_pid());
  va_list ap;
  va_start(ap, fmt);
  len += vsnprintf(line + len, sizeof line - (size_t)len - 1, fmt, ap);
  va_end(ap);
  if (len > (int)sizeof line - 2) len = (int)sizeof line - 2;
  line[len++] = '\n';
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  /* One write of one line with O_APPEND: lines of several processes never
   * interleave. */
  ssize_t w = write(fd, line, (size_t)len);
  (void)w;
  close(fd);
}

enum { SIM_MAX_DEVICES = 16 };

/* Whether GPUDF_SIM_FAIL names what, or "what:ordinal" (ordinal < 0: only
 * the bare name counts). */
static bool sim_fails_on(const char *what, int ordinal) {
  const char *list = getenv("GPUDF_SIM_FAIL");
  size_t n = strlen(what);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len >= n && strncmp(p, what, n) == 0) {
      if (len == n) return true;
      if (p[n] == ':' && ordinal >= 0 && atoi(p + n + 1) == ordinal) return true;
    }
    p = end ? end + 1 : NULL;
  }
  return false;
}
static bool sim_fails(const char *what) { return sim_fails_on(what, -1); }

static gpudf_status injected(const char *call, int ordinal) {
  gdf_sim_trace("%s failed (injected) dev=%d", call, ordinal);
  return GDF_ERR(GPUDF_EIO, "simulated device %d: %s failed: simErrorInjected "
                 "(GPUDF_SIM_FAIL names '%s')", ordinal, call, call);
}

/* GPUDF_SIM_DEVICES (the devices of the simulated machine), or 0 when it is
 * not a number in 1..SIM_MAX_DEVICES. */
static int sim_machine_devices(void) {
  const char *env = getenv("GPUDF_SIM_DEVICES");
  if (!env || !*env) return 1;
  char *end;
  long n = strtol(env, &end, 10);
  return *end == '\0' && n >= 1 && n <= SIM_MAX_DEVICES ? (int)n : 0;
}

static void sim_machine_uuid(int k, uint8_t uuid[GDF_UUID_BYTES]) {
  const char *text = getenv("GPUDF_SIM_UUID");
  if (!text || !*text) text = "gpudf-sim-dev-0";
  memset(uuid, 0, GDF_UUID_BYTES);
  memcpy(uuid, text, strnlen(text, GDF_UUID_BYTES));
  uuid[GDF_UUID_BYTES - 1] ^= (uint8_t)k;
}

/* The machine's device that entry [p, p + len) of CUDA_VISIBLE_DEVICES
 * names among n, or -1: a decimal ordinal, or a prefix of one device's UUID
 * text ("GPU-" and at least one more character) that no other device has. */
static int sim_visible_entry(const char *p, size_t len, int n) {
  while (len > 0 && (*p == ' ' || *p == '\t')) p++, len--;
  while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
  if (len == 0) return -1;
  if (len <= 2 && strspn(p, "0123456789") >= len) {
    int k = len == 1 ? p[0] - '0' : (p[0] - '0') * 10 + (p[1] - '0');
    return k < n ? k : -1;
  }
  if (len <= 4 || strncmp(p, "GPU-", 4) != 0) return -1;
  int found = -1;
  for (int k = 0; k < n; k++) {
    uint8_t uuid[GDF_UUID_BYTES];
    char text[48];
    sim_machine_uuid(k, uuid);
    gdf_uuid_text(uuid, text, sizeof text);
    if (strlen(text) >= len && strncmp(text, p, len) == 0) {
      if (found >= 0) return -1; /* ambiguous */
      found = k;
    }
  }
  return found;
}

/* The devices this process sees: map[i] is the machine's device behind
 * ordinal i (CUDA_VISIBLE_DEVICES, else all of them in order); returns how
 * many, 0 when GPUDF_SIM_DEVICES is invalid. */
static int sim_visible(int map[SIM_MAX_DEVICES]) {
  int n = sim_machine_devices();
  const char *env = getenv("CUDA_VISIBLE_DEVICES");
  if (!env) {
    for (int k = 0; k < n; k++) map[k] = k;
    return n;
  }
  int count = 0;
  for (const char *p = env; count < n;) {
    size_t len = strcspn(p, ",");
    int k = sim_visible_entry(p, len, n);
    for (int i = 0; i < count && k >= 0; i++)
      if (map[i] == k) k = -1;
    if (k < 0) break;
    map[count++] = k;
    if (p[len] != ',') break;
    p += len + 1;
  }
  return count;
}

/* How many devices this process sees. */
static int sim_ndevices(void) {
  int map[SIM_MAX_DEVICES];
  return sim_visible(map);
}

/* The machine's device behind this process's ordinal (checked by the
 * caller with sim_check). */
static int sim_machine_ordinal(int ordinal) {
  int map[SIM_MAX_DEVICES];
  int n = sim_visible(map);
  return ordinal >= 0 && ordinal < n ? map[ordinal] : ordinal;
}

/* ------------------------------------------------------------ bookkeeping */

/* Allocations (segments), opened handles and registered ranges, so that
 * free/close/unregister find what they undo and double use is an error as
 * with CUDA. */
typedef struct sim_range {
  struct sim_range *next;
  char kind; /* 'a' allocation, 'o' opened handle, 'r' registered range */
  int ordinal; /* the device it belongs to */
  void *addr;
  uint64_t bytes;
  gdf_segment *seg;
} sim_range;

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_range *ranges;
static uint64_t sim_used[SIM_MAX_DEVICES]; /* allocated bytes per device */
/* The device this thread bound (ops->bind), or -1: GPUDF_SIM_CURRENT. */
static __thread int sim_bound = -1;

static void range_add(sim_range *r) {
  pthread_mutex_lock(&sim_lock);
  r->next = ranges;
  ranges = r;
  if (r->kind == 'a') sim_used[r->ordinal] += r->bytes;
  pthread_mutex_unlock(&sim_lock);
}

/* Unlinks and returns the range of that kind at addr, or NULL. */
static sim_range *range_take(char kind, const void *addr) {
  pthread_mutex_lock(&sim_lock);
  sim_range *found = NULL;
  for (sim_range **p = &ranges; *p; p = &(*p)->next)
    if ((*p)->kind == kind && (*p)->addr == addr) {
      found = *p;
      *p = found->next;
      if (kind == 'a') sim_used[found->ordinal] -= found->bytes;
      break;
    }
  pthread_mutex_unlock(&sim_lock);
  return found;
}

static bool range_has(char kind, const void *addr) {
  pthread_mutex_lock(&sim_lock);
  bool has = false;
  for (sim_range *r = ranges; r && !has; r = r->next) has = r->kind == kind && r->addr == addr;
  pthread_mutex_unlock(&sim_lock);
  return has;
}

/* ------------------------------------------------------------ the device */

static int sim_count(const gdf_device *d, const char **why) {
  (void)d;
  if (sim_fails("nodevice")) {
    *why = "simulated device: no device (GPUDF_SIM_FAIL=nodevice)";
    return 0;
  }
  int n = sim_ndevices();
  if (n == 0)
    *why = sim_machine_devices() == 0
               ? "simulated device: GPUDF_SIM_DEVICES is not a number from 1 to 16"
               : "simulated device: CUDA_VISIBLE_DEVICES names none of the simulated devices";
  return n;
}

/* An ordinal the simulation has, for the calls that index by it. */
static gpudf_status sim_check(const gdf_device *d) {
  if (d->ordinal >= 0 && d->ordinal < sim_ndevices()) return GPUDF_OK;
  return GDF_ERR(GPUDF_ENODEV, "simulated device: invalid device ordinal %d: "
                 "cudaErrorInvalidDevice (GPUDF_SIM_DEVICES=%d)", d->ordinal, sim_ndevices());
}

static gpudf_status sim_uuid(const gdf_device *d, uint8_t uuid[GDF_UUID_BYTES]) {
  sim_machine_uuid(sim_machine_ordinal(d->ordinal), uuid);
  return GPUDF_OK;
}

static int sim_ipc_supported(const gdf_device *d, const char **why) {
  (void)d;
  if (!sim_fails("noipc")) return 1;
  *why = "simulated device: IPC is not supported (GPUDF_SIM_FAIL=noipc)";
  return 0;
}

static int sim_register_supported(const gdf_device *d, const char **why) {
  (void)d;
  if (!sim_fails("noregister")) return 1;
  *why = "simulated device: host registration is not supported (GPUDF_SIM_FAIL=noregister)";
  return 0;
}

/* Device ordinal's entry of GPUDF_SIM_MEM (the last one for ordinals past
 * the list). */
static uint64_t sim_total(int ordinal) {
  const char *p = getenv("GPUDF_SIM_MEM");
  if (!p || !*p) return UINT64_C(16) << 30;
  uint64_t v = 0;
  for (int i = 0; i <= ordinal; i++) {
    v = strtoull(p, NULL, 10);
    const char *comma = strchr(p, ',');
    if (!comma) break;
    p = comma + 1;
  }
  return v;
}

static gpudf_status sim_mem_info(const gdf_device *d, uint64_t *free_bytes, uint64_t *total) {
  GDF_TRY(sim_check(d));
  *total = sim_total(sim_machine_ordinal(d->ordinal));
  pthread_mutex_lock(&sim_lock);
  uint64_t used = sim_used[d->ordinal];
  pthread_mutex_unlock(&sim_lock);
  *free_bytes = used < *total ? *total - used : 0;
  return GPUDF_OK;
}

static gpudf_status sim_alloc(const gdf_device *d, uint64_t bytes, void **dptr) {
  GDF_TRY(sim_check(d));
  if (sim_fails_on("alloc", d->ordinal)) return injected("alloc", d->ordinal);
  uint64_t free_b, total;
  sim_mem_info(d, &free_b, &total);
  if (bytes > free_b)
    return GDF_ERR(GPUDF_ENOMEM, "simulated device %d: alloc of %" PRIu64 " bytes failed: "
                   "cudaErrorMemoryAllocation (%" PRIu64 " bytes free)", d->ordinal, bytes,
                   free_b);
  sim_range *r = calloc(1, sizeof *r);
  if (!r) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  gpudf_status st = gdf_segment_create('v', &r->seg);
  if (st == GPUDF_OK) st = gdf_segment_resize(r->seg, bytes);
  if (st != GPUDF_OK) {
    gdf_segment_destroy(r->seg);
    free(r);
    return st;
  }
  r->kind = 'a';
  r->ordinal = d->ordinal;
  r->addr = r->seg->addr;
  r->bytes = bytes;
  range_add(r);
  gdf_sim_trace("alloc %" PRIu64 " %s dev=%d", bytes, r->seg->name, d->ordinal);
  *dptr = r->addr;
  return GPUDF_OK;
}

static void sim_free(const gdf_device *d, void *dptr) {
  (void)d;
  sim_range *r = range_take('a', dptr);
  if (!r) return;
  gdf_sim_trace("free %s dev=%d", r->seg->name, r->ordinal);
  gdf_segment_destroy(r->seg);
  free(r);
}

static gpudf_status sim_upload(const gdf_device *d, void *dst, const void *src, uint64_t bytes) {
  GDF_TRY(sim_check(d));
  if (sim_fails_on("upload", d->ordinal)) return injected("upload", d->ordinal);
  /* In chunks, as the real one stages through a pinned buffer. */
  const uint64_t chunk = UINT64_C(8) << 20;
  for (uint64_t off = 0; off < bytes; off += chunk)
    memcpy((uint8_t *)dst + off, (const uint8_t *)src + off,
           bytes - off < chunk ? bytes - off : chunk);
  gdf_sim_trace("upload %" PRIu64 " dev=%d", bytes, d->ordinal);
  return GPUDF_OK;
}

static gpudf_status sim_ipc_get(const gdf_device *d, void *dptr,
                               uint8_t handle[GDF_IPC_HANDLE_BYTES]) {
  if (sim_fails_on("ipc_get", d->ordinal)) return injected("ipc_get", d->ordinal);
  pthread_mutex_lock(&sim_lock);
  const char *name = NULL;
  for (sim_range *r = ranges; r && !name; r = r->next)
    if (r->kind == 'a' && r->addr == dptr) name = r->seg->name;
  int len = name ? snprintf((char *)handle, GDF_IPC_HANDLE_BYTES, "%s", name) : -1;
  pthread_mutex_unlock(&sim_lock);
  if (len < 0 || len >= GDF_IPC_HANDLE_BYTES)
    return GDF_ERR(GPUDF_EINVAL, "simulated device: ipc_get: %p is not a device allocation "
                   "(or its name does not fit a handle)", dptr);
  gdf_sim_trace("ipc_get %s dev=%d", (const char *)handle, d->ordinal);
  return GPUDF_OK;
}

/* Checks that a handle names a device segment of a live other process. */
static gpudf_status sim_check_handle(const uint8_t *handle, char *name) {
  char kind;
  int pid;
  uint64_t start;
  if (!memchr(handle, '\0', GDF_IPC_HANDLE_BYTES) ||
      !gdf_parse_private_name((const char *)handle, &kind, &pid, &start) || kind != 'v')
    return GDF_ERR(GPUDF_EINVAL, "simulated device: ipc_open failed: "
                   "cudaErrorInvalidResourceHandle (not a device memory handle)");
  if (pid == gdf_self_pid())
    return GDF_ERR(GPUDF_EINVAL, "simulated device: ipc_open failed: cudaErrorInvalidContext "
                   "(a handle cannot be opened by the process that exported it)");
  snprintf(name, GDF_IPC_HANDLE_BYTES, "%s", (const char *)handle);
  return GPUDF_OK;
}

static gpudf_status sim_map_handle(const char *name, void **addr, uint64_t *bytes) {
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return GDF_ERR(GPUDF_ENODEV, "simulated device: ipc_open failed: "
                   "cudaErrorInvalidResourceHandle (%s: %s; did its owner exit?)", name,
                   strerror(errno));
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > 0)
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED)
    return GDF_ERR(GPUDF_EIO, "simulated device: ipc_open: cannot map %s", name);
  *addr = p;
  *bytes = (uint64_t)st.st_size;
  return GPUDF_OK;
}

static gpudf_status sim_ipc_open(const gdf_device *d, const uint8_t handle[GDF_IPC_HANDLE_BYTES],
                                 void **dptr) {
  GDF_TRY(sim_check(d));
  if (sim_fails_on("ipc_open", d->ordinal)) return injected("ipc_open", d->ordinal);
  char name[GDF_IPC_HANDLE_BYTES];
  GDF_TRY(sim_check_handle(handle, name));
  sim_range *r = calloc(1, sizeof *r);
  if (!r) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  gpudf_status st = sim_map_handle(name, &r->addr, &r->bytes);
  if (st != GPUDF_OK) {
    free(r);
    return st;
  }
  r->kind = 'o';
  r->ordinal = d->ordinal;
  range_add(r);
  gdf_sim_trace("ipc_open %s dev=%d", name, d->ordinal);
  *dptr = r->addr;
  return GPUDF_OK;
}

static void sim_ipc_close(const gdf_device *d, void *dptr) {
  (void)d;
  sim_range *r = range_take('o', dptr);
  if (!r) return;
  gdf_sim_trace("ipc_close dev=%d", r->ordinal);
  munmap(r->addr, r->bytes);
  free(r);
}

static gpudf_status sim_host_register(const gdf_device *d, void *host, uint64_t bytes) {
  GDF_TRY(sim_check(d));
  if (sim_fails_on("register", d->ordinal)) return injected("register", d->ordinal);
  if (range_has('r', host))
    return GDF_ERR(GPUDF_EINVAL, "simulated device: host_register failed: "
                   "cudaErrorHostMemoryAlreadyRegistered");
  sim_range *r = calloc(1, sizeof *r);
  if (!r) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  r->kind = 'r';
  r->ordinal = d->ordinal;
  r->addr = host;
  r->bytes = bytes;
  range_add(r);
  gdf_sim_trace("register %" PRIu64 " dev=%d", bytes, d->ordinal);
  return GPUDF_OK;
}

static void sim_host_unregister(const gdf_device *d, void *host) {
  (void)d;
  sim_range *r = range_take('r', host);
  if (!r) return;
  gdf_sim_trace("unregister dev=%d", r->ordinal);
  free(r);
}

static gpudf_status sim_host_device_pointer(const gdf_device *d, void *host, void **dptr) {
  (void)d;
  if (!range_has('r', host))
    return GDF_ERR(GPUDF_EINVAL, "simulated device: host_device_pointer failed: "
                   "cudaErrorInvalidValue (memory not registered)");
  *dptr = host;
  return GPUDF_OK;
}

static gdf_entry_kind sim_entry_kind(const gdf_device *d) {
  (void)d;
  return GDF_ENTRY_CPU;
}

/* Every kernel the same way: its CPU entry over the "device" addresses. */
static gpudf_status sim_launch(const gdf_device *d, const char *kernel, gdf_kernel_fn *fn,
                               const gdf_kernel_input *in, const double *configs, int64_t n,
                               double *results) {
  GDF_TRY(sim_check(d));
  if (sim_fails_on("run", d->ordinal)) return injected("run", d->ordinal);
  gdf_sim_trace("%s %lld dev=%d", kernel, (long long)n, d->ordinal);
  return fn(in, configs, n, results);
}

static int sim_current(const gdf_device *d) {
  (void)d;
  if (sim_bound >= 0) return sim_bound;
  const char *env = getenv("GPUDF_SIM_CURRENT");
  return env && *env ? atoi(env) : 0;
}

static gpudf_status sim_bind(const gdf_device *d) {
  GDF_TRY(sim_check(d));
  sim_bound = d->ordinal;
  gdf_sim_trace("bind dev=%d", d->ordinal);
  return GPUDF_OK;
}

static int sim_can_access_peer(const gdf_device *d, const gdf_device *peer) {
  return d->ordinal != peer->ordinal && !sim_fails("nopeer");
}

/* Both are host memory here; the trace says which way the real one would
 * take, so tests see peer and staged copies apart from host uploads. */
static gpudf_status sim_copy_d2d(const gdf_device *to, void *dst, const gdf_device *from,
                                 const void *src, uint64_t bytes, bool *peer) {
  GDF_TRY(sim_check(to));
  GDF_TRY(sim_check(from));
  if (sim_fails_on("copy", to->ordinal)) return injected("copy", to->ordinal);
  if (sim_fails_on("stall", to->ordinal)) {
    gdf_sim_trace("stall dev=%d", to->ordinal);
    for (;;) pause();
  }
  *peer = sim_can_access_peer(to, from);
  memcpy(dst, src, bytes);
  gdf_sim_trace("%s %" PRIu64 " dev=%d from=%d", *peer ? "peer" : "staged", bytes,
                to->ordinal, from->ordinal);
  return GPUDF_OK;
}

/* Overlapped copies: each started copy runs on a thread of its own, as a
 * real one runs on a stream of its own; the trace shows the same lines as
 * copy_d2d's. Start fails as copy_d2d does (GPUDF_SIM_FAIL copy:K), and
 * "copywait:K" fails the wait for the copy to device K instead. */
typedef struct sim_copy {
  pthread_t tid;
  gdf_device to, from;
  void *dst;
  const void *src;
  uint64_t bytes;
  gpudf_status st;
  char why[256];
} sim_copy;

static void *sim_copy_main(void *arg) {
  sim_copy *c = arg;
  bool peer = false;
  c->st = sim_copy_d2d(&c->to, c->dst, &c->from, c->src, c->bytes, &peer);
  if (c->st != GPUDF_OK) snprintf(c->why, sizeof c->why, "%s", gpudf_last_error());
  return NULL;
}

static gpudf_status sim_copy_start(const gdf_device *to, void *dst, const gdf_device *from,
                                   const void *src, uint64_t bytes, void **job) {
  GDF_TRY(sim_check(to));
  GDF_TRY(sim_check(from));
  if (sim_fails_on("copy", to->ordinal)) return injected("copy", to->ordinal);
  sim_copy *c = calloc(1, sizeof *c);
  if (!c) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  *c = (sim_copy){.to = *to, .from = *from, .dst = dst, .src = src, .bytes = bytes};
  int e = pthread_create(&c->tid, NULL, sim_copy_main, c);
  if (e != 0) {
    free(c);
    return GDF_ERR(GPUDF_EIO, "simulated device %d: cannot start a copy: %s", to->ordinal,
                   strerror(e));
  }
  gdf_sim_trace("copy_start dev=%d from=%d", to->ordinal, from->ordinal);
  *job = c;
  return GPUDF_OK;
}

static gpudf_status sim_copy_wait(const gdf_device *to, void *job) {
  sim_copy *c = job;
  pthread_join(c->tid, NULL);
  gpudf_status st = c->st;
  if (st != GPUDF_OK) st = GDF_ERR(st, "%s", c->why);
  free(c);
  if (st == GPUDF_OK && sim_fails_on("copywait", to->ordinal))
    return injected("copywait", to->ordinal);
  return st;
}

/* GPUDF_SIM_PCI: bus ids of the devices, comma-separated; else device k is
 * on bus 0x10 + k of domain 0. */
static gpudf_status sim_pci_bus_id(const gdf_device *d, char *buf, size_t len) {
  GDF_TRY(sim_check(d));
  const char *env = getenv("GPUDF_SIM_PCI");
  if (env && *env) {
    const char *p = env;
    for (int k = 0, m = sim_machine_ordinal(d->ordinal); k < m && p; k++) {
      p = strchr(p, ',');
      if (p) p++;
    }
    if (p) {
      size_t n = strcspn(p, ",");
      snprintf(buf, len, "%.*s", (int)n, p);
      return GPUDF_OK;
    }
  }
  snprintf(buf, len, "0000:%02X:00.0", 0x10 + sim_machine_ordinal(d->ordinal));
  return GPUDF_OK;
}

static const gdf_device_ops sim_ops = {
    .name = "simulated",
    .count = sim_count,
    .uuid = sim_uuid,
    .ipc_supported = sim_ipc_supported,
    .register_supported = sim_register_supported,
    .mem_info = sim_mem_info,
    .alloc = sim_alloc,
    .free = sim_free,
    .upload = sim_upload,
    .ipc_get = sim_ipc_get,
    .ipc_open = sim_ipc_open,
    .ipc_close = sim_ipc_close,
    .host_register = sim_host_register,
    .host_unregister = sim_host_unregister,
    .host_device_pointer = sim_host_device_pointer,
    .entry_kind = sim_entry_kind,
    .launch = sim_launch,
    .current = sim_current,
    .bind = sim_bind,
    .can_access_peer = sim_can_access_peer,
    .copy_d2d = sim_copy_d2d,
    .pci_bus_id = sim_pci_bus_id,
    .copy_start = sim_copy_start,
    .copy_wait = sim_copy_wait,
};

gdf_device gdf_sim_device(void) {
  gdf_device d = {&sim_ops, NULL, 0};
  return d;
}
