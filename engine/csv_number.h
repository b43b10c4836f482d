/* csv_number.h - exact decimal text to int64 and double, for the CSV reader. */
#ifndef GPUDF_CSV_NUMBER_H
#define GPUDF_CSV_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* [+-]digits, surrounding spaces allowed. false when the text is not an
 * integer; *overflow is set when it is one but does not fit. */
bool gdf_parse_i64(const char *s, size_t n, int64_t *out, bool *overflow);

/* A decimal number ([+-]digits[.digits][(e|E)[+-]digits], or inf/infinity),
 * surrounding spaces allowed, to the correctly rounded double. Fast path for
 * up to 19 significant digits and small exponents; strtod (C locale)
 * otherwise. false when the text is not a number. */
bool gdf_parse_f64(const char *s, size_t n, double *out);

#ifdef __cplusplus
}
#endif

#endif
