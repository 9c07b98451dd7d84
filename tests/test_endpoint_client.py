"""The endpoint backend against real loopback servers that misbehave, one way each: every
failure is that request's error outcome with a specific reason, the key never leaves the
endpoint's origin, ``--timeout`` is a wall-clock deadline, ``Retry-After`` is honoured, a
huge reply is cut off, and the other requests of the batch are answered."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from endpoint_servers import Handler, Seen, answer_ok, chat_reply, serving
from synthetic_images import encoded, noise_image

from vea_augment.answering.backend import AnswerRequest, EncodedImage
from vea_augment.answering.endpoint_backend import EndpointBackend, EndpointSettings
from vea_augment.answering.http_client import retry_after_seconds

KEY = "sk-test-secret"
IMAGE = EncodedImage(encoded(noise_image(16, 12, 0)), "png", "img")


@pytest.fixture
def serve():
    with serving() as start:
        yield start


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("VEA_TEST_KEY", KEY)


def backend(url: str, **settings) -> EndpointBackend:
    settings = {"attempts": 1, "timeout_s": 5.0, "backoff_s": 0.01} | settings
    return EndpointBackend(
        EndpointSettings(url, "served-vlm", api_key_env="VEA_TEST_KEY", **settings)
    )


def ask(client: EndpointBackend, *questions: str):
    return client.answer([AnswerRequest(q, (IMAGE,)) for q in questions])


def test_a_redirect_to_another_origin_is_refused_and_that_origin_gets_nothing(serve):
    other = serve(answer_ok)

    def redirect(handler: Handler, seen: Seen) -> None:
        handler.send(302, b"", {"Location": f"{other.origin}/v1/chat/completions"})

    endpoint = serve(redirect)
    (outcome,) = ask(backend(endpoint.url, attempts=3), "What is it?")
    assert outcome.answer is None
    assert outcome.error == (
        f"endpoint failed after 1 attempt(s): redirect to other origin {other.origin} refused"
    )
    assert other.seen == []  # no request at all, so no Authorization header either
    assert [s.headers["authorization"] for s in endpoint.seen] == [f"Bearer {KEY}"]


@pytest.mark.parametrize("status", [307, 302])
def test_a_same_origin_redirect_is_followed_re_sending_the_post(serve, status):
    def moved(handler: Handler, seen: Seen) -> None:
        if seen.path == "/v1/chat/completions":
            handler.send(status, b"", {"Location": "/v2/chat/completions"})
        else:
            answer_ok(handler, seen)

    endpoint = serve(moved)
    (outcome,) = ask(backend(endpoint.url), "What is written here?")
    assert (outcome.answer, outcome.error) == ("ok: here?", None)
    first, second = endpoint.seen
    assert [(s.method, s.path) for s in endpoint.seen] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v2/chat/completions"),
    ]
    assert second.body == first.body and second.headers["authorization"] == f"Bearer {KEY}"


def test_a_redirect_loop_stops_after_the_few_redirects_allowed(serve):
    def loop(handler: Handler, seen: Seen) -> None:
        handler.send(308, b"", {"Location": seen.path})

    endpoint = serve(loop)
    (outcome,) = ask(backend(endpoint.url, max_redirects=3), "Q?")
    assert outcome.error == "endpoint failed after 1 attempt(s): more than 3 redirects"
    assert len(endpoint.seen) == 4


def drip_body(handler: Handler, seen: Seen) -> None:
    """Headers at once, then one byte of a 200-byte body every 0.2 s (40 s in all)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "200")
    handler.end_headers()
    for _ in range(200):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.2)


