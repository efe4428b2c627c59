// Reading and writing the safetensors format (tensor/safetensors.h).
//
// The file, byte by byte:
//   [0, 8)          N, the header's length, a little-endian uint64
//   [8, 8 + N)      the header: UTF-8 JSON, padded with spaces to a multiple of 8
//   [8 + N, end)    the data section: each tensor's raw little-endian bytes,
//                   at the [begin, end) its "data_offsets" give, relative to 8 + N
//
// The header needs only a sliver of JSON, read and written by tensor/json.h
// rather than a library. The reader accepts any JSON value, so that this file
// can say precisely what is wrong ("shape of tensor 'w' must hold integers,
// got 2.5"); what is not JSON is refused with its byte offset in the file.
//
// Every check throws attn::Error naming the file: a broken checkpoint is a
// message, never a crash or a tensor of garbage.
#include "tensor/safetensors.h"

#include <sys/stat.h>  // stat
#include <unistd.h>    // fsync

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include "kernels/copy.h"  // kernels::kMaxDims
#include "tensor/json.h"

namespace attn {
namespace {

// The largest header read, as the reference implementation's MAX_HEADER_SIZE:
// the header only names and places the tensors, so a larger one is a broken
// or hostile file, refused before the bytes are allocated.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

using json::kind_name;
using Json = json::Value;

// --- the header's meaning ----------------------------------------------------------

// dtype strings of the format (safetensors' Dtype enum) for the four attn holds.
const char* format_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::BFloat16: return "BF16";
  }
  return "?";
}

bool parse_format_dtype(const std::string& name, DType* dtype) {
  if (name == "F32") { *dtype = kFloat32; return true; }
  if (name == "F64") { *dtype = kFloat64; return true; }
  if (name == "I64") { *dtype = kInt64; return true; }
  if (name == "BF16") { *dtype = kBFloat16; return true; }
  return false;
}

// A JSON number as a non-negative int64, or an error naming `what`.
int64_t to_index(const std::string& path, const Json& value, const std::string& what) {
  const std::string prefix = "load_safetensors: " + path + ": " + what;
  if (value.kind != Json::Kind::Number) {
    throw Error(prefix + " must hold integers, got " + kind_name(value.kind) + " at byte " +
                std::to_string(value.offset));
  }
  const std::string& s = value.text;
  bool digits_only =
      !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only) throw Error(prefix + " must hold non-negative integers, got " + s);
  int64_t result = 0;
  for (char c : s) {
    int64_t digit = c - '0';
    if (result > (INT64_MAX - digit) / 10) throw Error(prefix + " holds " + s + ", too large");
    result = result * 10 + digit;
  }
  return result;
}

// One tensor's entry, checked for types but not yet against the file's size.
struct Entry {
  std::string name;
  DType dtype = kFloat32;
  Shape shape;
  int64_t begin = 0, end = 0;  // data_offsets, relative to the data section
  int64_t nbytes = 0;          // numel * element size, from dtype and shape
};

Entry read_entry(const std::string& path, const std::string& name, const Json& info) {
  const std::string where = "tensor '" + name + "'";
  const std::string prefix = "load_safetensors: " + path + ": " + where;
  ATTN_CHECK(info.kind == Json::Kind::Object, prefix, " must be an object of dtype, shape and ",
             "data_offsets, got ", kind_name(info.kind));
  Entry entry;
  entry.name = name;
  const Json* dtype = nullptr;
  const Json* shape = nullptr;
  const Json* offsets = nullptr;
  for (const auto& [key, value] : info.members) {
    if (key == "dtype") dtype = &value;
    else if (key == "shape") shape = &value;
    else if (key == "data_offsets") offsets = &value;
    else throw Error(prefix + " has an unknown field '" + key + "'");
  }
  ATTN_CHECK(dtype != nullptr, prefix, " has no \"dtype\"");
  ATTN_CHECK(shape != nullptr, prefix, " has no \"shape\"");
  ATTN_CHECK(offsets != nullptr, prefix, " has no \"data_offsets\"");

  ATTN_CHECK(dtype->kind == Json::Kind::String, prefix, ": \"dtype\" must be a string");
  ATTN_CHECK(parse_format_dtype(dtype->text, &entry.dtype), prefix, " has dtype '", dtype->text,
             "'; attn reads F32, F64, I64 and BF16");

  ATTN_CHECK(shape->kind == Json::Kind::Array, prefix, ": \"shape\" must be an array");
  ATTN_CHECK(shape->items.size() <= static_cast<size_t>(kernels::kMaxDims), prefix, " has ",
             shape->items.size(), " dims; attn's tensors have at most ", kernels::kMaxDims);
  for (const Json& size : shape->items) {
    entry.shape.push_back(to_index(path, size, "the shape of " + where));
  }
  // Two products, each checked for overflow as it grows, so that a hostile
  // shape cannot wrap around: the bytes the tensor needs, and the bytes it
  // would need with its zero sizes taken as 1, which bounds every stride a
  // tensor of this shape computes ([0, 2^40, 2^40] holds no bytes, but its
  // first stride would be 2^80).
  const int64_t item = static_cast<int64_t>(element_size(entry.dtype));
  int64_t nbytes = item;
  int64_t extent = item;
  for (int64_t n : entry.shape) {
    const int64_t m = n > 0 ? n : 1;
    ATTN_CHECK(extent <= INT64_MAX / m, prefix, " has shape ", shape_str(entry.shape),
               ", too large: at ", item, " bytes an element (", dtype->text,
               "), its sizes multiply past 2^63 bytes");
    extent *= m;
    nbytes *= n;  // <= extent: no overflow
  }
  entry.nbytes = nbytes;

  ATTN_CHECK(offsets->kind == Json::Kind::Array && offsets->items.size() == 2, prefix,
             ": \"data_offsets\" must be an array [begin, end]");
  entry.begin = to_index(path, offsets->items[0], "data_offsets of " + where);
  entry.end = to_index(path, offsets->items[1], "data_offsets of " + where);
  ATTN_CHECK(entry.begin <= entry.end, prefix, " has data_offsets [", entry.begin, ", ", entry.end,
             "] that end before they begin");
  ATTN_CHECK(entry.end - entry.begin == entry.nbytes, prefix, " of dtype ", dtype->text,
             " and shape ", shape_str(entry.shape), " needs ", entry.nbytes,
             " bytes, but its data_offsets [", entry.begin, ", ", entry.end, "] span ",
             entry.end - entry.begin);
  return entry;
}

