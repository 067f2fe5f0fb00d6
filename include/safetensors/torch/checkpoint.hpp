// PyTorch checkpoints (.bin/.pt/.pth/.ckpt) read without executing any pickle code.
//
// The file is mapped read-only; its pickle is interpreted by a symbolic, allowlisted unpickler
// (see docs/TORCH.md) and the tensors of the selected state dict are described as
// (storage, dtype, shape, strides, offset). Their bytes are read straight from the mapping;
// non-contiguous views are gathered on the fly in chunks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"

namespace safetensors::torch {

/// Resource limits of the unpickler and of the object-graph walk. Defaults are far above
/// anything torch.save writes and bound memory to a small multiple of the pickle size.
struct unpickler_limits {
  std::uint64_t max_opcodes = 50'000'000;
  std::uint64_t max_nodes = 20'000'000;  ///< values created by the pickle
  std::uint64_t max_memo_entries = 10'000'000;
  std::uint64_t max_stack = 1'000'000;              ///< stack slots
  std::uint64_t max_marks = 10'000;                 ///< open MARKs
  std::uint64_t max_container_items = 100'000'000;  ///< elements summed over all containers
  std::uint64_t max_string_bytes = 1u << 30;        ///< one string or bytes value
  std::uint32_t max_depth = 256;                    ///< nesting depth of the object graph
  std::uint64_t max_visits = 50'000'000;  ///< object-graph visit budget (memo-expansion bombs)
  std::uint32_t max_rank = 64;
  /// Memory held by the values of one pickle (about 110 bytes per value plus its text and
  /// element lists), the memo and the global names: every allocation the file drives.
  std::uint64_t max_memory_bytes = 1ull << 30;
  /// A view (stride 0, overlapping strides) may materialize at most this many times its
  /// storage's bytes (views of at most 64 MiB are always accepted); convert --max-view-expansion.
  std::uint64_t max_view_expansion = 16;
};

enum class container_kind { zip, legacy };

/// How the state dict is picked out of the unpickled object.
struct select_options {
  /// Sub-dict to convert, as keys separated by '/' ("state_dict", "model/encoder"). Empty:
  /// the top-level dict, or its "state_dict" value when present (as Hugging Face's
  /// convert.py does), or its "model" value when the top level holds no tensor. With
  /// `flatten` and no key, nothing is unwrapped: the whole object is flattened.
  std::string key;
  /// Nested dicts (and lists/tuples) become "a.b.c" names instead of being skipped.
  bool flatten = false;
};

struct torch_open_options {
  select_options select;
  unpickler_limits limits;
};

/// One tensor of the selected state dict.
struct torch_tensor {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> strides;  ///< in elements
  std::uint64_t storage_offset = 0;    ///< in elements
  std::size_t storage = 0;             ///< index into torch_checkpoint::storages()
  std::uint64_t numel() const noexcept;
  /// Bytes per element: torch's dtypes with a safetensors dtype are whole bytes (its packed
  /// sub-byte types, float4_e2m1fn_x2 and quint4x2, are refused when unpickled).
  std::uint64_t element_size() const noexcept;
  std::uint64_t nbytes() const noexcept;  ///< contiguous size: numel x element size
  /// True when the bytes are one contiguous run of the storage (row-major strides, any
  /// stride on size-1 dims, or no elements); false means a gather is needed.
  bool contiguous() const noexcept;
};

/// One storage record (zip `data/<key>` or a legacy storage section).
struct torch_storage {
  std::string key;
  std::uint64_t nbytes = 0;          ///< declared by the pickle; the record holds at least this
  std::span<const std::byte> bytes;  ///< the record's bytes in the mapping (nbytes long)
};

/// Receives a tensor's contiguous bytes chunk by chunk, in order.
using torch_sink = std::function<result<void>(std::span<const std::byte>)>;

/// An open checkpoint: mapping, storages, tensors and notes. Move-only.
class torch_checkpoint {
 public:
  torch_checkpoint();
  torch_checkpoint(torch_checkpoint&&) noexcept;
  torch_checkpoint& operator=(torch_checkpoint&&) noexcept;
  ~torch_checkpoint();

  const std::filesystem::path& path() const noexcept;
  container_kind kind() const noexcept;
  /// Tensors of the selected state dict in pickle order (aliases of one storage included).
  const std::vector<torch_tensor>& tensors() const noexcept;
  const std::vector<torch_storage>& storages() const noexcept;
  /// Human-readable notes: skipped non-tensor entries, unwrapped wrappers, ignored records.
  const std::vector<std::string>& notes() const noexcept;
  /// Every global the pickle named ("collections.OrderedDict", ...), sorted, unique.
  const std::vector<std::string>& globals() const noexcept;

  /// Zero-copy bytes of a contiguous tensor (empty span for a tensor that needs a gather).
  std::span<const std::byte> contiguous_bytes(const torch_tensor& t) const noexcept;
  /// Streams the tensor's row-major bytes (gathering a strided view) in chunks of at most
  /// `chunk` bytes; never materializes more than one chunk.
  result<void> stream(const torch_tensor& t, const torch_sink& sink,
                      std::size_t chunk = 1u << 20) const;
  /// Copies bytes [offset, offset + out.size()) of a contiguous tensor with pread (no page
  /// faults, nothing added to the resident set). invalid_argument for a tensor that needs a
  /// gather or a range outside the tensor.
  result<void> read_bytes(const torch_tensor& t, std::uint64_t offset,
                          std::span<std::byte> out) const;
  /// The tensor's row-major bytes in a new buffer (small tensors, tests).
  result<std::vector<std::byte>> read(const torch_tensor& t) const;

 private:
  friend struct checkpoint_builder;
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// True when the first bytes look like a torch checkpoint (zip, legacy pickle or tar).
bool looks_like_torch_file(const std::filesystem::path& path);

/// Opens and fully validates a torch checkpoint. Errors: io; invalid_checkpoint (not a torch
/// file, corrupt zip, truncated pickle, bad tensor extents, records shorter than their
/// storage, cycles); invalid_argument (select.key names no entry); duplicate_key (two
/// flattened names collide); unsupported (TorchScript, tar,
/// compressed records, unknown globals, quantized/sparse/meta/complex128 tensors, a
/// top-level object that is not a dict); malicious (a known-dangerous global such as
/// posix.system or builtins.eval); limit_exceeded (an unpickler limit).
result<torch_checkpoint> open_torch_checkpoint(const std::filesystem::path& path,
                                               const torch_open_options& opts = {});

}  // namespace safetensors::torch
