"""Test setup: 4 virtual CPU devices, so one process can compare 1-device and 4-device runs, and one
compilation cache for the session: many tests (and the processes they start) compile the same programs,
e.g. a run and its resumption. It starts empty each session, and cached programs compute bitwise the same."""
import atexit
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxssl-tests-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after XLA_FLAGS, before any test imports jax)
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def devices():
  assert len(jax.devices()) == 4, "tests expect 4 virtual CPU devices (see conftest.py)"
  return jax.devices()
