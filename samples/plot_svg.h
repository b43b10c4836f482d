/*
 * plot_svg.h - gpudf-sweep --plot: a sweep's results as an SVG picture,
 * written directly (no plotting library).
 *
 * The swept parameters are those that take more than one value over the
 * configs. Two (or more): a heatmap of the metric over the first two swept
 * parameters (first on the y axis, increasing upwards; second on x), one
 * cell per pair; when more parameters vary, a cell shows the best value over
 * the others and the title says so. One: a line chart. The best config is
 * marked (the highest value, the lowest with asc). In a series sweep the
 * series are one more swept parameter (first, the y axis): one swept
 * parameter gives a heatmap over it and the series. Every cell or point
 * carries its values (data-x, data-y, data-value, %.17g) so that tests and
 * scripts can read the picture back.
 */
#ifndef GPUDF_PLOT_SVG_H
#define GPUDF_PLOT_SVG_H

#include <gpudf.h>

#include <stdint.h>
#include <stdio.h>

typedef struct plot_job {
  const gpudf_kernel *k;
  const gpudf_table *t;
  int np, nr;
  int64_t n;
  const double *cfg, *res;  /* n x np, n x nr, row-major */
  const int *ok;            /* n flags: the config finished (others are left out) */
  int metric;               /* result index */
  const char *metric_name;
  int asc;                  /* lower is better */
  /* A series sweep (nseries > 1): row i is on series i % nseries, an axis
   * named "series" whose ticks are series_label(series_user, q). */
  int64_t nseries;
  const char *(*series_label)(void *user, int64_t q);
  void *series_user;
} plot_job;

/* Writes the picture to path. 0 on success, else -1 with a message in err
 * (no swept parameter, no finished config, a file error). */
int plot_svg_write(const plot_job *j, const char *path, char *err, size_t errlen);

#endif
