// Descriptor validation at its edges: each test forges a copy of a real
// share's descriptor with a field at, just inside or just past a limit, and
// checks that attach accepts exactly what the format allows (reading back
// the bytes the forged fields point at) and refuses the rest with a message
// that says why. Written to kill the mutants of host/descriptor.c that the
// other attach tests let survive (tests/mutation/run.sh).
#include <gpudf.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "datagen.h"
#include "descriptor.h"
#include "harness.h"

namespace {

std::string ReadFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class Descriptor : public ::testing::Test {
 protected:
  // Shares a table of nrows generated rows and keeps its descriptor bytes.
  void Share(int64_t nrows, uint64_t seed) {
    shared = harness::UniqueName("dorig");
    ASSERT_EQ(tg_make_table(nrows, seed, &t), GPUDF_OK) << gpudf_last_error();
    ASSERT_EQ(gpudf_table_share(t, shared.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK)
        << gpudf_last_error();
    good = ReadFile(harness::ShmPath(harness::PublicFile(shared)));
    ASSERT_GE(good.size(), sizeof(gdf_desc_header));
    name = harness::UniqueName("dbad");
    path = harness::ShmPath(harness::PublicFile(name));
  }
  void TearDown() override {
    gpudf_table_free(v);
    unlink(path.c_str());
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
  static gdf_desc_header *Header(std::string &b) { return (gdf_desc_header *)&b[0]; }
  static gdf_desc_column *Col(std::string &b, uint32_t i) {
    return (gdf_desc_column *)&b[sizeof(gdf_desc_header) + i * sizeof(gdf_desc_column)];
  }
  // FNV-1a 64 from owner_uid to the end, written out here, not the library's.
  static void Reseal(std::string &b) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = offsetof(gdf_desc_header, owner_uid); i < b.size(); i++) {
      h ^= (uint8_t)b[i];
      h *= 1099511628211ull;
    }
    Header(b)->checksum = h;
  }
  // Writes b (resealed) under the forged name and attaches; v holds the
  // view on success.
  gpudf_status Attach(std::string b) {
    Reseal(b);
    gpudf_table_free(v);
    v = nullptr;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0) << path;
    EXPECT_EQ(write(fd, b.data(), b.size()), (ssize_t)b.size());
    close(fd);
    return gpudf_attach(name.c_str(), &v);
  }
  void ExpectRefused(const std::string &b, const std::string &words) {
    EXPECT_EQ(Attach(b), GPUDF_EBADMSG) << "accepted; expected: " << words;
    EXPECT_EQ(v, nullptr);
    EXPECT_NE(std::string(gpudf_last_error()).find(words), std::string::npos)
        << "message: " << gpudf_last_error() << "\nexpected: " << words;
  }
  // The arena's bytes as its file holds them: the reference for what a
  // forged column must read.
  std::string Arena() {
    return ReadFile(harness::ShmPath(Header(good)->arena_name));
  }

  gpudf_table *t = nullptr, *v = nullptr;
  gpudf_share *s = nullptr;
  std::string shared, good, name, path;
};

// A table of one row is the smallest there is: it attaches, with its values.
TEST_F(Descriptor, OneRowTableAttaches) {
  std::mt19937_64 rng(harness::StressSeed());
  Share(1, rng());
  ASSERT_EQ(Header(good)->nrows, 1);
  ASSERT_EQ(Attach(good), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_nrows(v), 1);
  ASSERT_EQ(gpudf_table_ncols(v), gpudf_table_ncols(t));
  for (int c = 0; c < gpudf_table_ncols(t); c++)
    EXPECT_EQ(memcmp(gpudf_table_column_data(v, c), gpudf_table_column_data(t, c),
                     gpudf_type_size(gpudf_table_column_type(t, c))), 0) << "column " << c;
  std::string b = good;
  Header(b)->nrows = 0;
  ExpectRefused(b, "invalid header fields");
  Header(b)->nrows = -1;
  ExpectRefused(b, "invalid header fields");
}

// A column may end exactly at the arena's end, not one aligned step later;
// there it reads the arena's last bytes.
TEST_F(Descriptor, ColumnEndingAtTheArenaEnd) {
  const int64_t nrows = 1024;  // every column a multiple of the alignment long
  std::mt19937_64 rng(harness::StressSeed());
  Share(nrows, rng());
  std::string arena = Arena();
  uint64_t size = Header(good)->arena_size;
  ASSERT_EQ(arena.size(), size);
  for (uint32_t c = 0; c < Header(good)->ncols; c++) {
    std::string b = good;
    uint64_t len = (uint64_t)nrows * gpudf_type_size((gpudf_type)Col(b, c)->type);
    ASSERT_EQ(len % GPUDF_ALIGNMENT, 0u);
    Col(b, c)->offset = size - len;
    ASSERT_EQ(Attach(b), GPUDF_OK) << "column " << c << ": " << gpudf_last_error();
    EXPECT_EQ(memcmp(gpudf_table_column_data(v, (int)c), arena.data() + size - len, len), 0)
        << "column " << c;
    Col(b, c)->offset = size - len + GPUDF_ALIGNMENT;
    ExpectRefused(b, "outside");
    Col(b, c)->offset = size;
    ExpectRefused(b, "outside");
    Col(b, c)->offset = size - len + 1 + rng() % (GPUDF_ALIGNMENT - 1);
    ExpectRefused(b, "is not aligned");
  }
  // One row more and the column that ends there no longer fits.
  std::string b = good;
  Header(b)->nrows = nrows + 1;
  ExpectRefused(b, "outside");
}

