// cuda_nvtx.cu - NVTX ranges in the "gpudf" domain, so that Nsight Systems
// shows upload, publish, attach, batches and launches by name. nvtx3 is
// header-only; without a tool attached each call is a cheap no-op.
#include <nvtx3/nvToolsExt.h>

#include "device.h"

static nvtxDomainHandle_t gpudf_domain() {
  static nvtxDomainHandle_t d = nvtxDomainCreateA("gpudf");
  return d;
}

extern "C" void gdf_range_push(const char *what) {
  nvtxEventAttributes_t a = {};
  a.version = NVTX_VERSION;
  a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  a.messageType = NVTX_MESSAGE_TYPE_ASCII;
  a.message.ascii = what;
  nvtxDomainRangePushEx(gpudf_domain(), &a);
}

extern "C" void gdf_range_pop(void) { nvtxDomainRangePop(gpudf_domain()); }
