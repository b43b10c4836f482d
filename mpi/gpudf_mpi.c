/* gpudf_mpi_sweep: one shared table per node, configs claimed from a
 * counter at rank 0, each claimed run swept by gpudf_sweep in its rank,
 * results gathered on rank 0. Only the public API of libgpudf is used:
 * this library sits above the engine and links it like any program. */
#include "gpudf_mpi.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API "gpudf_mpi_sweep"
/* MPI counts are int: large arrays travel in pieces of this many bytes. */
#define CHUNK_BYTES ((size_t)1 << 26)
/* The prefix of the columns gpudf_table_prepare derives: never copied, each
 * node's leader derives its own. */
#define DERIVED_PREFIX "__"

struct gpudf_mpi_result {
  int64_t n;        /* result rows: configs x series */
  int64_t nseries;  /* S (1 without series) */
  char **labels;    /* S series labels, or NULL */
  int32_t *where_rank;  /* per config: the rank that ran it (-1: none) */
  int64_t *where_claim; /* per config: the claim it ran in (-1: none) */
  int8_t *state;
  int32_t *error;
  char **reason; /* NULL for "" */
  gpudf_mpi_report report;
  gpudf_mpi_rank_info *ranks;
  gpudf_mpi_node_info *nodes;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


static gpudf_status fail(gpudf_status st, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gpudf_set_error(st, msg);
}

/* Used where a rank waits: every collective of gpudf_mpi_sweep, the
 * claim counter's window excepted (gpudf_mpi.h says why). A few tens of
 * microseconds of MPI_Test first: ranks that arrive together finish a
 * collective in that time (and a collective of several rounds needs each
 * rank's MPI_Test to move on); then sleeps that double up to 1 ms. */
void gpudf_mpi_wait(MPI_Request *req) {
  int done = 0;
  double t0 = now_s();
  do {
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return;
  } while (now_s() - t0 < 50e-6);
  long ns = 2000;
  for (;;) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
    if (ns < 1000000) ns *= 2;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return;
  }
}

/* A barrier that waits as gpudf_mpi_wait: before a collective that cannot
 * wait so itself (the window's creation and freeing). */
static void settle(MPI_Comm comm) {
  MPI_Request req;
  MPI_Ibarrier(comm, &req);
  gpudf_mpi_wait(&req);
}

/* MPI_Bcast, MPI_Allreduce and MPI_Gather(v) that wait as gpudf_mpi_wait:
 * Open MPI's blocking collectives poll at full speed (with sched_yield when
 * there are more ranks than cores), so the ranks that arrive first at one
 * take the cores of those still at work when ranks share cores; four ranks
 * on two cores spent 10-15% of their CPU time so (docs/mpi.md, "Benchmark"). */
static void bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  MPI_Request req;
  MPI_Ibcast(buf, count, type, root, comm, &req);
  gpudf_mpi_wait(&req);
}

static void allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                      MPI_Comm comm) {
  MPI_Request req;
  MPI_Iallreduce(in, out, count, type, op, comm, &req);
  gpudf_mpi_wait(&req);
}

static void gather_to_0(const void *in, int count, MPI_Datatype type, void *out, MPI_Comm comm) {
  MPI_Request req;
  MPI_Igather(in, count, type, out, count, type, 0, comm, &req);
  gpudf_mpi_wait(&req);
}

/* Every rank learns whether one failed; the first failing rank's status
 * and message become every rank's, so that all return alike. */
static gpudf_status agree(MPI_Comm comm, int rank, gpudf_status st) {
  int size, mine, first;
  MPI_Comm_size(comm, &size);
  mine = st == GPUDF_OK ? size : rank;
  allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return GPUDF_OK;
  char msg[640] = "";
  int code = (int)st;
  if (rank == first) {
    const char *e = gpudf_last_error();
    snprintf(msg, sizeof msg, "%s", e ? e : "");
  }
  bcast(&code, 1, MPI_INT, first, comm);
  bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
  if (strncmp(msg, API ": rank ", strlen(API ": rank ")) == 0)
    return gpudf_set_error((gpudf_status)code, msg);
  const char *words = strncmp(msg, API ": ", strlen(API ": ")) == 0 ? msg + strlen(API ": ") : msg;
  return fail((gpudf_status)code, API ": rank %d: %s", first, words);
}

static void bcast_bytes(void *buf, size_t bytes, int root, MPI_Comm comm) {
  for (size_t off = 0; off < bytes; off += CHUNK_BYTES) {
    size_t len = bytes - off < CHUNK_BYTES ? bytes - off : CHUNK_BYTES;
    bcast((char *)buf + off, (int)len, MPI_BYTE, root, comm);
  }
}

/* ------------------------------------------------------ the table's copy */

typedef struct col_head {
  char name[GPUDF_NAME_MAX + 1];
  int32_t type;
  int32_t nlabels;     /* -1: not categorical */
  int64_t label_bytes; /* the labels, each with its NUL */
} col_head;

/* Sends rank 0's table (root of leaders, root = 0) to the other leaders,
 * which build a table of their own from it. *made: the copy (non-roots, or
 * the root when copy_on_root). */
