// The restricted unpickler on hand-built opcode streams: every refusal and every limit.
#include "torch/unpickler.hpp"

#include <gtest/gtest.h>

#include "pickle_builder.hpp"
#include "torch/pykey.hpp"

namespace safetensors::torch::detail {
namespace {

using testing::pickle;

result<pickle_graph> run(const pickle& p, unpickle_options o = {}, pickle_trace* trace = nullptr) {
  o.source = "test.pkl";
  return unpickle(p.span(), 0, o, trace);
}

void expect_error(const pickle& p, errc code, std::string_view needle, unpickle_options o = {}) {
  auto r = run(p, o);
  ASSERT_FALSE(r) << "expected an error containing: " << needle;
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("test.pkl"), std::string::npos) << r.error().message;
}

pickle state_dict() {
  pickle p;
  p.proto(2).ordered_dict().mark().str("w").tensor_v2("0", 6, 0, {2, 3}, {3, 1}).byte('u').stop();
  return p;
}

TEST(Unpickler, StateDictBuildsTensor) {
  auto r = run(state_dict());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->tensors.size(), 1u);
  EXPECT_EQ(r->tensors[0].shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(r->tensors[0].strides, (std::vector<std::uint64_t>{3, 1}));
  ASSERT_EQ(r->storages.size(), 1u);
  EXPECT_EQ(r->storages[0].nbytes, 24u);
  EXPECT_EQ(r->nodes[r->root].kind, node_kind::dict);
}

TEST(Unpickler, ScalarsAndDataSymbols) {
  pickle p;
  p.proto(4).byte(0x95).raw(std::string(8, '\0'));                             // FRAME 0
  p.mark().byte('G').raw(std::string("\x40\x09\x21\xfb\x54\x44\x2d\x18", 8));  // BINFLOAT pi
  p.byte(0x8a).byte(1).byte(0xff);                                             // LONG1 -1
  p.global("_codecs", "encode").mark().str("\xc3\xbf").str("latin1").tuple().reduce();
  p.global("torch", "Size").mark().ints({2, 3}).tuple().reduce();
  p.global("__builtin__", "set").mark().byte(']').mark().integer(1).byte('e').tuple().reduce();
  p.byte('t').stop();
  auto r = run(p);
  ASSERT_TRUE(r) << r.error().message;
  const node& t = r->nodes[r->root];
  ASSERT_EQ(t.items.size(), 5u);
  EXPECT_DOUBLE_EQ(r->nodes[t.items[0]].floating, 3.141592653589793);
  EXPECT_EQ(r->nodes[t.items[1]].integer, -1);
  EXPECT_EQ(r->nodes[t.items[2]].text, "\xff");
  EXPECT_EQ(r->nodes[t.items[3]].kind, node_kind::tuple);
  EXPECT_EQ(r->nodes[t.items[4]].kind, node_kind::set);
}

TEST(Unpickler, RefusedOpcodesAreNamed) {
  const std::pair<unsigned, const char*> ops[] = {
      {'o', "OBJ"},     {'P', "PERSID"},      {'g', "GET"},          {'p', "PUT"},
      {'I', "INT"},     {'L', "LONG"},        {'F', "FLOAT"},        {'S', "STRING"},
      {'V', "UNICODE"}, {'2', "DUP"},         {0x91, "FROZENSET"},   {0x92, "NEWOBJ_EX"},
      {0x82, "EXT1"},   {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}};
  for (auto [op, name] : ops) {
    pickle p;
    p.proto(2).byte(op).stop();
    expect_error(p, errc::unsupported, name);
  }
  pickle unknown;
  unknown.proto(2).byte(0xff).stop();
  expect_error(unknown, errc::invalid_checkpoint, "unknown pickle opcode 0xff");
  pickle proto6;
  proto6.proto(6).stop();
  expect_error(proto6, errc::invalid_checkpoint, "protocol 6");
}

TEST(Unpickler, DangerousGlobalsAreMalicious) {
  const std::pair<const char*, const char*> globals[] = {
      {"posix", "system"},     {"nt", "system"},           {"os", "system"},
      {"subprocess", "Popen"}, {"__builtin__", "eval"},    {"builtins", "exec"},
      {"builtins", "getattr"}, {"builtins", "__import__"}, {"runpy", "run_path"},
      {"webbrowser", "open"},  {"socket", "socket"},       {"shutil", "rmtree"},
      {"pty", "spawn"},        {"os.path", "join"},        {"torch.serialization", "load"}};
  for (auto [m, n] : globals) {
    pickle p;
    p.proto(2).global(m, n).stop();
    std::string full = std::string(m == std::string_view("__builtin__") ? "builtins" : m) + "." + n;
    expect_error(p, errc::malicious, full);
  }
  pickle inst;
  inst.proto(2).mark().str("id").raw("ios\nsystem\n").stop();
  expect_error(inst, errc::malicious, "os.system");
}

TEST(Unpickler, StackGlobalThroughMemoIsResolved) {
  pickle p;
  p.proto(4)
      .str("os")
      .byte(0x94)
      .str("system")
      .byte(0x94)
      .raw("00")
      .get(0)
      .get(1)
      .byte(0x93)
      .stop();
  expect_error(p, errc::malicious, "os.system");
  pickle bad;
  bad.proto(4).integer(1).str("x").byte(0x93).stop();
  expect_error(bad, errc::invalid_checkpoint, "STACK_GLOBAL operands are not strings");
}

TEST(Unpickler, UnknownGlobalsAreUnsupportedInStrictModeAndOpaqueInCollectMode) {
  pickle p;
  p.proto(2)
      .global("torch.nn.modules.linear", "Linear")
      .empty_tuple()
      .byte(0x81)
      .byte('}')
      .byte('b')
      .stop();
  expect_error(p, errc::unsupported, "torch.nn.modules.linear.Linear");
  unpickle_options o;
  o.mode = unpickle_mode::collect;
  pickle_trace trace;
  auto r = run(p, o, &trace);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->nodes[r->root].kind, node_kind::opaque);
  EXPECT_EQ(trace.unknown.count("torch.nn.modules.linear.Linear"), 1u);
  pickle evil;
  evil.proto(2).global("posix", "system").mark().str("x").tuple().reduce().stop();
  pickle_trace t2;
  ASSERT_TRUE(run(evil, o, &t2));
  EXPECT_EQ(t2.dangerous.count("posix.system"), 1u);
}

