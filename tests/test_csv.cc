// test_csv.cc - gpudf_table_read_csv on files written by the test: every
// type, quoting, CRLF, BOM, missing values, forced types, each error with its
// exact location, and the number parser against strtod on random inputs.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "csv_number.h"
#include "harness.h"
#include "tables.h"

namespace {

using CsvFile = support::TempFile;

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

// "baaaaaaa" and "baaaaaaaa" have the same 64-bit dictionary hash
// (gdf_csv_hash: the same first 8 bytes, and last 8 bytes plus length equal);
// "a" puts the byte that would complete the shorter one after it in the
// dictionary's bytes. Labels are told apart by their bytes, not their hash.
TEST(Csv, LabelsOfTheSameHashStayDistinct) {
  for (const char *threads : {"1", "0"}) {
    CsvFile f("s,v\nbaaaaaaa,1\na,2\nbaaaaaaaa,3\nbaaaaaaa,4\nbaaaaaaaa,5\n");
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    o.threads = std::atoi(threads);
    Read r(f, &o);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    EXPECT_EQ(gpudf_table_column_nlabels(r.t, r.Col("s")), 3) << threads << " threads";
    const char *want[] = {"baaaaaaa", "a", "baaaaaaaa", "baaaaaaa", "baaaaaaaa"};
    for (int i = 0; i < 5; i++) EXPECT_EQ(r.Label("s", i), want[i]) << "row " << i;
  }
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

// Several text columns: each one's dictionary is appended to the arena after
// the codes are in, which may move the arena; every column must still map
// its rows to their own labels (the codes were once sorted through a pointer
// from before the move: a crash on some files, see also
// Fault.EveryGrowthMovesTheMapping, which forces every move).
TEST(Csv, SeveralTextColumnsKeepTheirLabels) {
  std::string body = "n,s,t,u\n";
  auto label = [](char tag, int i) {
    return std::string(1, tag) + std::string(60, 'x') + std::to_string(i % 37);
  };
  for (int i = 0; i < 900; i++)
    body += std::to_string(i) + "," + label('s', i) + "," + label('t', i * 7) + "," +
            label('u', i * 11) + "\n";
  CsvFile f(body);
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  for (const char *name : {"s", "t", "u"}) {
    int c = r.Col(name);
    const int32_t *codes = r.Data<int32_t>(name);
    int mult = name[0] == 's' ? 1 : name[0] == 't' ? 7 : 11;
    for (int i = 0; i < 900; i++)
      ASSERT_EQ(gpudf_table_column_label(r.t, c, codes[i]), label(name[0], i * mult))
          << name << " row " << i;
  }
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
  // A NUL byte in a text value is named where it is (it once surfaced as
  // "label 0 contains a NUL byte", from the table, after sorting).
  ExpectError(std::string("a,b\n1,x\n2,y\0z\n", 14), ":3:2: a NUL byte in a text value");
  // Lines that end in CR alone read as one header line: say so.
  ExpectError("a,b\r1,2\r3,4\r", ":1:2: column name contains a carriage return");
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
  // Exponents longer than the parser keeps, offset by as many digits in the
  // mantissa: 0.(99,999 zeros)1e1000000 is 1e900001 (inf), and 1(100,000
  // zeros)e-1000000 is 1e-900000 (0); a cut exponent once gave 1 for both.
  std::vector<std::string> longer = {"0." + std::string(99999, '0') + "1e1000000",
                                     "1" + std::string(100000, '0') + "e-1000000",
                                     "1e" + std::string(50, '0') + "5",
                                     "7e-0000000000000000000001"};
  for (const std::string &s : longer) {
    double got = -1;
    ASSERT_TRUE(gdf_parse_f64(s.data(), s.size(), &got)) << s.substr(0, 40);
    double want = strtod(s.c_str(), nullptr);
    EXPECT_EQ(memcmp(&want, &got, sizeof got), 0) << s.substr(0, 40) << ": " << got;
  }
}

// Digits past the 19 the fast path keeps decide the rounding when the kept
// ones sit exactly on a tie between two doubles: 9007199254740993 is halfway
// between 2^53 and 2^53 + 2 (ties to even: 2^53), and any non-zero digit after
// it, in the fraction or in the integer part, must round up. Signs and the
// blanks around a number are the only bytes the parsers skip: control bytes
// and other punctuation make the field text.
TEST(CsvNumber, DigitsPastTheNineteenthSignsAndBlanks) {
  for (const char *s : {"9007199254740993.0001", "9007199254740993.00000000000000000001",
                        "90071992547409930001e-4", "73786976294838214657",
                        "73786976294838214656.000000000000000001", "-9007199254740993.0001"}) {
    double got = 0;
    ASSERT_TRUE(gdf_parse_f64(s, strlen(s), &got)) << s;
    double want = strtod(s, nullptr);
    EXPECT_EQ(memcmp(&want, &got, sizeof got), 0) << s << ": strtod " << want << ", got " << got;
  }
  double up = 0;
  ASSERT_TRUE(gdf_parse_f64("9007199254740993.0001", 21, &up));
  EXPECT_EQ(up, 9007199254740994.0);

  int64_t v = 0;
  bool overflow = false;
  ASSERT_TRUE(gdf_parse_i64(" \t-5\t ", 6, &v, &overflow));
  EXPECT_EQ(v, -5);
  for (const char *s : {"\x01" "5", "5\x01", "\v5", "\x1f" "5", "*5", "!5", ",5", "/5", "+-5"}) {
    EXPECT_FALSE(gdf_parse_i64(s, strlen(s), &v, &overflow)) << "i64 of \"" << s << "\"";
    double d;
    EXPECT_FALSE(gdf_parse_f64(s, strlen(s), &d)) << "f64 of \"" << s << "\"";
  }
  // Beyond int64, a signed integer is exact when the double it rounds to
  // prints as the same digits: 2^64 is, 2^64 + 1 is not.
  for (const char *s : {"18446744073709551616", "+18446744073709551616", "-18446744073709551616",
                        " -18446744073709551616\t", "-0018446744073709551616"})
    EXPECT_TRUE(gdf_int_is_exact_f64(s, strlen(s))) << s;
  for (const char *s : {"18446744073709551617", "+18446744073709551617", "-18446744073709551617"})
    EXPECT_FALSE(gdf_int_is_exact_f64(s, strlen(s))) << s;
}

// The in-place scanners of the reader (gdf_scan_f64, gdf_scan_i64 and the
// first pass's gdf_skip_*) must agree with strtod and gdf_parse_* wherever
// they accept, and must accept the plain forms so the reader is fast.
TEST(CsvNumber, InPlaceScannersAgree) {
  std::mt19937_64 rng(777);
  char buf[128];
  int fast = 0, total = 0;
  for (int i = 0; i < 300000; i++) {
    uint64_t bits = rng();
    double d;
    memcpy(&d, &bits, sizeof d);
    switch (i % 5) {
    case 0: snprintf(buf, sizeof buf, "%.17g", std::isfinite(d) ? d : 1.0); break;
    case 1: snprintf(buf, sizeof buf, "%.*f", (int)(rng() % 12), (double)(int64_t)(rng() % 2000000001 - 1000000000) / 1000.0); break;
    case 2: snprintf(buf, sizeof buf, "%.*e", (int)(rng() % 19), (rng() % 2 ? -1 : 1) * (double)(rng() % 1000000007) * pow(10.0, (int)(rng() % 80) - 40)); break;
    case 3: snprintf(buf, sizeof buf, "%lld", (long long)(rng() >> (rng() % 64))); break;
    default: snprintf(buf, sizeof buf, "%.*g", 1 + (int)(rng() % 19), (double)rng() / 3.0); break;
    }
    std::string padded = std::string(buf) + ",";
    padded.append(64, '\0');
    size_t n = strlen(buf);
    double want = strtod(buf, nullptr), got = 0;
    const char *q = gdf_scan_f64(padded.c_str(), &got);
    total++;
    if (q) {
      fast++;
      ASSERT_EQ(q, padded.c_str() + n) << buf;
      ASSERT_EQ(memcmp(&want, &got, sizeof got), 0) << buf << " strtod " << want << " got " << got;
    }
    ASSERT_EQ(gdf_skip_f64(padded.c_str()), padded.c_str() + n) << buf;
    int64_t iv = 0, ref = 0;
    bool ovf = false;
    bool is_int = gdf_parse_i64(buf, n, &ref, &ovf) && !ovf;
    const char *qi = gdf_scan_i64(padded.c_str(), &iv);
    if (qi == padded.c_str() + n) {  // else it stopped at '.' or 'e': not an integer
      ASSERT_TRUE(is_int) << buf;
      ASSERT_EQ(iv, ref) << buf;
      ASSERT_EQ(gdf_skip_i64(padded.c_str()), qi) << buf;
    } else if (is_int) {
      ASSERT_GT(n, 18u) << buf;  // only long integers are left to the parser
    }
  }
  // %.17g of random bits and 19-digit mantissas are the only inputs left to
  // strtod here: nearly all inputs take a fast path.
  EXPECT_GT(fast, total * 3 / 4) << fast << " of " << total;
  // Forms the scanners leave to the general parser (which accepts some).
  for (const char *s : {"", ".", "-", "+", "1e", "1e+", "1.5e+", "e5", ".e1", "-.", " 1",
                        "inf", "nan", "\"1\"", "12345678901234567890"}) {
    std::string padded = std::string(s) + std::string(64, '\0');
    double d;
    const char *q = gdf_scan_f64(padded.c_str(), &d);
    EXPECT_TRUE(q == nullptr || *q != '\0' || strlen(s) == 0 || q == padded.c_str() + strlen(s))
        << s;
    if (q && *q == '\0') {  // accepted all of it: must be what the parser says
      double want;
      ASSERT_TRUE(gdf_parse_f64(s, strlen(s), &want)) << s;
      EXPECT_EQ(memcmp(&want, &d, sizeof d), 0) << s;
    }
  }
}

// Reads files whose fields are drawn from a list of tricky tokens and
// compares every type and value with a reference built from the field
// parsers (gdf_parse_i64/f64), which define the reader's rules: the in-place
// fast paths must never change a result.
namespace ref {
bool Missing(const std::string &s) {
  for (const char *m : {"", "NaN", "nan", "NA", "N/A", "n/a", "NULL", "null", "None", "-NaN",
                        "-nan", "#N/A", "<NA>", "#NA"})
    if (s == m) return true;
  return false;
}
bool Int(const std::string &s, int64_t *v) {
  bool ovf = false;
  return gdf_parse_i64(s.data(), s.size(), v, &ovf) && !ovf;
}
bool Num(const std::string &s, double *v) { return gdf_parse_f64(s.data(), s.size(), v); }
// An integer of any size (up to 38 digits), spaces and tabs around it, read
// exactly; independent of the reader's parsers.
bool Big(const std::string &s, __int128 *v) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  if (b == std::string::npos) return false;
  std::string t = s.substr(b, e - b + 1);
  bool neg = t[0] == '-';
  if (t[0] == '-' || t[0] == '+') t = t.substr(1);
  if (t.empty() || t.size() > 38 || t.find_first_not_of("0123456789") != std::string::npos)
    return false;
  __int128 x = 0;
  for (char c : t) x = x * 10 + (c - '0');
  *v = neg ? -x : x;
  return true;
}
// Whether the double strtod gives for the integer v's text is v exactly.
bool Exact(const std::string &s, __int128 v) {
  double d = strtod(s.c_str(), nullptr);
  return std::fabs(d) < 0x1p126 && (__int128)d == v;
}
}  // namespace ref

// Random files of numbers, missing values and the odd string, read and
// checked against a reference inference and parse.
void RandomFilesMatchTheGeneralParser() {
  const std::vector<std::string> tokens = {
      "0", "-0", "+5", "7", "-12", "123456789012345678", "-123456789012345678",
      "1234567890123456789", "9223372036854775807", "9223372036854775808",
      "-9223372036854775808", "-9223372036854775809", "12345678901234567890", "00012",
      "1.5", "-0.25", "+.5", "-.5", "5.", "1e5", "1E5", "1e+05", "-1.5e-3", "2.5E+300",
      "1e400", "-1e-400", "4.9e-324", "0.1234567890123456789", "0.12345678901234567891",
      "9007199254740993", "9007199254740993.0", "-0.2368798054440096", "1.7976931348623157e308",
      "1e", "1e+", "1.5e+", "+", "-", ".", "1.2.3", "--1", "1-", "0x10", " 7", "7 ", " -1.5 ",
      "\t3", "inf", "-Infinity", "INF", "NaN", "nan", "-nan", "NA", "N/A", "NULL", "None",
      "", "\"42\"", "\"1.5\"", "\"\"", "\"-7\"", "true", "abc",
      // integers around 2^53, 2^60, 2^63, 2^64: some a double holds exactly
      "9007199254740992", "-9007199254740993", "1152921504606846976", "1152921504606846977",
      "-9223372036854775807", "18446744073709551616", "18446744073709551617", " 9007199254740995"};
  // A column draws from one family, so that every type comes out: 0
  // anything, 1 integers, 2 numbers a double holds exactly (as written), 3
  // those and missing values, 4 missing values and one integer, 5 a few
  // plain numbers, 6 integers of any size and missing values, 7 numbers,
  // integers a double does not hold among them.
  const std::vector<std::vector<int>> families = [&] {
    std::vector<std::vector<int>> f(8);
    for (int i = 0; i < (int)tokens.size(); i++) {
      std::string t = tokens[i];
      if (t.size() >= 2 && t.front() == '"') t = t.substr(1, t.size() - 2);
      int64_t iv;
      double dv;
      __int128 big;
      bool is_big = ref::Big(t, &big), exact = !is_big || ref::Exact(t, big);
      f[0].push_back(i);
      if (ref::Int(t, &iv)) f[1].push_back(i);
      if (ref::Num(t, &dv)) {
        if (exact) f[2].push_back(i), f[3].push_back(i);
        f[7].push_back(i);
      }
      if (ref::Missing(t)) f[3].push_back(i), f[4].push_back(i), f[6].push_back(i);
      if (is_big) f[6].push_back(i);
      if (t == "7" || t == "-12" || t == "1.5" || t == "-0.25") f[5].push_back(i);
    }
    f[4].push_back(0);  // mostly missing, one integer
    return f;
  }();
  std::mt19937 rng(4242);
  int refusals = 0, iters = 600;
  for (int iter = 0; iter < iters; iter++) {
    int ncols = 1 + (int)(rng() % 5), nrows = 1 + (int)(rng() % 40);
    bool crlf = rng() % 2, final_nl = rng() % 4 != 0;
    std::vector<int> fam(ncols);
    std::string body;
    for (int c = 0; c < ncols; c++) {
      fam[c] = (int)(rng() % families.size());
      body += (c ? "," : "") + std::string("c") + std::to_string(c);
    }
    body += crlf ? "\r\n" : "\n";
    std::vector<std::vector<std::string>> cell(ncols);
    for (int r = 0; r < nrows; r++) {
      for (int c = 0; c < ncols; c++) {
        const std::vector<int> &f = families[fam[c]];
        // families 1, 2, 5: mostly plain numbers, the odd one now and then
        int pick = (fam[c] == 1 || fam[c] == 2 || fam[c] == 5) && rng() % 8 ? f[rng() % 3 + (fam[c] == 5 ? 0 : 3)] : f[rng() % f.size()];
        std::string tok = tokens[pick];
        if (ncols == 1 && tok.empty()) tok = "\"\"";  // else a blank line, which is skipped
        body += (c ? "," : "") + tok;
        if (tok.size() >= 2 && tok.front() == '"') tok = tok.substr(1, tok.size() - 2);
        cell[c].push_back(tok);
      }
      if (r < nrows - 1 || final_nl) body += crlf ? "\r\n" : "\n";
    }
    CsvFile file(body);
    Read got(file);
    // the reference: int64 when every value is an integer that fits and
    // none is missing; float64 for integers and missing values when a
    // double holds every integer exactly, else text labels; float64 for
    // numbers unless an integer among them is not a double exactly, which
    // refuses the file (the first such column, at its first such integer).
    std::vector<int> want_type(ncols);
    int refused = -1, refused_row = -1;
    for (int c = 0; c < ncols; c++) {
      bool may_int = true, only_ints = true, may_float = true, may_bool = true;
      bool missing = false, values = false;
      int inexact_row = -1;
      for (int r = 0; r < nrows; r++) {
        const std::string &t = cell[c][r];
        int64_t iv;
        double dv;
        __int128 big;
        if (ref::Missing(t)) { missing = true; continue; }
        values = true;
        bool is_int = ref::Big(t, &big);
        if (!is_int) may_int = only_ints = false;
        else if (!ref::Int(t, &iv)) may_int = false;
        if (is_int && inexact_row < 0 && !ref::Exact(t, big)) inexact_row = r;
        if (may_float && !is_int && !ref::Num(t, &dv)) may_float = false;
        if (t != "true") may_bool = false;
      }
      bool inexact = inexact_row >= 0;
      want_type[c] = !values                             ? GPUDF_TYPE_F64
                     : only_ints && may_int && !missing  ? GPUDF_TYPE_I64
                     : only_ints                         ? (may_int && !inexact ? GPUDF_TYPE_F64
                                                                                : GPUDF_TYPE_I32)
                     : may_float                         ? (inexact ? -1 : GPUDF_TYPE_F64)
                     : may_bool && !missing              ? GPUDF_TYPE_BOOL
                                                         : GPUDF_TYPE_I32;
      if (want_type[c] < 0 && refused < 0) refused = c, refused_row = inexact_row;
    }
    if (refused >= 0) {
      ASSERT_EQ(got.st, GPUDF_EINVAL) << body;
      std::string where = ":" + std::to_string(refused_row + 2) + ":" + std::to_string(refused + 1) +
                          ": column 'c" + std::to_string(refused) + "': the integer '";
      ASSERT_NE(got.err.find(where), std::string::npos) << got.err << "\n" << where << "\n" << body;
      refusals++;
      continue;
    }
    ASSERT_EQ(got.st, GPUDF_OK) << got.err << "\n" << body;
    ASSERT_EQ(gpudf_table_nrows(got.t), nrows) << body;
    for (int c = 0; c < ncols; c++) {
      ASSERT_EQ((int)gpudf_table_column_type(got.t, c), want_type[c]) << "column " << c << "\n" << body;
      const void *data = gpudf_table_column_data(got.t, c);
      for (int r = 0; r < nrows; r++) {
        const std::string &t = cell[c][r];
        if (want_type[c] == GPUDF_TYPE_I64) {
          int64_t v = 0;
          ASSERT_TRUE(ref::Int(t, &v));
          ASSERT_EQ(((const int64_t *)data)[r], v) << t << "\n" << body;
        } else if (want_type[c] == GPUDF_TYPE_F64) {
          double v = std::nan(""), g = ((const double *)data)[r];
          if (!ref::Missing(t)) {
            ASSERT_TRUE(ref::Num(t, &v)) << t;
          }
          if (std::isnan(v)) {
            ASSERT_TRUE(std::isnan(g)) << t << "\n" << body;
          } else {
            ASSERT_EQ(memcmp(&v, &g, sizeof g), 0) << t << " got " << g << "\n" << body;
          }
          __int128 big;
          if (ref::Big(t, &big)) {
            ASSERT_EQ((__int128)g, big) << t << " rounded\n" << body;
          }
        } else if (want_type[c] == GPUDF_TYPE_I32) {
          int32_t code = ((const int32_t *)data)[r];
          if (ref::Missing(t)) ASSERT_EQ(code, -1) << body;
          else ASSERT_STREQ(gpudf_table_column_label(got.t, c, code), t.c_str()) << body;
        }
      }
    }
  }
  // Both outcomes come up: files refused, and many more read.
  EXPECT_GT(refusals, 10);
  EXPECT_LT(refusals, iters / 3);
}

TEST(Csv, FastPathsMatchTheGeneralParser) { RandomFilesMatchTheGeneralParser(); }

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char *n, const char *v) : name(n) { setenv(n, v, 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

// The same files with the types guessed from the first 1, 2 or 5 rows, so
// that a later row changes them (or a later field is one fast_pass does not
// take) and the reader goes back to the general passes.
TEST(Csv, GuessedTypesMatchTheGeneralParser) {
  for (const char *rows : {"1", "2", "5"}) {
    ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
    RandomFilesMatchTheGeneralParser();
    if (HasFailure()) return;
  }
}

// Files longer than the rows the types are guessed from (1000 by default):
// what comes later still decides the types, and errors keep their place.
TEST(Csv, LaterRowsStillDecide) {
  auto numbers = [](int rows, int from) {
    std::string s;
    for (int i = from; i < from + rows; i++)
      s += std::to_string(i) + "," + std::to_string(i) + ".25," + std::to_string(-i) + "\n";
    return s;
  };
  const std::string head = "i,x,j\n";
  {  // plain numbers: int64, float64, int64
    CsvFile f(head + numbers(3000, 0));
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_EQ(gpudf_table_nrows(r.t), 3000);
    EXPECT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_I64);
    EXPECT_EQ(gpudf_table_column_type(r.t, 1), GPUDF_TYPE_F64);
    EXPECT_EQ(r.Data<int64_t>("j")[2999], -2999);
    EXPECT_EQ(r.Data<double>("x")[2999], 2999.25);
  }
  {  // an empty field at row 2500 makes i float64; CRLF, trailing blank lines
    std::string body = numbers(2500, 0) + ",1.5,7\r\n" + numbers(100, 2501) + "\n\r\n";
    CsvFile f(head + body);
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_EQ(gpudf_table_nrows(r.t), 2601);
    ASSERT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_F64);
    EXPECT_EQ(gpudf_table_column_type(r.t, 2), GPUDF_TYPE_I64);
    EXPECT_EQ(r.Data<double>("i")[2499], 2499.0);
    EXPECT_TRUE(std::isnan(r.Data<double>("i")[2500]));
    EXPECT_EQ(r.Data<double>("i")[2600], 2600.0);
    EXPECT_EQ(r.Data<int64_t>("j")[2500], 7);
  }
  {  // a label at row 2000 makes x categorical; a quoted field and a blank line
    std::string body = numbers(1999, 0) + "1999,abc,-1999\n\n" + numbers(10, 2000) +
                       "\"1\",1.5,2\n";
    CsvFile f(head + body);
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_EQ(gpudf_table_nrows(r.t), 2011);
    EXPECT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_I64);
    EXPECT_TRUE(gpudf_table_column_is_categorical(r.t, 1));
    EXPECT_EQ(r.Label("x", 1999), "abc");
    EXPECT_EQ(r.Label("x", 0), "0.25");
    EXPECT_EQ(r.Data<int64_t>("i")[2010], 1);
  }
  {  // numbers that no fast path decides (strtod) after the first rows
    std::string body = numbers(1500, 0) +
                       "1,9007199254740993.0,2\n2,0.12345678901234567891,3\n3,1e400,4\n";
    CsvFile f(head + body);
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    EXPECT_EQ(r.Data<double>("x")[1500], std::strtod("9007199254740993.0", nullptr));
    EXPECT_EQ(r.Data<double>("x")[1501], std::strtod("0.12345678901234567891", nullptr));
    EXPECT_EQ(r.Data<double>("x")[1502], HUGE_VAL);
  }
  {  // errors after the first rows name their line and column
    CsvFile f(head + numbers(2000, 0) + "1,2\n");
    Read r(f);
    EXPECT_EQ(r.st, GPUDF_EINVAL);
    EXPECT_NE(r.err.find(":2002: expected 3 fields (as in the header), got 2"), std::string::npos)
        << r.err;
    CsvFile g(head + numbers(1500, 0) + "\n" + numbers(600, 0) + "5,6,7,8\n");
    Read s(g);
    EXPECT_EQ(s.st, GPUDF_EINVAL);
    EXPECT_NE(s.err.find(":2103: expected 3 fields (as in the header), got 4"), std::string::npos)
        << s.err;
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    gpudf_csv_column_type ct = {"j", GPUDF_CSV_INT64};
    o.types = &ct;
    o.ntypes = 1;
    CsvFile h(head + numbers(1200, 0) + "1,2,3.5\n");
    Read t(h, &o);
    EXPECT_EQ(t.st, GPUDF_EINVAL);
    EXPECT_NE(t.err.find(":1202:3: expected an integer, got '3.5'"), std::string::npos) << t.err;
  }
}

