// The remote module (safetensors-cli-remote.so): reads safetensors headers over HTTP(S) with
// Range requests, through cpp-httplib. See remote.hpp.
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/json_fields.hpp"
#include "core/try.hpp"
#include "remote.hpp"

namespace safetensors::cli {
namespace {

constexpr int max_redirects = 10;
constexpr std::uint64_t max_index_bytes = 100'000'000;

struct url_parts {
  std::string scheme, host;
  int port = 0;
  std::string target;  // path and query
  std::string origin() const { return fmt::format("{}://{}:{}", scheme, host, port); }
};

result<url_parts> parse_url(std::string_view url) {
  url_parts u;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos)
    return fail(errc::invalid_argument, fmt::format("{}: not a URL", url));
  u.scheme = std::string(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https")
    return fail(errc::invalid_argument, fmt::format("{}: only http:// and https:// URLs", url));
  auto rest = url.substr(sep + 3);
  const auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  u.port = u.scheme == "https" ? 443 : 80;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    const auto p = authority.substr(colon + 1);
    int port = 0;
    for (char c : p) {
      if (c < '0' || c > '9' || port > 65535)
        return fail(errc::invalid_argument, fmt::format("{}: bad port", url));
      port = port * 10 + (c - '0');
    }
    if (p.empty() || port == 0 || port > 65535)
      return fail(errc::invalid_argument, fmt::format("{}: bad port", url));
    u.port = port;
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return fail(errc::invalid_argument, fmt::format("{}: no host", url));
  u.host = std::string(authority);
  return u;
}

/// RFC 3986 remove_dot_segments for an absolute path (its query kept as it is).
std::string without_dot_segments(std::string_view target) {
  const auto q = target.find('?');
  const auto path = target.substr(0, q);
  std::vector<std::string_view> out;
  std::size_t at = 1;
  while (at <= path.size()) {
    auto end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    const auto seg = path.substr(at, end - at);
    const bool last = end == path.size();
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      if (last) out.emplace_back();
    } else if (seg == ".") {
      if (last) out.emplace_back();
    } else {
      out.push_back(seg);
    }
    at = end + 1;
  }
  std::string r;
  for (auto seg : out) r += "/" + std::string(seg);
  if (r.empty()) r = "/";
  if (q != std::string_view::npos) r += target.substr(q);
  return r;
}

/// `location` (absolute, scheme-relative, absolute-path or relative) against `base`.
std::string resolve(const url_parts& base, std::string_view location) {
  if (location.starts_with("http://") || location.starts_with("https://"))
    return std::string(location);
  if (location.starts_with("//")) return base.scheme + ":" + std::string(location);
  const std::string prefix = fmt::format("{}://{}:{}", base.scheme, base.host, base.port);
  if (location.starts_with('/')) return prefix + without_dot_segments(location);
  const auto path = base.target.substr(0, base.target.find('?'));
  return prefix + without_dot_segments(path.substr(0, path.rfind('/') + 1) + std::string(location));
}

std::string status_text(int status) {
  switch (status) {
    case 401:
      return "401 Unauthorized (a gated or private file: set HF_TOKEN or --header)";
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 416:
      return "416 Range Not Satisfiable";
    default:
      return fmt::format("HTTP status {}", status);
  }
}

struct response {
  int status = 0;
  httplib::Headers headers;
  std::string url;  // after redirects
};

/// Body bytes; return false to stop the transfer (enough received).
using body_sink = std::function<bool(const char*, std::size_t)>;

class session {
 public:
  session(const remote_options& opts, const url_parts& user_url)
      : opts_(opts), origin_(user_url.origin()) {}

  result<void> init() {
    for (const auto& h : opts_.headers) {
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0)
        return fail(errc::invalid_argument,
                    fmt::format("--header '{}': expected 'Name: value'", h));
      auto value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      credentials_.emplace(h.substr(0, colon), value);
    }
    if (const char* token = std::getenv("HF_TOKEN"); token != nullptr && *token != '\0')
      credentials_.emplace("Authorization", fmt::format("Bearer {}", token));
    return {};
  }