TEST(Unpickler, StructuralErrors) {
  pickle underflow;
  underflow.proto(2).reduce().stop();
  expect_error(underflow, errc::invalid_checkpoint, "stack underflow");
  pickle two;
  two.proto(2).integer(1).integer(2).stop();
  expect_error(two, errc::invalid_checkpoint, "2 values on the stack");
  pickle open_mark;
  open_mark.proto(2).integer(1).mark().stop();
  expect_error(open_mark, errc::invalid_checkpoint, "open MARK");
  pickle memo;
  memo.proto(2).get(5).stop();
  expect_error(memo, errc::invalid_checkpoint, "memo entry 5 read before");
  pickle truncated;
  truncated.proto(2).integer(1);
  expect_error(truncated, errc::invalid_checkpoint, "truncated");
  pickle frame;
  frame.proto(4).byte(0x95).raw(std::string("\xff\xff\x00\x00\x00\x00\x00\x00", 8)).stop();
  expect_error(frame, errc::invalid_checkpoint, "FRAME length");
  pickle utf8;
  utf8.proto(2).str("\xc3\x28").stop();
  expect_error(utf8, errc::invalid_checkpoint, "not valid UTF-8");
  pickle long4;
  long4.proto(2).byte(0x8b).u32(65).raw(std::string(65, '\1')).stop();
  expect_error(long4, errc::invalid_checkpoint, "integer of 65 bytes");
  pickle args;
  args.proto(2).global("collections", "OrderedDict").integer(1).reduce().stop();
  expect_error(args, errc::invalid_checkpoint, "not a tuple");
}

TEST(Unpickler, ContainerOperationsCheckTheirTarget) {
  pickle append;
  append.proto(2).byte('}').integer(1).byte('a').stop();
  expect_error(append, errc::invalid_checkpoint, "APPEND on a dict");
  pickle setitem;
  setitem.proto(2).byte(']').integer(1).integer(2).byte('s').stop();
  expect_error(setitem, errc::invalid_checkpoint, "SETITEM on a list");
  pickle on_tensor;
  on_tensor.proto(2).tensor_v2("0", 2, 0, {2}, {1}).integer(0).integer(7).byte('s').stop();
  expect_error(on_tensor, errc::invalid_checkpoint, "SETITEM on a tensor");
  pickle additems;
  additems.proto(2).byte(']').mark().integer(1).byte(0x90).stop();
  expect_error(additems, errc::invalid_checkpoint, "ADDITEMS on a list");
  pickle unhashable;
  unhashable.proto(2).byte('}').byte(']').integer(1).byte('s').stop();
  expect_error(unhashable, errc::invalid_checkpoint, "unhashable");
  pickle build;
  build.proto(2).byte(']').byte('}').byte('b').stop();
  expect_error(build, errc::invalid_checkpoint, "BUILD on a list");
}

