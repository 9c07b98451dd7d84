"""Answering through an OpenAI-compatible chat-completions endpoint (a served model).

Images travel as base64 data URLs, decoding is greedy (temperature 0) with at most 50 new
tokens; ``extra_body`` fields are merged into each request and ``headers`` sent with it.
The HTTP side is :mod:`vea_augment.answering.http_client` (one origin, a wall-clock deadline
per try, a reply size cap). Passed deadlines, dropped connections, HTTP 408/429/5xx and
malformed JSON are tried again, after the server's ``Retry-After`` (capped) or an
exponential backoff; after the last try the request is an error outcome with the reason,
and the rest of the shard goes on.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vea_augment.answering.backend import (
    AnswerOutcome,
    AnswerRequest,
    EncodedImage,
    unencodable_text,
    writable_text,
)
from vea_augment.answering.http_client import OriginClient, RequestError
from vea_augment.data.images import decode_image, encode_image
from vea_augment.errors import ConfigError, VEAError
from vea_augment.options import (
    API_KEY_ENV,
    ENDPOINT_ATTEMPTS,
    ENDPOINT_BACKOFF_CAP_S,
    ENDPOINT_BACKOFF_S,
    ENDPOINT_CONCURRENCY,
    ENDPOINT_MAX_REDIRECTS,
    ENDPOINT_MAX_REPLY_BYTES,
    ENDPOINT_RETRY_AFTER_CAP_S,
    ENDPOINT_TIMEOUT_S,
    MAX_NEW_TOKENS,
)

_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class EndpointSettings:
    """Where the served model is and how patiently to ask it."""

    url: str
    model: str
    api_key_env: str = API_KEY_ENV
    timeout_s: float = ENDPOINT_TIMEOUT_S
    attempts: int = ENDPOINT_ATTEMPTS
    backoff_s: float = ENDPOINT_BACKOFF_S
    concurrency: int = ENDPOINT_CONCURRENCY
    max_tokens: int = MAX_NEW_TOKENS
    headers: tuple[tuple[str, str], ...] = ()
    """Sent with every request (after the API key's ``Authorization``, so one given wins)."""
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Merged into every request body over the defaults (``messages`` excepted)."""
    max_reply_bytes: int = ENDPOINT_MAX_REPLY_BYTES
    max_redirects: int = ENDPOINT_MAX_REDIRECTS
    backoff_cap_s: float = ENDPOINT_BACKOFF_CAP_S
    retry_after_cap_s: float = ENDPOINT_RETRY_AFTER_CAP_S

    def __post_init__(self) -> None:
        if "messages" in self.extra_body:
            raise ConfigError("--extra-body cannot replace 'messages' (the question and images)")

    @property
    def completions_url(self) -> str:
        """``url`` itself if it already ends in ``/chat/completions``, else that appended."""
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def data_url(image: EncodedImage) -> str:
    """The image as a ``data:`` URL, re-encoded as PNG when its format is not web-safe."""
    mime = _MIME.get(image.extension.lower())
    data = image.data
    if mime is None:
        data, mime = encode_image(decode_image(data, name=image.name), "png"), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def chat_body(settings: EndpointSettings, request: AnswerRequest) -> dict[str, Any]:
    """The chat-completions request: one user turn, the images first, then the text."""
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": data_url(image)}} for image in request.images
    ]
    content.append({"type": "text", "text": request.text})
    body = {
        "model": settings.model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": settings.max_tokens,
        "temperature": 0,
    }
    return body | dict(settings.extra_body)


def parse_reply(body: bytes) -> str:
    """The assistant text of a chat-completions reply; a retryable RequestError when it is
    malformed (a server mid-restart can send anything once)."""
    try:
        reply = json.loads(body.decode("utf-8"))
        content = reply["choices"][0]["message"]["content"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        reason = f"malformed reply ({type(exc).__name__}): {body[:120]!r}"
        raise RequestError(reason, retryable=True) from exc
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        reason = f"malformed reply: message content is {type(content).__name__}"
        raise RequestError(reason, retryable=True)
    return content.strip()


def request_headers(settings: EndpointSettings) -> dict[str, str]:
    """The API key as a bearer token (when its variable is set), then ``settings.headers``."""
    headers: dict[str, str] = {}
    key = os.environ.get(settings.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(dict(settings.headers))
    return headers


class EndpointBackend:
    """Sends each request to the endpoint, ``concurrency`` at a time."""

    name = "endpoint"

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.client = OriginClient(
            settings.completions_url,
            request_headers(settings),
            settings.timeout_s,
            connections=max(1, settings.concurrency),
            max_reply_bytes=settings.max_reply_bytes,
            max_redirects=settings.max_redirects,
        )

    def answer(self, requests: Sequence[AnswerRequest]) -> list[AnswerOutcome]:
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            return list(pool.map(self._answer_safely, requests))

    def _answer_safely(self, request: AnswerRequest) -> AnswerOutcome:
        # The promise of the protocol: one request's failure is its outcome, never the batch's.
        try:
            return self._answer_one(request)
        except Exception as exc:  # recorded with its type; the shard goes on
            reason = f"endpoint client failed: {type(exc).__name__}: {str(exc)[:200]}"
            return AnswerOutcome(writable_text(request.text), error=reason)

    def _answer_one(self, request: AnswerRequest) -> AnswerOutcome:
        began = time.perf_counter()
        unencodable = unencodable_text(request.text)
        if unencodable is not None:
            return AnswerOutcome(writable_text(request.text), error=unencodable)
        try:
            payload = json.dumps(chat_body(self.settings, request)).encode("utf-8")
        except VEAError as exc:
            return AnswerOutcome(request.text, error=str(exc))
        failures: list[str] = []
        for attempt in range(max(1, self.settings.attempts)):
            try:
                answer = parse_reply(self.client.post_json(payload))
                return AnswerOutcome(
                    request.text, answer=answer, seconds=time.perf_counter() - began
                )
            except RequestError as exc:
                failures.append(exc.reason)
                if not exc.retryable or attempt + 1 >= self.settings.attempts:
                    break
                time.sleep(self._pause(attempt, exc.retry_after))
        return AnswerOutcome(
            request.text, error=failure_reason(failures), seconds=time.perf_counter() - began
        )

    def _pause(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 2``: what the server asked (capped), else backoff."""
        if retry_after is not None:
            return min(retry_after, self.settings.retry_after_cap_s)
        return min(self.settings.backoff_s * 2**attempt, self.settings.backoff_cap_s)


def failure_reason(failures: Sequence[str]) -> str:
    """``endpoint failed after N attempt(s): <last reason>``, earlier different reasons after
    it in brackets (the summary groups errors by the part before them)."""
    last = failures[-1]
    earlier = [reason for reason in dict.fromkeys(failures[:-1]) if reason != last]
    text = f"endpoint failed after {len(failures)} attempt(s): {last}"
    return text + (f" (earlier: {' | '.join(earlier)})" if earlier else "")
