// --log FILE (train/cli/log_file.h).
#include "train/cli/log_file.h"

#include <iostream>

#include "kernels/error.h"

namespace attn::cli {

int LogFile::Tee::overflow(int c) {
  if (c == traits_type::eof()) return traits_type::not_eof(c);
  const int a = first_->sputc(static_cast<char>(c));
  const int b = second_->sputc(static_cast<char>(c));
  return a == traits_type::eof() || b == traits_type::eof() ? traits_type::eof() : c;
}

std::streamsize LogFile::Tee::xsputn(const char* text, std::streamsize count) {
  const std::streamsize a = first_->sputn(text, count);
  second_->sputn(text, count);  // the file's trouble must not silence the terminal
  return a;
}

int LogFile::Tee::sync() {
  const int a = first_->pubsync();
  const int b = second_->pubsync();
  return a == 0 && b == 0 ? 0 : -1;
}

LogFile::LogFile(const std::string& path, bool active) {
  if (path.empty() || !active) return;
  file_.open(path, std::ios::app);
  ATTN_CHECK(file_.is_open(), "--log ", path, ": cannot open it to write");
  out_buffer_ = std::cout.rdbuf();
  err_buffer_ = std::cerr.rdbuf();
  out_tee_ = std::make_unique<Tee>(out_buffer_, file_.rdbuf());
  err_tee_ = std::make_unique<Tee>(err_buffer_, file_.rdbuf());
  std::cout.rdbuf(out_tee_.get());
  std::cerr.rdbuf(err_tee_.get());
}

LogFile::~LogFile() {
  if (!out_tee_) return;
  std::cout.flush();
  std::cerr.flush();
  std::cout.rdbuf(out_buffer_);
  std::cerr.rdbuf(err_buffer_);
}

void LogFile::write_line(const std::string& line) {
  if (file_.is_open()) file_ << line << std::endl;
}

}  // namespace attn::cli