TEST(Unpickler, Limits) {
  unpickle_options o;
  o.limits.max_memo_entries = 2;
  pickle memo;
  memo.proto(2).integer(1).put(0).put(1).put(2).stop();
  expect_error(memo, errc::limit_exceeded, "memo entries", o);
  o = {};
  o.limits.max_stack = 3;
  pickle stack;
  stack.proto(2).mark().integer(1).integer(2).integer(3).integer(4).tuple().stop();
  expect_error(stack, errc::limit_exceeded, "stack deeper", o);
  o = {};
  o.limits.max_marks = 2;
  pickle marks;
  marks.proto(2).mark().mark().mark().stop();
  expect_error(marks, errc::limit_exceeded, "MARKs", o);
  o = {};
  o.limits.max_opcodes = 5;
  pickle ops;
  ops.proto(2).mark().integer(1).integer(1).integer(1).integer(1).tuple().stop();
  expect_error(ops, errc::limit_exceeded, "opcodes", o);
  o = {};
  o.limits.max_string_bytes = 4;
  pickle str;
  str.proto(2).str("hello").stop();
  expect_error(str, errc::limit_exceeded, "BINUNICODE of 5 bytes", o);
  pickle huge;
  huge.proto(2).byte('X').u32(0x7fffffff).raw("abc");
  expect_error(huge, errc::invalid_checkpoint, "exceeds the 3 bytes left");
  o = {};
  o.limits.max_nodes = 3;
  pickle nodes;
  nodes.proto(2).mark().integer(1).integer(2).integer(3).tuple().stop();
  expect_error(nodes, errc::limit_exceeded, "pickle values", o);
  o = {};
  o.limits.max_container_items = 2;
  pickle items;
  items.proto(2).mark().integer(1).integer(2).integer(3).tuple().stop();
  expect_error(items, errc::limit_exceeded, "container elements", o);
}

TEST(Unpickler, GraphChecks) {
  pickle cycle;
  cycle.proto(2).byte('}').put(0).str("self").get(0).byte('s').stop();
  expect_error(cycle, errc::invalid_checkpoint, "cycle");
  pickle bomb;
  bomb.proto(2).byte(']').put(0).raw("0");
  for (unsigned i = 1; i <= 40; ++i)
    bomb.byte(']')
        .mark()
        .byte('h')
        .byte(i - 1)
        .byte('h')
        .byte(i - 1)
        .byte('e')
        .byte('q')
        .byte(i)
        .raw("0");
  bomb.byte('h').byte(40).stop();
  expect_error(bomb, errc::limit_exceeded, "memo-expansion");
  unpickle_options o;
  o.limits.max_depth = 3;
  pickle deep;
  deep.proto(2).byte(']').byte(']').byte(']').byte(']').byte('a').byte('a').byte('a').stop();
  expect_error(deep, errc::limit_exceeded, "nested deeper than 3", o);
}

TEST(Unpickler, PersistentIds) {
  pickle wrong_type;
  wrong_type.proto(2).mark().str("module").integer(1).tuple().byte('Q').stop();
  expect_error(wrong_type, errc::unsupported, "persistent id of type 'module'");
  pickle arity;
  arity.proto(2)
      .mark()
      .str("storage")
      .global("torch", "FloatStorage")
      .str("0")
      .str("cpu")
      .tuple()
      .byte('Q')
      .stop();
  expect_error(arity, errc::invalid_checkpoint, "4 fields (expected 5)");
  unpickle_options none;
  none.pid_arity = 0;
  pickle any;
  any.proto(2).storage("0", 1).stop();
  expect_error(any, errc::invalid_checkpoint, "outside a checkpoint", none);
  pickle cls;
  cls.proto(2)
      .mark()
      .str("storage")
      .global("collections", "OrderedDict")
      .str("0")
      .str("cpu")
      .integer(1)
      .tuple()
      .byte('Q')
      .stop();
  expect_error(cls, errc::invalid_checkpoint, "not a torch storage class");
  pickle twice;
  twice.proto(2).mark().storage("0", 4).storage("0", 5).tuple().stop();
  expect_error(twice, errc::invalid_checkpoint, "declared with 16 and 20 bytes");
}

