// am-distill native CPU engine: the frame classifier's training and inference kernels.
//
// GEMMs go through a real optimised BLAS (cblas_sgemm), loaded at run time with dlopen so that
// the addon builds with nothing but a C++ compiler and Node's headers; everything else in a
// training step (bias + ReLU, their gradients, softmax cross-entropy and the distillation loss,
// bias gradients, Adam and SGD-momentum updates, weight averaging) is a kernel here. All buffers
// are JavaScript typed arrays, used in place (no copies). Row-major throughout; a dense layer's
// kernel is [in, out] as in TF.js.
//
// The elementwise kernels are compiled for several instruction sets (GCC target_clones) and the
// best one for the CPU is chosen when the addon loads, so a build is portable across x86-64 CPUs.
// Same inputs, same CPU and same BLAS -> same bits, whatever the thread count: a GEMM is cut into
// fixed 256 x 256 tiles of its output, each computed by one single-threaded BLAS call, and the
// tiles are shared among the calling thread's compute threads (TiledGemm). OpenBLAS's own
// threading would change its blocking with the thread count, and with it the bits.
#include <node_api.h>

#include <dlfcn.h>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define AMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AMD_CLONES
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// BLAS, loaded at run time.

enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_int_fn)(void);
typedef char* (*get_str_fn)(void);

struct Blas {
  bool tried = false;
  void* handle = nullptr;
  sgemm_fn sgemm = nullptr;
  set_threads_fn set_threads = nullptr;
  get_int_fn get_threads = nullptr;
  get_int_fn get_parallel = nullptr;
  get_str_fn get_config = nullptr;
  get_str_fn get_corename = nullptr;
  std::string path;
  std::string error;
};

Blas g_blas;
std::mutex g_blas_mutex;

// Candidates, best first. A user may name another CBLAS with AM_DISTILL_BLAS.
const char* kBlasCandidates[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.3.so", "libopenblas.dylib"};

bool LoadBlas(const char* explicit_path) {
  std::lock_guard<std::mutex> lock(g_blas_mutex);
  if (g_blas.handle) return true;
  std::vector<std::string> names;
  if (explicit_path && *explicit_path) names.push_back(explicit_path);
  else for (const char* c : kBlasCandidates) names.push_back(c);
  std::string errors;
  for (const std::string& name : names) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      if (!errors.empty()) errors += "; ";
      errors += e ? e : name + ": cannot open";
      continue;
    }
    sgemm_fn f = reinterpret_cast<sgemm_fn>(dlsym(h, "cblas_sgemm"));
    if (!f) {
      if (!errors.empty()) errors += "; ";
      errors += name + " has no cblas_sgemm";
      dlclose(h);
      continue;
    }
    g_blas.handle = h;
    g_blas.sgemm = f;
    g_blas.set_threads = reinterpret_cast<set_threads_fn>(dlsym(h, "openblas_set_num_threads"));
    g_blas.get_threads = reinterpret_cast<get_int_fn>(dlsym(h, "openblas_get_num_threads"));
    g_blas.get_parallel = reinterpret_cast<get_int_fn>(dlsym(h, "openblas_get_parallel"));
    g_blas.get_config = reinterpret_cast<get_str_fn>(dlsym(h, "openblas_get_config"));
    g_blas.get_corename = reinterpret_cast<get_str_fn>(dlsym(h, "openblas_get_corename"));
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(f), &info) && info.dli_fname) {
      char* real = realpath(info.dli_fname, nullptr);
      g_blas.path = real ? real : info.dli_fname;
      free(real);
    } else {
      g_blas.path = name;
    }
    g_blas.error.clear();
    // BLAS calls are single-threaded; parallelism comes from the tiles (TilePool).
    if (g_blas.set_threads) g_blas.set_threads(1);
    return true;
  }
  g_blas.error = errors;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Compute threads and the tiled GEMM.

