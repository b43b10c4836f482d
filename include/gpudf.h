/*
 * gpudf.h - the whole public API of libgpudf.
 *
 * libgpudf keeps ONE copy of a typed columnar table in shared memory (and, with
 * a GPU, in device memory), publishes it under a name, and lets any number of
 * processes of the same user attach to it read-only and run kernels over it
 * for batches of configs.
 *
 * Conventions
 *  - Every fallible call returns gpudf_status. GPUDF_OK is 0; the other values
 *    equal the Linux errno values of the same name, so strerror-style code can
 *    treat them alike. After a non-OK return, gpudf_last_error() gives a
 *    thread-local message saying what failed, where and why. The message is
 *    left unchanged by successful calls.
 *  - Handles are opaque. Every create/open has a free/close that accepts NULL.
 *    A NULL handle (or out pointer) given to a call that returns a status is
 *    GPUDF_EINVAL with a message naming the call and the argument
 *    ("gpudf_run: table is NULL"); a getter given NULL returns 0, NULL, "",
 *    GPUDF_BACKEND_AUTO or GPUDF_CONFIG_PENDING, as written beside it.
 *  - Kernels are named by the const gpudf_kernel * of gpudf_kernel_find.
 *  - Option and definition structs start with size_t size (set by their
 *    init function) and are read up to it: fields past a smaller size get
 *    their defaults; a larger size is accepted only when the bytes past
 *    this library's struct are zero; size 0 (not initialised) is refused.
 *  - Ownership is written next to each function ("on success the caller owns").
 *  - Longer explanations, per group of functions: docs/api.md.
 *  - This header is plain C11 with no macros in declarations and no system
 *    types beyond <stdint.h>/<stddef.h>, so cffi's cdef() can read it after the
 *    preprocessor lines are dropped. The library never exits or aborts on bad
 *    input.
 */
#ifndef GPUDF_H
#define GPUDF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

/* Compile-time version; gpudf_version_number() gives the run-time one. */
enum {
  GPUDF_VERSION_MAJOR = 0,
  GPUDF_VERSION_MINOR = 6,
  GPUDF_VERSION_PATCH = 0,
  GPUDF_VERSION_NUMBER = 600 /* major * 10000 + minor * 100 + patch */
};

/* "0.6.0", a static string (gpudf_version_number: 600). A program built
 * against this header needs libgpudf 0.4 or later: check
 * gpudf_version_number() at start. What changed per version: docs/api.md. */
const char *gpudf_version(void);
int gpudf_version_number(void);

/* ----------------------------------------------------------------- errors */

typedef enum gpudf_status {
  GPUDF_OK = 0,
  GPUDF_EPERM = 1,         /* segment owned by another user, or not ours to change */
  GPUDF_ENOENT = 2,        /* no share, kernel, column or file of that name */
  GPUDF_EIO = 5,           /* a system call failed; the message has its errno text */
  GPUDF_EAGAIN = 11,       /* share exists but is not ready yet */
  GPUDF_ENOMEM = 12,       /* out of host memory (or device memory) */
  GPUDF_EBUSY = 16,        /* table is shared and can no longer change */
  GPUDF_EEXIST = 17,       /* name already published by a live owner */
  GPUDF_ENODEV = 19,       /* backend or device not available */
  GPUDF_EINVAL = 22,       /* bad argument or config; the message names it */
  GPUDF_ENOSPC = 28,       /* /dev/shm (or the device) has no room for it */
  GPUDF_ENAMETOOLONG = 36, /* share or column name too long */
  GPUDF_EBADMSG = 74,      /* segment failed validation: magic, version, checksum, size */
  GPUDF_EOVERFLOW = 75,    /* sizes overflow */
  GPUDF_ECANCELED = 125,   /* operation was cancelled */
  GPUDF_EOWNERDEAD = 130   /* the process that published the share is dead */
} gpudf_status;

/* Static string naming the status ("GPUDF_EINVAL: invalid argument"). */
const char *gpudf_status_str(gpudf_status status);

/* Thread-local message of the last failed call on this thread. Never NULL. */
const char *gpudf_last_error(void);

/* ----------------------------------------------------------------- tables */

typedef enum gpudf_type {
  GPUDF_TYPE_I32 = 1,
  GPUDF_TYPE_I64 = 2,
  GPUDF_TYPE_F32 = 3,
  GPUDF_TYPE_F64 = 4,
  GPUDF_TYPE_BOOL = 5 /* one byte per value, 0 or 1 */
} gpudf_type;

/* Limits of the table format. */
enum {
  GPUDF_NAME_MAX = 63,     /* bytes in a column or share name, without the NUL */
  GPUDF_MAX_COLUMNS = 4096,
  GPUDF_ALIGNMENT = 256    /* every column starts on this boundary */
};

/* An owner's table, or a read-only view attached by name. */
typedef struct gpudf_table gpudf_table;

/* "i32", "i64", "f32", "f64", "bool"; NULL for an unknown type. */
const char *gpudf_type_name(gpudf_type type);
/* Bytes per value; 0 for an unknown type. */
size_t gpudf_type_size(gpudf_type type);

/* Creates an empty table of nrows rows (nrows >= 1) whose arena lives in a
 * shared-memory segment from the start. On success the caller owns *out and
 * frees it with gpudf_table_free. */
gpudf_status gpudf_table_create(int64_t nrows, gpudf_table **out);

/* Appends a column and copies nrows values from data into the arena (bool:
 * any non-zero byte is stored as 1). The name is 1..63 bytes and unique in the
 * table. Column pointers obtained before this call become invalid. Fails with
 * GPUDF_EBUSY once the table is shared, GPUDF_EPERM on a view. */
gpudf_status gpudf_table_add_column(gpudf_table *table, const char *name,
                                    gpudf_type type, const void *data);

/* Appends a column without filling it and gives a writable pointer to its
 * nrows values (zero-filled), for loaders that write straight into the arena.
 * The pointer is valid until the next column is added or the table is shared. */
gpudf_status gpudf_table_alloc_column(gpudf_table *table, const char *name,
                                      gpudf_type type, void **data);

