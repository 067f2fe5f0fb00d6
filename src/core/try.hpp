// ST_TRY: error propagation for result<T>, the one way to write "return the error if there is one".
//
//   auto header = ST_TRY(parse_header(bytes, name));   // header is the value, not a result
//   ST_TRY(write_all(fd, data, path));                 // result<void>: checked, nothing to bind
//
// The expression evaluates its operand once; on error the enclosing function returns that error
// (any result<U> accepts it; likewise for any tl::expected<T, E>, e.g. the server's api_result),
// otherwise the macro yields the value (moved out) or void. It is a GNU statement expression
// (GCC and Clang; __extension__ keeps -Wpedantic quiet).
#pragma once

#include <safetensors/error.hpp>
#include <type_traits>
#include <utility>

namespace safetensors::detail {

// Any error type: the server's api_result<T> (an HTTP error) propagates the same way.
template <class T, class E>
T try_unwrap(tl::expected<T, E>&& r) {
  return std::move(*r);
}
template <class E>
void try_unwrap(tl::expected<void, E>&&) {}

}  // namespace safetensors::detail

#define ST_TRY(...)                                                                  \
  __extension__({                                                                    \
    auto st_try_result_ = (__VA_ARGS__);                                             \
    if (!st_try_result_) return ::tl::unexpected(std::move(st_try_result_).error()); \
    ::safetensors::detail::try_unwrap(std::move(st_try_result_));                    \
  })
