/*
 * plugin.c - loads shared libraries that register kernels. The owner of a
 * sweep loads every plugin first, so a bad one is an error before any worker
 * starts; each worker then loads the same paths.
 */
#include "kernel.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Handles of the plugins whose init ran, so that loading one again is a
 * no-op (its kernels are registered already). Never dlclose'd: registered
 * kernels point into the library. */
enum { GDF_PLUGINS_MAX = 64 };
static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static void *plugins[GDF_PLUGINS_MAX];
static gpudf_status plugin_status[GDF_PLUGINS_MAX]; /* what its init returned */
static int nplugins;

typedef gpudf_status (*gdf_plugin_init_fn)(void);

/* Index of a plugin whose init already ran, or -1. */
static int loaded_index(void *h) {
  for (int i = 0; i < nplugins; i++)
    if (plugins[i] == h) return i;
  return -1;
}

/* dlopen with a message; dlerror's text names the file and the reason. */
static gpudf_status open_plugin(const char *path, void **out) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = errno;
    return GDF_ERR(gdf_status_from_errno(err), "plugin '%s': %s", path, strerror(err));
  }
  dlerror();
  *out = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (*out) return GPUDF_OK;
  const char *why = dlerror();
  return GDF_ERR(GPUDF_EINVAL, "plugin '%s' is not a loadable shared library: %s", path,
                 why ? why : "unknown error");
}

static gpudf_status init_plugin(const char *path, void *h) {
  gdf_plugin_init_fn init;
  /* The object-to-function pointer conversion dlsym requires (POSIX). */
  *(void **)(&init) = dlsym(h, "gpudf_plugin_init");
  if (!init)
    return GDF_ERR(GPUDF_EINVAL, "'%s' is not a gpudf plugin: it exports no "
                   "gpudf_plugin_init", path);
  gpudf_status st = init();
  if (st == GPUDF_OK) return st;
  char why[900];
  snprintf(why, sizeof why, "%s", gpudf_last_error());
  return GDF_ERR(st, "plugin '%s': gpudf_plugin_init failed: %s", path, why);
}

gpudf_status gpudf_plugin_load(const char *path) {
  GDF_ENTER();
  if (!path || !*path) return GDF_ERR(GPUDF_EINVAL, "plugin path is NULL or empty");
  void *h = NULL;
  GDF_TRY(open_plugin(path, &h));
  pthread_mutex_lock(&plugin_lock);
  gpudf_status st = GPUDF_OK;
  int seen = loaded_index(h);
  if (seen >= 0) {
    dlclose(h); /* drops the reference this dlopen added */
    if (plugin_status[seen] != GPUDF_OK)
      st = GDF_ERR(plugin_status[seen], "plugin '%s' failed its gpudf_plugin_init when it "
                   "was first loaded", path);
  } else if (nplugins == GDF_PLUGINS_MAX) {
    st = GDF_ERR(GPUDF_ENOSPC, "too many plugins (at most %d)", GDF_PLUGINS_MAX);
    dlclose(h);
  } else {
    st = init_plugin(path, h);
    /* Kept even when init failed part-way: it may have registered kernels
     * that point into the library. */
    plugin_status[nplugins] = st;
    plugins[nplugins++] = h;
  }
  pthread_mutex_unlock(&plugin_lock);
  if (st == GPUDF_OK) gdf_log("plugin %s loaded", path);
  return st;
}
