#include "runtime/tokenizer/spm.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

struct Symbol {
  uint32_t begin;  // Byte offset in the piece.
  uint32_t size;   // 0 once merged into its left neighbour.
  int32_t prev;
  int32_t next;
};

// A candidate merge of two adjacent symbols; `size` detects a stale entry
// (one of the two changed since it was queued).
struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t size;
};

// Max-heap order: highest score first, then the leftmost.
struct BigramBefore {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<SpmModel>> SpmModel::Create(const Vocab& vocab,
                                                           std::vector<float> scores,
                                                           int32_t unk_id, std::string_view what) {
  if (static_cast<int64_t>(scores.size()) != vocab.id_end()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": ", scores.size(),
                                                   " scores for ", vocab.id_end(), " tokens"));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), ": the score of token ", i, " is NaN"));
    }
  }
  auto model = std::unique_ptr<SpmModel>(new SpmModel());
  model->own_vocab_ = std::make_unique<Vocab>(vocab);
  model->vocab_ = model->own_vocab_.get();
  model->scores_ = std::move(scores);
  model->unk_id_ = unk_id;
  for (int b = 0; b < 256; ++b) model->byte_ids_[b] = vocab.Find(absl::StrFormat("<0x%02X>", b));
  return model;
}

void SpmModel::Tokenize(std::string_view piece, std::vector<int32_t>* ids) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Bigram> queue;
  symbols.clear();
  queue.clear();
  for (size_t i = 0; i < piece.size();) {
    char32_t cp;
    const size_t n = Utf8Decode(piece.substr(i), &cp);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{static_cast<uint32_t>(i), static_cast<uint32_t>(n), index - 1,
                             i + n == piece.size() ? -1 : index + 1});
    i += n;
  }
  const BigramBefore before;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t size = symbols[left].size + symbols[right].size;
    const int32_t id = vocab_->Find(piece.substr(symbols[left].begin, size));
    if (id < 0) return;
    queue.push_back(Bigram{scores_[id], left, right, size});
    std::push_heap(queue.begin(), queue.end(), before);
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), before);
    const Bigram top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.size == 0 || right.size == 0 || left.size + right.size != top.size) continue;
    left.size += right.size;
    right.size = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_add(left.prev, top.left);
    try_add(top.left, left.next);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view text = piece.substr(symbols[i].begin, symbols[i].size);
    const int32_t id = vocab_->Find(text);
    if (id >= 0) {
      ids->push_back(id);
      continue;
    }
    for (unsigned char b : text) {
      const int32_t byte_id = byte_ids_[b] >= 0 ? byte_ids_[b] : unk_id_;
      if (byte_id >= 0) ids->push_back(byte_id);
    }
  }
}

}  // namespace kiln::tokenizer