// Threads of the calling JavaScript thread (the main thread or a worker): `threads - 1` helpers
// and the caller itself take tasks 0 .. count - 1 in turn. A task's result must not depend on
// which thread runs it.
class TilePool {
 public:
  ~TilePool() { Stop(); }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  void Resize(int n) {
    n = std::max(1, n);
    if (n == threads()) return;
    Stop();
    // A new helper has seen every task so far: it must not take the last one for a new one.
    for (int i = 1; i < n; i++) workers_.emplace_back([this, seen = generation_] { Work(seen); });
  }
  void Run(int64_t count, const std::function<void(int64_t)>& f) {
    if (workers_.empty() || count <= 1) {
      for (int64_t i = 0; i < count; i++) f(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &f;
      count_ = count;
      next_.store(0);
      active_ = static_cast<int>(workers_.size());
      generation_++;
    }
    start_.notify_all();
    Drain(f, count);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return active_ == 0; });
    task_ = nullptr;
  }

 private:
  void Drain(const std::function<void(int64_t)>& f, int64_t count) {
    for (int64_t i = next_.fetch_add(1); i < count; i = next_.fetch_add(1)) f(i);
  }
  void Work(uint64_t seen) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const std::function<void(int64_t)>* f = task_;
      int64_t count = count_;
      lock.unlock();
      Drain(*f, count);
      lock.lock();
      if (--active_ == 0) done_.notify_one();
    }
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
  }
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

thread_local TilePool t_pool;

// Tile size: 256 x 256 cost 7 % of single-threaded GEMM throughput against whole OpenBLAS calls on
// the demo's and a 1024-unit net's training GEMMs, 128 x 128 15-17 % (an interleaved A/B of the
// two builds' gemm() on one core, 2026-12-07; docs/compute.md).
constexpr int64_t kTileM = 256, kTileN = 256;

// C[m x n] = alpha op(A) op(B) + beta C, row-major, as fixed kTileM x kTileN tiles of C (the last
// ones smaller), each one cblas_sgemm call over the whole K: every output's bits depend on the
// shapes only, never on the thread count.
void TiledGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, const float* B,
               float beta, float* C) {
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const int64_t tiles_n = (n + kTileN - 1) / kTileN, tiles = ((m + kTileM - 1) / kTileM) * tiles_n;
  t_pool.Run(tiles, [&](int64_t t) {
    const int64_t i0 = (t / tiles_n) * kTileM, j0 = (t % tiles_n) * kTileN;
    const int64_t mm = std::min(kTileM, m - i0), nn = std::min(kTileN, n - j0);
    // Rows i0.. of op(A): columns of A when transposed. Columns j0.. of op(B): rows of B when transposed.
    const float* a = ta ? A + i0 : A + i0 * lda;
    const float* b = tb ? B + j0 * ldb : B + j0;
    g_blas.sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, static_cast<int>(mm),
                 static_cast<int>(nn), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                 beta, C + i0 * n + j0, static_cast<int>(n));
  });
}

// ---------------------------------------------------------------------------------------------
// N-API helpers.

#define NAPI_CALL(env, call)                                         \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error((env), nullptr, "N-API call failed: " #call); \
      return nullptr;                                                \
    }                                                                \
  } while (0)

struct Args {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  bool failed = false;
  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) Fail("bad arguments");
  }
  void Fail(const std::string& msg) {
    if (!failed) napi_throw_type_error(env, "E_NATIVE_ARG", msg.c_str());
    failed = true;
  }
  bool IsNullish(size_t i) {
    if (i >= argc) return true;
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  // Elements of the typed array at i (0 when it is not one; the typed accessors then say so).
  size_t Length(size_t i) {
    bool is_ta = false;
    if (i >= argc || napi_is_typedarray(env, argv[i], &is_ta) != napi_ok || !is_ta) return 0;
    napi_typedarray_type type;
    size_t length = 0;
    void* data;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, &ab, &offset);
    return length;
  }
  double Num(size_t i, const char* name) {
    double v = 0;
    if (failed) return 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) Fail(std::string(name) + ": expected a number");
    return v;
  }
  int64_t Int(size_t i, const char* name) {
    double v = Num(i, name);
    if (!failed && (v != std::floor(v) || v < 0)) Fail(std::string(name) + ": expected an integer >= 0");
    return static_cast<int64_t>(v);
  }
  bool Bool(size_t i, const char* name) {
    bool v = false;
    if (failed) return false;
    if (i >= argc || napi_get_value_bool(env, argv[i], &v) != napi_ok) Fail(std::string(name) + ": expected a boolean");
    return v;
  }
  template <typename T>
  T* Array(size_t i, napi_typedarray_type want, const char* name, size_t min_len, bool optional = false) {
    if (failed) return nullptr;
    if (optional && IsNullish(i)) return nullptr;
    bool is_ta = false;
    if (i >= argc || napi_is_typedarray(env, argv[i], &is_ta) != napi_ok || !is_ta) {
      Fail(std::string(name) + ": expected a typed array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, argv[i], &type, &length, &data, &ab, &offset) != napi_ok || type != want) {
      Fail(std::string(name) + (want == napi_float32_array ? ": expected a Float32Array" : want == napi_int32_array ? ": expected an Int32Array" : ": expected a Float64Array"));
      return nullptr;
    }
    if (length < min_len) {
      Fail(std::string(name) + ": too short (" + std::to_string(length) + " < " + std::to_string(min_len) + ")");
      return nullptr;
    }
    return static_cast<T*>(data);
  }
  float* F32(size_t i, const char* name, size_t min_len, bool optional = false) { return Array<float>(i, napi_float32_array, name, min_len, optional); }
  int32_t* I32(size_t i, const char* name, size_t min_len, bool optional = false) { return Array<int32_t>(i, napi_int32_array, name, min_len, optional); }
  double* F64(size_t i, const char* name, size_t min_len, bool optional = false) { return Array<double>(i, napi_float64_array, name, min_len, optional); }
};

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

