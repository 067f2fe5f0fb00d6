// simdjson's implementation (simdjson.cpp, copied unchanged: README.md) compiled against the
// system's simdjson.h (Debian libsimdjson-dev): the two must be the same release.
#include <simdjson.h>

static_assert(simdjson::SIMDJSON_VERSION_MAJOR == 3 && simdjson::SIMDJSON_VERSION_MINOR == 0 &&
                  simdjson::SIMDJSON_VERSION_REVISION == 1,
              "third_party/simdjson/simdjson.cpp is simdjson 3.0.1 but the simdjson.h found is "
              "another release: refresh it as third_party/simdjson/README.md says");

#include "simdjson.cpp"
