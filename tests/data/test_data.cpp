// data/: vocabularies, tokenizers, and the corpus readers, fed broken files
// on purpose.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "data/utf8.h"
#include "data/vocab.h"

#include "test_helpers.h"

namespace {

using attn::data::SentencePair;
using attn::data::Tokenizer;
using attn::data::TokenizerKind;
using attn::data::Vocab;
using Tokens = std::vector<std::string>;
using Ids = std::vector<int64_t>;
using namespace attn_data_test;

// ---------------------------------------------------------------- vocabulary

TEST(Vocab, SpecialsHaveFixedIds) {
  Vocab vocab;
  EXPECT_EQ(vocab.size(), 4);
  EXPECT_EQ(vocab.id("<pad>"), attn::data::kPad);
  EXPECT_EQ(vocab.id("<unk>"), attn::data::kUnk);
  EXPECT_EQ(vocab.id("<s>"), attn::data::kBos);
  EXPECT_EQ(vocab.id("</s>"), attn::data::kEos);
  EXPECT_EQ(attn::data::kPad, 0);
  EXPECT_EQ(attn::data::kUnk, 1);
  EXPECT_EQ(attn::data::kBos, 2);
  EXPECT_EQ(attn::data::kEos, 3);
}

TEST(Vocab, BuildOrdersByFrequencyThenToken) {
  std::vector<Tokens> sentences = {{"b", "a", "c", "a"}, {"b", "a", "d", "<unk>"}, {"e", "d"}};
  // a: 3, b: 2, d: 2, c: 1, e: 1; "<unk>" is the special, not a new token.
  Vocab vocab = Vocab::build(sentences);
  EXPECT_EQ(vocab.tokens(), (Tokens{"<pad>", "<unk>", "<s>", "</s>", "a", "b", "d", "c", "e"}));
  EXPECT_EQ(Vocab::build(sentences, /*min_frequency=*/2).tokens(),
            (Tokens{"<pad>", "<unk>", "<s>", "</s>", "a", "b", "d"}));
  EXPECT_EQ(Vocab::build(sentences, 1, /*max_size=*/6).tokens(),
            (Tokens{"<pad>", "<unk>", "<s>", "</s>", "a", "b"}));
  EXPECT_EQ(Vocab::build(sentences, 1, 4).size(), 4);
  EXPECT_TRUE(contains(error_of([&] { Vocab::build(sentences, 0); }), "min_frequency"));
  EXPECT_TRUE(contains(error_of([&] { Vocab::build(sentences, 1, 3); }), "max_size"));
  EXPECT_TRUE(contains(error_of([] { Vocab::build({{"a\nb"}}); }), "line break"));
  EXPECT_TRUE(contains(error_of([] { Vocab::build({{""}}); }), "empty token"));
}

TEST(Vocab, EncodeAndDecode) {
  Vocab vocab = Vocab::build({{"the", "cat", "sat"}});
  Ids ids = vocab.encode({"the", "dog", "sat"});
  EXPECT_EQ(ids, (Ids{vocab.id("the"), attn::data::kUnk, vocab.id("sat")}));
  EXPECT_FALSE(vocab.contains("dog"));
  EXPECT_TRUE(vocab.contains("cat"));
  EXPECT_EQ(vocab.token(vocab.id("cat")), "cat");
  // Stops at </s>, skips <pad> and <s>, keeps <unk>.
  Ids decoded = {attn::data::kBos, vocab.id("the"), attn::data::kPad, attn::data::kUnk, vocab.id("cat"),
                 attn::data::kEos, vocab.id("sat")};
  EXPECT_EQ(vocab.decode(decoded), (Tokens{"the", "<unk>", "cat"}));
  EXPECT_TRUE(contains(error_of([&] { vocab.token(vocab.size()); }), "outside the vocabulary"));
  EXPECT_TRUE(contains(error_of([&] { vocab.decode({-1}); }), "outside the vocabulary"));
}

TEST(Vocab, SaveLoadRoundtrip) {
  TempDir dir;
  Vocab vocab = Vocab::build({{"l'homme", "é", "日本", "a"}, {"a"}});
  std::string path = dir.path("vocab.txt");
  vocab.save(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content.substr(0, 20), "<pad>\n<unk>\n<s>\n</s>");
  Vocab loaded = Vocab::load(path);
  EXPECT_EQ(loaded, vocab);
  EXPECT_EQ(loaded.id("日本"), vocab.id("日本"));
  // Saving again over an existing file replaces it.
  Vocab::build({{"x"}}).save(path);
  EXPECT_EQ(Vocab::load(path).tokens().back(), "x");
}

TEST(Vocab, LoadAcceptsCrlfAndBom) {
  TempDir dir;
  Vocab vocab = Vocab::load(dir.write("v.txt", "\xEF\xBB\xBF<pad>\r\n<unk>\r\n<s>\r\n</s>\r\nhello\r\n"));
  EXPECT_EQ(vocab.tokens(), (Tokens{"<pad>", "<unk>", "<s>", "</s>", "hello"}));
  EXPECT_EQ(Vocab::load(dir.write("w.txt", "<pad>\n<unk>\n<s>\n</s>")).size(), 4);  // no final newline
}

TEST(Vocab, LoadErrorsNameFileAndLine) {
  TempDir dir;
  std::string missing = dir.path("missing.vocab");
  std::string message = error_of([&] { Vocab::load(missing); });
  EXPECT_TRUE(contains(message, "missing.vocab")) << message;
  EXPECT_TRUE(contains(message, "cannot open")) << message;

  message = error_of([&] { Vocab::load(dir.write("empty.vocab", "")); });
  EXPECT_TRUE(contains(message, "empty.vocab")) << message;
  EXPECT_TRUE(contains(message, "empty")) << message;

  message = error_of([&] { Vocab::load(dir.write("short.vocab", "<pad>\n<unk>\n")); });
  EXPECT_TRUE(contains(message, "short.vocab: only 2 lines")) << message;

  message = error_of([&] { Vocab::load(dir.write("specials.vocab", "<pad>\n<unk>\nhello\n</s>\n")); });
  EXPECT_TRUE(contains(message, "specials.vocab:3 (id 2)")) << message;
  EXPECT_TRUE(contains(message, "<s>")) << message;
  EXPECT_TRUE(contains(message, "hello")) << message;

  message = error_of([&] { Vocab::load(dir.write("dup.vocab", "<pad>\n<unk>\n<s>\n</s>\na\nb\na\n")); });
  EXPECT_TRUE(contains(message, "dup.vocab:7 (id 6)")) << message;
  EXPECT_TRUE(contains(message, "duplicate token \"a\", already on line 5")) << message;

  message = error_of([&] { Vocab::load(dir.write("blank.vocab", "<pad>\n<unk>\n<s>\n</s>\na\n\nb\n")); });
  EXPECT_TRUE(contains(message, "blank.vocab:6 (id 5): empty line")) << message;

  message = error_of([&] { Vocab::load(dir.write("latin1.vocab", "<pad>\n<unk>\n<s>\n</s>\ncaf\xE9\n")); });
  EXPECT_TRUE(contains(message, "latin1.vocab:5")) << message;
  EXPECT_TRUE(contains(message, "UTF-8")) << message;

  EXPECT_TRUE(contains(error_of([] {
                         Vocab(Tokens{"<pad>", "<unk>", "<s>", "</s>", "a", "a"});
                       }),
                       "duplicate"));
  EXPECT_TRUE(contains(error_of([] {
                         Vocab(Tokens{"<unk>", "<pad>", "<s>", "</s>"});
                       }),
                       "id 0 must be <pad>"));
}

// ---------------------------------------------------------------- tokenizer

TEST(Tokenizer, WordSplitsOffPunctuation) {
  Tokenizer word;
  EXPECT_EQ(word.tokenize("Hello, world!"), (Tokens{"Hello", ",", "world", "!"}));
  EXPECT_EQ(word.tokenize("  Wait...  (really?)  "),
            (Tokens{"Wait", ".", ".", ".", "(", "really", "?", ")"}));
  EXPECT_EQ(word.tokenize("«Bonjour !»"), (Tokens{"«", "Bonjour", "!", "»"}));
  EXPECT_EQ(word.tokenize("¿Qué hora es? ¡Ya!"), (Tokens{"¿", "Qué", "hora", "es", "?", "¡", "Ya", "!"}));
  EXPECT_EQ(word.tokenize("„Ja“, sagte er…"), (Tokens{"„", "Ja", "“", ",", "sagte", "er", "…"}));
  EXPECT_EQ(word.tokenize("“Hi” — she said"), (Tokens{"“", "Hi", "”", "—", "she", "said"}));
  EXPECT_EQ(word.tokenize("05/03/2014"), (Tokens{"05", "/", "03", "/", "2014"}));
  EXPECT_EQ(word.tokenize("March 5, 2014"), (Tokens{"March", "5", ",", "2014"}));
  // Hyphens inside words and separators inside numbers stay.
  EXPECT_EQ(word.tokenize("a well-known fact: 3.14 and 1,000."),
            (Tokens{"a", "well-known", "fact", ":", "3.14", "and", "1,000", "."}));
  EXPECT_EQ(word.tokenize("- a -"), (Tokens{"-", "a", "-"}));
  // Unicode spaces, as in Tatoeba's French "Cours !" with a narrow no-break space.
  EXPECT_EQ(word.tokenize("Cours\u202F!"), (Tokens{"Cours", "!"}));
  EXPECT_EQ(word.tokenize("a\u00A0b\tc\r\nd"), (Tokens{"a", "b", "c", "d"}));
  EXPECT_TRUE(word.tokenize("   \t ").empty());
  EXPECT_TRUE(word.tokenize("").empty());
}

TEST(Tokenizer, WordKeepsApostrophesInsideWords) {
  Tokenizer word;
  EXPECT_EQ(word.tokenize("I don't know."), (Tokens{"I", "don't", "know", "."}));
  EXPECT_EQ(word.tokenize("L'homme est là aujourd'hui."),
            (Tokens{"L'homme", "est", "là", "aujourd'hui", "."}));
  EXPECT_EQ(word.tokenize("It’s mine"), (Tokens{"It’s", "mine"}));  // typographic apostrophe
  EXPECT_EQ(word.tokenize("'hi' the dogs' bones"), (Tokens{"'", "hi", "'", "the", "dogs", "'", "bones"}));
  EXPECT_EQ(word.tokenize("Qu'est-ce que c'est ?"), (Tokens{"Qu'est-ce", "que", "c'est", "?"}));
}

TEST(Tokenizer, Lowercasing) {
  Tokenizer word(TokenizerKind::kWord, /*lowercase=*/true);
  EXPECT_TRUE(word.lowercase());
  EXPECT_EQ(word.tokenize("Hello WORLD"), (Tokens{"hello", "world"}));
  EXPECT_EQ(word.tokenize("ÉLAN Ça ÜBER ÅSA Ÿ"), (Tokens{"élan", "ça", "über", "åsa", "ÿ"}));
  EXPECT_EQ(word.tokenize("ŁÓDŹ ŚLĄSK ČEŠTINA İ ß ×"), (Tokens{"łódź", "śląsk", "čeština", "i", "ß", "×"}));
  EXPECT_EQ(word.tokenize("ΑΘΗΝΑ МОСКВА Ёж"), (Tokens{"αθηνα", "москва", "ёж"}));
  EXPECT_EQ(Tokenizer().tokenize("Hello"), (Tokens{"Hello"}));  // off by default
  EXPECT_EQ(attn::data::lowercase_code_point(0x0100), 0x0101u);  // Ā -> ā
  EXPECT_EQ(attn::data::lowercase_code_point(0x0101), 0x0101u);  // ā stays
  EXPECT_EQ(attn::data::lowercase_code_point(0x0139), 0x013Au);  // Ĺ -> ĺ (odd pair)
  EXPECT_EQ(attn::data::lowercase_code_point(0x013A), 0x013Au);
  EXPECT_EQ(attn::data::lowercase_code_point(0x0131), 0x0131u);  // ı has no pair here
}

TEST(Tokenizer, CharSplitsCodePoints) {
  Tokenizer chars(TokenizerKind::kChar);
  EXPECT_EQ(chars.name(), "char");
  EXPECT_EQ(chars.tokenize("Go on."), (Tokens{"G", "o", "▁", "o", "n", "."}));
  EXPECT_EQ(chars.tokenize("  é  日本\t"), (Tokens{"é", "▁", "日", "本"}));
  EXPECT_EQ(chars.tokenize("a😀b"), (Tokens{"a", "😀", "b"}));  // 4-byte sequence
  EXPECT_EQ(Tokenizer(TokenizerKind::kChar, true).tokenize("ÀB"), (Tokens{"à", "b"}));
  EXPECT_EQ(chars.detokenize(chars.tokenize("Où es-tu, 日本?")), "Où es-tu, 日本?");
  EXPECT_EQ(chars.detokenize({"a", "▁", "b"}), "a b");
}

TEST(Tokenizer, InvalidUtf8NamesWhere) {
  Tokenizer word;
  std::string message = error_of([&] { word.tokenize("ab\xC3"); });  // truncated 2-byte sequence
  EXPECT_TRUE(contains(message, "invalid UTF-8 at byte 3")) << message;
  message = error_of([&] { word.tokenize("caf\xE9 noir", "input.txt:4"); });  // Latin-1 é
  EXPECT_TRUE(contains(message, "input.txt:4")) << message;
  EXPECT_TRUE(contains(message, "byte 4 (0xE9")) << message;
  EXPECT_TRUE(contains(error_of([&] { word.tokenize("\xC0\xAF"); }), "invalid UTF-8"));      // overlong '/'
  EXPECT_TRUE(contains(error_of([&] { word.tokenize("\xED\xA0\x80"); }), "invalid UTF-8"));  // surrogate
  EXPECT_TRUE(contains(error_of([&] { word.tokenize("\xF4\x90\x80\x80"); }), "invalid UTF-8"));  // > U+10FFFF
  EXPECT_TRUE(contains(error_of([] { Tokenizer(TokenizerKind::kChar).tokenize("\x80"); }), "invalid UTF-8"));
  EXPECT_EQ(attn::data::find_invalid_utf8("ok é 日本 😀"), std::string::npos);
  EXPECT_EQ(attn::data::find_invalid_utf8("ok\xFF"), 2u);
}

TEST(Tokenizer, DetokenizeJoinsSensibly) {
  Tokenizer word;
  EXPECT_EQ(word.detokenize({"Hello", ",", "world", "!"}), "Hello, world!");
  EXPECT_EQ(word.detokenize({"He", "said", "\"", "hi", "\"", "."}), "He said \"hi\".");
  EXPECT_EQ(word.detokenize({"¿", "Qué", "?"}), "¿Qué?");
  EXPECT_EQ(word.detokenize({"(", "a", ")", "b"}), "(a) b");
  EXPECT_EQ(word.detokenize({"«", "Salut", "»"}), "«Salut»");
  EXPECT_EQ(word.detokenize({}), "");
  for (const std::string& text :
       {std::string("Hello, world! Don't stop."), std::string("I paid $5 (not 3.14)."),
        std::string("She said \"yes\" and left."), std::string("It's 05/03/2014?")}) {
    EXPECT_EQ(word.detokenize(word.tokenize(text)), text);
  }
}

TEST(Tokenizer, FromName) {
  EXPECT_EQ(Tokenizer::from_name("word").kind(), TokenizerKind::kWord);
  EXPECT_EQ(Tokenizer::from_name("char", true).kind(), TokenizerKind::kChar);
  std::string message = error_of([] { Tokenizer::from_name("bpe"); });
  EXPECT_TRUE(contains(message, "word, char")) << message;
}

// ---------------------------------------------------------------- readers

TEST(Corpus, ReadsTsvWithExtraColumns) {
  TempDir dir;
  std::string path = dir.write(
      "fra.txt", "Go.\tVa !\nHi.\tSalut !\tCC-BY 2.0 (France) #2877272\n  Run! \t Cours\u202F!\u00A0\n");
  std::vector<SentencePair> pairs = attn::data::read_tsv(path);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].source, "Go.");
  EXPECT_EQ(pairs[0].target, "Va !");
  EXPECT_EQ(pairs[1].target, "Salut !");
  EXPECT_EQ(pairs[2].source, "Run!");
  EXPECT_EQ(pairs[2].target, "Cours\u202F!");  // inner space kept, outer spaces trimmed
}

