// The block section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "record/recording.h"
#include "report/top_table.h"

namespace triage::block {

// How many rows of each list the text and HTML sections show; the JSON report holds them all.
inline constexpr size_t kOutliersShown = 15, kTopShown = 10, kUnmatchedShown = 5;
inline constexpr size_t kTimelineShown = 40;  // the last intervals

// `block` as INTERFACE.md defines it, or null when the family was not recorded. Also ties the
// sched family's top D-state processes (when recorded) to the devices they submitted I/O to.
json build_section(const RecordingReader &recording, uint64_t window_start_mono_ns);
void render_text(const json &section, std::string &out);
// The block section of the HTML page (block_html.cpp), from the whole report as every family's is.
void render_html(const json &report, std::string &out);
// The processes with the most I/O time, as the text and the page draw them.
const TopTable &top_processes_table();
// A row's `key` devices as the page lists them, escaped: "vda (254:0), loop0 (7:0)".
std::string html_device_list(const json &row, const char *key);
// How the requests were accounted, one plain sentence per count that is not zero (completed and
// timed always), each saying what it counts: the text and HTML renderers both show these.
std::vector<std::string> request_accounting(const json &section);
// disk-slow; adds the devices behind the D state to an io-saturation finding already present, or
// turns it into sync-writes when those devices were fast and idle and only a task or two was in D.
void add_findings(const json &report, json &findings);

}  // namespace triage::block
