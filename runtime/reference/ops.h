// Evaluation of single IR ops on host tensors: the semantics of every op.
#ifndef KILN_RUNTIME_REFERENCE_OPS_H_
#define KILN_RUNTIME_REFERENCE_OPS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "base/host_tensor.h"

namespace kiln {

// Evaluates `node` (not a parameter or constant) on its operand values.
// `out_shape` is the node's result shape with its symbols bound. When
// `may_consume_first` is true the op may move from operands[0] instead of
// copying it (kv_cache_write updates the cache in place that way).
//
// Float math runs in f32 (reductions in double) and the result is rounded
// to the node's dtype once. Errors are data-dependent faults a caller can
// cause: token ids or cache positions out of range, symbolic slices out of
// bounds.
absl::StatusOr<HostTensor> EvalOp(const Node& node, std::span<HostTensor* const> operands,
                                  const std::vector<int64_t>& out_shape,
                                  bool may_consume_first);

// Threads the executor's matrix products may use: $KILN_CPU_THREADS when it
// is a positive integer (benchmarks pin it), else the hardware's; at most 8.
// Results do not depend on it.
int64_t CpuThreads();

}  // namespace kiln

#endif  // KILN_RUNTIME_REFERENCE_OPS_H_