/* Frees a table you created or detaches a view you attached. A table that is
 * still shared stays published until its share is closed. NULL is harmless. */
void gpudf_table_free(gpudf_table *table);

/* Rows and columns; 0 for NULL. */
int64_t gpudf_table_nrows(const gpudf_table *table);
int gpudf_table_ncols(const gpudf_table *table);
/* 1 for a view obtained from gpudf_attach, 0 for an owner's table. */
int gpudf_table_is_view(const gpudf_table *table);
/* Column name, or NULL when index is out of range. Valid while the table is. */
const char *gpudf_table_column_name(const gpudf_table *table, int index);
/* Column type, or 0 when index is out of range. */
gpudf_type gpudf_table_column_type(const gpudf_table *table, int index);
/* Read-only pointer to the column's nrows values (256-byte aligned), or NULL
 * when index is out of range. Valid while the table or view is. */
const void *gpudf_table_column_data(const gpudf_table *table, int index);
/* Index of the column called name. */
gpudf_status gpudf_table_find_column(const gpudf_table *table, const char *name,
                                     int *index);
/* Bytes of shared memory that hold the columns; 0 for NULL. */
int64_t gpudf_table_arena_bytes(const gpudf_table *table);

/* ------------------------------------------------------------ categoricals */

/* Limits of a categorical column's dictionary. */
enum {
  GPUDF_LABELS_MAX = 16777216, /* labels in one dictionary */
  GPUDF_LABEL_MAX = 4095       /* bytes in one label, without the NUL */
};

/* Appends a categorical column: nrows i32 codes (-1 = missing, else
 * 0..nlabels-1) plus its dictionary of nlabels labels (0..GPUDF_LABELS_MAX),
 * NUL-terminated strings of at most GPUDF_LABEL_MAX bytes. The labels are
 * copied into the shared arena right after the codes, so views attached in
 * other processes see them. Same rules as gpudf_table_add_column otherwise;
 * GPUDF_EINVAL names the first bad code or label. */
gpudf_status gpudf_table_add_categorical(gpudf_table *table, const char *name,
                                         const int32_t *codes, int32_t nlabels,
                                         const char *const *labels);

/* 1 when the column carries a dictionary (a categorical column), else 0. */
int gpudf_table_column_is_categorical(const gpudf_table *table, int col);
/* Number of labels of a categorical column; 0 for any other column or an
 * index out of range. */
int32_t gpudf_table_column_nlabels(const gpudf_table *table, int col);
/* Label of code in a categorical column, or NULL when the column is not
 * categorical or code is out of range (-1 included). Valid while the table
 * or view is. */
const char *gpudf_table_column_label(const gpudf_table *table, int col, int32_t code);

/* -------------------------------------------------------------------- CSV */

/* Column types of gpudf_table_read_csv. */
typedef enum gpudf_csv_type {
  GPUDF_CSV_INFER = 0,   /* from every value of the column (the default) */
  GPUDF_CSV_INT64 = 1,   /* i64; an empty field or an integer beyond int64 is an error */
  GPUDF_CSV_FLOAT64 = 2, /* f64; empty fields and NaN/NA/NULL are NaN; every number,
                            integers beyond 2^53 included, is rounded to the nearest
                            double (the opt-in for integers no inferred type takes) */
  GPUDF_CSV_BOOL = 3,    /* bool from true/false (True/TRUE, False/FALSE) */
  GPUDF_CSV_CATEGORY = 4 /* i32 codes plus a dictionary of the distinct strings */
} gpudf_csv_type;

/* A forced type for the column called name. */
typedef struct gpudf_csv_column_type {
  const char *name;
  gpudf_csv_type type;
} gpudf_csv_column_type;

enum { GPUDF_CSV_OPTIONS_VERSION = 1 };

typedef struct gpudf_csv_options {
  size_t size;       /* sizeof(gpudf_csv_options), set by init */
  int version;       /* GPUDF_CSV_OPTIONS_VERSION, set by init */
  char delimiter;    /* default ',' */
  int ntypes;        /* forced types (default 0); every name must be a column */
  const gpudf_csv_column_type *types;
  int threads;       /* threads that parse (default 0: the environment variable
                        GPUDF_THREADS, else the online CPUs); new in 0.6: a
                        struct of an older header ends before it */
} gpudf_csv_options;

/* Fills opts with the defaults and sets size and version. NULL: nothing. */
void gpudf_csv_options_init(gpudf_csv_options *opts);

/* Reads a CSV file with a header row into a new table, parsing straight
 * into its shared arena; types inferred per column (never rounding an
 * integer unless asked) or forced by opts (NULL: defaults). On success the
 * caller owns *out (gpudf_table_free). Errors: GPUDF_EINVAL with
 * "FILE:LINE:COLUMN: ...", GPUDF_ENOENT, GPUDF_EPERM, GPUDF_EIO,
 * GPUDF_ENAMETOOLONG, GPUDF_ENOMEM, GPUDF_ENOSPC. Inference rules and the
 * order of checks: docs/api.md, "CSV". */
gpudf_status gpudf_table_read_csv(const char *path, const gpudf_csv_options *opts,
                                  gpudf_table **out);

/* ---------------------------------------------------------- share, attach */

typedef enum gpudf_backend {
  GPUDF_BACKEND_AUTO = 0,        /* best that works: cuda-ipc, cuda-pinned, cpu */
  GPUDF_BACKEND_CPU = 1,         /* host shared memory, CPU kernels */
  GPUDF_BACKEND_CUDA_PINNED = 2, /* host shared memory registered with the GPU */
  GPUDF_BACKEND_CUDA_IPC = 3     /* device memory shared through CUDA IPC */
} gpudf_backend;

typedef struct gpudf_share gpudf_share;

/* "auto", "cpu", "cuda-pinned", "cuda-ipc"; NULL for an unknown value. */
const char *gpudf_backend_name(gpudf_backend backend);
/* Parses one of the names above. */
gpudf_status gpudf_backend_parse(const char *text, gpudf_backend *out);
/* 1 when the backend can be used in this process, else 0; when why is not
 * NULL it receives a static sentence saying why not (or "available"). */
int gpudf_backend_available(gpudf_backend backend, const char **why);

