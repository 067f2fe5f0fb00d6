// `metadata PATH [--set K=V]... [--unset K]... [--index] [--json]`: prints `__metadata__`, or
// edits it (in place when the new header fits the old one's space, else an atomic rewrite;
// tensor bytes never change). A sharded checkpoint: every shard, or the index with --index.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/metadata_edit.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::cli {
namespace {

struct metadata_options {
  std::string path;
  std::vector<std::string> set;
  std::vector<std::string> unset;
  bool index = false;
  bool json = false;
};

/// One file's metadata as printed: (key, value, value is a JSON string).
struct shown_metadata {
  bool present = false;
  std::vector<std::pair<std::string, std::string>> entries;
  std::vector<bool> is_string;
};

shown_metadata shown(const metadata_map& m) {
  shown_metadata s{m.present, m.entries, std::vector<bool>(m.entries.size(), true)};
  return s;
}

shown_metadata shown(const index_metadata& m) { return {m.present, m.entries, m.is_string}; }

struct edited_file {
  std::string path;
  std::string action;  // "in_place", "rewritten", "unchanged"
};

std::string render_text(const std::string& path, const shown_metadata& m,
                        const std::vector<edited_file>& edited) {
  std::string out;
  for (const auto& e : edited) {
    const char* what = e.action == "in_place"    ? "metadata written in place"
                       : e.action == "rewritten" ? "metadata written (file rewritten: the header "
                                                   "outgrew its space)"
                                                 : "metadata unchanged";
    out += fmt::format("{}: {}\n", control_chars_escaped(e.path), what);
  }
  if (!m.present) return out + fmt::format("{}: no metadata\n", control_chars_escaped(path));
  if (m.entries.empty()) return out + fmt::format("{}: metadata {{}} (empty)\n", path);
  text_table t({{"key"}, {"value"}});
  for (const auto& [k, v] : m.entries)
    t.add_row({control_chars_escaped(k), control_chars_escaped(v)});
  return out + t.render();
}

std::string render_json(const std::string& path, const shown_metadata& m,
                        const std::vector<edited_file>& edited) {
  json_writer w;
  w.begin_object().key("path").value(path).key("metadata");
  if (!m.present) {
    w.null();
  } else {
    w.begin_object();
    for (std::size_t i = 0; i < m.entries.size(); ++i) {
      w.key(m.entries[i].first);
      if (m.is_string[i])
        w.value(m.entries[i].second);
      else
        w.raw(m.entries[i].second);
    }
    w.end_object();
  }
  w.key("edited").begin_array();
  for (const auto& e : edited)
    w.begin_object().key("path").value(e.path).key("action").value(e.action).end_object();
  w.end_array().end_object();
  return w.take() + '\n';
}

result<metadata_edit> parse_edit(const metadata_options& opts) {
  metadata_edit edit;
  for (const auto& kv : opts.set) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(errc::invalid_argument,
                  fmt::format("--set '{}': expected KEY=VALUE with a non-empty KEY", kv));
    }
    edit.set.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& k : opts.unset) {
    if (k.empty()) return fail(errc::invalid_argument, "--unset: the key is empty");
    edit.unset.push_back(k);
  }
  return edit;
}

const char* action_name(metadata_write w) {
  switch (w) {
    case metadata_write::in_place:
      return "in_place";
    case metadata_write::rewritten:
      return "rewritten";
    default:
      return "unchanged";
  }
}

int run_metadata(const metadata_options& opts) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(opts.path, ec) && torch::looks_like_torch_file(opts.path)) {
    print_error(
        fmt::format("{}: a PyTorch checkpoint has no __metadata__ (convert it to "
                    "safetensors first)",
                    opts.path));
    return exit_unsupported;
  }
  auto edit = parse_edit(opts);
  if (!edit) return report_error(edit.error());
  open_options o;
  o.header_only = true;
  auto ck = checkpoint::open(opts.path, o);
  if (!ck) return report_error(ck.error(), opts.path);
  if (opts.index && !ck->is_sharded()) {
    print_error(fmt::format("{}: --index: not a sharded checkpoint (no index.json)", opts.path));
    return exit_usage;
  }
  std::vector<edited_file> edited;
  if (opts.index) {
    const auto index = ck->index_path();
    if (!edit->empty()) {
      if (auto r = edit_index_metadata(index, *edit); !r) return report_error(r.error(), index);
      edited.push_back({index.string(), "rewritten"});
    }
    auto m = read_index_metadata(index);
    if (!m) return report_error(m.error(), index);
    const auto out = opts.json ? render_json(index.string(), shown(*m), edited)
                               : render_text(index.string(), shown(*m), edited);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return exit_ok;
  }
  if (!edit->empty()) {
    // Plan every shard's new metadata before the first write.
    std::vector<metadata_map> planned;
    for (const auto& shard : ck->shards()) {
      auto m = apply_metadata_edit(shard.metadata(), *edit);
      if (!m) return report_error(m.error());
      planned.push_back(std::move(*m));
    }
    std::vector<std::filesystem::path> paths;
    for (const auto& shard : ck->shards()) paths.push_back(shard.path());
    ck = checkpoint{};  // close the shards (their mappings) before editing them
    for (std::size_t i = 0; i < paths.size(); ++i) {
      auto r = write_metadata(paths[i], planned[i]);
      if (!r) {
        if (i > 0) {
          print_error(
              fmt::format("{} of {} shards were edited before this error", i, paths.size()));
        }
        return report_error(r.error(), paths[i]);
      }
      edited.push_back({paths[i].string(), action_name(*r)});
    }
    ck = checkpoint::open(opts.path, o);
    if (!ck) return report_error(ck.error(), opts.path);
  }
  const auto out = opts.json ? render_json(opts.path, shown(ck->metadata()), edited)
                             : render_text(opts.path, shown(ck->metadata()), edited);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return exit_ok;
}

std::function<int()> setup_metadata(CLI::App& sub) {
  auto opts = std::make_shared<metadata_options>();
  sub.add_option("path", opts->path, "a .safetensors file, a sharded folder or its index.json")
      ->required();
  sub.add_option("--set", opts->set, "set KEY=VALUE (repeatable)")
      ->type_name("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--unset", opts->unset, "remove KEY (repeatable)")
      ->type_name("KEY")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_flag("--index", opts->index,
               "sharded checkpoint: show or edit the index's \"metadata\" instead of every "
               "shard's __metadata__");
  sub.add_flag("--json", opts->json, "print one JSON document");
  return [opts] { return run_metadata(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("metadata",
                        "Show or edit __metadata__ (in place when it fits; tensor bytes never "
                        "change)",
                        setup_metadata);

}  // namespace safetensors::cli
