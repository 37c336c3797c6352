// GGUF model import: dequantisation of every supported type against
// hand-computed blocks, llama.cpp's q/k interleave undone, and a tiny Llama
// GGUF holding every type (tools/reference/make_gguf_fixture.py) against
// Transformers' own GGUF loader: the same dequantised weights, the same
// logits and greedy tokens. Malformed or unsupported files fail with their
// own error.
#include "models/gguf_model.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/gguf_dequant.h"
#include "models/gguf_writer.h"
#include "models/registry.h"
#include "base/half.h"
#include "models/gguf_weights.h"
#include "runtime/reference/session.h"
#include "models/weights.h"
#include "tests/models/file_builder.h"

namespace kiln {
namespace {

constexpr char kFixture[] = "tests/fixtures/models/gguf_llama/";

std::string U16(uint16_t v) { return std::string(reinterpret_cast<const char*>(&v), 2); }

std::vector<float> Dequantize(GgmlType type, const std::string& bytes, size_t n) {
  std::vector<float> out(n);
  absl::Status status = DequantizeGgml(
      type, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// --- Block formats, computed by hand --------------------------------------

TEST(GgufDequantTest, Q8_0ScalesSignedBytes) {
  std::string block = U16(FloatToF16(0.5f));
  for (int i = 0; i < 32; ++i) block += static_cast<char>(static_cast<int8_t>(i - 16));
  std::vector<float> x = Dequantize(GgmlType::kQ8_0, block, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(x[i], (i - 16) * 0.5f) << i;
}

TEST(GgufDequantTest, Q4_0LowNibblesAreTheFirstHalf) {
  std::string block = U16(FloatToF16(0.25f));
  // Byte i: low nibble i, high nibble 15 - i.
  for (int i = 0; i < 16; ++i) block += static_cast<char>(i | ((15 - i) << 4));
  std::vector<float> x = Dequantize(GgmlType::kQ4_0, block, 32);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(x[i], (i - 8) * 0.25f) << i;
    EXPECT_EQ(x[i + 16], (15 - i - 8) * 0.25f) << i;
  }
}

TEST(GgufDequantTest, Q4_1AddsTheMinimum) {
  std::string block = U16(FloatToF16(2.0f)) + U16(FloatToF16(-3.0f));
  for (int i = 0; i < 16; ++i) block += static_cast<char>(i | ((15 - i) << 4));
  // Two blocks: the second one's scale must not leak into the first.
  std::string second = U16(FloatToF16(1.0f)) + U16(FloatToF16(0.5f)) + std::string(16, '\x00');
  std::vector<float> x = Dequantize(GgmlType::kQ4_1, block + second, 64);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(x[i], i * 2.0f - 3.0f) << i;
    EXPECT_EQ(x[i + 16], (15 - i) * 2.0f - 3.0f) << i;
  }
  for (int i = 32; i < 64; ++i) EXPECT_EQ(x[i], 0.5f) << i;
}

TEST(GgufDequantTest, HalfFloatsAndF32) {
  std::vector<float> x = Dequantize(GgmlType::kF16, U16(FloatToF16(1.5f)) + U16(0x8000), 2);
  EXPECT_EQ(x[0], 1.5f);
  EXPECT_TRUE(std::signbit(x[1]));
  x = Dequantize(GgmlType::kBF16, U16(FloatToBF16(-2.75f)), 1);
  EXPECT_EQ(x[0], -2.75f);
  float f = 3.25f;
  x = Dequantize(GgmlType::kF32, std::string(reinterpret_cast<const char*>(&f), 4), 1);
  EXPECT_EQ(x[0], 3.25f);
}

TEST(GgufDequantTest, UnsupportedTypeSaysWhatIsSupported) {
  std::vector<float> out(256);
  absl::Status status = DequantizeGgml(GgmlType::kQ2_K, std::span<const uint8_t>(), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("ggml type Q2_K is not supported yet (Kiln reads F32, F16, BF16, "
                                  "Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K)"),
            std::string::npos)
      << status;
}

// --- Names and the rotary interleave --------------------------------------

TEST(GgufModelTest, TensorNames) {
  EXPECT_EQ(HfNameOfGgufTensor("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(HfNameOfGgufTensor("output.weight"), "lm_head.weight");
  EXPECT_EQ(HfNameOfGgufTensor("blk.12.attn_q.weight"), "model.layers.12.self_attn.q_proj.weight");
  EXPECT_EQ(HfNameOfGgufTensor("blk.0.attn_k.bias"), "model.layers.0.self_attn.k_proj.bias");
  EXPECT_EQ(HfNameOfGgufTensor("blk.3.ffn_norm.weight"),
            "model.layers.3.post_attention_layernorm.weight");
  for (const char* bad : {"blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.-1.attn_q.weight",
                          "blk.1.attn_q", "blk.1.attn_qq.weight", "rope_freqs.weight", ""}) {
    EXPECT_EQ(HfNameOfGgufTensor(bad), "") << bad;
  }
}

TEST(GgufModelTest, UnpermuteInvertsLlamaCppInterleave) {
  // 2 heads x head_dim 4, 3 columns; HF row r holds values 10 r + c.
  const int64_t heads = 2, rows = 8, cols = 3;
  std::vector<float> hf(rows * cols), gguf(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) hf[r * cols + c] = static_cast<float>(10 * r + c);
  }
  // llama.cpp: per head, rows (first half[i], second half[i]) become adjacent.
  const int64_t hd = rows / heads, half = hd / 2;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        for (int64_t c = 0; c < cols; ++c) {
          gguf[(h * hd + 2 * i + j) * cols + c] = hf[(h * hd + j * half + i) * cols + c];
        }
      }
    }
  }
  UnpermuteRotaryRows(gguf, heads, rows, cols);
  EXPECT_EQ(gguf, hf);
}

// --- The fixture against Transformers -------------------------------------

class GgufFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<GgufCheckpoint> ckpt = GgufCheckpoint::Open(std::string(kFixture) + "model.gguf");
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    ckpt_ = std::make_unique<GgufCheckpoint>(*std::move(ckpt));
    absl::StatusOr<Checkpoint> expected =
        Checkpoint::OpenFile(std::string(kFixture) + "expected.safetensors");
    ASSERT_TRUE(expected.ok()) << expected.status();
    expected_ = std::make_unique<Checkpoint>(*std::move(expected));
  }

  HostTensor Expected(const std::string& name, DType dtype = DType::kF32) {
    const TensorEntry* entry = expected_->Find(name);
    EXPECT_NE(entry, nullptr) << name;
    absl::StatusOr<HostTensor> t = HostTensorFromEntry(*entry, dtype);
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  std::unique_ptr<GgufCheckpoint> ckpt_;
  std::unique_ptr<Checkpoint> expected_;
};