static gpudf_status send_table(MPI_Comm leaders, const gpudf_table *src, gpudf_table **made) {
  int lrank;
  MPI_Comm_rank(leaders, &lrank);
  bool root = lrank == 0;
  int64_t head[2] = {0, 0}; /* nrows, columns sent */
  int ncols = root ? gpudf_table_ncols(src) : 0;
  if (root) {
    head[0] = gpudf_table_nrows(src);
    for (int c = 0; c < ncols; c++)
      if (strncmp(gpudf_table_column_name(src, c), DERIVED_PREFIX, strlen(DERIVED_PREFIX)) != 0)
        head[1]++;
  }
  bcast(head, 2, MPI_INT64_T, 0, leaders);
  gpudf_status st = GPUDF_OK;
  gpudf_table *t = NULL;
  if (!root) st = gpudf_table_create(head[0], &t);
  for (int c = 0, sent = 0; sent < head[1]; c++) {
    if (root && strncmp(gpudf_table_column_name(src, c), DERIVED_PREFIX,
                        strlen(DERIVED_PREFIX)) == 0)
      continue;
    sent++;
    col_head h;
    memset(&h, 0, sizeof h);
    char *labels = NULL;
    if (root) {
      snprintf(h.name, sizeof h.name, "%s", gpudf_table_column_name(src, c));
      h.type = (int32_t)gpudf_table_column_type(src, c);
      h.nlabels = gpudf_table_column_is_categorical(src, c) ? gpudf_table_column_nlabels(src, c) : -1;
      for (int32_t l = 0; l < h.nlabels; l++)
        h.label_bytes += (int64_t)strlen(gpudf_table_column_label(src, c, l)) + 1;
    }
    bcast(&h, (int)sizeof h, MPI_BYTE, 0, leaders);
    size_t bytes = (size_t)head[0] * gpudf_type_size((gpudf_type)h.type);
    if (h.nlabels >= 0) {
      labels = malloc((size_t)h.label_bytes + 1);
      if (!labels) {
        fprintf(stderr, API ": out of memory for the labels of column '%s'\n", h.name);
        MPI_Abort(MPI_COMM_WORLD, 1); /* the other leaders wait in the next broadcast */
      }
      if (root) {
        char *p = labels;
        for (int32_t l = 0; l < h.nlabels; l++) {
          const char *s = gpudf_table_column_label(src, c, l);
          size_t len = strlen(s) + 1;
          memcpy(p, s, len);
          p += len;
        }
      }
      bcast_bytes(labels, (size_t)h.label_bytes, 0, leaders);
    }
    if (root) {
      bcast_bytes((void *)gpudf_table_column_data(src, c), bytes, 0, leaders);
    } else if (h.nlabels >= 0) {
      /* Codes first into memory of our own: a categorical column is added
       * with its dictionary in one call. */
      int32_t *codes = malloc(bytes ? bytes : 1);
      const char **lp = malloc(sizeof *lp * (size_t)(h.nlabels + 1));
      if (!codes || !lp) {
        fprintf(stderr, API ": out of memory for column '%s'\n", h.name);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      bcast_bytes(codes, bytes, 0, leaders);
      const char *p = labels;
      for (int32_t l = 0; l < h.nlabels; l++, p += strlen(p) + 1) lp[l] = p;
      if (st == GPUDF_OK) st = gpudf_table_add_categorical(t, h.name, codes, h.nlabels, lp);
      free(codes);
      free(lp);
    } else {
      void *dst = NULL;
      if (st == GPUDF_OK) st = gpudf_table_alloc_column(t, h.name, (gpudf_type)h.type, &dst);
      if (st == GPUDF_OK) {
        bcast_bytes(dst, bytes, 0, leaders);
      } else {
        /* The data comes anyway: receive it and let it go. */
        char *sink = malloc(bytes < CHUNK_BYTES ? (bytes ? bytes : 1) : CHUNK_BYTES);
        if (!sink) MPI_Abort(MPI_COMM_WORLD, 1);
        for (size_t off = 0; off < bytes; off += CHUNK_BYTES) {
          size_t len = bytes - off < CHUNK_BYTES ? bytes - off : CHUNK_BYTES;
          bcast(sink, (int)len, MPI_BYTE, 0, leaders);
        }
        free(sink);
      }
    }
    free(labels);
  }
  if (st != GPUDF_OK) {
    gpudf_table_free(t);
    return st;
  }
  *made = t;
  return GPUDF_OK;
}

/* A copy of a table in this process (rank 0 given a view or a table that
 * is already shared): the columns, not the derived ones. */
static gpudf_status copy_table(const gpudf_table *src, gpudf_table **out) {
  gpudf_table *t = NULL;
  gpudf_status st = gpudf_table_create(gpudf_table_nrows(src), &t);
  for (int c = 0; st == GPUDF_OK && c < gpudf_table_ncols(src); c++) {
    const char *name = gpudf_table_column_name(src, c);
    if (strncmp(name, DERIVED_PREFIX, strlen(DERIVED_PREFIX)) == 0) continue;
    if (gpudf_table_column_is_categorical(src, c)) {
      int32_t nl = gpudf_table_column_nlabels(src, c);
      const char **lp = malloc(sizeof *lp * (size_t)(nl + 1));
      if (!lp) {
        st = fail(GPUDF_ENOMEM, API ": out of memory");
        break;
      }
      for (int32_t l = 0; l < nl; l++) lp[l] = gpudf_table_column_label(src, c, l);
      st = gpudf_table_add_categorical(t, name, gpudf_table_column_data(src, c), nl, lp);
      free(lp);
    } else {
      st = gpudf_table_add_column(t, name, gpudf_table_column_type(src, c),
                                  gpudf_table_column_data(src, c));
    }
  }
  if (st != GPUDF_OK) {
    gpudf_table_free(t);
    return st;
  }
  *out = t;
  return GPUDF_OK;
}

/* ---------------------------------------------------------------- sweep */

/* One rank's part, in claim order. A config's rows are its S result rows
 * (one per series; S = 1 without series). */
typedef struct part {
  int64_t nranges, cap;
  int64_t *ranges;  /* start (a position in the pass order), count, claim: triples */
  int64_t nconfigs;
  double *results;  /* nconfigs x S x nres */
  int32_t *status;  /* per row: state << 16 | error */
  char *reasons;    /* "row\treason\n" for every row that did not finish */
  size_t rlen, rcap;
  char *labels;     /* the S series labels, each with its NUL, from claim 0's sweep */
  size_t llen;
} part;

static bool part_grow(part *p, int64_t cnt, int nres) {
  if (p->nranges == p->cap) {
    int64_t cap = p->cap ? p->cap * 2 : 16;
    int64_t *r = realloc(p->ranges, sizeof *r * 3 * (size_t)cap);
    if (!r) return false;
    p->ranges = r;
    p->cap = cap;
  }
  double *res = realloc(p->results, sizeof *res * (size_t)((p->nconfigs + cnt) * nres + 1));
  if (!res) return false;
  p->results = res;
  int32_t *s = realloc(p->status, sizeof *s * (size_t)(p->nconfigs + cnt + 1));
  if (!s) return false;
  p->status = s;
  return true;
}

static void part_reason(part *p, int64_t index, const char *why) {
  char line[GPUDF_SWEEP_REASON_MAX + 64];
  int len = snprintf(line, sizeof line, "%lld\t%s\n", (long long)index, why);
  for (char *q = line + strcspn(line, "\t") + 1; *q && q < line + len - 1; q++)
    if (*q == '\n') *q = ' ';
  if (p->rlen + (size_t)len + 1 > p->rcap) {
    size_t cap = (p->rcap ? p->rcap * 2 : 4096) + (size_t)len;
    char *r = realloc(p->reasons, cap);
    if (!r) return; /* the state says it failed; only the words are lost */
    p->reasons = r;
    p->rcap = cap;
  }
  memcpy(p->reasons + p->rlen, line, (size_t)len + 1);
  p->rlen += (size_t)len;
}

static void part_free(part *p) {
  free(p->ranges);
  free(p->results);
  free(p->status);
  free(p->reasons);
  free(p->labels);
}

void gpudf_mpi_result_free(gpudf_mpi_result *r) {
  if (!r) return;
  if (r->reason)
    for (int64_t i = 0; i < r->n; i++) free(r->reason[i]);
  free(r->reason);
  free(r->state);
  free(r->error);
  free(r->ranks);
  free(r->nodes);
  for (int64_t q = 0; r->labels && q < r->nseries; q++) free(r->labels[q]);
  free(r->labels);
  free(r->where_rank);
  free(r->where_claim);
  free(r);
}

/* Configs per claim: GPUDF_MPI_CLAIM when set (a fixed size), else 0: the
 * local engine's rule (next_claim). */
static int64_t claim_size(void) {
  const char *env = getenv("GPUDF_MPI_CLAIM");
  if (env && *env) {
    char *end;
    long long v = strtoll(env, &end, 10);
    if (*end == '\0' && v > 0) return v;
  }
  return 0;
}

/* The claims of a sweep, the same on every rank (each computes it from the
 * same configs): claim c is positions cut[c] to cut[c + 1] of the configs
 * in pass order (gpudf_kernel_pass_order: configs that share a pass over
 * the table next to each other, as the local engine orders them). A rank
 * claims the next claim with one fetch-and-add of 1 on a counter at rank 0:
 * one round trip, never retried, whatever the sizes.
 *
 * Sizes are guided: what is left over twice the ranks, never under a
 * floor of a quarter of an equal share (n / (4 ranks)), so the first claims
 * are large and the last small, and a rank that is slower (a loaded node,
 * a slower GPU) ends up with fewer configs while the others take the rest.
 * A batch kernel pays one pass over the table per pass group per claim,
 * whatever the number of configs in it, so a claim ends at a group's end:
 * a group of at most half an equal share (n / (2 ranks)) is never cut
 * (claims take whole groups, as many as fit in the guided size, at least
 * one), a larger one is cut into pieces of the guided size but no smaller
 * than n / (2 ranks) (bench/mpi_bench.c: each piece costs a pass). One rank:
 * one claim (nothing to balance). GPUDF_MPI_CLAIM=N (rank 0's): claims of
 * N configs in pass order instead, cut anywhere. docs/mpi.md, "Balancing". */
typedef struct plan {
  int64_t *order;   /* position -> config; NULL: the caller's order */
  int64_t *cut;     /* nclaims + 1 */
  int64_t nclaims;
  int64_t *groups;  /* ngroups + 1 positions where pass groups start, then n */
  int64_t ngroups;  /* 0: the kernel has no pass key */
} plan;

static void plan_free(plan *pl) {
  free(pl->order);
  free(pl->cut);
  free(pl->groups);
}

static gpudf_status plan_claims(const gpudf_kernel *kernel, const double *configs, int64_t n,
                                int ranks, int64_t fixed, plan *pl) {
  memset(pl, 0, sizeof *pl);
  int64_t ngroups = 0;
  int64_t *groups = malloc(sizeof *groups * (size_t)(n + 2));
  pl->order = malloc(sizeof *pl->order * (size_t)(n + 1));
  pl->cut = malloc(sizeof *pl->cut * (size_t)(n + 2));
  if (!groups || !pl->order || !pl->cut) {
    free(groups);
    plan_free(pl);
    memset(pl, 0, sizeof *pl);
    return fail(GPUDF_ENOMEM, API ": out of memory for the claims of %lld configs", (long long)n);
  }
  gpudf_status st = gpudf_kernel_pass_order(kernel, configs, n, pl->order, groups, &ngroups);
  if (st != GPUDF_OK) {
    free(groups);
    plan_free(pl);
    memset(pl, 0, sizeof *pl);
    return st;
  }
  bool moved = false;
  for (int64_t i = 0; i < n && !moved; i++) moved = pl->order[i] != i;
  if (!moved) {
    free(pl->order);
    pl->order = NULL;
  }
  int64_t r = ranks > 0 ? ranks : 1;
  int64_t whole = ranks > 1 ? (n + 2 * r - 1) / (2 * r) : n; /* groups up to this stay whole */
  int64_t floor = ranks > 1 ? (n + 4 * r - 1) / (4 * r) : n;
  if (floor < 1) floor = 1;
  int64_t c = 0, lo = 0, g = 0;
  pl->cut[0] = 0;
  while (lo < n) {
    int64_t end;
    int64_t b = (n - lo + 2 * r - 1) / (2 * r);
    if (b < floor) b = floor;
    if (fixed > 0) {
      end = fixed < n - lo ? lo + fixed : n;
    } else if (ngroups == 0) {
      end = b < n - lo ? lo + b : n;
    } else {
      while (groups[g + 1] <= lo) g++; /* the group lo is in */
      int64_t rest = groups[g + 1] - lo;
      if (rest > whole) {
        /* Pieces of a group no smaller than `whole`: each costs a pass. */
        int64_t piece = b > whole ? b : whole;
        int64_t pieces = (rest + piece - 1) / piece;
        end = lo + (rest + pieces - 1) / pieces;
      } else {
        end = groups[g + 1];
        for (int64_t k = g + 1; k < ngroups && groups[k + 1] <= lo + b; k++) end = groups[k + 1];
      }
    }
    pl->cut[++c] = end;
    lo = end;
  }
  pl->nclaims = c;
  pl->groups = groups;
  pl->ngroups = ngroups;
  return GPUDF_OK;
}

/* A test hook (GPUDF_MPI_TEST_SLOW=RANK:MS, each rank's own): that rank
 * sleeps MS milliseconds after each claim, a rank slower than the others
 * (tests/mpi: the others must take more configs). */
static long slow_ms(int rank) {
  const char *env = getenv("GPUDF_MPI_TEST_SLOW");
  if (!env || !*env) return 0;
  char *end;
  long r = strtol(env, &end, 10);
  if (*end != ':' || r != rank) return 0;
  long ms = strtol(end + 1, &end, 10);
  return *end == '\0' && ms > 0 ? ms : 0;
}

static int fake_nodes(void) {
  const char *env = getenv("GPUDF_MPI_FAKE_NODES");
  if (!env || !*env) return 0;
  int k = atoi(env);
  return k > 0 ? k : 0;
}

/* One array of every rank's, gathered on rank 0: all of them one after
 * the other, rank r's count values at displs[r]. */
typedef struct piece {
  void *all;
  int *counts, *displs;
} piece;

static void piece_free(piece *pc) {
  free(pc->all), free(pc->counts), free(pc->displs);
}

/* Gathers every rank's count values of mine into pc on rank 0
 * (MPI_Gatherv: int counts and displacements). Collective. */
/* The next "index\treason" line of gathered reasons (the text is cut into
 * lines in place): the reason, with *idx its config index; NULL at the end.
 * Lines without a tab or with an index outside [0, n) are skipped. */
static const char *next_reason(char **cur, int64_t n, int64_t *idx) {
  while (*cur && **cur) {
    char *line = *cur, *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    *cur = nl ? nl + 1 : NULL;
    char *tab = strchr(line, '\t');
    long long i = strtoll(line, NULL, 10);
    if (tab && i >= 0 && i < n) {
      *idx = (int64_t)i;
      return tab + 1;
    }
  }
  return NULL;
}

static gpudf_status gather_one(MPI_Comm comm, const void *mine, int64_t count, MPI_Datatype type,
                               size_t elem, piece *pc) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int c = count > INT_MAX ? -1 : (int)count;
  memset(pc, 0, sizeof *pc);
  if (rank == 0) {
    pc->counts = calloc((size_t)size, sizeof *pc->counts);
    pc->displs = calloc((size_t)size, sizeof *pc->displs);
    if (!pc->counts || !pc->displs) {
      fprintf(stderr, API ": rank 0: out of memory to gather the results\n");
      MPI_Abort(comm, 1); /* the other ranks are in the gather */
    }
  }
  gather_to_0(&c, 1, MPI_INT, pc->counts, comm);
  int64_t total = 0;
  int bad = 0;
  if (rank == 0) {
    for (int r = 0; r < size; r++) {
      if (pc->counts[r] < 0 || total > INT_MAX) bad = 1;
      pc->displs[r] = (int)total;
      total += pc->counts[r];
    }
    if (total > INT_MAX) bad = 1;
    if (!bad) pc->all = malloc(elem * (size_t)(total + 1));
    if (!pc->all) bad = 1;
  }
  bcast(&bad, 1, MPI_INT, 0, comm);
  if (bad) {
    piece_free(pc);
    memset(pc, 0, sizeof *pc);
    return fail(GPUDF_EOVERFLOW, API ": the results of the ranks do not fit one gather "
                "(over 2^31 values, or out of memory on rank 0): sweep fewer configs per call");
  }
  MPI_Request req;
  MPI_Igatherv(mine, c, type, pc->all, pc->counts, pc->displs, type, 0, comm, &req);
  gpudf_mpi_wait(&req);
  return GPUDF_OK;
}

