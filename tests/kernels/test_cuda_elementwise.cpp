// The element-wise, copy, reduction, index and random CUDA kernels against
// their CPU twins (kernels/cuda/{elementwise,copy,reduce,index,random}.cu).
//
// Each test draws fresh random inputs, runs the CPU kernel on them and the
// CUDA kernel on a GPU copy, and compares. Buffers are vectors and raw device
// memory (DeviceBuffer), so each kernel is called exactly as its header
// (kernels/elementwise.h, kernels/copy.h, ...) declares it.
// Every comparison names its tolerance and why: exact where both devices do
// the same IEEE operations in the same order (copies, + - * /, comparisons,
// the ordered scatter-adds); a few ulps where the math libraries differ
// (expf, tanhf, powf); the rounding of a reordered double sum (reductions).
//
// The CpuKernelsNew tests at the end need no GPU: they check the new CPU
// kernels (uniform, max_reduce_backward, sum_of_squares) against references.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/copy.h"
#include "kernels/elementwise.h"
#include "kernels/index.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "tests/kernels/cuda_test_util.h"

namespace {

using attn::Device;
using attn::kernels::BinaryOp;
using attn::kernels::CompareOp;
using attn::kernels::UnaryOp;
namespace kernels = attn::kernels;
namespace cuda = attn::kernels::cuda;
using Shape = std::vector<int64_t>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// 0 must launch nothing (a grid of 0 blocks is a launch error); the others
// divide no block size, so partial blocks and grid-stride tails run.
const int64_t kSizes[] = {0, 1, 37, 1000, 65537};

// Float results of the math library: glibc and CUDA are each within a few
// ulps (float's ulp is at most 1.2e-7 relative), so 1e-6 is ~8 ulps. Double:
// CUDA's exp, log, tanh, pow are within 2 ulps of 1.1e-16.
template <typename T>
constexpr double kUlps = std::is_same_v<T, float> ? 1e-6 : 1e-14;

// Uniform in [lo, hi) from attn's own generator (integers: floor of it).
template <typename T>
std::vector<T> random_vector(int64_t n, double lo, double hi, attn::Generator& g) {
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) {
    const double u = lo + (hi - lo) * g.uniform();
    x = static_cast<T>(std::is_same_v<T, int64_t> ? std::floor(u) : u);
  }
  return v;
}

// A device copy of a host vector, freed on scope exit.
template <typename T>
class DeviceBuffer {
  size_t count_;
  T* ptr_;

 public:
  explicit DeviceBuffer(const std::vector<T>& host)
      : count_(host.size()), ptr_(static_cast<T*>(cuda::device_malloc(sizeof(T) * count_))) {
    cuda::copy_host_to_device(ptr_, host.data(), sizeof(T) * count_);
  }
  ~DeviceBuffer() { cuda::device_free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> to_host() const {  // waits for the kernels queued before it
    std::vector<T> host(count_);
    cuda::copy_device_to_host(host.data(), ptr_, sizeof(T) * count_);
    return host;
  }
};

// expect_close (cuda_test_util.h) on two host vectors: |gpu - cpu| <= tol * (1 + |cpu|).
template <typename T>
void compare(const std::vector<T>& want, const std::vector<T>& got, double tol,
             const std::string& what) {
  const Shape shape = {static_cast<int64_t>(want.size())};
  attn_cuda_test::expect_close(attn::from_vector(want, shape), attn::from_vector(got, shape), tol,
                               what);
}

// The strides that read a contiguous tensor of shape `in` as the broadcast
// shape `out`: aligned at the right, 0 where `in` has size 1 or no dim.
Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t d_in = in.size() - 1 - k, d_out = out.size() - 1 - k;
    strides[d_out] = in[d_in] == 1 ? 0 : stride;
    stride *= in[d_in];
  }
  return strides;
}

// A view for the strided kernels. span(): the elements it can reach (at least 1).
struct View {
  Shape shape, strides;
  int64_t span() const {
    int64_t last = 0;
    for (size_t d = 0; d < shape.size(); ++d) last += (shape[d] - 1) * strides[d];
    return attn::shape_numel(shape) == 0 ? 1 : last + 1;
  }
};

