// kiln-quant-quality: quantization quality the way llama.cpp's perplexity
// tool reports it with --kl-divergence. Every engine (and the base, a float
// engine of the same model: compile-model --dequantize) reads the same
// tokens of a text in windows of --context tokens, each window from an
// empty cache; the positions scored are those of each window's second half
// (logits at positions C/2 .. C-2, each predicting the token after it, as
// llama.cpp scores its chunks), so every scored token has at least C/2
// tokens of context. Per engine: mean KLD(base || engine) with its standard
// error, the 99th percentile of KLD, same-top-1 % and the perplexities of
// the engine and the base (tools/bench/kld.h for the maths), as a markdown
// table on stdout and, with --json, a JSON file.
//
//   kiln-quant-quality --base /tmp/smollm2_f32.engine
//       --engines /tmp/smollm2_q8_0.engine,/tmp/smollm2_q4_0.engine
//       --text tools/bench/prompts/jargon.jsonl [--tokens 2048] [--context 512]
//
// --text is a plain text file, or a .jsonl of {"text": ...} objects (the
// prompt sets of tools/bench/prompts), whose texts are joined by blank
// lines. The text is tokenized once with the base engine's tokenizer (with
// its special tokens, as generate does); windows are consecutive slices.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_engine.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"
#include "tools/bench/kld.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, base, "", "the float engine the others are compared with (cpu target)");
ABSL_FLAG(std::string, engines, "", "comma-separated engine directories to compare (cpu target)");
ABSL_FLAG(std::string, text, "", "text file, or .jsonl of {\"text\": ...} lines");
ABSL_FLAG(int64_t, tokens, 2048, "positions to score at least (whole windows: rounded up)");
ABSL_FLAG(int64_t, context, 512, "window length in tokens (each engine's --max-seq must hold it)");
ABSL_FLAG(std::string, json, "", "also write the results here as JSON");

namespace kiln::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A text file of the prompt sets is tens of kilobytes; 64 MiB means a wrong file.
constexpr size_t kMaxTextBytes = size_t{64} << 20;

absl::StatusOr<std::string> ReadText(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string raw, ReadFileToString(path, kMaxTextBytes));
  if (path.size() < 6 || path.substr(path.size() - 6) != ".jsonl") return raw;
  std::string joined;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(raw, '\n', absl::SkipWhitespace())) {
    ++line_no;
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": line ", line_no, " is not a JSON object with a \"text\" string"));
    }
    if (!joined.empty()) joined += "\n\n";
    joined += j["text"].get<std::string>();
  }
  return joined;
}

// One loaded engine and its session over a window.
struct Loaded {
  std::string dir;
  std::string label;  // the directory's name without ".engine"
  double engine_mib = 0;
  std::unique_ptr<cpu::CpuEngine> engine;
  std::unique_ptr<PlanSession> session;
  QualityAccumulator quality;
  double seconds = 0;  // in Forward
};

double DirectoryMiB(const std::string& dir) {
  std::error_code ec;
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) bytes += entry.file_size(ec);
  }
  return static_cast<double>(bytes) / (1 << 20);
}

absl::StatusOr<Loaded> Load(const std::string& dir, int64_t context) {
  Loaded l;
  l.dir = dir;
  std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(dir).parent_path().filename().string();
  if (name.size() > 7 && name.substr(name.size() - 7) == ".engine") name.resize(name.size() - 7);
  l.label = name;
  l.engine_mib = DirectoryMiB(dir);
  KILN_ASSIGN_OR_RETURN(cpu::CpuEngine engine, cpu::LoadCpuEngine(dir));
  l.engine = std::make_unique<cpu::CpuEngine>(std::move(engine));
  if (l.engine->engine.manifest.max_seq < context) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": the engine holds ", l.engine->engine.manifest.max_seq, " tokens, --context is ",
        context, " (compile it with --max-seq ", context, ")"));
  }
  KILN_ASSIGN_OR_RETURN(PlanSession session,
                        PlanSession::Create(*l.engine->executor, l.engine->engine.module, context,
                                            l.engine->batch1_buckets));
  l.session = std::make_unique<PlanSession>(std::move(session));
  return l;
}

// Runs `window` from an empty cache: [window.size(), vocab] logits.
absl::StatusOr<HostTensor> RunWindow(Loaded& l, std::span<const int32_t> window) {
  const Clock::time_point start = Clock::now();
  KILN_RETURN_IF_ERROR(l.session->Rewind(0));
  KILN_ASSIGN_OR_RETURN(HostTensor logits, l.session->Forward(window));
  l.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  if (logits.shape.size() != 2 || logits.shape[0] != static_cast<int64_t>(window.size())) {
    return absl::InternalError(absl::StrCat(l.dir, ": logits of an unexpected shape"));
  }
  return logits;
}

std::string MarkdownTable(const Loaded& base, const std::vector<Loaded>& engines) {
  std::string out =
      "| engine | MiB | mean KLD | 99% KLD | max KLD | same top-1 % | PPL | PPL(base) |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const Loaded& e : engines) {
    const QualitySummary s = e.quality.Summary();
    absl::StrAppendFormat(&out, "| %s | %.1f | %.5f ± %.5f | %.4f | %.3f | %.2f ± %.2f | %.3f | %.3f |\n",
                          e.label, e.engine_mib, s.mean_kld, s.mean_kld_stderr, s.p99_kld,
                          s.max_kld, s.same_top1_pct, s.same_top1_pct_stderr, s.ppl, s.base_ppl);
  }
  absl::StrAppendFormat(&out, "\nbase: %s (%.1f MiB)\n", base.label, base.engine_mib);
  return out;
}

