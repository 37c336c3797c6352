// The CPU reference executor: runs IR functions op by op on host tensors.
#ifndef KILN_RUNTIME_REFERENCE_EXECUTOR_H_
#define KILN_RUNTIME_REFERENCE_EXECUTOR_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "base/host_tensor.h"
#include "runtime/engine/weight_store.h"

namespace kiln {

// Runs the functions of a verified module on the CPU with the semantics of
// runtime/reference/ops.h. It is the specification every other backend is
// checked against, so it favours clarity over speed. Symbolic dims are bound
// from the shapes of the inputs of each call. Intermediate values are freed
// after their last use, and an operand consumed by its last user (the KV
// cache in kv_cache_write) is updated in place. Thread-compatible: Run is
// const and may be called concurrently.
class ReferenceExecutor {
 public:
  // Checks that `weights` holds every weight the module declares, with the
  // declared dtype and shape, and that the module verifies.
  static absl::StatusOr<ReferenceExecutor> Create(Module module, WeightMap weights);
  // The same over an engine's stored weights, widened to f32 values here.
  static absl::StatusOr<ReferenceExecutor> Create(Module module, const WeightStore& weights);

  // Runs `function` on `inputs` (one per parameter, matching its dtype and
  // shape after binding symbols) and returns its results.
  absl::StatusOr<std::vector<HostTensor>> Run(std::string_view function,
                                              std::vector<HostTensor> inputs) const;

  const Module& module() const { return module_; }

 private:
  ReferenceExecutor(Module module, WeightMap weights)
      : module_(std::move(module)), weights_(std::move(weights)) {}

  Module module_;
  WeightMap weights_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_REFERENCE_EXECUTOR_H_