// Runs a kernel's twins (on_cpu gets a host pointer, on_gpu a device one) into
// outputs of `size` elements that start as 7, so an unwritten one shows.
template <typename T, typename OnCpu, typename OnGpu>
void expect_twins(int64_t size, const OnCpu& on_cpu, const OnGpu& on_gpu, double tol,
                  const std::string& what) {
  std::vector<T> want(static_cast<size_t>(size), T(7));
  on_cpu(want.data());
  DeviceBuffer<T> got(std::vector<T>(want.size(), T(7)));
  on_gpu(got.get());
  compare(want, got.to_host(), tol, what);
}

// A test that runs check<float>(seed) and check<double>(seed + 1), and
// check<int64_t>(seed + 2) for the kernels that take int64, on a GPU only.
#define ATTN_TWIN_TEST(name, check, seed) \
  TEST(CudaElementwise, name) {           \
    ATTN_REQUIRE_GPU();                   \
    check<float>(seed);                   \
    check<double>(seed + 1);              \
  }
#define ATTN_TWIN_TEST3(name, check, seed) \
  TEST(CudaElementwise, name) {            \
    ATTN_REQUIRE_GPU();                    \
    check<float>(seed);                    \
    check<double>(seed + 1);               \
    check<int64_t>(seed + 2);              \
  }

// --- elementwise.cu --------------------------------------------------------

template <typename T>
void check_unary(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { UnaryOp op; double lo, hi, tol; };
  const Case cases[] = {
      // Exact: a sign flip, a select, a mask.
      {UnaryOp::Neg, -5, 5, 0}, {UnaryOp::Relu, -5, 5, 0}, {UnaryOp::Abs, -5, 5, 0},
      // Math library on both sides. The CPU's float tanh goes through exp in
      // double (kernels/cpu/fast_math.h), the GPU's through tanhf: a few ulps.
      {UnaryOp::Exp, -20, 20, kUlps<T>}, {UnaryOp::Log, 1e-3, 100, kUlps<T>},
      {UnaryOp::Sqrt, 0, 100, kUlps<T>}, {UnaryOp::Tanh, -10, 10, kUlps<T>},
      {UnaryOp::Sigmoid, -30, 30, kUlps<T>}};
  for (int64_t n : kSizes) {
    for (const Case& c : cases) {
      std::vector<T> x = random_vector<T>(n, c.lo, c.hi, g);
      // NaN, infinities, signed zeros and extremes must agree too (relu(NaN)
      // is 0 on both, as the CPU's x > 0 ? x : 0 gives).
      const double special[] = {kNaN, kInf, -kInf, 0.0, -0.0, 1e-30, -1e-5, 100, -100};
      for (size_t i = 0; i < 9 && n >= 1000; ++i) x[i] = static_cast<T>(special[i]);
      DeviceBuffer<T> dx(x);
      expect_twins<T>(
          n, [&](T* out) { kernels::unary<Device::CPU>(c.op, n, x.data(), out); },
          [&](T* out) { kernels::unary<Device::CUDA>(c.op, n, dx.get(), out); }, c.tol,
          "unary op " + std::to_string(int(c.op)) + " n=" + std::to_string(n));
    }
  }
}

ATTN_TWIN_TEST(UnaryMatchesCpu, check_unary, 11)

