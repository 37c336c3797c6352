// MLP-block fusion: labels a feed-forward block and the residual add of its
// down projection as one fusion group.
//
// Plan, for each unfused add(h, down) (the down projection on either side):
//   1. down = matmul_nt(p, W2[, b2]);
//   2. p = mul(act(matmul_nt(x, Wg)), matmul_nt(x, Wu))   (SwiGLU, GeGLU)
//      or p = act(matmul_nt(x, W1[, b1]))                  (OPT's ReLU MLP);
//   3. label add, down, the activation, the multiply and the up projections
//      as "<add name>" when none is fused yet.
#include "passes/fusion_util.h"
#include "passes/passes.h"

namespace kiln {
namespace {

constexpr std::initializer_list<Op> kActivations = {Op::kSilu, Op::kGeluTanh, Op::kGeluErf,
                                                    Op::kRelu};

// Matches the block feeding the down projection, appending its nodes.
bool MatchUpBlock(const FusionMatcher& m, ValueId p, std::vector<ValueId>& members) {
  if (const Node* mul = m.Match(p, {Op::kMul})) {
    const Node* act = m.Match(mul->operands[0], kActivations);
    if (act == nullptr) return false;
    const Node* gate = m.Match(act->operands[0], {Op::kMatmulNT});
    const Node* up = m.Match(mul->operands[1], {Op::kMatmulNT});
    if (gate == nullptr || up == nullptr || gate->operands[0] != up->operands[0]) return false;
    members.insert(members.end(), {p, mul->operands[0], act->operands[0], mul->operands[1]});
    return true;
  }
  const Node* act = m.Match(p, kActivations);
  if (act == nullptr || m.Match(act->operands[0], {Op::kMatmulNT}) == nullptr) return false;
  members.insert(members.end(), {p, act->operands[0]});
  return true;
}

bool MatchDown(const FusionMatcher& m, ValueId down, std::vector<ValueId>& members) {
  const Node* node = m.Match(down, {Op::kMatmulNT});
  if (node == nullptr) return false;
  members.push_back(down);
  return MatchUpBlock(m, node->operands[0], members);
}

class FuseMlp : public FusionPass {
 protected:
  std::vector<ValueId> MatchAt(const FusionMatcher& m, ValueId id) const override {
    const Node* add = m.Match(id, {Op::kAdd});
    if (add == nullptr) return {};
    for (ValueId side : {add->operands[1], add->operands[0]}) {
      std::vector<ValueId> members = {id};
      if (MatchDown(m, side, members)) return members;
    }
    return {};
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateFuseMlp(const PassOptions&) {
  return std::make_unique<FuseMlp>();
}

}  // namespace kiln