/* A part of every rank's, on rank 0 (the others get NULLs): the ranges,
 * the rows of `width` values (results or partial states), the status of
 * each row, the reasons' text (NUL-terminated there) and, with labels, the
 * series labels. */
typedef struct gathered {
  piece ranges, rows, status, reasons, labels;
} all_parts;

static void all_parts_free(all_parts *g) {
  piece_free(&g->ranges), piece_free(&g->rows), piece_free(&g->status);
  piece_free(&g->reasons), piece_free(&g->labels);
  memset(g, 0, sizeof *g);
}

/* Bytes of a gathered text piece (rank 0). */
static int64_t piece_len(const piece *pc, int size) {
  return (int64_t)pc->displs[size - 1] + pc->counts[size - 1];
}

/* Gathers every rank's part on rank 0, into g (all_parts_free frees it).
 * Collective. */
static gpudf_status gather_part(MPI_Comm comm, const part *p, int64_t width, bool labels,
                                all_parts *g) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  memset(g, 0, sizeof *g);
  gpudf_status st = gather_one(comm, p->ranges, p->nranges * 3, MPI_INT64_T, sizeof(int64_t),
                               &g->ranges);
  if (st == GPUDF_OK)
    st = gather_one(comm, p->results, p->nconfigs * width, MPI_DOUBLE, sizeof(double), &g->rows);
  if (st == GPUDF_OK)
    st = gather_one(comm, p->status, p->nconfigs, MPI_INT32_T, sizeof(int32_t), &g->status);
  if (st == GPUDF_OK)
    st = gather_one(comm, p->reasons ? p->reasons : "", (int64_t)p->rlen, MPI_CHAR, 1,
                    &g->reasons);
  if (st == GPUDF_OK && labels)
    st = gather_one(comm, p->labels ? p->labels : "", (int64_t)p->llen, MPI_CHAR, 1,
                    &g->labels);
  if (st == GPUDF_OK && rank == 0)
    ((char *)g->reasons.all)[piece_len(&g->reasons, size)] = '\0';
  if (st != GPUDF_OK) all_parts_free(g);
  return st;
}

typedef struct job {
  MPI_Comm comm, node, leaders;
  int rank, size, node_rank, node_id, nnodes;
  gpudf_table *own;      /* a table this call made (loaded, received, copied) */
  gpudf_share *share;    /* this leader's share */
  gpudf_table *view;     /* a non-leader's view */
  gpudf_table *use;      /* the table this rank sweeps */
  char share_name[64];
} job;

static gpudf_status set_up_table(job *j, gpudf_table *table, const char *csv,
                                 const gpudf_kernel *kernel, const double *configs, int64_t n,
                                 const gpudf_sweep_options *opts) {
  bool leader = j->node_rank == 0;
  gpudf_status st = GPUDF_OK;
  gpudf_backend backend = opts->backend;
  if (csv) {
    if (leader) st = gpudf_table_read_csv(csv, NULL, &j->own);
  } else if (leader) {
    const gpudf_table *src = table;
    if (j->rank == 0 && !table)
      st = fail(GPUDF_EINVAL, API ": neither a table on rank 0 nor a CSV path");
    /* Whether the table can come over: rank 0's NULL table fails on every
     * leader together. */
    int ok = st == GPUDF_OK;
    bcast(&ok, 1, MPI_INT, 0, j->leaders);
    if (ok) {
      if (j->nnodes > 1) st = send_table(j->leaders, src, &j->own);
      /* Rank 0 shares the caller's table itself when it may, else a copy. */
      if (j->rank == 0) {
        if (gpudf_table_is_view(table)) st = copy_table(table, &j->own);
      }
    } else if (j->rank != 0) {
      st = fail(GPUDF_EINVAL, API ": rank 0 gave no table");
    }
  }
  /* The leaders read or receive the table meanwhile. */
  st = agree(j->comm, j->rank, st);
  if (st != GPUDF_OK) return st;
  if (leader) {
    gpudf_table *t = j->own ? j->own : table;
    /* Derived columns (prefix sums) once per node, before sharing; a table
     * already shared keeps what it has. Only a saving: errors are not the
     * caller's. */
    if (!gpudf_table_is_view(t)) {
      (void)gpudf_table_prepare(t, kernel, configs, n);
      if (opts->series != -1 && gpudf_kernel_row_order(kernel))
        (void)gpudf_table_prepare_series(t, opts->series, opts->time);
    }
    st = gpudf_table_share(t, NULL, backend, &j->share);
    if (st == GPUDF_EBUSY && j->rank == 0 && !j->own) {
      /* Already shared by the caller: share a copy of our own. */
      st = copy_table(table, &j->own);
      if (st == GPUDF_OK) {
        (void)gpudf_table_prepare(j->own, kernel, configs, n);
        if (opts->series != -1 && gpudf_kernel_row_order(kernel))
          (void)gpudf_table_prepare_series(j->own, opts->series, opts->time);
        st = gpudf_table_share(j->own, NULL, backend, &j->share);
      }
      t = j->own;
    }
    if (st == GPUDF_OK) {
      snprintf(j->share_name, sizeof j->share_name, "%s", gpudf_share_name(j->share));
      j->use = t;
    }
  }
  MPI_Request req;
  MPI_Ibcast(j->share_name, (int)sizeof j->share_name, MPI_CHAR, 0, j->node, &req);
  gpudf_mpi_wait(&req); /* while the leader derives columns and shares */
  if (!leader && j->share_name[0]) {
    st = gpudf_attach(j->share_name, &j->view);
    if (st == GPUDF_OK) j->use = j->view;
  } else if (!leader && st == GPUDF_OK) {
    st = fail(GPUDF_EIO, API ": the node's leader shared no table");
  }
  return agree(j->comm, j->rank, st);
}

