"""Wikimedia Lift Wing's layout: one load test class per model server under models/, the one to
run picked by the MODEL environment variable (suite's `settings.env` sets it; so does
`MODEL=resnet suite run ...` with `-o settings.env.MODEL=resnet`)."""

import importlib
import os

_model = os.environ.get("MODEL", "squeezenet")
_module = importlib.import_module(f"models.{_model}")
globals().update({name: cls for name, cls in vars(_module).items() if name.endswith("Test")})
