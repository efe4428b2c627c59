#include "data/dates.h"

#include <cstdio>

#include "data/tokenizer.h"
#include "kernels/error.h"

namespace attn::data {

namespace {

const char* const kMonthNames[12] = {"January", "February", "March",     "April",   "May",      "June",
                                     "July",    "August",   "September", "October", "November", "December"};
const char* const kMonthAbbreviations[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* const kWeekdayNames[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                      "Friday", "Saturday", "Sunday"};
const char* const kWeekdayAbbreviations[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
const char* const kOrdinalWords[31] = {
    "first",        "second",       "third",         "fourth",       "fifth",        "sixth",
    "seventh",      "eighth",       "ninth",         "tenth",        "eleventh",     "twelfth",
    "thirteenth",   "fourteenth",   "fifteenth",     "sixteenth",    "seventeenth",  "eighteenth",
    "nineteenth",   "twentieth",    "twenty-first",  "twenty-second", "twenty-third", "twenty-fourth",
    "twenty-fifth", "twenty-sixth", "twenty-seventh", "twenty-eighth", "twenty-ninth", "thirtieth",
    "thirty-first"};

std::string two_digits(int value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02d", value);
  return text;
}

// Days since 1970-01-01 of a Gregorian date. Howard Hinnant, "chrono-Compatible
// Low-Level Date Algorithms" (days_from_civil): years start in March so the
// leap day is last, and 400-year eras repeat exactly.
int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;                                      // [0, 399]
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  ATTN_CHECK(month >= 1 && month <= 12, "days_in_month: month ", month, " is outside 1..12");
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

bool is_valid_date(const Date& date) {
  return date.month >= 1 && date.month <= 12 && date.day >= 1 &&
         date.day <= days_in_month(date.year, date.month);
}

int day_of_week(const Date& date) {
  ATTN_CHECK(is_valid_date(date), "day_of_week: ", iso_date(date), " is not a valid date");
  int64_t days = days_from_civil(date.year, date.month, date.day);
  // 1970-01-01 was a Thursday, index 3 when Monday is 0.
  return static_cast<int>(((days + 3) % 7 + 7) % 7);
}

std::string iso_date(const Date& date) {
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", date.year, date.month, date.day);
  return text;
}

std::string iso_date_target(const Date& date) {
  std::string iso = iso_date(date);
  std::string target;
  for (char c : iso) {
    if (!target.empty()) target += ' ';
    target += c;
  }
  return target;
}

std::string ordinal_suffix_number(int day) {
  ATTN_CHECK(day >= 1 && day <= 31, "ordinal_suffix_number: day ", day, " is outside 1..31");
  // 11th, 12th, 13th break the last-digit rule.
  const char* suffix = "th";
  if (day % 100 < 11 || day % 100 > 13) {
    if (day % 10 == 1) suffix = "st";
    if (day % 10 == 2) suffix = "nd";
    if (day % 10 == 3) suffix = "rd";
  }
  return std::to_string(day) + suffix;
}

std::string ordinal_word(int day) {
  ATTN_CHECK(day >= 1 && day <= 31, "ordinal_word: day ", day, " is outside 1..31");
  return kOrdinalWords[day - 1];
}

std::string write_date(const Date& date, int format) {
  ATTN_CHECK(is_valid_date(date), "write_date: ", iso_date(date), " is not a valid date");
  const std::string month = kMonthNames[date.month - 1];
  const std::string abbreviation = kMonthAbbreviations[date.month - 1];
  const std::string day = std::to_string(date.day);
  const std::string nth = ordinal_suffix_number(date.day);
  const std::string year = std::to_string(date.year);
  const int weekday = day_of_week(date);
  switch (format) {
    case 0: return month + " " + day + ", " + year;
    case 1: return month + " " + nth + ", " + year;
    case 2: return abbreviation + " " + day + ", " + year;
    case 3: {
      // An abbreviation takes a period; May, already short, does not.
      std::string short_month = date.month == 9 ? std::string("Sept.") : abbreviation + ".";
      if (abbreviation == month) short_month = month;
      return short_month + " " + nth + ", " + year;
    }
    case 4: return day + " " + month + " " + year;
    case 5: return nth + " " + month + " " + year;
    case 6: return day + " " + abbreviation + " " + year;
    case 7: return "the " + nth + " of " + month + " " + year;
    case 8: return "the " + ordinal_word(date.day) + " of " + month + ", " + year;
    case 9: return month + " the " + ordinal_word(date.day) + ", " + year;
    case 10: return std::string(kWeekdayNames[weekday]) + ", " + month + " " + day + ", " + year;
    case 11: return std::string(kWeekdayAbbreviations[weekday]) + " " + day + " " + abbreviation + " " + year;
    case 12: return std::string(kWeekdayNames[weekday]) + " the " + nth + " of " + month + " " + year;
    case 13: return two_digits(date.day) + "/" + two_digits(date.month) + "/" + year;
    case 14: return day + "/" + std::to_string(date.month) + "/" + year;
    case 15: return year + "/" + two_digits(date.month) + "/" + two_digits(date.day);
    default: break;
  }
  ATTN_CHECK(false, "write_date: format ", format, " is outside 0..", kNumDateFormats - 1);
  return "";  // not reached
}

SentencePair random_date_pair(Generator& generator) {
  Date date;
  date.year = kFirstYear + static_cast<int>(generator.below(kLastYear - kFirstYear + 1));
  date.month = 1 + static_cast<int>(generator.below(12));
  date.day =
      1 + static_cast<int>(generator.below(static_cast<uint64_t>(days_in_month(date.year, date.month))));
  int format = static_cast<int>(generator.below(kNumDateFormats));

  static const Tokenizer tokenizer(TokenizerKind::kWord, /*lowercase=*/true);
  std::string source;
  for (const std::string& token : tokenizer.tokenize(write_date(date, format))) {
    if (!source.empty()) source += ' ';
    source += token;
  }
  return SentencePair{source, iso_date_target(date)};
}

}  // namespace attn::data