void SetString(napi_env env, napi_value obj, const char* key, const std::string& v) {
  napi_value s;
  napi_create_string_utf8(env, v.c_str(), v.size(), &s);
  napi_set_named_property(env, obj, key, s);
}

void SetNumber(napi_env env, napi_value obj, const char* key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

// ---------------------------------------------------------------------------------------------
// Kernels.

// exp(x) for float, branch-free and vectorisable (Cody-Waite reduction, Cephes' polynomial):
// about 1 ulp; inputs are clamped to [-87, 88] (exp(-87) = 1.6e-38, so underflow gives a tiny
// positive number instead of a denormal or zero, which softmax and logs tolerate).
inline float ExpF(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

constexpr int kLanes = 16;

AMD_CLONES float RowMax(const float* z, int64_t s) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; l++) acc[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= s; j += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] = z[j + l] > acc[l] ? z[j + l] : acc[l];
  float m = -INFINITY;
  for (int l = 0; l < kLanes; l++) m = acc[l] > m ? acc[l] : m;
  for (; j < s; j++) m = z[j] > m ? z[j] : m;
  return m;
}

// out[j] = exp((z[j] - m) * inv_t); returns the sum (in a fixed lane order).
AMD_CLONES double ExpShiftSum(const float* z, int64_t s, float m, float inv_t, float* out) {
  float acc[kLanes] = {0};
  int64_t j = 0;
  for (; j + kLanes <= s; j += kLanes)
    for (int l = 0; l < kLanes; l++) {
      float e = ExpF((z[j + l] - m) * inv_t);
      out[j + l] = e;
      acc[l] += e;
    }
  double sum = 0;
  for (int l = 0; l < kLanes; l++) sum += acc[l];
  for (; j < s; j++) {
    float e = ExpF((z[j] - m) * inv_t);
    out[j] = e;
    sum += e;
  }
  return sum;
}

// Sum of a row in a fixed lane order, in double.
AMD_CLONES double RowSum(const float* z, int64_t s) {
  float acc[kLanes] = {0};
  int64_t j = 0;
  for (; j + kLanes <= s; j += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] += z[j + l];
  double sum = 0;
  for (int l = 0; l < kLanes; l++) sum += acc[l];
  for (; j < s; j++) sum += z[j];
  return sum;
}

// sum_j p[j] * z[j] in a fixed lane order.
AMD_CLONES double RowDot(const float* p, const float* z, int64_t s) {
  float acc[kLanes] = {0};
  int64_t j = 0;
  for (; j + kLanes <= s; j += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] += p[j + l] * z[j + l];
  double sum = 0;
  for (int l = 0; l < kLanes; l++) sum += acc[l];
  for (; j < s; j++) sum += static_cast<double>(p[j]) * z[j];
  return sum;
}

int64_t ArgMax(const float* z, int64_t s) {
  int64_t best = 0;
  for (int64_t j = 1; j < s; j++)
    if (z[j] > z[best]) best = j;
  return best;
}

AMD_CLONES void BiasAct(float* z, const float* b, int64_t n, int64_t d, bool relu) {
  for (int64_t i = 0; i < n; i++) {
    float* row = z + i * d;
    if (relu) {
      for (int64_t j = 0; j < d; j++) {
        float v = row[j] + b[j];
        row[j] = v > 0.0f ? v : 0.0f;
      }
    } else {
      for (int64_t j = 0; j < d; j++) row[j] += b[j];
    }
  }
}

