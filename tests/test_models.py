"""Encoders: layouts (parameter counts, shapes, stems), BatchNorm modes, bf16, and a few train steps each."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import flax
from flax import nnx

import helpers
from jaxssl import checkpoint, config as config_lib, cpu_tricks, data, methods, models, parallel, train


def model_config(name, **overrides):
  c = config_lib.base_config("simclr").model
  c.name = name
  c.update(overrides)
  return c


def abstract_encoder(name, image_size=224, in_channels=3, **overrides):
  return nnx.eval_shape(lambda: models.build_encoder(model_config(name, **overrides), in_channels, image_size,
                                                     nnx.Rngs(0)))


def num_params(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def output_shape(fn, module, size, batch=2, channels=3):
  return nnx.eval_shape(lambda m: fn(m, jnp.zeros((batch, size, size, channels))), module).shape


# torchvision's resnet18 / resnet50 without `fc`: sum(p.numel() for n, p in model.named_parameters()
# if not n.startswith("fc")). The CIFAR stem swaps the 7×7×3×64 conv (9,408) for a 3×3×3×64 one (1,728).
# WRN-28-2, counted by hand: stem 3·9·16 = 432; group 1 (16→32): 14,432 + 3 × 18,560; group 2 (32→64):
# 57,536 + 3 × 73,984; group 3 (64→128): 229,760 + 3 × 295,424; final BN 256 — 1,466,320; the FixMatch/PAWS
# WRN-28-2 reports 1,467,610 with its 10-class Dense (+128·10 + 10).
# AlexNet-BN at 224 px: conv weights 3·64·121 + 64·192·25 + 192·384·9 + 384·256·9 + 256·256·9 = 2,468,544,
# BN 2·(64+192+384+256+256) = 2,304, fc6 256·6·6·4096, fc7 4096², their BN 4·4096.
PARAM_COUNTS = [
    ("resnet18", dict(stem="imagenet"), 11_176_512),
    ("resnet18", dict(stem="cifar"), 11_176_512 - 9_408 + 1_728),
    ("resnet50", dict(stem="imagenet"), 23_508_032),
    ("resnet50", dict(stem="cifar"), 23_508_032 - 9_408 + 1_728),
    ("wrn28_2", {}, 1_466_320),
    ("alexnet", {}, 2_468_544 + 2_304 + 9216 * 4096 + 4096 ** 2 + 4 * 4096),
    # timm's vit_small_patch16_224 with num_classes=0 (its 22,050,664 less the 384·1000 + 1000 head): patch
    # embedding 16·16·3·384 + 384, class token 384, positions 197·384, 12 blocks of 1,774,464, final norm 768.
    ("vit_small", dict(patch_size=16), 21_665_664),
]


@pytest.mark.parametrize("name, overrides, expected", PARAM_COUNTS)
def test_parameter_counts(name, overrides, expected):
  assert num_params(abstract_encoder(name, **overrides)) == expected


@pytest.mark.parametrize("name, size, features", [
    ("convnet", 96, 128), ("resnet18", 32, 512), ("resnet18", 96, 512), ("resnet50", 32, 2048),
    ("wrn28_2", 32, 128), ("alexnet", 96, 4096), ("vit_tiny", 32, 192), ("vit_small", 32, 384)])
def test_output_shapes(name, size, features):
  encoder = abstract_encoder(name, size)
  assert encoder.features == features
  assert output_shape(lambda m, x: m(x, train=True), encoder, size) == (2, features)
  assert output_shape(lambda m, x: m.representation(x), encoder, size) == (2, features)


def test_auto_stem_is_cifar_for_small_images():
  assert abstract_encoder("resnet18", 32).stem == "cifar"
  assert abstract_encoder("resnet18", 96).stem == "imagenet"
  assert abstract_encoder("resnet18", 32, stem="imagenet").stem == "imagenet"


def test_cifar_stem_keeps_resolution_imagenet_stem_divides_by_4():
  for stem, size in (("cifar", 32), ("imagenet", 8)):
    encoder = abstract_encoder("resnet18", 32, stem=stem)
    assert output_shape(lambda m, x: m.apply_stem(x), encoder, 32) == (2, size, size, 64)


@pytest.mark.parametrize("layer, shape", [("conv1", 23 * 23 * 64), ("conv2", 11 * 11 * 192), ("conv3", 5 * 5 * 384),
                                          ("conv4", 5 * 5 * 256), ("conv5", 5 * 5 * 256), ("fc", 4096)])
def test_alexnet_feature_layer_is_the_representation(layer, shape):
  encoder = abstract_encoder("alexnet", 96, feature_layer=layer)
  assert output_shape(lambda m, x: m.representation(x), encoder, 96) == (2, shape)
  assert output_shape(lambda m, x: m(x, train=True), encoder, 96) == (2, 4096)  # Heads train on fc7.


def test_convnet_feature_layer_is_that_conv_output():
  encoder = models.build_encoder(model_config("convnet", width=8, features=6), 1, 32, nnx.Rngs(0))
  graphdef, state = nnx.split(encoder)

  @jax.jit  # One compilation for every layer: traced, a module's attribute can change.
  def outputs(state, images):
    model = nnx.merge(graphdef, state)
    x, maps = images, []
    for conv in model.convs:  # By hand: conv -> ReLU, 32 -> 15 -> 7 -> 3 -> 1 pixels.
      x = jax.nn.relu(conv(x))
      maps.append(x.reshape(x.shape[0], -1))
    read = {}
    for layer in ("conv1", "conv2", "conv3", "conv4", "fc"):
      model.feature_layer = layer
      read[layer] = model.representation(images), model(images)
    return maps, model.dense(maps[-1]), read

  maps, dense, read = outputs(state, jax.random.uniform(jax.random.key(0), (3, 32, 32, 1)))
  for layer, expected, size in zip(("conv1", "conv2", "conv3", "conv4"), maps, (15, 7, 3, 1)):
    features, trained_on = read[layer]
    assert features.shape == (3, size * size * 8)
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    np.testing.assert_allclose(trained_on, dense, rtol=1e-6)  # Heads train on the Dense, whatever is read.
  np.testing.assert_allclose(read["fc"][0], dense, rtol=1e-6)


def test_a_layer_the_encoder_is_not_built_to_read_is_named_in_the_error():
  conv3 = abstract_encoder("convnet", 32, feature_layer="conv3")
  models.check_feature_layer(conv3, "conv3", "feature_layer")  # The layer it reads: fine.
  models.check_feature_layer(abstract_encoder("resnet18", 32), "fc", "feature_layer")  # fc: any encoder.
  with pytest.raises(ValueError, match=r"feature_layer='conv2': this ConvNet is built to read 'conv3' "):
    models.check_feature_layer(conv3, "conv2", "feature_layer")
  with pytest.raises(ValueError, match=r"feature_layer='conv2': this ResNet reads no model.feature_layer"):
    models.check_feature_layer(abstract_encoder("resnet18", 32), "conv2", "feature_layer")


@pytest.mark.parametrize("name, overrides, size, message", [
    ("resnet18", dict(stem="tiny"), 32, "config.model.stem must be one of"),
    ("alexnet", {}, 32, "alexnet needs images of at least 63"),
    ("alexnet", dict(feature_layer="conv9"), 96, "config.model.feature_layer must be one of"),
    ("convnet", {}, 16, "convnet needs images of at least 31"),
    ("convnet", dict(feature_layer="conv5"), 32, "config.model.feature_layer must be one of"),
])
def test_bad_encoder_options_are_clear_errors(name, overrides, size, message):
  with pytest.raises(ValueError, match=message):
    abstract_encoder(name, size, **overrides)


def test_unknown_dtype_is_a_clear_error():
  config = config_lib.base_config("simclr")
  config.dtype = "float16"
  with pytest.raises(ValueError, match="unknown config.dtype 'float16'"):
    config_lib.validate(config, num_devices=1)


@pytest.mark.parametrize("size", [32, 96])
def test_vae_decoder_sizes(size):
  decoder = nnx.eval_shape(lambda: models.ConvDecoder(64, size, 3, rngs=nnx.Rngs(0)))
  assert nnx.eval_shape(lambda m: m(jnp.zeros((2, 64))), decoder).shape == (2, size, size, 3)


def test_projector_with_batch_norm():
  mlp = models.MLP(8, (16, 4), batch_norm=True, rngs=nnx.Rngs(0))
  assert num_params(mlp) == 8 * 16 + 2 * 16 + 16 * 4 + 4  # Hidden Dense has no bias: BN's β replaces it.
  x = jax.random.normal(jax.random.key(0), (32, 8))
  train_out, eval_out = mlp(x, train=True), mlp(x, train=False)
  assert train_out.shape == (32, 4) and not np.allclose(train_out, eval_out)


def test_initialisers_draw_flat_and_give_flax_s_values_bit_for_bit():
  """jaxssl's kernel initialisers draw one flat vector (XLA compiles a rank-4 draw several times slower) and
  give the values of the ones they stand for: Flax's default (LeCun normal) for Dense / conv kernels, the
  ResNet conv init and the ViT's truncated normal."""
  from jaxssl.models import layers
  key = jax.random.key(3)
  pairs = [(layers.DENSE_INIT, nnx.initializers.lecun_normal(), (3, 3, 4, 6)),
           (layers.CONV_INIT, nnx.initializers.variance_scaling(2.0, "fan_out", "normal"), (3, 3, 4, 6)),
           (layers.DENSE_INIT, nnx.initializers.lecun_normal(), (7, 5)),
           (layers.truncated_normal(0.02), nnx.initializers.truncated_normal(0.02), (1, 17, 8))]
  for ours, reference, shape in pairs:
    np.testing.assert_array_equal(ours(key, shape), reference(key, shape))
  # What Flax's layers draw when they are not told: the same values.
  assert np.array_equal(nnx.Linear(7, 5, rngs=nnx.Rngs(0)).kernel[...],
                        nnx.Linear(7, 5, kernel_init=layers.DENSE_INIT, rngs=nnx.Rngs(0)).kernel[...])
  with pytest.raises(ValueError, match="not implemented"):
    layers.variance_scaling(1.0, "fan_avg", "uniform")


