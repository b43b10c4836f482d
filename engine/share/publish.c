/* publish.c - gpudf_table_share: seal the arena, place it on the backend,
 * write the descriptor and link it under its public name; gpudf_share_close. */
#include "cleanup.h"
#include "segment.h"
#include "share.h"
#include "table.h"
#include "versioned.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct gpudf_share {
  gpudf_table *table;
  gdf_segment *desc; /* its name is the public one once published */
  char name[GPUDF_NAME_MAX + 1];
  gpudf_backend backend;
  uint64_t share_id;
  char replica_text[GDF_REPLICAS_MAX][48]; /* "GPU-..." of each replica */
  struct gpudf_share *next_open; /* open_shares, under shares_lock */
};

/* Shares this process publishes: a view of one of them borrows the owner's
 * device placement (gdf_share_own_placement). */
static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gpudf_share *open_shares;

/* A fork while another thread holds shares_lock would leave the child with a
 * lock nobody releases. The fork waits for the lock instead, and both sides
 * release it. */
static void shares_fork_prepare(void) { pthread_mutex_lock(&shares_lock); }
static void shares_fork_release(void) { pthread_mutex_unlock(&shares_lock); }
__attribute__((constructor)) static void shares_fork_register(void) {
  pthread_atfork(shares_fork_prepare, shares_fork_release, shares_fork_release);
}

gdf_placement *gdf_share_own_placement(uint64_t share_id) {
  gdf_placement *place = NULL;
  pthread_mutex_lock(&shares_lock);
  for (gpudf_share *s = open_shares; s && !place; s = s->next_open)
    if (s->share_id == share_id && s->table->place &&
        s->table->place->backend == GPUDF_BACKEND_CUDA_IPC)
      place = gdf_placement_ref(s->table->place);
  pthread_mutex_unlock(&shares_lock);
  return place;
}

static uint64_t random_u64(void) {
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)gdf_self_pid();
}

static void fill_descriptor(const gpudf_table *t, const char *name, const gdf_placement *place,
                            uint8_t *buf, uint64_t size) {
  gpudf_backend backend = place ? place->backend : GPUDF_BACKEND_CPU;
  gdf_desc_header *h = (gdf_desc_header *)buf;
  memset(buf, 0, size);
  h->magic = GDF_DESC_MAGIC;
  h->version = GDF_DESC_VERSION;
  h->header_size = sizeof *h;
  h->total_size = size;
  h->owner_uid = (uint32_t)geteuid();
  h->owner_pid = gdf_self_pid();
  h->owner_start = gdf_self_start();
  h->share_id = random_u64();
  h->backend = (uint32_t)backend;
  if (backend == GPUDF_BACKEND_CUDA_IPC) {
    h->nreplicas = (uint32_t)place->nreplicas;
    for (int i = 0; i < place->nreplicas; i++) {
      memcpy(h->replicas[i].device_uuid, place->replicas[i].uuid, GDF_UUID_BYTES);
      memcpy(h->replicas[i].ipc_handle, place->replicas[i].handle, GDF_IPC_HANDLE_BYTES);
    }
  }
  h->ncols = (uint32_t)t->ncols;
  h->nrows = t->nrows;
  h->arena_size = t->arena_bytes;
  snprintf(h->arena_name, sizeof h->arena_name, "%s", t->arena->name);
  snprintf(h->share_name, sizeof h->share_name, "%s", name);
  gdf_desc_column *cols = (gdf_desc_column *)(buf + sizeof *h);
  for (int i = 0; i < t->ncols; i++) {
    memcpy(cols[i].name, t->cols[i].name, sizeof cols[i].name);
    cols[i].type = (uint32_t)t->cols[i].type;
    cols[i].offset = t->cols[i].offset;
    cols[i].nlabels = (uint32_t)t->cols[i].nlabels;
    cols[i].dict_offset = t->cols[i].dict_offset;
    cols[i].dict_size = t->cols[i].dict_size;
  }
  h->checksum = gdf_desc_checksum(buf, size);
  atomic_thread_fence(memory_order_release);
  h->ready = 1;
}

