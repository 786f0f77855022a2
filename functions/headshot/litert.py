"""One LiteRT interpreter per model file and process, on one thread, safe to share.

LiteRT's Interpreter is not re-entrant: the lock makes a shared instance safe for the
inference server's worker threads at the cost of running one face at a time per model
(each run is a few milliseconds).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class TfliteModel:
    def __init__(self, path: Path) -> None:
        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        (self._input,) = self._interpreter.get_input_details()
        self._outputs = self._interpreter.get_output_details()
        self._lock = threading.Lock()

    @property
    def input_side(self) -> int:
        """Side of the square input image the model expects."""
        return int(self._input["shape"][1])

    def run(self, image: np.ndarray) -> list[np.ndarray]:
        """One (H, W, 3) float32 image in 0..1 in, the model's outputs (copies) out, in its order."""
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], image[None].astype(np.float32, copy=False))
            self._interpreter.invoke()
            return [np.array(self._interpreter.get_tensor(output["index"])[0]) for output in self._outputs]
