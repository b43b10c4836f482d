// test_column_types.cc - the column types a column parameter accepts: a
// categorical column (codes of text labels) is refused where a kernel needs
// numbers, with a message naming the column; a filter compares its labels
// only with eq/ne against a code; the default column of a parameter is the
// first one of a type it accepts. References are plain loops over the
// values the test wrote (long double sums), and type rules written out here
// from the documentation, not read back from the library.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <strings.h>
#include <unistd.h>
#include <vector>

#include "datagen.h"
#include "harness.h"
#include "tables.h"

namespace {

enum { kI32 = 2, kI64 = 4, kF32 = 8, kF64 = 16, kBool = 32, kCat = 64 };
const int kNumeric = kI32 | kI64 | kF32 | kF64 | kBool;

// Op indices of filter_agg's "op" choice (all lt le gt ge eq ne between).
enum { kAll, kLt, kLe, kGt, kGe, kEq, kNe, kBetween };

bool Has(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

const gpudf_kernel *K(const char *name) {
  const gpudf_kernel *k = nullptr;
  EXPECT_EQ(GPUDF_OK, gpudf_kernel_find(name, &k)) << name;
  return k;
}

int P(const gpudf_kernel *k, const char *name) {
  int i = -1;
  EXPECT_EQ(GPUDF_OK, gpudf_kernel_param_index(k, name, &i)) << name;
  return i;
}

// Random labels (distinct: a prefix per index) for a dictionary.
std::vector<std::string> Labels(std::mt19937_64 &rng, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; i++) {
    std::string s = std::to_string(i) + "_";
    for (int j = (int)(rng() % 6); j > 0; j--) s += (char)('a' + rng() % 26);
    out.push_back(s);
  }
  return out;
}

void AddCat(gpudf_table *t, const char *name, const std::vector<int32_t> &codes,
            const std::vector<std::string> &labels) {
  std::vector<const char *> p;
  for (auto &l : labels) p.push_back(l.c_str());
  ASSERT_EQ(GPUDF_OK, gpudf_table_add_categorical(t, name, codes.data(), (int32_t)p.size(),
                                                  p.empty() ? nullptr : p.data()))
      << gpudf_last_error();
}

// Validate's status and message for one config.
gpudf_status Check(const gpudf_table *t, const gpudf_kernel *k, const std::vector<double> &c,
                   std::string *msg) {
  gpudf_status st = gpudf_validate(t, k, c.data(), 1);
  *msg = gpudf_last_error();
  return st;
}

std::vector<double> Defaults(const gpudf_kernel *k) {
  std::vector<double> c((size_t)gpudf_kernel_nparams(k));
  EXPECT_EQ(GPUDF_OK, gpudf_kernel_defaults(k, c.data()));
  return c;
}

// A table shaped like a price file: date (text labels), close (f64),
// volume (i64), flag (bool), key (i32).
struct PriceTable {
  support::Table o;
  int64_t n;
  std::vector<int32_t> date, key;
  std::vector<double> close;
  std::vector<int64_t> volume;
  std::vector<uint8_t> flag;
  explicit PriceTable(std::mt19937_64 &rng, int64_t rows = 300) : o(rows), n(rows) {
    std::normal_distribution<double> g(0.0, 0.01);
    double p = 50.0 + (double)(rng() % 1000);
    for (int64_t i = 0; i < n; i++) {
      date.push_back((int32_t)i);
      close.push_back(p *= 1.0 + g(rng));
      volume.push_back((int64_t)(rng() % 100000));
      flag.push_back((uint8_t)(rng() % 2));
      key.push_back((int32_t)(rng() % 4));
    }
    std::vector<std::string> labels;
    for (int64_t i = 0; i < n; i++) {
      char d[32];
      snprintf(d, sizeof d, "2024-%02d-%02d", (int)(1 + i / 28), (int)(1 + i % 28));
      labels.push_back(d);
    }
    AddCat(o.t, "date", date, labels);
    EXPECT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "close", GPUDF_TYPE_F64, close.data()));
    EXPECT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "volume", GPUDF_TYPE_I64, volume.data()));
    EXPECT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "flag", GPUDF_TYPE_BOOL, flag.data()));
    EXPECT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "key", GPUDF_TYPE_I32, key.data()));
  }
};
enum { cDate, cClose, cVolume, cFlag, cKey };

