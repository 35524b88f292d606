// Each family's probe table against its BPF object: every program a probe names exists, and every
// program of the object belongs to a probe (one that no row names would never be loaded). Also
// what the report says about a missing probe comes from the table.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "block.skel.h"
#include "families.h"
#include "oom.skel.h"
#include "report/missing_probes.h"
#include "sched.skel.h"
#include "tcp.skel.h"

using namespace triage;

namespace {

template <typename Skel>
void check_table_against_object(const char *family, Skel *(*open)(), void (*destroy)(Skel *)) {
  INFO(family);
  const FamilyEntry *entry = find_family(family);
  REQUIRE(entry);
  Skel *skel = open();
  REQUIRE(skel);
  std::set<std::string> named;
  for (const auto &probe : entry->probes()) {
    INFO(probe.name);
    CHECK(std::string(probe.hides).size() > 10);
    CHECK(std::string(probe.hook).size() > 3);
    for (const char *program : {probe.tp_btf_program, probe.raw_tp_program}) {
      if (!program) continue;
      CHECK(bpf_object__find_program_by_name(skel->obj, program) != nullptr);
      named.insert(program);
    }
  }
  bpf_program *program = nullptr;
  bpf_object__for_each_program(program, skel->obj) {
    INFO(bpf_program__name(program));
    CHECK(named.count(bpf_program__name(program)) == 1);
  }
  destroy(skel);
}

}  // namespace

TEST_CASE("every probe table names exactly its object's programs") {
  check_table_against_object<sched_bpf>("sched", sched_bpf__open, sched_bpf__destroy);
  check_table_against_object<block_bpf>("block", block_bpf__open, block_bpf__destroy);
  check_table_against_object<tcp_bpf>("tcp", tcp_bpf__open, tcp_bpf__destroy);
  check_table_against_object<oom_bpf>("oom", oom_bpf__open, oom_bpf__destroy);
}

TEST_CASE("probe names are unique across families") {
  std::set<std::string> names;
  for (const auto &family : all_families())
    for (const auto &probe : family.probes()) CHECK(names.insert(probe.name).second);
  CHECK(names.count("sched_switch"));
  CHECK(names.count("tcp_sockets"));
}

TEST_CASE("a missing probe is explained from its family's table") {
  CHECK(what_missing_probe_hides("block_rq_insert", "block") ==
        "time requests spent queued before dispatch (only device time, issue to complete, is seen)");
  CHECK(what_missing_probe_hides("tcp_sockets", "tcp").find("socket snapshots") == 0);
  // A probe of a newer triage read by this one: a sentence that still names it.
  CHECK(what_missing_probe_hides("sched_future", "sched") == "what the sched family would have seen through sched_future");
  CHECK(what_missing_probe_hides("x", "nosuchfamily") == "what the nosuchfamily family would have seen through x");
}
