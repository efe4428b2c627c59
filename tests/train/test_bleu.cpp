// BLEU, its 13a tokenizer and chrF: cases worked out by hand, then fixtures
// written by sacreBLEU itself.
//
// scripts/make_bleu_golden.py ran sacreBLEU 2.6.0 on a few small sentence
// sets and wrote tests/golden/bleu/<set>.txt: each pair with its 13a tokens,
// sentence BLEU and chrF, and the corpus scores. attn must print the same
// lines and agree on every count and, to 1e-9 relative, on every score. No
// Python is needed to run this test; to change the sets, edit the script and
// rerun it (its docstring says how, and gives the file format).
#include <gtest/gtest.h>

#include <attn/attn.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "train/metrics/bleu.h"
#include "train/metrics/chrf.h"

namespace {

using attn::metrics::BleuScore;
using attn::metrics::corpus_bleu;
using attn::metrics::corpus_chrf;
using attn::metrics::sentence_bleu;
using attn::metrics::sentence_chrf;
using attn::metrics::tokenize_13a;

// --- by hand -------------------------------------------------------------------

TEST(Bleu, PerfectMatchIs100) {
  std::vector<std::string> text = {"The cat sat on the mat.", "It was a sunny day, wasn't it?"};
  BleuScore bleu = corpus_bleu(text, text);
  // exp(mean of log 100) is 100 up to rounding (sacreBLEU gets 100.00000000000004).
  EXPECT_NEAR(bleu.score, 100.0, 1e-12);
  EXPECT_EQ(bleu.brevity_penalty, 1.0);
  EXPECT_EQ(bleu.counts, bleu.totals);
  EXPECT_NEAR(sentence_bleu(text[0], text[0]).score, 100.0, 1e-12);
  EXPECT_EQ(corpus_chrf(text, text).score, 100.0);
}

TEST(Bleu, NoOverlapIsZero) {
  BleuScore bleu = corpus_bleu({"alpha beta gamma delta"}, {"one two three four"});
  EXPECT_EQ(bleu.score, 0.0);
  EXPECT_EQ(bleu.counts, (std::array<int64_t, 4>{0, 0, 0, 0}));
  EXPECT_EQ(bleu.totals, (std::array<int64_t, 4>{4, 3, 2, 1}));
  EXPECT_EQ(sentence_bleu("alpha beta", "one two").score, 0.0);
  EXPECT_EQ(sentence_chrf("abc", "xyz").score, 0.0);
}

TEST(Bleu, PrecisionsWorkedByHand) {
  // hyp "the cat sat on a mat" against ref "the cat sat on the mat", 6 tokens each:
  //   1-grams 5/6 (not "a"), 2-grams 3/5 (the cat, cat sat, sat on),
  //   3-grams 2/4, 4-grams 1/3 (the cat sat on); BP = 1.
  //   BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3)^(1/4) = 100 * (1/12)^(1/4) = 53.728...
  BleuScore bleu = corpus_bleu({"the cat sat on a mat"}, {"the cat sat on the mat"});
  EXPECT_EQ(bleu.counts, (std::array<int64_t, 4>{5, 3, 2, 1}));
  EXPECT_EQ(bleu.totals, (std::array<int64_t, 4>{6, 5, 4, 3}));
  EXPECT_NEAR(bleu.score, 100.0 * std::pow(1.0 / 12.0, 0.25), 1e-10);
  EXPECT_NEAR(bleu.precisions[0], 100.0 * 5 / 6, 1e-12);
}

TEST(Bleu, BrevityPenaltyWorkedByHand) {
  // Every hypothesis n-gram is in the reference, so all precisions are 1 and
  // BLEU is the brevity penalty alone: c = 6 tokens, r = 8,
  //   BP = exp(1 - r / c) = exp(1 - 8/6) = exp(-1/3) = 0.716531...
  BleuScore bleu = corpus_bleu({"the cat sat on the mat"}, {"the cat sat on the mat all day"});
  EXPECT_EQ(bleu.hypothesis_length, 6);
  EXPECT_EQ(bleu.reference_length, 8);
  EXPECT_NEAR(bleu.brevity_penalty, std::exp(-1.0 / 3.0), 1e-15);
  EXPECT_NEAR(bleu.score, 100.0 * std::exp(-1.0 / 3.0), 1e-10);
  // A longer hypothesis is not rewarded: BP stays 1 and precision pays instead.
  EXPECT_EQ(corpus_bleu({"the cat sat on the mat all day"}, {"the cat sat on the mat"})
                .brevity_penalty,
            1.0);
}

TEST(Bleu, ExpSmoothingAndEffectiveOrder) {
  // hyp "the cat sat" against ref "the cat ran": 1-grams 2/3, 2-grams 1/2,
  // 3-grams 0/1, no 4-grams at all.
  //  - 'exp' smoothing gives the first order without a match 1/2 of a match:
  //    p_3 = 100 / (2 * 1) = 50.
  //  - corpus BLEU has no effective order: p_4 stays 0, log 0 makes it 0.
  //  - sentence BLEU averages over the 3 orders the hypothesis has:
  //    100 * (2/3 * 1/2 * 1/2)^(1/3) = 100 * (1/6)^(1/3) = 55.03...
  BleuScore corpus = corpus_bleu({"the cat sat"}, {"the cat ran"});
  EXPECT_EQ(corpus.score, 0.0);
  EXPECT_EQ(corpus.precisions[2], 50.0);
  EXPECT_EQ(corpus.precisions[3], 0.0);
  BleuScore sentence = sentence_bleu("the cat sat", "the cat ran");
  EXPECT_NEAR(sentence.score, 100.0 * std::cbrt(1.0 / 6.0), 1e-10);
  EXPECT_NE(sentence.signature.find("eff:yes"), std::string::npos);
  EXPECT_NE(corpus.signature.find("eff:no"), std::string::npos);
}

TEST(Bleu, ClipsRepeatedWords) {
  // "the" is in the reference once, so four of them match once: p_1 = 1/4.
  BleuScore bleu = corpus_bleu({"the the the the"}, {"the cat"});
  EXPECT_EQ(bleu.counts[0], 1);
  EXPECT_EQ(bleu.totals[0], 4);
}

TEST(Bleu, EmptyHypothesis) {
  BleuScore bleu = corpus_bleu({""}, {"a reference"});
  EXPECT_EQ(bleu.score, 0.0);
  EXPECT_EQ(bleu.brevity_penalty, 0.0);  // c = 0 < r
  EXPECT_EQ(bleu.hypothesis_length, 0);
  EXPECT_EQ(bleu.reference_length, 2);
  EXPECT_EQ(sentence_bleu("", "").score, 0.0);
  EXPECT_EQ(sentence_chrf("", "a reference").score, 0.0);
  EXPECT_EQ(corpus_bleu({}, {}).score, 0.0);
  EXPECT_EQ(corpus_chrf({}, {}).score, 0.0);
}

TEST(Bleu, MismatchedCountsThrow) {
  try {
    corpus_bleu({"a", "b", "c"}, {"a", "b"});
    FAIL() << "expected attn::Error";
  } catch (const attn::Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("corpus_bleu"), std::string::npos) << message;
    EXPECT_NE(message.find("3 hypotheses"), std::string::npos) << message;
    EXPECT_NE(message.find("2 references"), std::string::npos) << message;
  }
  EXPECT_THROW(corpus_chrf({"a"}, {}), attn::Error);
}