TEST(Corpus, HandlesCrlfBomAndNoFinalNewline) {
  TempDir dir;
  std::vector<SentencePair> pairs =
      attn::data::read_tsv(dir.write("win.tsv", "\xEF\xBB\xBFGo.\tVa !\r\nHi.\tSalut !\r\nWho?\tQui ?"));
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].source, "Go.");  // no BOM
  EXPECT_EQ(pairs[1].target, "Salut !");  // no \r
  EXPECT_EQ(pairs[2].target, "Qui ?");
  std::vector<std::string> lines = attn::data::read_lines(dir.write("lines.txt", "a\r\nb\n\nc"));
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "", "c"}));
}

TEST(Corpus, TsvLineWithoutTabNamesFileAndLine) {
  TempDir dir;
  std::string path = dir.write("broken.tsv", "Go.\tVa !\nHi.\tSalut !\nRun! Cours !\nWho?\tQui ?\n");
  std::string message = error_of([&] { attn::data::read_tsv(path); });
  EXPECT_TRUE(contains(message, "broken.tsv:3")) << message;
  EXPECT_TRUE(contains(message, "no tab")) << message;
  EXPECT_TRUE(contains(message, "Run! Cours !")) << message;
}

TEST(Corpus, InvalidUtf8AndNulNameFileAndLine) {
  TempDir dir;
  std::string message =
      error_of([&] { attn::data::read_tsv(dir.write("latin1.tsv", "Go.\tVa !\nCoffee\tCaf\xE9\n")); });
  EXPECT_TRUE(contains(message, "latin1.tsv:2")) << message;
  EXPECT_TRUE(contains(message, "invalid UTF-8")) << message;

  message = error_of(
      [&] { attn::data::read_tsv(dir.write("nul.tsv", std::string("Go.\tVa !\nHi.\tSa\0lut\n", 19))); });
  EXPECT_TRUE(contains(message, "nul.tsv:2")) << message;
  EXPECT_TRUE(contains(message, "NUL byte")) << message;

  message = error_of([&] { attn::data::read_tsv(dir.write("utf16.tsv", std::string("\xFF\xFEG\0o\0", 6))); });
  EXPECT_TRUE(contains(message, "UTF-16")) << message;
}

