#include "runtime/engine/weight_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "models/weights.h"

namespace kiln {

absl::StatusOr<WeightStore> WeightStore::Open(const std::string& path, const Module& module) {
  KILN_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::OpenFile(path));
  WeightStore store;
  store.checkpoint_ = std::make_shared<const Checkpoint>(std::move(checkpoint));
  for (const WeightDecl& decl : module.weights) {
    const TensorEntry* entry = store.checkpoint_->Find(decl.name);
    if (entry == nullptr) {
      return absl::DataLossError(
          absl::StrCat(path, " has no tensor \"", decl.name, "\", which model.ir declares"));
    }
    std::vector<int64_t> shape;
    for (const Dim& d : decl.type.shape) shape.push_back(d.size);
    if (entry->dtype != decl.type.dtype || entry->shape != shape) {
      return absl::DataLossError(absl::StrCat(
          path, ": tensor \"", decl.name, "\" is ", std::string(DTypeName(entry->dtype)),
          ShapeString(entry->shape), " but model.ir declares ",
          std::string(DTypeName(decl.type.dtype)), ShapeString(shape), " (the weights and the IR are from different engines)"));
    }
    store.views_.emplace(decl.name, WeightView{entry->dtype, entry->shape, entry->bytes});
  }
  return store;
}

const WeightView* WeightStore::Find(std::string_view name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

int64_t WeightStore::stored_bytes() const {
  int64_t total = 0;
  for (const auto& [name, view] : views_) total += static_cast<int64_t>(view.bytes.size());
  return total;
}

absl::StatusOr<WeightMap> WeightStore::ToHostTensors() const {
  WeightMap weights;
  if (checkpoint_ == nullptr) return weights;
  for (const auto& [name, view] : views_) {
    const TensorEntry* entry = checkpoint_->Find(name);
    KILN_ASSIGN_OR_RETURN(weights[name], HostTensorFromEntry(*entry, view.dtype));
    DropResidentPages(view.bytes);  // the f32 copy is what the caller keeps
  }
  return weights;
}

}  // namespace kiln
