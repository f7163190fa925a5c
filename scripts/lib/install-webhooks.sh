#!/usr/bin/env bash
# Installs the pinned npm standardwebhooks package into
# .tools/npm/standardwebhooks. The webhook tests verify real deliveries
# with it, so the signatures are checked by code this project did not write.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
npm_tool standardwebhooks "standardwebhooks@$STANDARDWEBHOOKS_VERSION" >/dev/null
