"""The options of issue 19 on the command line: --revision, --attn-implementation, the
processor's --min-pixels/--max-pixels (and the old --max-pixels, now --max-image-pixels),
-q/--log-level, --config FILE (TOML, YAML; the command line wins), --limit's plumbing."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from synthetic_images import noise_image

from vea_augment.cli import cli
from vea_augment.errors import ConfigError
from vea_augment.models import loading
from vea_augment.options import ATTN_IMPLEMENTATIONS, MAX_IMAGE_PIXELS, ModelOptions

MODEL_COMMANDS = ("profile", "augment", "answer", "analyze")
READING_COMMANDS = ("profile", "augment", "analyze")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def captured_augment(monkeypatch):
    """``augment`` builds its job and stops: the job and show_progress are recorded."""
    import vea_augment.jobs.augment as job_module

    seen: dict = {}

    def fake_run(job, show_progress=True):
        seen.update(job=job, show_progress=show_progress)
        raise SystemExit(0)

    monkeypatch.setattr(job_module, "run_augment_job", fake_run)
    return seen


def augment_args(tmp_path, *extra: str) -> list[str]:
    return ["augment", "-m", "some/model", "--layers", "1,2", "-i", "in.jsonl",
            "-o", str(tmp_path / "out"), *extra]  # fmt: skip


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_help_of_every_model_command_shows_the_loading_options(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    for flag in ("--revision", "--attn-implementation", "--min-pixels", "--max-pixels"):
        assert flag in result.output
    for kernel in ATTN_IMPLEMENTATIONS:
        assert kernel in result.output
    assert "--max-image-pixels" in result.output or command not in READING_COMMANDS
    assert ("--limit" in result.output) or command not in ("augment", "answer")


def test_group_help_shows_config_quiet_and_log_level():
    result = run("--help")
    for flag in ("--config", "-q, --quiet", "--log-level"):
        assert flag in result.output


def test_model_options_reach_model_options_object(tmp_path, captured_augment):
    result = CliRunner().invoke(
        cli,
        augment_args(tmp_path, "--revision", "v1.2", "--attn-implementation", "eager",
                     "--min-pixels", "3136", "--max-pixels", "1003520",
                     "--max-image-pixels", "12345", "--limit", "7"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job = captured_augment["job"]
    assert job.loading == ModelOptions(
        revision="v1.2", attn_implementation="eager", min_pixels=3136, max_pixels=1003520
    )
    assert job.settings.max_pixels == 12345 and job.limit == 7


def test_a_bomb_sized_max_pixels_points_at_max_image_pixels(tmp_path):
    result = run(*augment_args(tmp_path, "--max-pixels", str(MAX_IMAGE_PIXELS)))
    assert result.exit_code == 2
    assert "--max-image-pixels" in result.output and "resize budget" in result.output


@pytest.mark.parametrize("command", ["score", "export"])
def test_max_pixels_on_a_command_without_a_processor_is_a_hint(tmp_path, command):
    args = ["preds.jsonl"] if command == "score" else ["-i", "x", "-o", str(tmp_path / "o")]
    result = run(command, *args, "--max-pixels", "1000")
    assert result.exit_code == 2
    assert "--max-image-pixels" in result.output and "loads no model" in result.output


def test_revision_is_passed_to_model_and_processor(monkeypatch, model_dir):
    import transformers

    calls: list[dict] = []
    for name in ("AutoProcessor", "AutoModelForImageTextToText"):
        original = getattr(transformers, name).from_pretrained

        def spy(source, _original=original, **kwargs):
            calls.append(kwargs)
            return _original(source, **{k: v for k, v in kwargs.items() if k != "revision"})

        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", spy)
    loading.load_model_and_processor(model_dir, ModelOptions(revision="abc123", device="cpu"))
    assert [call["revision"] for call in calls] == ["abc123", "abc123"]


def test_min_and_max_pixels_set_the_qwen_processor_budget(model_dir):
    from vea_augment.attribution.attributor import Attributor

    image = noise_image(280, 280, 0)
    counts = {}
    for budget in (28 * 28 * 4, 28 * 28 * 64):
        options = ModelOptions(dtype="float32", device="cpu", max_pixels=budget, min_pixels=784)
        attributor = Attributor.from_pretrained(model_dir, [1], options)
        assert attributor.processor.image_processor.size.longest_edge == budget
        inputs = attributor.encode([image], attributor.prompts(["q"]))
        counts[budget] = int((inputs["input_ids"] == attributor.adapter.image_token_id).sum())
        attributor.attribute(image, "q")  # the geometry follows the resized grid
    assert counts[28 * 28 * 4] <= 4 < counts[28 * 28 * 64]


def test_pixels_on_a_processor_without_them_name_its_class():
    class FixedSizeImageProcessor:
        size = None

    with pytest.raises(ConfigError, match="FixedSizeImageProcessor"):
        loading.set_processor_pixels(SimpleNamespace(image_processor=FixedSizeImageProcessor()),
                                     None, 1000)  # fmt: skip


@pytest.mark.parametrize("kernel", ["eager", "sdpa"])
def test_attribution_equals_the_eager_route_whichever_kernel_is_chosen(model_dir, kernel):
    from test_attribution import captured_rows, eager_last_rows, relative_error

    from vea_augment.attribution.attributor import Attributor

    options = ModelOptions(dtype="float32", device="cpu", attn_implementation=kernel)
    attributor = Attributor.from_pretrained(model_dir, [0], options)
    assert attributor.kernel == "vea_capture_sdpa"  # eager cannot be wrapped: sdpa is
    images = [noise_image(96, 72, 0), noise_image(60, 110, 1)]
    batch = attributor.encode(images, attributor.prompts(["a question?", "another"]))
    expected = eager_last_rows(str(model_dir), batch)
    layers = list(range(attributor.num_layers))
    with torch.inference_mode():
        captured = captured_rows(attributor, batch, layers)
    for layer in layers:
        assert relative_error(captured[layer], expected[layer]) < 1e-5


def test_quiet_means_no_progress_and_warnings_only(tmp_path, captured_augment):
    result = run("-q", *augment_args(tmp_path))
    assert result.exit_code == 0, result.output
    assert captured_augment["show_progress"] is False
    assert logging.getLogger("vea_augment").level == logging.WARNING


def test_log_level_sets_the_package_logger(tmp_path, captured_augment):
    assert run("--log-level", "DEBUG", *augment_args(tmp_path)).exit_code == 0
    assert logging.getLogger("vea_augment").level == logging.DEBUG
    assert captured_augment["show_progress"] is True
    assert run("--log-level", "error", *augment_args(tmp_path)).exit_code == 0
    assert logging.getLogger("vea_augment").level == logging.ERROR
    assert logging.getLogger("transformers").level == logging.ERROR


def test_a_toml_config_overrides_defaults_and_the_command_line_overrides_it(
    tmp_path, captured_augment
):
    config = tmp_path / "run.toml"
    config.write_text(
        'batch-size = 7\nrevision = "from-flat"\nquestion_field = ["q", "question"]\n'
        '[augment]\nrevision = "from-section"\nalpha = 0.25\nkeep-original = true\n'
        '[answer]\nmethods = "base,vea"\n'
    )
    assert run("--config", str(config), *augment_args(tmp_path)).exit_code == 0
    job = captured_augment["job"]
    assert job.settings.batch_size == 7 and job.settings.keep_original
    assert job.loading.revision == "from-section" and job.settings.mask.alpha == 0.25
    assert job.reading.columns.question == ("q", "question")
    result = run("--config", str(config), *augment_args(tmp_path, "--batch-size", "2"))
    assert result.exit_code == 0
    assert captured_augment["job"].settings.batch_size == 2
    assert captured_augment["job"].settings.mask.alpha == 0.25


def test_a_yaml_config_with_the_required_options(tmp_path, captured_augment):
    config = tmp_path / "run.yaml"
    config.write_text(
        f"augment:\n  model: some/model\n  layers: '1,2'\n  input: in.jsonl\n"
        f"  output: {tmp_path / 'cfg-out'}\n  limit: 3\n  max_image_pixels: 999\n"
    )
    result = run("--config", str(config), "augment")
    assert result.exit_code == 0, result.output
    job = captured_augment["job"]
    assert job.limit == 3 and job.settings.max_pixels == 999 and job.model == "some/model"


def test_unknown_config_keys_are_named_with_the_valid_ones(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("batch-size = 2\nbatch_sise = 3\n[answer]\nmethod = 'base'\n")
    result = run("--config", str(config), *augment_args(tmp_path))
    assert result.exit_code == 2
    assert "method" in result.output and "answer" in result.output
    assert "valid:" in result.output and "methods" in result.output
    config.write_text("batch_sise = 3\n")
    result = run("--config", str(config), *augment_args(tmp_path))
    assert "batch_sise" in result.output and "batch-size" in result.output