/* Links the finished descriptor under its public name. A name held by a
 * dead owner is reclaimed once; a live owner's is GPUDF_EEXIST. */
static gpudf_status publish(gdf_segment *desc, const char *name) {
  int dfd = -1;
  GDF_TRY(gdf_shm_dirfd(&dfd));
  char file[GDF_SEG_PATH_MAX];
  gdf_desc_file_name(name, file, sizeof file);
  for (int attempt = 0;; attempt++) {
    if (linkat(dfd, desc->name, dfd, file, 0) == 0) break;
    int err = errno;
    if (err != EEXIST)
      return GDF_ERR(gdf_status_from_errno(err), "cannot publish '%s' as %s/%s: %s", name,
                     gdf_shm_dir(), file, strerror(err));
    if (attempt == 0 && gdf_tidy_quietly() > 0) continue;
    uint8_t *buf;
    uint64_t size;
    struct stat st;
    int pid = 0;
    if (gdf_desc_read(dfd, file, name, &buf, &size, &st) == GPUDF_OK) {
      if (size >= sizeof(gdf_desc_header)) pid = ((gdf_desc_header *)buf)->owner_pid;
      free(buf);
    }
    if (pid > 0)
      return GDF_ERR(GPUDF_EEXIST, "share name '%s' is already published by process %d", name,
                     pid);
    return GDF_ERR(GPUDF_EEXIST, "share name '%s' is taken by %s/%s, which is not a live "
                   "gpudf share of this user; remove it or pick another name",
                   name, gdf_shm_dir(), file);
  }
  unlinkat(dfd, desc->name, 0);
  snprintf(desc->name, sizeof desc->name, "%s", file);
  /* The name is live again: a tombstone of an earlier owner would tell its
   * attachers, once this share is closed, of a death that is not its own. */
  gdf_tomb_remove(dfd, name);
  return GPUDF_OK;
}

/* Places the sealed arena on the device once per table: a table shared
 * again after its share closed keeps the placement other processes may
 * still be reading. */
/* A table keeps the replicas of its first device share. Devices named for a
 * later share must be exactly those (by UUID, in any order): publishing the
 * old replicas under a share that named others would be a silent change of
 * what the caller asked for. "all" (or nothing named) takes what is there. */
static gpudf_status same_replicas(const gdf_placement *p, const gdf_devsel *sel) {
  if (!sel || sel->all || p->backend != GPUDF_BACKEND_CUDA_IPC || p->nreplicas < 1)
    return GPUDF_OK;
  int ords[GDF_REPLICAS_MAX], n = 0;
  GDF_TRY(gdf_devsel_resolve(sel, &p->dev, ords, &n));
  bool same = n == p->nreplicas;
  for (int k = 0; same && k < n; k++) {
    gdf_device d = gdf_device_at(&p->dev, ords[k]);
    uint8_t uuid[GDF_UUID_BYTES];
    GDF_TRY(d.ops->uuid(&d, uuid));
    bool found = false;
    for (int i = 0; i < p->nreplicas && !found; i++)
      found = memcmp(p->replicas[i].uuid, uuid, sizeof uuid) == 0;
    same = found;
  }
  if (same) return GPUDF_OK;
  char have[GDF_REPLICAS_MAX * 50] = "";
  size_t at = 0;
  for (int i = 0; i < p->nreplicas && at < sizeof have; i++) {
    char u[48];
    int w = snprintf(have + at, sizeof have - at, "%s%s", i ? "," : "",
                     gdf_uuid_text(p->replicas[i].uuid, u, sizeof u));
    if (w < 0) break;
    at += (size_t)w;
  }
  return GDF_ERR(GPUDF_EBUSY, "table's replicas were placed on %s when it was first shared; "
                 "it cannot be shared on other devices (name those, or 'all', or share a "
                 "new table; another process adds one with gpudf_share_add_replica)", have);
}

