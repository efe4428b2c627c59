// SentencePiece through its C++ library (libsentencepiece-dev). Compiled only
// where CMake finds it; data/sentencepiece_unavailable.cpp stands in otherwise.
#include "data/sentencepiece.h"

#include <fstream>
#include <sstream>
#include <unordered_map>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "kernels/error.h"

namespace attn::data {

struct SentencePieceModel::Impl {
  std::string bytes;
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

// SentencePiece's messages start with where in its source the check failed,
// "./src/trainer_interface.cc(660) [(a) == (b)] Vocabulary size too high";
// a user needs only what follows.
std::string reason(const sentencepiece::util::Status& status) {
  std::string message = status.message();
  if (message.rfind("./src/", 0) == 0 || message.rfind("src/", 0) == 0) {
    size_t end = message.find("] ");
    if (end != std::string::npos) message = message.substr(end + 2);
  }
  return message;
}

// The trainer reads sentences through this iterator, so they need not be
// written to a file first. Blank sentences are skipped.
class Sentences : public sentencepiece::SentenceIterator {
 public:
  explicit Sentences(const std::vector<std::string>& sentences) : sentences_(sentences) { skip_blank(); }
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override {
    ++index_;
    skip_blank();
  }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void skip_blank() {
    while (index_ < sentences_.size() && sentences_[index_].empty()) ++index_;
  }
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace

bool sentencepiece_available() { return true; }

SentencePieceModel SentencePieceModel::train(const std::vector<std::string>& sentences,
                                             const SentencePieceOptions& options) {
  ATTN_CHECK(options.model_type == "unigram" || options.model_type == "bpe",
             "SentencePiece model type: expected unigram or bpe, got '", options.model_type, "'");
  ATTN_CHECK(options.vocab_size > 0 && options.vocab_size <= (int64_t{1} << 24),
             "SentencePiece vocabulary size: expected 1 to 16777216, got ", options.vocab_size);
  size_t non_blank = 0;
  for (const std::string& sentence : sentences) non_blank += sentence.empty() ? 0 : 1;
  ATTN_CHECK(non_blank > 0, "SentencePiece: no text to learn pieces from (",
             sentences.size(), " sentences, all blank)");
  // SentencePiece's own defaults otherwise (nmt_nfkc normalisation, character
  // coverage 0.9995, every sentence used). One thread: the model must not
  // depend on the machine's core count, and training takes seconds anyway.
  const std::unordered_map<std::string, std::string> arguments = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"num_threads", "1"},
      {"minloglevel", "2"},  // errors only: its progress lines would drown attn's log
  };
  Sentences iterator(sentences);
  std::string bytes;
  sentencepiece::util::Status status =
      sentencepiece::SentencePieceTrainer::Train(arguments, &iterator, &bytes);
  ATTN_CHECK(status.ok(), "SentencePiece could not learn a ", options.model_type, " model of ",
             options.vocab_size, " pieces from ", non_blank, " sentences: ", reason(status));
  return from_bytes(bytes, "the SentencePiece model just trained");
}

SentencePieceModel SentencePieceModel::from_bytes(const std::string& bytes, const std::string& where) {
  ATTN_CHECK(!bytes.empty(), where, ": an empty SentencePiece model");
  auto impl = std::make_shared<Impl>();
  impl->bytes = bytes;
  sentencepiece::util::Status status = impl->processor.LoadFromSerializedProto(bytes);
  const std::string why = reason(status);
  ATTN_CHECK(status.ok(), where, ": not a SentencePiece model (", bytes.size(),
             " bytes that do not parse as one", why.empty() ? "" : ": " + why,
             "); give a NAME.model file written by spm_train or by attn");
  SentencePieceModel model;
  model.impl_ = std::move(impl);
  return model;
}

SentencePieceModel SentencePieceModel::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), path, ": cannot open the SentencePiece model");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  ATTN_CHECK(!in.bad(), path, ": cannot read the SentencePiece model");
  return from_bytes(bytes.str(), path);
}

void SentencePieceModel::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  ATTN_CHECK(out.is_open(), path, ": cannot write the SentencePiece model");
  out << bytes();
  out.close();
  ATTN_CHECK(!out.fail(), path, ": writing the SentencePiece model failed");
}

std::vector<std::string> SentencePieceModel::encode(const std::string& text) const {
  ATTN_CHECK(impl_, "SentencePiece: encode without a model");
  std::vector<std::string> pieces;
  sentencepiece::util::Status status = impl_->processor.Encode(text, &pieces);
  ATTN_CHECK(status.ok(), "SentencePiece could not encode '", text.substr(0, 60), "': ", reason(status));
  return pieces;
}

std::string SentencePieceModel::decode(const std::vector<std::string>& pieces) const {
  ATTN_CHECK(impl_, "SentencePiece: decode without a model");
  std::string text;
  sentencepiece::util::Status status = impl_->processor.Decode(pieces, &text);
  ATTN_CHECK(status.ok(), "SentencePiece could not decode ", pieces.size(), " pieces: ", reason(status));
  return text;
}

const std::string& SentencePieceModel::bytes() const {
  ATTN_CHECK(impl_, "SentencePiece: no model");
  return impl_->bytes;
}

int64_t SentencePieceModel::size() const {
  ATTN_CHECK(impl_, "SentencePiece: no model");
  return impl_->processor.GetPieceSize();
}

}  // namespace attn::data