TEST(Csv, EdgeNumbers) {
  CsvFile f("big,neg0,plus,sp,q,exp,long\n"
            "9223372036854775808,-0,+5, 7 ,\"42\",1e5,0.12345678901234567891\n"
            "1,-0,+6,8,\"-3\",2E-3,-1234567890123456789012.0\n");
  Read r(f);
  ASSERT_EQ(r.st, GPUDF_OK) << r.err;
  // An integer beyond int64 keeps a column of integers as text labels (as
  // pandas keeps it as object): nothing rounded (BigIntegers* below).
  EXPECT_TRUE(gpudf_table_column_is_categorical(r.t, r.Col("big")));
  EXPECT_EQ(r.Label("big", 0), "9223372036854775808");
  EXPECT_EQ(r.Label("big", 1), "1");
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("neg0")), GPUDF_TYPE_I64);
  EXPECT_EQ(r.Data<int64_t>("neg0")[0], 0);
  EXPECT_EQ(r.Data<int64_t>("plus")[1], 6);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("sp")), GPUDF_TYPE_I64);
  EXPECT_EQ(r.Data<int64_t>("sp")[0], 7);
  EXPECT_EQ(gpudf_table_column_type(r.t, r.Col("q")), GPUDF_TYPE_I64);
  EXPECT_EQ(r.Data<int64_t>("q")[1], -3);
  EXPECT_EQ(r.Data<double>("exp")[0], 1e5);
  EXPECT_EQ(r.Data<double>("exp")[1], 2e-3);
  EXPECT_EQ(r.Data<double>("long")[0], strtod("0.12345678901234567891", nullptr));
  EXPECT_EQ(r.Data<double>("long")[1], -1234567890123456789012.0);
  // Malformed numbers make a column categorical, wherever they appear.
  CsvFile g("a,b,c,d,e\n1,1.5,2,3,4\n2,2.5,3,4,5\n1e,1.5e+,+,.,1.2.3\n");
  Read rg(g);
  ASSERT_EQ(rg.st, GPUDF_OK) << rg.err;
  for (int c = 0; c < 5; c++) EXPECT_EQ(gpudf_table_column_type(rg.t, c), GPUDF_TYPE_I32) << c;
  EXPECT_EQ(rg.Label("a", 2), "1e");
  EXPECT_EQ(rg.Label("b", 2), "1.5e+");
  EXPECT_EQ(rg.Label("d", 2), ".");
}

