#!/usr/bin/env bash
# The README's install command, exactly, in a fresh copy of the repository (the files git would
# clone: tracked and not ignored), with the interpreter of scripts/python (Debian's python3, whose
# torch and numpy the venv must see): the venv gets the package, the issue's example runs
# unchanged from another folder, and the distribution has the project version.
# ccache is reused when the environment sets CMAKE_CXX_COMPILER_LAUNCHER (CCACHE_BASEDIR is set
# to the copy, so the next run hits the cache despite a new temp path).
set -euo pipefail
unset PYTHONPATH  # ctest points it at the build tree; the venv must find its own package
src="${SAFETENSORS_SOURCE_DIR:?}"
python="${SAFETENSORS_PYTHON:-$(bash "$src/scripts/python" -c 'import sys; print(sys.executable)')}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$tmp/repo"
git -C "$src" ls-files -z --cached --others --exclude-standard |
  (cd "$src" && xargs -0 cp --parents -t "$tmp/repo" 2>/dev/null || true)
[[ -f "$tmp/repo/setup.py" && -f "$tmp/repo/python/safetensors/__init__.py" ]] || fail "copy of the repository is incomplete"
export CCACHE_BASEDIR="$tmp/repo" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
cmd='python3 -m venv --system-site-packages V && V/bin/pip install --no-build-isolation --no-index --no-deps .'
grep -qF "$cmd" "$src/README.md" || fail "README does not show: $cmd"
# The same command with python3 = the project's interpreter.
mkdir "$tmp/bin" && ln -s "$python" "$tmp/bin/python3"
(cd "$tmp/repo" && PATH="$tmp/bin:$PATH" bash -c "$cmd") >"$tmp/pip.log" 2>&1 || { tail -40 "$tmp/pip.log"; fail "pip install failed"; }

venv_python="$tmp/repo/V/bin/python"
mkdir "$tmp/work"
out=$(cd "$tmp/work" && "$venv_python" - <<'PY'
from safetensors.torch import save_file, load_file
import torch
tensors = {"layer1.weight": torch.randn(2, 2), "layer1.bias": torch.randn(2)}
save_file(tensors, "model.safetensors")
loaded = load_file("model.safetensors")
print(loaded["layer1.weight"])
import importlib.metadata, safetensors
print("from", safetensors.__file__)
print("version", safetensors.__version__, importlib.metadata.version("safetensors"))
PY
) || fail "the example failed in the venv"
grep -q "^tensor(\[\[" <<<"$out" || fail "example printed: $out"
grep -q "^from $tmp/repo/V/lib/python3[.0-9]*/site-packages/safetensors/__init__.py$" <<<"$out" || fail "not the venv's package: $out"
version=$(sed -n 's/^project(safetensors_cpp VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
grep -q "^version $version $version$" <<<"$out" || fail "version: $out (expected $version)"
echo "pip install OK: safetensors $version"
