// Inputs the libFuzzer targets (tests/fuzz/) found to break a rule, kept as
// plain tests. Several were undefined behaviour that gives the right answer
// on x86 by luck: they fail under the UBSan pass of tests/run.sh.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

namespace {

struct Owned {
  gpudf_table *t = nullptr;
  ~Owned() { gpudf_table_free(t); }
};

const gpudf_kernel *Kernel(const char *name) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(gpudf_kernel_find(name, &k), GPUDF_OK) << gpudf_last_error();
  return k;
}

// fuzz_config: a histogram range so narrow that bins / (range_hi - range_lo)
// is inf made the first guess of a value's bin 0 * inf = NaN (or inf), which
// was then converted to an integer.
TEST(FuzzRegress, HistogramRangeNarrowerThanBinsOverDblMax) {
  const double hi = 1e-320;  // a subnormal: 41 / 1e-320 overflows to inf
  std::vector<double> v = {0.0, hi, hi / 2, -1.0, 1.0, NAN, 0.0, hi};
  Owned o;
  ASSERT_EQ(gpudf_table_create((int64_t)v.size(), &o.t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(o.t, "v", GPUDF_TYPE_F64, v.data()), GPUDF_OK);
  const gpudf_kernel *k = Kernel("histogram");
  ASSERT_NE(k, nullptr);
  // filter_col op lo hi col bins range_lo range_hi
  const int bins = 41;
  double cfg[8] = {0, 0, 0, 0, 0, bins, 0.0, hi};
  ASSERT_EQ(gpudf_validate(o.t, k, cfg, 1), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_kernel_nresults(k, cfg), bins + 2);
  std::vector<double> r(bins + 2, -1.0);
  ASSERT_EQ(gpudf_run(o.t, k, cfg, 1, r.data()), GPUDF_OK) << gpudf_last_error();
  double in_range = 0;
  for (int i = 0; i < bins; i++) {
    EXPECT_GE(r[i], 0.0) << "bin " << i;
    in_range += r[i];
  }
  EXPECT_EQ(in_range, 5.0);        // 0, hi, hi/2, 0, hi
  EXPECT_GE(r[bins - 1], 2.0);     // hi itself is in the last bin, twice
  EXPECT_EQ(r[bins], 1.0);         // -1: underflow
  EXPECT_EQ(r[bins + 1], 1.0);     // 1: overflow; NaN not counted
}

// fuzz_config: the result width of a config not validated yet (what a
// binding asks before it allocates) converted a NaN, infinite or huge shape
// parameter to an int inside the kernel's nresults.
TEST(FuzzRegress, ResultWidthOfInvalidShapeParameterIsAnError) {
  const gpudf_kernel *h = Kernel("histogram"), *g = Kernel("groupby_agg");
  ASSERT_NE(h, nullptr);
  ASSERT_NE(g, nullptr);
  int bins = -1, groups = -1;
  ASSERT_EQ(gpudf_kernel_param_index(h, "bins", &bins), GPUDF_OK);
  ASSERT_EQ(gpudf_kernel_param_index(g, "groups", &groups), GPUDF_OK);
  double hc[64], gc[64];
  ASSERT_EQ(gpudf_kernel_defaults(h, hc), GPUDF_OK);
  ASSERT_EQ(gpudf_kernel_defaults(g, gc), GPUDF_OK);

  for (double bad : std::vector<double>{NAN, INFINITY, -INFINITY, DBL_MAX, 1e300, -1.0, 0.0, 2.5,
                     (double)GPUDF_BINS_MAX + 1}) {
    hc[bins] = bad;
    gc[groups] = bad;
    gpudf_set_error(GPUDF_OK, "");
    EXPECT_EQ(gpudf_kernel_nresults(h, hc), 0) << "bins = " << bad;
    EXPECT_NE(std::string(gpudf_last_error()).find("bins"), std::string::npos)
        << gpudf_last_error();
    EXPECT_EQ(gpudf_kernel_nresults(g, gc), 0) << "groups = " << bad;
    EXPECT_NE(std::string(gpudf_last_error()).find("groups"), std::string::npos)
        << gpudf_last_error();
    gpudf_result_info ri;
    EXPECT_EQ(gpudf_kernel_result(h, hc, 0, &ri), GPUDF_EINVAL) << "bins = " << bad;
  }
  // Valid values still give their widths.
  hc[bins] = 7;
  gc[groups] = 3;
  EXPECT_EQ(gpudf_kernel_nresults(h, hc), 7 + 2);
  EXPECT_EQ(gpudf_kernel_nresults(g, gc), 5 * 3);
  double d[64];
  ASSERT_EQ(gpudf_kernel_defaults(h, d), GPUDF_OK);
  EXPECT_EQ(gpudf_kernel_nresults(h, nullptr), (int)d[bins] + 2);
}

}  // namespace
