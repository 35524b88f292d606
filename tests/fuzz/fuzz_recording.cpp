// libFuzzer: arbitrary bytes as a recording file through the whole `triage report` path (open and
// validate, build the model, render text, JSON and HTML). Any outcome but a rendered report or a
// one-line exit-2 error is a bug; sanitizers and the asserts below report it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "report/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string path = fuzz::scratch_file("recording.db");
  fuzz::write_bytes(path, data, size);
  ::unlink((path + "-journal").c_str());
  for (const char *format : {"text", "json", "html"}) {
    auto out = triage::report_from_file(path, format);
    if (out.ok()) {
      if (std::string(format) == "json" && !nlohmann::json::accept(*out)) {
        std::fprintf(stderr, "fuzz_recording: the JSON report does not parse\n");
        std::abort();
      }
      continue;
    }
    if (out.error().exit_code != triage::kExitUsage || out.error().message.find('\n') != std::string::npos) {
      std::fprintf(stderr, "fuzz_recording: bad error (exit %d): %s\n", out.error().exit_code, out.error().message.c_str());
      std::abort();
    }
  }
  return 0;
}
