#include "tests/support/one_op.h"

#include "absl/strings/str_cat.h"
#include "ir/builder.h"
#include "runtime/reference/executor.h"

namespace kiln::testing {

absl::StatusOr<HostTensor> RunOneOp(Op op, std::vector<HostTensor> inputs, Attrs attrs) {
  Module module;
  module.name = "one_op";
  FunctionBuilder fb(module, "f");
  std::vector<ValueId> operands;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Shape shape;
    for (int64_t n : inputs[i].shape) shape.push_back(Dim::Static(n));
    operands.push_back(fb.Parameter(absl::StrCat("x", i), {inputs[i].dtype, shape}));
  }
  const ValueId out = fb.Add(op, operands, std::move(attrs), "out");
  if (absl::Status built = fb.Finish({out}); !built.ok()) return built;
  absl::StatusOr<ReferenceExecutor> executor = ReferenceExecutor::Create(std::move(module), WeightMap{});
  if (!executor.ok()) return executor.status();
  absl::StatusOr<std::vector<HostTensor>> results = executor->Run("f", std::move(inputs));
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

}  // namespace kiln::testing
