// Builds inspect's listing from safetensors::checkpoint (header-only open) or from a torch
// checkpoint (the pickle is interpreted symbolically; tensor data is never read).
#include "inspect_listing.hpp"

#include <fmt/format.h>

#include <system_error>

#include "core/try.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::cli {
namespace {

listing_file describe(const file& f) {
  listing_file out;
  out.path = f.path().string();
  out.name = f.path().filename().string();
  out.format = "safetensors";
  out.file_size = f.file_size();
  out.header_size = f.info().header_size;
  out.data_start = f.data_start();
  return out;
}

listing_row row_of(const tensor_info& t, std::size_t shard) {
  listing_row r;
  r.name = t.name;
  r.dtype_name = dtype_name(t.type);
  r.shape = t.shape;
  r.numel = t.numel();
  r.begin = t.begin;
  r.end = t.end;
  r.shard = shard;
  return r;
}

result<listing> list_safetensors(const std::string& path) {
  open_options opts;
  opts.header_only = true;
  const auto ck = std::make_shared<const checkpoint>(ST_TRY(checkpoint::open(path, opts)));
  listing l;
  l.source = ck;
  l.sharded = ck->is_sharded();
  l.index_path = ck->index_path().string();
  for (const auto& f : ck->shards()) l.files.push_back(describe(f));
  l.rows.reserve(ck->tensors().size());
  for (const auto& e : ck->tensors()) l.rows.push_back(row_of(*e.info, e.shard));
  l.metadata = ck->metadata();
  return l;
}

/// A torch tensor's byte range inside its storage record (contiguous extent from its offset).
result<listing_row> row_of(const torch::torch_checkpoint& ck, const torch::torch_tensor& t,
                           std::size_t shard) {
  const std::uint64_t begin = ST_TRY(dtype_byte_size(t.type, t.storage_offset));
  listing_row r;
  r.name = t.name;
  r.dtype_name = dtype_name(t.type);
  r.shape = t.shape;
  r.numel = t.numel();
  r.begin = begin;
  r.end = begin + t.nbytes();
  r.shard = shard;
  r.storage = ck.storages().at(t.storage).key;
  r.storage_index = t.storage;
  return r;
}

listing_file describe(const torch::torch_checkpoint& ck) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(ck.path(), ec);
  listing_file f;
  f.path = ck.path().string();
  f.name = ck.path().filename().string();
  f.format = "pytorch";
  f.container = ck.kind() == torch::container_kind::zip ? "zip" : "legacy";
  f.file_size = ec ? 0 : size;
  return f;
}

result<listing> list_torch(const std::filesystem::path& path) {
  const auto ck = std::make_shared<const torch::sharded_torch_checkpoint>(
      ST_TRY(torch::sharded_torch_checkpoint::open(path)));
  listing l;
  l.source = ck;
  l.format = "pytorch";
  l.sharded = ck->is_sharded();
  l.index_path = ck->index_path().string();
  for (const auto& shard : ck->shards()) l.files.push_back(describe(shard));
  for (const auto& e : ck->tensors())
    l.rows.push_back(ST_TRY(row_of(ck->shards()[e.shard], *e.tensor, e.shard)));
  // One file: its notes as they are; shards: each prefixed with its file name.
  l.notes = ck->is_sharded() ? ck->notes() : ck->shards().front().notes();
  return l;
}

}  // namespace

listing remote_listing(remote_checkpoint fetched) {
  const auto ptr = std::make_shared<const remote_checkpoint>(std::move(fetched));
  const remote_checkpoint& ck = *ptr;
  listing l;
  l.source = ptr;
  l.sharded = ck.sharded;
  l.index_path = ck.index_url;
  for (std::size_t i = 0; i < ck.files.size(); ++i) {
    const auto& f = ck.files[i];
    listing_file lf;
    lf.path = f.url;
    lf.name = f.name;
    lf.format = "safetensors";
    lf.file_size = f.file_size;
    lf.header_size = f.info.header_size;
    lf.data_start = 8 + f.info.header_size;
    l.files.push_back(std::move(lf));
    for (const auto& t : f.info.tensors) l.rows.push_back(row_of(t, i));
  }
  if (!ck.files.empty()) l.metadata = ck.files.front().info.metadata;
  l.notes.push_back(fmt::format("remote: headers read with {} HTTP requests ({} bytes received)",
                                ck.requests, ck.bytes_received));
  return l;
}

result<listing> load_listing(const std::string& path,
                             std::optional<torch::checkpoint_format> format,
                             const remote_options& remote) {
  if (is_remote(path)) return remote_listing(ST_TRY(fetch_remote(path, remote)));
  const auto where = ST_TRY(torch::resolve_checkpoint(path, format));
  auto l = ST_TRY(where.format == torch::checkpoint_format::pytorch ? list_torch(where.path)
                                                                    : list_safetensors(path));
  if (!where.note.empty()) l.notes.insert(l.notes.begin(), where.note);
  return l;
}

}  // namespace safetensors::cli
