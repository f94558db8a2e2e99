"""Command line: python -m jaxssl.main --config=configs/<method>_<dataset>.py --workdir=DIR [--config.key=value].

--import=my.module (repeatable) imports your own modules before the config file is read, so the methods,
encoders and sources they register can be named by it (docs/extending.md); they are recorded in
config.imports, which `jaxssl.load_encoder` imports again.

The config file is locked: overriding a key it does not have is an error, so a typo never goes unnoticed.
A multi-process job (several hosts, or several processes on one) starts JAX's runtime first: explicitly with
--coordinator_address/--num_processes/--process_id, or with --distributed (or inside a multi-task SLURM or
Open MPI job) as JAX's cluster detection finds it (Cloud TPU pod slices, SLURM, Open MPI, Kubernetes).
"""
import logging as std_logging
import os
import platform
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxssl import cpu_tricks

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, TensorBoard events and results.json.")
config_flags.DEFINE_config_file("config", None, "Path to a config file in configs/.", lock_config=True)
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 in a multi-process job.")
flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-process job.")
flags.DEFINE_integer("process_id", None, "This process's index in a multi-process job, 0 .. num_processes - 1.")
flags.DEFINE_multi_string("import", [], "A module to import before the config file is read (repeatable), e.g. "
                          "--import=my_ssl: its registrations (jaxssl.register_method, register_encoder, "
                          "register_source) run first. It joins config.imports.")
flags.DEFINE_bool("distributed", False, "Start jax.distributed with JAX's cluster auto-detection (TPU pod "
                  "slices, SLURM, Open MPI, Kubernetes).")
flags.mark_flags_as_required(["config", "workdir"])

# Environment variables that say this process is one of several that JAX's cluster detection handles.
_CLUSTER_SIZE_VARS = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def _in_multiprocess_cluster() -> bool:
  return any(int(os.environ.get(v, "1")) > 1 for v in _CLUSTER_SIZE_VARS)


def initialize_distributed() -> None:
  """Starts jax.distributed for a multi-process job; a no-op for one process."""
  import jax  # pylint: disable=g-import-not-at-top

  explicit = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  if any(v is not None for v in explicit):
    if any(v is None for v in explicit):
      raise app.UsageError("give all of --coordinator_address, --num_processes and --process_id, or none.")
    jax.distributed.initialize(*explicit)
  elif FLAGS.distributed or _in_multiprocess_cluster():
    jax.distributed.initialize()  # JAX reads the coordinator, process count and index from the cluster.


class _QuietCheckpointing(std_logging.Filter):
  """Drops orbax's INFO lines (dozens per save) from the console; its warnings and errors still show."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def import_flag_values(argv: list[str]) -> list[str]:
  """The values of every --import flag in `argv` (--import=m, --import m; up to a "--")."""
  values, args = [], iter(argv[1:])
  for arg in args:
    if arg == "--":
      break
    name, eq, value = arg.lstrip("-").partition("=")
    if arg.startswith("-") and name == "import":
      values.append(value if eq else next(args, ""))
  return values


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, after importing the --import modules: what they register must exist before the
  config file is read (it may name their method, and base_config gathers every registered encoder's options)."""
  from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top  (light: no JAX)

  config_lib.import_modules(import_flag_values(argv))
  return app.parse_flags_with_usage(argv)


def record_imports(config, modules: list[str]) -> None:
  """Imports `modules` and the config's own `imports`, and adds `modules` to config.imports (so the run's
  config.json says what to import to load its encoder again)."""
  from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top

  config_lib.import_modules(modules)
  if "imports" in config:
    config.imports = tuple(dict.fromkeys([*config.imports, *modules]))
    config_lib.import_modules(config.imports)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  record_imports(FLAGS.config, FLAGS["import"].value)
  logging.get_absl_handler().addFilter(_QuietCheckpointing())
  # JAX's INFO lines about backends it could not start ("Unable to initialize backend 'tpu'" on every
  # CPU or GPU host) are noise here; its warnings still show.
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
  initialize_distributed()
  from jaxssl import train  # Imported here so --help answers without loading TensorFlow and JAX.

  results = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  if "preempted_at_step" in results:
    print(f"stopped at step {results['preempted_at_step']} on request; checkpoint saved. Rerun the same command "
          f"(without --config.reset) to resume.")
    return
  from jaxssl.metrics import format_accuracies  # pylint: disable=g-import-not-at-top

  final = results["final"]
  summary = format_accuracies({k: v for k, v in final.items() if k != "step"})
  logging.info("done: %s", summary)
  print(f"{FLAGS.config.method} on {FLAGS.config.data.name}, step {final['step']}: {summary}")
  print(f"wall time {results['wall_time_s']:.1f}s; results in {FLAGS.workdir}/results.json")


def restart_with_huge_page_malloc() -> None:
  """Restarts this command (same interpreter and arguments) with huge-page malloc when JAX will compute on
  the CPU (`cpu_tricks`: not on GPU/TPU hosts, not with JAXSSL_CPU_TRICKS=0)."""
  if not cpu_tricks.huge_pages_wanted(os.environ):
    return
  if env := cpu_tricks.huge_page_malloc_env(dict(os.environ), platform.libc_ver()):  # None off Linux/glibc.
    os.execve(sys.executable, sys.orig_argv, env)  # glibc reads GLIBC_TUNABLES when a process starts.


if __name__ == "__main__":
  restart_with_huge_page_malloc()
  app.run(main, flags_parser=parse_flags)
