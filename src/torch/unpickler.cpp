// The opcode loop. Every length is checked against the remaining input before anything is
// allocated; every container operation checks its target's type (SETITEM only on dicts...).
#include "torch/unpickler.hpp"

#include <fmt/format.h>

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/text_util.hpp"
#include "core/try.hpp"
#include "core/utf8.hpp"
#include "torch/pickle_opcodes.hpp"
#include "torch/pykey.hpp"
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
    ST_TRY(count_items(n.items.size()));
    // The node, its text and element list, and their heap blocks (strings above the small-
    // string buffer and every non-empty list cost a malloc chunk of about 32 bytes).
    ST_TRY(charge(sizeof(node) + n.text.size() + (n.text.size() > 15 ? 32 : 0) +
                  (n.items.empty() ? 0 : 32)));
    g_.nodes.push_back(std::move(n));
    return static_cast<std::uint32_t>(g_.nodes.size() - 1);
  }
  void note_pid(std::string_view type) override {
    if (trace_) trace_->persistent_ids.emplace(type);
  }
  result<void> charge_items(std::uint64_t n) override { return count_items(n); }
  result<void> unmodelled(std::string_view what) override {
    if (opts_.mode == unpickle_mode::strict)
      return fail(errc::unsupported,
                  fmt::format("{}: {} (pickle byte {})", opts_.source, what, op_pos_));
    if (trace_ && trace_->unmodelled.size() < 16)
      trace_->unmodelled.push_back(fmt::format("{} (pickle byte {})", what, op_pos_));
    return {};
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
  /// Elements of every container, including the copies calls make; each costs its index (and
  /// vector growth) in memory.
  result<void> count_items(std::uint64_t n) {
    items_ += n;
    if (items_ > opts_.limits.max_container_items)
      return limit(
          fmt::format("more than {} container elements", opts_.limits.max_container_items));
    return charge(2 * sizeof(std::uint32_t) * n);
  }
  result<void> charge(std::uint64_t bytes) {
    memory_ += bytes;
    if (memory_ > opts_.limits.max_memory_bytes)
      return limit(fmt::format("pickle values take more than {} bytes of memory",
                               opts_.limits.max_memory_bytes));
    return {};
  }
  result<void> note_global(const std::string& full) {
    if (trace_ && trace_->globals.insert(full).second) return charge(64 + full.size());
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
  result<void> text_opcode(std::uint8_t op);
  result<void> op_call_marked(bool inst);
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
  std::uint64_t memory_ = 0;
  std::size_t frame_end_ = 0;  ///< end of the last FRAME (0: none)
};

result<void> machine::step(std::uint8_t op) {
  switch (static_cast<opcode>(op)) {
    case opcode::PROTO: {
      const auto v = ST_TRY(byte());
      if (v > 5) return bad(fmt::format("unsupported pickle protocol {}", v));
      return {};
    }
    case opcode::FRAME: {  // read linearly; only a STOP inside a frame changes the reading
      const auto n = ST_TRY(le(8));
      if (n > remaining())
        return bad(fmt::format("FRAME length {} exceeds the {} bytes left", n, remaining()));
      frame_end_ = pos_ + static_cast<std::size_t>(n);
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

namespace {

/// PyBytes_DecodeEscape over a STRING argument (quotes stripped); nullopt where Python raises.
std::optional<std::string> escape_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return std::nullopt;  // trailing backslash
    const char c = s[i];
    const std::string_view simple = "\\'\"abfnrtv", value = "\\'\"\a\b\f\n\r\t\v";
    if (auto k = simple.find(c); k != std::string_view::npos) {
      out += value[k];
    } else if (c >= '0' && c <= '7') {
      unsigned v = static_cast<unsigned>(c - '0');
      for (int d = 0; d < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++d)
        v = v * 8 + static_cast<unsigned>(s[++i] - '0');
      out += static_cast<char>(v & 0xff);
    } else if (c == 'x') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return std::nullopt;
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

using safetensors::detail::append_utf8;

/// raw-unicode-escape (UNICODE): only \uXXXX and \UXXXXXXXX escape, other bytes are latin-1.
std::optional<std::string> raw_unicode_escape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c != '\\' || i + 1 == s.size()) {
      append_utf8(out, c);
      continue;
    }
    const char e = s[++i];
    if (e != 'u' && e != 'U') {
      append_utf8(out, '\\');
      append_utf8(out, static_cast<unsigned char>(e));
      continue;
    }
    const std::size_t n = e == 'u' ? 4 : 8;
    if (i + n >= s.size()) return std::nullopt;
    std::uint32_t cp = 0;
    for (std::size_t k = 1; k <= n; ++k) {
      const char h = s[i + k];
      if (!std::isxdigit(static_cast<unsigned char>(h))) return std::nullopt;
      cp = cp * 16 + static_cast<std::uint32_t>(std::stoi(std::string(1, h), nullptr, 16));
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;  // no lone surrogates
    append_utf8(out, cp);
    i += n;
  }
  return out;
}

/// A decimal (or 0x/0o/0b) integer line, as int(text, 0); nullopt for what we do not parse.
std::optional<std::int64_t> int_line(std::string_view s) {
  std::string t(s);
  if (t.empty() || t.find('_') != std::string::npos) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 0);
  if (errno || end != t.c_str() + t.size()) return std::nullopt;
  return v;
}

}  // namespace

/// Protocol 0/1 opcodes torch.save never writes: `scan` (collect mode) reads them as Python
/// does so that every global they reach is judged; the verdict is at best unsupported.
result<void> machine::text_opcode(std::uint8_t op) {
  ST_TRY(unmodelled(
      fmt::format("pickle opcode {} (protocol 0/1, not written by torch.save)", opcode_name(op))));
  switch (static_cast<opcode>(op)) {
    case opcode::INT:
    case opcode::LONG: {
      auto text = ST_TRY(line());
      if (static_cast<opcode>(op) == opcode::LONG && text.ends_with('L')) text.remove_suffix(1);
      node n;
      if (static_cast<opcode>(op) == opcode::INT && (text == "00" || text == "01")) {
        n.kind = node_kind::boolean;
        n.integer = text == "01";
      } else if (auto v = int_line(text)) {
        n.kind = node_kind::integer;
        n.integer = *v;
      } else {
        n.kind = node_kind::opaque;
        n.text = "int";
      }
      return push_node(std::move(n));
    }
    case opcode::FLOAT: {
      const std::string text(ST_TRY(line()));
      node n;
      n.kind = node_kind::floating;
      n.floating = std::strtod(text.c_str(), nullptr);
      return push_node(std::move(n));
    }
    case opcode::STRING:
    case opcode::UNICODE: {
      const auto text = ST_TRY(line());
      std::optional<std::string> v;
      if (static_cast<opcode>(op) == opcode::UNICODE)
        v = raw_unicode_escape(text);
      else if (text.size() >= 2 && text.front() == text.back() &&
               (text.front() == '\'' || text.front() == '"'))
        v = escape_decode(text.substr(1, text.size() - 2));
      if (!v || !safetensors::detail::is_valid_utf8(*v))
        return bad(fmt::format("{} argument is not a valid string", opcode_name(op)));
      node n;
      n.kind = node_kind::str;
      n.text = std::move(*v);
      return push_node(std::move(n));
    }
    case opcode::GET:
    case opcode::PUT: {
      const auto v = int_line(ST_TRY(line()));
      if (!v || *v < 0) return bad(fmt::format("{} with a bad memo index", opcode_name(op)));
      return static_cast<opcode>(op) == opcode::GET ? op_get(static_cast<std::uint64_t>(*v))
                                                    : op_put(static_cast<std::uint64_t>(*v));
    }
    case opcode::DUP:
      return push(ST_TRY(peek()));
    case opcode::INST:
      return op_call_marked(true);
    case opcode::OBJ:
      return op_call_marked(false);
    case opcode::FROZENSET:
      return op_collection(node_kind::set);
    case opcode::NEWOBJ_EX: {
      ST_TRY(pop());  // kwargs
      const auto args = ST_TRY(pop());
      const auto cls = ST_TRY(pop());
      return push(ST_TRY(apply_newobj(*this, cls, args)));
    }
    case opcode::BYTEARRAY8:
      return op_text(8, node_kind::bytes, opcode::BYTEARRAY8);
    default:
      return bad(fmt::format("pickle opcode {}", opcode_name(op)));
  }
}

/// INST (class named by two lines) and OBJ (class first after the MARK): klass(*args), which
/// for a function is a call like REDUCE.
result<void> machine::op_call_marked(bool inst) {
  std::uint32_t cls = 0;
  if (inst) {
    const auto m = ST_TRY(line());
    const auto n = ST_TRY(line());
    ST_TRY(op_global(std::string(m), std::string(n)));
    cls = ST_TRY(pop());
  }
  auto items = ST_TRY(pop_mark());
  if (!inst) {
    if (items.empty()) return bad("OBJ without a class");
    cls = items.front();
    items.erase(items.begin());
  }
  node args;
  args.kind = node_kind::tuple;
  args.items = std::move(items);
  const auto a = ST_TRY(add(std::move(args)));
  return push(ST_TRY(apply_reduce(*this, cls, a)));
}

result<void> machine::refused(std::uint8_t op) {
  switch (static_cast<opcode>(op)) {
    case opcode::INT:
    case opcode::LONG:
    case opcode::FLOAT:
    case opcode::STRING:
    case opcode::UNICODE:
    case opcode::GET:
    case opcode::PUT:
    case opcode::DUP:
    case opcode::INST:
    case opcode::OBJ:
    case opcode::FROZENSET:
    case opcode::NEWOBJ_EX:
    case opcode::BYTEARRAY8:
      if (opts_.mode == unpickle_mode::collect) return text_opcode(op);
      break;
    default:
      break;
  }
  if (static_cast<opcode>(op) ==
      opcode::INST) {  // INST names a class like GLOBAL: report a dangerous one as such
    auto m = line();
    auto n = m ? line() : tl::unexpected(m.error());
    if (m && n) {
      std::string full = normalize_global(*m, *n);
      ST_TRY(note_global(full));
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
  auto bytes = ST_TRY(take(len, "LONG"));
  // Canonical two's complement: bytes that only repeat the sign do not change the value (a
  // 9-byte LONG1 of 1 is the int 1, and equal to it as a dict key).
  const auto top = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]) & 0x80; };
  while (bytes.size() > 1 &&
         ((static_cast<std::uint8_t>(bytes.back()) == 0 && !top(bytes.size() - 2)) ||
          (static_cast<std::uint8_t>(bytes.back()) == 0xff && top(bytes.size() - 2))))
    bytes.remove_suffix(1);
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
  return push_node(std::move(t));
}

