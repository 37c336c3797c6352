// Helpers of the emulator's own tests: device memory owned by a test, a
// module compiled from a kernel written for it, and one launch.
#ifndef KILN_TESTS_RUNTIME_EMULATOR_EMULATOR_TEST_UTIL_H_
#define KILN_TESTS_RUNTIME_EMULATOR_EMULATOR_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"

namespace kiln::emulator::testing {

// Device memory owned by the test.
class Buffer {
 public:
  explicit Buffer(size_t bytes) : pointer_(*DeviceMemory::Global().Allocate(bytes)), bytes_(bytes) {}
  ~Buffer() { (void)DeviceMemory::Global().Free(pointer_); }
  template <typename T>
  T* as() const { return static_cast<T*>(pointer_); }
  void* get() const { return pointer_; }

 private:
  void* pointer_;
  size_t bytes_;
};

inline std::shared_ptr<KernelModule> Compile(const std::string& source) {
  absl::StatusOr<std::shared_ptr<KernelModule>> module = KernelModule::Compile(source, "test");
  EXPECT_TRUE(module.ok()) << module.status();
  return module.ok() ? *module : nullptr;
}

inline absl::Status RunKernel(const KernelModule& module, const std::string& name, KilnEmuDim grid,
                 KilnEmuDim block, std::vector<void*> args, size_t dynamic_shared = 0,
                 Schedule schedule = {}) {
  absl::StatusOr<const EmulatedKernel*> kernel = module.Kernel(name);
  if (!kernel.ok()) return kernel.status();
  LaunchConfig config;
  config.grid = grid;
  config.block = block;
  config.dynamic_shared_bytes = dynamic_shared;
  config.schedule = schedule;
  return Launch(**kernel, config, args);
}

}  // namespace kiln::emulator::testing

#endif  // KILN_TESTS_RUNTIME_EMULATOR_EMULATOR_TEST_UTIL_H_