// A delimiter that can be part of a number turns the in-place scanners off;
// the fields still split at it.
TEST(Csv, DelimiterThatIsANumberCharacter) {
  for (char d : {'e', '.', '-', '5'}) {
    CsvFile f(std::string("x") + d + "y\n1" + d + "2\n3" + d + "4\n");
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    o.delimiter = d;
    Read r(f, &o);
    ASSERT_EQ(r.st, GPUDF_OK) << d << ": " << r.err;
    EXPECT_EQ(gpudf_table_column_type(r.t, 0), GPUDF_TYPE_I64) << d;
    EXPECT_EQ(r.Data<int64_t>("x")[1], 3) << d;
    EXPECT_EQ(r.Data<int64_t>("y")[1], 4) << d;
  }
}

// Field-count errors found while a column is on its fast path name the same
// line and count as the tokenizer does.
TEST(Csv, FieldCountErrorsOnTheFastPath) {
  std::string rows = "a,b\n";
  for (int i = 0; i < 5; i++) rows += "1,2.5\n";
  ExpectError(rows + "1\n", ":7: expected 2 fields (as in the header), got 1");
  ExpectError(rows + "1,2.5,3\n", ":7: expected 2 fields (as in the header), got 3");
  ExpectError(rows + "1,2.5,3,4", ":7: expected 2 fields (as in the header), got 4");
  ExpectError(rows + "1\r\n2,3\n", ":7: expected 2 fields (as in the header), got 1");
  // a CR that is not before a LF is part of the field
  ExpectError(rows + "1,2\r5\n", ":7:2: expected a number, got '2\r5'", GPUDF_EINVAL, [] {
    static gpudf_csv_options o;
    static gpudf_csv_column_type t[] = {{"b", GPUDF_CSV_FLOAT64}};
    gpudf_csv_options_init(&o);
    o.ntypes = 1;
    o.types = t;
    return &o;
  }());
}

