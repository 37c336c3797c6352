// Kernel jobs (kernel_job.h) on a device behind the executor's seam
// (runtime/cuda/device_api.h): how the GPU kernel suites run the same
// per-family checks as the emulator suites.
//
// Contract: each distinct (source, function) is compiled once by NVRTC with
// Kiln's production options for `preset` (codegen/nvrtc_compile.h:
// --fmad=false, the preset's architecture) and loaded once into the device;
// a job allocates its buffers, copies them in, launches on the default
// stream, waits, copies them back and frees them. The device must be open
// and outlive the runner.
#ifndef KILN_TESTS_SUPPORT_DEVICE_KERNEL_RUNNER_H_
#define KILN_TESTS_SUPPORT_DEVICE_KERNEL_RUNNER_H_

#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "runtime/cuda/device_api.h"
#include "tests/support/kernel_job.h"

namespace kiln::testing {

class DeviceKernelRunner {
 public:
  DeviceKernelRunner(gpu::DeviceApi& device, codegen::GpuTarget preset)
      : device_(device), preset_(std::move(preset)) {}

  absl::Status Run(KernelJob& job);
  KernelRunner runner() {
    return [this](KernelJob& job) { return Run(job); };
  }

 private:
  absl::StatusOr<gpu::KernelId> Load(const KernelCall& call);

  gpu::DeviceApi& device_;
  codegen::GpuTarget preset_;
  std::map<std::pair<std::string, std::string>, gpu::KernelId> loaded_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_DEVICE_KERNEL_RUNNER_H_