nlohmann::json ToJson(const Loaded& base, const std::vector<Loaded>& engines, int64_t context,
                      int64_t windows, int64_t text_tokens) {
  nlohmann::json j = {{"base", base.dir},
                      {"context", context},
                      {"windows", windows},
                      {"text_tokens", text_tokens},
                      {"scored", "positions C/2..C-2 of each window, each predicting the next token"},
                      {"engines", nlohmann::json::array()}};
  for (const Loaded& e : engines) {
    const QualitySummary s = e.quality.Summary();
    j["engines"].push_back({{"engine", e.dir},
                            {"label", e.label},
                            {"engine_mib", e.engine_mib},
                            {"positions", s.positions},
                            {"mean_kld", s.mean_kld},
                            {"mean_kld_stderr", s.mean_kld_stderr},
                            {"p99_kld", s.p99_kld},
                            {"max_kld", s.max_kld},
                            {"same_top1_pct", s.same_top1_pct},
                            {"same_top1_pct_stderr", s.same_top1_pct_stderr},
                            {"ppl", s.ppl},
                            {"base_ppl", s.base_ppl},
                            {"forward_seconds", e.seconds}});
  }
  return j;
}

absl::Status Run() {
  const std::string base_dir = absl::GetFlag(FLAGS_base);
  const std::vector<std::string> dirs =
      absl::StrSplit(absl::GetFlag(FLAGS_engines), ',', absl::SkipEmpty());
  const int64_t context = absl::GetFlag(FLAGS_context);
  const int64_t want = absl::GetFlag(FLAGS_tokens);
  if (base_dir.empty() || dirs.empty() || absl::GetFlag(FLAGS_text).empty()) {
    return absl::InvalidArgumentError("give --base ENGINE, --engines A,B,... and --text FILE");
  }
  if (context < 4) return absl::InvalidArgumentError("--context must be at least 4");
  if (want < 1) return absl::InvalidArgumentError("--tokens must be at least 1");
  KILN_RETURN_IF_ERROR(cpu::CheckCpuEnvironment());

  KILN_ASSIGN_OR_RETURN(Loaded base, Load(base_dir, context));
  const EngineManifest& manifest = base.engine->engine.manifest;
  if (manifest.tokenizer.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(base_dir, " has no tokenizer"));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                        tokenizer::LoadTokenizer(base_dir + "/" + manifest.tokenizer));
  KILN_ASSIGN_OR_RETURN(std::string text, ReadText(absl::GetFlag(FLAGS_text)));
  KILN_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(text, true));

  // Scored positions per window: C/2 .. C-2 (the last has no next token).
  const int64_t per_window = context - context / 2 - 1;
  const int64_t windows = (want + per_window - 1) / per_window;
  if (static_cast<int64_t>(ids.size()) < windows * context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the text has ", ids.size(), " tokens; ", want, " scored positions in windows of ",
        context, " need ", windows * context, " (lower --tokens or give more text)"));
  }
  std::vector<Loaded> engines;
  for (const std::string& dir : dirs) {
    KILN_ASSIGN_OR_RETURN(Loaded l, Load(dir, context));
    engines.push_back(std::move(l));
  }
  std::fprintf(stderr, "%zu tokens of text; %lld windows of %lld, %lld positions scored each\n",
               ids.size(), static_cast<long long>(windows), static_cast<long long>(context),
               static_cast<long long>(per_window));

  for (int64_t w = 0; w < windows; ++w) {
    const std::span<const int32_t> window(ids.data() + w * context, static_cast<size_t>(context));
    KILN_ASSIGN_OR_RETURN(HostTensor want_logits, RunWindow(base, window));
    const int64_t vocab = want_logits.shape[1];
    for (Loaded& e : engines) {
      KILN_ASSIGN_OR_RETURN(HostTensor got, RunWindow(e, window));
      if (got.shape[1] != vocab) {
        return absl::InvalidArgumentError(absl::StrCat(e.dir, " has a vocabulary of ", got.shape[1],
                                                       ", the base ", vocab));
      }
      for (int64_t i = context / 2; i + 1 < context; ++i) {
        const std::span<const float> p(want_logits.floats.data() + i * vocab,
                                       static_cast<size_t>(vocab));
        const std::span<const float> q(got.floats.data() + i * vocab, static_cast<size_t>(vocab));
        absl::StatusOr<PositionScore> s = ScorePosition(p, q, window[static_cast<size_t>(i + 1)]);
        if (!s.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(e.dir, ": window ", w, ", position ", i, ": ", s.status().message()));
        }
        e.quality.Add(*s);
      }
    }
    std::fprintf(stderr, "window %lld/%lld done\n", static_cast<long long>(w + 1),
                 static_cast<long long>(windows));
  }
  for (const Loaded& e : engines) {
    std::fprintf(stderr, "%s: %.1f s in Forward (%.0f tokens/s)\n", e.label.c_str(), e.seconds,
                 static_cast<double>(windows * context) / e.seconds);
  }
  std::fprintf(stderr, "%s (base): %.1f s in Forward\n", base.label.c_str(), base.seconds);
  std::fputs(MarkdownTable(base, engines).c_str(), stdout);
  if (!absl::GetFlag(FLAGS_json).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_json));
    out << ToJson(base, engines, context, windows, static_cast<int64_t>(ids.size())).dump(2)
        << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", absl::GetFlag(FLAGS_json)));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "KLD, same-top-1 % and perplexity of quantized engines against a float one.\n"
                       "  kiln-quant-quality --base ENGINE --engines A,B,... --text FILE "
                       "[--tokens 2048] [--context 512] [--json OUT.json]");
  return kiln::ReportToolStatus("kiln-quant-quality", kiln::bench::Run());
}
