// data/: the space tokenizer, base64, and SentencePiece (data/sentencepiece.h)
// through the spm tokenizer: round trips on multilingual text, a model that
// survives its bytes, and errors that name what is wrong. The SentencePiece
// tests skip, saying why, in a build without it ("sentencepiece: off").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/base64.h"
#include "data/sentencepiece.h"
#include "data/tokenizer.h"

#include "test_helpers.h"

namespace {

using attn::data::SentencePieceModel;
using attn::data::SentencePieceOptions;
using attn::data::Tokenizer;
using attn::data::TokenizerKind;
using Tokens = std::vector<std::string>;
using namespace attn_data_test;

// Sentences in six scripts, for round trips: Latin with accents, Cyrillic,
// Greek, CJK without spaces, tokens with underscores, punctuation.
const std::vector<std::string>& multilingual() {
  static const std::vector<std::string> sentences = {
      "Hello, world!",
      "I_TURN_LEFT I_TURN_LEFT I_WALK",
      "«Bonjour !» dit l'homme, aujourd'hui.",
      "Die Straße ist naß; Öl, Übel, Ärger.",
      "¿Qué hora es? ¡Ya!",
      "Привет, мир.",
      "Καλημέρα κόσμε",
      "東京は大きい。",
      "3.14 + 1,000 = 1003.14",
  };
  return sentences;
}

// ---------------------------------------------------------------- space

TEST(SpaceTokenizer, SplitsOnWhitespaceOnly) {
  Tokenizer space(TokenizerKind::kSpace);
  EXPECT_EQ(space.name(), "space");
  EXPECT_EQ(space.tokenize("I_TURN_LEFT I_JUMP"), (Tokens{"I_TURN_LEFT", "I_JUMP"}));
  EXPECT_EQ(space.tokenize("Hello, world!"), (Tokens{"Hello,", "world!"}));
  EXPECT_EQ(space.tokenize("  a\tb \r\n c  "), (Tokens{"a", "b", "c"}));
  // The Unicode spaces the word tokenizer knows: no-break, narrow no-break (French), ideographic.
  EXPECT_EQ(space.tokenize("Va\xC2\xA0!\xE2\x80\xAFOui\xE3\x80\x80non"),
            (Tokens{"Va", "!", "Oui", "non"}));
  EXPECT_EQ(space.tokenize(""), Tokens{});
  EXPECT_EQ(space.tokenize(" \t "), Tokens{});
  // The word tokenizer, for contrast: underscores are punctuation to it.
  EXPECT_EQ(Tokenizer().tokenize("I_TURN_LEFT").size(), 5u);
}

TEST(SpaceTokenizer, RoundTripIsExact) {
  Tokenizer space(TokenizerKind::kSpace);
  for (const std::string& text : multilingual()) {
    Tokens tokens = space.tokenize(text);
    // Every sentence above has single spaces and no space at its ends, so the text comes back.
    EXPECT_EQ(space.detokenize(tokens), text);
    EXPECT_EQ(space.tokenize(space.detokenize(tokens)), tokens) << text;
  }
  // Runs of whitespace become one space; the ends are trimmed.
  EXPECT_EQ(space.detokenize(space.tokenize("  a \t\t b  ")), "a b");
  EXPECT_EQ(space.detokenize({}), "");
}

TEST(SpaceTokenizer, LowercasesAndNamesInvalidUtf8) {
  Tokenizer space(TokenizerKind::kSpace, /*lowercase=*/true);
  EXPECT_EQ(space.tokenize("I_TURN_LEFT Ärger ПРИВЕТ"), (Tokens{"i_turn_left", "ärger", "привет"}));
  std::string error = error_of([&] { space.tokenize("ok \xE9t\xE9", "train.tsv:3"); });
  EXPECT_TRUE(contains(error, "train.tsv:3")) << error;
  EXPECT_TRUE(contains(error, "invalid UTF-8")) << error;
}

TEST(TokenizerNames, SpaceAndSpm) {
  EXPECT_EQ(Tokenizer::from_name("space").kind(), TokenizerKind::kSpace);
  std::string error = error_of([] { Tokenizer::from_name("spm"); });
  EXPECT_TRUE(contains(error, "SentencePiece model")) << error;
  error = error_of([] { Tokenizer::from_name("bpe"); });
  EXPECT_TRUE(contains(error, "word, char, space, spm")) << error;
  error = error_of([] { Tokenizer(TokenizerKind::kSentencePiece); });
  EXPECT_TRUE(contains(error, "Tokenizer::sentencepiece")) << error;
  error = error_of([] { Tokenizer::sentencepiece(SentencePieceModel()); });
  EXPECT_TRUE(contains(error, "needs a SentencePiece model")) << error;
}

// ---------------------------------------------------------------- base64

TEST(Base64, Rfc4648Vectors) {
  // RFC 4648, section 10.
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(attn::data::encode_base64(bytes), text);
    EXPECT_EQ(attn::data::decode_base64(text), bytes);
  }
}

