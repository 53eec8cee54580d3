#!/usr/bin/env bash
# Recompile the pinned requirement files from pyproject.toml, with no index or registry URL in them.
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-q --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --strip-extras --allow-unsafe --no-header)
.venv/bin/pip-compile "${flags[@]}" -o requirements/base.txt pyproject.toml
.venv/bin/pip-compile "${flags[@]}" --extra dev -c requirements/base.txt -o requirements/dev.txt pyproject.toml
