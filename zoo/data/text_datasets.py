"""The text datasets: sentence classification (``mr``, ``subj``, ``trec``, ``sst2``,
``ag_news``, ``imdb``) and language-modelling corpora (``tinyshakespeare``,
``text_file``), each read from its original files under ``data.root`` and built
with the tokenizer, vocabulary and loaders of :mod:`zoo.data.text`.
"""

from __future__ import annotations

import csv
import functools
import html
import inspect
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError
from .core import DataBundle, download_url, extract_archive, missing_files, resolve_path
from .registry import register_dataset
from .text import EOS, Tokenizer, Vocab, lm_bundle, load_vocab_option, positive_int, read_text, text_bundle

# What a sentence reader returns: (texts, labels) to train on and to test on, the
# class names, and the dataset's extra facts.
_Split = tuple[list[str], list[int]]
_Sentences = tuple[_Split, _Split, list[str], dict[str, Any]]

__all__ = ["mr", "subj", "trec", "sst2", "ag_news", "imdb", "tinyshakespeare", "text_file"]


# ---------------------------------------------------------------------------------
# Finding and reading the files
# ---------------------------------------------------------------------------------
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
    folds = positive_int(folds, "folds", minimum=2)
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


def _cross_validation(texts: list[str], labels: list[int], classes: list[str], folds: Any, fold: Any, seed: int,
                      source: Path) -> _Sentences:
    folds, fold = _check_folds(folds, fold)
    train_idx, test_idx = _fold_split(len(labels), folds, fold, seed)
    return (([texts[i] for i in train_idx], [labels[i] for i in train_idx]),
            ([texts[i] for i in test_idx], [labels[i] for i in test_idx]),
            classes, {"source": str(source), "folds": folds, "fold": fold})


# text_bundle's tokenizing options (tokenizer, min_freq, max_size, max_len, min_len, bucket, vocab).
_TEXT_OPTIONS = [p for p in inspect.signature(text_bundle).parameters.values()
                 if p.kind is p.KEYWORD_ONLY and p.name not in ("name", "train", "test", "classes", "extra")]


def _sentence_dataset(name: str) -> Callable[[Callable[..., _Sentences]], Callable[..., DataBundle]]:
    """Register a reader of labelled sentences as the classification dataset ``name``.

    The reader takes ``cfg`` and its own keyword options and returns ``(train, test,
    classes, extra)``. The registered builder takes text_bundle's tokenizing options
    besides: they are declared once, and its signature lists them all, so the
    ``data.<key>`` check and ``zoo datasets`` see every option.
    """

    def decorator(read: Callable[..., _Sentences]) -> Callable[..., DataBundle]:
        own = inspect.signature(read)

        @functools.wraps(read)
        def builder(cfg, **options: Any) -> DataBundle:
            mine = {k: options.pop(k) for k in list(options) if k in own.parameters}
            train, test, classes, extra = read(cfg, **mine)
            return text_bundle(cfg, name=name, train=train, test=test, classes=classes, extra=extra, **options)

        builder.__signature__ = own.replace(parameters=[*own.parameters.values(), *_TEXT_OPTIONS],  # type: ignore[attr-defined]
                                            return_annotation=DataBundle)
        return register_dataset(name, task="classification")(builder)

    return decorator


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


@_sentence_dataset("mr")
def mr(cfg, *, folds: int = 10, fold: int = 0) -> _Sentences:
    """MR sentence polarity (Pang & Lee 2005): 5,331 positive + 5,331 negative review snippets.

    Files ``rt-polarity.pos`` / ``rt-polarity.neg`` in ``ROOT/rt-polarity`` (or
    ``ROOT/rt-polaritydata``, as the Cornell tarball unpacks). No official
    split: as Kim (2014), ``folds``-fold cross-validation over a seeded
    partition (``data.split_seed``), fold ``fold`` is the test set.
    """
    folder, files = _locate(cfg, "mr", ["rt-polarity", "rt-polaritydata", "MR"], ["rt-polarity.pos", "rt-polarity.neg"],
                            _fetch_archive(_MR_URL, "", "mr"))
    neg, pos = _lines(folder / "rt-polarity.neg"), _lines(folder / "rt-polarity.pos")
    return _cross_validation(neg + pos, [0] * len(neg) + [1] * len(pos), ["negative", "positive"], folds, fold,
                             cfg.split_seed, folder)


@_sentence_dataset("subj")
def subj(cfg, *, folds: int = 10, fold: int = 0) -> _Sentences:
    """SUBJ subjectivity (Pang & Lee 2004): 5,000 subjective + 5,000 objective sentences.

    Files ``subj.subjective`` / ``subj.objective`` (SentEval names) or Cornell's
    ``quote.tok.gt9.5000`` / ``plot.tok.gt9.5000`` in ``ROOT/subj``. Labels as
    SentEval: 0 subjective, 1 objective. ``folds``-fold cross-validation as ``mr``.
    """
    folder, files = _locate(cfg, "subj", ["subj", "SUBJ", "rotten_imdb"], ["subj.subjective", "subj.objective"],
                            _fetch_archive(_SUBJ_URL, "subj", "subj"),
                            alternatives=[["quote.tok.gt9.5000", "plot.tok.gt9.5000"]])
    subjective, objective = _lines(folder / files[0]), _lines(folder / files[1])
    return _cross_validation(subjective + objective, [0] * len(subjective) + [1] * len(objective),
                             ["subjective", "objective"], folds, fold, cfg.split_seed, folder)


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


@_sentence_dataset("trec")
def trec(cfg, *, fine: bool = False) -> _Sentences:
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
    return (([r[2] for r in train_rows], [index[r[col]] for r in train_rows]),
            ([r[2] for r in test_rows], [index[r[col]] for r in test_rows]),
            classes, {"source": str(folder), "fine": fine})


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


@_sentence_dataset("sst2")
def sst2(cfg) -> _Sentences:
    """SST-2 binary sentiment, GLUE version (Socher et al. 2013): 67,349 train, 872 dev.

    Files ``train.tsv`` and ``dev.tsv`` (``sentence<TAB>label``) in ``ROOT/sst2``
    (or ``ROOT/SST-2`` as GLUE's zip unpacks). GLUE's test labels are hidden, so
    the dev set is the test split here.
    """
    folder, _ = _locate(cfg, "sst2", ["sst2", "SST-2"], ["train.tsv", "dev.tsv"], _fetch_archive(_SST2_URL, "", "sst2"))
    return (_read_glue_tsv(folder / "train.tsv"), _read_glue_tsv(folder / "dev.tsv"), ["negative", "positive"],
            {"source": str(folder)})


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


@_sentence_dataset("ag_news")
def ag_news(cfg) -> _Sentences:
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
    return (_read_ag_csv(folder / "train.csv", len(classes)), _read_ag_csv(folder / "test.csv", len(classes)),
            classes, {"source": str(folder)})


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


@_sentence_dataset("imdb")
def imdb(cfg) -> _Sentences:
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
    return _read_imdb(base / "train"), _read_imdb(base / "test"), ["negative", "positive"], {"source": str(base)}


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
    voc = load_vocab_option(vocab, cfg.root_path)
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
