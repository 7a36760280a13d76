"""Per-connection abuse budgets that end in GOAWAY(ENHANCE_YOUR_CALM).

Two kinds. Token buckets refilled with time, for frames that cost us work and
leave nothing behind (resets, PING, SETTINGS, empty frames); and the tiny-DATA
budget, refunded as the application consumes the data (``TinyDataLedger``).

Token buckets
-------------

A bucket starts full (``burst`` tokens). Each counted frame spends one token;
tokens come back at ``refill_per_second`` measured against the ``now`` the
caller passes to ``receive_data`` (the engine never reads a clock), never
beyond ``burst``: a quiet hour banks one burst, not more. When a frame finds
the bucket empty the peer is cut off.

Only the frames a budget counts (resets, PING, SETTINGS, empty frames) call
``spend``, so the refill runs on every call: it is off the hot path.
"""

from __future__ import annotations

from collections import deque

__all__ = ["TinyDataLedger"]


class TinyDataLedger:
    """One stream's charges for tiny DATA frames the application has not consumed.

    Flow control bounds the *bytes* a peer may send ahead, not the number of
    frames carrying them: one-byte DATA frames cost a frame to parse and an
    event to hand over each, 255 times the work of the byte they carry. So a
    non-final DATA frame under ``Http2Config.tiny_data_frame_size`` charges the
    connection's ``tiny_data_budget`` the bytes it falls short of that size,
    and the charge comes back once the application has consumed the frame
    (``acknowledge_received_data``) or the stream is gone. A peer can thus
    keep only a bounded number of tiny frames unconsumed, while a reading
    application's peer may send as many as it likes.

    Consumption is acknowledged in bytes, in order, so the ledger keeps each
    charge at its position in the stream: ``runs`` holds ``[end, size, cost]``
    for consecutive tiny frames (one entry per run, however many frames: a
    new entry needs a frame that is not tiny in between, which pays for it in
    window). Positions count flow-controlled bytes; ``consumed`` is how many
    the application has given back since the ledger was made.

    A run consumed in part is refunded in proportion to its bytes: exact for
    frames of one size, generous for a run of mixed sizes (its larger frames,
    consumed first, give back some of the smaller ones' charge). Getting more
    that way needs the application to consume data, which is what refunds are
    for; the bytes it leaves unconsumed stay bounded by flow control.
    """

    __slots__ = ("consumed", "outstanding", "runs")

    def __init__(self) -> None:
        self.consumed = 0
        #: The sum of the runs' costs: what this stream holds of the budget.
        self.outstanding = 0
        self.runs: deque[list[int]] = deque()

    def charge(self, end: int, size: int, cost: int) -> None:
        """A tiny frame of ``size`` bytes ending at ``end`` was charged ``cost``."""
        self.outstanding += cost
        runs = self.runs
        if runs:
            last = runs[-1]
            if last[0] == end - size:  # right after the previous tiny frame
                last[0] = end
                last[1] += size
                last[2] += cost
                return
        runs.append([end, size, cost])

    def consume(self, n: int) -> int:
        """The application consumed ``n`` more bytes: the charge that frees.

        A run consumed in part gives back its cost in proportion.
        """
        consumed = self.consumed = self.consumed + n
        runs = self.runs
        refund = 0
        while runs:
            run = runs[0]
            end, size, cost = run[0], run[1], run[2]
            if end <= consumed:
                refund += cost
                runs.popleft()
                continue
            start = end - size
            if consumed > start:
                part = cost * (consumed - start) // size
                run[1] = end - consumed
                run[2] = cost - part
                refund += part
            break
        self.outstanding -= refund
        return refund
