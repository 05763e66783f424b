"""Python's side of the timers: a heap of wake-up times per connection.

The C engine rewrites deadlines in the tcb on every ACK without telling
Python; it raises XC_EV_TIMER only when a deadline becomes earlier than the
one Python holds (``timer_queued_ns``).  An entry that fires early simply
finds nothing due and is pushed again at the tcb's real next deadline, so the
heap costs one entry per connection and one re-push per RTO, not per ACK.
"""
import heapq


class TimerHeap:
    def __init__(self):
        self._heap = []
        self._seq = 0

    def __len__(self):
        return len(self._heap)

    def schedule(self, tcb, conn_id, due_ns):
        """Make sure the connection is woken no later than due_ns."""
        if not due_ns:
            return
        if tcb.timer_queued_ns and tcb.timer_queued_ns <= due_ns:
            return
        tcb.timer_queued_ns = due_ns
        self._seq += 1
        heapq.heappush(self._heap, (due_ns, self._seq, conn_id))

    def next_due(self):
        return self._heap[0][0] if self._heap else 0

    def pop_due(self, now_ns):
        """Yield (due_ns, conn_id) of entries that are due."""
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            due, _, conn_id = heapq.heappop(heap)
            yield due, conn_id