static gpudf_status place_table(gpudf_table *t, gpudf_backend resolved, bool forced,
                                const gdf_devsel *devices) {
  if (t->place) {
    if (forced && t->place->backend != resolved)
      return GDF_ERR(GPUDF_EBUSY, "table was placed as %s when it was first shared; it cannot "
                     "be shared as %s", gpudf_backend_name(t->place->backend),
                     gpudf_backend_name(resolved));
    return same_replicas(t->place, devices);
  }
  if (t->sealed && t->arena_bytes > 0 && resolved != GPUDF_BACKEND_CPU) {
    gdf_range_push("gpudf place");
    gpudf_status st =
        gdf_place_owner(t->base, t->arena_bytes, resolved, forced, devices, &t->place);
    gdf_range_pop();
    return st;
  }
  return GPUDF_OK;
}

/* Writes the descriptor (ready last, after the upload finished) and links it
 * under its public name. */
static gpudf_status publish_share(gpudf_share *s, gpudf_table *t, const char *name) {
  uint64_t size = sizeof(gdf_desc_header) + (uint64_t)t->ncols * sizeof(gdf_desc_column);
  GDF_TRY(gdf_segment_create('d', &s->desc));
  GDF_TRY(gdf_segment_resize(s->desc, size));
  fill_descriptor(t, name, t->place, s->desc->addr, size);
  s->share_id = ((const gdf_desc_header *)s->desc->addr)->share_id;
  s->backend = t->place ? t->place->backend : GPUDF_BACKEND_CPU;
  gdf_range_push("gpudf publish");
  gpudf_status st = publish(s->desc, name);
  gdf_range_pop();
  if (st == GPUDF_OK) gdf_sim_trace("publish %s %s", name, gpudf_backend_name(s->backend));
  return st;
}

void gpudf_share_options_init(gpudf_share_options *opts) {
  if (!opts) return;
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->version = GPUDF_SHARE_OPTIONS_VERSION;
  opts->backend = GPUDF_BACKEND_AUTO;
  opts->devices = NULL;
}

/* The devices option, else GPUDF_DEVICES, else every device. */
static gpudf_status share_devices(const char *opt, gdf_devsel *sel) {
  if (opt) return gdf_devsel_parse(opt, "devices", sel);
  const char *env = getenv("GPUDF_DEVICES");
  if (env) return gdf_devsel_parse(env, "GPUDF_DEVICES", sel);
  return gdf_devsel_parse("all", "devices", sel);
}

static gpudf_status share_table(gpudf_table *t, const char *name, gpudf_backend backend,
                                const char *devices, gpudf_share **out);

gpudf_status gpudf_table_share(gpudf_table *t, const char *name, gpudf_backend backend,
                               gpudf_share **out) {
  GDF_ENTER();
  return share_table(t, name, backend, NULL, out);
}

gpudf_status gpudf_table_share_ex(gpudf_table *t, const char *name,
                                  const gpudf_share_options *opts, gpudf_share **out) {
  GDF_ENTER();
  gpudf_share_options o;
  gpudf_share_options_init(&o);
  if (opts)
    GDF_TRY(gdf_versioned_in(&o, sizeof o, opts, sizeof o,
                             "options", "gpudf_share_options_init"));
  return share_table(t, name, o.backend, o.devices, out);
}

