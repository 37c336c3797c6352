// Per-group op evaluators behind EvalOp (runtime/reference/ops.h).
#ifndef KILN_RUNTIME_REFERENCE_OPS_INTERNAL_H_
#define KILN_RUNTIME_REFERENCE_OPS_INTERNAL_H_

#include "runtime/reference/ops.h"

namespace kiln::reference_ops {

using Operands = std::span<HostTensor* const>;
using OutShape = const std::vector<int64_t>&;

// ops_elementwise.cc
absl::StatusOr<HostTensor> Binary(const Node& node, Operands in);
HostTensor Unary(const Node& node, const HostTensor& x);
HostTensor Cast(const Node& node, const HostTensor& x);

// ops_shape.cc
absl::StatusOr<HostTensor> Embedding(const Node& node, Operands in);
HostTensor Reshape(HostTensor x, OutShape out_shape);
HostTensor Transpose(const Node& node, const HostTensor& x, OutShape out_shape);
HostTensor Concat(const Node& node, Operands in, OutShape out_shape);
absl::StatusOr<HostTensor> Slice(const Node& node, const HostTensor& x, OutShape out_shape);

// ops_linalg.cc
HostTensor Matmul(const Node& node, Operands in, OutShape out_shape);
HostTensor MatmulNT(const Node& node, Operands in, OutShape out_shape);
HostTensor RmsNorm(const Node& node, Operands in);
HostTensor LayerNorm(const Node& node, Operands in);
HostTensor Softmax(const Node& node, const HostTensor& x);
HostTensor Argmax(const HostTensor& x, OutShape out_shape);

// ops_attention.cc
HostTensor Rope(const Node& node, Operands in);
absl::StatusOr<HostTensor> KvCacheWrite(Operands in, bool may_consume_first);
absl::StatusOr<HostTensor> Attention(const Node& node, Operands in);

// Splits `shape` around `axis` into (outer, size, inner) element counts.
struct AxisSplit {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;
};
AxisSplit SplitAtAxis(const std::vector<int64_t>& shape, int axis);

// Resolves a possibly negative axis (already checked by the verifier).
inline int ResolveAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace kiln::reference_ops

#endif  // KILN_RUNTIME_REFERENCE_OPS_INTERNAL_H_
