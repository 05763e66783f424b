"""Errors of the socket API: OSError with the errno the reference pages
name (Python turns EAGAIN into BlockingIOError, ECONNRESET into
ConnectionResetError, ... on its own)."""
import os


def error(code, detail=None):
    """OSError(code, "strerror: detail")."""
    text = os.strerror(code)
    return OSError(code, "%s: %s" % (text, detail) if detail else text)
