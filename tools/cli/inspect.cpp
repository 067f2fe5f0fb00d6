// `inspect PATH`: the tensors, totals per dtype, metadata and header facts of a safetensors or
// PyTorch (.bin/.pt/.pth) file, a sharded folder of either or its index.json. Reads headers only.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "command.hpp"
#include "format_option.hpp"
#include "inspect_group.hpp"
#include "inspect_listing.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"

namespace safetensors::cli {
namespace {

struct inspect_options {
  std::string path;
  bool json = false;
  std::string filter;
  std::string sort = "name";
  std::optional<torch::checkpoint_format> format;
  bool group = false;
  remote_options remote;
};

void filter_and_sort(listing& l, const inspect_options& opts) {
  if (!opts.filter.empty()) {
    std::erase_if(l.rows, [&](const listing_row& r) { return !glob_match(opts.filter, r.name); });
  }
  if (opts.sort == "offset") {
    std::stable_sort(l.rows.begin(), l.rows.end(), [](const listing_row& a, const listing_row& b) {
      return std::tie(a.shard, a.storage_index, a.begin, a.end) <
             std::tie(b.shard, b.storage_index, b.begin, b.end);
    });
  } else {
    // Not stable_sort: its scratch copy of every row costs more than the sort on big listings;
    // the tie-break keeps equal names (a torch listing can repeat one) in file order.
    std::sort(l.rows.begin(), l.rows.end(), [](const listing_row& a, const listing_row& b) {
      return std::tie(a.name, a.shard, a.storage_index, a.begin) <
             std::tie(b.name, b.shard, b.storage_index, b.begin);
    });
  }
}

struct dtype_total {
  std::uint64_t tensors = 0, parameters = 0, bytes = 0;
  void add(const listing_row& r) {
    ++tensors;
    parameters += r.numel;
    bytes += r.bytes();
  }
};

/// Totals per dtype name (sorted by name) plus the grand total.
std::pair<std::map<std::string_view, dtype_total>, dtype_total> totals_of(const listing& l) {
  std::map<std::string_view, dtype_total> per;
  dtype_total all;
  for (const auto& r : l.rows) {
    per[r.dtype_name].add(r);
    all.add(r);
  }
  return {per, all};
}

/// Largest power of two dividing `offset` (the alignment of the data start).
std::uint64_t alignment_of(std::uint64_t offset) {
  return offset == 0 ? 0 : (offset & (~offset + 1));
}

// ---------------------------------------------------------------------------------------------
// Text output

std::string file_line(const listing_file& f) {
  if (f.format != "safetensors") {
    return fmt::format("{}: {} checkpoint ({} container), file size {} bytes ({})\n",
                       control_chars_escaped(f.path), f.format, f.container,
                       group_digits(f.file_size), human_bytes(f.file_size));
  }
  return fmt::format(
      "{}: header {} bytes, data starts at byte {} ({}-byte aligned), file size {} bytes ({})\n",
      control_chars_escaped(f.path), group_digits(f.header_size), group_digits(f.data_start),
      alignment_of(f.data_start), group_digits(f.file_size), human_bytes(f.file_size));
}

std::string tensor_table(const listing& l) {
  std::vector<text_table::column> cols{{"name"},
                                       {"dtype"},
                                       {"shape"},
                                       {"parameters", text_table::right},
                                       {"bytes", text_table::right}};
  const bool torch = l.format == "pytorch";
  if (l.sharded) cols.push_back({"shard"});
  if (torch) cols.push_back({"storage"});
  text_table t(std::move(cols));
  for (const auto& r : l.rows) {
    std::vector<std::string> cells{control_chars_escaped(r.name), std::string(r.dtype_name),
                                   format_shape(r.shape), group_digits(r.numel),
                                   group_digits(r.bytes())};
    if (l.sharded) cells.push_back(l.files[r.shard].name);
    if (torch) cells.push_back(std::string(r.storage));
    t.add_row(std::move(cells));
  }
  return t.render();
}

/// --group: one row per (name pattern, dtype, shape) with its count and totals.
std::string group_table(const listing& l) {
  text_table t({{"name"},
                {"count", text_table::right},
                {"numbers"},
                {"dtype"},
                {"shape"},
                {"parameters", text_table::right},
                {"bytes", text_table::right}});
  const auto groups = group_rows(l.rows);
  for (const auto& g : groups) {
    t.add_row({control_chars_escaped(g.pattern), g.count > 1 ? fmt::format("x{}", g.count) : "",
               number_ranges(g.numbers), g.dtype_name, format_shape(g.shape),
               group_digits(g.parameters), group_digits(g.bytes)});
  }
  return t.render() +
         fmt::format("{} tensors in {} groups\n", group_digits(l.rows.size()), groups.size());
}

std::string totals_table(const listing& l) {
  auto [per, all] = totals_of(l);
  text_table t({{"dtype"},
                {"tensors", text_table::right},
                {"parameters", text_table::right},
                {"bytes", text_table::right},
                {"size", text_table::right}});
  auto add = [&](std::string_view label, const dtype_total& d) {
    t.add_row({std::string(label), group_digits(d.tensors), group_digits(d.parameters),
               group_digits(d.bytes), human_bytes(d.bytes)});
  };
  for (const auto& [name, d] : per) add(name, d);
  add("total", all);
  return t.render() + fmt::format("\n{} tensors, {} parameters, {}\n", group_digits(all.tensors),
                                  human_count(all.parameters), human_bytes(all.bytes));
}

std::string metadata_text(const listing& l) {
  if (l.metadata.entries.empty())
    return l.metadata.present ? "metadata: {} (empty)\n" : "metadata: none\n";
  std::string out = "metadata:\n";
  for (const auto& [k, v] : l.metadata.entries)
    out += fmt::format("  {} = {}\n", control_chars_escaped(k), control_chars_escaped(v));
  return out;
}

std::string render_text(const listing& l, const inspect_options& opts) {
  std::string out;
  if (l.sharded) {
    out += fmt::format("{}: sharded checkpoint, {} shards, index {}\n",
                       control_chars_escaped(opts.path), l.files.size(),
                       control_chars_escaped(l.index_path));
  }
  for (const auto& f : l.files) out += file_line(f);
  if (!opts.filter.empty()) {
    out += fmt::format("filter '{}': {} tensors match\n", control_chars_escaped(opts.filter),
                       l.rows.size());
  }
  out += '\n';
  out += opts.group ? group_table(l) : tensor_table(l);
  out += '\n';
  out += totals_table(l);
  out += '\n';
  out += metadata_text(l);
  for (const auto& note : l.notes) out += fmt::format("note: {}\n", control_chars_escaped(note));
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON output

void json_files(json_writer& w, const listing& l) {
  w.key("files").begin_array();
  for (const auto& f : l.files) {
    w.begin_object().key("path").value(f.path).key("format").value(f.format);
    if (!f.container.empty()) w.key("container").value(f.container);
    w.key("file_size").value(f.file_size);
    if (f.format == "safetensors") {
      w.key("header_size").value(f.header_size).key("data_start").value(f.data_start);
      w.key("alignment").value(alignment_of(f.data_start));
    }
    w.end_object();
  }
  w.end_array();
}

void json_tensors(json_writer& w, const listing& l) {
  w.key("tensors").begin_array();
  for (const auto& r : l.rows) {
    w.begin_object().key("name").value(r.name).key("dtype").value(r.dtype_name);
    w.key("shape").begin_array();
    for (auto d : r.shape) w.value(d);
    w.end_array();
    w.key("data_offsets").begin_array().value(r.begin).value(r.end).end_array();
    w.key("parameters").value(r.numel).key("bytes").value(r.bytes());
    w.key("shard").value(l.files[r.shard].name);
    if (!r.storage.empty()) w.key("storage").value(r.storage);
    w.end_object();
  }
  w.end_array();
}

void json_total(json_writer& w, const dtype_total& d) {
  w.begin_object().key("tensors").value(d.tensors).key("parameters").value(d.parameters);
  w.key("bytes").value(d.bytes).end_object();
}

std::string render_json(const listing& l, const inspect_options& opts) {
  json_writer w;
  w.reserve(256 + 160 * l.rows.size());  // ~ the bytes one tensor's entry takes
  w.begin_object().key("path").value(opts.path).key("format").value(l.format);
  w.key("sharded").value(l.sharded);
  if (l.sharded) w.key("index").value(l.index_path);
  json_files(w, l);
  std::uint64_t header_total = 0;
  for (const auto& f : l.files) header_total += f.header_size;
  w.key("header_size").value(header_total);
  w.key("metadata");
  if (l.metadata.present) {
    w.begin_object();
    for (const auto& [k, v] : l.metadata.entries) w.key(k).value(v);
    w.end_object();
  } else {
    w.null();
  }
  json_tensors(w, l);
  if (opts.group) {
    w.key("groups").begin_array();
    for (const auto& g : group_rows(l.rows)) {
      w.begin_object().key("pattern").value(g.pattern).key("count").value(g.count);
      w.key("numbers").begin_array();
      for (auto n : g.numbers) w.value(n);
      w.end_array().key("dtype").value(g.dtype_name).key("shape").begin_array();
      for (auto d : g.shape) w.value(d);
      w.end_array().key("parameters").value(g.parameters).key("bytes").value(g.bytes).end_object();
    }
    w.end_array();
  }
  auto [per, all] = totals_of(l);
  w.key("totals").begin_object().key("all");
  json_total(w, all);
  w.key("by_dtype").begin_object();
  for (const auto& [name, d] : per) {
    w.key(name);
    json_total(w, d);
  }
  w.end_object().end_object();
  w.key("notes").begin_array();
  for (const auto& n : l.notes) w.value(n);
  w.end_array().end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

int run_inspect(const inspect_options& opts) {
  auto l = load_listing(opts.path, opts.format, opts.remote);
  if (!l) return report_error(l.error(), opts.path);
  filter_and_sort(*l, opts);
  const std::string out = opts.json ? render_json(*l, opts) : render_text(*l, opts);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return exit_ok;
}

std::function<int()> setup_inspect(CLI::App& sub) {
  auto opts = std::make_shared<inspect_options>();
  sub.add_option("path", opts->path,
                 "a .safetensors file, a sharded folder, its index.json, a .bin/.pt/.pth, or an "
                 "http(s):// or hf://OWNER/REPO[@REV]/PATH URL of a .safetensors or index.json")
      ->required();
  add_format_option(sub, opts->format);
  sub.add_flag("--json", opts->json, "print one JSON document instead of tables");
  add_remote_options(sub, opts->remote);
  sub.add_option("--filter", opts->filter, "only tensors whose name matches this glob (fnmatch)");
  sub.add_option("--sort", opts->sort, "order of the tensor table: name (default) or offset")
      ->check(CLI::IsMember({"name", "offset"}));
  sub.add_flag("--group", opts->group,
               "collapse numbered layers: one row per name pattern (model.layers.#.x), dtype and "
               "shape, with its count and totals");
  return [opts] { return run_inspect(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("inspect",
                        "List the tensors, dtypes, shapes, metadata and header of a checkpoint",
                        setup_inspect);

}  // namespace safetensors::cli
