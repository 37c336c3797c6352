// GPT-2's byte-level alphabet: every byte is written as one printable
// character so that a vocabulary of strings can hold arbitrary bytes.
// Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand
// for themselves; the other 68 bytes map, in increasing order, to U+0100 and
// up (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
//
// Kiln's byte-level BPE works on raw bytes: the vocabulary is translated
// back through this table once at load time, which makes encoding skip the
// per-byte mapping HF tokenizers performs on every piece.
#ifndef KILN_RUNTIME_TOKENIZER_BYTE_LEVEL_H_
#define KILN_RUNTIME_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

// The character byte `b` is written as.
char32_t ByteToUnicode(uint8_t b);

// The byte that `cp` stands for, or -1 when `cp` is not in the alphabet.
int UnicodeToByte(char32_t cp);

// `token` (UTF-8 in the byte-level alphabet) as the raw bytes it stands for;
// nullopt when some character is outside the alphabet (e.g. "<|endoftext|>"
// is inside it, "▁" is not).
std::optional<std::string> ByteLevelToBytes(std::string_view token);

// The byte-level spelling of raw `bytes`.
std::string BytesToByteLevel(std::string_view bytes);

// The split regex of GPT-2 (and of the ByteLevel pre-tokenizer with
// use_regex), in Oniguruma syntax.
inline constexpr std::string_view kGpt2SplitPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_BYTE_LEVEL_H_
