// How compile-model stores each weight of an engine: as floats in the engine
// dtype, or block-quantized (base/dtype.h's block types) — kept as a GGUF
// file stores it, or quantized here by `--quantize`.
//
// Only weights every use of which reads them as a matrix to multiply by
// (matmul_nt's w) or a table to gather rows from (embedding) may be
// block-quantized: those ops define their semantics on the dequantised
// values (ir/op.h). Norm weights, biases and anything else stay floats.
#ifndef KILN_CODEGEN_WEIGHT_STORAGE_H_
#define KILN_CODEGEN_WEIGHT_STORAGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "base/host_tensor.h"
#include "ir/module.h"
#include "models/gguf_model.h"

namespace kiln {

// A block-quantized weight as the engine stores it: row-major shape (the
// last dimension whole blocks) and the blocks' bytes.
struct QuantizedWeight {
  DType dtype = DType::kQ8_0;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

struct EngineWeights {
  WeightMap floats;  // in the module's declared (engine) dtype
  std::map<std::string, QuantizedWeight> blocks;
  std::string summary;  // one line: what is stored how, for compile-model
};

struct WeightStorageOptions {
  // Target dtype of --quantize (q8_0, q4_0, q4_1, q4_k); nullopt keeps the
  // source's storage (a GGUF's block types as they are, floats as floats).
  std::optional<DType> quantize;
  // --requantize: allow --quantize to re-quantize weights a GGUF already
  // stores quantized (refused otherwise: it compounds two roundings).
  bool requantize = false;
  // Whether block types may be kept at all (the cpu target with f32
  // activations); when false GGUF weights are dequantised to the dtype.
  bool allow_blocks = true;
};

// The weights of @forward that may be block-quantized (see above), by name.
std::set<std::string> BlockStorableWeights(const Module& module);

// How one weight will be stored, decided from its declaration and (for a
// GGUF) the tensor table alone: no tensor data is read.
struct PlannedWeight {
  enum class Source {
    kFloats,      // floats in the engine dtype (read, or converted)
    kQuantize,    // float values quantized here by --quantize
    kKeepBlocks,  // a GGUF's blocks, copied as they are
    kRequantize,  // a GGUF's blocks, dequantised and quantized again
  };
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;  // as the engine stores it
  Source source = Source::kFloats;
  int64_t bytes = 0;  // exactly the engine's bytes for it
};

// The storage of every weight of `module` (declaration order) under
// `options`, with StoreEngineWeights' errors for what it would refuse
// (a GGUF tensor missing, mis-shaped or of a type Kiln cannot compute with;
// --quantize of a GGUF's blocks without --requantize).
absl::StatusOr<std::vector<PlannedWeight>> PlanWeightStorage(const Module& module,
                                                             const GgufCheckpoint* gguf,
                                                             const WeightStorageOptions& options);

// Sets each planned weight's declared dtype as stored (SetWeightDType).
void ApplyWeightStorage(Module& module, const std::vector<PlannedWeight>& plan);

// Sets weight `name`'s declared dtype and the type of every constant node
// reading it, in every function.
void SetWeightDType(Module& module, const std::string& name, DType dtype);

// Parses --quantize's value: q8_0, q4_0, q4_1 or q4_k.
absl::StatusOr<DType> ParseQuantizeFlag(const std::string& text);

// Reads `module`'s weights from a GGUF checkpoint (when `gguf` is set) or
// takes the float `loaded` ones, applies `options`, and updates `module`'s
// declarations to the stored dtypes. Errors: a tensor a GGUF stores in a
// block type Kiln cannot compute with names the tensor and type; NaN or
// infinite block scales name the tensor and block; --quantize of an
// already-quantized GGUF tensor without --requantize says what it would lose.
absl::StatusOr<EngineWeights> StoreEngineWeights(Module& module, const GgufCheckpoint* gguf,
                                                 WeightMap loaded,
                                                 const WeightStorageOptions& options);

}  // namespace kiln

#endif  // KILN_CODEGEN_WEIGHT_STORAGE_H_