/* Publishes the table under name ([A-Za-z0-9._-], 1..63 bytes; NULL: a
 * unique name) for other processes of this user; the table is read-only
 * afterwards, with at most one open share. On success the caller owns *out
 * (gpudf_share_close), which keeps the table's memory alive. Errors:
 * GPUDF_EEXIST, GPUDF_ENODEV (a forced backend that cannot work; never a
 * silent downgrade), GPUDF_ENOSPC, GPUDF_EINVAL. GPUDF_BACKEND overrides
 * AUTO: docs/api.md, "Share and attach". */
gpudf_status gpudf_table_share(gpudf_table *table, const char *name,
                               gpudf_backend backend, gpudf_share **out);

/* Options of gpudf_table_share_ex (0.5). */
enum { GPUDF_SHARE_OPTIONS_VERSION = 1 };

typedef struct gpudf_share_options {
  size_t size;           /* sizeof(gpudf_share_options), set by init */
  int version;           /* GPUDF_SHARE_OPTIONS_VERSION, set by init */
  gpudf_backend backend; /* default AUTO (then GPUDF_BACKEND) */
  /* Devices that get a replica (cuda-ipc; cuda-pinned registers with the
   * first): "all", or ordinals and UUIDs ("GPU-xxxxxxxx-xxxx-xxxx-xxxx-
   * xxxxxxxxxxxx") separated by commas. NULL (default): GPUDF_DEVICES, else
   * "all". Under "all" a device without room is skipped
   * (gpudf_share_skipped says which and why); a named device that cannot
   * hold a replica is an error. docs/placements.md, "Several GPUs". */
  const char *devices;
} gpudf_share_options;

/* Fills opts with the defaults and sets size and version. NULL: nothing. */
void gpudf_share_options_init(gpudf_share_options *opts);

/* gpudf_table_share with options (NULL: the defaults); gpudf_table_share is
 * this with only the backend set. Errors as gpudf_table_share, and
 * GPUDF_EINVAL for a malformed device list, GPUDF_ENODEV for a named device
 * this process does not see, GPUDF_ENOMEM for one without room,
 * GPUDF_EBUSY for devices other than the replicas a table got at its first
 * device share (sharing it again names those, "all" or nothing). */
gpudf_status gpudf_table_share_ex(gpudf_table *table, const char *name,
                                  const gpudf_share_options *opts, gpudf_share **out);

/* Device replicas of a cuda-ipc share (0 otherwise), and the UUID text of
 * replica i ("GPU-...", NULL out of range). The first holds the one upload
 * from the host; the others were filled device to device. */
int gpudf_share_nreplicas(const gpudf_share *share);
const char *gpudf_share_replica_device(const gpudf_share *share, int i);
/* A replica added later (0.5): a process that sees a device the share
 * called name has no replica on (an MPI rank given one GPU by
 * CUDA_VISIBLE_DEVICES) adds one on the calling thread's current device,
 * uploaded from the shared host arena; attachers on that device then read
 * it. It lives until gpudf_replica_free or this process's exit (kill -9
 * included), whichever comes first, and at most until the share's owner
 * frees the table. A view in another process that reads it is then told on
 * its next device call (gpudf_run, gpudf_table_column_device: GPUDF_ENOENT
 * naming this process and the device, 0.6; attaching again picks another
 * replica, a peer's or the pinned host arena, in the attach order), so keep
 * it until its readers are done. Errors: GPUDF_EINVAL (not a cuda-ipc share), GPUDF_EEXIST
 * (the device has a replica), GPUDF_ENODEV, GPUDF_ENOMEM (no room: the sizes),
 * GPUDF_ENOSPC (16 replicas already), and those of gpudf_attach. */
typedef struct gpudf_replica gpudf_replica;
gpudf_status gpudf_share_add_replica(const char *name, gpudf_replica **out);
/* UUID text of its device; NULL for NULL. */
const char *gpudf_replica_device(const gpudf_replica *replica);
/* Frees the device copy and withdraws it. NULL is harmless. */
void gpudf_replica_free(gpudf_replica *replica);

/* Devices left out under "all" and why (room missing, a failed copy), one
 * sentence per device separated by "; ", or "". Valid while the share is. */
const char *gpudf_share_skipped(const gpudf_share *share);

/* The published name and the backend in use. Valid while the share is.
 * NULL and GPUDF_BACKEND_AUTO for NULL. */
const char *gpudf_share_name(const gpudf_share *share);
gpudf_backend gpudf_share_backend(const gpudf_share *share);

/* Unpublishes the name. Processes already attached keep a valid view until
 * they detach. NULL is harmless. */
void gpudf_share_close(gpudf_share *share);

/* Where kernels read this table or view: GPUDF_BACKEND_CPU, or the device
 * placement in use in this process. An owner's table is placed when it is
 * first shared; a view gets the best placement its share offers and this
 * process can use (a worker whose IPC open fails reports cuda-pinned here).
 * GPUDF_BACKEND_AUTO for NULL. */
gpudf_backend gpudf_table_backend(const gpudf_table *table);
/* Device address of the column's nrows values (for CUDA kernels of the
 * caller), or NULL when the table has no device placement or index is out of
 * range. cuda-ipc: device memory; cuda-pinned: the mapped host arena. Valid
 * while the table or view is. */
const void *gpudf_table_column_device_data(const gpudf_table *table, int index);
/* The same device address, checked, and the ordinal in this process of the
 * device it belongs to (a view's cuda-ipc memory: the device its IPC handle
 * was opened on, found by UUID), for handing a column to another GPU
 * library (the Python package's device columns). Never a host address where
 * no device can read it. Errors: GPUDF_EINVAL (NULL, index out of range),
 * GPUDF_ENODEV (the cpu placement: the message says how to get a device
 * one), GPUDF_EOWNERDEAD (a cuda-ipc view whose owner process died: its
 * device memory went with it), GPUDF_ENOENT (a cuda-ipc view whose owner
 * freed the table while running, 0.6; or whose replica was added by
 * another process that freed it or is no longer running, 0.6, naming that
 * process and the device; gpudf_run over such a view fails the same
 * ways). On error *data is NULL and *device -1. */
