/*
 * sweep_grid.h - configs for gpudf-sweep from a grid spec, a --where filter,
 * --set values or a table of configs. Pure functions: no I/O, no globals;
 * every error is a message (with the position in the spec where there is
 * one) written to err, so the parser can be fuzzed on its own.
 *
 * Grid spec: whitespace-separated NAME=VALUES, where VALUES is
 *   start:stop:step   stop excluded (like range), step > 0, may be fractional
 *   start:stop        step 1
 *   a,b,c             numbers, choice names (choice parameters) or column
 *                     names (column parameters; numbers are column indices)
 * The configs are the Cartesian product, first axis slowest.
 * Where: comparisons (<, <=, >, >=, ==, !=) between parameter names and
 * numbers (or a choice/column name compared with such a parameter), joined
 * by "and", e.g. "fast < slow and fee_bps <= 5".
 */
#ifndef GPUDF_SWEEP_GRID_H
#define GPUDF_SWEEP_GRID_H

#include <gpudf.h>

#include <stddef.h>
#include <stdint.h>

typedef struct sg_request {
  const char *grid;         /* NULL or "": only the fixed values */
  const char *where;        /* NULL or "": no filter */
  int nsets;                /* "NAME=VALUE" strings */
  const char *const *sets;
  int64_t max_configs;      /* refuse a product larger than this */
} sg_request;

/* One parameter value from text: a number, a choice name (choice
 * parameters) or a column name (column parameters). 0 on success, else -1
 * with a message in err. */
int sg_parse_value(const gpudf_kernel *k, const gpudf_table *t, int param,
                   const char *text, double *out, char *err, size_t errlen);

/* Checks one value against the parameter's kind and range (a column index
 * against the table). 0 when fine, else -1 with a message. */
int sg_check_value(const gpudf_kernel *k, const gpudf_table *t, int param, double v,
                   char *err, size_t errlen);

/* Builds the configs of req: the grid's product, parameters not in the grid
 * from --set or their defaults, filtered by where. On success returns 0 and
 * *configs (malloc'd n x nparams, row-major; NULL when n is 0) and *n. On
 * error returns -1 with a message in err. */
int sg_build_grid(const gpudf_kernel *k, const gpudf_table *t, const sg_request *req,
                  double **configs, int64_t *n, char *err, size_t errlen);

/* Same from a table of configs (one column per parameter, by name; a
 * categorical column's labels are parsed as parameter values); req->grid is
 * ignored, sets and where apply. */
int sg_build_from_table(const gpudf_kernel *k, const gpudf_table *t,
                        const gpudf_table *cfg, const sg_request *req,
                        double **configs, int64_t *n, char *err, size_t errlen);

/* Text of a value for output: a choice name, a column name, or %.17g. */
void sg_format_value(const gpudf_kernel *k, const gpudf_table *t, int param, double v,
                     char *buf, size_t len);

#endif
