"""Data for the lecture's objective: offline digits first, Fashion-MNIST when it is on disk.

Both data modules are d2l ``DataModule``s (``get_dataloader(train)``, ``train_dataloader()``,
``val_dataloader()``), so d2l's ``Trainer`` and ours use them unchanged. Images are float32
tensors of shape (N, 1, 28, 28) with values in [0, 1]; labels are int64 class indices 0..9.

The prepared tensors are built once per process and cached at module level: every trial, on
every worker thread, shares them read-only. A lock guards building them because two worker
threads start their first trials at the same moment.
"""

from __future__ import annotations

import numbers
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision
from d2l import torch as d2l
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.nn import functional as F

__all__ = [
    "DigitsData", "FashionMNISTData", "choose_data", "fashion_mnist_on_disk",
    "write_fashion_mnist_idx", "write_digits_as_fashion_mnist", "FASHION_MNIST_FILES", "DATA_ENV_VAR",
]

DATA_ENV_VAR = "ASHA_LESSON_DATA"
D2L_ROOT = "../data"  # d2l.DataModule's default root, relative to the notebook's folder

# torchvision looks for exactly these four uncompressed files in <root>/FashionMNIST/raw/ and
# refuses to load either split unless all four exist (MNIST._check_exists checks every resource).
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

VAL_BATCH_SIZE = 1024

_CACHE: dict[tuple, tuple[torch.Tensor, ...]] = {}
_CACHE_LOCK = threading.Lock()


