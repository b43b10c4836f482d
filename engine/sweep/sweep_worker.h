/*
 * sweep_worker.h - the entry point of the gpudf-worker executable, the
 * process gpudf_sweep starts. Not part of the public API (0.4 took it out of
 * gpudf.h), but exported from libgpudf (visibility "default" here, gpudf_* in
 * the version script) because worker/gpudf_worker.c, a separate executable,
 * calls it: the worker's loop lives in the library next to the owner's side
 * of the protocol, so the two always come from one build.
 */
#ifndef GPUDF_SWEEP_WORKER_H
#define GPUDF_SWEEP_WORKER_H

#ifdef __cplusplus
extern "C" {
#endif

/* gpudf-worker CONTROL-SEGMENT SLOT [PLUGIN...]; returns the exit status. */
__attribute__((visibility("default"))) int gpudf_worker_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* GPUDF_SWEEP_WORKER_H */
