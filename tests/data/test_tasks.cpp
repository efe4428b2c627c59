// data/: the built-in tasks (reverse, dates, toy-lang): determinism,
// disjoint splits, and targets that agree with their sources.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "data/dates.h"
#include "data/tasks.h"
#include "data/tokenizer.h"
#include "data/toy_lang.h"
#include "data/utf8.h"

#include "test_helpers.h"

namespace {

using attn::data::SentencePair;
using attn::data::Tokenizer;
using attn::data::TokenizerKind;
using Tokens = std::vector<std::string>;
using namespace attn_data_test;

// ---------------------------------------------------------------- tasks

bool same_pairs(const std::vector<SentencePair>& a, const std::vector<SentencePair>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].source != b[i].source || a[i].target != b[i].target) return false;
  }
  return true;
}

TEST(Tasks, DeterministicPerSeedAndDisjoint) {
  for (const std::string& name : attn::data::task_names()) {
    attn::data::TaskSplits first = attn::data::make_task(name, small_task(7));
    attn::data::TaskSplits again = attn::data::make_task(name, small_task(7));
    attn::data::TaskSplits other = attn::data::make_task(name, small_task(8));
    EXPECT_EQ(first.train.size(), 2000u) << name;
    EXPECT_EQ(first.valid.size(), 200u) << name;
    EXPECT_EQ(first.test.size(), 300u) << name;
    EXPECT_TRUE(same_pairs(first.train, again.train)) << name;
    EXPECT_TRUE(same_pairs(first.valid, again.valid)) << name;
    EXPECT_TRUE(same_pairs(first.test, again.test)) << name;
    EXPECT_FALSE(same_pairs(first.train, other.train)) << name;

    std::set<std::string> sources;
    for (const auto* split : {&first.train, &first.valid, &first.test}) {
      for (const SentencePair& pair : *split) {
        EXPECT_TRUE(sources.insert(pair.source).second) << name << ": repeated source " << pair.source;
        EXPECT_FALSE(pair.target.empty()) << name;
        // Tokens separated by single spaces, nothing around them.
        EXPECT_EQ(pair.source.find("  "), std::string::npos) << name;
        EXPECT_EQ(pair.source, attn::data::trim_spaces(pair.source)) << name;
      }
    }
  }
}

TEST(Tasks, TrainSizeLeavesHeldOutSetsAlone) {
  attn::data::TaskOptions options = small_task(3);
  attn::data::TaskSplits small = attn::data::make_task("dates", options);
  options.train_size = 5000;
  attn::data::TaskSplits large = attn::data::make_task("dates", options);
  EXPECT_TRUE(same_pairs(small.test, large.test));
  EXPECT_TRUE(same_pairs(small.valid, large.valid));
  EXPECT_EQ(large.train.size(), 5000u);
}

TEST(Tasks, UnknownTaskAndExhaustion) {
  std::string message = error_of([] { attn::data::make_task("copy"); });
  EXPECT_TRUE(contains(message, "unknown task \"copy\"")) << message;
  EXPECT_TRUE(contains(message, "reverse, dates, toy-lang")) << message;
  attn::data::TaskOptions options = small_task(1);
  options.max_length = 2;  // 26 + 26^2 = 702 distinct sequences, fewer than 2500
  message = error_of([&] { attn::data::make_task("reverse", options); });
  EXPECT_TRUE(contains(message, "ran out of distinct sources")) << message;
}

TEST(Tasks, ReverseTargetsAreReversed) {
  attn::data::TaskOptions options = small_task(5);
  options.max_length = 7;
  attn::data::TaskSplits reverse = attn::data::make_task("reverse", options);
  size_t longest = 0;
  for (const SentencePair& pair : reverse.train) {
    Tokens source = split_spaces(pair.source);
    Tokens target = split_spaces(pair.target);
    ASSERT_GE(source.size(), 1u);
    ASSERT_LE(source.size(), 7u);
    longest = std::max(longest, source.size());
    EXPECT_EQ(target, Tokens(source.rbegin(), source.rend()));
  }
  EXPECT_EQ(longest, 7u);
}

// Zeller's congruence, an independent check of day_of_week: 0 = Monday.
int zeller_weekday(int year, int month, int day) {
  if (month < 3) {
    month += 12;
    year -= 1;
  }
  int k = year % 100;
  int j = year / 100;
  int h = (day + 13 * (month + 1) / 5 + k + k / 4 + j / 4 + 5 * j) % 7;  // 0 = Saturday
  return (h + 5) % 7;
}