TEST(Base64, EveryByteRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t length = 0; length <= bytes.size(); length += 37) {
    std::string part = bytes.substr(0, length);
    EXPECT_EQ(attn::data::decode_base64(attn::data::encode_base64(part)), part);
  }
  EXPECT_EQ(attn::data::decode_base64(attn::data::encode_base64(bytes)), bytes);
}

TEST(Base64, RefusesWhatIsNotBase64) {
  using attn::data::decode_base64;
  std::string error = error_of([] { decode_base64("Zm9", "key 'x'"); });
  EXPECT_TRUE(contains(error, "key 'x'") && contains(error, "multiple of 4")) << error;
  error = error_of([] { decode_base64("Zm9v!m9v", "key 'x'"); });
  EXPECT_TRUE(contains(error, "offset 4")) << error;
  error = error_of([] { decode_base64("Zg==Zm9v"); });  // padding before the end
  EXPECT_TRUE(contains(error, "offset 2")) << error;
  error = error_of([] { decode_base64("Z===", "k"); });
  EXPECT_TRUE(contains(error, "offset 1")) << error;
}

// ---------------------------------------------------------------- SentencePiece

// SentencePiece is optional (CMake says "sentencepiece: on" or "off"): a
// build with it compiles the tests of the tokenizer, a build without it the
// test of the message that says what to install (ATTN_TEST_SENTENCEPIECE,
// tests/CMakeLists.txt). Neither skips at run time.
#if ATTN_TEST_SENTENCEPIECE

// A small corpus the test makes itself: every subject with every verb and
// object, in four languages, 384 sentences, so that a model of a few hundred
// pieces has enough text to learn from.
std::vector<std::string> training_corpus() {
  const std::vector<std::vector<std::string>> subjects = {
      {"the cat", "my friend", "the old teacher", "a young woman"},
      {"le chat", "mon ami", "le vieux professeur", "une jeune femme"},
      {"die Katze", "mein Freund", "der alte Lehrer", "eine junge Frau"},
      {"кошка", "мой друг", "старый учитель", "молодая женщина"}};
  const std::vector<std::vector<std::string>> verbs = {
      {"sees", "likes", "follows", "finds"},
      {"voit", "aime", "suit", "trouve"},
      {"sieht", "mag", "folgt", "findet"},
      {"видит", "любит", "ищет", "находит"}};
  const std::vector<std::vector<std::string>> objects = {
      {"the river.", "a small house!", "the beautiful garden?", "my brother, today.", "the école",
       "a café", "the Straße", "the naïve idea"},
      {"la rivière.", "une petite maison !", "le beau jardin ?", "mon frère, aujourd'hui.",
       "l'école", "un café", "la rue", "l'idée naïve"},
      {"den Fluss.", "ein kleines Haus!", "den schönen Garten?", "meinen Bruder, heute.",
       "die Schule", "ein Café", "die Straße", "die naive Idee"},
      {"реку.", "маленький дом!", "красивый сад?", "моего брата, сегодня.", "школу", "кафе",
       "улицу", "наивную идею"}};
  std::vector<std::string> sentences;
  for (size_t language = 0; language < subjects.size(); ++language) {
    for (const std::string& subject : subjects[language]) {
      for (size_t v = 0; v < verbs[language].size(); ++v) {
        for (size_t o = 0; o < objects[language].size(); o += 1 + (v % 2)) {
          sentences.push_back(subject + " " + verbs[language][v] + " " + objects[language][o]);
        }
      }
    }
  }
  return sentences;
}

