#include "base/host_tensor.h"

#include "base/half.h"

namespace kiln {

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

HostTensor HostTensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  size_t n = static_cast<size_t>(NumElements(shape));
  t.shape = std::move(shape);
  if (HasFloatValues(dtype)) {
    t.floats.assign(n, 0.0f);
  } else {
    t.ints.assign(n, 0);
  }
  return t;
}

HostTensor HostTensor::FromFloats(DType dtype, std::vector<int64_t> shape,
                                  std::vector<float> values) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  for (float& v : values) v = RoundToDType(v, dtype);
  t.floats = std::move(values);
  return t;
}

HostTensor HostTensor::FromInts(DType dtype, std::vector<int64_t> shape,
                                std::vector<int64_t> values) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.ints = std::move(values);
  return t;
}

int64_t HostTensor::numel() const { return NumElements(shape); }

}  // namespace kiln
