"""Tests for `mnist_pipeline.data.download.fetch` against a scripted local server (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_pipeline.data.download import USER_AGENT, OfflineError, fetch
from mnist_pipeline.errors import DataError, DownloadError
from tests.support.http_server import ScriptedServer, closed_port_url, no_proxy, serve, server, sleeps  # noqa: F401 - fixtures

BODY = bytes(range(256)) * 4  # 1 KiB
UNRESOLVABLE = "http://mirror.invalid/x.gz"  # the reserved .invalid TLD never resolves


def get(
    urls: list[str],
    *,
    name: str = "train.gz",
    max_bytes: int = 1 << 20,
    timeout: float = 2.0,
    progress: bool = False,
    **options: Any,
) -> bytes:
    """`fetch` with test-friendly defaults: short timeout, no progress bar."""
    return fetch(urls, name=name, max_bytes=max_bytes, timeout=timeout, progress=progress, **options)


def checksum(expected: bytes) -> Callable[[bytes], None]:
    """A `verify` callback that rejects any body but `expected`, the way a real caller would."""
    digest = hashlib.sha256(expected).hexdigest()

    def verify(body: bytes) -> None:
        actual = hashlib.sha256(body).hexdigest()
        if actual != digest:
            raise DataError(f"checksum mismatch (expected {digest[:12]}, got {actual[:12]})")

    return verify


def test_success_returns_body_and_shows_progress(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], sleeps: list[float]
) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: several chunks
    url = server.route("/a.gz", body=body)

    assert get([url], name="train-images.gz", progress=True) == body

    err = capsys.readouterr().err
    assert "train-images.gz" in err
    assert "100%" in err
    assert server.hits["/a.gz"] == 1
    assert sleeps == []


def test_progress_bar_can_be_turned_off(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = server.route("/a.gz", body=BODY)

    assert get([url], progress=False) == BODY
    assert capsys.readouterr().err == ""


def test_identifies_itself_with_a_user_agent(server: ScriptedServer) -> None:
    get([server.route("/a.gz", body=BODY)])

    assert server.user_agents == [USER_AGENT]
    assert "mnist" in USER_AGENT


@pytest.mark.parametrize("status", [404, 403, 410])
def test_permanent_http_error_moves_to_next_mirror_without_retry(
    server: ScriptedServer, sleeps: list[float], status: int
) -> None:
    broken = server.route("/broken.gz", body=BODY, fail=99, fail_status=status)
    good = server.route("/good.gz", body=BODY)

    assert get([broken, good], attempts=3) == BODY
    assert server.hits["/broken.gz"] == 1
    assert server.hits["/good.gz"] == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_http_error_is_retried_on_the_same_mirror(
    server: ScriptedServer, sleeps: list[float], status: int
) -> None:
    url = server.route("/a.gz", body=BODY, fail=2, fail_status=status)
    unused = server.route("/unused.gz", body=BODY)

    assert get([url, unused], attempts=3, backoff=1.0) == BODY
    assert server.hits["/a.gz"] == 3
    assert server.hits["/unused.gz"] == 0
    assert sleeps == [1.0, 2.0]  # exponential backoff between the three tries


def test_retries_stop_after_attempts_and_the_next_mirror_is_used(server: ScriptedServer, sleeps: list[float]) -> None:
    failing = server.route("/failing.gz", body=BODY, fail=99, fail_status=500)
    good = server.route("/good.gz", body=BODY)

    assert get([failing, good], attempts=3, backoff=0.5) == BODY
    assert server.hits["/failing.gz"] == 3
    assert sleeps == [0.5, 1.0]  # no sleep after the last try


def test_dropped_connection_is_retried_then_next_mirror_gives_the_whole_body(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    cut = server.route("/cut.gz", body=BODY, cut_at=len(BODY) // 2)
    good = server.route("/good.gz", body=BODY)

    assert get([cut, good], attempts=3, backoff=1.0) == BODY
    assert server.hits["/cut.gz"] == 3
    assert server.hits["/good.gz"] == 1
    assert sleeps == [1.0, 2.0]


def test_dropped_connection_never_yields_a_partial_body(server: ScriptedServer) -> None:
    cut = server.route("/cut.gz", body=BODY, cut_at=500)

    with pytest.raises(DownloadError) as raised:
        get([cut], attempts=2)

    assert not isinstance(raised.value, OfflineError)
    assert f"{cut}: cut short after 500 of {len(BODY)} bytes" in str(raised.value)


def test_server_that_never_answers_times_out_then_next_mirror_is_used(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    stalled = server.route("/stalled.gz", body=BODY, stall=10.0)
    good = server.route("/good.gz", body=BODY)

    assert get([stalled, good], attempts=2, timeout=0.2, backoff=1.0) == BODY
    assert server.hits["/stalled.gz"] == 2
    assert sleeps == [1.0]


def test_server_that_stalls_mid_body_times_out(server: ScriptedServer) -> None:
    stalled = server.route("/stalled.gz", body=BODY, stall=10.0, stall_after=100)

    with pytest.raises(DownloadError, match="stalled.gz: timed out"):
        get([stalled], attempts=1, timeout=0.2)


def test_rejected_body_moves_to_next_mirror(server: ScriptedServer) -> None:
    wrong = server.route("/wrong.gz", body=b"not the file")
    good = server.route("/good.gz", body=BODY)
    seen: list[bytes] = []

    def verify(body: bytes) -> None:
        seen.append(body)
        checksum(BODY)(body)

    assert get([wrong, good], verify=verify, attempts=3) == BODY
    assert seen == [b"not the file", BODY]
    assert server.hits["/wrong.gz"] == 1  # the same server would serve the same wrong bytes


def test_a_bug_in_verify_is_not_mistaken_for_a_bad_mirror(server: ScriptedServer) -> None:
    url = server.route("/a.gz", body=BODY)

    def verify(body: bytes) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        get([url, url], verify=verify)
    assert server.hits["/a.gz"] == 1


def test_when_all_mirrors_fail_the_message_names_each_url_and_why(
    server: ScriptedServer,
) -> None:
    missing = server.url("/missing.gz")
    wrong = server.route("/wrong.gz", body=b"not the file")
    failing = server.route("/failing.gz", body=BODY, fail=99, fail_status=500)

    with pytest.raises(DownloadError) as raised:
        get(
            [missing, wrong, failing],
            name="train-images-idx3-ubyte.gz",
            verify=checksum(BODY),
            attempts=2,
        )

    message = str(raised.value)
    assert not isinstance(raised.value, OfflineError)
    assert "\n" not in message
    assert message.startswith("could not download train-images-idx3-ubyte.gz: ")
    parts = [f"{missing}: HTTP 404", f"{wrong}: checksum mismatch", f"{failing}: HTTP 500"]
    positions = [message.index(part) for part in parts]
    assert positions == sorted(positions)


def test_offline_fails_fast_with_offline_error(sleeps: list[float]) -> None:
    with closed_port_url("/x.gz") as refused:
        with pytest.raises(OfflineError) as raised:
            get([refused, UNRESOLVABLE], attempts=3, backoff=1.0, timeout=30.0)

    message = str(raised.value)
    assert isinstance(raised.value, DownloadError)  # callers catching DownloadError see it too
    assert sleeps == []  # nothing to wait for: no retry of network-level failures
    assert "\n" not in message
    assert f"{refused}: connection refused" in message
    assert f"{UNRESOLVABLE}: host lookup failed" in message


def test_a_server_answering_means_not_offline(server: ScriptedServer) -> None:
    missing = server.url("/missing.gz")

    with closed_port_url() as refused:
        with pytest.raises(DownloadError) as raised:
            get([refused, missing])

    assert not isinstance(raised.value, OfflineError)


def test_declared_oversized_body_is_refused_without_retry(server: ScriptedServer, sleeps: list[float]) -> None:
    huge = server.route("/huge.gz", body=bytes(2000))
    good = server.route("/good.gz", body=BODY)

    assert get([huge, good], max_bytes=len(BODY)) == BODY
    assert server.hits["/huge.gz"] == 1
    assert sleeps == []


def test_undeclared_oversized_body_is_refused(server: ScriptedServer) -> None:
    limit = 100_000
    huge = server.route("/huge.gz", body=bytes(3 * limit), send_length=False)

    with pytest.raises(DownloadError) as raised:
        get([huge], max_bytes=limit)

    assert f"{huge}: refused: body exceeds the limit of {limit} bytes" in str(raised.value)
    assert server.hits["/huge.gz"] == 1


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    with serve() as running:
        yield running


_paths = itertools.count()


# The function-scoped fixtures are only the autouse proxy/sleep patches, safe to share.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=3000), limit=st.integers(0, 3000), send_length=st.booleans())
def test_a_body_is_returned_exactly_if_and_only_if_within_the_limit(
    shared_server: ScriptedServer, body: bytes, limit: int, send_length: bool
) -> None:
    url = shared_server.route(f"/{next(_paths)}.gz", body=body, send_length=send_length)

    if len(body) <= limit:
        assert get([url], max_bytes=limit) == body
    else:
        with pytest.raises(DownloadError, match="refused"):
            get([url], max_bytes=limit)


def test_file_urls_work_like_mirrors(tmp_path: Path) -> None:
    present = tmp_path / "present.gz"
    present.write_bytes(BODY)
    missing = (tmp_path / "missing.gz").as_uri()

    assert get([missing, present.as_uri()]) == BODY
    with pytest.raises(DownloadError) as raised:
        get([missing])
    assert not isinstance(raised.value, OfflineError)
    assert f"{missing}: No such file" in str(raised.value)


def test_a_malformed_url_is_a_failed_mirror_not_a_crash(server: ScriptedServer) -> None:
    good = server.route("/good.gz", body=BODY)

    assert get(["mirror.example/no-scheme.gz", good]) == BODY
    with pytest.raises(DownloadError, match="no-scheme.gz: invalid URL"):
        get(["mirror.example/no-scheme.gz"])


def test_no_urls_is_a_download_error() -> None:
    with pytest.raises(DownloadError, match="could not download train.gz: no URL"):
        get([])


def test_misuse_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        fetch("http://127.0.0.1/a.gz", name="a", max_bytes=1)
    with pytest.raises(ValueError):
        fetch(["http://127.0.0.1/a.gz"], name="a", max_bytes=1, attempts=0)