SentencePieceModel train_model(const std::string& type, int64_t vocab_size) {
  SentencePieceOptions options;
  options.model_type = type;
  options.vocab_size = vocab_size;
  return SentencePieceModel::train(training_corpus(), options);
}

TEST(SentencePiece, UnigramAndBpeRoundTrip) {
  for (const std::string type : {"unigram", "bpe"}) {
    SentencePieceModel model = train_model(type, 150);
    EXPECT_EQ(model.size(), 150) << type;
    Tokenizer spm = Tokenizer::sentencepiece(model);
    EXPECT_EQ(spm.name(), "spm");
    EXPECT_EQ(spm.kind(), TokenizerKind::kSentencePiece);
    // Seen sentences, and new ones made of the same characters: the text comes back.
    std::vector<std::string> texts = training_corpus();
    texts.resize(40);
    for (const char* text : {"the teacher finds a garden!", "une femme voit la maison ?",
                                    "der Lehrer mag die Straße", "друг видит сад."}) {
      texts.push_back(text);
    }
    for (const std::string& text : texts) {
      Tokens pieces = spm.tokenize(text);
      EXPECT_FALSE(pieces.empty());
      EXPECT_EQ(pieces.front().rfind("\xE2\x96\x81", 0), 0u) << type << ": " << text;  // "▁" first
      EXPECT_EQ(spm.detokenize(pieces), text) << type;
    }
    // Subwords: a word the model never saw is cut into pieces it has, not lost.
    Tokens pieces = spm.tokenize("gardenhouse");
    EXPECT_GT(pieces.size(), 1u) << type;
    EXPECT_EQ(spm.detokenize(pieces), "gardenhouse") << type;
    // A character it never saw comes back as itself; blank text gives no pieces.
    EXPECT_EQ(spm.detokenize(spm.tokenize("the cat ✓")), "the cat ✓") << type;
    EXPECT_EQ(spm.tokenize("   "), Tokens{});
  }
}

TEST(SentencePiece, MultilingualRoundTrip) {
  // The corpus plus the multilingual sentences (Greek, Japanese, Spanish
  // marks), so that every character is in the model.
  std::vector<std::string> corpus = training_corpus();
  for (int copy = 0; copy < 5; ++copy) {
    for (const std::string& text : multilingual()) corpus.push_back(text);
  }
  SentencePieceOptions options;
  options.vocab_size = 200;
  Tokenizer spm = Tokenizer::sentencepiece(SentencePieceModel::train(corpus, options));
  for (const std::string& text : multilingual()) {
    EXPECT_EQ(spm.detokenize(spm.tokenize(text)), text);
  }
}

TEST(SentencePiece, LowercasesBeforeEncoding) {
  SentencePieceModel model = train_model("unigram", 150);
  Tokenizer spm = Tokenizer::sentencepiece(model, /*lowercase=*/true);
  EXPECT_TRUE(spm.lowercase());
  EXPECT_EQ(spm.tokenize("THE CAT Sees"), Tokenizer::sentencepiece(model).tokenize("the cat sees"));
  EXPECT_EQ(spm.detokenize(spm.tokenize("DER ALTE Lehrer")), "der alte lehrer");
  EXPECT_EQ(attn::data::lowercase_text("ÄRGER Привет"), "ärger привет");
}