template <typename T>
void check_binary(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { Shape out; View a, b; };
  const Case cases[] = {
      {{1000}, {{1000}, {1}}, {{1000}, {1}}},
      {{7, 33, 5}, {{7, 33, 5}, broadcast_strides({7, 33, 5}, {7, 33, 5})},
       {{7, 33, 5}, broadcast_strides({33, 1}, {7, 33, 5})}},
      {{3, 4, 257}, {{3, 4, 257}, broadcast_strides({3, 1, 257}, {3, 4, 257})},
       {{3, 4, 257}, broadcast_strides({4, 1}, {3, 4, 257})}},
      {{65537}, {{65537}, {1}}, {{65537}, {0}}},                    // b a scalar
      {{37, 5}, {{37, 5}, {1, 37}}, {{37, 5}, {0, 1}}},              // a transposed
      {{}, {{}, {}}, {{}, {}}},                                      // 0-dim
      {{2, 0, 3}, {{2, 0, 3}, {0, 3, 1}}, {{2, 0, 3}, {0, 3, 1}}}};  // empty
  struct OpCase { BinaryOp op; double tol; };
  // One IEEE operation, correctly rounded on both devices (nvcc's default
  // -prec-div=true makes / exact too): bit-identical. powf/pow: a few ulps.
  const OpCase ops[] = {{BinaryOp::Add, 0}, {BinaryOp::Sub, 0},     {BinaryOp::Mul, 0},
                        {BinaryOp::Div, 0}, {BinaryOp::Maximum, 0}, {BinaryOp::Pow, kUlps<T>}};
  for (const Case& c : cases) {
    const int ndim = static_cast<int>(c.out.size());
    for (const OpCase& o : ops) {
      // pow gets a positive base, so that its results are numbers.
      const double a_low = o.op == BinaryOp::Pow ? 0.1 : -3;
      const std::vector<T> a = random_vector<T>(c.a.span(), a_low, 3, g);
      const std::vector<T> b = random_vector<T>(c.b.span(), 0.5, 2, g);
      DeviceBuffer<T> da(a), db(b);
      const int64_t* as = c.a.strides.data();
      const int64_t* bs = c.b.strides.data();
      expect_twins<T>(
          attn::shape_numel(c.out),
          [&](T* out) {
            kernels::binary<Device::CPU>(o.op, ndim, c.out.data(), a.data(), as, b.data(), bs, out);
          },
          [&](T* out) {
            kernels::binary<Device::CUDA>(o.op, ndim, c.out.data(), da.get(), as, db.get(), bs,
                                          out);
          },
          o.tol, "binary op " + std::to_string(int(o.op)) + " out " + attn::shape_str(c.out));
    }
  }
}

ATTN_TWIN_TEST(BinaryMatchesCpu, check_binary, 13)

template <typename T>
void check_binary_scalar(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { BinaryOp op; T scalar; double tol; };
  // As for binary: exact but for pow. x^2 is x * x on both devices: exact.
  const Case cases[] = {{BinaryOp::Add, T(1.5), 0},        {BinaryOp::Sub, T(-0.25), 0},
                        {BinaryOp::Mul, T(0.1), 0},        {BinaryOp::Div, T(3), 0},
                        {BinaryOp::Maximum, T(0.2), 0},    {BinaryOp::Pow, T(2), 0},
                        {BinaryOp::Pow, T(0.5), kUlps<T>}, {BinaryOp::Pow, T(-1.5), kUlps<T>}};
  for (int64_t n : kSizes) {
    for (const Case& c : cases) {
      const double lo = c.op == BinaryOp::Pow && c.scalar != T(2) ? 0.1 : -3;
      const std::vector<T> x = random_vector<T>(n, lo, 3, g);
      DeviceBuffer<T> dx(x);
      expect_twins<T>(
          n, [&](T* out) { kernels::binary_scalar<Device::CPU>(c.op, n, x.data(), c.scalar, out); },
          [&](T* out) { kernels::binary_scalar<Device::CUDA>(c.op, n, dx.get(), c.scalar, out); },
          c.tol, "scalar op " + std::to_string(int(c.op)) + " n=" + std::to_string(n));
    }
  }
}

ATTN_TWIN_TEST(BinaryScalarMatchesCpu, check_binary_scalar, 15)

// Few distinct values, so that Eq, Le and Ge meet ties; a NaN in the floats
// (every comparison with it false but Ne). Comparisons are exact.
template <typename T>
void check_compare(uint64_t seed) {
  attn::Generator g(seed);
  for (int64_t n : kSizes) {
    std::vector<T> x = random_vector<T>(n, 0, 5, g);
    for (T& v : x) v = static_cast<T>(std::floor(static_cast<double>(v)));
    if (n > 0 && !std::is_same_v<T, int64_t>) x[0] = static_cast<T>(kNaN);
    DeviceBuffer<T> dx(x);
    for (CompareOp op : {CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt,
                         CompareOp::Ge}) {
      expect_twins<T>(
          n, [&](T* out) { kernels::compare_scalar<Device::CPU>(op, n, x.data(), T(2), out); },
          [&](T* out) { kernels::compare_scalar<Device::CUDA>(op, n, dx.get(), T(2), out); }, 0,
          "compare op " + std::to_string(int(op)) + " n=" + std::to_string(n));
    }
  }
}

