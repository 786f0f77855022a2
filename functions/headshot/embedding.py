"""dlib's face-embedding ResNet, read from dlib's own model file and run by numpy.

dlib-bin is built without BLAS: its own matrix code spends ~100 ms of one core on one 150 px
chip, two thirds of the photo check. This is the same network (dlib's
`face_recognition_model_v1`: a 29-convolution ResNet, 150 px RGB in, 128 numbers out) with the
same weights, parsed from the same `.dat` file, each convolution one matrix product on
numpy's BLAS: ~11 ms (torch's convolutions, which ran it in the inference container before,
took ~10). Its embeddings equal dlib's to float32 rounding (at most 2e-6 per component on the
shared photos' chips and on noise, against distances calibrated in hundredths), so the
calibration holds.

The validator Lambda and the inference container run this same code (numpy is in both);
headshot.faces.load_models chooses it unless HEADSHOT_FACE_ENCODER=dlib. Both take the chip
that `dlib.get_face_chip` cuts, so the two sides embed the same pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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


class NumpyFaceEncoder:
    """dlib's `face_recognition_model_v1.compute_face_descriptor` for one aligned chip, by numpy.

    Stateless once built, so threads may share it. Activations are (rows, columns, channels);
    each convolution is its patches (one row per output pixel) times a filter matrix with the
    following affine layer folded in.
    """

    def __init__(self, path: Path) -> None:
        weights = read_weights(path)
        self._mean = np.asarray(weights.mean_rgb, np.float32)
        self._layers = [
            _Convolution.folded(filters, bias, stride, padding, scale, shift)
            for (filters, bias, stride, padding), (scale, shift) in zip(
                weights.convolutions, weights.affines, strict=True
            )
        ]
        self._projection = np.ascontiguousarray(weights.projection, np.float32)

    def compute_face_descriptor(self, chip: np.ndarray) -> np.ndarray:
        """The (128,) float32 embedding of a 150 x 150 RGB uint8 chip from dlib.get_face_chip."""
        if chip.shape != (CHIP_PX, CHIP_PX, 3) or chip.dtype != np.uint8:
            raise ValueError(f"expected a {CHIP_PX} x {CHIP_PX} RGB uint8 chip, got {chip.shape} {chip.dtype}")
        # dlib's input_rgb_image_sized: (value - mean) / 256 per channel.
        x = (chip.astype(np.float32) - self._mean) / np.float32(256.0)
        x = _max_pool(self._layers[0](x, relu=True), 3, 2)
        index = 1
        for _, halves in BLOCKS:
            y = self._layers[index + 1](self._layers[index](x, relu=True), relu=False)
            index += 2
            x = np.maximum(_add(y, _average_pool(x) if halves else x), 0.0)
        embedding: np.ndarray = (x.mean(axis=(0, 1)) @ self._projection).astype(np.float32)
        return embedding


@dataclass(frozen=True, slots=True)
class _Convolution:
    """One convolution and its affine layer: (rows x cols x channels in) patches -> channels out."""

    matrix: np.ndarray  # (rows * cols * channels in, channels out), the affine's scale folded in
    offset: np.ndarray  # (channels out,): bias * scale + shift
    size: int
    stride: int
    padding: int

    @classmethod
    def folded(
        cls, filters: np.ndarray, bias: np.ndarray, stride: int, padding: int, scale: np.ndarray, shift: np.ndarray
    ) -> _Convolution:
        out, channels, size, _ = filters.shape
        # dlib's filters are (out, in, rows, cols); a patch row is (rows, cols, in) here.
        matrix = filters.transpose(2, 3, 1, 0).reshape(size * size * channels, out) * scale
        offset = bias * scale + shift
        return cls(np.ascontiguousarray(matrix, np.float32), offset.astype(np.float32), size, stride, padding)

    def __call__(self, x: np.ndarray, *, relu: bool) -> np.ndarray:
        if self.padding:
            pad = self.padding
            x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
        rows, cols = _pooled(x.shape[0], self.size, self.stride), _pooled(x.shape[1], self.size, self.stride)
        windows = _windows(x, self.size, self.stride, rows, cols)  # (rows, cols, channels, size, size)
        patches = windows.transpose(0, 1, 3, 4, 2).reshape(rows * cols, -1)
        y = patches @ self.matrix
        y += self.offset
        if relu:
            np.maximum(y, 0.0, out=y)
        result: np.ndarray = y.reshape(rows, cols, -1)
        return result


def _pooled(length: int, size: int, stride: int) -> int:
    """Output length of a window of `size` moved by `stride` without padding (floor, as dlib)."""
    return (length - size) // stride + 1


def _windows(x: np.ndarray, size: int, stride: int, rows: int, cols: int) -> np.ndarray:
    """Views of x's size x size windows at every stride: (rows, cols, channels, size, size)."""
    every = sliding_window_view(x, (size, size), axis=(0, 1))
    strided: np.ndarray = every[: (rows - 1) * stride + 1 : stride, : (cols - 1) * stride + 1 : stride]
    return strided


def _max_pool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    rows, cols = _pooled(x.shape[0], size, stride), _pooled(x.shape[1], size, stride)
    pooled: np.ndarray = _windows(x, size, stride, rows, cols).max(axis=(3, 4))
    return pooled


def _average_pool(x: np.ndarray) -> np.ndarray:
    """dlib's avg_pool<2,2,2,2>: 2 x 2 means, an odd last row or column left out."""
    rows, cols = x.shape[0] // 2, x.shape[1] // 2
    pooled: np.ndarray = x[: 2 * rows, : 2 * cols].reshape(rows, 2, cols, 2, -1).mean(axis=(1, 3))
    return pooled


def _add(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """dlib's add_prev: the sum over the larger of both shapes, each zero outside its own."""
    if first.shape == second.shape:
        total: np.ndarray = first + second
        return total
    # A halving block's convolution (no padding) can come out one pixel smaller than the
    # pooled shortcut (8 px -> 3 px against 4 px), and the shortcut has fewer channels.
    shape = [max(a, b) for a, b in zip(first.shape, second.shape, strict=True)]
    total = np.zeros(shape, np.float32)
    total[: first.shape[0], : first.shape[1], : first.shape[2]] += first
    total[: second.shape[0], : second.shape[1], : second.shape[2]] += second
    return total