def small_resnet(axis_name=None, dtype="float32", seed=0):
  return models.build_encoder(model_config("resnet18", width=8), 3, 16, nnx.Rngs(seed), dtype=dtype,
                              axis_name=axis_name)


# A module called through nnx.jit: one compiled program per input shape and mode, where an eager call compiles
# every op (~10× the time for a ResNet); BatchNorm's running averages update in place as they do eagerly.
forward = nnx.jit(lambda module, x, train: module(x, train=train), static_argnums=2)


def test_eval_mode_uses_running_averages_and_is_per_example():
  encoder = small_resnet()
  x = jax.random.uniform(jax.random.key(1), (6, 16, 16, 3))
  forward(encoder, x, True)  # Moves the running averages away from their initial (0, 1).
  stats = jax.tree.map(np.asarray, nnx.state(encoder, nnx.BatchStat))
  assert any(np.abs(v).max() > 1e-3 for v in jax.tree.leaves(stats))
  out = forward(encoder, x, False)
  np.testing.assert_array_equal(forward(encoder, x, False), out)  # Deterministic.
  jax.tree.map(np.testing.assert_array_equal, nnx.state(encoder, nnx.BatchStat), stats)  # Eval leaves them.
  # Each example's features depend on that example only, not on the rest of the batch.
  np.testing.assert_allclose(jnp.concatenate([forward(encoder, x[:3], False), forward(encoder, x[3:], False)]),
                             out, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(forward(encoder, x[::-1], False), out[::-1], rtol=1e-5, atol=1e-6)
  # In train mode they do (batch statistics): the contrast shows the test can tell the modes apart.
  assert not np.allclose(forward(encoder, x[:3], True), forward(encoder, x, True)[:3], atol=1e-4)


def test_batch_norm_updates_trace_without_searching_the_program(monkeypatch):
  """models/flax_fixes.py: tracing BatchNorm's running-average update (and a dropout draw of nnx.Rngs) asks
  no tracer for the message of its missing `.sharding`, a search of the whole traced program (quadratic in
  the model's size), and leaves the same statistics, outputs and Rngs count as flax's own `set_value`."""
  from flax.nnx import variablelib
  from jax._src.interpreters import partial_eval
  from jaxssl.models import flax_fixes
  if not flax_fixes.SUPPORTED:
    pytest.skip(f"flax_fixes covers flax 0.12.x with jax 0.10.x; here flax {flax.__version__}, jax {jax.__version__}")
  assert variablelib.Variable.set_value is flax_fixes._set_value  # Installed by importing jaxssl.models.
  searches = []
  origin_msg = partial_eval.DynamicJaxprTracer._origin_msg
  monkeypatch.setattr(partial_eval.DynamicJaxprTracer, "_origin_msg",
                      lambda self: searches.append(1) or origin_msg(self))
  x = jax.random.uniform(jax.random.key(1), (6, 16, 16, 3))

  def step(module, x):
    module.other[0] = x.mean()  # Cases left to flax: an index, a new dtype.
    module.cast[...] = x.mean(axis=(1, 2, 3)).astype(jnp.bfloat16)
    return nnx.Dropout(0.5, rngs=module.rngs)(module.encoder(x, train=True))

  runs = {}
  for name, set_value in (("fixed", flax_fixes._set_value), ("flax", flax_fixes._flax_set_value)):
    monkeypatch.setattr(variablelib.Variable, "set_value", set_value)
    module = nnx.Module()
    module.encoder, module.rngs = small_resnet(), nnx.Rngs(dropout=3)
    module.other, module.cast = nnx.Variable(jnp.zeros(3)), nnx.Variable(jnp.zeros(6))
    searches.clear()
    out = nnx.jit(step)(module, x)
    runs[name] = (len(searches), out, nnx.state(module, nnx.BatchStat), nnx.state(module, nnx.RngCount),
                  (module.other[...], module.cast[...]))
  assert runs["fixed"][0] == 0 and runs["flax"][0] > 0, (runs["fixed"][0], runs["flax"][0])
  jax.tree.map(np.testing.assert_array_equal, runs["fixed"][1:], runs["flax"][1:])
  assert int(jax.tree.leaves(runs["fixed"][3])[0]) == 1  # The dropout's draw counted.
  assert any(np.abs(v).max() > 1e-3 for v in jax.tree.leaves(runs["fixed"][2]))  # The statistics moved.


def test_batch_statistics_are_checkpointed(tmp_path):
  config = config_lib.base_config("simclr")
  config.model.name, config.model.width, config.data.image_size = "resnet18", 8, 16
  _, state, _, _ = train.create_state(methods.create(config), data.load(config.data), config)
  state = state.replace(rest=jax.tree.map(lambda v: v + 0.5, state.rest))
  with checkpoint.manager(str(tmp_path), 2) as mgr:
    checkpoint.save(mgr, 1, state)
    mgr.wait_until_finished()
    _, fresh, _, _ = train.create_state(methods.create(config), data.load(config.data), config)
    restored = checkpoint.restore(mgr, 1, parallel.replicate(parallel.make_mesh(), fresh))
  assert jax.tree.leaves(restored.rest)
  jax.tree.map(np.testing.assert_array_equal, restored.rest, state.rest)


@pytest.mark.parametrize("name, size, tolerance", [("convnet", 32, 2e-2), ("resnet18", 16, 3e-2)])
def test_bfloat16_forward_matches_float32(name, size, tolerance):
  """bf16 keeps 8 bits of mantissa (relative rounding 2⁻⁹ ≈ 0.2% a value); through a dozen layers the
  features stay within `tolerance` relative L2 error of the fp32 ones (measured: ~0.5% and ~1%)."""
  c = model_config(name, width=8)
  fp32 = models.build_encoder(c, 3, size, nnx.Rngs(0))
  bf16 = models.build_encoder(c, 3, size, nnx.Rngs(0), dtype="bfloat16")
  jax.tree.map(np.testing.assert_array_equal, nnx.state(bf16, nnx.Param), nnx.state(fp32, nnx.Param))
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(nnx.state(bf16)))  # Params and statistics.
  x = jax.random.uniform(jax.random.key(1), (8, size, size, 3))
  for train_mode in (True, False):
    a, b = forward(fp32, x, train_mode), forward(bf16, x, train_mode)
    assert b.dtype == jnp.float32
    assert float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a)) < tolerance
  assert "bf16" in str(jax.make_jaxpr(lambda x: bf16(x, train=False))(x))  # It does compute in bf16.


