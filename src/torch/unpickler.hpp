// A symbolic, non-executing pickle interpreter for the opcodes torch.save emits.
//
// Values live in an arena (`pickle_graph::nodes`) and refer to each other by index, so
// mutation through the memo (APPEND/SETITEM on a memoized list/dict) and self-references
// need no ownership cycles. Globals resolve to entries of the fixed table in symbols.hpp;
// REDUCE/NEWOBJ/BUILD on them build data, never call anything.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "torch/symbols.hpp"

namespace safetensors::torch::detail {

enum class node_kind : std::uint8_t {
  none,
  boolean,
  integer,
  bigint,
  floating,
  str,
  bytes,
  tuple,
  list,
  dict,
  set,
  global,      // a symbol (sym, type index) or, in collect mode, an unknown name
  storage,     // from BINPERSID: ref = index into pickle_graph::storages
  tensor,      // ref = index into pickle_graph::tensors
  bad_tensor,  // a tensor we refuse (quantized, sparse, meta, complex128...); text = why
  opaque,      // collect mode / plain data we do not model (slice, complex, layout)
};

struct node {
  node_kind kind = node_kind::none;
  bool known = false;  // global: found in the symbol table
  symbol sym;
  std::uint32_t ref = 0;
  std::int64_t integer = 0;  // integer, boolean (0/1)
  double floating = 0;
  std::string text;  // str, bytes, bigint (little-endian bytes), global name, reasons
  std::vector<std::uint32_t> items;  // tuple/list/set elements; dict: key0, value0, key1, ...
};

struct storage_record {
  std::string key;
  std::int16_t type_index = 0;  // torch_type of the storage class
  std::uint64_t numel = 0;      // in storage elements (bytes for UntypedStorage)
  std::uint64_t nbytes = 0;
  std::string location;
};

struct tensor_record {
  std::uint32_t storage = 0;    // index into storages
  std::int16_t type_index = 0;  // element type
  std::uint64_t offset = 0;     // elements
  std::vector<std::uint64_t> shape, strides;
};

/// Everything one pickle produced.
struct pickle_graph {
  std::vector<node> nodes;
  std::uint32_t root = 0;
  std::vector<storage_record> storages;
  std::vector<tensor_record> tensors;
  std::size_t end = 0;  ///< offset just past STOP (and past its FRAME, which ends there)
  std::unordered_map<std::string, std::uint32_t> storage_by_key;
};

enum class unpickle_mode {
  strict,   ///< unknown globals -> unsupported, dangerous ones -> malicious (convert)
  collect,  ///< unknown/dangerous globals become opaque values; everything is recorded (scan)
};

/// What the interpreter saw, filled as it goes (so a failing pickle still reports them).
struct pickle_trace {
  std::set<std::string> globals;
  std::set<std::string> persistent_ids;  ///< pid[0] of each BINPERSID
  std::set<std::string> dangerous;
  std::set<std::string> unknown;
  /// Why a file is not safe although no global is: constructs torch would run that we refuse
  /// to model (scan: unsupported), and ambiguous or monkeypatching ones (scan: malicious).
  std::vector<std::string> unmodelled, malicious;
};

struct unpickle_options {
  unpickle_mode mode = unpickle_mode::strict;
  unpickler_limits limits;
  /// Accepted persistent-id tuple arities: 5 (zip), 6 (legacy), 0 = BINPERSID refused.
  int pid_arity = 5;
  std::string_view source = "<pickle>";  ///< file/record name for messages
};

/// Runs one pickle starting at `start` up to its STOP, then checks the object graph for cycles,
/// excessive depth and the visit budget.
result<pickle_graph> unpickle(std::span<const std::byte> data, std::size_t start,
                              const unpickle_options& opts, pickle_trace* trace = nullptr);

/// Python-like type name of a node for messages ("dict", "int", "tensor", ...).
std::string_view kind_name(const node& n);

}  // namespace safetensors::torch::detail
