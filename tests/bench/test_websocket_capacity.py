"""The websocket capacity bench's check of one socket's frames, and its count of sockets streaming at once."""

from __future__ import annotations

from typing import Any

from bench.ws_capacity.report import per_socket
from bench.ws_capacity.sockets import Socket, peak_streaming, verify

ANSWER = "w0 w1 w2 "


def socket_with(*frames: dict[str, Any]) -> Socket:
    socket = Socket("c")
    socket.sent_at = 10.0
    socket.frames = [(11.0 + n, frame) for n, frame in enumerate(frames)]
    return socket


def delta(seq: int, text: str) -> dict[str, Any]:
    return {"type": "delta", "message_id": "m", "seq": seq, "text": text}


def done(content: str = ANSWER, status: str = "complete") -> dict[str, Any]:
    return {"type": "done", "message": {"content": content, "status": status}}


def test_a_whole_answer_in_order_passes_with_its_time_to_first_delta() -> None:
    verdict = verify(socket_with({"type": "ack"}, delta(1, "w0 "), delta(2, "w1 "), delta(3, "w2 "), done()), ANSWER)
    assert (verdict.acked, verdict.done, verdict.text_matches, verdict.error) == (True, True, True, None)
    assert (verdict.missing, verdict.out_of_order, verdict.duplicates) == (0, 0, 0)
    assert verdict.ttft_ms == 2000.0  # sent at 10 s, the first delta (the second frame) at 12 s


def test_a_skipped_reordered_or_repeated_delta_is_counted() -> None:
    frames = ({"type": "ack"}, delta(2, "w1 "), delta(1, "w0 "), delta(2, "w1 "), delta(4, "x"), done())
    verdict = verify(socket_with(*frames), ANSWER)
    assert verdict.missing == 1  # seq 3 never came
    assert verdict.duplicates == 1
    assert verdict.out_of_order == 3  # 2 first, 1 after 2, 4 after 2 (2 after 1 is in order)
    assert not verdict.text_matches


def test_a_stored_answer_that_differs_from_the_deltas_fails() -> None:
    frames = ({"type": "ack"}, delta(1, "w0 "), delta(2, "w1 "), delta(3, "w2 "), done(content="w0 w1 "))
    assert not verify(socket_with(*frames), ANSWER).text_matches


def test_an_error_frame_or_a_close_without_done_is_an_error() -> None:
    assert verify(socket_with({"type": "ack"}, {"type": "error", "code": "overloaded"}), ANSWER).error == "overloaded"
    closed = socket_with({"type": "ack"}, delta(1, "w0 "))
    closed.close_code = 1006
    assert verify(closed, ANSWER).error == "closed 1006"


def test_streaming_at_once_counts_overlaps_and_not_sockets_that_ended_before_others_began() -> None:
    first = verify(socket_with({"type": "ack"}, delta(1, "w0 "), done()), ANSWER)  # streams from 12 to 13
    later = verify(socket_with({"type": "ack"}, {"type": "pong"}, {"type": "pong"}, delta(1, "w0 "), done()), ANSWER)
    overlapping = verify(
        socket_with({"type": "ack"}, delta(1, "w0 "), {"type": "pong"}, {"type": "pong"}, done()), ANSWER
    )
    assert peak_streaming([first, later]) == 1  # 12 to 13 s and 14 to 15 s
    assert peak_streaming([first, later, overlapping]) == 2


def test_memory_per_idle_socket_is_measured_over_the_process_with_none() -> None:
    idle = {"rss_kib": {"0": 1000, "500": 36000, "1000": 71000}}
    assert per_socket(idle) == [(500, 70.0), (1000, 70.0)]
