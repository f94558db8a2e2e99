"""FixMatch: confident pseudo-labels from a weak view of each unlabelled image train the strong view."""
import functools
import logging

import jax
import jax.numpy as jnp
import ml_collections

from jaxssl import losses, models, randaugment
from jaxssl.methods.teacher import TeacherMethod


@functools.cache  # Once per setting: the method is created several times per run.
def warn_if_ema_lags(decay: float, num_steps: int) -> None:
  """Warns when the EMA model that evaluation reads still holds over 5% of the initial weights at the last
  step (decay^num_steps): the paper's 0.999 is for 2^20 steps, not a few hundred."""
  if decay ** num_steps > 0.05:
    logging.warning("FixMatch: after %d steps the EMA model (config.fixmatch.ema_decay=%s) still holds %.0f%% of "
                    "the initial weights, and evaluation reads it. Lower ema_decay, e.g. to %.3g, or set "
                    "config.fixmatch.evaluate='student'.", num_steps, decay, 100 * decay ** num_steps,
                    1 - 10 / num_steps)


class FixMatch(TeacherMethod):
  """Encoder + linear classifier (Sohn et al. 2020). Each step: `labelled_batch_size` labelled images (weak
  view) and `batch_size` = μ × that unlabelled ones (weak and strong view) go through the model in one batch;
  loss = `losses.fixmatch` (CE on labelled + `unlabelled_weight` × masked CE of the strong view against the
  weak view's argmax where its confidence ≥ `threshold`). Weak: flip (config.augment.flip) + translate by up
  to `translate` of the side; strong: the same, then RandAugment (`num_ops` operations) and Cutout
  (`cutout` of the side). An EMA of the model with constant decay `ema_decay` is what evaluation reads (as
  FixMatch and USB report); the loss does not read it. With `distribution_alignment`, the weak view's
  probabilities are aligned to a uniform class distribution before thresholding (`losses.distribution_alignment`,
  its running mean of the model's predictions with momentum `alignment_momentum` kept in the state's `extra`).
  Logs the fraction of confident unlabelled images."""
  streams = ("unlabelled", "labelled")
  classifies = True

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"threshold": 0.95, "unlabelled_weight": 1.0, "translate": 0.125,
                                      "num_ops": 2, "cutout": 0.5, "ema_decay": 0.999, "evaluate": "teacher",
                                      "distribution_alignment": False, "alignment_momentum": 0.999})

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    if self.options.evaluate == "teacher":
      warn_if_ema_lags(float(self.options.ema_decay), int(config.num_train_steps))

  @property
  def mu(self) -> float:
    """Unlabelled images per labelled image in a step (FixMatch's μ)."""
    return self.config.batch_size / self.config.labelled_batch_size

  def build(self, image_shape, num_classes, rngs):
    encoder = self.build_encoder(image_shape, rngs)
    return models.EncoderAndHead(encoder, self.head(encoder.features, (num_classes,), rngs))

  def momentum(self, step):
    return jnp.asarray(self.options.ema_decay)

  def init_extra(self, params, rest):
    extra = super().init_extra(params, rest)
    if self.options.distribution_alignment:  # As many classes as the classifier's outputs (its last dimension).
      extra["class_mean"] = jnp.zeros(jax.tree.leaves(params["head"])[-1].shape[-1:])
    return extra

  def update_extra(self, extra, params, rest, step, terms):
    extra = super().update_extra(extra, params, rest, step, terms)
    if self.options.distribution_alignment:
      extra["class_mean"] = terms["class_mean"]
    return extra

  def train_loss(self, model, batch, key, axis_name, extra, step):
    o, flip = self.options, self.view_config.flip
    k_labelled, k_weak, k_strong = jax.random.split(key, 3)
    labelled = randaugment.weak_views(k_labelled, batch["labelled"], flip, o.translate, axis_name)
    weak = randaugment.weak_views(k_weak, batch["unlabelled"], flip, o.translate, axis_name)
    strong = randaugment.strong_views(k_strong, batch["unlabelled"], flip, o.translate, o.num_ops, o.cutout,
                                      axis_name)
    logits = model(jnp.concatenate([labelled, weak, strong]), train=True)  # One batch: shared BatchNorm statistics.
    b, u = len(labelled), len(weak)
    weak_probs, state = None, {}
    if o.distribution_alignment:
      weak_probs, state["class_mean"] = losses.distribution_alignment(
          jax.nn.softmax(logits[b:b + u], -1), extra["class_mean"], o.alignment_momentum, step, axis_name)
    terms = losses.fixmatch_terms(logits[:b], batch["label"], logits[b:b + u], logits[b + u:], o.threshold,
                                  weak_probs)
    loss = terms["labelled"] + o.unlabelled_weight * terms["unlabelled"]
    accuracy = jnp.mean(jnp.argmax(logits[:b], -1) == batch["label"])
    return loss, {"fixmatch_labelled": terms["labelled"], "fixmatch_unlabelled": terms["unlabelled"],
                  "mask_fraction": terms["mask_fraction"], "train_accuracy": accuracy}, state