AMD_CLONES void ReluBackward(float* dh, const float* h, int64_t count) {
  for (int64_t i = 0; i < count; i++) dh[i] = h[i] > 0.0f ? dh[i] : 0.0f;
}

AMD_CLONES void ColSum(const float* dz, int64_t n, int64_t d, float* out) {
  for (int64_t j = 0; j < d; j++) out[j] = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    const float* row = dz + i * d;
    for (int64_t j = 0; j < d; j++) out[j] += row[j];
  }
}

AMD_CLONES void Scale(float* x, int64_t count, float a) {
  for (int64_t i = 0; i < count; i++) x[i] *= a;
}

// dz[j] = a * e[j] + c  (softmax gradients' dense part; e holds exp values, a = scale / sum).
AMD_CLONES void AxpC(float* dz, const float* e, int64_t s, float a, float c) {
  for (int64_t j = 0; j < s; j++) dz[j] = a * e[j] + c;
}

AMD_CLONES void AxpyC(float* dz, const float* e, int64_t s, float a) {
  for (int64_t j = 0; j < s; j++) dz[j] += a * e[j];
}

AMD_CLONES void AxpyInto(float* dz, const float* p, int64_t s, float a) {
  for (int64_t j = 0; j < s; j++) dz[j] += a * p[j];
}

AMD_CLONES void AdamUpdate(float* w, const float* g, float* m, float* v, int64_t count, float step_size, float b1, float b2, float eps_hat, float l2) {
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int64_t i = 0; i < count; i++) {
    float gi = g[i];
    if (l2 > 0.0f) gi += l2 * w[i];
    float mi = m[i] * b1 + gi * c1;
    float vi = v[i] * b2 + (gi * gi) * c2;
    m[i] = mi;
    v[i] = vi;
    w[i] -= step_size * (mi / (std::sqrt(vi) + eps_hat));
  }
}

AMD_CLONES void SgdUpdate(float* w, const float* g, float* vel, int64_t count, float lr, float mom, float l2) {
  for (int64_t i = 0; i < count; i++) {
    float gi = g[i];
    if (l2 > 0.0f) gi += l2 * w[i];
    float vi = vel[i] * mom + gi;
    vel[i] = vi;
    w[i] -= vi * lr;
  }
}

AMD_CLONES void AverageInto(float* avg, const float* w, int64_t count, float rate) {
  for (int64_t i = 0; i < count; i++) avg[i] += (w[i] - avg[i]) * rate;
}

// ---------------------------------------------------------------------------------------------
// Exported functions.

napi_value JsLoadBlas(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::string path;
  if (!a.IsNullish(0)) {
    size_t len = 0;
    NAPI_CALL(env, napi_get_value_string_utf8(env, a.argv[0], nullptr, 0, &len));
    path.resize(len + 1);
    NAPI_CALL(env, napi_get_value_string_utf8(env, a.argv[0], &path[0], len + 1, &len));
    path.resize(len);
  }
  bool ok = LoadBlas(path.empty() ? nullptr : path.c_str());
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  napi_value okv;
  napi_get_boolean(env, ok, &okv);
  napi_set_named_property(env, out, "ok", okv);
  if (!ok) {
    SetString(env, out, "error", g_blas.error);
    return out;
  }
  SetString(env, out, "path", g_blas.path);
  SetString(env, out, "config", g_blas.get_config ? g_blas.get_config() : "");
  SetString(env, out, "corename", g_blas.get_corename ? g_blas.get_corename() : "");
  SetNumber(env, out, "threads", t_pool.threads());
  SetNumber(env, out, "parallel", g_blas.get_parallel ? g_blas.get_parallel() : -1);
  return out;
}

bool RequireBlas(Args& a) {
  if (a.failed) return false;
  if (!g_blas.sgemm) {
    napi_throw_error(a.env, "E_NATIVE_BLAS", "no BLAS loaded (call loadBlas first)");
    a.failed = true;
    return false;
  }
  return true;
}

// setThreads(n): compute threads of the calling JavaScript thread's GEMMs (each main or worker
// thread has its own); returns the count in effect.
napi_value JsSetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(0, "threads");
  if (!RequireBlas(a)) return nullptr;
  if (n >= 1) t_pool.Resize(static_cast<int>(n));
  napi_value out;
  napi_create_int32(env, t_pool.threads(), &out);
  return out;
}

