#include "codegen/engine_writer.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "models/safetensors_writer.h"

namespace kiln {
namespace {

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteWeights(const std::string& path, const WeightMap& weights,
                          const std::map<std::string, QuantizedWeight>& quantized) {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorToWrite> tensors;
  storage.reserve(weights.size());
  for (const auto& [name, q] : quantized) {
    if (weights.count(name) > 0) {
      return absl::InternalError(absl::StrCat("weight \"", name, "\" is stored twice"));
    }
    tensors.push_back({name, q.dtype, q.shape, q.bytes});
  }
  for (const auto& [name, tensor] : weights) {
    if (!IsFloat(tensor.dtype)) {
      return absl::UnimplementedError(absl::StrCat("weight \"", name, "\" is not a float tensor"));
    }
    storage.push_back(EncodeFloats(tensor.floats, tensor.dtype));
    tensors.push_back({name, tensor.dtype, tensor.shape, storage.back()});
  }
  return WriteSafetensors(path, std::move(tensors), {{"format", "kiln"}});
}

}  // namespace

absl::Status WriteEngine(const std::string& dir, const EngineContents& engine,
                         const std::string& tokenizer_path) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir));
  EngineManifest manifest = engine.manifest;
  manifest.format_version = kEngineFormatVersion;
  manifest.files.clear();
  KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kEngineConfigFile, engine.config.dump(2) + "\n"));
  KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kEngineIrFile, PrintModule(engine.module)));
  KILN_RETURN_IF_ERROR(WriteWeights(dir + "/" + kEngineWeightsFile, engine.weights,
                                        engine.quantized_weights));
  std::vector<std::string> names = {kEngineConfigFile, kEngineIrFile, kEngineWeightsFile};
  manifest.tokenizer.clear();
  if (!tokenizer_path.empty()) {
    manifest.tokenizer = std::filesystem::path(tokenizer_path).filename().string();
    std::filesystem::copy_file(tokenizer_path, dir + "/" + manifest.tokenizer,
                               std::filesystem::copy_options::overwrite_existing, error);
    if (error) return absl::PermissionDeniedError(absl::StrCat("cannot copy ", tokenizer_path));
    names.push_back(manifest.tokenizer);
  }
  manifest.chat_template.clear();
  if (!engine.chat_template.empty()) {
    manifest.chat_template = kEngineChatTemplateFile;
    KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kEngineChatTemplateFile, engine.chat_template));
    names.push_back(kEngineChatTemplateFile);
  }
  manifest.generation_config.clear();
  if (!engine.generation_config.empty()) {
    manifest.generation_config = kEngineGenerationConfigFile;
    KILN_RETURN_IF_ERROR(
        WriteText(dir + "/" + kEngineGenerationConfigFile, engine.generation_config.dump(2) + "\n"));
    names.push_back(kEngineGenerationConfigFile);
  }
  manifest.kernel_index.clear();
  for (const auto& [name, bytes] : engine.kernel_files) {
    if (!IsKernelFile(name)) {
      return absl::InternalError("kernel file '" + name + "' is not kernels.json or kernel.*");
    }
    if (name == kEngineKernelIndexFile) manifest.kernel_index = kEngineKernelIndexFile;
    KILN_RETURN_IF_ERROR(WriteText(dir + "/" + name, bytes));
    names.push_back(name);
  }
  for (const std::string& name : names) {
    KILN_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(dir + "/" + name));
    manifest.files.push_back({name, digest.bytes, digest.sha256});
  }
  return WriteText(dir + "/" + kEngineManifestFile, ManifestToJson(manifest).dump(2) + "\n");
}

}  // namespace kiln
