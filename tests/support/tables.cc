// tables.cc - see tables.h.
#include "tables.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

#include "datagen.h"

namespace support {

Table::Table(int64_t nrows) {
  EXPECT_EQ(GPUDF_OK, gpudf_table_create(nrows, &t)) << gpudf_last_error();
}

Table::~Table() {
  gpudf_share_close(s);
  gpudf_table_free(t);
}

Table::Table(Table &&other) noexcept : t(other.t), s(other.s) {
  other.t = nullptr;
  other.s = nullptr;
}

Table &Table::operator=(Table &&other) noexcept {
  std::swap(t, other.t);
  std::swap(s, other.s);
  return *this;
}

int Table::AddCategorical(const std::string &name, const std::vector<int32_t> &codes,
                          const std::vector<std::string> &labels) {
  std::vector<const char *> ptrs;
  for (const auto &l : labels) ptrs.push_back(l.c_str());
  EXPECT_EQ(codes.size(), (size_t)gpudf_table_nrows(t)) << "column " << name;
  EXPECT_EQ(GPUDF_OK, gpudf_table_add_categorical(t, name.c_str(), codes.data(),
                                                  (int32_t)labels.size(), ptrs.data()))
      << gpudf_last_error();
  return gpudf_table_ncols(t) - 1;
}

bool Table::Share(gpudf_backend backend, std::string *why) {
  gpudf_status st = gpudf_table_share(t, nullptr, backend, &s);
  if (st != GPUDF_OK && why) *why = gpudf_last_error();
  return st == GPUDF_OK;
}

int Table::Col(const std::string &name) const {
  int i = -1;
  EXPECT_EQ(GPUDF_OK, gpudf_table_find_column(t, name.c_str(), &i)) << name;
  return i;
}

RandomTable::RandomTable(int64_t rows, uint64_t seed) {
  EXPECT_EQ(tg_make_table(rows, seed, &t), GPUDF_OK) << gpudf_last_error();
}

namespace {

// A uniform double in [0, 1) from the splitmix stream.
double Unit(uint64_t *s) { return (double)(tg_splitmix(s) >> 11) * 0x1.0p-53; }

// One value of a float column: mostly ordinary, some NaN, rare +-inf, some
// of magnitude `big`, every sign.
double FloatValue(uint64_t *s, double big) {
  uint64_t r = tg_splitmix(s) % 1000;
  double sign = tg_splitmix(s) & 1 ? -1.0 : 1.0;
  if (r < 40) return std::numeric_limits<double>::quiet_NaN();
  if (r < 45) return sign * std::numeric_limits<double>::infinity();
  if (r < 95) return sign * big * (0.5 + Unit(s));
  if (r < 145) return sign * (double)(tg_splitmix(s) % 8);  // ties and exact hits
  return (Unit(s) - 0.5) * 200.0;
}

}  // namespace

Table MixedTable(int64_t rows, uint64_t seed) {
  Table tb(rows);
  std::vector<int32_t> i32(rows), key(rows), cat(rows);
  std::vector<int64_t> i64(rows);
  std::vector<float> f32(rows);
  std::vector<double> f64(rows), price(rows);
  std::vector<uint8_t> flag(rows);
  double p = 100.0;
  for (int64_t i = 0; i < rows; i++) {
    uint64_t r = tg_splitmix(&seed) % 100;
    i32[i] = r < 3 ? (r & 1 ? INT32_MAX : -INT32_MAX) : (int32_t)(tg_splitmix(&seed) % 2001) - 1000;
    i64[i] = r < 5 ? (int64_t)(tg_splitmix(&seed) >> 2) * (r & 1 ? 1 : -1)  // up to 2^62
                   : (int64_t)(tg_splitmix(&seed) % 20001) - 10000;
    f32[i] = (float)FloatValue(&seed, 1e30);
    f64[i] = FloatValue(&seed, 1e15);
    flag[i] = (uint8_t)(tg_splitmix(&seed) & 1);
    key[i] = (int32_t)(tg_splitmix(&seed) % 8);
    cat[i] = (int32_t)(tg_splitmix(&seed) % 6) - 1;  // -1: missing
    p *= 1.0 + (Unit(&seed) - 0.5) * 0.02;
    price[i] = p;
  }
  tb.Add("i32", GPUDF_TYPE_I32, i32);
  tb.Add("i64", GPUDF_TYPE_I64, i64);
  tb.Add("f32", GPUDF_TYPE_F32, f32);
  tb.Add("f64", GPUDF_TYPE_F64, f64);
  tb.Add("flag", GPUDF_TYPE_BOOL, flag);
  tb.Add("key", GPUDF_TYPE_I32, key);
  tb.AddCategorical("cat", cat, {"north", "south", "east", "west", ""});
  tb.Add("price", GPUDF_TYPE_F64, price);
  return tb;
}

TempFile::TempFile(const std::string &text, const std::string &stem) {
  path = "/tmp/gpudf-test-" + std::to_string(getpid()) + "-" + stem;
  FILE *f = fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr) << path;
  if (!f) return;
  EXPECT_EQ(fwrite(text.data(), 1, text.size(), f), text.size()) << path;
  fclose(f);
}

TempFile::~TempFile() { unlink(path.c_str()); }

CsvTable::CsvTable(const std::string &text, const gpudf_csv_options *opts) {
  TempFile f(text, "table.csv");
  st = gpudf_table_read_csv(f.path.c_str(), opts, &t);
  if (st != GPUDF_OK) err = gpudf_last_error();
}

}  // namespace support