  /// GET `url` (bytes [first, last] when `range`), following redirects; the body of a 2xx
  /// response goes to `sink`.
  result<response> get(const std::string& url,
                       std::optional<std::pair<std::uint64_t, std::uint64_t>> range,
                       const body_sink& sink) {
    std::string current = url;
    for (int hop = 0; hop <= max_redirects; ++hop) {
      const auto parts = ST_TRY(parse_url(current));
      httplib::Client client(fmt::format("{}://{}:{}", parts.scheme, parts.host, parts.port));
      const auto secs = static_cast<time_t>(opts_.timeout_seconds);
      const auto usecs =
          static_cast<time_t>((opts_.timeout_seconds - static_cast<double>(secs)) * 1e6);
      client.set_connection_timeout(secs, usecs);
      client.set_read_timeout(secs, usecs);
      client.set_write_timeout(secs, usecs);
      client.set_follow_location(false);
      client.set_decompress(false);
      httplib::Headers headers{{"Accept-Encoding", "identity"}};
      if (range) headers.emplace("Range", fmt::format("bytes={}-{}", range->first, range->second));
      // Credentials go to the host the user named only, never to a redirect target elsewhere.
      if (parts.origin() == origin_) headers.insert(credentials_.begin(), credentials_.end());
      response resp;
      resp.url = current;
      bool stopped = false;
      ++requests;
      auto res = client.Get(
          parts.target, headers,
          [&](const httplib::Response& r) {
            resp.status = r.status;
            resp.headers = r.headers;
            return true;
          },
          [&](const char* data, std::size_t n) {
            received += n;
            if (resp.status < 200 || resp.status >= 300) return true;  // error bodies are dropped
            if (!sink(data, n)) {
              stopped = true;
              return false;
            }
            return true;
          });
      if (!res && !stopped) {
        const auto err = res.error();
        return fail(errc::io,
                    fmt::format("{}: {}{}", current, httplib::to_string(err),
                                err == httplib::Error::Read || err == httplib::Error::Connection
                                    ? fmt::format(" (timeout {}s)", opts_.timeout_seconds)
                                    : ""));
      }
      if (resp.status >= 300 && resp.status < 400 && resp.status != 304) {
        const auto it = resp.headers.find("Location");
        if (it == resp.headers.end())
          return fail(errc::io,
                      fmt::format("{}: redirect {} without a Location", current, resp.status));
        current = resolve(parts, it->second);
        continue;
      }
      if (resp.status < 200 || resp.status >= 300)
        return fail(errc::io, fmt::format("{}: {}", current, status_text(resp.status)));
      return resp;
    }
    return fail(errc::io, fmt::format("{}: more than {} redirects", url, max_redirects));
  }

  std::atomic<std::size_t> requests{0};
  std::atomic<std::uint64_t> received{0};

 private:
  const remote_options& opts_;
  std::string origin_;
  httplib::Headers credentials_;
};

std::string header_value(const response& r, const char* name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

/// "bytes A-B/TOTAL" -> (A, TOTAL).
std::optional<std::pair<std::uint64_t, std::uint64_t>> content_range(const response& r) {
  const std::string v = header_value(r, "Content-Range");
  if (!v.starts_with("bytes ")) return std::nullopt;
  const auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string::npos || slash == std::string::npos || dash > slash) return std::nullopt;
  const auto first = parse_u64(std::string_view(v).substr(6, dash - 6));
  const auto total = parse_u64(std::string_view(v).substr(slash + 1));
  if (!first || !total) return std::nullopt;
  return std::make_pair(*first, *total);
}

result<remote_file> fetch_header(session& s, const std::string& url, const remote_options& opts) {
  std::string data;
  std::uint64_t needed = opts.first_range;
  std::uint64_t total = 0;
  bool total_known = false;
  const auto sink = [&](const char* p, std::size_t n) {
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(n, needed - data.size()));
    data.append(p, take);
    if (data.size() >= 8 && needed == opts.first_range) {
      std::uint64_t len = 0;
      for (int i = 0; i < 8; ++i)
        len |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[i])) << (8 * i);
      // Stop at the header's end (a server that ignores Range sends the whole file); a length
      // beyond the limit stops at once and is reported from the prefix.
      needed = len > default_max_header_size ? data.size()
                                             : std::max<std::uint64_t>(8 + len, data.size());
    }
    return data.size() < needed;
  };
  const auto first =
      ST_TRY(s.get(url, std::make_pair(std::uint64_t{0}, opts.first_range - 1), sink));
  if (first.status == 206) {
    const auto cr = content_range(first);
    if (!cr || cr->first != 0)
      return fail(errc::io, fmt::format("{}: 206 response without a usable Content-Range", url));
    total = cr->second;
    total_known = true;
  } else {  // 200: the server ignored Range; the transfer was cut after the header
    if (const auto len = parse_u64(header_value(first, "Content-Length"))) {
      total = *len;
      total_known = true;
    }
  }
  if (!total_known)
    return fail(
        errc::io,
        fmt::format("{}: the server gives no file size (Content-Range or Content-Length)", url));
  const auto prefix = std::as_bytes(std::span(data.data(), std::min<std::size_t>(data.size(), 8)));
  if (data.size() < 8 && total >= 8)
    return fail(errc::io,
                fmt::format("{}: truncated response: {} of 8 length bytes", url, data.size()));
  parse_options po;
  po.source = url;
  const std::uint64_t n = ST_TRY(read_header_length(prefix, total, po));
  if (data.size() < 8 + n && first.status == 206 && data.size() == opts.first_range) {
    // One exact follow-up for the rest of the header.
    const std::uint64_t from = data.size();
    needed = 8 + n;
    const auto second = ST_TRY(s.get(url, std::make_pair(from, 8 + n - 1), sink));
    const auto cr = content_range(second);
    if (second.status != 206 || !cr || cr->first != from)
      return fail(errc::io,
                  fmt::format("{}: the follow-up range request was not answered with bytes {}-",
                              url, from));
  }
  if (data.size() < 8 + n) {
    return fail(errc::io, fmt::format("{}: truncated response: {} of the {} header bytes", url,
                                      data.size(), 8 + n));
  }
  remote_file f;
  f.url = url;
  const auto path = url.substr(0, url.find('?'));
  f.name = path.substr(path.rfind('/') + 1);
  f.file_size = total;
  f.info = ST_TRY(parse_header(std::string_view(data).substr(8, n), total, po));
  return f;
}

