"""Declarative fixed-size header layouts in network byte order.

A header is declared once as data, a list of ``(name, struct_format)``
fields, and the layout gives its size, field offsets, unpacking into a
namedtuple and packing back.  Bit fields (IPv4 version/IHL, TCP data
offset) stay whole bytes here; the modules that own them split them.
"""
import struct
from collections import namedtuple

__all__ = ["Layout", "byte_view"]


class Layout:
    """A fixed-size header: ``Layout("Name", [("field", "H"), ...])``."""

    __slots__ = ("name", "fields", "size", "_struct", "_tuple", "_offsets")

    def __init__(self, name, fields):
        fields = tuple((str(n), str(f)) for n, f in fields)
        names = [n for n, _ in fields]
        if len(set(names)) != len(names):
            raise ValueError("duplicate field name in layout %s" % name)
        offsets = {}
        offset = 0
        for field_name, fmt in fields:
            one = struct.Struct("!" + fmt)
            # Exactly one value per field keeps names and values aligned.
            if len(one.unpack(bytes(one.size))) != 1:
                raise ValueError("field %s: format %r is not one value" % (field_name, fmt))
            offsets[field_name] = offset
            offset += one.size
        self.name = name
        self.fields = tuple(names)
        self._struct = struct.Struct("!" + "".join(f for _, f in fields))
        self.size = self._struct.size
        self._tuple = namedtuple(name, names)
        self._offsets = offsets

    def offset_of(self, field_name):
        """Byte offset of a field from the start of the header."""
        return self._offsets[field_name]

    def unpack_from(self, buf, offset=0):
        """Unpack the header at ``offset``; the caller has checked the length."""
        return self._tuple._make(self._struct.unpack_from(buf, offset))

    def pack(self, *args, **kwargs):
        """Pack field values given positionally or by name into bytes."""
        try:
            return self._struct.pack(*self._tuple(*args, **kwargs))
        except struct.error as exc:  # out-of-range value: a caller's ValueError
            raise ValueError("%s: %s" % (self.name, exc)) from None

    def pack_into(self, buf, offset, *args, **kwargs):
        """Pack field values into a writable buffer at ``offset``."""
        try:
            self._struct.pack_into(buf, offset, *self._tuple(*args, **kwargs))
        except struct.error as exc:
            raise ValueError("%s: %s" % (self.name, exc)) from None

    def __repr__(self):
        return "Layout(%s, %d bytes: %s)" % (self.name, self.size, ", ".join(self.fields))


def byte_view(buf):
    """A flat unsigned-byte memoryview of any bytes-like object (no copy)."""
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view
