#include "codegen/weight_storage.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/quant_blocks.h"
#include "base/status_macros.h"
#include "ir/step_function.h"
#include "models/gguf_dequant.h"
#include "models/gguf_weights.h"

namespace kiln {
namespace {

std::vector<int64_t> DeclaredShape(const WeightDecl& decl) {
  std::vector<int64_t> shape;
  for (const Dim& d : decl.type.shape) shape.push_back(d.size);
  return shape;
}

bool RowsAreWholeBlocks(const std::vector<int64_t>& shape, DType dtype) {
  return !shape.empty() && shape.back() % BlockSize(dtype) == 0;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<QuantizedWeight> Quantize(const std::string& name, DType dtype,
                                         const std::vector<int64_t>& shape,
                                         const std::vector<float>& values) {
  QuantizedWeight q{dtype, shape, {}};
  const int64_t n = Elements(shape);
  q.bytes.resize(static_cast<size_t>(*StorageBytes(dtype, n)));
  absl::Status s = QuantizeRow(dtype, values.data(), n, q.bytes.data());
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("weight \"", name, "\": ", s.message()));
  }
  return q;
}

// Counts for the summary line.
struct Tally {
  std::map<std::string, int> blocks;  // dtype name -> weights
  int floats = 0;
  int64_t bytes = 0;

  std::string Line(DType float_dtype) const {
    std::vector<std::string> parts;
    for (const auto& [name, count] : blocks) parts.push_back(absl::StrCat(count, " ", name));
    return absl::StrCat("weights: ", parts.empty() ? "none" : absl::StrJoin(parts, ", "),
                        " block-quantized, ", floats, " ", std::string(DTypeName(float_dtype)), "; ",
                        absl::SixDigits(static_cast<double>(bytes) / (1 << 20)), " MiB stored");
  }
};

// The refusal of re-quantizing a GGUF's blocks without --requantize.
absl::Status RequantizeRefusal(const std::string& name, const GgufTensor& tensor, DType stored,
                               DType target) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--quantize ", std::string(DTypeName(target)), ": weight \"", name, "\" (", tensor.name,
      ") is already stored as ", std::string(DTypeName(stored)),
      "; re-quantizing it would add a second rounding on top of the first (quality only "
      "gets worse). Pass --requantize to do it anyway, or compile from the f16/f32 source"));
}

// One weight's storage (see PlanWeightStorage).
absl::StatusOr<PlannedWeight> PlanOneWeight(const Module& module, const WeightDecl& decl,
                                            bool may_block, const GgufCheckpoint* gguf,
                                            const WeightStorageOptions& options) {
  using Source = PlannedWeight::Source;
  PlannedWeight w{decl.name, DeclaredShape(decl), decl.type.dtype, Source::kFloats, 0};
  const std::optional<DType>& quantize = options.quantize;
  if (gguf != nullptr) {
    KILN_ASSIGN_OR_RETURN(const GgufTensor* tensor, FindGgufWeight(module, decl, *gguf));
    const std::optional<DType> stored = DTypeOfGgml(tensor->type);
    if (may_block && stored && IsBlockQuantized(*stored)) {
      // Rows that are not whole blocks of --quantize's type keep the stored
      // type, as the float path leaves such weights unquantized.
      if (quantize && *quantize != *stored && RowsAreWholeBlocks(w.shape, *quantize)) {
        if (!options.requantize) return RequantizeRefusal(decl.name, *tensor, *stored, *quantize);
        w.dtype = *quantize;
        w.source = Source::kRequantize;
      } else {
        w.dtype = *stored;
        w.source = Source::kKeepBlocks;
      }
    } else if (!IsFloat(decl.type.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("weight \"", decl.name, "\" is declared ",
                                                     std::string(DTypeName(decl.type.dtype)),
                                                     "; GGUF weights load as floats"));
    }
  }
  if (w.source == Source::kFloats && may_block && quantize &&
      RowsAreWholeBlocks(w.shape, *quantize)) {
    w.dtype = *quantize;
    w.source = Source::kQuantize;
  }
  const std::optional<int64_t> bytes = StorageBytes(w.dtype, Elements(w.shape));
  if (!bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight \"", decl.name, "\" cannot be stored as ", std::string(DTypeName(w.dtype)),
        ": its rows are not whole blocks or it is too large"));
  }
  w.bytes = *bytes;
  return w;
}

}  // namespace

std::set<std::string> BlockStorableWeights(const Module& module) {
  std::set<std::string> ok, not_ok;
  const Function* f = module.FindFunction(kForwardFunction);
  if (f == nullptr) return ok;
  for (const Node& user : f->nodes) {
    for (size_t i = 0; i < user.operands.size(); ++i) {
      const Node& operand = f->node(user.operands[i]);
      if (operand.op != Op::kConstant) continue;
      const bool as_matrix = (user.op == Op::kMatmulNT && i == 1) ||
                             (user.op == Op::kEmbedding && i == 0);
      (as_matrix ? ok : not_ok).insert(operand.StringAttr("weight"));
    }
  }
  for (const std::string& name : not_ok) ok.erase(name);
  return ok;
}

