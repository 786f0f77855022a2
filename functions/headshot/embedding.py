"""dlib's face-embedding ResNet, read from dlib's own model file and run by torch where it is.

dlib-bin is built without BLAS: its own matrix code spends ~95 ms of one core on one 150 px
chip, two thirds of the output gate's budget. This is the same network (dlib's
`face_recognition_model_v1`: a 29-convolution ResNet, 150 px RGB in, 128 numbers out) with the
same weights, parsed from the same `.dat` file, run by torch's convolutions in ~15 ms. Its
embeddings equal dlib's to float32 rounding (at most 5e-7 per component on the shared photos'
chips, against distances calibrated in hundredths), so the calibration holds.

The inference container has torch (its base image); the validator Lambda does not, and keeps
dlib's own encoder (headshot.faces.load_models chooses). Both take the chip that
`dlib.get_face_chip` cuts, so the two sides embed the same pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

# The network (dlib's tools/python/src/face_recognition.cpp, anet_type), in forward order:
# a 7x7 stride-2 convolution, 3x3 max pool, then residual blocks of two 3x3 convolutions
# (filters, whether the block halves the resolution), a global average and a 256 -> 128
# fully connected layer without bias. Every convolution is followed by dlib's `affine`
# (batch norm folded into a per-channel scale and shift).
BLOCKS: Final = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)
CHIP_PX: Final = 150
_CONVOLUTIONS: Final = 1 + 2 * len(BLOCKS)


@dataclass(frozen=True, slots=True)
class Weights:
    """What the `.dat` file holds, as numpy arrays in dlib's layouts."""

    mean_rgb: tuple[float, float, float]  # subtracted from pixel values before the / 256
    # Per convolution, in forward order: filters (out, in, rows, cols), bias, stride, padding.
    convolutions: tuple[tuple[np.ndarray, np.ndarray, int, int], ...]
    # Per convolution's affine layer: scale and shift per channel.
    affines: tuple[tuple[np.ndarray, np.ndarray], ...]
    projection: np.ndarray  # (256, 128): embedding = pooled features @ projection


class _Reader:
    """dlib's serialisation (dlib/serialize.h, dlib/cuda/tensor.h) from one offset on."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data, self._at = data, offset

    def integer(self) -> int:
        # A control byte (byte count in the low nibble, 0x80 for negative), then little-endian bytes.
        head = self._data[self._at]
        count = head & 0x0F
        value = int.from_bytes(self._data[self._at + 1 : self._at + 1 + count], "little")
        self._at += 1 + count
        return -value if head & 0x80 else value

    def string(self) -> str:
        length = self.integer()
        text = self._data[self._at : self._at + length].decode("ascii")
        self._at += length
        return text

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa * 2.0 ** self.integer())

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise ValueError("unexpected dlib tensor version")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self._data, "<f4", count, self._at).reshape(shape).astype(np.float32)
        self._at += 4 * count
        return values

    def alias_shape(self) -> list[int]:
        if self.integer() != 1:
            raise ValueError("unexpected dlib alias_tensor version")
        return [self.integer() for _ in range(4)]


def _layers(data: bytes, version: str) -> list[_Reader]:
    """A reader at each layer of this kind: a layer's details start with its version string."""
    tag = bytes([1, len(version)]) + version.encode("ascii")
    return [_Reader(data, match.start()) for match in re.finditer(re.escape(tag), data)]


def read_weights(path: Path) -> Weights:
    """Parse dlib_face_recognition_resnet_model_v1.dat; ValueError if it is not that network."""
    data = path.read_bytes()
    inputs, fully_connected = _layers(data, "input_rgb_image_sized"), _layers(data, "fc_2")
    if len(inputs) != 1 or len(fully_connected) != 1:
        raise ValueError(f"{path.name}: not dlib's face-embedding network")
    reader = inputs[0]
    reader.string()
    mean_rgb = (reader.real(), reader.real(), reader.real())

    convolutions = []
    for reader in _layers(data, "con_4"):
        reader.string()
        params = reader.tensor().ravel()
        _filters, _rows, _cols, stride_y, stride_x, padding_y, padding_x = (reader.integer() for _ in range(7))
        shape, bias_shape = reader.alias_shape(), reader.alias_shape()
        size = int(np.prod(shape))
        if stride_y != stride_x or padding_y != padding_x:
            raise ValueError(f"{path.name}: unexpected convolution geometry")
        bias = params[size : size + int(np.prod(bias_shape))]
        convolutions.append((params[:size].reshape(shape), bias, stride_y, padding_y))

    affines = []
    for reader in _layers(data, "affine_"):
        reader.string()
        params = reader.tensor().ravel()
        scale_size = int(np.prod(reader.alias_shape()))
        shift_size = int(np.prod(reader.alias_shape()))
        if reader.integer() != 0:  # CONV_MODE: one scale and shift per channel
            raise ValueError(f"{path.name}: unexpected affine mode")
        affines.append((params[:scale_size], params[scale_size : scale_size + shift_size]))

    reader = fully_connected[0]
    reader.string()
    outputs, inputs_count = reader.integer(), reader.integer()
    params = reader.tensor().ravel()
    projection = params[: inputs_count * outputs].reshape(inputs_count, outputs)

    if len(convolutions) != _CONVOLUTIONS or len(affines) != _CONVOLUTIONS or projection.shape != (256, 128):
        raise ValueError(f"{path.name}: not dlib's face-embedding network")
    return Weights(mean_rgb, tuple(convolutions), tuple(affines), projection)


