// A Hugging Face model directory's weights: one model.safetensors, or
// shards listed by model.safetensors.index.json.
#ifndef KILN_MODELS_CHECKPOINT_H_
#define KILN_MODELS_CHECKPOINT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/safetensors.h"

namespace kiln {

// All tensors of a checkpoint, by name, with the open (mapped) files that
// hold their bytes. Every name is unique across the files. Movable; the
// TensorEntry pointers it hands out stay valid until it is destroyed.
//
// For a sharded checkpoint the index is checked against the shards: each
// shard named in it must be a plain file name inside the directory (no '/',
// no "." or "..", so a hostile index cannot read files elsewhere), must
// exist and be valid safetensors, and must hold every tensor the index
// assigns to it; no tensor may be stored in two shards. A shard's tensors
// that the index forgets to list are still loaded (they are unambiguous
// once duplicates are ruled out), matching how transformers loads shards.
class Checkpoint {
 public:
  static constexpr const char* kSingleFileName = "model.safetensors";
  static constexpr const char* kIndexFileName = "model.safetensors.index.json";

  // Opens `dir`/model.safetensors.index.json if it exists, else
  // `dir`/model.safetensors.
  static absl::StatusOr<Checkpoint> Open(const std::string& dir);
  // Opens one .safetensors file.
  static absl::StatusOr<Checkpoint> OpenFile(const std::string& path);

  Checkpoint(Checkpoint&&) = default;
  Checkpoint& operator=(Checkpoint&&) = default;

  // nullptr when no file holds a tensor of that name.
  const TensorEntry* Find(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> Names() const;
  // The open files: shards sorted by file name, or the one single file.
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  Checkpoint() = default;
  // Adds every tensor of `file` to the name index, failing on a name that
  // an earlier file already holds.
  absl::Status AddFile(std::unique_ptr<SafetensorsFile> file);

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  // Points into files_' entries, which never move: each file is heap-held.
  std::map<std::string, const TensorEntry*, std::less<>> by_name_;
};

}  // namespace kiln

#endif  // KILN_MODELS_CHECKPOINT_H_