ATTN_TWIN_TEST3(CompareScalarMatchesCpu, check_compare, 17)

// where() only selects: exact.
template <typename T>
void check_where(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { Shape out; View cond, a, b; };
  const Case cases[] = {
      {{7, 33, 5}, {{7, 33, 5}, broadcast_strides({33, 1}, {7, 33, 5})},
       {{7, 33, 5}, broadcast_strides({7, 33, 5}, {7, 33, 5})},
       {{7, 33, 5}, broadcast_strides({5}, {7, 33, 5})}},
      {{65537}, {{65537}, {1}}, {{65537}, {1}}, {{65537}, {1}}},
      {{37, 5}, {{37, 5}, {0, 0}}, {{37, 5}, {1, 37}}, {{37, 5}, {0, 1}}}};
  for (const Case& c : cases) {
    const int ndim = static_cast<int>(c.out.size());
    const std::vector<int64_t> cond = random_vector<int64_t>(c.cond.span(), 0, 2, g);
    const std::vector<T> a = random_vector<T>(c.a.span(), -3, 3, g);
    const std::vector<T> b = random_vector<T>(c.b.span(), -3, 3, g);
    DeviceBuffer<int64_t> dcond(cond);
    DeviceBuffer<T> da(a), db(b);
    const int64_t *shape = c.out.data(), *cs = c.cond.strides.data(), *as = c.a.strides.data(),
                  *bs = c.b.strides.data();
    expect_twins<T>(
        attn::shape_numel(c.out),
        [&](T* out) {
          kernels::where<Device::CPU>(ndim, shape, cond.data(), cs, a.data(), as, b.data(), bs,
                                      out);
        },
        [&](T* out) {
          kernels::where<Device::CUDA>(ndim, shape, dcond.get(), cs, da.get(), as, db.get(), bs,
                                       out);
        },
        0, "where out " + attn::shape_str(c.out));
  }
}

ATTN_TWIN_TEST(WhereMatchesCpu, check_where, 20)

// --- copy.cu ----------------------------------------------------------------

// Strided reads (transposed, broadcast, stepped, 0-dim, empty, all 8 dims
// reversed) copy values unchanged: exact.
template <typename T>
void check_copy_strided(uint64_t seed) {
  attn::Generator g(seed);
  Shape shape8 = {2, 3, 2, 3, 2, 3, 2, 3}, strides8(8);
  for (int d = 0, stride = 1; d < 8; stride *= int(shape8[d]), ++d) strides8[d] = stride;
  const View views[] = {{{37, 5}, {1, 37}}, {{3, 4, 257}, {0, 257, 1}}, {{1000}, {2}},
                        {{65537}, {1}},     {{}, {}},                   {{4, 0, 3}, {0, 3, 1}},
                        {shape8, strides8}};
  for (const View& v : views) {
    const int ndim = static_cast<int>(v.shape.size());
    const std::vector<T> src = random_vector<T>(v.span(), -1000, 1000, g);
    DeviceBuffer<T> dsrc(src);
    const int64_t *shape = v.shape.data(), *strides = v.strides.data();
    expect_twins<T>(
        attn::shape_numel(v.shape),
        [&](T* out) { kernels::copy_strided<Device::CPU>(ndim, shape, src.data(), strides, out); },
        [&](T* out) { kernels::copy_strided<Device::CUDA>(ndim, shape, dsrc.get(), strides, out); },
        0, "copy_strided shape " + attn::shape_str(v.shape));
  }
}

ATTN_TWIN_TEST3(CopyStridedMatchesCpu, check_copy_strided, 22)

