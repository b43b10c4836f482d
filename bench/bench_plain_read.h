/* bench_plain_read.h - the machine's plain read, the baseline that kernel
 * throughput is reported against (gpudf-bench_foundation section 3,
 * gpudf-bench_kernels section A, gpudf-bench_sweep): two f64 columns
 * summed on the calling thread into 8 independent vector accumulators,
 * with 32-byte loads on a CPU with AVX2 (as the kernels' AVX2 and AVX-512
 * loops), else 16-byte ones, so that it is bound by memory rather than by
 * the latency of a chain of adds or by the number of loads. On the 2-core
 * Zen 4 VM the scalar 4-accumulator loop this header had before, 16-byte
 * and 32-byte loads all read at the same speed within the noise, and
 * software prefetching made each 10-15% slower; gpudf-bench_kernels
 * section A reads with each of them in every round (its "baseline check"). */
#ifndef GPUDF_BENCH_PLAIN_READ_H
#define GPUDF_BENCH_PLAIN_READ_H

#include <stdint.h>
#include <string.h>

typedef double plain_read_v2d __attribute__((vector_size(16)));

/* 16-byte loads (SSE2, or what the target has for 16-byte vectors). */
__attribute__((noinline, unused)) static double plain_read_v16(const double *x,
                                                               const double *v, int64_t n) {
  plain_read_v2d a[8] = {{0, 0}};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 8; j++) {
      plain_read_v2d p, q;
      memcpy(&p, x + i + 2 * j, sizeof p);
      memcpy(&q, v + i + 2 * j, sizeof q);
      a[j] += p + q;
    }
  double s = 0;
  for (int j = 0; j < 8; j++) s += a[j][0] + a[j][1];
  for (; i < n; i++) s += x[i] + v[i];
  return s;
}

/* The loop this header had before: scalar loads, 4 accumulators (kept for
 * the baseline check). */
__attribute__((noinline, unused)) static double plain_read_scalar(const double *x,
                                                                  const double *v, int64_t n) {
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

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GPUDF_BENCH_HAVE_READ_AVX2 1
/* 32-byte loads, for CPUs with AVX2. */
__attribute__((noinline, target("avx2"))) static double plain_read_avx2(const double *x,
                                                                       const double *v,
                                                                       int64_t n) {
  __m256d a[8];
  for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 8; j++)
      a[j] = _mm256_add_pd(a[j], _mm256_add_pd(_mm256_loadu_pd(x + i + 4 * j),
                                               _mm256_loadu_pd(v + i + 4 * j)));
  double s = 0, t[4];
  for (int j = 0; j < 8; j++) {
    _mm256_storeu_pd(t, a[j]);
    s += (t[0] + t[1]) + (t[2] + t[3]);
  }
  for (; i < n; i++) s += x[i] + v[i];
  return s;
}
#endif

/* Whether plain_read uses 32-byte loads here. */
__attribute__((unused)) static int plain_read_wide(void) {
#ifdef GPUDF_BENCH_HAVE_READ_AVX2
  return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
  return 0;
#endif
}

/* The baseline: the widest loads this CPU has. */
static double plain_read(const double *x, const double *v, int64_t n) {
#ifdef GPUDF_BENCH_HAVE_READ_AVX2
  if (plain_read_wide()) return plain_read_avx2(x, v, n);
#endif
  return plain_read_v16(x, v, n);
}

#endif
