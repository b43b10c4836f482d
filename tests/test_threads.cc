// The library from several threads of one process at once: attaching one
// share (the mapping is reused under a lock), running kernels on one view,
// sharing and attaching tables of their own, registering kernels while
// others look them up, reading CSV files, and per-thread error messages.
// The library starts no threads itself; these tests are what gives the
// ThreadSanitizer pass of tests/run.sh something to check, and they check
// results too, so they mean something without it.
#include <gpudf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 6;

template <class F>
void RunThreads(int n, F f) {
  std::vector<std::thread> ts;
  for (int i = 0; i < n; i++) ts.emplace_back(f, i);
  for (auto &t : ts) t.join();
}

// A table of rows rows: "x" f64 (a sawtooth with NaN), "key" i32.
gpudf_table *MakeTable(int64_t rows, int salt) {
  gpudf_table *t = nullptr;
  if (gpudf_table_create(rows, &t) != GPUDF_OK) return nullptr;
  std::vector<double> x(rows);
  std::vector<int32_t> key(rows);
  for (int64_t i = 0; i < rows; i++) {
    x[i] = i % 97 == 5 ? NAN : (double)((i * 31 + salt) % 1000) / 10.0 - 50.0;
    key[i] = (int32_t)(i % 7);
  }
  if (gpudf_table_add_column(t, "x", GPUDF_TYPE_F64, x.data()) != GPUDF_OK ||
      gpudf_table_add_column(t, "key", GPUDF_TYPE_I32, key.data()) != GPUDF_OK) {
    gpudf_table_free(t);
    return nullptr;
  }
  return t;
}

// filter_agg configs: filter_col op lo hi value_col, a few ops and bounds.
std::vector<double> Configs() {
  return {0, 3, 0.0, 0.0, 0,   // x > 0
          0, 7, -10.0, 10.0, 1, // -10 <= x <= 10, aggregate key
          1, 5, 3.0, 0.0, 0,   // key == 3, aggregate x
          0, 0, 0.0, 0.0, 0};  // all
}

