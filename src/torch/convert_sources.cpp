#include "torch/convert_sources.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>

#include "core/try.hpp"
#include "torch/dedupe.hpp"

namespace safetensors::torch {
namespace detail {
namespace {

/// Sorted-by-key metadata with `format` = pt and one entry per alias.
metadata_map torch_metadata(const std::vector<std::pair<std::string, std::string>>& aliases) {
  std::map<std::string, std::string> m{{"format", "pt"}};
  for (const auto& [dropped, kept] : aliases) m.emplace(dropped, kept);
  metadata_map out;
  out.present = true;
  out.entries.assign(m.begin(), m.end());
  return out;
}

}  // namespace

result<tensor_set> torch_file_source(const std::filesystem::path& path,
                                     const source_options& opts) {
  torch_open_options o;
  o.select = opts.select;
  o.limits = opts.limits;
  auto owned = std::make_shared<const torch_checkpoint>(ST_TRY(open_torch_checkpoint(path, o)));
  const torch_checkpoint* c = owned.get();
  const auto d = ST_TRY(dedupe(c->tensors(), c->storages(), opts.sharing));
  tensor_set set;
  for (auto i : d.keep) {
    const torch_tensor* t = &c->tensors()[i];
    byte_reader read;
    if (t->contiguous())
      read = [c, t](std::uint64_t at, std::span<std::byte> out) {
        return c->read_bytes(*t, at, out);
      };
    set.tensors.push_back({t->name, t->type, t->shape, t->nbytes(),
                           [c, t](const byte_sink& sink) { return c->stream(*t, sink, 8u << 20); },
                           std::move(read)});
  }
  for (const auto& n : c->notes())
    set.notes.push_back(fmt::format("{}: {}", path.filename().string(), n));
  set.aliases = d.aliases;
  set.metadata = torch_metadata(set.aliases);
  set.owners.push_back(std::move(owned));
  return set;
}

result<tensor_set> torch_files_source(const std::vector<std::filesystem::path>& files,
                                      const source_options& opts) {
  tensor_set set;
  for (const auto& f : files) append(set, ST_TRY(torch_file_source(f, opts)));
  set.metadata = torch_metadata(set.aliases);
  return set;
}

}  // namespace detail

result<tensor_set> open_source(const std::filesystem::path& path, const source_options& opts) {
  const auto where = ST_TRY(resolve_checkpoint(path, opts.format, opts.preferred));
  tensor_set set;
  if (where.format == checkpoint_format::safetensors) {
    set = ST_TRY(safetensors::open_source(where.path));
  } else if (where.path.filename().string().ends_with(".index.json")) {
    const auto files = ST_TRY(index_shard_files(where.path));
    set = ST_TRY(detail::torch_files_source(files, opts));
  } else {
    set = ST_TRY(detail::torch_file_source(where.path, opts));
  }
  if (!where.note.empty()) set.notes.insert(set.notes.begin(), where.note);
  return set;
}

}  // namespace safetensors::torch
