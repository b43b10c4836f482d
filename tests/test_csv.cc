// test_csv.cc - gpudf_table_read_csv on files written by the test: every
// type, quoting, CRLF, BOM, missing values, forced types, each error with its
// exact location, and the number parser against strtod on random inputs.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "csv_number.h"

namespace {

struct CsvFile {
  std::string path;
  explicit CsvFile(const std::string &body, const std::string &stem = "t.csv") {
    path = "/tmp/gpudf-csv-" + std::to_string(getpid()) + "-" + stem;
    FILE *f = fopen(path.c_str(), "wb");
    fwrite(body.data(), 1, body.size(), f);
    fclose(f);
  }
  ~CsvFile() { unlink(path.c_str()); }
};

struct Read {
  gpudf_table *t = nullptr;
  gpudf_status st;
  std::string err;
  Read(const CsvFile &f, const gpudf_csv_options *o = nullptr) {
    st = gpudf_table_read_csv(f.path.c_str(), o, &t);
    if (st != GPUDF_OK) err = gpudf_last_error();
  }
  ~Read() { gpudf_table_free(t); }
  int Col(const char *name) {
    int i = -1;
    EXPECT_EQ(gpudf_table_find_column(t, name, &i), GPUDF_OK) << name;
    return i;
  }
  template <class T> const T *Data(const char *name) {
    return (const T *)gpudf_table_column_data(t, Col(name));
  }
  std::string Label(const char *name, int row) {
    int c = Col(name);
    int32_t code = ((const int32_t *)gpudf_table_column_data(t, c))[row];
    const char *l = gpudf_table_column_label(t, c, code);
    return l ? l : "<missing>";
  }
};

TEST(Csv, EveryType) {
  CsvFile f("i,f,b,s,big,e\n"
            "1,1.5,true,x,9223372036854775807,\n"
            "-2,2,False,y,-9223372036854775808,\n"
            "3,-0.25e2,TRUE,x,0,\n");
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  ASSERT_EQ(gpudf_table_nrows(r.t), 3);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("i")), GPUDF_TYPE_I64);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("f")), GPUDF_TYPE_F64);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("b")), GPUDF_TYPE_BOOL);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("s")), GPUDF_TYPE_I32);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("big")), GPUDF_TYPE_I64);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("e")), GPUDF_TYPE_F64);  // all empty
  EXPECT_EQ(r.Data<int64_t>("i")[1], -2);
  EXPECT_EQ(r.Data<double>("f")[2], -25.0);
  EXPECT_EQ(r.Data<uint8_t>("b")[0], 1);
  EXPECT_EQ(r.Data<uint8_t>("b")[1], 0);
  EXPECT_EQ(r.Data<int64_t>("big")[0], INT64_MAX);
  EXPECT_EQ(r.Data<int64_t>("big")[1], INT64_MIN);
  EXPECT_TRUE(std::isnan(r.Data<double>("e")[0]));
  EXPECT_EQ(gpudf_table_column_nlabels(r.t, r.Col("s")), 2);
  EXPECT_EQ(r.Label("s", 0), "x");
  EXPECT_EQ(r.Label("s", 1), "y");
  EXPECT_EQ(r.Label("s", 2), "x");
}

TEST(Csv, QuotingCrlfBomBlankLines) {
  CsvFile f("\xEF\xBB\xBF\"na,me\",\"v\"\r\n"
            "\"a \"\"b\"\"\",\"1\"\r\n"
            "\r\n"
            "\"multi\nline\",2\r\n"
            "plain,\"3\"");  // no final newline
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  EXPECT_STREQ(gpudf_table_column_name(r.t, 0), "na,me");
  EXPECT_STREQ(gpudf_table_column_name(r.t, 1), "v");
  ASSERT_EQ(gpudf_table_nrows(r.t), 3);
  EXPECT_EQ(r.Label("na,me", 0), "a \"b\"");
  EXPECT_EQ(r.Label("na,me", 1), "multi\nline");
  EXPECT_EQ(r.Label("na,me", 2), "plain");
  EXPECT_EQ(gpudf_table_column_type(r.t, 1), GPUDF_TYPE_I64);
  EXPECT_EQ(r.Data<int64_t>("v")[2], 3);
}