bool SameResults(const std::vector<double> &a, const std::vector<double> &b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

std::vector<double> RunFilterAgg(const gpudf_table *t, const std::vector<double> &cfg) {
  const gpudf_kernel *k = nullptr;
  if (gpudf_kernel_find("filter_agg", &k) != GPUDF_OK) return {};
  int64_t n = (int64_t)cfg.size() / gpudf_kernel_nparams(k);
  std::vector<double> r((size_t)n * gpudf_kernel_nresults(k, nullptr));
  if (gpudf_run(t, k, cfg.data(), n, r.data()) != GPUDF_OK) return {};
  return r;
}

// A table of MakeTable shared on cpu as stem-<pid>.
void MakeShared(const char *stem, int64_t rows, int salt, gpudf_table **t, gpudf_share **s,
                std::string *name) {
  *t = MakeTable(rows, salt);
  ASSERT_NE(*t, nullptr) << gpudf_last_error();
  *name = std::string(stem) + "-" + std::to_string(getpid());
  ASSERT_EQ(gpudf_table_share(*t, name->c_str(), GPUDF_BACKEND_CPU, s), GPUDF_OK)
      << gpudf_last_error();
}

TEST(Threads, AttachRunAndDetachOneShare) {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  ASSERT_NO_FATAL_FAILURE(MakeShared("threads", 30000, 1, &t, &s, &name));
  const std::vector<double> cfg = Configs(), want = RunFilterAgg(t, cfg);
  ASSERT_FALSE(want.empty()) << gpudf_last_error();
  std::atomic<int> bad{0};
  // Every thread attaches, runs and detaches over and over, so that the
  // shared mapping is made, reused, left idle and taken back while others
  // use it; in every other thread one view also lives across all its
  // iterations.
  gpudf_unmap_idle();
  RunThreads(kThreads, [&](int id) {
    gpudf_table *keep = nullptr;
    if (id % 2 == 0 && gpudf_attach(name.c_str(), &keep) != GPUDF_OK) bad++;
    for (int it = 0; it < 8; it++) {
      gpudf_table *v = nullptr;
      if (gpudf_attach(name.c_str(), &v) != GPUDF_OK) {
        bad++;
        continue;
      }
      if (!SameResults(RunFilterAgg(v, cfg), want)) bad++;
      gpudf_table_free(v);
    }
    if (keep && !SameResults(RunFilterAgg(keep, cfg), want)) bad++;
    gpudf_table_free(keep);
  });
  EXPECT_EQ(bad.load(), 0);
  gpudf_share_close(s);
  gpudf_table_free(t);
}

// No view lives long here: the last one of the share is freed again and
// again, so its mapping goes idle and is taken back by whichever thread
// attaches next, while the others free theirs.
TEST(Threads, IdleMappingTakenBackWhileOthersFreeTheirViews) {
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name;
  ASSERT_NO_FATAL_FAILURE(MakeShared("threads-idle", 2000, 3, &t, &s, &name));
  const double want = ((const double *)gpudf_table_column_data(t, 0))[1999];
  gpudf_unmap_idle();
  std::atomic<int> bad{0};
  RunThreads(kThreads, [&](int) {
    for (int it = 0; it < 200; it++) {
      gpudf_table *v = nullptr;
      if (gpudf_attach(name.c_str(), &v) != GPUDF_OK) {
        bad++;
        continue;
      }
      if (((const double *)gpudf_table_column_data(v, 0))[1999] != want) bad++;
      gpudf_table_free(v);
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(gpudf_unmap_idle(), 1);  // one mapping of the share, whatever the threads did
  gpudf_share_close(s);
  gpudf_table_free(t);
}

TEST(Threads, EachThreadSharesAndAttachesItsOwnTable) {
  std::atomic<int> bad{0};
  RunThreads(kThreads, [&](int id) {
    for (int it = 0; it < 3; it++) {
      gpudf_table *t = MakeTable(5000 + id, id + it);
      gpudf_share *s = nullptr;
      gpudf_table *v = nullptr;
      // NULL: a unique name per share, made under concurrency.
      if (!t || gpudf_table_share(t, nullptr, GPUDF_BACKEND_CPU, &s) != GPUDF_OK ||
          gpudf_attach(gpudf_share_name(s), &v) != GPUDF_OK ||
          gpudf_table_nrows(v) != 5000 + id || !SameResults(RunFilterAgg(v, Configs()), RunFilterAgg(t, Configs())))
        bad++;
      gpudf_table_free(v);
      gpudf_share_close(s);
      gpudf_table_free(t);
    }
  });
  EXPECT_EQ(bad.load(), 0);
}

gpudf_status CountRows(const gpudf_table *t, const double *, int64_t n, double *out) {
  for (int64_t i = 0; i < n; i++) out[i] = (double)gpudf_table_nrows(t);
  return GPUDF_OK;
}

TEST(Threads, RegisterKernelsWhileOthersLookThemUp) {
  static const gpudf_result_info field = {"rows", "rows of the table"};
  static std::string names[kThreads / 2];
  const int before = gpudf_kernel_count();
  std::atomic<int> bad{0};
  RunThreads(kThreads, [&](int id) {
    if (id % 2 == 0) {
      names[id / 2] = "threads_rows_" + std::to_string(getpid()) + "_" + std::to_string(id);
      gpudf_kernel_def def;
      gpudf_kernel_def_init(&def);
      def.name = names[id / 2].c_str();
      def.nfields = 1;
      def.fields = &field;
      def.run_cpu = CountRows;
      if (gpudf_kernel_register(&def, nullptr) != GPUDF_OK) bad++;
      return;
    }
    // Readers: every kernel listed has a name that finds it again.
    for (int it = 0; it < 200; it++) {
      int n = gpudf_kernel_count();
      for (int i = 0; i < n; i++) {
        const gpudf_kernel *k = gpudf_kernel_at(i), *f = nullptr;
        if (!k || gpudf_kernel_find(gpudf_kernel_name(k), &f) != GPUDF_OK || f != k) bad++;
      }
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(gpudf_kernel_count(), before + kThreads / 2);
  gpudf_table *t = MakeTable(123, 0);
  ASSERT_NE(t, nullptr);
  for (const auto &n : names) {
    const gpudf_kernel *k = nullptr;
    ASSERT_EQ(gpudf_kernel_find(n.c_str(), &k), GPUDF_OK) << n;
    double r = 0, none = 0;  // a config of no parameters
    EXPECT_EQ(gpudf_run(t, k, &none, 1, &r), GPUDF_OK) << gpudf_last_error();
    EXPECT_EQ(r, 123.0);
  }
  gpudf_table_free(t);
}

TEST(Threads, ReadCsvAtOnce) {
  std::string path = "/tmp/gpudf-threads-" + std::to_string(getpid()) + ".csv";
  FILE *f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fprintf(f, "i,v,flag,city\n");
  const int rows = 2000;
  for (int i = 0; i < rows; i++)
    std::fprintf(f, "%d,%.3f,%s,%s\n", i, i * 0.25, i % 3 ? "true" : "false",
                 i % 4 == 0 ? "Paris" : i % 4 == 1 ? "Lyon" : i % 4 == 2 ? "" : "Nice");
  std::fclose(f);
  std::atomic<int> bad{0};
  RunThreads(kThreads, [&](int) {
    for (int it = 0; it < 3; it++) {
      gpudf_table *t = nullptr;
      if (gpudf_table_read_csv(path.c_str(), nullptr, &t) != GPUDF_OK) {
        bad++;
        continue;
      }
      const double *v = (const double *)gpudf_table_column_data(t, 1);
      if (gpudf_table_nrows(t) != rows || gpudf_table_ncols(t) != 4 ||
          gpudf_table_column_nlabels(t, 3) != 3 || !v || v[rows - 1] != (rows - 1) * 0.25)
        bad++;
      gpudf_table_free(t);
    }
  });
  std::remove(path.c_str());
  EXPECT_EQ(bad.load(), 0);
}

TEST(Threads, ErrorMessagesStayWithTheirThread) {
  std::atomic<int> bad{0};
  RunThreads(kThreads, [&](int id) {
    std::string mine = "no_such_kernel_" + std::to_string(id);
    for (int it = 0; it < 300; it++) {
      const gpudf_kernel *k = nullptr;
      if (gpudf_kernel_find(mine.c_str(), &k) != GPUDF_ENOENT ||
          std::string(gpudf_last_error()).find(mine + "'") == std::string::npos)
        bad++;
    }
  });
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
