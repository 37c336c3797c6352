// Kernel tests in the CUDA emulator (runtime/emulator): device buffers that
// hold values in a kernel's dtype, a per-process cache of compiled texts,
// a KernelRunner (kernel_job.h) that runs jobs under one schedule (the
// in-order one also checks the other schedules leave identical bytes), and the
// comparison counts every emulator test prints.
//
// Contract:
//   - An EmulatedBuffer owns one emulated device allocation (freed when it
//     goes). A buffer created without contents keeps the emulator's 0xFF
//     poison, so an output the kernel never writes reads back as NaN (f32,
//     f16, bf16) or -1 (int32) and fails the comparison.
//   - EmulatedKernelCache compiles each distinct text once per process
//     (the emulator's disk cache starts empty under Bazel, and a test runs
//     one text under several schedules and sizes); kernels live as long as
//     the cache. Compiling (~0.5 s a text, g++ in a child process) is most
//     of an emulator test's time, so CompileAll runs the host compiler on
//     every core at once; launches still run one at a time.
//   - Launch errors come back as the emulator reports them (Aborted with
//     "shared-memory race:", "divergence:", "out of bounds:", ...): tests
//     assert they are OK and print them, never filter them.
#ifndef KILN_TESTS_SUPPORT_EMULATED_KERNEL_H_
#define KILN_TESTS_SUPPORT_EMULATED_KERNEL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/dtype.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"
#include "tests/support/error_metrics.h"
#include "tests/support/kernel_job.h"

namespace kiln::testing {

// One emulated device allocation. Move-only.
class EmulatedBuffer {
 public:
  // `bytes` of 0xFF poison (the emulator's fill).
  static EmulatedBuffer Uninitialized(size_t bytes);
  // A copy of `bytes` bytes at `data`.
  static EmulatedBuffer Of(const void* data, size_t bytes);
  // `values` in `dtype` (f32, or f16/bf16 bits rounded to nearest even as
  // base/half.h, which is cvt.rn's rounding).
  static EmulatedBuffer OfFloats(const std::vector<float>& values, DType dtype);
  static EmulatedBuffer OfInts(const std::vector<int32_t>& values);

  EmulatedBuffer(EmulatedBuffer&& other) noexcept;
  EmulatedBuffer& operator=(EmulatedBuffer&&) = delete;
  EmulatedBuffer(const EmulatedBuffer&) = delete;
  ~EmulatedBuffer();

  // The device pointer; launch arguments take its address (`&buffer.ptr`).
  void* ptr = nullptr;
  size_t bytes() const { return bytes_; }

  // The first `n` elements read back as floats of `dtype` / as int32.
  std::vector<float> Floats(size_t n, DType dtype) const;
  std::vector<int32_t> Ints(size_t n) const;

 private:
  EmulatedBuffer(void* pointer, size_t bytes) : ptr(pointer), bytes_(bytes) {}
  size_t bytes_ = 0;
};

// Compiled emulator modules by text, for the life of the cache.
class EmulatedKernelCache {
 public:
  // The kernel `name` of `cuda_source`, compiled on first use.
  absl::StatusOr<const emulator::EmulatedKernel*> Get(const std::string& cuda_source,
                                                      absl::string_view name);
  // Compiles every (text, kernel name) not yet compiled, as many at once
  // as the host has cores; the first error, naming its kernel.
  absl::Status CompileAll(const std::vector<std::pair<std::string, std::string>>& texts);
  int compiled() const { return static_cast<int>(modules_.size()); }

 private:
  std::map<std::string, std::shared_ptr<emulator::KernelModule>> modules_;
};

// Sums of what a family's emulator runs did, printed at the end.
struct EmulatorTally {
  int64_t launches = 0, kernels = 0, configurations = 0;
  int64_t bit_identical = 0, compared = 0, mismatches = 0;
  int64_t faults = 0;  // emulator reports (race, divergence, bounds, alignment)
  emulator::LaunchStats stats;
  // emulator::Launch, counted: launches, blocks, rendezvous, and faults
  // (any non-OK status, which is returned unchanged).
  absl::Status Launch(const emulator::EmulatedKernel& kernel, const emulator::LaunchConfig& config,
                      const std::vector<void*>& args);
  void Add(const Agreement& a);
  // "<family>: K kernels x C configurations x S schedules = L launches, ..."
  std::string Summary(absl::string_view family, int schedules) const;
};

// Runs jobs in the emulator under `schedule`, with the kernels from `cache`
// (compiled on first use) and each launch counted in `tally`; dynamic
// shared memory up to `shared_limit_bytes` (the device's opt-in maximum,
// as the runtime sets cudaFuncAttributeMaxDynamicSharedMemorySize). Both
// must outlive the runner.
KernelRunner EmulatedRunner(EmulatedKernelCache& cache, EmulatorTally& tally,
                            const emulator::Schedule& schedule, size_t shared_limit_bytes);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_EMULATED_KERNEL_H_
