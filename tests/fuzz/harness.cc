#include "tests/fuzz/harness.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ir/text.h"
#include "ir/verifier.h"
#include "models/checkpoint.h"
#include "models/config_reader.h"
#include "models/gguf.h"
#include "models/gguf_model.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "codegen/plan/launch_plan_json.h"
#include "runtime/engine/engine.h"

namespace kiln::fuzz {
namespace {

// A parser accepted input but broke a promise about it: stop loudly.
[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: property violated: %s\n", what.c_str());
  std::abort();
}

// A private directory for the files the file-based readers open, created
// on first use and removed at normal exit ($TEST_TMPDIR, $TMPDIR or /tmp).
std::string* g_scratch_dir = nullptr;

void RemoveScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(*g_scratch_dir, ec);
}

const std::string& ScratchDir() {
  if (g_scratch_dir == nullptr) {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    if (base == nullptr || *base == '\0') base = "/tmp";
    std::string path = std::string(base) + "/kiln-fuzz-XXXXXX";
    if (mkdtemp(path.data()) == nullptr) Violation("cannot create a scratch directory in " + path);
    g_scratch_dir = new std::string(path);
    std::atexit(RemoveScratchDir);
  }
  return *g_scratch_dir;
}

// Replaces the file at `path` with exactly `bytes`.
void WriteFile(const std::string& path, std::string_view bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Violation("cannot write " + path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) Violation("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  close(fd);
}

// `n` as the 8-byte little-endian safetensors length field.
std::string Le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

// The promises of SafetensorsFile::Open for a file holding `input`: every
// byte span matches its shape, and the spans tile the data region (the
// bytes after the header) exactly, holding the file's own bytes.
void CheckOpenedSafetensors(const SafetensorsFile& file, std::string_view input) {
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(input[i]);
  const std::string_view data = input.substr(8 + header_len);
  std::vector<const TensorEntry*> nonempty;
  for (const TensorEntry& t : file.tensors()) {
    if (file.Find(t.name) != &t) Violation("Find does not return tensor " + t.name);
    const std::optional<int64_t> bytes = StorageBytes(t.dtype, t.NumElements());
    if (!bytes || static_cast<uint64_t>(*bytes) != t.bytes.size()) {
      Violation("byte length of " + t.name + " does not match its shape");
    }
    if (!t.bytes.empty()) nonempty.push_back(&t);
  }
  std::sort(nonempty.begin(), nonempty.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->bytes.data() < b->bytes.data();
  });
  size_t offset = 0;
  for (const TensorEntry* t : nonempty) {
    if (nonempty.front()->bytes.data() + offset != t->bytes.data()) {
      Violation("tensor " + t->name + " does not follow the previous one");
    }
    if (offset + t->bytes.size() > data.size() ||
        std::memcmp(t->bytes.data(), data.data() + offset, t->bytes.size()) != 0) {
      Violation("bytes of " + t->name + " are not the file's");
    }
    offset += t->bytes.size();
  }
  if (offset != data.size()) Violation("tensors do not cover the data region");
}

// Accepted IR must print and parse back to the same text (ir/text.h).
void CheckRoundTrip(const Module& module) {
  const std::string text = PrintModule(module);
  const absl::StatusOr<Module> again = ParseModule(text);
  if (!again.ok()) {
    Violation("printed IR does not parse back: " + std::string(again.status().message()) +
              "\n" + text);
  }
  if (PrintModule(*again) != text) Violation("printed IR reprints differently:\n" + text);
}

// A safetensors file with one F32 scalar per name.
std::string ScalarsFile(const std::vector<std::string>& names) {
  std::string header = "{";
  std::string data;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) header += ",";
    header += "\"" + names[i] + "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[" +
              std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
    data.append(4, static_cast<char>(i));
  }
  header += "}";
  return Le64(header.size()) + header + data;
}

// The checkpoint directory of FuzzCheckpointIndex, with its shards.
const std::string& CheckpointDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(ScratchDir() + "/checkpoint");
    std::filesystem::create_directories(*path);
    WriteFile(*path + "/model-00001-of-00002.safetensors", ScalarsFile({"a", "b"}));
    WriteFile(*path + "/model-00002-of-00002.safetensors", ScalarsFile({"c"}));
    return path;
  }();
  return *dir;
}

