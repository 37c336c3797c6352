#include "runtime/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "runtime/tokenizer/byte_level.h"

namespace kiln::tokenizer {
namespace {

struct Part {
  uint32_t begin;
  uint32_t end;
  bool is_match;
};

// Applies `behavior` to a covering list of parts (HF's
// NormalizedString::split): returns the ranges to keep.
void ApplyBehavior(const std::vector<Part>& parts, SplitBehavior behavior, std::vector<Span>* out) {
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Part& p : parts) out->push_back(Span{p.begin, p.end});
      return;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts) {
        if (!p.is_match) out->push_back(Span{p.begin, p.end});
      }
      return;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const Part& p : parts) {
        if (p.is_match == previous && !out->empty()) {
          out->back().end = p.end;
        } else {
          out->push_back(Span{p.begin, p.end});
        }
        previous = p.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const Part& p : parts) {
        if (p.is_match && !previous && !out->empty()) {
          out->back().end = p.end;
        } else {
          out->push_back(Span{p.begin, p.end});
        }
        previous = p.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      // Right to left, a match joins the part after it.
      const size_t first = out->size();
      bool previous = false;
      for (size_t k = parts.size(); k-- > 0;) {
        const Part& p = parts[k];
        if (p.is_match && !previous && out->size() > first) {
          out->back().begin = p.begin;
        } else {
          out->push_back(Span{p.begin, p.end});
        }
        previous = p.is_match;
      }
      std::reverse(out->begin() + first, out->end());
      return;
    }
  }
}

}  // namespace

absl::Status SplitPiece(const std::string& text, const Piece& piece, const Regex& regex,
                        SplitBehavior behavior, bool invert, std::vector<Piece>* out) {
  const std::string_view view = std::string_view(text).substr(piece.begin, piece.end - piece.begin);
  thread_local std::vector<Span> matches;
  thread_local std::vector<Part> parts;
  thread_local std::vector<Span> kept;
  matches.clear();
  parts.clear();
  kept.clear();
  KILN_RETURN_IF_ERROR(regex.FindAll(view, &matches));
  if (behavior == SplitBehavior::kIsolated && !invert) {
    // The common case (byte-level split regexes), without the parts list.
    uint32_t prev = 0;
    for (const Span& m : matches) {
      if (m.begin > prev)
        out->push_back(
            Piece{piece.begin + prev, piece.begin + m.begin, piece.at_start && prev == 0});
      out->push_back(
          Piece{piece.begin + m.begin, piece.begin + m.end, piece.at_start && m.begin == 0});
      prev = m.end;
    }
    if (prev < view.size()) {
      out->push_back(Piece{piece.begin + prev, piece.end, piece.at_start && prev == 0});
    }
    return absl::OkStatus();
  }
  uint32_t prev = 0;
  for (const Span& m : matches) {
    if (m.begin > prev) parts.push_back(Part{prev, m.begin, invert});
    parts.push_back(Part{m.begin, m.end, !invert});
    prev = m.end;
  }
  if (prev < view.size()) parts.push_back(Part{prev, static_cast<uint32_t>(view.size()), invert});
  ApplyBehavior(parts, behavior, &kept);
  for (const Span& s : kept) {
    if (s.end > s.begin) {
      out->push_back(
          Piece{piece.begin + s.begin, piece.begin + s.end, piece.at_start && s.begin == 0});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PreTokenizerStep> PreTokenizer::MakeSplit(std::string_view pattern, bool is_regex,
                                                         SplitBehavior behavior, bool invert) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kSplit;
  if (is_regex) {
    KILN_ASSIGN_OR_RETURN(step.regex, Regex::Compile(pattern));
  } else if (pattern.empty()) {
    // HF: an empty string pattern matches nothing.
    KILN_ASSIGN_OR_RETURN(step.regex, Regex::Compile("(*FAIL)"));
  } else {
    KILN_ASSIGN_OR_RETURN(step.regex, Regex::Literal(pattern));
  }
  step.behavior = behavior;
  step.invert = invert;
  return step;
}

absl::StatusOr<PreTokenizerStep> PreTokenizer::MakeDigits(bool individual_digits) {
  // Rust's char::is_numeric is \p{N}; "Contiguous" over single-character
  // matches is the same as isolating maximal runs.
  return MakeSplit(individual_digits ? "\\p{N}" : "\\p{N}+", true, SplitBehavior::kIsolated, false);
}

PreTokenizerStep PreTokenizer::MakeMetaspace(std::string replacement, PrependScheme scheme,
                                             bool split) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kMetaspace;
  step.replacement = std::move(replacement);
  step.prepend_scheme = scheme;
  step.split = split;
  return step;
}

absl::StatusOr<PreTokenizerStep> PreTokenizer::MakeByteLevel(bool add_prefix_space,
                                                             bool use_regex) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kByteLevel;
  step.add_prefix_space = add_prefix_space;
  if (use_regex) {
    KILN_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2SplitPattern));
  }
  return step;
}