/* Collective on every rank. The leader closes its share before the node's
 * other ranks free their views: a view freed while its share is still
 * published stays mapped in that rank, idle, for a next attach (attach.c),
 * which would hold the node's copy of the table (the leader's own, read or
 * received, included) in memory until that rank's next gpudf call. Freed
 * after the close, each view is unmapped at once, so the table's memory is
 * given back when the call returns. */
static void tear_down(job *j) {
  gpudf_share_close(j->share);
  settle(j->node);
  gpudf_table_free(j->view);
  gpudf_table_free(j->own);
  /* j->node and j->leaders belong to the communicator's cache (groups). */
}

/* The node groups of a communicator, kept on it as an attribute: splitting
 * costs a few collective rounds (tenths of a second on a loaded machine,
 * measured by bench/mpi_bench.c), paid once per communicator, not per
 * sweep. Freed with the communicator (MPI_Finalize for MPI_COMM_WORLD). */
typedef struct groups {
  MPI_Comm node, leaders;
  int fake; /* the GPUDF_MPI_FAKE_NODES they were made for */
  int node_id, nnodes;
} groups;

static int groups_key = MPI_KEYVAL_INVALID;

static int groups_delete(MPI_Comm comm, int key, void *value, void *extra) {
  (void)comm, (void)key, (void)extra;
  groups *g = value;
  if (g->node != MPI_COMM_NULL) MPI_Comm_free(&g->node);
  if (g->leaders != MPI_COMM_NULL) MPI_Comm_free(&g->leaders);
  free(g);
  return MPI_SUCCESS;
}

/* Node groups: by shared memory, or k simulated nodes by rank mod k. k is
 * rank 0's, so every rank takes the same branch. */
static void node_groups(job *j, int k) {
  if (groups_key == MPI_KEYVAL_INVALID)
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, groups_delete, &groups_key, NULL);
  groups *g = NULL;
  int found = 0;
  MPI_Comm_get_attr(j->comm, groups_key, &g, &found);
  if (found && g->fake != k) {
    MPI_Comm_delete_attr(j->comm, groups_key); /* frees g */
    found = 0;
  }
  if (!found) {
    g = malloc(sizeof *g);
    if (!g) {
      fprintf(stderr, API ": rank %d: out of memory\n", j->rank);
      MPI_Abort(j->comm, 1); /* the other ranks are in the split below */
    }
    g->fake = k;
    g->node_id = g->nnodes = 0;
    if (k) MPI_Comm_split(j->comm, j->rank % k, j->rank, &g->node);
    else MPI_Comm_split_type(j->comm, MPI_COMM_TYPE_SHARED, j->rank, MPI_INFO_NULL, &g->node);
    int node_rank;
    MPI_Comm_rank(g->node, &node_rank);
    MPI_Comm_split(j->comm, node_rank == 0 ? 0 : MPI_UNDEFINED, j->rank, &g->leaders);
    if (node_rank == 0) {
      MPI_Comm_rank(g->leaders, &g->node_id);
      MPI_Comm_size(g->leaders, &g->nnodes);
    }
    int ids[2] = {g->node_id, g->nnodes};
    bcast(ids, 2, MPI_INT, 0, g->node);
    g->node_id = ids[0];
    bcast(&ids[1], 1, MPI_INT, 0, j->comm);
    g->nnodes = ids[1];
    MPI_Comm_set_attr(j->comm, groups_key, g);
  }
  j->node = g->node;
  j->leaders = g->leaders;
  j->node_id = g->node_id;
  j->nnodes = g->nnodes;
  MPI_Comm_rank(j->node, &j->node_rank);
}

/* A SIGINT or SIGTERM seen while a rank runs its claims in one pass each
 * (gpudf_run, which no signal interrupts): the claims stop after the run. */
static volatile sig_atomic_t one_pass_signal;
static void on_stop_signal(int sig) { one_pass_signal = sig; }

/* What every claimed run shares: the plan, the series expansion. */
typedef struct sweep_shape {
  const plan *pl;
  int np, nres;   /* nres: results per row */
  int64_t S;      /* rows per config: the series (1 without) */
  bool series;    /* the sweep runs each config on every series (gpudf_sweep's series) */
} sweep_shape;

/* Claims runs of configs until none is left, sweeping each. */
/* The global claim counter: an int64 at rank 0 in a window every rank
 * fetches and adds 1 to (MPI one-sided, no progress needed from rank 0).
 * Opening it is collective and zeroes it before anyone claims. */
typedef struct counter {
  int64_t *value;
  MPI_Win win;
  MPI_Comm comm;
} counter;

static void counter_open(const job *j, counter *c) {
  c->value = NULL;
  c->comm = j->comm;
  MPI_Win_allocate(j->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL,
                   j->comm, &c->value, &c->win);
  if (j->rank == 0) *c->value = 0;
  settle(j->comm); /* the counter is zero before anyone claims */
  MPI_Win_lock_all(0, c->win);
}

/* The next claim's number (every rank's claims together count 0, 1, 2...). */
static int64_t counter_next(counter *c) {
  const int64_t one = 1;
  int64_t got = 0;
  MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, c->win);
  MPI_Win_flush(0, c->win);
  return got;
}

static void counter_close(counter *c) {
  MPI_Win_unlock_all(c->win);
  /* MPI_Win_free is a blocking barrier, and ranks end their last claims
   * at different times: the first ones wait here without spinning. */
  settle(c->comm);
  MPI_Win_free(&c->win);
}

/* SIGINT and SIGTERM stop a rank's loop of one-pass claims (one_pass_signal)
 * instead of the process, until stop_signals_restore. */
static void stop_signals_catch(struct sigaction *old_int, struct sigaction *old_term) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  one_pass_signal = 0;
  sigaction(SIGINT, &sa, old_int);
  sigaction(SIGTERM, &sa, old_term);
}

static void stop_signals_restore(const struct sigaction *old_int,
                                 const struct sigaction *old_term) {
  sigaction(SIGINT, old_int, NULL);
  sigaction(SIGTERM, old_term, NULL);
}

