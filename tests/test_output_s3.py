"""``--output s3://bucket/prefix`` against a real loopback S3 API (moto in server mode, written
through s3fs): shards, stats and the manifest land in the bucket, and a job interrupted
between a shard's upload and its stats (the done marker) resumes exactly once."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from collections import Counter
from collections.abc import Iterator

import pytest
import webdataset as wds
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.jobs.augment import AugmentJob, run_augment_job

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")

BUCKET = "vea-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, with the environment s3fs/botocore read pointing at it."""
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        patch.setenv(name, value)
    try:
        s3fs.S3FileSystem(anon=False).mkdir(BUCKET)
        yield endpoint
    finally:
        patch.undo()
        server.stop()


def _bucket() -> s3fs.S3FileSystem:
    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem(anon=False)


@pytest.fixture(scope="module")
def input_shards(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("s3-input")
    for shard in range(3):
        with wds.TarWriter(str(root / f"in-{shard:05d}.tar")) as sink:
            for i in range(2):
                key = f"s{shard}-{i}"
                record = {"id": key, "question": "What is written?", "answers": ["open"]}
                sink.write({"__key__": key, "json": record, "png": encoded(noise_image(40, 32, i))})
            if shard == 1:
                sink.write({"__key__": "broken", "json": {"id": "broken", "question": "Q?"}})
    return str(root / "in-{00000..00002}.tar")


def _job(source: str, output: str, model_dir) -> AugmentJob:
    return tiny_augment_job(source, output, model_dir, num_actors=1)


def _keys_in_bucket(fs: s3fs.S3FileSystem, prefix: str) -> Counter[str]:
    keys: Counter[str] = Counter()
    for path in sorted(fs.glob(f"{prefix}/shard-*.tar")):
        with tarfile.open(fileobj=io.BytesIO(fs.cat_file(path))) as archive:
            keys.update(n.split(".")[0] for n in archive.getnames() if n.endswith(".json"))
    return keys


EXPECTED = {f"s{shard}-{i}" for shard in range(3) for i in range(2)} | {"broken"}


def test_output_to_s3_lands_in_the_bucket_and_resumes_exactly_once(
    s3_endpoint, local_ray, model_dir, input_shards
):
    prefix = f"{BUCKET}/run"
    summary = run_augment_job(_job(input_shards, f"s3://{prefix}", model_dir), False)
    assert summary.shards_done == 3 and summary.ok == 6 and summary.errors == 1
    fs = _bucket()
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.find(prefix))
    assert names == sorted(
        ["_manifest.json"] + [f"shard-{i:05d}.{ext}" for i in range(3) for ext in ("json", "tar")]
    )
    manifest = json.loads(fs.cat_file(f"{prefix}/_manifest.json"))
    assert manifest["output"] == f"s3://{prefix}"
    stats = json.loads(fs.cat_file(f"{prefix}/_stats/shard-00001.json"))
    assert stats["output"] == f"s3://{prefix}/shard-00001.tar" and stats["errors"] == 1
    assert _keys_in_bucket(fs, prefix) == Counter(EXPECTED)

    # A job killed after uploading shard 1 but before its done marker: the stats are gone,
    # the (complete) tar is still there. The rerun redoes exactly that shard.
    untouched = fs.info(f"{prefix}/shard-00000.tar")["LastModified"]
    fs.rm_file(f"{prefix}/_stats/shard-00001.json")
    rerun = run_augment_job(_job(input_shards, f"s3://{prefix}", model_dir), False)
    assert rerun.shards_skipped == 2 and rerun.shards_done == 1 and rerun.samples == 3
    fs = _bucket()
    assert fs.exists(f"{prefix}/_stats/shard-00001.json")
    assert fs.info(f"{prefix}/shard-00000.tar")["LastModified"] == untouched
    assert _keys_in_bucket(fs, prefix) == Counter(EXPECTED)

    # A third run has nothing to do.
    again = run_augment_job(_job(input_shards, f"s3://{prefix}", model_dir), False)
    assert again.shards_skipped == 3 and again.samples == 0