// Another process truncates the file while it is being read (here another
// thread, at random points of the read): the pages past the new end would
// raise SIGBUS. Every read must end in a status: the whole table (the cut
// came after the read), a parse error (it came before: a shorter file with a
// cut line), or EIO naming the file; never a crash, and nothing left behind
// (the ASan build checks the heap, NoLeftovers-style checks the arenas).
TEST(Csv, AFileTruncatedWhileItIsReadIsAnErrorNotACrash) {
  std::string body = "a,b,c,d\n";
  std::mt19937_64 rng(7);
  const int rows = 400000;
  for (int i = 0; i < rows; i++) {
    char line[128];
    snprintf(line, sizeof line, "%d,%.6f,%.9f,%lld\n", i, (double)(rng() % 100000) / 7,
             (double)(rng() % 1000000) / 3, (long long)(rng() % 1000000000));
    body += line;
  }
  CsvFile f(body, "shrink.csv");
  auto t0 = std::chrono::steady_clock::now();
  {
    Read full(f);
    ASSERT_EQ(full.st, GPUDF_OK) << full.err;
    ASSERT_EQ(gpudf_table_nrows(full.t), rows);
  }
  double full_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto shm_before = harness::ShmEntries();
  struct sigaction before;
  ASSERT_EQ(sigaction(SIGBUS, nullptr, &before), 0);
  int shrank = 0, whole = 0, parse_errors = 0;
  for (int it = 0; it < 40 && shrank < 3; it++) {
    CsvFile again(body, "shrink.csv");
    gpudf_table *t = nullptr;
    gpudf_status st = GPUDF_OK;
    std::string err;
    std::thread reader([&] {
      st = gpudf_table_read_csv(again.path.c_str(), nullptr, &t);
      if (st != GPUDF_OK) err = gpudf_last_error();
    });
    double at = full_ms * std::uniform_real_distribution<double>(0.05, 0.45)(rng);
    std::this_thread::sleep_for(std::chrono::microseconds((long)(at * 1000)));
    ASSERT_EQ(truncate(again.path.c_str(), (off_t)(body.size() / 3)), 0);
    reader.join();
    if (st == GPUDF_OK) {
      whole++;
      EXPECT_GT(gpudf_table_nrows(t), 0);
      gpudf_table_free(t);
    } else if (st == GPUDF_EIO) {
      shrank++;
      EXPECT_EQ(t, nullptr);
      EXPECT_NE(err.find("shrank while it was read"), std::string::npos) << err;
      EXPECT_NE(err.find(again.path), std::string::npos) << err;
    } else {
      parse_errors++;
      EXPECT_EQ(st, GPUDF_EINVAL) << err;
      EXPECT_EQ(t, nullptr);
    }
  }
  std::printf("[ info     ] read of %.0f ms cut at random: %d shrank, %d whole, %d parse "
              "errors\n", full_ms, shrank, whole, parse_errors);
  EXPECT_GE(shrank, 1) << "no cut landed inside a read: the guard was not exercised";
  EXPECT_EQ(harness::ShmEntries(), shm_before) << "a table of a cut read was left behind";
  // The handler of SIGBUS is the one from before: outside a read, a SIGBUS
  // does what it did without the library.
  struct sigaction now;
  ASSERT_EQ(sigaction(SIGBUS, nullptr, &now), 0);
  EXPECT_EQ((void *)now.sa_handler, (void *)before.sa_handler);
}

}  // namespace


