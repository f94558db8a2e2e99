"""The SimCLR train step of `experiments/benchmark.py` written with TensorFlow 2 / Keras 3, for a side-by-side
speed comparison (run by the benchmark in its own process; not part of the library).

Same step as jaxssl's `configs/simclr_stl10.py`: two views of every uint8 image in the batch (random resized
crop of 25-100% area and aspect 3/4-4/3, horizontal flip, colour jitter with probability 0.8 (brightness 0.6,
contrast, saturation, hue 0.2), greyscale with probability 0.2), the Keras baselines' convnet (4 × Conv 3×3/2
VALID ReLU, width 128, Dense(128) ReLU), projector Dense(128) ReLU -> Dense(128), NT-Xent at T=0.1 over the
2B views, Adam 1e-3. The whole step (augmentation included) is one `tf.function`; host batches are fed as
uint8 NumPy arrays, as jaxssl's pipeline feeds its step.

  python experiments/peers/simclr_tf.py --batch_size=512 --image_size=96 --steps=3 --repeats=3

Prints one JSON line: images/s (unlabelled images a second; each gets 2 views), step and compile seconds.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import keras  # pylint: disable=g-import-not-at-top


def encoder_and_projector(image_size: int, channels: int, width: int = 128, features: int = 128) -> keras.Model:
  layers = [keras.Input((image_size, image_size, channels))]
  layers += [keras.layers.Conv2D(width, 3, strides=2, padding="valid", activation="relu") for _ in range(4)]
  layers += [keras.layers.Flatten(), keras.layers.Dense(features, activation="relu"),
             keras.layers.Dense(128, activation="relu"), keras.layers.Dense(128)]
  return keras.Sequential(layers)


def random_resized_crop(images: tf.Tensor, size: int) -> tf.Tensor:
  """Per-image box of area U(0.25, 1) and log-uniform aspect in [3/4, 4/3], bilinearly resized."""
  batch = tf.shape(images)[0]
  area = tf.random.uniform([batch], 0.25, 1.0)
  aspect = tf.exp(tf.random.uniform([batch], np.log(3 / 4), np.log(4 / 3)))
  w = tf.minimum(tf.sqrt(area * aspect), 1.0)
  h = tf.minimum(tf.sqrt(area / aspect), 1.0)
  y0 = tf.random.uniform([batch]) * (1 - h)
  x0 = tf.random.uniform([batch]) * (1 - w)
  boxes = tf.stack([y0, x0, y0 + h, x0 + w], axis=1)
  return tf.image.crop_and_resize(images, boxes, tf.range(batch), [size, size])


def views(images: tf.Tensor, size: int) -> tf.Tensor:
  """uint8 [B, H, W, 3] -> float32 views [B, size, size, 3] in [0, 1]."""
  x = random_resized_crop(tf.cast(images, tf.float32) / 255.0, size)
  batch = tf.shape(x)[0]
  flip = tf.random.uniform([batch, 1, 1, 1]) < 0.5
  x = tf.where(flip, tf.reverse(x, [2]), x)
  jittered = x + tf.random.uniform([batch, 1, 1, 1], -0.6, 0.6)
  mean = tf.reduce_mean(jittered, [1, 2, 3], keepdims=True)
  jittered = (jittered - mean) * tf.random.uniform([batch, 1, 1, 1], 0.8, 1.2) + mean
  grey = tf.image.rgb_to_grayscale(tf.clip_by_value(jittered, 0, 1))
  jittered = (jittered - grey) * tf.random.uniform([batch, 1, 1, 1], 0.8, 1.2) + grey
  hsv = tf.image.rgb_to_hsv(tf.clip_by_value(jittered, 0, 1))
  hue = tf.math.floormod(hsv[..., :1] + tf.random.uniform([batch, 1, 1, 1], -0.2, 0.2), 1.0)
  jittered = tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], -1))
  x = tf.where(tf.random.uniform([batch, 1, 1, 1]) < 0.8, tf.clip_by_value(jittered, 0, 1), x)
  grey = tf.repeat(tf.image.rgb_to_grayscale(x), 3, axis=-1)
  return tf.where(tf.random.uniform([batch, 1, 1, 1]) < 0.2, grey, x)


def nt_xent(z1: tf.Tensor, z2: tf.Tensor, temperature: float = 0.1) -> tf.Tensor:
  z = tf.math.l2_normalize(tf.concat([z1, z2], 0), axis=1)
  n = tf.shape(z1)[0]
  logits = tf.matmul(z, z, transpose_b=True) / temperature - 1e9 * tf.eye(2 * n)
  positives = tf.concat([tf.range(n, 2 * n), tf.range(n)], 0)
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(positives, logits))


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch_size", type=int, default=512)
  parser.add_argument("--image_size", type=int, default=96)
  parser.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  model = encoder_and_projector(args.image_size, 3)
  optimizer = keras.optimizers.Adam(1e-3)

  @tf.function
  def train_step(images):
    with tf.GradientTape() as tape:
      loss = nt_xent(model(views(images, args.image_size), training=True),
                     model(views(images, args.image_size), training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  rng = np.random.default_rng(0)
  pool = rng.integers(0, 256, (2 * args.batch_size, args.image_size, args.image_size, 3), np.uint8)
  batch = lambda step: pool[rng.choice(len(pool), args.batch_size, replace=False)]  # noqa: E731
  start = time.perf_counter()
  train_step(batch(0)).numpy()  # Trace, build and the first step.
  compile_s = time.perf_counter() - start
  train_step(batch(1)).numpy()  # Warm-up.
  times = []
  for r in range(args.repeats):
    start = time.perf_counter()
    for s in range(args.steps):
      loss = train_step(batch(2 + r * args.steps + s))
    loss.numpy()
    times.append((time.perf_counter() - start) / args.steps)
  step_s = statistics.median(times)
  print(json.dumps({"library": f"tensorflow {tf.__version__} / keras {keras.__version__}", "step_s": step_s,
                    "images_per_s": args.batch_size / step_s, "first_step_s": compile_s,
                    "loss": float(loss)}))


if __name__ == "__main__":
  main()
