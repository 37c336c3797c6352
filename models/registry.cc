#include "models/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "models/architectures.h"

namespace kiln {
namespace {

using BuildFn = absl::StatusOr<BuiltModel> (*)(const ConfigReader&, const BuildOptions&);

struct Architecture {
  const char* name;        // the Transformers class in "architectures"
  const char* model_type;  // config.json "model_type"
  BuildFn build;
};

constexpr Architecture kArchitectures[] = {
    {"LlamaForCausalLM", "llama", BuildLlama},
    {"MistralForCausalLM", "mistral", BuildMistral},
    {"GemmaForCausalLM", "gemma", BuildGemma},
    {"OPTForCausalLM", "opt", BuildOpt},
};

absl::StatusOr<const Architecture*> FindArchitecture(const ConfigReader& config) {
  std::string key = "architectures", wanted;
  const nlohmann::json& json = config.json();
  if (json.contains(key) && !json[key].is_null()) {
    if (!json[key].is_array() || json[key].empty() || !json[key][0].is_string()) {
      return config.FieldError(key, "must be a non-empty list of class names");
    }
    wanted = json[key][0].get<std::string>();
    for (const Architecture& a : kArchitectures) {
      if (wanted == a.name) return &a;
    }
  } else {
    key = "model_type";
    KILN_ASSIGN_OR_RETURN(wanted, config.String(key));
    for (const Architecture& a : kArchitectures) {
      if (wanted == a.model_type) return &a;
    }
  }
  return config.FieldError(key, absl::StrCat("names '", wanted, "', which Kiln does not support (",
                                             absl::StrJoin(SupportedArchitectures(), ", "), ")"));
}

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Architecture& a : kArchitectures) names.push_back(a.name);
  return names;
}

absl::StatusOr<BuiltModel> BuildModel(const ConfigReader& config, const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(const Architecture* arch, FindArchitecture(config));
  return arch->build(config, options);
}

absl::StatusOr<BuiltModel> BuildModelFromDir(const std::string& dir, const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(ConfigReader config, ConfigReader::ReadFile(dir + "/config.json"));
  return BuildModel(config, options);
}

}  // namespace kiln