def few_steps_config(method, name, size):
  config = config_lib.base_config(method)
  config.model.name, config.data.image_size = name, size
  config.data.labels_per_class = 8
  config.batch_size, config.labelled_batch_size = 8, 20
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.05
  return config


def run_steps(config, devices, steps=2):
  """`steps` train steps on a mesh of `devices`: (losses, state before, state after) as numpy."""
  return helpers.train_steps(config, parallel.make_mesh(devices), steps)


def test_batch_norm_uses_the_global_batch_on_4_devices(devices, monkeypatch):
  """Per-device statistics would differ between 1 and 4 devices (and shard_map would refuse to return
  them as replicated state); averaged over `data`, they do not. With XLA's convolution (25 -> 21 s alone):
  the CPU one is checked under shard_map in test_conv, and trains ResNet-18 on 4 devices in test_configs."""
  monkeypatch.setattr(cpu_tricks, "ENABLED", False)
  config = few_steps_config("simclr", "resnet18", 16)
  config.model.width, config.optimizer.learning_rate = 16, 0.01
  loss1, before, after1 = run_steps(config, devices[:1])
  loss4, _, after4 = run_steps(config, devices)
  np.testing.assert_allclose(loss4, loss1, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), after4.rest, after1.rest)
  # Each parameter's update agrees to 3e-3 in relative L2 (measured under this SGD: at most 1.3e-3, median
  # 6e-4, with the im2col strided convs and with XLA's alike, JAXSSL_CPU_TRICKS=0). Only float summation order
  # differs; test_conv checks a conv's summed gradients alone to 1e-5.
  move_of = lambda after: jax.tree.map(np.subtract, after.params, before.params)
  helpers.assert_moves_match(move_of(after4), move_of(after1), rtol=3e-3, floor=0)
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), after1.rest, before.rest)
  assert min(jax.tree.leaves(moved)) > 0  # Every running average was updated.


