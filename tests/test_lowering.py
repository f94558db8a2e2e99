"""Every method's train step, the evaluation's embedding step and the fine-tuning step lower for CUDA and TPU
(`jax.export` on this CPU host), and the programs lowered for those platforms hold none of jaxssl's CPU tricks
(`jaxssl.cpu_tricks`): the same XLA convolutions and matmuls as with the tricks switched off."""
import os
import re

import jax
import numpy as np
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import helpers
from jaxssl import augment, config as config_lib, cpu_tricks, data, finetune, methods, parallel, train
from test_train import ROOT, load_config

PLATFORMS = ("cuda", "tpu")


def tiny(method):
  config = helpers.small_heads(config_lib.base_config(method))
  config.data.labels_per_class = 5
  config.batch_size, config.model.width, config.model.features = 16, 8, 16
  config.labelled_batch_size = 0 if "labelled" not in methods.create(config).streams else (
      20 if method in ("paws", "suncet") else 16)
  return config


def train_step_and_args(config):
  """The jitted train step of `config` on one device and (state, batch) to call it with: the state as shapes
  (lowering needs no values, and initialising them would compile a program per parameter shape)."""
  method = methods.create(config)
  dataset = data.load(config.data)
  graphdef, state, tx = helpers.abstract_state(method, dataset, config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  step = parallel.make_train_step(graphdef, tx, method, mesh, jax.random.key(0))
  batch = data.make_batch_fn(dataset, method.batch_sizes(), 0, stratified=method.stratified_labels)(0)
  return step, (state, parallel.shard_batch(mesh, batch))


def op_counts(exported) -> dict[str, int]:
  """How often each StableHLO op occurs in an exported program."""
  return dict(zip(*np.unique(re.findall(r"stablehlo\.([a-z_]+)", exported.mlir_module()), return_counts=True)))


@pytest.mark.parametrize("method", sorted(methods.METHODS))
def test_train_step_lowers_for_cuda_and_tpu(method):
  step, args = train_step_and_args(tiny(method))
  exported = jax.export.export(step, platforms=PLATFORMS)(*args)
  assert exported.platforms == PLATFORMS
  assert op_counts(exported).get("convolution", 0) > 0


def test_cuda_program_holds_no_cpu_trick(monkeypatch):
  """With the tricks on (this host is a CPU) the CUDA-lowered step equals the one lowered with them off, op for
  op, and uses XLA's convolution for the forward pass and both gradients; the CPU-lowered one does not."""
  config = tiny("simclr")
  lowered = {}
  for enabled in (True, False):
    monkeypatch.setattr(cpu_tricks, "ENABLED", enabled)
    step, args = train_step_and_args(config)
    lowered[enabled] = {p: op_counts(jax.export.export(step, platforms=(p,))(*args)) for p in ("cuda", "cpu")}
  # platform_dependent leaves a one-branch `case` per convolution in a one-platform program; nothing else.
  compute = lambda counts: {op: n for op, n in counts.items() if op not in ("case", "return")}  # noqa: E731
  assert compute(lowered[True]["cuda"]) == compute(lowered[False]["cuda"])
  assert lowered[True]["cuda"]["convolution"] >= 4 + 3 + 4  # The convnet's 4 layers: forward, input (3), filter.
  # The CPU path is real: on the CPU the filter gradients and strided passes are matmuls.
  assert lowered[True]["cpu"]["dot_general"] > lowered[True]["cuda"]["dot_general"]


def test_embed_and_finetune_steps_lower_for_cuda_and_tpu():
  config = tiny("simclr")
  method = methods.create(config)
  dataset = data.load(config.data)
  graphdef, state, _, _ = train.create_state(method, dataset, config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  embed = parallel.make_embed_fn(graphdef, mesh, augment.to_float)
  images = parallel.shard_batch(mesh, {"x": dataset.test_images[:8]})["x"]
  exported = jax.export.export(embed, platforms=PLATFORMS)(state.params, state.rest, images)
  assert exported.out_avals[0].shape[0] == 8

  model = finetune.Classifier(nnx.merge(graphdef, state.params, state.rest).encoder, 10,
                              dataset.test_images.shape[1:], nnx.Rngs(0))
  graphdef, trainable, frozen = nnx.split(model, nnx.Param, ...)
  tx = optax.adam(1e-3)
  ft_step = finetune.make_train_step(graphdef, tx, augment.ViewConfig.from_config(config.augment))
  exported = jax.export.export(ft_step, platforms=PLATFORMS)(
      trainable, frozen, tx.init(trainable), dataset.labelled_images[:8], dataset.labelled_labels[:8],
      jax.random.key(0))
  assert "convolution" in op_counts(exported)


BUILT_IN_ENCODERS = ("convnet", "resnet18", "resnet50", "wrn28_2", "alexnet", "vit_tiny", "vit_small")


@pytest.mark.parametrize("encoder", BUILT_IN_ENCODERS)
def test_forward_mode_ad_through_every_encoder_off_the_cpu_tricks(encoder, monkeypatch):
  """jax.jvp and jax.linearize through each encoder where the CPU tricks are not traced (a GPU/TPU host, here
  simulated as a CPU run with JAXSSL_CPU_TRICKS=0) agree with each other and with reverse mode. Narrow and
  shallow models: every layer type of each encoder, at a fraction of its compile time."""
  from jaxssl import models
  monkeypatch.setattr(cpu_tricks, "ENABLED", False)
  model_config = models.default_config()
  model_config.name = encoder
  if encoder.startswith("vit"):
    model_config.width, model_config.depth = 48, 2  # 48: a multiple of ViT-Tiny's 3 and ViT-S's 6 heads.
  elif encoder != "alexnet":
    model_config.width = 8
  size = 64 if encoder == "alexnet" else 32
  model = models.build_encoder(model_config, 3, size, nnx.Rngs(0))
  model.eval()
  graphdef, state = nnx.split(model)
  represent = lambda state, x: nnx.merge(graphdef, state).representation(x)  # noqa: E731
  x = jax.random.uniform(jax.random.key(0), (2, size, size, 3))
  t = jax.random.normal(jax.random.key(1), x.shape)
  u = jax.random.normal(jax.random.key(2), jax.eval_shape(represent, state, x).shape)

  @jax.jit  # One program for the three modes (run eagerly, each op would compile on its own).
  def modes(state, x, t, u):
    f = lambda x: represent(state, x)  # noqa: E731
    _, tangent = jax.jvp(f, (x,), (t,))
    linearized = jax.linearize(f, x)[1](t)
    (pullback,) = jax.vjp(f, x)[1](u)
    return tangent, linearized, pullback

  tangent, linearized, pullback = modes(state, x, t, u)
  np.testing.assert_allclose(linearized, tangent, rtol=1e-4, atol=1e-5 * float(np.abs(tangent).max()))
  # Forward mode agrees with reverse mode: <J t, u> = <t, Jᵀ u> for a random cotangent u.
  np.testing.assert_allclose(jnp.vdot(tangent, u), jnp.vdot(t, pullback), rtol=1e-3)
  assert float(np.abs(tangent).max()) > 0


def test_the_gpu_check_benchmark_rows_are_valid_configs(monkeypatch):
  """experiments/benchmark.py's step rows (the CPU table's and the GPU check's `--rows=accelerator`, full and
  quick) are configs with overrides that exist, validate on one device and build their model (as shapes), so
  that a renamed option fails here, not in the few minutes a GPU is lent."""
  monkeypatch.syspath_prepend(os.path.join(ROOT, "experiments"))
  import benchmark  # pylint: disable=g-import-not-at-top
  rows = [(name, overrides, ("float32",)) for name, overrides in benchmark.STEP_ROWS + benchmark.QUICK_STEP_ROWS]
  rows += benchmark.accelerator_step_rows(quick=False) + benchmark.accelerator_step_rows(quick=True)
  built = set()
  for name, overrides, dtypes in rows:
    for dtype in dtypes:
      config = load_config(name)
      config.lock()  # As benchmark.step_row reads it: an option that does not exist raises.
      config.update_from_flattened_dict({**overrides, "dtype": dtype})
      config_lib.validate(config, num_devices=1)
      size, method = config.data.image_size, methods.create(config)
      model = nnx.eval_shape(lambda: method.build((size, size, 3), 10, nnx.Rngs(0)))
      built.add((config.method, type(model.encoder).__name__, size, sum(method.batch_sizes().values())))
  assert {("simclr", "ResNet", 32, 512), ("paws", "WideResNet", 32, 500), ("simclr", "ConvNet", 96, 512)} <= built
