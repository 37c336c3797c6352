// Internals of the chat template interpreter (chat_template.h): values, the
// token stream, the syntax tree and the limits that make hostile templates
// safe. Split over chat_template_{lex,parse,eval,value,builtins}.cc.
#ifndef KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_INTERNAL_H_
#define KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::chat_template_internal {

// Limits on untrusted templates.
inline constexpr int kMaxExprDepth = 128;           // expression nesting
inline constexpr int kMaxBlockDepth = 64;           // nested if/for blocks
inline constexpr size_t kMaxNameBytes = 256;        // an identifier
inline constexpr int kMaxValueDepth = 512;          // lists, dicts and namespaces in each other
inline constexpr size_t kMaxOutputBytes = 16 << 20;  // rendered text
inline constexpr size_t kMaxStringBytes = 16 << 20;  // any one string built
inline constexpr size_t kMaxListItems = 1 << 20;     // any one list built
inline constexpr size_t kMaxBuiltBytes = 256 << 20;  // all strings built, summed
// Steps (Budget) a render may take: kBaseSteps, plus kStepsPerMessage per
// message and one per byte of the variables. Real templates take 20-60
// steps a message, a few per 16 bytes of content and a few hundred besides;
// 20k steps run in about 4 ms (80 ms under ASan, which bounds how long a
// fuzzer's input can take).
inline constexpr int64_t kBaseSteps = 20000;
inline constexpr int64_t kStepsPerMessage = 2500;

// ---- Values: the Python objects a template sees ----
struct Value;
using ValueList = std::vector<Value>;
using ValueMap = std::vector<std::pair<std::string, Value>>;  // insertion order, like dict

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kString, kList, kMap, kNamespace, kFunction };
  Kind kind = Kind::kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  // kString: the text; kUndefined: why (Jinja's hint, e.g. "'x' is undefined");
  // kFunction: the global's name.
  std::shared_ptr<const std::string> str;
  std::shared_ptr<const ValueList> list;  // kList
  bool tuple = false;                     // kList: a tuple (only repr differs)
  std::shared_ptr<ValueMap> map;          // kMap (never mutated), kNamespace (mutable)

  static Value Undefined(std::string why);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value List(ValueList items);
  static Value Tuple(ValueList items);
  static Value Map(ValueMap items);
  static Value Namespace(ValueMap items);
  static Value Function(std::string name);

  bool is(Kind k) const { return kind == k; }
  const std::string& s() const { return *str; }

  // Destroys nested lists and maps one level at a time, not recursively:
  // a template can nest values (through namespaces) deeper than the stack.
  Value() = default;
  Value(const Value&) = default;
  Value(Value&&) = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) = default;
  ~Value();
};

// The work one render may do, in steps: one per node or expression
// evaluated and per loop iteration, and inside builtins one per value
// visited or created, per 16 dict keys compared and per 16 bytes scanned or
// copied. Counting inside builtins, not only per expression, is what bounds
// `==`, repr and `in` on big or deeply shared values and list copies in
// loops. Running out is sticky: functions that return no Status (Equals,
// Repr) stop early with a meaningless result, and the evaluator turns
// exhausted() into the error at its next step, before any output is kept.
class Budget {
 public:
  explicit Budget(int64_t step_limit) : step_limit_(step_limit) {}

  // Counts n more steps; false once the limit is passed.
  bool Spend(int64_t n) {
    if (n > step_limit_ - steps_) {
      steps_ = step_limit_ + 1;
      return false;
    }
    steps_ += n;
    return true;
  }
  bool SpendBytes(size_t bytes) { return Spend(1 + static_cast<int64_t>(bytes / 16)); }
  bool SpendKeys(size_t keys) { return Spend(1 + static_cast<int64_t>(keys / 16)); }
  // A walk of a value (repr, ==, <) at depth d: false, and the render
  // fails, past kMaxValueDepth, which keeps the walks' recursion off the
  // end of the stack. Values deeper than that can be built (a namespace's
  // depth changes after it is stored) but not walked.
  bool Nest(int depth) {
    if (depth > kMaxValueDepth) too_deep_ = true;
    return !too_deep_ && !exhausted();
  }
  bool exhausted() const { return too_deep_ || steps_ > step_limit_; }
  absl::Status Exhausted() const;  // the error once exhausted()

  // Records a new string of n bytes; errors past the limits.
  absl::Status Build(size_t n);

 private:
  int64_t steps_ = 0;
  int64_t step_limit_;
  bool too_deep_ = false;
  size_t built_bytes_ = 0;
};