// ------------------------------------------------ integers beyond a double

namespace big {
std::string Text(__int128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
  std::string s;
  for (; u; u /= 10) s.insert(s.begin(), char('0' + (int)(u % 10)));
  return neg ? "-" + s : s;
}
// v's text read back exactly (the reference; independent of the reader).
__int128 Value(const std::string &s) {
  __int128 v = 0;
  bool neg = s[0] == '-';
  for (size_t i = neg; i < s.size(); i++) v = v * 10 + (s[i] - '0');
  return neg ? -v : v;
}
// Whether the correctly rounded double of s (strtod) is its value exactly.
bool Exact(const std::string &s) { return (__int128)std::strtod(s.c_str(), nullptr) == Value(s); }
const __int128 kTwo53 = (__int128)1 << 53, kTwo63 = (__int128)1 << 63, kTwo64 = (__int128)1 << 64;
__int128 Near(std::mt19937_64 &rng, __int128 base) {
  return base + (__int128)(int64_t)(rng() % 4001) - 2000;
}
}  // namespace big

// 16.4: distinct integers never read as one value. Random integers near
// 2^53, 2^63, -2^63 and 2^64, compared with their own text read exactly:
// int64 holds what fits when nothing is missing; float64 (missing values)
// only when a double holds every integer; else the column keeps the texts
// as labels. The large ones come after the rows the types are guessed from
// (1000), so that fast_pass meets them too; every inference row count gives
// the same table.
TEST(Csv, BigIntegersNeverMerge) {
  std::mt19937_64 rng(16004);
  const int n = 3000;
  std::vector<std::string> I, S, M, U, E;
  for (int r = 0; r < n; r++) {
    __int128 bases63[] = {big::kTwo53, -big::kTwo53, big::kTwo63 - 2001, -big::kTwo63 + 2000};
    I.push_back(big::Text(big::Near(rng, bases63[rng() % 4])));
    // within +-2^53, some exactly at it: a double holds all
    __int128 s = rng() % 2 ? big::kTwo53 - (__int128)(rng() % 50) : -big::kTwo53 + (__int128)(rng() % 50);
    S.push_back(r == 2000 ? "" : big::Text(s));
    // small first (guessed float64: one is missing), then near 2^53 and 2^63
    M.push_back(r == 10 ? "NA" : r < 1500 ? big::Text((__int128)(rng() % 1000))
                                          : big::Text(big::Near(rng, rng() % 2 ? big::kTwo53 : big::kTwo63 - 2001)));
    // small first (guessed int64), then near 2^64
    U.push_back(r < 1200 ? big::Text((__int128)(rng() % 1000)) : big::Text(big::Near(rng, big::kTwo64)));
    // beyond int64 but doubles exactly (2^64 + k 2^12), with a decimal
    E.push_back(r == 5 ? "0.5" : big::Text(big::kTwo64 + (__int128)(rng() % 1000) * 4096));
  }
  std::string body = "i,s,m,u,e\n";
  for (int r = 0; r < n; r++) body += I[r] + "," + S[r] + "," + M[r] + "," + U[r] + "," + E[r] + "\n";
  CsvFile f(body);
  auto distinct = [](const std::vector<std::string> &v) {
    std::vector<std::string> d;
    for (const std::string &s : v)
      if (s != "" && s != "NA") d.push_back(s);
    std::sort(d.begin(), d.end());
    return (int32_t)(std::unique(d.begin(), d.end()) - d.begin());
  };
  bool m_exact = true;
  for (const std::string &s : M)
    if (s != "NA") m_exact &= big::Exact(s);
  ASSERT_FALSE(m_exact) << "the test needs integers a double does not hold";
  for (const char *rows : {"", "1", "7", "1000", "5000"}) {
    ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_EQ(gpudf_table_nrows(r.t), n);
    ASSERT_EQ(gpudf_table_column_type(r.t, r.Col("i")), GPUDF_TYPE_I64) << rows;
    ASSERT_EQ(gpudf_table_column_type(r.t, r.Col("s")), GPUDF_TYPE_F64) << rows;
    ASSERT_TRUE(gpudf_table_column_is_categorical(r.t, r.Col("m"))) << rows;
    ASSERT_TRUE(gpudf_table_column_is_categorical(r.t, r.Col("u"))) << rows;
    ASSERT_EQ(gpudf_table_column_type(r.t, r.Col("e")), GPUDF_TYPE_F64) << rows;
    EXPECT_EQ(gpudf_table_column_nlabels(r.t, r.Col("m")), distinct(M));
    EXPECT_EQ(gpudf_table_column_nlabels(r.t, r.Col("u")), distinct(U));
    for (int k = 0; k < n; k++) {
      ASSERT_EQ((__int128)r.Data<int64_t>("i")[k], big::Value(I[k])) << I[k];
      double sv = r.Data<double>("s")[k];
      if (S[k].empty()) ASSERT_TRUE(std::isnan(sv));
      else ASSERT_EQ((__int128)sv, big::Value(S[k])) << S[k];
      ASSERT_EQ(r.Label("m", k), M[k] == "NA" ? "<missing>" : M[k]);
      ASSERT_EQ(r.Label("u", k), U[k]);
      double ev = r.Data<double>("e")[k];
      if (k == 5) ASSERT_EQ(ev, 0.5);
      else ASSERT_EQ((__int128)ev, big::Value(E[k])) << E[k];
    }
  }
  // m alone: no other column stops fast_pass, which must stop at the first
  // integer a double does not hold in a column guessed float64.
  std::string mbody = "m\n";
  for (const std::string &m : M) mbody += m + "\n";
  CsvFile mf(mbody, "m.csv");
  for (const char *rows : {"", "1", "1000"}) {
    ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
    Read r(mf);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_TRUE(gpudf_table_column_is_categorical(r.t, 0)) << rows;
    for (int k = 0; k < n; k++) ASSERT_EQ(r.Label("m", k), M[k] == "NA" ? "<missing>" : M[k]);
  }
  // float64 forced: the values rounded as strtod rounds them; int64 forced
  // on integers beyond it: refused.
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  gpudf_csv_column_type ft[] = {{"m", GPUDF_CSV_FLOAT64}, {"u", GPUDF_CSV_FLOAT64}};
  o.types = ft;
  o.ntypes = 2;
  for (const char *rows : {"", "1"}) {
    ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
    Read r(f, &o);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    for (int k = 0; k < n; k++) {
      double mv = r.Data<double>("m")[k], uv = r.Data<double>("u")[k];
      if (M[k] == "NA") ASSERT_TRUE(std::isnan(mv));
      else ASSERT_EQ(mv, std::strtod(M[k].c_str(), nullptr)) << M[k];
      ASSERT_EQ(uv, std::strtod(U[k].c_str(), nullptr)) << U[k];
    }
  }
  gpudf_csv_column_type it = {"u", GPUDF_CSV_INT64};
  o.types = &it;
  o.ntypes = 1;
  Read bad(f, &o);
  EXPECT_EQ(bad.st, GPUDF_EINVAL);
  EXPECT_NE(bad.err.find(":1202:4: integer overflow (int64), got '" + U[1200] + "'"),
            std::string::npos) << bad.err;
}

