"""Did a whole HTTP response arrive?  `connect` reads until the server
closes; a response cut short (the server or the network failed) still
ends cleanly there, so its Content-Length is the only witness."""
import re

_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*$", re.I | re.M)
# no body whatever Content-Length says (RFC 9110 6.4.1)
_BODYLESS_STATUS = re.compile(rb"^HTTP/\d(\.\d)? (1\d\d|204|304) ")


def missing_body_bytes(request, head, bytes_in):
    """(body bytes received, Content-Length announced) when the first
    response in what arrived (head: its first bytes, bytes_in: how many
    arrived in all) announced more body than came; else None."""
    if not head.startswith(b"HTTP/") or request.lstrip().upper().startswith(b"HEAD "):
        return None
    header_end = head.find(b"\r\n\r\n")
    if header_end < 0 or _BODYLESS_STATUS.match(head):
        return None
    found = _CONTENT_LENGTH.search(bytes(head[:header_end]).replace(b"\r\n", b"\n"))
    if found is None:
        return None
    announced = int(found.group(1))
    received = bytes_in - (header_end + 4)
    return (received, announced) if received < announced else None
