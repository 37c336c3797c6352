// Streaming detokenization: pieces are complete UTF-8 as soon as possible,
// and together equal the one-shot decode.
#include "runtime/tokenizer/stream_decoder.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tokenizer/tokenizer_json.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

const char* kTexts[] = {
    "Hello world", " leading space", "caf\xC3\xA9 \xF0\x9F\xA6\x99 llama \xE6\x97\xA5\xE6\x9C\xAC",
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 family",
    "<s>special</s> and [INST] x [/INST]", "a\n\nb\tc   d"};

class StreamDecoderTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamDecoderTest, PiecesAreCompleteAndJoinToDecode) {
  auto tok = LoadTokenizerJson("tests/fixtures/tokenizers/" + GetParam() + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (bool skip : {false, true}) {
    for (const char* text : kTexts) {
      auto ids = (*tok)->Encode(text, true);
      ASSERT_TRUE(ids.ok());
      StreamDecoder stream(**tok, skip);
      std::string joined;
      for (int32_t id : *ids) {
        auto piece = stream.Step(id);
        ASSERT_TRUE(piece.ok()) << piece.status();
        EXPECT_TRUE(IsValidUtf8(*piece));
        EXPECT_EQ(piece->find(kReplacementUtf8), std::string::npos)
            << "broken character streamed for " << text;
        joined += *piece;
      }
      auto rest = stream.Flush();
      ASSERT_TRUE(rest.ok());
      joined += *rest;
      EXPECT_EQ(joined, *(*tok)->Decode(*ids, skip)) << text;
    }
  }
}

class SplitCharacterTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SplitCharacterTest, CharacterOverSeveralTokensArrivesWhole) {
  auto tok = LoadTokenizerJson("tests/fixtures/tokenizers/" + GetParam() + "/tokenizer.json");
  ASSERT_TRUE(tok.ok());
  // A character outside these tiny vocabularies: several byte tokens.
  auto ids = (*tok)->Encode("x\xF0\x9F\xA6\x99", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 3u);
  StreamDecoder stream(**tok, false);
  std::vector<std::string> pieces;
  for (int32_t id : *ids) pieces.push_back(*stream.Step(id));
  // The llama's 4 bytes come in the last piece, none before it.
  EXPECT_EQ(pieces.back(), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(pieces[pieces.size() - 2], "");
}

// Fixtures whose decoders assemble bytes (byte-level or ByteFallback).
INSTANTIATE_TEST_SUITE_P(Fixtures, SplitCharacterTest, ::testing::Values("gpt2", "llama3", "llama2"),
                         [](const auto& info) { return info.param; });

TEST_P(StreamDecoderTest, UnknownIdIsAnErrorAndKeepsState) {
  auto tok = LoadTokenizerJson("tests/fixtures/tokenizers/" + GetParam() + "/tokenizer.json");
  ASSERT_TRUE(tok.ok());
  StreamDecoder stream(**tok, false);
  EXPECT_FALSE(stream.Step(-1).ok());
  EXPECT_FALSE(stream.Step((*tok)->vocab_size()).ok());
  auto ids = *(*tok)->Encode("ok", false);
  std::string joined;
  for (int32_t id : ids) joined += *stream.Step(id);
  joined += *stream.Flush();
  EXPECT_EQ(joined, *(*tok)->Decode(ids, false));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StreamDecoderTest,
                         ::testing::Values("gpt2", "llama3", "llama2", "mistral", "gemma"),
                         [](const auto& info) { return info.param; });

TEST(TokenizerThreadsTest, ConcurrentEncodeMatchesSerial) {
  auto tok = LoadTokenizerJson("tests/fixtures/tokenizers/llama3/tokenizer.json");
  ASSERT_TRUE(tok.ok());
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The quick brown fox " + std::to_string(i) + " jumps. ";
  const std::vector<int32_t> serial = *(*tok)->Encode(text, true);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 20; ++r) ok[t] += *(*tok)->Encode(text, true) == serial;
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 20);
}

}  // namespace
}  // namespace kiln::tokenizer
