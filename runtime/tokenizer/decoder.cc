#include "runtime/tokenizer/decoder.h"

#include "base/status_macros.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

// The byte a "<0xXX>" token stands for, or -1. Like HF (Rust's
// u8::from_str_radix on the two characters), a '+' sign is accepted and
// anything else that is not two hex digits is not a byte token.
int ByteFallbackValue(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token.back() != '>') return -1;
  std::string_view digits = token.substr(3, 2);
  if (digits[0] == '+') digits.remove_prefix(1);
  int value = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return -1;
    }
    value = value * 16 + d;
  }
  return value;
}

void ApplyByteLevel(std::vector<std::string>* tokens) {
  // Tokens wholly in the byte alphabet become their bytes; others (added
  // tokens) are kept as written. The joined bytes are read leniently.
  std::string bytes;
  for (const std::string& t : *tokens) {
    std::optional<std::string> raw = ByteLevelToBytes(t);
    bytes += raw.has_value() ? *raw : t;
  }
  tokens->assign(1, SanitizeUtf8(bytes));
}

void ApplyByteFallback(std::vector<std::string>* tokens) {
  std::vector<std::string> out;
  std::string pending;
  auto flush = [&]() {
    if (pending.empty()) return;
    if (IsValidUtf8(pending)) {
      out.push_back(pending);
    } else {
      for (size_t i = 0; i < pending.size(); ++i) out.emplace_back(kReplacementUtf8);
    }
    pending.clear();
  };
  for (std::string& t : *tokens) {
    const int b = ByteFallbackValue(t);
    if (b >= 0) {
      pending.push_back(static_cast<char>(b));
      continue;
    }
    flush();
    out.push_back(std::move(t));
  }
  flush();
  *tokens = std::move(out);
}

void ApplyStrip(const DecoderStep& step, std::vector<std::string>* tokens) {
  for (std::string& t : *tokens) {
    std::vector<std::pair<size_t, size_t>> chars;  // (offset, length)
    for (size_t i = 0; i < t.size();) {
      char32_t cp;
      const size_t n = Utf8Decode(std::string_view(t).substr(i), &cp);
      chars.emplace_back(i, n);
      i += n;
    }
    auto is_content = [&](size_t k) {
      char32_t cp;
      Utf8Decode(std::string_view(t).substr(chars[k].first), &cp);
      return cp == step.strip_char;
    };
    size_t start_cut = 0;
    for (size_t k = 0; k < step.strip_start && k < chars.size() && is_content(k); ++k) {
      start_cut = k + 1;
    }
    size_t stop_cut = chars.size();
    for (size_t k = 0; k < step.strip_stop && k < chars.size(); ++k) {
      const size_t index = chars.size() - k - 1;
      if (!is_content(index)) break;
      stop_cut = index;
    }
    if (stop_cut < start_cut) stop_cut = start_cut;
    const size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
    const size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
    t = t.substr(b, e - b);
  }
}

}  // namespace

DecoderStep Decoder::MakeByteLevel() {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kByteLevel;
  return step;
}

DecoderStep Decoder::MakeMetaspace(std::string replacement, PrependScheme scheme) {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kMetaspace;
  step.content = std::move(replacement);
  step.prepend_scheme = scheme;
  return step;
}

absl::StatusOr<DecoderStep> Decoder::MakeReplace(std::string_view pattern, bool is_regex,
                                                 std::string content) {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kReplace;
  KILN_ASSIGN_OR_RETURN(step.regex, CompileReplacePattern(pattern, is_regex));
  step.content = std::move(content);
  return step;
}

DecoderStep Decoder::MakeByteFallback() {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kByteFallback;
  return step;
}
DecoderStep Decoder::MakeFuse() {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kFuse;
  return step;
}

DecoderStep Decoder::MakeStrip(char32_t content, size_t start, size_t stop) {
  DecoderStep step;
  step.kind = DecoderStep::Kind::kStrip;
  step.strip_char = content;
  step.strip_start = start;
  step.strip_stop = stop;
  return step;
}

absl::StatusOr<std::string> Decoder::Decode(std::vector<std::string> tokens) const {
  std::vector<Span> matches;
  for (const DecoderStep& step : steps_) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel:
        ApplyByteLevel(&tokens);
        break;
      case DecoderStep::Kind::kMetaspace:
        // Every replacement becomes a space, except that in the first token
        // they are dropped unless the scheme is "never" (HF's rule).
        for (size_t i = 0; i < tokens.size(); ++i) {
          const bool drop = i == 0 && step.prepend_scheme != PrependScheme::kNever;
          std::string out;
          std::string_view t = tokens[i];
          for (size_t k = 0; k < t.size();) {
            if (t.substr(k, step.content.size()) == step.content) {
              if (!drop) out.push_back(' ');
              k += step.content.size();
            } else {
              out.push_back(t[k++]);
            }
          }
          tokens[i] = std::move(out);
        }
        break;
      case DecoderStep::Kind::kReplace:
        for (std::string& t : tokens) {
          t = SanitizeUtf8(t);
          matches.clear();
          KILN_RETURN_IF_ERROR(step.regex->FindAll(t, &matches));
          if (matches.empty()) continue;
          std::string out;
          uint32_t prev = 0;
          for (const Span& m : matches) {
            out.append(t, prev, m.begin - prev);
            out.append(step.content);
            prev = m.end;
          }
          out.append(t, prev, std::string::npos);
          t = std::move(out);
        }
        break;
      case DecoderStep::Kind::kByteFallback:
        ApplyByteFallback(&tokens);
        break;
      case DecoderStep::Kind::kFuse: {
        std::string joined;
        for (const std::string& t : tokens) joined += t;
        tokens.assign(1, std::move(joined));
        break;
      }
      case DecoderStep::Kind::kStrip:
        ApplyStrip(step, &tokens);
        break;
    }
  }
  std::string text;
  for (const std::string& t : tokens) text += t;
  return SanitizeUtf8(text);
}

}  // namespace kiln::tokenizer
