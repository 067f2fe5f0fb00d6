// Meaning of REDUCE / NEWOBJ / BINPERSID for the allowlisted symbols, and the final
// object-graph check (cycles, depth, visit budget).
#pragma once

#include <cstdint>
#include <string_view>

#include "torch/unpickler.hpp"

namespace safetensors::torch::detail {

/// What reduce.cpp needs from the running machine.
class vm_access {
 public:
  virtual pickle_graph& graph() = 0;
  virtual const unpickle_options& options() = 0;
  virtual tl::unexpected<error> bad(
      std::string_view message) = 0;  ///< invalid_argument at the opcode
  virtual result<std::uint32_t> add(node n) = 0;
  virtual void note_pid(std::string_view type) = 0;
  /// Counts elements a call copies against max_container_items (and their memory).
  virtual result<void> charge_items(std::uint64_t n) = 0;
  /// Something torch does that we do not model: strict mode refuses it (unsupported), collect
  /// mode records it (the scan verdict is at best unsupported) and goes on.
  virtual result<void> unmodelled(std::string_view what) = 0;

 protected:
  ~vm_access() = default;
};

result<std::uint32_t> apply_reduce(vm_access& vm, std::uint32_t callee, std::uint32_t args);
result<std::uint32_t> apply_newobj(vm_access& vm, std::uint32_t cls, std::uint32_t args);
result<std::uint32_t> apply_persistent_id(vm_access& vm, std::uint32_t pid);
/// Walks the graph from the root: refuses cycles, nesting deeper than max_depth and more
/// visits than the budget (a memo DAG that would expand exponentially).
result<void> check_graph(vm_access& vm);

}  // namespace safetensors::torch::detail
