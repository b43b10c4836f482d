// The kernel registry: finding kernels and describing their parameters and
// results through the public API, and rejecting bad arguments.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

bool Contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

const gpudf_kernel *FilterAgg() {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK) << gpudf_last_error();
  return k;
}

TEST(Kernels, RegistryListsFilterAgg) {
  int n = gpudf_kernel_count();
  ASSERT_GE(n, 1);
  bool seen = false;
  for (int i = 0; i < n; i++) {
    const gpudf_kernel *k = gpudf_kernel_at(i);
    ASSERT_NE(k, nullptr) << i;
    ASSERT_NE(gpudf_kernel_name(k), nullptr);
    const gpudf_kernel *found = nullptr;
    EXPECT_EQ(gpudf_kernel_find(gpudf_kernel_name(k), &found), GPUDF_OK);
    EXPECT_EQ(found, k);
    seen |= std::string(gpudf_kernel_name(k)) == "filter_agg";
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(gpudf_kernel_at(n), nullptr);
  EXPECT_EQ(gpudf_kernel_at(-1), nullptr);
}

TEST(Kernels, FindUnknownNamesItAndTheKnownOnes) {
  const gpudf_kernel *k = FilterAgg();
  ASSERT_EQ(gpudf_kernel_find("no_such_kernel", &k), GPUDF_ENOENT);
  EXPECT_EQ(k, nullptr);
  std::string msg = gpudf_last_error();
  EXPECT_TRUE(Contains(msg, "gpudf_kernel_find")) << msg;
  EXPECT_TRUE(Contains(msg, "no_such_kernel")) << msg;
  EXPECT_TRUE(Contains(msg, "filter_agg")) << msg;
  EXPECT_EQ(gpudf_kernel_find("", &k), GPUDF_ENOENT);
  EXPECT_EQ(gpudf_kernel_find("FILTER_AGG", &k), GPUDF_ENOENT);  // names are exact
}

TEST(Kernels, FilterAggDescribesItself) {
  const gpudf_kernel *k = FilterAgg();
  ASSERT_NE(k, nullptr);
  EXPECT_STREQ(gpudf_kernel_name(k), "filter_agg");
  ASSERT_NE(gpudf_kernel_summary(k), nullptr);
  EXPECT_GT(std::string(gpudf_kernel_summary(k)).size(), 20u);
  ASSERT_EQ(gpudf_kernel_nparams(k), 5);

  struct Want {
    const char *name;
    gpudf_param_kind kind;
    double def;
  } want[] = {{"filter_col", GPUDF_PARAM_COLUMN, 0},
              {"op", GPUDF_PARAM_CHOICE, 0},
              {"lo", GPUDF_PARAM_REAL, 0},
              {"hi", GPUDF_PARAM_REAL, 0},
              {"value_col", GPUDF_PARAM_COLUMN, 0}};
  for (int i = 0; i < 5; i++) {
    gpudf_param_info p;
    ASSERT_EQ(gpudf_kernel_param(k, i, &p), GPUDF_OK);
    EXPECT_STREQ(p.name, want[i].name);
    EXPECT_EQ(p.kind, want[i].kind) << p.name;
    EXPECT_EQ(p.def, want[i].def) << p.name;
    EXPECT_EQ(p.shape, 0) << p.name;
    ASSERT_NE(p.summary, nullptr);
    EXPECT_FALSE(std::string(p.summary).empty());
    int index = -1;
    EXPECT_EQ(gpudf_kernel_param_index(k, want[i].name, &index), GPUDF_OK);
    EXPECT_EQ(index, i);
  }

  gpudf_param_info op, lo;
  ASSERT_EQ(gpudf_kernel_param(k, 1, &op), GPUDF_OK);
  ASSERT_EQ(op.nchoices, 8);
  const char *ops[] = {"all", "lt", "le", "gt", "ge", "eq", "ne", "between"};
  for (int i = 0; i < 8; i++) EXPECT_STREQ(op.choices[i], ops[i]);
  ASSERT_EQ(gpudf_kernel_param(k, 2, &lo), GPUDF_OK);
  EXPECT_TRUE(std::isinf(lo.min) && lo.min < 0);
  EXPECT_TRUE(std::isinf(lo.max) && lo.max > 0);
}

TEST(Kernels, ParamOutOfRangeOrUnknown) {
  const gpudf_kernel *k = FilterAgg();
  gpudf_param_info p;
  EXPECT_EQ(gpudf_kernel_param(k, 5, &p), GPUDF_EINVAL);
  EXPECT_TRUE(Contains(gpudf_last_error(), "5")) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_param(k, -1, &p), GPUDF_EINVAL);

  int index = 42;
  ASSERT_EQ(gpudf_kernel_param_index(k, "threshold", &index), GPUDF_ENOENT);
  EXPECT_EQ(index, 42);
  std::string msg = gpudf_last_error();
  EXPECT_TRUE(Contains(msg, "threshold")) << msg;
  EXPECT_TRUE(Contains(msg, "filter_agg")) << msg;
  EXPECT_TRUE(Contains(msg, "value_col")) << msg;  // lists the real ones
}

