// scan_file: every pickle of the file run in collect mode; nothing is ever called.
#include "safetensors/torch/scan.hpp"

#include <fmt/format.h>

#include "core/try.hpp"
#include "torch/container.hpp"
#include "torch/mapped_file.hpp"

namespace safetensors::torch {

std::string_view verdict_name(scan_verdict v) noexcept {
  switch (v) {
    case scan_verdict::safe:
      return "safe";
    case scan_verdict::unsupported:
      return "unsupported";
    case scan_verdict::malicious:
      return "malicious";
  }
  return "unsupported";
}

namespace {

using detail::pickle_trace;

void downgrade(scan_report& r, scan_verdict v, std::string reason) {
  if (static_cast<int>(v) > static_cast<int>(r.verdict)) {
    r.verdict = v;
    r.reason = std::move(reason);
  } else if (v == r.verdict && r.reason.empty()) {
    r.reason = std::move(reason);
  }
}

/// A pickle that could not be read: malicious when the reason is (ambiguous framing...).
void failed(scan_report& r, const error& e) {
  downgrade(r, e.code == errc::malicious ? scan_verdict::malicious : scan_verdict::unsupported,
            e.message);
}

/// Every *.pkl record of a zip (data.pkl, constants.pkl of TorchScript, ...), the extension in
/// any case: torch finds "data.pkl" as "DATA.PKL" too. An archive where two entries are one
/// record for torch is malicious: which one it loads depends on their order.
void scan_zip(std::span<const std::byte> file, const byte_reader& read_at,
              const detail::unpickle_options& opts, scan_report& r, pickle_trace& t) {
  auto entries = detail::read_zip_directory(file, opts.source, read_at);
  if (!entries)
    return downgrade(r,
                     entries.error().code == errc::malicious ? scan_verdict::malicious
                                                             : scan_verdict::unsupported,
                     entries.error().message);
  auto prefix = detail::zip_prefix(*entries, opts.source);
  if (prefix && detail::is_torchscript(*entries, *prefix)) {
    r.format = "torchscript";
    downgrade(r, scan_verdict::unsupported,
              "TorchScript archive (torch.jit.save), not a state dict");
  }
  bool any = false;
  for (const auto& e : *entries) {
    if (!detail::zip_lookup_key(e.name).ends_with(".pkl")) continue;
    any = true;
    if (e.method != 0) {
      downgrade(r, scan_verdict::unsupported,
                fmt::format("'{}' is compressed: not scanned", e.name));
      continue;
    }
    std::string src = fmt::format("{}:{}", opts.source, e.name);
    detail::unpickle_options o = opts;
    o.source = src;
    auto g = detail::unpickle(
        file.subspan(static_cast<std::size_t>(e.data_offset), static_cast<std::size_t>(e.size)), 0,
        o, &t);
    if (!g) failed(r, g.error());
  }
  if (!any) downgrade(r, scan_verdict::unsupported, "no pickle record in the zip");
}

/// The legacy stream's five pickles (magic, protocol, sys_info, object, keys).
void scan_legacy(std::span<const std::byte> file, const detail::unpickle_options& opts,
                 scan_report& r, pickle_trace& t) {
  std::size_t at = 0;
  for (int i = 0; i < 5; ++i) {  // a missing pickle makes torch.load fail: not safe
    detail::unpickle_options o = opts;
    o.pid_arity = i == 3 ? 6 : 0;
    auto g = detail::unpickle(file, at, o, &t);
    if (!g) return failed(r, g.error());
    at = g->end;
    if (i == 0 && (g->nodes[g->root].kind != detail::node_kind::bigint))
      return downgrade(r, scan_verdict::unsupported,
                       "a bare pickle, not a torch legacy checkpoint");
  }
}

}  // namespace

result<scan_report> scan_file(const std::filesystem::path& path, const unpickler_limits& limits) {
  const detail::mapped_file map = ST_TRY(detail::mapped_file::open(path));
  scan_report r;
  r.path = path;
  std::string source = path.string();
  detail::unpickle_options opts;
  opts.mode = detail::unpickle_mode::collect;
  opts.limits = limits;
  opts.source = source;
  pickle_trace t;
  auto bytes = map.bytes();
  switch (detail::detect_format(bytes)) {
    case detail::file_format::zip:
      r.format = "zip";
      scan_zip(
          bytes,
          [&map](std::uint64_t at, std::span<std::byte> out) { return map.read_at(at, out); }, opts,
          r, t);
      break;
    case detail::file_format::legacy:
      r.format = "legacy";
      scan_legacy(bytes, opts, r, t);
      break;
    case detail::file_format::tar:
      r.format = "tar";
      if (auto amb = detail::check_tar_not_pickle(bytes, opts, &t); !amb) failed(r, amb.error());
      downgrade(r, scan_verdict::unsupported,
                "tar-format checkpoint (torch < 0.4): its members are not scanned");
      break;
    case detail::file_format::unknown:  // torch.load unpickles it as a legacy stream
      r.format = "unknown";
      scan_legacy(bytes, opts, r, t);
      if (r.verdict == scan_verdict::unsupported &&
          r.reason.find("bare pickle") == std::string::npos)
        r.reason = "not a pickle or torch zip file: " + r.reason;
      break;
  }
  for (const auto& g : t.globals) {
    scan_verdict v = t.dangerous.count(g) ? scan_verdict::malicious
                     : t.unknown.count(g) ? scan_verdict::unsupported
                                          : scan_verdict::safe;
    r.globals.push_back({g, v});
  }
  r.persistent_ids.assign(t.persistent_ids.begin(), t.persistent_ids.end());
  if (!t.dangerous.empty())
    downgrade(r, scan_verdict::malicious,
              fmt::format("dangerous global '{}'", *t.dangerous.begin()));
  else if (!t.unknown.empty())
    downgrade(r, scan_verdict::unsupported,
              fmt::format("global '{}' is not in the allowlist", *t.unknown.begin()));
  if (!t.malicious.empty()) downgrade(r, scan_verdict::malicious, t.malicious.front());
  for (const auto& u : t.unmodelled) downgrade(r, scan_verdict::unsupported, u);
  for (const auto& p : t.persistent_ids)
    if (p != "storage")
      downgrade(r, scan_verdict::unsupported, fmt::format("persistent id type '{}'", p));
  return r;
}

}  // namespace safetensors::torch
