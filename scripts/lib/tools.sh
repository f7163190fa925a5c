#!/usr/bin/env bash
# Pinned versions of the outside tools the scripts and tests install, and a
# helper that installs an npm package into .tools/npm/<name> once per version.
# Source this file; do not run it.

AZURITE_VERSION=3.37.0
REDOCLY_CLI_VERSION=2.77.0
STANDARDWEBHOOKS_VERSION=1.3.0
NEWMAN_VERSION=6.2.2
TYPESCRIPT_VERSION=5.9.3
TREE_SITTER_BICEP_VERSION=1.1.0
WEB_TREE_SITTER_VERSION=0.25.6
GOLANGCI_LINT_VERSION=v2.15.0

TOOLS_DIR="${TOOLS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools}"

# npm_tool DIR PACKAGE@VERSION... installs the packages into $TOOLS_DIR/npm/DIR
# unless that exact set is already there, and prints the folder.
npm_tool() {
  local dir="$TOOLS_DIR/npm/$1"
  shift
  local want="$*"
  if [[ ! -f "$dir/.installed" || "$(cat "$dir/.installed")" != "$want" ]]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && echo '{"private":true}' >package.json &&
      npm install --no-audit --no-fund --loglevel=error "$@" >&2) || return 1
    echo "$want" >"$dir/.installed"
  fi
  echo "$dir"
}
