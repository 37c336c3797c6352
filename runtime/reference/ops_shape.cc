// Data movement: embedding gather, reshape, transpose, concat, slice.
#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "runtime/reference/ops_internal.h"

namespace kiln::reference_ops {

// out[..., :] = table[ids[...] + index_offset, :]. Valid ids are
// non-negative and name a row of the table: [max(0, -offset), rows - offset).
absl::StatusOr<HostTensor> Embedding(const Node& node, Operands in) {
  const HostTensor& table = *in[0];
  const HostTensor& ids = *in[1];
  int64_t rows = table.shape[0], width = table.shape[1];
  int64_t offset = node.IntAttr("index_offset", 0);
  // Bounds in id space, computed without overflow for any offset.
  int64_t lo = 0, hi = 0;
  if (__builtin_sub_overflow(int64_t{0}, offset, &lo)) lo = INT64_MAX;
  if (__builtin_sub_overflow(rows, offset, &hi)) hi = offset < 0 ? INT64_MAX : INT64_MIN;
  lo = std::max<int64_t>(lo, 0);
  std::vector<int64_t> shape = ids.shape;
  shape.push_back(width);
  // The node's dtype: a block-quantized table gathers its dequantised (f32)
  // values.
  HostTensor out = HostTensor::Zeros(node.type.dtype, shape);
  for (int64_t i = 0; i < ids.numel(); ++i) {
    int64_t id = ids.ints[i];
    if (id < lo || id >= hi) {
      return absl::InvalidArgumentError(absl::StrCat("%", node.name, " (embedding): index ", id,
                                                     " is out of range [", lo, ", ", hi, ")"));
    }
    std::copy_n(table.floats.begin() + (id + offset) * width, width,
                out.floats.begin() + i * width);
  }
  return out;
}

HostTensor Reshape(HostTensor x, OutShape out_shape) {
  x.shape = out_shape;
  return x;
}

HostTensor Transpose(const Node& node, const HostTensor& x, OutShape out_shape) {
  std::vector<int64_t> perm = node.IntsAttr("perm");
  int rank = x.rank();
  // Strides of the input, visited in output order.
  std::vector<int64_t> in_strides(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * x.shape[d + 1];
  std::vector<int64_t> strides(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) strides[d] = in_strides[perm[d]];
  HostTensor out = HostTensor::Zeros(x.dtype, out_shape);
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0;
    for (int d = 0; d < rank; ++d) src += index[d] * strides[d];
    if (IsFloat(x.dtype)) {
      out.floats[i] = x.floats[src];
    } else {
      out.ints[i] = x.ints[src];
    }
    for (int d = rank - 1; d >= 0; --d) {  // odometer increment
      if (++index[d] < out_shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

HostTensor Concat(const Node& node, Operands in, OutShape out_shape) {
  int axis = ResolveAxis(node.IntAttr("axis"), static_cast<int>(out_shape.size()));
  HostTensor out = HostTensor::Zeros(in[0]->dtype, out_shape);
  AxisSplit total = SplitAtAxis(out_shape, axis);
  int64_t offset = 0;  // along the axis
  for (HostTensor* part : in) {
    AxisSplit s = SplitAtAxis(part->shape, axis);
    int64_t block = s.size * s.inner;
    for (int64_t o = 0; o < s.outer; ++o) {
      int64_t src = o * block, dst = (o * total.size + offset) * total.inner;
      if (IsFloat(out.dtype)) {
        std::copy_n(part->floats.begin() + src, block, out.floats.begin() + dst);
      } else {
        std::copy_n(part->ints.begin() + src, block, out.ints.begin() + dst);
      }
    }
    offset += s.size;
  }
  return out;
}

absl::StatusOr<HostTensor> Slice(const Node& node, const HostTensor& x, OutShape out_shape) {
  int axis = ResolveAxis(node.IntAttr("axis"), x.rank());
  int64_t start = node.IntAttr("start"), end = node.IntAttr("end");
  if (end > x.shape[axis]) {
    return absl::InvalidArgumentError(absl::StrCat("%", node.name, " (slice): [", start, ", ", end,
                                                   ") exceeds the dim size ", x.shape[axis]));
  }
  HostTensor out = HostTensor::Zeros(x.dtype, out_shape);
  AxisSplit s = SplitAtAxis(x.shape, axis);
  int64_t block = (end - start) * s.inner;
  for (int64_t o = 0; o < s.outer; ++o) {
    int64_t src = (o * s.size + start) * s.inner, dst = o * block;
    if (IsFloat(x.dtype)) {
      std::copy_n(x.floats.begin() + src, block, out.floats.begin() + dst);
    } else {
      std::copy_n(x.ints.begin() + src, block, out.ints.begin() + dst);
    }
  }
  return out;
}

}  // namespace kiln::reference_ops
