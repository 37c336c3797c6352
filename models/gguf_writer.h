// Writes GGUF files that hold metadata only (no tensors): an engine bundles
// the vocabulary of a GGUF model this way, a few MB instead of the model.
#ifndef KILN_MODELS_GGUF_WRITER_H_
#define KILN_MODELS_GGUF_WRITER_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "models/gguf.h"

namespace kiln {

// Writes a GGUF v3 file with no tensors holding every metadata entry of
// `from` whose key `keep` accepts, values byte for byte as stored (so a
// reader sees exactly the original values).
absl::Status WriteGgufMetadata(const GgufFile& from,
                               const std::function<bool(std::string_view key)>& keep,
                               const std::string& path);

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_WRITER_H_
