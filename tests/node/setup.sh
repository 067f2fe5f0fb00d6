#!/usr/bin/env bash
# Installs the test-only npm packages (Hugging Face tokenizers, native) into tests/node/.
# --ignore-scripts: nothing downloads at install time; the prebuilt binary comes in the package.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -d node_modules/@anush008/tokenizers ]]; then exit 0; fi
npm install --ignore-scripts --no-audit --no-fund --silent >/dev/null
