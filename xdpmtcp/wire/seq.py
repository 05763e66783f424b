"""TCP sequence-number arithmetic modulo 2**32 (RFC 793 section 3.3).

Comparisons use the signed 32-bit difference, so exactly one of lt, eq,
gt holds for any pair.  At a distance of exactly 2**31 the order is
undefined (RFC 1982); there ``seq_lt`` holds in both directions, as with
Linux's ``before()``, and ``seq_gt`` in neither.
"""

__all__ = ["SEQ_MOD", "seq_add", "seq_diff", "seq_lt", "seq_leq", "seq_gt", "seq_geq"]

SEQ_MOD = 1 << 32
_MASK = SEQ_MOD - 1
_HALF = 1 << 31


def seq_add(seq, n):
    """``seq + n`` wrapped to 32 bits (``n`` may be negative)."""
    return (seq + n) & _MASK


def seq_diff(a, b):
    """Signed distance ``a - b`` in [-2**31, 2**31)."""
    return ((a - b + _HALF) & _MASK) - _HALF


def seq_lt(a, b):
    return seq_diff(a, b) < 0


def seq_leq(a, b):
    return seq_diff(a, b) <= 0


def seq_gt(a, b):
    return seq_diff(a, b) > 0


def seq_geq(a, b):
    return seq_diff(a, b) >= 0