TEST(Csv, MissingValuesAndIntToFloat) {
  CsvFile f("a,b,c,d\n1,x,NaN,true\n,NA,2.5,\n3,y,,false\n");
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  // An empty field in an integer column makes it float64, as pandas does.
  EXPECT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_F64);
  EXPECT_TRUE(std::isnan(r.Data<double>("a")[1]));
  EXPECT_EQ(r.Data<double>("a")[2], 3.0);
  EXPECT_EQ(r.Label("b", 1), "<missing>");
  EXPECT_TRUE(std::isnan(r.Data<double>("c")[0]));
  EXPECT_TRUE(std::isnan(r.Data<double>("c")[2]));
  // bool with a missing value: kept as strings
  EXPECT_EQ(gpudf_table_column_type(r.t, 3), GPUDF_TYPE_I32);
}

TEST(Csv, LabelsAreSorted) {
  CsvFile f("s\nzeta\nalpha\nbeta\nalpha\n");
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  const int32_t *codes = r.Data<int32_t>("s");
  EXPECT_EQ(codes[0], 2);
  EXPECT_EQ(codes[1], 0);
  EXPECT_EQ(codes[2], 1);
  EXPECT_STREQ(gpudf_table_column_label(r.t, 0, 0), "alpha");
}

TEST(Csv, DelimiterAndForcedTypes) {
  CsvFile f("k;x;flag;code\n1;2;true;007\n2;3;false;8\n");
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  o.delimiter = ';';
  gpudf_csv_column_type types[] = {{"x", GPUDF_CSV_FLOAT64}, {"code", GPUDF_CSV_CATEGORY}};
  o.ntypes = 2;
  o.types = types;
  Read r(f, &o);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  EXPECT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_I64);
  EXPECT_EQ(gpudf_table_column_type(r.t, 1), GPUDF_TYPE_F64);
  EXPECT_EQ(r.Data<double>("x")[1], 3.0);
  EXPECT_EQ(r.Label("code", 0), "007");
  // A forced name that is no column.
  types[0].name = "nope";
  Read bad(f, &o);
  EXPECT_EQ(bad.st, GPUDF_ENOENT);
  EXPECT_NE(bad.err.find("'nope'"), std::string::npos) << bad.err;
}

void ExpectError(const std::string &body, const std::string &where_what,
                 gpudf_status want = GPUDF_EINVAL, const gpudf_csv_options *o = nullptr) {
  CsvFile f(body, "prices.csv");
  Read r(f, o);
  EXPECT_EQ(r.st, want) << r.err;
  std::string expect = f.path + where_what;
  EXPECT_NE(r.err.find(expect), std::string::npos) << "message: " << r.err
                                                   << "\nexpected: " << expect;
}

TEST(Csv, ErrorsNameFileLineColumn) {
  ExpectError("", ": the file is empty");
  ExpectError("\n\n", ": the file is empty");
  ExpectError("a,b\n", ": the file has a header but no rows");
  ExpectError("a,b,a\n1,2,3\n", ":1:3: duplicate column name 'a'");
  ExpectError("a,,c\n1,2,3\n", ":1:2: empty column name");
  ExpectError("a,b\n1,2\n3\n", ":3: expected 2 fields (as in the header), got 1");
  ExpectError("a,b\n1,2\n3,4,5\n", ":3: expected 2 fields (as in the header), got 3");
  ExpectError("a,b\n1,2\n3,\"open\n4,5\n", ":3:2: unterminated quoted field");
  ExpectError("a,b\n1,\"x\"y\n", ":2:2: expected ',' or a line end after the closing quote");
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  gpudf_csv_column_type types[] = {{"p", GPUDF_CSV_FLOAT64}, {"n", GPUDF_CSV_INT64},
                                   {"b", GPUDF_CSV_BOOL}};
  o.ntypes = 3;
  o.types = types;
  std::string rows = "n,p,b\n";
  for (int i = 0; i < 6; i++) rows += "1,2.5,true\n";
  ExpectError(rows + "1,abc,true\n", ":8:2: expected a number, got 'abc'", GPUDF_EINVAL, &o);
  ExpectError(rows + ",1,true\n", ":8:1: expected an integer (column is int64), got ''",
              GPUDF_EINVAL, &o);
  ExpectError(rows + "1.5,1,true\n", ":8:1: expected an integer, got '1.5'", GPUDF_EINVAL, &o);
  ExpectError(rows + "9223372036854775808,1,true\n",
              ":8:1: integer overflow (int64), got '9223372036854775808'", GPUDF_EINVAL, &o);
  ExpectError(rows + "1,1,yes\n", ":8:3: expected true or false, got 'yes'", GPUDF_EINVAL, &o);
  // Line numbers count the lines inside quoted fields and the blank lines.
  ExpectError("n,p,b,s\n1,2,true,\"a\nb\"\n\n1,x,true,c\n",
              ":5:2: expected a number, got 'x'", GPUDF_EINVAL, &o);
}