// gemm(transA, transB, M, N, K, alpha, A, B, beta, C): C[M x N] = alpha op(A) op(B) + beta C.
napi_value JsGemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  bool ta = a.Bool(0, "transA"), tb = a.Bool(1, "transB");
  int64_t m = a.Int(2, "M"), n = a.Int(3, "N"), k = a.Int(4, "K");
  float alpha = static_cast<float>(a.Num(5, "alpha"));
  const float* A = a.F32(6, "A", m * k);
  const float* B = a.F32(7, "B", k * n);
  float beta = static_cast<float>(a.Num(8, "beta"));
  float* C = a.F32(9, "C", m * n);
  if (!RequireBlas(a)) return nullptr;
  if (m == 0 || n == 0) return Undefined(env);
  if (k == 0) {
    Scale(C, m * n, beta);
    return Undefined(env);
  }
  TiledGemm(ta, tb, m, n, k, alpha, A, B, beta, C);
  return Undefined(env);
}

// biasAct(Z, b, n, d, relu): Z[n x d] += b, then ReLU when relu.
napi_value JsBiasAct(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(2, "n"), d = a.Int(3, "d");
  float* z = a.F32(0, "Z", n * d);
  const float* b = a.F32(1, "b", d);
  bool relu = a.Bool(4, "relu");
  if (a.failed) return nullptr;
  BiasAct(z, b, n, d, relu);
  return Undefined(env);
}

// reluBackward(dH, H, count): dH *= (H > 0).
napi_value JsReluBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t count = a.Int(2, "count");
  float* dh = a.F32(0, "dH", count);
  const float* h = a.F32(1, "H", count);
  if (a.failed) return nullptr;
  ReluBackward(dh, h, count);
  return Undefined(env);
}

// colSum(dZ, n, d, out): out[j] = sum_i dZ[i, j] (bias gradients).
napi_value JsColSum(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(1, "n"), d = a.Int(2, "d");
  const float* dz = a.F32(0, "dZ", n * d);
  float* out = a.F32(3, "out", d);
  if (a.failed) return nullptr;
  ColSum(dz, n, d, out);
  return Undefined(env);
}

// xentHard(Z, n, S, labels, dZ | null, scale, out): per row CE(onehot(y), softmax(z)).
// out[0] = sum of the rows' losses, out[1] = rows whose argmax is the label. With dZ:
// dZ = scale * (softmax(z) - onehot(y)). labels may be null (then only out[1] = 0 and no loss:
// use argmaxRows instead).
napi_value JsXentHard(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(1, "n"), s = a.Int(2, "S");
  const float* z = a.F32(0, "Z", n * s);
  const int32_t* y = a.I32(3, "labels", n);
  float* dz = a.F32(4, "dZ", n * s, true);
  float scale = static_cast<float>(a.Num(5, "scale"));
  double* out = a.F64(6, "out", 2);
  if (a.failed) return nullptr;
  for (int64_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= s) {
      a.Fail("labels: label " + std::to_string(y[i]) + " of row " + std::to_string(i) + " outside 0.." + std::to_string(s - 1));
      return nullptr;
    }
  std::vector<float> tmp(dz ? 0 : s);
  double loss = 0, correct = 0;
  for (int64_t i = 0; i < n; i++) {
    const float* zi = z + i * s;
    float* ei = dz ? dz + i * s : tmp.data();
    float m = RowMax(zi, s);
    double sum = ExpShiftSum(zi, s, m, 1.0f, ei);
    double lse = m + std::log(sum);
    loss += lse - zi[y[i]];
    if (ArgMax(zi, s) == y[i]) correct++;
    if (dz) {
      Scale(ei, s, static_cast<float>(scale / sum));
      ei[y[i]] -= scale;
    }
  }
  out[0] = loss;
  out[1] = correct;
  return Undefined(env);
}

// argmaxRows(Z, n, S, out Int32Array): index of each row's maximum (the first on ties).
napi_value JsArgmaxRows(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(1, "n"), s = a.Int(2, "S");
  const float* z = a.F32(0, "Z", n * s);
  int32_t* out = a.I32(3, "out", n);
  if (a.failed) return nullptr;
  for (int64_t i = 0; i < n; i++) out[i] = static_cast<int32_t>(ArgMax(z + i * s, s));
  return Undefined(env);
}

