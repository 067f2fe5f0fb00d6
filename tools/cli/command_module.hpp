// safetensors-cli starts without the libraries most commands never use. It comes as two
// executables built from the same sources:
// - safetensors-cli is one static executable (the core and torch layers, fmt, utf8proc,
//   simdjson, libstdc++ and libc: tools/cli/CMakeLists.txt), so that inspect, validate, convert,
//   scan, ... map no shared object;
// - safetensors-cli-full (installed beside the modules) is the complete CLI on the shared
//   libraries. It loads the commands of the model and server layers (classify, tokenize, serve)
//   from the module safetensors-cli-model.so, and the HTTP client for URL inputs from
//   safetensors-cli-remote.so, only when asked for.
// safetensors-cli execs safetensors-cli-full, with the same arguments, for whatever needs a
// module or dlopen() (see needs_full_cli): a module linking the shared libraries cannot be loaded
// next to the statically linked copy of the core, and a static executable cannot dlopen().
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace safetensors::cli {

/// True in safetensors-cli-full (it loads the modules), false in safetensors-cli (it execs
/// safetensors-cli-full instead). command_module.cpp is compiled once per executable.
extern const bool loads_modules;

/// Names of the commands the module registers.
bool is_module_command(std::string_view name) noexcept;

/// Whether this command line needs the module: it names one of its commands, or asks for the
/// command list (--help, -h, or no arguments).
bool needs_module(std::span<char* const> args) noexcept;

/// Commands only safetensors-cli-full has: hash (it dlopen()s libcrypto).
bool is_full_cli_command(std::string_view name) noexcept;

/// Whether safetensors-cli hands this command line to safetensors-cli-full: needs_module(), a
/// command of is_full_cli_command(), the completion script (it lists the module's commands) or a
/// URL argument (the remote module).
bool needs_full_cli(std::span<char* const> args) noexcept;

/// Replaces this process by safetensors-cli-full with the same arguments (argv[0] included, so
/// the help shows the same program name). Returns only when it cannot: the reason is then what
/// load_module_file() reports.
void exec_full_cli(char** argv);

/// Why exec_full_cli() returned (safetensors-cli-full not found, or not executable).
const std::string& exec_full_cli_error();

/// Loads the module (its commands register themselves). Looks beside the executable (build
/// tree), then in the installed module folder. On failure returns false and sets `error`.
bool load_module(std::string& error);

/// The module with the HTTP client for remote headers (tools/cli/remote.hpp).
inline constexpr std::string_view remote_module_file = "safetensors-cli-remote.so";

/// load_module() for another module file, found the same way.
bool load_module_file(std::string_view file, std::string& error);

}  // namespace safetensors::cli
