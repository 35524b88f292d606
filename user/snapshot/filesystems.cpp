// df -h / df -i: which mounts are real filesystems, and their block and inode usage.
#include <sys/statvfs.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "snapshot/snapshot_parts.h"

namespace triage::snapshot_detail {

using nlohmann::json;

namespace {

// /proc/mounts escapes space, tab, newline and backslash as \ooo.
std::string decode_mount_field(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    bool octal = field[i] == '\\' && i + 3 < field.size() &&
                 field[i + 1] >= '0' && field[i + 1] <= '3' && field[i + 2] >= '0' && field[i + 2] <= '7' &&
                 field[i + 3] >= '0' && field[i + 3] <= '7';
    if (octal) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

// Filesystems that are not block-backed and still worth a df line: tmpfs fills RAM, overlay is a
// container's root, zfs datasets are named pool/dataset rather than /dev/...
bool is_reported_without_block_device(const std::string &fstype) {
  return fstype == "tmpfs" || fstype == "overlay" || fstype == "zfs";
}

bool is_block_backed(const MountEntry &mount) { return mount.device.starts_with("/dev/"); }

// What makes two mounts the same filesystem. tmpfs and overlay instances all share a device name
// ("tmpfs", "overlay"), so they are told apart by mount point.
const std::string &identity(const MountEntry &mount) {
  return is_block_backed(mount) || mount.fstype == "zfs" ? mount.device : mount.mount;
}

std::optional<double> used_percent(uint64_t used, uint64_t available) {
  if (used + available == 0) return std::nullopt;
  return round_tenth(static_cast<double>(used) * 100.0 / static_cast<double>(used + available));
}

json optional_json(std::optional<double> value) { return value ? json(*value) : json(nullptr); }

}  // namespace

std::vector<MountEntry> parse_mounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    std::string_view fields[3];
    size_t found = 0;
    for (size_t pos = 0; found < 3 && pos < line.size();) {
      size_t start = line.find_first_not_of(' ', pos);
      if (start == std::string_view::npos) break;
      size_t stop = line.find(' ', start);
      if (stop == std::string_view::npos) stop = line.size();
      fields[found++] = line.substr(start, stop - start);
      pos = stop;
    }
    if (found == 3)
      mounts.push_back({decode_mount_field(fields[0]), decode_mount_field(fields[1]), std::string(fields[2])});
  }
  return mounts;
}

std::vector<MountEntry> filesystems_worth_reporting(const std::vector<MountEntry> &mounts) {
  std::vector<MountEntry> chosen;
  for (const auto &mount : mounts) {
    if (!is_block_backed(mount) && !is_reported_without_block_device(mount.fstype)) continue;
    auto same_filesystem = [&](const MountEntry &existing) { return identity(existing) == identity(mount); };
    auto existing = std::find_if(chosen.begin(), chosen.end(), same_filesystem);
    if (existing == chosen.end()) {
      chosen.push_back(mount);
    } else if (existing->mount == mount.mount || mount.mount.size() < existing->mount.size()) {
      // Mounted over at the same point: the newest is visible. Bind-mounted elsewhere: keep the
      // shortest path, as df does.
      *existing = mount;
    }
  }
  return chosen;
}

json filesystem_usage(const std::vector<MountEntry> &filesystems, SkipLog &skipped) {
  json out = json::array();
  for (const auto &fs : filesystems) {
    struct statvfs st {};
    if (::statvfs(fs.mount.c_str(), &st) != 0) {
      skipped.add("filesystems", fmt::format("statvfs {}: {}", fs.mount, std::strerror(errno)));
      continue;
    }
    uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
    uint64_t used_blocks = st.f_blocks >= st.f_bfree ? st.f_blocks - st.f_bfree : 0;
    uint64_t used_inodes = st.f_files >= st.f_ffree ? st.f_files - st.f_ffree : 0;
    out.push_back({{"mount", valid_utf8(fs.mount)},
                   {"fstype", valid_utf8(fs.fstype)},
                   {"device", valid_utf8(fs.device)},
                   {"size_kb", st.f_blocks * unit / 1024},
                   {"avail_kb", st.f_bavail * unit / 1024},
                   // Like df: used over what non-root users could have, so 100% means full for them.
                   {"used_pct", optional_json(used_percent(used_blocks, st.f_bavail))},
                   {"inodes", st.f_files},
                   {"inodes_free", st.f_ffree},
                   // Filesystems without a fixed inode table (btrfs) report 0 inodes: null, not 0%.
                   {"inodes_used_pct", optional_json(st.f_files ? used_percent(used_inodes, st.f_ffree)
                                                                : std::nullopt)}});
  }
  return out;
}

}  // namespace triage::snapshot_detail