// The engine directory of FuzzEngineManifest: the files of
// tests/fuzz/engine_files/ (read relative to the working directory).
const std::string& EngineDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(ScratchDir() + "/engine");
    std::filesystem::create_directories(*path);
    for (const char* name : {"config.json", "model.ir", "weights.safetensors"}) {
      const std::string from = std::string("tests/fuzz/engine_files/") + name;
      std::error_code ec;
      std::filesystem::copy_file(from, *path + "/" + name, ec);
      if (ec) Violation("cannot copy " + from + ": " + ec.message());
    }
    return path;
  }();
  return *dir;
}

// Every byte of `span` lies inside `input`.
bool Inside(std::span<const uint8_t> span, std::string_view input) {
  const auto* begin = reinterpret_cast<const uint8_t*>(input.data());
  return span.empty() ||
         (span.data() >= begin && span.data() + span.size() <= begin + input.size());
}

// The promises of GgufFile::OpenBytes for `input`: every getter answers
// every key with a value or an error; values, strings and tensor bytes lie
// in the input (ASan checks each byte read, since libFuzzer's input is an
// exact-size heap copy); tensors are aligned, sized by their type and do
// not overlap.
void CheckOpenedGguf(const GgufFile& file, std::string_view input) {
  for (const auto& [key, value] : file.metadata()) {
    if (!Inside(value.bytes, input)) Violation("value of " + key + " is outside the file");
    if (file.Find(key) != &value) Violation("Find does not return key " + key);
    if (absl::StatusOr<std::string_view> s = file.GetString(key); s.ok()) {
      const auto* p = reinterpret_cast<const uint8_t*>(s->data());
      if (!Inside({p, s->size()}, input)) Violation("string " + key + " is outside the file");
    }
    file.GetUint(key).IgnoreError();
    file.GetInt(key).IgnoreError();
    file.GetFloat(key).IgnoreError();
    file.GetBool(key).IgnoreError();
    file.GetArraySize(key).IgnoreError();
    file.GetFloatArray(key).IgnoreError();
    file.GetIntArray(key).IgnoreError();
    if (absl::StatusOr<std::vector<std::string_view>> strings = file.GetStringArray(key);
        strings.ok()) {
      for (std::string_view s : *strings) {
        const auto* p = reinterpret_cast<const uint8_t*>(s.data());
        if (!Inside({p, s.size()}, input)) Violation("a string of " + key + " is outside");
      }
    }
  }
  std::vector<const GgufTensor*> by_address;
  for (const GgufTensor& t : file.tensors()) {
    if (file.FindTensor(t.name) != &t) Violation("FindTensor does not return " + t.name);
    if (t.data.size() != t.n_bytes || !Inside(t.data, input)) {
      Violation("bytes of tensor " + t.name + " are not inside the file");
    }
    if (t.offset % file.alignment() != 0) Violation("tensor " + t.name + " is not aligned");
    uint8_t sum = 0;
    for (uint8_t b : t.data) sum ^= b;  // Reads every byte.
    (void)sum;
    if (!t.data.empty()) by_address.push_back(&t);
  }
  std::sort(by_address.begin(), by_address.end(), [](const GgufTensor* a, const GgufTensor* b) {
    return a->data.data() < b->data.data();
  });
  for (size_t i = 1; i < by_address.size(); ++i) {
    const GgufTensor& prev = *by_address[i - 1];
    if (prev.data.data() + prev.data.size() > by_address[i]->data.data()) {
      Violation("tensors " + prev.name + " and " + by_address[i]->name + " overlap");
    }
  }
}

constexpr FuzzTarget kTargets[] = {
    {"safetensors", FuzzSafetensors},
    {"checkpoint_index", FuzzCheckpointIndex},
    {"config", FuzzConfig},
    {"ir_text", FuzzIrText},
    {"gguf", FuzzGguf},
    {"tokenizer_json", FuzzTokenizerJson},
    {"gguf_tokenizer", FuzzGgufTokenizer},
    {"gguf_model", FuzzGgufModel},
    {"chat_template", FuzzChatTemplate},
    {"tokenizer_encode", FuzzTokenizerEncode},
    {"engine_manifest", FuzzEngineManifest},
    {"gemm_choices", FuzzGemmChoices},
    {"launch_plans", FuzzLaunchPlans},
    {"kernel_index", FuzzKernelIndex},
    {"serve_request", FuzzServeRequest},
};

}  // namespace

absl::Status FuzzSafetensors(std::string_view input) {
  const std::string path = ScratchDir() + "/fuzz.safetensors";
  WriteFile(path, input);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  CheckOpenedSafetensors(**file, input);
  return absl::OkStatus();
}

