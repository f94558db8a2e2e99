"""Components from user code: a module outside jaxssl registers a method, an encoder and a source, which
train through `train_and_evaluate` and load back with `load_encoder` in a fresh registry; clashing names
and unknown names are clear errors; and docs/extending.md's tutorial runs as written (its module and config
files written out, its command line run in a subprocess, its Python blocks executed in order)."""
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap

import ml_collections
import numpy as np
import pytest
from flax import nnx
from tensorboard.backend.event_processing import event_file_loader

import jaxssl
from jaxssl import config as config_lib, data, main, methods, models
from jaxssl.data import sources
from jaxssl.methods import Method
from test_train import ROOT

# The modules the tests write and import; the fixture forgets them.
USER_MODULES = ("tiny_ssl", "my_ssl")

# A user's module: a method with a loss on one view, a linear encoder with an option of its own, and an
# in-memory source of 4 brightness classes (registered with the plain-call forms and a decorator).
TINY_SSL = textwrap.dedent('''
    import jax.numpy as jnp
    import ml_collections
    import numpy as np
    from flax import nnx

    import jaxssl
    from jaxssl import data, models
    from jaxssl.methods import Method


    class Brightness(Method):
      """Predicts each view's mean pixel from the encoder's features: a loss on one view."""
      streams = ("unlabelled",)

      @staticmethod
      def default_config():
        return ml_collections.ConfigDict({"scale": 10.0})

      def build(self, image_shape, num_classes, rngs):
        encoder = self.build_encoder(image_shape, rngs)
        return models.EncoderAndHead(encoder, self.head(encoder.features, (1,), rngs))

      def loss(self, model, batch, key, axis_name=None):
        views = self.views(key, batch["unlabelled"], axis_name)
        target = self.options.scale * views.mean(axis=(1, 2, 3))
        error = model(views, train=True)[:, 0] - target
        return jnp.mean(error ** 2), {"target": jnp.mean(target)}


    jaxssl.register_method("brightness", Brightness)


    class Linear(models.Encoder):
      def __init__(self, in_features, features, *, dtype, rngs):
        self.dense = nnx.Linear(in_features, features, dtype=dtype, rngs=rngs)
        self.features = features

      def __call__(self, images, train=False):
        return self.dense(images.reshape(images.shape[0], -1)).astype(jnp.float32)


    @jaxssl.register_encoder("linear", defaults={"linear_features": 8})
    def build_linear(model_config, in_channels, image_size, *, dtype, axis_name, rngs):
      del axis_name
      return Linear(image_size * image_size * in_channels, model_config.linear_features, dtype=dtype, rngs=rngs)


    def images(n, seed):
      rng = np.random.default_rng(seed)
      labels = np.arange(n) % 4
      pixels = 40 + 50 * labels[:, None, None, None] + rng.integers(0, 30, (n, 8, 8, 1))
      return pixels.astype(np.uint8), labels


    train_x, train_y = images(64, 0)
    test_x, test_y = images(32, 1)
    jaxssl.register_source("levels", data.from_arrays(train_x, train_y, test_images=test_x, test_labels=test_y))
''')


@pytest.fixture(autouse=True)
def registries():
  """Whatever a test registers, and the user modules it imports, are gone after it."""
  saved = [(r, dict(r)) for r in (methods.METHODS, models.ENCODERS, models.ENCODER_DEFAULTS, sources.SOURCES)]
  yield
  forget(saved)


def forget(saved):
  """The registries as `saved`, and no user module imported: a fresh session."""
  for registry, before in saved:
    registry.clear()
    registry.update(before)
  for name in USER_MODULES:
    sys.modules.pop(name, None)


class Mine(Method):
  streams = ("unlabelled",)

  @staticmethod
  def default_config():
    return ml_collections.ConfigDict({"strength": 0.5})


def build_tiny(model_config, in_channels, image_size, *, dtype, axis_name, rngs):
  del axis_name, dtype
  encoder = nnx.Linear(image_size * image_size * in_channels, model_config.tiny_features, rngs=rngs)
  encoder.features = model_config.tiny_features
  return encoder


def read_source(image_size, shard=(0, 1), **_):
  raise NotImplementedError