class TorchFaceEncoder:
    """dlib's `face_recognition_model_v1.compute_face_descriptor` for one aligned chip, by torch.

    Stateless once built, so threads may share it. Runs on the CPU with torch's own thread
    count (one when the process is pinned to one core, as the benchmarks are).
    """

    def __init__(self, path: Path) -> None:
        import torch

        self._torch = torch
        weights = read_weights(path)
        self._mean = torch.tensor(weights.mean_rgb, dtype=torch.float32).view(1, 3, 1, 1)
        self._layers = [
            (
                torch.from_numpy(np.ascontiguousarray(filters)),
                torch.from_numpy(np.ascontiguousarray(bias)),
                stride,
                padding,
                torch.from_numpy(np.ascontiguousarray(scale)).view(1, -1, 1, 1),
                torch.from_numpy(np.ascontiguousarray(shift)).view(1, -1, 1, 1),
            )
            for (filters, bias, stride, padding), (scale, shift) in zip(
                weights.convolutions, weights.affines, strict=True
            )
        ]
        self._projection = torch.from_numpy(np.ascontiguousarray(weights.projection))

    def compute_face_descriptor(self, chip: np.ndarray) -> np.ndarray:
        """The (128,) float32 embedding of a 150 x 150 RGB uint8 chip from dlib.get_face_chip."""
        if chip.shape != (CHIP_PX, CHIP_PX, 3) or chip.dtype != np.uint8:
            raise ValueError(f"expected a {CHIP_PX} x {CHIP_PX} RGB uint8 chip, got {chip.shape} {chip.dtype}")
        torch = self._torch
        with torch.inference_mode():
            # A float32 copy: the chip may be read-only (torch warns on those), and the values are exact.
            pixels = torch.from_numpy(np.array(chip, dtype=np.float32)).permute(2, 0, 1)[None]
            # dlib's input_rgb_image_sized: (value - mean) / 256 per channel.
            x = (pixels - self._mean) / 256.0
            x = torch.nn.functional.max_pool2d(self._layer(x, 0, relu=True), 3, 2)
            index = 1
            for _, halves in BLOCKS:
                y = self._layer(self._layer(x, index, relu=True), index + 1, relu=False)
                index += 2
                shortcut = torch.nn.functional.avg_pool2d(x, 2, 2) if halves else x
                x = torch.relu(_add(y, shortcut, torch))
            embedding = x.mean(dim=(2, 3)) @ self._projection
            result: np.ndarray = embedding[0].numpy().copy()
        return result

    def _layer(self, x: Any, index: int, *, relu: bool) -> Any:
        filters, bias, stride, padding, scale, shift = self._layers[index]
        y = self._torch.nn.functional.conv2d(x, filters, bias, stride, padding) * scale + shift
        return self._torch.relu(y) if relu else y


def _add(first: Any, second: Any, torch: Any) -> Any:
    """dlib's add_prev: the sum over the larger of both shapes, each zero outside its own."""
    if first.shape == second.shape:
        return first + second
    # A halving block's convolution (no padding) can come out one pixel smaller than the
    # pooled shortcut (8 px -> 3 px against 4 px), and the shortcut has fewer channels.
    shape = [max(a, b) for a, b in zip(first.shape, second.shape, strict=True)]
    total = torch.zeros(shape)
    total[:, : first.shape[1], : first.shape[2], : first.shape[3]] += first
    total[:, : second.shape[1], : second.shape[2], : second.shape[3]] += second
    return total
