#include "tests/codegen/row_kernel_check.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/host_runtime.h"
#include "gtest/gtest.h"
#include "ir/text.h"
#include "tests/codegen/kernel_inputs.h"
#include "tests/support/model_kernels.h"

namespace kiln::codegen::testing {
namespace {

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
                                                    const host::HostKernel& h, int64_t rows,
                                                    bool bad_id, std::mt19937& rng,
                                                    const RowKernelRunner& run) {
  KILN_ASSIGN_OR_RETURN(Module module, ParseModule(desc.ir));
  const Function& f = module.functions[0];
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
  std::vector<std::vector<uint8_t>> device_buffers = host_buffers;
  std::vector<void*> host_pointers;
  for (std::vector<uint8_t>& b : host_buffers) host_pointers.push_back(b.data());
  h.fn(host_pointers.data(), rows);
  KILN_RETURN_IF_ERROR(run(desc, rows, device_buffers));

  int64_t compared = 0, identical = 0;
  const size_t first_out = inputs.size();
  for (size_t o = 0; o < out_types.size() + (h.has_fault ? 1 : 0); ++o) {
    const std::vector<uint8_t>& want = host_buffers[first_out + o];
    const std::vector<uint8_t>& got = device_buffers[first_out + o];
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

}  // namespace

absl::StatusOr<RowSuiteResult> CheckOddSizeRowSuites(const GpuTarget& preset,
                                                     const RowKernelRunner& run) {
  std::mt19937 rng(20261127);
  RowSuiteResult result;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    // The host renderings were generated with the A100 preset's threads; the
    // device runs the same descriptions (threads do not depend on the arch).
    KILN_ASSIGN_OR_RETURN(KernelSuite suite, OddSizeKernels(dtype, preset));
    for (const KernelDesc& desc : suite.kernels) {
      const host::HostKernel* h = HostRendering(suite.name, desc.name);
      if (h == nullptr || std::string(h->ir) != desc.ir) {
        return absl::InternalError(absl::StrCat(suite.name, "/", desc.name,
                                                ": no host rendering of this kernel"));
      }
      ++result.kernels;
      for (int64_t rows : {7, 300}) {
        for (bool bad_id : {false, true}) {
          if (bad_id && !h->has_fault) continue;
          absl::StatusOr<std::pair<int64_t, int64_t>> r = Compare(desc, *h, rows, bad_id, rng, run);
          if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat(desc.name, ": ", r.status().message()));
          result.compared += r->first;
          result.identical += r->second;
        }
      }
    }
  }
  return result;
}

}  // namespace kiln::codegen::testing
