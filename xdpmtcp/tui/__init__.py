"""Terminal UIs (rich): the live view of `xdpmtcp trace`."""
