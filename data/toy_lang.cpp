#include "data/toy_lang.h"

#include <sstream>
#include <vector>

#include "kernels/error.h"

namespace attn::data {

namespace {

struct Noun { const char* singular; const char* plural; const char* tolo; };
struct Adjective { const char* english; const char* tolo; };
struct Verb { const char* singular; const char* plural; const char* past; const char* tolo; };
struct Preposition { const char* english; const char* tolo; };
struct Determiner { const char* singular; const char* plural; const char* tolo; };

const std::vector<Noun> kNouns = {
    {"cat", "cats", "miso"},           {"dog", "dogs", "wafu"},         {"bird", "birds", "tiri"},
    {"horse", "horses", "hiba"},       {"man", "men", "toko"},          {"woman", "women", "sena"},
    {"child", "children", "nilo"},     {"teacher", "teachers", "kesu"}, {"farmer", "farmers", "garu"},
    {"king", "kings", "rema"},         {"apple", "apples", "pomu"},     {"book", "books", "diva"},
    {"house", "houses", "kaza"},       {"tree", "trees", "yuba"},       {"river", "rivers", "nasu"},
    {"ball", "balls", "fubo"}};
const std::vector<Adjective> kAdjectives = {
    {"big", "gora"},   {"small", "piti"}, {"red", "roka"}, {"green", "vela"}, {"old", "seni"},
    {"young", "juna"}, {"happy", "felu"}, {"sad", "tumo"}, {"black", "nigo"}, {"white", "bian"}};
const std::vector<Verb> kVerbs = {
    {"sees", "see", "saw", "miru"},           {"likes", "like", "liked", "ama"},
    {"follows", "follow", "followed", "sigu"}, {"finds", "find", "found", "tova"},
    {"carries", "carry", "carried", "poka"},  {"watches", "watch", "watched", "kanu"},
    {"helps", "help", "helped", "huta"},      {"eats", "eat", "ate", "mangu"}};
const std::vector<Preposition> kPrepositions = {{"in", "ne"},   {"on", "su"},   {"near", "pe"},
                                                {"under", "ba"}, {"with", "ko"}, {"behind", "ho"}};
// "a" is written "an" before a vowel; the parser accepts both.
const std::vector<Determiner> kDeterminers = {
    {"the", "the", "ka"}, {"a", "some", "nu"}, {"this", "these", "si"}, {"my", "my", "mi"}};
const char* const kPastMarker = "pa";
const char* const kPluralSuffix = "n";

// A sentence as indices into the tables above: what the generator draws and
// the parser recovers, rendered into either language.
struct NounPhrase {
  size_t determiner = 0;
  std::vector<size_t> adjectives;  // in English order
  size_t noun = 0;
  bool plural = false;
};
struct Sentence {
  NounPhrase subject;
  size_t verb = 0;
  bool past = false;
  NounPhrase object;
  bool has_place = false;
  size_t preposition = 0;
  NounPhrase place;
};

void english_np(const NounPhrase& np, std::vector<std::string>* words) {
  const Determiner& determiner = kDeterminers[np.determiner];
  std::string first_after =
      np.adjectives.empty() ? kNouns[np.noun].singular : kAdjectives[np.adjectives[0]].english;
  std::string article = np.plural ? determiner.plural : determiner.singular;
  if (article == "a" && std::string("aeiou").find(first_after[0]) != std::string::npos) article = "an";
  words->push_back(article);
  for (size_t adjective : np.adjectives) words->push_back(kAdjectives[adjective].english);
  words->push_back(np.plural ? kNouns[np.noun].plural : kNouns[np.noun].singular);
}

void tolo_np(const NounPhrase& np, std::vector<std::string>* words) {
  words->push_back(kDeterminers[np.determiner].tolo);
  words->push_back(std::string(kNouns[np.noun].tolo) + (np.plural ? kPluralSuffix : ""));
  for (size_t i = np.adjectives.size(); i-- > 0;) words->push_back(kAdjectives[np.adjectives[i]].tolo);
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

std::string render_english(const Sentence& s) {
  std::vector<std::string> words;
  english_np(s.subject, &words);
  const Verb& verb = kVerbs[s.verb];
  words.push_back(s.past ? verb.past : (s.subject.plural ? verb.plural : verb.singular));
  english_np(s.object, &words);
  if (s.has_place) {
    words.push_back(kPrepositions[s.preposition].english);
    english_np(s.place, &words);
  }
  return join(words);
}

std::string render_tolo(const Sentence& s) {
  std::vector<std::string> words;
  tolo_np(s.subject, &words);
  if (s.has_place) {
    tolo_np(s.place, &words);
    words.push_back(kPrepositions[s.preposition].tolo);
  }
  tolo_np(s.object, &words);
  words.push_back(kVerbs[s.verb].tolo);
  if (s.past) words.push_back(kPastMarker);
  return join(words);
}

NounPhrase random_np(Generator& generator) {
  NounPhrase np;
  np.determiner = generator.below(kDeterminers.size());
  uint64_t roll = generator.below(6);  // 0-2: no adjective, 3-4: one, 5: two
  size_t count = roll < 3 ? 0 : (roll < 5 ? 1 : 2);
  while (np.adjectives.size() < count) {
    size_t adjective = generator.below(kAdjectives.size());
    if (np.adjectives.empty() || np.adjectives[0] != adjective) np.adjectives.push_back(adjective);
  }
  np.noun = generator.below(kNouns.size());
  np.plural = generator.below(10) < 3;
  return np;
}

// The index of `word` among the English forms of a table, or -1.
int find_verb(const std::string& word) {
  for (size_t i = 0; i < kVerbs.size(); ++i) {
    if (word == kVerbs[i].singular || word == kVerbs[i].plural || word == kVerbs[i].past)
      return static_cast<int>(i);
  }
  return -1;
}
int find_noun(const std::string& word) {
  for (size_t i = 0; i < kNouns.size(); ++i) {
    if (word == kNouns[i].singular || word == kNouns[i].plural) return static_cast<int>(i);
  }
  return -1;
}
int find_adjective(const std::string& word) {
  for (size_t i = 0; i < kAdjectives.size(); ++i) {
    if (word == kAdjectives[i].english) return static_cast<int>(i);
  }
  return -1;
}
int find_preposition(const std::string& word) {
  for (size_t i = 0; i < kPrepositions.size(); ++i) {
    if (word == kPrepositions[i].english) return static_cast<int>(i);
  }
  return -1;
}
int find_determiner(const std::string& word) {
  if (word == "an") return 1;  // "a" before a vowel
  for (size_t i = 0; i < kDeterminers.size(); ++i) {
    if (word == kDeterminers[i].singular || word == kDeterminers[i].plural) return static_cast<int>(i);
  }
  return -1;
}

// A left-to-right reader of the English fragment: each step looks at one word
// and knows which word classes may come next, so no backtracking is needed.
class Parser {
 public:
  explicit Parser(const std::string& english) : english_(english) {
    std::istringstream in(english);
    std::string word;
    while (in >> word) words_.push_back(word);
  }

  Sentence sentence() {
    Sentence s;
    s.subject = noun_phrase("the subject");
    int verb = find_verb(next("a verb"));
    if (verb < 0) fail("a verb");
    s.verb = static_cast<size_t>(verb);
    s.past = words_[position_ - 1] == kVerbs[s.verb].past;
    s.object = noun_phrase("the object");
    if (position_ < words_.size()) {
      int preposition = find_preposition(next("a preposition"));
      if (preposition < 0) fail("a preposition or the end of the sentence");
      s.has_place = true;
      s.preposition = static_cast<size_t>(preposition);
      s.place = noun_phrase("the place");
    }
    if (position_ < words_.size()) {
      ++position_;
      fail("the end of the sentence");
    }
    return s;
  }

 private:
  NounPhrase noun_phrase(const std::string& role) {
    NounPhrase np;
    int determiner = find_determiner(next("a determiner (" + role + ")"));
    if (determiner < 0) fail("a determiner (" + role + ")");
    np.determiner = static_cast<size_t>(determiner);
    while (true) {
      const std::string& word = next("an adjective or a noun (" + role + ")");
      int adjective = find_adjective(word);
      if (adjective >= 0) {
        np.adjectives.push_back(static_cast<size_t>(adjective));
        continue;
      }
      int noun = find_noun(word);
      if (noun < 0) fail("an adjective or a noun (" + role + ")");
      np.noun = static_cast<size_t>(noun);
      np.plural = word == kNouns[np.noun].plural;
      return np;
    }
  }

  const std::string& next(const std::string& expected) {
    ATTN_CHECK(position_ < words_.size(), "toy_lang_translate: \"", english_, "\" ends where ", expected,
               " should come");
    return words_[position_++];
  }

  // Throws about the word just read (1-based position).
  void fail(const std::string& expected) const {
    ATTN_CHECK(false, "toy_lang_translate: word ", position_, " of \"", english_, "\" is \"",
               words_[position_ - 1], "\" where ", expected,
               " should come; see data/toy_lang.h for the fragment");
  }

  std::string english_;
  std::vector<std::string> words_;
  size_t position_ = 0;
};

}  // namespace

SentencePair random_toy_lang_pair(Generator& generator) {
  Sentence s;
  s.subject = random_np(generator);
  s.verb = generator.below(kVerbs.size());
  s.past = generator.below(2) == 1;
  s.object = random_np(generator);
  s.has_place = generator.below(5) < 2;
  if (s.has_place) {
    s.preposition = generator.below(kPrepositions.size());
    s.place = random_np(generator);
  }
  return SentencePair{render_english(s), render_tolo(s)};
}

std::string toy_lang_translate(const std::string& english) {
  Parser parser(english);
  return render_tolo(parser.sentence());
}

}  // namespace attn::data