// Every parameter that computes with numbers refuses the text column, in
// gpudf_validate, gpudf_run and gpudf_table_prepare alike, naming it.
TEST(ColumnTypes, NumberParametersRefuseACategoricalNamingIt) {
  std::mt19937_64 rng(harness::StressSeed());
  PriceTable pt(rng);
  struct Case {
    const char *kernel, *param;
  } cases[] = {{"filter_agg", "value_col"}, {"groupby_agg", "value_col"},
               {"histogram", "col"},        {"bootstrap", "col"},
               {"ma_crossover", "price_col"}};
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(c.kernel) + " " + c.param);
    const gpudf_kernel *k = K(c.kernel);
    std::vector<double> cfg = Defaults(k);
    // Every column parameter on a column it takes, then the one under test
    // on the text column.
    for (int p = 0; p < gpudf_kernel_nparams(k); p++) {
      gpudf_param_info pi;
      ASSERT_EQ(GPUDF_OK, gpudf_kernel_param(k, p, &pi));
      if (pi.kind == GPUDF_PARAM_COLUMN)
        cfg[(size_t)p] = std::strcmp(pi.name, "key_col") == 0 ? cKey : cClose;
    }
    if (std::strcmp(c.kernel, "groupby_agg") == 0) cfg[(size_t)P(k, "groups")] = 4;
    std::string msg;
    ASSERT_EQ(GPUDF_OK, Check(pt.o.t, k, cfg, &msg)) << msg;
    cfg[(size_t)P(k, c.param)] = cDate;
    EXPECT_EQ(GPUDF_EINVAL, Check(pt.o.t, k, cfg, &msg));
    EXPECT_TRUE(Has(msg, "column 'date'")) << msg;
    EXPECT_TRUE(Has(msg, "text labels (categorical)")) << msg;
    EXPECT_TRUE(Has(msg, "'" + std::string(c.param) + "' needs numbers")) << msg;
    std::vector<double> out(64);
    EXPECT_EQ(GPUDF_EINVAL, gpudf_run(pt.o.t, k, cfg.data(), 1, out.data()));
    EXPECT_TRUE(Has(gpudf_last_error(), "column 'date'")) << gpudf_last_error();
    EXPECT_EQ(GPUDF_EINVAL, gpudf_table_prepare(pt.o.t, tg_kernel(c.kernel), cfg.data(), 1));
  }
}

// The file: a,b / 1,2 / 3,4 / 5,abc. b is categorical (labels "2",
// "4", "abc"); filter_agg summed its codes (0 + 1 + 2 = 3).
TEST(ColumnTypes, FilterAggOfACsvTextColumnIsRefused) {
  support::CsvTable csv("a,b\n1,2\n3,4\n5,abc\n");
  ASSERT_EQ(GPUDF_OK, csv.st) << csv.err;
  const gpudf_table *t = csv.t;
  ASSERT_TRUE(gpudf_table_column_is_categorical(t, 1));
  const gpudf_kernel *k = K("filter_agg");
  std::vector<double> cfg = {0, kAll, 0, 0, 1}, out(6);
  EXPECT_EQ(GPUDF_EINVAL, gpudf_run(t, k, cfg.data(), 1, out.data()));
  std::string msg = gpudf_last_error();
  EXPECT_TRUE(Has(msg, "'value_col' = 1 is column 'b'")) << msg;
  EXPECT_TRUE(Has(msg, "text labels")) << msg;
  cfg[4] = 0;  // the numbers of a: 1 + 3 + 5
  ASSERT_EQ(GPUDF_OK, gpudf_run(t, k, cfg.data(), 1, out.data())) << gpudf_last_error();
  EXPECT_EQ(out[0], 3.0);
  EXPECT_EQ(out[1], 9.0);
}

