"""Test setup: 4 virtual CPU devices, so one process can compare 1-device and 4-device runs."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402  (after XLA_FLAGS, before any test imports jax)
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def devices():
  assert len(jax.devices()) == 4, "tests expect 4 virtual CPU devices (see conftest.py)"
  return jax.devices()
