// test_cli.cc - gpudf-sweep run as a user would: CSV files written here, the
// binary spawned with posix_spawn, stdout/stderr/exit code captured, the
// output CSV checked against values computed independently in the test.
#include <gpudf.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

extern char **environ;

namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
};

std::string Slurp(const std::string &path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// One scratch directory per test process, removed when the process exits.
std::string &TmpDirName() {
  static std::string dir;
  return dir;
}

void RemoveTmpDir() {
  std::error_code ec;
  std::filesystem::remove_all(TmpDirName(), ec);
}

std::string TmpDir() {
  std::string &dir = TmpDirName();
  if (dir.empty()) {
    char tmpl[] = "/tmp/gpudf-cli-XXXXXX";
    dir = mkdtemp(tmpl);
    std::atexit(RemoveTmpDir);
  }
  return dir;
}

std::string WriteFile(const std::string &name, const std::string &text) {
  std::string path = TmpDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Runs gpudf-sweep; with stop_with, sends that signal once the sweep runs
// (its table line is out) plus 300 ms; ignoring_int: it starts with SIGINT
// ignored, as a background job of a shell does.
CliRun Sweep(std::vector<std::string> args, int stop_with = 0, bool ignoring_int = false,
             int stop_after_ms = 300) {
  static int seq = 0;
  std::string base = TmpDir() + "/run" + std::to_string(getpid()) + "_" + std::to_string(seq++);
  std::string outp = base + ".out", errp = base + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, outp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, errp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  args.insert(args.begin(), GPUDF_SWEEP_BIN);
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  CliRun r;
  struct sigaction ign = {}, old = {};
  ign.sa_handler = SIG_IGN;
  if (ignoring_int) sigaction(SIGINT, &ign, &old);  // inherited across exec
  int spawned = posix_spawn(&pid, GPUDF_SWEEP_BIN, &fa, nullptr, argv.data(), environ);
  if (ignoring_int) sigaction(SIGINT, &old, nullptr);
  if (spawned == 0) {
    int status = 0;
    if (stop_with) {
      for (int ms = 0; ms < 60000 && Slurp(outp).find("  table ") == std::string::npos; ms += 20)
        usleep(20000);
      usleep((useconds_t)stop_after_ms * 1000);
      kill(pid, stop_with);
    }
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = Slurp(outp);
  r.err = Slurp(errp);
  unlink(outp.c_str());
  unlink(errp.c_str());
  return r;
}

// Rows of a CSV as fields (no quoted commas in what we check).
std::vector<std::vector<std::string>> ParseCsv(const std::string &text) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream s(text);
  std::string line;
  while (std::getline(s, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string x;
    while (std::getline(ls, x, ',')) f.push_back(x);
    if (!line.empty() && line.back() == ',') f.push_back("");
    rows.push_back(f);
  }
  return rows;
}

int Col(const std::vector<std::string> &header, const std::string &name) {
  for (size_t i = 0; i < header.size(); i++)
    if (header[i] == name) return (int)i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

// A small table: a = 1..40, b = a * 0.25 - 3, k = a % 3, side = buy/sell.
std::string SmallCsv() {
  std::string s = "a,b,k,side\n";
  for (int a = 1; a <= 40; a++) {
    char line[128];
    snprintf(line, sizeof line, "%d,%.17g,%d,%s\n", a, a * 0.25 - 3, a % 3,
             a % 2 ? "buy" : "sell");
    s += line;
  }
  return s;
}

TEST(Cli, FilterAggMatchesIndependentSums) {
  std::string table = WriteFile("small.csv", SmallCsv());
  std::string out = TmpDir() + "/fa.csv";
  CliRun r = Sweep({"--table", table, "--kernel", "filter_agg", "--grid", "op=gt,le lo=0:40:7.5",
                 "--set", "filter_col=a", "--set", "value_col=b", "--workers", "2", "--out",
                 out, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(Slurp(out));
  ASSERT_EQ(rows.size(), 1u + 2 * 6);  // op x lo = 2 x 6 (0, 7.5, ..., 37.5)
  auto &h = rows[0];
  int op = Col(h, "op"), lo = Col(h, "lo"), cnt = Col(h, "count"), sum = Col(h, "sum"),
      st = Col(h, "status"), fc = Col(h, "filter_col"), vc = Col(h, "value_col");
  for (size_t i = 1; i < rows.size(); i++) {
    auto &row = rows[i];
    double l = std::strtod(row[lo].c_str(), nullptr);
    bool gt = row[op] == "gt";
    ASSERT_TRUE(gt || row[op] == "le");
    EXPECT_EQ(row[fc], "a");
    EXPECT_EQ(row[vc], "b");
    double c = 0, s = 0;
    for (int a = 1; a <= 40; a++)
      if (gt ? a > l : a <= l) c++, s += a * 0.25 - 3;
    EXPECT_EQ(std::strtod(row[cnt].c_str(), nullptr), c) << "row " << i;
    EXPECT_DOUBLE_EQ(std::strtod(row[sum].c_str(), nullptr), s) << "row " << i;
    EXPECT_EQ(row[st], "ok");
  }
}

TEST(Cli, GroupbyTopIsSortedAndCorrect) {
  std::string table = WriteFile("small_g.csv", SmallCsv());
  CliRun r = Sweep({"--table", table, "--kernel", "groupby_agg", "--grid", "lo=0,10,20,30",
                 "--set", "op=gt", "--set", "filter_col=a", "--set", "key_col=k", "--set",
                 "value_col=b", "--set", "groups=3", "--top", "2", "--by", "count_1", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  // count_1 = rows with a > lo and a % 3 == 1: lo=0 -> 14, lo=10 -> 10.
  EXPECT_NE(r.out.find("top 2 by count_1"), std::string::npos) << r.out;
  std::stringstream s(r.out);
  std::string line;
  std::vector<std::string> ranked;
  while (std::getline(s, line))
    if (line.size() > 4 && line.substr(0, 4) == "   1") ranked.push_back(line);
    else if (line.size() > 4 && line.substr(0, 4) == "   2") ranked.push_back(line);
  ASSERT_EQ(ranked.size(), 2u) << r.out;
  EXPECT_NE(ranked[0].find(" 14"), std::string::npos) << ranked[0];
  EXPECT_NE(ranked[1].find(" 10"), std::string::npos) << ranked[1];
  // Ascending puts lo=30 first (a in 31..40 with a % 3 == 1: 31 34 37 40).
  r = Sweep({"--table", table, "--kernel", "groupby_agg", "--grid", "lo=0,10,20,30", "--set",
             "op=gt", "--set", "filter_col=a", "--set", "key_col=k", "--set", "value_col=b",
             "--set", "groups=3", "--top", "1", "--by", "count_1", "--asc", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  4\n"), std::string::npos) << r.out;
}

TEST(Cli, GridProductWhereAndStdoutCsv) {
  CliRun r = Sweep({"--synthetic", "2000", "--grid", "fast=1:11:1 slow=5:55:5 mode=long_only,long_short",
                 "--where", "fast < slow and slow != 50", "--workers", "0", "--out", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(r.out);  // only the CSV on stdout
  int expect = 0;
  for (int f = 1; f < 11; f++)
    for (int s = 5; s < 55; s += 5)
      if (f < s && s != 50) expect += 2;
  ASSERT_EQ((int)rows.size(), 1 + expect);
  EXPECT_EQ(rows[0][0], "price_col");
  int fast = Col(rows[0], "fast"), slow = Col(rows[0], "slow");
  for (size_t i = 1; i < rows.size(); i++)
    EXPECT_LT(std::atof(rows[i][fast].c_str()), std::atof(rows[i][slow].c_str()));
  EXPECT_NE(r.err.find("configs"), std::string::npos);  // the summary went to stderr
}

// --out's configs read back through --configs give the same configs, also
// when table columns are named like numbers: a column parameter's cell is a
// column name first, as with --set (it was read as an index: "1" meant the
// column named "0").
TEST(Cli, OutReadsBackThroughConfigsWithNumericColumnNames) {
  std::string table = WriteFile("numeric_names.csv", "1,0\n5,100\n7,200\n9,300\n");
  std::string first = TmpDir() + "/numeric_first.csv", again = TmpDir() + "/numeric_again.csv";
  CliRun r = Sweep({"--table", table, "--kernel", "filter_agg", "--set", "filter_col=1",
                 "--set", "value_col=1", "--set", "op=all", "--out", first, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(Slurp(first));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][Col(rows[0], "sum")], "21");  // 5 + 7 + 9: the column named "1"
  // Only the parameters, as a configs file.
  std::string cfg = "filter_col,op,value_col\n" + rows[1][Col(rows[0], "filter_col")] + "," +
                    rows[1][Col(rows[0], "op")] + "," + rows[1][Col(rows[0], "value_col")] + "\n";
  r = Sweep({"--table", table, "--kernel", "filter_agg", "--configs",
             WriteFile("numeric_cfg.csv", cfg), "--out", again, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto back = ParseCsv(Slurp(again));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1][Col(back[0], "sum")], "21");
  EXPECT_EQ(back[1][Col(back[0], "value_col")], "1");
}

TEST(Cli, ConfigsFileAndSet) {
  std::string table = WriteFile("small_c.csv", SmallCsv());
  std::string cfg = WriteFile("cfg.csv", "op,lo,hi,value_col\nbetween,1,10,a\nlt,5,0,b\nall,0,0,a\n");
  std::string out = TmpDir() + "/cfg_out.csv";
  CliRun r = Sweep({"--table", table, "--kernel", "filter_agg", "--configs", cfg, "--set",
                 "filter_col=a", "--out", out, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(Slurp(out));
  ASSERT_EQ(rows.size(), 4u);
  int cnt = Col(rows[0], "count"), sum = Col(rows[0], "sum");
  EXPECT_EQ(rows[1][cnt], "10");
  EXPECT_EQ(rows[1][sum], "55");
  EXPECT_EQ(rows[2][cnt], "4");  // a < 5
  EXPECT_DOUBLE_EQ(std::atof(rows[2][sum].c_str()), (0.25 - 3) + (0.5 - 3) + (0.75 - 3) + (1 - 3));
  EXPECT_EQ(rows[3][cnt], "40");
  EXPECT_EQ(rows[3][sum], "820");
  // A configs column that is not a parameter.
  std::string bad = WriteFile("cfg_bad.csv", "op,nope\nall,1\n");
  r = Sweep({"--table", table, "--kernel", "filter_agg", "--configs", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("column 'nope' is not a parameter"), std::string::npos) << r.err;
}

TEST(Cli, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string msg;
  } cases[] = {
      {{"--foo"}, "gpudf-sweep: unknown flag --foo (see --help)"},
      {{"--synthetic", "100", "--grid", "fast=10:5:1"}, "is empty"},
      {{"--synthetic", "100", "--grid", "fast=1:5:0"}, "step must be > 0"},
      {{"--synthetic", "100", "--grid", "fast=1:x:1"}, "expected a number"},
      {{"--synthetic", "100", "--grid", "speed=1,2"}, "has no parameter 'speed'"},
      {{"--synthetic", "100", "--grid", "fast=1,2 slow=5", "--where", "fast < < slow"},
       "--where: at position 8"},
      {{"--synthetic", "100", "--grid", "fast=1,2 slow=5", "--where", "fast < slow or"},
       "expected 'and'"},
      {{"--synthetic", "100", "--grid", "fast=1,2 slow=5", "--where", "fats < slow"},
       "unknown parameter 'fats'"},
      {{"--kernel", "nope"}, "unknown kernel 'nope'"},
      {{"--describe", "nope"}, "unknown kernel 'nope'"},
      {{"--synthetic", "100", "--kernel", "filter_agg", "--set", "value_col=nocol"},
       "no column 'nocol'"},
      {{"--synthetic", "100", "--grid", "fast=1:10000:1 slow=2:10001:1"}, "more than the limit"},
      {{"--synthetic", "100", "--grid", "fast=1,2 slow=5", "--set", "fast=3"}, "also given by --set"},
      {{"--synthetic", "100", "--grid", "fast=10 slow=5"}, "must be less than"},
      {{"--synthetic"}, "--synthetic needs a value"},
      {{"--backend", "tpu"}, "unknown backend"},
  };
  for (auto &c : cases) {
    CliRun r = Sweep(c.args);
    EXPECT_EQ(r.code, 2) << c.args[0] << " " << r.err;
    EXPECT_NE(r.err.find(c.msg), std::string::npos) << "want '" << c.msg << "' in: " << r.err;
    EXPECT_NE(r.err.find("(see --help)"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(Cli, BadCsvIsARuntimeErrorWithItsPlace) {
  std::string bad = WriteFile("bad.csv", "a,b\n1,2\n3,x\n");
  CliRun r = Sweep({"--table", bad, "--kernel", "filter_agg", "--grid", "op=gt", "--set", "value_col=b",
                 "--set", "filter_col=a"});
  // b is inferred categorical here, so filter_agg over it is fine; force a
  // parse error with a short row instead.
  std::string bad2 = WriteFile("bad2.csv", "a,b\n1,2\n3\n");
  r = Sweep({"--table", bad2, "--kernel", "filter_agg"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("bad2.csv:3"), std::string::npos) << r.err;
  r = Sweep({"--table", TmpDir() + "/missing.csv"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("missing.csv"), std::string::npos) << r.err;
}

TEST(Cli, InfoCommands) {
  CliRun r = Sweep({"--list-kernels"});
  EXPECT_EQ(r.code, 0);
  for (const char *k : {"filter_agg", "groupby_agg", "histogram", "ma_crossover", "bootstrap"})
    EXPECT_NE(r.out.find(k), std::string::npos) << k;
  r = Sweep({"--describe", "ma_crossover"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("long_only,long_short"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sharpe"), std::string::npos);
  r = Sweep({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char *f : {"--table", "--synthetic", "--seed", "--kernel", "--grid", "--where",
                        "--configs", "--set", "--workers", "--backend", "--batch", "--timeout",
                        "--out", "--top", "--by", "--asc", "--quiet", "--list-kernels",
                        "--describe", "--version"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f;
  r = Sweep({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("gpudf-sweep ", 0), 0u);
}

TEST(Cli, DefaultGridOnSmallSynthetic) {
  CliRun r = Sweep({"--synthetic", "20000", "--workers", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2952 configs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top 10 by sharpe"), std::string::npos) << r.out;
  // The default placement is the best this machine has.
  const char *why;
  std::string best = gpudf_backend_available(GPUDF_BACKEND_CUDA_IPC, &why) ? "cuda-ipc" : "cpu";
  EXPECT_NE(r.out.find("placement " + best), std::string::npos) << r.out;
}

// The default job's data is one-second bars at 20% a year, annualized as
// such: over 200,000 bars (0.034 years) no config can return hundreds of
// percent or lose nearly everything. The data as it was (1% per bar, 252
// bars a year) gave total returns of 1e33 and drawdowns of 0.99999 at 10M
// bars, and at this size already returns above 100x. The summary says what
// the data is and what to do next.
TEST(Cli, DefaultJobIsRealisticAndSaysWhatItIs) {
  CliRun r = Sweep({"--synthetic", "200000", "--workers", "0", "--out", "-"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(r.out);
  ASSERT_EQ(rows.size(), 2953u);
  int ppy = Col(rows[0], "periods_per_year"), tr = Col(rows[0], "total_return"),
      dd = Col(rows[0], "max_drawdown"), fee = Col(rows[0], "fee_bps");
  for (size_t i = 1; i < rows.size(); i++) {
    EXPECT_EQ(std::atof(rows[i][ppy].c_str()), 23400.0 * 252) << i;
    if (std::atof(rows[i][fee].c_str()) != 0) continue;  // fees on 1-second bars: losses
    double ret = std::atof(rows[i][tr].c_str()), draw = std::atof(rows[i][dd].c_str());
    EXPECT_GT(ret, -0.5) << i;
    EXPECT_LT(ret, 1.0) << i;
    EXPECT_LT(draw, 0.5) << i;
  }
  EXPECT_NE(r.err.find("one-second bars"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("next:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--table"), std::string::npos) << r.err;
  // A periods_per_year of the user's own wins.
  r = Sweep({"--synthetic", "2000", "--grid", "fast=5 slow=20", "--set", "periods_per_year=252",
             "--workers", "0", "--out", "-", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  rows = ParseCsv(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][Col(rows[0], "periods_per_year")], "252");
}

// Messages a person reads: no library function names, a hint for a grid
// whose fast and slow cross, a warning that --quiet alone shows nothing,
// ranges without 2.22507e-308 or 1e+09.
TEST(Cli, MessagesForPeople) {
  CliRun r = Sweep({"--synthetic", "100", "--grid", "fast=10,20 slow=5,50"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.find("gpudf_validate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--where 'fast < slow'"), std::string::npos) << r.err;
  r = Sweep({"--table", WriteFile("short_row.csv", "a,b\n1,2\n3\n"), "--kernel", "filter_agg"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("short_row.csv:3"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("gpudf_"), std::string::npos) << r.err;
  r = Sweep({"--synthetic", "1000", "--grid", "fast=5 slow=20", "--workers", "0", "--quiet"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("nothing will be written"), std::string::npos) << r.err;
  for (int i = 0; i < gpudf_kernel_count(); i++) {
    r = Sweep({"--describe", gpudf_kernel_name(gpudf_kernel_at(i))});
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out.find("e-308"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("e+09"), std::string::npos) << r.out;
  }
}

// Ctrl-C or SIGTERM: the sweep stops, what finished is written, and the
// program ends by the signal (status 130 / 143), so `gpudf-sweep ... && next`
// does not go on as after a partial failure.
TEST(Cli, ASignalStopsTheSweepWritesItAndEndsByTheSignal) {
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::string out = TmpDir() + "/stopped.csv";
    CliRun r = Sweep({"--synthetic", "2000000", "--workers", "2", "--out", out}, sig);
    EXPECT_EQ(r.code, 128 + sig) << r.err;
    EXPECT_NE(r.out.find("cancelled"), std::string::npos) << r.out;
    auto rows = ParseCsv(Slurp(out));
    ASSERT_EQ(rows.size(), 2953u) << "the header and every config";
    int status = Col(rows[0], "status"), cancelled = 0, ok = 0;
    for (size_t i = 1; i < rows.size(); i++) {
      const std::string &s = rows[i][(size_t)status];
      EXPECT_TRUE(s == "ok" || s == "cancelled") << "row " << i << ": " << s;
      cancelled += s == "cancelled";
      ok += s == "ok";
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_GE(ok, 0);
    unlink(out.c_str());
  }
}

// Names in a directory (hidden ones too: the temporary output files).
std::vector<std::string> Entries(const std::string &dir) {
  std::vector<std::string> names;
  for (auto &e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Issue 16 item 11: --out into a folder that does not exist ran the whole
// sweep and then failed. Now the output is opened first, written to a
// temporary file next to it and renamed once whole: an error leaves an
// earlier file as it was and nothing else behind.
TEST(Cli, OutIsOpenedBeforeTheSweepAndReplacedWhole) {
  std::string bad = TmpDir() + "/no/such/dir/x.csv";
  CliRun r = Sweep({"--synthetic", "2000000", "--workers", "2", "--out", bad});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("cannot write '" + bad + "': No such file"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("configs"), std::string::npos) << "the sweep ran:\n" << r.out;

  std::string dir = TmpDir() + "/outdir";
  std::filesystem::create_directory(dir);
  std::string res = dir + "/res.csv";
  WriteFile("outdir/res.csv", "earlier\n");
  chmod(res.c_str(), 0640);
  r = Sweep({"--table", TmpDir() + "/missing.csv", "--kernel", "filter_agg", "--out", res});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(Slurp(res), "earlier\n");
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"res.csv"});

  std::string table = WriteFile("small_o.csv", SmallCsv());
  r = Sweep({"--table", table, "--kernel", "filter_agg", "--grid", "op=gt lo=0:40:10",
             "--set", "filter_col=a", "--set", "value_col=b", "--out", res, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(Slurp(res));
  ASSERT_EQ(rows.size(), 5u);
  int lo = Col(rows[0], "lo"), cnt = Col(rows[0], "count");
  for (size_t i = 1; i < rows.size(); i++)
    EXPECT_EQ(std::strtod(rows[i][cnt].c_str(), nullptr),
              40 - std::strtod(rows[i][lo].c_str(), nullptr)) << "row " << i;
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"res.csv"});
  struct stat st;
  ASSERT_EQ(stat(res.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "the earlier file's mode";

  // A device that is not a regular file is written in place; its write
  // error is a runtime error that says so.
  r = Sweep({"--table", table, "--kernel", "filter_agg", "--out", "/dev/full", "--quiet"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("error writing '/dev/full'"), std::string::npos) << r.err;
}

// Issue 16 item 14: each worker's first claim was half the sweep, and a
// stop kept nothing. Claims start small: a Ctrl-C 1.5 s into a sweep of
// several seconds writes the configs that finished, with their results,
// and the rest as cancelled without any.
TEST(Cli, ASignalPartWayWritesWhatFinished) {
  std::string out = TmpDir() + "/partway.csv";
  // The signal must land part way: after some configs finished and before
  // all did. On a loaded machine 1.5 s may be too early (nothing finished
  // yet) and on a fast one too late; such a run says nothing, and the
  // sweep runs again with the delay moved, up to five times.
  int delay = 1500, ok = 0, cancelled = 0, code = -1;
  for (int attempt = 0; attempt < 5 && (ok == 0 || cancelled == 0); attempt++) {
    if (attempt > 0) delay = ok == 0 ? delay * 2 : delay / 2;
    CliRun r = Sweep({"--synthetic", "1000000", "--workers", "2", "--out", out}, SIGINT, false,
                     delay);
    code = r.code;  // 0 when the sweep ended before the signal came
    EXPECT_TRUE(code == 128 + SIGINT || code == 0) << code << ": " << r.err;
    auto rows = ParseCsv(Slurp(out));
    ASSERT_EQ(rows.size(), 2953u) << "the header and every config";
    int status = Col(rows[0], "status"), sharpe = Col(rows[0], "sharpe");
    ok = cancelled = 0;
    for (size_t i = 1; i < rows.size(); i++) {
      const std::string &s = rows[i][(size_t)status];
      double v = std::strtod(rows[i][(size_t)sharpe].c_str(), nullptr);
      if (s == "ok") {
        ok++;
        EXPECT_TRUE(std::isfinite(v)) << "row " << i;
      } else {
        EXPECT_EQ(s, "cancelled") << "row " << i;
        EXPECT_TRUE(std::isnan(v)) << "row " << i;
        cancelled++;
      }
    }
  }
  EXPECT_GT(ok, 0) << "nothing finished before the signal, the last after " << delay << " ms";
  EXPECT_GT(cancelled, 0) << "everything finished before the signal at " << delay << " ms";
  EXPECT_EQ(code, 128 + SIGINT);
  unlink(out.c_str());
}

// A SIGINT the process ignores (nohup, a background job) stays ignored.
TEST(Cli, AnIgnoredSigintDoesNotStopTheSweep) {
  CliRun r = Sweep({"--synthetic", "300000", "--workers", "2", "--top", "1"}, SIGINT, true);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2952 ok, 0 failed, 0 timed out, 0 cancelled"), std::string::npos) << r.out;
}

// A price file as people have them: date,close,volume. The CSV reader makes
// date categorical (text labels); price_col used to default to column 0 and
// backtest the date codes ("150 ok", total_return NaN). The default is now
// the numeric column called close, and the results are those of a backtest
// of close computed here, in long double, from the file's text.
TEST(Cli, DefaultPriceColumnIsTheCloseNotTheTextDate) {
  std::mt19937_64 rng(std::random_device{}());
  std::normal_distribution<double> step(0.0, 0.012);
  const int n = 260;
  std::string csv = "date,close,volume\n";
  std::vector<long double> p;
  double level = 20.0 + (double)(rng() % 500);
  for (int i = 0; i < n; i++) {
    level *= 1.0 + step(rng);
    char line[128], price[64];
    snprintf(price, sizeof price, "%.4f", level);
    snprintf(line, sizeof line, "2023-%02d-%02d,%s,%d\n", 1 + i / 28, 1 + i % 28, price,
             (int)(rng() % 90000) + 1000);
    csv += line;
    p.push_back((long double)std::strtod(price, nullptr));
  }
  std::string table = WriteFile("prices.csv", csv), out = TmpDir() + "/ma.csv";
  CliRun r = Sweep({"--table", table, "--grid", "fast=2,3,5 slow=8,13,21", "--out", out,
                    "--workers", "0", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(Slurp(out));
  ASSERT_EQ(rows.size(), 10u);
  auto &h = rows[0];
  int pc = Col(h, "price_col"), fa = Col(h, "fast"), sl = Col(h, "slow"),
      tr = Col(h, "total_return"), sh = Col(h, "sharpe"), dd = Col(h, "max_drawdown"),
      td = Col(h, "trades"), ex = Col(h, "exposure"), st = Col(h, "status");
  for (size_t i = 1; i < rows.size(); i++) {
    auto &row = rows[i];
    EXPECT_EQ(row[(size_t)pc], "close");
    EXPECT_EQ(row[(size_t)st], "ok");
    int f = std::atoi(row[(size_t)fa].c_str()), s = std::atoi(row[(size_t)sl].c_str());
    auto sma = [&](int t, int w) {
      long double a = 0;
      for (int j = t - w + 1; j <= t; j++) a += p[(size_t)j];
      return a / w;
    };
    long double eq = 1, peak = 1, maxdd = 0, sum = 0, sumsq = 0, prev = 0, trades = 0, exposed = 0;
    std::vector<long double> R;
    for (int t = 0; t + 1 < n; t++) {
      long double sig = 0;
      if (t >= s - 1) {
        long double gap = sma(t, f) - sma(t, s);
        ASSERT_GT(std::fabs((double)gap), 1e-9 * (double)p[(size_t)t]) << "a near tie";
        sig = gap > 0 ? 1 : 0;
      }
      long double ret = sig * (p[(size_t)t + 1] / p[(size_t)t] - 1);
      trades += sig != prev, exposed += sig != 0, prev = sig;
      R.push_back(ret);
      sum += ret;
      eq *= 1 + ret;
      if (eq > peak) peak = eq;
      if (1 - eq / peak > maxdd) maxdd = 1 - eq / peak;
    }
    long double mean = sum / (long double)R.size();
    for (long double x : R) sumsq += (x - mean) * (x - mean);
    long double sd = std::sqrt(sumsq / (long double)(R.size() - 1));
    auto got = [&](int c) { return std::strtod(row[(size_t)c].c_str(), nullptr); };
    SCOPED_TRACE("fast " + std::to_string(f) + " slow " + std::to_string(s));
    EXPECT_NEAR(got(tr), (double)(eq - 1), 1e-12 + 1e-10 * std::fabs((double)(eq - 1)));
    EXPECT_NEAR(got(dd), (double)maxdd, 1e-12);
    EXPECT_EQ(got(td), (double)trades);
    EXPECT_NEAR(got(ex), (double)(exposed / (long double)R.size()), 1e-15);
    ASSERT_GT(sd, 0);
    EXPECT_NEAR(got(sh), (double)(mean / sd * std::sqrt(252.0L)), 1e-9);
  }
  // Given by name, the text column is refused with its name and exit 2.
  r = Sweep({"--table", table, "--set", "price_col=date", "--quiet"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find("column 'date'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("text labels"), std::string::npos) << r.err;
}

// The file: a,b / 1,2 / 3,4 / 5,abc; filter_agg summed b's codes.
TEST(Cli, ATextValueColumnIsRefused) {
  std::string table = WriteFile("ab.csv", "a,b\n1,2\n3,4\n5,abc\n");
  CliRun r = Sweep({"--table", table, "--kernel", "filter_agg", "--set", "value_col=b",
                    "--quiet"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find("'value_col' = 1 is column 'b'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("text labels"), std::string::npos) << r.err;
  r = Sweep({"--table", table, "--kernel", "filter_agg", "--set", "filter_col=b", "--set",
             "op=gt", "--quiet"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find("column 'b'"), std::string::npos) << r.err;
}

// No column of a type the parameter takes: exit 2, naming the parameter and
// every column with its type.
TEST(Cli, NoColumnOfAnAcceptedTypeExits2NamingTheColumns) {
  std::string text = WriteFile("text.csv", "date,sym,flag\n2024-01-01,A,true\n2024-01-02,B,false\n");
  CliRun r = Sweep({"--table", text, "--quiet"});
  EXPECT_EQ(r.code, 2) << r.out;
  for (const char *part : {"'price_col'", "date (categorical)", "sym (categorical)", "flag (bool)"})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " in: " << r.err;
  // bool is a number (0/1) to count in histogram bins, not a price.
  r = Sweep({"--table", text, "--kernel", "histogram", "--quiet"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::string labels = WriteFile("labels.csv", "date,sym\n2024-01-01,A\n2024-01-02,B\n");
  r = Sweep({"--table", labels, "--kernel", "filter_agg", "--quiet"});
  EXPECT_EQ(r.code, 2) << r.out;
  for (const char *part : {"'value_col'", "date (categorical)", "sym (categorical)"})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " in: " << r.err;
}

}  // namespace

// A long table (symbol,close with the symbols in runs): ma_crossover depends
// on row order, so without --series the sweep is refused naming the column
// (exit 2); --series symbol gives one row per config and symbol, each
// backtested on its own rows (the library's tests check the numbers), and
// --series none reads the rows as one series.
TEST(Cli, ALongTableNeedsSeriesAndGetsOneRowPerSymbol) {
  std::string text = "symbol,close\n";
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 40; i++)
      text += std::string(s ? "BBB," : "AAA,") + std::to_string((s ? 350 : 100) + (i * 7 % 11)) + "\n";
  std::string path = WriteFile("long.csv", text);
  std::vector<std::string> base = {"--table", path, "--kernel", "ma_crossover", "--grid",
                                   "fast=3,5 slow=10", "--out", "-", "--quiet"};
  CliRun refused = Sweep(base);
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("column 'symbol'"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--series symbol"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");
  std::vector<std::string> named = base;
  named.insert(named.end(), {"--series", "symbol"});
  CliRun r = Sweep(named);
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = ParseCsv(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;  // header + 2 configs x 2 symbols
  int series = Col(rows[0], "series"), status = Col(rows[0], "status");
  EXPECT_EQ(rows[1][series], "AAA");
  EXPECT_EQ(rows[2][series], "BBB");
  for (size_t i = 1; i < rows.size(); i++) EXPECT_EQ(rows[i][status], "ok") << r.out;
  std::vector<std::string> none = base;
  none.insert(none.end(), {"--series", "none"});
  CliRun one = Sweep(none);
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(ParseCsv(one.out).size(), 3u) << one.out;
}

// An export ORDER BY date, symbol (the symbols interleaved, ISO dates):
// refused without --series (the labels cycle), run per symbol in date order
// with --series symbol --time date; the aggregates across symbols per
// config (--summary, --top's default ranking) follow from the rows; a date
// column in another format is refused with --time, saying which works.
TEST(Cli, AnInterleavedDatedExportRunsPerSymbolInDateOrderWithAggregates) {
  std::string text = "date,symbol,close\n", us = "date,symbol,close\n";
  for (int d = 0; d < 40; d++)
    for (int s = 0; s < 3; s++) {
      if (s == 2 && d < 28) continue;  // CCC: 12 bars, shorter than slow = 15
      char iso[16], mdy[16];
      snprintf(iso, sizeof iso, "2024-%02d-%02d", 1 + d / 28, 1 + d % 28);
      snprintf(mdy, sizeof mdy, "%02d/%02d/2024", 1 + d / 28, 1 + d % 28);
      std::string row = std::string(",") + "ABC"[s] + "XX," +
                        std::to_string(100 + 50 * s + (d * (7 + s) % 11)) + "\n";
      text += iso + row;
      us += mdy + row;
    }
  std::string path = WriteFile("dated.csv", text), summary = TmpDir() + "/summary.csv";
  std::vector<std::string> base = {"--table", path, "--grid", "fast=3,5 slow=10,15",
                                   "--out", "-", "--quiet"};
  CliRun refused = Sweep(base);
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("column 'symbol'"), std::string::npos) << refused.err;
  std::vector<std::string> named = base;
  named.insert(named.end(), {"--series", "symbol", "--time", "date", "--summary", summary});
  CliRun r = Sweep(named);
  ASSERT_EQ(r.code, 1) << r.err;  // CCC fails slow = 15: those rows only
  auto rows = ParseCsv(r.out);
  ASSERT_EQ(rows.size(), 1u + 4 * 3) << r.out;
  int ser = Col(rows[0], "series"), st = Col(rows[0], "status"), sh = Col(rows[0], "sharpe"),
      tr = Col(rows[0], "total_return");
  auto sums = ParseCsv(Slurp(summary));
  ASSERT_EQ(sums.size(), 1u + 4) << Slurp(summary);
  int ms = Col(sums[0], "mean_sharpe"), md = Col(sums[0], "median_sharpe"),
      pos = Col(sums[0], "positive"), ok = Col(sums[0], "series_ok");
  for (int k = 0; k < 4; k++) {
    std::vector<double> s;
    int positive = 0, done = 0;
    for (int q = 0; q < 3; q++) {
      const auto &row = rows[1 + k * 3 + q];
      EXPECT_EQ(row[ser], std::string(1, "ABC"[q]) + "XX");
      if (row[st] != "ok") continue;
      done++;
      positive += std::stod(row[tr]) > 0;
      if (std::isfinite(std::stod(row[sh]))) s.push_back(std::stod(row[sh]));
    }
    std::sort(s.begin(), s.end());
    double mean = 0;
    for (double v : s) mean += v / (double)s.size();
    double median = s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
    EXPECT_NEAR(std::stod(sums[1 + k][ms]), mean, 1e-12 * (1 + std::fabs(mean)));
    EXPECT_NEAR(std::stod(sums[1 + k][md]), median, 1e-12 * (1 + std::fabs(median)));
    EXPECT_EQ(std::stod(sums[1 + k][pos]), (double)positive / done);
    EXPECT_EQ(std::stod(sums[1 + k][ok]), (double)done);
  }
  // --plot over one swept parameter: a heatmap of sharpe over series (y)
  // and fast (x), one cell per (config, series) row that finished, each
  // cell that row's value.
  std::string svg = TmpDir() + "/series.svg", csv = TmpDir() + "/series_rows.csv";
  CliRun pr = Sweep({"--table", path, "--grid", "fast=3,4,5", "--set", "slow=10", "--series",
                     "symbol", "--time", "date", "--plot", svg, "--out", csv, "--quiet"});
  ASSERT_EQ(pr.code, 0) << pr.err;
  auto prow = ParseCsv(Slurp(csv));
  std::map<std::pair<std::string, std::string>, std::string> want;
  int pf = Col(prow[0], "fast"), ps = Col(prow[0], "series"), psh = Col(prow[0], "sharpe");
  for (size_t i = 1; i < prow.size(); i++) want[{prow[i][ps], prow[i][pf]}] = prow[i][psh];
  std::string pic = Slurp(svg);
  EXPECT_NE(pic.find(">sharpe over series and fast<"), std::string::npos) << pic.substr(0, 600);
  std::regex cell("class=\"cell\"[^>]*data-x=\"([^\"]*)\" data-y=\"([^\"]*)\" "
                  "data-value=\"([^\"]*)\"");
  size_t cells = 0;
  for (std::sregex_iterator it(pic.begin(), pic.end(), cell), end; it != end; ++it, ++cells) {
    auto key = std::make_pair((*it)[2].str(), (*it)[1].str());
    ASSERT_TRUE(want.count(key)) << key.first << " " << key.second;
    double got = std::stod((*it)[3].str()), ref = std::stod(want[key]);
    EXPECT_TRUE(got == ref || (std::isnan(got) && std::isnan(ref)))
        << key.first << " " << key.second << ": " << got << " vs " << ref;
  }
  EXPECT_EQ(cells, 9u);
  // --top ranks configs by mean_sharpe by default; --rank rows ranks rows.
  CliRun top = Sweep({"--table", path, "--grid", "fast=3,5 slow=10,15", "--series", "symbol",
                      "--time", "date", "--top", "2", "--quiet"});
  EXPECT_NE(top.out.find("top 2 configs across series by mean_sharpe"), std::string::npos)
      << top.out;
  CliRun rowsr = Sweep({"--table", path, "--grid", "fast=3,5 slow=10,15", "--series", "symbol",
                        "--top", "2", "--rank", "rows", "--quiet"});
  EXPECT_NE(rowsr.out.find("top 2 (config, series) rows by sharpe"), std::string::npos)
      << rowsr.out;
  EXPECT_NE(rowsr.out.find("series"), std::string::npos) << rowsr.out;
  CliRun by = Sweep({"--table", path, "--grid", "fast=3 slow=10", "--series", "symbol",
                     "--top", "2", "--by", "total_return", "--quiet"});
  EXPECT_EQ(by.code, 2) << by.err;
  EXPECT_NE(by.err.find("--rank rows"), std::string::npos) << by.err;
  // Dates as MM/DD/YYYY do not sort as time: refused, saying what works.
  std::string bad = WriteFile("dated_us.csv", us);
  CliRun usr = Sweep({"--table", bad, "--grid", "fast=3 slow=10", "--series", "symbol",
                      "--time", "date", "--top", "1", "--quiet"});
  EXPECT_EQ(usr.code, 2) << usr.err;
  EXPECT_NE(usr.err.find("column 'date'"), std::string::npos) << usr.err;
  EXPECT_NE(usr.err.find("YYYY-MM-DD"), std::string::npos) << usr.err;
  CliRun alone = Sweep({"--table", path, "--time", "date", "--quiet"});
  EXPECT_EQ(alone.code, 2) << alone.err;
  EXPECT_NE(alone.err.find("needs --series COL"), std::string::npos) << alone.err;
}

// With --time the summary has the equal-weight portfolio of each config
// (portfolio_return, portfolio_sharpe, portfolio_bars: the dates where some
// finished symbol has a bar return), and --by portfolio_sharpe ranks configs
// by it; without --time those columns are NaN and --by portfolio_sharpe is
// refused (exit 2) naming --time. Its numbers are checked against pandas in
// tests/python/test_sweep_series.py.
TEST(Cli, WithTimeTheSummaryHasTheEqualWeightPortfolio) {
  std::string text = "date,symbol,close\n";
  for (int d = 0; d < 40; d++)
    for (int s = 0; s < 3; s++) {
      if (s == 2 && d < 28) continue;  // CCC: 12 bars, shorter than slow = 15
      char iso[16];
      snprintf(iso, sizeof iso, "2024-%02d-%02d", 1 + d / 28, 1 + d % 28);
      text += std::string(iso) + "," + "ABC"[s] + "XX," +
              std::to_string(100 + 50 * s + (d * (7 + s) % 11)) + "\n";
    }
  std::string path = WriteFile("dated_pf.csv", text), summary = TmpDir() + "/summary_pf.csv";
  CliRun r = Sweep({"--table", path, "--grid", "fast=3,5 slow=10,15", "--series", "symbol",
                    "--time", "date", "--summary", summary, "--by", "portfolio_sharpe",
                    "--top", "4", "--quiet"});
  ASSERT_EQ(r.code, 1) << r.err;  // CCC fails slow = 15
  EXPECT_NE(r.out.find("top 4 configs across series by portfolio_sharpe"), std::string::npos)
      << r.out;
  auto sums = ParseCsv(Slurp(summary));
  ASSERT_EQ(sums.size(), 1u + 4) << Slurp(summary);
  int pr = Col(sums[0], "portfolio_return"), ps = Col(sums[0], "portfolio_sharpe"),
      pb = Col(sums[0], "portfolio_bars"), slow = Col(sums[0], "slow");
  std::vector<double> sharpes;
  for (int k = 0; k < 4; k++) {
    EXPECT_TRUE(std::isfinite(std::stod(sums[1 + k][pr]))) << sums[1 + k][pr];
    EXPECT_TRUE(std::isfinite(std::stod(sums[1 + k][ps]))) << sums[1 + k][ps];
    // 40 dates, 39 with a return (AAA and BBB have one on every date after the first).
    EXPECT_EQ(sums[1 + k][pb], "39") << sums[1 + k][slow];
    sharpes.push_back(std::stod(sums[1 + k][ps]));
  }
  // The top table lists the best portfolio Sharpe first.
  std::sort(sharpes.begin(), sharpes.end());
  char best[64];
  snprintf(best, sizeof best, "%.6g", sharpes.back());
  size_t title = r.out.find("top 4"), header = r.out.find('\n', title);
  size_t first = r.out.find('\n', header + 1), end = r.out.find('\n', first + 1);
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_NE(r.out.substr(first, end - first).find(best), std::string::npos) << best << "\n"
                                                                             << r.out;
  // Without --time: NaN, and ranking by it is refused.
  CliRun nt = Sweep({"--table", path, "--grid", "fast=3 slow=10", "--series", "symbol",
                     "--summary", summary, "--quiet"});
  ASSERT_EQ(nt.code, 0) << nt.err;
  auto nsum = ParseCsv(Slurp(summary));
  ASSERT_EQ(nsum.size(), 2u);
  EXPECT_TRUE(std::isnan(std::stod(nsum[1][Col(nsum[0], "portfolio_sharpe")])));
  CliRun by = Sweep({"--table", path, "--grid", "fast=3 slow=10", "--series", "symbol",
                     "--by", "portfolio_sharpe", "--quiet"});
  EXPECT_EQ(by.code, 2) << by.err;
  EXPECT_NE(by.err.find("needs --time COL"), std::string::npos) << by.err;
}
