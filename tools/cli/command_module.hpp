// The commands that need the model and server layers (classify, tokenize, serve) are built into
// the module safetensors-cli-model.so, loaded only when asked for, so that inspect, validate,
// convert and scan start without loading oneDNN, OpenMP or the HTTP/TLS libraries.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace safetensors::cli {

/// Names of the commands the module registers.
bool is_module_command(std::string_view name) noexcept;

/// Whether this command line needs the module: it names one of its commands, or asks for the
/// command list (--help, -h, or no arguments).
bool needs_module(std::span<char* const> args) noexcept;

/// Loads the module (its commands register themselves). Looks beside the executable (build
/// tree), then in the installed module folder. On failure returns false and sets `error`.
bool load_module(std::string& error);

/// The module with the HTTP client for remote headers (tools/cli/remote.hpp).
inline constexpr std::string_view remote_module_file = "safetensors-cli-remote.so";

/// load_module() for another module file, found the same way.
bool load_module_file(std::string_view file, std::string& error);

}  // namespace safetensors::cli
