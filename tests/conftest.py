"""Test setup: 4 virtual CPU devices, so one process can compare 1-device and 4-device runs; XLA:CPU's LLVM at
-O1; and one compilation cache for the session: many tests (and the processes they start) compile the same
programs, e.g. a run and its resumption. It starts empty each session, and cached programs compute bitwise the
same."""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# LLVM -O1 instead of XLA's default level (3), for the CPU programs of the tests and of the processes they
# start (helpers.subprocess_env): most tests compile more than they run, and level 3 costs the most in programs
# that draw random numbers (a [3, 3, 16, 32] jax.random.normal compiles in 0.31 s at the default and at 3, 0.10 s
# at 2 and at 1); the suite's time is in docs/performance.md. Tests only: a run of jaxssl keeps XLA's default.
CPU_TEST_FLAGS = "--xla_backend_optimization_level=1" if os.environ["JAX_PLATFORMS"] == "cpu" else ""
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), CPU_TEST_FLAGS,
                                                "--xla_force_host_platform_device_count=4"]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxssl-tests-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after XLA_FLAGS, before any test imports jax)
import pytest  # noqa: E402


# The quick tier (`pytest -m "not slow"`) leaves out the tests that train or compile whole models: every
# test in these files, and these tests elsewhere (a test function's name, or a file's name for all of it).
SLOW_FILES = ("test_multiprocess.py", "test_faults.py", "test_finetune.py", "test_teacher_methods.py",
              "test_randaugment.py", "test_lowering.py")
SLOW_TESTS = (
    "test_readme_python_examples_run_in_order", "test_image_folder_trains_and_the_encoder_loads_back_with_the_same",
    "test_arrays_from_research_code_train_with_unlabelled_rows", "test_simclr_on_digits_beats_the_untrained_encoder",
    "test_supervised_on_digits_learns", "test_each_method_on_digits_beats_the_untrained_encoder",
    "test_vaes_on_digits_improve_their_loss", "test_rotnet_on_digits_learns_to_tell_the_rotations",
    "test_nan_loss_stops_without_checkpointing_the_bad_state",
    "test_command_line_runs_and_prints_accuracies", "test_train_step_same_on_1_and_4_devices",
    "test_batch_norm_uses_the_global_batch_on_4_devices",
    "test_a_built_model_runs_in_train_mode_outside_the_train_step", "test_eval_mode_uses_running_averages",
    "test_batch_statistics_are_checkpointed", "test_bfloat16_forward_matches_float32",
    "test_kernel_gradient_under_shard_map_matches_xla_conv", "test_bfloat16_compute_keeps_float32_kernel_gradients",
    "test_config_runs_two_steps_and_evaluates", "test_flagship_paws_stl10_command_runs_as_written",
    "test_config_traces_its_train_step_and_embedding", "test_bottleneck_blocks_train",
    "test_paws_loss_needs_no_state_from_build", "test_view_grid_shows_the_images_then_their_views",
    "test_vit_reads_other_sizes_through_resized_position_embeddings", "test_user_module_trains_and_its_run_loads_back",
    "test_tutorial_runs_as_written", "test_initialisers_draw_flat_and_give_flax_s_values_bit_for_bit",
    "test_sweep_resumes_after_an_interruption_and_plots", "test_convnet_feature_layer_is_that_conv_output")


# The longest tests (30-50 s each on a 2-core CI machine, under `-n 2`), started first, so that none of them
# is what one worker still runs at the end while the other has nothing left.
LONGEST_FIRST = ("test_two_process_job_stops_together_on_one_sigterm_and_resumes",
                 "test_flagship_paws_stl10_command_runs_as_written",
                 "test_sweep_resumes_after_an_interruption_and_plots",
                 "test_two_processes_match_one_process_with_four_devices",
                 "test_batch_norm_uses_the_global_batch_on_4_devices")


def pytest_collection_modifyitems(items):
  for item in items:
    if item.path.name in SLOW_FILES or item.originalname.startswith(SLOW_TESTS):
      item.add_marker(pytest.mark.slow)
  items.sort(key=lambda item: item.originalname not in LONGEST_FIRST)  # Stable: the rest keep their order.


# The learns tests run their many steps on every core: two of them at once took as long as one after the
# other (41 s) and 23% more CPU time. So they run one after another on one worker, beside the other worker's
# tests, which mostly compile on one core.
LEARNS = ("test_simclr_on_digits_beats_the_untrained_encoder", "test_supervised_on_digits_learns",
          "test_each_method_on_digits_beats_the_untrained_encoder", "test_rotnet_on_digits_learns_to_tell_the_rotations",
          "test_vaes_on_digits_improve_their_loss", "test_dino_and_byol_on_digits_beat_the_untrained_encoder")


def pytest_xdist_make_scheduler(config, log):
  """Under `-n N`, xdist's "loadscope" scheduling with each test its own scope, except LEARNS: one scope. It
  hands a worker a few tests at a time (xdist's default "load" queued 18 learns tests on one worker, and the
  other sat idle for the last 89 s of a 679 s run). (Not `--dist loadgroup`: under pytest 9.2 it ignores
  `xdist_group` marks, pytest-xdist#1386.)"""
  if config.getvalue("dist") != "load":  # Another --dist asked for on the command line.
    return None
  from xdist.scheduler import LoadScopeScheduling  # pylint: disable=g-import-not-at-top

  class LearnsTogether(LoadScopeScheduling):
    def _split_scope(self, nodeid):
      return "learns" if nodeid.rpartition("::")[2].startswith(LEARNS) else nodeid

  return LearnsTogether(config, log)


@pytest.fixture(autouse=True)
def no_view_grid(request, monkeypatch):
  """Runs in this process skip the first batch's augmentation grid, a compile of its own (3-5 s here) that
  nothing but the tests marked `view_grid` reads."""
  if request.node.get_closest_marker("view_grid") is None:
    from jaxssl import train  # pylint: disable=g-import-not-at-top
    monkeypatch.setattr(train, "write_view_grid", lambda *args, **kwargs: None)


@pytest.fixture(scope="session")
def devices():
  if jax.default_backend() != "cpu":  # experiments/gpu_check.sh runs the tests that need none on a GPU.
    pytest.skip("needs the 4 virtual CPU devices of a CPU run (see conftest.py)")
  assert len(jax.devices()) == 4, "tests expect 4 virtual CPU devices (see conftest.py)"
  return jax.devices()
