"""Two processes on 127.0.0.1 (2 virtual CPU devices each, gloo collectives, JAX's own distributed runtime):
each reads half of the data, and they train and evaluate exactly as one process with 4 devices on the same
global batch."""
import json
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import helpers
import multiprocess_worker as worker
from jaxssl import data, evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# A small SimCLR-on-digits job: the shape of the default job at a fraction of its cost.
TINY = ["--config=configs/simclr_digits.py", "--config.batch_size=16", "--config.model.width=8",
        "--config.model.features=16", "--config.checkpoint_every_steps=100000", "--config.log_every_steps=5",
        "--config.eval_every_steps=100000", "--config.eval.probe_steps=10"]


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_with_four_devices(devices, tmp_path):
  port = free_port()
  env = helpers.subprocess_env()  # Each worker has 2 devices, not conftest's 4.
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
    losses, moved, features = worker.run(method)  # This process: 4 devices, all rows of every global batch.
    saved = np.load(tmp_path / f"{method}.npz")
    np.testing.assert_allclose(saved["losses"], losses, rtol=5e-5)  # Summation order across processes: ~1e-5.
    assert set(saved.files) - {"losses"} == set(moved) | set(features)
    # Compared by norm, as in test_parallel: a per-entry check fails entries that cancel to near 0. Measured
    # with this process in XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 code and the workers in AVX-512: moves at most
    # 0.3% of what the check allows, feature rows 6.6e-6 of their norm (the per-entry check failed there).
    helpers.assert_moves_match({name: saved[name] for name in moved}, moved)
    for name in ("bank", "test"):  # Every process's shard, embedded on 4 devices of 2 processes and gathered.
      helpers.assert_rows_match(saved[name], features[name])
    # The test features came from a tuple-valued embedding (as features and logits do): its second array is
    # gathered in the same row order.
    np.testing.assert_array_equal(saved["test_narrow"], saved["test"][:, :3])
    # Evaluation is a function of those features: on the 2-process features it gives here exactly what the 2
    # processes gave. (kNN, the probe's learning rate and the argmaxes are discrete: features that differ by
    # float rounding may flip one of them, so they are not compared across layouts.)
    config = worker.config_for(method)
    dataset = data.load(config.data)
    accuracies, choices = evaluate.evaluate_features(saved["bank"], dataset.labelled_labels, saved["test"],
                                                     dataset.test_labels, dataset.num_classes, config.eval)
    assert {f"eval/{k}": v for k, v in accuracies.items()} == {k: saved[k] for k in saved.files if k[:5] == "eval/"}
    assert {f"choice/{k}": v for k, v in choices.items()} == {k: saved[k] for k in saved.files if k[:7] == "choice/"}


def run_restore_workers(tmp_path, failing_process):
  """Both processes' RESULT of tests/restore_worker.py (see there)."""
  port = free_port()
  env = helpers.subprocess_env()
  procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "restore_worker.py"), str(port), str(i), str(tmp_path),
                             str(failing_process)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  try:
    outputs = [p.communicate(timeout=300)[0] for p in procs]
  finally:
    for p in procs:
      p.kill()
  results = []
  for p, out in zip(procs, outputs):
    assert p.returncode == 0 and "RESULT " in out, out[-3000:]
    results.append(json.loads(out.split("RESULT ", 1)[1].splitlines()[0]))
  return results


def test_processes_agree_on_the_checkpoint_when_one_cannot_read_it(tmp_path):
  """Step 2 fails to restore on process 1 alone: both stop with the same clear error and nothing moves
  (before, process 0 resumed from step 2 and process 1 from step 1)."""
  results = run_restore_workers(tmp_path, failing_process=1)
  for result in results:
    assert "process 0 restored the checkpoint of step 2" in result.get("error", ""), results
    assert "process(es) [1] could not" in result["error"] and "nothing was moved" in result["error"]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]


def test_processes_fall_back_together_when_process_0_cannot_read_a_checkpoint(tmp_path):
  """Step 2 fails on process 0, which decides: both resume from step 1, and step 2 is moved aside, not deleted."""
  results = run_restore_workers(tmp_path, failing_process=0)
  assert results == [{"step": 1, "w": 1.0, "resumed": True}] * 2
  assert os.listdir(tmp_path / "checkpoints") == ["1"] and os.listdir(tmp_path / "unreadable_checkpoints") == ["2"]


def start_job(args, log_dir):
  """Starts `python -m jaxssl.main *args` as process 0 and 1 of a 2-process job (2 CPU devices each)."""
  port = free_port()
  env = helpers.subprocess_env(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="2", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
  procs = []
  for i in range(2):
    with open(os.path.join(log_dir, f"process{i}.log"), "a") as log:
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "jaxssl.main", *args, f"--coordinator_address=127.0.0.1:{port}",
           "--num_processes=2", f"--process_id={i}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
  return procs


def finish(procs, log_dir, timeout=240):
  """Waits for the job's processes (killing them after `timeout` s); returns their logs."""
  try:
    for p in procs:
      p.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    pytest.fail(f"the job did not finish in {timeout} s")
  finally:
    for p in procs:
      p.kill()
  logs = [open(os.path.join(log_dir, f"process{i}.log")).read() for i in range(2)]
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  return logs


def test_two_process_job_stops_together_on_one_sigterm_and_resumes(tmp_path):
  """The whole `jaxssl.main` loop as a 2-process job: a SIGTERM to one process (a preempted host) makes both
  save the same step and exit 0; the same command then resumes from it and finishes."""
  workdir = tmp_path / "run"
  procs = start_job([*TINY, f"--workdir={workdir}", "--config.num_train_steps=100000"], tmp_path)
  try:
    deadline = time.time() + 240
    while "step 5/" not in (tmp_path / "process0.log").read_text():  # Process 0 logs step 5.
      assert all(p.poll() is None for p in procs) and time.time() < deadline, "the job ended or stalled early"
      time.sleep(0.1)
  except BaseException:
    for p in procs:
      p.kill()
    raise
  procs[1].send_signal(signal.SIGTERM)
  logs = finish(procs, tmp_path)
  stopped = json.loads((workdir / "results.json").read_text())["preempted_at_step"]
  for log in logs:
    assert f"stopped at step {stopped} on request" in log
  assert stopped >= 5 and os.listdir(workdir / "checkpoints") == [str(stopped)]

  logs = finish(start_job([*TINY, f"--workdir={workdir}", f"--config.num_train_steps={stopped + 3}"], tmp_path),
                tmp_path)
  results = json.loads((workdir / "results.json").read_text())
  assert results["start_step"] == stopped and results["final"]["step"] == stopped + 3
  # The evaluation saw every process's features with the right labels: even this tiny encoder's kNN is far
  # above chance (0.1; features and labels mismatched across processes would give that).
  assert results["final"]["knn_k20"] > 0.3 and "preempted_at_step" not in results
  assert sorted(os.listdir(workdir / "checkpoints")) == sorted([str(stopped), str(stopped + 3)])
  assert len(glob.glob(str(workdir / "events.out.tfevents.*"))) == 2  # Process 0 alone writes metrics: 1 per run.