// softmaxRows(Z, n, S, T, out): out = softmax(Z / T) per row (out may be Z).
napi_value JsSoftmaxRows(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(1, "n"), s = a.Int(2, "S");
  const float* z = a.F32(0, "Z", n * s);
  double t = a.Num(3, "T");
  float* out = a.F32(4, "out", n * s);
  if (a.failed) return nullptr;
  if (!(t > 0)) {
    a.Fail("T: expected > 0");
    return nullptr;
  }
  for (int64_t i = 0; i < n; i++) {
    const float* zi = z + i * s;
    float m = RowMax(zi, s);
    double sum = ExpShiftSum(zi, s, m, static_cast<float>(1.0 / t), out + i * s);
    Scale(out + i * s, s, static_cast<float>(1.0 / sum));
  }
  return Undefined(env);
}

// xentDistill(Z, n, S, T, ids | null, probs, k, residual | null, labels | null, rowWeights | null,
//             hardWeight, convex, dZ | null, scale, out)
// The distillation loss per row r (Hinton et al. 2015), with p the target distribution (dense
// probs [n x S] when ids is null; else top-k ids/probs with the residual mass spread evenly over
// the S - k other senones), q_T = softmax(z / T), q = softmax(z), w_r the row's hard weight:
//   row_r = T^2 CE(p, q_T) + w_r CE(onehot(y), q)      (divided by 1 + w_r when convex)
// out[0] = sum_r CE(p, q_T), out[1] = sum_r CE(onehot(y), q) (when labels), out[2] = sum_r row_r,
// out[3] = rows whose argmax is the label. With dZ: dZ = scale * d row_r / dz, i.e.
//   (T (P q_T - p) + w_r (q - onehot(y))) / (1 or 1 + w_r),  P = sum of p (1 for normalised targets).
napi_value JsXentDistill(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.Int(1, "n"), s = a.Int(2, "S");
  const float* z = a.F32(0, "Z", n * s);
  double t = a.Num(3, "T");
  bool sparse = !a.IsNullish(4);
  int64_t k = a.Int(6, "k");
  const int32_t* ids = a.I32(4, "ids", n * k, true);
  const float* probs = a.F32(5, "probs", sparse ? n * k : n * s);
  const float* residual = a.F32(7, "residual", n, true);
  const int32_t* y = a.I32(8, "labels", n, true);
  const float* roww = a.F32(9, "rowWeights", n, true);
  double hard_w = a.Num(10, "hardWeight");
  bool convex = a.Bool(11, "convex");
  float* dz = a.F32(12, "dZ", n * s, true);
  double scale = a.Num(13, "scale");
  double* out = a.F64(14, "out", 4);
  if (a.failed) return nullptr;
  if (!(t > 0)) {
    a.Fail("T: expected > 0");
    return nullptr;
  }
  if (sparse && k > s) {
    a.Fail("k: more kept senones than outputs");
    return nullptr;
  }
  if (sparse)
    for (int64_t i = 0; i < n * k; i++)
      if (ids[i] < 0 || ids[i] >= s) {
        a.Fail("ids: senone id " + std::to_string(ids[i]) + " in row " + std::to_string(i / k) + " outside 0.." + std::to_string(s - 1));
        return nullptr;
      }
  if (y)
    for (int64_t i = 0; i < n; i++)
      if (y[i] < 0 || y[i] >= s) {
        a.Fail("labels: label " + std::to_string(y[i]) + " of row " + std::to_string(i) + " outside 0.." + std::to_string(s - 1));
        return nullptr;
      }
  const float inv_t = static_cast<float>(1.0 / t);
  std::vector<float> et(s), e1(s);
  double soft_sum = 0, hard_sum = 0, total_sum = 0, correct = 0;
  for (int64_t i = 0; i < n; i++) {
    const float* zi = z + i * s;
    double w = roww ? roww[i] : hard_w;
    bool hard = y && w > 0;
    float m = RowMax(zi, s);
    double sum_t = ExpShiftSum(zi, s, m, inv_t, et.data());
    double lse_t = m * static_cast<double>(inv_t) + std::log(sum_t);
    // P = sum of p, pz = sum_j p_j z_j.
    double big_p, pz, spread = 0;
    if (sparse) {
      const int32_t* ii = ids + i * k;
      const float* pi = probs + i * k;
      double kept_p = 0, kept_z = 0, kept_pz = 0;
      for (int64_t j = 0; j < k; j++) {
        kept_p += pi[j];
        kept_z += zi[ii[j]];
        kept_pz += static_cast<double>(pi[j]) * zi[ii[j]];
      }
      double r = residual ? residual[i] : 0.0;
      spread = (residual && s > k) ? r / static_cast<double>(s - k) : 0.0;
      big_p = kept_p + (s > k ? spread * (s - k) : 0.0);
      pz = kept_pz + spread * (RowSum(zi, s) - kept_z);
    } else {
      const float* pi = probs + i * s;
      big_p = RowSum(pi, s);
      pz = RowDot(pi, zi, s);
    }
    double soft = lse_t * big_p - pz * inv_t;
    double hard_ce = 0, sum1 = 0;
    if (y) {
      if (t == 1.0) {
        hard_ce = lse_t - zi[y[i]];
      } else {
        sum1 = ExpShiftSum(zi, s, m, 1.0f, e1.data());
        hard_ce = m + std::log(sum1) - zi[y[i]];
      }
      if (ArgMax(zi, s) == y[i]) correct++;
    }
    double row = t * t * soft + (hard ? w * hard_ce : 0.0);
    double denom = convex ? 1.0 + w : 1.0;
    soft_sum += soft;
    hard_sum += hard_ce;
    total_sum += row / denom;
    if (dz) {
      float* di = dz + i * s;
      double c = scale / denom;
      // Soft part: c T (P q_T - p); q_T = et / sum_t.
      AxpC(di, et.data(), s, static_cast<float>(c * t * big_p / sum_t), static_cast<float>(-c * t * spread));
      if (sparse) {
        const int32_t* ii = ids + i * k;
        const float* pi = probs + i * k;
        for (int64_t j = 0; j < k; j++) di[ii[j]] -= static_cast<float>(c * t * (pi[j] - spread));
      } else {
        AxpyInto(di, probs + i * s, s, static_cast<float>(-c * t));
      }
      if (hard) {
        if (t == 1.0) AxpyC(di, et.data(), s, static_cast<float>(c * w / sum_t));
        else AxpyC(di, e1.data(), s, static_cast<float>(c * w / sum1));
        di[y[i]] -= static_cast<float>(c * w);
      }
    }
  }
  out[0] = soft_sum;
  out[1] = hard_sum;
  out[2] = total_sum;
  out[3] = correct;
  return Undefined(env);
}

