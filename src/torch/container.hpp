// The two torch.save containers: zip (data.pkl + data/<key> records) and the legacy stream.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/torch/checkpoint.hpp"
#include "torch/unpickler.hpp"
#include "torch/zip_reader.hpp"

namespace safetensors::torch::detail {

enum class file_format { zip, legacy, tar, unknown };

/// Like torch.load: "PK\3\4" -> zip; a first block tarfile accepts (is_tar_header) -> tar; a
/// pickle PROTO opcode -> legacy; anything else is `unknown`, which torch.load still unpickles
/// as a legacy stream (load_container and scan do the same; only file sniffing uses `unknown`).
file_format detect_format(std::span<const std::byte> file) noexcept;

/// A tar for torch.load that is also a pickle from byte 0 has two readings (torch falls back
/// to the pickle when the tar fails): refused as malicious. The pickle is run in collect mode
/// (its globals land in `trace`).
result<void> check_tar_not_pickle(std::span<const std::byte> file, const unpickle_options& opts,
                                  pickle_trace* trace = nullptr);

/// The unpickled object and the bytes of every storage it references.
struct loaded_pickle {
  container_kind kind = container_kind::zip;
  pickle_graph graph;
  std::vector<std::span<const std::byte>> storage_bytes;  ///< aligned with graph.storages
  std::vector<std::string> notes;
};

/// Zip: record prefix from the first entry; TorchScript refused; data.pkl and data/* must be
/// stored; version record required; byteorder "little". Legacy: magic number, protocol 1001,
/// sys_info, object, key list, then each storage prefixed by its u64 element count.
/// `read_at` reads bytes of the same file without the mapping (see read_zip_directory).
result<loaded_pickle> load_container(std::span<const std::byte> file, const unpickle_options& opts,
                                     pickle_trace* trace = nullptr,
                                     const byte_reader& read_at = {});

/// The prefix folder of a torch zip ("archive", "pytorch_model"...) and the TorchScript test.
result<std::string> zip_prefix(const std::vector<zip_entry>& entries, std::string_view source);
bool is_torchscript(const std::vector<zip_entry>& entries, std::string_view prefix);

}  // namespace safetensors::torch::detail
