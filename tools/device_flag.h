// The --device flag of the tools that run CUDA engines: "gpu" (the
// default: the CUDA runtime's device 0) or "emulator" (the CUDA emulator,
// runtime/emulator/emulated_device.h: the engine's kernels run on the CPU
// with CUDA's semantics and checks). The emulator is only ever chosen by
// this flag, never in place of a missing or failing GPU.
#ifndef KILN_TOOLS_DEVICE_FLAG_H_
#define KILN_TOOLS_DEVICE_FLAG_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_executor.h"

namespace kiln {

// The executor options for --device `device` and an engine compiled for
// `target` ("sm_90", or "cpu", which takes no device); InvalidArgument for
// another device name, a device other than gpu for a cpu engine, or
// "emulator" with a target the emulator has no limits for.
absl::StatusOr<CudaExecutorOptions> ExecutorOptionsForDevice(const std::string& device,
                                                             const std::string& target);

}  // namespace kiln

#endif  // KILN_TOOLS_DEVICE_FLAG_H_
