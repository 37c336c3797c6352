#include "runtime/tokenizer/bpe.h"

#include <algorithm>
#include <atomic>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

constexpr size_t kMaxCachedPieceBytes = 256;
constexpr size_t kCacheCapacity = 1 << 16;  // Entries per model per thread.
constexpr int kCacheSlots = 4;              // Models cached at once per thread.

std::atomic<uint64_t> next_uid{1};

// Per-thread caches of piece -> ids, one slot per recently used model.
struct CacheSlot {
  uint64_t owner = 0;
  absl::flat_hash_map<std::string, absl::InlinedVector<int32_t, 4>> entries;
};
struct ThreadCache {
  std::array<CacheSlot, kCacheSlots> slots;
  int next_victim = 0;
  CacheSlot& For(uint64_t uid) {
    for (CacheSlot& s : slots) {
      if (s.owner == uid) return s;
    }
    CacheSlot& s = slots[next_victim];
    next_victim = (next_victim + 1) % kCacheSlots;
    s.owner = uid;
    s.entries.clear();
    return s;
  }
};

ThreadCache& GetThreadCache() {
  thread_local ThreadCache cache;
  return cache;
}

// A candidate merge of the symbol at `pos` with its right neighbour. The
// queue pops the lowest rank first, and among equal ranks the leftmost.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
};
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
    BpeOptions options, std::string_view what) {
  auto model = std::unique_ptr<BpeModel>(new BpeModel());
  model->options_ = options;
  model->uid_ = next_uid.fetch_add(1);
  model->byte_ids_.fill(-1);
  model->fallback_ids_.fill(-1);
  model->piece_ids_.reserve(vocab.size());
  for (int32_t id = 0; id < vocab.id_end(); ++id) {
    if (!vocab.Contains(id)) continue;
    const std::string& token = vocab.Token(id);
    if (options.byte_level) {
      // Tokens outside the byte alphabet (e.g. special tokens spelled with
      // other characters) can never come out of byte-level merges.
      std::optional<std::string> bytes = ByteLevelToBytes(token);
      if (!bytes.has_value()) continue;
      if (bytes->size() == 1) model->byte_ids_[static_cast<uint8_t>((*bytes)[0])] = id;
      model->piece_ids_.try_emplace(std::move(*bytes), id);
    } else {
      model->piece_ids_.try_emplace(token, id);
    }
  }
  if (options.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      model->fallback_ids_[b] = vocab.Find(absl::StrFormat("<0x%02X>", b));
    }
  }
  if (options.unk_token.has_value()) model->unk_id_ = vocab.Find(*options.unk_token);

  model->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t a_id = vocab.Find(a), b_id = vocab.Find(b);
    if (a_id < 0 || b_id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(what), ": merge ", rank, " (", QuoteToken(a), " ", QuoteToken(b), ") names ",
          QuoteToken(a_id < 0 ? a : b), ", which is not in the vocabulary"));
    }
    const std::string joined = absl::StrCat(a, b);
    const int32_t new_id = vocab.Find(joined);
    if (new_id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), ": merge ", rank, " (", QuoteToken(a), " ", QuoteToken(b),
                       ") makes ", QuoteToken(joined), ", which is not in the vocabulary"));
    }
    // A repeated pair keeps its last rank, as HF's map construction does.
    model->merges_[PairKey(a_id, b_id)] = MergeInfo{static_cast<int32_t>(rank), new_id};
  }
  return model;
}

int32_t BpeModel::PieceId(std::string_view piece) const {
  auto it = piece_ids_.find(absl::string_view(piece.data(), piece.size()));
  return it == piece_ids_.end() ? -1 : it->second;
}

void BpeModel::InitialSymbols(std::string_view piece, std::vector<int32_t>* symbols) const {
  // One unit per character (per byte for byte-level). A pending unknown is
  // emitted when the next known unit arrives or at the end, after any
  // byte-fallback tokens in between (HF's order).
  bool pending_unk = false;
  size_t i = 0;
  while (i < piece.size()) {
    size_t n = 1;
    int32_t id;
    if (options_.byte_level) {
      id = byte_ids_[static_cast<unsigned char>(piece[i])];
    } else {
      char32_t cp;
      n = Utf8Decode(piece.substr(i), &cp);
      id = PieceId(piece.substr(i, n));
    }
    const std::string_view unit = piece.substr(i, n);
    i += n;
    if (id >= 0) {
      if (pending_unk) symbols->push_back(unk_id_);
      pending_unk = false;
      symbols->push_back(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : unit) all = all && fallback_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : unit) symbols->push_back(fallback_ids_[b]);
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (pending_unk && !options_.fuse_unk) symbols->push_back(unk_id_);
      pending_unk = true;
    }
  }
  if (pending_unk) symbols->push_back(unk_id_);
}

void BpeModel::MergeAll(std::vector<int32_t>* ids, std::vector<int32_t>* out) const {
  const int32_t n = static_cast<int32_t>(ids->size());
  if (n == 1 || merges_.empty()) {
    out->insert(out->end(), ids->begin(), ids->end());
    return;
  }
  absl::InlinedVector<Symbol, 64> sym(n);
  for (int32_t i = 0; i < n; ++i) sym[i] = Symbol{(*ids)[i], i - 1, i + 1 < n ? i + 1 : -1, true};
  absl::InlinedVector<Candidate, 64> queue;
  const CandidateAfter after;
  auto push = [&](int32_t pos) {
    const Symbol& l = sym[pos];
    if (l.next < 0) return;
    auto it = merges_.find(PairKey(l.id, sym[l.next].id));
    if (it == merges_.end()) return;
    queue.push_back(Candidate{it->second.rank, pos, it->second.new_id});
    std::push_heap(queue.begin(), queue.end(), after);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), after);
    const Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    // A stale candidate: the pair at this position changed since it was
    // queued (checked by the merged id, as HF does).
    Symbol& right = sym[left.next];
    auto it = merges_.find(PairKey(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out->push_back(sym[i].id);
}

void BpeModel::TokenizeUncached(std::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    const int32_t id = PieceId(piece);
    if (id >= 0) {
      ids->push_back(id);
      return;
    }
  }
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  InitialSymbols(piece, &symbols);
  if (symbols.empty()) return;
  MergeAll(&symbols, ids);
}

void BpeModel::Tokenize(std::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.size() >= kMaxCachedPieceBytes) {
    TokenizeUncached(piece, ids);
    return;
  }
  CacheSlot& slot = GetThreadCache().For(uid_);
  const absl::string_view key(piece.data(), piece.size());
  auto it = slot.entries.find(key);
  if (it != slot.entries.end()) {
    ids->insert(ids->end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t start = ids->size();
  TokenizeUncached(piece, ids);
  if (slot.entries.size() >= kCacheCapacity) slot.entries.clear();
  slot.entries.try_emplace(key, ids->begin() + start, ids->end());
}

}  // namespace kiln::tokenizer
