#include "tests/support/gpu_buffers.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_status.h"
#include "base/half.h"

namespace kiln::testing {

absl::StatusOr<GpuUnderTest> GpuForTests() {
  int count = 0;
  const cudaError_t counted = cudaGetDeviceCount(&count);
  if (counted != cudaSuccess || count == 0) {
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device: ", counted == cudaSuccess ? "0 devices" : cudaGetErrorString(counted)));
  }
  cudaDeviceProp prop{};
  KILN_GPU_CHECK(cudaGetDeviceProperties(&prop, 0));
  GpuUnderTest gpu;
  gpu.name = prop.name;
  gpu.arch = absl::StrCat("sm_", prop.major, prop.minor);
  const char* preset = prop.major == 8 ? "sm_80" : prop.major == 9 ? "sm_90" : nullptr;
  if (preset == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(gpu.name, " (", gpu.arch, ") has no GpuTarget preset"));
  }
  absl::StatusOr<codegen::GpuTarget> info = codegen::GpuTargetByName(preset);
  if (!info.ok()) return info.status();
  gpu.preset = *info;
  return gpu;
}

absl::StatusOr<gpu::DeviceMemory> Alloc(size_t bytes) {
  gpu::DeviceMemory memory;
  KILN_GPU_CHECK(cudaMalloc(memory.out(), std::max<size_t>(bytes, 16)));
  KILN_GPU_CHECK(cudaMemset(memory.get(), 0, std::max<size_t>(bytes, 16)));
  return memory;
}

absl::StatusOr<gpu::DeviceMemory> Upload(const std::vector<float>& values, DType dtype) {
  const std::vector<uint8_t> bytes = EncodeFloats(values, dtype);
  absl::StatusOr<gpu::DeviceMemory> memory = Alloc(bytes.size());
  if (!memory.ok()) return memory.status();
  KILN_GPU_CHECK(cudaMemcpy(memory->get(), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  return memory;
}

absl::StatusOr<gpu::DeviceMemory> UploadInts(const std::vector<int32_t>& values) {
  absl::StatusOr<gpu::DeviceMemory> memory = Alloc(values.size() * 4);
  if (!memory.ok()) return memory.status();
  KILN_GPU_CHECK(
      cudaMemcpy(memory->get(), values.data(), values.size() * 4, cudaMemcpyHostToDevice));
  return memory;
}

absl::StatusOr<std::vector<float>> Download(const gpu::DeviceMemory& memory, size_t n,
                                            DType dtype) {
  std::vector<uint8_t> bytes(n * (dtype == DType::kF32 ? 4 : 2));
  KILN_GPU_CHECK(cudaMemcpy(bytes.data(), memory.get(), bytes.size(), cudaMemcpyDeviceToHost));
  return DecodeFloats(bytes, dtype);
}

absl::StatusOr<int32_t> DownloadInt(const gpu::DeviceMemory& memory) {
  int32_t value = 0;
  KILN_GPU_CHECK(cudaMemcpy(&value, memory.get(), 4, cudaMemcpyDeviceToHost));
  return value;
}

absl::Status LaunchAndWait(cudaKernel_t kernel, dim3 grid, dim3 block, size_t shared_bytes,
                           std::vector<void*> args) {
  KILN_GPU_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block, args.data(),
                                  shared_bytes, nullptr));
  KILN_GPU_CHECK(cudaDeviceSynchronize());
  return absl::OkStatus();
}

}  // namespace kiln::testing
