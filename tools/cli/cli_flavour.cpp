// Compiled once per executable (tools/cli/CMakeLists.txt): whether it loads the modules itself
// (safetensors-cli-full) or execs safetensors-cli-full for them (safetensors-cli). See
// command_module.hpp.
#include "command_module.hpp"

namespace safetensors::cli {
const bool loads_modules = SAFETENSORS_CLI_LOADS_MODULES;
}  // namespace safetensors::cli
