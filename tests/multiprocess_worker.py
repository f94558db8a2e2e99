"""One process of the 2-process test (tests/test_multiprocess.py): joins JAX's distributed runtime on
127.0.0.1, runs 3 train steps of each method over the global mesh, feeding only this process's rows of each
global batch, and (process 0) saves the losses and parameters to an .npz file.

  python tests/multiprocess_worker.py PORT PROCESS_ID OUT_DIR
"""
import os
import sys

import jax

METHODS = ("simclr", "paws")
STEPS = 3


def config_for(method):
  from jaxssl import config as config_lib
  config = config_lib.base_config(method)
  config.data.labels_per_class = 8
  config.batch_size, config.labelled_batch_size = 16, 20
  config.model.width = 16
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.1
  return config


def run(method, process_index=0, process_count=1):
  """(losses, final params as numpy) of STEPS train steps over every device of every process."""
  import numpy as np
  from jaxssl import data, methods, parallel, train
  config = config_for(method)
  m = methods.create(config)
  dataset = data.load(config.data)
  batch_fn = data.make_batch_fn(dataset, m.batch_sizes(), 0, process_index, process_count, m.stratified_labels)
  mesh = parallel.make_mesh()
  graphdef, state, tx, _ = train.create_state(m, dataset, config)
  step = parallel.make_train_step(graphdef, tx, m.loss, mesh, jax.random.key(0))
  state = parallel.replicate(mesh, state)
  losses = []
  for i in range(STEPS):
    state, out = step(state, parallel.shard_batch(mesh, batch_fn(i)))
    losses.append(float(out["loss"]))
  params = {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(state.params)}
  return losses, params


def main():
  import numpy as np
  port, process_id, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
  jax.config.update("jax_platforms", "cpu")
  jax.config.update("jax_num_cpu_devices", 2)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2
  for method in METHODS:
    losses, params = run(method, jax.process_index(), jax.process_count())
    print(method, "losses", losses, flush=True)
    if process_id == 0:
      np.savez(os.path.join(out_dir, f"{method}.npz"), losses=np.array(losses), **params)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main()
