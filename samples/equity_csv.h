/*
 * equity_csv.h - gpudf-sweep --equity: the story of one ma_crossover config,
 * bar by bar (price, both moving averages, position, equity, drawdown), from
 * the kernel's own step functions (kernels/ma_crossover/ma_crossover_math.h), so the
 * curve ends where the sweep's total_return says it does.
 */
#ifndef GPUDF_EQUITY_CSV_H
#define GPUDF_EQUITY_CSV_H

#include <gpudf.h>

#include <stddef.h>
#include <stdio.h>

/* Writes the CSV for config (ma_crossover's parameters, in describe order)
 * over table t. 0 on success, else -1 with a message in err. */
int equity_csv_write(const gpudf_table *t, const double *config, FILE *f, char *err, size_t errlen);

#endif
