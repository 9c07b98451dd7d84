"""One JSON POST to one origin that can be trusted, on httpx.

What the client promises, whatever the server does:

- **A wall-clock deadline per try.** ``timeout_s`` bounds connect, TLS, sending and every
  read *together*: each socket operation gets at most the time left before the deadline, so
  a server dripping one byte a second cannot hold a request past it (httpx's own timeouts
  are per operation). The deadline lives in a thread-local that a network backend reads,
  because httpx's sync client does all I/O in the calling thread.
- **One origin.** Redirects are followed by hand: to the same origin (scheme, host, port) at
  most ``max_redirects`` times, re-sending the POST with its body (never turned into a
  GET); to any other origin never, so headers such as ``Authorization`` never leave it.
- **A bounded reply.** The body is streamed and reading stops at ``max_reply_bytes``.
- **Failures as values.** Every failure raises :class:`RequestError` with a short reason,
  whether another try could help, and the server's ``Retry-After`` (in seconds) if it gave
  one; nothing else escapes :meth:`OriginClient.post_json`.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import httpcore
import httpx

from vea_augment.options import (
    ENDPOINT_ERROR_EXCERPT_CHARS,
    ENDPOINT_MAX_REDIRECTS,
    ENDPOINT_MAX_REPLY_BYTES,
)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Refusals another try may not get (timeouts, conflicts, too early, rate limits); 5xx too."""

_deadline = threading.local()


class RequestError(Exception):
    """Why a try produced no reply body; ``retryable``: whether another try could help."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


def _time_left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left before this thread's deadline; ``error`` once it passed."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the calling thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sync sockets, each connection's I/O bounded by the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, left, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport (request and response mapping, exception mapping) over a connection
    pool that uses :class:`_DeadlineBackend`; httpx builds its pool without a backend
    argument, so the pool it built is replaced by an equivalent one that has it."""

    def __init__(self, connections: int, proxy: str | None) -> None:
        super().__init__()
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport no longer keeps its pool in _pool")
        settings: dict[str, Any] = {
            "ssl_context": httpx.create_ssl_context(),
            "max_connections": connections,
            "max_keepalive_connections": connections,
            "network_backend": _DeadlineBackend(),
        }
        if proxy is None:
            self._pool = httpcore.ConnectionPool(**settings)
        else:
            url = httpx.URL(proxy)
            auth = None
            if url.username:
                auth = (url.username.encode(), url.password.encode())
            self._pool = httpcore.HTTPProxy(
                proxy_url=str(url.copy_with(username=None, password=None)),
                proxy_auth=auth,
                **settings,
            )


def origin(url: httpx.URL) -> str:
    """``scheme://host:port``, the port written out even where it is the scheme's default."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.scheme}://{url.host}:{port}"


def _proxy_for(url: httpx.URL) -> str | None:
    """The environment's proxy for ``url`` (``HTTP(S)_PROXY``, minus ``NO_PROXY`` hosts), as
    urllib would pick it: the client only ever talks to this one origin."""
    if urllib.request.proxy_bypass(url.host):
        return None
    proxy = urllib.request.getproxies().get(url.scheme)
    return proxy if proxy and proxy.startswith(("http://", "https://")) else None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (never negative): delay-seconds or an
    HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def excerpt(body: bytes, limit: int = ENDPOINT_ERROR_EXCERPT_CHARS) -> str:
    """The start of a reply body as one line of text, for an error record."""
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text if len(text) <= limit else text[:limit] + "..."


def _read_capped(response: httpx.Response, cap: int, *, strict: bool) -> bytes:
    """The (decoded) body, streamed; past ``cap`` bytes a ``strict`` read fails, a lax one (an
    error body, only quoted) stops there."""
    declared = response.headers.get("content-length", "")
    if strict and declared.isdigit() and int(declared) > cap:
        raise RequestError(f"reply larger than {cap} bytes", retryable=False)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        chunks.append(chunk)
        if size > cap:
            if strict:
                raise RequestError(f"reply larger than {cap} bytes", retryable=False)
            break
    return b"".join(chunks)[:cap]


class OriginClient:
    """POSTs JSON to one URL, with ``headers`` (only ever sent to that URL's origin).

    Thread-safe: up to ``connections`` tries run at once, each with its own deadline.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        connections: int = 1,
        max_reply_bytes: int = ENDPOINT_MAX_REPLY_BYTES,
        max_redirects: int = ENDPOINT_MAX_REDIRECTS,
    ) -> None:
        self.url = httpx.URL(url)
        self.origin = origin(self.url)
        self.timeout_s = float(timeout_s)
        self.max_reply_bytes = max_reply_bytes
        self.max_redirects = max_redirects
        self._headers = dict(headers)
        # trust_env=False: no .netrc credentials and no proxy choice per redirect target;
        # the one proxy this origin needs is chosen here.
        self._client = httpx.Client(
            transport=_DeadlineTransport(max(1, connections), _proxy_for(self.url)),
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def post_json(self, payload: bytes) -> bytes:
        """The body of the reply to POSTing ``payload``; :class:`RequestError` otherwise."""
        _deadline.at = time.monotonic() + self.timeout_s
        try:
            return self._follow(payload)
        except httpx.TimeoutException as exc:
            raise RequestError(f"deadline of {self.timeout_s} s exceeded", True) from exc
        except httpx.HTTPError as exc:
            raise RequestError(_transport_reason(exc, self.origin), True) from exc
        finally:
            _deadline.at = None

    def _follow(self, payload: bytes) -> bytes:
        url = self.url
        headers = {"Content-Type": "application/json", **self._headers}
        for _ in range(self.max_redirects + 1):
            with self._client.stream("POST", url, content=payload, headers=headers) as response:
                if response.is_redirect:
                    location = response.headers["location"]
                    try:
                        target = url.join(location)
                    except httpx.InvalidURL as exc:
                        reason = f"redirect to an unreadable location {location[:100]!r}"
                        raise RequestError(reason, retryable=False) from exc
                    if origin(target) != self.origin:
                        reason = f"redirect to other origin {origin(target)} refused"
                        raise RequestError(reason, retryable=False)
                    url = target
                    continue
                try:
                    return self._reply(response)
                except httpx.TransportError as exc:
                    if isinstance(exc, httpx.TimeoutException):
                        raise
                    reason = f"connection closed mid-reply ({_detail(exc)})"
                    raise RequestError(reason, retryable=True) from exc
        raise RequestError(f"more than {self.max_redirects} redirects", retryable=False)

    def _reply(self, response: httpx.Response) -> bytes:
        if response.is_success:
            return _read_capped(response, self.max_reply_bytes, strict=True)
        body = _read_capped(response, ENDPOINT_ERROR_EXCERPT_CHARS * 4, strict=False)
        status = response.status_code
        quoted = excerpt(body)
        raise RequestError(
            f"HTTP {status}: {quoted}" if quoted else f"HTTP {status}",
            retryable=status >= 500 or status in RETRYABLE_STATUS,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )


def _detail(exc: Exception) -> str:
    return str(exc)[:120] or type(exc).__name__


def _transport_reason(exc: httpx.HTTPError, where: str) -> str:
    """A transport failure before any reply, in a few words."""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {where} ({_detail(exc)})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection closed before a reply ({_detail(exc)})"
    return f"connection failed ({type(exc).__name__}: {_detail(exc)})"
