// Post-processors: the special tokens wrapped around an encoded sequence
// when add_special_tokens is set (HF's TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (no ids) and Sequence), for a single sequence.
#ifndef KILN_RUNTIME_TOKENIZER_POST_PROCESSOR_H_
#define KILN_RUNTIME_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::tokenizer {

// The single-sequence template, flattened: ids before and after the text.
// Sequence processors compose by wrapping (each later processor wraps the
// result of the earlier ones).
struct PostProcessor {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
  // The token each id was given for, where the file names it (a template's
  // special token): the tokenizer checks that the names and ids agree.
  std::map<int32_t, std::string> names;

  void Apply(std::vector<int32_t>* ids) const {
    if (!prefix.empty()) ids->insert(ids->begin(), prefix.begin(), prefix.end());
    ids->insert(ids->end(), suffix.begin(), suffix.end());
  }
  // Wraps this processor's output in `outer`.
  void WrapWith(const PostProcessor& outer) {
    prefix.insert(prefix.begin(), outer.prefix.begin(), outer.prefix.end());
    suffix.insert(suffix.end(), outer.suffix.begin(), outer.suffix.end());
    names.insert(outer.names.begin(), outer.names.end());
  }
};

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_POST_PROCESSOR_H_
