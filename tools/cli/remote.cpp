#include "remote.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "command_module.hpp"
#include "core/try.hpp"

namespace safetensors::cli {

bool is_remote(std::string_view path) noexcept {
  return path.starts_with("http://") || path.starts_with("https://") || path.starts_with("hf://");
}

remote_fetcher& remote_hook() noexcept {
  static remote_fetcher hook = nullptr;
  return hook;
}

result<std::string> expand_hf_url(std::string_view url, std::string_view endpoint) {
  if (!url.starts_with("hf://")) return std::string(url);
  const std::string_view rest = url.substr(5);
  // OWNER/REPO[@REVISION]/PATH
  const auto slash1 = rest.find('/');
  const auto slash2 = slash1 == std::string_view::npos ? slash1 : rest.find('/', slash1 + 1);
  if (slash1 == 0 || slash1 == std::string_view::npos || slash2 == std::string_view::npos ||
      slash2 == slash1 + 1 || slash2 + 1 >= rest.size()) {
    return fail(errc::invalid_argument,
                fmt::format("{}: expected hf://OWNER/REPO[@REVISION]/PATH", url));
  }
  const auto owner = rest.substr(0, slash1);
  auto repo = rest.substr(slash1 + 1, slash2 - slash1 - 1);
  std::string_view revision = "main";
  if (const auto at = repo.find('@'); at != std::string_view::npos) {
    revision = repo.substr(at + 1);
    repo = repo.substr(0, at);
    if (repo.empty() || revision.empty())
      return fail(errc::invalid_argument,
                  fmt::format("{}: expected hf://OWNER/REPO[@REVISION]/PATH", url));
  }
  auto path = rest.substr(slash2 + 1);
  if (revision == "refs") {  // refs/pr/N, refs/convert/parquet: two more segments
    const auto a = path.find('/');
    const auto b = a == std::string_view::npos ? a : path.find('/', a + 1);
    if (b == std::string_view::npos || b + 1 >= path.size())
      return fail(errc::invalid_argument,
                  fmt::format("{}: expected hf://OWNER/REPO@refs/KIND/NAME/PATH", url));
    revision = std::string_view(revision.data(),
                                static_cast<std::size_t>(path.data() + b - revision.data()));
    path = path.substr(b + 1);
  }
  std::string base(endpoint.empty() ? "https://huggingface.co" : endpoint);
  while (base.ends_with('/')) base.pop_back();
  // A revision like refs/pr/1 keeps its slashes; the Hub expects them percent-encoded.
  std::string rev;
  for (char c : revision) rev += c == '/' ? std::string("%2F") : std::string(1, c);
  return fmt::format("{}/{}/{}/resolve/{}/{}", base, owner, repo, rev, path);
}

void add_remote_options(CLI::App& sub, remote_options& opts) {
  sub.add_option("--header", opts.headers,
                 "URL inputs: an HTTP header 'Name: value' sent to the URL's own host only "
                 "(repeatable; $HF_TOKEN adds 'Authorization: Bearer ...')")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--timeout", opts.timeout_seconds,
                 "URL inputs: seconds to wait for a connection or for data (default 30)")
      ->check(CLI::PositiveNumber);
}

result<remote_checkpoint> fetch_remote(std::string_view url, const remote_options& opts) {
  const char* endpoint = std::getenv("HF_ENDPOINT");
  const std::string expanded = ST_TRY(expand_hf_url(url, endpoint ? endpoint : ""));
  if (remote_hook() == nullptr) {
    std::string why;
    if (!load_module_file(remote_module_file, why))
      return fail(errc::unsupported,
                  fmt::format("{}: remote access is not available: {}", url, why));
    if (remote_hook() == nullptr)
      return fail(errc::unsupported, fmt::format("{}: the remote module registered nothing", url));
  }
  return remote_hook()(expanded, opts);
}

}  // namespace safetensors::cli
