"""Shared machinery for the interop tests: the integration suite's fixtures
and helpers (tests/integration/conftest.py: hosts, clients, services) made
available here, plus the Django test project's paths."""

import importlib.util
import sys
from pathlib import Path

INTEGRATION_DIR = Path(__file__).resolve().parents[1] / "integration"
DJPROJECT = Path(__file__).resolve().parent / "djproject"
DJANGO_PYTHON = "/usr/bin/python3"

sys.path.insert(0, str(INTEGRATION_DIR))
_spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION_DIR / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
sys.modules["integration_conftest"] = _integration
_spec.loader.exec_module(_integration)
globals().update({k: v for k, v in vars(_integration).items() if not k.startswith("__")})
