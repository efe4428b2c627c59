// The stand-in for data/sentencepiece.cpp in a build without SentencePiece
// (CMake says "sentencepiece: off"): the same functions, each saying what is
// missing and how to get it, so that no caller needs an #ifdef.
#include "data/sentencepiece.h"

#include "kernels/error.h"

namespace attn::data {

struct SentencePieceModel::Impl {
  std::string bytes;
};

namespace {

[[noreturn]] void unavailable(const std::string& what) {
  throw Error(what + ": attn was built without SentencePiece, which --tokenizer spm needs. "
              "Install it (Debian: apt-get install libsentencepiece-dev, or scripts/install-deps), "
              "then configure and build again (CMake then prints \"sentencepiece: on\")");
}

}  // namespace

bool sentencepiece_available() { return false; }

SentencePieceModel SentencePieceModel::train(const std::vector<std::string>&,
                                             const SentencePieceOptions&) {
  unavailable("training a SentencePiece model");
}

SentencePieceModel SentencePieceModel::from_bytes(const std::string&, const std::string& where) {
  unavailable(where + ": reading a SentencePiece model");
}

SentencePieceModel SentencePieceModel::load(const std::string& path) {
  unavailable(path + ": reading a SentencePiece model");
}

void SentencePieceModel::save(const std::string& path) const {
  unavailable(path + ": writing a SentencePiece model");
}

std::vector<std::string> SentencePieceModel::encode(const std::string&) const {
  unavailable("SentencePiece encode");
}

std::string SentencePieceModel::decode(const std::vector<std::string>&) const {
  unavailable("SentencePiece decode");
}

const std::string& SentencePieceModel::bytes() const { unavailable("SentencePiece model bytes"); }

int64_t SentencePieceModel::size() const { unavailable("SentencePiece model size"); }

}  // namespace attn::data