// Column names: 1..GPUDF_NAME_MAX bytes and a NUL inside the field.
TEST_F(Descriptor, ColumnNameLimits) {
  std::mt19937_64 rng(harness::StressSeed());
  Share(64, rng());
  uint32_t c = (uint32_t)(rng() % Header(good)->ncols);
  std::string b = good;
  std::string longest(GPUDF_NAME_MAX, 'a');
  for (auto &ch : longest) ch = (char)('a' + rng() % 26);
  memcpy(Col(b, c)->name, longest.c_str(), longest.size() + 1);
  ASSERT_EQ(Attach(b), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(std::string(gpudf_table_column_name(v, (int)c)), longest);
  memset(Col(b, c)->name, 0, sizeof Col(b, c)->name);
  ExpectRefused(b, "no valid name");
  memset(Col(b, c)->name, 'x', sizeof Col(b, c)->name);
  ExpectRefused(b, "no valid name");
}

// The column count: 1..GPUDF_MAX_COLUMNS, and total_size must agree.
TEST_F(Descriptor, ColumnCountLimits) {
  std::mt19937_64 rng(harness::StressSeed());
  Share(32, rng());
  // GPUDF_MAX_COLUMNS columns, each a copy of a random real one under its
  // own name: attach reads them all.
  auto forge = [&](uint32_t n) {
    std::string b = good.substr(0, sizeof(gdf_desc_header));
    b.resize(sizeof(gdf_desc_header) + (size_t)n * sizeof(gdf_desc_column));
    for (uint32_t i = 0; i < n; i++) {
      *Col(b, i) = *Col(good, (uint32_t)(rng() % Header(good)->ncols));
      snprintf(Col(b, i)->name, sizeof Col(b, i)->name, "c%u", i);
    }
    Header(b)->ncols = n;
    Header(b)->total_size = b.size();
    return b;
  };
  std::string b = forge(GPUDF_MAX_COLUMNS);
  ASSERT_EQ(Attach(b), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_ncols(v), GPUDF_MAX_COLUMNS);
  uint32_t c = (uint32_t)(rng() % GPUDF_MAX_COLUMNS);
  EXPECT_EQ(std::string(gpudf_table_column_name(v, (int)c)), "c" + std::to_string(c));
  // One more is refused before validation, by its size (gdf_desc_read, host/descriptor.c).
  ExpectRefused(forge(GPUDF_MAX_COLUMNS + 1), "larger than any descriptor");
  b = good.substr(0, sizeof(gdf_desc_header));
  Header(b)->ncols = 0;
  Header(b)->total_size = b.size();
  ExpectRefused(b, "inconsistent layout");
  // A header alone, whatever it says, is not a descriptor.
  b = good.substr(0, sizeof(gdf_desc_header));
  ExpectRefused(b, "truncated or padded");
  b = good.substr(0, sizeof(gdf_desc_header) - 1);
  ExpectRefused(b, "needs at least");
}

// A dictionary may reach the arena's end and no further; it holds at least
// its nlabels + 1 offsets (an empty one: 8 bytes); at most GPUDF_LABELS_MAX
// labels of at most GPUDF_LABEL_MAX bytes each.
TEST_F(Descriptor, DictionaryLimits) {
  std::mt19937_64 rng(harness::StressSeed());
  const int64_t n = 256;
  int32_t nlabels = 1 + (int32_t)(rng() % 20);
  std::vector<std::string> labels((size_t)nlabels);
  for (auto &l : labels) {
    l.resize(rng() % 12);
    for (auto &ch : l) ch = (char)(' ' + rng() % 95);
  }
  labels[rng() % labels.size()] = std::string(GPUDF_LABEL_MAX, 'L');  // the longest
  std::vector<const char *> lp;
  for (auto &l : labels) lp.push_back(l.c_str());
  std::vector<int32_t> codes(n), none(n, -1);
  for (auto &c : codes) c = (int32_t)(rng() % (uint64_t)(nlabels + 1)) - 1;
  shared = harness::UniqueName("dcat");
  ASSERT_EQ(gpudf_table_create(n, &t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t, "k", codes.data(), nlabels, lp.data()), GPUDF_OK)
      << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_categorical(t, "none", none.data(), 0, nullptr), GPUDF_OK)
      << gpudf_last_error();
  ASSERT_EQ(gpudf_table_share(t, shared.c_str(), GPUDF_BACKEND_CPU, &s), GPUDF_OK)
      << gpudf_last_error();
  good = ReadFile(harness::ShmPath(harness::PublicFile(shared)));
  name = harness::UniqueName("dbad");
  path = harness::ShmPath(harness::PublicFile(name));
  uint64_t arena = Header(good)->arena_size;
  auto expect_labels = [&]() {
    ASSERT_NE(v, nullptr);
    ASSERT_EQ(gpudf_table_column_nlabels(v, 0), nlabels);
    for (int32_t k = 0; k < nlabels; k++)
      EXPECT_EQ(std::string(gpudf_table_column_label(v, 0, k)), labels[(size_t)k]) << k;
    EXPECT_EQ(memcmp(gpudf_table_column_data(v, 0), codes.data(), n * sizeof(int32_t)), 0);
    EXPECT_EQ(gpudf_table_column_nlabels(v, 1), 0);
  };

  // Stretched to the arena's end: accepted, the same labels; a byte more is not.
  std::string b = good;
  Col(b, 0)->dict_size = arena - Col(b, 0)->dict_offset;
  ASSERT_EQ(Attach(b), GPUDF_OK) << gpudf_last_error();
  expect_labels();
  Col(b, 0)->dict_size++;
  ExpectRefused(b, "lies outside the");

  // The empty dictionary: its one offset, 8 bytes, and not one byte less.
  b = good;
  ASSERT_EQ(Col(b, 1)->nlabels, 0u);
  Col(b, 1)->dict_size = sizeof(uint64_t);
  ASSERT_EQ(Attach(b), GPUDF_OK) << gpudf_last_error();
  expect_labels();
  Col(b, 1)->dict_size = sizeof(uint64_t) - 1;
  ExpectRefused(b, "lies outside the");
  // For labels, the offsets alone are too short: refused by the field check.
  b = good;
  Col(b, 0)->dict_size = ((uint64_t)nlabels + 1) * sizeof(uint64_t) - 1;
  ExpectRefused(b, "lies outside the");

  // GPUDF_LABELS_MAX labels are not refused for their count (their offsets
  // do not fit, which is said instead); one more is.
  b = good;
  Col(b, 0)->nlabels = GPUDF_LABELS_MAX;
  ExpectRefused(b, "lies outside the");
  Col(b, 0)->nlabels = GPUDF_LABELS_MAX + 1u;
  ExpectRefused(b, "more than");
}

