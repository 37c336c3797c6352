// Unicode data for canonical normalization (generated tables, sorted by
// code point; see tools/reference/gen_unicode_tables.py).
#ifndef KILN_RUNTIME_TOKENIZER_UNICODE_TABLES_H_
#define KILN_RUNTIME_TOKENIZER_UNICODE_TABLES_H_

#include <cstdint>

namespace kiln::tokenizer {

struct CombiningClass {
  uint32_t cp;
  uint8_t ccc;  // Non-zero; absent code points have class 0.
};
struct Decomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;  // 0 for a singleton decomposition.
};
struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};

extern const CombiningClass kCombiningClasses[];
extern const int kNumCombiningClasses;
extern const Decomposition kDecompositions[];
extern const int kNumDecompositions;
extern const Composition kCompositions[];
extern const int kNumCompositions;

}  // namespace kiln::tokenizer

#endif  // KILN_RUNTIME_TOKENIZER_UNICODE_TABLES_H_
