"""One process of the 2-process test (tests/test_multiprocess.py): joins JAX's distributed runtime on
127.0.0.1 and, over the global mesh, (1) loads its shard of the data, (2) runs 3 train steps of each method
on the global batches of a one-process run, feeding only its rows, and (3) evaluates the result with the
features of every process gathered. Process 0 saves what it saw to .npz files for the test to compare.

  python tests/multiprocess_worker.py PORT PROCESS_ID OUT_DIR
"""
import functools
import os
import sys

import jax

METHODS = ("simclr", "paws")
STEPS = 3


def config_for(method):
  import helpers
  return helpers.layout_config(method)  # test_parallel's: the 4-device step compiles once for both tests.


def data_seen(config):
  """This process's shard sizes, and the whole dataset as every process sees it after gathering."""
  import numpy as np
  from jaxssl import data, parallel
  dataset = data.load(config.data)
  shard_sizes = parallel.gather_rows(np.array([[len(dataset.unlabelled_images), len(dataset.test_images)]]))
  return dict(shard_sizes=shard_sizes, unlabelled=parallel.gather_rows(dataset.unlabelled_images),
              test_labels=parallel.gather_rows(dataset.test_labels), labelled=dataset.labelled_images,
              labelled_labels=dataset.labelled_labels)


def run(method):
  """(losses, each parameter's move as numpy, features) of STEPS train steps over every device of every process;
  features: the labelled bank's and the whole test split's (every process's shard, gathered), and the
  evaluation of those features as `train.evaluate_state` makes it ("eval/<accuracy>", "choice/<name>")."""
  import helpers
  import numpy as np
  from jaxssl import augment, data, evaluate, methods, parallel, train
  config = config_for(method)
  mesh = parallel.make_mesh()
  losses, before, state = helpers.train_steps(config, mesh, STEPS)
  dataset = data.load(config.data)
  objective = methods.create(config)
  graphdef = train.create_state(objective, dataset, config)[0]
  embed = functools.partial(parallel.make_embed_fn(graphdef, mesh, augment.to_float),
                            *parallel.replicate(mesh, (state.params, state.rest)))
  own = data.process_shard(dataset.labelled_images, (jax.process_index(), jax.process_count()))

  def features_and_narrow(images):  # A tuple of two widths, as features and a classifier's logits from one pass.
    features = embed(images)
    return features, features[:, :3]

  features = {"bank": evaluate.extract_features(embed, own, mesh, config.eval.batch_size)}
  features["test"], features["test_narrow"] = evaluate.extract_features(features_and_narrow, dataset.test_images,
                                                                        mesh, config.eval.batch_size)
  accuracies, choices = train.evaluate_state(embed.func, parallel.replicate(mesh, state), dataset, mesh, config.eval,
                                           objective)
  features.update({f"eval/{k}": v for k, v in accuracies.items()}, **{f"choice/{k}": v for k, v in choices.items()})
  moved = jax.tree.map(np.subtract, state.params, before.params)
  return losses, {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(moved)}, features


def main():
  import numpy as np
  port, process_id, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
  jax.config.update("jax_platforms", "cpu")
  jax.config.update("jax_num_cpu_devices", 2)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2
  save = functools.partial(np.savez, allow_pickle=False) if process_id == 0 else lambda *a, **k: None
  save(os.path.join(out_dir, "data.npz"), **data_seen(config_for("simclr")))
  for method in METHODS:
    losses, params, features = run(method)
    print(method, "losses", losses, flush=True)
    save(os.path.join(out_dir, f"{method}.npz"), losses=np.array(losses), **params, **features)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main()