TEST(Dates, CalendarHelpers) {
  EXPECT_EQ(attn::data::day_of_week({2014, 3, 5}), 2);   // a Wednesday
  EXPECT_EQ(attn::data::day_of_week({2000, 1, 1}), 5);   // a Saturday
  EXPECT_EQ(attn::data::day_of_week({1970, 1, 1}), 3);   // a Thursday
  EXPECT_EQ(attn::data::day_of_week({1969, 12, 31}), 2);
  for (int year : {1900, 1950, 1999, 2000, 2024, 2049}) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 1; day <= attn::data::days_in_month(year, month); ++day) {
        ASSERT_EQ(attn::data::day_of_week({year, month, day}), zeller_weekday(year, month, day))
            << year << "-" << month << "-" << day;
      }
    }
  }
  EXPECT_TRUE(attn::data::is_leap_year(2000));
  EXPECT_FALSE(attn::data::is_leap_year(1900));
  EXPECT_TRUE(attn::data::is_leap_year(2024));
  EXPECT_EQ(attn::data::days_in_month(2023, 2), 28);
  EXPECT_EQ(attn::data::days_in_month(2024, 2), 29);
  EXPECT_FALSE(attn::data::is_valid_date({2023, 2, 29}));
  EXPECT_EQ(attn::data::ordinal_suffix_number(1), "1st");
  EXPECT_EQ(attn::data::ordinal_suffix_number(2), "2nd");
  EXPECT_EQ(attn::data::ordinal_suffix_number(3), "3rd");
  EXPECT_EQ(attn::data::ordinal_suffix_number(11), "11th");
  EXPECT_EQ(attn::data::ordinal_suffix_number(12), "12th");
  EXPECT_EQ(attn::data::ordinal_suffix_number(13), "13th");
  EXPECT_EQ(attn::data::ordinal_suffix_number(22), "22nd");
  EXPECT_EQ(attn::data::ordinal_suffix_number(31), "31st");
  EXPECT_EQ(attn::data::ordinal_word(21), "twenty-first");
  EXPECT_EQ(attn::data::iso_date({2014, 3, 5}), "2014-03-05");
  EXPECT_EQ(attn::data::iso_date_target({2014, 3, 5}), "2 0 1 4 - 0 3 - 0 5");
}

TEST(Dates, EveryFormat) {
  const attn::data::Date date{2014, 3, 5};
  const std::vector<std::string> expected = {
      "March 5, 2014",          "March 5th, 2014",        "Mar 5, 2014",     "Mar. 5th, 2014",
      "5 March 2014",           "5th March 2014",         "5 Mar 2014",      "the 5th of March 2014",
      "the fifth of March, 2014", "March the fifth, 2014", "Wednesday, March 5, 2014", "Wed 5 Mar 2014",
      "Wednesday the 5th of March 2014", "05/03/2014",    "5/3/2014",        "2014/03/05"};
  ASSERT_EQ(expected.size(), static_cast<size_t>(attn::data::kNumDateFormats));
  for (int format = 0; format < attn::data::kNumDateFormats; ++format) {
    EXPECT_EQ(attn::data::write_date(date, format), expected[static_cast<size_t>(format)]);
  }
  EXPECT_EQ(attn::data::write_date({2001, 9, 22}, 3), "Sept. 22nd, 2001");
  EXPECT_EQ(attn::data::write_date({2001, 5, 1}, 3), "May 1st, 2001");
  EXPECT_TRUE(contains(error_of([&] { attn::data::write_date(date, 16); }), "format 16"));
}

// The month named by a (lowercase) full name or abbreviation, or 0.
int month_number(const std::string& word) {
  const Tokens names = {"january", "february", "march", "april", "may", "june", "july",
                        "august", "september", "october", "november", "december"};
  for (size_t i = 0; i < names.size(); ++i) {
    if (word == names[i] || word == names[i].substr(0, 3) || (i == 8 && word == "sept"))
      return static_cast<int>(i) + 1;
  }
  return 0;
}

// The day in "5", "05", "5th"; 0 for anything else.
int day_number(const std::string& word) {
  size_t digits = 0;
  while (digits < word.size() && std::isdigit(static_cast<unsigned char>(word[digits]))) ++digits;
  if (digits == 0 || digits > 2) return 0;
  std::string rest = word.substr(digits);
  if (!rest.empty() && rest != "st" && rest != "nd" && rest != "rd" && rest != "th") return 0;
  return std::stoi(word.substr(0, digits));
}

