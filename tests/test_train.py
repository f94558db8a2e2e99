"""End to end on digits: runs that learn, checkpoint resume, bad input, the command line, the configs."""
import glob
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

import helpers
from jaxssl import checkpoint, config as config_lib, data, methods, parallel, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name):
  return config_lib.from_file(os.path.join(ROOT, "configs", name + ".py"))


def test_simclr_on_digits_beats_the_untrained_encoder(tmp_path, monkeypatch):
  paced = []  # Every step's outputs go through the pacer (test_the_host_stays_at_most_max_steps_ahead...).

  class Recording(train.StepPacer):
    def dispatched(self, outputs):
      paced.append(outputs)
      super().dispatched(outputs)

  monkeypatch.setattr(train, "StepPacer", Recording)
  config = load_config("simclr_digits")
  config.batch_size, config.num_train_steps, config.model.width = 128, 80, NARROW
  config.eval_every_steps = config.checkpoint_every_steps = 80
  results = train.train_and_evaluate(config, str(tmp_path))
  assert len(paced) == 80 and all(x.shape == () for x in jax.tree.leaves(paced[-1]))
  initial, final = results["evals"]["0"], results["final"]
  # Measured at width 32, seeds 0 / 1 / 2: 0.769 -> 0.892, 0.767 -> 0.856, 0.725 -> 0.889.
  assert final["knn_k20"] > initial["knn_k20"] + 0.04, results["evals"]
  assert results["train"]["loss"] < 5.0  # log(2·128 − 1) = 5.54 is chance.
  assert os.path.exists(tmp_path / "results.json") and os.path.exists(tmp_path / "config.json")
  assert glob.glob(str(tmp_path / "events.out.tfevents.*"))
  helpers.check_results(results, config, data.load(config.data))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_supervised_on_digits_learns(tmp_path, dtype):
  config = load_config("supervised_digits")
  config.dtype = dtype
  config.num_train_steps, config.eval_every_steps, config.checkpoint_every_steps = 60, 60, 60
  results = train.train_and_evaluate(config, str(tmp_path))
  assert results["train"]["train_accuracy"] > 0.8
  assert results["final"]["head"] > 0.8, results["final"]  # Its own classifier, on the test images.
  assert results["final"]["knn_k20"] > results["evals"]["0"]["knn_k20"] + 0.03, results["evals"]
  helpers.check_results(results, config, data.load(config.data))


# The learns tests train a narrower ConvNet than the digits configs' (width 32, not 128: a step costs a quarter)
# and assert the best kNN (k = 20 / 100) clears the untrained encoder's by 0.04.
NARROW = 32
# Steps each method trains. Measured at these budgets, 4 devices, seeds 0 / 1 / 2 (untrained: 0.769 / 0.767 /
# 0.725), the best kNN at the last step: Barlow Twins (30 steps) 0.858 / 0.867 / 0.839; PAWS 0.847 / 0.856 /
# 0.875; SuNCEt 0.881 / 0.867 / 0.869; SESEMI 0.900 / 0.900 / 0.864; VICReg 0.881 / 0.881 / 0.875; FixMatch (its
# student) 0.861 / 0.864 / 0.850; MoCo v3 0.894 / 0.853 / 0.853 (at 90 steps 0.889 / 0.856 / 0.858). The
# smallest gain, +0.078 (PAWS, seed 0), is twice the margin. (At 60 steps BYOL gained +0.039 on seed 1 and DINO's
# loss had not yet left the collapse check's range, so test_teacher_methods keeps their 120 and 90.)
LEARNS_IN = {"suncet": 60, "paws": 60, "sesemi": 60, "vicreg": 60, "barlow_twins": 30, "moco_v3": 60, "fixmatch": 60}


@pytest.mark.parametrize("method", sorted(LEARNS_IN))
def test_each_method_on_digits_beats_the_untrained_encoder(method, tmp_path):
  config = load_config(f"{method}_digits")
  config.num_train_steps, config.model.width = LEARNS_IN[method], NARROW
  config.eval_every_steps = config.checkpoint_every_steps = config.num_train_steps
  if method == "fixmatch":  # Its EMA model (decay 0.999) has barely moved in 60 steps: this checks the training.
    config.fixmatch.evaluate = "student"
  config.eval.probe_steps = 100
  results = train.train_and_evaluate(config, str(tmp_path))
  best = lambda metrics: max(v for k, v in metrics.items() if k.startswith("knn"))
  assert best(results["final"]) > best(results["evals"]["0"]) + 0.04, results["evals"]
  helpers.check_results(results, config, data.load(config.data))


