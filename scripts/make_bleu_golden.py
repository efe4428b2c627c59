#!/usr/bin/env python3
"""Writes the golden fixtures of tests/train/test_bleu.cpp: corpus BLEU,
sentence BLEU and chrF of a few small sentence sets as sacreBLEU computes
them, so that CI needs no Python. To change the sets, edit SETS below and rerun:

    python3 -m venv /tmp/sbvenv && /tmp/sbvenv/bin/pip install sacrebleu==2.6.0
    /tmp/sbvenv/bin/python scripts/make_bleu_golden.py

The version is pinned: train/metrics/bleu.h names the sacreBLEU release whose numbers
attn reproduces (kSacrebleuVersion), and the script refuses any other.

Each set becomes tests/golden/bleu/<set>.txt, one record per line, the first
word naming it:

    set <name>
    bleu_signature <sig>              corpus_bleu's, then sentence_bleu's and
    sentence_bleu_signature <sig>     chrF's sacreBLEU signatures
    chrf_signature <sig>
    pair <i>                          then, for each sentence pair:
    hyp <text>                        the hypothesis and the reference
    ref <text>
    hyp_13a <text>                    both as sacreBLEU's 13a tokenizer cuts them
    ref_13a <text>                    (BLEU strips trailing whitespace first)
    sentence_bleu score <s> bp <b> hyp_len <c> ref_len <r>
        counts <4 ints> totals <4 ints> precisions <4 floats>     (one line)
    sentence_bleu_str <sacreBLEU's printed line>
    sentence_chrf <score>
    corpus_bleu <as sentence_bleu>    and after the last pair, the corpus:
    corpus_bleu_str <line>
    corpus_chrf <score>
    corpus_chrf_str <line>

Floats are Python's repr, which reads back to the same double. Text is
escaped so that each value sits on one line and no line ends in a space:
a backslash as \\\\, newline, carriage return and tab as \\n \\r \\t, any other
control character as \\xHH, and a space at either end of the text as \\x20.
Everything else (accents, no-break spaces) is written as UTF-8.
"""

import os

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

VERSION = "2.6.0"
if sacrebleu.__version__ != VERSION:
    raise SystemExit(f"sacreBLEU {sacrebleu.__version__} found; the fixtures pin {VERSION}")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "bleu"))

# (hypothesis, reference) pairs, written by hand.
SETS = {
    # Translations of news-like sentences, from near-perfect to loose
    # paraphrase, with punctuation, numbers, quotes and hyphens.
    "english": [
        ("The cat sat on the mat.", "The cat sat on the mat."),
        ("The cat is sitting on the mat.", "The cat sat on the mat."),
        ("A dog barked loudly at the postman.", "The dog barked at the mailman loudly."),
        ("The government announced new measures on Tuesday.",
         "On Tuesday, the government announced new measures."),
        ("Prices rose by 3.5% in 2023, the highest rate in a decade.",
         "Prices rose 3.5% in 2023, the highest rate for ten years."),
        ("He paid $1,000.50 for the old car.", "He paid $1,000.50 for the used car."),
        ("\"I don't know,\" she said.", "\"I do not know,\" she said."),
        ("The meeting is scheduled for 10:30 a.m. tomorrow.",
         "The meeting will take place tomorrow at 10:30 a.m."),
        ("Scientists discovered a new species of frog in the rainforest.",
         "A new frog species was discovered by scientists in the rainforest."),
        ("The well-known author published her fifth novel.",
         "The famous writer released her fifth novel."),
        ("Between 1990-1995 the population doubled.",
         "From 1990 to 1995, the population doubled."),
        ("Please send the report by e-mail (PDF only).",
         "Please e-mail the report (PDF only)."),
        ("The team won 3-2 after extra time!", "The team won 3-2 in extra time!"),
        ("What time does the train leave?", "When does the train depart?"),
        ("Water boils at 100 degrees Celsius.", "Water boils at 100 degrees Celsius."),
        ("The museum will be closed on Monday and Tuesday.",
         "The museum is closed on Mondays and Tuesdays."),
        ("They built a bridge across the river in only six months.",
         "In just six months they built a bridge over the river."),
        ("Rain is expected later this week.", "Heavy rain is forecast for the end of the week."),
        ("My brother lives in New York; my sister lives in Boston.",
         "My brother lives in New York and my sister in Boston."),
        ("Tom & Jerry is a cartoon.", "Tom &amp; Jerry is a cartoon series."),
    ],
    # Accented text: characters are code points, not bytes, for chrF; French
    # typography puts a (narrow) no-break space before ! ? : ; and inside « ».
    "accented": [
        ("Die Häuser sind sehr schön.", "Die Häuser sind wirklich schön."),
        ("Ich möchte einen Kaffee, bitte.", "Einen Kaffee, bitte."),
        ("Der Straßenbahnfahrer grüßte die Fahrgäste.",
         "Der Straßenbahnfahrer begrüßte die Fahrgäste."),
        ("Où est la gare ?", "Où se trouve la gare ?"),
        ("C'est très joli\u00a0!", "C'est vraiment très joli\u00a0!"),
        ("Il a dit\u202f: «\u00a0Bonjour\u00a0».", "Il a dit : « Bonjour »."),
        ("L'élève a réussi l'examen à la première tentative.",
         "L'élève a réussi son examen du premier coup."),
        ("Ça coûte 12,50\u00a0€.", "Cela coûte 12,50 €."),
        ("Über den Wolken muss die Freiheit wohl grenzenlos sein.",
         "Über den Wolken muss die Freiheit grenzenlos sein."),
        ("naïve café façade", "naive cafe facade"),
    ],
    # Short sentences: no 4-gram matches anywhere, so the corpus score needs
    # 'exp' smoothing, and sentence BLEU needs effective order.
    "short": [
        ("Hello.", "Hello!"),
        ("Thank you very much.", "Thanks a lot."),
        ("Good morning", "Good morning"),
        ("Yes", "No"),
        ("See you soon.", "See you later."),
        ("It is raining.", "It rains."),
    ],
    # The tokenizer's corners and the empty cases.
    "edge": [
        ("", "The reference is not empty."),
        ("The hypothesis is not empty.", ""),
        ("", ""),
        ("   ", "  \t "),
        ("the the the the the the the", "the cat is on the mat"),
        ("Fish &amp; chips &quot;to go&quot; &lt;b&gt;", "Fish & chips \"to go\" <b>"),
        ("&amp;lt;tag&amp;gt;", "<tag>"),
        ("a <skipped> sentence", "a sentence"),
        ("an e-\nmail arrived\nyesterday", "an email arrived yesterday"),
        ("it ends with a hyphen-\n", "it ends with a hyphen-"),
        ("1,000.5 or 1.000,5 or .5 or 5. or 5,", "1,000.5 or 1.000,5 or 0.5 or 5 or 5"),
        ("U.S.A. vs. U.K.... ok", "USA vs. UK ... ok"),
        ("path/to/file_name.txt [x] {y} ~z^ `q` |p| @home #tag",
         "path/to/file_name.txt [x] {y} ~z^ `q` |p| @home #tag"),
        ("tabs\tand\u3000ideographic\u2028line sep", "tabs and ideographic line sep"),
        ("zero\u200bwidth space\ufeff", "zero width space"),
        ("back\\slash and 'quotes'", "back\\slash and \"quotes\""),
    ],
}