TEST(Kernels, DefaultsAndResults) {
  const gpudf_kernel *k = FilterAgg();
  std::vector<double> cfg(5, 123.0);
  ASSERT_EQ(gpudf_kernel_defaults(k, cfg.data()), GPUDF_OK);
  for (double v : cfg) EXPECT_EQ(v, 0.0);

  EXPECT_EQ(gpudf_kernel_nresults(k, nullptr), 6);
  EXPECT_EQ(gpudf_kernel_nresults(k, cfg.data()), 6);
  const char *names[] = {"count", "sum", "mean", "min", "max", "std"};
  for (int i = 0; i < 6; i++) {
    gpudf_result_info r;
    ASSERT_EQ(gpudf_kernel_result(k, nullptr, i, &r), GPUDF_OK);
    EXPECT_STREQ(r.name, names[i]);
    ASSERT_NE(r.summary, nullptr);
    ASSERT_EQ(gpudf_kernel_result(k, cfg.data(), i, &r), GPUDF_OK);
    EXPECT_STREQ(r.name, names[i]);
  }
  gpudf_result_info r;
  EXPECT_EQ(gpudf_kernel_result(k, nullptr, 6, &r), GPUDF_EINVAL);
  EXPECT_TRUE(Contains(gpudf_last_error(), "6")) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_result(k, nullptr, -1, &r), GPUDF_EINVAL);
}

gpudf_status NoRun(const gpudf_table *, const double *, int64_t, double *) { return GPUDF_OK; }

// A definition no config could pass is refused when it is registered, with
// the parameter named, rather than failing every call later.
TEST(Kernels, RegisteringAParameterNoConfigCouldPassIsRefused) {
  static const gpudf_result_info fields[] = {{"r", "result"}};
  static const char *const two[] = {"a", "b"};
  static const char *const holed[] = {"a", nullptr};
  const gpudf_param_info bad[] = {
      {"c", "", GPUDF_PARAM_CHOICE, 0, 0, 2, 3, nullptr, 0},        // no names
      {"c", "", GPUDF_PARAM_CHOICE, 0, 0, 1, 2, holed, 0},          // a NULL name
      {"c", "", GPUDF_PARAM_CHOICE, 0, 0, 1, -3, two, 0},           // nchoices < 1
      {"c", "", GPUDF_PARAM_CHOICE, 2, 0, 1, 2, two, 0},            // default not a choice
      {"i", "", GPUDF_PARAM_INTEGER, 5, 10, 1, 0, nullptr, 0},      // min > max
      {"r", "", GPUDF_PARAM_REAL, NAN, NAN, NAN, 0, nullptr, 0},    // NaN
      {"r", "", GPUDF_PARAM_REAL, 7, 0, 1, 0, nullptr, 0},          // default outside
  };
  int i = 0;
  for (const gpudf_param_info &p : bad) {
    SCOPED_TRACE(i++);
    gpudf_kernel_def d;
    gpudf_kernel_def_init(&d);
    std::string name = "never_callable_" + std::to_string(i);
    d.name = name.c_str();
    d.nparams = 1;
    d.params = &p;
    d.nfields = 1;
    d.fields = fields;
    d.run_cpu = NoRun;
    EXPECT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_EINVAL);
    EXPECT_TRUE(Contains(gpudf_last_error(), "parameter '" + std::string(p.name) + "'"))
        << gpudf_last_error();
    const gpudf_kernel *k;
    EXPECT_EQ(gpudf_kernel_find(name.c_str(), &k), GPUDF_ENOENT);
  }
}

