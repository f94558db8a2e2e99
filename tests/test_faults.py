"""A run that survives faults: preemption (SIGTERM), SIGKILL and exact resume, unreadable checkpoints,
a workdir from another config, and starting over explicitly."""
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from jaxssl import checkpoint, config as config_lib, train
from test_train import ROOT, final_params, tiny_config


def corrupt(step_dir):
  """Overwrites a checkpoint's manifest and array data with garbage; returns its file list."""
  files = sorted(glob.glob(os.path.join(step_dir, "**", "*"), recursive=True))
  for path in files:
    if os.path.isfile(path) and ("manifest" in path or "/d/" in path):
      with open(path, "wb") as f:
        f.write(b"garbage")
  return [os.path.relpath(f, step_dir) for f in files]


def test_sigterm_checkpoints_the_current_step_and_resume_is_exact(tmp_path):
  """SIGTERM mid-run: the loop finishes its step, checkpoints it and returns; resuming to step N + 3 gives
  bitwise the parameters of an uninterrupted N + 3 steps (data, augmentation and schedule are functions of
  the step)."""
  stopped, straight = str(tmp_path / "stopped"), str(tmp_path / "straight")
  config = tiny_config(steps=100_000)
  config.checkpoint_every_steps = config.eval_every_steps = config.log_every_steps = 100_000

  def preempt_once_training():  # results.json appears after the step-0 evaluation, as the loop starts.
    while not os.path.exists(os.path.join(stopped, "results.json")):
      time.sleep(0.05)
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=preempt_once_training, daemon=True).start()
  first = train.train_and_evaluate(config, stopped)
  n = first["preempted_at_step"]
  assert 0 < n < 100_000 and "final" not in first
  assert os.listdir(os.path.join(stopped, "checkpoints")) == [str(n)]
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # The handler is gone with the run.
  resumed = train.train_and_evaluate(tiny_config(steps=n + 3), stopped)
  assert resumed["start_step"] == n and resumed["final"]["step"] == n + 3 and "preempted_at_step" not in resumed
  train.train_and_evaluate(tiny_config(steps=n + 3), straight)
  (step_a, params_a), (step_b, params_b) = final_params(stopped, tiny_config()), final_params(straight, tiny_config())
  assert step_a == step_b == n + 3
  jax.tree.map(np.testing.assert_array_equal, params_a, params_b)


