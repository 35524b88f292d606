// Ring-buffer records on their way to the recording. The ring-buffer callback copies each record
// verbatim into one preallocated buffer (no allocation, no formatting per event) and the batch is
// written as a single event_blocks row: the consumer's cost per event is a memcpy, so a storm is
// limited by the kernel side, not by userspace. Records are decoded only when a report is built.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "record/recording.h"

namespace triage {

class EventBatch {
 public:
  // `layout` names the record struct and its version ("sched_event/1"); `record_size` is its size.
  EventBatch(std::string family, std::string layout, size_t record_size, size_t capacity_records = 16384)
      : family_(std::move(family)), layout_(std::move(layout)), record_size_(record_size),
        capacity_(capacity_records) {
    buffer_.resize(record_size_ * capacity_);
  }

  // Binds the writer for the duration of one drain; records added meanwhile may flush early when
  // the buffer fills, so a drain of any length needs no more memory than the buffer.
  void begin(RecordingWriter &out) { out_ = &out; }
  void end() {
    flush();
    out_ = nullptr;
  }

  // From the ring-buffer callback. A short record (a BPF/C++ ABI mismatch), or one consumed outside
  // begin()/end(), is counted as malformed, not stored.
  void add(const void *record, size_t size, uint64_t t_ns) {
    if (size < record_size_ || !out_) {
      malformed_++;
      return;
    }
    if (count_ == capacity_) flush();
    std::memcpy(buffer_.data() + count_ * record_size_, record, record_size_);
    t_first_ = std::min(t_first_, t_ns);
    t_last_ = std::max(t_last_, t_ns);
    count_++;
  }

  uint64_t delivered() const { return delivered_; }  // records handed to the recording
  uint64_t malformed() const { return malformed_; }

 private:
  void flush() {
    if (!count_ || !out_) return;
    out_->add_event_block(family_, layout_, t_first_, t_last_, count_, buffer_.data(), count_ * record_size_);
    delivered_ += count_;
    count_ = 0;
    t_first_ = std::numeric_limits<uint64_t>::max();
    t_last_ = 0;
  }

  std::string family_, layout_;
  size_t record_size_, capacity_;
  std::vector<std::byte> buffer_;
  size_t count_ = 0;
  uint64_t t_first_ = std::numeric_limits<uint64_t>::max(), t_last_ = 0;
  uint64_t delivered_ = 0, malformed_ = 0;
  RecordingWriter *out_ = nullptr;
};

// Calls fn(record) for each whole record of type Record in the blocks of `layout`; a block whose
// size does not match its count (a damaged file) yields only the records it really holds.
template <typename Record, typename Fn>
void for_each_record(const RecordingReader &reader, const std::string &family, const std::string &layout, Fn &&fn) {
  reader.for_each_event_block(family, [&](const EventBlock &block) {
    if (block.layout != layout || !block.data) return;
    size_t records = std::min<uint64_t>(block.count, block.bytes / sizeof(Record));
    for (size_t i = 0; i < records; i++) {
      Record r;
      std::memcpy(&r, block.data + i * sizeof(Record), sizeof(Record));  // BLOBs are not aligned
      fn(r);
    }
  });
}

}  // namespace triage
