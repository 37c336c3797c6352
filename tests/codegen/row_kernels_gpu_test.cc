// The generated row kernels on a GPU against their host renderings
// (row_kernel_check.h: the odd-size suites, hidden 769, vocabulary 1031, MLP
// 2053, in f32, f16 and bf16 at 7 and 300 rows), compiled by NVRTC for the
// device with its GpuTarget preset and launched as codegen/render.h
// documents. SKIPPED without a device; never run on a GPU yet. The same
// suites run in the emulator in row_kernels_emulator_test.
#include <cstdio>

#include "codegen/nvrtc_compile.h"
#include "codegen/render.h"
#include "gtest/gtest.h"
#include "base/status_macros.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "tests/codegen/row_kernel_check.h"
#include "tests/support/gpu_buffers.h"

namespace kiln::codegen {
namespace {

// Uploads the buffers, compiles and launches the kernel, downloads them.
absl::Status RunOnGpu(const GpuTarget& info, const KernelDesc& desc, int64_t rows,
                      std::vector<std::vector<uint8_t>>& buffers) {
  std::vector<gpu::DeviceMemory> device;
  std::vector<void*> device_pointers;
  for (const std::vector<uint8_t>& b : buffers) {
    KILN_ASSIGN_OR_RETURN(gpu::DeviceMemory m, ::kiln::testing::Alloc(b.size()));
    KILN_GPU_CHECK(cudaMemcpy(m.get(), b.data(), b.size(), cudaMemcpyHostToDevice));
    device_pointers.push_back(m.get());
    device.push_back(std::move(m));
  }
  KILN_ASSIGN_OR_RETURN(std::string source, RenderCuda(desc));
  KILN_ASSIGN_OR_RETURN(CompiledKernel compiled,
                        CompileKernel(CudaPrelude() + "\n" + source, desc.name, info, ""));
  gpu::Library library;
  cudaKernel_t kernel = nullptr;
  KILN_GPU_CHECK(cudaLibraryLoadData(library.out(), compiled.cubin.data(), nullptr, nullptr, 0,
                                     nullptr, nullptr, 0));
  KILN_GPU_CHECK(cudaLibraryGetKernel(&kernel, library.get(), desc.name.c_str()));
  std::vector<void*> args;
  for (void*& p : device_pointers) args.push_back(&p);
  long long launch_rows = rows;
  args.push_back(&launch_rows);
  KILN_RETURN_IF_ERROR(::kiln::testing::LaunchAndWait(kernel, dim3(static_cast<unsigned>(rows)),
                                                      dim3(static_cast<unsigned>(desc.threads)), 0,
                                                      args));
  for (size_t i = 0; i < buffers.size(); ++i) {
    KILN_GPU_CHECK(cudaMemcpy(buffers[i].data(), device[i].get(), buffers[i].size(),
                              cudaMemcpyDeviceToHost));
  }
  return absl::OkStatus();
}

TEST(RowKernelsGpuTest, OddSizeSuitesMatchTheirHostRenderings) {
  absl::StatusOr<::kiln::testing::GpuUnderTest> gpu = ::kiln::testing::GpuForTests();
  if (!gpu.ok()) GTEST_SKIP() << gpu.status().message();
  absl::StatusOr<testing::RowSuiteResult> r = testing::CheckOddSizeRowSuites(
      gpu->preset, [&](const KernelDesc& desc, int64_t rows, std::vector<std::vector<uint8_t>>& b) {
        return RunOnGpu(gpu->preset, desc, rows, b);
      });
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("%s: %lld kernels, %lld of %lld elements bit-identical to the host renderings\n",
              gpu->name.c_str(), static_cast<long long>(r->kernels),
              static_cast<long long>(r->identical), static_cast<long long>(r->compared));
}

}  // namespace
}  // namespace kiln::codegen
