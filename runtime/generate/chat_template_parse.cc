// The chat template parser: tokens -> Node/Expr tree, following Jinja2's
// grammar (jinja2/parser.py) and precedence, loosest first:
//   x if c else y;  or;  and;  not;  == != < > <= >= in, not in (chained);
//   + -;  ~;  * // %;  **;  unary - +;  then postfix .a [i] (args), filters
//   | f(args) and tests `is [not] t`, which bind tighter than any operator:
//   `content | trim + '!'` is `(content | trim) + '!'`.
#include <algorithm>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln::chat_template_internal {
namespace {

using ExprPtr = std::unique_ptr<Expr>;
using Type = Token::Type;

constexpr std::string_view kUnsupportedTags[] = {
    "macro", "endmacro", "call", "endcall", "filter", "endfilter", "include", "import", "from",
    "extends", "block", "endblock", "with", "endwith", "autoescape", "endautoescape", "do", "endset"};

class Parser {
 public:
  Parser(std::string_view source, const std::vector<Token>& tokens) : src_(source), toks_(tokens) {}

  absl::StatusOr<std::vector<Node>> Run() {
    std::vector<Node> body;
    std::string end;
    KILN_RETURN_IF_ERROR(ParseBody(body, {}, "", 0, &end));
    return body;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return toks_[std::min(i_ + ahead, toks_.size() - 1)]; }
  const Token& Next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).type == Type::kOp && Peek(ahead).value == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Peek(ahead).type == Type::kName && Peek(ahead).value == name;
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Type::kText: return "text";
      case Type::kVarBegin: return "'{{'";
      case Type::kVarEnd: return "'}}'";
      case Type::kBlockBegin: return "'{%'";
      case Type::kBlockEnd: return "'%}'";
      case Type::kName: return absl::StrCat("name '", t.value, "'");
      case Type::kString: return "a string";
      case Type::kInt: return absl::StrCat("integer ", t.value);
      case Type::kOp: return absl::StrCat("'", t.value, "'");
      case Type::kEnd: return "end of template";
    }
    return "token";
  }

  absl::Status Fail(const Token& t, std::string_view message) const { return ErrorAt(src_, t.pos, message); }
  absl::Status Expected(std::string_view what) const {
    return Fail(Peek(), absl::StrCat("expected ", std::string(what), ", got ", Describe(Peek())));
  }
  absl::Status ExpectOp(std::string_view op) {
    if (!IsOp(op)) return Expected(absl::StrCat("'", std::string(op), "'"));
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().type != Type::kBlockEnd) return Expected("'%}'");
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().type != Type::kName) return Expected("a name");
    return Next().value;
  }

  // ---- statements ----

  // Parses nodes into `out` until a block tag named in `ends` (consumed up to
  // its name; the name is stored in *end) or the end of the template.
  absl::Status ParseBody(std::vector<Node>& out, std::initializer_list<std::string_view> ends,
                         std::string_view opener, size_t opener_pos, std::string* end) {
    while (true) {
      const Token& t = Peek();
      if (t.type == Type::kEnd) {
        if (ends.size() == 0) return absl::OkStatus();
        return ErrorAt(src_, opener_pos, absl::StrCat("'{% ", std::string(opener), " %}' is never closed: expected '{% ",
                                                      std::string(*ends.begin()), " %}' before the end of the template"));
      }
      if (t.type == Type::kText) {
        Node n(Node::Kind::kText, t.pos);
        n.text = Next().value;
        out.push_back(std::move(n));
        continue;
      }
      if (t.type == Type::kVarBegin) {
        Next();
        Node n(Node::Kind::kOutput, t.pos);
        KILN_ASSIGN_OR_RETURN(n.expr, ParseExpression());
        if (Peek().type != Type::kVarEnd) return Expected("'}}'");
        Next();
        out.push_back(std::move(n));
        continue;
      }
      if (t.type != Type::kBlockBegin) return Fail(t, absl::StrCat("unexpected ", Describe(t)));
      const Token& name = Peek(1);
      if (name.type != Type::kName) {
        return Fail(name, absl::StrCat("expected a tag name after '{%', got ", Describe(name)));
      }
      for (std::string_view e : ends) {
        if (name.value == e) {
          i_ += 2;
          *end = name.value;
          return absl::OkStatus();
        }
      }
      Next();
      KILN_RETURN_IF_ERROR(ParseStatement(out, ends, opener));
    }
  }

  absl::Status ParseStatement(std::vector<Node>& out, std::initializer_list<std::string_view> ends,
                              std::string_view opener) {
    const Token& name = Next();
    const std::string& tag = name.value;
    if (tag == "if") return ParseIf(out, name.pos);
    if (tag == "for") return ParseFor(out, name.pos);
    if (tag == "set") return ParseSet(out, name.pos);
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return Fail(name, absl::StrCat("'{% ", tag, " %}' outside a for loop"));
      KILN_RETURN_IF_ERROR(ExpectBlockEnd());
      Node n(tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, name.pos);
      out.push_back(std::move(n));
      return absl::OkStatus();
    }
    if (tag == "generation") {  // Transformers' assistant-mask marker: renders its body
      KILN_RETURN_IF_ERROR(ExpectBlockEnd());
      std::string end;
      KILN_RETURN_IF_ERROR(Nested(out, {"endgeneration"}, "generation", name.pos, &end));
      return ExpectBlockEnd();
    }
    for (std::string_view u : kUnsupportedTags) {
      if (tag == u) return Fail(name, absl::StrCat("'{% ", tag, " %}' is not supported by Kiln's chat templates"));
    }
    if (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else") {
      if (ends.size() == 0) return Fail(name, absl::StrCat("unexpected '{% ", tag, " %}' with no open block"));
      return Fail(name, absl::StrCat("unexpected '{% ", tag, " %}': the innermost open block is '{% ",
                                     std::string(opener), " %}', expected '{% ", std::string(*ends.begin()), " %}'"));
    }
    return Fail(name, absl::StrCat("unknown tag '", tag, "'"));
  }

  absl::Status Nested(std::vector<Node>& out, std::initializer_list<std::string_view> ends, std::string_view opener,
                      size_t opener_pos, std::string* end) {
    if (block_depth_ >= kMaxBlockDepth) {
      return ErrorAt(src_, opener_pos, absl::StrCat("blocks nested deeper than ", kMaxBlockDepth));
    }
    ++block_depth_;
    absl::Status status = ParseBody(out, ends, opener, opener_pos, end);
    --block_depth_;
    return status;
  }

  // After a body that ended at `end`: an optional `{% else %}` body up to
  // `{% end_tag %}`, then the closing `%}`; appends the finished node.
  absl::Status FinishBlock(std::vector<Node>& out, Node n, std::string end, std::string_view end_tag,
                           std::string_view opener) {
    if (end == "else") {
      KILN_RETURN_IF_ERROR(ExpectBlockEnd());
      KILN_RETURN_IF_ERROR(Nested(n.else_body, {end_tag}, opener, n.pos, &end));
    }
    KILN_RETURN_IF_ERROR(ExpectBlockEnd());
    out.push_back(std::move(n));
    return absl::OkStatus();
  }

  absl::Status ParseIf(std::vector<Node>& out, size_t pos) {
    Node n(Node::Kind::kIf, pos);
    std::string end = "elif";
    while (end == "elif") {
      KILN_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpression());
      KILN_RETURN_IF_ERROR(ExpectBlockEnd());
      n.conds.push_back(std::move(cond));
      n.bodies.emplace_back();
      KILN_RETURN_IF_ERROR(Nested(n.bodies.back(), {"endif", "elif", "else"}, "if", pos, &end));
    }
    return FinishBlock(out, std::move(n), end, "endif", "if");
  }

  absl::Status ParseFor(std::vector<Node>& out, size_t pos) {
    Node n(Node::Kind::kFor, pos);
    bool paren = IsOp("(");
    if (paren) Next();
    do {
      KILN_ASSIGN_OR_RETURN(std::string target, ExpectName());
      n.targets.push_back(std::move(target));
    } while (IsOp(",") && (Next(), true));
    if (paren) KILN_RETURN_IF_ERROR(ExpectOp(")"));
    if (!IsName("in")) return Expected("'in'");
    Next();
    KILN_ASSIGN_OR_RETURN(n.expr, ParseCondExpr(/*with_cond=*/false));
    if (IsName("if")) {
      Next();
      KILN_ASSIGN_OR_RETURN(n.filter, ParseExpression());
    }
    if (IsName("recursive")) return Fail(Peek(), "recursive for loops are not supported by Kiln's chat templates");
    KILN_RETURN_IF_ERROR(ExpectBlockEnd());
    n.bodies.emplace_back();
    std::string end;
    ++loop_depth_;
    const int64_t loop_uses_before = loop_name_uses_;
    absl::Status status = Nested(n.bodies.back(), {"endfor", "else"}, "for", pos, &end);
    --loop_depth_;
    KILN_RETURN_IF_ERROR(status);
    // Counts names inside nested loops too: an over-estimate only costs time.
    n.body_names_loop = loop_name_uses_ != loop_uses_before;
    return FinishBlock(out, std::move(n), end, "endfor", "for");
  }

  absl::Status ParseSet(std::vector<Node>& out, size_t pos) {
    Node n(Node::Kind::kSet, pos);
    KILN_ASSIGN_OR_RETURN(std::string target, ExpectName());
    n.targets.push_back(std::move(target));
    if (IsOp(".")) {
      Next();
      KILN_ASSIGN_OR_RETURN(std::string attr, ExpectName());
      n.kind = Node::Kind::kSetAttr;
      n.targets.push_back(std::move(attr));
    }
    if (IsOp(",")) return Fail(Peek(), "'{% set a, b = ... %}' is not supported by Kiln's chat templates");
    if (Peek().type == Type::kBlockEnd) {
      return Fail(Peek(), "block '{% set %}...{% endset %}' is not supported by Kiln's chat templates");
    }
    KILN_RETURN_IF_ERROR(ExpectOp("="));
    KILN_ASSIGN_OR_RETURN(n.expr, ParseExpression());
    KILN_RETURN_IF_ERROR(ExpectBlockEnd());
    out.push_back(std::move(n));
    return absl::OkStatus();
  }

  // ---- expressions ----

  // Guards parser recursion (the C++ stack) on hostile nesting.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) { ++p_->expr_depth_; }
    ~DepthGuard() { --p_->expr_depth_; }
    bool TooDeep() const { return p_->expr_depth_ > kMaxExprDepth; }
   private:
    Parser* p_;
  };
  absl::Status TooDeep() const {
    return Fail(Peek(), absl::StrCat("expression nested deeper than ", kMaxExprDepth));
  }

  // Builds a node whose depth is one more than its deepest child (so
  // evaluation recursion is bounded too, left-deep chains included).
  absl::StatusOr<ExprPtr> Make(Expr::Kind kind, size_t pos, std::vector<ExprPtr> args, std::string name = "") {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    e->name = std::move(name);
    e->args = std::move(args);
    return Finish(std::move(e));
  }
  absl::StatusOr<ExprPtr> Finish(ExprPtr e) {
    int depth = 0;
    for (const ExprPtr& a : e->args) depth = std::max(depth, a ? a->depth : 0);
    for (const auto& kw : e->kwargs) depth = std::max(depth, kw.second->depth);
    e->depth = depth + 1;
    if (e->depth > kMaxExprDepth) return ErrorAt(src_, e->pos, absl::StrCat("expression nested deeper than ", kMaxExprDepth));
    return e;
  }
  static std::vector<ExprPtr> Two(ExprPtr a, ExprPtr b) {
    std::vector<ExprPtr> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    return v;
  }

  absl::StatusOr<ExprPtr> ParseExpression() { return ParseCondExpr(true); }

  absl::StatusOr<ExprPtr> ParseCondExpr(bool with_cond) {
    DepthGuard guard(this);
    if (guard.TooDeep()) return TooDeep();
    KILN_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (with_cond && IsName("if")) {
      size_t pos = Next().pos;
      KILN_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr other;
      if (IsName("else")) {
        Next();
        KILN_ASSIGN_OR_RETURN(other, ParseCondExpr(true));
      }
      std::vector<ExprPtr> args = Two(std::move(cond), std::move(expr));
      args.push_back(std::move(other));
      KILN_ASSIGN_OR_RETURN(expr, Make(Expr::Kind::kCond, pos, std::move(args)));
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> ParseOr() { return ParseLogical("or", &Parser::ParseAnd); }
  absl::StatusOr<ExprPtr> ParseAnd() { return ParseLogical("and", &Parser::ParseNot); }

  // operand (`op` operand)*, left-associative, for `or` and `and`.
  absl::StatusOr<ExprPtr> ParseLogical(std::string_view op, absl::StatusOr<ExprPtr> (Parser::*operand)()) {
    KILN_ASSIGN_OR_RETURN(ExprPtr left, (this->*operand)());
    while (IsName(op)) {
      size_t pos = Next().pos;
      KILN_ASSIGN_OR_RETURN(ExprPtr right, (this->*operand)());
      KILN_ASSIGN_OR_RETURN(left, Make(Expr::Kind::kBinary, pos, Two(std::move(left), std::move(right)), std::string(op)));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (!IsName("not")) return ParseCompare();
    DepthGuard guard(this);
    if (guard.TooDeep()) return TooDeep();
    size_t pos = Next().pos;
    KILN_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    std::vector<ExprPtr> args;
    args.push_back(std::move(operand));
    return Make(Expr::Kind::kNot, pos, std::move(args));
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    size_t pos = Peek().pos;
    KILN_ASSIGN_OR_RETURN(ExprPtr first, ParseBinary(0));
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kCompare;
    e->pos = pos;
    e->args.push_back(std::move(first));
    while (true) {
      std::string op;
      if (Peek().type == Type::kOp && (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">="))) {
        op = Next().value;
      } else if (IsName("in")) {
        Next();
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        i_ += 2;
        op = "not in";
      } else {
        break;
      }
      KILN_ASSIGN_OR_RETURN(ExprPtr operand, ParseBinary(0));
      e->ops.push_back(op);
      e->args.push_back(std::move(operand));
    }
    if (e->ops.empty()) return std::move(e->args[0]);
    return Finish(std::move(e));
  }

  // Left-associative binary levels: + -, then ~, then * // %, then **.
  absl::StatusOr<ExprPtr> ParseBinary(int level) {
    static const std::vector<std::vector<std::string_view>> kLevels = {{"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};
    if (level == static_cast<int>(kLevels.size())) return ParseUnary(true);
    KILN_ASSIGN_OR_RETURN(ExprPtr left, ParseBinary(level + 1));
    while (true) {
      std::string op;
      for (std::string_view candidate : kLevels[level]) {
        if (IsOp(candidate)) op = candidate;
      }
      if (op.empty()) return left;
      size_t pos = Next().pos;
      if (op == "/") return ErrorAt(src_, pos, "'/' (float division) is not supported by Kiln's chat templates; use '//'");
      KILN_ASSIGN_OR_RETURN(ExprPtr right, ParseBinary(level + 1));
      KILN_ASSIGN_OR_RETURN(left, Make(Expr::Kind::kBinary, pos, Two(std::move(left), std::move(right)), op));
    }
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(this);
    if (guard.TooDeep()) return TooDeep();
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const Token& t = Next();
      KILN_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      std::vector<ExprPtr> args;
      args.push_back(std::move(operand));
      KILN_ASSIGN_OR_RETURN(node, Make(t.value == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, t.pos, std::move(args)));
    } else {
      KILN_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    KILN_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      KILN_ASSIGN_OR_RETURN(node, ParseFilters(std::move(node)));
    }
    return node;
  }

  absl::StatusOr<ExprPtr> Literal(Value v, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kLiteral;
    e->pos = pos;
    e->literal = std::move(v);
    return e;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    if (t.type == Type::kName) {
      Next();
      if (t.value == "true" || t.value == "True") return Literal(Value::Bool(true), t.pos);
      if (t.value == "false" || t.value == "False") return Literal(Value::Bool(false), t.pos);
      if (t.value == "none" || t.value == "None") return Literal(Value::None(), t.pos);
      if (t.value == "loop") ++loop_name_uses_;
      return Make(Expr::Kind::kName, t.pos, {}, t.value);
    }
    if (t.type == Type::kString) {
      std::string s;
      while (Peek().type == Type::kString) s += Next().value;  // adjacent literals concatenate
      return Literal(Value::String(std::move(s)), t.pos);
    }
    if (t.type == Type::kInt) {
      Next();
      return Literal(Value::Int(std::stoll(t.value)), t.pos);
    }
    if (IsOp("(")) {
      Next();
      std::vector<ExprPtr> items;
      bool tuple = IsOp(")");
      while (!IsOp(")")) {
        KILN_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
        items.push_back(std::move(item));
        if (!IsOp(",")) break;
        Next();
        tuple = true;
      }
      KILN_RETURN_IF_ERROR(ExpectOp(")"));
      if (!tuple) return std::move(items[0]);
      return Make(Expr::Kind::kList, t.pos, std::move(items), "tuple");
    }
    if (IsOp("[") || IsOp("{")) {
      bool dict = IsOp("{");
      Next();
      std::string_view close = dict ? "}" : "]";
      std::vector<ExprPtr> items;
      while (!IsOp(close)) {
        KILN_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
        items.push_back(std::move(item));
        if (dict) {
          KILN_RETURN_IF_ERROR(ExpectOp(":"));
          KILN_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
          items.push_back(std::move(value));
        }
        if (!IsOp(",")) break;
        Next();
      }
      KILN_RETURN_IF_ERROR(ExpectOp(close));
      return Make(dict ? Expr::Kind::kDict : Expr::Kind::kList, t.pos, std::move(items));
    }
    return Expected("an expression");
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".")) {
        size_t pos = Next().pos;
        if (Peek().type == Type::kInt) {
          KILN_ASSIGN_OR_RETURN(ExprPtr index, Literal(Value::Int(std::stoll(Peek().value)), Peek().pos));
          Next();
          KILN_ASSIGN_OR_RETURN(node, Make(Expr::Kind::kItem, pos, Two(std::move(node), std::move(index))));
          continue;
        }
        KILN_ASSIGN_OR_RETURN(std::string attr, ExpectName());
        std::vector<ExprPtr> args;
        args.push_back(std::move(node));
        KILN_ASSIGN_OR_RETURN(node, Make(Expr::Kind::kAttr, pos, std::move(args), attr));
      } else if (IsOp("[")) {
        KILN_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp("(")) {
        // The position is read first: the order in which call arguments are
        // evaluated is unspecified, and std::move(node) may empty it first.
        const size_t call_pos = node->pos;
        KILN_ASSIGN_OR_RETURN(node, ParseCall(std::move(node), Expr::Kind::kCall, "", call_pos));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node) {
    size_t pos = Next().pos;
    std::vector<ExprPtr> parts(1);
    bool slice = false;
    while (!IsOp("]")) {
      if (IsOp(":")) {
        Next();
        slice = true;
        parts.emplace_back();
        if (parts.size() > 3) return Fail(Peek(), "a slice takes at most start:stop:step");
        continue;
      }
      if (parts.back()) return Expected("']'");
      KILN_ASSIGN_OR_RETURN(parts.back(), ParseExpression());
    }
    Next();
    if (!slice) {
      if (!parts[0]) return Fail(toks_[i_ - 1], "empty subscript '[]'");
      return Make(Expr::Kind::kItem, pos, Two(std::move(node), std::move(parts[0])));
    }
    parts.resize(3);
    std::vector<ExprPtr> args;
    args.push_back(std::move(node));
    for (ExprPtr& p : parts) args.push_back(std::move(p));
    return Make(Expr::Kind::kSlice, pos, std::move(args));
  }

  // `(` positional and keyword arguments `)` applied to `node` as a call,
  // filter or test named `name`.
  absl::StatusOr<ExprPtr> ParseCall(ExprPtr node, Expr::Kind kind, std::string name, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    e->name = std::move(name);
    e->args.push_back(std::move(node));
    KILN_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (IsOp("*") || IsOp("**")) return Fail(Peek(), "'*args' and '**kwargs' are not supported by Kiln's chat templates");
      if (Peek().type == Type::kName && IsOp("=", 1)) {
        std::string key = Next().value;
        Next();
        KILN_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        e->kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!e->kwargs.empty()) return Fail(Peek(), "positional argument after a keyword argument");
        KILN_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        e->args.push_back(std::move(value));
      }
      if (!IsOp(",")) break;
      Next();
    }
    KILN_RETURN_IF_ERROR(ExpectOp(")"));
    return Finish(std::move(e));
  }

  absl::StatusOr<ExprPtr> ParseFilters(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        Next();
        const Token& t = Peek();
        KILN_ASSIGN_OR_RETURN(std::string name, ExpectName());
        if (!IsKnownFilter(name)) {
          return Fail(t, absl::StrCat("unknown filter '", name, "' (not a filter Kiln's chat templates support)"));
        }
        if (IsOp("(")) {
          KILN_ASSIGN_OR_RETURN(node, ParseCall(std::move(node), Expr::Kind::kFilter, name, t.pos));
        } else {
          std::vector<ExprPtr> args;
          args.push_back(std::move(node));
          KILN_ASSIGN_OR_RETURN(node, Make(Expr::Kind::kFilter, t.pos, std::move(args), name));
        }
      } else if (IsName("is")) {
        Next();
        bool negated = IsName("not");
        if (negated) Next();
        const Token& t = Peek();
        KILN_ASSIGN_OR_RETURN(std::string name, ExpectName());
        if (!IsKnownTest(name)) return Fail(t, absl::StrCat("unknown test '", name, "'"));
        if (IsOp("(")) {
          KILN_ASSIGN_OR_RETURN(node, ParseCall(std::move(node), Expr::Kind::kTest, name, t.pos));
        } else {
          std::vector<ExprPtr> args;
          args.push_back(std::move(node));
          const Token& a = Peek();
          bool has_arg = (a.type == Type::kName || a.type == Type::kString || a.type == Type::kInt || IsOp("[") ||
                          IsOp("{")) && !IsName("else") && !IsName("or") && !IsName("and");
          if (has_arg) {
            KILN_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
            KILN_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
            args.push_back(std::move(arg));
          }
          KILN_ASSIGN_OR_RETURN(node, Make(Expr::Kind::kTest, t.pos, std::move(args), name));
        }
        node->negated = negated;
      } else if (IsOp("(")) {
        // The position is read first: the order in which call arguments are
        // evaluated is unspecified, and std::move(node) may empty it first.
        const size_t call_pos = node->pos;
        KILN_ASSIGN_OR_RETURN(node, ParseCall(std::move(node), Expr::Kind::kCall, "", call_pos));
      } else {
        return node;
      }
    }
  }

  std::string_view src_;
  const std::vector<Token>& toks_;
  size_t i_ = 0;
  int expr_depth_ = 0;
  int block_depth_ = 0;
  int loop_depth_ = 0;
  int64_t loop_name_uses_ = 0;  // `loop` names parsed so far
};

}  // namespace

absl::StatusOr<std::vector<Node>> ParseTokens(std::string_view source, const std::vector<Token>& tokens) {
  return Parser(source, tokens).Run();
}

}  // namespace kiln::chat_template_internal
