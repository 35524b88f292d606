// One made-up recording for a unit test: a fresh file in its own scratch directory (removed with
// it), its writer created with the window's start meta, and the ways a test reads it back (a
// reader, or the whole report). Each step REQUIREs what it needs, so a test states only what it
// writes and what it expects. The sched family's rows are written by sched_rows_util.h.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "record/recording.h"
#include "report/report.h"
#include "scratch_dir.h"

namespace triage::test {

class RecordingFixture {
 public:
  // `start_ns` is written as "start_ns" (a reader refuses a recording without a window start);
  // std::nullopt leaves it to the test, for a test of the writer or one that writes it itself.
  explicit RecordingFixture(std::optional<uint64_t> start_ns, const std::string &name = "r.db")
      : path_(dir_.file(name)) {
    auto created = RecordingWriter::create(path_);
    REQUIRE(created.ok());
    writer_ = std::move(*created);
    if (start_ns) writer_->set_meta("start_ns", *start_ns);
  }
  RecordingFixture(const RecordingFixture &) = delete;
  RecordingFixture &operator=(const RecordingFixture &) = delete;

  // Valid until close().
  RecordingWriter &writer() { return *writer_; }
  const std::string &path() const { return path_; }
  const ScratchDir &dir() const { return dir_; }

  // The meta a recorder writes at the end of a window on a 2-CPU test box, ended by its duration.
  void set_window_meta(uint64_t end_ns) {
    writer_->set_meta("start_realtime_ns", 1'700'000'000'000'000'000ULL);
    writer_->set_meta("end_ns", end_ns);
    writer_->set_meta("end_reason", "duration");
    writer_->set_meta("host", "testbox");
    writer_->set_meta("kernel", "6.18.0-test");
    writer_->set_meta("ncpu", 2);
    writer_->set_meta("interval_s", 1.0);
  }

  void flush() { REQUIRE(writer_->flush().ok()); }
  // Flushes and closes the writer, as the recorder does when its window ends.
  void close() {
    flush();
    writer_.reset();
  }
  // Opens the file as `triage report` does; the writer may still be open.
  std::unique_ptr<RecordingReader> reader() const {
    auto opened = RecordingReader::open(path_);
    REQUIRE(opened.ok());
    return std::move(*opened);
  }
  // close(), then the report `triage report` builds from the file.
  json report() {
    close();
    return build_report(*reader());
  }

 private:
  ScratchDir dir_;
  std::string path_;
  std::unique_ptr<RecordingWriter> writer_;
};

}  // namespace triage::test
