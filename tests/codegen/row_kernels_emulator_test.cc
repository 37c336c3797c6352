// The generated row kernels' CUDA text in the emulator against their host
// renderings (row_kernel_check.h: every kernel of the odd-size suites in
// f32, f16 and bf16 at 7 and 300 rows), the A100 and H100 presets' texts,
// under the in-order, reversed and seeded random schedules. Any race,
// divergence, out-of-bounds or misaligned access fails the launch.
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "base/status_macros.h"
#include "codegen/gpu_target.h"
#include "codegen/render.h"
#include "gtest/gtest.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"
#include "tests/codegen/row_kernel_check.h"

namespace kiln::codegen {
namespace {

using emulator::DeviceMemory;

// Compiles each kernel's text once and runs it under `schedule`.
class EmulatedRowKernels {
 public:
  explicit EmulatedRowKernels(emulator::Schedule schedule) : schedule_(schedule) {}

  absl::Status Run(const KernelDesc& desc, int64_t rows, std::vector<std::vector<uint8_t>>& buffers) {
    KILN_ASSIGN_OR_RETURN(std::string source, RenderCuda(desc));
    const std::string text = CudaPrelude() + "\n" + source;
    std::shared_ptr<emulator::KernelModule>& module = modules_[text];
    if (module == nullptr) {
      KILN_ASSIGN_OR_RETURN(module, emulator::KernelModule::Compile(text, desc.name));
    }
    KILN_ASSIGN_OR_RETURN(const emulator::EmulatedKernel* kernel, module->Kernel(desc.name));
    std::vector<void*> pointers;
    absl::Status status;
    for (const std::vector<uint8_t>& b : buffers) {
      absl::StatusOr<void*> p = DeviceMemory::Global().Allocate(b.size());
      if (!p.ok()) { status = p.status(); break; }
      std::memcpy(*p, b.data(), b.size());
      pointers.push_back(*p);
    }
    if (status.ok()) {
      std::vector<void*> args;
      for (void*& p : pointers) args.push_back(&p);
      long long launch_rows = rows;
      args.push_back(&launch_rows);
      emulator::LaunchConfig config;
      config.grid = {static_cast<unsigned>(rows), 1, 1};
      config.block = {static_cast<unsigned>(desc.threads), 1, 1};
      config.schedule = schedule_;
      status = emulator::Launch(*kernel, config, args, &stats_);
    }
    for (size_t i = 0; i < pointers.size(); ++i) {
      if (status.ok()) std::memcpy(buffers[i].data(), pointers[i], buffers[i].size());
      (void)DeviceMemory::Global().Free(pointers[i]);
    }
    return status;
  }
  const emulator::LaunchStats& stats() const { return stats_; }

 private:
  emulator::Schedule schedule_;
  std::map<std::string, std::shared_ptr<emulator::KernelModule>> modules_;
  emulator::LaunchStats stats_;
};

TEST(RowKernelsEmulatorTest, OddSizeSuitesMatchTheirHostRenderingsUnderEverySchedule) {
  for (const GpuTarget& preset : {A100Target(), H100Target()}) {
    for (const emulator::Schedule& schedule : emulator::StandardSchedules(20261206)) {
      EmulatedRowKernels device(schedule);
      absl::StatusOr<testing::RowSuiteResult> r = testing::CheckOddSizeRowSuites(
          preset, [&](const KernelDesc& desc, int64_t rows, std::vector<std::vector<uint8_t>>& b) {
            return device.Run(desc, rows, b);
          });
      ASSERT_TRUE(r.ok()) << preset.name << ", " << schedule.Name() << ": " << r.status();
      std::printf("emulator, %s texts, %s schedule: %lld kernels, %lld blocks, %lld rendezvous, "
                  "%lld of %lld elements bit-identical to the host renderings\n",
                  preset.name.c_str(), schedule.Name().c_str(), static_cast<long long>(r->kernels),
                  static_cast<long long>(device.stats().blocks),
                  static_cast<long long>(device.stats().rendezvous),
                  static_cast<long long>(r->identical), static_cast<long long>(r->compared));
    }
  }
}

}  // namespace
}  // namespace kiln::codegen
