// The tokenizer harnesses of tests/fuzz/harness.h.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "models/gguf.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_json.h"
#include "runtime/tokenizer/utf8.h"
#include "tests/fuzz/harness.h"

namespace kiln::fuzz {
namespace {

using tokenizer::Tokenizer;

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: property violated: %s\n", what.c_str());
  std::abort();
}

// The fixture tokenizers, loaded once; GPT-2 first (its round trip is
// checked). A fixture that does not load stops the fuzzer: it would
// otherwise fuzz nothing.
const std::vector<std::unique_ptr<Tokenizer>>& FixtureTokenizers() {
  static const auto* tokenizers = [] {
    auto* out = new std::vector<std::unique_ptr<Tokenizer>>;
    for (const char* name : {"gpt2", "llama2", "llama3", "gemma", "mistral", "qwen2", "smollm2"}) {
      const std::string path = std::string("tests/fixtures/tokenizers/") + name + "/tokenizer.json";
      absl::StatusOr<std::unique_ptr<Tokenizer>> t = tokenizer::LoadTokenizerJson(path);
      if (!t.ok()) Violation("cannot load " + path + ": " + std::string(t.status().message()));
      out->push_back(std::move(t).value());
    }
    return out;
  }();
  return *tokenizers;
}

// Encodes `text`, checks the ids and decodes them, in every buffer size
// that matters. Returns the decoded text.
absl::StatusOr<std::string> EncodeDecode(const Tokenizer& tok, std::string_view text,
                                         bool add_special, bool skip_special) {
  absl::StatusOr<std::vector<int32_t>> ids = tok.Encode(text, add_special);
  if (!ids.ok()) return ids.status();
  for (int32_t id : *ids) {
    if (id < 0 || id >= tok.vocab_size() || !tok.IdToToken(id).has_value()) {
      Violation("Encode gave id " + std::to_string(id) + " outside the vocabulary");
    }
  }
  absl::StatusOr<std::string> decoded = tok.Decode(*ids, skip_special);
  if (!decoded.ok()) {
    Violation("Decode of encoded ids failed: " + std::string(decoded.status().message()));
  }
  // DecodeInto: an exact-size heap buffer (ASan sees any write past it),
  // and one byte short, which must fail and leave the buffer alone.
  const size_t n = decoded->size();
  std::vector<char> exact(n);
  absl::StatusOr<size_t> written = tok.DecodeInto(*ids, skip_special, exact.data(), n);
  if (!written.ok() || *written != n ||
      (n > 0 && std::memcmp(exact.data(), decoded->data(), n) != 0)) {
    Violation("DecodeInto with the exact size differs from Decode");
  }
  if (n > 0) {
    std::vector<char> short_buffer(n - 1, '\x5a');
    absl::StatusOr<size_t> refused = tok.DecodeInto(*ids, skip_special, short_buffer.data(), n - 1);
    if (refused.ok() || refused.status().code() != absl::StatusCode::kOutOfRange) {
      Violation("DecodeInto into a too-small buffer did not fail with OutOfRange");
    }
    for (char c : short_buffer) {
      if (c != '\x5a') Violation("DecodeInto wrote into a too-small buffer");
    }
  }
  return decoded;
}

// Encodes and decodes a few fixed strings, with and without special tokens.
absl::Status EncodeDecodeSamples(const Tokenizer& tok) {
  for (std::string_view text : {"", "Hello world", " \t\n ", "caf\xc3\xa9 \xe4\xb8\xad 123",
                                "\xff\xfe invalid", "<s></s><|endoftext|>"}) {
    for (bool special : {false, true}) {
      absl::StatusOr<std::string> decoded = EncodeDecode(tok, text, special, special);
      if (!decoded.ok()) return decoded.status();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FuzzTokenizerJson(std::string_view input) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      tokenizer::ParseTokenizerJson(input, "fuzz tokenizer.json");
  if (!tok.ok()) return tok.status();
  return EncodeDecodeSamples(**tok);
}

absl::Status FuzzGgufTokenizer(std::string_view input) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::OpenBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()), input.size()),
      "fuzz.gguf");
  if (!file.ok()) return file.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = tokenizer::LoadGgufTokenizer(**file);
  if (!tok.ok()) return tok.status();
  return EncodeDecodeSamples(**tok);
}

absl::Status FuzzTokenizerEncode(std::string_view input) {
  if (input.empty()) return absl::OkStatus();
  const auto& tokenizers = FixtureTokenizers();
  const uint8_t selector = static_cast<uint8_t>(input[0]);
  const Tokenizer& tok = *tokenizers[(selector & 0x0F) % tokenizers.size()];
  const bool add_special = selector & 0x10, skip_special = selector & 0x20;
  const std::string_view text = input.substr(1);

  // Arbitrary ids, including negative and huge ones: a value or an
  // InvalidArgument error.
  std::vector<int32_t> raw_ids(std::min<size_t>(text.size() / 4, 64));
  if (!raw_ids.empty()) std::memcpy(raw_ids.data(), text.data(), raw_ids.size() * 4);
  absl::StatusOr<std::string> raw = tok.Decode(raw_ids, skip_special);
  if (!raw.ok() && raw.status().code() != absl::StatusCode::kInvalidArgument) {
    Violation("Decode of arbitrary ids failed with " + raw.status().ToString());
  }

  absl::StatusOr<std::string> decoded = EncodeDecode(tok, text, add_special, skip_special);
  if (!decoded.ok()) return decoded.status();
  // GPT-2's byte-level BPE has no normalizer and decodes every byte back.
  if (&tok == tokenizers[0].get() && !skip_special && tokenizer::IsValidUtf8(text) &&
      *decoded != text) {
    Violation("GPT-2 round trip changed the text");
  }
  return absl::OkStatus();
}

}  // namespace kiln::fuzz
