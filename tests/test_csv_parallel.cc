// test_csv_parallel.cc - the parallel CSV reader (engine/load/csv.c, "in
// chunks") gives what the one-core reader gives, byte for byte: the same
// table (names, types, values, labels and codes) or the same status and
// message (FILE:LINE:COLUMN), whatever the thread count and chunk size.
// GPUDF_CSV_CHUNK_BYTES forces chunks of a few bytes, so that chunk starts
// fall inside quoted fields, CRLF pairs and the rows that hold the errors.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tables.h"

namespace {

using CsvFile = support::TempFile;

// Sets (or, with nullptr, unsets) an environment variable for a scope.
struct Env {
  std::string name, old;
  bool had;
  Env(const char *n, const char *v) : name(n) {
    const char *o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (v) setenv(n, v, 1);
    else unsetenv(n);
  }
  ~Env() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

// Everything a read gives: the status and message, or the table's bytes.
std::string Dump(const gpudf_table *t) {
  std::string out;
  int64_t n = gpudf_table_nrows(t);
  out += "rows " + std::to_string(n) + "\n";
  for (int c = 0; c < gpudf_table_ncols(t); c++) {
    gpudf_type type = gpudf_table_column_type(t, c);
    out += std::string("col ") + gpudf_table_column_name(t, c) + " type " +
           std::to_string((int)type) + "\n";
    const char *p = (const char *)gpudf_table_column_data(t, c);
    out.append(p, (size_t)n * gpudf_type_size(type));
    for (int32_t k = 0; k < gpudf_table_column_nlabels(t, c); k++)
      out += std::string("\nlabel ") + gpudf_table_column_label(t, c, k);
    out += "\n";
  }
  return out;
}

std::string ReadAll(const std::string &path, int threads, const char *chunk,
                    const gpudf_csv_options *base = nullptr) {
  Env e("GPUDF_CSV_CHUNK_BYTES", chunk);
  gpudf_csv_options o;
  if (base) o = *base;
  else gpudf_csv_options_init(&o);
  o.threads = threads;
  gpudf_table *t = nullptr;
  gpudf_status st = gpudf_table_read_csv(path.c_str(), &o, &t);
  if (st != GPUDF_OK) {
    EXPECT_EQ(t, nullptr);
    return "status " + std::to_string((int)st) + ": " + gpudf_last_error();
  }
  std::string d = Dump(t);
  gpudf_table_free(t);
  return d;
}

// The one-core read (one thread, no chunks) against chunked reads.
void ExpectSameInChunks(const std::string &path, const gpudf_csv_options *o,
                        const std::vector<const char *> &chunks, const std::string &what) {
  std::string serial = ReadAll(path, 1, nullptr, o);
  for (const char *chunk : chunks)
    for (int threads : {1, 3}) {
      std::string par = ReadAll(path, threads, chunk, o);
      ASSERT_EQ(par, serial) << what << "\nchunk bytes " << chunk << ", threads " << threads;
    }
}

// A random CSV: ints, decimals, integers around 2^53 and beyond int64, text
// with quotes, delimiters and line ends inside, bools, missing values, LF
// and CRLF, blank lines; sometimes one error placed at a random row.
struct Gen {
  std::mt19937_64 g;
  explicit Gen(uint64_t seed) : g(seed) {}
  int Pick(int n) { return (int)(g() % (uint64_t)n); }
  bool Chance(int percent) { return Pick(100) < percent; }

  std::string Int() {
    switch (Pick(6)) {
    case 0: return std::to_string((int64_t)(g() >> 1) * (Chance(50) ? 1 : -1));
    case 1: return "9007199254740993";  // 2^53 + 1: no double holds it
    case 2: return "123456789012345678901234";  // beyond int64
    default: return std::to_string(Pick(2000) - 1000);
    }
  }
  std::string Dec() {
    char b[64];
    std::snprintf(b, sizeof b, Chance(50) ? "%.17g" : "%.3f",
                  std::ldexp((double)(g() >> 11), Pick(80) - 60) * (Chance(50) ? 1 : -1));
    return b;
  }
  std::string Text() {
    static const char *const pool[] = {"Oslo", "Lima", "\"Rio, RJ\"", "\"a\"\"b\"",
                                       "\"two\nlines\"", "\"crlf\r\ninside\"", "zeta",
                                       "\"\"", "Pune", "\"x,\n,y\""};
    if (Chance(20)) return "w" + std::to_string(Pick(400));
    return pool[Pick(10)];
  }
  std::string Missing() {
    static const char *const m[] = {"", "NA", "NaN", "null", "N/A"};
    return m[Pick(5)];
  }
  std::string Bool() { return Chance(50) ? "true" : "False"; }

