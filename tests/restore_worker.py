"""One process of the 2-process restore test (tests/test_multiprocess.py): saves checkpoints of steps 1 and 2
of a small replicated state over the global mesh, then resumes with `checkpoint.restore_latest` while the
restore of step 2 fails on process FAILING_PROCESS only (a file-system error on one host). Prints the step
it resumed from, or the error it stopped with, as one JSON line.

  python tests/restore_worker.py PORT PROCESS_ID WORKDIR FAILING_PROCESS
"""
import json
import os
import sys

import jax


def main():
  port, process_id, workdir, failing = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
  jax.config.update("jax_platforms", "cpu")
  jax.config.update("jax_num_cpu_devices", 2)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  import jax.numpy as jnp
  from jaxssl import checkpoint, parallel

  mesh = parallel.make_mesh()
  like = parallel.replicate(mesh, {"step": jnp.zeros((), jnp.int32), "w": jnp.zeros((3,))})
  directory = os.path.join(workdir, "checkpoints")
  with checkpoint.manager(directory, max_to_keep=5) as mgr:
    for step in (1, 2):
      checkpoint.save(mgr, step, parallel.replicate(mesh, {"step": jnp.int32(step), "w": jnp.full((3,), step)}))
    mgr.wait_until_finished()

  real = checkpoint._restore_alone  # pylint: disable=protected-access

  def flaky(directory, step, like):
    if step == 2 and process_id == failing:
      raise RuntimeError(f"could not restore the checkpoint of step 2: OSError: injected on process {failing}")
    return real(directory, step, like)

  checkpoint._restore_alone = flaky  # pylint: disable=protected-access
  try:
    state, resumed = checkpoint.restore_latest(directory, like)
    out = {"step": int(state["step"]), "w": float(state["w"][0]), "resumed": resumed}
  except RuntimeError as e:
    out = {"error": str(e)}
  print("RESULT " + json.dumps(out), flush=True)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main()