def test_register_as_decorators_or_calls_and_clashing_names_raise():
  assert jaxssl.register_method is methods.register_method and jaxssl.register_source is sources.register_source
  assert jaxssl.register_encoder is models.register_encoder
  assert jaxssl.register_method("mine")(Mine) is Mine and methods.get("mine") is Mine
  assert jaxssl.register_encoder("tiny", build_tiny, defaults={"tiny_features": 4}) is build_tiny
  assert jaxssl.register_source("nothing")(read_source) is read_source and data.get_source("nothing") is read_source

  other = type("Other", (Method,), {})
  with pytest.raises(ValueError, match=r"a method called 'mine' is already registered \(test_extending.Mine\).*"
                                       r"replace=True"):
    jaxssl.register_method("mine", other)
  with pytest.raises(ValueError, match="an encoder called 'convnet' is already registered"):
    jaxssl.register_encoder("convnet", build_tiny)
  with pytest.raises(ValueError, match="a source called 'digits' is already registered"):
    jaxssl.register_source("digits", read_source)
  assert jaxssl.register_method("mine", other, replace=True) is other and methods.get("mine") is other
  # The same definition again (its module re-run: a reload, or imported again) is no clash.
  again = type("Other", (Method,), {"__qualname__": other.__qualname__, "__module__": other.__module__})
  jaxssl.register_method("mine", again)
  assert methods.get("mine") is again

  with pytest.raises(ValueError, match="would hide config.model"):
    jaxssl.register_method("model", Mine)
  with pytest.raises(ValueError, match="must be a Python identifier"):
    jaxssl.register_method("my-method", Mine)
  with pytest.raises(TypeError, match="subclass of jaxssl.methods.Method"):
    jaxssl.register_method("plain", object)
  with pytest.raises(ValueError, match="other than 'arrays'"):
    jaxssl.register_source("arrays", read_source)
  with pytest.raises(ValueError, match="config.model.width is already an option of encoder 'convnet' with default "
                                       "-1, not 16; give yours another name"):
    jaxssl.register_encoder("wide", build_tiny, defaults={"width": 16})
  assert "wide" not in models.ENCODERS
  jaxssl.register_encoder("narrow", build_tiny, defaults={"width": -1, "tiny_features": 4})  # Shared, same defaults.
  with pytest.raises(ValueError, match="other than 'name'"):
    jaxssl.register_encoder("named", build_tiny, defaults={"name": "x"})


def test_unknown_names_list_the_registered_ones_and_say_to_import():
  jaxssl.register_method("mine", Mine)
  jaxssl.register_encoder("tiny", build_tiny, defaults={"tiny_features": 4})
  jaxssl.register_source("nothing", read_source)
  for get, message in ((methods.get, r"unknown method 'nope'; config.method must be one of \[.*'mine'.*\]"),
                       (models.get, r"unknown encoder 'nope'; config.model.name must be one of \[.*'tiny'.*\]"),
                       (data.get_source, r"unknown dataset 'nope'; config.data.name must be one of \[.*'nothing'")):
    with pytest.raises(ValueError, match=message + r".*--import=your.module"):
      get("nope")
  config = config_lib.base_config("mine")
  config.imports = ("no_such_module_anywhere",)
  with pytest.raises(ImportError, match=r"could not import 'no_such_module_anywhere' .*PYTHONPATH"):
    config_lib.validate(config, 1)


def test_components_own_their_config_defaults():
  before = config_lib.base_config("simclr")
  jaxssl.register_method("mine", Mine)
  jaxssl.register_encoder("tiny", build_tiny, defaults={"tiny_features": 4})
  config = config_lib.base_config("mine")
  assert config.mine.to_dict() == {"strength": 0.5}
  assert config.model.tiny_features == 4 and "tiny_features" not in before.model
  # The built-in encoders' options: today's keys and defaults (saved configs and checkpoints still match).
  assert before.model.to_dict() == {
      "name": "convnet", "width": -1, "features": 128, "final_relu": False, "stem": "auto",
      "zero_init_residual": False, "feature_layer": "fc", "patch_size": 4, "depth": -1, "num_heads": -1}
  assert set(config) - {"mine"} == config_lib.shared_keys() and "model" in config_lib.shared_keys()
  assert config.imports == ()
  # A config built before the encoder was registered still builds it, with the encoder's defaults.
  before.model.name = "tiny"
  encoder = models.build_encoder(before.model, 1, 8, nnx.Rngs(0))
  assert encoder.features == 4 and "tiny_features" not in before.model


def test_import_flag_values():
  argv = ["main", "--import=a.b", "--config=c.py", "--import", "d", "-import=e", "--", "--import=f"]
  assert main.import_flag_values(argv) == ["a.b", "d", "e"]
  config = config_lib.base_config("simclr")
  config.lock()
  main.record_imports(config, ["json", "os.path", "json"])
  assert config.imports == ("json", "os.path")


def losses_logged(workdir):
  """train/loss by step from the run's TensorBoard events."""
  found = {}
  for name in os.listdir(workdir):
    if name.startswith("events.out.tfevents."):
      for event in event_file_loader.EventFileLoader(os.path.join(workdir, name)).Load():
        for value in event.summary.value:
          if value.tag == "train/loss":
            found[event.step] = value.tensor.float_val[0]
  return [found[step] for step in sorted(found)]


