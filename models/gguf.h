// Read-only access to GGUF files (llama.cpp's model and vocabulary format).
//
// Layout (all little-endian; versions 2 and 3 share it, v3 only added the
// option of big-endian files, which Kiln refuses):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type
//                    | u64 offset }
//   zero padding up to a multiple of `alignment` (general.alignment, else 32)
//   data section: each tensor's bytes at data_start + offset
// A string is a u64 byte length then the bytes (no NUL); an array is a u32
// element type, a u64 element count, then the elements back to back.
//
// The file is memory-mapped; strings, arrays and tensor bytes are views into
// the mapping, so opening a multi-gigabyte model copies nothing and a
// 150k-token vocabulary is read in place.
#ifndef KILN_MODELS_GGUF_H_
#define KILN_MODELS_GGUF_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/gguf_types.h"
#include "base/mapped_file.h"

namespace kiln {

// One metadata value, still encoded: the getters of GgufFile decode it on
// demand. `bytes` points into the owning file's mapping.
struct GgufValue {
  GgufValueType type;
  // For an array, the type of its elements; otherwise equal to `type`.
  GgufValueType element_type;
  // Elements of an array; 1 for a scalar or string.
  uint64_t count;
  // File offset of the value's encoding (after its type tag; for an array,
  // of its first element), for errors.
  uint64_t offset;
  // The encoding: a scalar's little-endian bytes; a string's characters; an
  // array's elements, back to back (for strings: u64 length, characters).
  std::span<const uint8_t> bytes;
};

// One tensor-info record with its data. `data` points into the owning
// file's mapping and is valid while the file lives.
struct GgufTensor {
  std::string name;
  GgmlType type;
  // ggml order: ne[0] is the innermost (contiguous) dimension, so a PyTorch
  // weight of shape [out, in] is stored with ne = {in, out}. Empty for a
  // scalar (n_dims 0); dims may be 0.
  std::vector<int64_t> ne;
  // Offset of the data from the start of the data section.
  uint64_t offset = 0;
  // Product of ne; cannot overflow, Open checked it.
  int64_t n_elements = 0;
  // n_elements / block size x block bytes.
  uint64_t n_bytes = 0;
  // Aligned to the file's alignment (relative to the page-aligned mapping).
  std::span<const uint8_t> data;

  // The row-major (PyTorch, safetensors) shape: ne reversed.
  std::vector<int64_t> RowMajorShape() const;
};

// A validated, memory-mapped GGUF file.
//
// Open() rejects every malformed file with an absl::Status naming the path,
// the byte offset and the key or tensor at fault; it never aborts and never
// allocates more than a small multiple of the file size, whatever counts
// the file declares (each count is checked against the bytes left before
// anything is reserved). After a successful Open the invariants hold:
//   - keys are unique, at most 65535 bytes; each value lies in the file;
//     bools are 0 or 1; arrays are not nested;
//   - general.alignment, if present, is a uint32 power of two;
//   - tensor names are unique; n_dims <= 4; every ne >= 0 and their product
//     times the block bytes fits in int64; ne[0] is a multiple of the type's
//     block size; every type is a known ggml type;
//   - every tensor's offset is a multiple of the alignment and its bytes lie
//     inside the data section; no two tensors' bytes overlap.
// Gaps between tensors and bytes after the last one are allowed (GGUF pads
// each tensor to the alignment). Strings are not checked for UTF-8: the
// spec asks for it, but tokenizer vocabularies are consumed as raw bytes.
//
// Files are mapped MAP_PRIVATE and read-only; as with any mmap reader,
// truncating the file while it is open makes later reads fault (SIGBUS).
class GgufFile {
 public:
  static constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS.
  static constexpr uint64_t kDefaultAlignment = 32;
  static constexpr uint64_t kMaxKeyBytes = 65535;  // The spec's key limit.
  static constexpr const char* kAlignmentKey = "general.alignment";

  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses `bytes`, which the caller keeps alive and unchanged while the
  // result lives; `name` stands for the path in errors. For fuzzers and
  // tests.
  static absl::StatusOr<std::unique_ptr<GgufFile>> OpenBytes(std::span<const uint8_t> bytes,
                                                             const std::string& name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // File offset of the data section; for a file without tensors it may be
  // the file size (the padding before an empty data section is optional).
  uint64_t data_offset() const { return data_offset_; }

  // --- Metadata ---
  // All entries, sorted by key.
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
  bool Has(std::string_view key) const { return metadata_.find(key) != metadata_.end(); }
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;

  // The typed getters fail with NotFound for a missing key and with
  // InvalidArgument naming the stored type when the type does not fit.
  absl::StatusOr<std::string_view> GetString(std::string_view key) const;
  // Any integer type whose value is >= 0.
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  // Any integer type whose value fits in int64.
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  // float32 or float64.
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  // Element count of an array of any type.
  absl::StatusOr<uint64_t> GetArraySize(std::string_view key) const;
  // Views into the mapping, valid while the file lives.
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  // Elements float32 (or float64, rounded to float).
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  // Elements of any integer type, each fitting in int64.
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  // --- Tensors ---
  // In file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // nullptr when the file has no tensor of that name.
  const GgufTensor* FindTensor(std::string_view name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;
  absl::Status Map();
  // Looks `key` up and checks its type; `expected` names what the caller
  // wanted, for the error.
  absl::StatusOr<const GgufValue*> Lookup(std::string_view key, std::string_view expected) const;
  absl::Status WrongType(std::string_view key, const GgufValue& value,
                         std::string_view expected) const;

  std::string path_;
  MappedFile mapping_;  // Open's mapping; empty for OpenBytes, which borrows.
  const uint8_t* base_ = nullptr;  // The whole file; nullptr when empty.
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> tensors_ index.
};

// `s` quoted for an error message: non-printable bytes escaped, and cut
// after 200 bytes, since names come from a possibly hostile file.
std::string GgufQuote(std::string_view s);

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_H_
