"""Per-epoch losses in bounded memory (``History``), for training runs of any length."""
from __future__ import annotations

import numpy as np

KEPT_EPOCHS = 1_000_000   # History keeps every epoch's loss up to this many epochs


class History:
    """Per-epoch losses in bounded memory: every epoch while there are at most ``capacity``;
    past that every k-th epoch (k doubling as needed) and always the last, so a run of 10^10
    epochs keeps at most ``capacity`` + 1 values. Appending is amortized O(1) per epoch."""

    def __init__(self, capacity: int = KEPT_EPOCHS):
        self.capacity, self.stride, self.count, self.size = capacity, 1, 0, 0
        self.epochs, self.losses = np.empty(64, np.int64), np.empty(64)
        self.last = np.nan

    def extend(self, losses: np.ndarray) -> None:
        """Record the losses of the next len(losses) epochs."""
        if not len(losses):
            return
        first = self.count + 1
        offset = (-first) % self.stride  # the first new epoch that is a multiple of stride
        kept = losses[offset::self.stride]
        self._append(first + offset + self.stride * np.arange(len(kept)), kept)
        self.count += len(losses)
        self.last = float(losses[-1])
        while self.size > self.capacity:
            self._thin()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(1-based epoch numbers, losses), the last epoch always included."""
        epochs, losses = self.epochs[:self.size].copy(), self.losses[:self.size].copy()
        if self.count and (not self.size or epochs[-1] != self.count):
            return np.append(epochs, self.count), np.append(losses, self.last)
        return epochs, losses

    def _append(self, epochs: np.ndarray, losses: np.ndarray) -> None:
        end = self.size + len(epochs)
        if end > len(self.epochs):
            room = max(end, 2 * len(self.epochs))
            self.epochs = np.resize(self.epochs, room)
            self.losses = np.resize(self.losses, room)
        self.epochs[self.size:end], self.losses[self.size:end] = epochs, losses
        self.size = end

    def _thin(self) -> None:
        self.stride *= 2
        keep = np.flatnonzero(self.epochs[:self.size] % self.stride == 0)
        self.epochs[:len(keep)] = self.epochs[keep]
        self.losses[:len(keep)] = self.losses[keep]
        self.size = len(keep)