# RotNet, the VAE and the Siamese VAE learn what they optimise within a CI budget, but their features do not
# clear the untrained encoder's kNN on digits on every seed there (best kNN, untrained -> trained, 4 devices,
# seeds 0 / 1 / 2): RotNet at the config's width 128, 100 steps, +0.033 / -0.008 / -0.058; at width 32,
# 100-400 steps and learning rates 1e-3 to 3e-3, the smallest gain over seeds 0-3 is +0.022 or less; the Siamese
# VAE at width 128, 200 steps, +0.033 / -0.036 / -0.022 (at 400 steps, seeds 1 / 2: +0.022 / +0.053); the plain
# VAE needs 300 steps (it dips below the untrained encoder first, while its KL is near zero). A kNN assertion
# there held on seed 0 alone, so these tests check each one's own objective instead.
def test_rotnet_on_digits_learns_to_tell_the_rotations(tmp_path):
  config = load_config("rotnet_digits")
  config.num_train_steps, config.model.width = 100, NARROW
  config.eval_every_steps = config.checkpoint_every_steps = config.num_train_steps
  config.eval.probe_steps = 100
  results = train.train_and_evaluate(config, str(tmp_path))
  # Accuracy on the last step's 4 x 128 rotated images; chance is 0.25. Measured, seeds 0 / 1 / 2 / 3: 0.855 /
  # 0.822 / 0.852 / 0.850.
  assert results["train"]["rotation_accuracy"] > 0.6, results["train"]
  helpers.check_results(results, config, data.load(config.data))


# The loss's first step, and the mean of its last 5 after 30 steps of 64 images (the configs' 128 took twice
# the time for the same ratios: 0.80 / 0.83 on seed 0). Measured, seeds 0 / 1 / 2: the VAE 711 -> ratio
# 0.804 / 0.796 / 0.800; the Siamese VAE (ELBO + 5 x triplet) 712 -> 0.841 / 0.834 / 0.844.
LOSS_RATIO_BELOW = {"vae": 0.85, "siamese_vae": 0.87}


@pytest.mark.parametrize("method", sorted(LOSS_RATIO_BELOW))
def test_vaes_on_digits_improve_their_loss(method, devices):
  from test_models import run_steps
  config = load_config(f"{method}_digits")
  config.batch_size = 64
  losses, _, _ = run_steps(config, devices, steps=30)
  assert np.isfinite(losses).all()
  assert np.mean(losses[-5:]) < LOSS_RATIO_BELOW[method] * losses[0], losses


def tiny_config(method="simclr", steps=4):
  config = config_lib.base_config(method)
  config.data.labels_per_class = 5
  config.batch_size, config.model.width, config.model.features = 16, 8, 16
  config.num_train_steps = steps
  config.log_every_steps = config.eval_every_steps = config.checkpoint_every_steps = 2
  config.eval.probe_steps = 10
  return config


def test_the_host_stays_at_most_max_steps_ahead_of_the_device():
  """After dispatching step k the host waits for step k - depth, and for no later step (that would drain the
  device's queue). XLA:CPU deadlocked a 4-device run at its own bound of 32 computations in flight."""
  finished = []

  class StepOutputs:
    def __init__(self, step):
      self.step = step

    def block_until_ready(self):
      finished.append(self.step)
      return self

  pacer = train.StepPacer(depth=3)
  for step in range(1, 9):
    pacer.dispatched({"loss": StepOutputs(step)})
    assert finished == list(range(1, step - 3 + 1)), (step, finished)
  assert 2 <= train.MAX_STEPS_AHEAD < 32


def final_params(workdir, config):
  m = methods.create(config)
  _, like, _, _ = train.create_state(m, data.load(config.data), config)
  mgr = checkpoint.manager(os.path.join(workdir, "checkpoints"), 3)
  state = checkpoint.restore(mgr, mgr.latest_step(), parallel.replicate(parallel.make_mesh(), like))
  mgr.close()
  return int(state.step), jax.tree.map(np.asarray, state.params)


def test_nan_loss_stops_without_checkpointing_the_bad_state(tmp_path):
  config = tiny_config(steps=8)
  config.log_every_steps = config.checkpoint_every_steps = 1
  # Warm-up from 0: step 1 takes no step (and is checkpointed), then the rate of 1e12 blows the loss up.
  config.optimizer.name, config.optimizer.learning_rate, config.optimizer.warmup_steps = "sgd", 1e12, 4
  with pytest.raises(FloatingPointError, match=r"non-finite training metrics at step \d+.*last good checkpoint") as e:
    train.train_and_evaluate(config, str(tmp_path))
  steps = [int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit()]
  assert steps and f"last good checkpoint is step {max(steps)} " in str(e.value), (steps, str(e.value))
  bad = int(str(e.value).split("at step ")[1].split(":")[0])
  assert max(steps) == bad - 1  # Every step before the bad one was saved; the bad one was not.
  for step in steps:  # Whatever was saved holds finite parameters.
    config.num_train_steps = step
    assert all(np.isfinite(p).all() for p in jax.tree.leaves(final_params(str(tmp_path), config)[1]))


