// The kernel registry: finding kernels and describing their parameters and
// results through the public API, and rejecting bad arguments.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <cmath>
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

}  // namespace