def drip_headers(handler: Handler, seen: Seen) -> None:
    """The status line and headers, one byte every 0.2 s."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 200:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.2)


@pytest.mark.parametrize("drip", [drip_body, drip_headers], ids=["body", "headers"])
def test_the_timeout_is_a_wall_clock_deadline_even_against_a_dripping_server(serve, drip):
    endpoint = serve(drip)
    client = backend(endpoint.url, timeout_s=1.0)
    began = time.monotonic()
    (outcome,) = ask(client, "Q?")
    took = time.monotonic() - began
    assert outcome.error == "endpoint failed after 1 attempt(s): deadline of 1.0 s exceeded"
    assert 1.0 <= took < 2.0, took  # each byte arrives well within the per-read timeout


def in_three_seconds() -> str:
    """An HTTP-date 2 to 3 s from now (HTTP-dates have whole seconds)."""
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)


@pytest.mark.parametrize(
    "retry_after", [lambda: "1", in_three_seconds], ids=["seconds", "http-date"]
)
def test_retry_after_is_honoured_before_the_next_try(serve, retry_after):
    def busy_once(handler: Handler, seen: Seen) -> None:
        if len(handler.server.seen) == 1:
            handler.send(429, b'{"error": "slow down"}', {"Retry-After": retry_after()})
        else:
            answer_ok(handler, seen)

    endpoint = serve(busy_once)
    (outcome,) = ask(backend(endpoint.url, attempts=2), "Which colour?")
    assert (outcome.answer, outcome.error) == ("ok: colour?", None)
    first, second = endpoint.seen
    assert second.at - first.at >= 1.0  # the backoff alone would be 0.01 s


def test_a_long_retry_after_is_capped(serve):
    def busy_once(handler: Handler, seen: Seen) -> None:
        if len(handler.server.seen) == 1:
            handler.send(503, b"", {"Retry-After": "3600"})
        else:
            answer_ok(handler, seen)

    endpoint = serve(busy_once)
    (outcome,) = ask(backend(endpoint.url, attempts=2, retry_after_cap_s=0.3), "Q?")
    first, second = endpoint.seen
    assert outcome.answer == "ok: Q?" and 0.3 <= second.at - first.at < 1.5


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(" 1.5 ", now) == 1.5
    assert retry_after_seconds("Sat, 01 Mar 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sat, 01 Mar 2025 11:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds("-5", now) == 0.0
    for unreadable in (None, "", "soon", "nan", "inf"):
        assert retry_after_seconds(unreadable, now) is None


def huge_declared(handler: Handler, seen: Seen) -> None:
    handler.send(200, chat_reply("x" * 5_000_000))


def huge_streamed(handler: Handler, seen: Seen) -> None:
    """No Content-Length: 5 MB in 64 kB chunks, then the connection closes."""
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.close_connection = True
    for _ in range(80):
        handler.wfile.write(b"x" * 65_536)


@pytest.mark.parametrize("huge", [huge_declared, huge_streamed], ids=["declared", "streamed"])
def test_a_reply_over_the_size_cap_is_an_error_not_stored(serve, huge):
    endpoint = serve(huge)
    (outcome,) = ask(backend(endpoint.url, attempts=3, max_reply_bytes=100_000), "Q?")
    assert outcome.answer is None
    assert outcome.error == "endpoint failed after 1 attempt(s): reply larger than 100000 bytes"


def test_a_connection_closed_mid_reply_costs_only_that_request(serve):
    def cut(handler: Handler, seen: Seen) -> None:
        if "cut" not in seen.question:
            return answer_ok(handler, seen)
        handler.send_response(200)
        handler.send_header("Content-Length", "500")
        handler.end_headers()
        handler.wfile.write(b'{"choices": [{"message"')
        handler.wfile.flush()
        handler.close_connection = True  # the server goes away with 480 bytes unsent

    endpoint = serve(cut)
    outcomes = ask(backend(endpoint.url, attempts=2, concurrency=3), "first?", "cut?", "last?")
    assert [o.answer for o in outcomes] == ["ok: first?", None, "ok: last?"]
    assert outcomes[1].error.startswith(
        "endpoint failed after 2 attempt(s): connection closed mid-reply ("
    )
    assert sum("cut" in s.question for s in endpoint.seen) == 2


def test_a_refusal_quotes_the_status_and_the_start_of_its_body_and_is_not_retried(serve):
    def unauthorised(handler: Handler, seen: Seen) -> None:
        handler.send(401, b'{"error":\n  {"message": "invalid api key ' + b"z" * 500 + b'"}}')

    endpoint = serve(unauthorised)
    (outcome,) = ask(backend(endpoint.url, attempts=3), "Q?")
    assert outcome.error == (
        'endpoint failed after 1 attempt(s): HTTP 401: {"error": {"message": "invalid api key '
        + "z" * 161
        + "..."
    )
    assert len(endpoint.seen) == 1


def test_a_server_error_is_retried_and_the_last_reason_leads(serve):
    def failing(handler: Handler, seen: Seen) -> None:
        handler.send(500 if len(handler.server.seen) < 3 else 502, b"overloaded")

    endpoint = serve(failing)
    (outcome,) = ask(backend(endpoint.url, attempts=3), "Q?")
    assert outcome.error == (
        "endpoint failed after 3 attempt(s): HTTP 502: overloaded (earlier: HTTP 500: overloaded)"
    )


def test_a_server_that_is_down_is_an_error_naming_it():
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (outcome,) = ask(backend(f"http://127.0.0.1:{port}/v1", attempts=2), "Q?")
    assert outcome.error.startswith(
        f"endpoint failed after 2 attempt(s): cannot connect to http://127.0.0.1:{port} ("
    )


def test_custom_headers_and_extra_body_fields_arrive_and_a_header_can_replace_the_key(serve):
    endpoint = serve(answer_ok)
    client = backend(
        endpoint.url,
        headers=(("X-Tenant", "lab-7"), ("Authorization", "Token other")),
        extra_body={"top_p": 0.5, "temperature": 0.2, "chat_template_kwargs": {"a": 1}},
    )
    (outcome,) = ask(client, "Q?")
    assert outcome.answer == "ok: Q?"
    (seen,) = endpoint.seen
    assert (seen.headers["x-tenant"], seen.headers["authorization"]) == ("lab-7", "Token other")
    body = seen.json
    assert (body["top_p"], body["temperature"], body["chat_template_kwargs"]) == (
        0.5,
        0.2,
        {"a": 1},
    )
    assert (body["model"], body["max_tokens"]) == ("served-vlm", 50)


def test_a_question_with_a_lone_surrogate_is_its_own_error_and_is_not_sent(serve):
    endpoint = serve(answer_ok)
    outcomes = ask(backend(endpoint.url, concurrency=2), "What is \ud800 here?", "Fine?")
    assert outcomes[0].error == "question is not valid text (lone surrogate \\ud800 at character 8)"
    assert outcomes[0].prompt == "What is \\ud800 here?"  # writable as UTF-8
    assert outcomes[1].answer == "ok: Fine?"
    assert [s.question for s in endpoint.seen] == ["Fine?"]
