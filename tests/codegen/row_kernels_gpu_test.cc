// The generated row kernels on a GPU against their host renderings: every
// kernel of the odd-size suites (hidden 769, vocabulary 1031, MLP 2053;
// embedding with an index offset, residual + RMSNorm/LayerNorm, Gemma's
// norm, SwiGLU, GeGLU tanh/erf, ReLU, adds, scale, cast, argmax) in f32,
// f16 and bf16, at 7 and 300 rows, compiled by NVRTC for the device with
// its GpuTarget preset and launched as codegen/render.h documents, on the
// same random inputs (NaN and -inf rows included) as the host rendering.
// Expected: bit-identical outputs except the last ulps of expf/tanhf/erff
// (SiLU, GELU), within TESTING.md's kernel tolerance; the count of
// bit-identical elements is printed. A bad embedding id sets the fault flag.
// SKIPPED without a device; never run on a GPU yet.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "codegen/host_runtime.h"
#include "tests/support/model_kernels.h"
#include "codegen/nvrtc_compile.h"
#include "codegen/render.h"
#include "gtest/gtest.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "runtime/cuda/cuda_handles.h"
#include "runtime/cuda/cuda_status.h"
#include "tests/codegen/kernel_inputs.h"
#include "tests/support/gpu_buffers.h"

namespace kiln::codegen {
namespace {

using ::kiln::codegen::testing::Bind;
using ::kiln::codegen::testing::FromStorage;
using ::kiln::codegen::testing::RandomInputs;
using ::kiln::codegen::testing::ToStorage;

const host::HostKernel* HostRendering(const std::string& suite, const std::string& name) {
  for (const host::HostKernel& k : host::GeneratedHostKernels()) {
    if (suite == k.suite && name == k.name) return &k;
  }
  return nullptr;
}

int64_t Bytes(DType dtype, int64_t n) {
  return n * (dtype == DType::kF16 || dtype == DType::kBF16 ? 2 : 4);
}

// Runs `desc` on the device and its host rendering on the same inputs;
// returns (elements compared, bit-identical).
absl::StatusOr<std::pair<int64_t, int64_t>> Compare(const KernelDesc& desc,
                                                    const host::HostKernel& h,
                                                    const GpuTarget& info, int64_t rows,
                                                    bool bad_id, std::mt19937& rng) {
  absl::StatusOr<Module> module = ParseModule(desc.ir);
  if (!module.ok()) return module.status();
  const Function& f = module->functions[0];
  std::vector<HostTensor> inputs = RandomInputs(f, rng, rows, bad_id, !bad_id);
  std::vector<std::vector<uint8_t>> host_buffers;
  for (const HostTensor& t : inputs) host_buffers.push_back(ToStorage(t));
  std::vector<DType> out_types;
  for (ValueId r : f.results) {
    int64_t n = 1;
    for (int64_t d : Bind(f.node(r).type.shape, rows)) n *= d;
    out_types.push_back(f.node(r).type.dtype);
    host_buffers.emplace_back(static_cast<size_t>(Bytes(out_types.back(), n)), 0);
  }
  if (h.has_fault) host_buffers.emplace_back(4, 0);
  std::vector<gpu::DeviceMemory> device;
  std::vector<void*> device_pointers;
  for (const std::vector<uint8_t>& b : host_buffers) {
    absl::StatusOr<gpu::DeviceMemory> m = ::kiln::testing::Alloc(b.size());
    if (!m.ok()) return m.status();
    KILN_GPU_CHECK(cudaMemcpy(m->get(), b.data(), b.size(), cudaMemcpyHostToDevice));
    device_pointers.push_back(m->get());
    device.push_back(*std::move(m));
  }
  std::vector<void*> host_pointers;
  for (std::vector<uint8_t>& b : host_buffers) host_pointers.push_back(b.data());
  h.fn(host_pointers.data(), rows);

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

  int64_t compared = 0, identical = 0;
  const size_t first_out = inputs.size();
  for (size_t o = 0; o < out_types.size() + (h.has_fault ? 1 : 0); ++o) {
    const std::vector<uint8_t>& want = host_buffers[first_out + o];
    std::vector<uint8_t> got(want.size());
    KILN_GPU_CHECK(
        cudaMemcpy(got.data(), device[first_out + o].get(), got.size(), cudaMemcpyDeviceToHost));
    const bool fault = o == out_types.size();
    const DType dt = fault ? DType::kI32 : out_types[o];
    if (bad_id && !fault) continue;  // a faulting row's values are unspecified
    const size_t n = got.size() / (dt == DType::kF16 || dt == DType::kBF16 ? 2 : 4);
    for (size_t i = 0; i < n; ++i) {
      const float g = FromStorage(got, dt, i), w = FromStorage(want, dt, i);
      ++compared;
      if ((std::isnan(g) && std::isnan(w)) || std::memcmp(&g, &w, 4) == 0) {
        ++identical;
        continue;
      }
      const double atol = dt == DType::kF32 ? 1e-5 : 1e-3;
      const double rtol = dt == DType::kBF16 ? 1.6e-2 : dt == DType::kF16 ? 1e-3 : 1.3e-6;
      EXPECT_LE(std::fabs(static_cast<double>(g) - w), atol + rtol * std::fabs(w))
          << desc.name << " output " << o << " element " << i << ": device " << g << ", host " << w;
    }
  }
  return std::pair(compared, identical);
}

TEST(RowKernelsGpuTest, OddSizeSuitesMatchTheirHostRenderings) {
  absl::StatusOr<::kiln::testing::GpuUnderTest> gpu = ::kiln::testing::GpuForTests();
  if (!gpu.ok()) GTEST_SKIP() << gpu.status().message();
  std::mt19937 rng(20261127);
  int64_t compared = 0, identical = 0;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    // The host renderings were generated with the A100 preset's threads; the
    // device runs the same descriptions (threads do not depend on the arch).
    absl::StatusOr<KernelSuite> suite = OddSizeKernels(dtype, gpu->preset);
    ASSERT_TRUE(suite.ok()) << suite.status();
    for (const KernelDesc& desc : suite->kernels) {
      const host::HostKernel* h = HostRendering(suite->name, desc.name);
      ASSERT_NE(h, nullptr) << suite->name << "/" << desc.name;
      ASSERT_EQ(std::string(h->ir), desc.ir) << "the host rendering is of another kernel";
      for (int64_t rows : {7, 300}) {
        for (bool bad_id : {false, true}) {
          if (bad_id && !h->has_fault) continue;
          absl::StatusOr<std::pair<int64_t, int64_t>> r =
              Compare(desc, *h, gpu->preset, rows, bad_id, rng);
          ASSERT_TRUE(r.ok()) << desc.name << ": " << r.status();
          compared += r->first;
          identical += r->second;
        }
      }
    }
  }
  std::printf("%s: %lld of %lld elements bit-identical to the host renderings\n", gpu->name.c_str(),
              static_cast<long long>(identical), static_cast<long long>(compared));
}

}  // namespace
}  // namespace kiln::codegen
