// Container layouts: docs/TORCH.md "Containers" (detection, zip, legacy stream, tar).
#include "torch/container.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "core/try.hpp"
#include "torch/pickle_opcodes.hpp"
#include "torch/tar_header.hpp"

namespace safetensors::torch::detail {

file_format detect_format(std::span<const std::byte> file) noexcept {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(file[i]); };
  if (file.size() >= 4 && at(0) == 'P' && at(1) == 'K' && at(2) == 3 && at(3) == 4)
    return file_format::zip;
  if (is_tar_header(file)) return file_format::tar;
  if (file.size() >= 2 && at(0) == static_cast<unsigned char>(opcode::PROTO) && at(1) >= 2 &&
      at(1) <= 5)
    return file_format::legacy;
  return file_format::unknown;
}

result<std::string> zip_prefix(const std::vector<zip_entry>& entries, std::string_view source) {
  if (entries.empty())
    return fail(errc::invalid_checkpoint, fmt::format("{}: empty zip archive", source));
  auto slash = entries.front().name.find('/');
  if (slash == std::string::npos || slash == 0)
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: zip entry '{}' is not inside a folder (not a torch.save archive)",
                            source, entries.front().name));
  std::string prefix = entries.front().name.substr(0, slash + 1);
  for (const auto& e : entries)
    if (!e.name.starts_with(prefix))
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: zip entries '{}' and '{}' are in different folders", source,
                              entries.front().name, e.name));
  return prefix;
}

bool is_torchscript(const std::vector<zip_entry>& entries, std::string_view prefix) {
  return std::any_of(entries.begin(), entries.end(), [&](const zip_entry& e) {
    std::string_view rel = std::string_view(e.name).substr(prefix.size());
    return rel == "constants.pkl" || rel.starts_with("code/");
  });
}

namespace {

result<void> check_byteorder(std::span<const std::byte> file, const zip_entry& e,
                             std::string_view source) {
  if (e.method != 0)
    return fail(errc::unsupported, fmt::format("{}: compressed byteorder record", source));
  std::string_view v(reinterpret_cast<const char*>(file.data() + e.data_offset),
                     static_cast<std::size_t>(e.size));
  if (v == "little") return {};
  if (v == "big")
    return fail(errc::unsupported,
                fmt::format("{}: big-endian checkpoint (byteorder record 'big')", source));
  return fail(errc::invalid_checkpoint,
              fmt::format("{}: byteorder record holds '{}'", source, v.substr(0, 16)));
}

result<loaded_pickle> load_zip(std::span<const std::byte> file, const unpickle_options& opts,
                               pickle_trace* trace, const byte_reader& read_at) {
  const auto entries = ST_TRY(read_zip_directory(file, opts.source, read_at));
  const auto prefix = ST_TRY(zip_prefix(entries, opts.source));
  if (is_torchscript(entries, prefix))
    return fail(
        errc::unsupported,
        fmt::format(
            "{}: TorchScript archive (torch.jit.save: constants.pkl/code/), not a state dict; "
            "export a state dict with torch.save(model.state_dict())",
            opts.source));
  // Keyed as torch finds them: "<prefix>/DATA.PKL" is its data.pkl (read_zip_directory refused
  // two entries with one key).
  std::map<std::string, const zip_entry*, std::less<>> records;
  for (const auto& e : entries) records.emplace(zip_lookup_key(e.name.substr(prefix.size())), &e);
  auto pkl = records.find("data.pkl");
  if (pkl == records.end())
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: no {}data.pkl record", opts.source, prefix));
  if (!records.count("version") && !records.count(".data/version"))
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: no version record (not written by torch.save)", opts.source));
  if (auto bo = records.find("byteorder"); bo != records.end())
    ST_TRY(check_byteorder(file, *bo->second, opts.source));
  for (const auto& [name, e] : records)
    if ((name == "data.pkl" || name.starts_with("data/")) && e->method != 0)
      return fail(
          errc::unsupported,
          fmt::format("{}: record '{}' is compressed (method {}); torch.save never compresses "
                      "(zip-bomb pattern), refused",
                      opts.source, e->name, e->method));
  const zip_entry& p = *pkl->second;
  auto graph = ST_TRY(unpickle(
      file.subspan(static_cast<std::size_t>(p.data_offset), static_cast<std::size_t>(p.size)), 0,
      opts, trace));
  loaded_pickle out;
  out.kind = container_kind::zip;
  for (const auto& st : graph.storages) {
    auto rec = records.find(zip_lookup_key("data/" + st.key));
    if (rec == records.end())
      return fail(errc::invalid_checkpoint, fmt::format("{}: storage '{}' has no record {}data/{}",
                                                        opts.source, st.key, prefix, st.key));
    if (rec->second->size < st.nbytes)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: record {}data/{} holds {} bytes, its storage needs {}",
                              opts.source, prefix, st.key, rec->second->size, st.nbytes));
    out.storage_bytes.push_back(file.subspan(static_cast<std::size_t>(rec->second->data_offset),
                                             static_cast<std::size_t>(st.nbytes)));
  }
  out.graph = std::move(graph);
  return out;
}

/// One of the legacy stream's leading pickles.
result<pickle_graph> legacy_pickle(std::span<const std::byte> file, std::size_t at,
                                   const unpickle_options& opts, int pid_arity,
                                   pickle_trace* trace) {
  unpickle_options o = opts;
  o.pid_arity = pid_arity;
  return unpickle(file, at, o, trace);
}