TEST_F(GgufFixtureTest, ConfigFromMetadata) {
  const nlohmann::json& c = ckpt_->config();
  EXPECT_EQ(c["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(c["hidden_size"], 64);
  EXPECT_EQ(c["intermediate_size"], 128);
  EXPECT_EQ(c["num_hidden_layers"], 2);
  EXPECT_EQ(c["num_attention_heads"], 4);
  EXPECT_EQ(c["num_key_value_heads"], 2);
  EXPECT_EQ(c["vocab_size"], 256);
  EXPECT_EQ(c["max_position_embeddings"], 64);
  EXPECT_EQ(c["rope_theta"], 500000.0);
  EXPECT_FALSE(c.contains("rope_scaling"));
  EXPECT_EQ(c["tie_word_embeddings"], false);
  EXPECT_EQ(c["bos_token_id"], 1);
  EXPECT_EQ(c["eos_token_id"], nlohmann::json::array({2}));
  EXPECT_NEAR(c["rms_norm_eps"].get<double>(), 1e-5, 1e-12);
}

// Every tensor equals what Transformers' GGUF loader (the gguf package's
// dequantisers + its own q/k un-interleave) made of it.
TEST_F(GgufFixtureTest, WeightsMatchTransformersGgufLoader) {
  int checked = 0;
  for (const std::string& name : ckpt_->Names()) {
    absl::StatusOr<std::vector<float>> ours = ckpt_->Read(name);
    ASSERT_TRUE(ours.ok()) << ours.status();
    HostTensor theirs = Expected("weights." + name);
    EXPECT_EQ(GgufCheckpoint::Shape(*ckpt_->Find(name)), theirs.shape) << name;
    ASSERT_EQ(ours->size(), theirs.floats.size()) << name;
    double max_diff = 0;
    for (size_t i = 0; i < ours->size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>((*ours)[i]) - theirs.floats[i]));
    }
    // The same f32 arithmetic (q * d + m) in both; allow an f32 rounding step.
    EXPECT_LE(max_diff, 1e-6) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 21);  // embed, norm, lm_head + 9 per layer x 2
}

