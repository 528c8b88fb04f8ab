"""The sentence-classification CNN of Kim (2014), "Convolutional Neural Networks for
Sentence Classification", EMNLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import register_model

__all__ = ["TextCNN", "textcnn"]


class TextCNN(nn.Module):
    """Embedding -> convolutions of several widths -> max-over-time -> dropout -> linear.

    Kim's CNN-rand/non-static network: 300-d word vectors, filter widths 3, 4, 5 with
    100 feature maps each, ReLU, max-over-time pooling (one feature per map, so any
    sentence length gives a 300-d vector), dropout 0.5 on that vector, and a max-norm
    constraint ``||w||_2 <= 3`` on each output unit's weight vector, applied after
    every optimizer step by :meth:`after_optimizer_step` (the engine calls it). Word
    vectors start uniform in [-0.25, 0.25], as the random vectors of Kim's code.

    ``forward(tokens (B, T), lengths=None) -> (B, num_classes)``. As in Kim's code each
    sentence is zero-padded by ``width - 1`` on both sides (a "wide" convolution, so
    short sentences and the first and last words get full windows); windows made of
    padding only are left out of the max, so trailing padding never changes a result.
    Without ``lengths``, a row's length is the position of its last non-pad token.
    The pretrained word2vec vectors of CNN-static/-multichannel are not bundled;
    load them into ``embedding.weight`` (and set ``requires_grad_(False)`` for static).
    """

    def __init__(
        self,
        *,
        vocab_size: int = 20000,
        num_classes: int = 2,
        embed_dim: int = 300,
        widths: Sequence[int] = (3, 4, 5),
        maps: int = 100,
        dropout: float = 0.5,
        max_norm: float | None = 3.0,
        padding_idx: int | None = 0,
    ) -> None:
        super().__init__()
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive filter widths, got {widths!r}")
        self.widths = tuple(int(w) for w in widths)
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        # Kim's CNN-rand draws every word vector from U[-0.25, 0.25] (about word2vec's
        # variance), not N(0, 1): 16 times smaller inputs to the first convolution.
        nn.init.uniform_(self.embedding.weight, -0.25, 0.25)
        if padding_idx is not None:
            with torch.no_grad():
                self.embedding.weight[padding_idx].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w, padding=w - 1) for w in self.widths)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(maps * len(self.widths), num_classes)
        self.num_classes, self.num_features = num_classes, maps * len(self.widths)

    def forward_features(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The max-over-time features, ``(B, maps * len(widths))``.

        Pooling belongs here, not in the head: each width gives maps of another
        length, and only their maxima line up.
        """
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ValueError(f"textcnn expects (B, T) token ids, got {tokens.dtype} {tuple(tokens.shape)}")
        if lengths is None:
            if self.padding_idx is None:
                lengths = torch.full((tokens.shape[0],), tokens.shape[1], device=tokens.device)
            else:
                positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device)
                lengths = ((tokens != self.padding_idx) * positions).amax(1)
        lengths = lengths.to(tokens.device).clamp(min=1)
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, T)
        pooled = []
        for width, conv in zip(self.widths, self.convs):
            feats = conv(x)  # (B, maps, T + width - 1); output j covers tokens j-width+1 .. j
            real = torch.arange(feats.shape[-1], device=feats.device) < (lengths + width - 1).unsqueeze(1)
            feats = feats.masked_fill(~real.unsqueeze(1), float("-inf"))
            # max and ReLU commute: pool first, then rectify the (B, maps) maxima only.
            pooled.append(F.relu(feats.amax(-1)))
        return torch.cat(pooled, 1)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Dropout, then ``fc`` unless ``pre_logits``."""
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(tokens, lengths))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes`` (0: none, the model returns the pooled features)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Kim's l2 constraint: rescale any output weight row with norm > max_norm to max_norm."""
        if self.max_norm is not None and isinstance(self.fc, nn.Linear):
            self.fc.weight.copy_(torch.renorm(self.fc.weight, p=2, dim=0, maxnorm=self.max_norm))


@register_model(
    family="textcnn",
    paper="Kim 2014, Convolutional neural networks for sentence classification",
    input_size=(64,),
    task="classification",
    classifier="fc",
)
def textcnn(
    *,
    vocab_size: int = 20000,
    num_classes: int = 2,
    embed_dim: int = 300,
    widths: tuple[int, ...] = (3, 4, 5),
    maps: int = 100,
    dropout: float = 0.5,
    max_norm: float | None = 3.0,
    padding_idx: int | None = 0,
) -> TextCNN:
    """Kim (2014) CNN over (B, T) token ids; 6.36M parameters at the defaults (6M of them the embedding)."""
    return TextCNN(
        vocab_size=vocab_size, num_classes=num_classes, embed_dim=embed_dim, widths=tuple(widths),
        maps=maps, dropout=dropout, max_norm=max_norm, padding_idx=padding_idx,
    )
