// generate: text generation from a compiled engine, streaming the text.
//
//   bin/generate --engine /tmp/llama3.engine --prompt "Hello" --max-new-tokens 16
//   bin/generate --engine E --prompt "Hi" --temperature 0.8 --top-p 0.9 --seed 3 --json
//   bin/generate --engine E --chat --prompt "What is the capital of France?"
//   bin/generate --engine E --prompts-file prompts.txt --json   (one batch, a prompt a line)
//   bin/generate --engine E --interactive --system "Be brief."   (a chat on the terminal)
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
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
#include "tools/chat_prompt.h"
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
ABSL_FLAG(std::string, system, "",
          "with --chat or --interactive: a system message before the user's");
ABSL_FLAG(bool, interactive, false,
          "chat on the terminal: a user message a line of stdin, each reply streamed, the KV cache "
          "kept across turns (/reset forgets the conversation, /exit ends)");
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
  if (r.host_synchronizations >= 0) out["host_synchronizations"] = r.host_synchronizations;
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

void StreamToStdout(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

// `status` with its message after `prefix` (the flag it concerns).
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// --system's message, when given, opens every conversation.
std::vector<ChatMessage> SystemMessages() {
  std::vector<ChatMessage> messages;
  if (!absl::GetFlag(FLAGS_system).empty()) {
    messages.push_back({"system", absl::GetFlag(FLAGS_system)});
  }
  return messages;
}

// generate --interactive: a conversation read from stdin, a user message a
// line, each reply streamed to stdout. The generator keeps one context (its
// KV cache) across turns, so a turn runs only the tokens that are new.
//
// With a chat template, those are the rendering of the whole conversation
// (the new user message last, add_generation_prompt) less the text the
// context already holds: the earlier turns' prompt text and the generated
// tokens as the tokenizer spells them, special tokens included. A reply
// that ended with an EOS the template also writes after the reply (ChatML's
// <|im_end|>) is then not closed twice, and one cut off by --max-new-tokens
// is closed by the template's end of turn. The context is a tokenization of
// exactly the text a fresh run of the conversation would encode. When the
// rendering does not start with the context's text (a template that trims
// replies or rewrites earlier turns, a reply ended by an EOS the template
// spells otherwise), the turn starts the context over from the whole
// rendering and says so.
//
// Without a chat template each line continues the text as it is.
class InteractiveChat {
 public:
  // All must outlive the chat. `add_special_tokens` applies to the first
  // line of a context without a chat template (a template writes its own).
  InteractiveChat(const Engine& engine, const tokenizer::Tokenizer& tokenizer, Generator& generator,
                  const GenerationConfig& config, bool add_special_tokens)
      : engine_(engine),
        tokenizer_(tokenizer),
        generator_(generator),
        config_(config),
        chat_(!engine.chat_template.empty()),
        add_special_tokens_(add_special_tokens),
        messages_(SystemMessages()) {}

  // Reads turns from `in` until /exit or its end. Fails on errors that are
  // not the turn's own (a template that cannot render, a failing step).
  absl::Status Run(std::istream& in);

 private:
  // One user message: its reply streamed, then a summary on stderr. A turn
  // the context has no room for, or whose text the model cannot take, is
  // reported on stderr and leaves the conversation as it was.
  absl::Status Turn(const std::string& line);
  // The ids a chat turn runs (messages_ ends with the new user message),
  // after starting the context over if the rendering does not continue it;
  // `text` is what they encode.
  absl::StatusOr<std::vector<int32_t>> ChatTurnIds(std::string& text);
  absl::Status Reset();

  const Engine& engine_;
  const tokenizer::Tokenizer& tokenizer_;
  Generator& generator_;
  const GenerationConfig& config_;
  const bool chat_;  // the engine has a chat template
  const bool add_special_tokens_;
  std::vector<ChatMessage> messages_;  // --system's, then the user's and the replies
  // The text of the generator's context, which the next rendering must
  // start with; empty exactly when the context is.
  std::string context_text_;
  int turn_ = 0;  // turns since the conversation started
};

absl::Status InteractiveChat::Run(std::istream& in) {
  const bool terminal = isatty(STDIN_FILENO) != 0;
  if (!chat_) {
    std::fprintf(stderr,
                 "[this engine has no chat template: each line continues the text as it is]\n");
  }
  if (terminal) std::fprintf(stderr, "[/reset forgets the conversation, /exit ends]\n");
  for (std::string line;;) {
    if (terminal) std::fprintf(stderr, "> ");
    if (!std::getline(in, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    // A command is one word after a slash; "/etc/hosts is what?" is a message.
    if (line[0] == '/' && line.find_first_of(" \t") == std::string::npos) {
      if (line == "/exit") return absl::OkStatus();
      if (line == "/reset") {
        KILN_RETURN_IF_ERROR(Reset());
        std::fprintf(stderr, "[the conversation starts over]\n");
      } else {
        std::fprintf(stderr, "[unknown command %s: /reset forgets the conversation, /exit ends]\n",
                     line.c_str());
      }
      continue;
    }
    KILN_RETURN_IF_ERROR(Turn(line));
  }
  if (terminal) std::fprintf(stderr, "\n");
  return absl::OkStatus();
}

absl::Status InteractiveChat::Reset() {
  KILN_RETURN_IF_ERROR(generator_.Reset());
  messages_ = SystemMessages();
  context_text_.clear();
  turn_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> InteractiveChat::ChatTurnIds(std::string& text) {
  KILN_ASSIGN_OR_RETURN(std::string full, RenderChat(engine_, tokenizer_, messages_,
                                                     /*add_generation_prompt=*/true));
  if (!absl::StartsWith(full, context_text_)) {
    std::fprintf(stderr,
                 "[the chat template writes the conversation so far otherwise than the context "
                 "holds it: running the whole conversation again]\n");
    KILN_RETURN_IF_ERROR(generator_.Reset());
    context_text_.clear();
  }
  text = full.substr(context_text_.size());
  return tokenizer_.Encode(text, /*add_special_tokens=*/false);
}

absl::Status InteractiveChat::Turn(const std::string& line) {
  std::string text;
  std::vector<int32_t> ids;
  if (chat_) {
    messages_.push_back({"user", line});
    absl::StatusOr<std::vector<int32_t>> chat_ids = ChatTurnIds(text);
    if (!chat_ids.ok()) {
      messages_.pop_back();
      return chat_ids.status();
    }
    ids = *std::move(chat_ids);
  } else {
    text = line;
    KILN_ASSIGN_OR_RETURN(
        ids, tokenizer_.Encode(line, add_special_tokens_ && generator_.context_length() == 0));
  }
  const int64_t context_before = generator_.context_length();
  absl::StatusOr<GenerationResult> result = generator_.GenerateIds(ids, config_, StreamToStdout);
  if (!result.ok()) {
    // The generator left its context as it was; so does the conversation.
    if (chat_) messages_.pop_back();
    if (absl::IsOutOfRange(result.status())) {
      std::fprintf(stderr, "[the context is full: %s; /reset starts a new conversation]\n",
                   std::string(result.status().message()).c_str());
      return absl::OkStatus();
    }
    if (absl::IsInvalidArgument(result.status())) {
      std::fprintf(stderr, "[%s]\n", std::string(result.status().message()).c_str());
      return absl::OkStatus();
    }
    return result.status();
  }
  const GenerationResult& r = *result;
  std::printf("\n");
  std::fflush(stdout);
  KILN_ASSIGN_OR_RETURN(std::string generated,
                        tokenizer_.Decode(r.token_ids, /*skip_special_tokens=*/false));
  context_text_ += text + generated;
  if (chat_) messages_.push_back({"assistant", r.text});
  ++turn_;
  // The decode steps yield every token after the first (which the prefill
  // yields).
  const double decode_rate = r.token_ids.size() > 1 && r.decode_seconds > 0
                                 ? static_cast<double>(r.token_ids.size() - 1) / r.decode_seconds
                                 : 0.0;
  std::fprintf(stderr,
               "[turn %d: %zu prompt tokens after %lld in context, %zu generated (%s); prefill "
               "%.3f s, decode %.1f tok/s; context %lld of %lld]\n",
               turn_, r.prompt_ids.size(), static_cast<long long>(context_before),
               r.token_ids.size(), r.finish_reason.c_str(), r.prefill_seconds, decode_rate,
               static_cast<long long>(generator_.context_length()),
               static_cast<long long>(generator_.max_seq()));
  return absl::OkStatus();
}

// --interactive refuses the flags of one-shot generation.
absl::Status CheckInteractiveFlags() {
  if (!absl::GetFlag(FLAGS_prompt).empty()) {
    return absl::InvalidArgumentError(
        "--interactive reads the user's messages from stdin: drop --prompt");
  }
  if (!absl::GetFlag(FLAGS_prompts_file).empty()) {
    return absl::InvalidArgumentError(
        "--interactive reads the user's messages from stdin: drop --prompts-file");
  }
  if (absl::GetFlag(FLAGS_json)) {
    return absl::InvalidArgumentError("--interactive streams text, not JSON: drop --json");
  }
  if (absl::GetFlag(FLAGS_chat)) {
    return absl::InvalidArgumentError(
        "--interactive applies the chat template already: drop --chat");
  }
  return absl::OkStatus();
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty()) return absl::InvalidArgumentError("--engine is required (see --help)");
  const bool chat = absl::GetFlag(FLAGS_chat);
  const bool interactive = absl::GetFlag(FLAGS_interactive);
  if (interactive) KILN_RETURN_IF_ERROR(CheckInteractiveFlags());
  if (!absl::GetFlag(FLAGS_system).empty() && !chat && !interactive) {
    return absl::InvalidArgumentError("--system needs --chat or --interactive");
  }
  std::vector<std::string> prompts;
  const std::string prompts_file = absl::GetFlag(FLAGS_prompts_file);
  if (!prompts_file.empty()) {
    if (!absl::GetFlag(FLAGS_prompt).empty()) {
      return absl::InvalidArgumentError("give --prompt or --prompts-file, not both");
    }
    KILN_ASSIGN_OR_RETURN(prompts, ReadPromptsFile(prompts_file));
  } else if (!interactive) {
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
      std::vector<ChatMessage> messages = SystemMessages();
      messages.push_back({"user", prompt});
      absl::StatusOr<std::string> text =
          RenderChat(engine, tok, messages, /*add_generation_prompt=*/true);
      if (!text.ok()) return Prefixed("--chat: ", text.status());
      prompt = *std::move(text);
    }
    add_special_tokens = false;
  }
  if (interactive && engine.chat_template.empty() && !absl::GetFlag(FLAGS_system).empty()) {
    return absl::InvalidArgumentError(
        "--system: this engine has no chat template (the model ships none), so --interactive "
        "continues plain text; drop --system");
  }
  KILN_RETURN_IF_ERROR(SpeculationFromFlags(target->engine().manifest.target,
                                            absl::GetFlag(FLAGS_executor),
                                            absl::GetFlag(FLAGS_device), config, draft));
  if (interactive) {
    InteractiveChat session(engine, tok, *generator, config, add_special_tokens);
    return session.Run(std::cin);
  }
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
  KILN_ASSIGN_OR_RETURN(GenerationResult r,
                        generator->Generate(prompts[0], config, add_special_tokens,
                                            json ? TextCallback() : StreamToStdout));
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
      "[--prompts-file FILE] [--json]\n"
      "  generate --engine DIR --interactive [--system TEXT] [sampling flags]");
  return kiln::ReportToolStatus("generate", kiln::Run());
}
