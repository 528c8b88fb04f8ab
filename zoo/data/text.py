"""Text datasets without torchtext: a tokenizer, a vocabulary, padded batches.

Sentence classification (``mr``, ``subj``, ``trec``, ``sst2``, ``ag_news``,
``imdb``) yields ``(tokens, lengths, labels)``: ``tokens`` a LongTensor (B, T)
padded with ``<pad>`` = 0 and trimmed to the batch's longest sequence,
``lengths`` (B,) and ``labels`` (B,). The whole split is encoded once into one
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

import csv
import html
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
    download_url,
    epoch_generator,
    extract_archive,
    missing_files,
    resolve_path,
    seed_of,
    split_indices,
)
from .registry import register_dataset

__all__ = [
    "Tokenizer",
    "Vocab",
    "PaddedTokens",
    "WindowLoader",
    "text_bundle",
    "lm_bundle",
    "bucket_order",
    "read_text",
    "mr",
    "subj",
    "trec",
    "sst2",
    "ag_news",
    "imdb",
    "tinyshakespeare",
    "text_file",
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


def _positive_int(value: Any, key: str, *, allow_none: bool = False, minimum: int = 1) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"data.{key} must be an int >= {minimum}{' or null' if allow_none else ''}, got {value!r}")
    return value


def _load_vocab_option(vocab: Any, root: Path) -> Vocab | None:
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
    _positive_int(max_len, "max_len", allow_none=True)
    _positive_int(min_len, "min_len")
    texts, labels = train
    tok = Tokenizer(tokenizer)
    splits: dict[str, tuple[list[str], list[int]]] = {}
    if cfg.val_split:
        keep, held = split_indices(len(labels), cfg.val_split, cfg.split_seed)
        splits["val"] = ([texts[i] for i in held.tolist()], [labels[i] for i in held.tolist()])
        texts, labels = [texts[i] for i in keep.tolist()], [labels[i] for i in keep.tolist()]
    splits["train"] = (texts, labels)
    splits["test"] = test
    voc = _load_vocab_option(vocab, cfg.root_path)
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
    _positive_int(seq_len, "seq_len")
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


def _lines(path: Path, encoding: str | None = None) -> list[str]:
    return [ln.strip() for ln in read_text(path, encoding).splitlines() if ln.strip()]


def _find(root: Path, folders: Sequence[str], files: Sequence[str]) -> Path | None:
    for folder in folders:
        if all((root / folder / f).is_file() for f in files):
            return root / folder
    return None


def _locate(
    cfg,
    name: str,
    folders: Sequence[str],
    files: Sequence[str],
    fetch: Callable[[Path], None] | None,
    alternatives: Sequence[Sequence[str]] = (),
) -> tuple[Path, Sequence[str]]:
    """The folder (one of ``ROOT/<folders>``) holding ``files`` (or one of the
    ``alternatives`` name sets); downloads with ``fetch(root)`` when allowed."""
    root = cfg.root_path
    for attempt in range(2):
        for names in (files, *alternatives):
            found = _find(root, folders, names)
            if found is not None:
                return found, names
        if attempt == 0 and cfg.download and fetch is not None:
            fetch(root)
        else:
            break
    raise missing_files(name, root / folders[0], files, also=[root / f for f in folders[1:]])


def _fetch_files(folder: str, urls: dict[str, str], name: str) -> Callable[[Path], None]:
    def fetch(root: Path) -> None:
        for filename, url in urls.items():
            dest = root / folder / filename
            if not dest.is_file():
                download_url(url, dest, dataset=name)

    return fetch


def _fetch_archive(url: str, into: str, name: str) -> Callable[[Path], None]:
    def fetch(root: Path) -> None:
        archive = root / url.rsplit("/", 1)[-1]
        download_url(url, archive, dataset=name)
        extract_archive(archive, root / into if into else root, dataset=name)
        archive.unlink(missing_ok=True)

    return fetch


def _check_folds(folds: Any, fold: Any) -> tuple[int, int]:
    folds = _positive_int(folds, "folds", minimum=2)
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ConfigError(f"data.fold must be an int in 0..{folds - 1} (data.folds={folds}), got {fold!r}")
    return folds, fold


def _fold_split(n: int, folds: int, fold: int, seed: int) -> tuple[list[int], list[int]]:
    """Fold ``fold`` of a seeded ``folds``-way partition as the test set (k-fold CV)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    test = perm.tensor_split(folds)[fold]
    mask = torch.ones(n, dtype=torch.bool)
    mask[test] = False
    return torch.arange(n)[mask].tolist(), test.sort().values.tolist()