// Python semantics of the values (chat_template_value.cc). Each charges
// `budget` for its work and stops early once it runs out.
bool Truthy(const Value& v);
std::string TypeName(const Value& v);                         // "str", "dict", "NoneType", ...
std::string ToStr(const Value& v, Budget& budget);            // str(v); undefined -> ""
std::string Repr(const Value& v, Budget& budget);             // repr(v)
bool Equals(const Value& a, const Value& b, Budget& budget);  // a == b
absl::StatusOr<bool> Less(const Value& a, const Value& b, Budget& budget);  // a < b or TypeError
const Value* MapFind(const ValueMap& m, std::string_view key, Budget& budget);
size_t KeyBytes(const ValueMap& m);  // the keys' bytes, for charging a copy
// Whether `map` is reachable from v through lists, dicts and namespaces.
// Namespaces are the only mutable values, so storing v in namespace `map`
// makes a reference cycle (which shared_ptr would leak) exactly when this
// holds. True also when the budget runs out, so that nothing is stored.
bool Reaches(const Value& v, const ValueMap* map, Budget& budget);
// Finds a needle in text in linear time (Knuth-Morris-Pratt): a needle such
// as 'a'*4000 + 'b' makes std::string::find quadratic.
class TextSearch {
 public:
  // Charges the needle's bytes: the table costs as much.
  TextSearch(std::string_view needle, Budget& budget);
  // The first match at or after `from`, or npos (also once the budget has
  // run out); charges the bytes scanned.
  size_t Find(std::string_view text, size_t from, Budget& budget) const;

 private:
  std::string needle_;
  std::vector<size_t> border_;  // border_[i]: longest proper border of needle_[0, i]
};
// Whitespace as Python's str.isspace(): byte length of the character at i
// (0 when it is not whitespace).
size_t PySpaceAt(std::string_view s, size_t i);
std::string_view PyStrip(std::string_view s, bool left, bool right);
// UTF-8 code point boundaries of s (size = code points + 1).
std::vector<size_t> CodePointStarts(std::string_view s);
// json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none).
absl::StatusOr<std::string> ToJson(const Value& v, int indent, Budget& budget);

// ---- Tokens ----
struct Token {
  enum class Type { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kOp, kEnd };
  Type type;
  std::string value;  // text, name, decoded string, digits or operator
  size_t pos;         // byte offset in the normalised source
};

// "line:col" (1-based, columns in code points) of byte `pos` in `source`.
std::string Location(std::string_view source, size_t pos);
// Error "chat template L:C: message".
absl::Status ErrorAt(std::string_view source, size_t pos, std::string_view message);

// Splits the (newline-normalised) source into tokens with trim_blocks and
// lstrip_blocks applied to the text; comments are dropped.
absl::StatusOr<std::vector<Token>> Lex(std::string_view source);

// ---- Syntax tree ----
struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // args: items (name "tuple" for tuples)
    kDict,     // args: key0, value0, key1, value1, ...
    kAttr,     // args[0].name
    kItem,     // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null = omitted)
    kCall,     // args[0](args[1:], kwargs)
    kFilter,   // args[0] | name(args[1:], kwargs)
    kTest,     // args[0] is [not] name(args[1:])
    kNot, kNeg, kPos,
    kBinary,   // args[0] op args[1]: + - * // % ** ~ and or
    kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ...
    kCond,     // args[1] if args[0] else args[2] (args[2] may be null)
  };
  Kind kind;
  size_t pos = 0;
  int depth = 1;  // height of this subtree; bounded by kMaxExprDepth
  Value literal;
  std::string name;              // name, attribute, filter, test or operator
  std::vector<std::string> ops;  // kCompare
  bool negated = false;          // kTest: `is not`
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
};

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetAttr, kBreak, kContinue };
  Node(Kind k, size_t p) : kind(k), pos(p) {}
  Kind kind;
  size_t pos;
  std::string text;                  // kText
  std::unique_ptr<Expr> expr;        // kOutput, kSet, kSetAttr value; kFor iterable
  std::vector<std::string> targets;  // kFor loop variables; kSet name; kSetAttr {ns, attr}
  std::unique_ptr<Expr> filter;      // kFor `if` filter (may be null)
  // kFor: the body names `loop`. As in Jinja's compiler, the loop object is
  // built only then; it is the costliest part of an iteration.
  bool body_names_loop = false;
  std::vector<std::unique_ptr<Expr>> conds;  // kIf: one per branch
  std::vector<std::vector<Node>> bodies;     // kIf: one per cond; kFor: {body}
  std::vector<Node> else_body;               // kIf else; kFor else (no items)
};

struct Program {
  std::string source;  // normalised
  std::vector<Node> body;
};

absl::StatusOr<std::vector<Node>> ParseTokens(std::string_view source, const std::vector<Token>& tokens);

// Known filters and tests (checked at parse time, applied in builtins.cc).
bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;
// Apply filter/test/method/global `name`. Errors are plain messages; the
// evaluator adds the location.
absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& v, const Args& args, const Kwargs& kwargs,
                                  Budget& budget);
absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& v, const Args& args,
                               Budget& budget);
// Calls method `name` of v; *found is false when v has no such method.
absl::StatusOr<Value> CallMethod(const Value& v, std::string_view name, const Args& args, const Kwargs& kwargs,
                                 Budget& budget, bool* found);
absl::StatusOr<Value> CallGlobal(std::string_view name, const Args& args, const Kwargs& kwargs, Budget& budget);

// Renders with at most step_limit steps (Budget).
absl::StatusOr<std::string> RenderProgram(const Program& program, ValueMap globals,
                                          int64_t step_limit);

}  // namespace kiln::chat_template_internal

#endif  // KILN_RUNTIME_GENERATE_CHAT_TEMPLATE_INTERNAL_H_