def check_batch_size(batch_size) -> int:
    """``batch_size`` as a plain int (DataLoader rejects numpy ints), or a ValueError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    return int(batch_size)


def _cached(key: tuple, build: Callable[[], tuple]) -> tuple:
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


class _TensorSplits:
    """``get_dataloader`` over in-memory tensors ``X_train, y_train, X_val, y_val``.

    Training batches are shuffled by the data module's own ``shuffle_generator``, never torch's
    global one, which every worker thread shares. ``num_workers=0``: loader processes would be
    forked from a process running worker threads (unsafe), and with the tensors already in
    memory they would only add start-up time.

    Validation goes in batches of at least ``VAL_BATCH_SIZE``: without gradients the metrics do
    not depend on the batch size, and every batch costs the same fixed interpreter work, during
    which a second worker thread waits (see :class:`_Batches`).
    """

    def get_dataloader(self, train):
        if train:
            return _Batches(self.X_train, self.y_train, self.batch_size, self.shuffle_generator)
        return _Batches(self.X_val, self.y_val, max(self.batch_size, VAL_BATCH_SIZE))


class _Batches:
    """Mini-batches of in-memory tensors, one indexing operation per batch.

    The same batches as a shuffled ``DataLoader`` over a ``TensorDataset`` (the same draws from
    the same generator), without its per-sample indexing and collating in
    Python: that work holds the interpreter lock, so two worker threads training LeNet mostly
    waited for each other.
    """

    def __init__(self, X, y, batch_size: int, generator=None) -> None:
        self.X, self.y, self.batch_size, self.generator = X, y, batch_size, generator

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    @property
    def dataset(self):
        """The tensors as a ``TensorDataset``, where a ``DataLoader`` keeps its data."""
        return torch.utils.data.TensorDataset(self.X, self.y)

    def __iter__(self):
        n, size = len(self.X), self.batch_size
        if self.generator is None:
            for start in range(0, n, size):
                yield self.X[start:start + size], self.y[start:start + size]
            return
        # Draw from the generator exactly what a DataLoader with a RandomSampler draws each
        # epoch, so the batches (and the recorded tables) are the same as d2l's loaders give:
        # the loader's base seed for worker processes, the permutation, and a second permutation
        # that the sampler draws for its empty remainder (num_samples % n == 0) and never uses.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        order = torch.randperm(n, generator=self.generator)
        torch.randperm(n, generator=self.generator)
        for start in range(0, n, size):
            batch = order[start:start + size]
            yield self.X[batch], self.y[batch]


# --- scikit-learn's digits ---------------------------------------------------------------------

def _build_digits(resize, val_fraction, seed):
    digits = load_digits()  # 1,797 images of 8x8 pixels, values 0..16, shipped with scikit-learn
    X = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    # Bilinear upsampling mixes neighbouring pixels convexly, so values stay in [0, 1].
    X = F.interpolate(X, size=resize, mode="bilinear", align_corners=False)
    y = torch.tensor(digits.target, dtype=torch.int64)
    # Stratified, so the small validation set holds every digit in proportion.
    train_idx, val_idx = train_test_split(np.arange(len(y)), test_size=val_fraction,
                                          random_state=seed, stratify=digits.target)
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return X[train_idx], y[train_idx], X[val_idx], y[val_idx]


class DigitsData(_TensorSplits, d2l.DataModule):
    """scikit-learn's 1,797 handwritten digits, upsampled from 8x8 to 1x28x28 (LeNet's input).

    The train/validation split is fixed by ``seed`` (stratified by class); ``seed`` also seeds
    the generator that shuffles training batches, so a run is reproducible on any thread.
    """

    def __init__(self, batch_size=64, seed=0, val_fraction=0.25, resize=(28, 28)):
        batch_size = check_batch_size(batch_size)
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction!r} must lie strictly between 0 and 1")
        super().__init__(root=None, num_workers=0)
        self.save_hyperparameters()
        resize = tuple(resize)
        self.X_train, self.y_train, self.X_val, self.y_val = _cached(
            ("digits", resize, float(val_fraction), int(seed)),
            lambda: _build_digits(resize, val_fraction, seed))
        self.shuffle_generator = torch.Generator().manual_seed(int(seed))


# --- Fashion-MNIST -----------------------------------------------------------------------------

def _raw_folder(root) -> Path:
    return Path(root) / "FashionMNIST" / "raw"


def fashion_mnist_on_disk(root) -> bool:
    """True if all four raw IDX files torchvision needs are in ``root/FashionMNIST/raw``."""
    return all((_raw_folder(root) / name).is_file() for name in FASHION_MNIST_FILES)


def _build_fashion_mnist(root):
    tensors = []
    for train in (True, False):
        # download=False: this never touches the network; it raises if the files are missing.
        ds = torchvision.datasets.FashionMNIST(root=root, train=train, download=False)
        # The same values d2l's transforms (Resize(28) on 28x28, then ToTensor) give, computed
        # once for the whole set instead of once per image per epoch through PIL.
        tensors += [ds.data.unsqueeze(1).float() / 255.0, ds.targets.long()]
    return tuple(tensors)


class FashionMNISTData(_TensorSplits, d2l.FashionMNIST):
    """Fashion-MNIST read from ``root/FashionMNIST/raw`` (60,000 train, 10,000 validation).

    A subclass of d2l.FashionMNIST (so ``text_labels`` and ``visualize`` work) that, unlike it,
    takes a ``root``, never downloads, and does not start loader processes. d2l's own class
    cannot be pointed elsewhere: its ``__init__`` has no ``root`` argument and always uses
    ``../data``, calling torchvision with ``download=True``.
    """

    def __init__(self, batch_size=64, root=D2L_ROOT, seed=0):
        batch_size = check_batch_size(batch_size)
        root = os.fspath(root)
        # Skips d2l.FashionMNIST.__init__ on purpose: it would load ../data with download=True.
        d2l.DataModule.__init__(self, root=root, num_workers=0)
        self.save_hyperparameters()
        if not fashion_mnist_on_disk(self.root):
            raise FileNotFoundError(_missing_message(self.root))
        self.X_train, self.y_train, self.X_val, self.y_val = _cached(
            ("fashion_mnist", os.path.abspath(self.root)),
            lambda: _build_fashion_mnist(self.root))
        self.shuffle_generator = torch.Generator().manual_seed(int(seed))


def _idx_length(path) -> int:
    """The first dimension in an IDX file's header (the number of images), without reading it."""
    with open(path, "rb") as file:
        return int.from_bytes(file.read(8)[4:8], "big")


def _missing_message(root) -> str:
    return (f"Fashion-MNIST is not on disk: {os.path.abspath(_raw_folder(root))} must hold "
            f"{', '.join(FASHION_MNIST_FILES)} (uncompressed)")


