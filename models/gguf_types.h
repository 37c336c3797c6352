// The two type enums of the GGUF container (llama.cpp's model format): the
// ggml element types of tensors, with their block layout, and the value types
// of metadata entries. Numbering is fixed by the files, so each enumerator
// carries its on-disk value.
#ifndef KILN_MODELS_GGUF_TYPES_H_
#define KILN_MODELS_GGUF_TYPES_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace kiln {

// A ggml tensor element type as stored in a GGUF tensor-info record.
// Quantized types store elements in fixed-size blocks: `block_size` elements
// take `type_size` bytes (Q4_0: 32 elements in 18 bytes, an f16 scale plus 16
// bytes of nibbles). Values 4, 5, 31-33 and 36-38 were types that ggml has
// removed; they are absent here and GgmlTypeFromValue reports them as such.
enum class GgmlType : uint32_t {
  // Plain floats and integers: one element a block.
  kF32 = 0,
  kF16 = 1,
  kBF16 = 30,
  kF64 = 28,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  // Legacy 32-element blocks with one (or two) f16 scales.
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  // k-quants: 256-element super-blocks with quantized sub-block scales.
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  // i-quants (lattice codebooks) and ternary types.
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kIQ1_M = 29,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  // Microscaling 4-bit floats.
  kMXFP4 = 39,
  kNVFP4 = 40,
};

// Block layout of a ggml type. Bytes for n elements (n a multiple of
// block_size) = n / block_size * type_size.
struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;  // ggml's spelling: "F32", "Q4_K", ...
  int64_t block_size;     // Elements a block.
  int64_t type_size;      // Bytes a block.
  bool quantized;
};

// The traits of `type`, or nullopt for a value that is no known ggml type
// (an unknown or removed number cast to GgmlType).
std::optional<GgmlTypeTraits> GgmlTypeInfo(GgmlType type);

// "Q4_K", or "unknown" for a value that is no known type.
std::string_view GgmlTypeName(GgmlType type);

// Why `value` is not a type this reader knows, e.g. "unknown ggml type 99" or
// "ggml type 31 (Q4_0_4_4) was removed from ggml; re-convert the model".
// Empty when `value` is a known type.
std::string GgmlTypeProblem(uint32_t value);

// The type of a metadata value (gguf_type in ggml).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

inline constexpr uint32_t kGgufValueTypeCount = 13;

// "uint32", "string", ...; "unknown" for a value outside the enum.
std::string_view GgufValueTypeName(GgufValueType type);

// Bytes one value of a fixed-size type takes (uint8 -> 1, float64 -> 8), or
// 0 for string and array, whose size is given by a length prefix.
int GgufFixedSize(GgufValueType type);

bool GgufIsInteger(GgufValueType type);

// Decodes the little-endian T (an integer, float or double) at `p`, which
// need not be aligned: GGUF packs its fields without padding. Byte by byte,
// so it is also right on a big-endian host.
template <typename T>
T LoadLittleEndian(const uint8_t* p) {
  static_assert(sizeof(T) <= 8 && !std::is_same_v<T, bool> &&
                (std::is_integral_v<T> || std::is_floating_point_v<T>));
  uint64_t u = 0;
  for (size_t i = sizeof(T); i-- > 0;) u = (u << 8) | p[i];
  if constexpr (std::is_same_v<T, float>) {
    return std::bit_cast<float>(static_cast<uint32_t>(u));
  } else if constexpr (std::is_same_v<T, double>) {
    return std::bit_cast<double>(u);
  } else {
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(u));
  }
}

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_TYPES_H_
