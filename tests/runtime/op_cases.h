// The op table of reference_ops_test.cc: named cases, each a one-op module
// with fresh random inputs at odd sizes and its float64 expectation
// (op_reference_f64.h), run once per dtype it lists.
//
// Contract: a case's prepare draws only from the Rng it is given, so a seed
// replays it; it returns a Prepared whose executor status reports any
// failure to build. AllCases() covers every op of ir/op.h but parameter and
// constant (checked by ReferenceOpTable.CoversEveryOp). The few builders
// declared here are also used by reference_errors_test.cc, which corrupts
// their inputs.
#ifndef KILN_TESTS_RUNTIME_OP_CASES_H_
#define KILN_TESTS_RUNTIME_OP_CASES_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/runtime/op_test_support.h"

namespace kiln::op_test {

// One row of the table: a named case run once per dtype.
struct OpCase {
  std::string name;  // unique; with the dtype, the test's name
  std::string op;    // the row of the summary table
  std::vector<DType> dtypes;
  bool exact;
  std::function<Prepared(DType, Rng&)> prepare;
};

std::vector<OpCase> AllCases();

// A case with one of its dtypes: one parameter of the table test.
struct TableEntry {
  OpCase op_case;
  DType dtype;
};

std::vector<TableEntry> Table();
void PrintTo(const TableEntry& e, std::ostream* os);

// Embedding of ids[3, 5] (the one input: dtype `id_dtype`, symbolic
// [batch, seq]) into a weight table of `dtype`[97, 769] with index_offset
// `offset`; the ids cover both ends of the valid range [0, 97 - offset).
Prepared EmbeddingCase(DType dtype, Rng& rng, DType id_dtype, int64_t offset);

// Attention against a cache of 83 slots, every slot filled (slots a query
// must not see hold random values too, so masking errors show).
struct AttentionShape {
  int64_t batch, seq, heads, kv_heads, head_dim, window, first_position;
};

// Inputs q, k, v, pos (in that order); pos is i32[batch, seq].
Prepared AttentionCase(DType dtype, Rng& rng, AttentionShape a);

// kv_cache_write of new[2, seq, 2, head_dim] into cache[2, 83, 2, head_dim];
// inputs cache, new, pos (in that order), pos i64[2, seq] distinct per row.
Prepared KvCacheWriteCase(DType dtype, Rng& rng, int64_t seq, int64_t head_dim);

}  // namespace kiln::op_test

#endif  // KILN_TESTS_RUNTIME_OP_CASES_H_
