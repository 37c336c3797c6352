#include "runtime/tokenizer/model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::tokenizer {

std::string QuoteToken(std::string_view token) {
  constexpr size_t kMax = 64;
  if (token.size() <= kMax) return absl::StrCat("\"", std::string(token), "\"");
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(token[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat("\"", std::string(token.substr(0, cut)), "...\" (", token.size(), " bytes)");
}

absl::StatusOr<Vocab> Vocab::Build(std::vector<std::pair<std::string, int64_t>> entries,
                                   std::string_view what) {
  const std::string w(what);
  int64_t max_id = -1;
  for (const auto& [token, id] : entries) {
    if (id < 0 || id >= kMaxVocabSize) {
      return absl::InvalidArgumentError(absl::StrCat(w, ": token ", QuoteToken(token), " has id ",
                                                     id, ", outside [0, ", kMaxVocabSize, ")"));
    }
    if (token.size() > kMaxTokenBytes) {
      return absl::InvalidArgumentError(absl::StrCat(w, ": token ", QuoteToken(token), " (id ", id,
                                                     ") is longer than ", kMaxTokenBytes,
                                                     " bytes"));
    }
    max_id = std::max(max_id, id);
  }
  const int64_t count = static_cast<int64_t>(entries.size());
  if (max_id + 1 - count > std::max<int64_t>(1024, count)) {
    return absl::InvalidArgumentError(absl::StrCat(w, ": ids reach ", max_id, " but only ", count,
                                                   " tokens are defined; the id space is too "
                                                   "sparse to be a vocabulary"));
  }
  Vocab vocab;
  vocab.tokens_.resize(max_id + 1);
  vocab.present_.assign(max_id + 1, 0);
  vocab.ids_.reserve(entries.size());
  for (auto& [token, id] : entries) {
    if (vocab.present_[id]) {
      return absl::InvalidArgumentError(absl::StrCat(w, ": id ", id, " is given to both ",
                                                     QuoteToken(vocab.tokens_[id]), " and ",
                                                     QuoteToken(token)));
    }
    auto [it, inserted] = vocab.ids_.try_emplace(token, static_cast<int32_t>(id));
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          w, ": token ", QuoteToken(token), " appears twice (ids ", it->second, " and ", id, ")"));
    }
    vocab.tokens_[id] = std::move(token);
    vocab.present_[id] = 1;
    ++vocab.count_;
  }
  return vocab;
}

int32_t Vocab::Find(std::string_view token) const {
  auto it = ids_.find(absl::string_view(token.data(), token.size()));
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace kiln::tokenizer
