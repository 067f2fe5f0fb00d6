// Pipeline sources: a safetensors checkpoint as a tensor set, and the non-weight files of a
// model folder that travel with it.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>

#include "core/atomic_file.hpp"
#include "core/try.hpp"
#include "safetensors/pipeline.hpp"
#include "safetensors/sharded.hpp"

namespace safetensors {
namespace fs = std::filesystem;

result<tensor_set> open_source(const fs::path& path) {
  open_options oo;
  oo.io = backend::pread;  // nothing mapped: the resident set stays at the pipeline's buffers
  auto owned = std::make_shared<const checkpoint>(ST_TRY(checkpoint::open(path, oo)));
  const checkpoint* c = owned.get();
  tensor_set set;
  set.metadata = c->metadata();
  set.tensors.reserve(c->tensors().size());
  for (const auto& e : c->tensors()) {
    const tensor_info* info = e.info;
    const file* shard = &c->shards()[e.shard];
    byte_reader read = [shard, info](std::uint64_t at, std::span<std::byte> out) {
      return shard->read_bytes(*info, at, out);
    };
    auto stream = [read, n = info->nbytes()](const byte_sink& sink) -> result<void> {
      constexpr std::uint64_t chunk = 4u << 20;
      std::vector<std::byte> buf(static_cast<std::size_t>(std::min(chunk, n)));
      for (std::uint64_t at = 0; at < n; at += chunk) {
        const std::span<std::byte> piece(buf.data(),
                                         static_cast<std::size_t>(std::min(chunk, n - at)));
        ST_TRY(read(at, piece));
        ST_TRY(sink(piece));
      }
      return {};
    };
    set.tensors.push_back({info->name, info->type, info->shape, info->nbytes(), std::move(stream),
                           std::move(read), e.shard});
  }
  set.owners.push_back(std::move(owned));
  return set;
}

void append(tensor_set& set, tensor_set&& more) {
  if (!set.metadata.present) set.metadata = std::move(more.metadata);
  std::size_t first = 0;
  for (const auto& t : set.tensors) first = std::max(first, t.shard + 1);
  for (auto& t : more.tensors) t.shard += first;
  std::move(more.tensors.begin(), more.tensors.end(), std::back_inserter(set.tensors));
  std::move(more.aliases.begin(), more.aliases.end(), std::back_inserter(set.aliases));
  std::move(more.notes.begin(), more.notes.end(), std::back_inserter(set.notes));
  std::move(more.owners.begin(), more.owners.end(), std::back_inserter(set.owners));
}

std::vector<fs::path> companion_files(const fs::path& folder) {
  static const std::set<std::string> weight_exts{".bin",         ".pt", ".pth",    ".ckpt",
                                                 ".safetensors", ".h5", ".msgpack"};
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file(ec) || weight_exts.count(e.path().extension().string()) ||
        name.ends_with(".index.json") || name.starts_with("."))
      continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

result<void> copy_file_atomic(const fs::path& from, const fs::path& to, bool fsync) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return fail(errc::io, fmt::format("cannot read {}", from.string()));
  auto out = ST_TRY(detail::atomic_file::create(to));
  std::error_code ec;
  if (const auto size = fs::file_size(from, ec); !ec) out.expect_size(size);
  std::vector<char> chunk(1u << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    ST_TRY(out.write(std::as_bytes(std::span(chunk.data(), got))));
  }
  if (in.bad()) return fail(errc::io, fmt::format("cannot read {}", from.string()));
  return out.commit(fsync);
}

}  // namespace safetensors
