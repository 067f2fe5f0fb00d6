// `scan PATH...`: every global and persistent-id type a pickle checkpoint uses, and a verdict
// (safe / unsupported / malicious), without executing anything. Exit 4 when any file is
// malicious, else 5 when any is unsupported, else 3 on an unreadable file, else 1 for an invalid
// index.json, else 0.
#include "safetensors/torch/scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "command.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/torch/sharded.hpp"

namespace safetensors::cli {
namespace {
namespace fs = std::filesystem;

struct scan_args {
  std::vector<std::string> paths;
  bool json = false;
};

/// A folder scans its *.bin/*.pt/*.pth/*.ckpt/*.pkl files (not recursively); a torch index.json
/// scans the shards it names. An index that cannot be read is reported as that path's error.
std::vector<fs::path> expand(const std::vector<std::string>& paths,
                             std::vector<std::pair<fs::path, error>>& bad) {
  std::vector<fs::path> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (p.ends_with(".index.json") && !p.ends_with(".safetensors.index.json")) {
      auto shards = torch::index_shard_files(p);
      if (!shards)
        bad.emplace_back(p, shards.error());
      else
        out.insert(out.end(), shards->begin(), shards->end());
      continue;
    }
    if (!fs::is_directory(p, ec)) {
      out.emplace_back(p);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(p, ec)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() &&
          (ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt" || ext == ".pkl"))
        found.push_back(e.path());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

void print_report(const torch::scan_report& r) {
  std::printf("%s: %s%s%s\n", control_chars_escaped(r.path.string()).c_str(),
              std::string(torch::verdict_name(r.verdict)).c_str(), r.reason.empty() ? "" : " - ",
              control_chars_escaped(r.reason).c_str());
  std::printf("  format: %s\n", r.format.c_str());
  for (const auto& g : r.globals)
    std::printf("  global: %s (%s)\n", control_chars_escaped(g.name).c_str(),
                std::string(torch::verdict_name(g.verdict)).c_str());
  for (const auto& p : r.persistent_ids)
    std::printf("  persistent id: %s\n", control_chars_escaped(p).c_str());
}

void add_json(json_writer& w, const torch::scan_report& r) {
  w.begin_object().key("path").value(r.path.string()).key("format").value(r.format);
  w.key("verdict").value(torch::verdict_name(r.verdict)).key("reason").value(r.reason);
  w.key("globals").begin_array();
  for (const auto& g : r.globals)
    w.begin_object()
        .key("name")
        .value(g.name)
        .key("verdict")
        .value(torch::verdict_name(g.verdict))
        .end_object();
  w.end_array().key("persistent_ids").begin_array();
  for (const auto& p : r.persistent_ids) w.value(p);
  w.end_array().end_object();
}

int run(const scan_args& a) {
  bool malicious = false, unsupported = false, io = false, invalid = false;
  json_writer w;
  w.begin_array();
  std::vector<std::pair<fs::path, error>> bad_indexes;
  const auto files = expand(a.paths, bad_indexes);
  for (const auto& [path, e] : bad_indexes) {
    io |= e.code == errc::io;
    invalid |= e.code != errc::io;
    if (a.json)
      w.begin_object().key("path").value(path.string()).key("error").value(e.message).end_object();
    else
      report_error(e, path);
  }
  for (const auto& path : files) {
    auto r = torch::scan_file(path);
    if (!r) {
      io = true;
      if (a.json)
        w.begin_object()
            .key("path")
            .value(path.string())
            .key("error")
            .value(r.error().message)
            .end_object();
      else
        report_error(r.error(), path);
      continue;
    }
    malicious |= r->verdict == torch::scan_verdict::malicious;
    unsupported |= r->verdict == torch::scan_verdict::unsupported;
    if (a.json)
      add_json(w, *r);
    else
      print_report(*r);
  }
  w.end_array();
  if (a.json) std::puts(w.str().c_str());
  return malicious     ? exit_malicious
         : unsupported ? exit_unsupported
         : io          ? exit_io
         : invalid     ? exit_invalid
                       : exit_ok;
}

std::function<int()> setup(CLI::App& sub) {
  auto a = std::make_shared<scan_args>();
  sub.add_option("paths", a->paths,
                 "pickle checkpoints (.bin/.pt/.pth/.ckpt), folders of them, or a torch index.json")
      ->required();
  sub.add_flag("--json", a->json, "print the reports as a JSON array");
  return [a] { return run(*a); };
}

SAFETENSORS_CLI_COMMAND(
    "scan", "List the globals a pickle checkpoint uses and judge it safe/unsupported/malicious",
    setup);

}  // namespace
}  // namespace safetensors::cli
