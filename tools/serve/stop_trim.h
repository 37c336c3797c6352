// OpenAI's stop sequences end the text BEFORE them; Kiln's generate loop
// (as Transformers') keeps the stop string in its text. This trims it, also
// while streaming.
#ifndef KILN_TOOLS_SERVE_STOP_TRIM_H_
#define KILN_TOOLS_SERVE_STOP_TRIM_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// Fed the generated text piece by piece, returns what may be sent now: all
// of it except a tail that could still grow into a stop string, and nothing
// from a stop string on. Stop strings and pieces are UTF-8, so every cut
// falls between characters (a stop string begins with a character's first
// byte).
class StopTrim {
 public:
  explicit StopTrim(std::vector<std::string> stops) : stops_(std::move(stops)) {
    stops_.erase(std::remove(stops_.begin(), stops_.end(), ""), stops_.end());
  }

  // Appends `piece`; returns the text that became safe to send.
  std::string Add(std::string_view piece) {
    text_.append(piece);
    return Take(SafeEnd());
  }

  // The generation ended: the rest of the text, cut at the first stop
  // string.
  std::string Finish() { return Take(StopPosition()); }

  // Everything sent so far (after Finish: the whole trimmed text).
  std::string_view sent() const { return std::string_view(text_).substr(0, sent_); }

 private:
  // Where the earliest stop string starts; the text's end when none does.
  size_t StopPosition() const {
    size_t end = text_.size();
    for (const std::string& s : stops_) end = std::min(end, text_.find(s));
    return end;
  }

  // The stop position, or before the longest tail that is a proper prefix
  // of a stop string.
  size_t SafeEnd() const {
    const size_t stop = StopPosition();
    if (stop < text_.size()) return stop;
    size_t held = 0;
    for (const std::string& s : stops_) {
      for (size_t n = std::min(s.size() - 1, text_.size()); n > held; --n) {
        if (std::string_view(text_).substr(text_.size() - n) == std::string_view(s).substr(0, n)) {
          held = n;
          break;
        }
      }
    }
    return text_.size() - held;
  }

  std::string Take(size_t end) {
    if (end <= sent_) return "";
    std::string out = text_.substr(sent_, end - sent_);
    sent_ = end;
    return out;
  }

  std::vector<std::string> stops_;
  std::string text_;
  size_t sent_ = 0;
};

}  // namespace kiln

#endif  // KILN_TOOLS_SERVE_STOP_TRIM_H_
