#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

// For a lead byte: the sequence length and the allowed range of the second
// byte (this range is where overlongs, surrogates and > U+10FFFF are
// excluded, RFC 3629). Returns 0 for a byte that cannot start a sequence.
int LeadInfo(unsigned char c, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) *lo = 0xA0;
    if (c == 0xED) *hi = 0x9F;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) *lo = 0x90;
    if (c == 0xF4) *hi = 0x8F;
    return 4;
  }
  return 0;
}

// Number of bytes of `text` (starting at a lead byte) that belong to the
// sequence as far as it is valid; sets *complete when all `len` bytes are.
size_t ValidSpan(std::string_view text, size_t* len_out, bool* complete) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  unsigned char lo, hi;
  const int len = LeadInfo(p[0], &lo, &hi);
  *len_out = len;
  *complete = false;
  if (len == 0) return 0;
  size_t k = 1;
  for (; k < static_cast<size_t>(len) && k < text.size(); ++k) {
    const unsigned char b = p[k];
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  *complete = k == static_cast<size_t>(len);
  return k;
}

}  // namespace

size_t Utf8Decode(std::string_view text, char32_t* cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  size_t len;
  bool complete;
  const size_t span = ValidSpan(text, &len, &complete);
  if (!complete) {
    *cp = kReplacementChar;
    return span == 0 ? 1 : span;
  }
  char32_t v = p[0] & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) v = (v << 6) | (p[k] & 0x3F);
  *cp = v;
  return len;
}

size_t Utf8ValidLength(std::string_view text) {
  if (text.empty()) return 0;
  size_t len;
  bool complete;
  ValidSpan(text, &len, &complete);
  return complete ? len : 0;
}

void Utf8Append(char32_t cp, std::string* out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8ValidLength(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const size_t n = Utf8ValidLength(text.substr(i));
    if (n > 0) {
      out.append(text.data() + i, n);
      i += n;
    } else {
      char32_t cp;
      i += Utf8Decode(text.substr(i), &cp);
      out.append(kReplacementUtf8);
    }
  }
  return out;
}

size_t Utf8CompletePrefix(std::string_view bytes) {
  // Only the last 3 bytes can belong to a truncated sequence.
  const size_t n = bytes.size();
  const size_t from = n > 3 ? n - 3 : 0;
  for (size_t i = from; i < n; ++i) {
    const unsigned char c = bytes[i];
    if ((c & 0xC0) == 0x80) continue;  // Continuation: not a start.
    size_t len;
    bool complete;
    const size_t span = ValidSpan(bytes.substr(i), &len, &complete);
    // A valid prefix that reaches the end of the bytes but is short of its
    // length is held back; anything else decodes now.
    if (len > 1 && !complete && i + span == n) return i;
  }
  return n;
}

size_t Utf8Length(std::string_view text) {
  size_t count = 0, i = 0;
  char32_t cp;
  while (i < text.size()) {
    i += Utf8Decode(text.substr(i), &cp);
    ++count;
  }
  return count;
}

}  // namespace kiln::tokenizer