// 16.4: a column of numbers with an integer a double does not hold is
// refused, naming the column, the line and the integer; float64 forced
// takes it rounded, category keeps the texts.
TEST(Csv, InexactIntegerAmongDecimalsIsRefused) {
  std::mt19937_64 rng(26);
  for (int iter = 0; iter < 40; iter++) {
    int n = 1 + (int)(rng() % 2500), at = (int)(rng() % n);
    __int128 bases[] = {big::kTwo53, -big::kTwo53, big::kTwo63, -big::kTwo63 - 1, big::kTwo64};
    std::string bigv;
    do bigv = big::Text(big::Near(rng, bases[rng() % 5]));
    while (big::Exact(bigv));
    std::vector<std::string> x(n);
    std::string body = "a,x\n";
    for (int r = 0; r < n; r++) {
      x[r] = r == at ? bigv : r % 3 ? std::to_string(r) + ".25" : std::to_string(r);
      body += std::to_string(r) + "," + x[r] + "\n";
    }
    body += "0,0.5\n";  // a decimal besides, however short the file
    CsvFile f(body);
    for (const char *rows : {"", "1", "3"}) {
      ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
      Read r(f);
      ASSERT_EQ(r.st, GPUDF_EINVAL) << body.substr(0, 200);
      std::string want = f.path + ":" + std::to_string(at + 2) + ":2: column 'x': the integer '" +
                         bigv + "' is not exactly a float64";
      ASSERT_NE(r.err.find(want), std::string::npos) << r.err << "\nwant " << want;
    }
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    gpudf_csv_column_type ft = {"x", GPUDF_CSV_FLOAT64};
    o.types = &ft;
    o.ntypes = 1;
    Read r(f, &o);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    ASSERT_EQ(r.Data<double>("x")[at], std::strtod(bigv.c_str(), nullptr));
    ft.type = GPUDF_CSV_CATEGORY;
    Read c(f, &o);
    ASSERT_EQ(c.st, GPUDF_OK) << c.err;
    ASSERT_EQ(c.Label("x", at), bigv);
  }
}

