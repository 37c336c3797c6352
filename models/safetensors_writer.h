// Writing .safetensors files (the engine artefact's weight file).
#ifndef KILN_MODELS_SAFETENSORS_WRITER_H_
#define KILN_MODELS_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace kiln {

// One tensor to write: its little-endian bytes, exactly shape x item size.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;
};

// Writes `tensors` (any order; stored sorted by name, packed back to back)
// and string `metadata` to `path`, padding the header with spaces to a
// multiple of 8 bytes so tensor data starts 8-byte aligned.
absl::Status WriteSafetensors(const std::string& path, std::vector<TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln

#endif  // KILN_MODELS_SAFETENSORS_WRITER_H_
