"""How a named source may be opened: the one place that decides, by who named it.

A source the user typed (``--input``) is *trusted*: a path, a URL, or a ``pipe:`` command
(WebDataset's convention: the rest of the name runs through a shell). A source named by data
(a ``_manifest.json``'s ``input``, anything read from a file) is *untrusted*: a plain path or
a URL whose scheme is in :data:`~vea_augment.options.UNTRUSTED_SCHEMES`, never a command.
Planning checks every shard (:func:`check_source`) and a shard remembers whether it was
trusted, so the reader's :func:`open_shard` refuses a command a second time if one got in.

Remote shards are read with deadlines (:class:`~vea_augment.options.RemoteDeadlines`):
http(s) through ``requests`` with connect and read timeouts and a total deadline checked at
every read (WebDataset's ``gopen`` would hand the URL to ``curl`` through a shell with no read
timeout), s3 through botocore's timeouts. A transport failure raises
:class:`RemoteShardError` (not an ``OSError``, so no reader mistakes it for corrupt data):
the shard fails and the scheduler retries it like any failed shard.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import unquote, urlparse

from vea_augment.errors import ConfigError, VEAError
from vea_augment.options import UNTRUSTED_SCHEMES, RemoteDeadlines

PIPE = "pipe:"


class RemoteShardError(VEAError):
    """A remote shard could not be fetched (no reply in time, refused, not found): the shard
    fails as a whole and is retried, instead of becoming an error record."""


def url_scheme(name: str) -> str | None:
    """``pipe`` for a ``pipe:`` command, the scheme of ``scheme://...``, None for a path."""
    if name.startswith(PIPE):
        return "pipe"
    if "://" in name:
        return name.split("://", 1)[0].lower()
    return None


def source_problem(name: str, trusted: bool) -> str | None:
    """Why ``name`` may not be opened (None: it may), given who named it."""
    scheme = url_scheme(name)
    if scheme is None or trusted:
        return None
    if scheme == "pipe":
        return (
            "a pipe: command runs through a shell, so it may come only from your own "
            "command line (--input), never from a data file"
        )
    if scheme not in UNTRUSTED_SCHEMES:
        return (
            f"a data file may name only a path or a {'/'.join(UNTRUSTED_SCHEMES)} URL, not "
            f"{scheme}://"
        )
    return None


def check_source(name: str, *, trusted: bool, named_by: str | None = None) -> None:
    """Raise :class:`ConfigError` when ``name`` may not be opened; ``named_by`` says which
    data file named it (``manifest '/out/_manifest.json'``)."""
    problem = source_problem(name, trusted)
    if problem is not None:
        who = f"{named_by} names" if named_by else "refused"
        raise ConfigError(f"{who} the input {name!r}: {problem}")


def _timeout_kind(exc: BaseException) -> str | None:
    """``connect`` or ``read`` when ``exc`` is a client's timeout, else None."""
    import requests
    import urllib3.exceptions

    if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return "connect"
    timeouts = (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)
    return "read" if isinstance(exc, timeouts) else None


def _failure(url: str, deadlines: RemoteDeadlines, exc: BaseException, started: float) -> str:
    """Why fetching ``url`` failed, in words naming the URL (and the deadline it broke)."""
    kind = _timeout_kind(exc)
    if kind is not None and time.monotonic() - started >= deadlines.total_s:
        return f"{url} did not arrive within {deadlines.total_s:g} s"
    if kind == "connect":
        return f"could not connect to {url} within {deadlines.connect_s:g} s"
    if kind == "read":
        return f"no reply from {url} within {deadlines.read_s:g} s"
    return f"cannot fetch {url}: {type(exc).__name__}: {exc}"


class _DeadlinedStream:
    """A remote stream whose reads keep the total deadline and name the URL when they fail."""

    def __init__(self, stream: Any, url: str, deadlines: RemoteDeadlines, started: float) -> None:
        self._stream = stream
        self._url = url
        self._deadlines = deadlines
        self._started = started

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() - self._started > self._deadlines.total_s:
            raise RemoteShardError(
                f"{self._url} did not arrive within {self._deadlines.total_s:g} s"
            )
        try:
            return self._stream.read(size)
        except Exception as exc:  # requests/urllib3/botocore raise their own transport errors
            raise RemoteShardError(
                _failure(self._url, self._deadlines, exc, self._started)
            ) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection: read already said so
            self._stream.close()


class _Response:
    """A streamed ``requests`` response as a file: its body's bytes, undecoded by us."""

    def __init__(self, response: Any) -> None:
        self._response = response
        response.raw.decode_content = True  # undo a transport Content-Encoding only

    def read(self, size: int = -1) -> bytes:
        return self._response.raw.read(None if size < 0 else size)

    def close(self) -> None:
        self._response.close()


def _http_stream(url: str, deadlines: RemoteDeadlines) -> _Response:
    # requests: a well-kept client whose read timeout bounds every socket read, the reply's
    # headers included (WebDataset's gopen hands the URL to curl through a shell, unbounded).
    import requests

    response = requests.get(url, stream=True, timeout=(deadlines.connect_s, deadlines.read_s))
    if response.status_code != 200:
        response.close()
        raise RemoteShardError(f"cannot fetch {url}: HTTP {response.status_code} {response.reason}")
    return _Response(response)


def _fsspec_stream(url: str, scheme: str, deadlines: RemoteDeadlines) -> Any:
    import fsspec

    settings: dict[str, Any] = {}
    if scheme == "s3":
        settings["config_kwargs"] = {
            "connect_timeout": deadlines.connect_s,
            "read_timeout": deadlines.read_s,
        }
    return fsspec.open(url, "rb", **settings).open()


def _remote_stream(url: str, scheme: str, trusted: bool, deadlines: RemoteDeadlines) -> Any:
    if scheme in ("http", "https"):
        return _http_stream(url, deadlines)
    if scheme in UNTRUSTED_SCHEMES or not trusted:
        return _fsspec_stream(url, scheme, deadlines)
    from webdataset.gopen import gopen  # the user's own sftp://, scp://, ais:// ...

    return gopen(url, "rb")


def open_shard(url: str, *, trusted: bool, deadlines: RemoteDeadlines) -> Any:
    """A binary stream of the shard ``url``, opened as its origin allows.

    A plain path is opened as a file (never parsed as a URL); ``file://`` likewise; a
    ``pipe:`` command only when ``trusted``. Raises :class:`ConfigError` for a source that may
    not be opened, :class:`RemoteShardError` when a remote one cannot be fetched, and
    ``OSError`` for a local file that cannot be read.
    """
    check_source(url, trusted=trusted)
    scheme = url_scheme(url)
    if scheme is None:
        return open(url, "rb")  # the caller closes it
    if scheme == "file":
        return open(unquote(urlparse(url).path), "rb")  # the caller closes it
    if scheme == "pipe":
        from webdataset.gopen import gopen

        return gopen(url, "rb")
    started = time.monotonic()
    try:
        stream = _remote_stream(url, scheme, trusted, deadlines)
    except RemoteShardError:
        raise
    except Exception as exc:  # requests, fsspec and botocore raise their own errors
        raise RemoteShardError(_failure(url, deadlines, exc, started)) from exc
    return _DeadlinedStream(stream, url, deadlines, started)
