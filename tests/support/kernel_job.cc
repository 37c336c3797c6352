#include "tests/support/kernel_job.h"

#include "base/half.h"

namespace kiln::testing {

std::vector<uint8_t> FloatBytes(const std::vector<float>& values, DType dtype) {
  if (dtype == DType::kF32) {
    std::vector<uint8_t> bytes(values.size() * 4);
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  }
  std::vector<uint8_t> bytes(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = dtype == DType::kF16 ? FloatToF16(values[i]) : FloatToBF16(values[i]);
    std::memcpy(&bytes[2 * i], &bits, 2);
  }
  return bytes;
}

std::vector<uint8_t> IntBytes(const std::vector<int32_t>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> PoisonBytes(size_t bytes) { return std::vector<uint8_t>(bytes, 0xFF); }

std::vector<float> BytesToFloats(const std::vector<uint8_t>& bytes, DType dtype) {
  const size_t width = dtype == DType::kF32 ? 4 : 2;
  std::vector<float> values(bytes.size() / width);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(&values[i], &bytes[4 * i], 4);
      continue;
    }
    uint16_t bits;
    std::memcpy(&bits, &bytes[2 * i], 2);
    values[i] = dtype == DType::kF16 ? F16ToFloat(bits) : BF16ToFloat(bits);
  }
  return values;
}

std::vector<int32_t> BytesToInts(const std::vector<uint8_t>& bytes) {
  std::vector<int32_t> values(bytes.size() / 4);
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * 4);
  return values;
}

}  // namespace kiln::testing
