"""Fine-tuning: which layers move (the others bit-identical), only layers the representation reads count,
early stopping on held-out labels, clear errors."""
import jax
import numpy as np
import pytest
from flax import nnx

from jaxssl import config as config_lib, data, evaluate, finetune, models


def small_encoder(name="convnet", size=32, channels=1, **overrides):
  model_config = config_lib.base_config("simclr").model
  model_config.name, model_config.width, model_config.features = name, 16, 32
  model_config.update(overrides)
  return models.build_encoder(model_config, channels, size, nnx.Rngs(0))


def test_layers_are_listed_in_forward_order():
  assert finetune.forward_layers(small_encoder()) == [("convs", 0), ("convs", 1), ("convs", 2), ("convs", 3),
                                                      ("dense",)]
  resnet = finetune.forward_layers(small_encoder("resnet18", 16))
  assert resnet[0] == ("conv1",) and resnet[1:] == [("blocks", i) for i in range(8)]
  with pytest.raises(ValueError, match=r"last_layers=6: this encoder has 5 layers \(convs.0, .*dense\)"):
    finetune.trainable_filter(small_encoder(), 6, (32, 32, 1))


def trainable_paths(encoder, last_layers, image_shape):
  """The parameter paths a Classifier on `encoder` trains with `last_layers`, as dotted strings."""
  model = finetune.Classifier(encoder, 10, image_shape, nnx.Rngs(0))
  state = nnx.state(model, finetune.trainable_filter(encoder, last_layers, image_shape))
  return {".".join(map(str, path)) for path, _ in nnx.to_flat_state(state)}


HEAD = {"head.kernel", "head.bias"}
CONV_BN = ("conv.kernel", "norm.scale", "norm.bias")  # A layers.ConvBN's parameters.


def test_alexnet_read_at_conv4_counts_only_the_layers_up_to_conv4():
  encoder = nnx.eval_shape(lambda: small_encoder("alexnet", 64, feature_layer="conv4", channels=3))
  convs = [("convs", i) for i in range(5)]
  assert set(finetune.forward_layers(encoder)) == {*convs, ("fc6",), ("bn6",), ("fc7",), ("bn7",)}
  assert finetune.representation_layers(encoder, (64, 64, 3)) == convs[:4]  # In running order.
  convs_1_to_3 = {f"encoder.convs.{i}.{p}" for i in (1, 2, 3) for p in CONV_BN}
  assert trainable_paths(encoder, 3, (64, 64, 3)) == convs_1_to_3 | HEAD
  with pytest.raises(ValueError, match=r"last_layers=5: this encoder has 4 layers \(convs.0, convs.1, convs.2, "
                                       r"convs.3\) on the path to its representation; use 0 \(all\) to 4"):
    finetune.trainable_filter(encoder, 5, (64, 64, 3))


def test_a_restored_encoders_layers_keep_their_running_order():
  encoder = small_encoder("resnet18", 16)
  restored = nnx.merge(*nnx.split(encoder))  # As pretrained.load builds it: attributes sorted by name.
  assert finetune.forward_layers(restored)[-1] == ("conv1",)
  assert finetune.representation_layers(restored, (16, 16, 1)) == finetune.forward_layers(encoder)
  last_block = {f"encoder.blocks.7.{branch}.{p}" for branch in "ab" for p in CONV_BN}
  assert trainable_paths(restored, 1, (16, 16, 1)) == last_block | HEAD


def test_a_vae_fine_tunes_the_posterior_means_layer_not_the_log_variances():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 1  # Nothing held out: all steps run and their result is kept.
  dataset = data.load(config.data)
  encoder = models.GaussianEncoder(small_encoder(), 8, rngs=nnx.Rngs(1))  # As methods.VAE builds it.
  options = config.finetune
  options.last_layers, options.head_init, options.steps, options.learning_rate = 1, "random", 20, 3e-3
  before = jax.tree.map(np.array, nnx.state(encoder, nnx.Param))
  features = finetune._features(encoder, dataset.test_images[:64])
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  after = jax.tree.map(np.asarray, nnx.state(encoder, nnx.Param))
  assert result["best_step"] == result["steps"] == 20
  for frozen in ("backbone", "log_var"):
    jax.tree.map(np.testing.assert_array_equal, before[frozen], after[frozen])
  assert np.abs(before["mean"]["kernel"][...] - after["mean"]["kernel"][...]).max() > 1e-4
  assert np.abs(finetune._features(encoder, dataset.test_images[:64]) - features).max() > 1e-4
  image_shape = dataset.test_images.shape[1:]  # Attribute order ends with log_var, which the mean never reads.
  assert finetune.forward_layers(encoder)[-2:] == [("mean",), ("log_var",)]
  assert finetune.representation_layers(encoder, image_shape)[-2:] == [("backbone", "dense"), ("mean",)]
  assert trainable_paths(encoder, 1, image_shape) == {"encoder.mean.kernel", "encoder.mean.bias"} | HEAD


