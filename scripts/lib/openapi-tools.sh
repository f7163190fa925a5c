#!/usr/bin/env bash
# Installs the npm tools that the OpenAPI and SDK tests run: the Redocly CLI
# (lint and build-docs), newman (runs the Postman collection) and TypeScript
# (compiles the TypeScript SDK with --strict). Versions are pinned in tools.sh.
# Source this file after tools.sh, then call install_openapi_tools.

# install_openapi_tools installs each tool into $TOOLS_DIR/npm/<name> and
# prints one "NAME=DIR" line per tool; the Go tests find them in those folders.
install_openapi_tools() {
  local dir
  dir="$(npm_tool redocly "@redocly/cli@${REDOCLY_CLI_VERSION}")" || return 1
  echo "redocly=$dir"
  dir="$(npm_tool newman "newman@${NEWMAN_VERSION}")" || return 1
  echo "newman=$dir"
  dir="$(npm_tool typescript "typescript@${TYPESCRIPT_VERSION}")" || return 1
  echo "typescript=$dir"
}