// Header fields just past what is accepted: a checksum one off either way,
// readiness other than 1, an arena larger than INT64_MAX, padding that
// total_size owns up to, an arena name of another kind of segment.
TEST_F(Descriptor, HeaderFieldLimits) {
  std::mt19937_64 rng(harness::StressSeed());
  Share(100, rng());
  std::string b = good;
  // Attach reseals: a wrong checksum is written after it, by hand.
  auto write_raw = [&](const std::string &bytes) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
    close(fd);
  };
  for (int64_t delta : {int64_t(1), int64_t(-1), (int64_t)(rng() | 1)}) {
    b = good;
    Header(b)->checksum += (uint64_t)delta;
    write_raw(b);
    gpudf_table *w = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_EBADMSG) << "checksum off by " << delta;
    EXPECT_EQ(w, nullptr);
    EXPECT_NE(std::string(gpudf_last_error()).find("checksum mismatch"), std::string::npos)
        << gpudf_last_error();
  }
  for (uint32_t ready : {0u, 2u, 3u + (uint32_t)(rng() % 1000), UINT32_MAX}) {
    b = good;
    Header(b)->ready = ready;
    write_raw(b);  // ready is not covered by the checksum
    gpudf_table *w = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &w), GPUDF_EAGAIN) << "ready = " << ready;
    EXPECT_EQ(w, nullptr);
  }
  for (uint64_t size : {(uint64_t)INT64_MAX + 1, (uint64_t)INT64_MAX + 1 + rng() % 4096,
                        UINT64_MAX}) {
    b = good;
    Header(b)->arena_size = size;
    ExpectRefused(b, "invalid header fields");
  }
  // Padding after the last column, counted in total_size (and so in the
  // segment's size): the layout no longer matches the column count.
  b = good;
  b.append(1 + rng() % (2 * sizeof(gdf_desc_column)), '\0');
  Header(b)->total_size = b.size();
  ExpectRefused(b, "inconsistent layout");
  // total_size that disagrees with the segment's size names both.
  b = good + std::string(8, '\0');
  ExpectRefused(b, "segment is " + std::to_string(b.size()) + " bytes, descriptor says " +
                       std::to_string(good.size()));
  // A private segment of another kind is no arena, however well named.
  b = good;
  char *plus = strchr(Header(b)->arena_name, '+');
  ASSERT_NE(plus, nullptr);
  ASSERT_EQ(plus[1], 'a');
  for (char kind : {'d', 's', 'v', 'x'}) {
    plus[1] = kind;
    ExpectRefused(b, "names no valid arena segment");
  }
}

}  // namespace
