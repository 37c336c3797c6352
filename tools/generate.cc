// generate: text generation from a compiled engine, streaming the text.
//
//   bin/generate --engine /tmp/llama3.engine --prompt "Hello" --max-new-tokens 16
//   bin/generate --engine E --prompt "Hi" --temperature 0.8 --top-p 0.9 --seed 3 --json
//   bin/generate --engine E --chat --prompt "What is the capital of France?"
//   bin/generate --engine E --prompts-file prompts.txt --json   (one batch, a prompt a line)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine/engine.h"
#include "runtime/generate/chat_template.h"
#include "runtime/generate/generator.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"
#include "tools/cli.h"
#include "tools/device_flag.h"
#include "tools/load_generator.h"
#include "tools/speculation_flags.h"

ABSL_FLAG(std::string, engine, "", "engine directory written by compile-model");
ABSL_FLAG(std::string, prompt, "", "the prompt (default: read stdin)");
ABSL_FLAG(std::string, executor, "cpu",
          "for a cpu engine: cpu (the CPU backend's kernels) or reference (the reference "
          "executor, the specification of every op: slow, for checking)");
ABSL_FLAG(std::string, device, "gpu",
          "for a CUDA engine: gpu, or emulator (its kernels run on the CPU in the CUDA emulator, "
          "slowly, with race and bounds checks; the emulator compiles the engine's kernel sources "
          "into this process, so use it on engines you compiled)");
// The sampling flags override the engine's generation_config.json (resolved
// as Transformers does: greedy unless it sets do_sample; when sampling,
// top_k 50 unless it says otherwise). Their defaults are sentinels no user
// would type, meaning "not given": the model's value stands, while any
// value given, even an invalid one like -1, is used (and then rejected).
constexpr int kIntNotGiven = std::numeric_limits<int>::min();
constexpr double kNotGiven = -std::numeric_limits<double>::max();
ABSL_FLAG(int, max_new_tokens, kIntNotGiven,
          "tokens to generate at most (default: the model's max_new_tokens, else 32)");
ABSL_FLAG(
    double, temperature, kNotGiven,
    "sampling temperature; 0 is greedy (default: the model's generation config, else greedy)");
ABSL_FLAG(int, top_k, kIntNotGiven,
          "keep the k most likely tokens (0: off; default: the model's, else 50)");
ABSL_FLAG(double, top_p, kNotGiven,
          "nucleus sampling mass in (0, 1] (default: the model's, else 1)");
ABSL_FLAG(double, min_p, kNotGiven,
          "drop tokens below min_p times the top probability (default: the model's, else 0)");
ABSL_FLAG(double, repetition_penalty, kNotGiven,
          "Transformers' repetition penalty (1: off) (default: the model's, else 1)");
ABSL_FLAG(uint64_t, seed, 0, "sampling seed");
ABSL_FLAG(std::string, stop, "", "comma-separated stop strings");
ABSL_FLAG(bool, add_special_tokens, true, "add the tokenizer's BOS/EOS template to the prompt");
ABSL_FLAG(bool, json, false, "print ids, text and timings as JSON instead of streaming");
ABSL_FLAG(bool, chat, false,
          "format the prompt as a user message with the model's chat template (and --system)");
ABSL_FLAG(std::string, system, "", "with --chat: a system message before the user's");
ABSL_FLAG(std::string, prompts_file, "",
          "generate for every line of this file as one batch (the engine's --max-batch at most)");
