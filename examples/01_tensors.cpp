// Chapter 01, tensors (docs/01-tensors.md): run it while you read.
//
//   ./build/release/examples/example_01_tensors
//
// A tensor is a flat buffer (Storage) plus (shape, strides, offset). Element
// (i0, i1, ...) lives at  offset + i0*strides[0] + i1*strides[1] + ... . Every
// section below prints a tensor, its layout, and checks one claim of the
// chapter; the program returns 1 if any check fails, so ctest catches it.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <attn/attn.h>

namespace {

using attn::Shape;
using attn::Tensor;

int failures = 0;

void check(bool ok, const std::string& claim) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAIL", claim.c_str());
  if (!ok) ++failures;
}

void section(const char* title) { std::printf("\n== %s\n", title); }

// Tensors print over several lines, aligned to start at column 0.
void show(const std::string& label, const Tensor& t) { std::cout << label << ":\n" << t << "\n"; }

// One line with the layout: what the debugger shows in *t.impl_.
void layout(const char* name, const Tensor& t) {
  std::printf("  %-8s shape=%-10s strides=%-10s offset=%lld contiguous=%s\n", name,
              attn::shape_str(t.shape()).c_str(), attn::shape_str(t.strides()).c_str(),
              static_cast<long long>(t.offset()), t.is_contiguous() ? "yes" : "no");
}

// The element at `index`, read straight from the storage with the address
// formula  offset + sum_k index[k] * strides[k]  (float tensors only).
float element_at(const Tensor& t, const Shape& index) {
  const float* base = static_cast<const float*>(t.unsafe_impl()->storage->data());
  int64_t address = t.offset();
  for (size_t k = 0; k < index.size(); ++k) address += index[k] * t.strides()[k];
  return base[address];
}

// Walks every index of a 2-d float tensor and compares the address formula with
// to_vector(), which copies the elements out in row-major order.
bool address_formula_holds(const Tensor& t) {
  std::vector<float> values = t.to_vector<float>();
  int64_t i = 0;
  for (int64_t r = 0; r < t.size(0); ++r) {
    for (int64_t c = 0; c < t.size(1); ++c) {
      if (element_at(t, {r, c}) != values[i++]) return false;
    }
  }
  return true;
}

}  // namespace

