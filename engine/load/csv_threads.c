/* csv_threads.c - the threads of the parallel CSV reader (engine/load/csv.c):
 * how many, how big a chunk, and running the chunks' tasks on them. */
#include "csv.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* The positive whole number in the variable name into *out; 0 when it is
 * unset or empty. */
static gpudf_status env_count(const char *name, long long *out) {
  *out = 0;
  const char *e = getenv(name);
  if (!e || !*e) return GPUDF_OK;
  char *end = NULL;
  errno = 0;
  long long n = strtoll(e, &end, 10);
  if (errno || end == e || *end || n < 1 || (e[0] < '0' || e[0] > '9'))
    return GDF_ERR(GPUDF_EINVAL, "%s='%.40s' is not a positive whole number; unset it for "
                   "the default", name, e);
  *out = n;
  return GPUDF_OK;
}

gpudf_status gdf_csv_threads(int option, int *out) {
  if (option < 0)
    return GDF_ERR(GPUDF_EINVAL, "options.threads = %d: use 0 (GPUDF_THREADS, else every "
                   "CPU) or a positive count", option);
  long long n = option;
  if (n == 0) GDF_TRY(env_count("GPUDF_THREADS", &n));
  if (n == 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  *out = n < GDF_CSV_THREADS_MAX ? (int)n : GDF_CSV_THREADS_MAX;
  return GPUDF_OK;
}

gpudf_status gdf_csv_chunk_bytes(size_t *out) {
  long long n = 0;
  GDF_TRY(env_count("GPUDF_CSV_CHUNK_BYTES", &n));
  *out = (size_t)n;
  return GPUDF_OK;
}

typedef struct pool {
  gdf_csv_task task;
  void *ctx;
  int n;
  atomic_int next; /* the next task to take */
} pool;

static void *worker(void *arg) {
  pool *p = arg;
  for (int k; (k = atomic_fetch_add(&p->next, 1)) < p->n;) p->task(p->ctx, k);
  return NULL;
}

void gdf_csv_run(int threads, int n, gdf_csv_task task, void *ctx) {
  pool p = {.task = task, .ctx = ctx, .n = n};
  atomic_init(&p.next, 0);
  pthread_t tid[GDF_CSV_THREADS_MAX];
  int started = 0;
  if (threads > n) threads = n;
  /* The caller is one of the threads. A thread that cannot be started
   * (EAGAIN: a limit on threads or memory) is one fewer: the tasks are taken
   * from one queue, so the others, the caller at least, do its share. */
  while (started < threads - 1 && pthread_create(&tid[started], NULL, worker, &p) == 0)
    started++;
  worker(&p);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
}
