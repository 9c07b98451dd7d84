"""A full disk: the shard fails naming the cause, and no temporary file is left (issue 16).

The output folder is a real 256 KiB tmpfs, mounted in a private user and mount namespace
(``unshare --user --map-root-user --mount``) that only the writing subprocess sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import webdataset as wds
from synthetic_images import encoded, noise_image

TMPFS_SIZE = "256k"


def _run_on_small_disk(mount_point: Path, script: str, *args: str) -> dict:
    """Run ``script`` in a subprocess that sees a 256 KiB tmpfs at ``mount_point``; its last
    stdout line is JSON."""
    mount_point.mkdir(parents=True, exist_ok=True)
    command = (
        f"mount -t tmpfs -o size={TMPFS_SIZE} tmpfs {mount_point} && "
        f'exec "{sys.executable}" -c "$0" "$@"'
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command, script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def small_disk_available(tmp_path_factory) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here to mount a private small tmpfs")
    probe = tmp_path_factory.mktemp("probe")
    command = f"mount -t tmpfs -o size={TMPFS_SIZE} tmpfs {probe}"
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs: {done.stderr.strip()}")


WRITER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from vea_augment.data.writer import OutputSample, ShardWriter
    out = sys.argv[1]
    written, error = 0, None
    try:
        with ShardWriter(out, 0) as writer:
            for number in range(100):
                payload = os.urandom(64 * 1024)
                writer.write(OutputSample(f"s{number}", {"id": number}, "png", payload))
                written += 1
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"written": written, "error": error, "left": sorted(os.listdir(out))}))
    """
)


def test_a_full_disk_names_the_cause_and_leaves_no_temporary(small_disk_available, tmp_path):
    outcome = _run_on_small_disk(tmp_path / "disk", WRITER_SCRIPT, str(tmp_path / "disk"))
    assert 0 < outcome["written"] < 4  # 256 KiB hold at most three 64 KiB samples
    prefix = "ShardWriteError: [Errno 28] cannot write shard-00000.tar to "
    assert outcome["error"].startswith(prefix)
    assert outcome["error"].endswith(": No space left on device")
    assert outcome["left"] == []


AUGMENT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from vea_augment.attribution.attributor import Attributor
    from vea_augment.data.sources import plan_input
    from vea_augment.options import InputOptions, ModelOptions
    from vea_augment.steps.augment import AugmentSettings, augment_shard
    model, source, out = sys.argv[1:4]
    attributor = Attributor.from_pretrained(model, [1, 2], ModelOptions(dtype="float32"))
    (task,) = plan_input(source, InputOptions())
    error = None
    try:
        augment_shard(task, attributor, AugmentSettings(batch_size=2), out)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    left = sorted(os.path.join(r, f)[len(out):] for r, _, fs in os.walk(out) for f in fs)
    print(json.dumps({"error": error, "left": left}))
    """
)


def test_augment_on_a_full_disk_fails_the_shard_naming_the_cause(
    small_disk_available, model_dir, tmp_path
):
    source = tmp_path / "in-00000.tar"
    with wds.TarWriter(str(source)) as sink:
        for number in range(4):  # ~120 KiB of noise PNG each: the third cannot fit
            record = {"id": f"n{number}", "question": "What is written?"}
            image = encoded(noise_image(200, 200, number))
            sink.write({"__key__": f"n{number}", "json": record, "png": image})
    disk = tmp_path / "disk"
    outcome = _run_on_small_disk(disk, AUGMENT_SCRIPT, str(model_dir), str(source), str(disk))
    assert outcome["error"].startswith("ShardWriteError: [Errno 28] cannot write shard-00000.tar")
    assert outcome["error"].endswith(": No space left on device")
    assert outcome["left"] == []
