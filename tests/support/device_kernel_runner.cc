#include "tests/support/device_kernel_runner.h"

#include <vector>

#include "base/status_macros.h"
#include "codegen/nvrtc_compile.h"
#include "codegen/plan/kernel_bundle.h"

namespace kiln::testing {
namespace {

// Frees the job's device buffers however the run ends.
struct DeviceBuffers {
  gpu::DeviceApi& device;
  std::vector<void*> pointers;
  ~DeviceBuffers() {
    for (void* p : pointers) {
      if (p != nullptr) device.Free(p);
    }
  }
};

// The opt-in threshold: above it a kernel must raise its dynamic shared
// memory limit (cudaFuncAttributeMaxDynamicSharedMemorySize).
constexpr size_t kDefaultSharedLimit = 48 * 1024;

}  // namespace

absl::StatusOr<gpu::KernelId> DeviceKernelRunner::Load(const KernelCall& call) {
  const auto key = std::make_pair(call.source, call.function);
  if (auto it = loaded_.find(key); it != loaded_.end()) return it->second;
  BundledKernel bundled;
  bundled.function = call.function;
  bundled.source = call.source;
  KILN_ASSIGN_OR_RETURN(bundled.compiled,
                        codegen::CompileKernel(call.source, call.function, preset_, ""));
  KILN_ASSIGN_OR_RETURN(gpu::KernelId id, device_.LoadKernel(bundled, preset_.sm_arch()));
  loaded_[key] = id;
  return id;
}

absl::Status DeviceKernelRunner::Run(KernelJob& job) {
  DeviceBuffers buffers{device_, {}};
  for (const std::vector<uint8_t>& b : job.buffers) {
    if (b.empty()) {
      buffers.pointers.push_back(nullptr);
      continue;
    }
    KILN_ASSIGN_OR_RETURN(void* p, device_.Malloc(b.size()));
    buffers.pointers.push_back(p);
    KILN_RETURN_IF_ERROR(device_.CopyToDevice(p, b.data(), b.size()));
  }
  for (KernelCall& call : job.calls) {
    KILN_ASSIGN_OR_RETURN(gpu::KernelId kernel, Load(call));
    if (call.dynamic_shared_bytes > kDefaultSharedLimit) {
      KILN_RETURN_IF_ERROR(
          device_.SetMaxDynamicShared(kernel, static_cast<int>(call.dynamic_shared_bytes)));
    }
    std::vector<void*> args;
    for (KernelParam& p : call.params) {
      args.push_back(p.buffer >= 0 ? static_cast<void*>(&buffers.pointers.at(p.buffer))
                                   : static_cast<void*>(p.scalar.data()));
    }
    KILN_RETURN_IF_ERROR(device_.Launch(kernel, {call.grid.x, call.grid.y, call.grid.z},
                                        {call.block.x, call.block.y, call.block.z},
                                        call.dynamic_shared_bytes, args, 0));
  }
  KILN_RETURN_IF_ERROR(device_.Synchronize(0));
  for (size_t i = 0; i < job.buffers.size(); ++i) {
    if (job.buffers[i].empty()) continue;
    KILN_RETURN_IF_ERROR(
        device_.CopyToHostAsync(job.buffers[i].data(), buffers.pointers[i], job.buffers[i].size(), 0));
  }
  return device_.Synchronize(0);
}

}  // namespace kiln::testing
