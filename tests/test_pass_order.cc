// gpudf_kernel_pass_order (0.6): configs by pass key, stably, with the
// starts of the groups that share a pass, against an order computed here
// from the parameters that make filter_agg's pass (its filter and value
// columns), and the caller's order for a kernel without a pass key.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace {

int Param(const gpudf_kernel *k, const char *name) {
  int i = -1;
  EXPECT_EQ(gpudf_kernel_param_index(k, name, &i), GPUDF_OK) << name;
  return i;
}

TEST(PassOrder, ConfigsOfOnePassComeTogetherInTheCallersOrder) {
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_find("filter_agg", &k), GPUDF_OK);
  int np = gpudf_kernel_nparams(k), fc = Param(k, "filter_col"), vc = Param(k, "value_col"),
      lo = Param(k, "lo");
  const int n = 50;
  std::vector<double> cfg((size_t)n * np);
  std::vector<std::pair<std::pair<int, int>, int>> want;
  for (int i = 0; i < n; i++) {
    double *c = &cfg[(size_t)i * np];
    gpudf_kernel_defaults(k, c);
    c[fc] = (i * 7) % 3;  // 3 x 2 column pairs, in no order
    c[vc] = (i / 3) % 2;
    c[lo] = i;
    want.push_back({{(int)c[fc], (int)c[vc]}, i});
  }
  std::stable_sort(want.begin(), want.end(),
                   [](const auto &a, const auto &b) { return a.first < b.first; });
  std::vector<int64_t> order(n), groups(n + 1);
  int64_t ng = -1;
  ASSERT_EQ(gpudf_kernel_pass_order(k, cfg.data(), n, order.data(), groups.data(), &ng),
            GPUDF_OK);
  ASSERT_EQ(ng, 6);
  for (int i = 0; i < n; i++) EXPECT_EQ(order[i], want[i].second) << "position " << i;
  EXPECT_EQ(groups[0], 0);
  EXPECT_EQ(groups[ng], n);
  for (int64_t g = 0; g < ng; g++)
    for (int64_t i = groups[g]; i < groups[g + 1]; i++)
      EXPECT_EQ(want[i].first, want[groups[g]].first) << "group " << g << " position " << i;
  for (int64_t g = 1; g < ng; g++)
    EXPECT_NE(want[groups[g]].first, want[groups[g] - 1].first) << "group " << g;
}

gpudf_status Twice(const gpudf_table *, const double *configs, int64_t n, double *results) {
  for (int64_t i = 0; i < n; i++) results[i] = 2 * configs[i];
  return GPUDF_OK;
}

TEST(PassOrder, AKernelWithoutAPassKeyKeepsTheCallersOrderAndNoGroups) {
  static const gpudf_param_info params[1] = {
      {"x", "a number", GPUDF_PARAM_REAL, 0.0, -1e9, 1e9, 0, nullptr, 0}};
  static const gpudf_result_info fields[1] = {{"twice", "2 x"}};
  gpudf_kernel_def def;
  gpudf_kernel_def_init(&def);
  def.name = "pass_order_test_no_key";
  def.nparams = 1;
  def.params = params;
  def.nfields = 1;
  def.fields = fields;
  def.run_cpu = Twice;
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_register(&def, &k), GPUDF_OK) << gpudf_last_error();
  double cfg[4] = {3, 1, 2, 0};
  int64_t order[4], ng = -1;
  ASSERT_EQ(gpudf_kernel_pass_order(k, cfg, 4, order, nullptr, &ng), GPUDF_OK);
  EXPECT_EQ(ng, 0);
  for (int i = 0; i < 4; i++) EXPECT_EQ(order[i], i);
  EXPECT_EQ(gpudf_kernel_pass_order(k, cfg, -1, order, nullptr, &ng), GPUDF_EINVAL);
}

}  // namespace
