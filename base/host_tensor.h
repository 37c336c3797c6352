// Dense host tensors: the CPU reference executor's values, and weights
// on their way from a checkpoint into an engine.
#ifndef KILN_BASE_HOST_TENSOR_H_
#define KILN_BASE_HOST_TENSOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace kiln {

// A dense, row-major tensor on the host. Float dtypes (f32, f16, bf16) keep
// their values as f32 that are exactly representable in the dtype (the
// executor rounds every op's result to its dtype); integer dtypes keep int64
// values. Exactly one of `floats` and `ints` holds the elements.
struct HostTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<float> floats;
  std::vector<int64_t> ints;

  // A zero tensor. `shape` must have a non-negative, non-overflowing size.
  static HostTensor Zeros(DType dtype, std::vector<int64_t> shape);
  // Float values, rounded to `dtype`'s precision.
  static HostTensor FromFloats(DType dtype, std::vector<int64_t> shape,
                               std::vector<float> values);
  static HostTensor FromInts(DType dtype, std::vector<int64_t> shape,
                             std::vector<int64_t> values);

  int64_t numel() const;
  int rank() const { return static_cast<int>(shape.size()); }
  // Size of the last dim (1 for a scalar) and the number of rows before it.
  int64_t inner() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return inner() == 0 ? 0 : numel() / inner(); }
};

// Named tensors: a module's weights by name.
using WeightMap = std::map<std::string, HostTensor, std::less<>>;

std::string ShapeString(const std::vector<int64_t>& shape);  // "[2,3]"
int64_t NumElements(const std::vector<int64_t>& shape);

}  // namespace kiln

#endif  // KILN_BASE_HOST_TENSOR_H_
