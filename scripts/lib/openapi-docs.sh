#!/usr/bin/env bash
# Builds the static HTML API reference from an OpenAPI document with the
# Redocly CLI (build-docs). The build script runs it after writing the
# combined document with `handler openapi --format yaml --out DIR`, and the
# discovery route GET /api/api-management/docs serves the resulting file.
# Source this file after tools.sh and openapi-tools.sh.

# build_api_docs SPEC OUT_HTML writes OUT_HTML from SPEC.
build_api_docs() {
  local spec="$1" out="$2" dir
  dir="$(npm_tool redocly "@redocly/cli@${REDOCLY_CLI_VERSION}")" || return 1
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$dir/node_modules/.bin/redocly" build-docs "$spec" --output "$out" >&2
}
