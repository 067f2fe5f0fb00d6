#include "command_module.hpp"

#include <dlfcn.h>

#include <array>
#include <filesystem>
#include <system_error>

namespace safetensors::cli {

namespace {
constexpr std::array<std::string_view, 3> module_commands = {"classify", "serve", "tokenize"};
constexpr std::string_view module_file = "safetensors-cli-model.so";
}  // namespace

bool is_module_command(std::string_view name) noexcept {
  for (auto c : module_commands)
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

bool load_module(std::string& error) { return load_module_file(module_file, error); }

bool load_module_file(std::string_view file, std::string& error) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    error = "cannot locate the executable: " + ec.message();
    return false;
  }
  const auto dir = exe.parent_path();
  const std::array<std::filesystem::path, 2> candidates = {
      dir / file, (dir / SAFETENSORS_CLI_MODULE_DIR / file).lexically_normal()};
  for (const auto& path : candidates) {
    if (!std::filesystem::exists(path, ec)) continue;
    // RTLD_NOW: a missing library or symbol is reported here, not at the first call.
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) return true;
    const char* why = dlerror();
    error = why != nullptr ? why : path.string() + ": cannot be loaded";
    return false;
  }
  error = std::string(file) + " not found beside " + exe.string() + " or in " +
          candidates[1].parent_path().string();
  return false;
}

}  // namespace safetensors::cli
