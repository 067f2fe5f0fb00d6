// Allowlist and denylist of pickle globals: docs/TORCH.md "Globals" (sources in "Sources").
#include "torch/symbols.hpp"

#include <array>
#include <unordered_map>

namespace safetensors::torch::detail {
namespace {

constexpr std::array<torch_type, 30> types{{
    {"float32", dtype::F32, 4},
    {"float16", dtype::F16, 2},
    {"bfloat16", dtype::BF16, 2},
    {"float64", dtype::F64, 8},
    {"int64", dtype::I64, 8},
    {"int32", dtype::I32, 4},
    {"int16", dtype::I16, 2},
    {"int8", dtype::I8, 1},
    {"uint8", dtype::U8, 1},
    {"bool", dtype::BOOL, 1},
    {"complex64", dtype::C64, 8},
    {"uint16", dtype::U16, 2},
    {"uint32", dtype::U32, 4},
    {"uint64", dtype::U64, 8},
    {"float8_e4m3fn", dtype::F8_E4M3, 1},
    {"float8_e5m2", dtype::F8_E5M2, 1},
    {"float8_e4m3fnuz", dtype::F8_E4M3FNUZ, 1},
    {"float8_e5m2fnuz", dtype::F8_E5M2FNUZ, 1},
    {"float8_e8m0fnu", dtype::F8_E8M0, 1},
    {"uint8 (untyped storage)", dtype::U8, 1},
    {"complex128", std::nullopt, 16},
    {"complex32", std::nullopt, 4},
    {"qint8", std::nullopt, 1},
    {"quint8", std::nullopt, 1},
    {"qint32", std::nullopt, 4},
    {"quint4x2", std::nullopt, 1},
    {"quint2x4", std::nullopt, 1},
    {"bits8", std::nullopt, 1},
    {"bits16", std::nullopt, 2},
    {"float4_e2m1fn_x2", std::nullopt, 1},
}};
constexpr std::int16_t untyped_index = 19;

std::int16_t type_index(std::string_view name) {
  for (std::size_t i = 0; i < types.size(); ++i)
    if (types[i].torch_name == name) return static_cast<std::int16_t>(i);
  return -1;
}

void add_storage_classes(std::unordered_map<std::string, symbol>& t) {
  const std::pair<const char*, const char*> classes[] = {
      {"FloatStorage", "float32"},
      {"HalfStorage", "float16"},
      {"BFloat16Storage", "bfloat16"},
      {"DoubleStorage", "float64"},
      {"LongStorage", "int64"},
      {"IntStorage", "int32"},
      {"ShortStorage", "int16"},
      {"CharStorage", "int8"},
      {"ByteStorage", "uint8"},
      {"BoolStorage", "bool"},
      {"ComplexFloatStorage", "complex64"},
      {"ComplexDoubleStorage", "complex128"},
      {"QInt8Storage", "qint8"},
      {"QUInt8Storage", "quint8"},
      {"QInt32Storage", "qint32"},
      {"QUInt4x2Storage", "quint4x2"},
      {"QUInt2x4Storage", "quint2x4"},
  };
  for (auto [cls, ty] : classes)
    t.emplace(std::string("torch.") + cls, symbol{sym::storage_class, type_index(ty), {}});
  t.emplace("torch.storage.UntypedStorage", symbol{sym::storage_class, untyped_index, {}});
  t.emplace("torch.UntypedStorage", symbol{sym::storage_class, untyped_index, {}});
}

void add_dtypes(std::unordered_map<std::string, symbol>& t) {
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (static_cast<std::int16_t>(i) == untyped_index) continue;
    t.emplace("torch." + std::string(types[i].torch_name),
              symbol{sym::torch_dtype, static_cast<std::int16_t>(i), {}});
  }
  const std::pair<const char*, const char*> aliases[] = {
      {"float", "float32"},    {"half", "float16"},       {"double", "float64"},
      {"long", "int64"},       {"int", "int32"},          {"short", "int16"},
      {"cfloat", "complex64"}, {"cdouble", "complex128"}, {"chalf", "complex32"}};
  for (auto [alias, ty] : aliases)
    t.emplace(std::string("torch.") + alias, symbol{sym::torch_dtype, type_index(ty), {}});
}

void add_rebuilds(std::unordered_map<std::string, symbol>& t) {
  t.emplace("torch._utils._rebuild_tensor", symbol{sym::rebuild_tensor});
  t.emplace("torch._utils._rebuild_tensor_v2", symbol{sym::rebuild_tensor_v2});
  t.emplace("torch._utils._rebuild_tensor_v3", symbol{sym::rebuild_tensor_v3});
  t.emplace("torch._utils._rebuild_parameter", symbol{sym::rebuild_parameter});
  t.emplace("torch._utils._rebuild_parameter_with_state",
            symbol{sym::rebuild_parameter_with_state});
  t.emplace("torch._tensor._rebuild_from_type_v2", symbol{sym::rebuild_from_type_v2});
  const std::pair<const char*, const char*> refused[] = {
      {"_rebuild_qtensor", "quantized"},
      {"_rebuild_sparse_tensor", "sparse"},
      {"_rebuild_sparse_csr_tensor", "sparse CSR"},
      {"_rebuild_meta_tensor_no_storage", "meta (no data)"},
      {"_rebuild_device_tensor_from_numpy", "device (numpy-backed)"},
      {"_rebuild_xla_tensor", "XLA"},
      {"_rebuild_device_tensor_from_cpu_tensor", "device"},
      {"_rebuild_wrapper_subclass", "wrapper subclass"},
      {"_rebuild_nested_tensor", "nested"},
      {"_rebuild_mkldnn_tensor", "mkldnn"},
  };
  for (auto [fn, what] : refused)
    t.emplace(std::string("torch._utils.") + fn, symbol{sym::rebuild_refused, -1, what});
}

void add_misc(std::unordered_map<std::string, symbol>& t) {
  t.emplace("collections.OrderedDict", symbol{sym::ordered_dict});
  t.emplace("collections.Counter", symbol{sym::counter});
  t.emplace("torch.Tensor", symbol{sym::tensor_class});
  t.emplace("torch._tensor.Tensor", symbol{sym::tensor_class});
  t.emplace("torch.nn.parameter.Parameter", symbol{sym::parameter_class});
  t.emplace("torch.Size", symbol{sym::size});
  t.emplace("torch.device", symbol{sym::device});
  t.emplace("_codecs.encode", symbol{sym::codecs_encode});
  t.emplace("builtins.set", symbol{sym::make_set});
  t.emplace("builtins.frozenset", symbol{sym::make_set});
  t.emplace("builtins.bytearray", symbol{sym::make_bytes});
  for (const char* name :
       {"builtins.slice", "builtins.complex", "torch.serialization._get_layout",
        "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
        "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams"})
    t.emplace(name, symbol{sym::opaque_data});
}

const std::unordered_map<std::string, symbol>& table() {
  static const auto t = [] {
    std::unordered_map<std::string, symbol> m;
    add_storage_classes(m);
    add_dtypes(m);
    add_rebuilds(m);
    add_misc(m);
    return m;
  }();
  return t;
}

}  // namespace