// Scatters, with and without accumulate, into views that include 0 strides
// (an expand's backward: many source elements onto one destination element).
// Exact: the GPU applies each destination's adds in the CPU's serial order
// (kernels/cuda/copy.cu), and without accumulate the same last write wins.
// The destination starts with random values, which must survive where the
// view does not reach (the stepped view leaves every other element).
template <typename T>
void check_copy_into_strided(uint64_t seed) {
  attn::Generator g(seed);
  const View views[] = {{{37, 5}, {1, 37}}, {{64, 33}, {0, 1}}, {{3, 50, 4}, {4, 0, 1}},
                        {{1000}, {2}},      {{65537}, {1}},     {{}, {}},
                        {{5, 70}, {0, 0}},  {{4, 0, 3}, {0, 3, 1}}};
  for (const View& v : views) {
    for (bool accumulate : {false, true}) {
      const int ndim = static_cast<int>(v.shape.size());
      const std::vector<T> src = random_vector<T>(attn::shape_numel(v.shape), -10, 10, g);
      std::vector<T> want = random_vector<T>(v.span(), -10, 10, g);
      DeviceBuffer<T> dsrc(src), ddst(want);
      kernels::copy_into_strided<Device::CPU>(ndim, v.shape.data(), src.data(), want.data(),
                                              v.strides.data(), accumulate);
      kernels::copy_into_strided<Device::CUDA>(ndim, v.shape.data(), dsrc.get(), ddst.get(),
                                               v.strides.data(), accumulate);
      compare(want, ddst.to_host(), 0,
              "copy_into_strided " + attn::shape_str(v.shape) + (accumulate ? " accumulate" : ""));
    }
  }
}

ATTN_TWIN_TEST3(CopyIntoStridedMatchesCpu, check_copy_into_strided, 25)

// Fill (with a value cast to To) and convert: exact. A conversion is one
// correctly rounded cast on both devices; float -> int64 truncates toward
// zero, negatives included; int64 values up to 2^40 round to float.
template <typename From, typename To>
void check_fill_and_convert(double lo, double hi, uint64_t seed) {
  attn::Generator g(seed);
  const To value = static_cast<To>(-7.25);
  for (int64_t n : kSizes) {
    const std::vector<From> x = random_vector<From>(n, lo, hi, g);
    DeviceBuffer<From> dx(x);
    expect_twins<To>(
        n, [&](To* out) { kernels::fill<Device::CPU>(n, value, out); },
        [&](To* out) { kernels::fill<Device::CUDA>(n, value, out); }, 0,
        "fill n=" + std::to_string(n));
    expect_twins<To>(
        n, [&](To* out) { kernels::convert<Device::CPU>(n, x.data(), out); },
        [&](To* out) { kernels::convert<Device::CUDA>(n, dx.get(), out); }, 0,
        "convert n=" + std::to_string(n));
  }
}

TEST(CudaElementwise, FillAndConvertMatchCpu) {
  ATTN_REQUIRE_GPU();
  const double big = 1099511627776.0;  // 2^40
  check_fill_and_convert<float, double>(-1000, 1000, 28);
  check_fill_and_convert<double, float>(-1000, 1000, 29);
  check_fill_and_convert<int64_t, float>(-big, big, 30);
  check_fill_and_convert<int64_t, double>(-big, big, 31);
  check_fill_and_convert<float, int64_t>(-1000, 1000, 32);
  check_fill_and_convert<double, int64_t>(-1000, 1000, 33);
}

// --- reduce.cu ----------------------------------------------------------------

struct Layout { int64_t outer, n, inner; };
// Rows short (per-thread kernel) and long (block kernel, and chunked past
// 16384), columns (inner > 1), and n = 0 (sums to zeros; a max has no value
// and writes nothing).
const Layout kLayouts[] = {{1, 1, 1},    {1, 37, 1},   {3, 1000, 1},  {2, 65537, 1}, {1000, 10, 1},
                           {5, 7, 3},    {4, 1000, 37}, {1, 1000, 65}, {3, 0, 4}};

std::string name(const Layout& l) { return attn::shape_str({l.outer, l.n, l.inner}); }

// Both devices sum in double and round once; only the order of the double
// adds differs. Floats then agree to an ulp of the result (1e-6 is ample).
// Doubles differ by the rounding of ~n adds to partial sums of size ~sqrt(n):
// about 1e-12 for n = 65537, so 1e-10 leaves a wide margin (a lost term
// would be off by ~0.5).
template <typename T>
void check_sum(uint64_t seed) {
  attn::Generator g(seed);
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-10;
  for (const Layout& l : kLayouts) {
    const std::vector<T> x = random_vector<T>(l.outer * l.n * l.inner, -1, 1, g);
    DeviceBuffer<T> dx(x);
    expect_twins<T>(
        l.outer * l.inner,
        [&](T* out) { kernels::sum_reduce<Device::CPU>(x.data(), l.outer, l.n, l.inner, out); },
        [&](T* out) { kernels::sum_reduce<Device::CUDA>(dx.get(), l.outer, l.n, l.inner, out); },
        tol, "sum_reduce " + name(l));
  }
}