void SetWeightDType(Module& module, const std::string& name, DType dtype) {
  for (WeightDecl& decl : module.weights) {
    if (decl.name == name) decl.type.dtype = dtype;
  }
  for (Function& f : module.functions) {
    for (Node& node : f.nodes) {
      if (node.op == Op::kConstant && node.StringAttr("weight") == name) node.type.dtype = dtype;
    }
  }
}

absl::StatusOr<DType> ParseQuantizeFlag(const std::string& text) {
  for (DType d : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K}) {
    if (text == DTypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--quantize '", text, "': give q8_0, q4_0, q4_1 or q4_k"));
}

absl::StatusOr<std::vector<PlannedWeight>> PlanWeightStorage(const Module& module,
                                                             const GgufCheckpoint* gguf,
                                                             const WeightStorageOptions& options) {
  if (options.quantize && !options.allow_blocks) {
    return absl::InvalidArgumentError(
        "--quantize needs the cpu target with --dtype f32 (the CUDA backend keeps f16/bf16 "
        "weights for now; block-quantized weights compute with f32 activations)");
  }
  const std::set<std::string> storable =
      options.allow_blocks ? BlockStorableWeights(module) : std::set<std::string>();
  std::vector<PlannedWeight> plan;
  for (const WeightDecl& decl : module.weights) {
    KILN_ASSIGN_OR_RETURN(
        plan.emplace_back(),
        PlanOneWeight(module, decl, storable.count(decl.name) > 0, gguf, options));
  }
  return plan;
}

void ApplyWeightStorage(Module& module, const std::vector<PlannedWeight>& plan) {
  for (const PlannedWeight& w : plan) {
    if (IsBlockQuantized(w.dtype)) SetWeightDType(module, w.name, w.dtype);
  }
}

absl::StatusOr<EngineWeights> StoreEngineWeights(Module& module, const GgufCheckpoint* gguf,
                                                 WeightMap loaded,
                                                 const WeightStorageOptions& options) {
  using Source = PlannedWeight::Source;
  KILN_ASSIGN_OR_RETURN(std::vector<PlannedWeight> plan, PlanWeightStorage(module, gguf, options));
  EngineWeights out;
  for (const PlannedWeight& w : plan) {
    if (w.source == Source::kKeepBlocks) {
      KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, gguf->ReadStored(w.name));
      absl::Status scales = CheckBlockScales(w.dtype, bytes);
      if (!scales.ok()) {
        KILN_ASSIGN_OR_RETURN(const GgufTensor* tensor,
                              FindGgufWeight(module, *module.FindWeight(w.name), *gguf));
        return absl::InvalidArgumentError(
            absl::StrCat("weight \"", w.name, "\" (", tensor->name, "): ", scales.message()));
      }
      out.blocks[w.name] = QuantizedWeight{w.dtype, w.shape, std::move(bytes)};
      continue;
    }
    HostTensor tensor;
    if (gguf != nullptr) {
      KILN_ASSIGN_OR_RETURN(std::vector<float> values, gguf->Read(w.name));
      const DType float_dtype = module.FindWeight(w.name)->type.dtype;
      tensor = HostTensor::FromFloats(float_dtype, w.shape, std::move(values));
    } else {
      auto it = loaded.find(w.name);
      if (it == loaded.end()) {
        return absl::InternalError(absl::StrCat("weight \"", w.name, "\" was not loaded"));
      }
      tensor = std::move(it->second);
    }
    if (w.source == Source::kFloats) {
      out.floats[w.name] = std::move(tensor);
    } else {
      // Block types compute under f32 activations only, so the float
      // values read above (in the declared dtype) are f32 and exact.
      KILN_ASSIGN_OR_RETURN(out.blocks[w.name], Quantize(w.name, w.dtype, w.shape, tensor.floats));
    }
  }
  // The plan's bytes are what kiln-memory reports: hold the written ones to them.
  for (const PlannedWeight& w : plan) {
    auto block = out.blocks.find(w.name);
    auto dense = out.floats.find(w.name);
    const int64_t written =
        block != out.blocks.end() ? static_cast<int64_t>(block->second.bytes.size())
        : dense != out.floats.end()
            ? StorageBytes(dense->second.dtype, dense->second.numel()).value_or(-1)
            : -1;
    if (written != w.bytes) {
      return absl::InternalError(absl::StrCat("weight \"", w.name, "\" is stored in ", written,
                                              " bytes but its storage plan says ", w.bytes));
    }
  }
  ApplyWeightStorage(module, plan);
  Tally tally;
  for (const auto& [name, q] : out.blocks) {
    ++tally.blocks[std::string(DTypeName(q.dtype))];
    tally.bytes += static_cast<int64_t>(q.bytes.size());
  }
  DType float_dtype = DType::kF32;
  for (const auto& [name, t] : out.floats) {
    ++tally.floats;
    float_dtype = t.dtype;
    tally.bytes += *StorageBytes(t.dtype, t.numel());
  }
  out.summary = tally.Line(float_dtype);
  return out;
}

}  // namespace kiln
