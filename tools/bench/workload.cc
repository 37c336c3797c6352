#include "tools/bench/workload.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A list of non-negative integers under `key`, `fallback` when absent.
absl::StatusOr<std::vector<int64_t>> IntList(const json& j, const char* key,
                                             std::vector<int64_t> fallback, int64_t min) {
  if (!j.contains(key)) return fallback;
  const json& v = j[key];
  if (!v.is_array() || v.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("workload: \"", key, "\" must be a non-empty list"));
  }
  std::vector<int64_t> out;
  for (const json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < min) {
      return absl::InvalidArgumentError(absl::StrCat("workload: \"", key, "\" holds ", x.dump(),
                                                     "; each entry must be an integer >= ", min));
    }
    out.push_back(x.get<int64_t>());
  }
  return out;
}

absl::StatusOr<int> SmallInt(const json& j, const char* key, int fallback, int min) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < min || j[key].get<int64_t>() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("workload: \"", key, "\" must be an integer in [", min, ", 1000]"));
  }
  return j[key].get<int>();
}

// The sampling block, in GenerationConfig's (Transformers') field names.
absl::StatusOr<GenerationConfig> ParseSampling(const json& j) {
  GenerationConfig c;
  if (!j.is_object()) return absl::InvalidArgumentError("workload: \"sampling\" must be an object");
  try {
    c.do_sample = j.value("do_sample", false);
    c.temperature = j.value("temperature", 1.0);
    c.top_k = j.value("top_k", 0);
    c.top_p = j.value("top_p", 1.0);
    c.min_p = j.value("min_p", 0.0);
    c.repetition_penalty = j.value("repetition_penalty", 1.0);
    c.seed = j.value("seed", uint64_t{0});
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("workload: \"sampling\": ", e.what()));
  }
  return c;
}

absl::StatusOr<std::vector<std::string>> ReadPrompts(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<std::string> prompts;
  std::istringstream lines(text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": expected a JSON object with a string \"text\""));
    }
    prompts.push_back(j["text"].get<std::string>());
  }
  if (prompts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no prompts"));
  return prompts;
}

}  // namespace

absl::StatusOr<Workload> ParseWorkload(const std::string& text, const std::string& dir) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("workload: not a JSON object");
  Workload w;
  w.raw = j;
  w.name = j.value("name", "");
  w.description = j.value("description", "");
  if (w.name.empty()) return absl::InvalidArgumentError("workload: \"name\" is required");
  // Prompts come from a JSONL file or, for small tests, inline.
  if (j.contains("prompts") && j["prompts"].is_string()) {
    std::string file = (std::filesystem::path(dir) / j["prompts"].get<std::string>()).string();
    KILN_ASSIGN_OR_RETURN(w.prompts, ReadPrompts(file));
  } else if (j.contains("prompt_texts") && j["prompt_texts"].is_array()) {
    for (const json& p : j["prompt_texts"]) {
      if (!p.is_string()) return absl::InvalidArgumentError("workload: \"prompt_texts\" must be strings");
      w.prompts.push_back(p.get<std::string>());
    }
  }
  if (w.prompts.empty()) {
    return absl::InvalidArgumentError(
        "workload: give \"prompts\" (a JSONL file) or \"prompt_texts\" (a list of strings)");
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lengths, IntList(j, "prompt_tokens", {0}, 0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> news, IntList(j, "new_tokens", {32}, 1));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> batches, IntList(j, "batch_sizes", {1}, 1));
  if (j.contains("sampling")) {
    KILN_ASSIGN_OR_RETURN(w.sampling, ParseSampling(j["sampling"]));
  }
  w.ignore_eos = j.value("ignore_eos", true);
  KILN_ASSIGN_OR_RETURN(w.warmup, SmallInt(j, "warmup", 1, 0));
  KILN_ASSIGN_OR_RETURN(w.reps, SmallInt(j, "reps", 3, 1));
  for (int64_t p : lengths) {
    for (int64_t n : news) {
      for (int64_t b : batches) {
        w.cases.push_back({p, n, b, absl::StrCat("p", p == 0 ? "nat" : std::to_string(p), "_n", n, "_b", b)});
      }
    }
  }
  return w;
}

absl::StatusOr<Workload> LoadWorkload(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<Workload> w =
      ParseWorkload(text, std::filesystem::path(path).parent_path().string());
  if (!w.ok()) return absl::Status(w.status().code(), absl::StrCat(path, ": ", w.status().message()));
  w->path = path;
  return w;
}

absl::StatusOr<std::vector<int32_t>> PromptIds(const Workload& workload, const BenchCase& c,
                                               int run, const tokenizer::Tokenizer& tokenizer) {
  size_t count = workload.prompts.size();
  size_t first = static_cast<size_t>(run) % count;
  if (c.prompt_tokens == 0) return tokenizer.Encode(workload.prompts[first], true);
  // Join lines until the text holds enough tokens, then cut. Text of ~4
  // bytes per token usually suffices; encode and add lines while short.
  std::string text;
  std::vector<int32_t> ids;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) text += "\n\n";
    text += workload.prompts[(first + i) % count];
    if (static_cast<int64_t>(text.size()) < 4 * c.prompt_tokens + 16 && i + 1 < count) continue;
    KILN_ASSIGN_OR_RETURN(ids, tokenizer.Encode(text, true));
    if (static_cast<int64_t>(ids.size()) >= c.prompt_tokens) break;
  }
  if (static_cast<int64_t>(ids.size()) < c.prompt_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("workload ", workload.name, ": the prompts hold only ",
                                                   ids.size(), " tokens, case ", c.name, " needs ",
                                                   c.prompt_tokens));
  }
  ids.resize(static_cast<size_t>(c.prompt_tokens));
  return ids;
}

}  // namespace kiln::bench
