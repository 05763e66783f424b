from xdpmtcp.storage import Memo


def test_memo_computes_once_and_forgets_all_at_its_cap():
    calls = []
    m = Memo(lambda k: calls.append(k) or k * 2, cap=2)
    assert (m(1), m(1), m(2)) == (2, 2, 4) and calls == [1, 2]
    assert m(3) == 6 and len(m) == 1          # full: forgotten, relearnt
    assert m(1) == 2 and calls == [1, 2, 3, 1]