def escape(text):
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02X" % ord(ch))
        elif ch == " " and (i == 0 or i == len(text) - 1):
            out.append("\\x20")
        else:
            out.append(ch)
    return "".join(out)


def record(key, value=""):
    return f"{key} {value}" if value != "" else key


def bleu_line(key, score):
    fields = [
        "score", repr(score.score), "bp", repr(score.bp),
        "hyp_len", str(score.sys_len), "ref_len", str(score.ref_len),
        "counts", *[str(int(c)) for c in score.counts],
        "totals", *[str(int(t)) for t in score.totals],
        "precisions", *[repr(float(p)) for p in score.precisions],
    ]
    return record(key, " ".join(fields))


def write_set(name, pairs):
    hyps = [h for h, _ in pairs]
    refs = [r for _, r in pairs]
    corpus_metric = BLEU()  # sacreBLEU's corpus_bleu defaults
    sentence_metric = BLEU(effective_order=True)  # sacreBLEU's sentence_bleu defaults
    chrf_metric = CHRF()
    tokenizer = corpus_metric.tokenizer

    corpus = corpus_metric.corpus_score(hyps, [refs])
    corpus_chrf = chrf_metric.corpus_score(hyps, [refs])
    # Both functions of compat.py build exactly these metrics.
    assert corpus.score == sacrebleu.corpus_bleu(hyps, [refs]).score
    assert corpus_chrf.score == sacrebleu.corpus_chrf(hyps, [refs]).score

    lines = [
        f"# Written by scripts/make_bleu_golden.py with sacreBLEU {VERSION}; do not edit.",
        record("set", name),
        record("bleu_signature", str(corpus_metric.get_signature())),
    ]
    sentence_lines = []
    for i, (hyp, ref) in enumerate(pairs):
        sentence = sentence_metric.sentence_score(hyp, [ref])
        assert sentence.score == sacrebleu.sentence_bleu(hyp, [ref]).score
        chrf = chrf_metric.sentence_score(hyp, [ref])
        assert chrf.score == sacrebleu.sentence_chrf(hyp, [ref]).score
        sentence_lines += [
            record("pair", str(i)),
            record("hyp", escape(hyp)),
            record("ref", escape(ref)),
            record("hyp_13a", escape(tokenizer(hyp))),
            record("ref_13a", escape(tokenizer(ref))),
            bleu_line("sentence_bleu", sentence),
            record("sentence_bleu_str", str(sentence)),
            record("sentence_chrf", repr(chrf.score)),
        ]
    lines += [
        record("sentence_bleu_signature", str(sentence_metric.get_signature())),
        record("chrf_signature", str(chrf_metric.get_signature())),
    ]
    lines += sentence_lines
    lines += [
        bleu_line("corpus_bleu", corpus),
        record("corpus_bleu_str", str(corpus)),
        record("corpus_chrf", repr(corpus_chrf.score)),
        record("corpus_chrf_str", str(corpus_chrf)),
    ]
    path = os.path.join(OUT_DIR, name + ".txt")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: {corpus}  {corpus_chrf}")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, pairs in SETS.items():
        write_set(name, pairs)


if __name__ == "__main__":
    main()
