"""RFC 6455 section 5.1: every frame a client sends is masked; a server that receives
an unmasked frame closes the connection (1002, protocol error).

``MaskCheck`` follows the frame boundaries of a client's byte stream (headers only;
payloads are skipped by length, never copied) and reports the offset of the first
frame whose header has no mask bit; the lengths come from ``livecart.ws_reader.frame_head``.
Pure: bytes in, an offset out.
"""

from __future__ import annotations

from livecart.ws_reader import frame_head


class MaskCheck:
    """Feed it the client's bytes in order; ``feed`` returns None while every frame so
    far is masked, else the offset in ``data`` where the first unmasked frame starts.
    Once it has reported one it reports 0 for anything after."""

    __slots__ = ("_head", "_need", "_skip", "failed")

    def __init__(self) -> None:
        self._head = bytearray()  # the current frame's header bytes so far
        self._need = 2  # header bytes needed before the payload starts
        self._skip = 0  # payload bytes of the current frame still to pass
        self.failed = False

    def feed(self, data: bytes) -> int | None:
        """Take the next bytes of the stream; None while every frame so far is masked, else
        the offset in ``data`` of the first unmasked frame (0 for any call after that)."""
        if self.failed:
            return 0
        i, n = 0, len(data)
        while i < n:
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            start = i - len(self._head)  # may be negative: the header began earlier
            take = min(self._need - len(self._head), n - i)
            self._head += data[i : i + take]
            i += take
            head = self._head
            if len(head) >= 2 and self._need == 2:
                if not head[1] & 0x80:
                    self.failed = True
                    return max(start, 0)
                short = head[1] & 0x7F
                self._need = 2 + (2 if short == 126 else 8 if short == 127 else 0) + 4
            if len(head) == self._need:
                self._skip = frame_head(head, 0, len(head))[1]
                self._head = bytearray()
                self._need = 2
        return None
