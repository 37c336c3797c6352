#include "models/gguf_weights.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln {

absl::StatusOr<const GgufTensor*> FindGgufWeight(const Module& module, const WeightDecl& decl,
                                                const GgufCheckpoint& checkpoint) {
  const GgufTensor* tensor = checkpoint.Find(decl.name);
  if (tensor == nullptr) {
    return absl::NotFoundError(absl::StrCat(checkpoint.file().path(), " has no tensor for \"",
                                            decl.name, "\", which the ", module.name,
                                            " model needs"));
  }
  std::vector<int64_t> expected;
  for (const Dim& d : decl.type.shape) expected.push_back(d.size);
  const std::vector<int64_t> shape = GgufCheckpoint::Shape(*tensor);
  if (shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor \"", tensor->name, "\" (", decl.name, ") has shape ", ShapeString(shape),
        " but the model's metadata implies ", ShapeString(expected)));
  }
  return tensor;
}

absl::StatusOr<WeightMap> LoadGgufWeights(const Module& module, const GgufCheckpoint& checkpoint) {
  WeightMap weights;
  for (const WeightDecl& decl : module.weights) {
    KILN_ASSIGN_OR_RETURN(const GgufTensor* tensor, FindGgufWeight(module, decl, checkpoint));
    std::vector<int64_t> shape = GgufCheckpoint::Shape(*tensor);
    if (!IsFloat(decl.type.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("weight \"", decl.name, "\" is declared ",
                                                     std::string(DTypeName(decl.type.dtype)),
                                                     "; GGUF weights load as floats"));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<float> values, checkpoint.Read(decl.name));
    weights[decl.name] = HostTensor::FromFloats(decl.type.dtype, std::move(shape), std::move(values));
  }
  return weights;
}

}  // namespace kiln
