// The `toy-lang` task: a fragment of English translated into Tolo, a small
// invented language, by a fixed grammar and lexicon. Small enough to learn in
// minutes, different enough from English that the alignments cross.
//
// English (the source), lowercase, one space between words:
//   sentence  = np verb np [preposition np]
//   np        = determiner [adjective [adjective]] noun
//   Determiners: the, a/an, some (plural of a), this/these, my. "an" before
//   a vowel ("an old cat", "an apple"). The verb agrees with its subject:
//   present "sees" (singular) / "see" (plural), past "saw" (either).
//
// Tolo (the target):
//   sentence  = np [np postposition] np verb [pa]
//   np        = determiner noun[n] [adjective [adjective]]
//   Subject, then the place phrase, then the object, then the verb: verb
//   final (SOV), with postpositions where English has prepositions.
//   Adjectives follow the noun in mirror order: "the big red dog" is
//   "ka wafu roka gora". The plural adds -n to the noun (wafu, wafun) and
//   determiners do not change (a/some -> nu, this/these -> si). Verbs do not
//   agree; the past adds the word "pa" after the verb.
//
//   the big dog saw a small cat near the river      (spaced out below for reading)
//   ka wafu gora   ka nasu pe   nu miso piti   miru pa
//   subject        place        object         verb, past
//
// Lexicon (English -> Tolo):
//   nouns       cat miso, dog wafu, bird tiri, horse hiba, man toko,
//               woman sena, child nilo, teacher kesu, farmer garu, king rema,
//               apple pomu, book diva, house kaza, tree yuba, river nasu,
//               ball fubo
//   adjectives  big gora, small piti, red roka, green vela, old seni,
//               young juna, happy felu, sad tumo, black nigo, white bian
//   verbs       see miru, like ama, follow sigu, find tova, carry poka,
//               watch kanu, help huta, eat mangu
//   prepositions in ne, on su, near pe, under ba, with ko, behind ho
//   determiners the ka, a/an/some nu, this/these si, my mi
#pragma once

#include <string>

#include "data/corpus.h"
#include "kernels/generator.h"

namespace attn::data {

// One random sentence of the fragment and its translation. Each noun phrase
// has no adjective (1/2), one (1/3) or two different ones (1/6) and is plural
// with probability 3/10; the verb is past with probability 1/2; a place
// phrase follows with probability 2/5.
SentencePair random_toy_lang_pair(Generator& generator);

// The Tolo translation of an English sentence of the fragment (lowercase,
// words separated by spaces). Throws attn::Error naming the word and its
// position when the sentence is outside the fragment. The task's targets are
// exactly toy_lang_translate(source).
std::string toy_lang_translate(const std::string& english);

}  // namespace attn::data
