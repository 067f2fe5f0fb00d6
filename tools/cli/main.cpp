// safetensors-cli: inspect, validate, convert, scan, classify, serve ... (one file per command).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <string_view>

#include "command.hpp"
#include "command_module.hpp"
#include "heap_policy.hpp"
#include "safetensors/version.h"

namespace safetensors::cli {
std::vector<command>& registry() {
  static std::vector<command> commands;
  return commands;
}
}  // namespace safetensors::cli

int main(int argc, char** argv) {
  using namespace safetensors::cli;
  const std::span<char* const> args{argv, static_cast<std::size_t>(argc)};
  // safetensors-cli hands what needs a module to safetensors-cli-full (command_module.hpp).
  if (!loads_modules && needs_full_cli(args)) {
    exec_full_cli(argv);
    if (argc > 1 && is_full_cli_command(argv[1])) {  // a command safetensors-cli does not have
      std::fprintf(stderr, "error: %s: not available: %s\n", argv[1],
                   exec_full_cli_error().c_str());
      return exit_unsupported;
    }
  }
  // A local command in safetensors-cli (serve runs in safetensors-cli-full, on glibc's defaults).
  if (!loads_modules) use_cli_heap_policy();
  if (needs_module(args)) {
    std::string why;
    if (!load_module(why) && argc > 1 && !std::string_view(argv[1]).starts_with('-')) {
      // The command needs the module: say so (a help listing simply goes without it).
      std::fprintf(stderr, "error: %s: the model commands are not available: %s\n", argv[1],
                   why.c_str());
      return exit_unsupported;
    }
  }
  CLI::App app{"safetensors-cli: inspect, validate, convert and serve safetensors checkpoints"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "safetensors-cli " SAFETENSORS_VERSION_STRING);
  auto& commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const command& a, const command& b) { return a.name < b.name; });
  // Only the command being run builds its options (CLI11 setup of every command's options cost
  // ~2 ms per process); the others are listed with their description for the help.
  const std::string_view invoked = argc > 1 ? argv[1] : "";
  std::function<int()> action;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    if (c.name != invoked) continue;
    auto run = c.setup(*sub);
    sub->callback([&action, run] { action = run; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  try {
    return action ? action() : exit_usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
    return exit_internal;
  }
}