static void run_claims(job *j, const gpudf_kernel *kernel, const double *configs,
                       const sweep_shape *sh, const gpudf_sweep_options *local, part *p,
                       gpudf_mpi_rank_info *me, bool *stopped) {
  const plan *pl = sh->pl;
  int np = sh->np, nres = sh->nres;
  int64_t S = sh->S;
  /* In process (workers = 0) without a time limit or series, a claimed
   * run is one gpudf_run: one pass over the table for all its configs.
   * gpudf_sweep in process starts with small batches that double (early
   * results, a prompt cancel: docs/sweep.md), about 6 passes for a run of
   * 1,000 configs, which made each rank pay several passes where one
   * process's worker paid 3 (bench/mpi_bench.c). A run that fails there (a
   * config the kernel refuses) is swept again by gpudf_sweep, for each
   * config's state and reason. A series sweep is gpudf_sweep's own (it runs
   * each config on each series' rows). */
  bool one_pass = local->workers == 0 && !(local->time_limit_s > 0) && !sh->series;
  long slow = slow_ms(j->rank);
  struct sigaction old_int, old_term;
  if (one_pass) stop_signals_catch(&old_int, &old_term);
  /* The configs of a claim, gathered in pass order when that is not the
   * caller's. */
  int64_t most = 0;
  for (int64_t c = 0; c < pl->nclaims; c++)
    if (pl->cut[c + 1] - pl->cut[c] > most) most = pl->cut[c + 1] - pl->cut[c];
  double *gathered = pl->order ? malloc(sizeof *gathered * (size_t)(most * np + 1)) : NULL;
  if (pl->order && !gathered) {
    fprintf(stderr, API ": rank %d: out of memory for a claim's configs\n", j->rank);
    MPI_Abort(j->comm, 1); /* the other ranks are in the window's creation */
  }
  counter claims;
  counter_open(j, &claims);
  for (;;) {
    if (one_pass_signal) *stopped = true;
    if (*stopped) break;
    int64_t c = counter_next(&claims);
    if (c >= pl->nclaims) break;
    int64_t start = pl->cut[c], cnt = pl->cut[c + 1] - start, rows = cnt * S;
    if (!part_grow(p, rows, nres)) {
      fprintf(stderr, API ": rank %d: out of memory for its results\n", j->rank);
      MPI_Abort(j->comm, 1); /* a claimed run cannot be given back */
    }
    p->ranges[3 * p->nranges] = start;
    p->ranges[3 * p->nranges + 1] = cnt;
    p->ranges[3 * p->nranges + 2] = c;
    p->nranges++;
    const double *cfg = configs + start * np;
    if (pl->order) {
      for (int64_t i = 0; i < cnt; i++)
        memcpy(gathered + i * np, configs + pl->order[start + i] * np, sizeof(double) * (size_t)np);
      cfg = gathered;
    }
    double *res = p->results + p->nconfigs * nres;
    int32_t *status = p->status + p->nconfigs;
    gpudf_sweep_result *r = NULL;
    double t0 = now_s();
    gpudf_status st = GPUDF_OK;
    bool ran = false;
    if (one_pass && gpudf_run(j->use, kernel, cfg, cnt, res) == GPUDF_OK) {
      for (int64_t i = 0; i < rows; i++) status[i] = (int32_t)GPUDF_CONFIG_DONE << 16;
      ran = true;
    }
    if (!ran) st = gpudf_sweep(j->use, kernel, cfg, cnt, res, local, &r);
    if (slow) {
      struct timespec ts = {slow / 1000, (slow % 1000) * 1000000};
      nanosleep(&ts, NULL);
    }
    me->busy_s += now_s() - t0;
    /* Row i of the run: config order[start + i / S] (or start + i / S) on
     * series i % S, result row that config * S + i % S. */
#define ROW_OF(i) ((pl->order ? pl->order[start + (i) / S] : start + (i) / S) * S + (i) % S)
    if (ran) {
      /* every config done */
    } else if (r) {
      for (int64_t i = 0; i < rows; i++) {
        gpudf_config_state s = gpudf_sweep_result_state(r, i);
        status[i] = (int32_t)s << 16 | (int32_t)gpudf_sweep_result_error(r, i);
        if (s != GPUDF_CONFIG_DONE) part_reason(p, ROW_OF(i), gpudf_sweep_result_reason(r, i));
      }
      /* The series labels (rows 0..S-1 are config 0 on each series), kept
       * by the rank that ran claim 0 for rank 0's result. */
      if (sh->series && c == 0 && !p->labels) {
        size_t len = 0;
        for (int64_t q = 0; q < S; q++) len += strlen(gpudf_sweep_result_series(r, q)) + 1;
        p->labels = malloc(len + 1);
        if (p->labels) {
          for (int64_t q = 0; q < S; q++) {
            const char *l = gpudf_sweep_result_series(r, q);
            memcpy(p->labels + p->llen, l, strlen(l) + 1);
            p->llen += strlen(l) + 1;
          }
        }
      }
      if (gpudf_sweep_result_signal(r)) *stopped = true;
      gpudf_sweep_result_free(r);
    } else {
      /* The whole run failed before any config ran (e.g. out of memory):
       * each of its configs is a failed config, with the reason. */
      char why[GPUDF_SWEEP_REASON_MAX];
      snprintf(why, sizeof why, "rank %d: %s", j->rank, gpudf_last_error());
      for (int64_t i = 0; i < rows; i++) {
        status[i] = (int32_t)GPUDF_CONFIG_FAILED << 16 | (int32_t)st;
        for (int k = 0; k < nres; k++) res[i * nres + k] = 0.0 / 0.0;
        part_reason(p, ROW_OF(i), why);
      }
    }
#undef ROW_OF
    if (st == GPUDF_ECANCELED) *stopped = true;
    p->nconfigs += rows;
    me->configs += cnt;
    me->claims++;
  }
  counter_close(&claims);
  free(gathered);
  if (one_pass) {
    stop_signals_restore(&old_int, &old_term);
    if (one_pass_signal) *stopped = true;
  }
}

/* ------------------------------------------------------ row-split sweeps */

/* When the configs form few pass groups (filter_agg's configs of one column
 * pair cost one pass whatever their number), claims of configs make each
 * rank pass over the whole table for its share, where one process splits
 * the rows between its workers. So the ranks split rows the same way: by
 * gpudf_sweep_split_ranges for the job's workers (ranks x workers per rank,
 * at least one each), each pass group cut into chunks of at most the
 * batch size (16384 by default) as gpudf_sweep cuts them, task t being
 * chunk t / R over row range t % R. A rank claims tasks from the counter,
 * runs each with gpudf_run_partial in its own process, and keeps the
 * states; rank 0 gathers them and merges each config's R states in row
 * order with gpudf_kernel_merge_states: the one-process row-split sweep's
 * result, bit for bit. docs/mpi.md, "Row splits". */
typedef struct split {
  int64_t R, ns, nrows, nchunks;
  int64_t *chunks; /* nchunks + 1 positions in the pass order */
} split;

/* Rank 0's env: GPUDF_MPI_SPLIT=0 turns it off (GPUDF_SWEEP_SPLIT=0 too, by
 * the local rule). */
static bool split_allowed(void) {
  const char *env = getenv("GPUDF_MPI_SPLIT");
  return !(env && strcmp(env, "0") == 0);
}

static gpudf_status split_plan(const plan *pl, int64_t n, int64_t batch, split *sp) {
  int64_t ng = pl->ngroups > 0 ? pl->ngroups : 1, max = batch > 0 ? batch : 16384, count = 0;
  for (int64_t g = 0; g < ng; g++) {
    int64_t lo = pl->ngroups > 0 ? pl->groups[g] : 0, hi = pl->ngroups > 0 ? pl->groups[g + 1] : n;
    count += (hi - lo + max - 1) / max;
  }
  sp->chunks = malloc(sizeof *sp->chunks * (size_t)(count + 1));
  if (!sp->chunks) return fail(GPUDF_ENOMEM, API ": out of memory for %lld chunks", (long long)count);
  int64_t k = 0;
  for (int64_t g = 0; g < ng; g++) {
    int64_t lo = pl->ngroups > 0 ? pl->groups[g] : 0, hi = pl->ngroups > 0 ? pl->groups[g + 1] : n;
    int64_t pieces = (hi - lo + max - 1) / max;
    for (int64_t q = 0; q < pieces; q++) sp->chunks[k++] = lo + (hi - lo) * q / pieces;
  }
  sp->chunks[k] = n;
  sp->nchunks = count;
  return GPUDF_OK;
}

/* Rows of range r of R, as gpudf_sweep cuts them (gpudf.h). */
static void split_rows(const split *sp, int64_t r, int64_t *lo, int64_t *hi) {
  int64_t q = sp->nrows / sp->R, m = sp->nrows % sp->R;
  *lo = q * r + m * r / sp->R;
  *hi = q * (r + 1) + m * (r + 1) / sp->R;
}

/* Claims tasks until none is left; p gets, per task, (chunk start, count,
 * task) and the count x ns states, the status of each config (a config the
 * kernel refuses over these rows: failed, with its reason). */
