// Inputs the libFuzzer targets (tests/fuzz/) found to break a rule, kept as
// plain tests. Several were undefined behaviour that gives the right answer
// on x86 by luck: they fail under the UBSan pass of tests/run.sh.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
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
// was then converted to an integer; later the values were counted in the
// wrong bins (a row-split sweep disagreed with one run, corpus input
// 77d56332: 130 bins over [0, 1.3e-315]). Such a range is refused.
TEST(FuzzRegress, HistogramRangeNarrowerThanBinsOverDblMax) {
  for (double hi : {1e-320, 1.3262476855553085e-315}) {
    std::vector<double> v = {0.0, hi, hi / 2, -1.0, 1.0, NAN, 0.0, hi};
    Owned o;
    ASSERT_EQ(gpudf_table_create((int64_t)v.size(), &o.t), GPUDF_OK);
    ASSERT_EQ(gpudf_table_add_column(o.t, "v", GPUDF_TYPE_F64, v.data()), GPUDF_OK);
    const gpudf_kernel *k = Kernel("histogram");
    ASSERT_NE(k, nullptr);
    for (int bins : {41, 130}) {
      // filter_col op lo hi col bins range_lo range_hi
      double cfg[8] = {0, 0, 0, 0, 0, (double)bins, 0.0, hi};
      EXPECT_EQ(gpudf_validate(o.t, k, cfg, 1), GPUDF_EINVAL) << hi << ", " << bins;
      EXPECT_NE(std::string(gpudf_last_error()).find("too narrow for parameter 'bins'"),
                std::string::npos)
          << gpudf_last_error();
      std::vector<double> r(bins + 2, -1.0);
      EXPECT_EQ(gpudf_run(o.t, k, cfg, 1, r.data()), GPUDF_EINVAL);
      EXPECT_EQ(r[0], -1.0) << "nothing written";
    }
  }
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

// fuzz_csv: the first error depended on the rows types are guessed from.
// A header with the reserved name '__prefix.x' and a row of 3 fields at line
// 4: the default read (pass 1 over the whole file) reported the row, a read
// guessing from 1 or 2 rows created the table first and reported the name.
// The header's names are checked before any row now, so every read says
// the same (corpus: tests/fuzz/corpus/csv/reserved-name-before-rows).
TEST(FuzzRegress, CsvReservedHeaderNameBeforeRowErrors) {
  const unsigned char input[] = {
      0x5f, 0x5f, 0x70, 0x72, 0x65, 0x66, 0x69, 0x78, 0x2e, 0x78, 0x2c, 0x79, 0x0a, 0x31, 0x2e,
      0x35, 0x2c, 0x4e, 0x61, 0x4e, 0x0a, 0x2c, 0x4e, 0x41, 0x0a, 0x4e, 0x2f, 0x41, 0x2c, 0x4e,
      0x55, 0x2c, 0x4e, 0x61, 0x4e, 0x0a, 0x2c, 0x4e, 0x41, 0x0a, 0x4e, 0x2f, 0x41, 0x2c, 0x4e,
      0x55, 0x4c, 0x4c, 0x0a, 0x4c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6e,
      0x65, 0x0a, 0x2d, 0x69, 0x6e, 0x66, 0x2c, 0x31, 0x65, 0x33, 0x30, 0xff, 0x0a};
  std::string path = "/tmp/gpudf-fuzz-regress-" + std::to_string(getpid()) + ".csv";
  FILE *f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  fwrite(input, 1, sizeof input, f);
  fclose(f);
  std::string first;
  for (const char *rows : {"", "1", "2", "3", "4"}) {
    setenv("GPUDF_CSV_INFER_ROWS", rows, 1);
    gpudf_table *t = nullptr;
    gpudf_status st = gpudf_table_read_csv(path.c_str(), nullptr, &t);
    unsetenv("GPUDF_CSV_INFER_ROWS");
    std::string err = gpudf_last_error();
    EXPECT_EQ(st, GPUDF_EINVAL) << rows;
    EXPECT_EQ(t, nullptr);
    gpudf_table_free(t);
    EXPECT_NE(err.find(path + ":1:1: column name '__prefix.x': names starting with '__prefix.' "
                       "are reserved"), std::string::npos) << "rows " << rows << ": " << err;
    if (first.empty()) first = err;
    EXPECT_EQ(err, first) << "rows " << rows;
  }
  unlink(path.c_str());
}

// fuzz_csv (after 16.4): a column whose first row is missing was guessed
// float64, and fast_pass took 18446744073709551616 (2^64, a double exactly)
// for the rest, while the whole file makes a column of integers beyond int64
// text labels. fast_pass stops at any integer of 2^53 or more in a guessed
// float64 column now (corpus: beyond-int64-after-guessed-float-rows).
TEST(FuzzRegress, CsvIntegerBeyondInt64AfterGuessedFloatRows) {
  std::mt19937_64 rng(70);
  for (int iter = 0; iter < 20; iter++) {
    // a missing first row, then integers, one beyond int64 (some doubles
    // exactly: 2^64 + k 2^12), at a random row
    int n = 2 + (int)(rng() % 50), at = 1 + (int)(rng() % (n - 1));
    unsigned __int128 big = ((unsigned __int128)1 << 64) + (unsigned __int128)(rng() % 4) * 4096;
    std::string bigs;
    for (unsigned __int128 v = big; v; v /= 10) bigs.insert(bigs.begin(), char('0' + (int)(v % 10)));
    std::vector<std::string> want(n);
    std::string body = "i,NA\n";
    for (int r = 0; r < n; r++) {
      want[r] = r == 0 ? "" : r == at ? bigs : std::to_string(rng() % 1000);
      body += want[r] + "," + std::to_string(r) + "\n";
    }
    std::string path = "/tmp/gpudf-fuzz-regress-" + std::to_string(getpid()) + ".csv";
    FILE *f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(body.data(), 1, body.size(), f);
    fclose(f);
    for (const char *rows : {"", "1", "2", "3", "4"}) {
      setenv("GPUDF_CSV_INFER_ROWS", rows, 1);
      Owned o;
      gpudf_status st = gpudf_table_read_csv(path.c_str(), nullptr, &o.t);
      unsetenv("GPUDF_CSV_INFER_ROWS");
      ASSERT_EQ(st, GPUDF_OK) << gpudf_last_error();
      ASSERT_TRUE(gpudf_table_column_is_categorical(o.t, 0)) << "rows " << rows << "\n" << body;
      const int32_t *codes = (const int32_t *)gpudf_table_column_data(o.t, 0);
      for (int r = 0; r < n; r++) {
        const char *l = gpudf_table_column_label(o.t, 0, codes[r]);
        ASSERT_EQ(std::string(l ? l : ""), want[r]) << "row " << r;
      }
    }
    unlink(path.c_str());
  }
}

}  // namespace