gpudf_status gpudf_table_column_device(const gpudf_table *table, int index,
                                       const void **data, int *device);

/* How this process's kernels reach a table (0.5). */
typedef enum gpudf_access {
  GPUDF_ACCESS_HOST = 0,    /* cpu: host memory */
  GPUDF_ACCESS_REPLICA = 1, /* the replica on the device the kernels run on */
  GPUDF_ACCESS_PEER = 2,    /* no replica there: one on a peer device, read across */
  GPUDF_ACCESS_PINNED = 3   /* the host arena registered with the device */
} gpudf_access;
/* GPUDF_ACCESS_HOST for NULL. An attach picks, in this order: the replica
 * on the calling thread's current device, a replica on a device that one
 * can access as a peer, the host arena pinned, cpu. */
gpudf_access gpudf_table_access(const gpudf_table *table);
/* UUID text of the device the table's kernels run on ("GPU-..."), or NULL
 * on cpu. Valid while the table or view is. */
const char *gpudf_table_device(const gpudf_table *table);

/* Attaches to the table published under name as a read-only view, without
 * copying (mappings of recently used shares are kept and reused). On
 * success the caller owns *view (gpudf_table_free). Errors: GPUDF_ENOENT,
 * GPUDF_EBADMSG, GPUDF_EOWNERDEAD (owner dead; see gpudf_cleanup),
 * GPUDF_EPERM. Mapping reuse: docs/api.md, "Share and attach". */
gpudf_status gpudf_attach(const char *name, gpudf_table **view);

/* Removes this user's segments whose owner process is dead, and the
 * tombstones that make attaches of such a name fail with GPUDF_EOWNERDEAD
 * for 30 s. *removed (may be NULL) counts segments. Errors: GPUDF_EIO.
 * Tombstones: docs/api.md, "Share and attach". */
gpudf_status gpudf_cleanup(int *removed);

/* Unmaps now the idle mappings gpudf_attach keeps of shares this process
 * attached and no longer uses (no view left), and returns how many. */
int gpudf_unmap_idle(void);

/* ---------------------------------------------------------------- kernels */

typedef struct gpudf_kernel gpudf_kernel;

typedef enum gpudf_param_kind {
  GPUDF_PARAM_COLUMN = 1,  /* a column index of the table */
  GPUDF_PARAM_INTEGER = 2, /* an integral value in [min, max] */
  GPUDF_PARAM_REAL = 3,    /* a real value in [min, max], never NaN */
  GPUDF_PARAM_CHOICE = 4   /* an index into choices[] */
} gpudf_param_kind;

typedef struct gpudf_param_info {
  const char *name;
  const char *summary;
  gpudf_param_kind kind;
  double def;                 /* default value */
  double min;                 /* inclusive bounds (integer, real) */
  double max;
  int nchoices;               /* choice parameters: number of choices */
  const char *const *choices; /* their names, in index order */
  int shape;                  /* 1: must be equal in every config of a batch */
} gpudf_param_info;

/* The column types a column parameter accepts, as a bit mask. A categorical
 * column is only GPUDF_ACCEPT_CATEGORICAL, never GPUDF_ACCEPT_I32: its codes
 * are labels, and a parameter that computes with numbers does not take it. */
typedef enum gpudf_accept {
  GPUDF_ACCEPT_I32 = 2,
  GPUDF_ACCEPT_I64 = 4,
  GPUDF_ACCEPT_F32 = 8,
  GPUDF_ACCEPT_F64 = 16,
  GPUDF_ACCEPT_BOOL = 32,
  GPUDF_ACCEPT_CATEGORICAL = 64, /* compared as labels (equal or not), or a group key */
  GPUDF_ACCEPT_NUMBERS = 30,     /* i32 i64 f32 f64: quantities such as prices */
  GPUDF_ACCEPT_NUMERIC = 62,     /* the numbers and bool (as 0/1) */
  GPUDF_ACCEPT_INTEGERS = 38,    /* i32 i64 bool: keys */
  GPUDF_ACCEPT_ANY = 126
} gpudf_accept;

typedef struct gpudf_result_info {
  char name[64];
  const char *summary;
} gpudf_result_info;

/* Built-in and registered kernels, in registration order. */
int gpudf_kernel_count(void);
/* The kernel at index, or NULL when out of range. */
const gpudf_kernel *gpudf_kernel_at(int index);
gpudf_status gpudf_kernel_find(const char *name, const gpudf_kernel **out);

/* Name, summary and parameter count; NULL, NULL and 0 for NULL (with
 * gpudf_last_error set). */
const char *gpudf_kernel_name(const gpudf_kernel *kernel);
const char *gpudf_kernel_summary(const gpudf_kernel *kernel);
int gpudf_kernel_nparams(const gpudf_kernel *kernel);
/* Describes parameter index; the strings are static. */
gpudf_status gpudf_kernel_param(const gpudf_kernel *kernel, int index,
                                gpudf_param_info *out);
gpudf_status gpudf_kernel_param_index(const gpudf_kernel *kernel,
                                      const char *name, int *index);
/* The column types column parameter index accepts (gpudf_accept bits): a
 * config naming a column of another type is GPUDF_EINVAL, with a message
 * naming the column and its type. 0 when index is not a column parameter. */
int gpudf_kernel_param_accepts(const gpudf_kernel *kernel, int index);
/* The column a column parameter takes when a config does not say: the
 * first column of table of an accepted type, preferring the kernel's
 * typical names (ma_crossover: close, adj close, adj_close, price). Errors:
 * GPUDF_EINVAL (NULL kernel or table, not a column parameter, no column
 * fits: the message names the table's columns and types). */
gpudf_status gpudf_kernel_default_column(const gpudf_kernel *kernel, int index,
                                         const gpudf_table *table, int *col);
/* Fills config[0..nparams) with every parameter's default. */
gpudf_status gpudf_kernel_defaults(const gpudf_kernel *kernel, double *config);
/* 1 when kernel's results depend on the order of the rows (a time series,
 * as ma_crossover: a sweep with a series column runs it per series), 0
 * otherwise and for NULL. */