const torch_type& torch_type_at(std::size_t index) { return types.at(index); }

std::string normalize_global(std::string_view module, std::string_view name) {
  std::string m(module);
  if (m == "__builtin__" || m == "exceptions")
    m = "builtins";
  else if (m == "copy_reg")
    m = "copyreg";
  else if (m == "torch.tensor")
    m = "torch._tensor";
  return m + "." + std::string(name);
}

std::optional<symbol> find_symbol(std::string_view full_name) {
  const auto& t = table();
  auto it = t.find(std::string(full_name));
  if (it == t.end()) return std::nullopt;
  return it->second;
}

bool is_dangerous_global(std::string_view full) {
  static constexpr std::string_view modules[] = {"os",
                                                 "posix",
                                                 "nt",
                                                 "sys",
                                                 "subprocess",
                                                 "socket",
                                                 "shutil",
                                                 "runpy",
                                                 "pty",
                                                 "webbrowser",
                                                 "pickle",
                                                 "_pickle",
                                                 "cPickle",
                                                 "ctypes",
                                                 "importlib",
                                                 "pdb",
                                                 "bdb",
                                                 "asyncio",
                                                 "code",
                                                 "codeop",
                                                 "commands",
                                                 "multiprocessing",
                                                 "popen2",
                                                 "platform",
                                                 "pydoc",
                                                 "pkgutil",
                                                 "signal",
                                                 "urllib",
                                                 "urllib2",
                                                 "requests",
                                                 "httplib",
                                                 "http",
                                                 "aiohttp",
                                                 "ftplib",
                                                 "smtplib",
                                                 "telnetlib",
                                                 "imaplib",
                                                 "poplib",
                                                 "uuid",
                                                 "_osx_support",
                                                 "_aix_support",
                                                 "_pyrepl",
                                                 "functools",
                                                 "operator",
                                                 "_operator",
                                                 "types",
                                                 "marshal",
                                                 "cloudpickle",
                                                 "dill",
                                                 "joblib",
                                                 "_posixsubprocess",
                                                 "threading",
                                                 "_thread",
                                                 "ensurepip",
                                                 "venv",
                                                 "zipimport",
                                                 "timeit",
                                                 "trace",
                                                 "cProfile",
                                                 "profile",
                                                 "doctest",
                                                 "idlelib",
                                                 "distutils",
                                                 "setuptools",
                                                 "pip",
                                                 "sqlite3",
                                                 "shelve",
                                                 "logging",
                                                 "io",
                                                 "_io",
                                                 "fileinput",
                                                 "xmlrpc"};
  static constexpr std::string_view names[] = {"builtins.eval",
                                               "builtins.exec",
                                               "builtins.execfile",
                                               "builtins.compile",
                                               "builtins.getattr",
                                               "builtins.setattr",
                                               "builtins.delattr",
                                               "builtins.__import__",
                                               "builtins.open",
                                               "builtins.apply",
                                               "builtins.breakpoint",
                                               "builtins.input",
                                               "builtins.globals",
                                               "builtins.locals",
                                               "builtins.vars",
                                               "builtins.memoryview",
                                               "builtins.help",
                                               "builtins.exit",
                                               "builtins.quit",
                                               "builtins.reload",
                                               "builtins.file",
                                               "torch.load",
                                               "torch.serialization.load",
                                               "torch.jit.load",
                                               "torch.hub.load",
                                               "torch.hub.load_state_dict_from_url",
                                               "torch.utils.cpp_extension.load",
                                               "torch.utils.cpp_extension.load_inline",
                                               "torch._inductor.codecache.compile_file",
                                               "numpy.load",
                                               "numpy.testing._private.utils.runstring"};
  const auto in_module = [](std::string_view name, std::string_view m) {
    const std::string_view module = name.substr(0, name.rfind('.'));
    return module == m ||
           (module.size() > m.size() && module.starts_with(m) && module[m.size()] == '.');
  };
  for (auto m : modules)
    if (in_module(full, m)) return true;
  // With protocol >= 4 a dotted name is an attribute chain (_pickle.c find_class,
  // get_deep_attribute): "torch.serialization" + "os.system" is os.system. Attributes named
  // like these modules are those modules; other names (io, types, logging...) are too often
  // a package's own submodule to judge a chain by them.
  static constexpr std::string_view chained[] = {
      "os",     "posix",     "nt",      "sys",       "subprocess", "_posixsubprocess",
      "socket", "shutil",    "runpy",   "pty",       "pickle",     "_pickle",
      "ctypes", "importlib", "marshal", "webbrowser"};
  for (std::size_t dot = full.find('.'); dot != std::string_view::npos;
       dot = full.find('.', dot + 1)) {
    const std::string_view tail = full.substr(dot + 1);
    if (tail.find('.') == std::string_view::npos) break;
    for (auto m : chained)
      if (in_module(tail, m)) return true;
    for (auto n : names)
      if (n.starts_with("builtins.") && tail == n) return true;
  }
  for (auto n : names)
    if (full == n) return true;
  return full.starts_with("torch._inductor.") || full.starts_with("torch.utils.data.datapipes.");
}

}  // namespace safetensors::torch::detail