TEST(Corpus, EmptySideIsAnError) {
  TempDir dir;
  std::string message = error_of([&] { attn::data::read_tsv(dir.write("a.tsv", "Go.\tVa !\n \tVa !\n")); });
  EXPECT_TRUE(contains(message, "a.tsv:2: empty source")) << message;
  message = error_of([&] { attn::data::read_tsv(dir.write("b.tsv", "Go.\tVa !\nGo.\t \u202F\n")); });
  EXPECT_TRUE(contains(message, "b.tsv:2: empty target")) << message;
  message = error_of([&] { attn::data::read_tsv(dir.write("c.tsv", "Go.\tVa !\n\nHi.\tSalut !\n")); });
  EXPECT_TRUE(contains(message, "c.tsv:2")) << message;
}

TEST(Corpus, EmptyMissingAndDirectory) {
  TempDir dir;
  std::string message = error_of([&] { attn::data::read_tsv(dir.write("empty.tsv", "")); });
  EXPECT_TRUE(contains(message, "empty.tsv: empty file")) << message;
  message = error_of([&] { attn::data::read_tsv(dir.write("bom.tsv", "\xEF\xBB\xBF")); });
  EXPECT_TRUE(contains(message, "bom.tsv: empty file")) << message;
  message = error_of([&] { attn::data::read_tsv(dir.path("nope.tsv")); });
  EXPECT_TRUE(contains(message, "nope.tsv: cannot open")) << message;
  message = error_of([&] { attn::data::read_tsv(dir.path("")); });
  EXPECT_TRUE(contains(message, "directory")) << message;
  message = error_of([&] { attn::data::read_parallel(dir.path("nope.en"), dir.write("x.de", "a\n")); });
  EXPECT_TRUE(contains(message, "nope.en: cannot open")) << message;
  message = error_of([&] { attn::data::read_parallel(dir.write("y.en", "a\n"), dir.write("y.de", "")); });
  EXPECT_TRUE(contains(message, "y.de: empty file")) << message;
}

