// The `dates` task: dates written the way people write them, translated into
// ISO 8601. A real little translation problem: the model must reorder (day
// and month swap places), map words to digits ("march" -> 0 3, "fifth" -> 0 5)
// and drop what carries no information (the weekday, "the", "of").
//
// The formats, with 5 March 2014 (a Wednesday) as the example:
//    0  March 5, 2014                 8  the fifth of March, 2014
//    1  March 5th, 2014               9  March the fifth, 2014
//    2  Mar 5, 2014                  10  Wednesday, March 5, 2014
//    3  Mar. 5th, 2014 (Sept. for    11  Wed 5 Mar 2014
//       September, May without .)    12  Wednesday the 5th of March 2014
//    4  5 March 2014                 13  05/03/2014   (day/month/year)
//    5  5th March 2014               14  5/3/2014     (day/month/year)
//    6  5 Mar 2014                   15  2014/03/05   (year/month/day)
//    7  the 5th of March 2014
//
// Choices that keep every source unambiguous, so that 100% is reachable:
// - Years always have four digits ("'14" could be 1914 or 2014), between
//   kFirstYear and kLastYear.
// - Numeric dates with the year last are day first (05/03/2014 is 5 March),
//   the convention of most of the world; with the year first they are
//   year/month/day. No numeric month-first format is generated.
// - A weekday, when written, is the true one (computed, see day_of_week()).
//
// The task's source is the text above lowercased and split by the word
// tokenizer ("wednesday , march 5 , 2014"); its target is the ISO date one
// character per token ("2 0 1 4 - 0 3 - 0 5"), so that a word-level
// vocabulary of 11 symbols covers it.
#pragma once

#include <string>

#include "data/corpus.h"
#include "kernels/generator.h"

namespace attn::data {

struct Date {
  int year = 2000;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
};

constexpr int kFirstYear = 1950;  // the dates task draws years in [kFirstYear, kLastYear]
constexpr int kLastYear = 2049;
constexpr int kNumDateFormats = 16;

// Gregorian calendar rules (every 4th year, not every 100th, every 400th).
bool is_leap_year(int year);
int days_in_month(int year, int month);
bool is_valid_date(const Date& date);

// 0 = Monday .. 6 = Sunday. Counts days from 1970-01-01 (a Thursday) with
// Howard Hinnant's days_from_civil, valid for any Gregorian date.
int day_of_week(const Date& date);

// "2014-03-05".
std::string iso_date(const Date& date);
// "2 0 1 4 - 0 3 - 0 5": the task's target.
std::string iso_date_target(const Date& date);

// The date as a person writes it in format 0..kNumDateFormats-1 (the table
// above), with capitals as written: "Wednesday, March 5, 2014".
std::string write_date(const Date& date, int format);

// "1st", "2nd", "3rd", "4th", ... "11th", "21st", "31st".
std::string ordinal_suffix_number(int day);
// "first", ..., "twenty-first", ..., "thirty-first" (1..31).
std::string ordinal_word(int day);

// One example: a uniform random date in [kFirstYear, kLastYear] in a uniform
// random format; source tokenized (word level, lowercase) and joined by spaces.
SentencePair random_date_pair(Generator& generator);

}  // namespace attn::data