def _polarity_bundle(cfg, name, texts, labels, classes, folds, fold, text_opts, source) -> DataBundle:
    folds, fold = _check_folds(folds, fold)
    train_idx, test_idx = _fold_split(len(labels), folds, fold, cfg.split_seed)
    return text_bundle(
        cfg,
        name=name,
        train=([texts[i] for i in train_idx], [labels[i] for i in train_idx]),
        test=([texts[i] for i in test_idx], [labels[i] for i in test_idx]),
        classes=classes,
        extra={"source": str(source), "folds": folds, "fold": fold},
        **text_opts,
    )


# ---------------------------------------------------------------------------------
# Sentence classification datasets
# ---------------------------------------------------------------------------------
_MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
_SUBJ_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rotten_imdb.tar.gz"
_TREC_URLS = {
    "train_5500.label": "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label",
    "TREC_10.label": "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label",
}
_SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
_AG_URLS = {
    "train.csv": "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/train.csv",
    "test.csv": "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/test.csv",
}
_IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


@register_dataset("mr", task="classification")
def mr(
    cfg,
    *,
    folds: int = 10,
    fold: int = 0,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """MR sentence polarity (Pang & Lee 2005): 5,331 positive + 5,331 negative review snippets.

    Files ``rt-polarity.pos`` / ``rt-polarity.neg`` in ``ROOT/rt-polarity`` (or
    ``ROOT/rt-polaritydata``, as the Cornell tarball unpacks). No official
    split: as Kim (2014), ``folds``-fold cross-validation over a seeded
    partition (``data.split_seed``), fold ``fold`` is the test set.
    """
    folder, files = _locate(cfg, "mr", ["rt-polarity", "rt-polaritydata", "MR"], ["rt-polarity.pos", "rt-polarity.neg"],
                            _fetch_archive(_MR_URL, "", "mr"))
    neg, pos = _lines(folder / "rt-polarity.neg"), _lines(folder / "rt-polarity.pos")
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return _polarity_bundle(cfg, "mr", neg + pos, [0] * len(neg) + [1] * len(pos), ["negative", "positive"], folds, fold, opts, folder)


@register_dataset("subj", task="classification")
def subj(
    cfg,
    *,
    folds: int = 10,
    fold: int = 0,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """SUBJ subjectivity (Pang & Lee 2004): 5,000 subjective + 5,000 objective sentences.

    Files ``subj.subjective`` / ``subj.objective`` (SentEval names) or Cornell's
    ``quote.tok.gt9.5000`` / ``plot.tok.gt9.5000`` in ``ROOT/subj``. Labels as
    SentEval: 0 subjective, 1 objective. ``folds``-fold cross-validation as ``mr``.
    """
    folder, files = _locate(cfg, "subj", ["subj", "SUBJ", "rotten_imdb"], ["subj.subjective", "subj.objective"],
                            _fetch_archive(_SUBJ_URL, "subj", "subj"),
                            alternatives=[["quote.tok.gt9.5000", "plot.tok.gt9.5000"]])
    subjective, objective = _lines(folder / files[0]), _lines(folder / files[1])
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return _polarity_bundle(cfg, "subj", subjective + objective, [0] * len(subjective) + [1] * len(objective),
                            ["subjective", "objective"], folds, fold, opts, folder)


_TREC_COARSE = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _read_trec(path: Path) -> list[tuple[str, str, str]]:
    """(coarse, fine, question) of each ``COARSE:fine question ...`` line (latin-1)."""
    rows = []
    for lineno, line in enumerate(read_text(path, "latin-1").splitlines(), 1):
        if not line.strip():
            continue
        label, _, question = line.partition(" ")
        coarse, colon, fine = label.partition(":")
        if not colon or coarse not in _TREC_COARSE or not question.strip():
            raise DataError(f"corrupt file {path}:{lineno}: expected 'COARSE:fine question', got {line[:60]!r}")
        rows.append((coarse, f"{coarse}:{fine}", question.strip()))
    if not rows:
        raise DataError(f"corrupt file {path}: no questions")
    return rows


@register_dataset("trec", task="classification")
def trec(
    cfg,
    *,
    fine: bool = False,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """TREC question classification (Li & Roth 2002): 5,452 train, 500 test questions.

    Files ``train_5500.label`` and ``TREC_10.label`` (latin-1) in ``ROOT/trec``.
    Six coarse classes (TREC-6: ABBR DESC ENTY HUM LOC NUM); ``fine: true`` for
    the 50 fine ones (TREC-50).
    """
    folder, _ = _locate(cfg, "trec", ["trec", "TREC"], list(_TREC_URLS), _fetch_files("trec", _TREC_URLS, "trec"))
    train_rows, test_rows = _read_trec(folder / "train_5500.label"), _read_trec(folder / "TREC_10.label")
    col = 1 if fine else 0
    # The label set of both files (all 50 fine labels occur in the real training file).
    classes = sorted({r[col] for r in train_rows + test_rows}) if fine else list(_TREC_COARSE)
    index = {c: i for i, c in enumerate(classes)}
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return text_bundle(
        cfg,
        name="trec",
        train=([r[2] for r in train_rows], [index[r[col]] for r in train_rows]),
        test=([r[2] for r in test_rows], [index[r[col]] for r in test_rows]),
        classes=classes,
        extra={"source": str(folder), "fine": fine},
        **opts,
    )


def _read_glue_tsv(path: Path) -> tuple[list[str], list[int]]:
    lines = read_text(path, "utf-8").splitlines()
    if not lines or lines[0].strip().split("\t") != ["sentence", "label"]:
        raise DataError(f"corrupt file {path}: expected the GLUE header 'sentence<TAB>label'")
    texts, labels = [], []
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        sentence, tab, label = line.rpartition("\t")
        if not tab or label.strip() not in ("0", "1"):
            raise DataError(f"corrupt file {path}:{lineno}: expected 'sentence<TAB>0|1', got {line[:60]!r}")
        texts.append(sentence.strip())
        labels.append(int(label))
    return texts, labels


@register_dataset("sst2", task="classification")
def sst2(
    cfg,
    *,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """SST-2 binary sentiment, GLUE version (Socher et al. 2013): 67,349 train, 872 dev.

    Files ``train.tsv`` and ``dev.tsv`` (``sentence<TAB>label``) in ``ROOT/sst2``
    (or ``ROOT/SST-2`` as GLUE's zip unpacks). GLUE's test labels are hidden, so
    the dev set is the test split here.
    """
    folder, _ = _locate(cfg, "sst2", ["sst2", "SST-2"], ["train.tsv", "dev.tsv"], _fetch_archive(_SST2_URL, "", "sst2"))
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return text_bundle(cfg, name="sst2", train=_read_glue_tsv(folder / "train.tsv"), test=_read_glue_tsv(folder / "dev.tsv"),
                       classes=["negative", "positive"], extra={"source": str(folder)}, **opts)


_ENTITY = re.compile(r" ?#(\d{1,5});")


def _clean_ag(text: str) -> str:
    # The release escapes newlines as backslashes and drops the '&' of entities (" #36;" is "$").
    text = _ENTITY.sub(lambda m: html.unescape(f"&#{m.group(1)};"), text)
    return text.replace("\\", " ")


def _read_ag_csv(path: Path, n_classes: int) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    reader = csv.reader(read_text(path, "utf-8").splitlines())
    try:
        for lineno, row in enumerate(reader, 1):
            if not row:
                continue
            if len(row) != 3 or not row[0].strip().isdigit() or not 1 <= int(row[0]) <= n_classes:
                raise DataError(f"corrupt file {path}:{lineno}: expected '\"class 1..{n_classes}\",\"title\",\"description\"'")
            labels.append(int(row[0]) - 1)
            texts.append(_clean_ag(f"{row[1]} {row[2]}"))
    except csv.Error as exc:
        raise DataError(f"corrupt file {path}: {exc}") from None
    if not texts:
        raise DataError(f"corrupt file {path}: no rows")
    return texts, labels


@register_dataset("ag_news", task="classification")
def ag_news(
    cfg,
    *,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """AG News (Zhang et al. 2015): 120,000 train, 7,600 test news articles, 4 classes.

    Files ``train.csv`` / ``test.csv`` (``"class","title","description"``, class
    1..4) and optionally ``classes.txt`` in ``ROOT/ag_news`` (or
    ``ROOT/ag_news_csv``). The text is title + description, with the release's
    backslash line breaks and ``#NN;`` entities undone.
    """
    folder, _ = _locate(cfg, "ag_news", ["ag_news", "ag_news_csv"], ["train.csv", "test.csv"],
                        _fetch_files("ag_news", _AG_URLS, "ag_news"))
    classes = ["World", "Sports", "Business", "Sci/Tech"]
    if (folder / "classes.txt").is_file():
        classes = _lines(folder / "classes.txt") or classes
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return text_bundle(cfg, name="ag_news", train=_read_ag_csv(folder / "train.csv", len(classes)),
                       test=_read_ag_csv(folder / "test.csv", len(classes)), classes=classes,
                       extra={"source": str(folder)}, **opts)


def _read_imdb(folder: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for label, sub in enumerate(("neg", "pos")):
        files = sorted((folder / sub).glob("*.txt"))
        if not files:
            raise DataError(f"dataset 'imdb': no reviews in {folder / sub} (expected {folder / sub}/*.txt)")
        for f in files:
            texts.append(read_text(f, "utf-8").strip())
            labels.append(label)
    return texts, labels


@register_dataset("imdb", task="classification")
def imdb(
    cfg,
    *,
    tokenizer: str = "basic_english",
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    min_len: int = 1,
    bucket: bool = False,
    vocab: Any = None,
) -> DataBundle:
    """IMDB movie reviews (Maas et al. 2011): 25,000 train, 25,000 test, binary sentiment.

    The ``aclImdb`` tree in ``ROOT``: ``aclImdb/{train,test}/{neg,pos}/*.txt``
    (``unsup`` is not used). ``max_len`` (e.g. 400) truncates long reviews.
    """
    root = cfg.root_path
    base = root / "aclImdb"
    needed = [base / s / c for s in ("train", "test") for c in ("neg", "pos")]
    if not all(p.is_dir() for p in needed) and cfg.download:
        _fetch_archive(_IMDB_URL, "", "imdb")(root)
    if not all(p.is_dir() for p in needed):
        raise missing_files("imdb", base, ["train/neg/", "train/pos/", "test/neg/", "test/pos/"],
                            how="set data.download=true to fetch aclImdb_v1.tar.gz")
    opts = dict(tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, max_len=max_len, min_len=min_len, bucket=bucket, vocab=vocab)
    return text_bundle(cfg, name="imdb", train=_read_imdb(base / "train"), test=_read_imdb(base / "test"),
                       classes=["negative", "positive"], extra={"source": str(base)}, **opts)


# ---------------------------------------------------------------------------------
# Language-model corpora
# ---------------------------------------------------------------------------------
def _split_fraction(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"data.{key} must be > 0 and < 1, got {value!r}")
    return float(value)


def _word_stream(text: str, tok: Tokenizer) -> list[str]:
    """Tokens of every line followed by ``<eos>`` (PyTorch's word_language_model)."""
    out: list[str] = []
    for line in text.splitlines():
        words = tok(line)
        if words:
            out.extend(words)
            out.append(EOS)
    return out


def _corpus_bundle(cfg, *, name: str, train_text: str, test_text: str, level: str, seq_len: int, tokenizer: str,
                   min_freq: int, max_size: int | None, vocab: Any, extra: dict[str, Any]) -> DataBundle:
    if level not in ("char", "word"):
        raise ConfigError(f"data.level must be 'char' or 'word', got {level!r}")
    voc = _load_vocab_option(vocab, cfg.root_path)
    if level == "char":
        tok = Tokenizer("char")
        if voc is None:
            # The alphabet of the whole corpus, as nanoGPT's shakespeare_char (no <unk> at test time).
            voc = Vocab.from_counts(Counter(train_text) + Counter(test_text), tokenizer=tok)
        train_ids = voc.lookup_indices(train_text)
        test_ids = voc.lookup_indices(test_text)
    else:
        tok = voc.tokenizer if voc is not None else Tokenizer(tokenizer)
        train_tokens, test_tokens = _word_stream(train_text, tok), _word_stream(test_text, tok)
        if voc is None:
            voc = Vocab.from_counts(Counter(train_tokens), tokenizer=tok, min_freq=min_freq, max_size=max_size)
        train_ids, test_ids = voc.lookup_indices(train_tokens), voc.lookup_indices(test_tokens)
    return lm_bundle(cfg, name=name, train_ids=torch.tensor(train_ids, dtype=torch.long),
                     test_ids=torch.tensor(test_ids, dtype=torch.long), vocab=voc, seq_len=seq_len,
                     chars=level == "char", extra={"level": level, **extra})


@register_dataset("tinyshakespeare", task="lm")
def tinyshakespeare(cfg, *, seq_len: int = 256, test_fraction: float = 0.1, vocab: Any = None) -> DataBundle:
    """Tiny Shakespeare (Karpathy 2015), character level: 1,115,394 characters, 65 distinct
    (vocabulary 69 with the four specials).

    File ``ROOT/tinyshakespeare/input.txt``. As nanoGPT's ``shakespeare_char``: the
    first 90% of the characters train, the last 10% (``test_fraction``) test.
    Batches are (B, ``seq_len``) windows; the engine reports bits per character.
    """
    folder, _ = _locate(cfg, "tinyshakespeare", ["tinyshakespeare", "tiny_shakespeare"], ["input.txt"],
                        _fetch_files("tinyshakespeare", {"input.txt": _SHAKESPEARE_URL}, "tinyshakespeare"))
    text = read_text(folder / "input.txt", "utf-8")
    cut = int(len(text) * (1 - _split_fraction(test_fraction, "test_fraction")))
    return _corpus_bundle(cfg, name="tinyshakespeare", train_text=text[:cut], test_text=text[cut:], level="char",
                          seq_len=seq_len, tokenizer="char", min_freq=1, max_size=None, vocab=vocab,
                          extra={"source": str(folder / "input.txt")})


@register_dataset("text_file", task="lm")
def text_file(
    cfg,
    *,
    path: str | None = None,
    test_path: str | None = None,
    level: str = "char",
    seq_len: int = 256,
    test_fraction: float = 0.1,
    tokenizer: str = "whitespace",
    min_freq: int = 1,
    max_size: int | None = None,
    vocab: Any = None,
) -> DataBundle:
    """Any plain-text corpus for language modelling, at ``char`` or ``word`` level.

    ``path`` (relative to the working directory or to ``data.root``) is the
    training text; ``test_path`` the test text, else its last ``test_fraction``.
    Word level splits each line with ``tokenizer`` and ends it with ``<eos>``
    (as PyTorch's word_language_model on WikiText/PTB); the vocabulary keeps
    words seen ``min_freq`` times, at most ``max_size``.
    """
    if path is None:
        raise ConfigError("dataset 'text_file' needs data.path=FILE (the training text) and optionally data.test_path")
    root = cfg.root_path
    train_file = resolve_path(path, root)
    test_file = resolve_path(test_path, root) if test_path else None
    for f in (train_file, test_file):
        if f is not None and not f.is_file():
            raise DataError(f"dataset 'text_file': file not found: {f} (data.path/data.test_path are relative to the "
                            f"working directory or to data.root={root})")
    text = read_text(train_file)
    if test_file is not None:
        train_text, test_text = text, read_text(test_file)
    else:
        cut = int(len(text) * (1 - _split_fraction(test_fraction, "test_fraction")))
        train_text, test_text = text[:cut], text[cut:]
    return _corpus_bundle(cfg, name="text_file", train_text=train_text, test_text=test_text, level=level, seq_len=seq_len,
                          tokenizer=tokenizer, min_freq=min_freq, max_size=max_size, vocab=vocab,
                          extra={"source": str(train_file)})
