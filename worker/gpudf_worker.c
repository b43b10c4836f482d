/* gpudf-worker - the process gpudf_sweep starts; the loop lives in the
 * library (engine/sweep/sweep_worker.c) next to the owner's side of the protocol. */
#include "sweep_worker.h"

int main(int argc, char **argv) { return gpudf_worker_main(argc, argv); }
