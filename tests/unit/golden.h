// Renderings compared with files under tests/golden/. A deliberate change to a rendering is
// reviewed as a diff: run the unit tests with TRIAGE_UPDATE_GOLDEN=1 to rewrite the files, then
// read what changed before committing it.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

inline void check_golden(const std::string &rendered, const std::string &name) {
  const std::string path = TRIAGE_FIXTURES_DIR "/../golden/" + name;
  if (std::getenv("TRIAGE_UPDATE_GOLDEN")) std::ofstream(path) << rendered;
  std::ifstream in(path);
  std::stringstream golden;
  golden << in.rdbuf();
  CHECK(rendered == golden.str());
}