absl::Status FuzzCheckpointIndex(std::string_view input) {
  const std::string& dir = CheckpointDir();
  WriteFile(dir + "/" + Checkpoint::kIndexFileName, input);
  absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(dir);
  if (!checkpoint.ok()) return checkpoint.status();
  for (const std::string& name : checkpoint->Names()) {
    const TensorEntry* entry = checkpoint->Find(name);
    if (entry == nullptr || entry->name != name) Violation("Find does not return tensor " + name);
  }
  return absl::OkStatus();
}

absl::Status FuzzConfig(std::string_view input) {
  absl::StatusOr<ConfigReader> config = ConfigReader::Parse(std::string(input));
  if (!config.ok()) return config.status();
  absl::StatusOr<BuiltModel> model = BuildModel(*config, BuildOptions{});
  if (!model.ok()) return model.status();
  const absl::Status verified = VerifyModule(model->module);
  if (!verified.ok()) {
    Violation("a built model does not verify: " + std::string(verified.message()));
  }
  CheckRoundTrip(model->module);
  return absl::OkStatus();
}

absl::Status FuzzIrText(std::string_view input) {
  absl::StatusOr<Module> module = ParseModule(input);
  if (!module.ok()) return module.status();
  CheckRoundTrip(*module);
  return absl::OkStatus();
}

absl::Status FuzzGguf(std::string_view input) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::OpenBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()), input.size()),
      "fuzz.gguf");
  if (!file.ok()) return file.status();
  CheckOpenedGguf(**file, input);
  return absl::OkStatus();
}

absl::Status FuzzGgufModel(std::string_view input) {
  const std::string path = ScratchDir() + "/fuzz_model.gguf";
  WriteFile(path, input);
  absl::StatusOr<GgufCheckpoint> ckpt = GgufCheckpoint::Open(path);
  if (!ckpt.ok()) return ckpt.status();
  for (const std::string& name : ckpt->Names()) {
    absl::StatusOr<std::vector<float>> values = ckpt->Read(name);
    if (!values.ok()) return values.status();
    if (static_cast<int64_t>(values->size()) != ckpt->Find(name)->n_elements) {
      Violation("tensor " + name + " read back with the wrong element count");
    }
  }
  // An accepted file's config must either build or fail with a status. Deep
  // models are left to the config target: 4096 layers take ~1 s to build
  // (~20 s under ASan), which libFuzzer would report as a timeout.
  const nlohmann::json& layers = ckpt->config()["num_hidden_layers"];
  if (layers.is_number_integer() && layers.get<int64_t>() > 64) return absl::OkStatus();
  absl::StatusOr<BuiltModel> model =
      BuildModel(ConfigReader(ckpt->config(), "fuzz.gguf"), BuildOptions{DType::kF32, std::nullopt});
  return model.status();
}

absl::Status FuzzEngineManifest(std::string_view input) {
  const std::string& dir = EngineDir();
  WriteFile(dir + "/manifest.json", input);
  absl::StatusOr<Engine> engine = LoadEngine(dir, "cpu");
  if (!engine.ok()) return engine.status();
  if (engine->manifest.target != "cpu" || engine->weights.empty()) {
    Violation("LoadEngine accepted an engine for another target or without weights");
  }
  return absl::OkStatus();
}

namespace {
bool g_verbose = false;
}  // namespace

void SetVerbose(bool verbose) { g_verbose = verbose; }

void Report(const absl::Status& status) {
  if (g_verbose) std::fprintf(stderr, "status: %s\n", status.ToString().c_str());
}

std::span<const FuzzTarget> AllFuzzTargets() { return kTargets; }

absl::Status FuzzGemmChoices(std::string_view input) {
  absl::StatusOr<GemmChoices> parsed = ParseGemmChoices(std::string(input));
  if (!parsed.ok()) return parsed.status();
  const std::string printed = GemmChoicesJson(*parsed);
  absl::StatusOr<GemmChoices> again = ParseGemmChoices(printed);
  if (!again.ok() || GemmChoicesJson(*again) != printed) {
    std::fprintf(stderr, "an accepted GEMM record does not round-trip: %s\n",
                 again.ok() ? "different print" : again.status().ToString().c_str());
    std::abort();
  }
  return absl::OkStatus();
}

