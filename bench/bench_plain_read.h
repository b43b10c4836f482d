/* bench_plain_read.h - the machine's plain read, the baseline that kernel
 * throughput is reported against (gpudf-bench_foundation section 3,
 * gpudf-bench_kernels section A): two f64 columns summed with 4
 * independent accumulators, so that it is bound by memory rather than by
 * the latency of one chain of adds. */
#ifndef GPUDF_BENCH_PLAIN_READ_H
#define GPUDF_BENCH_PLAIN_READ_H

#include <stdint.h>

__attribute__((noinline)) static double plain_read(const double *x, const double *v, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += x[i] + v[i];
    a1 += x[i + 1] + v[i + 1];
    a2 += x[i + 2] + v[i + 2];
    a3 += x[i + 3] + v[i + 3];
  }
  for (; i < n; i++) a0 += x[i] + v[i];
  return (a0 + a1) + (a2 + a3);
}

#endif
