// generate: text generation from a compiled engine, streaming the text.
//
//   bin/generate --engine /tmp/llama3.engine --prompt "Hello" --max-new-tokens 16
//   bin/generate --engine E --prompt "Hi" --temperature 0.8 --top-p 0.9 --seed 3 --json
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/engine.h"
#include "runtime/generate/generator.h"
#include "runtime/tokenizer/load.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, engine, "", "engine directory written by compile-model");
ABSL_FLAG(std::string, prompt, "", "the prompt (default: read stdin)");
ABSL_FLAG(int, max_new_tokens, 32, "tokens to generate at most");
ABSL_FLAG(double, temperature, 0.0, "sampling temperature; 0 (default) is greedy");
ABSL_FLAG(int, top_k, 0, "keep the k most likely tokens (0: off)");
ABSL_FLAG(double, top_p, 1.0, "nucleus sampling mass in (0, 1]");
ABSL_FLAG(double, min_p, 0.0, "drop tokens below min_p times the top probability");
ABSL_FLAG(double, repetition_penalty, 1.0, "Transformers' repetition penalty (1: off)");
ABSL_FLAG(uint64_t, seed, 0, "sampling seed");
ABSL_FLAG(std::string, stop, "", "comma-separated stop strings");
ABSL_FLAG(bool, add_special_tokens, true, "add the tokenizer's BOS/EOS template to the prompt");
ABSL_FLAG(bool, json, false, "print ids, text and timings as JSON instead of streaming");
ABSL_FLAG(bool, chat, false, "apply the model's chat template (not supported yet)");

namespace kiln {
namespace {

absl::StatusOr<GenerationConfig> ConfigFromFlags(const EngineManifest& manifest) {
  GenerationConfig c;
  c.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  double temperature = absl::GetFlag(FLAGS_temperature);
  c.do_sample = temperature != 0.0;
  c.temperature = c.do_sample ? temperature : 1.0;
  if (temperature < 0 || temperature != temperature) {
    return absl::InvalidArgumentError("--temperature must be >= 0 (0: greedy)");
  }
  c.top_k = absl::GetFlag(FLAGS_top_k);
  c.top_p = absl::GetFlag(FLAGS_top_p);
  c.min_p = absl::GetFlag(FLAGS_min_p);
  c.repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  c.seed = absl::GetFlag(FLAGS_seed);
  for (int64_t id : manifest.eos_token_ids) c.eos_token_ids.push_back(static_cast<int32_t>(id));
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_stop), ',', absl::SkipEmpty())) {
    c.stop_strings.emplace_back(s);
  }
  return c;
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty()) return absl::InvalidArgumentError("--engine is required (see --help)");
  if (absl::GetFlag(FLAGS_chat)) {
    return absl::UnimplementedError(
        "--chat: chat templates are not supported yet; pass the "
        "formatted prompt with --prompt");
  }
  std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (prompt.empty()) prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  KILN_ASSIGN_OR_RETURN(Engine engine, LoadEngine(dir, "cpu"));
  if (engine.manifest.tokenizer.empty()) {
    return absl::FailedPreconditionError(
        "the engine has no tokenizer: compile it from a directory with tokenizer.json or pass "
        "compile-model --tokenizer");
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                        tokenizer::LoadTokenizer(dir + "/" + engine.manifest.tokenizer));
  KILN_ASSIGN_OR_RETURN(GenerationConfig config, ConfigFromFlags(engine.manifest));
  std::vector<SessionBucket> buckets;
  for (const EngineBucket& b : engine.manifest.buckets) {
    if (b.batch == 1) buckets.push_back({b.function, b.seq});
  }
  int64_t max_seq = engine.manifest.max_seq;
  KILN_ASSIGN_OR_RETURN(
      ReferenceExecutor executor,
      ReferenceExecutor::Create(std::move(engine.module), std::move(engine.weights)));
  KILN_ASSIGN_OR_RETURN(Generator generator,
                        Generator::Create(executor, *tok, max_seq, std::move(buckets)));
  bool json = absl::GetFlag(FLAGS_json);
  TextCallback stream = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  KILN_ASSIGN_OR_RETURN(GenerationResult r,
                        generator.Generate(prompt, config, absl::GetFlag(FLAGS_add_special_tokens),
                                           json ? TextCallback() : stream));
  if (json) {
    nlohmann::json out = {{"prompt_ids", r.prompt_ids},
                          {"ids", r.token_ids},
                          {"text", r.text},
                          {"finish_reason", r.finish_reason},
                          {"prefill_s", r.prefill_seconds},
                          {"decode_s", r.decode_seconds}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated (%s); prefill %.3f s, decode %.3f s]\n",
                 r.prompt_ids.size(), r.token_ids.size(), r.finish_reason.c_str(),
                 r.prefill_seconds, r.decode_seconds);
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
      "--top-k K --top-p P --min-p M --seed S] [--stop a,b] [--json]");
  return kiln::ReportToolStatus("generate", kiln::Run());
}
