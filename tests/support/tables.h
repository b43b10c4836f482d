// tables.h - the one way the tests make a table: from columns they give,
// from random data of a seed, or from CSV text. The table (and its share,
// once shared) is freed with the object, also when an ASSERT returns early.
#ifndef GPUDF_TEST_SUPPORT_TABLES_H
#define GPUDF_TEST_SUPPORT_TABLES_H

#include <gpudf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace support {

// An owner table, and its share once Share is called.
class Table {
 public:
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;

  Table() = default;
  // An empty table of nrows rows (a test failure if it cannot be made).
  explicit Table(int64_t nrows);
  ~Table();
  Table(Table &&other) noexcept;
  Table &operator=(Table &&other) noexcept;
  Table(const Table &) = delete;
  Table &operator=(const Table &) = delete;

  // Appends a column of nrows values; returns its index.
  template <typename T>
  int Add(const std::string &name, gpudf_type type, const std::vector<T> &v) {
    EXPECT_EQ(v.size(), (size_t)gpudf_table_nrows(t)) << "column " << name;
    EXPECT_EQ(GPUDF_OK, gpudf_table_add_column(t, name.c_str(), type, v.data()))
        << gpudf_last_error();
    return gpudf_table_ncols(t) - 1;
  }
  // Appends a categorical column (codes -1..labels-1); returns its index.
  int AddCategorical(const std::string &name, const std::vector<int32_t> &codes,
                     const std::vector<std::string> &labels);
  // Shares it on backend under a unique name; false (with the reason in
  // why, when not NULL) when that fails.
  bool Share(gpudf_backend backend, std::string *why);
  // Index of the column called name (a test failure and -1 if none).
  int Col(const std::string &name) const;
};

// tg_make_table's five columns from seed (harness/datagen.h: a i32, b i64,
// c f32, d f64, e bool), the table the multi-process tests rebuild in the
// harness child to check what they attached.
class RandomTable : public Table {
 public:
  RandomTable(int64_t rows, uint64_t seed);
};

// A table with a column of every kind a kernel parameter can take, holding
// the values that break careless code: negatives everywhere, NaN (about 4%)
// and +-inf (rare) in the float columns, magnitudes up to 1e15 (f64), 1e30
// (f32), 2^62 (i64) and INT32_MAX (i32) beside ordinary ones, a bool
// column, a small-integer key column, a categorical column with missing
// codes, and a positive random walk ("price"). The same seed gives the same
// bytes. Columns: i32 i64 f32 f64 flag key cat price.
Table MixedTable(int64_t rows, uint64_t seed);

// A file holding text, removed with the object. The path is unique to this
// process and stem.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string &text, const std::string &stem = "t.csv");
  ~TempFile();
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;
};

// A table read with gpudf_table_read_csv from text (through a TempFile);
// st and err say how the read went.
class CsvTable : public Table {
 public:
  gpudf_status st = GPUDF_OK;
  std::string err;
  explicit CsvTable(const std::string &text, const gpudf_csv_options *opts = nullptr);
};

}  // namespace support

#endif
