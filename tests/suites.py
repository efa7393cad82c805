"""Which tests run again, and how: tests/conftest.py marks them, tools/quickstart.sh runs the suites."""

# Tests whose outcome depends on whether the compiled core is there (a module with a native fast path,
# or a pipeline through them): tools/quickstart.sh runs them a second time in pure-PyTorch mode
# (SURGVLP_FAST_DISABLE_NATIVE=1, `-m fallback`). tests/test_fallbacks.py checks that every module with a
# native fast path has tests here.
FALLBACK = (
    "tests/losses/test_contrastive_api.py", "tests/losses/test_contrastive_parity.py",
    "tests/losses/test_contrastive_gradcheck.py", "tests/losses/test_losses_distributed.py",
    "tests/losses/test_objectives.py", "tests/losses/test_objectives_distributed.py",
    "tests/losses/test_softdtw.py", "tests/losses/test_softdtw_loss.py",
    "tests/pretrain/test_augment.py", "tests/pretrain/test_augment_native.py", "tests/pretrain/test_datasets.py",
    "tests/pretrain/test_batched_stream.py",
    "tests/video/test_readers.py", "tests/video/test_bad_input.py", "tests/video/test_index_cache.py",
    "tests/video/test_native.py", "tests/video/test_batch_decode.py", "tests/video/test_batch_decode_datasets.py",
    "tests/training/test_host_syncs.py", "tests/test_doctor.py",
    "tests/training/test_cli.py::test_train_one_process",
    "tests/inference/test_predict.py", "tests/inference/test_index.py", "tests/inference/test_probe.py",
)
# Tests that compare the floating-point results of two implementations (kernels, layouts, processes):
# CI runs them again under ATEN_CPU_CAPABILITY=default (other SIMD kernels and reduction orders).
NUMERICS = (
    "tests/losses/test_contrastive_api.py", "tests/losses/test_contrastive_parity.py",
    "tests/losses/test_contrastive_gradcheck.py", "tests/losses/test_losses_distributed.py",
    "tests/losses/test_objectives.py", "tests/losses/test_objectives_distributed.py",
    "tests/losses/test_softdtw.py", "tests/losses/test_softdtw_loss.py",
    "tests/pretrain/test_augment.py", "tests/pretrain/test_augment_native.py",
    "tests/models/test_dual_encoder.py", "tests/models/test_text_pooling.py",
    "tests/models/test_released_checkpoint.py", "tests/models/test_official_preprocess.py",
    "tests/evaluation/test_load_and_export.py", "tests/evaluation/test_runners.py",
    "tests/training/test_distributed_equivalence.py", "tests/training/test_trainer.py",
    "tests/training/test_eval_policy.py", "tests/test_zeroshot.py",
    "tests/evaluation/test_field_distributed.py",
)

# Tests of tiny models run with one torch thread (tests/conftest.py): two spinning OpenMP threads on a
# shared 2-core machine made them 10-20x slower.
ONE_THREAD = ("tests/training/", "tests/inference/", "tests/models/")