TEST(SentencePiece, TheBytesAreTheModel) {
  SentencePieceModel model = train_model("bpe", 120);
  // Learning twice gives the same model (one thread, no sampling).
  EXPECT_EQ(train_model("bpe", 120).bytes(), model.bytes());
  // From its bytes (what the model file stores, base64) and from a file.
  SentencePieceModel again = SentencePieceModel::from_bytes(
      attn::data::decode_base64(attn::data::encode_base64(model.bytes())), "test");
  TempDir dir;
  model.save(dir.path("m.model"));
  SentencePieceModel loaded = SentencePieceModel::load(dir.path("m.model"));
  for (const std::string& text : training_corpus()) {
    EXPECT_EQ(again.encode(text), model.encode(text));
    EXPECT_EQ(loaded.encode(text), model.encode(text));
  }
  EXPECT_EQ(loaded.bytes(), model.bytes());
  EXPECT_EQ(loaded.size(), 120);
}

TEST(SentencePiece, ErrorsSayWhatIsWrong) {
  // More pieces than the text holds: SentencePiece's reason, with the number it would take.
  std::string error = error_of([] { train_model("unigram", 5000); });
  EXPECT_TRUE(contains(error, "5000")) << error;
  EXPECT_TRUE(contains(error, "Vocabulary size too high")) << error;
  EXPECT_FALSE(contains(error, "./src/")) << error;  // its source location is left out
  error = error_of([] { train_model("bpe", 5000); });
  EXPECT_TRUE(contains(error, "bpe model of 5000 pieces")) << error;
  // Fewer pieces than the text has characters.
  error = error_of([] { train_model("unigram", 10); });
  EXPECT_TRUE(contains(error, "required_chars")) << error;
  error = error_of([] { train_model("wordpiece", 100); });
  EXPECT_TRUE(contains(error, "unigram or bpe")) << error;
  error = error_of([] { SentencePieceModel::train({"", ""}, SentencePieceOptions()); });
  EXPECT_TRUE(contains(error, "no text")) << error;
  // Bytes and files that are not a model.
  error = error_of([] { SentencePieceModel::from_bytes("not a model at all", "key 'data.spm_model'"); });
  EXPECT_TRUE(contains(error, "key 'data.spm_model'") && contains(error, "not a SentencePiece model"))
      << error;
  TempDir dir;
  std::string text_file = dir.write("vocab.txt", "<unk>\n<s>\n</s>\nthe\n");
  error = error_of([&] { SentencePieceModel::load(text_file); });
  EXPECT_TRUE(contains(error, text_file) && contains(error, "not a SentencePiece model")) << error;
  error = error_of([&] { SentencePieceModel::load(dir.path("missing.model")); });
  EXPECT_TRUE(contains(error, "missing.model") && contains(error, "cannot open")) << error;
  error = error_of([] { SentencePieceModel().encode("a"); });
  EXPECT_TRUE(contains(error, "without a model")) << error;
}

TEST(SentencePiece, TheBuildSaysItHasIt) { EXPECT_TRUE(attn::data::sentencepiece_available()); }

#else  // built without SentencePiece

TEST(SentencePiece, WithoutItTheErrorSaysWhatToInstall) {
  EXPECT_FALSE(attn::data::sentencepiece_available());
  std::string error = error_of([] { SentencePieceModel::train({"a b c"}, SentencePieceOptions()); });
  EXPECT_TRUE(contains(error, "built without SentencePiece")) << error;
  EXPECT_TRUE(contains(error, "libsentencepiece-dev")) << error;
  error = error_of([] { SentencePieceModel::from_bytes("x", "key 'data.spm_model'"); });
  EXPECT_TRUE(contains(error, "key 'data.spm_model'") && contains(error, "libsentencepiece-dev"))
      << error;
}

#endif  // ATTN_TEST_SENTENCEPIECE

}  // namespace
