/* bus_guard.c - see bus_guard.h. */
#include "bus_guard.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static _Thread_local gdf_bus_guard *tl_guard;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static int guard_users;
static struct sigaction guard_old;

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
  gdf_bus_guard *g = tl_guard;
  const char *at = (const char *)si->si_addr;
  if (g && at >= g->lo && at < g->hi) siglongjmp(g->jmp, 1);
  /* Not a guarded read: what would have happened without us. */
  if ((guard_old.sa_flags & SA_SIGINFO) && guard_old.sa_sigaction) {
    guard_old.sa_sigaction(sig, si, ctx);
    return;
  }
  if (guard_old.sa_handler != SIG_DFL && guard_old.sa_handler != SIG_IGN) {
    guard_old.sa_handler(sig);
    return;
  }
  /* Default action: returning re-runs the faulting access, which then
   * kills the process with SIGBUS as usual. */
  signal(SIGBUS, SIG_DFL);
}

void gdf_bus_guard_enter(gdf_bus_guard *g, const void *addr, size_t len) {
  g->lo = (const char *)addr;
  g->hi = g->lo + len;
  pthread_mutex_lock(&guard_lock);
  if (guard_users++ == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &guard_old);
  }
  pthread_mutex_unlock(&guard_lock);
  g->prev = tl_guard;
  tl_guard = g;
}

void gdf_bus_guard_leave(gdf_bus_guard *g) {
  tl_guard = g->prev;
  pthread_mutex_lock(&guard_lock);
  if (--guard_users == 0) sigaction(SIGBUS, &guard_old, NULL);
  pthread_mutex_unlock(&guard_lock);
}
