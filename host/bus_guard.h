/* bus_guard.h - turns a SIGBUS in a file mapping that shrank under the
 * reader (another process truncated the file) into an error of the call that
 * was reading it, instead of the end of the process.
 *
 *   gdf_bus_guard g;
 *   gdf_bus_guard_enter(&g, map, map_len);
 *   if (sigsetjmp(g.jmp, 1) == 0) st = parse(...);   // reads map
 *   else st = ...the file shrank...;                  // jumped here
 *   gdf_bus_guard_leave(&g);
 *
 * The handler is installed while at least one guard is active in the
 * process (and the previous one put back after the last). A SIGBUS whose
 * address is not in the current thread's guarded range goes to the handler
 * that was there before, or kills the process as it would have. Whatever the
 * jumped-out-of code held only in its locals is lost: guarded code keeps what
 * it allocates where the landing site can free it. */
#ifndef GDF_BUS_GUARD_H
#define GDF_BUS_GUARD_H

#include <setjmp.h>
#include <stddef.h>

typedef struct gdf_bus_guard {
  sigjmp_buf jmp;
  const char *lo, *hi;
  struct gdf_bus_guard *prev; /* guards nest per thread */
} gdf_bus_guard;

void gdf_bus_guard_enter(gdf_bus_guard *g, const void *addr, size_t len);
void gdf_bus_guard_leave(gdf_bus_guard *g);

#endif