TEST(Csv, PathErrors) {
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_read_csv("/nonexistent/x.csv", nullptr, &t), GPUDF_ENOENT);
  EXPECT_NE(std::string(gpudf_last_error()).find("/nonexistent/x.csv: cannot open"),
            std::string::npos) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_read_csv("/tmp", nullptr, &t), GPUDF_EINVAL);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(gpudf_table_read_csv(nullptr, nullptr, &t), GPUDF_EINVAL);
  if (geteuid() != 0) {  // root reads anything
    CsvFile f("a\n1\n");
    chmod(f.path.c_str(), 0);
    EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), nullptr, &t), GPUDF_EPERM);
  }
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  o.delimiter = '"';
  CsvFile f("a\n1\n");
  EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &t), GPUDF_EINVAL);
  o.delimiter = ',';
  o.version = 99;
  EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &t), GPUDF_EINVAL);
}

TEST(Csv, SharedViewSeesTheLabels) {
  CsvFile f("city,t\nOslo,1.5\nLima,2\nOslo,3\n");
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  gpudf_share *s = nullptr;
  ASSERT_EQ(gpudf_table_share(r.t, nullptr, GPUDF_BACKEND_CPU, &s), GPUDF_OK);
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(gpudf_share_name(s), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_STREQ(gpudf_table_column_label(v, 0, 1), "Oslo");
  gpudf_table_free(v);
  gpudf_share_close(s);
}

// The hand-written parser must give the correctly rounded double: compare
// with strtod bit for bit on random inputs of every shape.
TEST(CsvNumber, ExactlyStrtodOnRandomInputs) {
  std::mt19937_64 rng(12345);
  char buf[128];
  for (int i = 0; i < 400000; i++) {
    int shape = i % 6;
    uint64_t bits = rng();
    double d;
    memcpy(&d, &bits, sizeof d);
    switch (shape) {
    case 0: snprintf(buf, sizeof buf, "%.17g", std::isfinite(d) ? d : 1.0); break;
    case 1: snprintf(buf, sizeof buf, "%.*f", (int)(rng() % 9), (double)(rng() % 100000000) / 1000.0); break;
    case 2: snprintf(buf, sizeof buf, "%llu.%llue%d", (unsigned long long)(rng() % 1000000),
                     (unsigned long long)(rng() % 1000000), (int)(rng() % 80) - 40); break;
    case 3: snprintf(buf, sizeof buf, "%.*g", 1 + (int)(rng() % 17), (rng() % 2 ? -1 : 1) * (double)(rng() % 1000000007) * pow(10.0, (int)(rng() % 60) - 30)); break;
    case 4: snprintf(buf, sizeof buf, "%llu", (unsigned long long)(rng() >> (rng() % 64))); break;
    default: snprintf(buf, sizeof buf, "0.%019llu%llu", (unsigned long long)(rng() % 10000000000000000000ull), (unsigned long long)(rng() % 1000)); break;
    }
    double want = strtod(buf, nullptr), got = 0;
    ASSERT_TRUE(gdf_parse_f64(buf, strlen(buf), &got)) << buf;
    ASSERT_EQ(memcmp(&want, &got, sizeof got), 0) << buf << " strtod " << want << " got " << got;
  }
  const char *edge[] = {"9007199254740993", "9007199254740993e23", "1e23", "4.9e-324",
                        "2.2250738585072011e-308", "1.7976931348623157e308", "1e309",
                        "-0", "0.000000000000000000000000000001", "123456789012345678901234",
                        "  42  ", "+.5", "5.", "inf", "-Infinity"};
  for (const char *s : edge) {
    double got = 0;
    ASSERT_TRUE(gdf_parse_f64(s, strlen(s), &got)) << s;
    double want = strtod(s, nullptr);
    EXPECT_EQ(memcmp(&want, &got, sizeof got), 0) << s;
  }
  for (const char *s : {"", ".", "-", "1e", "e5", "1.2.3", "0x10", "1,5", "nan", "abc"}) {
    double got;
    EXPECT_FALSE(gdf_parse_f64(s, strlen(s), &got)) << s;
  }
}

}  // namespace