namespace kiln {
namespace {

// The engine's generation defaults (its generation_config.json, resolved as
// Transformers does), overridden by every sampling flag the user gave.
absl::StatusOr<GenerationConfig> ConfigFromFlags(const Engine& engine) {
  const EngineManifest& manifest = engine.manifest;
  KILN_ASSIGN_OR_RETURN(GenerationConfig c, GenerationDefaults(engine.generation_config));
  const int max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  if (max_new_tokens != kIntNotGiven) {
    c.max_new_tokens = max_new_tokens;
  } else if (!engine.generation_config.contains("max_new_tokens")) {
    c.max_new_tokens = 32;
  }
  const double temperature = absl::GetFlag(FLAGS_temperature);
  if (temperature != kNotGiven) {
    if (temperature < 0 || temperature != temperature) {
      return absl::InvalidArgumentError("--temperature must be >= 0 (0: greedy)");
    }
    c.do_sample = temperature != 0.0;
    c.temperature = c.do_sample ? temperature : 1.0;
  }
  if (absl::GetFlag(FLAGS_top_k) != kIntNotGiven) c.top_k = absl::GetFlag(FLAGS_top_k);
  if (absl::GetFlag(FLAGS_top_p) != kNotGiven) c.top_p = absl::GetFlag(FLAGS_top_p);
  if (absl::GetFlag(FLAGS_min_p) != kNotGiven) c.min_p = absl::GetFlag(FLAGS_min_p);
  if (absl::GetFlag(FLAGS_repetition_penalty) != kNotGiven) {
    c.repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  }
  c.seed = absl::GetFlag(FLAGS_seed);
  for (int64_t id : manifest.eos_token_ids) c.eos_token_ids.push_back(static_cast<int32_t>(id));
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_stop), ',', absl::SkipEmpty())) {
    c.stop_strings.emplace_back(s);
  }
  return c;
}

// The prompt as the model's chat template formats a conversation of an
// optional system message and one user message, ready for the assistant's
// reply (Transformers' apply_chat_template(..., add_generation_prompt=True)).
absl::StatusOr<std::string> ChatPrompt(const Engine& engine, const tokenizer::Tokenizer& tok,
                                       const std::string& user) {
  if (engine.chat_template.empty()) {
    return absl::FailedPreconditionError(
        "--chat: this engine has no chat template (the model ships none); format the prompt "
        "yourself and drop --chat");
  }
  KILN_ASSIGN_OR_RETURN(ChatTemplate chat, ChatTemplate::Parse(engine.chat_template));
  std::vector<ChatMessage> messages;
  if (!absl::GetFlag(FLAGS_system).empty()) {
    messages.push_back({"system", absl::GetFlag(FLAGS_system)});
  }
  messages.push_back({"user", user});
  std::map<std::string, std::string> strings;
  auto token_text = [&](std::optional<int64_t> id) -> std::string {
    if (!id) return "";
    return tok.IdToToken(static_cast<int32_t>(*id)).value_or("");
  };
  strings["bos_token"] = token_text(engine.manifest.bos_token_id);
  strings["eos_token"] = token_text(engine.manifest.eos_token_ids.empty()
                                        ? std::nullopt
                                        : std::optional<int64_t>(engine.manifest.eos_token_ids[0]));
  return chat.Render(messages, /*add_generation_prompt=*/true, strings);
}

absl::StatusOr<std::vector<std::string>> ReadPromptsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--prompts-file ", path, " cannot be read"));
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) prompts.push_back(line);
  }
  if (prompts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--prompts-file ", path, " has no prompts"));
  }
  return prompts;
}

nlohmann::json ResultJson(const GenerationResult& r) {
  nlohmann::json out = {
      {"prompt_ids", r.prompt_ids},       {"ids", r.token_ids}, {"text", r.text},
      {"finish_reason", r.finish_reason}, {"error", r.error},   {"prefill_s", r.prefill_seconds},
      {"decode_s", r.decode_seconds}};
  out["drafted_tokens"] = r.drafted_tokens;
  out["accepted_tokens"] = r.accepted_tokens;
  if (r.drafted_tokens > 0) {
    out["acceptance_rate"] = static_cast<double>(r.accepted_tokens) / r.drafted_tokens;
  }
  out["target_forwards"] = r.target_forwards;
  // 1 without speculation (the prefill yields the first token).
  if (!r.token_ids.empty()) {
    out["target_forwards_per_token"] =
        static_cast<double>(r.target_forwards) / static_cast<double>(r.token_ids.size());
  }
  return out;
}

