// What the fuzz harnesses share (tests/fuzz/README.md).
//
// A harness is one function, LLVMFuzzerTestOneInput(data, size), that feeds
// the bytes to one reader. An attn::Error is the reader doing its job (a
// message for a broken file) and is caught; anything else is a finding:
// a crash, a sanitizer report, another exception (it escapes and aborts),
// a hang, or a broken promise that the harness checks itself (check() below:
// a message that does not name the file, a value that does not round-trip).
//
// The same harness file builds two ways: with clang and libFuzzer (the clang
// sub-build, tests/fuzz/CMakeLists.txt), and with the main build's g++ and
// replay_main.cpp, which runs the committed corpus once as a plain test.
#pragma once

#include <fcntl.h>   // open
#include <unistd.h>  // write, close, getpid, access

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/error.h"

namespace attn_fuzz {

// A promise broken: print what and abort, so that libFuzzer saves the input
// as a crash and the replay test fails.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool condition, const std::string& what) {
  if (!condition) fail(what);
}

// Every reader of a file names it in its messages ("train.tsv:3: ..."), so a
// message without the path is a finding too.
inline void check_names(const attn::Error& error, const std::string& path) {
  const std::string message = error.what();
  check(message.find(path) != std::string::npos,
        "the message does not name the file " + path + ": " + message);
}

// The readers take a path, so each input is written to a file first: one per
// process and name, on /dev/shm (memory) where there is one, removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp ? tmp : "/tmp");
    path_ = dir + "/attn_fuzz_" + std::to_string(::getpid()) + "_" + name;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& path() const { return path_; }

  // Replaces the file's bytes with `bytes`.
  void write(const std::string& bytes) const {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0, "cannot create the scratch file " + path_);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      check(n > 0, "cannot write the scratch file " + path_);
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  }

 private:
  std::string path_;
};

}  // namespace attn_fuzz
