// Unicode Normalization Form C (canonical decomposition, then canonical
// composition), as the NFC normalizer of Qwen2's tokenizer.json needs.
#ifndef KILN_RUNTIME_TOKENIZER_NFC_H_
#define KILN_RUNTIME_TOKENIZER_NFC_H_

#include <string>
#include <string_view>

namespace kiln::tokenizer {

// NFC of `text` (valid UTF-8). Text below U+0300 is returned unchanged
// without further work.
std::string NfcNormalize(std::string_view text);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_NFC_H_
