#include "models/gguf_dequant.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/half.h"

namespace kiln {
namespace {

constexpr int64_t kLegacyBlock = 32;  // elements a Q8_0/Q4_0/Q4_1 block

uint16_t ReadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// One 34-byte Q8_0 block into 32 floats.
void DequantizeQ8_0Block(const uint8_t* block, float* out) {
  const float d = F16ToFloat(ReadU16(block));
  const auto* q = reinterpret_cast<const int8_t*>(block + 2);
  for (int i = 0; i < kLegacyBlock; ++i) out[i] = static_cast<float>(q[i]) * d;
}

// One 18-byte Q4_0 block: nibbles are offset by 8 to make them signed.
void DequantizeQ4_0Block(const uint8_t* block, float* out) {
  const float d = F16ToFloat(ReadU16(block));
  const uint8_t* nibbles = block + 2;
  for (int i = 0; i < kLegacyBlock / 2; ++i) {
    out[i] = static_cast<float>((nibbles[i] & 0x0F) - 8) * d;
    out[i + kLegacyBlock / 2] = static_cast<float>((nibbles[i] >> 4) - 8) * d;
  }
}

// One 20-byte Q4_1 block: unsigned nibbles scaled by d and shifted by m.
void DequantizeQ4_1Block(const uint8_t* block, float* out) {
  const float d = F16ToFloat(ReadU16(block));
  const float m = F16ToFloat(ReadU16(block + 2));
  const uint8_t* nibbles = block + 4;
  for (int i = 0; i < kLegacyBlock / 2; ++i) {
    out[i] = static_cast<float>(nibbles[i] & 0x0F) * d + m;
    out[i + kLegacyBlock / 2] = static_cast<float>(nibbles[i] >> 4) * d + m;
  }
}

template <typename BlockFn>
void DequantizeBlocks(std::span<const uint8_t> bytes, int64_t block_bytes, BlockFn fn,
                      std::span<float> out) {
  const int64_t blocks = static_cast<int64_t>(out.size()) / kLegacyBlock;
  for (int64_t b = 0; b < blocks; ++b) {
    fn(bytes.data() + b * block_bytes, out.data() + b * kLegacyBlock);
  }
}

}  // namespace

bool CanDequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
      return true;
    default:
      return false;
  }
}

absl::Status DequantizeGgml(GgmlType type, std::span<const uint8_t> bytes, std::span<float> out) {
  std::optional<GgmlTypeTraits> traits = GgmlTypeInfo(type);
  if (!traits || !CanDequantize(type)) {
    return absl::UnimplementedError(absl::StrCat(
        "ggml type ", std::string(GgmlTypeName(type)),
        " is not supported yet (Kiln reads F32, F16, BF16, Q8_0, Q4_0 and Q4_1); re-quantise "
        "the model to one of those, e.g. with llama.cpp's llama-quantize"));
  }
  const int64_t n = static_cast<int64_t>(out.size());
  if (n % traits->block_size != 0 ||
      static_cast<int64_t>(bytes.size()) != n / traits->block_size * traits->type_size) {
    return absl::InternalError(absl::StrCat("DequantizeGgml: ", bytes.size(), " bytes for ", n,
                                            " elements of ", std::string(traits->name)));
  }
  switch (type) {
    case GgmlType::kF32:
      // An empty tensor's spans may be null, which memcpy must not see.
      if (n > 0) std::memcpy(out.data(), bytes.data(), bytes.size());
      break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = F16ToFloat(ReadU16(bytes.data() + 2 * i));
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = BF16ToFloat(ReadU16(bytes.data() + 2 * i));
      break;
    case GgmlType::kQ8_0:
      DequantizeBlocks(bytes, traits->type_size, DequantizeQ8_0Block, out);
      break;
    case GgmlType::kQ4_0:
      DequantizeBlocks(bytes, traits->type_size, DequantizeQ4_0Block, out);
      break;
    case GgmlType::kQ4_1:
      DequantizeBlocks(bytes, traits->type_size, DequantizeQ4_1Block, out);
      break;
    default:
      break;  // ruled out above
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> DequantizeGgufTensor(const GgufTensor& tensor) {
  std::vector<float> values(static_cast<size_t>(tensor.n_elements));
  absl::Status status = DequantizeGgml(tensor.type, tensor.data, values);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("tensor \"", tensor.name, "\": ", std::string(status.message())));
  }
  return values;
}

}  // namespace kiln
