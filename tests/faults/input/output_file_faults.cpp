// `triage report -o FILE`: the report names processes and addresses, so the file is 0600 whatever
// the umask, and a symlink or hard link planted at FILE never lets triage write somewhere else.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "input_support.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "scratch_dir.h"

using namespace triage;
using faults::read_file;
using faults::run_triage;
using faults::write_file;

namespace {

// A closed recording of a 2 s window that started at 1000 ns (the fixture's start); a test puts
// its output files beside it, in fx.dir().
std::string small_recording(test::RecordingFixture &fx) {
  fx.writer().set_meta("end_ns", 2'000'001'000);
  fx.close();
  return fx.path();
}

mode_t mode_of(const std::string &path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Runs with umask 0 so that only triage's own choice of mode shows.
struct UmaskZero {
  UmaskZero() : old(umask(0)) {}
  ~UmaskZero() { umask(old); }
  mode_t old;
};

}  // namespace

TEST_CASE("output file: created 0600 even with umask 0, and replaced files become 0600") {
  UmaskZero guard;
  test::RecordingFixture fx(1000);
  auto db = small_recording(fx);
  const ScratchDir &dir = fx.dir();
  for (const char *format : {"text", "json", "html"}) {
    auto out = dir.file(std::string("new.") + format);
    auto run = run_triage({"report", db, "--format", format, "-o", out});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(mode_of(out) == 0600);
  }
  // An existing world-readable file is replaced by a private one, not rewritten in place.
  auto existing = dir.file("existing.txt");
  write_file(existing, "old");
  chmod(existing.c_str(), 0644);
  REQUIRE(run_triage({"report", db, "-o", existing}).exit_code == 0);
  CHECK(mode_of(existing) == 0600);
  CHECK(read_file(existing).find("triage report") == 0);
  // No temporary file is left next to it.
  int entries = 0;
  for ([[maybe_unused]] auto &e : std::filesystem::directory_iterator(dir.path)) entries++;
  CHECK(entries == 5);  // r.db, new.text, new.json, new.html, existing.txt
}

TEST_CASE("output file: a planted symlink is refused with exit 2 and its target untouched") {
  UmaskZero guard;
  test::RecordingFixture fx(1000);
  auto db = small_recording(fx);
  const ScratchDir &dir = fx.dir();
  auto victim = dir.file("victim");
  write_file(victim, "precious");
  chmod(victim.c_str(), 0644);
  auto planted = dir.file("report.txt");
  REQUIRE(symlink(victim.c_str(), planted.c_str()) == 0);
  auto run = run_triage({"report", db, "-o", planted});
  INFO(run.err);
  CHECK(run.exit_code == 2);
  CHECK(faults::line_count(run.err) == 1);
  CHECK(run.err.find("symbolic link") != std::string::npos);
  CHECK(read_file(victim) == "precious");
  CHECK(mode_of(victim) == 0644);

  // A dangling symlink (the target would be created) is refused the same way.
  auto dangling = dir.file("dangling.txt");
  REQUIRE(symlink(dir.file("would-be-created").c_str(), dangling.c_str()) == 0);
  CHECK(run_triage({"report", db, "-o", dangling}).exit_code == 2);
  CHECK(access(dir.file("would-be-created").c_str(), F_OK) != 0);
}

TEST_CASE("output file: a hard link to another file is replaced, the other file untouched") {
  test::RecordingFixture fx(1000);
  auto db = small_recording(fx);
  const ScratchDir &dir = fx.dir();
  auto victim = dir.file("victim");
  write_file(victim, "precious");
  auto linked = dir.file("report.txt");
  REQUIRE(link(victim.c_str(), linked.c_str()) == 0);
  REQUIRE(run_triage({"report", db, "-o", linked}).exit_code == 0);
  CHECK(read_file(victim) == "precious");
  CHECK(read_file(linked).find("triage report") == 0);
}

TEST_CASE("output file: a directory, or a missing directory, is exit 2 with one line") {
  test::RecordingFixture fx(1000);
  auto db = small_recording(fx);
  const ScratchDir &dir = fx.dir();
  for (const std::string &target : {dir.path, dir.file("missing/dir/out.txt")}) {
    auto run = run_triage({"report", db, "-o", target});
    INFO(target << ": " << run.err);
    CHECK(run.exit_code == 2);
    CHECK(faults::line_count(run.err) == 1);
  }
}

TEST_CASE("output file: the recording itself is created 0600 and never through a symlink") {
  UmaskZero guard;
  test::RecordingFixture fx(1000);
  auto db = small_recording(fx);
  const ScratchDir &dir = fx.dir();
  CHECK(mode_of(db) == 0600);
  auto victim = dir.file("victim");
  write_file(victim, "precious");
  auto planted = dir.file("planted.db");
  REQUIRE(symlink(victim.c_str(), planted.c_str()) == 0);
  auto created = RecordingWriter::create(planted);
  REQUIRE(!created.ok());
  CHECK(created.error().exit_code == kExitUsage);
  CHECK(read_file(victim) == "precious");
}
