#include "runtime/tokenizer/load.h"

#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/tokenizer/tokenizer_json.h"

namespace kiln::tokenizer {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  if (S_ISDIR(st.st_mode)) {
    const std::string json = path + "/tokenizer.json";
    if (stat(json.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(path, " is a directory without tokenizer.json"));
    }
    return LoadTokenizerJson(json);
  }
  char magic[4] = {};
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    const size_t n = std::fread(magic, 1, 4, f);
    std::fclose(f);
    if (n == 4 && std::string_view(magic, 4) == "GGUF") return LoadGgufTokenizer(path);
  }
  return LoadTokenizerJson(path);
}

}  // namespace kiln::tokenizer
