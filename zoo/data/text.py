"""Text without torchtext: a tokenizer, a vocabulary, padded batches and LM windows.

The datasets built on them are in :mod:`zoo.data.text_datasets`. Sentence
classification (``mr``, ``subj``, ``trec``, ``sst2``, ``ag_news``, ``imdb``)
yields ``(tokens, lengths, labels)``: ``tokens`` a LongTensor (B, T) padded
with ``<pad>`` = 0 and trimmed to the batch's longest sequence, ``lengths``
(B,) and ``labels`` (B,). The whole split is encoded once into one
flat token tensor held in memory (on the GPU after ``bundle.to("cuda")``) and
every batch is one gather; ``bucket: true`` groups sequences of similar length
to cut padding.

Language modelling (``tinyshakespeare``, ``text_file``) yields ``(x, y)`` of
(B, T) windows of the token stream, ``y`` shifted by one.

Every set reads its original files from ``data.root`` (the folder that holds
the dataset's folder, e.g. ``ROOT/rt-polarity/rt-polarity.pos``) and uses its
canonical download URL only when ``data.download: true``. The vocabulary is
built on the training split; :meth:`Vocab.to_dict` is stored with the model
(``DataInfo.metadata``) so inference tokenizes identically, and the option
``vocab`` (a JSON file or that dict) reuses one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .core import (
    BatchLoader,
    DataBundle,
    DataInfo,
    TensorLoader,
    epoch_generator,
    resolve_path,
    seed_of,
    split_indices,
)

__all__ = [
    "Tokenizer",
    "Vocab",
    "PaddedTokens",
    "WindowLoader",
    "text_bundle",
    "lm_bundle",
    "bucket_order",
    "read_text",
    "positive_int",
    "load_vocab_option",
]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


# ---------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------
# torchtext's basic_english: lowercase, split off punctuation, drop quotes, ; and :.
_BASIC_ENGLISH = [
    (re.compile(r"'"), " '  "),
    (re.compile(r'"'), ""),
    (re.compile(r"\."), " . "),
    (re.compile(r"<br \/>"), " "),
    (re.compile(r","), " , "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"!"), " ! "),
    (re.compile(r"\?"), " ? "),
    (re.compile(r";"), " "),
    (re.compile(r":"), " "),
    (re.compile(r"\s+"), " "),
]
# Kim (2014)'s clean_str: keep letters, digits and ( ) , ! ? ' `; split clitics.
_KIM = [
    (re.compile(r"[^A-Za-z0-9(),!?\'\`]"), " "),
    (re.compile(r"\'s"), " 's"),
    (re.compile(r"\'ve"), " 've"),
    (re.compile(r"n\'t"), " n't"),
    (re.compile(r"\'re"), " 're"),
    (re.compile(r"\'d"), " 'd"),
    (re.compile(r"\'ll"), " 'll"),
    (re.compile(r","), " , "),
    (re.compile(r"!"), " ! "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\?"), " ? "),
    (re.compile(r"\s{2,}"), " "),
]


class Tokenizer:
    """Text to tokens.

    ``basic_english``: lowercase and the regex split of torchtext's
    ``get_tokenizer("basic_english")`` (punctuation . , ( ) ! ? split off, quotes
    dropped, ``<br />`` removed). ``kim``: Kim (2014)'s ``clean_str`` then
    lowercase. ``whitespace``: ``str.split`` as is. ``char``: every character
    (case kept).
    """

    KINDS = ("basic_english", "kim", "whitespace", "char")

    def __init__(self, kind: str = "basic_english") -> None:
        if kind not in self.KINDS:
            raise ConfigError(f"data.tokenizer must be one of {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind

    def __call__(self, text: str) -> list[str]:
        if self.kind == "char":
            return list(text)
        if self.kind == "whitespace":
            return text.split()
        rules = _BASIC_ENGLISH if self.kind == "basic_english" else _KIM
        text = text.lower()
        for pattern, repl in rules:
            text = pattern.sub(repl, text)
        return text.split()

    def __repr__(self) -> str:
        return f"Tokenizer({self.kind!r})"


# ---------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------
class Vocab:
    """Token <-> index, with ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3.

    Built by :meth:`build` from the training texts: tokens seen at least
    ``min_freq`` times, most frequent first (ties alphabetically, so the same
    data always gives the same vocabulary), at most ``max_size`` entries in all
    (specials included). It carries its tokenizer, and :meth:`to_dict` /
    :meth:`from_dict` round-trip it through JSON.
    """

    FORMAT = "zoo.vocab/1"

    def __init__(self, tokens: Sequence[str], tokenizer: str | Tokenizer = "basic_english") -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with the specials {', '.join(SPECIALS)}")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"token {dup!r} appears twice in the vocabulary")
        self.itos = tokens
        self.stoi = {t: i for i, t in enumerate(tokens)}
        self.tokenizer = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)

    pad_index, unk_index, bos_index, eos_index = 0, 1, 2, 3

    @classmethod
    def build(
        cls,
        texts: Iterable[str | Sequence[str]],
        *,
        tokenizer: str | Tokenizer = "basic_english",
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> "Vocab":
        """From raw texts (tokenized here) or from lists of tokens."""
        tok = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer(tokenizer)
        counts: Counter[str] = Counter()
        for item in texts:
            counts.update(tok(item) if isinstance(item, str) else item)
        return cls.from_counts(counts, tokenizer=tok, min_freq=min_freq, max_size=max_size)

    @classmethod
    def from_counts(
        cls, counts: Counter[str], *, tokenizer: str | Tokenizer, min_freq: int = 1, max_size: int | None = None
    ) -> "Vocab":
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"data.min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= len(SPECIALS)):
            raise ConfigError(f"data.max_size must be an int > {len(SPECIALS)} (specials included), got {max_size!r}")
        words = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS), key=lambda t: (-counts[t], t))
        if max_size is not None:
            words = words[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *words], tokenizer)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos and self.tokenizer.kind == other.tokenizer.kind

    def lookup_indices(self, tokens: Iterable[str]) -> list[int]:
        get, unk = self.stoi.get, self.unk_index
        return [get(t, unk) for t in tokens]

    def lookup_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def encode(self, text: str, *, bos: bool = False, eos: bool = False, max_len: int | None = None) -> list[int]:
        ids = self.lookup_indices(self.tokenizer(text))
        if bos:
            ids.insert(0, self.bos_index)
        if eos:
            ids.append(self.eos_index)
        return ids[:max_len] if max_len is not None else ids

    def decode(self, ids: Iterable[int] | Tensor, *, skip_specials: bool = True) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        tokens = [self.itos[i] for i in ids if not (skip_specials and i < len(SPECIALS) and i != self.unk_index)]
        return ("" if self.tokenizer.kind == "char" else " ").join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.FORMAT, "tokenizer": self.tokenizer.kind, "tokens": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Vocab":
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT or not isinstance(data.get("tokens"), list):
            raise DataError(f"not a zoo vocabulary (expected format {cls.FORMAT!r} with a token list)")
        try:
            return cls(data["tokens"], data.get("tokenizer", "basic_english"))
        except (ValueError, ConfigError) as exc:
            raise DataError(f"invalid vocabulary: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read vocabulary {path}: {exc}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, tokenizer={self.tokenizer.kind!r})"


# ---------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------
class PaddedTokens:
    """``(offsets, lengths, labels)`` -> ``(tokens, lengths, labels)``.

    The split's sequences lie end to end in one flat tensor; a batch gathers
    each of its sequences at its offset, padded with 0 to the batch's longest
    sequence (at least ``min_len`` columns, e.g. the widest filter of a CNN).
    """

    def __init__(self, flat: Tensor, min_len: int = 1) -> None:
        self.flat = flat
        self.min_len = min_len

    def __call__(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        offsets, lengths, labels = batch
        width = max(int(lengths.max()) if len(lengths) else 0, self.min_len)
        cols = torch.arange(width, device=offsets.device)
        index = offsets.unsqueeze(1) + cols
        mask = cols < lengths.unsqueeze(1)
        index = torch.where(mask, index, torch.zeros_like(index)).clamp_(max=max(len(self.flat) - 1, 0))
        tokens = self.flat[index].masked_fill_(~mask, 0)
        return tokens, lengths, labels

    def to(self, device: Any) -> "PaddedTokens":
        return PaddedTokens(self.flat.to(device), self.min_len)


def bucket_order(lengths: Tensor, batch_size: int, pool: int = 50) -> Callable[[torch.Generator], Tensor]:
    """Length bucketing: shuffle, sort each pool of ``pool`` batches by length, cut
    batches, shuffle the batches. Similar lengths share a batch (little padding)
    while every epoch still sees a new order."""
    lengths = lengths.cpu()

    def order(gen: torch.Generator) -> Tensor:
        n = len(lengths)
        perm = torch.randperm(n, generator=gen)
        chunk = batch_size * pool
        pieces = [p[lengths[p].argsort(stable=True)] for p in perm.split(chunk)]
        perm = torch.cat(pieces) if pieces else perm
        full = n // batch_size
        head = perm[: full * batch_size].view(full, batch_size)[torch.randperm(full, generator=gen)].flatten()
        return torch.cat([head, perm[full * batch_size :]])

    return order


def _encode_all(token_lists: Sequence[Sequence[str]], vocab: Vocab, max_len: int | None) -> tuple[Tensor, Tensor, Tensor]:
    """(flat token ids, offsets, lengths); an empty sequence becomes one ``<unk>``."""
    ids: list[int] = []
    offsets, lengths = [], []
    get, unk = vocab.stoi.get, vocab.unk_index
    for tokens in token_lists:
        seq = [get(t, unk) for t in (tokens[:max_len] if max_len else tokens)] or [unk]
        offsets.append(len(ids))
        lengths.append(len(seq))
        ids.extend(seq)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long), torch.tensor(lengths, dtype=torch.long)


def positive_int(value: Any, key: str, *, allow_none: bool = False, minimum: int = 1) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"data.{key} must be an int >= {minimum}{' or null' if allow_none else ''}, got {value!r}")
    return value


def load_vocab_option(vocab: Any, root: Path) -> Vocab | None:
    if vocab is None:
        return None
    if isinstance(vocab, Vocab):
        return vocab
    if isinstance(vocab, dict):
        return Vocab.from_dict(vocab)
    if isinstance(vocab, str):
        path = resolve_path(vocab, root)
        if not path.is_file():
            raise DataError(f"vocabulary file not found: {path}")
        return Vocab.load(path)
    raise ConfigError(f"data.vocab must be a JSON file path or a vocabulary dict, got {type(vocab).__name__}")


def text_bundle(
    cfg,
    *,
    name: str,
    train: tuple[list[str], list[int]],
    test: tuple[list[str], list[int]],
    classes: list[str],
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
    extra: dict[str, Any] | None = None,
) -> DataBundle:
    """A :class:`DataBundle` of padded token batches over labelled texts.

    ``cfg.val_split`` carves a seeded validation set out of ``train`` before the
    vocabulary is built on what remains. ``max_len`` truncates long texts;
    ``min_len`` pads every batch to at least that many columns.
    """
    positive_int(max_len, "max_len", allow_none=True)
    positive_int(min_len, "min_len")
    texts, labels = train
    tok = Tokenizer(tokenizer)
    splits: dict[str, tuple[list[str], list[int]]] = {}
    if cfg.val_split:
        keep, held = split_indices(len(labels), cfg.val_split, cfg.split_seed)
        splits["val"] = ([texts[i] for i in held.tolist()], [labels[i] for i in held.tolist()])
        texts, labels = [texts[i] for i in keep.tolist()], [labels[i] for i in keep.tolist()]
    splits["train"] = (texts, labels)
    splits["test"] = test
    voc = load_vocab_option(vocab, cfg.root_path)
    if voc is not None:
        tok = voc.tokenizer  # a given vocabulary tokenizes as it was built
    tokens = {k: [tok(t) for t in v[0]] for k, v in splits.items()}
    if voc is None:
        voc = Vocab.build(tokens["train"], tokenizer=tok, min_freq=min_freq, max_size=max_size)
    seed = seed_of(cfg)
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    loaders: dict[str, TensorLoader] = {}
    stats: dict[str, Any] = {}
    for split, (_, labs) in splits.items():
        flat, offsets, lengths = _encode_all(tokens[split], voc, max_len)
        y = torch.tensor(labs, dtype=torch.long)
        train_split = split == "train"
        bs = cfg.batch_size if train_split else eval_bs
        loaders[split] = TensorLoader(
            (offsets, lengths, y),
            batch_size=bs,
            shuffle=train_split,
            seed=seed,
            transform_batch=PaddedTokens(flat, min_len),
            order=bucket_order(lengths, bs) if (bucket and train_split) else None,
        )
        if train_split and len(lengths):
            stats = {"longest": int(lengths.max()), "mean_length": round(float(lengths.float().mean()), 2)}
    info = DataInfo(
        name=name,
        task="classification",
        classes=list(classes),
        model_kwargs={"num_classes": len(classes), "vocab_size": len(voc)},
        vocab=voc,
        extra={"tokenizer": voc.tokenizer.kind, **stats, **(extra or {})},
    )
    return DataBundle(info=info, train=loaders["train"], test=loaders["test"], val=loaders.get("val"))


# ---------------------------------------------------------------------------------
# Language-model windows
# ---------------------------------------------------------------------------------
class WindowLoader(BatchLoader):
    """(B, T) windows of one token stream: ``x = data[i : i + T]``, ``y = data[i + 1 : i + T + 1]``.

    Training (``shuffle``): every epoch starts the non-overlapping windows at a
    random phase (so window borders move) and visits them in a random order,
    both drawn from the ``(seed, epoch)`` generator. Evaluation: the windows
    from position 0 in order.
    """

    def __init__(self, data: Tensor, *, seq_len: int, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False) -> None:
        if data.dim() != 1:
            raise ValueError("WindowLoader takes a 1-d token stream")
        self.data = data
        self.seq_len = int(seq_len)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        usable = len(data) - 1
        # Shuffled epochs keep one window of slack so the phase can move.
        self.windows = (usable - self.seq_len + 1) // self.seq_len if shuffle else usable // self.seq_len
        if self.windows < 1:
            raise DataError(f"text of {len(data)} tokens is too short for windows of data.seq_len={seq_len}")
        self._slack = usable - self.windows * self.seq_len
        self._init_state()

    @property
    def num_samples(self) -> int:
        return self.windows

    @property
    def device(self) -> torch.device:
        return self.data.device

    def to(self, device: Any) -> "WindowLoader":
        device = torch.device(device)
        if device == self.device:
            return self
        clone = self._clone()
        clone.data = self.data.to(device)
        return clone

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        gen = epoch_generator(self.seed, self.epoch)
        if self.shuffle:
            phase = int(torch.randint(0, self._slack + 1, (1,), generator=gen))
            order = torch.randperm(self.windows, generator=gen)
        else:
            phase, order = 0, torch.arange(self.windows)
        starts = (order * self.seq_len + phase).to(self.device)
        cols = torch.arange(self.seq_len + 1, device=self.device)
        for b in self._batch_range():
            lo, hi = self._rank_slice(b)
            chunk = self.data[starts[lo:hi].unsqueeze(1) + cols]
            yield chunk[:, :-1], chunk[:, 1:]


def lm_bundle(
    cfg,
    *,
    name: str,
    train_ids: Tensor,
    test_ids: Tensor,
    vocab: Vocab,
    seq_len: int,
    chars: bool,
    val_ids: Tensor | None = None,
    extra: dict[str, Any] | None = None,
) -> DataBundle:
    """A :class:`DataBundle` of LM windows; ``cfg.val_split`` takes the end of ``train_ids``."""
    positive_int(seq_len, "seq_len")
    if cfg.val_split and val_ids is None:
        cut = len(train_ids) - int(round(len(train_ids) * cfg.val_split))
        train_ids, val_ids = train_ids[:cut], train_ids[cut:]
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    seed = seed_of(cfg)
    info = DataInfo(
        name=name,
        task="lm",
        input_size=(seq_len,),
        model_kwargs={"vocab_size": len(vocab), "task": "lm"},
        vocab=vocab,
        extra={"chars": chars, "seq_len": seq_len, "train_tokens": len(train_ids), **(extra or {})},
    )
    return DataBundle(
        info=info,
        train=WindowLoader(train_ids, seq_len=seq_len, batch_size=cfg.batch_size, shuffle=True, seed=seed),
        test=WindowLoader(test_ids, seq_len=seq_len, batch_size=eval_bs),
        val=WindowLoader(val_ids, seq_len=seq_len, batch_size=eval_bs) if val_ids is not None else None,
    )


# ---------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------
def read_text(path: Path, encoding: str | None = None) -> str:
    """The file's text: ``encoding`` if given, else UTF-8, falling back to latin-1
    (the Cornell and UIUC files are latin-1; re-distributed copies are often UTF-8)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if b"\x00" in raw[:4096]:
        raise DataError(f"corrupt file {path}: binary data in a text file")
    if encoding:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataError(f"cannot decode {path} as {encoding}: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
