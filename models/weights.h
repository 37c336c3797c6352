// Binding checkpoint tensors to a module's weights as host tensors in the
// module's dtypes: compile-model's weights, and the weight store's f32
// widening for the reference executor.
#ifndef KILN_MODELS_WEIGHTS_H_
#define KILN_MODELS_WEIGHTS_H_

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "models/checkpoint.h"
#include "base/host_tensor.h"

namespace kiln {

// Copies a stored tensor into a HostTensor of dtype `to`. Float storage
// (f32, f16, bf16) converts to any float dtype (rounding to nearest even);
// integer storage converts to i32/i64 when every value fits.
absl::StatusOr<HostTensor> HostTensorFromEntry(const TensorEntry& entry, DType to);

// Reads every weight `module` declares from `checkpoint`, checking shapes
// and converting to the declared dtype. A name "model.X" that is absent is
// looked up as "X" too, as Transformers does for checkpoints saved without
// the base-model prefix.
absl::StatusOr<WeightMap> LoadWeights(const Module& module, const Checkpoint& checkpoint);

}  // namespace kiln

#endif  // KILN_MODELS_WEIGHTS_H_
