// Subcommand registration: each tools/cli/<name>.cpp registers itself with
// SAFETENSORS_CLI_COMMAND, so adding a command needs no edit elsewhere.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace safetensors::cli {

/// Exit codes (documented in README.md).
enum exit_code : int {
  exit_ok = 0,
  exit_invalid = 1,      ///< invalid input: a file fails validation, a bad model folder, ...
  exit_usage = 2,        ///< bad command line, or an output that exists without --force
  exit_io = 3,           ///< a file cannot be read or written
  exit_malicious = 4,    ///< a pickle names a known-dangerous callable
  exit_unsupported = 5,  ///< valid but unsupported content (TorchScript, sparse tensors, ...)
  exit_internal = 70,
};

/// A registered subcommand: `setup` adds options to `sub` and returns the action to run once
/// the command line is parsed; the action returns the exit code.
struct command {
  std::string name;
  std::string description;
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<command>& registry();

struct registrar {
  explicit registrar(command c) { registry().push_back(std::move(c)); }
};

#define SAFETENSORS_CLI_CAT2(a, b) a##b
#define SAFETENSORS_CLI_CAT(a, b) SAFETENSORS_CLI_CAT2(a, b)
/// SAFETENSORS_CLI_COMMAND("inspect", "Show ...", setup_fn);
#define SAFETENSORS_CLI_COMMAND(name, description, setup_fn) \
  static ::safetensors::cli::registrar SAFETENSORS_CLI_CAT(  \
      cli_registrar_, __LINE__)({name, description, setup_fn})

}  // namespace safetensors::cli