TEST_F(GgufFixtureTest, LogitsAndGreedyTokensMatchTransformers) {
  absl::StatusOr<BuiltModel> model =
      BuildModel(ConfigReader(ckpt_->config(), "model.gguf"), BuildOptions{DType::kF32, std::nullopt});
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<WeightMap> weights = LoadGgufWeights(model->module, *ckpt_);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<ReferenceExecutor> executor =
      ReferenceExecutor::Create(model->module, *std::move(weights));
  ASSERT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<ReferenceSession> session = ReferenceSession::Create(*executor, 32);
  ASSERT_TRUE(session.ok()) << session.status();

  HostTensor prompt = Expected("prompt_ids", DType::kI64);
  HostTensor tokens = Expected("tokens", DType::kI64);
  HostTensor prefill = Expected("prefill_logits");
  HostTensor decode = Expected("decode_logits");
  std::vector<int32_t> ids(prompt.ints.begin(), prompt.ints.end());
  absl::StatusOr<HostTensor> logits = session->Forward(ids);
  ASSERT_TRUE(logits.ok()) << logits.status();
  double max_diff = 0;
  for (size_t i = 0; i < logits->floats.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(logits->floats[i]) - prefill.floats[i]));
  }
  const int64_t vocab = 256;
  for (int step = 0; step < 8; ++step) {
    const int32_t token = static_cast<int32_t>(tokens.ints[step]);
    const float* last = logits->floats.data() + (logits->floats.size() / vocab - 1) * vocab;
    EXPECT_EQ(std::max_element(last, last + vocab) - last, token) << "step " << step;
    logits = session->Forward(std::vector<int32_t>{token});
    ASSERT_TRUE(logits.ok()) << logits.status();
    for (int64_t v = 0; v < vocab; ++v) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(logits->floats[v]) -
                                              decode.floats[step * vocab + v]));
    }
  }
  EXPECT_LE(max_diff, 1e-4);
  std::printf("gguf_llama vs Transformers: max |logit diff| %.3g\n", max_diff);
}

// The vocabulary-only copy an engine bundles keeps every value exactly.
TEST_F(GgufFixtureTest, MetadataCopyKeepsValues) {
  const std::string path = ::testing::TempDir() + "/vocab.gguf";
  ASSERT_TRUE(WriteGgufMetadata(
                  ckpt_->file(),
                  [](std::string_view key) { return key.substr(0, 10) == "tokenizer."; }, path)
                  .ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> copy = GgufFile::Open(path);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_TRUE((*copy)->tensors().empty());
  EXPECT_FALSE((*copy)->Has("llama.block_count"));
  auto tokens = (*copy)->GetStringArray("tokenizer.ggml.tokens");
  auto original = ckpt_->file().GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok() && original.ok());
  EXPECT_EQ(*tokens, *original);
  EXPECT_EQ(*(*copy)->GetUint("tokenizer.ggml.eos_token_id"), 2u);
}

// --- Files Kiln refuses ----------------------------------------------------

using B = GgufBuilder;

absl::Status OpenBuilt(const std::string& name, const B& b) {
  return GgufCheckpoint::Open(WriteTestFile("gguf_model/" + name + ".gguf", b.Build())).status();
}

B MinimalLlama() {
  B b;
  b.String("general.architecture", "llama")
      .Uint32("llama.embedding_length", 32)
      .Uint32("llama.feed_forward_length", 64)
      .Uint32("llama.block_count", 1)
      .Uint32("llama.attention.head_count", 2)
      .Uint32("llama.context_length", 16);
  return b;
}

TEST(GgufModelErrorsTest, EachFailsWithItsError) {
  EXPECT_TRUE(FailsWith(OpenBuilt("gemma", B().String("general.architecture", "gemma")),
                        "GGUF architecture 'gemma' is not supported yet (Kiln imports 'llama')"));
  EXPECT_TRUE(FailsWith(OpenBuilt("no_arch", B().Uint32("llama.block_count", 1)),
                        "no general.architecture key"));
  B no_layers;
  no_layers.String("general.architecture", "llama").Uint32("llama.embedding_length", 32);
  EXPECT_TRUE(FailsWith(OpenBuilt("no_layers", no_layers), "'intermediate_size'"));
  const std::string q2k(84, '\0');  // one 256-element Q2_K super-block
  const std::string f32(32 * 4 * 256, '\0');
  EXPECT_TRUE(FailsWith(OpenBuilt("q2k", MinimalLlama()
                                               .Tensor("token_embd.weight", B::kF32, {32, 256}, f32)
                                               .Tensor("blk.0.attn_q.weight", B::kQ2_K, {256, 1}, q2k)),
                        "tensor \"blk.0.attn_q.weight\" is Q2_K; Kiln imports F32, F16, BF16"));
  EXPECT_TRUE(FailsWith(OpenBuilt("unknown_tensor",
                                  MinimalLlama()
                                      .Tensor("token_embd.weight", B::kF32, {32, 256}, f32)
                                      .Tensor("blk.0.attn_qkv.weight", B::kF32, {1}, std::string(4, '\0'))),
                        "tensor \"blk.0.attn_qkv.weight\" is not one Kiln maps for a Llama model"));
  EXPECT_TRUE(FailsWith(OpenBuilt("rope_freqs",
                                  MinimalLlama()
                                      .Tensor("token_embd.weight", B::kF32, {32, 256}, f32)
                                      .Tensor("rope_freqs.weight", B::kF32, {1}, std::string(4, '\0'))),
                        "rope_freqs tensor is not supported yet"));
  EXPECT_TRUE(FailsWith(OpenBuilt("no_embedding", MinimalLlama()), "no 2-D token_embd.weight"));
}

}  // namespace
}  // namespace kiln