TEST(Bleu, InvalidUtf8Throws) {
  EXPECT_THROW(sentence_bleu("caf\xE9", "cafe"), attn::Error);  // Latin-1 é
  EXPECT_THROW(sentence_chrf("caf\xE9", "cafe"), attn::Error);
}

TEST(Bleu, StrAndSignatureAsSacrebleu) {
  // The figures sacreBLEU 2.6.0 prints for this pair.
  BleuScore bleu = corpus_bleu({"The cat sat."}, {"The cat sat on the mat."});
  EXPECT_EQ(bleu.str(),
            "BLEU = 30.18 100.0/66.7/50.0/50.0 (BP = 0.472 ratio = 0.571 hyp_len = 4 ref_len = 7)");
  EXPECT_EQ(bleu.signature, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
  attn::metrics::ChrfScore chrf = corpus_chrf({"The cat sat."}, {"The cat sat on the mat."});
  EXPECT_EQ(chrf.str(), "chrF2 = 49.26");
  EXPECT_EQ(chrf.signature, "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
}

TEST(Tokenize13a, Punctuation) {
  EXPECT_EQ(tokenize_13a("Hello, world!"), "Hello , world !");
  EXPECT_EQ(tokenize_13a("\"Yes,\" she said (twice)."), "\" Yes , \" she said ( twice ) .");
  EXPECT_EQ(tokenize_13a("U.S.A."), "U . S . A .");
  EXPECT_EQ(tokenize_13a("don't"), "don't");  // the apostrophe is not split
  EXPECT_EQ(tokenize_13a("  many   spaces\there  "), "many spaces here");
  EXPECT_EQ(tokenize_13a("café, très."), "café , très .");
}

TEST(Tokenize13a, Numbers) {
  // '.' and ',' between two digits stay; anywhere else they split.
  EXPECT_EQ(tokenize_13a("1,000.5"), "1,000.5");
  EXPECT_EQ(tokenize_13a("$1,000.50"), "$ 1,000.50");
  EXPECT_EQ(tokenize_13a("in 1990."), "in 1990 .");
  EXPECT_EQ(tokenize_13a(".5"), ". 5");  // the padding space counts as a non-digit
  EXPECT_EQ(tokenize_13a("3.5%"), "3.5 %");
}

TEST(Tokenize13a, Hyphens) {
  EXPECT_EQ(tokenize_13a("well-known"), "well-known");
  EXPECT_EQ(tokenize_13a("1990-1995"), "1990 - 1995");  // only after a digit
  EXPECT_EQ(tokenize_13a("e-\nmail"), "email");          // a line-break hyphen joins
  EXPECT_EQ(tokenize_13a("two\nlines"), "two lines");
}

TEST(Tokenize13a, EntitiesAndSkipped) {
  EXPECT_EQ(tokenize_13a("Tom &amp; Jerry"), "Tom & Jerry");
  EXPECT_EQ(tokenize_13a("&quot;hi&quot; &lt;b&gt;"), "\" hi \" < b >");
  EXPECT_EQ(tokenize_13a("&amp;lt;"), "<");  // replaced in turn: &amp; first, then &lt;
  EXPECT_EQ(tokenize_13a("a <skipped> b"), "a b");
}

// --- against sacreBLEU -----------------------------------------------------------

const std::string kBleuGoldenDir = std::string(ATTN_TEST_DATA_DIR) + "/golden/bleu/";
const char* kRegenerate = "(regenerate with scripts/make_bleu_golden.py; its header says how)";

// Undoes the script's escape(): \\ \n \r \t and \xHH.
std::string unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char code = text[++i];
    if (code == 'n') {
      out += '\n';
    } else if (code == 'r') {
      out += '\r';
    } else if (code == 't') {
      out += '\t';
    } else if (code == 'x' && i + 2 < text.size()) {
      out += static_cast<char>(std::strtol(text.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += code;  // "\\"
    }
  }
  return out;
}

// A sentence_bleu / corpus_bleu record: "score <s> bp <b> hyp_len <c> ... precisions <4>".
struct GoldenBleu {
  double score = 0, bp = 0;
  int64_t hyp_len = 0, ref_len = 0;
  std::array<int64_t, 4> counts{}, totals{};
  std::array<double, 4> precisions{};
};

GoldenBleu parse_bleu(const std::string& fields) {
  std::istringstream in(fields);
  GoldenBleu g;
  std::string key;
  while (in >> key) {
    if (key == "score") in >> g.score;
    else if (key == "bp") in >> g.bp;
    else if (key == "hyp_len") in >> g.hyp_len;
    else if (key == "ref_len") in >> g.ref_len;
    else if (key == "counts") for (int64_t& c : g.counts) in >> c;
    else if (key == "totals") for (int64_t& t : g.totals) in >> t;
    else if (key == "precisions") for (double& p : g.precisions) in >> p;
    else ADD_FAILURE() << "unknown BLEU field '" << key << "' " << kRegenerate;
  }
  return g;
}

// Scores agree to 1e-9 relative; a zero must be exactly zero.
void expect_close(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, 1e-9 * std::abs(expected)) << what;
}

void expect_bleu(const BleuScore& actual, const GoldenBleu& expected, const std::string& what) {
  expect_close(actual.score, expected.score, what + " score");
  expect_close(actual.brevity_penalty, expected.bp, what + " BP");
  EXPECT_EQ(actual.hypothesis_length, expected.hyp_len) << what;
  EXPECT_EQ(actual.reference_length, expected.ref_len) << what;
  EXPECT_EQ(actual.counts, expected.counts) << what;
  EXPECT_EQ(actual.totals, expected.totals) << what;
  for (size_t n = 0; n < 4; ++n) {
    expect_close(actual.precisions[n], expected.precisions[n],
                 what + " precision " + std::to_string(n + 1));
  }
}

// Reads tests/golden/bleu/<name>.txt and checks every record against attn.
void check_golden_set(const std::string& name) {
  const std::string path = kBleuGoldenDir + name + ".txt";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot open " << path << " " << kRegenerate;
  std::vector<std::string> hypotheses, references;
  std::map<std::string, std::string> signatures;
  std::string pair_name, line;
  int records = 0;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.find(' ');
    std::string key = line.substr(0, space);
    std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    const std::string what = name + " " + pair_name + " " + key;
    ++records;
    if (key == "set") {
      EXPECT_EQ(value, name);
    } else if (key.size() > 10 && key.substr(key.size() - 10) == "_signature") {
      signatures[key] = value;
    } else if (key == "pair") {
      pair_name = "pair " + value;
    } else if (key == "hyp") {
      hypotheses.push_back(unescape(value));
    } else if (key == "ref") {
      references.push_back(unescape(value));
    } else if (key == "hyp_13a") {
      EXPECT_EQ(tokenize_13a(hypotheses.back()), unescape(value)) << what;
    } else if (key == "ref_13a") {
      EXPECT_EQ(tokenize_13a(references.back()), unescape(value)) << what;
    } else if (key == "sentence_bleu") {
      BleuScore bleu = sentence_bleu(hypotheses.back(), references.back());
      expect_bleu(bleu, parse_bleu(value), what);
      EXPECT_EQ(bleu.signature, signatures["sentence_bleu_signature"]) << what;
    } else if (key == "sentence_bleu_str") {
      EXPECT_EQ(sentence_bleu(hypotheses.back(), references.back()).str(), value) << what;
    } else if (key == "sentence_chrf") {
      attn::metrics::ChrfScore chrf = sentence_chrf(hypotheses.back(), references.back());
      expect_close(chrf.score, std::strtod(value.c_str(), nullptr), what);
      EXPECT_EQ(chrf.signature, signatures["chrf_signature"]) << what;
    } else if (key == "corpus_bleu") {
      BleuScore bleu = corpus_bleu(hypotheses, references);
      expect_bleu(bleu, parse_bleu(value), what);
      EXPECT_EQ(bleu.signature, signatures["bleu_signature"]) << what;
    } else if (key == "corpus_bleu_str") {
      EXPECT_EQ(corpus_bleu(hypotheses, references).str(), value) << what;
    } else if (key == "corpus_chrf") {
      expect_close(corpus_chrf(hypotheses, references).score, std::strtod(value.c_str(), nullptr),
                   what);
    } else if (key == "corpus_chrf_str") {
      EXPECT_EQ(corpus_chrf(hypotheses, references).str(), value) << what;
    } else {
      ADD_FAILURE() << path << ": unknown record '" << key << "' " << kRegenerate;
    }
  }
  EXPECT_EQ(hypotheses.size(), references.size());
  EXPECT_FALSE(hypotheses.empty()) << path;
  EXPECT_EQ(signatures.size(), 3u) << path;
  EXPECT_GT(records, 0);
}

TEST(BleuGolden, English) { check_golden_set("english"); }
TEST(BleuGolden, Accented) { check_golden_set("accented"); }
TEST(BleuGolden, Short) { check_golden_set("short"); }
TEST(BleuGolden, Edge) { check_golden_set("edge"); }

}  // namespace