namespace {

// The errors a parser promises: any problem is DataLoss, except a file from
// another version of Kiln, which is FailedPrecondition naming the version
// (`version_field`) so that the message can say "recompile".
void CheckRejection(const char* file, const absl::Status& status, const char* version_field) {
  if (status.code() == absl::StatusCode::kDataLoss) return;
  if (status.code() == absl::StatusCode::kFailedPrecondition &&
      status.message().find(version_field) != std::string_view::npos) {
    return;
  }
  Violation(std::string(file) + " rejected with an unpromised status: " + status.ToString());
}

// The kernel files FuzzKernelIndex reads kernels.json against; make_seeds.py
// repeats these bytes to write the seeds' SHA-256s.
const std::map<std::string, std::string>& KernelIndexFiles() {
  static const auto* files = new std::map<std::string, std::string>{
      {"kernel.k.cubin", "cubin bytes of k"},
      {"kernel.k.ptx", "ptx bytes of k"},
      {"kernel.k.cu", "cuda source of k"},
      {"kernel.g.cubin", "cubin bytes of g"},
      {"kernel.g.ptx", "ptx bytes of g"},
  };
  return *files;
}

// Every field of a bundle ReadKernelBundle gave, as text: what a round trip
// through KernelBundleFiles must keep (the index's file names are not
// fields: the writer names each kernel's files after its function).
std::string BundleText(const KernelBundle& bundle) {
  std::string out = "arch " + bundle.arch + "\n";
  for (const auto& [name, function] : bundle.row_functions) {
    out += "row_function " + name + " -> " + function + "\n";
  }
  for (const BundledKernel& k : bundle.kernels) {
    const codegen::KernelReport& r = k.compiled.report;
    out += "kernel " + k.function + " kind " + k.kind + " source " + k.source_sha256 +
           " report " + r.kernel + " " + r.arch + " " + std::to_string(r.registers) + " " +
           std::to_string(r.shared_bytes) + " " + std::to_string(r.stack_bytes) + " " +
           std::to_string(r.spill_stores) + " " + std::to_string(r.spill_loads) + " cubin " +
           std::to_string(k.compiled.cubin.size()) + ":" + k.compiled.cubin + " ptx " +
           std::to_string(k.compiled.ptx.size()) + ":" + k.compiled.ptx + " log " +
           std::to_string(k.compiled.log.size()) + ":" + k.compiled.log + " cu " +
           std::to_string(k.source.size()) + ":" + k.source +
           (k.compiled.from_cache ? " from_cache" : "") + "\n";
  }
  return out;
}

}  // namespace

absl::Status FuzzLaunchPlans(std::string_view input) {
  absl::StatusOr<PlannedEngine> parsed = LaunchPlansFromJson(input);
  if (!parsed.ok()) {
    CheckRejection("launch_plans.json", parsed.status(), "format_version");
    return parsed.status();
  }
  const std::string printed = LaunchPlansToJson(parsed->layout, parsed->plans);
  absl::StatusOr<PlannedEngine> again = LaunchPlansFromJson(printed);
  if (!again.ok()) {
    Violation("accepted launch plans print as text that does not parse back: " +
              again.status().ToString());
  }
  if (LaunchPlansToJson(again->layout, again->plans) != printed) {
    Violation("accepted launch plans print, parse back and print differently");
  }
  return absl::OkStatus();
}

absl::Status FuzzKernelIndex(std::string_view input) {
  std::map<std::string, std::string> files = KernelIndexFiles();
  files["kernels.json"] = std::string(input);
  absl::StatusOr<KernelBundle> bundle = ReadKernelBundle(files);
  if (!bundle.ok()) {
    CheckRejection("kernels.json", bundle.status(), "kernel ABI version");
    return bundle.status();
  }
  // Each kernel's code is the bytes of a file the index named.
  for (const BundledKernel& k : bundle->kernels) {
    bool cubin = false, ptx = false;
    for (const auto& [name, bytes] : KernelIndexFiles()) {
      cubin = cubin || k.compiled.cubin == bytes;
      ptx = ptx || k.compiled.ptx == bytes;
    }
    if (!cubin || !ptx) Violation("kernel " + k.function + "'s code is not a kernel file's");
  }
  const std::map<std::string, std::string> written = KernelBundleFiles(*bundle);
  absl::StatusOr<KernelBundle> again = ReadKernelBundle(written);
  if (!again.ok()) {
    Violation("the files KernelBundleFiles writes for an accepted kernels.json do not read "
              "back: " + again.status().ToString());
  }
  if (BundleText(*again) != BundleText(*bundle)) {
    Violation("an accepted kernels.json reads back differently after KernelBundleFiles:\n" +
              BundleText(*bundle) + "---\n" + BundleText(*again));
  }
  if (KernelBundleFiles(*again) != written) {
    Violation("an accepted kernels.json, written, read and written again, changes its files");
  }
  return absl::OkStatus();
}

}  // namespace kiln::fuzz
