"""Text datasets: tokenizer, vocabulary, padded batches, the original file formats."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from zoo.data import build_dataset
from zoo.data.text import PaddedTokens, Tokenizer, Vocab, WindowLoader, bucket_order
from zoo.engine.config import DataConfig
from zoo.errors import ConfigError, DataError

POS = ["a gripping , funny film .", "the best movie of the year !", "wonderful acting and a smart script", "i loved it",
       "charming , clever and warm", "a triumph", "beautifully shot", "great fun for everyone"]
NEG = ["a dull , lifeless mess .", "the worst film of the year", "boring and far too long", "i hated it",
       "clumsy , stupid and cold", "a disaster", "badly acted", "no fun at all"]


def cfg_for(name: str, root: Path | None = None, **kw) -> DataConfig:
    options = kw.pop("options", {})
    kw.setdefault("batch_size", 4)
    return DataConfig(name=name, root=str(root) if root else None, options=options, **kw)


def batches(loader):
    return [tuple(t.clone() for t in b) for b in loader]


def check_loader_interface(loader, epoch: int = 2) -> None:
    loader.set_epoch(epoch)
    full = batches(loader)
    assert len(full) == len(loader)
    assert [torch.equal(a[0], b[0]) for a, b in zip(full, batches(loader))] == [True] * len(full)
    loader.skip(1)
    tail = batches(loader)
    assert len(tail) == len(full) - 1
    for a, b in zip(full[1:], tail):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    shards = [loader.shard(r, 2) for r in range(2)]
    for s in shards:
        s.set_epoch(epoch)
    for g, p0, p1 in zip(full, batches(shards[0]), batches(shards[1])):
        for k in range(len(g)):
            if g[k].dim() == 2 and k == 0 and len(g) == 3:
                # Token batches are trimmed per shard: compare up to each shard's width.
                merged = torch.zeros_like(g[k])
                merged[: len(p0[k]), : p0[k].shape[1]] = p0[k]
                merged[len(p0[k]) :, : p1[k].shape[1]] = p1[k]
                assert torch.equal(merged, g[k])
            else:
                assert torch.equal(torch.cat([p0[k], p1[k]]), g[k])


# ---------------------------------------------------------------------------------
# Tokenizer and vocabulary
# ---------------------------------------------------------------------------------
def test_basic_english_matches_torchtext_rules():
    tok = Tokenizer("basic_english")
    assert tok("Hello, World! It's a (test).") == ["hello", ",", "world", "!", "it", "'", "s", "a", "(", "test", ")", "."]
    assert tok('She said "no"; then: left?<br />Bye') == ["she", "said", "no", "then", "left", "?", "bye"]
    assert tok("   ") == []


def test_kim_char_whitespace_tokenizers():
    assert Tokenizer("kim")("It's a GREAT film, isn't it?") == ["it", "'s", "a", "great", "film", ",", "is", "n't", "it", "?"]
    assert Tokenizer("char")("Ab c") == ["A", "b", " ", "c"]
    assert Tokenizer("whitespace")("To be  or") == ["To", "be", "or"]
    with pytest.raises(ConfigError, match="data.tokenizer"):
        Tokenizer("spacy")


def test_vocab_build_order_specials_min_freq_max_size():
    texts = ["b a a", "c a b", "d"]
    voc = Vocab.build(texts)
    assert voc.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (voc.pad_index, voc.unk_index, voc.bos_index, voc.eos_index) == (0, 1, 2, 3)
    assert voc.itos[4:] == ["a", "b", "c", "d"]  # by count, ties alphabetical
    assert Vocab.build(texts, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocab.build(texts, max_size=6).itos[4:] == ["a", "b"]
    assert voc["zzz"] == 1 and "a" in voc and len(voc) == 8
    with pytest.raises(ConfigError):
        Vocab.build(texts, min_freq=0)
    with pytest.raises(ConfigError):
        Vocab.build(texts, max_size=3)


def test_vocab_encode_decode_and_json_roundtrip(tmp_path):
    voc = Vocab.build(["the cat sat", "the dog"])
    ids = voc.encode("The cat flew!", bos=True, eos=True)
    assert ids[0] == 2 and ids[-1] == 3 and ids[3] == 1  # 'flew' unknown
    assert voc.decode(ids) == "the cat <unk> !".replace(" !", " <unk>")
    data = json.loads(json.dumps(voc.to_dict()))
    again = Vocab.from_dict(data)
    assert again == voc and again.encode("the dog") == voc.encode("the dog")
    voc.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == voc
    chars = Vocab.build(["hello"], tokenizer="char")
    assert chars.decode(chars.encode("hello")) == "hello"
    with pytest.raises(DataError):
        Vocab.from_dict({"tokens": ["a"]})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Vocab.load(tmp_path / "bad.json")


def test_padded_tokens_trims_to_longest_and_respects_min_len():
    flat = torch.tensor([5, 6, 7, 8, 9, 10])
    offsets, lengths, labels = torch.tensor([0, 3, 4]), torch.tensor([3, 1, 2]), torch.tensor([1, 0, 1])
    tokens, lens, labs = PaddedTokens(flat)((offsets, lengths, labels))
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]] and tokens.dtype == torch.long
    assert torch.equal(lens, lengths) and torch.equal(labs, labels)
    tokens, _, _ = PaddedTokens(flat, min_len=5)((offsets[1:], lengths[1:], labels[1:]))
    assert tokens.tolist() == [[8, 0, 0, 0, 0], [9, 10, 0, 0, 0]]


def test_bucket_order_groups_lengths():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=gen)
    order = bucket_order(lengths, batch_size=10, pool=20)
    p1 = order(torch.Generator().manual_seed(1))
    assert sorted(p1.tolist()) == list(range(1000))
    assert torch.equal(p1, order(torch.Generator().manual_seed(1)))
    assert not torch.equal(p1, order(torch.Generator().manual_seed(2)))
    spread = lengths[p1].view(100, 10)
    rand = lengths[torch.randperm(1000, generator=gen)].view(100, 10)
    waste = lambda b: (b.max(1).values.unsqueeze(1) - b).sum()  # noqa: E731
    assert waste(spread) < waste(rand) / 5


# ---------------------------------------------------------------------------------
# Datasets in their original formats
# ---------------------------------------------------------------------------------
def write_mr(root: Path, folder: str = "rt-polarity", encoding: str = "latin-1") -> None:
    d = root / folder
    d.mkdir(parents=True)
    (d / "rt-polarity.pos").write_bytes(("\n".join(POS + ["une r\xe9ussite"]) + "\n").encode(encoding))
    (d / "rt-polarity.neg").write_bytes(("\n".join(NEG + ["un \xe9chec"]) + "\n").encode(encoding))


def test_mr_latin1_files_tokens_lengths_labels(tmp_path):
    write_mr(tmp_path)
    bundle = build_dataset(cfg_for("mr", tmp_path, options={"folds": 3, "fold": 1}))
    info = bundle.info
    assert info.task == "classification" and info.classes == ["negative", "positive"]
    assert info.model_kwargs == {"num_classes": 2, "vocab_size": len(info.vocab)}
    from zoo.data.text import read_text

    assert "une r\xe9ussite" in read_text(tmp_path / "rt-polarity" / "rt-polarity.pos")  # latin-1 fallback
    assert bundle.train.num_samples + bundle.test.num_samples == 18
    tokens, lengths, labels = next(iter(bundle.test))
    assert tokens.dtype == torch.long and tokens.shape == (len(labels), int(lengths.max()))
    for row, n in zip(tokens, lengths):
        assert (row[:n] != 0).all() and (row[n:] == 0).all()
    texts = {info.vocab.decode(r[:n]) for r, n in zip(tokens, lengths)}
    voc = info.vocab
    assert texts <= {voc.decode(voc.encode(t)) for t in POS + NEG + ["une r\xe9ussite", "un \xe9chec"]}
    check_loader_interface(bundle.train)
    meta = info.metadata()
    assert meta["vocab"]["tokens"] == info.vocab.itos and json.dumps(meta)


def test_mr_folds_partition_the_data(tmp_path):
    write_mr(tmp_path, folder="rt-polaritydata", encoding="utf-8")
    seen = []
    every_word = Vocab.build(POS + NEG + ["une r\xe9ussite", "un \xe9chec"]).to_dict()  # a vocabulary of every word, so decoding is exact
    for fold in range(3):
        b = build_dataset(cfg_for("mr", tmp_path, options={"folds": 3, "fold": fold, "vocab": every_word}))
        voc = b.info.vocab
        seen += [voc.decode(t[:n]) for tokens, lengths, _ in b.test for t, n in zip(tokens, lengths)]
        assert b.test.num_samples == 6
    assert len(seen) == 18 and len(set(seen)) == 18
    with pytest.raises(ConfigError, match="data.fold"):
        build_dataset(cfg_for("mr", tmp_path, options={"folds": 3, "fold": 3}))
    # Another split seed, another partition.
    a = build_dataset(cfg_for("mr", tmp_path, options={"folds": 3}))
    b = build_dataset(cfg_for("mr", tmp_path, split_seed=1, options={"folds": 3}))
    assert not torch.equal(a.test.tensors[2], b.test.tensors[2]) or not torch.equal(a.test.tensors[1], b.test.tensors[1])


def test_mr_val_split_and_bucket_and_vocab_option(tmp_path):
    write_mr(tmp_path)
    b = build_dataset(cfg_for("mr", tmp_path, val_split=0.25, options={"folds": 2, "bucket": True, "min_len": 5, "min_freq": 1}))
    assert b.val is not None and b.val.num_samples + b.train.num_samples == 9
    tokens, lengths, _ = next(iter(b.train))
    assert tokens.shape[1] >= 5
    again = build_dataset(cfg_for("mr", tmp_path, options={"folds": 2, "vocab": b.info.vocab.to_dict()}))
    assert again.info.vocab == b.info.vocab
    b.info.vocab.save(tmp_path / "vocab.json")
    from_file = build_dataset(cfg_for("mr", tmp_path, options={"folds": 2, "vocab": "vocab.json"}))
    assert from_file.info.vocab == b.info.vocab


def test_subj_both_file_namings(tmp_path):
    d = tmp_path / "subj"
    d.mkdir()
    (d / "quote.tok.gt9.5000").write_text("\n".join(POS) + "\n")
    (d / "plot.tok.gt9.5000").write_text("\n".join(NEG) + "\n")
    b = build_dataset(cfg_for("subj", tmp_path, options={"folds": 4}))
    assert b.info.classes == ["subjective", "objective"] and b.test.num_samples == 4
    (d / "subj.subjective").write_text("\n".join(POS) + "\n")
    (d / "subj.objective").write_text("\n".join(NEG[:4]) + "\n")
    b = build_dataset(cfg_for("subj", tmp_path, options={"folds": 4}))
    assert b.train.num_samples + b.test.num_samples == 12


TREC_TRAIN = [
    "DESC:manner How did serfdom develop in and then leave Russia ?",
    "ENTY:cremat What films featured the character Popeye Doyle ?",
    "HUM:ind Who killed Gandhi ?",
    "LOC:city What is the capital of Yugoslavia ?",
    "NUM:date When was Ozzy Osbourne born ?",
    "ABBR:exp What does the abbreviation AIDS stand for ?",
    "HUM:gr What team did baseball 's St. Louis Browns become ?",
    "LOC:other Where is the sister\xf0city of Tokyo ?",
]
TREC_TEST = ["NUM:dist How far is it from Denver to Aspen ?", "LOC:city What county is Modesto , California in ?",
             "HUM:ind Who was Galileo ?"]


def write_trec(root: Path) -> None:
    d = root / "trec"
    d.mkdir()
    (d / "train_5500.label").write_bytes(("\n".join(TREC_TRAIN) + "\n").encode("latin-1"))
    (d / "TREC_10.label").write_bytes(("\n".join(TREC_TEST) + "\n").encode("latin-1"))


def test_trec_coarse_and_fine(tmp_path):
    write_trec(tmp_path)
    b = build_dataset(cfg_for("trec", tmp_path))
    assert b.info.classes == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert b.train.num_samples == 8 and b.test.num_samples == 3
    assert b.test.tensors[2].tolist() == [5, 4, 3]
    assert "sister\xf0city" in b.info.vocab
    fine = build_dataset(cfg_for("trec", tmp_path, options={"fine": True}))
    assert "HUM:ind" in fine.info.classes and fine.info.num_classes == 9  # 8 fine labels in train, NUM:dist in test


def test_trec_malformed_line_names_file_and_line(tmp_path):
    write_trec(tmp_path)
    path = tmp_path / "trec" / "TREC_10.label"
    path.write_text("HUM:ind Who was Galileo ?\nthis line has no label\n")
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("trec", tmp_path))
    assert f"{path}:2" in str(info.value) and "\n" not in str(info.value)


def write_sst2(root: Path, folder: str = "SST-2") -> None:
    d = root / folder
    d.mkdir()
    rows = [f"{t} \t1" for t in POS] + [f"{t} \t0" for t in NEG]
    (d / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    (d / "dev.tsv").write_text("sentence\tlabel\n" + "it 's a charming journey . \t1\nflat , dull . \t0\n")
    (d / "test.tsv").write_text("index\tsentence\n0\tunlabelled .\n")


def test_sst2_glue_tsv(tmp_path):
    write_sst2(tmp_path)
    b = build_dataset(cfg_for("sst2", tmp_path))
    assert b.train.num_samples == 16 and b.test.num_samples == 2
    assert b.test.tensors[2].tolist() == [1, 0]
    voc = b.info.vocab
    tokens, lengths, _ = next(iter(b.test))
    assert voc.decode(tokens[1][: lengths[1]]) == "<unk> , dull ."


def test_sst2_bad_label(tmp_path):
    write_sst2(tmp_path, folder="sst2")
    (tmp_path / "sst2" / "dev.tsv").write_text("sentence\tlabel\ngood . \t7\n")
    with pytest.raises(DataError, match="dev.tsv:2"):
        build_dataset(cfg_for("sst2", tmp_path))


def test_ag_news_csv_with_classes(tmp_path):
    d = tmp_path / "ag_news"
    d.mkdir()
    rows = ['"3","Wall St. Bears Claw Back","Reuters - Short-sellers, Wall Street\'s dwindling\\band of ultra-cynics."',
            '"4","Space race","A second\\team competing for the  #36;10 million prize"',
            '"2","Cup final","Goals, goals, goals"', '"1","Summit","Leaders meet, agree"']
    (d / "train.csv").write_text("\n".join(rows) + "\n")
    (d / "test.csv").write_text("\n".join(rows[:2]) + "\n")
    (d / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n")
    b = build_dataset(cfg_for("ag_news", tmp_path))
    assert b.info.classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert b.test.tensors[2].tolist() == [2, 3]
    voc = b.info.vocab
    assert "$10" in voc and "band" in voc and "team" in voc and "\\" not in "".join(voc.itos)
    (d / "test.csv").write_text('"9","x","y"\n')
    with pytest.raises(DataError, match="test.csv:1"):
        build_dataset(cfg_for("ag_news", tmp_path))


def test_imdb_acl_tree(tmp_path):
    for split in ("train", "test"):
        for label, texts in (("pos", POS[:3]), ("neg", NEG[:3])):
            d = tmp_path / "aclImdb" / split / label
            d.mkdir(parents=True)
            for i, t in enumerate(texts):
                (d / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(t + "<br /><br />More words here.")
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()
    b = build_dataset(cfg_for("imdb", tmp_path, options={"max_len": 6}))
    assert b.train.num_samples == 6 and b.test.num_samples == 6
    assert b.test.tensors[2].tolist() == [0, 0, 0, 1, 1, 1]
    assert int(b.test.tensors[1].max()) == 6
    assert "<br" not in " ".join(b.info.vocab.itos)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mr", ["rt-polarity.pos", "rt-polarity.neg", "rt-polarity"]),
        ("subj", ["subj.subjective", "subj.objective"]),
        ("trec", ["train_5500.label", "TREC_10.label"]),
        ("sst2", ["train.tsv", "dev.tsv"]),
        ("ag_news", ["train.csv", "test.csv"]),
        ("imdb", ["aclImdb", "train/neg/"]),
        ("tinyshakespeare", ["input.txt", "tinyshakespeare"]),
    ],
)
def test_missing_files_offline_is_one_line(tmp_path, name, expected):
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for(name, tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and f"'{name}'" in msg and str(tmp_path) in msg and "data.download=true" in msg
    for word in expected:
        assert word in msg


# ---------------------------------------------------------------------------------
# Downloads (urlopen faked: no network)
# ---------------------------------------------------------------------------------
class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_files_and_archives(tmp_path, monkeypatch):
    mr_tar = io.BytesIO()
    with tarfile.open(fileobj=mr_tar, mode="w:gz") as tf:
        for name, lines in (("rt-polarity.pos", POS), ("rt-polarity.neg", NEG)):
            data = ("\n".join(lines) + "\n").encode("latin-1")
            member = tarfile.TarInfo(f"rt-polaritydata/{name}")
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
    served = {
        "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz": mr_tar.getvalue(),
        "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label": ("\n".join(TREC_TRAIN) + "\n").encode("latin-1"),
        "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label": ("\n".join(TREC_TEST) + "\n").encode("latin-1"),
    }
    requested = []

    def fake_urlopen(request, timeout=None):
        url = request.full_url if hasattr(request, "full_url") else request
        requested.append(url)
        if url not in served:
            raise urllib.error.URLError("no route")
        return _FakeResponse(served[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    b = build_dataset(cfg_for("mr", tmp_path, download=True, options={"folds": 4}))
    assert b.train.num_samples + b.test.num_samples == 16
    assert (tmp_path / "rt-polaritydata" / "rt-polarity.pos").is_file()
    assert not (tmp_path / "rt-polaritydata.tar.gz").exists()
    t = build_dataset(cfg_for("trec", tmp_path, download=True))
    assert t.train.num_samples == 8 and (tmp_path / "trec" / "TREC_10.label").is_file()
    # Offline: one clear line, no partial file left behind.
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("tinyshakespeare", tmp_path, download=True))
    msg = str(info.value)
    assert "\n" not in msg and "download of https://" in msg and "no route" in msg
    assert not list((tmp_path / "tinyshakespeare").glob("*"))
    # Nothing is fetched without data.download.
    requested.clear()
    with pytest.raises(DataError):
        build_dataset(cfg_for("sst2", tmp_path))
    assert requested == []


# ---------------------------------------------------------------------------------
# Language modelling
# ---------------------------------------------------------------------------------
SHAKESPEARE = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def test_tinyshakespeare_char_windows(tmp_path):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(SHAKESPEARE)
    b = build_dataset(cfg_for("tinyshakespeare", tmp_path, batch_size=3, options={"seq_len": 16}))
    info = b.info
    assert info.task == "lm" and info.extra["chars"] is True
    assert info.model_kwargs == {"vocab_size": len(info.vocab), "task": "lm"}
    assert len(info.vocab) == 4 + len(set(SHAKESPEARE))
    n = len(SHAKESPEARE)
    cut = int(n * 0.9)
    assert info.extra["train_tokens"] == cut
    x, y = next(iter(b.test))
    assert x.shape == (3, 16) and y.shape == (3, 16) and x.dtype == torch.long
    assert info.vocab.decode(x[0]) == SHAKESPEARE[cut : cut + 16]
    assert info.vocab.decode(y[0]) == SHAKESPEARE[cut + 1 : cut + 17]
    assert torch.equal(x[1], torch.tensor(info.vocab.lookup_indices(SHAKESPEARE[cut + 16 : cut + 32])))
    # Training windows: shifted by one, from the training text, new phase and order per epoch.
    train_text = SHAKESPEARE[:cut]
    b.train.set_epoch(0)
    starts0 = []
    for x, y in b.train:
        for row_x, row_y in zip(x, y):
            s = info.vocab.decode(row_x)
            assert s in train_text and info.vocab.decode(row_y)[:-1] == s[1:]
            starts0.append(s)
    b.train.set_epoch(1)
    starts1 = [info.vocab.decode(r) for x, _ in b.train for r in x]
    assert starts0 != starts1 and len(starts0) == len(starts1) == b.train.num_samples
    check_loader_interface(b.train)
    check_loader_interface(b.test)


def test_text_file_word_level_with_test_file(tmp_path):
    (tmp_path / "train.txt").write_text("the cat sat on the mat\nthe dog sat\n" * 10)
    (tmp_path / "test.txt").write_text("the cat ran\n" * 5)
    b = build_dataset(cfg_for("text_file", tmp_path, options={"path": "train.txt", "test_path": "test.txt",
                                                                "level": "word", "seq_len": 4}))
    voc = b.info.vocab
    assert b.info.extra["chars"] is False and voc.itos[4] == "the"
    x, y = next(iter(b.test))
    assert voc.decode(x[0], skip_specials=False) == "the cat <unk> <eos>"
    assert voc.decode(y[0], skip_specials=False) == "cat <unk> <eos> the"
    c = build_dataset(cfg_for("text_file", options={"path": str(tmp_path / "train.txt"), "seq_len": 8}))
    assert c.info.extra["chars"] is True


def test_text_file_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        build_dataset(cfg_for("text_file", tmp_path))
    with pytest.raises(DataError, match="not found"):
        build_dataset(cfg_for("text_file", tmp_path, options={"path": "nope.txt"}))
    (tmp_path / "tiny.txt").write_text("abc")
    with pytest.raises(DataError, match="seq_len"):
        build_dataset(cfg_for("text_file", tmp_path, options={"path": "tiny.txt", "seq_len": 64}))
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="bin.txt"):
        build_dataset(cfg_for("text_file", tmp_path, options={"path": "bin.txt"}))
    with pytest.raises(ConfigError, match="data.level"):
        build_dataset(cfg_for("text_file", tmp_path, options={"path": "tiny.txt", "level": "byte"}))


def test_window_loader_eval_covers_stream_in_order():
    data = torch.arange(50)
    loader = WindowLoader(data, seq_len=7, batch_size=3)
    xs = torch.cat([x for x, _ in loader])
    assert len(loader) == 3 and xs.shape == (7, 7)
    assert torch.equal(xs.flatten(), torch.arange(49))