// 26.1: one order of checks, whatever the rows the types are guessed from:
// the options, the header, the rows in file order (each left to right),
// then the column types. Random files with several faults; the first
// error is the one the order says, from every inference row count.
TEST(Csv, FirstErrorFollowsTheDocumentedOrder) {
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  gpudf_csv_column_type ft = {"f", GPUDF_CSV_INT64};
  o.types = &ft;
  o.ntypes = 1;
  std::mt19937_64 rng(2601);
  for (int iter = 0; iter < 150; iter++) {
    int n = 1 + (int)(rng() % 1500);
    // header fault: none, reserved name, duplicate name
    int hf = rng() % 4 == 0 ? 1 + (int)(rng() % 2) : 0;
    std::string body = hf == 1 ? "a,__prefix.x,f\n" : hf == 2 ? "a,x,a\n" : "a,x,f\n";
    std::string want = hf == 1 ? ":1:2: column name '__prefix.x': names starting with"
                     : hf == 2 ? ":1:3: duplicate column name 'a'" : "";
    int refuse_at = rng() % 2 ? (int)(rng() % n) : -1;  // an inexact integer in x
    std::string refusal;
    for (int r = 0; r < n; r++) {
      int line = r + 2, fault = rng() % 300 == 0 ? 1 + (int)(rng() % 3) : 0;
      std::string x = r == refuse_at ? "9007199254740993" : std::to_string(r) + ".5";
      if (r == refuse_at)
        refusal = ":" + std::to_string(line) + ":2: column 'x': the integer '9007199254740993'";
      std::string row = std::to_string(r) + "," + x + "," + std::to_string(-r);
      if (fault == 1) row = std::to_string(r) + "," + x;  // short
      if (fault == 2) row += ",9";                         // long
      if (fault == 3) row = std::to_string(r) + "," + x + ",abc";
      if (fault && want.empty() && !hf)
        want = fault == 3 ? ":" + std::to_string(line) + ":3: expected an integer, got 'abc'"
                          : ":" + std::to_string(line) + ": expected 3 fields (as in the header), got " +
                                std::to_string(fault == 1 ? 2 : 4);
      body += row + "\n";
    }
    if (want.empty()) want = refusal;
    CsvFile f(body);
    for (const char *rows : {"", "1", "2", "5", "1000"}) {
      ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
      Read r(f, &o);
      if (want.empty()) {
        ASSERT_EQ(r.st, GPUDF_OK) << r.err;
        continue;
      }
      ASSERT_EQ(r.st, GPUDF_EINVAL) << rows;
      ASSERT_NE(r.err.find(f.path + want), std::string::npos)
          << "rows " << rows << ": " << r.err << "\nwant " << want;
    }
  }
  // Options before the file: a forced type the library does not know is
  // named even for a file that is empty or missing.
  gpudf_csv_column_type unknown = {"x", (gpudf_csv_type)9};
  o.types = &unknown;
  CsvFile empty("");
  Read r(empty, &o);
  EXPECT_EQ(r.st, GPUDF_EINVAL);
  EXPECT_NE(r.err.find("options.types[0] ('x'): unknown type 9"), std::string::npos) << r.err;
  // A forced column the header lacks: after the header, before the rows.
  gpudf_csv_column_type absent = {"nope", GPUDF_CSV_INT64};
  o.types = &absent;
  CsvFile rows("a,b\n1,2,3\n");
  Read s(rows, &o);
  EXPECT_EQ(s.st, GPUDF_ENOENT);
  EXPECT_NE(s.err.find("names column 'nope', which the header does not have"), std::string::npos)
      << s.err;
}

namespace {

// One field of a text or bool column as written in the file and what the
// reader must make of it (missing: code -1).
struct Cell {
  std::string raw, value;
  bool missing;
};

// A text field: plain labels, quoted ones with the delimiter, doubled
// quotes, line ends (LF, CRLF) inside, a '"' inside an unquoted field
// (literal), the longest label allowed, many distinct labels, missing
// spellings (quoted too). ncols1: the empty field would be a blank line.
Cell TextCell(std::mt19937_64 &g, bool ncols1) {
  static const Cell pool[] = {
      {"Oslo", "Oslo", false},         {"\"Hanoi, HA\"", "Hanoi, HA", false},
      {"\"a\"\"b\"", "a\"b", false},   {"\"two\nlines\"", "two\nlines", false},
      {"\"cr\r\nlf\"", "cr\r\nlf", false}, {"ab\"c", "ab\"c", false},
      {"\"q\"", "q", false},           {"\"\"\"\"", "\"", false},
      {" sp ", " sp ", false},         {"Z\xc3\xbcrich", "Z\xc3\xbcrich", false},
      {"NA", "", true},                {"null", "", true},
      {"\"NaN\"", "", true},           {"\"\"", "", true},
      {"", "", true}};
  int n = (int)(sizeof pool / sizeof pool[0]);
  uint64_t r = g() % 100;
  if (r < 15) {
    std::string w = "w" + std::to_string(g() % 3000);
    return {w, w, false};
  }
  if (r == 15) {
    std::string l(GPUDF_LABEL_MAX, 'L');
    return {l, l, false};
  }
  Cell c = pool[g() % (uint64_t)(ncols1 ? n - 1 : n)];
  return c;
}

}  // namespace