ATTN_TWIN_TEST(SumReduceMatchesCpu, check_sum, 34)

// Max is exact (it only selects), argmax too. Returns the argmax.
template <typename T>
std::vector<int64_t> expect_max_twins(const std::vector<T>& x, const Layout& l,
                                      const std::string& what) {
  const size_t outputs = static_cast<size_t>(l.outer * l.inner);
  std::vector<T> want(outputs, T(7));
  std::vector<int64_t> want_k(outputs, -1);
  kernels::max_reduce<Device::CPU>(x.data(), l.outer, l.n, l.inner, want.data(), want_k.data());
  DeviceBuffer<T> dx(x), dout(std::vector<T>(outputs, T(7)));
  DeviceBuffer<int64_t> dk(std::vector<int64_t>(outputs, -1));
  kernels::max_reduce<Device::CUDA>(dx.get(), l.outer, l.n, l.inner, dout.get(), dk.get());
  const std::vector<T> got = dout.to_host();
  compare(want, got, 0, what);
  EXPECT_EQ(want_k, dk.to_host()) << "argmax of " << what;
  for (size_t i = 0; i < outputs; ++i) {  // max of ±0 keeps the first one's sign
    EXPECT_EQ(std::signbit(want[i]), std::signbit(got[i])) << what << " at " << i;
  }
  return want_k;
}

// Few distinct values make many ties (the first index wins), and NaNs planted
// in one column (the first NaN wins), as on the CPU. Then rows of ±0 (equal:
// the first wins, sign and all), of -inf, and one that starts with NaN, long
// enough (100) for the block kernel.
template <typename T>
void check_max(uint64_t seed) {
  attn::Generator g(seed);
  for (const Layout& l : kLayouts) {
    std::vector<T> x = random_vector<T>(l.outer * l.n * l.inner, 0, 8, g);
    for (T& v : x) v = std::floor(v);
    if (l.outer >= 2 && l.n >= 2) {  // column (o = 1, i = 0): NaN at n/2 and n-1
      x[static_cast<size_t>((l.n + l.n / 2) * l.inner)] = static_cast<T>(kNaN);
      x[static_cast<size_t>((l.n + l.n - 1) * l.inner)] = static_cast<T>(kNaN);
    }
    const std::vector<int64_t> argmax = expect_max_twins(x, l, "max_reduce " + name(l));
    // The backward only places grad values and zeros: exact too.
    const std::vector<T> grad = random_vector<T>(l.outer * l.inner, -1, 1, g);
    DeviceBuffer<T> dgrad(grad);
    DeviceBuffer<int64_t> dargmax(argmax);
    const int64_t o = l.outer, n = l.n, i = l.inner;
    const int64_t* k = argmax.data();
    expect_twins<T>(
        o * n * i,
        [&](T* dx) { kernels::max_reduce_backward<Device::CPU>(grad.data(), k, o, n, i, dx); },
        [&](T* dx) {
          kernels::max_reduce_backward<Device::CUDA>(dgrad.get(), dargmax.get(), o, n, i, dx);
        },
        0, "max_reduce_backward " + name(l));
  }
  const int64_t n = 100;
  std::vector<T> rows(3 * n, T(-0.0));
  for (int64_t k = 5; k < n; k += 7) rows[static_cast<size_t>(k)] = T(0.0);
  for (int64_t k = 0; k < n; ++k) rows[static_cast<size_t>(n + k)] = static_cast<T>(-kInf);
  rows[static_cast<size_t>(2 * n)] = static_cast<T>(kNaN);
  expect_max_twins(rows, Layout{3, n, 1}, "max_reduce of ±0, -inf and NaN rows");
}

ATTN_TWIN_TEST(MaxReduceAndBackwardMatchCpu, check_max, 36)