// adam(w, g, m, v, stepSize, beta1, beta2, epsHat, l2): one Adam update in place (the caller
// folds the bias corrections into stepSize = lr sqrt(1 - beta2^t) / (1 - beta1^t) and
// epsHat = eps sqrt(1 - beta2^t)).
napi_value JsAdam(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t count = a.Length(0);
  float* w = a.F32(0, "w", count);
  const float* g = a.F32(1, "g", count);
  float* m = a.F32(2, "m", count);
  float* v = a.F32(3, "v", count);
  float step = static_cast<float>(a.Num(4, "stepSize"));
  float b1 = static_cast<float>(a.Num(5, "beta1")), b2 = static_cast<float>(a.Num(6, "beta2"));
  float eps = static_cast<float>(a.Num(7, "epsHat")), l2 = static_cast<float>(a.Num(8, "l2"));
  if (a.failed) return nullptr;
  AdamUpdate(w, g, m, v, static_cast<int64_t>(count), step, b1, b2, eps, l2);
  return Undefined(env);
}

// sgd(w, g, vel, lr, momentum, l2): heavy-ball momentum as PyTorch (v = mu v + g; w -= lr v).
napi_value JsSgd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t count = a.Length(0);
  float* w = a.F32(0, "w", count);
  const float* g = a.F32(1, "g", count);
  float* vel = a.F32(2, "vel", count);
  float lr = static_cast<float>(a.Num(3, "lr")), mom = static_cast<float>(a.Num(4, "momentum")), l2 = static_cast<float>(a.Num(5, "l2"));
  if (a.failed) return nullptr;
  SgdUpdate(w, g, vel, static_cast<int64_t>(count), lr, mom, l2);
  return Undefined(env);
}

