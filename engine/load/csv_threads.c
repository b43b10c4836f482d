/* csv_threads.c - the threads of the parallel CSV reader (engine/load/csv.c):
 * how many, how big a chunk, and running the chunks' tasks on them. */
#include "csv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

int gdf_csv_threads(int option) {
  if (option > 0) return option < GDF_CSV_THREADS_MAX ? option : GDF_CSV_THREADS_MAX;
  const char *e = getenv("GPUDF_THREADS");
  long n = e && *e ? strtol(e, NULL, 10) : 0;
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n < GDF_CSV_THREADS_MAX ? (int)n : GDF_CSV_THREADS_MAX;
}

size_t gdf_csv_chunk_bytes(void) {
  const char *e = getenv("GPUDF_CSV_CHUNK_BYTES");
  long long n = e && *e ? strtoll(e, NULL, 10) : 0;
  return n > 0 ? (size_t)n : 0;
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