// A random categorical filter column: eq/ne with every code (and -1, the
// missing value) give what a loop over the codes gives, in filter_agg,
// groupby_agg and histogram; an order comparison or a lo that is no code is
// refused, naming the column.
TEST(ColumnTypes, ACategoricalFilterComparesLabelsWithEqAndNeOnly) {
  std::mt19937_64 rng(harness::StressSeed());
  for (int round = 0; round < 4; round++) {
    const int64_t n = 1000 + (int64_t)(rng() % 4000);
    const int L = 1 + (int)(rng() % 12), G = 3;
    std::vector<int32_t> codes((size_t)n), key((size_t)n);
    std::vector<double> x((size_t)n);
    std::normal_distribution<double> g(5.0, 3.0);
    for (int64_t i = 0; i < n; i++) {
      codes[(size_t)i] = (int32_t)(rng() % (uint64_t)(L + 1)) - 1;
      key[(size_t)i] = (int32_t)(rng() % (G + 1));  // G: outside the groups
      x[(size_t)i] = rng() % 17 == 0 ? NAN : g(rng);
    }
    support::Table o(n);
    AddCat(o.t, "sym", codes, Labels(rng, L));
    ASSERT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "x", GPUDF_TYPE_F64, x.data()));
    ASSERT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "key", GPUDF_TYPE_I32, key.data()));
    const gpudf_kernel *fa = K("filter_agg"), *gb = K("groupby_agg"), *hi = K("histogram");
    for (int op : {kEq, kNe})
      for (int code = -1; code < L; code++) {
        SCOPED_TRACE("op " + std::to_string(op) + " code " + std::to_string(code));
        long double cnt = 0, sum = 0, gcnt[G] = {0, 0, 0}, gsum[G] = {0, 0, 0};
        double bins[4] = {0, 0, 0, 0};  // 2 bins over [0, 10], under, over
        for (int64_t i = 0; i < n; i++) {
          bool pass = op == kEq ? codes[(size_t)i] == code : codes[(size_t)i] != code;
          double v = x[(size_t)i];
          if (!pass || std::isnan(v)) continue;
          cnt += 1, sum += v;
          if (key[(size_t)i] < G) gcnt[key[(size_t)i]] += 1, gsum[key[(size_t)i]] += v;
          bins[v < 0 ? 2 : v > 10 ? 3 : v < 5 ? 0 : 1] += 1;
        }
        double r[16];
        std::vector<double> c = {0, (double)op, (double)code, 0, 1};
        ASSERT_EQ(GPUDF_OK, gpudf_run(o.t, fa, c.data(), 1, r)) << gpudf_last_error();
        EXPECT_EQ(r[0], (double)cnt);
        EXPECT_NEAR(r[1], (double)sum, 1e-9 * (1 + std::fabs((double)sum)));
        c = {0, (double)op, (double)code, 0, 2, 1, G};
        ASSERT_EQ(GPUDF_OK, gpudf_run(o.t, gb, c.data(), 1, r)) << gpudf_last_error();
        for (int gi = 0; gi < G; gi++) {
          EXPECT_EQ(r[5 * gi], (double)gcnt[gi]);
          EXPECT_NEAR(r[5 * gi + 1], (double)gsum[gi], 1e-9 * (1 + std::fabs((double)gsum[gi])));
        }
        c = {0, (double)op, (double)code, 0, 1, 2, 0, 10};
        ASSERT_EQ(GPUDF_OK, gpudf_run(o.t, hi, c.data(), 1, r)) << gpudf_last_error();
        for (int b = 0; b < 4; b++) EXPECT_EQ(r[b], bins[b]) << b;
      }
    for (const gpudf_kernel *k : {fa, gb, hi}) {
      SCOPED_TRACE(gpudf_kernel_name(k));
      std::vector<double> c = Defaults(k);
      c[(size_t)P(k, "filter_col")] = 0;
      c[(size_t)P(k, k == hi ? "col" : "value_col")] = 1;
      if (k == gb) c[(size_t)P(k, "key_col")] = 2;
      std::string msg;
      for (int op : {kLt, kLe, kGt, kGe, kBetween}) {
        c[1] = op, c[2] = 0, c[3] = L;
        EXPECT_EQ(GPUDF_EINVAL, Check(o.t, k, c, &msg)) << op;
        EXPECT_TRUE(Has(msg, "column 'sym'") && Has(msg, "text labels")) << msg;
      }
      for (double lo : {-2.0, 0.5, (double)L, 1e300}) {
        c[1] = kEq, c[2] = lo;
        EXPECT_EQ(GPUDF_EINVAL, Check(o.t, k, c, &msg)) << lo;
        EXPECT_TRUE(Has(msg, "not a code of column 'sym'")) << msg;
      }
      c[1] = kAll, c[2] = 0.5;  // all ignores lo
      EXPECT_EQ(GPUDF_OK, Check(o.t, k, c, &msg)) << msg;
    }
  }
}