// averageInto(avg, w, rate): avg += (w - avg) * rate.
napi_value JsAverageInto(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t count = a.Length(0);
  float* avg = a.F32(0, "avg", count);
  const float* w = a.F32(1, "w", count);
  float rate = static_cast<float>(a.Num(2, "rate"));
  if (a.failed) return nullptr;
  AverageInto(avg, w, static_cast<int64_t>(count), rate);
  return Undefined(env);
}

// gemmFloor(dims Float64Array [in, h1, ..., out], batch, train, iterations): seconds that the
// exact GEMM sequence of one step (train: forward, weight gradients, input gradients of every
// layer but the first; else forward only) takes `iterations` times in a C loop, as whole BLAS
// calls with the BLAS's own threading (not tiled). The floor of bench:nnet: what the BLAS alone
// costs, with no other work.
napi_value JsGemmFloor(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const size_t nd = a.Length(0);
  const double* dims = a.F64(0, "dims", 2);
  int64_t batch = a.Int(1, "batch");
  bool train = a.Bool(2, "train");
  int64_t iters = a.Int(3, "iterations");
  if (!RequireBlas(a)) return nullptr;
  const int layers = static_cast<int>(nd) - 1;
  std::vector<std::vector<float>> w(layers), act(layers + 1), grad(layers), dact(layers + 1);
  for (int l = 0; l < layers; l++) {
    int64_t din = static_cast<int64_t>(dims[l]), dout = static_cast<int64_t>(dims[l + 1]);
    w[l].assign(din * dout, 0.01f);
    grad[l].assign(din * dout, 0.0f);
  }
  for (int l = 0; l <= layers; l++) {
    act[l].assign(batch * static_cast<int64_t>(dims[l]), 0.5f);
    dact[l].assign(batch * static_cast<int64_t>(dims[l]), 0.01f);
  }
  // The BLAS's own best, not our tiling: whole GEMMs with OpenBLAS threading at the calling
  // thread's compute threads (restored to 1 afterwards; the floor runs alone).
  if (g_blas.set_threads) g_blas.set_threads(t_pool.threads());
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; it++) {
    for (int l = 0; l < layers; l++) {
      int din = static_cast<int>(dims[l]), dout = static_cast<int>(dims[l + 1]);
      g_blas.sgemm(kRowMajor, kNoTrans, kNoTrans, batch, dout, din, 1.0f, act[l].data(), din, w[l].data(), dout, 0.0f, act[l + 1].data(), dout);
    }
    if (!train) continue;
    for (int l = layers - 1; l >= 0; l--) {
      int din = static_cast<int>(dims[l]), dout = static_cast<int>(dims[l + 1]);
      g_blas.sgemm(kRowMajor, kTrans, kNoTrans, din, dout, batch, 1.0f, act[l].data(), din, dact[l + 1].data(), dout, 0.0f, grad[l].data(), dout);
      if (l > 0) g_blas.sgemm(kRowMajor, kNoTrans, kTrans, batch, din, dout, 1.0f, dact[l + 1].data(), dout, w[l].data(), dout, 0.0f, dact[l].data(), din);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (g_blas.set_threads) g_blas.set_threads(1);
  napi_value out;
  napi_create_double(env, secs, &out);
  return out;
}

// The instruction set the elementwise kernels run with (target_clones picks it at load time).
napi_value JsKernelIsa(napi_env env, napi_callback_info) {
  const char* isa = "default";
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) isa = "avx512f";
  else if (__builtin_cpu_supports("avx2")) isa = "avx2";
#endif
  napi_value out;
  napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"loadBlas", JsLoadBlas},         {"setThreads", JsSetThreads}, {"gemm", JsGemm},
      {"biasAct", JsBiasAct},           {"reluBackward", JsReluBackward}, {"colSum", JsColSum},
      {"xentHard", JsXentHard},         {"argmaxRows", JsArgmaxRows}, {"softmaxRows", JsSoftmaxRows},
      {"xentDistill", JsXentDistill},   {"adam", JsAdam},             {"sgd", JsSgd},
      {"averageInto", JsAverageInto},   {"gemmFloor", JsGemmFloor},   {"kernelIsa", JsKernelIsa},
  };
  for (const Fn& f : fns) {
    napi_value v;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &v) != napi_ok) return nullptr;
    if (napi_set_named_property(env, exports, f.name, v) != napi_ok) return nullptr;
  }
  napi_value version;
  napi_create_int32(env, 1, &version);
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}
