// The opcode loop. Every length is checked against the remaining input before anything is
// allocated; every container operation checks its target's type (SETITEM only on dicts...).
#include "torch/unpickler.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <unordered_map>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "torch/pickle_opcodes.hpp"
#include "torch/reduce.hpp"
#include "torch/text.hpp"

namespace safetensors::torch::detail {

std::string_view kind_name(const node& n) {
  switch (n.kind) {
    case node_kind::none:
      return "None";
    case node_kind::boolean:
      return "bool";
    case node_kind::integer:
    case node_kind::bigint:
      return "int";
    case node_kind::floating:
      return "float";
    case node_kind::str:
      return "str";
    case node_kind::bytes:
      return "bytes";
    case node_kind::tuple:
      return "tuple";
    case node_kind::list:
      return "list";
    case node_kind::dict:
      return "dict";
    case node_kind::set:
      return "set";
    case node_kind::global:
      return "global";
    case node_kind::storage:
      return "storage";
    case node_kind::tensor:
    case node_kind::bad_tensor:
      return "tensor";
    case node_kind::opaque:
      return "object";
  }
  return "object";
}

namespace {

class machine final : public vm_access {
 public:
  machine(std::span<const std::byte> data, std::size_t start, const unpickle_options& o,
          pickle_trace* t)
      : data_(data), pos_(start), opts_(o), trace_(t) {}

  result<pickle_graph> run() {
    for (std::uint64_t count = 0;; ++count) {
      if (count >= opts_.limits.max_opcodes)
        return limit(fmt::format("more than {} opcodes", opts_.limits.max_opcodes));
      op_pos_ = pos_;
      const auto op = ST_TRY(byte());
      if (static_cast<opcode>(op) == opcode::STOP) return finish();
      ST_TRY(step(op));
    }
  }

  // vm_access (used by reduce.cpp)
  pickle_graph& graph() override { return g_; }
  const unpickle_options& options() override { return opts_; }
  tl::unexpected<error> bad(std::string_view msg) override {
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: {} (pickle byte {})", opts_.source, msg, op_pos_));
  }
  result<std::uint32_t> add(node n) override {
    if (g_.nodes.size() >= opts_.limits.max_nodes)
      return limit(fmt::format("more than {} pickle values", opts_.limits.max_nodes));
    g_.nodes.push_back(std::move(n));
    return static_cast<std::uint32_t>(g_.nodes.size() - 1);
  }
  void note_pid(std::string_view type) override {
    if (trace_) trace_->persistent_ids.emplace(type);
  }

 private:
  tl::unexpected<error> limit(std::string_view msg) {
    return fail(errc::limit_exceeded, fmt::format("{}: unpickler limit: {} (pickle byte {})",
                                                  opts_.source, msg, op_pos_));
  }

