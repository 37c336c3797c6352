// An engine's weights as compile-model stored them: views of the memory-
// mapped weights.safetensors, in their stored dtype (the engine dtype; f32,
// f16 or bf16 today, quantized block formats next). Nothing is decoded or
// copied at load: an executor converts what it needs when it needs it (the
// reference executor widens to f32; the CUDA executor uploads the bytes as
// they are), so a bf16 engine costs its file's size in host memory, paged
// in on demand, not twice that in f32 copies.
#ifndef KILN_RUNTIME_ENGINE_WEIGHT_STORE_H_
#define KILN_RUNTIME_ENGINE_WEIGHT_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "base/host_tensor.h"
#include "ir/module.h"
#include "models/checkpoint.h"

namespace kiln {

// One weight as stored. `bytes` lies inside the mapping of the store it came
// from and is valid while that store lives.
struct WeightView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;
};

// Contract: every weight the module declares is present with exactly its
// declared dtype and shape (checked once, at Open); views never outlive the
// store (it owns the mapping; moving the store keeps the views valid, since
// the mapping itself does not move). Immutable after Open.
class WeightStore {
 public:
  WeightStore() = default;
  // Maps the safetensors file at `path` (validated by models/safetensors.h)
  // and binds it to `module`'s weights. DataLoss naming the weight when one
  // is missing or its dtype or shape differs from the module's declaration
  // (an engine's weights are written in the engine dtype, so any difference
  // means the file and model.ir do not belong together).
  static absl::StatusOr<WeightStore> Open(const std::string& path, const Module& module);

  // The view of `name`, or nullptr when the module declares no such weight.
  const WeightView* Find(std::string_view name) const;
  const std::map<std::string, WeightView, std::less<>>& views() const { return views_; }
  bool empty() const { return views_.empty(); }
  // Bytes of every view together (what an executor uploads as is).
  int64_t stored_bytes() const;

  // Every weight widened to an f32-valued host tensor of its dtype (what the
  // reference executor computes with). Allocates; exact for f32/f16/bf16.
  // Each view's pages are dropped from residency once decoded (they fault
  // back in if read again), so the process holds one copy, not two.
  absl::StatusOr<WeightMap> ToHostTensors() const;

 private:
  std::shared_ptr<const Checkpoint> checkpoint_;
  std::map<std::string, WeightView, std::less<>> views_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_ENGINE_WEIGHT_STORE_H_