def test_finetuning_the_last_two_layers_leaves_the_others_bit_identical_and_learns():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 10
  dataset = data.load(config.data)
  options = config.finetune
  options.last_layers, options.steps, options.learning_rate, options.eval_every = 2, 150, 3e-3, 25
  encoder = small_encoder()
  before = jax.tree.map(np.array, nnx.state(encoder, nnx.Param))
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  after = nnx.state(encoder, nnx.Param)
  for i in range(3):  # Not among the last two: untouched, bit for bit.
    jax.tree.map(np.testing.assert_array_equal, before["convs"][i], jax.tree.map(np.asarray, after["convs"][i]))
  for moved in (before["convs"][3]["kernel"][...] - after["convs"][3]["kernel"][...],
                before["dense"]["kernel"][...] - after["dense"]["kernel"][...]):
    assert np.abs(moved).max() > 1e-4
  assert result["accuracy"] > 0.6 and 0 < result["best_step"] <= result["steps"] <= 150
  assert 0 < result["holdout_accuracy"] <= 1


def test_an_encoder_read_at_a_lower_block_fine_tunes_that_block_under_a_head_of_its_size():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 1  # Nothing can be held out: all 20 steps are trained, none chosen away.
  dataset = data.load(config.data)
  options = config.finetune
  options.steps = 20
  encoder = small_encoder(feature_layer="conv3")  # 3×3 maps of 16 channels at 32 px, not the 32-d Dense.
  before = jax.tree.map(np.array, nnx.state(encoder, nnx.Param))
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  assert result["model"].head.kernel.shape == (3 * 3 * 16, 10)
  after = nnx.state(encoder, nnx.Param)
  for unread in (lambda p: p["convs"][3], lambda p: p["dense"]):  # After conv3: never trained, bit for bit.
    jax.tree.map(np.testing.assert_array_equal, unread(before), jax.tree.map(np.asarray, unread(after)))
  moved = before["convs"][2]["kernel"][...] - after["convs"][2]["kernel"][...]
  assert np.abs(moved).max() > 1e-5  # conv3, which the head reads, was trained.
  assert result["steps"] == 20 and result["accuracy"] > 0.3, result  # Chance is 0.1.


def test_the_probe_initialised_head_starts_at_the_linear_probes_accuracy():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 10
  dataset = data.load(config.data)
  options = config.finetune
  options.steps, options.holdout_fraction, options.refit = 0, 0.2, False  # The refit's probe: the next test.
  encoder = small_encoder()
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  train_idx, _ = data.split.holdout_split(dataset.labelled_labels, 10, 0.2, 0)
  features = finetune._features(encoder, dataset.labelled_images[train_idx])
  probe = evaluate.linear_probe(features, dataset.labelled_labels[train_idx], finetune._features(
      encoder, dataset.test_images), dataset.test_labels, 10)
  assert result["best_step"] == result["steps"] == 0
  assert abs(result["accuracy"] - probe) < 0.01 and probe > 0.3  # A random conv net's probe is well above 10%.
  options.head_init = "zeros"
  with pytest.raises(ValueError, match="head_init must be 'probe' or 'random'"):
    finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                      dataset.test_labels, 10, options)


def test_refit_trains_the_final_model_on_every_labelled_image_for_the_chosen_steps():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 10
  dataset = data.load(config.data)
  options = config.finetune
  options.steps, options.refit = 0, True  # Early stopping can only choose step 0: the refit is the probe of all.
  encoder = small_encoder()
  result = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  features, test = (finetune._features(encoder, x) for x in (dataset.labelled_images, dataset.test_images))
  probe_of_all = evaluate.linear_probe(features, dataset.labelled_labels, test, dataset.test_labels, 10)
  train_idx, _ = data.split.holdout_split(dataset.labelled_labels, 10, 0.2, 0)
  probe_of_part = evaluate.linear_probe(features[train_idx], dataset.labelled_labels[train_idx], test,
                                        dataset.test_labels, 10)
  assert result["refit"] and result["best_step"] == 0
  assert abs(result["accuracy"] - probe_of_all) < 0.005 and abs(probe_of_all - probe_of_part) > 0.01

  options.steps, options.learning_rate, options.eval_every, options.last_layers = 100, 3e-3, 25, 1
  runs = {}
  for refit in (False, True):  # The same early stopping; the refit then trains on the held-out images too.
    options.refit = refit
    encoder = small_encoder()
    runs[refit] = finetune.finetune(encoder, dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                                    dataset.test_labels, 10, options)
    runs[refit]["kernel"] = np.asarray(encoder.dense.kernel[...])
  assert runs[True]["best_step"] == runs[False]["best_step"] > 0 and runs[True]["refit"]
  assert np.abs(runs[True]["kernel"] - runs[False]["kernel"]).max() > 1e-4
  assert runs[True]["accuracy"] > 0.6


def test_refit_is_skipped_when_nothing_could_be_held_out():
  config = config_lib.base_config("supervised")
  config.data.labels_per_class = 1
  dataset = data.load(config.data)
  options = config.finetune
  options.steps, options.refit = 5, True
  result = finetune.finetune(small_encoder(), dataset.labelled_images, dataset.labelled_labels, dataset.test_images,
                             dataset.test_labels, 10, options)
  assert not result["refit"] and result["best_step"] == result["steps"] == 5 and np.isnan(result["holdout_accuracy"])
