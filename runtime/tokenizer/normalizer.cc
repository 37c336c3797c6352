#include "runtime/tokenizer/normalizer.h"

#include "base/status_macros.h"
#include "runtime/tokenizer/nfc.h"

namespace kiln::tokenizer {

NormalizerStep Normalizer::MakePrepend(std::string prefix) {
  NormalizerStep step;
  step.kind = NormalizerStep::Kind::kPrepend;
  step.content = std::move(prefix);
  return step;
}

absl::StatusOr<NormalizerStep> Normalizer::MakeReplace(std::string_view pattern, bool is_regex,
                                                       std::string content) {
  NormalizerStep step;
  step.kind = NormalizerStep::Kind::kReplace;
  KILN_ASSIGN_OR_RETURN(step.regex, CompileReplacePattern(pattern, is_regex));
  step.content = std::move(content);
  return step;
}

NormalizerStep Normalizer::MakeNfc() {
  NormalizerStep step;
  step.kind = NormalizerStep::Kind::kNfc;
  return step;
}

absl::StatusOr<NormalizerStep> Normalizer::MakeStrip(bool left, bool right) {
  // Rust's char::is_whitespace (the White_Space property); the regex
  // compiler spells \s that way.
  NormalizerStep step;
  step.kind = NormalizerStep::Kind::kStrip;
  KILN_ASSIGN_OR_RETURN(step.regex, Regex::Compile("\\s+"));
  step.strip_left = left;
  step.strip_right = right;
  return step;
}

absl::Status Normalizer::Apply(std::string* text) const {
  thread_local std::vector<Span> matches;
  for (const NormalizerStep& step : steps_) {
    switch (step.kind) {
      case NormalizerStep::Kind::kPrepend:
        if (!text->empty()) text->insert(0, step.content);
        break;
      case NormalizerStep::Kind::kReplace: {
        matches.clear();
        KILN_RETURN_IF_ERROR(step.regex->FindAll(*text, &matches));
        if (matches.empty()) break;
        std::string out;
        out.reserve(text->size() + matches.size() * step.content.size());
        uint32_t prev = 0;
        for (const Span& m : matches) {
          out.append(*text, prev, m.begin - prev);
          out.append(step.content);
          prev = m.end;
        }
        out.append(*text, prev, std::string::npos);
        *text = std::move(out);
        break;
      }
      case NormalizerStep::Kind::kNfc:
        *text = NfcNormalize(*text);
        break;
      case NormalizerStep::Kind::kStrip: {
        matches.clear();
        KILN_RETURN_IF_ERROR(step.regex->FindAll(*text, &matches));
        size_t begin = 0, end = text->size();
        if (!matches.empty()) {
          if (step.strip_left && matches.front().begin == 0) begin = matches.front().end;
          if (step.strip_right && matches.back().end == text->size() &&
              matches.back().begin >= begin) {
            end = matches.back().begin;
          }
        }
        *text = text->substr(begin, end - begin);
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::tokenizer
