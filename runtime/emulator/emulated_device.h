// The CUDA executor's device seam (runtime/cuda/device_api.h) on the CUDA
// emulator: the whole executor — arena, uploads, kernel launches, graph
// capture and replay, on-device sampling — runs on the CPU, with every
// kernel the engine's own CUDA source run by the emulator (launch.h) and
// checked for races, divergence and bad accesses.
//
//   - memory: emulated device memory (device_memory.h); a copy to or from
//     an address outside it is an error, as cudaMemcpy's would be;
//   - streams: every call completes in order before returning, so waiting
//     is immediate;
//   - graph capture: a capturing stream records each launch (its argument
//     values copied, as cudaLaunchKernel does), memset and GEMM; replay
//     runs the record in order; a synchronous memset or copy, or a wait,
//     during a capture is refused (CUDA invalidates such a capture);
//   - kernels: the bundle's kernel.<function>.cu (compiled for the host by
//     the emulator, cached); the dynamic shared memory limit is 48 KiB until
//     SetMaxDynamicShared raises it, up to the architecture's opt-in maximum;
//   - GEMMs: cuBLASLt's contract computed by a reference GEMM: f32
//     accumulation over k in order, the bias added to the f32 sum, one
//     rounding to the dtype (what runtime/reference computes); no recorded
//     algorithm applies to it;
//   - no clock: TimeMs is Unimplemented.
// Reports name the device "Kiln CUDA emulator", never a GPU.
//
// Trust: the emulator compiles the engine's kernel.<function>.cu with the
// host compiler and loads the result into this process, so running an
// engine on it runs that engine's code natively. Use it on engines you
// compiled (the digests prove the files belong together, not who wrote
// them).
#ifndef KILN_RUNTIME_EMULATOR_EMULATED_DEVICE_H_
#define KILN_RUNTIME_EMULATOR_EMULATED_DEVICE_H_

#include <memory>
#include <string>

#include "runtime/cuda/device_api.h"
#include "runtime/emulator/launch.h"

namespace kiln::emulator {

struct EmulatedDeviceOptions {
  // The architecture whose semantics and limits it reports: "sm_80" or
  // "sm_90" (an engine's target).
  std::string arch = "sm_90";
  Schedule schedule;  // of every launch
};

// InvalidArgument for an architecture the emulator has no limits for.
absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> MakeEmulatedDevice(EmulatedDeviceOptions options);

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_EMULATED_DEVICE_H_
