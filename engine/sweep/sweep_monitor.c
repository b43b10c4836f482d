/*
 * sweep_monitor.c - the owner's side of a sweep with worker processes:
 * finds and starts gpudf-worker processes, watches them, re-queues what a
 * dead worker held, kills what runs past its time limit, and stops them all
 * on cancel. Workers are posix_spawn'ed, never forked: a fork after CUDA was
 * initialised in this process would give them a broken context.
 */
#include "sweep_owner.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef GPUDF_LIBEXEC_REL
#define GPUDF_LIBEXEC_REL "../libexec/gpudf"
#endif
#ifndef GPUDF_LIBEXEC_ABS
#define GPUDF_LIBEXEC_ABS "/usr/local/libexec/gpudf"
#endif

/* ---------------------------------------------------------- discovery */

static bool try_path(const char *path, char *out, size_t len, char *tried, size_t tlen) {
  size_t used = strlen(tried);
  snprintf(tried + used, tlen - used, "%s%s", used ? ", " : "", path);
  if (access(path, X_OK) != 0) return false;
  snprintf(out, len, "%s", path);
  return true;
}

gpudf_status gdf_find_worker(char *out, size_t len) {
  char tried[1024] = "", cand[512];
  const char *env = getenv("GPUDF_WORKER");
  if (env && *env) {
    if (try_path(env, out, len, tried, sizeof tried)) return GPUDF_OK;
    return GDF_ERR(GPUDF_ENOENT, "GPUDF_WORKER=%s is not an executable file", env);
  }
  Dl_info info;
  /* Any address inside libgpudf names the file it was loaded from. */
  if (dladdr((void *)gdf_find_worker, &info) && info.dli_fname) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    snprintf(cand, sizeof cand, "%s/gpudf-worker", dir);
    if (try_path(cand, out, len, tried, sizeof tried)) return GPUDF_OK;
    snprintf(cand, sizeof cand, "%s/%s/gpudf-worker", dir, GPUDF_LIBEXEC_REL);
    if (try_path(cand, out, len, tried, sizeof tried)) return GPUDF_OK;
  }
  if (try_path(GPUDF_LIBEXEC_ABS "/gpudf-worker", out, len, tried, sizeof tried))
    return GPUDF_OK;
  return GDF_ERR(GPUDF_ENOENT, "no gpudf-worker executable found; tried %s (set GPUDF_WORKER "
                 "to its path, or use workers = 0)", tried);
}

/* ------------------------------------------------------------- spawning */

/* Workers that may die before they attach, by a signal or a silent exit,
 * before the sweep gives up: a few kills are replaced, a start that fails
 * every time is not retried forever. */
#define GDF_STARTUP_DEATHS_MAX(s) (2 * (int)(s)->ctl->nslots + 4)

/* How long a worker may take to start (load its plugins, attach the table)
 * before it is killed and the sweep fails: $GPUDF_WORKER_START_TIMEOUT
 * seconds when set; else, with a time limit, that limit but at least 60 s;
 * else none (as a kernel's run has none then). 0: none. */
static double startup_limit_s(const gdf_sweep *s) {
  const char *env = getenv("GPUDF_WORKER_START_TIMEOUT");
  char *end;
  double v = env && *env ? strtod(env, &end) : 0.0;
  if (env && *env && *end == '\0' && v > 0 && v < 1e9) return v;
  if (s->o.time_limit_s <= 0) return 0.0;
  return s->o.time_limit_s > 60.0 ? s->o.time_limit_s : 60.0;
}

static void nap_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

static void reset_slot(gdf_sweep_slot *sl) {
  atomic_store(&sl->pid, 0);
  atomic_store(&sl->claiming, 0);
  atomic_store(&sl->attached, 0);
  atomic_store(&sl->part, 0); /* a killed worker's claim had its own */
  atomic_store(&sl->backend, 0);
  memset(sl->device, 0, sizeof sl->device);
  atomic_store(&sl->lo, 0);
  atomic_store(&sl->hi, 0);
  atomic_store(&sl->start_ns, 0);
  atomic_store(&sl->configs, 0);
  atomic_store(&sl->batches, 0);
  atomic_store(&sl->busy_ns, 0);
  atomic_store(&sl->task, 0);
  sl->error[0] = '\0';
}

