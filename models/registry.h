// Builds a model's IR from its config.json, by architecture.
#ifndef KILN_MODELS_REGISTRY_H_
#define KILN_MODELS_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/config_reader.h"
#include "models/model.h"

namespace kiln {

// Builds the IR of the model `config` describes. The architecture is the
// first entry of "architectures" (exact match, e.g. "LlamaForCausalLM"), or
// when that is absent the exact "model_type" ("llama", "mistral", "gemma",
// "opt"). Anything else is an error listing what is supported.
absl::StatusOr<BuiltModel> BuildModel(const ConfigReader& config, const BuildOptions& options);

// Reads `<dir>/config.json` and builds its model.
absl::StatusOr<BuiltModel> BuildModelFromDir(const std::string& dir, const BuildOptions& options);

std::vector<std::string> SupportedArchitectures();

}  // namespace kiln

#endif  // KILN_MODELS_REGISTRY_H_
