// Split regexes for pre-tokenizers and normalizers, on PCRE2 with its JIT.
//
// Patterns in tokenizer.json are written for Oniguruma (what HF tokenizers
// runs). PCRE2 with UTF + UCP reads them the same way except for `\s`/`\S`:
// PCRE2's Unicode `\s` is \p{Z} plus \h and \v, and \h includes U+180E,
// which Oniguruma's `\s` (TAB..CR, SPACE, U+0085, Zs, Zl, Zp) does not. The
// compiler rewrites `\s`/`\S` into Oniguruma's explicit set so both engines
// split identically.
//
// A compiled Regex is immutable and safe to share between threads; the PCRE2
// match data and JIT stack each call needs are kept per thread.
#ifndef KILN_RUNTIME_TOKENIZER_REGEX_H_
#define KILN_RUNTIME_TOKENIZER_REGEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::tokenizer {

// A byte range [begin, end) of a subject string.
struct Span {
  uint32_t begin;
  uint32_t end;
};

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax as used by tokenizer.json).
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern);
  // A regex matching `literal` exactly.
  static absl::StatusOr<std::unique_ptr<Regex>> Literal(std::string_view literal);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the non-empty, non-overlapping matches in `subject` (valid UTF-8;
  // the caller sanitizes), scanning left to right. Fails only when PCRE2 hits
  // a resource limit on pathological input.
  absl::Status FindAll(std::string_view subject, std::vector<Span>* matches) const;

  // True when the regex matches at the very start of `subject` (anchored).
  bool MatchesAtStart(std::string_view subject) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// What a Replace step (normalizer or decoder) searches for: `pattern`
// compiled as a regex when `is_regex`, else matched literally. An empty
// literal matches nothing (as HF's empty string pattern), so it compiles to
// "(*FAIL)".
absl::StatusOr<std::unique_ptr<Regex>> CompileReplacePattern(std::string_view pattern,
                                                             bool is_regex);

// Rewrites Oniguruma-only spellings into PCRE2 (see the file comment).
// Exposed for tests.
std::string OnigurumaToPcre2(std::string_view pattern);

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_REGEX_H_