static void run_split(job *j, const gpudf_kernel *kernel, const double *configs, const plan *pl,
                      int np, const split *sp, part *p, gpudf_mpi_rank_info *me, bool *stopped) {
  int64_t ntasks = sp->nchunks * sp->R, most = 0;
  for (int64_t c = 0; c < sp->nchunks; c++)
    if (sp->chunks[c + 1] - sp->chunks[c] > most) most = sp->chunks[c + 1] - sp->chunks[c];
  double *gathered = malloc(sizeof *gathered * (size_t)(most * np + 1));
  if (!gathered) {
    fprintf(stderr, API ": rank %d: out of memory for a task's configs\n", j->rank);
    MPI_Abort(j->comm, 1);
  }
  long slow = slow_ms(j->rank);
  struct sigaction old_int, old_term;
  stop_signals_catch(&old_int, &old_term);
  counter tasks;
  counter_open(j, &tasks);
  for (;;) {
    if (one_pass_signal) *stopped = true;
    if (*stopped) break;
    int64_t t = counter_next(&tasks);
    if (t >= ntasks) break;
    int64_t c = t / sp->R, r = t % sp->R, start = sp->chunks[c], cnt = sp->chunks[c + 1] - start;
    int64_t rlo, rhi;
    split_rows(sp, r, &rlo, &rhi);
    if (!part_grow(p, cnt, (int)sp->ns)) {
      fprintf(stderr, API ": rank %d: out of memory for its states\n", j->rank);
      MPI_Abort(j->comm, 1);
    }
    p->ranges[3 * p->nranges] = start;
    p->ranges[3 * p->nranges + 1] = cnt;
    p->ranges[3 * p->nranges + 2] = t;
    p->nranges++;
    for (int64_t i = 0; i < cnt; i++) {
      int64_t cfg = pl->order ? pl->order[start + i] : start + i;
      memcpy(gathered + i * np, configs + cfg * np, sizeof(double) * (size_t)np);
    }
    double *states = p->results + p->nconfigs * sp->ns;
    int32_t *status = p->status + p->nconfigs;
    double t0 = now_s();
    gpudf_status st = gpudf_run_partial(j->use, kernel, gathered, cnt, rlo, rhi, states);
    for (int64_t i = 0; i < cnt; i++) status[i] = (int32_t)GPUDF_CONFIG_DONE << 16;
    if (st != GPUDF_OK) {
      /* Which configs: one by one over these rows. */
      for (int64_t i = 0; i < cnt; i++) {
        gpudf_status one_st = gpudf_run_partial(j->use, kernel, gathered + i * np, 1, rlo, rhi,
                                                states + i * sp->ns);
        if (one_st == GPUDF_OK) continue;
        status[i] = (int32_t)GPUDF_CONFIG_FAILED << 16 | (int32_t)one_st;
        for (int64_t k = 0; k < sp->ns; k++) states[i * sp->ns + k] = 0.0 / 0.0;
        char why[GPUDF_SWEEP_REASON_MAX];
        snprintf(why, sizeof why, "%s", gpudf_last_error());
        part_reason(p, pl->order ? pl->order[start + i] : start + i, why);
      }
    }
    if (slow) {
      struct timespec ts = {slow / 1000, (slow % 1000) * 1000000};
      nanosleep(&ts, NULL);
    }
    me->busy_s += now_s() - t0;
    p->nconfigs += cnt;
    me->configs += cnt;
    me->claims++;
    me->split_rows += rhi - rlo;
  }
  counter_close(&tasks);
  free(gathered);
  stop_signals_restore(&old_int, &old_term);
  if (one_pass_signal) *stopped = true;
}

/* Gathers the tasks' states on rank 0 and merges them there into `out`, a
 * part of whole configs (claim: the task of range 0) that assemble places
 * like a claimed run's; *first_rank (rank 0, n entries, by position in the
 * pass order) the rank that ran a config's range 0. A chunk with a task
 * never run (a stop) stays out: its configs are cancelled. */
static gpudf_status merge_split(job *j, const gpudf_kernel *kernel, const double *configs,
                                const plan *pl, int np, int nres, const split *sp, const part *p,
                                part *out, int32_t **first_rank) {
  all_parts g;
  gpudf_status st = gather_part(j->comm, p, sp->ns, false, &g);
  int64_t ntasks = sp->nchunks * sp->R, n = sp->chunks[sp->nchunks];
  int64_t *at = NULL;      /* per task: its first config's index in the gathered status */
  int32_t *by = NULL;      /* per task: the rank that ran it (-1: none) */
  double *states = NULL;   /* one config's R states */
  char *reasoned = NULL;
  if (st == GPUDF_OK && j->rank == 0) {
    at = malloc(sizeof *at * (size_t)(ntasks + 1));
    by = malloc(sizeof *by * (size_t)(ntasks + 1));
    states = malloc(sizeof *states * (size_t)(sp->R * sp->ns));
    reasoned = calloc((size_t)n + 1, 1);
    *first_rank = malloc(sizeof **first_rank * (size_t)(n + 1));
    if (!at || !by || !states || !reasoned || !*first_rank)
      st = fail(GPUDF_ENOMEM, API ": out of memory on rank 0 to merge %lld tasks", (long long)ntasks);
  }
  if (st == GPUDF_OK && j->rank == 0) {
    for (int64_t t = 0; t < ntasks; t++) by[t] = -1;
    const int64_t *rg = g.ranges.all;
    for (int r = 0; r < j->size; r++) {
      int64_t pos = g.status.displs[r];
      for (int q = g.ranges.displs[r]; q < g.ranges.displs[r] + g.ranges.counts[r]; q += 3) {
        int64_t t = rg[q + 2];
        at[t] = pos;
        by[t] = r;
        pos += rg[q + 1];
      }
    }
    const double *ss = g.rows.all;
    const int32_t *stt = g.status.all;
    /* The tasks' reasons: the first for each config. */
    char *cur = g.reasons.all;
    int64_t idx;
    for (const char *why; (why = next_reason(&cur, n, &idx));)
      if (!reasoned[idx]) reasoned[idx] = 1, part_reason(out, idx, why);
    for (int64_t c = 0; c < sp->nchunks && st == GPUDF_OK; c++) {
      bool all = true;
      for (int64_t r = 0; r < sp->R && all; r++) all = by[c * sp->R + r] >= 0;
      if (!all) continue;
      int64_t start = sp->chunks[c], cnt = sp->chunks[c + 1] - start;
      if (!part_grow(out, cnt, nres)) {
        st = fail(GPUDF_ENOMEM, API ": out of memory on rank 0 for the results");
        break;
      }
      out->ranges[3 * out->nranges] = start;
      out->ranges[3 * out->nranges + 1] = cnt;
      out->ranges[3 * out->nranges + 2] = c * sp->R;
      out->nranges++;
      double *res = out->results + out->nconfigs * nres;
      int32_t *status = out->status + out->nconfigs;
      for (int64_t i = 0; i < cnt; i++) {
        int64_t cfg = pl->order ? pl->order[start + i] : start + i;
        (*first_rank)[start + i] = by[c * sp->R];
        int32_t s = (int32_t)GPUDF_CONFIG_DONE << 16;
        for (int64_t r = 0; r < sp->R; r++) {
          int64_t t = c * sp->R + r, row = at[t] + i;
          if (stt[row] >> 16 != GPUDF_CONFIG_DONE && s >> 16 == GPUDF_CONFIG_DONE) s = stt[row];
          memcpy(states + r * sp->ns, ss + row * sp->ns, sizeof *states * (size_t)sp->ns);
        }
        status[i] = s;
        if (s >> 16 != GPUDF_CONFIG_DONE) {
          for (int k = 0; k < nres; k++) res[i * nres + k] = 0.0 / 0.0;
          continue;
        }
        gpudf_status ms = gpudf_kernel_merge_states(kernel, configs + cfg * np, states,
                                                    (int)sp->R, res + i * nres);
        if (ms != GPUDF_OK) {
          status[i] = (int32_t)GPUDF_CONFIG_FAILED << 16 | (int32_t)ms;
          for (int k = 0; k < nres; k++) res[i * nres + k] = 0.0 / 0.0;
          if (!reasoned[cfg]) part_reason(out, cfg, gpudf_last_error());
        }
      }
      out->nconfigs += cnt;
    }
  }
  free(at), free(by), free(states), free(reasoned);
  all_parts_free(&g);
  return st;
}