result<void> machine::op_collection(node_kind kind) {
  auto items = ST_TRY(pop_mark());
  if (kind == node_kind::dict && items.size() % 2) return bad("DICT with an odd number of items");
  if (kind == node_kind::dict)
    for (std::size_t i = 0; i < items.size(); i += 2)
      if (!hashable(g_.nodes, items[i]))
        return bad(fmt::format("unhashable dict key of type {}", kind_name(g_.nodes[items[i]])));
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
  ST_TRY(note_global(full));
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
  if (m.text.size() > 4096 || n.text.size() > 4096)
    return bad("STACK_GLOBAL name longer than 4096 bytes");
  return op_global(m.text, n.text);
}

result<void> machine::op_reduce(bool newobj) {
  const auto args = ST_TRY(pop());
  const auto callee = ST_TRY(pop());
  return push(
      ST_TRY(newobj ? apply_newobj(*this, callee, args) : apply_reduce(*this, callee, args)));
}

/// Tensor.__setstate__(state) (torch/_tensor.py): a 3-tuple sets requires_grad and hooks; a
/// 4-tuple calls set_(storage, offset, size, stride) and a 5-tuple replaces .data.
bool harmless_tensor_state(const std::vector<node>& nodes, const node& state) {
  return state.kind == node_kind::tuple && state.items.size() == 3 &&
         nodes[state.items[0]].kind == node_kind::boolean;
}