def test_a_built_model_runs_in_train_mode_outside_the_train_step():
  """Research code fine-tunes a method's encoder in its own loop: train-mode BatchNorm there normalises over
  the batch it is given (it was bound to the train step's "data" axis: NameError), and over a mapped axis
  it names with `models.set_batch_axis`, where 4 devices equal 1 device on the whole batch."""
  from jax.sharding import PartitionSpec as P
  config = few_steps_config("simclr", "resnet18", 16)
  config.model.width = 8
  model = methods.create(config).build((16, 16, 3), 10, nnx.Rngs(0))
  images = jax.random.uniform(jax.random.key(1), (8, 16, 16, 3))
  encode = nnx.jit(lambda encoder, x: encoder(x, train=True))  # Compiled, as in a loop (eager: 3x the time).
  whole = encode(model.encoder, images)  # The batch's own statistics.
  assert whole.shape == (8, model.encoder.features) and np.isfinite(whole).all()
  halves = jnp.concatenate([encode(model.encoder, images[:4]), encode(model.encoder, images[4:])])
  assert not np.allclose(whole, halves, atol=1e-3)  # Statistics of each call's batch: they differ.
  graphdef, state = nnx.split(model.encoder)

  def per_device(state, x):
    return models.set_batch_axis(nnx.merge(graphdef, state, copy=True), "batch")(x, train=True)

  mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:4])
  mapped = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P("batch")), out_specs=P("batch")))
  np.testing.assert_allclose(mapped(state, images), whole, rtol=1e-4, atol=1e-4)


