// Tables: creation, typed columns, alignment, schema and bad input.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "datagen.h"
#include "harness.h"

namespace {

TEST(Api, VersionAndStatusStrings) {
  EXPECT_EQ(gpudf_version_number(), GPUDF_VERSION_NUMBER);
  // The header's numbers and the library's string (from CMakeLists.txt) agree.
  EXPECT_EQ(std::string(gpudf_version()), std::to_string(GPUDF_VERSION_MAJOR) + "." +
                                              std::to_string(GPUDF_VERSION_MINOR) + "." +
                                              std::to_string(GPUDF_VERSION_PATCH));
  for (gpudf_status s : {GPUDF_OK, GPUDF_EPERM, GPUDF_ENOENT, GPUDF_EIO, GPUDF_EAGAIN,
                         GPUDF_ENOMEM, GPUDF_EBUSY, GPUDF_EEXIST, GPUDF_ENODEV, GPUDF_EINVAL,
                         GPUDF_ENOSPC, GPUDF_ENAMETOOLONG, GPUDF_EBADMSG, GPUDF_EOVERFLOW,
                         GPUDF_ECANCELED, GPUDF_EOWNERDEAD})
    EXPECT_EQ(std::string(gpudf_status_str(s)).rfind("GPUDF_", 0), 0u) << s;
  EXPECT_NE(std::string(gpudf_status_str(GPUDF_EINVAL)).find("EINVAL"), std::string::npos);
  EXPECT_NE(std::string(gpudf_status_str((gpudf_status)9999)).find("unknown"), std::string::npos);
}

TEST(Api, LastErrorNamesTheCallAndTheProblem) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(0, &t), GPUDF_EINVAL);
  EXPECT_EQ(t, nullptr);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("gpudf_table_create"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at least 1 row"), std::string::npos) << msg;
}

// Work inside a call whose misses are expected (prepare looking for columns
// it has not derived yet, every create and share removing what dead
// processes left and passing over files that are no share) is no error: a
// call that succeeds leaves the message of the last one that failed.
TEST(Api, SucceedingCallsLeaveTheLastErrorAsItWas) {
  const char *dir = std::getenv("GPUDF_SHM_DIR");
  ASSERT_NE(dir, nullptr);
  std::string junk = std::string(dir) + "/gpudf-" + std::to_string(geteuid()) + "-notashare";
  FILE *f = std::fopen(junk.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not a descriptor", f);
  std::fclose(f);
  ASSERT_EQ(gpudf_table_create(0, nullptr), GPUDF_EINVAL);
  const std::string failed = gpudf_last_error();
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(300, &t), GPUDF_OK);
  std::vector<double> p(300);
  for (int i = 0; i < 300; i++) p[i] = 100 + std::sin(i * 0.1) * 5;
  ASSERT_EQ(gpudf_table_add_column(t, "p", GPUDF_TYPE_F64, p.data()), GPUDF_OK);
  double cfg[6] = {0, 3, 20, 0, 1, 252};
  ASSERT_EQ(gpudf_table_prepare(t, tg_kernel("ma_crossover"), cfg, 1), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_ncols(t), 3);
  gpudf_share *s = nullptr;
  ASSERT_EQ(gpudf_table_share(t, "quiet.errors", GPUDF_BACKEND_CPU, &s), GPUDF_OK);
  gpudf_table *v = nullptr;
  ASSERT_EQ(gpudf_attach("quiet.errors", &v), GPUDF_OK);
  EXPECT_EQ(failed, gpudf_last_error());
  gpudf_table_free(v);
  gpudf_share_close(s);
  gpudf_table_free(t);
  unlink(junk.c_str());
}

