// Loading a tokenizer from whatever the user points at.
#ifndef KILN_RUNTIME_TOKENIZER_LOAD_H_
#define KILN_RUNTIME_TOKENIZER_LOAD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::tokenizer {

// `path` is a tokenizer.json, a .gguf file (its vocabulary metadata), or a
// directory holding tokenizer.json (a Hugging Face model or Kiln engine
// directory). The file kind is told by its first bytes ("GGUF" magic), not
// by its name.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_LOAD_H_
