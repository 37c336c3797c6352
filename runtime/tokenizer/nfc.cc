#include "runtime/tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/tokenizer/unicode_tables.h"
#include "runtime/tokenizer/utf8.h"

namespace kiln::tokenizer {
namespace {

// Hangul syllables decompose and compose arithmetically (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

struct Tables {
  absl::flat_hash_map<char32_t, uint8_t> ccc;
  absl::flat_hash_map<char32_t, std::pair<char32_t, char32_t>> decomp;
  absl::flat_hash_map<uint64_t, char32_t> compose;
  Tables() {
    for (int i = 0; i < kNumCombiningClasses; ++i) {
      ccc[kCombiningClasses[i].cp] = kCombiningClasses[i].ccc;
    }
    for (int i = 0; i < kNumDecompositions; ++i) {
      const Decomposition& d = kDecompositions[i];
      decomp[d.cp] = {d.first, d.second};
    }
    for (int i = 0; i < kNumCompositions; ++i) {
      const Composition& c = kCompositions[i];
      compose[(static_cast<uint64_t>(c.first) << 32) | c.second] = c.composite;
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

uint8_t Ccc(const Tables& t, char32_t cp) {
  auto it = t.ccc.find(cp);
  return it == t.ccc.end() ? 0 : it->second;
}

void Decompose(const Tables& t, char32_t cp, std::vector<char32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const int s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  auto it = t.decomp.find(cp);
  if (it == t.decomp.end()) {
    out->push_back(cp);
    return;
  }
  Decompose(t, it->second.first, out);
  if (it->second.second != 0) Decompose(t, it->second.second, out);
}

// The primary composite of (a, b), or 0.
char32_t Compose(const Tables& t, char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  auto it = t.compose.find((static_cast<uint64_t>(a) << 32) | b);
  return it == t.compose.end() ? 0 : it->second;
}

}  // namespace

std::string NfcNormalize(std::string_view text) {
  bool simple = true;
  for (unsigned char c : text) {
    if (c >= 0xCC) {  // Lead bytes of U+0300 and above.
      simple = false;
      break;
    }
  }
  if (simple) return std::string(text);
  const Tables& t = GetTables();
  // 1. Full canonical decomposition.
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    i += Utf8Decode(text.substr(i), &cp);
    Decompose(t, cp, &cps);
  }
  // 2. Canonical ordering: stable sort of each run of non-starters.
  std::vector<uint8_t> cls(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) cls[i] = Ccc(t, cps[i]);
  for (size_t i = 0; i < cps.size();) {
    if (cls[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && cls[j] != 0) ++j;
    std::vector<std::pair<uint8_t, char32_t>> run;
    for (size_t k = i; k < j; ++k) run.emplace_back(cls[k], cps[k]);
    std::stable_sort(run.begin(), run.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t k = i; k < j; ++k) {
      cls[k] = run[k - i].first;
      cps[k] = run[k - i].second;
    }
    i = j;
  }
  // 3. Canonical composition: a character combines with the last starter
  // unless a character in between blocks it (same or higher class, or a
  // starter).
  std::vector<char32_t> out;
  std::vector<uint8_t> out_cls;
  out.reserve(cps.size());
  int64_t starter = -1;
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t cp = cps[i];
    const uint8_t c = cls[i];
    if (starter >= 0) {
      const uint8_t last = out.size() - 1 == static_cast<size_t>(starter) ? 0 : out_cls.back();
      const bool blocked =
          static_cast<size_t>(starter) != out.size() - 1 && (last == 0 || last >= c);
      if (!blocked) {
        const char32_t composite = Compose(t, out[starter], cp);
        if (composite != 0) {
          out[starter] = composite;
          continue;
        }
      }
    }
    out.push_back(cp);
    out_cls.push_back(c);
    if (c == 0) starter = static_cast<int64_t>(out.size()) - 1;
  }
  std::string result;
  result.reserve(text.size());
  for (char32_t cp : out) Utf8Append(cp, &result);
  return result;
}

}  // namespace kiln::tokenizer