void check_utf8_for_save(const std::string& path, const std::string& s, const std::string& what) {
  size_t bad = json::find_invalid_utf8(s);
  ATTN_CHECK(bad == std::string::npos, "save_safetensors: ", path, ": ", what,
             " is not valid UTF-8 (byte ", bad, "); the header is JSON, which must be UTF-8");
}

void put_u64_le(unsigned char* out, uint64_t value) {
  for (int k = 0; k < 8; ++k) out[k] = static_cast<unsigned char>(value >> (8 * k));
}

uint64_t get_u64_le(const unsigned char* in) {
  uint64_t value = 0;
  for (int k = 7; k >= 0; --k) value = (value << 8) | in[k];
  return value;
}

// The tensor data is copied to and from the file as raw bytes, which is the
// format's little-endian layout only on a little-endian machine (x86, ARM).
void check_little_endian(const char* who) {
  const uint32_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  ATTN_CHECK(first == 1, who, ": this machine is big-endian; safetensors files are little-endian ",
             "and attn does not convert them");
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_little_endian("save_safetensors");
  // Everything is checked and made contiguous before the file is opened, so a
  // bad argument leaves nothing on disk.
  std::vector<std::pair<std::string, Tensor>> data;  // name -> contiguous CPU tensor
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      check_utf8_for_save(path, key, "metadata key '" + key + "'");
      check_utf8_for_save(path, value, "the value of metadata key '" + key + "'");
      if (!first) header += ',';
      first = false;
      json::append_string(header, key);
      header += ':';
      json::append_string(header, value);
    }
    header += "}";
  }
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    ATTN_CHECK(name != "__metadata__", "save_safetensors: ", path,
               ": '__metadata__' is reserved by the format and cannot name a tensor");
    check_utf8_for_save(path, name, "tensor name '" + name + "'");
    ATTN_CHECK(tensor.defined(), "save_safetensors: ", path, ": tensor '", name, "' is undefined");
    Tensor contiguous = tensor.detach().cpu().contiguous();
    int64_t nbytes = contiguous.numel() * static_cast<int64_t>(element_size(contiguous.dtype()));
    if (header.size() > 1) header += ',';
    json::append_string(header, name);
    header += ":{\"dtype\":\"";
    header += format_dtype(contiguous.dtype());
    header += "\",\"shape\":[";
    for (size_t d = 0; d < contiguous.shape().size(); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(contiguous.shape()[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
    data.emplace_back(name, contiguous);
  }
  header += "}";
  // Spaces up to a multiple of 8, as the reference writer does, so that the
  // data section starts 8-byte aligned for readers that map the file.
  while (header.size() % 8 != 0) header += ' ';

  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  ATTN_CHECK(file != nullptr, "save_safetensors: cannot open ", tmp, " for writing: ",
             std::strerror(errno));
  unsigned char length[8];
  put_u64_le(length, header.size());
  bool ok = std::fwrite(length, 1, 8, file) == 8 &&
            std::fwrite(header.data(), 1, header.size(), file) == header.size();
  for (size_t i = 0; ok && i < data.size(); ++i) {
    const Tensor& t = data[i].second;
    size_t nbytes = static_cast<size_t>(t.numel()) * element_size(t.dtype());
    if (nbytes == 0) continue;
    const char* bytes = static_cast<const char*>(t.unsafe_impl()->storage->data()) +
                        t.offset() * static_cast<int64_t>(element_size(t.dtype()));
    ok = std::fwrite(bytes, 1, nbytes, file) == nbytes;
  }
  // fsync before the rename: otherwise a power cut could leave the new name
  // pointing at a file whose data never reached the disk.
  ok = ok && std::fflush(file) == 0 && fsync(fileno(file)) == 0;
  int saved_errno = errno;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error("save_safetensors: writing " + tmp + " failed: " + std::strerror(saved_errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    saved_errno = errno;
    std::remove(tmp.c_str());
    throw Error("save_safetensors: cannot rename " + tmp + " to " + path + ": " +
                std::strerror(saved_errno));
  }
}

SafetensorsFile load_safetensors(const std::string& path) {
  check_little_endian("load_safetensors");
  const std::string prefix = "load_safetensors: " + path + ": ";
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), prefix, "cannot open the file: ", std::strerror(errno));
  struct stat info;
  ATTN_CHECK(::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode), prefix,
             "not a regular file (a directory?)");
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  ATTN_CHECK(file_size >= 8, prefix, "the file has ", file_size,
             " bytes, fewer than the 8 of the header length: it is truncated or not safetensors");

  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  const uint64_t header_length = get_u64_le(length_bytes);
  ATTN_CHECK(header_length <= static_cast<uint64_t>(file_size - 8), prefix, "the header length ",
             header_length, " is larger than the rest of the file (", file_size - 8,
             " bytes): the file is truncated or not safetensors");
  ATTN_CHECK(header_length <= kMaxHeaderBytes, prefix, "the header length ", header_length,
             " is larger than the ", kMaxHeaderBytes,
             " bytes a safetensors header may have: the file is broken or not safetensors");
  std::string header(static_cast<size_t>(header_length), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  ATTN_CHECK(in.good(), prefix, "reading the header failed");

  Json root = json::parse(header, prefix + "bad JSON header", 8);
  ATTN_CHECK(root.kind == Json::Kind::Object, prefix, "the header must be a JSON object, got ",
             kind_name(root.kind));

  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members) {
    if (name == "__metadata__") {
      ATTN_CHECK(value.kind == Json::Kind::Object, prefix,
                 "\"__metadata__\" must be an object of strings, got ", kind_name(value.kind));
      for (const auto& [key, item] : value.members) {
        ATTN_CHECK(item.kind == Json::Kind::String, prefix, "metadata key '", key,
                   "' must hold a string, got ", kind_name(item.kind));
        result.metadata[key] = item.text;
      }
      continue;
    }
    entries.push_back(read_entry(path, name, value));
  }

  // The data section must be exactly the tensors, back to back: a shorter one
  // is a truncated file, a longer one has something appended to it.
  const int64_t data_size = file_size - 8 - static_cast<int64_t>(header_length);
  int64_t needed = 0;
  for (const Entry& e : entries) {
    ATTN_CHECK(needed <= INT64_MAX - e.nbytes, prefix, "the tensors' sizes add up past 2^63 bytes");
    needed += e.nbytes;
  }
  ATTN_CHECK(data_size >= needed, prefix, "the file is truncated: the header describes ", needed,
             " bytes of tensor data but only ", data_size, " follow it");
  ATTN_CHECK(data_size == needed, prefix, "the data section holds ", data_size,
             " bytes but the tensors use ", needed, ": ", data_size - needed,
             " bytes of trailing garbage");

  // In bounds and disjoint; with the sizes adding up, the ranges tile the section.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) {
    ATTN_CHECK(e.end <= data_size, prefix, "tensor '", e.name, "' has data_offsets [", e.begin,
               ", ", e.end, "] beyond the data section (", data_size, " bytes)");
    by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry& a = *by_offset[i - 1];
    const Entry& b = *by_offset[i];
    ATTN_CHECK(b.begin >= a.end, prefix, "tensors '", a.name, "' [", a.begin, ", ", a.end,
               ") and '", b.name, "' [", b.begin, ", ", b.end, ") overlap");
  }

  const int64_t data_start = 8 + static_cast<int64_t>(header_length);
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.nbytes > 0) {
      in.seekg(data_start + e.begin, std::ios::beg);
      in.read(static_cast<char*>(t.unsafe_impl()->storage->data()), e.nbytes);
      ATTN_CHECK(in.good(), prefix, "reading the data of tensor '", e.name, "' failed");
    }
    result.tensors[e.name] = t;
  }
  return result;
}

}  // namespace attn