@pytest.mark.slow
def test_user_module_trains_and_its_run_loads_back_in_a_fresh_session(tmp_path, monkeypatch):
  (tmp_path / "tiny_ssl.py").write_text(TINY_SSL)
  monkeypatch.syspath_prepend(str(tmp_path))
  config_lib.import_modules(["tiny_ssl"])
  config = config_lib.base_config("brightness")
  config.imports = ("tiny_ssl",)
  config.data.name, config.data.image_size, config.data.labels_per_class = "levels", 8, 4
  config.model.name, config.model.linear_features = "linear", 6
  config.batch_size, config.num_train_steps, config.log_every_steps = 16, 4, 1
  config.eval_every_steps = config.checkpoint_every_steps = 4
  config.eval.probe_steps, config.eval.probe_learning_rates, config.eval.knn_k = 5, (), (3,)
  workdir = str(tmp_path / "run")
  results = jaxssl.train_and_evaluate(config, workdir)
  losses = losses_logged(workdir)
  assert len(losses) == 4 and np.isfinite(losses).all() and len(set(losses)) > 1, losses
  assert np.isfinite(results["train"]["target"]) and set(results["final"]) == {"step", "knn_k3", "probe", "snn"}
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert saved["imports"] == ["tiny_ssl"] and saved["model"]["linear_features"] == 6
  assert saved["brightness"] == {"scale": 10.0}

  forget([(r, {k: v for k, v in r.items() if k not in ("brightness", "linear", "levels")})
          for r in (methods.METHODS, models.ENCODERS, models.ENCODER_DEFAULTS, sources.SOURCES)])
  with pytest.raises(ValueError, match="unknown method 'brightness'"):
    methods.get("brightness")
  encoder = jaxssl.load_encoder(workdir)  # Imports config.imports first: the registrations run again.
  assert "tiny_ssl" in sys.modules and encoder.step == 4 and encoder.encoder.features == 6
  features = encoder.embed(sys.modules["tiny_ssl"].test_x)
  assert features.shape == (32, 6) and np.isfinite(features).all()
  with pytest.raises(ValueError, match="reads no model.feature_layer"):  # Not silently ignored.
    jaxssl.load_encoder(workdir, feature_layer="conv3")


def tutorial_blocks():
  """(language, code) of each fenced block of docs/extending.md, in order."""
  with open(os.path.join(ROOT, "docs", "extending.md")) as f:
    return re.findall(r"```(\w+)\n(.*?)```", f.read(), flags=re.S)


def test_tutorial_covers_what_the_issue_asks_for():
  blocks = tutorial_blocks()
  code = "\n".join(block for _, block in blocks)
  for piece in ("@jaxssl.register_method(", "@jaxssl.register_encoder(", "@jaxssl.register_source(", "(Method):",
                "def loss(", "defaults=", "--import=my_ssl", "jaxssl.train_and_evaluate(", "jaxssl.load_encoder("):
    assert piece in code, piece
  assert [b.splitlines()[0] for lang, b in blocks if lang == "python"][:2] == ["# my_ssl.py",
                                                                              "# align_uniform_stripes.py"]


@pytest.mark.slow
def test_tutorial_runs_as_written(tmp_path, monkeypatch):
  """Blocks whose first line is `# <name>.py` are files to save; `sh` lines run (with a shorter training,
  4 virtual devices as the other tests), and the other Python blocks run in order, in the same folder."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(tmp_path))
  ran = []
  for index, (language, block) in enumerate(tutorial_blocks()):
    name = re.fullmatch(r"# (\w+\.py)", block.splitlines()[0])
    if language == "python" and name:
      (tmp_path / name.group(1)).write_text(block)
    elif language == "python":
      exec(compile(block, f"docs/extending.md python block {index}", "exec"), {"__name__": "tutorial"})
    elif language == "sh":
      for line in filter(None, block.splitlines()):
        args = [sys.executable if a == "python" else a for a in shlex.split(line)]
        out = subprocess.run(args + ["--config.num_train_steps=3", "--config.eval.probe_steps=10"],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)])})
        assert out.returncode == 0, out.stderr[-3000:]
        assert re.search(r"^align_uniform on stripes, step 3: .*\bknn_k20=\d", out.stdout, re.M), out.stdout
    ran.append(language)
  assert ran.count("python") >= 4 and "sh" in ran
  with open(tmp_path / "runs" / "au" / "config.json") as f:
    saved = json.load(f)
  assert saved["imports"] == ["my_ssl"] and saved["align_uniform"]["t"] == 3 and saved["model"]["name"] == "mlp"
  losses = losses_logged(str(tmp_path / "runs" / "au_quick"))
  assert len(losses) >= 1 and np.isfinite(losses).all()