def test_sigkill_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(tmp_path):
  killed, straight = tmp_path / "killed", str(tmp_path / "straight")
  args = ["--config=configs/simclr_digits.py", f"--workdir={killed}", "--config.num_train_steps=100000",
          "--config.batch_size=16", "--config.model.width=8", "--config.model.features=16",
          "--config.checkpoint_every_steps=5", "--config.log_every_steps=5", "--config.eval.probe_steps=10"]
  proc = subprocess.Popen([sys.executable, "-m", "jaxssl.main", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 300
    while not (killed / "checkpoints" / "5").is_dir():  # Orbax renames a step's folder into place when done.
      assert proc.poll() is None and time.time() < deadline, "the run ended or stalled before its first checkpoint"
      time.sleep(0.05)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  from test_train import load_config
  config = load_config("simclr_digits")
  config.batch_size, config.model.width, config.model.features, config.eval.probe_steps = 16, 8, 16, 10
  config.checkpoint_every_steps = config.log_every_steps = 5
  steps = [int(d) for d in os.listdir(killed / "checkpoints") if d.isdigit()]
  config.num_train_steps = max(steps) + 3
  # Step 0's evaluation wrote results.json with its time and the run's time up to then: the killed run's
  # seconds still count once resumed (train_wall_s was written only at a stop or the end).
  before_kill = train.read_json(str(killed / "results.json"))
  assert 0 < before_kill["eval_wall_s"] <= before_kill["train_wall_s"], before_kill
  resumed = train.train_and_evaluate(config, str(killed))
  assert resumed["start_step"] == max(steps)
  assert resumed["train_wall_s"] > before_kill["train_wall_s"] and resumed["eval_wall_s"] < resumed["train_wall_s"]
  train.train_and_evaluate(config, straight)
  jax.tree.map(np.testing.assert_array_equal, final_params(str(killed), config)[1], final_params(straight, config)[1])


def test_only_the_closed_loop_reports_of_tensorstore_reads_are_dropped(monkeypatch):
  """What checkpoint.py silences after a failed restore, and nothing else: the same error raised for another
  callback, or another error, still reaches the previous hook; installing twice wraps once."""
  import types
  import tensorstore as ts
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  checkpoint._drop_closed_event_loop_reports()
  hook = sys.unraisablehook
  checkpoint._drop_closed_event_loop_reports()
  assert hook is not seen.append and sys.unraisablehook is hook

  def report(error, *args):  # As a thread reports it: the traceback starts in call_soon_threadsafe.
    def call_soon_threadsafe(callback, *args):
      raise error
    try:
      call_soon_threadsafe(print, *args)
    except Exception as e:  # pylint: disable=broad-except
      sys.unraisablehook(types.SimpleNamespace(exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__.tb_next,
                                               err_msg=None, object=None))

  closed = RuntimeError("Event loop is closed")
  report(closed, ts.Promise.new()[1], object())  # A tensorstore read handing its result to a closed loop.
  assert seen == []
  report(closed, object())
  report(ValueError("Event loop is closed"), ts.Promise.new()[1])
  assert [type(u.exc_value) for u in seen] == [RuntimeError, ValueError]


# The reads orbax still had in flight when it gave up on the corrupt checkpoint reported "Event loop is
# closed", 85 lines of tracebacks on a run's console after a fallback that worked (checkpoint.py).
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_unreadable_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
  train.train_and_evaluate(tiny_config(steps=4), str(tmp_path))  # Checkpoints 2 and 4.
  files = corrupt(tmp_path / "checkpoints" / "4")
  results = train.train_and_evaluate(tiny_config(steps=6), str(tmp_path))
  assert results["start_step"] == 2 and results["final"]["step"] == 6
  assert "could not restore the checkpoint of step 4" in caplog.text
  moved = tmp_path / "unreadable_checkpoints" / "4"  # Moved aside, not deleted.
  assert sorted(os.path.relpath(f, moved) for f in glob.glob(str(moved / "**" / "*"), recursive=True)) == files


def test_no_readable_checkpoint_is_a_clear_error_and_nothing_moves(tmp_path):
  train.train_and_evaluate(tiny_config(steps=2), str(tmp_path))
  files = corrupt(tmp_path / "checkpoints" / "2")
  with pytest.raises(RuntimeError, match=r"(?s)none of the checkpoints .* could be restored.*Nothing was deleted"):
    train.train_and_evaluate(tiny_config(steps=4), str(tmp_path))
  assert sorted(os.path.relpath(f, tmp_path / "checkpoints" / "2")
                for f in glob.glob(str(tmp_path / "checkpoints" / "2" / "**" / "*"), recursive=True)) == files


def test_checkpoint_of_another_config_is_a_clear_error_and_reset_starts_over(tmp_path):
  train.train_and_evaluate(tiny_config(steps=2), str(tmp_path))
  other = tiny_config(steps=2)
  other.model.width = 16
  with pytest.raises(ValueError, match=r"holds checkpoints of a different config \(model: .*'width': 8.*'width': 16"):
    train.train_and_evaluate(other, str(tmp_path))
  other.reset = True
  results = train.train_and_evaluate(other, str(tmp_path))
  assert results["start_step"] == 0 and results["final"]["step"] == 2
  replaced = glob.glob(str(tmp_path / "replaced" / "*"))
  assert len(replaced) == 1 and sorted(os.listdir(replaced[0])) == ["checkpoints", "config.json", "results.json"]
  # A longer run of the same config is not "another config": it resumes.
  longer = tiny_config(steps=4)
  longer.model.width = 16
  assert train.train_and_evaluate(longer, str(tmp_path))["start_step"] == 2


def test_preemption_at_an_eval_step_saves_first_and_evaluates_on_resume(tmp_path, monkeypatch):
  """A stop request at a step that is also an evaluation step checkpoints it and returns before any
  evaluation (a preemption's grace period can be short); the resumed run evaluates that step first.
  results.json's eval_wall_s is the time of every evaluation, those before the resume included."""
  from jaxssl import preemption
  config = tiny_config(steps=6)
  config.eval_every_steps = 1
  calls, eval_seconds = [], []
  real_eval, real_save = train.evaluate_state, train.checkpoint.save

  def evaluate_state(embed, state, *args):
    calls.append(("eval", int(state.step)))
    start = time.time()
    out = real_eval(embed, state, *args)
    eval_seconds.append(time.time() - start)
    return out

  def assert_eval_time_is_all_evaluations(results):  # run_eval times the call: a few ms more at most.
    assert sum(eval_seconds) <= results["eval_wall_s"] <= sum(eval_seconds) + 0.05 * len(eval_seconds), results
    assert results["eval_wall_s"] < results["train_wall_s"]

  def save(mgr, step, state):
    calls.append(("save", step))
    real_save(mgr, step, state)

  monkeypatch.setattr(train, "evaluate_state", evaluate_state)
  monkeypatch.setattr(train.checkpoint, "save", save)
  monkeypatch.setattr(preemption.StopRequest, "requested", lambda self, step: step == 3)
  first = train.train_and_evaluate(config, str(tmp_path))
  assert first["preempted_at_step"] == 3 and sorted(first["evals"]) == ["0", "1", "2"]
  assert calls[-3:] == [("eval", 2), ("save", 2), ("save", 3)]  # Step 3: no evaluation before its save, nor after.
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "3"]
  assert_eval_time_is_all_evaluations(first)
  monkeypatch.setattr(preemption.StopRequest, "requested", lambda self, step: False)
  resumed = train.train_and_evaluate(config, str(tmp_path))
  assert resumed["start_step"] == 3 and sorted(resumed["evals"], key=int) == ["0", "1", "2", "3", "4", "5", "6"]
  assert calls[calls.index(("save", 3)) + 1] == ("eval", 3)  # The resume's first act: step 3's evaluation.
  assert_eval_time_is_all_evaluations(resumed)


@pytest.mark.parametrize("key, value", [("seed", 1), ("data.labels_per_class", 4), ("data.split_seed", 1),
                                        ("data.label_fraction", 0.5)])
def test_resume_refuses_a_different_labelled_subset_or_seed(tmp_path, key, value):
  """These keys change the labelled subset or the random stream: resuming would mix two runs in one
  results.json."""
  train.train_and_evaluate(tiny_config(steps=2), str(tmp_path))
  other = tiny_config(steps=4)
  if key == "data.label_fraction":
    other.data.labels_per_class = -1
  section, _, leaf = key.rpartition(".")
  (other[section] if section else other)[leaf] = value
  with pytest.raises(ValueError, match=rf"holds checkpoints of a different config \(.*{key.split('.')[-1]}"):
    train.train_and_evaluate(other, str(tmp_path))


def test_resume_allows_a_change_read_only_by_evaluation(tmp_path):
  train.train_and_evaluate(tiny_config(steps=2), str(tmp_path))
  other = tiny_config(steps=4)
  other.model.feature_layer = "conv3"  # Read by evaluation only; the state is the same.
  assert train.train_and_evaluate(other, str(tmp_path))["start_step"] == 2


def test_an_older_run_without_a_newer_option_resumes_and_a_set_one_is_compared():
  config = tiny_config(steps=2)
  saved = json.loads(config.to_json())
  del saved["data"]["validation_size"], saved["simclr"]["symmetric"]  # Options added after this run was written.
  assert checkpoint.incompatible_keys(saved, config) == []
  saved["data"]["validation_size"] = 1000
  assert checkpoint.incompatible_keys(saved, config) == ["data.validation_size: 1000 -> 0"]


def test_a_fixmatch_run_from_before_distribution_alignment_resumes_without_it_and_loads_with_the_defaults():
  """A saved config lacking an option (here both of FixMatch's alignment options) reads as the defaults: a
  resume without alignment is compatible, one with it is refused; values the run saved (None included) stay."""
  config = config_lib.base_config("fixmatch")
  saved = json.loads(config.to_json())
  del saved["fixmatch"]["distribution_alignment"], saved["fixmatch"]["alignment_momentum"]
  saved["fixmatch"]["threshold"], saved["imports"] = 0.8, None
  filled = config_lib.with_defaults(saved)
  assert filled["fixmatch"]["distribution_alignment"] is False and filled["fixmatch"]["alignment_momentum"] == 0.999
  assert filled["fixmatch"]["threshold"] == 0.8 and filled["imports"] is None
  saved["fixmatch"]["threshold"] = 0.95
  assert checkpoint.incompatible_keys(saved, config) == []
  config.fixmatch.distribution_alignment = True
  then, now = config_lib.with_defaults(saved)["fixmatch"], json.loads(config.to_json())["fixmatch"]
  assert then == {**now, "distribution_alignment": False}
  assert checkpoint.incompatible_keys(saved, config) == [f"fixmatch: {then!r} -> {now!r}"]


def test_a_checkpoint_written_before_method_state_existed_restores(tmp_path):
  """Checkpoints from before TrainState had `extra` hold step, params, rest and opt_state only; a method
  without state restores them (its `extra` is {} and is not saved either)."""
  import orbax.checkpoint as ocp
  from jaxssl import data, methods, parallel
  config = tiny_config()
  _, state, _, _ = train.create_state(methods.create(config), data.load(config.data), config)
  state = state.replace(step=state.step + 7)
  with checkpoint.manager(str(tmp_path), 2) as mgr:
    old_format = {"step": state.step, "params": state.params, "rest": state.rest, "opt_state": state.opt_state}
    mgr.save(7, args=ocp.args.Composite(state=ocp.args.StandardSave(old_format)))
    mgr.wait_until_finished()
    restored = checkpoint.restore(mgr, 7, parallel.replicate(parallel.make_mesh(), state.replace(step=state.step * 0)))
  assert int(restored.step) == 7 and restored.extra == {}
  jax.tree.map(np.testing.assert_array_equal, restored.params, state.params)