// Names starting with "__prefix." are what gpudf_table_prepare derives (a
// kernel reads such a column as its prefix sums): refused for user columns,
// where ma_crossover took a user's column of that name for its sums.
TEST(Table, DerivedColumnNamesAreReserved) {
  gpudf_table *t = nullptr;
  ASSERT_EQ(gpudf_table_create(5, &t), GPUDF_OK);
  const double p[5] = {1, 2, 3, 2, 1}, junk[5] = {9, 9, 9, 9, 9};
  ASSERT_EQ(gpudf_table_add_column(t, "p", GPUDF_TYPE_F64, p), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_column(t, "__prefix.p", GPUDF_TYPE_F64, junk), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("reserved"), std::string::npos)
      << gpudf_last_error();
  // The low parts of ma_crossover's two-double prefix sums.
  EXPECT_EQ(gpudf_table_add_column(t, "__prefix_lo.p", GPUDF_TYPE_F64, junk), GPUDF_EINVAL);
  EXPECT_NE(std::string(gpudf_last_error()).find("'__prefix_lo.'"), std::string::npos)
      << gpudf_last_error();
  const gpudf_kernel *k;
  ASSERT_EQ(gpudf_kernel_find("ma_crossover", &k), GPUDF_OK);
  double cfg[6] = {0, 1, 2, 0, 1, 252}, before[5], after[5];
  ASSERT_EQ(gpudf_run(t, k, cfg, 1, before), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_prepare(t, tg_kernel("ma_crossover"), cfg, 1), GPUDF_OK) << gpudf_last_error();
  EXPECT_EQ(gpudf_table_ncols(t), 3) << "prepare itself may add the derived columns";
  ASSERT_EQ(gpudf_run(t, k, cfg, 1, after), GPUDF_OK);
  for (int i = 0; i < 5; i++) EXPECT_EQ(before[i], after[i]) << "result " << i;
  // Its errors name it, not the calls it makes inside.
  EXPECT_EQ(gpudf_table_prepare(t, nullptr, cfg, 1), GPUDF_EINVAL);
  EXPECT_EQ(std::string(gpudf_last_error()).rfind("gpudf_table_prepare: ", 0), 0u)
      << gpudf_last_error();
  EXPECT_EQ(gpudf_table_prepare(t, tg_kernel("ma_crossover"), cfg, -1), GPUDF_EINVAL);
  EXPECT_EQ(std::string(gpudf_last_error()).rfind("gpudf_table_prepare: ", 0), 0u)
      << gpudf_last_error();
  gpudf_table_free(t);
}

TEST(Table, RejectsBadRowCounts) {
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_create(0, &t), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_create(-5, &t), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_create(INT64_MAX, &t), GPUDF_EOVERFLOW);
  EXPECT_EQ(gpudf_table_create(10, nullptr), GPUDF_EINVAL);
}

TEST(Table, ColumnsOfEveryTypeRoundTripAligned) {
  const int64_t n = 1003;  // not a multiple of anything convenient
  std::vector<int32_t> a(n);
  std::vector<int64_t> b(n);
  std::vector<float> c(n);
  std::vector<double> d(n);
  std::vector<uint8_t> e(n);
  for (int64_t i = 0; i < n; i++) {
    a[i] = (int32_t)(i * 7 - 3000);
    b[i] = (int64_t)i * 1000000007LL - (1LL << 40);
    c[i] = (float)i / 3.0f;
    d[i] = std::sin((double)i) * 1e6;
    e[i] = (uint8_t)(i % 3);  // 2 must be stored as 1
  }
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(n, &t), GPUDF_OK) << gpudf_last_error();
  ASSERT_EQ(gpudf_table_add_column(t, "a", GPUDF_TYPE_I32, a.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "b", GPUDF_TYPE_I64, b.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "c", GPUDF_TYPE_F32, c.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "d", GPUDF_TYPE_F64, d.data()), GPUDF_OK);
  ASSERT_EQ(gpudf_table_add_column(t, "e", GPUDF_TYPE_BOOL, e.data()), GPUDF_OK);
  EXPECT_EQ(gpudf_table_nrows(t), n);
  ASSERT_EQ(gpudf_table_ncols(t), 5);
  EXPECT_FALSE(gpudf_table_is_view(t));
  const char *names[] = {"a", "b", "c", "d", "e"};
  const gpudf_type types[] = {GPUDF_TYPE_I32, GPUDF_TYPE_I64, GPUDF_TYPE_F32, GPUDF_TYPE_F64,
                              GPUDF_TYPE_BOOL};
  int64_t arena = 0;
  for (int i = 0; i < 5; i++) {
    EXPECT_STREQ(gpudf_table_column_name(t, i), names[i]);
    EXPECT_EQ(gpudf_table_column_type(t, i), types[i]);
    EXPECT_EQ((uintptr_t)gpudf_table_column_data(t, i) % GPUDF_ALIGNMENT, 0u) << names[i];
    int idx = -1;
    EXPECT_EQ(gpudf_table_find_column(t, names[i], &idx), GPUDF_OK);
    EXPECT_EQ(idx, i);
    arena += (n * (int64_t)gpudf_type_size(types[i]) + 255) / 256 * 256;
  }
  EXPECT_EQ(gpudf_table_arena_bytes(t), arena);  // one arena, nothing else in it
  EXPECT_EQ(memcmp(gpudf_table_column_data(t, 0), a.data(), n * 4), 0);
  EXPECT_EQ(memcmp(gpudf_table_column_data(t, 1), b.data(), n * 8), 0);
  EXPECT_EQ(memcmp(gpudf_table_column_data(t, 2), c.data(), n * 4), 0);
  EXPECT_EQ(memcmp(gpudf_table_column_data(t, 3), d.data(), n * 8), 0);
  const uint8_t *ev = (const uint8_t *)gpudf_table_column_data(t, 4);
  for (int64_t i = 0; i < n; i++) ASSERT_EQ(ev[i], e[i] != 0) << i;
  // Out-of-range queries answer NULL/0 rather than crash.
  EXPECT_EQ(gpudf_table_column_name(t, 5), nullptr);
  EXPECT_EQ(gpudf_table_column_name(t, -1), nullptr);
  EXPECT_EQ(gpudf_table_column_type(t, 5), 0);
  EXPECT_EQ(gpudf_table_column_data(t, 99), nullptr);
  int idx;
  EXPECT_EQ(gpudf_table_find_column(t, "zz", &idx), GPUDF_ENOENT);
  EXPECT_NE(std::string(gpudf_last_error()).find("zz"), std::string::npos);
  gpudf_table_free(t);
}