  // ---- input -------------------------------------------------------------------------------
  std::size_t remaining() const { return data_.size() - pos_; }
  result<std::uint8_t> byte() {
    if (remaining() < 1) return truncated();
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  tl::unexpected<error> truncated() {
    return fail(
        errc::invalid_checkpoint,
        fmt::format("{}: truncated pickle (no STOP before byte {})", opts_.source, data_.size()));
  }
  result<std::uint64_t> le(std::size_t n) {
    if (remaining() < n) return truncated();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }
  result<std::string_view> take(std::uint64_t n, std::string_view what) {
    if (n > remaining())
      return bad(fmt::format("{} length {} exceeds the {} bytes left", what, n, remaining()));
    if (n > opts_.limits.max_string_bytes) return limit(fmt::format("{} of {} bytes", what, n));
    std::string_view s(reinterpret_cast<const char*>(data_.data()) + pos_,
                       static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  result<std::string_view> line() {
    std::size_t limit_len = std::min<std::size_t>(remaining(), 4096);
    const char* base = reinterpret_cast<const char*>(data_.data()) + pos_;
    const void* nl = std::memchr(base, '\n', limit_len);
    if (!nl) return bad("GLOBAL name without newline (or longer than 4096 bytes)");
    std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    pos_ += len + 1;
    return std::string_view(base, len);
  }

  // ---- stack -------------------------------------------------------------------------------
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  result<void> push(std::uint32_t v) {
    if (stack_.size() >= opts_.limits.max_stack)
      return limit(fmt::format("stack deeper than {}", opts_.limits.max_stack));
    stack_.push_back(v);
    return {};
  }
  result<void> push_node(node n) { return push(ST_TRY(add(std::move(n)))); }
  result<std::uint32_t> pop() {
    if (stack_.size() <= floor()) return bad("stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  result<std::uint32_t> peek() {
    if (stack_.size() <= floor()) return bad("stack underflow");
    return stack_.back();
  }
  result<std::vector<std::uint32_t>> pop_mark() {
    if (marks_.empty()) return bad("no MARK to pop to");
    std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<std::uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  result<void> count_items(std::size_t n) {
    items_ += n;
    if (items_ > opts_.limits.max_container_items)
      return limit(
          fmt::format("more than {} container elements", opts_.limits.max_container_items));
    return {};
  }

  // ---- opcodes -----------------------------------------------------------------------------
  result<void> step(std::uint8_t op);
  result<void> op_int(std::size_t width, bool is_signed);
  result<void> op_long(std::size_t len_width);
  result<void> op_text(std::size_t len_width, node_kind kind, opcode op);
  result<void> op_tuple(std::size_t n);
  result<void> op_collection(node_kind kind);
  result<void> op_append(bool many);
  result<void> op_setitem(bool many);
  result<void> op_additems();
  result<void> op_global(std::string module, std::string name);
  result<void> op_stack_global();
  result<void> op_reduce(bool newobj);
  result<void> op_build();
  result<void> op_persid();
  result<void> op_get(std::uint64_t index);
  result<void> op_put(std::uint64_t index);
  result<void> refused(std::uint8_t op);
  result<pickle_graph> finish();

  std::span<const std::byte> data_;
  std::size_t pos_;
  std::size_t op_pos_ = 0;
  const unpickle_options& opts_;
  pickle_trace* trace_;
  pickle_graph g_;
  std::vector<std::uint32_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, std::uint32_t> memo_;
  std::uint64_t items_ = 0;
};

result<void> machine::step(std::uint8_t op) {
  switch (static_cast<opcode>(op)) {
    case opcode::PROTO: {
      const auto v = ST_TRY(byte());
      if (v > 5) return bad(fmt::format("unsupported pickle protocol {}", v));
      return {};
    }
    case opcode::FRAME: {  // a length hint; frames are not needed to read the stream
      const auto n = ST_TRY(le(8));
      if (n > remaining())
        return bad(fmt::format("FRAME length {} exceeds the {} bytes left", n, remaining()));
      return {};
    }
    case opcode::MARK:
      if (marks_.size() >= opts_.limits.max_marks)
        return limit(fmt::format("more than {} nested MARKs", opts_.limits.max_marks));
      marks_.push_back(stack_.size());
      return {};
    case opcode::POP:
      ST_TRY(pop());
      return {};
    case opcode::POP_MARK:
      ST_TRY(pop_mark());
      return {};
    case opcode::NONE:
      return push_node({});
    case opcode::NEWTRUE:
    case opcode::NEWFALSE: {
      node n;
      n.kind = node_kind::boolean;
      n.integer = static_cast<opcode>(op) == opcode::NEWTRUE;
      return push_node(std::move(n));
    }
    case opcode::BININT:
      return op_int(4, true);
    case opcode::BININT1:
      return op_int(1, false);
    case opcode::BININT2:
      return op_int(2, false);
    case opcode::LONG1:
      return op_long(1);
    case opcode::LONG4:
      return op_long(4);
    case opcode::BINFLOAT: {
      const auto v = ST_TRY(le(8));
      node n;
      n.kind = node_kind::floating;
      n.floating = std::bit_cast<double>(__builtin_bswap64(v));
      return push_node(std::move(n));
    }
    case opcode::BINUNICODE:
      return op_text(4, node_kind::str, opcode::BINUNICODE);
    case opcode::SHORT_BINUNICODE:
      return op_text(1, node_kind::str, opcode::SHORT_BINUNICODE);
    case opcode::BINUNICODE8:
      return op_text(8, node_kind::str, opcode::BINUNICODE8);
    case opcode::SHORT_BINSTRING:
      return op_text(1, node_kind::str, opcode::SHORT_BINSTRING);
    case opcode::BINSTRING:
      return op_text(4, node_kind::str, opcode::BINSTRING);
    case opcode::SHORT_BINBYTES:
      return op_text(1, node_kind::bytes, opcode::SHORT_BINBYTES);
    case opcode::BINBYTES:
      return op_text(4, node_kind::bytes, opcode::BINBYTES);
    case opcode::BINBYTES8:
      return op_text(8, node_kind::bytes, opcode::BINBYTES8);
    case opcode::EMPTY_TUPLE: {
      node n;
      n.kind = node_kind::tuple;
      return push_node(std::move(n));
    }
    case opcode::TUPLE:
      return op_tuple(std::size_t(-1));
    case opcode::TUPLE1:
      return op_tuple(1);
    case opcode::TUPLE2:
      return op_tuple(2);
    case opcode::TUPLE3:
      return op_tuple(3);
    case opcode::EMPTY_LIST: {
      node n;
      n.kind = node_kind::list;
      return push_node(std::move(n));
    }
    case opcode::EMPTY_DICT: {
      node n;
      n.kind = node_kind::dict;
      return push_node(std::move(n));
    }
    case opcode::EMPTY_SET: {
      node n;
      n.kind = node_kind::set;
      return push_node(std::move(n));
    }
    case opcode::LIST:
      return op_collection(node_kind::list);
    case opcode::DICT:
      return op_collection(node_kind::dict);
    case opcode::APPEND:
      return op_append(false);
    case opcode::APPENDS:
      return op_append(true);
    case opcode::SETITEM:
      return op_setitem(false);
    case opcode::SETITEMS:
      return op_setitem(true);
    case opcode::ADDITEMS:
      return op_additems();
    case opcode::GLOBAL: {
      const auto m = ST_TRY(line());
      const auto n = ST_TRY(line());
      return op_global(std::string(m), std::string(n));
    }
    case opcode::STACK_GLOBAL:
      return op_stack_global();
    case opcode::REDUCE:
      return op_reduce(false);
    case opcode::NEWOBJ:
      return op_reduce(true);
    case opcode::BUILD:
      return op_build();
    case opcode::BINPERSID:
      return op_persid();
    case opcode::BINGET:
      return op_get(ST_TRY(le(1)));
    case opcode::LONG_BINGET:
      return op_get(ST_TRY(le(4)));
    case opcode::BINPUT:
      return op_put(ST_TRY(le(1)));
    case opcode::LONG_BINPUT:
      return op_put(ST_TRY(le(4)));
    case opcode::MEMOIZE:
      return op_put(memo_.size());
    default:
      return refused(op);
  }
}

result<void> machine::refused(std::uint8_t op) {
  if (static_cast<opcode>(op) ==
      opcode::INST) {  // INST names a class like GLOBAL: report a dangerous one as such
    auto m = line();
    auto n = m ? line() : tl::unexpected(m.error());
    if (m && n) {
      std::string full = normalize_global(*m, *n);
      if (trace_) trace_->globals.insert(full);
      if (is_dangerous_global(full)) {
        if (trace_) trace_->dangerous.insert(full);
        return fail(
            errc::malicious,
            fmt::format("{}: pickle calls the dangerous global '{}' (INST)", opts_.source, full));
      }
    }
  }
  // step() handles every opcode torch.save emits; any other named one is refused as unsupported.
  if (const auto name = opcode_name(op); !name.empty())
    return fail(
        errc::unsupported,
        fmt::format(
            "{}: pickle opcode {} (0x{:02x}) is not used by torch.save; refused (pickle byte {})",
            opts_.source, name, op, op_pos_));
  return bad(fmt::format("unknown pickle opcode 0x{:02x}", op));
}

result<void> machine::op_int(std::size_t width, bool is_signed) {
  const auto v = ST_TRY(le(width));
  node n;
  n.kind = node_kind::integer;
  n.integer = is_signed ? static_cast<std::int32_t>(static_cast<std::uint32_t>(v))
                        : static_cast<std::int64_t>(v);
  return push_node(std::move(n));
}

result<void> machine::op_long(std::size_t len_width) {
  const auto len = ST_TRY(le(len_width));
  if (len > 64) return bad(fmt::format("integer of {} bytes (at most 64 accepted)", len));
  const auto bytes = ST_TRY(take(len, "LONG"));
  node n;
  if (bytes.size() <= 8) {
    n.kind = node_kind::integer;
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i)
      u |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[i])) << (8 * i);
    if (!bytes.empty() && bytes.size() < 8 && (static_cast<std::uint8_t>(bytes.back()) & 0x80))
      u |= ~std::uint64_t{0} << (8 * bytes.size());  // sign-extend
    n.integer = static_cast<std::int64_t>(u);
  } else {
    n.kind = node_kind::bigint;
    n.text = std::string(bytes);
  }
  return push_node(std::move(n));
}

result<void> machine::op_text(std::size_t len_width, node_kind kind, opcode op) {
  const std::string_view what = opcode_name(op);
  const auto len = ST_TRY(le(len_width));
  const auto s = ST_TRY(take(len, what));
  if (kind == node_kind::str && !safetensors::detail::is_valid_utf8(s))
    return bad(fmt::format("{} is not valid UTF-8", what));
  node n;
  n.kind = kind;
  n.text = std::string(s);
  return push_node(std::move(n));
}

result<void> machine::op_tuple(std::size_t n) {
  node t;
  t.kind = node_kind::tuple;
  if (n == std::size_t(-1)) {
    t.items = ST_TRY(pop_mark());
  } else {
    if (stack_.size() - floor() < n) return bad("stack underflow building a tuple");
    t.items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
  }
  ST_TRY(count_items(t.items.size()));
  return push_node(std::move(t));
}

result<void> machine::op_collection(node_kind kind) {
  auto items = ST_TRY(pop_mark());
  if (kind == node_kind::dict && items.size() % 2) return bad("DICT with an odd number of items");
  ST_TRY(count_items(items.size()));
  node n;
  n.kind = kind;
  n.items = std::move(items);
  return push_node(std::move(n));
}

result<void> machine::op_append(bool many) {
  std::vector<std::uint32_t> values;
  if (many) {
    values = ST_TRY(pop_mark());
  } else {
    values.push_back(ST_TRY(pop()));
  }
  node& t = g_.nodes[ST_TRY(peek())];
  if (t.kind != node_kind::list)
    return bad(fmt::format("APPEND on a {} (only lists accept it)", kind_name(t)));
  ST_TRY(count_items(values.size()));
  t.items.insert(t.items.end(), values.begin(), values.end());
  return {};
}

bool hashable(const std::vector<node>& nodes, std::uint32_t id, int depth = 0) {
  const node& n = nodes[id];
  switch (n.kind) {
    case node_kind::none:
    case node_kind::boolean:
    case node_kind::integer:
    case node_kind::bigint:
    case node_kind::floating:
    case node_kind::str:
    case node_kind::bytes:
    case node_kind::global:
      return true;
    case node_kind::tuple:
      if (depth > 16) return false;
      for (auto c : n.items)
        if (!hashable(nodes, c, depth + 1)) return false;
      return true;
    default:
      return false;
  }
}

result<void> machine::op_setitem(bool many) {
  std::vector<std::uint32_t> kv;
  if (many) {
    kv = ST_TRY(pop_mark());
    if (kv.size() % 2) return bad("SETITEMS with an odd number of items");
  } else {
    const auto v = ST_TRY(pop());
    const auto k = ST_TRY(pop());
    kv = {k, v};
  }
  const auto target = ST_TRY(peek());
  node& t = g_.nodes[target];
  if (t.kind != node_kind::dict)
    return bad(fmt::format("SETITEM on a {} (only dicts accept it; CVE-2026-24747 pattern)",
                           kind_name(t)));
  for (std::size_t i = 0; i < kv.size(); i += 2)
    if (!hashable(g_.nodes, kv[i]))
      return bad(fmt::format("unhashable dict key of type {}", kind_name(g_.nodes[kv[i]])));
  ST_TRY(count_items(kv.size()));
  g_.nodes[target].items.insert(g_.nodes[target].items.end(), kv.begin(), kv.end());
  return {};
}

result<void> machine::op_additems() {
  const auto items = ST_TRY(pop_mark());
  node& t = g_.nodes[ST_TRY(peek())];
  if (t.kind != node_kind::set)
    return bad(fmt::format("ADDITEMS on a {} (only sets accept it)", kind_name(t)));
  for (auto k : items)
    if (!hashable(g_.nodes, k)) return bad("unhashable set element");
  ST_TRY(count_items(items.size()));
  t.items.insert(t.items.end(), items.begin(), items.end());
  return {};
}

result<void> machine::op_global(std::string module, std::string name) {
  if (!safetensors::detail::is_valid_utf8(module) || !safetensors::detail::is_valid_utf8(name))
    return bad("global name is not valid UTF-8");
  std::string full = normalize_global(module, name);
  if (trace_) trace_->globals.insert(full);
  node n;
  n.kind = node_kind::global;
  n.text = full;
  if (is_dangerous_global(full)) {
    if (trace_) trace_->dangerous.insert(full);
    if (opts_.mode == unpickle_mode::strict)
      return fail(
          errc::malicious,
          fmt::format("{}: pickle calls the dangerous global '{}'; refused without executing it",
                      opts_.source, full));
    return push_node(std::move(n));
  }
  auto s = find_symbol(full);
  if (!s) {
    if (trace_) trace_->unknown.insert(full);
    if (opts_.mode == unpickle_mode::strict)
      return fail(errc::unsupported,
                  fmt::format("{}: pickle uses the global '{}', which is not in the allowlist of "
                              "tensor data types (a pickled object or class, not a state dict)",
                              opts_.source, full));
    return push_node(std::move(n));
  }
  n.known = true;
  n.sym = *s;
  return push_node(std::move(n));
}

result<void> machine::op_stack_global() {
  const auto name = ST_TRY(pop());
  const auto module = ST_TRY(pop());
  const node& m = g_.nodes[module];
  const node& n = g_.nodes[name];
  if (m.kind != node_kind::str || n.kind != node_kind::str)
    return bad("STACK_GLOBAL operands are not strings");
  return op_global(m.text, n.text);
}

result<void> machine::op_reduce(bool newobj) {
  const auto args = ST_TRY(pop());
  const auto callee = ST_TRY(pop());
  return push(
      ST_TRY(newobj ? apply_newobj(*this, callee, args) : apply_reduce(*this, callee, args)));
}

result<void> machine::op_build() {
  ST_TRY(pop());  // the state: not needed for the data
  const node& t = g_.nodes[ST_TRY(peek())];
  switch (t.kind) {
    case node_kind::dict:
    case node_kind::tensor:
    case node_kind::bad_tensor:
    case node_kind::opaque:
      return {};  // OrderedDict._metadata, tensor state: irrelevant to the data
    case node_kind::global:
      if (opts_.mode == unpickle_mode::collect) return {};
      [[fallthrough]];
    default:
      return bad(fmt::format("BUILD on a {}", kind_name(t)));
  }
}

result<void> machine::op_persid() {
  const auto pid = ST_TRY(pop());
  return push(ST_TRY(apply_persistent_id(*this, pid)));
}

result<void> machine::op_get(std::uint64_t index) {
  auto it = memo_.find(static_cast<std::uint32_t>(index));
  if (it == memo_.end()) return bad(fmt::format("memo entry {} read before it was written", index));
  return push(it->second);
}

result<void> machine::op_put(std::uint64_t index) {
  const auto v = ST_TRY(peek());
  if (index > 0xffffffffu) return bad("memo index above 2^32");
  if (memo_.size() >= opts_.limits.max_memo_entries &&
      !memo_.count(static_cast<std::uint32_t>(index)))
    return limit(fmt::format("more than {} memo entries", opts_.limits.max_memo_entries));
  memo_[static_cast<std::uint32_t>(index)] = v;
  return {};
}

result<pickle_graph> machine::finish() {
  if (!marks_.empty()) return bad("STOP with an open MARK");
  if (stack_.size() != 1)
    return bad(fmt::format("STOP with {} values on the stack (expected 1)", stack_.size()));
  g_.root = stack_.back();
  g_.end = pos_;
  ST_TRY(check_graph(*this));
  return std::move(g_);
}

}  // namespace

result<pickle_graph> unpickle(std::span<const std::byte> data, std::size_t start,
                              const unpickle_options& opts, pickle_trace* trace) {
  if (start > data.size())
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: pickle starts past the end", opts.source));
  machine m(data, start, opts, trace);
  return m.run();
}

}  // namespace safetensors::torch::detail