int gpudf_kernel_row_order(const gpudf_kernel *kernel);
/* 0.6: the order in which gpudf_sweep groups configs that share a pass over
 * the table (configs with equal gpudf_kernel_def.pass_key: filter_agg, one
 * pass per filter and value column pair, whatever the number of configs),
 * for programs that hand configs out themselves (libgpudf_mpi). order
 * (n entries) gets the configs' indices sorted by pass key, stably (equal
 * keys keep the caller's order); groups (NULL, or room for n + 1) the
 * position in order where each group starts, then n; *ngroups their number.
 * A kernel without a pass key: order is 0..n-1 and *ngroups is 0 (any cut
 * costs nothing). GPUDF_EINVAL for NULL kernel, ngroups, or configs/order
 * with n > 0. */
gpudf_status gpudf_kernel_pass_order(const gpudf_kernel *kernel, const double *configs,
                                     int64_t n, int64_t *order, int64_t *groups,
                                     int64_t *ngroups);
/* 0.6: row splits for programs that hand out a sweep's work themselves
 * (libgpudf_mpi), by the rule gpudf_sweep follows (docs/sweep.md,
 * "Row-split sweeps"). gpudf_sweep_split_ranges: the number of near-equal
 * row ranges (range r of R is rows [floor(nrows r / R), floor(nrows (r+1)
 * / R))) a sweep by `workers` workers cuts the rows into for these
 * validated configs in ngroups pass groups (gpudf_kernel_pass_order; 0: no
 * pass key), $GPUDF_SWEEP_SPLIT included; 0: no split (a kernel without a
 * merge or with row order, a table not on the CPU, groups enough, too few
 * rows, NULL arguments). Series sweeps never split. */
int64_t gpudf_sweep_split_ranges(const gpudf_table *table, const gpudf_kernel *kernel,
                                 const double *configs, int64_t n, int64_t ngroups,
                                 int workers);
/* 0.6: doubles of one config's partial state; 0 for a kernel that cannot
 * split rows (or NULL arguments). */
int gpudf_kernel_state_width(const gpudf_kernel *kernel, const double *config);
/* 0.6: n configs (validated here) over table rows [row_lo, row_hi) only, on
 * the table's host copy, into n partial states (n x
 * gpudf_kernel_state_width, the caller's). GPUDF_ENODEV for a kernel that
 * cannot split or a table without a host copy, GPUDF_EINVAL for rows
 * outside the table. */
gpudf_status gpudf_run_partial(const gpudf_table *table, const gpudf_kernel *kernel,
                               const double *configs, int64_t n, int64_t row_lo, int64_t row_hi,
                               double *states);
/* 0.6: config's result row from its states over nranges consecutive row
 * ranges (nranges x state width, first rows first), merged in that order
 * as gpudf_sweep merges them: equal to gpudf_sweep's row-split result bit
 * for bit when the ranges are the same. */
gpudf_status gpudf_kernel_merge_states(const gpudf_kernel *kernel, const double *config,
                                       const double *states, int nranges, double *result);

/* Number of result values per config. Some kernels' widths depend on a shape
 * parameter; config gives it (NULL means the defaults). 0, with
 * gpudf_last_error() set, when a shape parameter of config is not a valid
 * value (NaN, out of range, not a whole number). */
int gpudf_kernel_nresults(const gpudf_kernel *kernel, const double *config);
gpudf_status gpudf_kernel_result(const gpudf_kernel *kernel,
                                 const double *config, int index,
                                 gpudf_result_info *out);
/* Every result name of config (NULL: the defaults) in one call, each
 * followed by a NUL, into buf[0..size), the caller's. *needed (when not
 * NULL) gets the bytes needed, so buf = NULL, size = 0 asks for the size.
 * Errors: GPUDF_EOVERFLOW (size < *needed), GPUDF_EINVAL (NULL kernel, NULL
 * buf with size > 0, a bad shape parameter). docs/api.md, "Kernels". */
gpudf_status gpudf_kernel_result_names(const gpudf_kernel *kernel,
                                       const double *config, char *buf,
                                       size_t size, size_t *needed);

/* Limits of the built-in kernels' shape parameters. */
enum {
  GPUDF_GROUPS_MAX = 65536, /* groupby_agg: groups */
  GPUDF_BINS_MAX = 65536    /* histogram: bins */
};

/* Computes once, in the owner, what the kernel's configs would otherwise
 * recompute per batch, as derived columns of the table (ma_crossover:
 * prefix sums, "__prefix.*"); call it before gpudf_table_share. Validates
 * the configs first; does nothing for kernels that need no preparation.
 * Errors: GPUDF_EINVAL (NULL table or kernel, a bad config), GPUDF_EBUSY
 * (shared), GPUDF_EPERM (a view). Details and ma_crossover's rules:
 * docs/api.md, "Validate, run, prepare". */
gpudf_status gpudf_table_prepare(gpudf_table *table, const gpudf_kernel *kernel,
                                 const double *configs, int64_t n);

/* Checks n configs (a dense n x nparams row-major matrix) against the table
 * without running them. The first bad config gives GPUDF_EINVAL with a message
 * naming its index, the parameter and the rule it breaks. */
gpudf_status gpudf_validate(const gpudf_table *table, const gpudf_kernel *kernel,
                            const double *configs, int64_t n);

/* Validates every config, then evaluates the batch in the calling process
 * into results (a dense n x nresults row-major matrix). n may be 0. On error
 * results are left unspecified. */
gpudf_status gpudf_run(const gpudf_table *table, const gpudf_kernel *kernel,
                       const double *configs, int64_t n, double *results);


/* ------------------------------------------------- user kernels, plugins */

/* Sets the calling thread's gpudf_last_error() message to message, verbatim,
 * and returns status: how a user kernel's check or run_cpu says why it
 * failed. */
gpudf_status gpudf_set_error(gpudf_status status, const char *message);

/* A kernel written outside the library. Fields marked optional may be NULL.
 * Fill it with gpudf_kernel_def_init first. Versioned by its size: a def
 * from an older gpudf.h (ending before pass_key or accepts) is accepted and
 * the fields past its size count as NULL. */