result<void> machine::op_build() {
  const node& state = g_.nodes[ST_TRY(pop())];
  const node& t = g_.nodes[ST_TRY(peek())];
  switch (t.kind) {
    case node_kind::dict:
    case node_kind::opaque:
      return {};  // OrderedDict._metadata: attributes, not items
    case node_kind::tensor:
    case node_kind::bad_tensor:
      if (harmless_tensor_state(g_.nodes, state)) return {};
      return unmodelled(fmt::format(
          "BUILD on a tensor with a {} state: Tensor.__setstate__ would {}; not modelled, refused",
          kind_name(state),
          state.kind == node_kind::tuple && state.items.size() == 4   ? "call set_() on it"
          : state.kind == node_kind::tuple && state.items.size() == 5 ? "replace its .data"
                                                                      : "change it"));
    case node_kind::global: {
      std::string why = fmt::format(
          "BUILD on the global '{}' sets attributes of a class or "
          "function in the loading process (monkeypatching)",
          t.text);
      if (trace_ && trace_->malicious.size() < 16) trace_->malicious.push_back(why);
      if (opts_.mode == unpickle_mode::collect) return {};
      return fail(errc::malicious, fmt::format("{}: {}; refused", opts_.source, why));
    }
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
  auto [it, fresh] = memo_.insert_or_assign(static_cast<std::uint32_t>(index), v);
  if (fresh) ST_TRY(charge(48));
  return {};
}

result<pickle_graph> machine::finish() {
  if (!marks_.empty()) return bad("STOP with an open MARK");
  if (stack_.size() != 1)
    return bad(fmt::format("STOP with {} values on the stack (expected 1)", stack_.size()));
  if (frame_end_ > pos_)
    return fail(errc::malicious,
                fmt::format("{}: ambiguous pickle framing: a FRAME extends {} bytes past STOP "
                            "(pickle byte {}); torch.load's C unpickler may resume after the "
                            "frame or after STOP, so the next pickle or storage has two readings",
                            opts_.source, frame_end_ - pos_, op_pos_));
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