void PrintSummary(const GenerationResult& r) {
  std::fprintf(stderr, "[%zu prompt tokens, %zu generated (%s); prefill %.3f s, decode %.3f s]\n",
               r.prompt_ids.size(), r.token_ids.size(), r.finish_reason.c_str(), r.prefill_seconds,
               r.decode_seconds);
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty()) return absl::InvalidArgumentError("--engine is required (see --help)");
  const bool chat = absl::GetFlag(FLAGS_chat);
  if (!absl::GetFlag(FLAGS_system).empty() && !chat) {
    return absl::InvalidArgumentError("--system needs --chat");
  }
  std::vector<std::string> prompts;
  const std::string prompts_file = absl::GetFlag(FLAGS_prompts_file);
  if (!prompts_file.empty()) {
    if (!absl::GetFlag(FLAGS_prompt).empty()) {
      return absl::InvalidArgumentError("give --prompt or --prompts-file, not both");
    }
    KILN_ASSIGN_OR_RETURN(prompts, ReadPromptsFile(prompts_file));
  } else {
    prompts.push_back(absl::GetFlag(FLAGS_prompt));
    if (prompts[0].empty()) prompts[0].assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<LoadedGenerator> target,
      LoadGenerator(dir, absl::GetFlag(FLAGS_executor), absl::GetFlag(FLAGS_device)));
  Engine& engine = target->engine();
  const tokenizer::Tokenizer& tok = *target->tokenizer;
  Generator* generator = target->generator.get();
  // The draft engine outlives the config that holds its generator.
  std::unique_ptr<LoadedGenerator> draft;
  KILN_ASSIGN_OR_RETURN(GenerationConfig config, ConfigFromFlags(engine));
  // A chat template writes the special tokens itself (Transformers then
  // tokenizes with add_special_tokens=False).
  bool add_special_tokens = absl::GetFlag(FLAGS_add_special_tokens);
  if (chat) {
    for (std::string& prompt : prompts) {
      KILN_ASSIGN_OR_RETURN(prompt, ChatPrompt(engine, tok, prompt));
    }
    add_special_tokens = false;
  }
  KILN_RETURN_IF_ERROR(SpeculationFromFlags(*target, absl::GetFlag(FLAGS_executor),
                                            absl::GetFlag(FLAGS_device), config, draft));
  const bool json = absl::GetFlag(FLAGS_json);
  if (!prompts_file.empty()) {
    KILN_ASSIGN_OR_RETURN(std::vector<GenerationResult> results,
                          generator->GenerateBatch(prompts, config, add_special_tokens));
    nlohmann::json out = nlohmann::json::array();
    for (const GenerationResult& r : results) out.push_back(ResultJson(r));
    if (json) {
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      for (const GenerationResult& r : results) {
        std::printf("%s\n", r.text.c_str());
        PrintSummary(r);
      }
    }
    return absl::OkStatus();
  }
  TextCallback stream = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  KILN_ASSIGN_OR_RETURN(
      GenerationResult r,
      generator->Generate(prompts[0], config, add_special_tokens, json ? TextCallback() : stream));
  if (json) {
    std::printf("%s\n", ResultJson(r).dump(2).c_str());
  } else {
    std::printf("\n");
    PrintSummary(r);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(
      argc, argv,
      "Generates text from a Kiln engine.\n"
      "  generate --engine DIR --prompt TEXT [--max-new-tokens N] [--temperature T "
      "--top-k K --top-p P --min-p M --seed S] [--stop a,b] [--chat [--system TEXT]] "
      "[--prompts-file FILE] [--json]");
  return kiln::ReportToolStatus("generate", kiln::Run());
}