  // kind per column: 0 int, 1 decimal, 2 big ints, 3 text, 4 bool, 5 number or missing
  std::string Field(int kind) {
    if (kind != 0 && kind != 4 && Chance(5)) return Missing();
    switch (kind) {
    case 0: return std::to_string(Pick(1 << 20) - (1 << 19));
    case 1: return Dec();
    case 2: return Int();
    case 3: return Text();
    case 4: return Bool();
    default: return Chance(30) ? Missing() : Dec();
    }
  }

  std::string File(int ncols, int nrows, std::string *error) {
    std::vector<int> kinds;
    std::string s;
    for (int c = 0; c < ncols; c++) {
      kinds.push_back(Pick(6));
      s += (c ? "," : "") + std::string("c") + std::to_string(c);
    }
    s += Chance(20) ? "\r\n" : "\n";
    int bad = Chance(40) ? Pick(nrows) : -1;
    for (int r = 0; r < nrows; r++) {
      if (Chance(3)) s += Chance(50) ? "\n" : "\r\n";  // a blank line
      std::vector<std::string> f;
      for (int c = 0; c < ncols; c++) f.push_back(Field(kinds[c]));
      if (r == bad) {
        int c = Pick(ncols);
        switch (Pick(7)) {
        case 0: f.pop_back(); *error = "a field short"; break;
        case 1: f.push_back("1"); *error = "a field more"; break;
        case 2: f[c] = "\"open"; *error = "an unterminated quote"; break;
        case 3: f[c] = "\"q\"x"; *error = "text after a closing quote"; break;
        case 4: f[c] = std::string("nul") + '\0' + "byte"; *error = "a NUL byte"; break;
        case 5: f[c] = std::string(4200, 'L'); *error = "an over-long label"; break;
        default: f[c] = "9007199254740993"; f[(c + 1) % ncols] = "0.5"; *error = "inexact"; break;
        }
      }
      for (size_t c = 0; c < f.size(); c++) s += (c ? "," : "") + f[c];
      if (r + 1 < nrows || Chance(70)) s += Chance(30) ? "\r\n" : "\n";
    }
    return s;
  }
};

TEST(CsvParallel, RandomFilesReadTheSameInChunksAsOnOneCore) {
  for (uint64_t seed = 1; seed <= 150; seed++) {
    Gen gen(seed);
    std::string error = "none";
    int ncols = 1 + gen.Pick(5), nrows = 1 + gen.Pick(seed % 10 == 0 ? 2000 : 60);
    std::string text = gen.File(ncols, nrows, &error);
    CsvFile f(text);
    gpudf_csv_options o;
    gpudf_csv_options_init(&o);
    gpudf_csv_column_type forced = {"c0", (gpudf_csv_type)(1 + gen.Pick(4))};
    if (gen.Chance(25)) {
      o.ntypes = 1;
      o.types = &forced;
    }
    ExpectSameInChunks(f.path, &o, {"1", "5", "37", "256", "100000"},
                       "seed " + std::to_string(seed) + ", error: " + error);
    if (HasFatalFailure()) return;
  }
}

// Each of the documented checks of the rows (docs/api.md, "CSV", item 5 and
// 6), placed in the last chunk while an earlier chunk holds a later check of
// the order: the first error of the file is reported, as on one core.
TEST(CsvParallel, TheFirstErrorInFileOrderWinsWhicheverChunkFindsIt) {
  std::string head = "a,b,c\n", rows;
  for (int i = 0; i < 400; i++) rows += std::to_string(i) + "," + std::to_string(i * 0.5) + ",x\n";
  const std::vector<std::string> late = {
      "1,2\n",                     // field count
      "1,\"open,x\n",              // unterminated quote
      "1,2,x,3\n",                 // field count (too many)
      "1,abc" + std::string(5000, 'z') + ",x\n",  // over-long label? no: column b becomes text
  };
  for (const std::string &bad : late) {
    // the error early, a type refusal (checked after every row) late
    std::string text = head + rows.substr(0, 60) + bad + rows + "9007199254740993,0.5,y\n1.5,1,z\n";
    CsvFile f(text);
    ExpectSameInChunks(f.path, nullptr, {"1", "16", "300"}, bad.substr(0, 20));
    std::string serial = ReadAll(f.path, 1, nullptr);
    EXPECT_NE(serial.find("status"), std::string::npos) << serial.substr(0, 200);
  }
  // only the type refusal: found after all chunks, at its line
  CsvFile f(head + rows + "9007199254740993,0.5,y\n1.5,1,z\n");
  ExpectSameInChunks(f.path, nullptr, {"1", "16", "300"}, "type refusal");
  EXPECT_NE(ReadAll(f.path, 3, "16").find(":402:1: column 'a'"), std::string::npos)
      << ReadAll(f.path, 3, "16");
}

// Labels that first appear in different chunks are coded as on one core:
// one sorted dictionary, codes as ranks in it.
TEST(CsvParallel, LabelsFromEveryChunkMakeOneSortedDictionary) {
  std::string text = "k,v\n";
  for (int i = 0; i < 3000; i++)
    text += "\"" + std::string(1, (char)('z' - i % 26)) + std::to_string((i * 7919) % 997) +
            "\"," + std::to_string(i) + "\n";
  CsvFile f(text);
  ExpectSameInChunks(f.path, nullptr, {"1", "64", "4096"}, "labels");
  std::string d = ReadAll(f.path, 3, "64");
  EXPECT_NE(d.find("label a"), std::string::npos);
}

// A quoted field holding many line ends spans several chunks: the chunks
// that start inside it are read again from the record where the one before
// stopped.
TEST(CsvParallel, AQuotedFieldSpanningChunksIsOneValue) {
  std::string text = "id,note\n1,\"";
  for (int i = 0; i < 300; i++) text += "l" + std::to_string(i) + ",\n";
  text += "end\"\n2,plain\n3,\"\"\"q\"\"\"\r\n";
  CsvFile f(text);
  ExpectSameInChunks(f.path, nullptr, {"1", "7", "100", "1000"}, "a long quoted field");
  std::string d = ReadAll(f.path, 3, "7");
  EXPECT_NE(d.find("rows 3"), std::string::npos) << d.substr(0, 100);
}

// Files of numbers take the numbers-only pass in chunks; big enough for
// the default chunk size (1 MiB, a few per thread), with no chunk size set.
TEST(CsvParallel, DefaultChunksOnAFileOfNumbersAndOnAMixedFile) {
  std::mt19937_64 g(7);
  std::string nums = "id,a,b\n", mixed = "id,city,x\n";
  const char *cities[] = {"Oslo", "\"Rio, RJ\"", "Lima", "", "\"two\nlines\""};
  for (int i = 0; i < 120000; i++) {
    double a = (double)(g() >> 11) / 9007199254740992.0 * 1000;
    char b[96];
    std::snprintf(b, sizeof b, "%d,%.6f,%.17g\n", i, a, -a / 3);
    nums += b;
    std::snprintf(b, sizeof b, "%d,%s,%.4f\n", i, cities[g() % 5], a);
    mixed += b;
  }
  CsvFile fn(nums), fm(mixed);
  for (const CsvFile *f : {&fn, &fm}) {
    std::string serial = ReadAll(f->path, 1, nullptr);
    ASSERT_EQ(serial.find("status"), std::string::npos) << serial;
    for (int threads : {2, 4}) EXPECT_EQ(ReadAll(f->path, threads, nullptr), serial) << threads;
  }
}

// threads: the option wins over GPUDF_THREADS, which wins over the CPUs;
// an options struct of the size before threads existed still reads.
TEST(CsvParallel, ThreadsComeFromTheOptionThenTheEnvironment) {
  CsvFile f("a,b\n1,x\n2,y\n3,\"z\nz\"\n");
  std::string serial = ReadAll(f.path, 1, nullptr);
  {
    Env t("GPUDF_THREADS", "5");
    EXPECT_EQ(ReadAll(f.path, 0, "2"), serial);
    EXPECT_EQ(ReadAll(f.path, 2, "2"), serial);
  }
  {
    Env t("GPUDF_THREADS", "");  // empty: as unset, the online CPUs
    EXPECT_EQ(ReadAll(f.path, 0, "2"), serial);
  }
  gpudf_csv_options o;
  gpudf_csv_options_init(&o);
  gpudf_table *bad = nullptr;
  // A typo in a variable is refused naming it, never read as "every CPU";
  // the option wins, so a good count passes over a bad variable.
  for (const char *v : {"not a number", "0", "-2", "3x", " 4", "+4", "99999999999999999999"}) {
    Env t("GPUDF_THREADS", v);
    EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &bad), GPUDF_EINVAL) << v;
    EXPECT_NE(std::string(gpudf_last_error()).find("GPUDF_THREADS='"), std::string::npos)
        << gpudf_last_error();
    EXPECT_EQ(bad, nullptr);
    o.threads = 2;
    ASSERT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &bad), GPUDF_OK) << v;
    gpudf_table_free(bad);
    bad = nullptr;
    o.threads = 0;
  }
  {
    Env c("GPUDF_CSV_CHUNK_BYTES", "1k");
    EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &bad), GPUDF_EINVAL);
    EXPECT_NE(std::string(gpudf_last_error()).find("GPUDF_CSV_CHUNK_BYTES='1k'"),
              std::string::npos) << gpudf_last_error();
  }
  o.threads = -1;
  EXPECT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &bad), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("options.threads = -1"), std::string::npos);
  o.threads = 0;
  o.size = offsetof(gpudf_csv_options, threads);  // a caller built before threads
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_read_csv(f.path.c_str(), &o, &t), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(Dump(t), serial);
  gpudf_table_free(t);
}

}  // namespace