typedef struct gpudf_kernel_def {
  size_t size;                      /* sizeof(gpudf_kernel_def), set by init */
  const char *name;                 /* 1..63 bytes, unique among kernels */
  const char *summary;              /* optional */
  int nparams;                      /* 0..64 */
  const gpudf_param_info *params;   /* nparams entries (shape: see above) */
  int nfields;                      /* result values per config, >= 1 */
  const gpudf_result_info *fields;  /* nfields entries */
  /* Optional: result width of a config when it depends on a shape
   * parameter; NULL means nfields. */
  int (*nresults)(const double *config);
  /* Optional: name of result index i when nresults is set. */
  void (*result_name)(const double *config, int i, gpudf_result_info *out);
  /* Optional: the rules that span parameters, after the per-parameter checks
   * passed. Returns GPUDF_OK, or a status after gpudf_set_error. */
  gpudf_status (*check)(const gpudf_table *table, const double *config);
  /* Evaluates n validated configs (n x nparams) into results (n x width). */
  gpudf_status (*run_cpu)(const gpudf_table *table, const double *configs, int64_t n,
                          double *results);
  /* Optional (0.2): equal keys for configs that share one pass over the
   * table (e.g. their column indices packed), so that a sweep claims them
   * together; NULL: the caller's order. docs/api.md, "User kernels". */
  uint64_t (*pass_key)(const double *config);
  /* Optional (0.3): per parameter, the column types a column parameter
   * accepts (gpudf_accept bits); NULL or 0: GPUDF_ACCEPT_NUMERIC, so a
   * categorical column is refused unless GPUDF_ACCEPT_CATEGORICAL is set. */
  const int *accepts;
  /* Optional (0.6): row splitting, so that a sweep can split the rows of
   * one pass between workers (docs/sweep.md, "Row-split sweeps"). run_rows
   * is run_cpu over table rows [row_lo, row_hi) only (the results of those
   * rows alone); merge folds part, a config's result row over some rows,
   * into acc, its result row over the rows just before them, so that acc
   * becomes the result over both (it must work on a result of no rows).
   * Set both or neither; a kernel whose results depend on row order sets
   * neither. A def from an older header ends before them: never split. */
  gpudf_status (*run_rows)(const gpudf_table *t, int64_t row_lo, int64_t row_hi,
                           const double *configs, int64_t n, double *results);
  void (*merge)(const double *config, double *acc, const double *part);
} gpudf_kernel_def;

/* Zeroes def and sets its size. NULL: nothing. */
void gpudf_kernel_def_init(gpudf_kernel_def *def);

/* Called by a long run_cpu between blocks with the fraction 0..1 of its
 * batch done (clamped; NaN is 0), so that a sweep's progress moves and a
 * cancel is noticed. Returns non-zero once the sweep is being cancelled:
 * stop and return GPUDF_ECANCELED. Outside a sweep it returns 0.
 * docs/api.md, "User kernels and plugins". */
int gpudf_kernel_progress(double fraction);

/* Adds a kernel to this process's registry. def is copied (read up to
 * def->size); the strings and arrays it points to are not and must live as
 * long as the process. *out (out may be NULL) is valid for the life of the
 * process. Errors: GPUDF_EEXIST (name taken), GPUDF_ENOSPC (64 kernels),
 * GPUDF_EINVAL (a def that could never be called, or its size: see
 * docs/api.md, "Versioned structs"). */
gpudf_status gpudf_kernel_register(const gpudf_kernel_def *def, const gpudf_kernel **out);

/* Loads a plugin: a shared library exporting
 *     gpudf_status gpudf_plugin_init(void);
 * which registers its kernels with gpudf_kernel_register. Loading the same
 * file again does nothing. The library stays loaded for the life of the
 * process. GPUDF_ENOENT when path does not exist, GPUDF_EINVAL when it is not
 * a loadable library or has no gpudf_plugin_init, and the init's own status
 * (with its message) when it fails. */
gpudf_status gpudf_plugin_load(const char *path);

/* ------------------------------------------------------------------ sweep */

/* Limits and defaults of gpudf_sweep. */
enum {
  GPUDF_SWEEP_OPTIONS_VERSION = 1,
  GPUDF_SWEEP_WORKERS_DEFAULT = -1, /* workers_per_device per device of a GPU placement
                                     * (cuda-ipc, cuda-pinned), one per core (cpu) */
  GPUDF_SWEEP_WORKERS_MAX = 256,    /* more is GPUDF_EINVAL */
  GPUDF_SWEEP_PLUGINS_MAX = 16,
  GPUDF_SWEEP_REASON_MAX = 256      /* bytes of a per-config reason, with the NUL */
};

/* Final state of one config. */
typedef enum gpudf_config_state {
  GPUDF_CONFIG_PENDING = 0,   /* never finished (only seen on internal errors) */
  GPUDF_CONFIG_DONE = 1,      /* its results are valid */
  GPUDF_CONFIG_FAILED = 2,    /* kernel error, or its worker crashed on every try */
  GPUDF_CONFIG_TIMED_OUT = 3, /* ran past time_limit_s */
  GPUDF_CONFIG_CANCELLED = 4  /* the sweep was cancelled before it ran */
} gpudf_config_state;

/* What the progress callback sees, about 10 times a second and once at the
 * end. */
typedef struct gpudf_sweep_progress {
  int64_t done;      /* configs finished with results */
  int64_t failed;    /* failed or timed out */
  int64_t total;
  double elapsed_s;
  double eta_s;      /* estimated seconds left, from fraction; negative while unknown */
  double fraction;   /* of the sweep's work done, 0..1: finished configs plus the part
                      * of the running batches their kernels report done
                      * (gpudf_kernel_progress); never decreases within a sweep */
} gpudf_sweep_progress;

/* Returning non-zero cancels the sweep (as SIGINT would). */
typedef int (*gpudf_sweep_progress_fn)(const gpudf_sweep_progress *progress, void *user);

