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

class FuseNormResidual : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) override {
    bool changed = false;
    for (Function& f : module.functions) {
      FusionMatcher m(f);
      for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
        const Node* norm = m.Match(id, {Op::kRmsNorm, Op::kLayerNorm});
        if (norm == nullptr || m.Match(norm->operands[0], {Op::kAdd}) == nullptr) continue;
        changed |= m.Label({norm->operands[0], id}, f.node(id).name);
      }
    }
    return changed;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateFuseNormResidual(const PassOptions&) {
  return std::make_unique<FuseNormResidual>();
}

}  // namespace kiln
