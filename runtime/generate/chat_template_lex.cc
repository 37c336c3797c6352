// The chat template lexer: Jinja2's root/tag states with Transformers'
// trim_blocks=True and lstrip_blocks=True (jinja2/lexer.py, tokeniter).
//
// Whitespace rules, in Jinja's order:
//   1. `{%-`, `{{-`, `{#-` strip all whitespace (newlines too) before the tag.
//   2. Otherwise, for `{%` and `{#` without `+` (lstrip_blocks): if only
//      spaces precede the tag on its line, drop them. "On its line" means
//      after the last newline of the text, or at the text's start when the
//      previous token ended with a newline.
//   3. `-%}`, `-}}`, `-#}` strip all whitespace after the tag.
//   4. Otherwise `%}` and `#}` (not `+%}`, not `}}`) eat one newline
//      (trim_blocks).
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln::chat_template_internal {
namespace {

bool StartsWith(std::string_view s, size_t pos, std::string_view prefix) {
  return s.substr(pos, prefix.size()) == prefix;
}

size_t SkipSpace(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    size_t n = PySpaceAt(s, pos);
    if (n == 0) break;
    pos += n;
  }
  return pos;
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Python's unicode-escape decoding of a string literal body (Jinja decodes
// literals this way): \n \t \r \\ \' \" \a \b \f \v, octal, \xhh, \uXXXX,
// \UXXXXXXXX, backslash-newline; unknown escapes stay as written.
absl::StatusOr<std::string> Unescape(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 >= body.size()) {
      out += body[i];
      continue;
    }
    char c = body[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x': case 'u': case 'U': {
        size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 0; k < digits; ++k) {
          int h = i + 1 + k < body.size() ? HexValue(body[i + 1 + k]) : -1;
          if (h < 0) return absl::InvalidArgumentError(absl::StrCat("truncated \\", std::string(1, c), " escape"));
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10FFFF) return absl::InvalidArgumentError("escape outside the Unicode range");
        i += digits;
        AppendUtf8(out, cp);
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          uint32_t cp = static_cast<uint32_t>(c - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          AppendUtf8(out, cp);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t tag = FindTag(pos);
      if (tag == std::string_view::npos) {
        Emit(Token::Type::kText, std::string(src_.substr(pos)), pos);
        break;
      }
      char kind = src_[tag + 1];
      size_t p = tag + 2;
      char sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
      if (sign) ++p;
      std::string_view text = src_.substr(pos, tag - pos);
      if (sign == '-') {
        text = PyStrip(text, false, true);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() && SkipSpace(text, l_pos) == text.size()) {
          text = text.substr(0, l_pos);
        }
      }
      if (!text.empty()) Emit(Token::Type::kText, std::string(text), pos);
      absl::StatusOr<size_t> end = kind == '#' ? Comment(tag, p) : Tag(tag, p, kind);
      if (!end.ok()) return end.status();
      pos = *end;
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    Emit(Token::Type::kEnd, "", src_.size());
    return std::move(tokens_);
  }

 private:
  size_t FindTag(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  void Emit(Token::Type type, std::string value, size_t pos) { tokens_.push_back({type, std::move(value), pos}); }

  // After "{#": returns the position after "#}" and its trimming.
  absl::StatusOr<size_t> Comment(size_t tag, size_t p) {
    size_t e = src_.find("#}", p);
    if (e == std::string_view::npos) return ErrorAt(src_, tag, "missing end of comment tag '#}'");
    size_t after = e + 2;
    if (e > p && src_[e - 1] == '-') return SkipSpace(src_, after);
    if (e > p && src_[e - 1] == '+') return after;
    if (after < src_.size() && src_[after] == '\n') ++after;
    return after;
  }

  // After "{%" or "{{": lexes the expression tokens up to the closing tag.
  absl::StatusOr<size_t> Tag(size_t tag, size_t p, char kind) {
    const bool block = kind == '%';
    if (block) {
      size_t q = SkipSpace(src_, p);
      if (StartsWith(src_, q, "raw") && (q + 3 >= src_.size() || !IsNameChar(src_[q + 3]))) {
        return ErrorAt(src_, tag, "'{% raw %}' blocks are not supported by Kiln's chat templates");
      }
    }
    Emit(block ? Token::Type::kBlockBegin : Token::Type::kVarBegin, "", tag);
    std::string brackets;  // expected closers
    while (true) {
      p = SkipSpace(src_, p);
      if (p >= src_.size()) {
        return ErrorAt(src_, tag, absl::StrCat("unexpected end of template: '", block ? "{%" : "{{",
                                               "' is never closed with '", block ? "%}" : "}}", "'"));
      }
      if (brackets.empty()) {
        std::string_view close = block ? "%}" : "}}";
        if (src_[p] == '-' && StartsWith(src_, p + 1, close)) {
          Emit(block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", p);
          return SkipSpace(src_, p + 3);
        }
        if (block && StartsWith(src_, p, "+%}")) {
          Emit(Token::Type::kBlockEnd, "", p);
          return p + 3;
        }
        if (StartsWith(src_, p, close)) {
          Emit(block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", p);
          p += 2;
          if (block && p < src_.size() && src_[p] == '\n') ++p;  // trim_blocks
          return p;
        }
      }
      absl::StatusOr<size_t> next = Operand(p, brackets);
      if (!next.ok()) return next.status();
      p = *next;
    }
  }

  // Lexes one name, number, string or operator at p.
  absl::StatusOr<size_t> Operand(size_t p, std::string& brackets) {
    char c = src_[p];
    if (IsNameStart(c)) {
      size_t e = p;
      while (e < src_.size() && IsNameChar(src_[e])) ++e;
      // Names are looked up, hashed and copied at each use without a charge.
      if (e - p > kMaxNameBytes)
        return ErrorAt(src_, p, absl::StrCat("name longer than ", kMaxNameBytes, " bytes"));
      Emit(Token::Type::kName, std::string(src_.substr(p, e - p)), p);
      return e;
    }
    if (IsDigit(c)) {
      size_t e = p;
      std::string digits;
      while (e < src_.size() && (IsDigit(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && IsDigit(src_[e + 1])))) {
        if (src_[e] != '_') digits += src_[e];
        ++e;
      }
      if (e + 1 < src_.size() && src_[e] == '.' && IsDigit(src_[e + 1])) {
        return ErrorAt(src_, p, "float literals are not supported by Kiln's chat templates");
      }
      if (digits.size() > 18) return ErrorAt(src_, p, "integer literal too large");
      Emit(Token::Type::kInt, digits, p);
      return e;
    }
    if (c == '\'' || c == '"') {
      size_t e = p + 1;
      while (e < src_.size() && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
      if (e >= src_.size()) return ErrorAt(src_, p, "unterminated string literal");
      absl::StatusOr<std::string> value = Unescape(src_.substr(p + 1, e - p - 1));
      if (!value.ok()) return ErrorAt(src_, p, std::string(value.status().message()));
      Emit(Token::Type::kString, *std::move(value), p);
      return e + 1;
    }
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (StartsWith(src_, p, op)) {
        Emit(Token::Type::kOp, std::string(op), p);
        return p + 2;
      }
    }
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      return ErrorAt(src_, p, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    if (c == '(' || c == '[' || c == '{') brackets += c == '(' ? ')' : c == '[' ? ']' : '}';
    if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) return ErrorAt(src_, p, absl::StrCat("unexpected '", std::string(1, c), "'"));
      if (brackets.back() != c) {
        return ErrorAt(src_, p, absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                             std::string(1, brackets.back()), "'"));
      }
      brackets.pop_back();
    }
    Emit(Token::Type::kOp, std::string(1, c), p);
    return p + 1;
  }

  std::string_view src_;
  std::vector<Token> tokens_;
};

}  // namespace

std::string Location(std::string_view source, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return absl::StrCat(line, ":", col);
}

absl::Status ErrorAt(std::string_view source, size_t pos, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("chat template ", Location(source, pos), ": ", std::string(message)));
}

absl::StatusOr<std::vector<Token>> Lex(std::string_view source) { return Lexer(source).Run(); }

}  // namespace kiln::chat_template_internal
