#include "runtime/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace kiln::tokenizer {
namespace {

// Oniguruma's Unicode \s: TAB..CR, SPACE, NEL and the separators Zs/Zl/Zp.
constexpr std::string_view kSpaceClassBody = "\\t-\\r\\x{20}\\x{85}\\p{Z}";

// Per-thread PCRE2 state: a match data with room for the whole match and a
// JIT stack big enough for long runs of one character class.
struct ThreadState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

std::string PcreError(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0)
    return absl::StrCat("error ", code);
  return std::string(reinterpret_cast<const char*>(buffer));
}

}  // namespace

std::string OnigurumaToPcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's' || e == 'S') {
        if (class_depth > 0 && e == 's') {
          out.append(kSpaceClassBody);
        } else if (class_depth > 0) {
          // \S inside a class has no flat spelling; keep PCRE2's meaning.
          out.append("\\S");
        } else {
          absl::StrAppend(&out, e == 's' ? "[" : "[^", std::string(kSpaceClassBody), "]");
        }
        continue;
      }
      out.push_back('\\');
      out.push_back(e);
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  const std::string translated = OnigurumaToPcre2(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                    PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot compile regex \"", std::string(pattern),
                                                   "\" at offset ", offset, ": ",
                                                   PcreError(error)));
  }
  auto regex = std::unique_ptr<Regex>(new Regex());
  regex->pattern_ = std::string(pattern);
  regex->code_ = code;
  // Without a JIT (e.g. an unsupported CPU) the interpreter gives the same
  // matches, only slower.
  regex->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return regex;
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Literal(std::string_view literal) {
  // \Q...\E quotes everything except a literal "\E", which is split out.
  std::string pattern;
  size_t start = 0;
  while (true) {
    const size_t e = literal.find("\\E", start);
    const std::string_view part =
        literal.substr(start, e == std::string_view::npos ? std::string_view::npos : e - start);
    if (!part.empty()) absl::StrAppend(&pattern, "\\Q", std::string(part), "\\E");
    if (e == std::string_view::npos) break;
    pattern.append("\\\\E");
    start = e + 2;
  }
  if (pattern.empty()) return absl::InvalidArgumentError("empty literal pattern");
  return Compile(pattern);
}

absl::StatusOr<std::unique_ptr<Regex>> CompileReplacePattern(std::string_view pattern,
                                                             bool is_regex) {
  if (is_regex) return Regex::Compile(pattern);
  if (pattern.empty()) return Regex::Compile("(*FAIL)");
  return Regex::Literal(pattern);
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

absl::Status Regex::FindAll(std::string_view subject, std::vector<Span>* matches) const {
  ThreadState& state = State();
  if (state.data == nullptr)
    return absl::ResourceExhaustedError("cannot allocate PCRE2 match data");
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const size_t n = subject.size();
  size_t pos = 0;
  while (pos < n) {
    const int rc =
        jit_ ? pcre2_jit_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, state.data, state.context)
             : pcre2_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("regex \"", pattern_, "\" failed on a ", n, "-byte piece: ", PcreError(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      matches->push_back(Span{static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
      pos = e;
    } else {
      // Empty match: step over one character.
      pos = b + 1;
      while (pos < n && (static_cast<unsigned char>(subject[pos]) & 0xC0) == 0x80) ++pos;
    }
  }
  return absl::OkStatus();
}

bool Regex::MatchesAtStart(std::string_view subject) const {
  ThreadState& state = State();
  if (state.data == nullptr) return false;
  const int rc = pcre2_match(static_cast<pcre2_code*>(code_),
                             reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                             PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, state.data, state.context);
  return rc >= 0;
}

}  // namespace kiln::tokenizer
