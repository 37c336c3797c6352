// tokenize: prints the token ids of a text, or the text of token ids, with
// the tokenizer of a model (tokenizer.json, a .gguf file, or a model/engine
// directory). For debugging prompts.
//
//   tokenize --tokenizer DIR --text "Hello world"        -> [9906, 1917]
//   echo -n "Hello" | tokenize --tokenizer model.gguf    -> ids of stdin
//   tokenize --tokenizer DIR --decode 9906,1917          -> Hello world
//
// --add-special-tokens adds the template's BOS/EOS when encoding and
// --skip-special-tokens drops special tokens when decoding, as the same
// arguments of Transformers' encode/decode do (both default to false here).
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "runtime/tokenizer/load.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, tokenizer, "", "tokenizer.json, a .gguf file, or a directory with tokenizer.json");
ABSL_FLAG(std::string, text, "", "text to encode (default: read stdin)");
ABSL_FLAG(std::string, decode, "", "comma-separated token ids to decode instead");
ABSL_FLAG(bool, add_special_tokens, false, "add the post-processor's special tokens (BOS/EOS)");
ABSL_FLAG(bool, skip_special_tokens, false, "drop special tokens when decoding");

namespace kiln {
namespace {

absl::Status Run() {
  const std::string path = absl::GetFlag(FLAGS_tokenizer);
  if (path.empty()) return absl::InvalidArgumentError("--tokenizer is required");
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::LoadTokenizer(path));
  const std::string decode = absl::GetFlag(FLAGS_decode);
  if (!decode.empty()) {
    if (!absl::GetFlag(FLAGS_text).empty()) {
      return absl::InvalidArgumentError("give --text or --decode, not both");
    }
    std::vector<int32_t> ids;
    for (absl::string_view part : absl::StrSplit(decode, ',', absl::SkipWhitespace())) {
      int32_t id;
      if (!absl::SimpleAtoi(part, &id)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--decode: \"", std::string(part), "\" is not a token id"));
      }
      ids.push_back(id);
    }
    KILN_ASSIGN_OR_RETURN(std::string text,
                          tok->Decode(ids, absl::GetFlag(FLAGS_skip_special_tokens)));
    std::cout << text << "\n";
    return absl::OkStatus();
  }
  std::string text = absl::GetFlag(FLAGS_text);
  if (text.empty()) {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                        tok->Encode(text, absl::GetFlag(FLAGS_add_special_tokens)));
  std::cout << "[" << absl::StrJoin(ids, ", ") << "]\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "tokenize --tokenizer PATH [--text TEXT | --decode IDS] "
                       "[--add-special-tokens] [--skip-special-tokens]");
  return kiln::ReportToolStatus("tokenize", kiln::Run());
}