static gpudf_status assemble(job *j, int64_t nconf, const sweep_shape *sh, const part *p,
                             double *results, gpudf_mpi_result *out, int64_t claim,
                             double table_s, double t0, const gpudf_mpi_rank_info *me) {
  gpudf_status st;
  int nres = sh->nres;
  int64_t S = sh->S, n = nconf * S; /* result rows */
  const int64_t *order = sh->pl->order;
  all_parts g;
  st = gather_part(j->comm, p, nres, sh->series, &g);
  gpudf_mpi_rank_info *infos = j->rank == 0 ? calloc((size_t)j->size, sizeof *infos) : NULL;
  gather_to_0(me, (int)sizeof *me, MPI_BYTE, infos, j->comm);
  if (st == GPUDF_OK && j->rank == 0) {
    out->n = n;
    out->nseries = S;
    out->state = malloc((size_t)n + 1);
    out->error = malloc(sizeof *out->error * ((size_t)n + 1));
    out->reason = calloc((size_t)n + 1, sizeof *out->reason);
    out->nodes = calloc((size_t)j->nnodes, sizeof *out->nodes);
    out->where_rank = malloc(sizeof *out->where_rank * ((size_t)nconf + 1));
    out->where_claim = malloc(sizeof *out->where_claim * ((size_t)nconf + 1));
    if (!out->state || !out->error || !out->reason || !out->nodes || !infos ||
        !out->where_rank || !out->where_claim) {
      st = fail(GPUDF_ENOMEM, API ": out of memory for the result on rank 0");
    } else {
      /* Never claimed (a cancel stopped the claims): cancelled, NaN. */
      for (int64_t i = 0; i < n; i++) {
        out->state[i] = GPUDF_CONFIG_CANCELLED;
        out->error[i] = GPUDF_ECANCELED;
        if (results)
          for (int k = 0; k < nres; k++) results[i * nres + k] = 0.0 / 0.0;
      }
      for (int64_t i = 0; i < nconf; i++) out->where_rank[i] = -1, out->where_claim[i] = -1;
      const int64_t *rg = g.ranges.all;
      const double *rs = g.rows.all;
      const int32_t *ss = g.status.all;
      /* A run's rows, in pass order, go to their configs' rows: config
       * order[pos] (pos without an order) has rows config * S .. + S - 1. */
      for (int r = 0; r < j->size; r++) {
        int64_t at = g.status.displs[r]; /* the rank's rows so far */
        for (int q = g.ranges.displs[r]; q < g.ranges.displs[r] + g.ranges.counts[r]; q += 3) {
          int64_t start = rg[q], cnt = rg[q + 1], claim_id = rg[q + 2];
          for (int64_t i = 0; i < cnt; i++, at += S) {
            int64_t cfg = order ? order[start + i] : start + i, row = cfg * S;
            out->where_rank[cfg] = r;
            out->where_claim[cfg] = claim_id;
            if (results)
              memcpy(results + row * nres, rs + at * nres, sizeof(double) * (size_t)(S * nres));
            for (int64_t k = 0; k < S; k++) {
              out->state[row + k] = (int8_t)(ss[at + k] >> 16);
              out->error[row + k] = ss[at + k] & 0xffff;
            }
          }
        }
      }
      /* The series labels: the rank that ran claim 0 sent them. */
      if (sh->series && g.labels.all) {
        const char *l = g.labels.all;
        int64_t len = piece_len(&g.labels, j->size);
        out->labels = calloc((size_t)S + 1, sizeof *out->labels);
        for (int64_t q = 0; out->labels && q < S; q++) {
          out->labels[q] = strdup(len > 0 ? l : "");
          if (len > 0) l += strlen(l) + 1;
        }
      }
      /* The reasons: one line per config that has one. */
      char *cur = g.reasons.all;
      int64_t idx;
      for (const char *why; (why = next_reason(&cur, n, &idx));) out->reason[idx] = strdup(why);
      gpudf_mpi_report *rep = &out->report;
      rep->total = n;
      rep->ranks = j->size;
      rep->nodes = j->nnodes;
      rep->claim = claim;
      rep->table_s = table_s;
      for (int64_t i = 0; i < n; i++) {
        if (out->state[i] == GPUDF_CONFIG_DONE) rep->done++;
        else if (out->state[i] == GPUDF_CONFIG_CANCELLED) rep->cancelled++;
        else rep->failed++;
      }
      for (int r = 0; r < j->size; r++) {
        gpudf_mpi_node_info *nd = &out->nodes[infos[r].node];
        nd->node = infos[r].node;
        nd->ranks++;
        if (infos[r].leader) {
          nd->leader_rank = r;
          snprintf(nd->share, sizeof nd->share, "%s", infos[r].share);
        }
        nd->configs += infos[r].configs;
        nd->busy_s += infos[r].busy_s;
        rep->claims += infos[r].claims;
      }
      out->ranks = infos;
      infos = NULL;
      rep->wall_s = now_s() - t0;
    }
  }
  free(infos);
  all_parts_free(&g);
  return st;
}

gpudf_status gpudf_mpi_sweep(MPI_Comm comm, gpudf_table *table, const char *csv_path,
                             const gpudf_kernel *kernel, const double *configs, int64_t n,
                             double *results, const gpudf_sweep_options *opts,
                             gpudf_mpi_result **out) {
  double t0 = now_s();
  if (out) *out = NULL;
  int inited = 0, finished = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finished);
  if (!inited || finished)
    return fail(GPUDF_EINVAL, API ": MPI is %s (call MPI_Init first; from Python, import "
                "mpi4py.MPI)", finished ? "finalized" : "not initialized");
  job j;
  memset(&j, 0, sizeof j);
  j.comm = comm;
  j.node = j.leaders = MPI_COMM_NULL;
  MPI_Comm_rank(comm, &j.rank);
  MPI_Comm_size(comm, &j.size);
  gpudf_status st = GPUDF_OK;

  /* What rank 0 says: n, the kernel's name, whether there is a CSV path. */
  int64_t head[2] = {n, csv_path != NULL};
  bcast(head, 2, MPI_INT64_T, 0, comm);
  n = head[0];
  char kname[GPUDF_NAME_MAX + 1] = "";
  if (j.rank == 0 && kernel) snprintf(kname, sizeof kname, "%s", gpudf_kernel_name(kernel));
  bcast(kname, (int)sizeof kname, MPI_CHAR, 0, comm);
  char path[4096] = "";
  if (j.rank == 0 && csv_path) snprintf(path, sizeof path, "%s", csv_path);
  if (head[1]) bcast(path, (int)sizeof path, MPI_CHAR, 0, comm);
  if (n < 0) st = fail(GPUDF_EINVAL, API ": n = %lld configs", (long long)n);
  else if (!kname[0]) st = fail(GPUDF_EINVAL, API ": no kernel given on rank 0");
  else if (gpudf_kernel_find(kname, &kernel) != GPUDF_OK)
    st = fail(GPUDF_EINVAL, API ": kernel '%s' is not registered here (register it, or load "
              "its plugin, on every rank)", kname);
  else if (j.rank == 0 && n > 0 && !configs) st = fail(GPUDF_EINVAL, API ": configs is NULL");
  if ((st = agree(comm, j.rank, st)) != GPUDF_OK) return st;

  /* The configs, as rank 0 has them. */
  int np = gpudf_kernel_nparams(kernel);
  double *mine = NULL;
  if (j.rank != 0) {
    mine = malloc(sizeof *mine * (size_t)(n * np + 1));
    if (!mine) st = fail(GPUDF_ENOMEM, API ": out of memory for %lld configs", (long long)n);
  }
  if ((st = agree(comm, j.rank, st)) != GPUDF_OK) {
    free(mine);
    return st;
  }
  if (j.rank != 0) configs = mine;
  bcast_bytes((void *)configs, sizeof(double) * (size_t)(n * np), 0, comm);

  gpudf_sweep_options local;
  gpudf_sweep_options_init(&local);
  if (opts) {
    size_t len = opts->size < sizeof local ? opts->size : sizeof local;
    memcpy(&local, opts, len);
    local.size = len; /* gpudf_sweep reads what the caller's struct has */
  }
  local.progress = NULL; /* one claimed run's progress is not the job's */
  local.progress_user = NULL;
  /* Rank 0's options hold everywhere (plugins excepted: paths of each
   * rank's own), so a program whose other ranks only serve (gpudf-sweep-mpi)
   * passes NULL there. */
  double o[9] = {local.workers, local.backend, (double)local.batch, local.time_limit_s,
                 local.retries, fake_nodes(), local.series, local.time, (double)claim_size()};
  bcast(o, 9, MPI_DOUBLE, 0, comm);
  local.workers = (int)o[0];
  local.backend = (gpudf_backend)o[1];
  local.batch = (int64_t)o[2];
  local.time_limit_s = o[3];
  local.retries = (int)o[4];
  local.series = (int)o[6];
  local.time = (int)o[7];
  int64_t claim = (int64_t)o[8];

  node_groups(&j, (int)o[5]);

  st = set_up_table(&j, table, head[1] ? path : NULL, kernel, configs, n, &local);
  double table_s = now_s() - t0;
  if (st == GPUDF_OK) {
    if (j.rank == 0) st = gpudf_validate(j.use, kernel, configs, n);
    /* The options, by gpudf_sweep's own rules (an empty sweep checks
     * them): refused here, not as every config failing later. */
    if (st == GPUDF_OK) st = gpudf_sweep(j.use, kernel, configs, 0, NULL, &local, NULL);
    st = agree(comm, j.rank, st); /* rank 0 validates every config meanwhile */
  }
  /* A series sweep (a series column and a kernel that depends on row
   * order): each config gives S rows, one per series, as in gpudf_sweep.
   * The series were checked by the empty sweep above. */
  bool series = local.series != -1 && gpudf_kernel_row_order(kernel);
  int64_t S = 1;
  if (st == GPUDF_OK && series) st = agree(comm, j.rank, gpudf_sweep_series_check(j.use, local.series, local.time, &S));
  int nres = 0;
  if (st == GPUDF_OK && n > 0) {
    nres = gpudf_kernel_nresults(kernel, configs);
    for (int64_t i = 1; i < n && j.rank == 0 && st == GPUDF_OK; i++)
      if (gpudf_kernel_nresults(kernel, configs + i * np) != nres)
        st = fail(GPUDF_EINVAL, API ": config %lld gives %d results, config 0 gives %d: the "
                  "shape parameters must be equal in every config", (long long)i,
                  gpudf_kernel_nresults(kernel, configs + i * np), nres);
    st = agree(comm, j.rank, st);
  }
  plan pl;
  memset(&pl, 0, sizeof pl);
  if (st == GPUDF_OK) st = agree(comm, j.rank, plan_claims(kernel, configs, n, j.size, claim, &pl));
  gpudf_mpi_result *res = NULL;
  if (st == GPUDF_OK && j.rank == 0) {
    res = calloc(1, sizeof *res);
    if (!res) st = fail(GPUDF_ENOMEM, API ": out of memory");
  }
  if (st == GPUDF_OK) st = agree(comm, j.rank, st);
  if (st != GPUDF_OK) {
    tear_down(&j);
    plan_free(&pl);
    free(mine);
    free(res);
    return st;
  }

  sweep_shape sh = {&pl, np, nres, S, series};
  part p;
  memset(&p, 0, sizeof p);
  gpudf_mpi_rank_info me;
  memset(&me, 0, sizeof me);
  me.rank = j.rank;
  me.node = j.node_id;
  me.leader = j.node_rank == 0;
  snprintf(me.share, sizeof me.share, "%s", j.share_name);
  bool stopped = false;
  /* Rows split across the ranks (split_plan): rank 0 decides, by the local
   * engine's rule for the job's workers. */
  split sp;
  memset(&sp, 0, sizeof sp);
  int64_t splitting[2] = {0, 0};
  if (j.rank == 0 && !series && !(local.time_limit_s > 0) && claim == 0 && split_allowed() &&
      n > 0) {
    int per = local.workers > 0 ? local.workers : 1;
    int64_t want = (int64_t)j.size * per;
    splitting[0] = gpudf_sweep_split_ranges(j.use, kernel, configs, n, pl.ngroups,
                                            want > INT_MAX ? INT_MAX : (int)want);
    splitting[1] = splitting[0] > 0 ? gpudf_kernel_state_width(kernel, configs) : 0;
  }
  bcast(splitting, 2, MPI_INT64_T, 0, comm);
  if (splitting[0] > 1 && splitting[1] > 0) {
    sp.R = splitting[0];
    sp.ns = splitting[1];
    sp.nrows = gpudf_table_nrows(j.use);
    st = agree(comm, j.rank, split_plan(&pl, n, local.batch, &sp));
  }
  if (st == GPUDF_OK && sp.R > 1) run_split(&j, kernel, configs, &pl, np, &sp, &p, &me, &stopped);
  else if (st == GPUDF_OK) run_claims(&j, kernel, configs, &sh, &local, &p, &me, &stopped);
  me.wall_s = now_s() - t0;
  int32_t *first_rank = NULL;
  if (st == GPUDF_OK && sp.R > 1) {
    /* Rank 0 merges every rank's states into whole configs, which the
     * gather below places as its own. */
    part merged;
    memset(&merged, 0, sizeof merged);
    st = agree(comm, j.rank, merge_split(&j, kernel, configs, &pl, np, nres, &sp, &p, &merged,
                                         &first_rank));
    part_free(&p);
    p = merged;
  }
  /* Every rank's sweeps are over before any leader closes its share. */
  if (st == GPUDF_OK) st = assemble(&j, n, &sh, &p, results, res, claim, table_s, t0, &me);
  st = agree(comm, j.rank, st);
  if (st == GPUDF_OK && res && first_rank) {
    /* Where a split config ran: the rank of its first rows (claim: that task). */
    for (int64_t c = 0; c < sp.nchunks; c++)
      for (int64_t q = sp.chunks[c]; q < sp.chunks[c + 1]; q++) {
        int64_t cfg = pl.order ? pl.order[q] : q;
        if (res->where_claim[cfg] >= 0) res->where_rank[cfg] = first_rank[q];
      }
  }
  free(first_rank);
  free(sp.chunks);
  int cancelled = stopped, any = 0;
  allreduce(&cancelled, &any, 1, MPI_INT, MPI_LOR, comm);
  part_free(&p);
  plan_free(&pl);
  tear_down(&j);
  free(mine);
  if (st != GPUDF_OK) {
    gpudf_mpi_result_free(res);
    return st;
  }
  if (j.rank == 0 && out) *out = res;
  else gpudf_mpi_result_free(res);
  if (any) return fail(GPUDF_ECANCELED, API ": cancelled (a signal or an error stopped a rank's claims)");
  return GPUDF_OK;
}