TEST(Dates, TargetsAreIsoDatesThatMatchTheSource) {
  attn::data::TaskSplits dates = attn::data::make_task("dates", small_task(11));
  const Tokens weekdays = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  int parsed = 0;
  int with_weekday = 0;
  for (const SentencePair& pair : dates.train) {
    // The target: ten single-character tokens, a valid ISO date in range.
    Tokens target = split_spaces(pair.target);
    ASSERT_EQ(target.size(), 10u) << pair.target;
    std::string iso;
    for (const std::string& t : target) iso += t;
    ASSERT_EQ(iso[4], '-');
    ASSERT_EQ(iso[7], '-');
    attn::data::Date date{std::stoi(iso.substr(0, 4)), std::stoi(iso.substr(5, 2)),
                          std::stoi(iso.substr(8, 2))};
    ASSERT_TRUE(attn::data::is_valid_date(date)) << iso;
    ASSERT_GE(date.year, attn::data::kFirstYear);
    ASSERT_LE(date.year, attn::data::kLastYear);
    EXPECT_EQ(attn::data::iso_date(date), iso);

    // The source, lowercase, read back in a few of its formats.
    EXPECT_EQ(Tokenizer(TokenizerKind::kWord, true).tokenize(pair.source), split_spaces(pair.source));
    Tokens w = split_spaces(pair.source);
    int year = 0, month = 0, day = 0;
    if (w.size() == 4 && month_number(w[0]) && w[2] == ",") {  // march 5 , 2014 / march 5th , 2014
      month = month_number(w[0]), day = day_number(w[1]), year = std::stoi(w[3]);
    } else if (w.size() == 3 && day_number(w[0]) && month_number(w[1])) {  // 5 march 2014
      day = day_number(w[0]), month = month_number(w[1]), year = std::stoi(w[2]);
    } else if (w.size() == 5 && w[1] == "/" && w[0].size() <= 2) {  // 05 / 03 / 2014, day first
      day = std::stoi(w[0]), month = std::stoi(w[2]), year = std::stoi(w[4]);
    } else if (w.size() == 5 && w[1] == "/" && w[0].size() == 4) {  // 2014 / 03 / 05
      year = std::stoi(w[0]), month = std::stoi(w[2]), day = std::stoi(w[4]);
    } else if (w.size() == 5 && w[0] == "the" && w[2] == "of") {  // the 5th of march 2014
      day = day_number(w[1]), month = month_number(w[3]), year = std::stoi(w[4]);
    }
    if (year != 0) {
      ++parsed;
      EXPECT_EQ(year, date.year) << pair.source;
      EXPECT_EQ(month, date.month) << pair.source;
      EXPECT_EQ(day, date.day) << pair.source;
    }
    // A weekday, when written, is the right one.
    for (size_t i = 0; i < weekdays.size(); ++i) {
      if (w[0] == weekdays[i] || w[0] == weekdays[i].substr(0, 3)) {
        ++with_weekday;
        EXPECT_EQ(static_cast<int>(i), zeller_weekday(date.year, date.month, date.day)) << pair.source;
      }
    }
  }
  EXPECT_GT(parsed, 600);        // about 9 of the 16 formats are read back above
  EXPECT_GT(with_weekday, 200);  // 3 formats of 16
}

TEST(ToyLang, TranslatesByTheGrammar) {
  EXPECT_EQ(attn::data::toy_lang_translate("the big dog sees a cat"), "ka wafu gora nu miso miru");
  EXPECT_EQ(attn::data::toy_lang_translate("the big dog saw a small cat near the river"),
            "ka wafu gora ka nasu pe nu miso piti miru pa");
  EXPECT_EQ(attn::data::toy_lang_translate("these old red horses eat some apples"),
            "si hiban roka seni nu pomun mangu");
  EXPECT_EQ(attn::data::toy_lang_translate("my children like an old king"), "mi nilon nu rema seni ama");
  std::string message = error_of([] { attn::data::toy_lang_translate("the dog sees a unicorn"); });
  EXPECT_TRUE(contains(message, "word 5")) << message;
  EXPECT_TRUE(contains(message, "unicorn")) << message;
  EXPECT_TRUE(contains(error_of([] { attn::data::toy_lang_translate("the dog sees"); }), "ends where"));
}

TEST(ToyLang, TaskTargetsFollowTheGrammar) {
  attn::data::TaskSplits toy = attn::data::make_task("toy-lang", small_task(2));
  int with_place = 0;
  int past = 0;
  for (const SentencePair& pair : toy.train) {
    ASSERT_EQ(attn::data::toy_lang_translate(pair.source), pair.target);
    Tokens source = split_spaces(pair.source);
    Tokens target = split_spaces(pair.target);
    bool is_past = target.back() == "pa";
    past += is_past;
    // Word for word, plus the past marker: no English word survives.
    EXPECT_EQ(target.size(), source.size() + (is_past ? 1 : 0)) << pair.source;
    std::set<std::string> english(source.begin(), source.end());
    for (const std::string& word : target) EXPECT_EQ(english.count(word), 0u) << word;
    for (const char* preposition : {"in", "on", "near", "under", "with", "behind"}) {
      with_place += english.count(preposition) ? 1 : 0;
    }
  }
  EXPECT_GT(past, 800);
  EXPECT_LT(past, 1200);
  EXPECT_GT(with_place, 100);
}

}  // namespace
