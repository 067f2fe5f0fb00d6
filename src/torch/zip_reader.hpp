// A minimal, strict zip central-directory reader (stored records are read through the mapping).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/writer.hpp"

namespace safetensors::torch::detail {

struct zip_entry {
  std::string name;
  std::uint16_t method = 0;  ///< 0 stored, 8 deflated
  std::uint16_t flags = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;
  std::uint64_t local_offset = 0;
  std::uint64_t data_offset = 0;  ///< local header offset + 30 + name + local extra
};

/// The name under which torch.load finds an entry: its zip reader (miniz's locate_file without
/// MZ_ZIP_FLAG_CASE_SENSITIVE) compares names with ASCII letters lowered, so "archive/DATA.PKL"
/// is the record "archive/data.pkl" (docs/TORCH.md, "How torch finds the records").
std::string zip_lookup_key(std::string_view name);

/// Reads the EOCD (and ZIP64 EOCD when present), then every central-directory entry; checks
/// each local header (signature, same name) and that each record lies inside the file.
/// Refuses encrypted entries (unsupported) and, as `malicious`, two entries with the same
/// zip_lookup_key ("data.pkl" twice, or "data.pkl" and "DATA.PKL"): torch would load one of
/// them, which one depending on their order, so a scan of the other proves nothing. The central
/// directory is authoritative.
///
/// `read_at`, when set, reads the local headers (bytes [offset, offset + out.size()) of the same
/// file) instead of the mapping: one header per record lies beside each record, and touching
/// them through a mapping maps the pages around each (the kernel's fault-around), which for a
/// small checkpoint is the whole file. The central directory is read through `file`.
result<std::vector<zip_entry>> read_zip_directory(std::span<const std::byte> file,
                                                  std::string_view source,
                                                  const byte_reader& read_at = {});

}  // namespace safetensors::torch::detail
