#!/usr/bin/env bash
# Installation test (in the spirit of simdjson's tests/installation_tests): install this build
# into a temporary prefix; configure, build and install the core alone into another; build the
# README's quick-start programs against it (C++ through find_package, C through pkg-config) and
# run them; check that nothing beyond the core is linked, that the version is the same
# everywhere, and that `cpack -G DEB` gives a package whose CLI runs.
set -euo pipefail
src=${SAFETENSORS_SOURCE_DIR:?}
bin=${SAFETENSORS_BINARY_DIR:?}
gen=${SAFETENSORS_GENERATOR:-Ninja}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
data="$src/tests/data/real-safetensors/zig_ml_test.safetensors"

version=$(sed -n 's/^project(safetensors_cpp VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[[ -n "$version" ]] || fail "no version in CMakeLists.txt"

echo "== full install"
cmake --install "$bin" --prefix "$tmp/full" >/dev/null
cli="$tmp/full/bin/safetensors-cli"
[[ "$("$cli" --version)" == "safetensors-cli $version" ]] || fail "installed CLI --version: $("$cli" --version)"
"$cli" inspect "$data" | grep -q "^a  *F32  *\[4, 3\]" || fail "installed CLI cannot inspect $data"
# The model commands and the command list go through safetensors-cli-full (lib/safetensors/).
grep -q "^  classify " <<<"$("$cli" --help)" || fail "installed CLI --help does not list classify"
grep -q -- "--max-length" <<<"$("$cli" tokenize --help)" || fail "installed CLI cannot run tokenize --help"
! readelf -d "$cli" | grep -E "NEEDED.*libsafetensors" || fail "installed CLI links our shared libraries"
for h in safetensors.h safetensors.hpp reader.hpp writer.hpp version.h torch/convert.hpp model/classifier.hpp server/server.hpp; do
  [[ -f "$tmp/full/include/safetensors/$h" ]] || fail "header $h not installed"
done
libdir=$(dirname "$(find "$tmp/full" -name 'libsafetensors.so' | head -1)")
for f in libsafetensors.so libsafetensors_torch.so libsafetensors_model.so libsafetensors_server.so \
         cmake/safetensors/safetensorsConfig.cmake cmake/safetensors/safetensorsConfigVersion.cmake \
         pkgconfig/safetensors.pc; do
  [[ -e "$libdir/$f" ]] || fail "$f not installed under $libdir"
done
grep -q "PACKAGE_VERSION \"$version\"" "$libdir/cmake/safetensors/safetensorsConfigVersion.cmake" \
  || fail "package version file does not say $version"

echo "== core alone: configure, build, install"
cmake -S "$src" -B "$tmp/core-build" -G "$gen" -DCMAKE_BUILD_TYPE=Release \
  -DSAFETENSORS_BUILD_TORCH=OFF -DSAFETENSORS_TESTS=OFF -DSAFETENSORS_BENCH=OFF >"$tmp/core-configure.log" \
  || { cat "$tmp/core-configure.log"; fail "core-only configure"; }
grep -q "SAFETENSORS_BUILD_MODEL turned OFF because SAFETENSORS_BUILD_TORCH is OFF" "$tmp/core-configure.log" \
  || fail "no message for the layers a disabled torch layer turns off"
if grep -i -E "dnnl|httplib|minizip|utf8proc|openmp|openssl" "$tmp/core-build/CMakeCache.txt"; then
  fail "a core-only configure looked up another layer's dependency (above)"
fi
cmake --build "$tmp/core-build" -j "$(nproc)" >/dev/null
cmake --install "$tmp/core-build" --prefix "$tmp/core" >/dev/null
[[ ! -e "$tmp/core/bin/safetensors-cli" && ! -d "$tmp/core/include/safetensors/torch" ]] \
  || fail "core-only install holds the CLI or torch headers"
corelib=$(dirname "$(find "$tmp/core" -name 'libsafetensors.so' | head -1)")

echo "== C++ consumer (find_package, examples/quickstart-cpp)"
cmake -S "$src/examples/quickstart-cpp" -B "$tmp/qs-cpp" -G "$gen" -DCMAKE_PREFIX_PATH="$tmp/core" >/dev/null
cmake --build "$tmp/qs-cpp" >/dev/null
out=$("$tmp/qs-cpp/quickstart" "$tmp/quick.safetensors")
grep -q "^layer.weight F32 rank 2, 24 bytes$" <<<"$out" || fail "C++ quick start printed: $out"
grep -q "^sum 21.0, format pt$" <<<"$out" || fail "C++ quick start printed: $out"
"$cli" validate "$tmp/quick.safetensors" >/dev/null || fail "the quick start's file does not validate"
if ldd "$tmp/qs-cpp/quickstart" | grep -i -E "dnnl|gomp|libssl|libcrypto|httplib|minizip|utf8proc|safetensors_"; then
  fail "the core consumer links more than the core (above)"
fi
# Asking for a layer the prefix does not have fails at configure time.
mkdir -p "$tmp/needs-server"
cat >"$tmp/needs-server/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(needs_server LANGUAGES CXX)
find_package(safetensors REQUIRED COMPONENTS server)
CMAKE
if cmake -S "$tmp/needs-server" -B "$tmp/needs-server/b" -DCMAKE_PREFIX_PATH="$tmp/core" >/dev/null 2>&1; then
  fail "find_package(safetensors COMPONENTS server) succeeded against a core-only prefix"
fi
cmake -S "$tmp/needs-server" -B "$tmp/needs-server/b2" -DCMAKE_PREFIX_PATH="$tmp/full" >/dev/null \
  || fail "find_package(safetensors COMPONENTS server) fails against the full prefix"

echo "== C consumer (pkg-config, examples/quickstart-c)"
export PKG_CONFIG_PATH="$corelib/pkgconfig"
[[ "$(pkg-config --modversion safetensors)" == "$version" ]] || fail "safetensors.pc version"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$src/examples/quickstart-c/main.c" $(pkg-config --cflags --libs safetensors) -o "$tmp/list-tensors"
out=$(LD_LIBRARY_PATH="$corelib" "$tmp/list-tensors" "$data")
grep -q "^safetensors $version: 2 tensors$" <<<"$out" || fail "C quick start printed: $out"
grep -q "^a F32 \[4, 3\] 48 bytes$" <<<"$out" || fail "C quick start printed: $out"
if LD_LIBRARY_PATH="$corelib" "$tmp/list-tensors" "$src/CMakeLists.txt" 2>"$tmp/err"; then
  fail "C quick start accepted a non-safetensors file"
fi
grep -q "^error: .*CMakeLists.txt" "$tmp/err" || fail "C quick start error: $(cat "$tmp/err")"

echo "== README shows the quick-start programs as they are"
for f in examples/quickstart-cpp/main.cpp examples/quickstart-c/main.c; do
  awk -v marker="<!-- $f -->" 'found && /^```/ { if (inside) exit; inside = 1; next }
       $0 == marker { found = 1; next } inside { print }' "$src/README.md" >"$tmp/readme-block"
  cmp -s "$tmp/readme-block" "$src/$f" || { diff "$tmp/readme-block" "$src/$f" || true; fail "README's copy of $f differs"; }
done

echo "== Debian package"
if command -v dpkg-shlibdeps >/dev/null; then
  (cd "$bin" && cpack -G DEB -B "$tmp/deb" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
  deb=$(ls "$tmp"/deb/safetensors-cpp_"$version"*.deb)
  depends=$(dpkg-deb -f "$deb" Depends)
  for d in libdnnl libutf8proc libsimdjson libfmt libexpected-dev; do
    grep -q "$d" <<<"$depends" || fail "package Depends lacks $d: $depends"
  done
  dpkg-deb -x "$deb" "$tmp/deb/root"
  # The server's HTTP layer is header-only Boost.Beast: no HTTP library at run time. cpp-httplib
  # is needed only by the CLI's remote-header module, which is loaded for URL inputs alone.
  server_lib=$(find "$tmp/deb/root" -name 'libsafetensors_server.so.*.*' | head -1)
  [[ -n "$server_lib" ]] || fail "the package lacks libsafetensors_server"
  ! readelf -d "$server_lib" | grep -E "NEEDED.*(httplib|libssl|libcrypto)" \
    || fail "the server library links an HTTP/TLS library"
  remote_module=$(find "$tmp/deb/root" -name 'safetensors-cli-remote.so' | head -1)
  [[ -n "$remote_module" ]] || fail "the package lacks the remote-header module"
  ! readelf -d "$tmp/deb/root/usr/bin/safetensors-cli" | grep -E "NEEDED.*(httplib|libssl|libcrypto)" \
    || fail "safetensors-cli links an HTTP/TLS library (only its remote module may)"
  [[ "$("$tmp/deb/root/usr/bin/safetensors-cli" --version)" == "safetensors-cli $version" ]] \
    || fail "the packaged CLI does not run"
  [[ -f "$tmp/deb/root/usr/include/safetensors/reader.hpp" ]] || fail "the package lacks the headers"
else
  echo "skip: dpkg-shlibdeps not found (package dpkg-dev), no .deb built"
fi
echo "install test passed"