/// The value Python finds under a str key (the last one set).
const node* dict_get(const pickle_graph& g, const node& d, std::string_view key) {
  const node* out = nullptr;
  for (std::size_t i = 0; i + 1 < d.items.size(); i += 2) {
    const node& k = g.nodes[d.items[i]];
    if (k.kind == node_kind::str && k.text == key) out = &g.nodes[d.items[i + 1]];
  }
  return out;
}

result<void> check_legacy_header(const pickle_graph& magic, const pickle_graph& proto,
                                 const pickle_graph& info, std::string_view source) {
  static const unsigned char expected[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19};
  const node& m = magic.nodes[magic.root];
  if (m.kind != node_kind::bigint ||
      m.text != std::string_view(reinterpret_cast<const char*>(expected), sizeof expected))
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: not a torch checkpoint (legacy magic number missing)", source));
  const node& p = proto.nodes[proto.root];
  if (p.kind != node_kind::integer || p.integer != 1001)
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: legacy protocol version is not 1001", source));
  const node& d = info.nodes[info.root];
  if (d.kind != node_kind::dict)
    return fail(errc::invalid_checkpoint, fmt::format("{}: legacy sys_info is not a dict", source));
  if (const node* le = dict_get(info, d, "little_endian");
      le && le->kind == node_kind::boolean && le->integer == 0)
    return fail(errc::unsupported, fmt::format("{}: big-endian legacy checkpoint", source));
  return {};
}

result<std::vector<std::string>> legacy_keys(const pickle_graph& keys, const pickle_graph& object,
                                             std::string_view source) {
  const node& list = keys.nodes[keys.root];
  if (list.kind != node_kind::list)
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: legacy storage key list is not a list", source));
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto id : list.items) {
    const node& k = keys.nodes[id];
    if (k.kind != node_kind::str)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: legacy storage key is not a string", source));
    if (!object.storage_by_key.count(k.text))
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: legacy storage '{}' is not used by the object", source, k.text));
    if (!seen.insert(k.text).second)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: legacy storage '{}' listed twice", source, k.text));
    out.push_back(k.text);
  }
  if (out.size() != object.storages.size())
    return fail(errc::invalid_checkpoint,
                fmt::format("{}: legacy key list names {} storages, the object uses {}", source,
                            out.size(), object.storages.size()));
  return out;
}

result<loaded_pickle> load_legacy(std::span<const std::byte> file, const unpickle_options& opts,
                                  pickle_trace* trace) {
  std::vector<pickle_graph> parts;
  std::size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = legacy_pickle(file, at, opts, i == 3 ? 6 : 0, trace);
    if (!r && i == 0 && r.error().code == errc::invalid_checkpoint)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: not a torch checkpoint (neither a zip archive nor a pickle "
                              "stream: {})",
                              opts.source, r.error().message));
    auto g = ST_TRY(std::move(r));
    at = g.end;
    parts.push_back(std::move(g));
    if (i == 2) ST_TRY(check_legacy_header(parts[0], parts[1], parts[2], opts.source));
  }
  const auto keys = ST_TRY(legacy_keys(parts[4], parts[3], opts.source));
  loaded_pickle out;
  out.kind = container_kind::legacy;
  out.storage_bytes.resize(parts[3].storages.size());
  for (const auto& key : keys) {
    const storage_record& st = parts[3].storages[parts[3].storage_by_key.at(key)];
    if (file.size() - at < 8)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: truncated: storage '{}' missing", opts.source, key));
    std::uint64_t count = 0;
    for (int b = 0; b < 8; ++b)
      count |= static_cast<std::uint64_t>(file[at + static_cast<std::size_t>(b)]) << (8 * b);
    at += 8;
    if (count != st.numel)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: storage '{}' holds {} elements, the pickle declares {}",
                              opts.source, key, count, st.numel));
    if (file.size() - at < st.nbytes)
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: truncated: storage '{}' needs {} bytes, {} left", opts.source,
                              key, st.nbytes, file.size() - at));
    out.storage_bytes[parts[3].storage_by_key.at(key)] =
        file.subspan(at, static_cast<std::size_t>(st.nbytes));
    at += static_cast<std::size_t>(st.nbytes);
  }
  if (at != file.size())
    out.notes.push_back(
        fmt::format("{} trailing bytes after the last storage ignored", file.size() - at));
  out.graph = std::move(parts[3]);
  return out;
}

}  // namespace

result<loaded_pickle> load_container(std::span<const std::byte> file, const unpickle_options& opts,
                                     pickle_trace* trace, const byte_reader& read_at) {
  switch (detect_format(file)) {
    case file_format::zip:
      return load_zip(file, opts, trace, read_at);
    case file_format::legacy:
    case file_format::unknown:  // torch.load unpickles every file that is neither zip nor tar
      return load_legacy(file, opts, trace);
    case file_format::tar:
      ST_TRY(check_tar_not_pickle(file, opts));
      return fail(
          errc::unsupported,
          fmt::format(
              "{}: tar-format checkpoint (torch < 0.4); load and re-save it with a recent torch",
              opts.source));
  }
  return fail(errc::invalid_checkpoint, fmt::format("{}: unknown container", opts.source));
}

result<void> check_tar_not_pickle(std::span<const std::byte> file, const unpickle_options& opts,
                                  pickle_trace* trace) {
  unpickle_options o = opts;
  o.mode = unpickle_mode::collect;
  o.pid_arity = 0;
  if (!unpickle(file, 0, o, trace)) return {};
  return fail(errc::malicious,
              fmt::format("{}: ambiguous container: the first 512 bytes are a tar header (which "
                          "torch.load reads first) and the file is also a pickle stream (which "
                          "torch.load runs when the tar fails); refused",
                          opts.source));
}

}  // namespace safetensors::torch::detail
