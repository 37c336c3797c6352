// Text form: printed text parses back to the same text, and malformed text
// gives errors with a position.
#include "ir/text.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace kiln {
namespace {

// Uses every op at least once, with every attribute kind.
constexpr char kEveryOp[] = R"(module @every_op {
  weight "embed" : f32[16,8]
  weight "w" : f32[12,8]
  weight "b" : f32[12]
  weight "norm \22q\22" : f32[8]
  func @forward(%ids: i32[batch,seq], %pos: i32[batch,seq], %k: f32[batch,cache,1,4], %v: f32[batch,cache,1,4]) {
    %embed = constant() {weight="embed"} : f32[16,8]
    %x = embedding(%embed, %ids) {index_offset=2} : f32[batch,seq,8]
    %n = constant() {weight="norm \22q\22"} : f32[8]
    %h = rms_norm(%x, %n) {eps=1e-06, weight_offset=1} : f32[batch,seq,8]
    %ln = layer_norm(%h, %n, %n) {eps=1e-05} : f32[batch,seq,8]
    %w = constant() {weight="w"} : f32[12,8]
    %b = constant() {weight="b"} : f32[12]
    %qkv = matmul_nt(%ln, %w, %b) : f32[batch,seq,12]
    %q = slice(%qkv) {axis=2, start=0, end=8} : f32[batch,seq,8]
    %kv = slice(%qkv) {axis=-1, start=8, end=12} : f32[batch,seq,4]
    %q4 = reshape(%q) : f32[batch,seq,2,4]
    %k4 = reshape(%kv) : f32[batch,seq,1,4]
    %qr = rope(%q4, %pos) {theta=500000, scaling="llama3", factor=8, low_freq_factor=1, high_freq_factor=4, original_max_position=8192} : f32[batch,seq,2,4]
    %kr = rope(%k4, %pos) {theta=10000, scaling="linear", factor=2.5} : f32[batch,seq,1,4]
    %kc = kv_cache_write(%k, %kr, %pos) : f32[batch,cache,1,4]
    %vc = kv_cache_write(%v, %k4, %pos) : f32[batch,cache,1,4]
    %att = attention(%qr, %kc, %vc, %pos) {scale=0.5, window=4096} : f32[batch,seq,2,4]
    %o = reshape(%att) : f32[batch,seq,8]
    %t = transpose(%att) {perm=[0,2,1,3]} : f32[batch,2,seq,4]
    %tt = transpose(%t) {perm=[0,1,3,2]} : f32[batch,2,4,seq]
    %mm = matmul(%t, %tt) : f32[batch,2,seq,seq]
    %sm = softmax(%mm) {axis=-1} : f32[batch,2,seq,seq]
    %cat = concat(%o, %o, %h) {axis=2} : f32[batch,seq,24]
    %a = add(%o, %h) : f32[batch,seq,8]
    %m = mul(%a, %n) : f32[batch,seq,8]
    %s = scale(%m) {factor=0.125} : f32[batch,seq,8]
    %g1 = silu(%s) : f32[batch,seq,8]
    %g2 = gelu_tanh(%g1) : f32[batch,seq,8]
    %g3 = gelu_erf(%g2) : f32[batch,seq,8]
    %g4 = relu(%g3) {fusion="act", offset=128} : f32[batch,seq,8]
    %half = cast(%g4) : bf16[batch,seq,8]
    %top = argmax(%g4) : i32[batch,seq]
    return %top, %half, %sm, %cat, %kc, %vc
  }
  func @second(%x: f16[3]) {
    %y = relu(%x) : f16[3]
    return %y
  }
}
)";

TEST(TextTest, PrintedTextParsesBackByteIdentically) {
  absl::StatusOr<Module> module = ParseModule(kEveryOp);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_EQ(PrintModule(*module), kEveryOp);
}

TEST(TextTest, CommentsAndSpacingAreNotSignificant) {
  std::string text =
      "// leading comment\nmodule   @m{func @f(%x:f32[2]){%y=relu(%x):f32[2] // tail\n"
      "return %y}}";
  absl::StatusOr<Module> module = ParseModule(text);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_EQ(PrintModule(*module),
            "module @m {\n  func @f(%x: f32[2]) {\n    %y = relu(%x) : f32[2]\n"
            "    return %y\n  }\n}\n");
}

TEST(TextTest, EveryOpIsCovered) {
  absl::StatusOr<Module> module = ParseModule(kEveryOp);
  ASSERT_TRUE(module.ok());
  std::set<Op> seen;
  for (const Function& f : module->functions) {
    for (const Node& n : f.nodes) seen.insert(n.op);
  }
  EXPECT_EQ(seen.size(), AllOps().size());
}

struct BadText {
  const char* text;
  const char* error;
};

class TextErrorTest : public testing::TestWithParam<BadText> {};

TEST_P(TextErrorTest, GivesPositionedOrNamedError) {
  absl::StatusOr<Module> module = ParseModule(GetParam().text);
  ASSERT_FALSE(module.ok());
  EXPECT_NE(std::string(module.status().message()).find(GetParam().error), std::string::npos)
      << module.status();
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, TextErrorTest,
    testing::Values(
        BadText{"", "line 1, column 1: expected 'module'"},
        BadText{"module @m {\n  bogus\n}", "line 2, column 3: expected 'weight', 'func' or '}'"},
        BadText{"module @m { func @f(%x: f33[2]) { return %x } }", "expected a dtype"},
        BadText{"module @m { func @f(%x: f32[2]) { %y = frob(%x) : f32[2] return %y } }",
                "expected an op name"},
        BadText{"module @m { func @f(%x: f32[2]) { %y = relu(%z) : f32[2] return %y } }",
                "expected a defined value"},
        BadText{"module @m { func @f(%x: f32[2]) { %x = relu(%x) : f32[2] return %x } }",
                "%x is defined twice"},
        BadText{"module @m { weight \"a\\zz\" : f32[1] }", "two hex digits"},
        BadText{"module @m { func @f(%x: f32[2]) { %y = scale(%x) {factor=x} : f32[2] "
                "return %y } }",
                "expected a number"},
        BadText{"module @m { func @f(%x: f32[2]) { %y = scale(%x) {bogus=1} : f32[2] "
                "return %y } }",
                "expected an attribute of scale"},
        BadText{"module @m { } trailing", "expected the end of the text"},
        BadText{"module @m { weight \"open : f32[1] }", "unterminated string"}));

}  // namespace
}  // namespace kiln
