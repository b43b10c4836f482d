// test_categorical.cc - categorical columns: i32 codes plus a dictionary of
// labels kept in the shared arena, so attached views (in this process and in
// others) see the labels; bad input and corrupt dictionary descriptors.
#include <fcntl.h>
#include <gpudf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "descriptor.h"
#include "harness.h"

namespace {

struct CatTable {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  ~CatTable() {
    gpudf_share_close(s);
    gpudf_table_free(t);
  }
};

const char *const kLabels[] = {"red", "", "green, \"quoted\"", "blue"};

// 1000 rows: codes cycle through -1..3; a second column of f64; a third
// i64 column whose values are a fake dictionary for the corruption tests:
// offsets {16, 21} then "abcdefgh" (label 0 would be "abcde" without NUL).
void MakeCat(CatTable &c, const char *stem = "cat") {
  const int64_t n = 1000;
  std::vector<int32_t> codes(n);
  std::vector<double> x(n);
  std::vector<int64_t> fake(n, 0);
  for (int64_t i = 0; i < n; i++) {
    codes[i] = (int32_t)(i % 5) - 1;
    x[i] = 0.5 * (double)i;
  }
  fake[0] = 16;
  fake[1] = 21;
  memcpy(&fake[2], "abcdefgh", 8);
  ASSERT_EQ(gpudf_table_create(n, &c.t), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_categorical(c.t, "color", codes.data(), 4, kLabels), GPUDF_OK)
      << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_column(c.t, "x", GPUDF_TYPE_F64, x.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(c.t, "fake", GPUDF_TYPE_I64, fake.data()), GPUDF_OK);
  c.name = harness::UniqueName(stem);
  ASSERT_EQ(gpudf_table_share(c.t, c.name.c_str(), GPUDF_BACKEND_CPU, &c.s), GPUDF_OK)
      << gpudf_last_error();
}

// The labels and codes of column 0 as the test wrote them; "" on success.
std::string CheckLabels(const gpudf_table *t) {
  if (!gpudf_table_column_is_categorical(t, 0)) return "column 0 is not categorical";
  if (gpudf_table_column_is_categorical(t, 1)) return "column 1 is categorical";
  if (gpudf_table_column_nlabels(t, 0) != 4) return "nlabels != 4";
  for (int k = 0; k < 4; k++) {
    const char *l = gpudf_table_column_label(t, 0, k);
    if (!l || strcmp(l, kLabels[k]) != 0) return "label " + std::to_string(k) + " differs";
  }
  if (gpudf_table_column_label(t, 0, -1) || gpudf_table_column_label(t, 0, 4) ||
      gpudf_table_column_label(t, 1, 0))
    return "out-of-range label is not NULL";
  const int32_t *codes = (const int32_t *)gpudf_table_column_data(t, 0);
  for (int64_t i = 0; i < gpudf_table_nrows(t); i++)
    if (codes[i] != (int32_t)(i % 5) - 1) return "code " + std::to_string(i) + " differs";
  return "";
}

TEST(Categorical, RoundTripInProcess) {
  CatTable c;
  MakeCat(c);
  EXPECT_EQ(CheckLabels(c.t), "");
  EXPECT_EQ(gpudf_table_column_nlabels(c.t, 1), 0);
  EXPECT_EQ(gpudf_table_column_nlabels(c.t, 99), 0);
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(c.name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(CheckLabels(v), "");
  gpudf_table_free(v);
}

TEST(Categorical, AttachInAnotherProcessSeesTheLabels) {
  CatTable c;
  MakeCat(c);
  pid_t pid = fork();  // cpu placement only: no device state to inherit
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    gpudf_table *v = nullptr;
    int rc = gpudf_attach(c.name.c_str(), &v) != GPUDF_OK ? 2 : CheckLabels(v).empty() ? 0 : 3;
    gpudf_table_free(v);
    _exit(rc);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: attach failed, 3: labels differ";
}

TEST(Categorical, ZeroLabelsAllMissing) {
  gpudf_table *t = nullptr;
  int32_t codes[3] = {-1, -1, -1};
  ASSERT_EQ(gpudf_table_create(3, &t), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_categorical(t, "c", codes, 0, nullptr), GPUDF_OK)
      << gpudf_last_error();
  EXPECT_TRUE(gpudf_table_column_is_categorical(t, 0));
  EXPECT_EQ(gpudf_table_column_nlabels(t, 0), 0);
  EXPECT_EQ(gpudf_table_column_label(t, 0, 0), nullptr);
  gpudf_table_free(t);
}

void ExpectBad(const int32_t *codes, int32_t nlabels, const char *const *labels,
               gpudf_status want, const std::string &words) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(3, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t, "c", codes, nlabels, labels), want);
  EXPECT_NE(std::string(gpudf_last_error()).find(words), std::string::npos)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_table_ncols(t), 0);
  gpudf_table_free(t);
}

