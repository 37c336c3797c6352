#include "runtime/tokenizer/byte_level.h"

#include <array>

#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

bool IsPrintableLatin1(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> to_unicode{};
  std::array<int16_t, 324> to_byte{};  // Index: code point (< 0x100 + 68).
  Tables() {
    to_byte.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_unicode[b] = IsPrintableLatin1(b) ? static_cast<char32_t>(b) : next++;
      to_byte[to_unicode[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

char32_t ByteToUnicode(uint8_t b) { return GetTables().to_unicode[b]; }

int UnicodeToByte(char32_t cp) {
  const Tables& t = GetTables();
  return cp < t.to_byte.size() ? t.to_byte[cp] : -1;
}

std::optional<std::string> ByteLevelToBytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  size_t i = 0;
  while (i < token.size()) {
    char32_t cp;
    const size_t n = Utf8Decode(token.substr(i), &cp);
    if (cp == kReplacementChar && Utf8ValidLength(token.substr(i)) == 0) return std::nullopt;
    const int b = UnicodeToByte(cp);
    if (b < 0) return std::nullopt;
    out.push_back(static_cast<char>(b));
    i += n;
  }
  return out;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) Utf8Append(ByteToUnicode(b), &out);
  return out;
}

}  // namespace kiln::tokenizer
