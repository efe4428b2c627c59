// Corpus readers: sentence pairs from the two formats translators meet first.
//
//   Tatoeba / Anki (one file):     source<TAB>target[<TAB>anything]
//       Go.	Va !
//       Hi.	Salut !
//   Multi30k (two files, line-aligned: line i of one translates line i of the other)
//       train.en:  Two young, White males are outside near many bushes.
//       train.de:  Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.
//
// Real files are messy, so the readers accept what is harmless and name what
// is not. Accepted: Windows line endings (\r\n), a UTF-8 byte-order mark, a
// missing newline at the end, extra columns after the target (Tatoeba's
// attribution column), spaces around each side (trimmed, including the narrow
// no-break spaces of French typography). Refused with attn::Error naming the
// file and the 1-based line, as "train.tsv:3: ...": a line with no tab,
// invalid UTF-8, a NUL byte, an empty source or target; and, for the whole
// file, a missing or unreadable file, an empty file, a UTF-16 file, and two
// parallel files with different line counts (both files and both counts named).
#pragma once

#include <string>
#include <vector>

namespace attn::data {

struct SentencePair {
  std::string source;  // as written, trimmed; UTF-8
  std::string target;
};

// Throws attn::Error unless `path` names something to read: it must exist and
// must not be a directory (std::ifstream opens a directory without complaint
// and reads nothing, so a directory given for a file would pass as empty).
// `what` (a flag such as "--input", or "") starts the message, then the path.
// Pipes and devices (/dev/stdin) pass.
void check_input_file(const std::string& path, const std::string& what = "");

// Throws attn::Error unless `path` can name a file to write: not empty, not a
// directory, and in a folder that exists. Said before any work is done, so
// that a typo in an output path does not cost a whole run.
void check_output_file(const std::string& path, const std::string& what = "");

// The lines of a UTF-8 text file, without their line endings ("\n" or "\r\n")
// and without a leading byte-order mark. Throws attn::Error for a missing,
// unreadable or UTF-16 file, and for a line with invalid UTF-8 or a NUL byte
// ("path:LINE: ..."). An empty file gives no lines; callers decide whether
// that is an error. A final line without "\n" counts; a final "\n" does not
// start another line.
std::vector<std::string> read_lines(const std::string& path);

// Pairs from a tab-separated file, one per line: source<TAB>target, anything
// after a second tab ignored.
std::vector<SentencePair> read_tsv(const std::string& path);

// Pairs from two line-aligned files: line i of source_path with line i of
// target_path.
std::vector<SentencePair> read_parallel(const std::string& source_path,
                                        const std::string& target_path);

}  // namespace attn::data
