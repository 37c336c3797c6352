// Binding a GGUF model's tensors to a module's weights.
#ifndef KILN_MODELS_GGUF_WEIGHTS_H_
#define KILN_MODELS_GGUF_WEIGHTS_H_

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "models/gguf_model.h"
#include "base/host_tensor.h"

namespace kiln {

// Reads every weight `module` declares from `checkpoint`, dequantised to f32
// in Transformers' layout (GgufCheckpoint::Read) and rounded once to the
// declared dtype, checking shapes as LoadWeights does for safetensors.
// The GGUF tensor holding `decl`: NotFound naming the file when it has none,
// InvalidArgument naming both shapes when its shape differs from the
// declaration (the model's metadata and its tensors disagree).
absl::StatusOr<const GgufTensor*> FindGgufWeight(const Module& module, const WeightDecl& decl,
                                                const GgufCheckpoint& checkpoint);

absl::StatusOr<WeightMap> LoadGgufWeights(const Module& module, const GgufCheckpoint& checkpoint);

}  // namespace kiln

#endif  // KILN_MODELS_GGUF_WEIGHTS_H_
