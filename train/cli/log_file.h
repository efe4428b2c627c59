// Marian's --log FILE: what `attn train` writes to the terminal (std::cout and
// std::cerr) also goes to FILE, appended, so that the log of a run outlives
// its terminal and a resumed run adds to the same file. The progress bar is
// drawn with fprintf on stderr and stays out of the file.
#pragma once

#include <fstream>
#include <memory>
#include <streambuf>
#include <string>

namespace attn::cli {

class LogFile {
 public:
  // With an empty `path`, or `active` false (a data-parallel rank other than
  // 0), does nothing. Otherwise opens `path` to append (throws attn::Error
  // naming --log when it cannot) and copies std::cout and std::cerr into it
  // until destroyed.
  LogFile(const std::string& path, bool active);
  ~LogFile();  // gives std::cout and std::cerr their own buffers back
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // One line into the file only: the error that ends a run, which main()
  // prints after this object is gone.
  void write_line(const std::string& line);

 private:
  // A buffer that passes every character to two others.
  class Tee : public std::streambuf {
   public:
    Tee(std::streambuf* first, std::streambuf* second) : first_(first), second_(second) {}

   protected:
    int overflow(int c) override;
    std::streamsize xsputn(const char* text, std::streamsize count) override;
    int sync() override;

   private:
    std::streambuf* first_;
    std::streambuf* second_;
  };

  std::ofstream file_;
  std::unique_ptr<Tee> out_tee_, err_tee_;
  std::streambuf* out_buffer_ = nullptr;  // std::cout's own, put back at the end
  std::streambuf* err_buffer_ = nullptr;
};

}  // namespace attn::cli