// Codes are fine group keys: groupby_agg by a categorical gives each
// label's count and sum, missing values (-1) in no group.
TEST(ColumnTypes, ACategoricalKeyGroupsByLabel) {
  std::mt19937_64 rng(harness::StressSeed());
  const int64_t n = 3000;
  const int L = 2 + (int)(rng() % 9);
  std::vector<int32_t> codes((size_t)n);
  std::vector<double> x((size_t)n);
  std::vector<long double> cnt((size_t)L), sum((size_t)L);
  for (int64_t i = 0; i < n; i++) {
    codes[(size_t)i] = (int32_t)(rng() % (uint64_t)(L + 1)) - 1;
    x[(size_t)i] = (double)(int64_t)(rng() % 2001) / 8.0 - 100.0;
    if (codes[(size_t)i] >= 0) cnt[(size_t)codes[(size_t)i]] += 1, sum[(size_t)codes[(size_t)i]] += x[(size_t)i];
  }
  support::Table o(n);
  AddCat(o.t, "sym", codes, Labels(rng, L));
  ASSERT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, "x", GPUDF_TYPE_F64, x.data()));
  std::vector<double> c = {1, kAll, 0, 0, 0, 1, (double)L}, r((size_t)(5 * L));
  ASSERT_EQ(GPUDF_OK, gpudf_run(o.t, K("groupby_agg"), c.data(), 1, r.data())) << gpudf_last_error();
  for (int g = 0; g < L; g++) {
    EXPECT_EQ(r[(size_t)(5 * g)], (double)cnt[(size_t)g]) << g;
    EXPECT_EQ(r[(size_t)(5 * g + 1)], (double)sum[(size_t)g]) << g;  // eighths: exact
  }
}

// More of the same kind: a bool price column (0/1 prices make returns from
// 0 infinite) and a real-valued key are refused with the column's type.
TEST(ColumnTypes, OtherTypesAParameterCannotUseAreRefused) {
  std::mt19937_64 rng(harness::StressSeed());
  PriceTable pt(rng);
  std::string msg;
  const gpudf_kernel *ma = K("ma_crossover");
  std::vector<double> c = Defaults(ma);
  c[0] = cFlag;
  EXPECT_EQ(GPUDF_EINVAL, Check(pt.o.t, ma, c, &msg));
  EXPECT_TRUE(Has(msg, "column 'flag' of type bool")) << msg;
  EXPECT_TRUE(Has(msg, "'price_col' takes i32, i64, f32 or f64 columns")) << msg;
  for (int col : {cClose, cVolume, cKey}) {
    c[0] = col;
    EXPECT_EQ(GPUDF_OK, Check(pt.o.t, ma, c, &msg)) << msg;
  }
  const gpudf_kernel *gb = K("groupby_agg");
  c = {cClose, kAll, 0, 0, cClose, cClose, 4};
  EXPECT_EQ(GPUDF_EINVAL, Check(pt.o.t, gb, c, &msg));
  EXPECT_TRUE(Has(msg, "'key_col' = 1 is column 'close' of type f64")) << msg;
  EXPECT_TRUE(Has(msg, "i32, i64, bool or categorical")) << msg;
  for (int col : {cDate, cVolume, cFlag, cKey}) {
    c[4] = col;
    EXPECT_EQ(GPUDF_OK, Check(pt.o.t, gb, c, &msg)) << msg;
  }
}

// What each built-in column parameter accepts, as the documentation says.
int Documented(const std::string &kernel, const std::string &param) {
  if (param == "filter_col") return kNumeric | kCat;
  if (param == "key_col") return kI32 | kI64 | kBool | kCat;
  if (kernel == "ma_crossover") return kI32 | kI64 | kF32 | kF64;
  return kNumeric;
}