TEST(Unpickler, TensorChecks) {
  pickle oob;
  oob.proto(2).tensor_v2("0", 4, 1, {2, 2}, {2, 1}).stop();
  expect_error(oob, errc::invalid_checkpoint, "reaches past storage '0' of 16 bytes");
  pickle rank;
  rank.proto(2).tensor_v2("0", 4, 0, {2, 2}, {1}).stop();
  expect_error(rank, errc::invalid_checkpoint, "different lengths");
  pickle overflow;  // strides of 2^62: the extent arithmetic overflows u64
  overflow.proto(2)
      .global("torch._utils", "_rebuild_tensor_v2")
      .mark()
      .storage("0", 4)
      .integer(0)
      .ints({4, 4});
  overflow.mark()
      .long1(1ull << 62)
      .long1(1ull << 62)
      .tuple()
      .byte(0x89)
      .ordered_dict()
      .tuple()
      .reduce()
      .stop();
  expect_error(overflow, errc::invalid_checkpoint, "extent overflows");
  unpickle_options o;
  o.limits.max_rank = 2;
  pickle big_rank;
  big_rank.proto(2).tensor_v2("0", 8, 0, {2, 2, 2}, {4, 2, 1}).stop();
  expect_error(big_rank, errc::invalid_checkpoint, "3 dimensions", o);
  // Refused tensor kinds become bad_tensor values (reported with the tensor's name later).
  const char* classes[] = {"ComplexDoubleStorage", "QInt8Storage"};
  for (auto c : classes) {
    pickle p;
    p.proto(2).tensor_v2("0", 2, 0, {2}, {1}, c).stop();
    auto r = run(p);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->nodes[r->root].kind, node_kind::bad_tensor);
    EXPECT_NE(r->nodes[r->root].text.find("no safetensors equivalent"), std::string::npos);
  }
  pickle meta;
  meta.proto(2)
      .global("torch._utils", "_rebuild_tensor_v2")
      .mark()
      .storage("0", 2, "FloatStorage", "meta")
      .integer(0)
      .ints({2})
      .ints({1})
      .byte(0x89)
      .ordered_dict()
      .tuple()
      .reduce()
      .stop();
  auto m = run(meta);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->nodes[m->root].text, "meta tensor (no data)");
  pickle q;
  q.proto(2).global("torch._utils", "_rebuild_qtensor").mark().tuple().reduce().stop();
  auto qr = run(q);
  ASSERT_TRUE(qr);
  EXPECT_NE(qr->nodes[qr->root].text.find("quantized"), std::string::npos);
}

TEST(Unpickler, Torch2Rebuilds) {
  // _rebuild_from_type_v2(_rebuild_parameter_with_state, Parameter, (_rebuild_tensor_v3(...), True,
  // {}, {}), {})
  pickle p;
  p.proto(2).global("torch._tensor", "_rebuild_from_type_v2").mark();
  p.global("torch._utils", "_rebuild_parameter_with_state")
      .global("torch.nn.parameter", "Parameter")
      .mark();
  p.global("torch._utils", "_rebuild_tensor_v3")
      .mark()
      .storage("0", 6, "UntypedStorage")
      .integer(0)
      .ints({3})
      .ints({1})
      .byte(0x89)
      .ordered_dict()
      .global("torch", "uint16")
      .tuple()
      .reduce();
  p.byte(0x88).ordered_dict().byte('}').tuple();
  p.byte('}').tuple().reduce().stop();
  auto r = run(p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->nodes[r->root].kind, node_kind::tensor);
  const auto& t = r->tensors[r->nodes[r->root].ref];
  EXPECT_EQ(torch_type_at(static_cast<std::size_t>(t.type_index)).type, dtype::U16);
  EXPECT_EQ(r->storages[0].nbytes, 6u);
}

// Issue 16: pickles read as torch.load's C unpickler reads them (docs/TORCH.md, "Rule table").
TEST(Unpickler, FrameThatRunsPastStopIsAmbiguous) {
  pickle past;
  past.proto(4).byte(0x95).raw(std::string("\x05\0\0\0\0\0\0\0", 8)).byte('N').stop().raw("abc");
  expect_error(past, errc::malicious, "FRAME extends 3 bytes past STOP");
  pickle exact;  // what pickle.dumps writes: the frame ends with STOP
  exact.proto(4).byte(0x95).raw(std::string("\x02\0\0\0\0\0\0\0", 8)).byte('N').stop();
  auto r = run(exact);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->end, exact.span().size());
}