typedef struct gpudf_sweep_options {
  size_t size;             /* sizeof(gpudf_sweep_options), set by init */
  int version;             /* GPUDF_SWEEP_OPTIONS_VERSION, set by init */
  int workers;             /* 0: in the calling process; default GPUDF_SWEEP_WORKERS_DEFAULT */
  gpudf_backend backend;   /* placement when the sweep shares the table; default AUTO */
  int64_t batch;           /* most configs per claim; 0 (default): automatic */
  double time_limit_s;     /* per config; 0 (default): none. Needs workers >= 1 */
  int retries;             /* re-runs of a config whose worker died; default 1 */
  gpudf_sweep_progress_fn progress; /* optional, e.g. gpudf_progress_bar */
  void *progress_user;
  int nplugins;            /* plugin libraries loaded here and by every worker */
  const char *const *plugins;
  /* (0.4) Column naming the series of a long-format table (a categorical or
   * an integer column: one label per symbol), or -1 (the default, and what
   * a struct from an older header gets): none. For a kernel whose results
   * depend on row order (ma_crossover) each config then runs on every
   * series' own rows, in the file's order (docs/sweep.md, "Many series"):
   * the n configs become n * S result rows, row k * S + s being config k on
   * series s (gpudf_sweep_series_count gives S, gpudf_sweep_result_series
   * the label). Kernels that do not depend on row order ignore it. */
  int series;
  /* (0.6) Column giving the time of each row of a series, or -1 (the
   * default, and what a struct from an older header gets): the file's
   * order. A numeric column, or a categorical one whose labels are
   * ISO-8601 dates or timestamps of one format (others are refused, as is
   * a row of a series without a time). Rows are ordered by it within each
   * series (stably: equal times keep the file's order). */
  int time;
  /* (0.6) Workers per device for GPU placements (cuda-ipc, cuda-pinned),
   * 1..GPUDF_SWEEP_WORKERS_MAX; default 1 (and what a struct from an older
   * header gets). The default workers are then this many per device of the
   * share (a device skipped for room counts for none), and workers = 0 runs
   * this many threads per device in the calling process. Ignored on the
   * cpu placement; explicit workers >= 1 are dealt over the devices in
   * turn whatever it is. */
  int workers_per_device;
} gpudf_sweep_options;

/* Fills opts with the defaults and sets size and version. NULL: nothing. */
void gpudf_sweep_options_init(gpudf_sweep_options *opts);

/* Outcome of a sweep: per-config states and reasons, and a report. */
typedef struct gpudf_sweep_result gpudf_sweep_result;

typedef struct gpudf_sweep_report {
  int64_t total;
  int64_t done;
  int64_t failed;
  int64_t timed_out;
  int64_t cancelled;
  int64_t retried;          /* config re-runs after a worker died or timed out */
  int workers;              /* worker processes asked for (0: in process) */
  int workers_started;      /* processes spawned, replacements included */
  int workers_lost;         /* died by a signal or exited during a claim */
  gpudf_backend backend;    /* placement the kernels ran on */
  char fallback[128];       /* why the placement differs from the one asked, or "" */
  char worker_path[256];    /* gpudf-worker executable used, or "" */
  double wall_s;            /* from the call to the return */
  double first_result_s;    /* from the call to the first finished batch; negative: none */
} gpudf_sweep_report;

typedef struct gpudf_sweep_worker_info {
  int pid;                  /* 0 for the calling process (workers = 0: one entry per
                             * thread, one thread per device of a GPU placement) */
  int64_t configs;          /* configs it finished */
  int64_t batches;
  double busy_s;            /* time spent in kernels */
  double alive_s;           /* from spawn to exit */
  char exit[96];            /* "exited 0", "killed by signal 9", ... */
  /* 0.5: UUID text of the device its kernels ran on ("GPU-..."), "" on the
   * cpu. A cuda-ipc sweep binds worker i to the i-th replica's device
   * (modulo their number); per-device totals add up its workers. */
  char device[48];
} gpudf_sweep_worker_info;

/* Runs kernel over n configs (n x nparams) on table, in this process
 * (workers = 0) or in worker processes, into results (n x nresults). An
 * owner's unshared table is shared for the sweep (then read-only). opts
 * may be NULL for the defaults (read up to opts->size). Every config is
 * validated before anything starts. When out is not NULL, *out gets the
 * result on GPUDF_OK and GPUDF_ECANCELED (NULL otherwise); the caller frees
 * it with gpudf_sweep_result_free. Returns GPUDF_OK when every config is
 * final (check report.failed, .timed_out: their results are NaN),
 * GPUDF_ECANCELED (SIGINT, SIGTERM, the progress callback), GPUDF_EINVAL
 * (NULL table or kernel, bad config or options), GPUDF_ENODEV (a forced
 * backend the table's placement is not), or what kept it from running.
 * Placement, batching, signals: docs/api.md, "Sweep". */
gpudf_status gpudf_sweep(gpudf_table *table, const gpudf_kernel *kernel, const double *configs,
                         int64_t n, double *results, const gpudf_sweep_options *opts,
                         gpudf_sweep_result **out);

/* S, the series that column series of table holds for gpudf_sweep_options
 * .series (distinct labels or integers that occur; rows with a missing
 * label belong to none), into *out. GPUDF_EINVAL names a column that is
 * not categorical or integer, or out of range. */
gpudf_status gpudf_sweep_series_count(const gpudf_table *table, int series, int64_t *out);

/* Checks series and time (-1: none) as gpudf_sweep would for
 * gpudf_sweep_options .series and .time, and gives S, the number of series,
 * in *nseries (may be NULL). GPUDF_EINVAL names what is wrong: a column
 * that is not a series column, a time column that is not numeric or whose
 * labels are not ISO-8601 dates or timestamps of one format (the message
 * says which formats work), a row of a series without a time. */
gpudf_status gpudf_sweep_series_check(const gpudf_table *table, int series, int time,
                                      int64_t *nseries);

/* The column a sweep of kernel over table should name in
 * gpudf_sweep_options.series but does not: for a kernel whose results depend
 * on row order, the categorical column with two or more labels (not all
 * ISO-8601 dates: those are a time) whose labels come in runs (fewer label
 * changes between consecutive rows than half the rows: a long table sorted
 * by symbol) or cycle (in 80% of the rows the gap since the label's last
 * row is its previous gap: an export ORDER BY date, symbol), the one with
 * the fewest labels of several; or -1 (none, or a kernel that ignores
 * series). gpudf-sweep and gpudf.sweep refuse to run such a sweep until the
 * caller names the series or says there is none. */