gpudf_status gpudf_mpi_sweep_fcomm(MPI_Fint comm, gpudf_table *table, const char *csv_path,
                                   const gpudf_kernel *kernel, const double *configs, int64_t n,
                                   double *results, const gpudf_sweep_options *opts,
                                   gpudf_mpi_result **out) {
  int inited = 0, finished = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finished);
  if (!inited || finished) /* MPI_Comm_f2c needs MPI */
    return gpudf_mpi_sweep(MPI_COMM_NULL, table, csv_path, kernel, configs, n, results, opts, out);
  MPI_Comm c = MPI_Comm_f2c(comm);
  if (c == MPI_COMM_NULL)
    return fail(GPUDF_EINVAL, API ": the communicator handle %d is MPI_COMM_NULL", (int)comm);
  return gpudf_mpi_sweep(c, table, csv_path, kernel, configs, n, results, opts, out);
}

/* ---------------------------------------------------------------- getters */

int64_t gpudf_mpi_result_count(const gpudf_mpi_result *r) { return r ? r->n : 0; }

int64_t gpudf_mpi_result_nseries(const gpudf_mpi_result *r) { return r ? r->nseries : 0; }

const char *gpudf_mpi_result_series(const gpudf_mpi_result *r, int64_t i) {
  if (!r || i < 0 || i >= r->n || !r->labels || !r->labels[i % r->nseries]) return "";
  return r->labels[i % r->nseries];
}

gpudf_status gpudf_mpi_result_where(const gpudf_mpi_result *r, int64_t i, int *rank,
                                    int64_t *claim) {
  if (!r || i < 0 || i >= r->n)
    return fail(GPUDF_EINVAL, "gpudf_mpi_result_where: %s", !r ? "result is NULL"
                : "index out of range");
  if (rank) *rank = r->where_rank[i / r->nseries];
  if (claim) *claim = r->where_claim[i / r->nseries];
  return GPUDF_OK;
}

gpudf_config_state gpudf_mpi_result_state(const gpudf_mpi_result *r, int64_t i) {
  return r && i >= 0 && i < r->n ? (gpudf_config_state)r->state[i] : GPUDF_CONFIG_PENDING;
}

gpudf_status gpudf_mpi_result_error(const gpudf_mpi_result *r, int64_t i) {
  return r && i >= 0 && i < r->n ? (gpudf_status)r->error[i] : GPUDF_EINVAL;
}

const char *gpudf_mpi_result_reason(const gpudf_mpi_result *r, int64_t i) {
  return r && i >= 0 && i < r->n && r->reason[i] ? r->reason[i] : "";
}

gpudf_status gpudf_mpi_result_report(const gpudf_mpi_result *r, gpudf_mpi_report *out) {
  if (!r || !out) return fail(GPUDF_EINVAL, "gpudf_mpi_result_report: NULL result or out");
  *out = r->report;
  return GPUDF_OK;
}

gpudf_status gpudf_mpi_result_rank(const gpudf_mpi_result *r, int rank, gpudf_mpi_rank_info *out) {
  if (!r || !out || rank < 0 || rank >= r->report.ranks)
    return fail(GPUDF_EINVAL, "gpudf_mpi_result_rank: rank %d out of range", rank);
  *out = r->ranks[rank];
  return GPUDF_OK;
}

gpudf_status gpudf_mpi_result_node(const gpudf_mpi_result *r, int node, gpudf_mpi_node_info *out) {
  if (!r || !out || node < 0 || node >= r->report.nodes)
    return fail(GPUDF_EINVAL, "gpudf_mpi_result_node: node %d out of range", node);
  *out = r->nodes[node];
  return GPUDF_OK;
}

/* The aggregates of gpudf_sweep_series_summary (docs/sweep.md, "Aggregates
 * across series") on rank 0's gathered rows, by the same function, so a
 * config's figures equal a one-process sweep's bit for bit. No portfolio
 * (NaN, 0 bars): its bar returns stay on the ranks. */
gpudf_status gpudf_mpi_result_series_summary(const gpudf_mpi_result *r, const double *results,
                                             int nresults, int sharpe, int total_return,
                                             gpudf_series_summary *out) {
  if (!r) return fail(GPUDF_EINVAL, "gpudf_mpi_result_series_summary: result is NULL");
  int64_t S = r->nseries > 0 ? r->nseries : 1;
  gpudf_status st = gpudf_series_summary_of(results, (const unsigned char *)r->state, r->n, S,
                                            nresults, sharpe, total_return, out);
  if (st != GPUDF_OK)
    return fail(st, "gpudf_mpi_result_series_summary: %s", gpudf_last_error());
  return GPUDF_OK;
}
