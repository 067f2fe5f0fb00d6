// safetensors-cli: inspect, validate, convert, scan, classify, serve ... (one file per command).
#include <algorithm>
#include <cstdio>
#include <exception>

#include "command.hpp"
#include "safetensors/version.h"

namespace safetensors::cli {
std::vector<command>& registry() {
  static std::vector<command> commands;
  return commands;
}
}  // namespace safetensors::cli

int main(int argc, char** argv) {
  using namespace safetensors::cli;
  CLI::App app{"safetensors-cli: inspect, validate, convert and serve safetensors checkpoints"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "safetensors-cli " SAFETENSORS_VERSION_STRING);
  auto& commands = registry();
  std::sort(commands.begin(), commands.end(), [](const command& a, const command& b) { return a.name < b.name; });
  std::function<int()> action;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
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
