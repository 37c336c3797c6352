// Attention-block fusion: labels the QKV projections, their head reshapes,
// rotary embeddings, KV-cache writes, the attention itself and its output
// reshape as one fusion group (one kernel, or one kernel sequence sharing
// on-chip state, in codegen).
//
// Plan, for each unfused attention(q, k_cache', v_cache', pos) node:
//   1. q must be [rope(]reshape(matmul_nt(x, Wq[, bq]))[)];
//   2. k_cache' and v_cache' must be kv_cache_write(cache, new, pos) whose
//      `new` has the same shape of chain (rope optional: OPT has none);
//   3. an output reshape consuming only the attention joins the group;
//   4. label everything as "<attention name>" when no node is fused yet.
// Weights, the normalised input x, positions and the caches stay outside.
#include "passes/fusion_util.h"
#include "passes/passes.h"

namespace kiln {
namespace {

// Matches [rope(]reshape(matmul_nt(...))[)] ending at `id`, appending the
// chain's nodes to `members`. Returns false when the shape does not match.
bool MatchProjection(const FusionMatcher& m, ValueId id, std::vector<ValueId>& members) {
  if (const Node* rope = m.Match(id, {Op::kRope})) {
    members.push_back(id);
    id = rope->operands[0];
  }
  const Node* reshape = m.Match(id, {Op::kReshape});
  if (reshape == nullptr) return false;
  members.push_back(id);
  id = reshape->operands[0];
  if (m.Match(id, {Op::kMatmulNT}) == nullptr) return false;
  members.push_back(id);
  return true;
}

bool MatchCacheWrite(const FusionMatcher& m, ValueId id, std::vector<ValueId>& members) {
  const Node* write = m.Match(id, {Op::kKvCacheWrite});
  if (write == nullptr) return false;
  members.push_back(id);
  return MatchProjection(m, write->operands[1], members);
}

// The unique user of `id`, or -1.
ValueId SoleUser(const Function& f, ValueId id) {
  ValueId user = -1;
  for (ValueId u = id + 1; u < static_cast<ValueId>(f.nodes.size()); ++u) {
    for (ValueId operand : f.node(u).operands) {
      if (operand != id) continue;
      if (user >= 0 && user != u) return -1;
      user = u;
    }
  }
  for (ValueId r : f.results) {
    if (r == id) return -1;
  }
  return user;
}

class FuseAttention : public FusionPass {
 protected:
  std::vector<ValueId> MatchAt(const FusionMatcher& m, ValueId id) const override {
    const Node* attention = m.Match(id, {Op::kAttention});
    if (attention == nullptr) return {};
    std::vector<ValueId> members = {id};
    if (!MatchProjection(m, attention->operands[0], members) ||
        !MatchCacheWrite(m, attention->operands[1], members) ||
        !MatchCacheWrite(m, attention->operands[2], members)) {
      return {};
    }
    ValueId out = SoleUser(m.function(), id);
    if (out >= 0 && m.Match(out, {Op::kReshape})) members.push_back(out);
    return members;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateFuseAttention(const PassOptions&) {
  return std::make_unique<FuseAttention>();
}

}  // namespace kiln