bool PreTokenizer::byte_level() const {
  for (const PreTokenizerStep& s : steps_) {
    if (s.kind == PreTokenizerStep::Kind::kByteLevel) return true;
  }
  return false;
}

absl::Status PreTokenizer::Apply(PieceList* list) const {
  thread_local std::vector<Piece> next;
  for (const PreTokenizerStep& step : steps_) {
    next.clear();
    switch (step.kind) {
      case PreTokenizerStep::Kind::kSplit:
        for (const Piece& p : list->pieces) {
          KILN_RETURN_IF_ERROR(
              SplitPiece(list->text, p, *step.regex, step.behavior, step.invert, &next));
        }
        break;
      case PreTokenizerStep::Kind::kMetaspace: {
        // Spaces become the replacement, which is prepended per the scheme;
        // with split, every replacement starts a new piece.
        std::string text;
        text.reserve(list->text.size() + list->text.size() / 4 + 8);
        const std::string& rep = step.replacement;
        for (const Piece& p : list->pieces) {
          const std::string_view src = list->View(p);
          const uint32_t begin = static_cast<uint32_t>(text.size());
          const bool starts_with_rep = src.substr(0, 1) == " " || src.substr(0, rep.size()) == rep;
          const bool prepend =
              !starts_with_rep && (step.prepend_scheme == PrependScheme::kAlways ||
                                   (step.prepend_scheme == PrependScheme::kFirst && p.at_start));
          if (prepend) text += rep;
          for (char c : src) {
            if (c == ' ') {
              text += rep;
            } else {
              text.push_back(c);
            }
          }
          const uint32_t end = static_cast<uint32_t>(text.size());
          if (!step.split) {
            next.push_back(Piece{begin, end, p.at_start});
            continue;
          }
          uint32_t start = begin;
          for (uint32_t i = begin; i < end;) {
            if (i > start && std::string_view(text).substr(i, rep.size()) == rep) {
              next.push_back(Piece{start, i, p.at_start && start == begin});
              start = i;
            }
            i += std::string_view(text).substr(i, rep.size()) == rep ? rep.size() : 1;
          }
          if (end > start) next.push_back(Piece{start, end, p.at_start && start == begin});
        }
        list->text = std::move(text);
        break;
      }
      case PreTokenizerStep::Kind::kByteLevel: {
        std::vector<Piece> prefixed;
        if (step.add_prefix_space) {
          std::string text;
          text.reserve(list->text.size() + list->pieces.size());
          for (const Piece& p : list->pieces) {
            const std::string_view src = list->View(p);
            const uint32_t begin = static_cast<uint32_t>(text.size());
            if (src.empty() || src[0] != ' ') text.push_back(' ');
            text.append(src);
            prefixed.push_back(Piece{begin, static_cast<uint32_t>(text.size()), p.at_start});
          }
          list->text = std::move(text);
        } else {
          prefixed = list->pieces;
        }
        if (step.regex == nullptr) {
          next = std::move(prefixed);
          break;
        }
        for (const Piece& p : prefixed) {
          KILN_RETURN_IF_ERROR(
              SplitPiece(list->text, p, *step.regex, SplitBehavior::kIsolated, false, &next));
        }
        break;
      }
    }
    list->pieces.swap(next);
  }
  return absl::OkStatus();
}

}  // namespace kiln::tokenizer