TEST(Table, AllocColumnIsZeroFilledAndWritable) {
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(5000, &t), GPUDF_OK);
  void *p = nullptr;
  ASSERT_EQ(gpudf_table_alloc_column(t, "x", GPUDF_TYPE_F64, &p), GPUDF_OK);
  double *x = (double *)p;
  for (int i = 0; i < 5000; i++) ASSERT_EQ(x[i], 0.0);
  for (int i = 0; i < 5000; i++) x[i] = i;
  EXPECT_EQ(((const double *)gpudf_table_column_data(t, 0))[4999], 4999.0);
  gpudf_table_free(t);
}

TEST(Table, RejectsBadColumns) {
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(4, &t), GPUDF_OK);
  double v[4] = {1, 2, 3, 4};
  EXPECT_EQ(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v), GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_column(t, "v", GPUDF_TYPE_F64, v), GPUDF_EEXIST);
  EXPECT_NE(std::string(gpudf_last_error()).find("'v' already exists"), std::string::npos);
  EXPECT_EQ(gpudf_table_add_column(t, "", GPUDF_TYPE_F64, v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_add_column(t, nullptr, GPUDF_TYPE_F64, v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_add_column(t, std::string(64, 'n').c_str(), GPUDF_TYPE_F64, v),
            GPUDF_ENAMETOOLONG);
  EXPECT_EQ(gpudf_table_add_column(t, std::string(63, 'n').c_str(), GPUDF_TYPE_F64, v),
            GPUDF_OK);
  EXPECT_EQ(gpudf_table_add_column(t, "w", GPUDF_TYPE_F64, nullptr), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_add_column(t, "w", (gpudf_type)0, v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_add_column(t, "w", (gpudf_type)99, v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_add_column(nullptr, "w", GPUDF_TYPE_F64, v), GPUDF_EINVAL);
  EXPECT_EQ(gpudf_table_ncols(t), 2);  // failed calls changed nothing
  gpudf_table_free(t);
  gpudf_table_free(nullptr);  // harmless
}

TEST(Table, ColumnLimit) {
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(1, &t), GPUDF_OK);
  int32_t v = 7;
  for (int i = 0; i < GPUDF_MAX_COLUMNS; i++)
    ASSERT_EQ(gpudf_table_add_column(t, ("c" + std::to_string(i)).c_str(), GPUDF_TYPE_I32, &v),
              GPUDF_OK) << i << ": " << gpudf_last_error();
  EXPECT_EQ(gpudf_table_add_column(t, "one-more", GPUDF_TYPE_I32, &v), GPUDF_EINVAL);
  EXPECT_EQ(*(const int32_t *)gpudf_table_column_data(t, GPUDF_MAX_COLUMNS - 1), 7);
  gpudf_table_free(t);
}

// A table larger than the free space of /dev/shm is refused up front with a
// status that says the sizes and how to raise the limit: never a SIGBUS.
TEST(Table, LargerThanShmIsENOSPC) {
  gpudf_table *t;
  ASSERT_EQ(gpudf_table_create(int64_t(1) << 42, &t), GPUDF_OK);  // 32 TiB of f64
  EXPECT_EQ(gpudf_table_add_column(t, "huge", GPUDF_TYPE_F64, (const void *)"x"), GPUDF_ENOSPC);
  std::string msg = gpudf_last_error();
  EXPECT_NE(msg.find("32.0 TiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("free"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shm-size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the table's shared memory needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find(" in all) but "), std::string::npos) << msg;
  EXPECT_EQ(gpudf_table_ncols(t), 0);
  gpudf_table_free(t);
}

}  // namespace