TEST(ColumnTypes, EachParameterDeclaresItsTypes) {
  for (int i = 0; i < 5; i++) {
    const gpudf_kernel *k = gpudf_kernel_at(i);
    for (int p = 0; p < gpudf_kernel_nparams(k); p++) {
      gpudf_param_info pi;
      ASSERT_EQ(GPUDF_OK, gpudf_kernel_param(k, p, &pi));
      int want = pi.kind == GPUDF_PARAM_COLUMN ? Documented(gpudf_kernel_name(k), pi.name) : 0;
      EXPECT_EQ(want, gpudf_kernel_param_accepts(k, p)) << gpudf_kernel_name(k) << " " << pi.name;
    }
  }
  EXPECT_EQ(0, gpudf_kernel_param_accepts(nullptr, 0));
  EXPECT_EQ(0, gpudf_kernel_param_accepts(K("filter_agg"), 99));
}

// Random tables of random column types and names: the default of every
// column parameter is the first column of a type it accepts (for
// ma_crossover's price_col, a column called close, adj close, adj_close or
// price first, in that order, any case); none fits: EINVAL naming every
// column with its type.
TEST(ColumnTypes, TheDefaultColumnIsTheFirstOfATypeTheParameterAccepts) {
  std::mt19937_64 rng(harness::StressSeed());
  const char *const tname[] = {"i32", "i64", "f32", "f64", "bool", "categorical"};
  const char *const names[] = {"Close", "PRICE", "adj close", "Adj_Close", "open", "x", "date"};
  const char *const prefer[] = {"close", "adj close", "adj_close", "price"};
  for (int round = 0; round < 300; round++) {
    const int64_t n = 4;
    int ncols = 1 + (int)(rng() % 6);
    support::Table o(n);
    std::vector<int> kind;      // index into tname
    std::vector<std::string> cname;
    for (int c = 0; c < ncols; c++) {
      int ty = (int)(rng() % 6);
      std::string nm = std::string(names[rng() % 7]) + (rng() % 2 ? "" : std::to_string(c));
      bool dup = false;
      for (auto &s : cname) dup |= s == nm;
      if (dup) nm += "_" + std::to_string(c);
      std::vector<int64_t> zero((size_t)n * 8, 0);
      if (ty == 5) {
        AddCat(o.t, nm.c_str(), std::vector<int32_t>((size_t)n, 0), {"a"});
      } else {
        ASSERT_EQ(GPUDF_OK, gpudf_table_add_column(o.t, nm.c_str(), (gpudf_type)(ty + 1), zero.data()));
      }
      kind.push_back(ty);
      cname.push_back(nm);
    }
    for (int ki = 0; ki < 5; ki++) {
      const gpudf_kernel *k = gpudf_kernel_at(ki);
      std::string kn = gpudf_kernel_name(k);
      for (int p = 0; p < gpudf_kernel_nparams(k); p++) {
        gpudf_param_info pi;
        ASSERT_EQ(GPUDF_OK, gpudf_kernel_param(k, p, &pi));
        if (pi.kind != GPUDF_PARAM_COLUMN) continue;
        int acc = Documented(kn, pi.name), want = -1;
        auto fits = [&](int c) { return (acc & (2 << kind[(size_t)c])) != 0; };
        if (kn == "ma_crossover")
          for (const char *pref : prefer)
            for (int c = 0; c < ncols && want < 0; c++)
              if (fits(c) && strcasecmp(cname[(size_t)c].c_str(), pref) == 0) want = c;
        for (int c = 0; c < ncols && want < 0; c++)
          if (fits(c)) want = c;
        int got = -7;
        gpudf_status st = gpudf_kernel_default_column(k, p, o.t, &got);
        SCOPED_TRACE(kn + " " + pi.name + " round " + std::to_string(round));
        if (want >= 0) {
          EXPECT_EQ(GPUDF_OK, st) << gpudf_last_error();
          EXPECT_EQ(want, got);
        } else {
          EXPECT_EQ(GPUDF_EINVAL, st);
          std::string msg = gpudf_last_error();
          EXPECT_TRUE(Has(msg, "'" + std::string(pi.name) + "'")) << msg;
          for (int c = 0; c < ncols; c++)
            EXPECT_TRUE(Has(msg, cname[(size_t)c] + " (" + tname[kind[(size_t)c]] + ")")) << msg;
        }
      }
    }
  }
}

