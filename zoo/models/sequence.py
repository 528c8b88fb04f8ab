"""Task models over the recurrent layers of :mod:`zoo.layers`.

``rnn``, ``gru`` and ``lstm`` build one :class:`SequenceModel` around
:class:`~zoo.layers.RNN`, :class:`~zoo.layers.GRU` or :class:`~zoo.layers.PeepholeLSTM`
for one of three tasks, chosen by ``task`` (the dataset passes it, with
``vocab_size``, ``input_size`` and ``num_classes``, through the config):

* ``"classification"``: ``forward(x, lengths=None) -> (B, num_classes)`` logits from
  the last layer's final state (both directions' for a bidirectional model). ``x`` is
  ``(B, T)`` token ids when ``vocab_size`` is set (id ``padding_idx``, 0, pads), else
  ``(B, T, input_size)`` float features (sequential MNIST feeds 28 rows of 28 pixels).
  Batches of different lengths are packed, so padding never changes a result; token
  batches without ``lengths`` take each row's length from its last non-pad token.
* ``"lm"``: ``forward(tokens (B, T)) -> (B, T, vocab_size)`` next-token logits, the
  output layer optionally tied to the embedding (Press & Wolf 2017; Inan et al. 2017).
* ``"regression"``: ``forward(x, lengths=None) -> (B,)``, e.g. the adding problem of
  Hochreiter & Schmidhuber (1997) with ``(B, T, 2)`` inputs.

``convlstm`` is the encoder-forecaster of Shi et al. (2015) for Moving MNIST:
``forward(frames (B, 10, C, 64, 64)) -> (B, 10, C, 64, 64)``, the predicted next
frames as intensities in [0, 1] (``output="logits"`` for the pre-sigmoid values).
``copy_last`` is the baseline it must beat: every predicted frame is the last one seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..layers import GRU, RNN, ConvLSTM, PeepholeLSTM
from ..registry import register_model

__all__ = ["SequenceModel", "ConvLSTMForecaster", "CopyLastFrame", "rnn", "gru", "lstm", "convlstm", "copy_last"]

Task = Literal["classification", "lm", "regression"]
_TASKS = ("classification", "lm", "regression")


class SequenceModel(nn.Module):
    """Embedding (token input) -> recurrent stack -> task head.

    Dropout ``p=dropout`` acts on the embeddings, between recurrent layers and on the
    features the head reads (Zaremba et al. 2014 put it on every non-recurrent
    connection); the recurrent connections themselves are never dropped.
    """

    def __init__(
        self,
        *,
        cell: Literal["rnn", "gru", "lstm"],
        task: Task = "classification",
        vocab_size: int | None = None,
        input_size: int = 28,
        num_classes: int = 10,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        tie_weights: bool = False,
        padding_idx: int | None = 0,
        **cell_kwargs,
    ) -> None:
        super().__init__()
        if task not in _TASKS:
            raise ValueError(f"task must be one of {', '.join(_TASKS)}, got {task!r}")
        if task == "lm":
            if vocab_size is None:
                raise ValueError("a language model needs vocab_size (token input)")
            if bidirectional:
                raise ValueError("a language model cannot be bidirectional: the reverse direction sees the next token")
        if tie_weights:
            if task != "lm":
                raise ValueError("tie_weights applies to task='lm' only")
            if embed_dim != hidden_size:
                raise ValueError(f"tie_weights needs embed_dim == hidden_size, got {embed_dim} and {hidden_size}")
        self.cell, self.task, self.tie_weights = cell, task, tie_weights
        self.padding_idx = padding_idx
        self.dropout = float(dropout)
        if vocab_size is not None:
            self.embedding: nn.Embedding | None = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
            features = embed_dim
        else:
            self.embedding = None
            features = input_size
        layer_cls = {"rnn": RNN, "gru": GRU, "lstm": PeepholeLSTM}[cell]
        self.rnn = layer_cls(
            features, hidden_size, num_layers=num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional, **cell_kwargs,
        )
        width = hidden_size * (2 if bidirectional else 1)
        if task == "lm":
            self.head = nn.Linear(width, vocab_size)
            if tie_weights:
                self.head.weight = self.embedding.weight  # type: ignore[union-attr]
        else:
            self.head = nn.Linear(width, num_classes if task == "classification" else 1)
        self.num_classes, self.num_features = (num_classes if task == "classification" else 0), width

    def _lengths(self, x: Tensor, lengths: Tensor | None) -> Tensor | None:
        if lengths is not None:
            return lengths
        if self.embedding is None or self.padding_idx is None:
            return None
        # Right-padded token rows: length = position of the last non-pad token + 1.
        real = x != self.padding_idx
        positions = torch.arange(1, x.shape[1] + 1, device=x.device)
        found = (real * positions).amax(1)
        return found.clamp(min=1) if bool((found < x.shape[1]).any()) else None

    def forward_features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """What the head reads: the last layer's final state ``(B, width)`` (both
        directions' for a bidirectional model), or every step's output ``(B, T, width)``
        for a language model."""
        if self.embedding is not None:
            if x.dim() != 2 or x.is_floating_point():
                raise ValueError(f"{self.cell} with vocab_size expects (B, T) token ids, got {x.dtype} {tuple(x.shape)}")
            feats = self.embedding(x)
        else:
            if x.dim() != 3:
                raise ValueError(f"{self.cell} expects (B, T, {self.rnn.input_size}) features, got {tuple(x.shape)}")
            feats = x
        feats = F.dropout(feats, self.dropout, self.training)
        if self.task == "lm":
            return self.rnn(feats)[0]
        lengths = self._lengths(x, lengths)
        if lengths is not None:
            packed = pack_padded_sequence(feats, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, state = self.rnn(packed)
        else:
            _, state = self.rnn(feats)
        h_n = state[0] if isinstance(state, tuple) else state
        # Last layer's final state: (forward,) or (forward, reverse).
        return h_n[-self.rnn.num_directions :].transpose(0, 1).reshape(x.shape[0], -1)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Dropout, then the output layer unless ``pre_logits``."""
        x = F.dropout(x, self.dropout, self.training)
        if pre_logits:
            return x
        out = self.head(x)
        return out.squeeze(-1) if self.task == "regression" else out

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(x, lengths))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes`` (0: none, the model returns the final state).

        Classification only: a language model's head is its vocabulary, a
        regression's its one output.
        """
        if self.task != "classification":
            raise ValueError(f"reset_classifier applies to task='classification', not {self.task!r}")
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


def _build(cell: str, **kwargs) -> SequenceModel:
    return SequenceModel(cell=cell, **kwargs)  # type: ignore[arg-type]


@register_model(
    family="recurrent",
    paper="Elman 1990, Finding structure in time",
    input_size=(28, 28),
    task="classification",
    classifier="head",
)
def rnn(
    *,
    task: Task = "classification",
    vocab_size: int | None = None,
    input_size: int = 28,
    num_classes: int = 10,
    embed_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    tie_weights: bool = False,
    nonlinearity: Literal["tanh", "relu"] = "tanh",
    padding_idx: int | None = 0,
) -> SequenceModel:
    """Vanilla (Elman) RNN task model; defaults: row-wise MNIST, 128 tanh units."""
    return _build(
        "rnn", task=task, vocab_size=vocab_size, input_size=input_size, num_classes=num_classes,
        embed_dim=embed_dim, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
        dropout=dropout, tie_weights=tie_weights, padding_idx=padding_idx, nonlinearity=nonlinearity,
    )


@register_model(
    family="recurrent",
    paper="Cho et al. 2014, Learning phrase representations using RNN encoder-decoder for statistical machine translation",
    input_size=(28, 28),
    task="classification",
    classifier="head",
)
def gru(
    *,
    task: Task = "classification",
    vocab_size: int | None = None,
    input_size: int = 28,
    num_classes: int = 10,
    embed_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    tie_weights: bool = False,
    reset_after: bool = True,
    padding_idx: int | None = 0,
) -> SequenceModel:
    """GRU task model; ``reset_after`` picks torch.nn's (True) or Cho et al.'s (False) candidate."""
    return _build(
        "gru", task=task, vocab_size=vocab_size, input_size=input_size, num_classes=num_classes,
        embed_dim=embed_dim, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
        dropout=dropout, tie_weights=tie_weights, padding_idx=padding_idx, reset_after=reset_after,
    )


@register_model(
    family="recurrent",
    paper="Hochreiter & Schmidhuber 1997, Long short-term memory; peepholes: Gers & Schmidhuber 2000, "
    "Recurrent nets that time and count",
    input_size=(28, 28),
    task="classification",
    classifier="head",
)
def lstm(
    *,
    task: Task = "classification",
    vocab_size: int | None = None,
    input_size: int = 28,
    num_classes: int = 10,
    embed_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    tie_weights: bool = False,
    peephole: bool = True,
    padding_idx: int | None = 0,
) -> SequenceModel:
    """LSTM task model, with Gers' peepholes unless ``peephole=False`` (then torch.nn.LSTM's cell)."""
    return _build(
        "lstm", task=task, vocab_size=vocab_size, input_size=input_size, num_classes=num_classes,
        embed_dim=embed_dim, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
        dropout=dropout, tie_weights=tie_weights, padding_idx=padding_idx, peephole=peephole,
    )


# -------------------------------------------------------------------------------------
# ConvLSTM encoder-forecaster
# -------------------------------------------------------------------------------------
class ConvLSTMForecaster(nn.Module):
    """Encoder-forecaster of Shi et al. (2015), section 3.2 and figure 3.

    Each frame is cut into ``patch_size x patch_size`` patches stacked as channels (the
    paper turns a 64x64 Moving MNIST frame into a 16x16x16 tensor). An encoding
    ConvLSTM stack reads the input frames; a forecasting stack with the same layer
    sizes starts from the encoder's final states, layer by layer, and runs
    ``frames_out`` steps without input; at every step the hidden states of all
    forecasting layers are concatenated and a 1x1 convolution maps them to the patch
    channels of the predicted frame.

    The output ``(B, frames_out, C, H, W)`` is, with ``output="sigmoid"`` (default),
    pixel intensities in [0, 1], comparable with the target frames directly (the
    engine's ``frames`` task scores them by mean squared error). With
    ``output="logits"`` it is the pre-sigmoid values, for the paper's per-pixel
    cross-entropy ``F.binary_cross_entropy_with_logits(output, target_frames)``,
    which is better conditioned than the cross-entropy of the sigmoid outputs.

    Defaults are the paper's best Moving MNIST network, three layers of 128, 64 and 64
    channels with 5x5 kernels on 4x4 patches (about 7.6M parameters). Forward FLOPs
    of one 10-in, 10-out sequence of 64x64 frames (``zoo summary``): 38.8G at the
    defaults; 4.73G for ``hidden_channels=(64, 64), kernel_size=3`` (0.93M
    parameters), the CPU-sized network of configs/published/convlstm_moving_mnist.yaml;
    1.23G for ``(32, 32)`` with 3x3 kernels. Without patches (``patch_size=1``) every
    layer runs on 64x64 instead of 16x16 maps: 16 times the work.
    """

    def __init__(
        self,
        *,
        in_chans: int = 1,
        hidden_channels: Sequence[int] = (128, 64, 64),
        kernel_size: int = 5,
        patch_size: int = 4,
        frames_out: int = 10,
        peephole: bool = True,
        output: Literal["sigmoid", "logits"] = "sigmoid",
    ) -> None:
        super().__init__()
        if output not in ("sigmoid", "logits"):
            raise ValueError(f"output must be 'sigmoid' or 'logits', got {output!r}")
        self.in_chans, self.patch_size, self.frames_out, self.output = in_chans, patch_size, frames_out, output
        patch_chans = in_chans * patch_size * patch_size
        hidden = list(hidden_channels)
        self.encoder = ConvLSTM(patch_chans, hidden, kernel_size, batch_first=True, peephole=peephole)
        self.forecaster = ConvLSTM(0, hidden, kernel_size, batch_first=True, peephole=peephole)
        self.head = nn.Conv2d(sum(hidden), patch_chans, kernel_size=1)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.dim() != 5 or frames.shape[2] != self.in_chans:
            raise ValueError(f"convlstm expects frames (B, T, {self.in_chans}, H, W), got {tuple(frames.shape)}")
        b, t, c, h, w = frames.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"frame size {h}x{w} is not a multiple of patch_size={p}")
        patches = self.to_patches(frames)
        _, states = self.encoder.forward_all(patches)
        empty = patches.new_zeros(b, self.frames_out, 0, h // p, w // p)
        outputs, _ = self.forecaster.forward_all(empty, states)
        hidden = torch.cat(outputs, dim=2)  # (T_out, B, sum(hidden), h/p, w/p)
        logits = self.head(hidden.flatten(0, 1)).unflatten(0, (self.frames_out, b)).transpose(0, 1)
        frames_out = self.from_patches(logits)
        return torch.sigmoid(frames_out) if self.output == "sigmoid" else frames_out

    def to_patches(self, frames: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, T, C p^2, H/p, W/p), space to depth: channel ``c p^2 + i p + j``
        at (y, x) is pixel (p y + i, p x + j) of channel ``c``, as ``F.pixel_unshuffle``."""
        return F.pixel_unshuffle(frames.flatten(0, 1), self.patch_size).unflatten(0, frames.shape[:2])

    def from_patches(self, patches: Tensor) -> Tensor:
        """The inverse of :meth:`to_patches`: (B, T, C p^2, h, w) -> (B, T, C, p h, p w)."""
        return F.pixel_shuffle(patches.flatten(0, 1), self.patch_size).unflatten(0, patches.shape[:2])


@register_model(
    family="recurrent",
    paper="Shi et al. 2015, Convolutional LSTM network: a machine learning approach for precipitation nowcasting",
    input_size=(10, 1, 64, 64),
    task="frames",
)
def convlstm(
    *,
    in_chans: int = 1,
    hidden_channels: tuple[int, ...] = (128, 64, 64),
    kernel_size: int = 5,
    patch_size: int = 4,
    frames_out: int = 10,
    peephole: bool = True,
    output: Literal["sigmoid", "logits"] = "sigmoid",
) -> ConvLSTMForecaster:
    """ConvLSTM encoder-forecaster (Moving MNIST: 10 frames in, 10 predicted in [0, 1])."""
    return ConvLSTMForecaster(
        in_chans=in_chans, hidden_channels=tuple(hidden_channels), kernel_size=kernel_size,
        patch_size=patch_size, frames_out=frames_out, peephole=peephole, output=output,
    )


class CopyLastFrame(nn.Module):
    """The persistence forecast: every predicted frame is the last input frame.

    No parameters, nothing to train: a run evaluates it with ``train.epochs=0``. A
    frame predictor that does not beat it has learnt nothing about motion.
    """

    def __init__(self, *, frames_out: int = 10) -> None:
        super().__init__()
        self.frames_out = frames_out

    def forward(self, frames: Tensor) -> Tensor:
        if frames.dim() != 5:
            raise ValueError(f"copy_last expects frames (B, T, C, H, W), got {tuple(frames.shape)}")
        return frames[:, -1:].repeat(1, self.frames_out, 1, 1, 1)


@register_model(
    family="baseline",
    paper="Persistence (copy the last frame), the naive forecast of precipitation nowcasting",
    input_size=(10, 1, 64, 64),
    task="frames",
)
def copy_last(*, frames_out: int = 10) -> CopyLastFrame:
    """Copy-last-frame baseline for frame prediction (zero parameters)."""
    return CopyLastFrame(frames_out=frames_out)