def write_fashion_mnist_idx(root, images, labels, train=True) -> Path:
    """Write ``images`` (N, 28, 28) uint8 and ``labels`` (N,) in Fashion-MNIST's raw IDX format.

    Files go to ``root/FashionMNIST/raw/`` under torchvision's names; write both ``train=True``
    and ``train=False`` for torchvision to accept the folder. Returns the raw folder.
    IDX: a big-endian header (two zero bytes, type code 0x08 = unsigned byte, number of
    dimensions), one big-endian int32 per dimension, then the raw bytes.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"images of shape {images.shape} and labels of shape {labels.shape} "
                         "must be (N, H, W) and (N,)")
    folder = _raw_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    for name, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        array = array.astype(np.uint8)
        header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
        (folder / name).write_bytes(header + array.tobytes())
    return folder


def _download_fashion_mnist(root, timeout: float) -> None:
    """Let torchvision download into ``root``, giving up after ``timeout`` seconds.

    The download runs on a daemon thread: a DNS lookup cannot be interrupted, so on timeout the
    thread is left to fail on its own while we raise at once.
    """
    errors: list[BaseException] = []

    def download():
        try:
            torchvision.datasets.FashionMNIST(root=root, train=True, download=True)
        except Exception as error:  # noqa: BLE001 - reported to the caller below
            errors.append(error)

    thread = threading.Thread(target=download, name="fashion-mnist-download", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise FileNotFoundError(f"{_missing_message(root)}; downloading it took longer than "
                                f"{timeout:g} s")
    if errors:
        raise FileNotFoundError(f"{_missing_message(root)}; downloading failed: {errors[0]}")


# --- choosing -----------------------------------------------------------------------------------

def _candidate_roots(root) -> list[str]:
    if root is not None:
        return [os.fspath(root)]
    env = os.environ.get(DATA_ENV_VAR)
    return ([env] if env else []) + [D2L_ROOT]


def choose_data(name="auto", root=None, download_timeout=60.0):
    """Pick the data set: ``(factory, description)``, where ``factory(batch_size, seed=0)``
    builds the DataModule and ``description`` is one line saying which data and why.

    ``"auto"``: Fashion-MNIST if its raw files are on disk under ``root`` (default: the
    ``ASHA_LESSON_DATA`` environment variable, then d2l's ``../data``), else the digits.
    ``"fashion_mnist"``: Fashion-MNIST; if it is not on disk, try to download it into the first
    root for at most ``download_timeout`` seconds (0: don't try), else raise FileNotFoundError.
    ``"digits"``: scikit-learn's digits, always available offline.
    """
    if name not in ("auto", "digits", "fashion_mnist"):
        raise ValueError(f"data={name!r} must be one of 'auto', 'digits', 'fashion_mnist'")
    if not download_timeout >= 0:
        raise ValueError(f"download_timeout={download_timeout!r} must be >= 0 seconds")
    roots = _candidate_roots(root)
    found = next((r for r in roots if fashion_mnist_on_disk(r)), None)
    if name == "fashion_mnist" and found is None:
        if download_timeout > 0:
            _download_fashion_mnist(roots[0], download_timeout)
        if not fashion_mnist_on_disk(roots[0]):
            raise FileNotFoundError(_missing_message(roots[0]))
        found = roots[0]
    if name != "digits" and found is not None:
        def fashion(batch_size, seed=0):
            return FashionMNISTData(batch_size, root=found, seed=seed)
        folder = os.path.abspath(_raw_folder(found))
        n_train = _idx_length(os.path.join(folder, FASHION_MNIST_FILES[0]))
        return fashion, (f"Training on Fashion-MNIST ({n_train:,} training images, 28x28) "
                         f"from {folder}")

    def digits(batch_size, seed=0):
        return DigitsData(batch_size, seed=seed)
    if name == "digits":
        why = "digits were asked for"
    else:
        why = "Fashion-MNIST is not on disk under " + " or ".join(roots)
    return digits, ("Training on scikit-learn's digits (1,797 images, upsampled to 28x28): "
                    + why)


def write_digits_as_fashion_mnist(root, seed=0) -> Path:
    """Write scikit-learn's digits (28x28, the fixed split) in Fashion-MNIST's IDX format.

    Code written for d2l's ``FashionMNIST`` (the seed lecture's, say) then trains on real
    handwritten digits offline: the validation split stands in for Fashion-MNIST's test set.
    """
    X_train, y_train, X_val, y_val = _cached(
        ("digits", (28, 28), 0.25, int(seed)), lambda: _build_digits((28, 28), 0.25, seed))
    write_fashion_mnist_idx(root, _as_bytes(X_train), y_train.numpy(), train=True)
    return write_fashion_mnist_idx(root, _as_bytes(X_val), y_val.numpy(), train=False)


def _as_bytes(images):
    """(N, 1, 28, 28) floats in [0, 1] -> (N, 28, 28) uint8, as IDX files store pixels."""
    return (images.squeeze(1).numpy() * 255).round().astype(np.uint8)
