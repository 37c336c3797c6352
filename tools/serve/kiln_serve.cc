// kiln-serve: an OpenAI-compatible HTTP server for a compiled engine, with
// continuous batching over the engine's batch rows (docs/SERVING.md).
//
//   bin/kiln-serve --engine /tmp/smollm2.engine --port 8080
//   curl localhost:8080/v1/completions -d '{"prompt": "Hello", "max_tokens": 16}'
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/generation_config.h"
#include "runtime/serve/continuous_batcher.h"
#include "tools/cli.h"
#include "tools/load_generator.h"
#include "tools/serve/openai_server.h"
#include "tools/speculation_flags.h"

ABSL_FLAG(std::string, engine, "", "engine directory written by compile-model (--max-batch N)");
ABSL_FLAG(std::string, host, "127.0.0.1",
          "address to listen on (0.0.0.0: every interface; mind --api-key then)");
ABSL_FLAG(int, port, 8080, "TCP port (0: any free port, printed at start)");
ABSL_FLAG(int64_t, slots, 0,
          "requests generating at once, each in its own KV-cache row (default: the engine's "
          "--max-batch)");
ABSL_FLAG(int64_t, max_queue, 64,
          "requests waiting for a slot; beyond, requests get 429 with Retry-After");
ABSL_FLAG(int64_t, prefill_chunk, 16,
          "most prompt tokens a request prefills per step, so a long prompt delays the other "
          "requests' next tokens by a bounded step");
ABSL_FLAG(std::string, api_key, "",
          "require 'Authorization: Bearer KEY' on /v1/* (default: $KILN_API_KEY; empty: none)");
ABSL_FLAG(int, threads, 0,
          "HTTP worker threads, one per open connection (default: slots + max-queue + 8)");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20, "largest request body; larger ones get 413");
ABSL_FLAG(std::string, served_model_name, "",
          "the model name clients send and /v1/models lists (default: the engine directory's "
          "name)");
ABSL_FLAG(std::string, executor, "cpu",
          "for a cpu engine: cpu (the CPU backend) or reference (the reference executor, slow)");
ABSL_FLAG(std::string, device, "gpu",
          "for a CUDA engine: gpu, or emulator (the CUDA emulator, slow; for checking)");

namespace kiln {
namespace {

// The engine's generation defaults (generation_config.json as Transformers
// resolves it) with its EOS ids. A request without max_tokens generates
// until EOS or the context is full, as vLLM's server does, unless the
// model's file sets max_new_tokens.
absl::StatusOr<GenerationConfig> ServerDefaults(const Engine& engine) {
  KILN_ASSIGN_OR_RETURN(GenerationConfig c, GenerationDefaults(engine.generation_config));
  if (!engine.generation_config.contains("max_new_tokens")) {
    c.max_new_tokens = static_cast<int>(engine.manifest.max_seq);
  }
  for (int64_t id : engine.manifest.eos_token_ids)
    c.eos_token_ids.push_back(static_cast<int32_t>(id));
  return c;
}

absl::Status Run() {
  const std::string dir = absl::GetFlag(FLAGS_engine);
  if (dir.empty()) return absl::InvalidArgumentError("--engine is required (see --help)");
  // SIGTERM and SIGINT are waited for by one thread (below); every thread
  // started from here on inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<LoadedGenerator> loaded,
      LoadGenerator(dir, absl::GetFlag(FLAGS_executor), absl::GetFlag(FLAGS_device)));
  KILN_ASSIGN_OR_RETURN(GenerationConfig defaults, ServerDefaults(loaded->engine()));
  // --prompt-lookup N (with --max-matching-ngram, --draft-schedule): every
  // request decodes speculatively, with the same tokens or distribution.
  if (DraftEngineFlagGiven()) {
    return absl::UnimplementedError(
        "kiln-serve: an assistant engine (--draft-engine) is not served (each slot would need its "
        "own assistant session): use prompt lookup (--prompt-lookup N)");
  }
  if (LoopPlanFlagGiven()) {
    return absl::UnimplementedError(
        "kiln-serve: --loop-plan runs one sequence at a time, and kiln-serve batches requests in "
        "the engine's rows: drop --loop-plan");
  }
  std::unique_ptr<LoadedGenerator> draft;
  KILN_RETURN_IF_ERROR(SpeculationFromFlags(loaded->engine().manifest.target,
                                            absl::GetFlag(FLAGS_executor),
                                            absl::GetFlag(FLAGS_device), defaults, draft));
  absl::StatusOr<std::unique_ptr<ContinuousBatcher>> batcher = ContinuousBatcher::Create(
      *loaded->generator, {.slots = absl::GetFlag(FLAGS_slots),
                           .max_queue = absl::GetFlag(FLAGS_max_queue),
                           .prefill_chunk = absl::GetFlag(FLAGS_prefill_chunk)});
  if (absl::IsUnimplemented(batcher.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kiln-serve runs requests in the engine's batch rows, and ", dir,
        " has none: compile it with compile-model --max-batch N (N requests at once)"));
  }
  KILN_RETURN_IF_ERROR(batcher.status());
  if (absl::Status s = (*batcher)->CheckSpeculation(defaults); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("kiln-serve: ", s.message()));
  }

  ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.api_key = absl::GetFlag(FLAGS_api_key);
  if (options.api_key.empty() && std::getenv("KILN_API_KEY") != nullptr) {
    options.api_key = std::getenv("KILN_API_KEY");
  }
  options.threads = absl::GetFlag(FLAGS_threads);
  const int64_t max_body = absl::GetFlag(FLAGS_max_body_bytes);
  if (max_body < 1) return absl::InvalidArgumentError("--max-body-bytes must be at least 1");
  options.max_body_bytes = static_cast<size_t>(max_body);
  options.model_name = absl::GetFlag(FLAGS_served_model_name);
  if (options.model_name.empty()) {
    options.model_name = std::filesystem::path(dir).lexically_normal().filename().string();
    if (options.model_name.empty()) {
      options.model_name =
          std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
    }
  }
  OpenAIServer server(loaded->engine(), *loaded->tokenizer, **batcher, std::move(defaults),
                      options);
  KILN_RETURN_IF_ERROR(server.Bind());
  std::fprintf(stderr, "kiln-serve: serving '%s' on http://%s:%d (%lld slots, %d positions)%s\n",
               options.model_name.c_str(), options.host.c_str(), server.port(),
               static_cast<long long>((*batcher)->stats().slots),
               static_cast<int>((*batcher)->max_seq()),
               options.api_key.empty() ? "" : ", API key required");
  std::thread on_signal([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::fprintf(stderr,
                 "kiln-serve: %s: draining (running requests finish, waiting ones get "
                 "503)\n",
                 signal == SIGTERM ? "SIGTERM" : "SIGINT");
    server.Shutdown();
  });
  absl::Status served = server.Serve();
  if (!served.ok()) {  // stopped without a signal: release the signal thread
    server.Shutdown();
    pthread_kill(on_signal.native_handle(), SIGTERM);
  }
  on_signal.join();
  std::fprintf(stderr, "kiln-serve: stopped\n");
  return served;
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(
      argc, argv,
      "An OpenAI-compatible HTTP server for a Kiln engine.\n"
      "  kiln-serve --engine DIR [--host 127.0.0.1] [--port 8080] [--slots N] [--max-queue N] "
      "[--api-key KEY] [--threads N] [--prompt-lookup N [--max-matching-ngram 2] "
      "[--draft-schedule adaptive|heuristic|constant]]");
  return kiln::ReportToolStatus("kiln-serve", kiln::Run());
}
