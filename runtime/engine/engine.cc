#include "runtime/engine/engine.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/text.h"
#include "models/checkpoint.h"
#include "models/safetensors_writer.h"
#include "base/sha256.h"
#include "base/half.h"
#include "runtime/reference/weights.h"

namespace kiln {
namespace {

constexpr char kManifest[] = "manifest.json";
constexpr char kConfig[] = "config.json";
constexpr char kModelIr[] = "model.ir";
constexpr char kWeights[] = "weights.safetensors";
constexpr char kChatTemplate[] = "chat_template.jinja";
constexpr char kGenerationConfig[] = "generation_config.json";
constexpr char kKernelIndex[] = "kernels.json";

// The CUDA target's files: the index and kernel.<name>.cubin / .ptx.
bool IsKernelFile(const std::string& name) {
  return name == kKernelIndex || name.rfind("kernel.", 0) == 0;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, " is missing or unreadable"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Status WriteWeights(const std::string& path, const WeightMap& weights) {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorToWrite> tensors;
  storage.reserve(weights.size());
  for (const auto& [name, tensor] : weights) {
    if (!IsFloat(tensor.dtype)) {
      return absl::UnimplementedError(absl::StrCat("weight \"", name, "\" is not a float tensor"));
    }
    storage.push_back(EncodeFloats(tensor.floats, tensor.dtype));
    tensors.push_back({name, tensor.dtype, tensor.shape, storage.back()});
  }
  return WriteSafetensors(path, std::move(tensors), {{"format", "kiln"}});
}

nlohmann::json ManifestToJson(const EngineManifest& m) {
  nlohmann::json j = {
      {"format_version", m.format_version},
      {"architecture", m.architecture},
      {"target", m.target},
      {"dtype", std::string(DTypeName(m.dtype))},
      {"max_batch", m.max_batch},
      {"max_seq", m.max_seq},
      {"eos_token_ids", m.eos_token_ids},
      {"tokenizer", m.tokenizer},
      {"chat_template", m.chat_template},
      {"generation_config", m.generation_config},
  };
  if (!m.kernel_index.empty()) j["kernel_index"] = m.kernel_index;
  j["bos_token_id"] = m.bos_token_id ? nlohmann::json(*m.bos_token_id) : nlohmann::json(nullptr);
  for (const EngineBucket& b : m.buckets) {
    j["buckets"].push_back({{"function", b.function}, {"batch", b.batch}, {"seq", b.seq}});
  }
  for (const EngineFile& f : m.files) {
    j["files"].push_back({{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  }
  return j;
}

// Reads the manifest fields; a missing field or one of the wrong type is
// reported by name.
absl::StatusOr<EngineManifest> ManifestFromJson(const nlohmann::json& j) {
  EngineManifest m;
  std::string field;
  // Reads j[key] into `out`, remembering the key for the error message.
  auto read = [&](const char* key, auto& out) {
    field = key;
    out = j.at(field).get<std::remove_reference_t<decltype(out)>>();
  };
  try {
    field = "format_version";
    if (!j.at(field).is_number_integer() || j.at(field).get<int64_t>() != kEngineFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "engine format version ", j.at(field).dump(), ", but this Kiln reads version ",
          kEngineFormatVersion, ": rebuild the engine with this compile-model"));
    }
    m.format_version = kEngineFormatVersion;
    read("architecture", m.architecture);
    read("target", m.target);
    std::string dtype;
    read("dtype", dtype);
    std::optional<DType> parsed = DTypeFromName(dtype);
    if (!parsed) return absl::DataLossError("manifest.json: unknown dtype '" + dtype + "'");
    m.dtype = *parsed;
    read("max_batch", m.max_batch);
    read("max_seq", m.max_seq);
    // The runtime allocates caches from these: bound them before it does.
    if (m.max_batch < 1 || m.max_batch > kMaxEngineBatch || m.max_seq < 1 ||
        m.max_seq > kMaxEngineSeq) {
      return absl::DataLossError(absl::StrCat(
          "manifest.json: max_batch ", m.max_batch, " and max_seq ", m.max_seq,
          " must be in [1, ", kMaxEngineBatch, "] and [1, ", kMaxEngineSeq, "]"));
    }
    read("eos_token_ids", m.eos_token_ids);
    field = "bos_token_id";
    if (!j.at(field).is_null()) m.bos_token_id = j.at(field).get<int64_t>();
    read("tokenizer", m.tokenizer);
    field = "chat_template";
    if (j.contains(field)) read("chat_template", m.chat_template);
    field = "generation_config";
    if (j.contains(field)) read("generation_config", m.generation_config);
    field = "kernel_index";
    if (j.contains(field)) read("kernel_index", m.kernel_index);
    field = "buckets";
    for (const nlohmann::json& b : j.at(field)) {
      m.buckets.push_back({b.at("function").get<std::string>(), b.at("batch").get<int64_t>(),
                           b.at("seq").get<int64_t>()});
    }
    field = "files";
    for (const nlohmann::json& f : j.at(field)) {
      m.files.push_back({f.at("path").get<std::string>(), f.at("bytes").get<int64_t>(),
                         f.at("sha256").get<std::string>()});
    }
  } catch (const nlohmann::json::exception&) {
    return absl::DataLossError(
        absl::StrCat("manifest.json: field '", field, "' is missing or has the wrong type"));
  }
  return m;
}

// Checks every file the manifest lists against its recorded size and digest.
absl::Status CheckFiles(const std::string& dir, const EngineManifest& m) {
  for (const char* required : {kConfig, kModelIr, kWeights}) {
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

absl::Status WriteEngine(const std::string& dir, const Engine& engine,
                         const std::string& tokenizer_path) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir));
  EngineManifest manifest = engine.manifest;
  manifest.format_version = kEngineFormatVersion;
  manifest.files.clear();
  KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kConfig, engine.config.dump(2) + "\n"));
  KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kModelIr, PrintModule(engine.module)));
  KILN_RETURN_IF_ERROR(WriteWeights(dir + "/" + kWeights, engine.weights));
  std::vector<std::string> names = {kConfig, kModelIr, kWeights};
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
    manifest.chat_template = kChatTemplate;
    KILN_RETURN_IF_ERROR(WriteText(dir + "/" + kChatTemplate, engine.chat_template));
    names.push_back(kChatTemplate);
  }
  manifest.generation_config.clear();
  if (!engine.generation_config.empty()) {
    manifest.generation_config = kGenerationConfig;
    KILN_RETURN_IF_ERROR(
        WriteText(dir + "/" + kGenerationConfig, engine.generation_config.dump(2) + "\n"));
    names.push_back(kGenerationConfig);
  }
  manifest.kernel_index.clear();
  for (const auto& [name, bytes] : engine.kernel_files) {
    if (!IsKernelFile(name)) {
      return absl::InternalError("kernel file '" + name + "' is not kernels.json or kernel.*");
    }
    if (name == kKernelIndex) manifest.kernel_index = kKernelIndex;
    KILN_RETURN_IF_ERROR(WriteText(dir + "/" + name, bytes));
    names.push_back(name);
  }
  for (const std::string& name : names) {
    KILN_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(dir + "/" + name));
    manifest.files.push_back({name, digest.bytes, digest.sha256});
  }
  return WriteText(dir + "/" + kManifest, ManifestToJson(manifest).dump(2) + "\n");
}

