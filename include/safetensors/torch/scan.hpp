// Static safety scan of a pickle checkpoint: which globals and persistent ids it uses.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "safetensors/error.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::torch {

enum class scan_verdict { safe, unsupported, malicious };
std::string_view verdict_name(scan_verdict v) noexcept;  ///< "safe", "unsupported", "malicious"

struct scan_global {
  std::string name;      ///< "module.name" after Python-2 name mapping
  scan_verdict verdict;  ///< safe = in the allowlist
};

struct scan_report {
  std::filesystem::path path;
  std::string format;                       ///< "zip", "legacy", "torchscript", "tar", "unknown"
  std::vector<scan_global> globals;         ///< sorted by name, unique
  std::vector<std::string> persistent_ids;  ///< persistent-id types ("storage", ...), unique
  scan_verdict verdict = scan_verdict::safe;
  std::string reason;  ///< why the verdict is not safe (one line)
};

/// Interprets every pickle of the file symbolically in a collecting mode (nothing is called,
/// unknown globals become opaque values) and reports every global and persistent id type.
/// Verdict: malicious when any known-dangerous global appears (even in a pickle that later
/// fails); unsupported when an unknown global appears, the container is refused (TorchScript,
/// tar, compressed records) or the pickle/container is malformed; safe otherwise.
/// Only an unreadable file is an error (io).
result<scan_report> scan_file(const std::filesystem::path& path,
                              const unpickler_limits& limits = {});

}  // namespace safetensors::torch