TEST(Kernels, NullArgumentsAreRejected) {
  const gpudf_kernel *k = FilterAgg();
  gpudf_param_info p;
  gpudf_result_info r;
  double cfg[5];
  int index;

  EXPECT_EQ(gpudf_kernel_find(nullptr, &k), GPUDF_EINVAL);
  EXPECT_TRUE(Contains(gpudf_last_error(), "NULL")) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_find("filter_agg", nullptr), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_name(nullptr), nullptr);
  EXPECT_TRUE(Contains(gpudf_last_error(), "gpudf_kernel_name")) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_summary(nullptr), nullptr);
  EXPECT_EQ(gpudf_kernel_nparams(nullptr), 0);
  EXPECT_EQ(gpudf_kernel_param(nullptr, 0, &p), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_param(k, 0, nullptr), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_param_index(nullptr, "op", &index), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_param_index(k, nullptr, &index), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_param_index(k, "op", nullptr), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_defaults(nullptr, cfg), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_defaults(k, nullptr), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_nresults(nullptr, nullptr), 0);
  EXPECT_EQ(gpudf_kernel_result(nullptr, nullptr, 0, &r), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_kernel_result(k, nullptr, 0, nullptr), GPUDF_EINVAL);
}

// The names gpudf_kernel_result gives one by one, each followed by a NUL: the
// reference gpudf_kernel_result_names must match byte for byte.
std::string NamesOneByOne(const gpudf_kernel *k, const double *cfg) {
  std::string all;
  gpudf_result_info r;
  for (int i = 0; i < gpudf_kernel_nresults(k, cfg); i++) {
    EXPECT_EQ(gpudf_kernel_result(k, cfg, i, &r), GPUDF_OK) << gpudf_last_error();
    all.append(r.name);
    all.push_back('\0');
  }
  return all;
}

// Every built-in kernel, at its defaults and with each shape parameter at
// its minimum, its maximum (GPUDF_GROUPS_MAX, GPUDF_BINS_MAX) and random
// widths between: one call gives the same names as one call per name, and
// a buffer one byte short (or empty) is refused with the size it needs.
TEST(Kernels, ResultNamesInOneCallMatchOneByOne) {
  std::mt19937 rng(16);
  for (int ki = 0; ki < gpudf_kernel_count(); ki++) {
    const gpudf_kernel *k = gpudf_kernel_at(ki);
    SCOPED_TRACE(gpudf_kernel_name(k));
    int np = gpudf_kernel_nparams(k);
    std::vector<double> def(np > 0 ? np : 1);
    ASSERT_EQ(gpudf_kernel_defaults(k, def.data()), GPUDF_OK);
    std::vector<std::vector<double>> cfgs{def};
    for (int pi = 0; pi < np; pi++) {
      gpudf_param_info p;
      ASSERT_EQ(gpudf_kernel_param(k, pi, &p), GPUDF_OK);
      if (!p.shape) continue;
      std::uniform_int_distribution<long> width((long)p.min, (long)p.max);
      for (double v : {p.min, p.max, (double)width(rng), (double)width(rng)}) {
        cfgs.push_back(def);
        cfgs.back()[pi] = v;
      }
    }
    for (size_t c = 0; c <= cfgs.size(); c++) {
      const double *cfg = c < cfgs.size() ? cfgs[c].data() : nullptr;  // last: NULL
      std::string want = NamesOneByOne(k, cfg);
      size_t needed = 12345;
      ASSERT_EQ(gpudf_kernel_result_names(k, cfg, nullptr, 0, &needed), GPUDF_OK)
          << gpudf_last_error();
      ASSERT_EQ(needed, want.size());
      std::vector<char> buf(want.size() + 8, 'x');
      needed = 0;
      ASSERT_EQ(gpudf_kernel_result_names(k, cfg, buf.data(), want.size(), &needed),
                GPUDF_OK) << gpudf_last_error();
      EXPECT_EQ(needed, want.size());
      EXPECT_EQ(std::string(buf.data(), want.size()), want);
      EXPECT_EQ(buf[want.size()], 'x');  // nothing written past size
      if (want.empty()) continue;
      needed = 0;
      EXPECT_EQ(gpudf_kernel_result_names(k, cfg, buf.data(), want.size() - 1, &needed),
                GPUDF_EOVERFLOW);
      EXPECT_EQ(needed, want.size());
      EXPECT_TRUE(Contains(gpudf_last_error(), "need " + std::to_string(want.size()) +
                                                   " bytes, buf has " +
                                                   std::to_string(want.size() - 1)))
          << gpudf_last_error();
      EXPECT_EQ(gpudf_kernel_result_names(k, cfg, buf.data(), 0, nullptr), GPUDF_EOVERFLOW);
    }
  }
}

