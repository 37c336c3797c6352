#include "models/gguf_dequant.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/quant_blocks.h"

namespace kiln {

std::optional<DType> DTypeOfGgml(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    case GgmlType::kQ8_0:
      return DType::kQ8_0;
    case GgmlType::kQ4_0:
      return DType::kQ4_0;
    case GgmlType::kQ4_1:
      return DType::kQ4_1;
    case GgmlType::kQ4_K:
      return DType::kQ4_K;
    case GgmlType::kQ5_K:
      return DType::kQ5_K;
    case GgmlType::kQ6_K:
      return DType::kQ6_K;
    default:
      return std::nullopt;
  }
}

bool CanDequantize(GgmlType type) { return DTypeOfGgml(type).has_value(); }

absl::Status DequantizeGgml(GgmlType type, std::span<const uint8_t> bytes, std::span<float> out) {
  std::optional<GgmlTypeTraits> traits = GgmlTypeInfo(type);
  std::optional<DType> dtype = DTypeOfGgml(type);
  if (!traits || !dtype) {
    return absl::UnimplementedError(absl::StrCat(
        "ggml type ", std::string(GgmlTypeName(type)),
        " is not supported yet (Kiln reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and "
        "Q6_K); re-quantise the model to one of those, e.g. with llama.cpp's llama-quantize"));
  }
  const int64_t n = static_cast<int64_t>(out.size());
  if (n % traits->block_size != 0 ||
      static_cast<int64_t>(bytes.size()) != n / traits->block_size * traits->type_size) {
    return absl::InternalError(absl::StrCat("DequantizeGgml: ", bytes.size(), " bytes for ", n,
                                            " elements of ", std::string(traits->name)));
  }
  // An empty tensor's spans may be null.
  if (n > 0) DequantizeRow(*dtype, bytes.data(), n, out.data());
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
