// Remote checkpoints for `inspect URL` / `validate URL`: the headers of an http(s) .safetensors
// file, or of every shard an index.json names, read with Range requests (data bytes are never
// downloaded). The HTTP client (cpp-httplib + OpenSSL) lives in the module
// safetensors-cli-remote.so, loaded only when a URL is given, so that local commands start
// without the TLS stack.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/header.hpp"

namespace safetensors::cli {

struct remote_options {
  std::vector<std::string> headers;      ///< "Name: value", sent to the URL's own host only
  double timeout_seconds = 30;           ///< connect and each read
  std::uint64_t first_range = 1u << 18;  ///< bytes asked for first (covers most headers)
};

struct remote_file {
  std::string url;
  std::string name;  ///< last path segment
  std::uint64_t file_size = 0;
  header info;  ///< validated against file_size like a local file (data bytes not read)
};

struct remote_checkpoint {
  std::string url;  ///< as given (hf:// expanded)
  bool sharded = false;
  std::string index_url;
  std::vector<remote_file> files;  ///< shards in index order (sorted names), or the one file
  std::size_t requests = 0;        ///< HTTP requests made (redirects included)
  std::uint64_t bytes_received = 0;
};

/// http://, https:// or hf://.
bool is_remote(std::string_view path) noexcept;

/// hf://OWNER/REPO[@REVISION]/PATH -> <endpoint>/OWNER/REPO/resolve/<REVISION or main>/PATH,
/// endpoint $HF_ENDPOINT or https://huggingface.co; other URLs unchanged. invalid_argument for
/// an hf:// URL without owner, repo or path.
result<std::string> expand_hf_url(std::string_view url, std::string_view endpoint);

/// The headers of the .safetensors file or index.json at `url` (hf:// expanded with
/// $HF_ENDPOINT). $HF_TOKEN, when set, adds "Authorization: Bearer <token>" (to the URL's own
/// host only, like --header). Errors name the URL: io (connection, timeout, HTTP status such
/// as 401/403/404/416, truncated body), the format kinds of a bad header, invalid_index.
/// unsupported when the remote module cannot be loaded.
result<remote_checkpoint> fetch_remote(std::string_view url, const remote_options& opts);

/// --header NAME:VALUE (repeatable) and --timeout SECONDS for a command that takes URLs.
void add_remote_options(CLI::App& sub, remote_options& opts);

/// Set by the remote module when it loads.
using remote_fetcher = result<remote_checkpoint> (*)(const std::string& url,
                                                     const remote_options& opts);
remote_fetcher& remote_hook() noexcept;

}  // namespace safetensors::cli
