// Device buffers and launches for the GPU kernel tests that drive cudart
// directly (row kernels, GEMV bandwidth): allocation, typed upload and download through
// base/half.h's encodings, and a synchronous launch. Every call's
// failure comes back as an absl::Status naming the CUDA call.
#ifndef KILN_TESTS_SUPPORT_GPU_BUFFERS_H_
#define KILN_TESTS_SUPPORT_GPU_BUFFERS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "base/dtype.h"
#include "runtime/cuda/cuda_handles.h"

namespace kiln::testing {

// The GPU a test runs on: its name, native architecture ("sm_90") and the
// GpuTarget preset whose choices it is tested with (sm_8x: A100, sm_9x:
// H100, which H200s share).
struct GpuUnderTest {
  std::string name;
  std::string arch;
  codegen::GpuTarget preset;
};
// Unavailable (the test skips) without a usable device or driver, or when
// no preset matches the device; the reason says which.
absl::StatusOr<GpuUnderTest> GpuForTests();

// Zeroed device memory of at least `bytes` (16 when 0, so a pointer exists).
absl::StatusOr<gpu::DeviceMemory> Alloc(size_t bytes);
// `values` stored as `dtype` (f32, f16 or bf16).
absl::StatusOr<gpu::DeviceMemory> Upload(const std::vector<float>& values, DType dtype);
absl::StatusOr<gpu::DeviceMemory> UploadInts(const std::vector<int32_t>& values);
// `n` elements of `dtype` back as floats (exact).
absl::StatusOr<std::vector<float>> Download(const gpu::DeviceMemory& memory, size_t n, DType dtype);
absl::StatusOr<int32_t> DownloadInt(const gpu::DeviceMemory& memory);

// Launches `kernel` and waits for it.
absl::Status LaunchAndWait(cudaKernel_t kernel, dim3 grid, dim3 block, size_t shared_bytes,
                           std::vector<void*> args);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_GPU_BUFFERS_H_
