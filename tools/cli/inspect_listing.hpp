// The data `inspect` prints: one row per tensor plus per-file facts, built from a safetensors or
// PyTorch checkpoint (file, sharded folder, index.json), reading headers (pickles) only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "remote.hpp"
#include "safetensors/error.hpp"
#include "safetensors/header.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::cli {

struct listing_file {
  std::string path;       ///< as opened
  std::string name;       ///< file name (the "shard" column)
  std::string format;     ///< "safetensors" or "pytorch"
  std::string container;  ///< pytorch only: "zip" or "legacy"
  std::uint64_t file_size = 0;
  std::uint64_t header_size = 0;  ///< N (safetensors only)
  std::uint64_t data_start = 0;   ///< 8 + N (safetensors only)
};

/// One tensor. Its texts and shape are views into the checkpoint the listing keeps alive
/// (listing::source): a 100,000-tensor header lists without a copy of each name and shape.
struct listing_row {
  std::string_view name;
  std::string_view dtype_name;
  std::span<const std::uint64_t> shape;
  std::uint64_t numel = 0;
  std::uint64_t begin = 0, end = 0;  ///< data_offsets (safetensors) or byte range in the storage
  std::size_t shard = 0;             ///< index into listing::files
  std::string_view storage;          ///< pytorch only: the storage record key
  std::size_t storage_index = 0;     ///< pytorch only: offset order is per storage
  std::uint64_t bytes() const noexcept { return end - begin; }
};

struct listing {
  std::shared_ptr<const void> source;  ///< the opened checkpoint the rows' views point into
  std::string format = "safetensors";  ///< or "pytorch"
  bool sharded = false;
  std::string index_path;
  std::vector<listing_file> files;
  std::vector<listing_row> rows;  ///< file order (shard then offset; pickle order for pytorch)
  metadata_map metadata;
  std::vector<std::string> notes;  ///< e.g. non-tensor entries of a torch checkpoint
};

/// Opens `path` header-only and lists its tensors: a URL (remote.hpp: headers only, over HTTP
/// ranges), a PyTorch file, sharded folder or index.json when torch::resolve_checkpoint says so
/// (`format` chooses for a folder holding both; the choice is the first note), otherwise a
/// safetensors file, folder or index.json. Errors name the file.
result<listing> load_listing(const std::string& path,
                             std::optional<torch::checkpoint_format> format = {},
                             const remote_options& remote = {});

/// The listing of headers fetched from a URL (files named by URL; a note with the requests).
listing remote_listing(remote_checkpoint ck);

}  // namespace safetensors::cli
