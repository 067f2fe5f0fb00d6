// Compiled once per executable (tools/cli/CMakeLists.txt): SAFETENSORS_CLI_LOADS_MODULES is true
// in safetensors-cli-full (it loads the modules) and false in safetensors-cli (it execs
// safetensors-cli-full for them, and calls no dlopen(): it may be linked statically).
#include "command_module.hpp"

#if SAFETENSORS_CLI_LOADS_MODULES
#include <dlfcn.h>
#endif
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "remote.hpp"

namespace safetensors::cli {

const bool loads_modules = SAFETENSORS_CLI_LOADS_MODULES;

namespace {
constexpr std::array<std::string_view, 3> module_commands = {"classify", "serve", "tokenize"};
// Commands only safetensors-cli-full has: hash dlopen()s libcrypto (tools/cli/sha256.hpp).
constexpr std::array<std::string_view, 1> full_cli_commands = {"hash"};
constexpr std::string_view module_file = "safetensors-cli-model.so";
constexpr std::string_view full_cli_file = "safetensors-cli-full";

std::string& full_cli_error() {
  static std::string why = std::string(full_cli_file) + " was not run";
  return why;
}

/// `file` beside the executable (build tree), then in the installed module folder; empty with
/// `error` set when neither exists.
std::filesystem::path find_beside_executable(std::string_view file, std::string& error) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    error = "cannot locate the executable: " + ec.message();
    return {};
  }
  const auto dir = exe.parent_path();
  const std::array<std::filesystem::path, 2> candidates = {
      dir / file, (dir / SAFETENSORS_CLI_MODULE_DIR / file).lexically_normal()};
  for (const auto& path : candidates)
    if (std::filesystem::exists(path, ec)) return path;
  error = std::string(file) + " not found beside " + exe.string() + " or in " +
          candidates[1].parent_path().string();
  return {};
}
}  // namespace

bool is_module_command(std::string_view name) noexcept {
  for (auto c : module_commands)
    if (c == name) return true;
  return false;
}

bool is_full_cli_command(std::string_view name) noexcept {
  for (auto c : full_cli_commands)
    if (c == name) return true;
  return false;
}

bool needs_module(std::span<char* const> args) noexcept {
  if (args.size() <= 1) return true;
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") return true;
    if (!a.starts_with('-')) return is_module_command(a);  // the subcommand
  }
  return false;
}

bool needs_full_cli(std::span<char* const> args) noexcept {
  if (needs_module(args)) return true;
  // The completion script lists the module's commands.
  const std::string_view command = args[1];
  if (command == "completion" || is_full_cli_command(command)) return true;
  for (std::size_t i = 2; i < args.size(); ++i)
    if (is_remote(args[i])) return true;
  return false;
}

void exec_full_cli(char** argv) {
  const auto path = find_beside_executable(full_cli_file, full_cli_error());
  if (path.empty()) return;
  execv(path.c_str(), argv);
  full_cli_error() = path.string() + ": " + std::strerror(errno);
}

const std::string& exec_full_cli_error() { return full_cli_error(); }

bool load_module(std::string& error) { return load_module_file(module_file, error); }

bool load_module_file([[maybe_unused]] std::string_view file, std::string& error) {
#if SAFETENSORS_CLI_LOADS_MODULES
  const auto path = find_beside_executable(file, error);
  if (path.empty()) return false;
  // RTLD_NOW: a missing library or symbol is reported here, not at the first call.
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) return true;
  const char* why = dlerror();
  error = why != nullptr ? why : path.string() + ": cannot be loaded";
#else
  error = full_cli_error();  // safetensors-cli: only safetensors-cli-full can load them
#endif
  return false;
}

}  // namespace safetensors::cli