TEST(Kernels, ResultNamesRefuseBadArguments) {
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_find("histogram", &k), GPUDF_OK);
  char buf[64];
  size_t needed = 7;
  EXPECT_EQ(gpudf_kernel_result_names(nullptr, nullptr, buf, sizeof buf, &needed),
            GPUDF_EINVAL);
  EXPECT_TRUE(Contains(gpudf_last_error(), "kernel is NULL")) << gpudf_last_error();
  EXPECT_EQ(gpudf_kernel_result_names(k, nullptr, nullptr, 10, &needed), GPUDF_EINVAL);
  EXPECT_TRUE(Contains(gpudf_last_error(), "buf is NULL")) << gpudf_last_error();
  std::vector<double> cfg(gpudf_kernel_nparams(k));
  ASSERT_EQ(gpudf_kernel_defaults(k, cfg.data()), GPUDF_OK);
  int bins = -1;
  ASSERT_EQ(gpudf_kernel_param_index(k, "bins", &bins), GPUDF_OK);
  for (double bad : {0.0, 2.5, (double)GPUDF_BINS_MAX + 1, std::nan("")}) {
    cfg[bins] = bad;
    EXPECT_EQ(gpudf_kernel_result_names(k, cfg.data(), buf, sizeof buf, &needed),
              GPUDF_EINVAL);
    EXPECT_TRUE(Contains(gpudf_last_error(), "shape parameter 'bins'")) << gpudf_last_error();
    EXPECT_EQ(needed, 7u);  // untouched: no size for a config that has no results
  }
}