TEST(Corpus, ReadsParallelFiles) {
  TempDir dir;
  std::string en = dir.write("train.en", "Two young, White males are outside.\r\nA girl climbing.\r\n");
  std::string de = dir.write("train.de", "Zwei junge weiße Männer sind im Freien.\nEin Mädchen klettert.");
  std::vector<SentencePair> pairs = attn::data::read_parallel(en, de);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].source, "Two young, White males are outside.");
  EXPECT_EQ(pairs[0].target, "Zwei junge weiße Männer sind im Freien.");
  EXPECT_EQ(pairs[1].source, "A girl climbing.");
  EXPECT_EQ(pairs[1].target, "Ein Mädchen klettert.");
}

TEST(Corpus, ParallelCountMismatchNamesBothFilesAndCounts) {
  TempDir dir;
  std::string en = dir.write("val.en", "a\nb\nc\n");
  std::string de = dir.write("val.de", "x\ny\n");
  std::string message = error_of([&] { attn::data::read_parallel(en, de); });
  EXPECT_TRUE(contains(message, "val.en has 3 lines")) << message;
  EXPECT_TRUE(contains(message, "val.de has 2 lines")) << message;

  std::string gap = dir.write("gap.de", "x\n\nz\n");
  message = error_of([&] { attn::data::read_parallel(en, gap); });
  EXPECT_TRUE(contains(message, "gap.de:2: empty line")) << message;
  message = error_of([&] { attn::data::read_parallel(en, dir.write("bad.de", "x\ny\n\xC3\x28\n")); });
  EXPECT_TRUE(contains(message, "bad.de:3")) << message;
  EXPECT_TRUE(contains(message, "invalid UTF-8")) << message;
}

}  // namespace