TEST(Unpickler, BuildOnAGlobalIsMalicious) {
  for (auto mode : {unpickle_mode::strict, unpickle_mode::collect}) {
    pickle p;
    p.proto(2).global("collections", "Counter").byte('N').byte('}').str("most").integer(1);
    p.byte('s').byte(0x86).byte('b').stop();
    unpickle_options o;
    o.mode = mode;
    pickle_trace trace;
    auto r = run(p, o, &trace);
    ASSERT_EQ(trace.malicious.size(), 1u);
    EXPECT_NE(trace.malicious[0].find("collections.Counter"), std::string::npos);
    if (mode == unpickle_mode::strict) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, errc::malicious);
    }
  }
}

TEST(Unpickler, DictKeysThatPythonMergesAreOneKeyAndLongsAreCanonical) {
  pickle p;  // {1: 'a', True: 'b', 1.0: 'c', LONG1(9 bytes) 1: 'd'}
  p.proto(2).byte('}').mark().integer(1).str("a").byte(0x88).str("b");
  p.byte('G').raw(std::string("\x3f\xf0\0\0\0\0\0\0", 8)).str("c");
  p.byte(0x8a).byte(9).byte(1).raw(std::string(8, '\0')).str("d").byte('u').stop();
  auto r = run(p);
  ASSERT_TRUE(r) << r.error().message;
  const node& d = r->nodes[r->root];
  EXPECT_EQ(r->nodes[d.items[6]].kind, node_kind::integer);  // the 9-byte LONG1 is the int 1
  const auto entries = dict_entries(*r, d);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(r->nodes[entries[0].first].integer, 1);
  EXPECT_EQ(r->nodes[entries[0].first].kind, node_kind::integer);  // the first key object
  EXPECT_EQ(r->nodes[entries[0].second].text, "d");                // the last value
}

TEST(Unpickler, ScanReadsProtocol0AndStrictModeRefusesIt) {
  pickle p;  // INT, text PUT/GET, STRING with escapes, STACK_GLOBAL: posix.system
  p.raw("I01\n0S'po\\x73ix'\np1\n0Vsystem\np2\n0g1\ng2\n").byte(0x93).stop();
  expect_error(p, errc::unsupported, "INT");
  unpickle_options o;
  o.mode = unpickle_mode::collect;
  pickle_trace trace;
  auto r = run(p, o, &trace);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(trace.dangerous.count("posix.system"));
  EXPECT_FALSE(trace.unmodelled.empty());
}

TEST(Unpickler, DottedNamesAreAttributeChains) {
  for (auto [m, n] :
       {std::pair{"torch.serialization", "os.system"}, std::pair{"collections", "sys.modules.get"},
        std::pair{"torch", "_utils.__builtins__.x"}, std::pair{"numpy", "builtins.eval"}}) {
    pickle p;
    p.proto(4).str(m).str(n).byte(0x93).stop();
    if (std::string_view(n) == "_utils.__builtins__.x") {
      expect_error(p, errc::unsupported, "not in the allowlist");
      continue;
    }
    expect_error(p, errc::malicious, "dangerous global");
  }
  pickle io;  // a package's own "io" submodule is not the io module
  io.proto(4).str("torchvision").str("io.image.ImageReadMode").byte(0x93).stop();
  expect_error(io, errc::unsupported, "not in the allowlist");
}

TEST(Unpickler, CopiesAndMemoryAreBudgeted) {
  unpickle_options o;
  o.limits.max_container_items = 1000;
  pickle copies;  // set(L) 20 times on a memoized list of 100 elements
  copies.proto(2).byte(']').put(0).mark();
  for (int i = 0; i < 100; ++i) copies.integer(1);
  copies.byte('e').byte('0').global("builtins", "set").put(1).byte('0');
  for (int i = 0; i < 20; ++i) copies.get(1).get(0).byte(0x85).reduce().byte('0');
  copies.byte('N').stop();
  expect_error(copies, errc::limit_exceeded, "more than 1000 container elements", o);
  o = {};
  o.limits.max_memory_bytes = 100'000;
  pickle tuples;
  tuples.proto(2).byte('N');
  for (int i = 0; i < 2000; ++i) tuples.byte(0x85);
  tuples.stop();
  expect_error(tuples, errc::limit_exceeded, "take more than 100000 bytes of memory", o);
}
}  // namespace
}  // namespace safetensors::torch::detail