def test_bottleneck_blocks_train():
  """ResNet-50's block (1×1, 3×3, 1×1 with a projection shortcut) in a 4-block ResNet: one SGD step on a
  train-mode loss moves every parameter and updates every BatchNorm running average."""
  from jaxssl.models import resnet
  model = resnet.ResNet(resnet.Bottleneck, (1, 1, 1, 1), 3, stem="cifar", width=8, rngs=nnx.Rngs(0))
  images = jax.random.uniform(jax.random.key(1), (4, 16, 16, 3))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def loss_fn(params):
    model = nnx.merge(graphdef, params, rest, copy=True)
    features = model(images, train=True)
    return jnp.mean((features - 1.0) ** 2), nnx.state(model, nnx.Not(nnx.Param))

  (loss, new_rest), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  assert np.isfinite(loss) and model.features == 256
  assert min(float(np.abs(g).max()) for g in jax.tree.leaves(grads)) > 0  # Every parameter gets a gradient.
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()), new_rest, rest)
  assert min(jax.tree.leaves(moved)) > 0


# Each encoder takes real train steps: ResNet-18 under SimCLR (the BatchNorm test above) and VICReg, WRN-28-2
# under SESEMI, AlexNet under RotNet and the ViT under DINO (test_configs' real runs vicreg_cifar10, sesemi_svhn,
# rotnet_stl10 and dino_cifar10_vit_tiny, which also check that the steps move the parameters and BatchNorm
# statistics), the ConvNet under every method. ResNet-50 is the same ResNet class with Bottleneck blocks: its
# layout is the parameter-count test, its blocks train in test_bottleneck_blocks_train (compiling all of
# ResNet-50's train step would cost CI 35 s).


def test_vit_reads_other_sizes_through_resized_position_embeddings():
  """DINO's local crops: a 16 px image through a ViT built for 32 px (patch 4: a 4 × 4 grid, not 8 × 8);
  at the built size the embeddings are used as they are."""
  encoder = models.build_encoder(model_config("vit_tiny", depth=2), 1, 32, nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1))
  features = forward(encoder, x, False)
  assert features.shape == (2, 192) and features.dtype == jnp.float32 and np.isfinite(features).all()
  assert nnx.eval_shape(lambda m: m(x[:, :16, :16]), encoder).shape == (2, 192)
  assert encoder._position_embedding(8) is encoder.pos_embed[...] or np.array_equal(
      encoder._position_embedding(8), encoder.pos_embed[...])
  assert encoder._position_embedding(4).shape == (1, 17, 192)
  with pytest.raises(ValueError, match="multiple of config.model.patch_size=4"):
    models.build_encoder(model_config("vit_tiny"), 1, 30, nnx.Rngs(0))