// The wide built-ins' names at their widest, against names built here:
// "<field>_<group>" and "bin_<i>", "underflow", "overflow", all distinct
// (gpudf.sweep relies on it to skip a uniqueness check of 327680 names).
TEST(Kernels, WideResultNamesAreTheDocumentedOnesAndDistinct) {
  struct Case { const char *kernel, *param; int width; };
  for (Case c : {Case{"groupby_agg", "groups", GPUDF_GROUPS_MAX},
                 Case{"histogram", "bins", GPUDF_BINS_MAX}, Case{"groupby_agg", "groups", 1},
                 Case{"histogram", "bins", 1}, Case{"groupby_agg", "groups", 1234},
                 Case{"histogram", "bins", 10000}}) {
    SCOPED_TRACE(std::string(c.kernel) + " width " + std::to_string(c.width));
    const gpudf_kernel *k = nullptr;
    ASSERT_EQ(gpudf_kernel_find(c.kernel, &k), GPUDF_OK);
    std::vector<double> cfg(gpudf_kernel_nparams(k));
    ASSERT_EQ(gpudf_kernel_defaults(k, cfg.data()), GPUDF_OK);
    int pi = -1;
    ASSERT_EQ(gpudf_kernel_param_index(k, c.param, &pi), GPUDF_OK);
    cfg[pi] = c.width;
    std::string want;
    if (std::string(c.kernel) == "groupby_agg") {
      for (int g = 0; g < c.width; g++)
        for (const char *f : {"count", "sum", "mean", "min", "max"})
          want += std::string(f) + "_" + std::to_string(g) + '\0';
    } else {
      for (int b = 0; b < c.width; b++) want += "bin_" + std::to_string(b) + '\0';
      want += std::string("underflow") + '\0' + "overflow" + '\0';
    }
    std::vector<char> buf(want.size());
    size_t needed = 0;
    ASSERT_EQ(gpudf_kernel_result_names(k, cfg.data(), buf.data(), buf.size(), &needed),
              GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(needed, want.size());
    EXPECT_TRUE(std::string(buf.data(), buf.size()) == want);
    std::set<std::string> seen;
    for (size_t at = 0; at < buf.size(); at += strlen(&buf[at]) + 1)
      EXPECT_TRUE(seen.insert(&buf[at]).second) << "duplicate result name " << &buf[at];
  }
}

// What `gpudf-sweep --describe`, the Python package's help and the docs
// print for every built-in kernel: a summary, and for every parameter and
// result a text that is whole (not empty, no blank at either end or doubled
// inside, which a dropped piece of a text leaves behind); a choice
// parameter's text explains each choice, so names each as a word.
TEST(Kernels, EveryHelpTextIsWholeAndExplainsEveryChoice) {
  auto whole = [](const char *text, const std::string &what) {
    ASSERT_NE(text, nullptr) << what;
    std::string s = text;
    EXPECT_FALSE(s.empty()) << what;
    if (s.empty()) return;
    EXPECT_FALSE(std::isspace((unsigned char)s.front()) || std::isspace((unsigned char)s.back()))
        << what << ": '" << s << "'";
    EXPECT_FALSE(Contains(s, "  ")) << what << ": '" << s << "'";
  };
  auto is_word = [](const std::string &s, const std::string &w) {
    auto word_char = [](char c) { return std::isalnum((unsigned char)c) || c == '_'; };
    for (size_t at = s.find(w); at != std::string::npos; at = s.find(w, at + 1))
      if ((at == 0 || !word_char(s[at - 1])) &&
          (at + w.size() == s.size() || !word_char(s[at + w.size()])))
        return true;
    return false;
  };
  ASSERT_GE(gpudf_kernel_count(), 6);
  for (int i = 0; i < gpudf_kernel_count(); i++) {
    const gpudf_kernel *k = gpudf_kernel_at(i);
    std::string name = gpudf_kernel_name(k);
    whole(gpudf_kernel_summary(k), name + " summary");
    for (int j = 0; j < gpudf_kernel_nparams(k); j++) {
      gpudf_param_info p;
      ASSERT_EQ(gpudf_kernel_param(k, j, &p), GPUDF_OK) << name << " " << j;
      std::string what = name + " parameter '" + p.name + "'";
      whole(p.summary, what);
      for (int c = 0; p.kind == GPUDF_PARAM_CHOICE && c < p.nchoices; c++) {
        ASSERT_NE(p.choices[c], nullptr) << what << ": choice " << c << " of " << p.nchoices;
        EXPECT_TRUE(is_word(p.summary, p.choices[c]))
            << what << " does not name its choice '" << p.choices[c] << "': " << p.summary;
      }
    }
    int nres = gpudf_kernel_nresults(k, nullptr);
    for (int j = 0; j < nres; j++) {
      gpudf_result_info r;
      ASSERT_EQ(gpudf_kernel_result(k, nullptr, j, &r), GPUDF_OK) << name << " " << j;
      whole(r.summary, name + " result '" + r.name + "'");
    }
  }
}

// gpudf_kernel_defaults (docs/api.md) gives column 0 for every column
// parameter, and for the others a value their own rule accepts (a whole
// number in range, a choice, a real in range): the CLI and the Python
// package start every config from these, so a default the validation
// refuses would fail every config that does not set it.
TEST(Kernels, EveryKernelsDefaultsAreColumnZeroAndValuesItsRulesAccept) {
  for (int i = 0; i < gpudf_kernel_count(); i++) {
    const gpudf_kernel *k = gpudf_kernel_at(i);
    std::string name = gpudf_kernel_name(k);
    int np = gpudf_kernel_nparams(k);
    std::vector<double> cfg((size_t)np, 123.5);
    ASSERT_EQ(gpudf_kernel_defaults(k, cfg.data()), GPUDF_OK) << name;
    for (int j = 0; j < np; j++) {
      gpudf_param_info p;
      ASSERT_EQ(gpudf_kernel_param(k, j, &p), GPUDF_OK) << name << " " << j;
      std::string what = name + " parameter '" + p.name + "' default " + std::to_string(cfg[j]);
      EXPECT_EQ(cfg[j], p.def) << what;
      switch (p.kind) {
      case GPUDF_PARAM_COLUMN:
        EXPECT_EQ(cfg[j], 0.0) << what;
        // Bounds and choices are for integer, real and choice parameters;
        // describe() (Python) and the CLI's help show them, so a column's
        // are none: 0, 0 and no choice.
        EXPECT_TRUE(p.min == 0.0 && p.max == 0.0 && p.nchoices == 0) << what;
        break;
      case GPUDF_PARAM_INTEGER:
        EXPECT_TRUE(cfg[j] == std::floor(cfg[j]) && cfg[j] >= p.min && cfg[j] <= p.max) << what;
        break;
      case GPUDF_PARAM_CHOICE:
        EXPECT_TRUE(cfg[j] == std::floor(cfg[j]) && cfg[j] >= 0 && cfg[j] < p.nchoices) << what;
        break;
      case GPUDF_PARAM_REAL: EXPECT_TRUE(cfg[j] >= p.min && cfg[j] <= p.max) << what; break;
      }
    }
  }
}

}  // namespace