// The one pass on types guessed from the first rows (engine/load/csv.c,
// fast_pass) for text and bool columns: random files read from 1, 2, 5 and
// 1000 guessed rows and the whole file, on one thread and in chunks of a
// few bytes on two, against a reference built from the cells written. A
// bool column that meets a missing value or "yes" late is categorical.
TEST(Csv, GuessedTextAndBoolTypesMatchTheReference) {
  std::mt19937_64 g(2121);
  static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
  for (int iter = 0; iter < 60; iter++) {
    int ncols = 1 + (int)(g() % 4), nrows = 1 + (int)(g() % (iter % 4 == 0 ? 2500 : 40));
    bool crlf = g() % 3 == 0, final_nl = g() % 4 != 0;
    // kind: 0 text, 1 bool, 2 int, 3 decimal
    std::vector<int> kind(ncols);
    std::string body;
    for (int c = 0; c < ncols; c++) {
      kind[c] = (int)(g() % 4);
      body += (c ? "," : "") + std::string("c") + std::to_string(c);
    }
    body += crlf ? "\r\n" : "\n";
    std::vector<std::vector<Cell>> cells(ncols);
    std::vector<int> late_odd(ncols, -1);  // a bool column's non-bool row
    for (int c = 0; c < ncols; c++)
      if (kind[c] == 1 && g() % 3 == 0) late_odd[c] = (int)(g() % nrows);
    for (int r = 0; r < nrows; r++) {
      for (int c = 0; c < ncols; c++) {
        Cell cell;
        switch (kind[c]) {
        case 0: cell = TextCell(g, ncols == 1); break;
        case 1:
          if (r == late_odd[c]) cell = g() % 2 ? Cell{"yes", "yes", false} : Cell{"NA", "", true};
          else {
            std::string b = bools[g() % 6];
            cell = {b, b, false};
          }
          break;
        case 2: {
          std::string v = std::to_string((int64_t)(g() % 2000000) - 1000000);
          cell = {v, v, false};
          break;
        }
        default: {
          char b[32];
          std::snprintf(b, sizeof b, "%.2f", (double)(g() % 100000) / 100 - 500);
          cell = {b, b, false};
        }
        }
        body += (c ? "," : "") + cell.raw;
        cells[c].push_back(cell);
      }
      if (r + 1 < nrows || final_nl) body += crlf ? "\r\n" : "\n";
    }
    CsvFile f(body);
    for (const char *rows : {"1", "2", "5", "1000", "1000000"})
      for (int threads : {1, 2}) {
        ScopedEnv e1("GPUDF_CSV_INFER_ROWS", rows);
        ScopedEnv e2("GPUDF_CSV_CHUNK_BYTES", threads == 2 ? "61" : "1000000000");
        gpudf_csv_options o;
        gpudf_csv_options_init(&o);
        o.threads = threads;
        Read got(f, &o);
        std::string where = "iter " + std::to_string(iter) + ", rows " + rows + ", threads " +
                            std::to_string(threads);
        ASSERT_EQ(got.st, GPUDF_OK) << got.err << "\n" << where;
        ASSERT_EQ(gpudf_table_nrows(got.t), nrows) << where;
        for (int c = 0; c < ncols; c++) {
          bool all_missing = true, all_bool = true;
          for (const Cell &cell : cells[c]) {
            all_missing &= cell.missing;
            all_bool &= !cell.missing && (cell.value.size() == 4 || cell.value.size() == 5) &&
                        cell.value != "Oslo" && cell.value != " sp " && cell.value.find('"') == std::string::npos &&
                        kind[c] == 1;
          }
          const void *data = gpudf_table_column_data(got.t, c);
          gpudf_type type = gpudf_table_column_type(got.t, c);
          for (int r = 0; r < nrows; r++) {
            const Cell &cell = cells[c][r];
            if (kind[c] == 2) {
              ASSERT_EQ(type, GPUDF_TYPE_I64) << where;
              ASSERT_EQ(((const int64_t *)data)[r], std::stoll(cell.value)) << where;
            } else if (kind[c] == 3) {
              ASSERT_EQ(type, GPUDF_TYPE_F64) << where;
              ASSERT_EQ(((const double *)data)[r], std::strtod(cell.value.c_str(), nullptr)) << where;
            } else if (all_missing) {
              ASSERT_EQ(type, GPUDF_TYPE_F64) << where;
              ASSERT_TRUE(std::isnan(((const double *)data)[r])) << where;
            } else if (all_bool) {
              ASSERT_EQ(type, GPUDF_TYPE_BOOL) << where;
              bool want = cell.value[0] == 't' || cell.value[0] == 'T';
              ASSERT_EQ(((const uint8_t *)data)[r], want ? 1 : 0) << where << " row " << r;
            } else {
              ASSERT_TRUE(gpudf_table_column_is_categorical(got.t, c)) << where << " col " << c;
              int32_t code = ((const int32_t *)data)[r];
              if (cell.missing) {
                ASSERT_EQ(code, -1) << where << " row " << r << " col " << c;
              } else {
                const char *l = gpudf_table_column_label(got.t, c, code);
                ASSERT_NE(l, nullptr) << where;
                ASSERT_EQ(std::string(l), cell.value) << where << " row " << r << " col " << c;
              }
            }
          }
        }
      }
  }
}

// Errors in text and bool columns after the rows the types are guessed
// from keep their message and place (FILE:LINE:COLUMN), on one thread and
// in chunks: the one pass on guessed types hands them to the general passes.
TEST(Csv, TextColumnErrorsAfterTheGuessedRowsKeepTheirPlace) {
  struct Case {
    std::string field, want;
    bool last;  // only as the file's last bytes (no line end after it)
  };
  const std::vector<Case> cases = {
      {"\"open", "unterminated quoted field (the closing '\"' is missing)", true},
      {"\"q\"x", "expected ',' or a line end after the closing quote, got 'x'", false},
      {std::string("nul") + '\0' + "byte", "a NUL byte in a text value", false},
      {std::string(GPUDF_LABEL_MAX + 1, 'L'), "label longer than GPUDF_LABEL_MAX bytes", false},
      {"\"q\"\r", "expected ',' or a line end after the closing quote, got '\r'", true},
  };
  const int nrows = 2000;
  for (const Case &c : cases)
    for (int col : {0, 1})
      for (int at : {3, 1500, nrows - 1}) {
        if (c.last && (at != nrows - 1 || col != 1)) continue;
        std::string body = "t,b\n";
        for (int r = 0; r < nrows; r++) {
          std::string t = r % 3 ? "\"Rio, RJ\"" : "Lima", b = r % 2 ? "true" : "False";
          if (r == at) (col == 0 ? t : b) = c.field;
          body += t + "," + b + (r == at && c.last ? "" : "\n");
        }
        std::string want = ":" + std::to_string(at + 2) + ":" + std::to_string(col + 1) + ": " +
                           c.want;
        CsvFile f(body);
        for (const char *rows : {"1", "2", "1000", "1000000"})
          for (int threads : {1, 2}) {
            ScopedEnv e1("GPUDF_CSV_INFER_ROWS", rows);
            ScopedEnv e2("GPUDF_CSV_CHUNK_BYTES", threads == 2 ? "300" : "1000000000");
            gpudf_csv_options o;
            gpudf_csv_options_init(&o);
            o.threads = threads;
            Read r(f, &o);
            ASSERT_EQ(r.st, GPUDF_EINVAL) << want;
            ASSERT_NE(r.err.find(f.path + want), std::string::npos)
                << "col " << col << " at " << at << " rows " << rows << " threads " << threads
                << ": " << r.err << "\nwant " << want;
          }
      }
}

// Quoted labels with doubled quotes, each longer than the last by less
// than double (the unescaping buffer grows to what each needs), on the one
// pass and the two: every label whole.
TEST(Csv, LongQuotedLabelsWithDoubledQuotesAreWhole) {
  std::vector<std::string> want;
  std::string body = "t,n\n";
  for (int len : {600, 1100, 2000, 3900, 4000}) {
    std::string label = std::string((size_t)len, 'a') + "\"" + std::string(40, 'b');
    want.push_back(label);
    std::string quoted = "\"" + std::string((size_t)len, 'a') + "\"\"" + std::string(40, 'b') + "\"";
    body += quoted + "," + std::to_string(len) + "\n";
  }
  CsvFile f(body);
  for (const char *rows : {"1", "1000"}) {
    ScopedEnv env("GPUDF_CSV_INFER_ROWS", rows);
    Read r(f);
    ASSERT_EQ(r.st, GPUDF_OK) << r.err;
    for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(r.Label("t", (int)i), want[i]) << rows;
  }
}

// options.types NULL with ntypes > 0 is refused naming it, before the file.
TEST(Csv, NullTypesWithACountIsRefused) {
  CsvFile f("a\n1\n");
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  o.ntypes = 1;
  o.types = nullptr;
  Read r(f, &o);
  EXPECT_EQ(r.st, GPUDF_EINVAL);
  EXPECT_NE(r.err.find("options.types is NULL"), std::string::npos) << r.err;
}