// Both sum squares in double in different orders: the results agree to the
// rounding of n double adds (relative 1e-12 is ~ 10^4 ulps, far above it).
// The GPU's sum stays in device memory; the result starts as NaN so that a
// kernel that never writes it (n = 0 included) fails the comparison.
template <typename T>
void check_sum_of_squares(uint64_t seed) {
  attn::Generator g(seed);
  for (int64_t n : {0, 1, 37, 1000, 65537, 1000003}) {
    const std::vector<T> x = random_vector<T>(n, -2, 2, g);
    double want = 0;
    kernels::sum_of_squares<Device::CPU>(n, x.data(), &want);
    DeviceBuffer<T> dx(x);
    DeviceBuffer<double> dout(std::vector<double>{kNaN});
    kernels::sum_of_squares<Device::CUDA>(n, dx.get(), dout.get());
    double got = 0;
    cuda::copy_device_to_host(&got, dout.get(), sizeof(double));  // waits for the kernels
    EXPECT_NEAR(got, want, 1e-12 * (1 + want)) << "n=" << n;
  }
}

ATTN_TWIN_TEST(SumOfSquaresMatchesCpu, check_sum_of_squares, 40)

// --- index.cu -------------------------------------------------------------------

// index_select copies: exact.
template <typename T>
void check_index_select(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { int64_t outer, src_n, inner, index_n; };
  for (const Case& c : {Case{1, 50, 37, 1000}, Case{3, 7, 1, 5}, Case{2, 10, 65, 37},
                        Case{1, 5, 3, 0}}) {
    const std::vector<T> src = random_vector<T>(c.outer * c.src_n * c.inner, -100, 100, g);
    const std::vector<int64_t> index = random_vector<int64_t>(c.index_n, 0, double(c.src_n), g);
    DeviceBuffer<T> dsrc(src);
    DeviceBuffer<int64_t> dindex(index);
    const int64_t o = c.outer, n = c.src_n, i = c.inner, j = c.index_n;
    expect_twins<T>(
        o * j * i,
        [&](T* out) {
          kernels::index_select<Device::CPU>(src.data(), o, n, i, index.data(), j, out);
        },
        [&](T* out) {
          kernels::index_select<Device::CUDA>(dsrc.get(), o, n, i, dindex.get(), j, out);
        },
        0, "index_select index_n=" + std::to_string(j));
  }
}

ATTN_TWIN_TEST3(IndexSelectMatchesCpu, check_index_select, 42)

// index_add with many repeated indices and a skipped (padding) index, into a
// dst that already holds values. Exact: every dst element receives its adds
// in increasing j on both devices (kernels/cuda/index.cu).
template <typename T>
void check_index_add(uint64_t seed) {
  attn::Generator g(seed);
  struct Case { int64_t outer, index_n, inner, dst_n, skip; };
  for (const Case& c : {Case{1, 1000, 37, 50, 3}, Case{2, 300, 5, 7, -1}, Case{3, 10, 1, 4, 0},
                        Case{1, 65537, 1, 10, 9}, Case{2, 0, 3, 4, -1}}) {
    const std::vector<T> grad = random_vector<T>(c.outer * c.index_n * c.inner, -1, 1, g);
    const std::vector<int64_t> index = random_vector<int64_t>(c.index_n, 0, double(c.dst_n), g);
    std::vector<T> want = random_vector<T>(c.outer * c.dst_n * c.inner, -1, 1, g);
    DeviceBuffer<T> dgrad(grad), ddst(want);
    DeviceBuffer<int64_t> dindex(index);
    kernels::index_add<Device::CPU>(grad.data(), c.outer, c.index_n, c.inner, index.data(), c.skip,
                                    c.dst_n, want.data());
    kernels::index_add<Device::CUDA>(dgrad.get(), c.outer, c.index_n, c.inner, dindex.get(), c.skip,
                                     c.dst_n, ddst.get());
    compare(want, ddst.to_host(), 0, "index_add index_n=" + std::to_string(c.index_n));
  }
}

ATTN_TWIN_TEST(IndexAddMatchesCpu, check_index_add, 45)

// --- random.cu --------------------------------------------------------------------

