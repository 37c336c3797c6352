// Norm + residual fusion: labels a residual add and the normalisation that
// reads it as one fusion group, so the sum is written once and normalised
// from registers (the classic "add + RMSNorm" kernel).
//
// Plan: for each unfused rms_norm/layer_norm whose input is an unfused add,
// label both as "<norm name>". Run it after fuse-attention and fuse-mlp:
// adds they claimed stay theirs.
#include "passes/fusion_util.h"
#include "passes/passes.h"

namespace kiln {
namespace {

class FuseNormResidual : public FusionPass {
 protected:
  std::vector<ValueId> MatchAt(const FusionMatcher& m, ValueId id) const override {
    const Node* norm = m.Match(id, {Op::kRmsNorm, Op::kLayerNorm});
    if (norm == nullptr || m.Match(norm->operands[0], {Op::kAdd}) == nullptr) return {};
    return {norm->operands[0], id};
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateFuseNormResidual(const PassOptions&) {
  return std::make_unique<FuseNormResidual>();
}

}  // namespace kiln
