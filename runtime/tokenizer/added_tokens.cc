#include "runtime/tokenizer/added_tokens.h"

#include "base/status_macros.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

// The last character of `text` (non-empty, valid UTF-8).
std::string_view LastChar(std::string_view text) {
  size_t i = text.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return text.substr(i);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AddedTokenMatcher>> AddedTokenMatcher::Create(
    const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns) {
  auto m = std::unique_ptr<AddedTokenMatcher>(new AddedTokenMatcher());
  m->tokens_ = tokens;
  m->nodes_.push_back(-1);
  for (size_t t = 0; t < patterns.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : p) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
      auto it = m->children_.find(key);
      if (it == m->children_.end()) {
        const int32_t child = static_cast<int32_t>(m->nodes_.size());
        m->nodes_.push_back(-1);
        it = m->children_.emplace(key, child).first;
      }
      node = it->second;
    }
    // Two tokens with one spelling: the first keeps it.
    if (m->nodes_[node] < 0) m->nodes_[node] = static_cast<int32_t>(t);
    m->first_byte_[static_cast<unsigned char>(p[0])] = true;
  }
  // Rust's regex crate: \w is Alphabetic, M, Nd, Pc and Join_Control; \s is
  // White_Space (the regex compiler's \s).
  KILN_ASSIGN_OR_RETURN(m->word_char_,
                        Regex::Compile("[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]"));
  KILN_ASSIGN_OR_RETURN(m->space_char_, Regex::Compile("\\s"));
  return m;
}

int AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, size_t* length) const {
  int best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it =
        children_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == children_.end()) break;
    node = it->second;
    if (nodes_[node] >= 0) {
      best = nodes_[node];
      *length = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* out) const {
  const size_t n = text.size();
  size_t emitted = 0;  // Start of the text not yet in a segment.
  size_t pos = 0;
  while (pos < n) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t len = 0;
    const int t = LongestAt(text, pos, &len);
    if (t < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // The scan resumes after the match even if it is rejected.
    const AddedToken& token = tokens_[t];
    if (token.single_word) {
      const bool word_before =
          start > 0 && word_char_->MatchesAtStart(LastChar(text.substr(0, start)));
      const bool word_after = stop < n && word_char_->MatchesAtStart(text.substr(stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > emitted && space_char_->MatchesAtStart(LastChar(text.substr(0, s)))) {
        s -= LastChar(text.substr(0, s)).size();
      }
      start = s;
    }
    if (token.rstrip) {
      while (stop < n && space_char_->MatchesAtStart(text.substr(stop))) {
        char32_t cp;
        stop += Utf8Decode(text.substr(stop), &cp);
      }
      pos = stop;
    }
    if (start > emitted)
      out->push_back(Segment{static_cast<uint32_t>(emitted), static_cast<uint32_t>(start), -1});
    out->push_back(Segment{static_cast<uint32_t>(start), static_cast<uint32_t>(stop), token.id});
    emitted = stop;
  }
  if (emitted < n)
    out->push_back(Segment{static_cast<uint32_t>(emitted), static_cast<uint32_t>(n), -1});
}

}  // namespace kiln::tokenizer