int main() {
  section("1. Creation");
  // from_vector: the values in row-major order, then the shape (tensor/creation.h).
  Tensor x = attn::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  show("x", x);
  show("zeros({2, 2})", attn::zeros({2, 2}));
  show("full({3}, 0.5, kFloat64)", attn::full({3}, 0.5, attn::kFloat64));
  show("arange(5)", attn::arange(5));  // int64, like torch
  attn::Generator generator(42);  // seeded: the same numbers on every run
  Tensor noise = attn::randn({2, 3}, attn::kFloat32, &generator);
  show("randn({2, 3}, seed 42)", noise);
  attn::Generator again(42);
  check(attn::randn({2, 3}, attn::kFloat32, &again).to_vector<float>() ==
            noise.to_vector<float>(),
        "the same seed gives the same numbers");
  check(x.dtype() == attn::kFloat32 && x.numel() == 6 && x.dim() == 2,
        "x is float32 with 6 elements in 2 dims");

  section("2. Shape, strides, offset");
  layout("x", x);
  check(x.strides() == Shape{3, 1}, "row-major strides of [2, 3] are [3, 1]");
  check(attn::contiguous_strides({2, 3, 4}) == Shape{12, 4, 1},
        "contiguous_strides([2, 3, 4]) = [12, 4, 1]");
  // x[1][2] lives at 0 + 1*3 + 2*1 = 5.
  std::printf("  x[1][2] is at address 0 + 1*3 + 2*1 = 5 and holds %.1f\n",
              element_at(x, {1, 2}));
  check(element_at(x, {1, 2}) == 5.0f, "address formula: x[1][2] = 5");

  section("3. Views share storage: transpose");
  Tensor xt = x.transpose(0, 1);  // (3, 2): the strides swap, no data moves
  show("xt", xt);
  layout("xt", xt);
  check(xt.strides() == Shape{1, 3}, "transpose swaps the strides: [1, 3]");
  check(xt.shares_storage_with(x), "xt shares x's storage");
  check(!xt.is_contiguous(), "xt is not contiguous");
  check(address_formula_holds(xt), "address formula agrees with to_vector() on every xt[i][j]");

  section("4. Views share storage: narrow and slice");
  Tensor cols = x.narrow(1, 1, 2);  // columns 1..2: the offset moves to 1
  show("x.narrow(1, 1, 2)", cols);
  layout("narrow", cols);
  check(cols.offset() == 1 && cols.strides() == Shape{3, 1}, "narrow moves the offset, keeps strides");
  check(address_formula_holds(cols), "address formula agrees on every element of the narrow");
  Tensor every_other = x.slice(1, 0, 3, 2);  // columns 0 and 2: stride 1 becomes 2
  show("x.slice(1, 0, 3, 2)", every_other);
  layout("slice", every_other);
  check(every_other.strides() == Shape{3, 2}, "a step of 2 doubles the stride");
  // Writing through a view writes into the shared buffer.
  Tensor y = x.clone();  // a copy, so x stays as it was for the sections below
  {
    Tensor column = y.narrow(1, 2, 1);  // (2, 1)
    column.fill_(-1.0);
  }
  show("y = x.clone(); y.narrow(1, 2, 1).fill_(-1) -> y", y);
  check(y.to_vector<float>() == std::vector<float>{0, 1, -1, 3, 4, -1},
        "filling a narrow view changed y itself");
  check(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5},
        "clone() made a copy: x is unchanged");

  section("5. expand: stride 0 repeats an element without copying it");
  Tensor row = attn::from_vector(std::vector<float>{10, 20, 30}, {3});
  Tensor rows = row.unsqueeze(0).expand({4, 3});  // (1, 3) -> (4, 3)
  show("row.unsqueeze(0).expand({4, 3})", rows);
  layout("expanded", rows);
  size_t bytes = rows.unsafe_impl()->storage->nbytes();
  std::printf("  %lld elements seen, %zu bytes stored (3 floats)\n",
              static_cast<long long>(rows.numel()), bytes);
  check(rows.strides() == Shape{0, 1}, "the expanded dim has stride 0");
  check(bytes == 3 * sizeof(float), "expand stored nothing new");
  check(address_formula_holds(rows), "address formula agrees on every element of the expand");

  section("6. contiguous() copies only when it must");
  Tensor packed = xt.contiguous();
  layout("packed", packed);
  check(packed.is_contiguous() && packed.strides() == Shape{2, 1}, "the copy is row-major [2, 1]");
  check(!packed.shares_storage_with(xt), "the copy has its own storage");
  check(packed.to_vector<float>() == xt.to_vector<float>(), "and the same values in the same order");
  check(x.contiguous().shares_storage_with(x), "contiguous() of a contiguous tensor is itself");
  // view() never copies, so it refuses a layout that would need one; reshape() copies.
  try {
    xt.view({6});
    check(false, "xt.view({6}) should have thrown");
  } catch (const attn::Error& error) {
    std::printf("  xt.view({6}) throws: %s\n", error.what());
    check(true, "view() refuses a non-contiguous layout it cannot express");
  }
  Tensor flat = xt.reshape({6});
  show("xt.reshape({6})", flat);
  check(!flat.shares_storage_with(xt), "reshape() of xt had to copy");
  check(x.reshape({3, 2}).shares_storage_with(x), "reshape() of x is a view");

  section("7. Broadcasting");
  // Align shapes from the right; each pair of sizes must be equal or one of them 1.
  Tensor bias = attn::from_vector(std::vector<float>{100, 200, 300}, {3});
  Tensor shifted = x + bias;  // (2, 3) + (3) -> (2, 3): bias is added to each row
  show("x + [100, 200, 300]", shifted);
  check(shifted.to_vector<float>() == std::vector<float>{100, 201, 302, 103, 204, 305},
        "(2, 3) + (3) adds the row to every row");
  Tensor column = attn::from_vector(std::vector<float>{0, 10, 20}, {3, 1});
  Tensor across = attn::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 4});
  Tensor table = column + across;  // (3, 1) + (1, 4) -> (3, 4): an outer sum
  show("(3, 1) + (1, 4)", table);
  check(table.shape() == Shape{3, 4} && table.to_vector<float>()[11] == 24.0f,
        "(3, 1) + (1, 4) -> (3, 4), last element 20 + 4");
  check(attn::broadcast_shapes({5, 1, 4}, {3, 1}, "demo") == Shape{5, 3, 4},
        "broadcast_shapes([5, 1, 4], [3, 1]) = [5, 3, 4]");
  try {
    Tensor bad = x + attn::ones({2});  // 3 vs 2 at the right: neither is 1
    check(false, "(2, 3) + (2) should have thrown");
  } catch (const attn::Error& error) {
    std::printf("  x + ones({2}) throws: %s\n", error.what());
    check(true, "(2, 3) + (2) is refused with both shapes named");
  }

  section("8. Printing");
  Tensor cube = attn::arange(0.0, 24.0, 1.0, attn::kFloat32).reshape({2, 3, 4});
  show("arange(0, 24).reshape({2, 3, 4}): a blank line between the 2-d blocks", cube);
  Tensor big = attn::arange(0.0, 2000.0, 1.0, attn::kFloat64).reshape({40, 50});
  show("arange(0, 2000).reshape({40, 50}): the first and last 3 of each dim", big);
  check(big.to_string().find("...") != std::string::npos,
        "more than 1000 elements print summarised with ...");
  Tensor scalar = attn::scalar_tensor(3.5);  // shape [], one element
  show("scalar_tensor(3.5)", scalar);
  check(scalar.dim() == 0 && scalar.item() == 3.5, "a 0-dim tensor holds one value; item() reads it");

  std::printf("\n%s: %d check(s) failed\n", failures == 0 ? "PASS" : "FAIL", failures);
  return failures == 0 ? 0 : 1;
}