/* posix_spawn in a process group of its own, so a Ctrl-C at the terminal
 * reaches the owner only, which then stops the workers at a batch boundary. */
static gpudf_status spawn(gdf_sweep *s, int slot, const char *path) {
  char idx[16];
  snprintf(idx, sizeof idx, "%d", slot);
  char *argv[3 + GPUDF_SWEEP_PLUGINS_MAX + 1];
  int a = 0;
  argv[a++] = (char *)path;
  argv[a++] = s->seg->name;
  argv[a++] = idx;
  for (int i = 0; i < s->o.nplugins; i++) argv[a++] = (char *)s->o.plugins[i];
  argv[a] = NULL;
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, deflt;
  sigemptyset(&none);
  sigemptyset(&deflt);
  sigaddset(&deflt, SIGINT);
  sigaddset(&deflt, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  reset_slot(gdf_ctl_slot(s->ctl, slot));
  /* A worker of a cuda-ipc share is bound to one replica's device by UUID,
   * before it touches the device: its environment says which. */
  char **envp = environ, bind[80];
  char **own = NULL;
  if (s->ndevices > 0) {
    size_t n = 0;
    while (environ[n]) n++;
    own = calloc(n + 2, sizeof *own);
    if (!own) {
      posix_spawnattr_destroy(&attr);
      return GDF_ERR(GPUDF_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (strncmp(environ[i], "GPUDF_WORKER_DEVICE=", 20) != 0) own[k++] = environ[i];
    snprintf(bind, sizeof bind, "GPUDF_WORKER_DEVICE=%s", s->devices[slot % s->ndevices]);
    own[k++] = bind;
    own[k] = NULL;
    envp = own;
  }
  pid_t pid;
  int rc = posix_spawn(&pid, path, NULL, &attr, argv, envp);
  free(own);
  posix_spawnattr_destroy(&attr);
  /* EAGAIN here is a process or memory limit, not GPUDF_EAGAIN's "share
   * not ready yet". */
  if (rc != 0)
    return GDF_ERR(rc == EAGAIN ? GPUDF_EIO : gdf_status_from_errno(rc),
                   "cannot start worker %s: %s", path, strerror(rc));
  atomic_store(&gdf_ctl_slot(s->ctl, slot)->pid, (int32_t)pid);
  gdf_wproc *p = &s->procs[slot];
  memset(p, 0, sizeof *p);
  p->pid = pid;
#ifdef SYS_pidfd_open
  p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec; Linux 5.3+ */
#else
  p->pidfd = -1;
#endif
  p->slot = slot;
  p->spawned_ns = gdf_now_ns();
  p->info = gdf_result_add_worker(s->res, pid);
  s->res->report.workers_started++;
  s->live++;
  gdf_log("sweep: worker %d started, pid %d", slot, (int)pid);
  return GPUDF_OK;
}

/* ------------------------------------------------------------- requeue */

static bool final_state(uint8_t st) {
  return st >= GPUDF_CONFIG_DONE && st <= GPUDF_CONFIG_CANCELLED;
}

/* Whether a live worker other than slot holds config i (a dying worker may
 * have recorded a retry claim it then lost to another). */
static bool held_by_other(const gdf_sweep *s, int slot, int64_t i) {
  for (uint32_t w = 0; w < s->ctl->nslots; w++) {
    gdf_sweep_slot *sl = gdf_ctl_slot(s->ctl, (int)w);
    if ((int)w != slot && s->procs[w].pid > 0 && atomic_load(&sl->lo) <= i &&
        i < atomic_load(&sl->hi))
      return true;
  }
  return false;
}

static void lower_hint(gdf_sweep_ctl *c, int64_t i) {
  int64_t h = atomic_load(&c->retry_hint);
  while (i < h && !atomic_compare_exchange_weak(&c->retry_hint, &h, i)) {
  }
}

/* One config a dead worker held: run it again alone, or give up on it. */
static void requeue_one(gdf_sweep *s, int64_t i, bool timed_out, const char *why) {
  gdf_sweep_ctl *c = s->ctl;
  _Atomic uint8_t *state = gdf_ctl_state(c);
  if (++s->attempts[i] > s->o.retries) {
    gdf_ctl_err(c)[i] = timed_out ? GPUDF_ECANCELED : GPUDF_EIO;
    gdf_result_set_reason(s->res, i, why);
    atomic_store(&state[i], timed_out ? GPUDF_CONFIG_TIMED_OUT : GPUDF_CONFIG_FAILED);
    s->owner_failed++;
    return;
  }
  atomic_store(&state[i], GDF_ST_RETRY);
  lower_hint(c, i);
  atomic_fetch_add(&c->retry_pending, 1);
  s->res->report.retried++;
}

static void requeue_range(gdf_sweep *s, int slot, int64_t lo, int64_t hi, bool timed_out,
                          const char *why) {
  _Atomic uint8_t *state = gdf_ctl_state(s->ctl);
  for (int64_t i = lo; i < hi && i < s->n; i++) {
    uint8_t st = atomic_load(&state[i]);
    if (final_state(st) || st == GDF_ST_RETRY) continue;
    if (st == GDF_ST_RUNNING && held_by_other(s, slot, i)) continue;
    if (s->cancelled) continue; /* marked cancelled at the end */
    requeue_one(s, i, timed_out, why);
  }
}

/* ---------------------------------------------------------------- exits */

static void describe_exit(int status, char *buf, size_t len) {
  if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d (%.30s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* The caller's indices of claim [lo, hi): "config 37", "configs 1200-1263"
 * when they follow each other in the caller's order, else "a batch of 64
 * configs (12, 40, 77, ...)" (configs were ordered by pass key). */
static void claim_names(const gdf_sweep *s, int64_t lo, int64_t hi, char *buf, size_t len) {
  int64_t first = gdf_user_index(s, lo), last = gdf_user_index(s, hi - 1);
  bool contiguous = last - first == hi - 1 - lo;
  for (int64_t i = lo + 1; i < hi && contiguous; i++)
    contiguous = gdf_user_index(s, i) == gdf_user_index(s, i - 1) + 1;
  if (hi - lo == 1) {
    snprintf(buf, len, "config %lld", (long long)first);
    return;
  }
  if (contiguous) {
    snprintf(buf, len, "configs %lld-%lld", (long long)first, (long long)last);
    return;
  }
  int used = snprintf(buf, len, "a batch of %lld configs (", (long long)(hi - lo));
  for (int64_t i = lo; i < hi && used > 0 && (size_t)used < len; i++) {
    bool more = i - lo == 5 && i + 1 < hi;
    used += snprintf(buf + used, len - (size_t)used, "%s%lld%s", i > lo ? ", " : "",
                     (long long)gdf_user_index(s, i), more ? ", ..." : "");
    if (more) break;
  }
  if (used > 0 && (size_t)used < len) snprintf(buf + used, len - (size_t)used, ")");
}

static void record_info(gdf_sweep *s, gdf_wproc *p, gdf_sweep_slot *sl, const char *how) {
  int32_t b = atomic_load(&sl->backend);
  if (atomic_load(&sl->attached) && b > 0 && b < 4) s->ran_on[b]++;
  if (p->info < 0) return;
  gpudf_sweep_worker_info *wi = &s->res->workers[p->info];
  wi->configs = atomic_load(&sl->configs);
  wi->batches = atomic_load(&sl->batches);
  wi->busy_s = (double)atomic_load(&sl->busy_ns) * 1e-9;
  wi->alive_s = (double)(gdf_now_ns() - p->spawned_ns) * 1e-9;
  snprintf(wi->exit, sizeof wi->exit, "%.60s%s", how, p->timed_out ? " (time limit)" : "");
  if (atomic_load(&sl->attached))
    snprintf(wi->device, sizeof wi->device, "%.47s", sl->device);
}

static void handle_exit(gdf_sweep *s, int slot, int status) {
  gdf_wproc *p = &s->procs[slot];
  gdf_sweep_slot *sl = gdf_ctl_slot(s->ctl, slot);
  char how[64], which[96], why[GPUDF_SWEEP_REASON_MAX];
  describe_exit(status, how, sizeof how);
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  int64_t lo = atomic_load(&sl->lo), hi = atomic_load(&sl->hi);
  if (!atomic_load(&sl->attached) && !s->cancelled) {
    /* An error exit says why (its message): fatal at once. A death by a
     * signal (or a silent exit 0) may be one killed worker, which is
     * replaced, but not a start that fails every time: that ends the
     * sweep after a few, rather than spawning forever. So does a start
     * that hangs past the startup limit. */
    bool told = WIFEXITED(status) && !clean;
    if (told || p->slow_start || ++s->startup_deaths > GDF_STARTUP_DEATHS_MAX(s)) {
      s->startup_failures++;
      if (p->slow_start)
        snprintf(s->startup_error, sizeof s->startup_error, "worker %d (pid %d) did not start "
                 "within %g s (a plugin's init or the attach hangs?) and was killed", slot,
                 p->pid, startup_limit_s(s));
      else
        snprintf(s->startup_error, sizeof s->startup_error, "worker %d (pid %d) %s before it "
                 "started%s: %s", slot, p->pid, how, told ? "" : ", as did the ones before it",
                 sl->error[0] ? sl->error : "(no message)");
    }
  }
  if (!clean && !s->cancelled) s->res->report.workers_lost++;
  bool held = true;
  if (hi > lo && gdf_split_worker_died(s, slot, p->timed_out, &held)) hi = lo; /* task re-queued */
  if (hi > lo && held) {
    claim_names(s, lo, hi, which, sizeof which);
    if (p->timed_out)
      snprintf(why, sizeof why, "ran past the time limit of %g s per config (in a claim of "
               "%lld: %s); worker %d (pid %d) was killed", s->o.time_limit_s,
               (long long)(hi - lo), which, slot, p->pid);
    else
      snprintf(why, sizeof why, "worker %d (pid %d) %s on %s", slot, p->pid, how, which);
    gdf_log("sweep: %s", why);
    requeue_range(s, slot, lo, hi, p->timed_out, why);
  }
  record_info(s, p, sl, how);
  atomic_store(&sl->lo, 0);
  atomic_store(&sl->hi, 0);
  atomic_store(&sl->task, 0);
  if (p->pidfd >= 0) close(p->pidfd);
  p->pidfd = -1;
  p->pid = 0;
  s->live--;
}

/* Sleeps until a worker exits, a signal arrives or max_ns pass. With a
 * pidfd per live worker this is one poll (the owner of a long sweep wakes
 * about 10 times a second, for progress and limits); without (a kernel
 * before 5.3), short naps. */
static void wait_event(gdf_sweep *s, int64_t max_ns) {
  struct pollfd fds[GPUDF_SWEEP_WORKERS_MAX];
  nfds_t n = 0;
  for (uint32_t w = 0; w < s->ctl->nslots && n < GPUDF_SWEEP_WORKERS_MAX; w++) {
    if (s->procs[w].pid <= 0) continue;
    if (s->procs[w].pidfd < 0) {
      nap_us(max_ns < 2000000 ? (long)(max_ns / 1000) + 1 : 2000);
      return;
    }
    fds[n++] = (struct pollfd){.fd = s->procs[w].pidfd, .events = POLLIN};
  }
  if (n == 0) return;
  int ms = max_ns <= 0 ? 0 : (int)((max_ns + 999999) / 1000000);
  (void)poll(fds, n, ms); /* EINTR: a signal, which the caller looks at */
}

/* How long the monitor may sleep: until the next progress call is due (10
 * a second) and at most 100 ms, less when a claim's time limit runs out
 * sooner. */
static int64_t sleep_budget(const gdf_sweep *s) {
  int64_t budget = 100000000, now = gdf_now_ns();
  if (s->o.progress) {
    int64_t due = s->last_progress_ns + 100000000 - now; /* gdf_sweep_progress's cadence */
    budget = due < 1000000 ? 1000000 : due < budget ? due : budget;
  }
  if (s->o.time_limit_s <= 0) return budget;
  for (uint32_t w = 0; w < s->ctl->nslots; w++) {
    gdf_sweep_slot *sl = gdf_ctl_slot(s->ctl, (int)w);
    int64_t lo = atomic_load(&sl->lo), hi = atomic_load(&sl->hi);
    int64_t start = atomic_load(&sl->start_ns);
    if (s->procs[w].pid <= 0 || hi <= lo || start == 0) continue;
    int64_t left = start + (int64_t)(s->o.time_limit_s * 1e9 * (double)(hi - lo)) - now;
    if (left < budget) budget = left < 1000000 ? 1000000 : left;
  }
  /* A claim made after this look starts its own clock: wake in time for it. */
  int64_t quarter = (int64_t)(s->o.time_limit_s * 0.25e9);
  return quarter > 1000000 && quarter < budget ? quarter : budget;
}

static void reap(gdf_sweep *s) {
  for (uint32_t w = 0; w < s->ctl->nslots; w++) {
    int status;
    if (s->procs[w].pid <= 0) continue;
    if (waitpid(s->procs[w].pid, &status, WNOHANG) == s->procs[w].pid)
      handle_exit(s, (int)w, status);
  }
}

/* A claim of b configs may take b time limits: they run in one pass. With
 * a time limit, a worker's start (plugins, attach) has its own limit. */
static void check_time_limits(gdf_sweep *s) {
  double start_limit = startup_limit_s(s);
  if (s->o.time_limit_s <= 0 && start_limit <= 0) return;
  int64_t now = gdf_now_ns();
  for (uint32_t w = 0; w < s->ctl->nslots; w++) {
    gdf_wproc *p = &s->procs[w];
    gdf_sweep_slot *sl = gdf_ctl_slot(s->ctl, (int)w);
    if (p->pid > 0 && start_limit > 0 && !p->slow_start && !atomic_load(&sl->attached) &&
        (double)(now - p->spawned_ns) > start_limit * 1e9) {
      p->slow_start = true;
      kill(p->pid, SIGKILL);
      continue;
    }
    if (s->o.time_limit_s <= 0) continue;
    int64_t lo = atomic_load(&sl->lo), hi = atomic_load(&sl->hi);
    int64_t start = atomic_load(&sl->start_ns);
    if (p->pid <= 0 || p->timed_out || hi <= lo || start == 0) continue;
    if ((double)(now - start) > s->o.time_limit_s * 1e9 * (double)(hi - lo)) {
      p->timed_out = true;
      kill(p->pid, SIGKILL);
    }
  }
}

/* ------------------------------------------------------------- the loop */

static int64_t counted(const gdf_sweep *s) {
  return atomic_load(&s->ctl->ndone) + atomic_load(&s->ctl->nkfail) + s->owner_failed;
}

static int64_t finished(const gdf_sweep *s) { return counted(s) + s->uncounted; }

/* With no worker left, what is neither final nor queued was lost by a
 * worker that died between claiming and recording its claim; and a worker
 * killed between storing its configs' final states and adding them to the
 * counts (mark_done) left them uncounted: counted here from the states,
 * or the owner would wait for them forever. */
static void requeue_orphans(gdf_sweep *s) {
  _Atomic uint8_t *state = gdf_ctl_state(s->ctl);
  int64_t next = atomic_load(&s->ctl->next), final = 0;
  /* Row-split: a config PENDING waits for its chunk's tasks, not a claim. */
  if (s->ctl->ntasks > 0) next = 0, gdf_split_orphans(s);
  for (int64_t i = 0; i < s->n; i++) {
    uint8_t st = atomic_load(&state[i]);
    if (st == GDF_ST_RUNNING || (st == GPUDF_CONFIG_PENDING && i < next))
      requeue_one(s, i, false, "lost by a worker that died while claiming it");
    else
      final += final_state(st);
  }
  int64_t missing = final - counted(s);
  s->uncounted = missing > 0 ? missing : 0;
}

/* Keeps the wanted number of workers while there is work they can take. */
static gpudf_status refill(gdf_sweep *s, const char *path) {
  if (s->live == 0 && finished(s) < s->n) requeue_orphans(s);
  bool work = atomic_load(&s->ctl->next) < s->n || atomic_load(&s->ctl->retry_pending) > 0 ||
              atomic_load(&s->ctl->tpending) > 0;
  for (uint32_t w = 0; w < s->ctl->nslots && work; w++)
    if (s->procs[w].pid <= 0) {
      GDF_TRY(spawn(s, (int)w, path));
      /* Retries: one at a time is enough. */
      if (atomic_load(&s->ctl->next) >= s->n && atomic_load(&s->ctl->tpending) <= 0) break;
    }
  return GPUDF_OK;
}

/* Asks every worker to stop at its batch boundary, waits up to grace_ms,
 * then kills what is left; every process is reaped. */
static void stop_all(gdf_sweep *s, int grace_ms) {
  atomic_store(&s->ctl->cancel, 1);
  int64_t deadline = gdf_now_ns() + (int64_t)grace_ms * 1000000;
  while (s->live > 0 && gdf_now_ns() < deadline) {
    reap(s);
    if (s->live > 0) wait_event(s, deadline - gdf_now_ns());
  }
  for (uint32_t w = 0; w < s->ctl->nslots; w++) {
    if (s->procs[w].pid <= 0) continue;
    int status = 0;
    kill(s->procs[w].pid, SIGKILL);
    while (waitpid(s->procs[w].pid, &status, 0) < 0 && errno == EINTR) {
    }
    handle_exit(s, (int)w, status);
  }
}

static gpudf_status monitor(gdf_sweep *s, const char *path) {
  for (;;) {
    reap(s);
    gdf_split_merge(s);
    if (s->startup_failures > 0 && !s->cancelled)
      return GDF_ERR(GPUDF_EIO, "%s", s->startup_error);
    if (finished(s) >= s->n) return GPUDF_OK;
    if (gdf_sweep_progress(s, false)) {
      s->cancelled = true;
      return GPUDF_OK;
    }
    check_time_limits(s);
    GDF_TRY(refill(s, path));
    wait_event(s, sleep_budget(s));
  }
}

gpudf_status gdf_sweep_workers(gdf_sweep *s, const char *path) {
  s->procs = calloc(s->ctl->nslots, sizeof *s->procs);
  if (!s->procs) return GDF_ERR(GPUDF_ENOMEM, "out of memory");
  gdf_log("sweep: %lld configs of kernel %s over share '%s', %u workers (%s)",
          (long long)s->n, s->k->name, s->share, s->ctl->nslots, path);
  gpudf_status st = GPUDF_OK;
  for (uint32_t w = 0; w < s->ctl->nslots && st == GPUDF_OK; w++) st = spawn(s, (int)w, path);
  if (st == GPUDF_OK) st = monitor(s, path);
  /* Workers see the empty queue and leave by themselves; a cancel or an
   * error gives them up to a second to finish the batch they are on. */
  stop_all(s, st == GPUDF_OK && !s->cancelled ? 2000 : 1000);
  free(s->procs);
  s->procs = NULL;
  return st;
}
