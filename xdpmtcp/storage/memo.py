"""A capped memo for values that are costly to compute and cheap to keep."""


class Memo:
    """fn(key), computed once per key and kept, at most ``cap`` keys; when
    full, everything is forgotten and relearnt (the policy at the cap: the
    values stay right, they are only computed again).  fn's exceptions
    pass through and nothing is kept for that key."""
    __slots__ = ("fn", "cap", "values")

    def __init__(self, fn, cap=4096):
        self.fn = fn
        self.cap = cap
        self.values = {}

    def __call__(self, key):
        value = self.values.get(key)
        if value is None:
            if len(self.values) >= self.cap:
                self.values.clear()
            value = self.values[key] = self.fn(key)
        return value

    def __len__(self):
        return len(self.values)