result<void> check_shard_name(const std::string& index_url, std::string_view shard) {
  if (shard.empty() || shard.starts_with('/') || shard.find("..") != std::string_view::npos ||
      shard.find('\\') != std::string_view::npos || shard.find("://") != std::string_view::npos ||
      shard.find('?') != std::string_view::npos || shard.find('#') != std::string_view::npos) {
    return fail(
        errc::invalid_index,
        fmt::format("'{}': shard path `{}` must be a plain relative name", index_url, shard));
  }
  return {};
}

result<remote_checkpoint> fetch_index(session& s, const std::string& url,
                                      const remote_options& opts) {
  std::string text;
  bool too_big = false;
  (void)ST_TRY(s.get(url, std::nullopt, [&](const char* p, std::size_t n) {
    if (text.size() + n > max_index_bytes) {
      too_big = true;
      return false;
    }
    text.append(p, n);
    return true;
  }));
  if (too_big)
    return fail(errc::limit_exceeded,
                fmt::format("{}: index larger than {} bytes", url, max_index_bytes));
  const auto doc = ST_TRY(detail::json_document::parse(text, url, errc::invalid_index));
  const auto map_value = ST_TRY(doc.root().required("weight_map"));
  const auto map = ST_TRY(map_value.object());
  std::map<std::string, std::string, std::less<>> weight_map;
  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : map.members()) {
    const std::string name(ST_TRY(shard.string()));
    ST_TRY(check_shard_name(url, name));
    weight_map.emplace(std::string(tensor), name);
    shard_names.insert(name);
  }
  if (weight_map.empty()) return tl::unexpected(map.bad("is empty"));
  const auto base = ST_TRY(parse_url(url));
  std::vector<std::string> names(shard_names.begin(), shard_names.end());
  std::vector<std::optional<result<remote_file>>> got(names.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < names.size(); i = next++)
      got[i] = fetch_header(s, resolve(base, names[i]), opts);
  };
  std::vector<std::thread> pool;
  const std::size_t threads = std::min<std::size_t>(16, names.size());
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  remote_checkpoint ck;
  ck.sharded = true;
  ck.index_url = url;
  std::size_t assigned = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto f = std::move(*got[i]);
    if (!f) return tl::unexpected(f.error());
    for (const auto& t : f->info.tensors) {
      const auto it = weight_map.find(t.name);
      if (it == weight_map.end() || it->second != names[i]) {
        return fail(errc::invalid_index,
                    fmt::format("'{}': tensor `{}` is in shard `{}` but the weight_map {}", url,
                                t.name, names[i],
                                it == weight_map.end() ? "does not list it"
                                                       : "assigns it to `" + it->second + "`"));
      }
      ++assigned;
    }
    ck.files.push_back(std::move(*f));
  }
  if (assigned != weight_map.size()) {
    for (const auto& [tensor, shard] : weight_map) {
      const auto& f = ck.files[static_cast<std::size_t>(
          std::find(names.begin(), names.end(), shard) - names.begin())];
      if (f.info.find(tensor) == nullptr)
        return fail(errc::invalid_index,
                    fmt::format("'{}': tensor `{}` is assigned to shard `{}` but missing from it",
                                url, tensor, shard));
    }
  }
  return ck;
}

result<remote_checkpoint> fetch(const std::string& url, const remote_options& opts) {
  const auto user = ST_TRY(parse_url(url));
  if (opts.first_range < 8)
    return fail(errc::invalid_argument, "the first range must hold 8 bytes");
  session s(opts, user);
  ST_TRY(s.init());
  const auto path = user.target.substr(0, user.target.find('?'));
  remote_checkpoint ck;
  if (path.ends_with(".json")) {
    ck = ST_TRY(fetch_index(s, url, opts));
  } else {
    ck.files.push_back(ST_TRY(fetch_header(s, url, opts)));
  }
  ck.url = url;
  ck.requests = s.requests;
  ck.bytes_received = s.received;
  return ck;
}

struct registrar {
  registrar() { remote_hook() = &fetch; }
};
const registrar register_fetch;

}  // namespace
}  // namespace safetensors::cli
