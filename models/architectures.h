// One builder per architecture, each in its own file (llama.cc, ...).
#ifndef KILN_MODELS_ARCHITECTURES_H_
#define KILN_MODELS_ARCHITECTURES_H_

#include "absl/status/statusor.h"
#include "models/config_reader.h"
#include "models/model.h"

namespace kiln {

absl::StatusOr<BuiltModel> BuildLlama(const ConfigReader& config, const BuildOptions& options);
absl::StatusOr<BuiltModel> BuildMistral(const ConfigReader& config, const BuildOptions& options);
absl::StatusOr<BuiltModel> BuildGemma(const ConfigReader& config, const BuildOptions& options);
absl::StatusOr<BuiltModel> BuildOpt(const ConfigReader& config, const BuildOptions& options);

// Maps an activation name from a config (hidden_act, hidden_activation,
// activation_function) to its op: silu, gelu_pytorch_tanh, gelu, relu.
absl::StatusOr<Op> ActivationOp(const ConfigReader& config, const std::string& key,
                                const std::string& name);

}  // namespace kiln

#endif  // KILN_MODELS_ARCHITECTURES_H_
