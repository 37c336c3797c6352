#include "runtime/engine/engine.h"

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "ir/text.h"

namespace kiln {
namespace {

// No engine text file comes near this (model.ir of a 70B model is a few
// MiB); the cap keeps a corrupted manifest from exhausting memory.
constexpr size_t kMaxEngineTextBytes = size_t{1} << 30;

absl::StatusOr<std::string> ReadEngineFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxEngineTextBytes);
  if (text.ok()) return text;
  return absl::Status(text.status().code(), absl::StrCat(path, " is missing or unreadable (",
                                                         text.status().message(), ")"));
}

// Checks every file the manifest lists against its recorded size and digest.
absl::Status CheckFiles(const std::string& dir, const EngineManifest& m) {
  for (const char* required : {kEngineConfigFile, kEngineIrFile, kEngineWeightsFile}) {
    bool listed = false;
    for (const EngineFile& f : m.files) listed |= f.path == required;
    if (!listed) return absl::DataLossError(absl::StrCat("manifest.json does not list ", required));
  }
  // The optional files are read by name: each must be one the digests cover.
  for (const std::string* optional :
       {&m.tokenizer, &m.chat_template, &m.generation_config, &m.kernel_index}) {
    if (optional->empty()) continue;
    bool listed = false;
    for (const EngineFile& f : m.files) listed |= f.path == *optional;
    if (!listed) {
      return absl::DataLossError(absl::StrCat("manifest.json names '", *optional,
                                              "' but does not list it among its files"));
    }
  }
  for (const EngineFile& f : m.files) {
    // A plain file name: no directories, no "." or "..", no NUL (which would
    // cut the path the OS sees short of the name that was digested).
    if (f.path.empty() || f.path.find('/') != std::string::npos ||
        f.path.find('\0') != std::string::npos || f.path == "." || f.path == "..") {
      return absl::DataLossError(absl::StrCat("manifest.json lists a bad file name '", f.path, "'"));
    }
    std::string path = dir + "/" + f.path;
    KILN_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(path));
    if (digest.bytes != f.bytes) {
      return absl::DataLossError(absl::StrCat(path, " has ", digest.bytes,
                                              " bytes but the manifest records ", f.bytes,
                                              " (truncated or replaced)"));
    }
    if (digest.sha256 != f.sha256) {
      return absl::DataLossError(absl::StrCat(path, " does not match its SHA-256 in the "
                                              "manifest (the file was modified)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EngineTarget(const std::string& dir) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadEngineFile(dir + "/" + kEngineManifestFile));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("target") ||
      !json["target"].is_string()) {
    return absl::DataLossError(absl::StrCat(dir, "/manifest.json has no target"));
  }
  return json["target"].get<std::string>();
}

absl::StatusOr<Engine> LoadEngine(const std::string& dir, const std::string& target) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadEngineFile(dir + "/" + kEngineManifestFile));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::DataLossError(absl::StrCat(dir, "/manifest.json is not a JSON object"));
  }
  Engine engine;
  KILN_ASSIGN_OR_RETURN(engine.manifest, ManifestFromJson(json));
  if (engine.manifest.target != target) {
    return absl::FailedPreconditionError(absl::StrCat("the engine in ", dir, " was compiled for ",
                                                      engine.manifest.target, ", not ", target,
                                                      ": recompile with --target ", target));
  }
  KILN_RETURN_IF_ERROR(CheckFiles(dir, engine.manifest));
  KILN_ASSIGN_OR_RETURN(std::string config, ReadEngineFile(dir + "/" + kEngineConfigFile));
  engine.config = nlohmann::json::parse(config, nullptr, /*allow_exceptions=*/false);
  KILN_ASSIGN_OR_RETURN(std::string ir, ReadEngineFile(dir + "/" + kEngineIrFile));
  KILN_ASSIGN_OR_RETURN(engine.module, ParseModule(ir));
  KILN_ASSIGN_OR_RETURN(engine.weights,
                        WeightStore::Open(dir + "/" + kEngineWeightsFile, engine.module));
  if (!engine.manifest.chat_template.empty()) {
    KILN_ASSIGN_OR_RETURN(engine.chat_template,
                          ReadEngineFile(dir + "/" + engine.manifest.chat_template));
  }
  if (!engine.manifest.generation_config.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string text,
                          ReadEngineFile(dir + "/" + engine.manifest.generation_config));
    engine.generation_config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!engine.generation_config.is_object()) {
      return absl::DataLossError(absl::StrCat(dir, "/", engine.manifest.generation_config,
                                              " is not a JSON object"));
    }
  }
  for (const EngineFile& f : engine.manifest.files) {
    if (!IsKernelFile(f.path)) continue;
    KILN_ASSIGN_OR_RETURN(engine.kernel_files[f.path], ReadEngineFile(dir + "/" + f.path));
  }
  if (engine.manifest.target != "cpu" && engine.manifest.kernel_index.empty()) {
    return absl::DataLossError(absl::StrCat("the ", engine.manifest.target, " engine in ", dir,
                                            " has no kernels.json: recompile it"));
  }
  return engine;
}

}  // namespace kiln