@pytest.mark.parametrize("key, value, message", [
    ("method", "swav", r"unknown method 'swav'.*'paws'.*'simclr'.*'supervised'"),
    ("model.name", "vgg", r"unknown encoder 'vgg'.*'convnet'"),
    ("data.name", "mnist", r"unknown dataset 'mnist'.*'digits'"),
    ("optimizer.name", "adagrad", r"unknown optimizer 'adagrad'.*'lars'"),
    ("data.labels_per_class", 0, r"labels_per_class must be -1"),
    ("eval.headline", "head", r"headline='head' needs a method that trains a classifier.*'finetune'"),
    ("eval.headline", "knn", r"headline must be 'finetune', 'snn', 'probe', 'head' or 'knn_k<k>'"),
])
def test_bad_config_values_are_clear_errors(key, value, message):
  config = config_lib.base_config("simclr")
  section, _, leaf = key.rpartition(".")
  (config[section] if section else config)[leaf] = value
  with pytest.raises(ValueError, match=message):
    config_lib.validate(config, num_devices=1)


def test_too_many_labels_per_class_is_a_clear_error(tmp_path):
  config = tiny_config()
  config.data.labels_per_class = 1000
  with pytest.raises(ValueError, match=r"class '0' has only \d+ training images, fewer than .*labels_per_class=1000"):
    train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize("method, encoder", [("simclr", "resnet18"), ("vae", "convnet")])
def test_a_feature_layer_the_encoder_does_not_read_is_a_clear_error_before_training(tmp_path, method, encoder):
  """A ResNet reads no layer but its last; a VAE's encoder reads its posterior mean, even on a ConvNet that
  reads conv3 elsewhere. Evaluation would otherwise read the representation without a word."""
  config = tiny_config(method)
  config.model.name, config.model.feature_layer = encoder, "conv3"
  with pytest.raises(ValueError, match=r"config.model.feature_layer='conv3': this (ResNet|GaussianEncoder) reads "
                                       r"no model.feature_layer.*leave it at 'fc'"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not glob.glob(os.path.join(tmp_path, "checkpoints", "*"))  # Stopped before any step was saved.


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))))
def test_every_config_is_complete_and_valid(path):
  config = load_config(os.path.basename(path)[:-3])
  assert config.method in os.path.basename(path) and config.data.name.split("_")[0] in os.path.basename(path)
  config_lib.validate(config, num_devices=1)
  assert config.to_dict().keys() == config_lib.base_config(config.method).to_dict().keys()


def run_main(*args, timeout=600, env=None):
  return subprocess.run([sys.executable, "-m", "jaxssl.main", *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout, env=helpers.subprocess_env(**(env or {})))


def test_command_line_runs_and_prints_accuracies(tmp_path):
  """The main job on digits, with TensorFlow unimportable (the core needs none): accuracies on stdout, one
  progress line per log step, TensorBoard events."""
  no_tf = tmp_path / "no_tf"
  no_tf.mkdir()
  (no_tf / "tensorflow.py").write_text("raise ImportError('TensorFlow is blocked in this test')\n")
  workdir = tmp_path / "run"
  out = run_main("--config=configs/simclr_digits.py", f"--workdir={workdir}", "--config.num_train_steps=3",
                 "--config.batch_size=32", "--config.eval.probe_steps=20", "--config.log_every_steps=1",
                 env={"PYTHONPATH": os.pathsep.join(filter(None, [str(no_tf), os.environ.get("PYTHONPATH")]))})
  assert out.returncode == 0, out.stderr[-3000:]
  assert "simclr on digits, step 3: knn_k20=" in out.stdout and "probe=" in out.stdout
  assert "orbax" not in out.stderr  # Checkpointing stays quiet on the console.
  assert "libtpu" not in out.stderr and "Unable to initialize backend" not in out.stderr  # No backend chatter.
  assert out.stderr.count("kNN: the labelled bank has") <= 1  # Warnings once per run, not per evaluation.
  assert re.search(r"step 1/3  loss=[0-9.]+  grad_norm=[0-9.]+\n", out.stderr), out.stderr  # It compiles: no rate.
  for step in (2, 3):
    assert re.search(rf"step {step}/3  loss=[0-9.]+  .* [0-9]+ images/s  ETA 0:00:\d\d\n", out.stderr), out.stderr
  assert re.search(r"eval at step 3 \([0-9.]+ s\): knn_k20=", out.stderr), out.stderr  # With its time.
  assert glob.glob(str(workdir / "events.out.tfevents.*"))


def test_command_line_rejects_a_mistyped_key(tmp_path):
  out = run_main("--config=configs/simclr_digits.py", f"--workdir={tmp_path}", "--config.num_train_step=3")
  assert out.returncode != 0 and "num_train_step" in out.stderr
  assert not os.path.exists(tmp_path / "checkpoints")


def test_library_import_has_no_side_effects():
  code = ("import sys; from jaxssl import losses, models, data, evaluate, augment, train, finetune, metrics; "
          "import jaxssl; jaxssl.load_encoder; "
          "assert 'tensorflow' not in sys.modules, 'TF imported'; "
          "from absl import flags; assert not flags.FLAGS.is_parsed(); print('ok')")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_paws_multicrop_with_a_fixed_size_encoder_is_a_clear_error():
  from flax import nnx

  config = config_lib.base_config("paws")
  config.paws.multicrop = 2
  with pytest.raises(ValueError, match=r"multicrop needs an encoder that takes 18×18 images; 'convnet' does not"):
    methods.create(config).build((32, 32, 1), 10, nnx.Rngs(0))
