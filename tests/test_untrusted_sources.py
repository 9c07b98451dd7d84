"""Data never commands: a ``pipe:`` input comes only from the user's own command line.

A manifest (or any data file) naming ``pipe:touch PWNED; ...`` is refused with an error that
names the manifest, and nothing runs; a file found in a folder is a path, whatever its name;
a malformed brace pattern is a ConfigError naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webdataset as wds
from synthetic_images import encoded, noise_image

from vea_augment.data.augmented import originals_beside, read_answer_shard
from vea_augment.data.opening import source_problem
from vea_augment.data.readers import read_shard
from vea_augment.data.sources import ShardTask, plan_input
from vea_augment.errors import ConfigError
from vea_augment.options import InputOptions


def write_tar(path: Path, keys: list[str], vea: bool = False) -> None:
    """A real WebDataset tar: one PNG and one JSON record per key (augment's vea block if
    ``vea``, with no original kept, so answering it needs the manifest's input)."""
    with wds.TarWriter(str(path)) as sink:
        for seed, key in enumerate(keys):
            record = {"id": key, "question": "What is it?", "answers": ["x"]}
            if vea:
                record["vea"] = {"status": "ok"}
            sink.write({"__key__": key, "json": record, "png": encoded(noise_image(8, 8, seed))})


def pwned_command(tmp_path: Path, tar: Path) -> str:
    return f"pipe:touch {tmp_path / 'PWNED'}; cat {tar}"


def test_a_manifest_naming_a_pipe_command_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    source = tmp_path / "in.tar"
    write_tar(source, ["a", "b"])
    augmented = tmp_path / "augmented"
    augmented.mkdir()
    write_tar(augmented / "shard-00000.tar", ["a", "b"], vea=True)
    manifest = augmented / "_manifest.json"
    manifest.write_text(
        json.dumps(
            {"input": pwned_command(tmp_path, source), "config": {"samples_per_shard": 1000}}
        )
    )
    task = plan_input(str(augmented / "shard-00000.tar"), InputOptions())[0]

    samples = list(read_answer_shard(task, originals_beside(task)))

    assert not (tmp_path / "PWNED").exists()
    assert [s.key for s in samples] == ["a", "b"]
    expected = (
        f"augment ran without --keep-original and its input (from {manifest}) cannot be "
        f"read: manifest {str(manifest)!r} names the input {pwned_command(tmp_path, source)!r}: "
        "a pipe: command runs through a shell, so it may come only from your own command "
        "line (--input), never from a data file"
    )
    assert [s.missing["original"] for s in samples] == [expected, expected]
    assert all("highlighted" in s.images for s in samples)


def test_an_untrusted_plan_refuses_pipe_commands_and_unlisted_schemes(tmp_path: Path) -> None:
    where = "manifest '/out/_manifest.json'"
    with pytest.raises(ConfigError) as refused:
        plan_input("pipe:cat x.tar", InputOptions(), trusted=False, named_by=where)
    assert str(refused.value).startswith(f"{where} names the input 'pipe:cat x.tar': a pipe:")
    with pytest.raises(ConfigError) as unlisted:
        plan_input("sftp://host/x.tar", InputOptions(), trusted=False, named_by=where)
    assert str(unlisted.value) == (
        f"{where} names the input 'sftp://host/x.tar': a data file may name only a path or a "
        "file/http/https/s3/gs/gcs/hf URL, not sftp://"
    )
    # a brace pattern may hide a command among its names
    write_tar(tmp_path / "a.tar", ["a"])
    hidden = f"{{{tmp_path}/a,pipe:cat x}}.tar"
    with pytest.raises(ConfigError) as expanded:
        plan_input(hidden, InputOptions(), trusted=False, named_by=where)
    assert str(expanded.value).startswith(f"{where} names the input 'pipe:cat x.tar': a pipe:")
    assert source_problem("https://h/a.tar", trusted=False) is None
    assert source_problem(str(tmp_path / "a.tar"), trusted=False) is None


def test_the_users_own_pipe_command_still_reads_the_shard(tmp_path: Path) -> None:
    source = tmp_path / "in.tar"
    write_tar(source, ["a", "b", "c"])

    tasks = plan_input(f"pipe:cat {source}", InputOptions())

    assert [(t.kind, t.source, t.trusted) for t in tasks] == [
        ("webdataset", f"pipe:cat {source}", True)
    ]
    assert [s.key for s in read_shard(tasks[0])] == ["a", "b", "c"]


def test_a_task_planned_untrusted_never_runs_its_command_when_read(tmp_path: Path) -> None:
    source = tmp_path / "in.tar"
    write_tar(source, ["a"])
    task = ShardTask(0, "webdataset", pwned_command(tmp_path, source), trusted=False)

    samples = list(read_shard(task))

    assert not (tmp_path / "PWNED").exists()
    assert len(samples) == 1 and samples[0].record is None
    assert samples[0].error is not None
    assert samples[0].error.startswith(
        f"cannot open shard: refused the input {pwned_command(tmp_path, source)!r}: a pipe:"
    )


def test_a_tar_named_like_a_pipe_command_in_a_folder_is_read_as_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tar(tmp_path / "pipe:touch PWNED; cat x.tar", ["a", "b"])

    tasks = plan_input(".", InputOptions())

    assert [t.source for t in tasks] == [str(tmp_path / "pipe:touch PWNED; cat x.tar")]
    assert [s.key for s in read_shard(tasks[0])] == ["a", "b"]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("data/in-{000..009.tar", "is malformed: Unbalanced braces: 'data/in-{000..009.tar'"),
        ("data/in-000..009}.tar", "is malformed: Unbalanced braces: 'data/in-000..009}.tar'"),
        ("data/in-{1,1}.tar", "names the same shard more than once: 'data/in-1.tar'"),
    ],
)
def test_a_malformed_brace_pattern_is_a_config_error_naming_it(
    pattern: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        plan_input(pattern, InputOptions())
    assert str(raised.value).startswith(f"input pattern {pattern!r} {reason}")


def test_a_data_file_may_not_move_the_image_root_outside_its_input(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "images").mkdir(parents=True)
    noise_image(8, 8, 0).save(corpus / "images" / "a.png")
    jsonl = corpus / "records.jsonl"
    jsonl.write_text(json.dumps({"id": "a", "question": "Q?", "answers": ["x"], "image": "a.png"}))
    where = "manifest '/out/_manifest.json'"
    inside = InputOptions(image_root=str(corpus / "images"))
    (task,) = plan_input(str(jsonl), inside, trusted=False, named_by=where)
    assert [s.error for s in read_shard(task)] == [None]
    with pytest.raises(ConfigError) as refused:
        plan_input(str(jsonl), InputOptions(image_root="/"), trusted=False, named_by=where)
    assert str(refused.value) == (
        f"{where} names image root '/' outside its input's folder {str(corpus)!r}: a data "
        "file may not choose where images are read from"
    )
    # the user's own command line may point the root anywhere
    (task,) = plan_input(str(jsonl), InputOptions(image_root=str(corpus / "images")))
    assert plan_input(str(jsonl), InputOptions(image_root="/"))[0].image_root == "/"
