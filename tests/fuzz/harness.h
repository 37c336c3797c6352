// Fuzz harnesses: each feeds arbitrary bytes to one parser through its public
// entry point and returns the parser's status (OK when the input was
// accepted). The libFuzzer targets (tests/fuzz/*_fuzzer.cc) and the replay
// test (tests/fuzz/replay_test.cc) both call these, so a crash found by
// fuzzing reproduces under the ordinary gcc build.
//
// Contract: a harness returns for every input. It aborts only when a parser
// breaks a promise its header makes about accepted input (e.g. printed IR
// must parse back to the same text, or an opened safetensors file's tensors
// must tile its data region); libFuzzer reports the abort as a crash.
#ifndef KILN_TESTS_FUZZ_HARNESS_H_
#define KILN_TESTS_FUZZ_HARNESS_H_

#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace kiln::fuzz {

// The bytes as a .safetensors file: SafetensorsFile::Open on a temp file.
absl::Status FuzzSafetensors(std::string_view input);

// The bytes as model.safetensors.index.json: Checkpoint::Open on a temp
// directory that also holds two small valid shards,
// model-00001-of-00002.safetensors (tensors "a", "b") and
// model-00002-of-00002.safetensors (tensor "c").
absl::Status FuzzCheckpointIndex(std::string_view input);

// The bytes as config.json: ConfigReader::Parse, then BuildModel in f32;
// a built model must verify and its printed IR must round-trip.
absl::Status FuzzConfig(std::string_view input);

// The bytes as IR text: ParseModule; accepted text must print, parse back
// and print to the same text.
absl::Status FuzzIrText(std::string_view input);

// The bytes as a GGUF file: GgufFile::OpenBytes, then every metadata
// getter on every key and every tensor's bytes.
absl::Status FuzzGguf(std::string_view input);

// The bytes as tokenizer.json: ParseTokenizerJson; a loaded tokenizer must
// encode and decode a few fixed strings.
absl::Status FuzzTokenizerJson(std::string_view input);

// The bytes as a GGUF vocabulary: GgufFile::OpenBytes, LoadGgufTokenizer;
// a loaded tokenizer must encode and decode the same fixed strings.
absl::Status FuzzGgufTokenizer(std::string_view input);

// The bytes as a GGUF model file: GgufCheckpoint::Open on a temp file,
// every tensor read (dequantised, q/k un-interleaved), then the derived
// config built into IR.
absl::Status FuzzGgufModel(std::string_view input);

// The bytes as a Jinja chat template: ChatTemplate::Parse, then Render of a
// fixed four-message conversation with and without the generation prompt;
// output over the documented 16 MiB bound is a violation.
absl::Status FuzzChatTemplate(std::string_view input);

// Encode and decode of arbitrary bytes with the fixture tokenizers
// (tests/fixtures/tokenizers/, read relative to the working directory).
// Byte 0 picks the tokenizer and flags, the rest is the text; it is also
// decoded as raw int32 ids. Encoded ids must be in the vocabulary, decode
// into a too-small buffer must fail without writing past it, and byte-level
// GPT-2 must give back valid UTF-8 text unchanged.
absl::Status FuzzTokenizerEncode(std::string_view input);

// The bytes as an engine's manifest.json: LoadEngine(dir, "cpu") on a
// directory holding tests/fuzz/engine_files/ (config.json, model.ir,
// weights.safetensors), so a manifest with their sizes and SHA-256s loads.
absl::Status FuzzEngineManifest(std::string_view input);

// The bytes as an engine's kernel.gemm_algos.json: ParseGemmChoices; an
// accepted record must print and parse back to the same print.
absl::Status FuzzGemmChoices(std::string_view input);

// The bytes as a CUDA engine's kernel.launch_plans.json: LaunchPlansFromJson.
// Every rejection must be DataLoss, or FailedPrecondition naming the
// format_version; accepted plans must print (LaunchPlansToJson), parse back
// and print to the same text.
absl::Status FuzzLaunchPlans(std::string_view input);

// The bytes as a CUDA engine's kernels.json: ReadKernelBundle on a fixed map
// of kernel files, kernel.k.cubin/.ptx and kernel.g.cubin/.ptx (their bytes
// are in harness.cc and repeated in make_seeds.py for the seeds' digests),
// with the bytes added as "kernels.json". Every rejection must be DataLoss, or FailedPrecondition for another kernel
// ABI version. An accepted bundle's code must be bytes of those files, and
// the files KernelBundleFiles writes for it must read back to a bundle equal
// field for field (the writer renames each kernel's files
// kernel.<function>.cubin/.ptx, so the index's file names, its formatting
// and unknown members are not compared; numbers compare as read, e.g.
// registers after the reader's conversion to int) that writes the same files.
absl::Status FuzzKernelIndex(std::string_view input);

// A kiln-serve request: byte 0 picks the endpoint (even: /v1/completions,
// odd: /v1/chat/completions), the rest is the body. ParseOpenAIRequest, then
// ToGenerationConfig over fixed defaults with a 256-token vocabulary. Every
// rejection must be InvalidArgument with a short UTF-8 message; an accepted
// request must keep OpenAIRequest's contract, and its config must pass
// ValidateGenerationConfig and hold the request's fields over the defaults.
absl::Status FuzzServeRequest(std::string_view input);

// What the *_fuzzer entry points do with a harness's status: nothing under
// libFuzzer; with SetVerbose(true), which replay_main calls, print it, so a
// reproduced input shows its outcome.
void Report(const absl::Status& status);
void SetVerbose(bool verbose);

// Every harness by target name; the name is also the corpus folder
// (tests/fuzz/corpus/<name>/, tests/fuzz/regressions/<name>/).
struct FuzzTarget {
  const char* name;
  absl::Status (*run)(std::string_view input);
};
std::span<const FuzzTarget> AllFuzzTargets();

}  // namespace kiln::fuzz

#endif  // KILN_TESTS_FUZZ_HARNESS_H_
