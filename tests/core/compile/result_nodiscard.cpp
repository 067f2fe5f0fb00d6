// Compiled (never linked) by the core.result_nodiscard.* tests (tests/CMakeLists.txt): a
// dropped result must not compile. With DROP=1 a result<void> is dropped, with DROP=2 a
// result<int>; without DROP the same code keeps its results and has to compile, which shows
// that the failures come from the drops and not from the setup.
#include "core/try.hpp"

namespace st = safetensors;

st::result<void> check(bool ok) {
  if (!ok) return st::fail(st::errc::invalid_argument, "x.bin: bad");
  return {};
}

st::result<int> number() { return 41; }

st::result<long> widened() {
  st::result<long> r = number();  // result<int> converts to result<long>
  return r;
}

st::result<int> caller() {
#if DROP == 1
  check(true);
#elif DROP == 2
  number();
#else
  ST_TRY(check(true));
  (void)check(false);  // an explicit discard compiles
#endif
  const long v = ST_TRY(widened());
  return static_cast<int>(v) + 1;
}
