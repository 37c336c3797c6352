// UTF-8 helpers for the tokenizer: decoding with U+FFFD replacement,
// encoding, and finding where a byte stream stops being complete.
//
// Replacement policy (Unicode "maximal subpart", as Python's
// bytes.decode('utf-8', 'replace') and Rust's from_utf8_lossy): each maximal
// prefix of a valid sequence that cannot be completed becomes one U+FFFD, and
// a byte that cannot start any sequence becomes one U+FFFD.
#ifndef KILN_RUNTIME_TOKENIZER_UTF8_H_
#define KILN_RUNTIME_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Decodes the character at the start of `text` (non-empty). Returns the
// number of bytes it spans (1..4) and sets `*cp`; an invalid or truncated
// sequence sets U+FFFD and spans its maximal subpart (at least one byte).
size_t Utf8Decode(std::string_view text, char32_t* cp);

// Length of the well-formed character at the start of `text`, or 0 when the
// text is empty or does not start with a complete, well-formed character.
size_t Utf8ValidLength(std::string_view text);

// Appends the UTF-8 form of `cp` (U+FFFD for surrogates and > U+10FFFF).
void Utf8Append(char32_t cp, std::string* out);

// True when all of `text` is well-formed UTF-8.
bool IsValidUtf8(std::string_view text);

// `text` with every ill-formed subsequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

// Length of the longest prefix of `bytes` that does not end inside an
// incomplete (but so far valid) multi-byte sequence. Bytes that are invalid
// outright count as complete (they decode to U+FFFD); only a truncated tail
// of at most 3 bytes is held back.
size_t Utf8CompletePrefix(std::string_view bytes);

// Number of characters (code points after replacement) in `text`.
size_t Utf8Length(std::string_view text);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_UTF8_H_