// The same hash and the same conversion on both devices: bit-identical, at a
// nonzero offset and across the 2^64 wrap of the counter.
template <typename T>
void check_uniform(uint64_t seed, uint64_t offset, int64_t n) {
  std::vector<T> want(static_cast<size_t>(n));
  kernels::uniform<Device::CPU>(seed, offset, n, want.data());
  DeviceBuffer<T> got(std::vector<T>(want.size(), T(7)));
  kernels::uniform<Device::CUDA>(seed, offset, n, got.get());
  EXPECT_EQ(want, got.to_host()) << "seed " << seed << " offset " << offset;
}

TEST(CudaElementwise, UniformMatchesCpuBitExact) {
  ATTN_REQUIRE_GPU();
  check_uniform<float>(1234, 987654321, 65537);
  check_uniform<double>(1234, 987654321, 65537);
  check_uniform<float>(42, ~uint64_t(0) - 5, 37);
  check_uniform<double>(7, 0, 1);
  check_uniform<float>(7, 0, 0);
}

// --- the new CPU kernels (no GPU needed) --------------------------------------------

// uniform(seed, offset, n) is what Generator(seed) draws after `offset` numbers.
TEST(CpuKernelsNew, UniformMatchesGenerator) {
  const uint64_t seed = 2024, offset = 1000;
  const int64_t n = 1037;
  std::vector<double> got_d(n);
  std::vector<float> got_f(n);
  kernels::uniform<Device::CPU>(seed, offset, n, got_d.data());
  kernels::uniform<Device::CPU>(seed, offset, n, got_f.data());
  attn::Generator gen(seed);
  for (uint64_t k = 0; k < offset; ++k) gen.next_u64();
  for (int64_t i = 0; i < n; ++i) {
    const double want = gen.uniform();
    ASSERT_EQ(got_d[i], want) << "at " << i;
    ASSERT_EQ(got_f[i], static_cast<float>(want)) << "at " << i;
  }
}

// (outer 2, n 3, inner 2); argmax (2, 2); dx starts as garbage and must be overwritten.
template <typename T>
void check_cpu_max_backward() {
  const std::vector<int64_t> argmax = {2, 0, 1, 1};
  const std::vector<T> grad = {T(1), T(2), T(3), T(4)};
  std::vector<T> dx(12, T(9));
  kernels::max_reduce_backward<Device::CPU>(grad.data(), argmax.data(), 2, 3, 2, dx.data());
  //                            k = 0        k = 1        k = 2     (o = 0, then o = 1)
  const std::vector<T> want = {T(0), T(2), T(0), T(0), T(1), T(0),
                               T(0), T(0), T(3), T(4), T(0), T(0)};
  EXPECT_EQ(dx, want);
}

TEST(CpuKernelsNew, MaxReduceBackwardScattersGrad) {
  check_cpu_max_backward<float>();
  check_cpu_max_backward<double>();
}

// Against a plain double loop, over sizes that span several of the CPU's
// chunks; summation order differs only in double, hence 1e-12. A float
// accumulator would miss 0.1f * 0.1f * 10^6 by far more than that.
template <typename T>
double cpu_sum_of_squares(const std::vector<T>& x) {
  double out = kNaN;
  kernels::sum_of_squares<Device::CPU>(static_cast<int64_t>(x.size()), x.data(), &out);
  return out;
}

TEST(CpuKernelsNew, SumOfSquaresAccumulatesInDouble) {
  attn::Generator g(47);
  for (int64_t n : {0, 1, 37, 100003}) {
    const std::vector<float> xf = random_vector<float>(n, -2, 2, g);
    const std::vector<double> xd = random_vector<double>(n, -2, 2, g);
    double want_f = 0, want_d = 0;
    for (float v : xf) want_f += double(v) * double(v);
    for (double v : xd) want_d += v * v;
    EXPECT_NEAR(cpu_sum_of_squares(xf), want_f, 1e-12 * (1 + want_f)) << n;
    EXPECT_NEAR(cpu_sum_of_squares(xd), want_d, 1e-12 * (1 + want_d)) << n;
  }
  const std::vector<float> tenths(1000000, 0.1f);
  const double want = 1e6 * double(0.1f) * double(0.1f);
  EXPECT_NEAR(cpu_sum_of_squares(tenths), want, 1e-12 * want);
}

}  // namespace
