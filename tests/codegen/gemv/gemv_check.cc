#include "tests/codegen/gemv/gemv_check.h"

#include <utility>

#include "base/status_macros.h"
#include "codegen/gemv/gemv_cuda.h"
#include "gtest/gtest.h"
#include "ir/builder.h"
#include "tests/support/one_op.h"

namespace kiln::codegen::gemv::testing {

using ::kiln::testing::FloatBytes;
using ::kiln::testing::KernelCall;
using ::kiln::testing::KernelJob;
using ::kiln::testing::KernelParam;
using ::kiln::testing::PoisonBytes;

absl::StatusOr<std::vector<float>> RunGemv(const KernelRunner& run, const GemvVariant& variant,
                                           const Problem& p) {
  KernelCall call;
  KILN_ASSIGN_OR_RETURN(call.source, RenderGemvCuda(variant));
  call.function = GemvKernelName(variant);
  call.grid = {static_cast<unsigned>(GemvBlocks(variant.tiles, p.n)), 1, 1};
  call.block = {static_cast<unsigned>(variant.tiles.threads()), 1, 1};
  KernelJob job;
  const int x = job.AddBuffer(FloatBytes(p.x, p.dtype)), w = job.AddBuffer(FloatBytes(p.w, p.dtype));
  const int bias = job.AddBuffer(FloatBytes(p.bias, p.dtype));  // empty: nullptr
  const int out = job.AddBuffer(PoisonBytes(p.rows * p.n * (p.dtype == DType::kF32 ? 4 : 2)));
  call.params = {KernelParam::Buffer(x), KernelParam::Buffer(w), KernelParam::Buffer(bias),
                 KernelParam::Buffer(out), KernelParam::Scalar(static_cast<int>(p.n)),
                 KernelParam::Scalar(static_cast<int>(p.rows))};
  job.calls.push_back(std::move(call));
  KILN_RETURN_IF_ERROR(run(job));
  return ::kiln::testing::BytesToFloats(job.buffers[out], p.dtype);
}

absl::StatusOr<HostTensor> ReferenceMatmulNT(const Problem& p) {
  std::vector<HostTensor> inputs = {HostTensor::FromFloats(p.dtype, {p.rows, p.k}, p.x),
                                    HostTensor::FromFloats(p.dtype, {p.n, p.k}, p.w)};
  if (!p.bias.empty()) inputs.push_back(HostTensor::FromFloats(p.dtype, {p.n}, p.bias));
  return ::kiln::testing::RunOneOp(Op::kMatmulNT, std::move(inputs));
}

double GemvError(const std::vector<float>& got, const std::vector<float>& want, DType dtype) {
  return dtype == DType::kF32 ? Nmse(got, want) : AllCloseRatio(got, want, dtype);
}

double GemvLimit(DType dtype) { return dtype == DType::kF32 ? 1e-7 : 1.0; }

absl::StatusOr<GemvChecked> CheckGemv(const KernelRunner& run, const GemvVariant& variant,
                                      const Problem& p, const std::string& what) {
  KILN_ASSIGN_OR_RETURN(HostTensor spec, ReferenceMatmulNT(p));
  KILN_ASSIGN_OR_RETURN(std::vector<float> got, RunGemv(run, variant, p));
  GemvChecked c;
  c.agreement = ::kiln::testing::CompareBits(got, spec.floats);
  c.error = GemvError(got, spec.floats, p.dtype);
  c.ok = c.error <= GemvLimit(p.dtype);
  EXPECT_TRUE(c.ok) << what << ": error " << c.error << " > " << GemvLimit(p.dtype);
  return c;
}

}  // namespace kiln::codegen::gemv::testing
