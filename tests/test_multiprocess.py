"""Two processes on 127.0.0.1 (2 virtual CPU devices each, gloo collectives, JAX's own distributed runtime):
each reads half of the data, and they train and evaluate exactly as one process with 4 devices on the same
global batch."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import multiprocess_worker as worker

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_with_four_devices(devices, tmp_path):
  port = free_port()
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # Each worker has 2 devices, not conftest's 4.
  procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "multiprocess_worker.py"), str(port), str(i),
                             str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  try:
    outputs = [p.communicate(timeout=400)[0] for p in procs]
  except subprocess.TimeoutExpired:
    pytest.fail("the two processes did not finish in 400 s")
  finally:
    for p in procs:
      p.kill()
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  seen = np.load(tmp_path / "data.npz")  # Each process read its half; gathered, they are the whole dataset.
  whole = worker.data_seen(worker.config_for("simclr"))
  np.testing.assert_array_equal(seen["shard_sizes"], [[719, 180], [718, 180]])  # 1437 train, 360 test images.
  for key in ("unlabelled", "test_labels", "labelled", "labelled_labels"):
    np.testing.assert_array_equal(seen[key], whole[key], err_msg=key)
  for method in worker.METHODS:
    losses, params, metrics = worker.run(method)  # This process: 4 devices, all rows of every global batch.
    saved = np.load(tmp_path / f"{method}.npz")
    np.testing.assert_allclose(saved["losses"], losses, rtol=1e-5)
    assert set(saved.files) - {"losses"} == set(params) | {f"eval/{k}" for k in metrics}
    for name, value in params.items():
      np.testing.assert_allclose(saved[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    for name, value in metrics.items():  # Evaluated on every process's test shard, gathered: the same numbers.
      np.testing.assert_allclose(saved[f"eval/{name}"], value, atol=1 / 360 + 1e-6, err_msg=name)
