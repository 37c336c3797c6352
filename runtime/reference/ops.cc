#include "runtime/reference/ops.h"

#include "absl/strings/str_cat.h"
#include "runtime/reference/ops_internal.h"

namespace kiln {

namespace reference_ops {

AxisSplit SplitAtAxis(const std::vector<int64_t>& shape, int axis) {
  AxisSplit split;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < axis) split.outer *= shape[d];
    if (d == axis) split.size = shape[d];
    if (d > axis) split.inner *= shape[d];
  }
  return split;
}

}  // namespace reference_ops

absl::StatusOr<HostTensor> EvalOp(const Node& node, std::span<HostTensor* const> in,
                                  const std::vector<int64_t>& out_shape,
                                  bool may_consume_first) {
  namespace ops = reference_ops;
  switch (node.op) {
    case Op::kParameter:
    case Op::kConstant:
      break;
    case Op::kEmbedding:
      return ops::Embedding(node, in);
    case Op::kReshape:
      return ops::Reshape(may_consume_first ? std::move(*in[0]) : *in[0], out_shape);
    case Op::kTranspose:
      return ops::Transpose(node, *in[0], out_shape);
    case Op::kConcat:
      return ops::Concat(node, in, out_shape);
    case Op::kSlice:
      return ops::Slice(node, *in[0], out_shape);
    case Op::kCast:
      return ops::Cast(node, *in[0]);
    case Op::kMatmul:
      return ops::Matmul(node, in, out_shape);
    case Op::kMatmulNT:
      return ops::MatmulNT(node, in, out_shape);
    case Op::kRmsNorm:
      return ops::RmsNorm(node, in);
    case Op::kLayerNorm:
      return ops::LayerNorm(node, in);
    case Op::kSoftmax:
      return ops::Softmax(node, *in[0]);
    case Op::kRope:
      return ops::Rope(node, in);
    case Op::kKvCacheWrite:
      return ops::KvCacheWrite(in, may_consume_first);
    case Op::kAttention:
      return ops::Attention(node, in);
    case Op::kAdd:
    case Op::kMul:
      return ops::Binary(node, in);
    case Op::kScale:
    case Op::kSilu:
    case Op::kGeluTanh:
    case Op::kGeluErf:
    case Op::kRelu:
      return ops::Unary(node, *in[0]);
    case Op::kArgmax:
      return ops::Argmax(*in[0], out_shape);
  }
  return absl::InternalError(
      absl::StrCat("EvalOp cannot evaluate ", std::string(GetOpInfo(node.op).name)));
}

}  // namespace kiln
