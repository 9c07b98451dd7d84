"""Answering through an OpenAI-compatible chat-completions endpoint (a served model).

Images travel as base64 data URLs, decoding is greedy (temperature 0) with at most 50 new
tokens. Timeouts, HTTP 408/429/5xx, unreachable servers and malformed JSON are retried with
exponential backoff; after the last attempt the request is recorded as an error with the
reason, and the run goes on.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vea_augment.answering.backend import (
    AnswerOutcome,
    AnswerRequest,
    EncodedImage,
)
from vea_augment.data.images import decode_image, encode_image
from vea_augment.errors import VEAError
from vea_augment.options import (
    API_KEY_ENV,
    ENDPOINT_ATTEMPTS,
    ENDPOINT_BACKOFF_S,
    ENDPOINT_CONCURRENCY,
    ENDPOINT_TIMEOUT_S,
    MAX_NEW_TOKENS,
)

_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


class RetryableError(Exception):
    """A failure worth another attempt (timeout, overload, server error, garbled reply)."""


class FatalError(Exception):
    """A failure another attempt will not fix (bad request, unauthorised, unknown model)."""


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
    return {
        "model": settings.model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": settings.max_tokens,
        "temperature": 0,
    }


def parse_reply(body: bytes) -> str:
    """The assistant text of a chat-completions reply; RetryableError when it is malformed."""
    try:
        reply = json.loads(body.decode("utf-8"))
        content = reply["choices"][0]["message"]["content"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise RetryableError(f"malformed reply ({type(exc).__name__}): {body[:120]!r}") from exc
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise RetryableError(f"malformed reply: message content is {type(content).__name__}")
    return content.strip()


class EndpointBackend:
    """Sends each request to the endpoint, ``concurrency`` at a time."""

    name = "endpoint"

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.model_id = settings.model

    def answer(self, requests: Sequence[AnswerRequest]) -> list[AnswerOutcome]:
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            return list(pool.map(self._answer_one, requests))

    def _answer_one(self, request: AnswerRequest) -> AnswerOutcome:
        began = time.perf_counter()
        try:
            payload = json.dumps(chat_body(self.settings, request)).encode("utf-8")
        except VEAError as exc:
            return AnswerOutcome(request.text, error=str(exc))
        failures: list[str] = []
        for attempt in range(max(1, self.settings.attempts)):
            if attempt:
                time.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                answer = parse_reply(self._post(payload))
                return AnswerOutcome(
                    request.text, answer=answer, seconds=time.perf_counter() - began
                )
            except RetryableError as exc:
                failures.append(str(exc))
            except FatalError as exc:
                failures.append(str(exc))
                break
        reason = f"endpoint failed after {len(failures)} attempt(s): " + " | ".join(failures)
        return AnswerOutcome(request.text, error=reason, seconds=time.perf_counter() - began)

    def _post(self, payload: bytes) -> bytes:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.settings.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.settings.completions_url, data=payload, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}: {exc.read()[:200]!r}"
            if exc.code >= 500 or exc.code in _RETRYABLE_STATUS:
                raise RetryableError(detail) from exc
            raise FatalError(detail) from exc
        except TimeoutError as exc:
            raise RetryableError(f"timed out after {self.settings.timeout_s:g}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise RetryableError(f"timed out after {self.settings.timeout_s:g}s") from exc
            raise RetryableError(
                f"cannot reach {self.settings.completions_url}: {exc.reason}"
            ) from exc
        except (ConnectionError, OSError) as exc:
            raise RetryableError(f"connection failed: {exc}") from exc
