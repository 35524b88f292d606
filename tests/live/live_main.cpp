// main() of every live test binary: skip with a printed reason where live tests cannot run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "live_support.h"

int main(int argc, char **argv) {
  live::require_root_and_btf();
  return Catch::Session().run(argc, argv);
}
