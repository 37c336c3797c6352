#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {

namespace {

absl::Status IdError(const TokenizerParts& parts, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(parts.source, ": ", what));
}

// The ids a file gives must agree with themselves: one token per id, an
// added token at the id the model's vocabulary gives it (or at an id the
// vocabulary leaves free), and every id the post-processor adds belonging to
// a token. Fuzzing found files that break these, load, and then encode to
// ids no token has. Hugging Face's tokenizers loads some of them but
// re-numbers the added tokens it cannot place at their ids, so its ids are
// not the file's either; Kiln refuses them (docs/FUZZING.md). A template's
// special-token key is only a label (Hugging Face never looks it up), so it
// is not held to the token at its id.
absl::Status CheckIdsAgree(const TokenizerParts& parts) {
  const Vocab& vocab = parts.vocab;
  std::map<int32_t, const AddedToken*> added;
  for (const AddedToken& a : parts.added_tokens) {
    if (a.id < 0) {
      return IdError(parts, absl::StrCat("added token \"", a.content, "\" has a negative id"));
    }
    auto [it, fresh] = added.emplace(a.id, &a);
    if (!fresh && it->second->content != a.content) {
      return IdError(parts, absl::StrCat("added tokens \"", it->second->content, "\" and \"",
                                         a.content, "\" both have id ", a.id));
    }
    const int32_t in_vocab = vocab.Find(a.content);
    if (in_vocab >= 0 && in_vocab != a.id) {
      return IdError(parts, absl::StrCat("added token \"", a.content, "\" has id ", a.id,
                                         " but the model's vocabulary gives it id ", in_vocab));
    }
    if (in_vocab < 0 && vocab.Contains(a.id)) {
      return IdError(parts, absl::StrCat("added token \"", a.content, "\" has id ", a.id,
                                         ", which the model's vocabulary gives to \"",
                                         vocab.Token(a.id), "\""));
    }
  }
  const int32_t id_end =
      std::max<int32_t>(vocab.id_end(), added.empty() ? 0 : added.rbegin()->first + 1);
  const PostProcessor& post = parts.post_processor;
  for (const std::vector<int32_t>* ids : {&post.prefix, &post.suffix}) {
    for (int32_t id : *ids) {
      if (vocab.Contains(id) || added.count(id) > 0) continue;
      auto named = post.names.find(id);
      return IdError(parts,
                     absl::StrCat(named == post.names.end()
                                      ? absl::StrCat("the post-processor's id ", id)
                                      : absl::StrCat("the post-processor's special token \"",
                                                     named->second, "\" (id ", id, ")"),
                                  " is no token's id (the vocabulary's ids end at ", id_end, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(TokenizerParts parts) {
  if (parts.model == nullptr) return absl::InvalidArgumentError("tokenizer without a model");
  KILN_RETURN_IF_ERROR(CheckIdsAgree(parts));
  auto t = std::unique_ptr<Tokenizer>(new Tokenizer());
  const Vocab& vocab = parts.vocab;
  int32_t end = vocab.id_end();
  for (const AddedToken& a : parts.added_tokens) end = std::max(end, a.id + 1);
  t->tokens_.resize(end);
  t->present_.assign(end, 0);
  t->special_.assign(end, 0);
  for (int32_t id = 0; id < vocab.id_end(); ++id) {
    if (!vocab.Contains(id)) continue;
    t->tokens_[id] = vocab.Token(id);
    t->present_[id] = 1;
  }
  // Matching patterns: normalized tokens are matched by their normalized
  // spelling, which is also what decode shows for them (HF).
  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const AddedToken& a : parts.added_tokens) {
    if (a.id < 0) return absl::InvalidArgumentError("added token with a negative id");
    std::string spelling = a.content;
    if (a.normalized && parts.normalizer.has_value()) {
      KILN_RETURN_IF_ERROR(parts.normalizer->Apply(&spelling));
    }
    t->tokens_[a.id] = a.normalized ? spelling : a.content;
    t->present_[a.id] = 1;
    t->special_[a.id] = a.special;
    t->added_ids_.try_emplace(a.content, a.id);
    if (a.normalized) {
      normalized.push_back(a);
      normalized_patterns.push_back(spelling);
    } else {
      raw.push_back(a);
      raw_patterns.push_back(a.content);
    }
  }
  if (!raw.empty()) {
    KILN_ASSIGN_OR_RETURN(t->raw_matcher_, AddedTokenMatcher::Create(raw, raw_patterns));
  }
  if (!normalized.empty()) {
    KILN_ASSIGN_OR_RETURN(t->normalized_matcher_,
                          AddedTokenMatcher::Create(normalized, normalized_patterns));
  }
  t->parts_ = std::move(parts);
  return t;
}

absl::Status Tokenizer::EncodeSegment(std::string segment, bool at_start,
                                      std::vector<int32_t>* ids) const {
  if (parts_.normalizer.has_value()) KILN_RETURN_IF_ERROR(parts_.normalizer->Apply(&segment));
  thread_local std::vector<Segment> parts;
  parts.clear();
  if (normalized_matcher_ != nullptr) {
    normalized_matcher_->Split(segment, &parts);
  } else if (!segment.empty()) {
    parts.push_back(Segment{0, static_cast<uint32_t>(segment.size()), -1});
  }
  PieceList list;
  for (const Segment& s : parts) {
    if (s.token_id >= 0) {
      ids->push_back(s.token_id);
      continue;
    }
    if (parts.size() == 1) {
      list.text = std::move(segment);
    } else {
      list.text.assign(segment, s.begin, s.end - s.begin);
    }
    list.pieces.assign(1,
                       Piece{0, static_cast<uint32_t>(list.text.size()), at_start && s.begin == 0});
    if (parts_.pre_tokenizer.has_value()) KILN_RETURN_IF_ERROR(parts_.pre_tokenizer->Apply(&list));
    for (const Piece& p : list.pieces) {
      if (p.end > p.begin) parts_.model->Tokenize(list.View(p), ids);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text,
                                                       bool add_special_tokens) const {
  std::string clean;
  if (!IsValidUtf8(text)) {
    clean = SanitizeUtf8(text);
    text = clean;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Segment> segments;
  if (raw_matcher_ != nullptr) {
    raw_matcher_->Split(text, &segments);
  } else if (!text.empty()) {
    segments.push_back(Segment{0, static_cast<uint32_t>(text.size()), -1});
  }
  for (const Segment& s : segments) {
    if (s.token_id >= 0) {
      ids.push_back(s.token_id);
      continue;
    }
    KILN_RETURN_IF_ERROR(
        EncodeSegment(std::string(text.substr(s.begin, s.end - s.begin)), s.begin == 0, &ids));
  }
  if (add_special_tokens) parts_.post_processor.Apply(&ids);
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || !present_[id]) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is not in the vocabulary (", vocab_size(), " ids)"));
    }
    if (skip_special_tokens && special_[id]) continue;
    tokens.push_back(tokens_[id]);
  }
  if (!parts_.decoder.has_value()) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined.push_back(' ');
      joined += tokens[i];
    }
    return SanitizeUtf8(joined);
  }
  return parts_.decoder->Decode(std::move(tokens));
}

absl::StatusOr<size_t> Tokenizer::DecodeInto(std::span<const int32_t> ids, bool skip_special_tokens,
                                             char* buffer, size_t capacity) const {
  KILN_ASSIGN_OR_RETURN(std::string text, Decode(ids, skip_special_tokens));
  if (text.size() > capacity) {
    return absl::OutOfRangeError(
        absl::StrCat("decoded text needs ", text.size(), " bytes; the buffer has ", capacity));
  }
  if (!text.empty()) std::memcpy(buffer, text.data(), text.size());
  return text.size();
}

int32_t Tokenizer::TokenToId(std::string_view token) const {
  auto it = added_ids_.find(absl::string_view(token.data(), token.size()));
  if (it != added_ids_.end()) return it->second;
  return parts_.vocab.Find(token);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !present_[id]) return std::nullopt;
  return tokens_[id];
}

absl::Status CheckTokenizerFitsModel(const Tokenizer& tokenizer, int64_t logits) {
  for (int64_t id = logits; id < tokenizer.vocab_size(); ++id) {
    const auto i = static_cast<int32_t>(id);
    const std::optional<std::string> token = tokenizer.IdToToken(i);
    if (!token.has_value() || tokenizer.IsSpecial(i)) continue;
    return absl::InvalidArgumentError(
        absl::StrCat("the tokenizer has ids up to ", tokenizer.vocab_size() - 1,
                     " but the model only ", logits, " logits, and token \"", *token, "\" (id ", id,
                     ") past them is not a special token: they do not belong together"));
  }
  // The ids the post-processor adds to every prompt must have embeddings.
  absl::StatusOr<std::vector<int32_t>> added = tokenizer.Encode("", true);
  if (!added.ok()) return added.status();
  for (int32_t id : *added) {
    if (id >= logits) {
      return absl::InvalidArgumentError(
          absl::StrCat("the tokenizer adds token \"", tokenizer.IdToToken(id).value_or("?"),
                       "\" (id ", id, ") to every prompt, but the model only has ", logits,
                       " logits: they do not belong together"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPromptIds(const Tokenizer& tokenizer, std::span<const int32_t> ids,
                            int64_t logits) {
  for (int32_t id : ids) {
    if (id < 0 || id >= logits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the prompt holds token \"", tokenizer.IdToToken(id).value_or("?"), "\" (id ", id,
          "), which the model has no embedding for (its vocabulary is [0, ", logits, "))"));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::tokenizer