// gpudf_kernel_default_column refuses what is not a column parameter and
// NULL arguments, with a message.
TEST(ColumnTypes, DefaultColumnArgumentsAreChecked) {
  std::mt19937_64 rng(harness::StressSeed());
  PriceTable pt(rng);
  const gpudf_kernel *ma = K("ma_crossover");
  int col = -1;
  EXPECT_EQ(GPUDF_EINVAL, gpudf_kernel_default_column(ma, 1, pt.o.t, &col));  // fast
  EXPECT_TRUE(Has(gpudf_last_error(), "not a column parameter")) << gpudf_last_error();
  EXPECT_EQ(GPUDF_EINVAL, gpudf_kernel_default_column(ma, 0, nullptr, &col));
  EXPECT_EQ(GPUDF_EINVAL, gpudf_kernel_default_column(ma, 0, pt.o.t, nullptr));
  EXPECT_EQ(GPUDF_EINVAL, gpudf_kernel_default_column(nullptr, 0, pt.o.t, &col));
  ASSERT_EQ(GPUDF_OK, gpudf_kernel_default_column(ma, 0, pt.o.t, &col));
  EXPECT_EQ(cClose, col);
}

gpudf_status Probe(const gpudf_table *t, const double *c, int64_t n, double *r) {
  for (int64_t i = 0; i < n; i++) r[i] = (double)gpudf_table_column_type(t, (int)c[i]);
  return GPUDF_OK;
}

// A plugin says which types it takes; one that says nothing (or was built
// against 0.2, whose def ends before accepts) takes numbers only.
TEST(ColumnTypes, ARegisteredKernelDeclaresItsTypes) {
  std::mt19937_64 rng(harness::StressSeed());
  PriceTable pt(rng);
  static const gpudf_param_info params[] = {{"col", "", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, nullptr, 0}};
  static const gpudf_result_info fields[] = {{"type", ""}};
  static const int labels_only[] = {GPUDF_ACCEPT_CATEGORICAL};
  static const int bad_bits[] = {GPUDF_ACCEPT_F64 | 1024};
  struct Case {
    const char *name;
    size_t size;
    const int *accepts;
    int ok_mask;  // of cDate..cKey
  } cases[] = {
      {"coltypes_default", sizeof(gpudf_kernel_def), nullptr, 0x1e},
      {"coltypes_labels", sizeof(gpudf_kernel_def), labels_only, 0x01},
      {"coltypes_v02", offsetof(gpudf_kernel_def, accepts), labels_only, 0x1e},
  };
  std::string msg;
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    gpudf_kernel_def d;
    gpudf_kernel_def_init(&d);
    d.size = c.size;
    d.name = c.name;
    d.nparams = 1;
    d.params = params;
    d.nfields = 1;
    d.fields = fields;
    d.run_cpu = Probe;
    d.accepts = c.accepts;  // past size for the 0.2 def: never read
    const gpudf_kernel *k = nullptr;
    if (gpudf_kernel_find(c.name, &k) != GPUDF_OK) {  // registered for good: once per process
      ASSERT_EQ(GPUDF_OK, gpudf_kernel_register(&d, &k)) << gpudf_last_error();
    }
    for (int col = cDate; col <= cKey; col++) {
      bool ok = (c.ok_mask >> col) & 1;
      EXPECT_EQ(ok ? GPUDF_OK : GPUDF_EINVAL, Check(pt.o.t, k, {(double)col}, &msg))
          << col << ": " << msg;
      if (!ok) {
        EXPECT_TRUE(Has(msg, "'" + std::string(gpudf_table_column_name(pt.o.t, col)) + "'"))
            << msg;
      }
    }
  }
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "coltypes_bad_bits";
  d.nparams = 1;
  d.params = params;
  d.nfields = 1;
  d.fields = fields;
  d.run_cpu = Probe;
  d.accepts = bad_bits;
  EXPECT_EQ(GPUDF_EINVAL, gpudf_kernel_register(&d, nullptr));
  EXPECT_TRUE(Has(gpudf_last_error(), "'col'")) << gpudf_last_error();
}

}  // namespace