absl::StatusOr<std::string> EngineTarget(const std::string& dir) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadText(dir + "/" + kManifest));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("target") ||
      !json["target"].is_string()) {
    return absl::DataLossError(absl::StrCat(dir, "/manifest.json has no target"));
  }
  return json["target"].get<std::string>();
}

absl::StatusOr<Engine> LoadEngine(const std::string& dir, const std::string& target) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadText(dir + "/" + kManifest));
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
  KILN_ASSIGN_OR_RETURN(std::string config, ReadText(dir + "/" + kConfig));
  engine.config = nlohmann::json::parse(config, nullptr, /*allow_exceptions=*/false);
  KILN_ASSIGN_OR_RETURN(std::string ir, ReadText(dir + "/" + kModelIr));
  KILN_ASSIGN_OR_RETURN(engine.module, ParseModule(ir));
  KILN_ASSIGN_OR_RETURN(Checkpoint weights, Checkpoint::OpenFile(dir + "/" + kWeights));
  KILN_ASSIGN_OR_RETURN(engine.weights, LoadWeights(engine.module, weights));
  if (!engine.manifest.chat_template.empty()) {
    KILN_ASSIGN_OR_RETURN(engine.chat_template,
                          ReadText(dir + "/" + engine.manifest.chat_template));
  }
  if (!engine.manifest.generation_config.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string text,
                          ReadText(dir + "/" + engine.manifest.generation_config));
    engine.generation_config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!engine.generation_config.is_object()) {
      return absl::DataLossError(absl::StrCat(dir, "/", engine.manifest.generation_config,
                                              " is not a JSON object"));
    }
  }
  for (const EngineFile& f : engine.manifest.files) {
    if (!IsKernelFile(f.path)) continue;
    KILN_ASSIGN_OR_RETURN(engine.kernel_files[f.path], ReadText(dir + "/" + f.path));
  }
  if (engine.manifest.target != "cpu" && engine.manifest.kernel_index.empty()) {
    return absl::DataLossError(absl::StrCat("the ", engine.manifest.target, " engine in ", dir,
                                            " has no kernels.json: recompile it"));
  }
  return engine;
}

}  // namespace kiln
