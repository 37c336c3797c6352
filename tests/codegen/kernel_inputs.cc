#include "tests/codegen/kernel_inputs.h"

#include <cmath>
#include <cstring>

#include "base/half.h"

namespace kiln::codegen::testing {

std::vector<int64_t> Bind(const Shape& shape, int64_t rows) {
  std::vector<int64_t> out;
  for (const Dim& d : shape) out.push_back(d.is_static() ? d.size : rows);
  return out;
}

std::vector<uint8_t> ToStorage(const HostTensor& t) {
  if (t.dtype == DType::kI32) {
    std::vector<uint8_t> out(t.ints.size() * 4);
    for (size_t i = 0; i < t.ints.size(); ++i) {
      const int32_t v = static_cast<int32_t>(t.ints[i]);
      std::memcpy(out.data() + 4 * i, &v, 4);
    }
    return out;
  }
  return EncodeFloats(t.floats, t.dtype);
}

float FromStorage(const std::vector<uint8_t>& bytes, DType dtype, size_t i) {
  if (dtype == DType::kI32) {
    int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return static_cast<float>(v);
  }
  const size_t width = dtype == DType::kF32 ? 4 : 2;
  return DecodeFloats({bytes.data() + width * i, width}, dtype)[0];
}

std::vector<HostTensor> RandomInputs(const Function& f, std::mt19937& rng, int64_t rows,
                                     bool bad_id, bool nans) {
  std::vector<HostTensor> inputs;
  for (ValueId p : f.params) {
    const Node& param = f.node(p);
    std::vector<int64_t> shape = Bind(param.type.shape, rows);
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (param.type.dtype == DType::kI32) {
      int64_t lo = 0, hi = 1;
      for (const Node& user : f.nodes) {
        if (user.op != Op::kEmbedding || user.operands[1] != p) continue;
        int64_t offset = user.IntAttr("index_offset", 0);
        lo = std::max<int64_t>(0, -offset);
        hi = f.node(user.operands[0]).type.shape[0].size - offset;
      }
      std::uniform_int_distribution<int64_t> id(lo, hi - 1);
      std::vector<int64_t> ids(static_cast<size_t>(n));
      for (int64_t& v : ids) v = id(rng);
      if (bad_id) ids[2] = hi;
      inputs.push_back(HostTensor::FromInts(DType::kI32, shape, ids));
      continue;
    }
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) v = u(rng);
    if (nans && shape.size() == 2) {
      values[3 * shape[1] + 5] = NAN;
      values[3 * shape[1] + 1] = NAN;
      for (int64_t i = 0; i < shape[1]; ++i) values[4 * shape[1] + i] = -INFINITY;
    }
    inputs.push_back(HostTensor::FromFloats(param.type.dtype, shape, values));
  }
  return inputs;
}

}  // namespace kiln::codegen::testing
