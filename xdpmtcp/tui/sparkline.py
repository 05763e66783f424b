"""A row of block characters for a series (the detail view's history)."""
BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values, width=40):
    vals = list(values)[-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span <= 0:
        return BLOCKS[0 if hi == 0 else 3] * len(vals)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((v - lo) / span * (len(BLOCKS) - 1) + 0.5))] for v in vals)
