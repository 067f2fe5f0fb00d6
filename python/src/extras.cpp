// safetensors.cpp: what only this project offers from Python. convert, merge/split/reshard
// (rewrite) and scan run the torch layer (no pickle code is executed), validate and inspect the
// core; all release the GIL while they read and write files. Results are plain dicts and lists.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "errors.hpp"
#include "safetensors/pipeline.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/convert.hpp"
#include "safetensors/torch/scan.hpp"
#include "values.hpp"

namespace py = pybind11;

namespace safetensors::python {
namespace {

std::vector<std::string> strings(const std::vector<std::filesystem::path>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(p.string());
  return out;
}

/// --filter / --exclude / --rename / --dtype, as the CLI reads them.
select_rules rules_from(const std::vector<std::string>& filter,
                        const std::vector<std::string>& exclude,
                        const std::vector<std::string>& rename,
                        const std::optional<std::string>& cast) {
  select_rules r;
  r.include = filter;
  r.exclude = exclude;
  for (const auto& text : rename) r.rename.push_back(unwrap(rename_rule::parse(text)));
  if (cast) {
    r.cast = dtype_from_name(*cast);
    if (!r.cast || !dtype_is_float(*r.cast))
      raise(error{errc::invalid_argument,
                  "cast '" + *cast + "': use a floating dtype ('F16', 'BF16', 'F32', ...)"});
  }
  return r;
}

py::dict report_dict(const std::vector<std::filesystem::path>& written,
                     const std::vector<std::filesystem::path>& removed,
                     const std::vector<std::filesystem::path>& copied, std::size_t tensors,
                     const std::vector<std::pair<std::string, std::string>>& aliases,
                     const std::vector<std::string>& notes, std::uint64_t bytes, bool verified) {
  py::dict d;
  d["written"] = strings(written);
  d["removed"] = strings(removed);
  d["copied"] = strings(copied);
  d["tensors"] = tensors;
  d["aliases"] = aliases;
  d["notes"] = notes;
  d["bytes"] = bytes;
  d["verified"] = verified;
  return d;
}

py::dict convert(const std::string& input, const std::string& output,
                 const std::optional<std::string>& cast, const std::vector<std::string>& filter,
                 const std::vector<std::string>& exclude, const std::vector<std::string>& rename,
                 std::uint64_t alignment, std::optional<std::uint64_t> max_shard_size,
                 const std::string& key, bool flatten, const std::string& sharing, bool verify,
                 bool copy_other_files, bool force) {
  torch::convert_options o;
  o.rules = rules_from(filter, exclude, rename, cast);
  if (sharing != "exact" && sharing != "hf_compat")
    raise(error{errc::invalid_argument, "sharing '" + sharing + "': use 'exact' or 'hf_compat'"});
  o.alignment = alignment;
  o.max_shard_size = max_shard_size;
  o.select.key = key;
  o.select.flatten = flatten;
  o.sharing = sharing == "hf_compat" ? torch::share_policy::hf_compat : torch::share_policy::exact;
  o.verify = verify;
  o.copy_other_files = copy_other_files;
  o.force = force;
  torch::convert_report r;
  {
    py::gil_scoped_release unlocked;
    r = unwrap(torch::convert(input, output, o));
  }
  return report_dict(r.written, r.removed, r.copied, r.tensors, r.aliases, r.notes, r.bytes,
                     r.verified);
}

/// merge (max_shard_size unset: one file) or split/reshard (a shard set in `output`).
py::dict rewrite(const std::string& input, const std::string& output,
                 std::optional<std::uint64_t> max_shard_size, const std::string& prefix,
                 const std::optional<std::string>& cast, const std::vector<std::string>& filter,
                 const std::vector<std::string>& exclude, const std::vector<std::string>& rename,
                 const std::optional<std::string>& format, std::uint64_t alignment, bool verify,
                 bool force, bool copy_other_files) {
  const auto rules = rules_from(filter, exclude, rename, cast);
  torch::source_options so;
  if (format) {
    so.format = torch::format_from_name(*format);
    if (!so.format)
      raise(error{errc::invalid_argument,
                  "format '" + *format + "': use 'safetensors' or 'pytorch'"});
  }
  output_options o;
  o.alignment = alignment;
  o.verify = verify;
  o.force = force;
  if (max_shard_size) {
    if (*max_shard_size == 0) raise(error{errc::invalid_argument, "max_shard_size must be > 0"});
    o.max_shard_size = *max_shard_size;
    o.prefix = prefix;
    if (copy_other_files) o.companions_of = input;
  }
  tensor_set set;
  output_report r;
  {
    py::gil_scoped_release unlocked;
    set = unwrap(torch::open_source(input, so));
    unwrap(apply_rules(set, rules));
    r = unwrap(max_shard_size ? write_shards(set, output, o) : write_checkpoint(set, output, o));
  }
  return report_dict(r.written, r.removed, r.copied, r.tensors, set.aliases, set.notes, r.bytes,
                     r.verified);
}

py::dict scan(const std::string& path) {
  torch::scan_report r;
  {
    py::gil_scoped_release unlocked;
    r = unwrap(torch::scan_file(path));
  }
  py::list globals;
  for (const auto& g : r.globals) {
    globals.append(py::make_tuple(g.name, std::string(torch::verdict_name(g.verdict))));
  }
  py::dict d;
  d["path"] = r.path.string();
  d["format"] = r.format;
  d["verdict"] = std::string(torch::verdict_name(r.verdict));
  d["reason"] = r.reason;
  d["globals"] = globals;
  d["persistent_ids"] = r.persistent_ids;
  return d;
}

py::dict problem(const error& e) {
  py::dict p;
  p["kind"] = std::string(errc_name(e.code));
  p["message"] = e.message;
  return p;
}

/// Opens every tensor's byte range of a file, folder or index (errors are collected, not raised:
/// the CLI's `validate --json` shape without its warnings).
py::dict validate(const std::string& path) {
  py::dict d;
  d["path"] = path;
  py::list errors;
  std::size_t count = 0;
  std::optional<error> open_error;
  std::vector<error> tensor_errors;
  {
    py::gil_scoped_release unlocked;
    auto ck = checkpoint::open(path);
    if (!ck) {
      open_error = ck.error();
    } else {
      count = ck->tensors().size();
      for (const auto& e : ck->tensors()) {
        if (auto t = ck->get(e.info->name); !t) tensor_errors.push_back(t.error());
      }
    }
  }
  if (open_error) errors.append(problem(*open_error));
  for (const auto& e : tensor_errors) errors.append(problem(e));
  d["valid"] = errors.empty();
  d["errors"] = errors;
  d["tensors"] = count;
  return d;
}

/// Header information of a file, folder or index, read header-only (no data page is touched).
py::dict inspect(const std::string& path) {
  open_options opts;
  opts.header_only = true;
  std::optional<checkpoint> ck;
  {
    py::gil_scoped_release unlocked;
    ck.emplace(unwrap(checkpoint::open(path, opts)));
  }
  py::list files, tensors;
  for (const auto& f : ck->shards()) {
    py::dict s;
    s["path"] = f.path().string();
    s["header_size"] = f.info().header_size;
    s["data_size"] = f.info().data_size;
    s["metadata"] = metadata_dict(f.metadata());
    files.append(s);
  }
  for (const auto& e : ck->tensors()) {
    py::dict t;
    t["name"] = e.info->name;
    t["dtype"] = std::string(dtype_name(e.info->type));
    t["shape"] = e.info->shape;
    t["data_offsets"] = py::make_tuple(e.info->begin, e.info->end);
    t["file"] = e.shard;
    tensors.append(t);
  }
  py::dict d;
  d["path"] = path;
  d["sharded"] = ck->is_sharded();
  d["metadata"] = metadata_dict(ck->metadata());
  d["files"] = files;
  d["tensors"] = tensors;
  d["total_size"] = ck->total_size();
  return d;
}

/// A header fetched from a URL (python/safetensors/_remote.py does the HTTP): the first
/// `prefix` bytes of a file of `file_size` bytes (length prefix + at least the header), checked
/// as a local file's header. Returns the inspect() entry of one file and its tensors.
py::tuple parse_remote_header(const std::string& url, py::bytes prefix, std::uint64_t file_size) {
  const std::string bytes = prefix;
  const auto as_bytes = std::as_bytes(std::span(bytes.data(), bytes.size()));
  const auto n = unwrap(read_header_length(as_bytes, file_size));
  if (bytes.size() < 8 + n)
    raise(error{errc::io, url + ": the server sent " + std::to_string(bytes.size()) +
                              " bytes of a " + std::to_string(8 + n) + "-byte header"});
  auto h = parse_header(std::string_view(bytes).substr(8, static_cast<std::size_t>(n)), file_size);
  if (!h) raise(error{h.error().code, url + ": " + h.error().message});
  py::dict f;
  f["path"] = url;
  f["header_size"] = h->header_size;
  f["data_size"] = h->data_size;
  f["metadata"] = metadata_dict(h->metadata);
  py::list tensors;
  for (const auto& t : h->tensors) {
    py::dict d;
    d["name"] = t.name;
    d["dtype"] = std::string(dtype_name(t.type));
    d["shape"] = t.shape;
    d["data_offsets"] = py::make_tuple(t.begin, t.end);
    tensors.append(d);
  }
  return py::make_tuple(f, tensors);
}

}  // namespace

void bind_extras(py::module_& m) {
  m.def("parse_remote_header", &parse_remote_header, py::arg("url"), py::arg("prefix"),
        py::arg("file_size"));
  m.def("rewrite", &rewrite, py::arg("input"), py::arg("output"), py::arg("max_shard_size"),
        py::arg("prefix"), py::arg("cast"), py::arg("filter"), py::arg("exclude"),
        py::arg("rename"), py::arg("format"), py::arg("alignment"), py::arg("verify"),
        py::arg("force"), py::arg("copy_other_files"));
  m.def("convert", &convert, py::arg("input"), py::arg("output"), py::arg("cast"),
        py::arg("filter"), py::arg("exclude"), py::arg("rename"), py::arg("alignment"),
        py::arg("max_shard_size"), py::arg("key"), py::arg("flatten"), py::arg("sharing"),
        py::arg("verify"), py::arg("copy_other_files"), py::arg("force"));
  m.def("scan", &scan, py::arg("path"));
  m.def("validate", &validate, py::arg("path"));
  m.def("inspect", &inspect, py::arg("path"));
}

}  // namespace safetensors::python
