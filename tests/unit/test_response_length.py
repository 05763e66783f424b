"""connect's check that an HTTP response arrived whole."""
import pytest

from xdpmtcp.commands.response_length import missing_body_bytes

GET = b"GET / HTTP/1.0\r\n\r\n"


def response(status="200 OK", length=10, body=b""):
    head = b"HTTP/1.1 %s\r\nServer: t\r\nContent-Length: %d\r\n\r\n" % (status.encode(), length)
    return head + body


def test_short_body_is_reported():
    data = response(length=10, body=b"abc")
    assert missing_body_bytes(GET, data, len(data)) == (3, 10)


def test_whole_body_is_not():
    data = response(length=3, body=b"abc")
    assert missing_body_bytes(GET, data, len(data)) is None


def test_body_past_the_head_prefix_counts():
    # only the first bytes are kept; bytes_in says how many came in all
    data = response(length=100000, body=b"x" * 100)
    assert missing_body_bytes(GET, data, len(data) - 100 + 100000) is None


@pytest.mark.parametrize("request_,data", [
    (b"HEAD / HTTP/1.0\r\n\r\n", response(length=10)),
    (GET, response("304 Not Modified", length=10)),
    (GET, response("204 No Content", length=10)),
    (GET, b"SSH-2.0-OpenSSH\r\n"),
    (GET, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"),
    (GET, b"HTTP/1.1 200 OK\r\nContent-Len"),       # the head did not even arrive
], ids=["head-request", "304", "204", "not-http", "chunked", "cut-head"])
def test_nothing_to_say(request_, data):
    assert missing_body_bytes(request_, data, len(data)) is None


def test_header_name_is_case_insensitive():
    data = b"HTTP/1.0 200 OK\r\ncontent-LENGTH:  7\r\n\r\nab"
    assert missing_body_bytes(GET, data, len(data)) == (2, 7)
