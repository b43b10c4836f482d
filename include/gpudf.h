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
 *  - Ownership is written next to each function ("on success the caller owns").
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
  GPUDF_VERSION_MINOR = 1,
  GPUDF_VERSION_PATCH = 0,
  GPUDF_VERSION_NUMBER = 100 /* major * 10000 + minor * 100 + patch */
};

/* "0.1.0" */
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
/* Bytes of shared memory that hold the columns. */
int64_t gpudf_table_arena_bytes(const gpudf_table *table);

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

/* Publishes the table under name ([A-Za-z0-9._-], 1..63 bytes; NULL picks a
 * unique name) so that other processes of this user can attach to it. The
 * environment variable GPUDF_BACKEND, when set, overrides GPUDF_BACKEND_AUTO;
 * forcing a backend that cannot work is GPUDF_ENODEV, never a silent downgrade.
 * The table can no longer change afterwards. A table has at most one open
 * share. On success the caller owns *out and closes it with gpudf_share_close;
 * the share keeps the table's memory alive until then. */
gpudf_status gpudf_table_share(gpudf_table *table, const char *name,
                               gpudf_backend backend, gpudf_share **out);

/* The published name and the backend in use. Valid while the share is. */
const char *gpudf_share_name(const gpudf_share *share);
gpudf_backend gpudf_share_backend(const gpudf_share *share);

/* Unpublishes the name. Processes already attached keep a valid view until
 * they detach. NULL is harmless. */
void gpudf_share_close(gpudf_share *share);

/* Attaches to the table published under name and gives a read-only view (its
 * memory is mapped PROT_READ; no data is copied, and the time does not depend
 * on the table's size). Attaching the same share again in one process reuses
 * the mapping. Fails with GPUDF_ENOENT (no such share), GPUDF_EBADMSG (not a
 * valid gpudf segment), GPUDF_EOWNERDEAD (its owner died; the segment is
 * removed), GPUDF_EPERM (another user's segment). On success the caller owns
 * *view and detaches it with gpudf_table_free. */
gpudf_status gpudf_attach(const char *name, gpudf_table **view);

/* Removes the segments of this user whose owner process is dead. The library
 * also does this on every create, share and attach. removed may be NULL. */
gpudf_status gpudf_cleanup(int *removed);

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

typedef struct gpudf_result_info {
  char name[64];
  const char *summary;
} gpudf_result_info;

/* Built-in and registered kernels, in registration order. */
int gpudf_kernel_count(void);
/* The kernel at index, or NULL when out of range. */
const gpudf_kernel *gpudf_kernel_at(int index);
gpudf_status gpudf_kernel_find(const char *name, const gpudf_kernel **out);

const char *gpudf_kernel_name(const gpudf_kernel *kernel);
const char *gpudf_kernel_summary(const gpudf_kernel *kernel);
int gpudf_kernel_nparams(const gpudf_kernel *kernel);
/* Describes parameter index; the strings are static. */
gpudf_status gpudf_kernel_param(const gpudf_kernel *kernel, int index,
                                gpudf_param_info *out);
gpudf_status gpudf_kernel_param_index(const gpudf_kernel *kernel,
                                      const char *name, int *index);
/* Fills config[0..nparams) with every parameter's default. */
gpudf_status gpudf_kernel_defaults(const gpudf_kernel *kernel, double *config);
/* Number of result values per config. Some kernels' widths depend on a shape
 * parameter; config gives it (NULL means the defaults). */
int gpudf_kernel_nresults(const gpudf_kernel *kernel, const double *config);
gpudf_status gpudf_kernel_result(const gpudf_kernel *kernel,
                                 const double *config, int index,
                                 gpudf_result_info *out);

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

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_H */