TEST(Categorical, BadInput) {
  const char *const two[] = {"a", "b"};
  const int32_t ok[3] = {0, 1, -1};
  const int32_t high[3] = {0, 2, 1};
  const int32_t low[3] = {0, -2, 1};
  ExpectBad(high, 2, two, GPUDF_EINVAL, "row 1: code 2 is out of range");
  ExpectBad(low, 2, two, GPUDF_EINVAL, "row 1: code -2 is out of range");
  ExpectBad(nullptr, 2, two, GPUDF_EINVAL, "codes of column 'c' is NULL");
  ExpectBad(ok, 2, nullptr, GPUDF_EINVAL, "labels is NULL");
  const char *const withnull[] = {"a", nullptr};
  ExpectBad(ok, 2, withnull, GPUDF_EINVAL, "label 1 is NULL");
  ExpectBad(ok, -1, two, GPUDF_EINVAL, "-1 labels");
  ExpectBad(ok, GPUDF_LABELS_MAX + 1, two, GPUDF_EINVAL, "labels; a dictionary holds");
  std::string big(GPUDF_LABEL_MAX + 1, 'x');
  const char *const toolong[] = {"a", big.c_str()};
  ExpectBad(ok, 2, toolong, GPUDF_ENAMETOOLONG, "label 1");
  // A label of exactly the limit is fine.
  big.pop_back();
  const char *const atlimit[] = {"a", big.c_str()};
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(3, &t), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t, "c", ok, 2, atlimit), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(strlen(gpudf_table_column_label(t, 0, 1)), (size_t)GPUDF_LABEL_MAX);
  // Views and shared tables refuse.
  gpudf_share *s = nullptr;
  ASSERT_EQ(gpudf_table_share(t, nullptr, GPUDF_BACKEND_CPU, &s), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_categorical(t, "d", ok, 2, two), GPUDF_EBUSY);
  gpudf_share_close(s);
  gpudf_table_free(t);
}

// Damaged copies of a real descriptor, as in test_share.cc's Corrupt.
class CorruptDict : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCat(c, "corig");
    std::ifstream f(harness::ShmPath(harness::PublicFile(c.name)), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(f), {});
    ASSERT_EQ(good.size(), sizeof(gdf_desc_header) + 3 * sizeof(gdf_desc_column));
    name = harness::UniqueName("cbad");
    path = harness::ShmPath(harness::PublicFile(name));
  }
  void TearDown() override { unlink(path.c_str()); }
  gdf_desc_column *Col(std::string &b, int i) {
    return (gdf_desc_column *)&b[sizeof(gdf_desc_header) + i * sizeof(gdf_desc_column)];
  }
  void Expect(std::string b, const std::string &words) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = offsetof(gdf_desc_header, owner_uid); i < b.size(); i++) {
      h ^= (uint8_t)b[i];
      h *= 1099511628211ull;
    }
    ((gdf_desc_header *)&b[0])->checksum = h;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, b.data(), b.size()), (ssize_t)b.size());
    close(fd);
    gpudf_table *v = nullptr;
    EXPECT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_EBADMSG) << gpudf_last_error();
    EXPECT_EQ(v, nullptr);
    EXPECT_NE(std::string(gpudf_last_error()).find(words), std::string::npos)
        << "message: " << gpudf_last_error() << "\nexpected: " << words;
  }
  CatTable c;
  std::string good, name, path;
};

TEST_F(CorruptDict, IntactCopyAttaches) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_EQ(write(fd, good.data(), good.size()), (ssize_t)good.size());
  close(fd);
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach(name.c_str(), &v), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(CheckLabels(v), "");
  gpudf_table_free(v);
}

TEST_F(CorruptDict, FieldsOutsideTheArena) {
  uint64_t arena = ((gdf_desc_header *)&good[0])->arena_size;
  std::string b = good;
  Col(b, 0)->dict_offset = arena;
  Expect(b, "outside");
  b = good;
  Col(b, 0)->dict_size = UINT64_MAX - 7;  // overflow bait
  Expect(b, "outside");
  b = good;
  Col(b, 0)->dict_offset = UINT64_MAX - 255;
  Expect(b, "outside");
  b = good;
  Col(b, 0)->dict_offset += 8;  // misaligned
  Expect(b, "misaligned");
  b = good;
  Col(b, 0)->nlabels = 1u << 30;
  Expect(b, "more than");
  b = good;
  Col(b, 0)->nlabels = 1000;  // offsets would not fit in dict_size
  Expect(b, "outside");
  b = good;
  Col(b, 1)->nlabels = 2;  // labels without a dictionary
  Expect(b, "no dictionary");
  b = good;
  Col(b, 1)->dict_offset = Col(b, 0)->dict_offset;  // f64 column with a dictionary
  Col(b, 1)->dict_size = Col(b, 0)->dict_size;
  Expect(b, "not i32");
}

TEST_F(CorruptDict, LabelsChecked) {
  std::string b = good;
  // A dictionary that is really the f64 column: offsets are doubles.
  Col(b, 0)->dict_offset = Col(b, 1)->offset;
  Expect(b, "does not start with");
  // The fake dictionary in the i64 column: label 0 spans 16..21 without NUL.
  b = good;
  Col(b, 0)->dict_offset = Col(b, 2)->offset;
  Col(b, 0)->nlabels = 1;
  Col(b, 0)->dict_size = 64;
  Expect(b, "not a NUL-terminated");
  // ... and one whose end lies past dict_size.
  b = good;
  Col(b, 0)->dict_offset = Col(b, 2)->offset;
  Col(b, 0)->nlabels = 1;
  Col(b, 0)->dict_size = 20;
  Expect(b, "outside its 20-byte dictionary");
}

}  // namespace