int gpudf_sweep_series_guess(const gpudf_table *table, const gpudf_kernel *kernel);

/* 0.6: keeps the row order of series (and time, -1: none) with an owner's
 * unshared table, as a sweep with workers does before sharing it (the
 * derived column __order.<series>.<time>, docs/sweep.md "Row order"), so
 * that sweeps over the table's share, or views of it, read it instead of
 * sorting the rows each time (libgpudf_mpi: once per node). Checks series
 * and time as gpudf_sweep_series_check (GPUDF_EINVAL names what is wrong);
 * a view, a shared table or no room for the column keeps nothing and is
 * GPUDF_OK (an optimisation only; GPUDF_LOG=debug says why). */
gpudf_status gpudf_table_prepare_series(gpudf_table *table, int series, int time);

void gpudf_sweep_result_free(gpudf_sweep_result *result);
/* Configs in the result; 0 for NULL. The getters below give
 * GPUDF_CONFIG_PENDING, "" and 0 for NULL. */
int64_t gpudf_sweep_result_count(const gpudf_sweep_result *result);
/* State of config index; GPUDF_CONFIG_PENDING when out of range. */
gpudf_config_state gpudf_sweep_result_state(const gpudf_sweep_result *result, int64_t index);
/* Status of a config that did not finish (GPUDF_OK when it did);
 * GPUDF_EINVAL for NULL or an index out of range. */
gpudf_status gpudf_sweep_result_error(const gpudf_sweep_result *result, int64_t index);
/* Why a config did not finish ("" when it did), e.g. "worker 3 (pid 4242)
 * killed by signal 11 on configs 1200-1263". Owned by result. */
const char *gpudf_sweep_result_reason(const gpudf_sweep_result *result, int64_t index);
/* The series label of result row index ("AAA", or an integer's digits);
 * "" without series, for NULL or an index out of range. Owned by result. */
const char *gpudf_sweep_result_series(const gpudf_sweep_result *result, int64_t index);
/* Series per config of the result (S), 1 without series, 0 for NULL. */
int64_t gpudf_sweep_result_nseries(const gpudf_sweep_result *result);
/* Per config of a series sweep, across its S series (result rows k * S to
 * k * S + S - 1): see gpudf_sweep_series_summary. */
typedef struct gpudf_series_summary {
  int64_t series;        /* S */
  int64_t series_ok;     /* series whose row finished (state DONE) */
  int64_t series_sharpe; /* of those, series with a finite Sharpe */
  double mean_sharpe;    /* mean of those Sharpe ratios; NaN when none */
  double median_sharpe;  /* their median (the mean of the two middle ones for an even count) */
  double positive;       /* fraction of the finished series with total return > 0 (NaN
                          * returns left out); NaN when none */
  /* (0.6) The equal-weight portfolio of the config's finished series, with
   * a time column (dates aligned): at each time where some of them have a
   * bar return, the mean of those returns; its total return (compounded)
   * and Sharpe (the kernel's: mean / std, ddof 1, * sqrt(periods_per_year)),
   * over portfolio_bars such times. NaN (and 0 bars) without a time column
   * or series: gpudf_sweep_series_portfolio_reason says why. */
  double portfolio_return;
  double portfolio_sharpe;
  int64_t portfolio_bars;
} gpudf_series_summary;
/* The aggregates across series of each of the n / S configs of a series
 * sweep into out[0 .. n/S - 1], from results (n x nresults, as the sweep
 * wrote them) and the result fields at index sharpe and total_return
 * (ma_crossover: 1 and 0). Without series (S = 1) each config is its own
 * summary. docs/sweep.md, "Many series". */
gpudf_status gpudf_sweep_series_summary(const gpudf_sweep_result *result,
                                        const double *results, int nresults, int sharpe,
                                        int total_return, gpudf_series_summary *out);
/* The same aggregates (0.6) of results gathered elsewhere (libgpudf_mpi's
 * rank 0): n result rows of nresults, config k's series at rows k*nseries
 * .. k*nseries + nseries - 1, state[i] the gpudf_config_state of row i. The
 * portfolio fields are NaN with 0 bars (it needs the bars). Errors:
 * GPUDF_EINVAL (NULL, fields out of range, n not a multiple of nseries),
 * GPUDF_ENOMEM. */
gpudf_status gpudf_series_summary_of(const double *results, const unsigned char *state,
                                    int64_t n, int64_t nseries, int nresults, int sharpe,
                                    int total_return, gpudf_series_summary *out);
/* (0.6) Why the summaries' portfolio fields of result are NaN ("no time
 * column: ...", "no series: ..."), or "" when they were computed. Owned by
 * result; "result is NULL" for NULL. */
const char *gpudf_sweep_series_portfolio_reason(const gpudf_sweep_result *result);
/* Copies the report. */
gpudf_status gpudf_sweep_result_report(const gpudf_sweep_result *result,
                                       gpudf_sweep_report *out);
/* The signal (SIGINT or SIGTERM) that arrived during the sweep, or 0 (also
 * for NULL). The sweep's handlers took it: a caller that wants its own
 * handling raises it again once the results are saved. */
int gpudf_sweep_result_signal(const gpudf_sweep_result *result);
/* Worker processes in spawn order, replacements included (one entry for the
 * calling process when workers = 0). */
int gpudf_sweep_result_nworkers(const gpudf_sweep_result *result);
gpudf_status gpudf_sweep_result_worker(const gpudf_sweep_result *result, int index,
                                       gpudf_sweep_worker_info *out);
/* 0.6: the devices the sweep's own share of the table left out under "all"
 * (gpudf_share_skipped), or the table's share's when it was shared before;
 * "" when none was (also for NULL). Valid while result is. */
const char *gpudf_sweep_result_skipped(const gpudf_sweep_result *result);

/* A progress callback that draws a bar on stderr when stderr is a terminal
 * (and does nothing otherwise); user is unused. Never cancels. */
int gpudf_progress_bar(const gpudf_sweep_progress *progress, void *user);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_H */