static gpudf_status share_table(gpudf_table *t, const char *name, gpudf_backend backend,
                                const char *devices, gpudf_share **out) {
  static _Atomic unsigned anon_seq;
  if (!t || !out) return GDF_ERR(GPUDF_EINVAL, "table or out is NULL");
  *out = NULL;
  if (t->is_view) return GDF_ERR(GPUDF_EPERM, "an attached view cannot be shared again; "
                                 "attach to the original share instead");
  if (t->share)
    return GDF_ERR(GPUDF_EBUSY, "table is already shared as '%s'", t->share->name);
  if (t->ncols == 0) return GDF_ERR(GPUDF_EINVAL, "table has no columns to share");
  char anon[GPUDF_NAME_MAX + 1];
  if (!name) {
    snprintf(anon, sizeof anon, "anon.%d.%u", gdf_self_pid(), atomic_fetch_add(&anon_seq, 1));
    name = anon;
  }
  GDF_TRY(gdf_check_share_name(name));
  gdf_devsel sel;
  GDF_TRY(share_devices(devices, &sel));
  gpudf_backend resolved = GPUDF_BACKEND_CPU;
  bool forced = false;
  GDF_TRY(gdf_backend_resolve(backend, &resolved, &forced));
  if (!sel.all && resolved == GPUDF_BACKEND_CPU)
    return GDF_ERR(forced ? GPUDF_EINVAL : GPUDF_ENODEV, "devices were named for share '%s' "
                   "but it is placed as cpu (%s)", name,
                   forced ? "asked for" : "no device placement is available");
  gdf_tidy_quietly();

  gpudf_share *s = calloc(1, sizeof *s);
  if (!s) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  snprintf(s->name, sizeof s->name, "%s", name);
  gpudf_status st = GPUDF_OK;
  bool sealed_before = t->sealed;
  if (!t->sealed) {
    st = gdf_segment_seal(t->arena);
    t->sealed = st == GPUDF_OK;
  }
  bool placed_before = t->place != NULL;
  if (st == GPUDF_OK) st = place_table(t, resolved, forced, &sel);
  if (st == GPUDF_OK) st = publish_share(s, t, name);
  if (st != GPUDF_OK) {
    gdf_segment_destroy(s->desc);
    free(s);
    /* A placement this call made was never published: give its device
     * memory back now rather than when the table is freed. */
    if (!placed_before) {
      gdf_placement_free(t->place);
      t->place = NULL;
    }
    /* Nobody saw the arena: the table stays open for columns, as before. */
    if (!sealed_before && t->sealed) {
      gdf_quiet q;
      gdf_quiet_begin(&q, NULL, 0); /* the share's failure is the one to report */
      t->sealed = gdf_segment_unseal(t->arena) != GPUDF_OK;
      gdf_quiet_end(&q);
    }
    return st;
  }
  gdf_log("shared table as '%s' (%s/%s): %d columns, %" PRId64 " rows, %" PRIu64
          " arena bytes, backend %s", name, gdf_shm_dir(), s->desc->name, t->ncols, t->nrows,
          t->arena_bytes, gpudf_backend_name(s->backend));
  if (t->place)
    for (int i = 0; i < t->place->nreplicas; i++)
      gdf_uuid_text(t->place->replicas[i].uuid, s->replica_text[i], sizeof s->replica_text[i]);
  s->table = t;
  t->share = s;
  t->refs++;
  pthread_mutex_lock(&shares_lock);
  s->next_open = open_shares;
  open_shares = s;
  pthread_mutex_unlock(&shares_lock);
  *out = s;
  return GPUDF_OK;
}

const char *gpudf_share_name(const gpudf_share *s) { return s ? s->name : NULL; }
gpudf_backend gpudf_share_backend(const gpudf_share *s) {
  return s ? s->backend : GPUDF_BACKEND_AUTO;
}

int gpudf_share_nreplicas(const gpudf_share *s) {
  const gdf_placement *p = s ? s->table->place : NULL;
  return p && p->backend == GPUDF_BACKEND_CUDA_IPC ? p->nreplicas : 0;
}

const char *gpudf_share_replica_device(const gpudf_share *s, int i) {
  if (i < 0 || i >= gpudf_share_nreplicas(s)) return NULL;
  return s->replica_text[i];
}

const char *gpudf_share_skipped(const gpudf_share *s) {
  return s && s->table->place ? s->table->place->skipped : "";
}

void gpudf_share_close(gpudf_share *s) {
  if (!s) return;
  pthread_mutex_lock(&shares_lock);
  for (gpudf_share **p = &open_shares; *p; p = &(*p)->next_open)
    if (*p == s) {
      *p = s->next_open;
      break;
    }
  pthread_mutex_unlock(&shares_lock);
  gdf_attach_forget(s->share_id); /* this process's own idle view of it */
  gdf_segment_destroy(s->desc); /* unlinks the public name */
  s->table->share = NULL;
  gdf_table_release(s->table);
  free(s);
}
