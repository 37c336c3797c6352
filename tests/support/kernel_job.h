// A device-independent description of kernel launches, so one check per
// kernel family (tests/codegen/*/..._check.h) runs on any device: the CUDA
// emulator (emulated_kernel.h EmulatedRunner) or a GPU through the device
// seam (device_kernel_runner.h).
//
// Contract: a KernelRunner copies every buffer of the job to the device
// (an empty buffer is passed as nullptr, no allocation), runs the calls in
// order on one stream, waits, and copies every buffer back into the job.
// Parameters are passed in order: a buffer's device address or a scalar's
// bytes. The first failure (compile, launch or device report) is returned
// unchanged and the buffers are then unspecified.
#ifndef KILN_TESTS_SUPPORT_KERNEL_JOB_H_
#define KILN_TESTS_SUPPORT_KERNEL_JOB_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace kiln::testing {

struct KernelDim {
  unsigned x = 1, y = 1, z = 1;
};

// One kernel parameter: the device address of job buffer `buffer`, or
// (buffer < 0) the bytes of a scalar.
struct KernelParam {
  int buffer = -1;
  std::vector<uint8_t> scalar;

  static KernelParam Buffer(int index) { return {index, {}}; }
  template <typename T>
  static KernelParam Scalar(T value) {
    KernelParam p;
    p.scalar.resize(sizeof(T));
    std::memcpy(p.scalar.data(), &value, sizeof(T));
    return p;
  }
};

// One launch of `function` from the CUDA translation unit `source`.
struct KernelCall {
  std::string source, function;
  KernelDim grid, block;
  size_t dynamic_shared_bytes = 0;  // above 48 KiB the runner opts the kernel in
  std::vector<KernelParam> params;
};

struct KernelJob {
  std::vector<std::vector<uint8_t>> buffers;  // in, and out after the run
  std::vector<KernelCall> calls;

  // Adds a buffer and returns its index.
  int AddBuffer(std::vector<uint8_t> bytes) {
    buffers.push_back(std::move(bytes));
    return static_cast<int>(buffers.size()) - 1;
  }
};

using KernelRunner = std::function<absl::Status(KernelJob& job)>;

// Buffer contents: `values` in `dtype` (f32, or f16/bf16 rounded to nearest
// even by base/half.h, as cvt.rn rounds), int32s, and `bytes` of 0xFF, the
// emulator's poison, so an output a kernel never writes reads back as NaN
// (f32, f16, bf16) or -1 (int32) on every device.
std::vector<uint8_t> FloatBytes(const std::vector<float>& values, DType dtype);
std::vector<uint8_t> IntBytes(const std::vector<int32_t>& values);
std::vector<uint8_t> PoisonBytes(size_t bytes);
// A buffer read back: floats of `dtype` (exact) and int32s.
std::vector<float> BytesToFloats(const std::vector<uint8_t>& bytes, DType dtype);
std::vector<int32_t> BytesToInts(const std::vector<uint8_t>& bytes);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_KERNEL_JOB_H_
