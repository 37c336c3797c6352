#include "runtime/tokenizer/utf8.h"

#include "gtest/gtest.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/nfc.h"
#include "runtime/tokenizer/regex.h"

namespace kiln::tokenizer {
namespace {

TEST(Utf8Test, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(SanitizeUtf8("abc"), "abc");
  EXPECT_EQ(SanitizeUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  // A truncated 3-byte sequence is one U+FFFD; the byte after it is kept.
  EXPECT_EQ(SanitizeUtf8("\xE2\x82" "x"), "\xEF\xBF\xBD" "x");
  // Overlong and surrogate encodings: each byte is its own U+FFFD.
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), std::string(4 * 3, ' ').replace(0, 12, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

TEST(Utf8Test, CompletePrefixHoldsBackTruncatedTail) {
  EXPECT_EQ(Utf8CompletePrefix("ab"), 2u);
  EXPECT_EQ(Utf8CompletePrefix("a\xE2\x82"), 1u);
  EXPECT_EQ(Utf8CompletePrefix("a\xE2\x82\xAC"), 4u);
  EXPECT_EQ(Utf8CompletePrefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(Utf8CompletePrefix("a\xFF"), 2u);    // Invalid, not truncated.
  EXPECT_EQ(Utf8CompletePrefix("a\xE2" "b"), 3u);  // Broken, not truncated.
}

TEST(ByteLevelTest, AlphabetRoundTrips) {
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);
  EXPECT_EQ(ByteToUnicode('A'), static_cast<char32_t>('A'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(UnicodeToByte(ByteToUnicode(b)), b);
  EXPECT_EQ(ByteLevelToBytes("\xC4\xA0hello"), std::optional<std::string>(" hello"));
  EXPECT_EQ(ByteLevelToBytes("\xE2\x96\x81"), std::nullopt);  // "▁" is not in the alphabet.
  EXPECT_EQ(BytesToByteLevel(" \n"), "\xC4\xA0\xC4\x8A");
}

TEST(NfcTest, ComposesAndReorders) {
  EXPECT_EQ(NfcNormalize("cafe\xCC\x81"), "caf\xC3\xA9");
  // Hangul jamo L V T compose to one syllable.
  EXPECT_EQ(NfcNormalize("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");
  // a + dot below (220) + acute (230) stays ordered: U+1EA1 U+0301.
  EXPECT_EQ(NfcNormalize("a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");
  // Singleton decomposition: Kelvin sign -> K.
  EXPECT_EQ(NfcNormalize("\xE2\x84\xAA"), "K");
}

TEST(RegexTest, OnigurumaSpaceClass) {
  // U+180E is \s for PCRE2 but not for Oniguruma.
  auto re = Regex::Compile("\\s+");
  ASSERT_TRUE(re.ok());
  std::vector<Span> m;
  ASSERT_TRUE((*re)->FindAll("a\xE1\xA0\x8E" "b \xC2\x85" "c", &m).ok());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].begin, 5u);
  EXPECT_EQ(m[0].end, 8u);
  EXPECT_EQ(OnigurumaToPcre2("[^\\s\\p{L}]\\S"), "[^\\t-\\r\\x{20}\\x{85}\\p{Z}\\p{L}][^\\t-\\r\\x{20}\\x{85}\\p{Z}]");
}

TEST(RegexTest, BadPatternIsAnError) {
  auto re = Regex::Compile("(unclosed");
  EXPECT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("cannot compile regex"), std::string_view::npos);
}

}  // namespace
}  // namespace kiln::tokenizer
