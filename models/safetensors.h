// Read-only access to .safetensors files (Hugging Face's weight format).
//
// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
// then the data region. The JSON maps tensor names to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the data region, plus an optional
// "__metadata__" object of string values.
//
// The file is memory-mapped, and tensor bytes are views into that mapping:
// opening a multi-gigabyte checkpoint costs no copy, and pages are read only
// when a tensor is used.
#ifndef KILN_MODELS_SAFETENSORS_H_
#define KILN_MODELS_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "base/mapped_file.h"
#include "nlohmann/json_fwd.hpp"

namespace kiln {

// One tensor of an open weight file. `bytes` points into the owning file's
// mapping and is valid while that file (or the Checkpoint holding it) lives.
//
// Alignment: safetensors does not align tensor data (offsets are arbitrary
// byte offsets after a header of arbitrary length), so `bytes.data()` may be
// misaligned for the dtype. Never reinterpret_cast it to float* or similar;
// memcpy into an aligned buffer (or upload with a byte copy) instead.
struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // [] for a scalar; dims may be 0.
  std::span<const uint8_t> bytes;

  // Product of `shape` (1 for a scalar); cannot overflow, Open checked it.
  int64_t NumElements() const;
};

// A validated, memory-mapped .safetensors file.
//
// Open() rejects every malformed file with an absl::Status naming the path
// (and the tensor, where one is at fault); it never aborts. After a
// successful Open the invariants hold: every dtype is supported, every byte
// length equals shape size x item size, and the tensors tile the data
// region exactly (sorted by offset, no gaps, no overlaps, nothing after the
// last), so every `bytes` span lies inside the mapping.
//
// Files are mapped MAP_PRIVATE and read-only. As with any mmap reader,
// truncating the file while it is open makes later reads fault (SIGBUS);
// Kiln's weight files are treated as immutable while loaded.
class SafetensorsFile {
 public:
  // The largest header accepted, as in the reference implementation: a
  // bigger one is almost certainly corrupt or hostile, and JSON parsing
  // would need several times its size in memory.
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Sorted by name.
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  // nullptr when the file has no tensor of that name.
  const TensorEntry* Find(std::string_view name) const;
  // The "__metadata__" strings (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  absl::Status Map();
  absl::Status ParseHeader();

  std::string path_;
  MappedFile mapping_;  // The whole file.
  std::vector<TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The safetensors spelling of a dtype Kiln reads ("F32", "BF16", ...), or
// nullptr for one the format cannot hold (u4).
const char* SafetensorsDTypeName(DType dtype);

// Parses `text` as JSON, stricter than nlohmann's defaults in the ways a
// weight loader needs: the text must be valid UTF-8, an object key may not
// repeat within one object (nlohmann would silently keep the last, letting
// two entries for one tensor name disagree unnoticed), and nesting deeper
// than `max_depth` is refused. Errors are prefixed with `what` (e.g. the
// file path). Shared by the safetensors header and checkpoint index readers.
absl::StatusOr<nlohmann::json> ParseStrictJson(std::string_view text, const std::string& what,
                                               int max_depth);

}  // namespace kiln

#endif  // KILN_MODELS_SAFETENSORS_H_
