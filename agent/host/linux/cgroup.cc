#include "agent/host/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/host/process.h"
#include "agent/host/linux/read_file.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace faultline::agent {
namespace {

// Cgroup control files want one write(2) per value: the kernel parses each
// write on its own, so a buffered stream that splits or merges writes would
// change what is written.
absl::Status WriteFile(const std::string& path, absl::string_view value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  ssize_t n = write(fd.get(), value.data(), value.size());
  if (n < 0) return ErrnoToStatus(errno, absl::StrCat("write '", value, "' to ", path));
  return absl::OkStatus();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = in[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

struct Mount {
  bool v2 = false;
  std::string root;
  std::string point;
  std::vector<std::string> options;
};

std::string JoinCgroupPath(absl::string_view mount, absl::string_view rel) {
  std::string out(mount);
  while (!out.empty() && out.back() == '/') out.pop_back();
  rel = absl::StripPrefix(rel, "/");
  if (!rel.empty()) absl::StrAppend(&out, "/", rel);
  return out;
}

// The process's cgroup path relative to a mount whose root is `root`, or
// nullopt if the process sits outside what the mount shows.
std::optional<std::string> RelativeTo(absl::string_view own, absl::string_view root) {
  if (root == "/" || root.empty()) return std::string(own);
  if (own == root) return std::string("/");
  if (absl::StartsWith(own, root) && own.size() > root.size() && own[root.size()] == '/') {
    return std::string(own.substr(root.size()));
  }
  return std::nullopt;
}

bool OnCgroupFs(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return false;
  return fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

bool IsV2Dir(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

std::string Dirname(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == 0 || slash == absl::string_view::npos) return "/";
  return std::string(path.substr(0, slash));
}

// Shape only (no filesystem access): absolute, normalised, ends in
// <parent>/<leaf> with valid names.
absl::Status CheckOwnedShape(absl::string_view path, absl::string_view parent) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup path '", path, "' is not owned by faultline: ", why));
  };
  if (!IsValidCgroupName(parent)) return bad("invalid parent name");
  if (path.empty() || path[0] != '/') return bad("not absolute");
  std::vector<absl::string_view> parts = absl::StrSplit(path.substr(1), '/');
  if (parts.size() < 3) return bad("too short");
  for (absl::string_view part : parts) {
    if (part.empty() || part == "." || part == "..") return bad("not normalised");
  }
  if (parts[parts.size() - 2] != parent) return bad(absl::StrCat("not under '", parent, "'"));
  if (!IsValidCgroupName(parts.back())) return bad("invalid leaf name");
  return absl::OkStatus();
}

// Best effort: in cgroup v2 a child only gets controllers its parent lists in
// cgroup.subtree_control. Enabling them fails with EBUSY in a cgroup that
// has processes of its own (the agent's), which leaves the fault cgroup
// without that controller but still usable for membership, cpu.stat and
// cgroup.kill — so errors are ignored here.
void EnableV2Controllers(const std::string& dir, const std::vector<std::string>& wanted) {
  auto available = ReadFile(dir + "/cgroup.controllers");
  if (!available.ok()) return;
  std::vector<absl::string_view> have = absl::StrSplit(*available, absl::ByAnyChar(" \n"),
                                                       absl::SkipEmpty());
  for (const std::string& c : wanted) {
    if (std::find(have.begin(), have.end(), c) == have.end()) continue;
    (void)WriteFile(dir + "/cgroup.subtree_control", absl::StrCat("+", c));
  }
}

bool ProcsContains(const std::string& path, pid_t pid) {
  auto pids = CgroupPids(path);
  return pids.ok() && std::find(pids->begin(), pids->end(), pid) != pids->end();
}

}  // namespace

absl::StatusOr<CgroupLayout> CgroupLayout::Parse(absl::string_view mountinfo,
                                                 absl::string_view self_cgroup,
                                                 absl::string_view unified_controllers) {
  std::vector<Mount> mounts;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    auto sep = std::find(f.begin(), f.end(), "-");
    if (f.size() < 7 || sep == f.end() || f.end() - sep < 4) {
      return absl::InvalidArgumentError(absl::StrCat("parse mountinfo line '", line, "'"));
    }
    absl::string_view fstype = *(sep + 1);
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    Mount m;
    m.v2 = fstype == "cgroup2";
    m.root = UnescapeMountField(f[3]);
    m.point = UnescapeMountField(f[4]);
    for (absl::string_view opt : absl::StrSplit(*(sep + 3), ',', absl::SkipEmpty())) {
      if (opt != "rw" && opt != "ro") m.options.emplace_back(opt);
    }
    mounts.push_back(std::move(m));
  }

  CgroupLayout layout;
  for (absl::string_view line : absl::StrSplit(self_cgroup, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat("parse /proc/self/cgroup line '", line, "'"));
    }
    std::vector<std::string> controllers = absl::StrSplit(f[1], ',', absl::SkipEmpty());
    absl::string_view own = f[2];
    const bool v2 = f[0] == "0" && controllers.empty();
    for (const Mount& m : mounts) {
      if (m.v2 != v2) continue;
      if (!v2) {
        // The mount of this hierarchy carries exactly its controllers (or
        // name=...) among its options.
        bool all = !controllers.empty();
        for (const std::string& c : controllers) {
          if (std::find(m.options.begin(), m.options.end(), c) == m.options.end()) all = false;
        }
        if (!all) continue;
      }
      auto rel = RelativeTo(own, m.root);
      if (!rel) continue;
      CgroupHierarchy h;
      h.version = v2 ? 2 : 1;
      h.mount = m.point;
      h.base = JoinCgroupPath(m.point, *rel);
      if (v2) {
        h.controllers = absl::StrSplit(unified_controllers, absl::ByAnyChar(" \n"),
                                       absl::SkipEmpty());
      } else {
        h.controllers = controllers;
      }
      layout.hierarchies_.push_back(std::move(h));
      break;  // the first mount of a hierarchy is enough
    }
  }
  return layout;
}

std::optional<CgroupHierarchy> CgroupLayout::For(absl::string_view controller) const {
  for (const CgroupHierarchy& h : hierarchies_) {
    if (h.version == 2 &&
        std::find(h.controllers.begin(), h.controllers.end(), controller) != h.controllers.end()) {
      return h;
    }
  }
  for (const CgroupHierarchy& h : hierarchies_) {
    if (h.version == 1 &&
        std::find(h.controllers.begin(), h.controllers.end(), controller) != h.controllers.end()) {
      return h;
    }
  }
  return std::nullopt;
}

std::optional<CgroupHierarchy> CgroupLayout::Unified() const {
  for (const CgroupHierarchy& h : hierarchies_) {
    if (h.version == 2) return h;
  }
  return std::nullopt;
}

absl::StatusOr<CgroupLayout> DetectCgroups() {
  FL_ASSIGN_OR_RETURN(std::string mountinfo, ReadFile("/proc/self/mountinfo"));
  auto self = ReadFile("/proc/self/cgroup");
  if (!self.ok()) return CgroupLayout();  // kernel without cgroups
  // What a child of our own v2 cgroup can get is what our cgroup lists.
  FL_ASSIGN_OR_RETURN(CgroupLayout bare, CgroupLayout::Parse(mountinfo, *self, ""));
  std::string unified_controllers;
  if (auto u = bare.Unified()) {
    auto text = ReadFile(u->base + "/cgroup.controllers");
    if (text.ok()) unified_controllers = *text;
  }
  return CgroupLayout::Parse(mountinfo, *self, unified_controllers);
}

bool CanCreateUnder(const CgroupHierarchy& hierarchy) {
  return access(hierarchy.base.c_str(), W_OK) == 0;
}

std::string FaultCgroupPath(const CgroupHierarchy& hierarchy, absl::string_view parent,
                            absl::string_view fault_id) {
  return absl::StrCat(JoinCgroupPath(hierarchy.base, parent), "/", fault_id);
}

bool IsValidCgroupName(absl::string_view name) {
  if (name.empty() || name.size() > 200 || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

absl::Status CheckOwnedCgroupPath(absl::string_view path, absl::string_view parent) {
  FL_RETURN_IF_ERROR(CheckOwnedShape(path, parent));
  std::string dir(path);
  while (!Exists(dir) && dir != "/") dir = Dirname(dir);
  if (!OnCgroupFs(dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup path '", path, "' is not on a cgroup filesystem"));
  }
  return absl::OkStatus();
}

absl::Status CreateCgroup(const std::string& path, absl::string_view parent,
                          const std::vector<std::string>& v2_controllers) {
  FL_RETURN_IF_ERROR(CheckOwnedCgroupPath(path, parent));
  const std::string parent_dir = Dirname(path);
  const std::string base = Dirname(parent_dir);
  // A concurrent RemoveCgroup of a sibling fault may rmdir the shared parent
  // between our two mkdirs; retrying the pair converges.
  for (int attempt = 0;; ++attempt) {
    if (mkdir(parent_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrCat("create cgroup ", parent_dir));
    }
    if (IsV2Dir(parent_dir)) {
      EnableV2Controllers(base, v2_controllers);
      EnableV2Controllers(parent_dir, v2_controllers);
    }
    if (mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
    if (errno == ENOENT && attempt < 3) continue;
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("create cgroup ", path, ": already exists"));
    }
    return ErrnoToStatus(errno, absl::StrCat("create cgroup ", path));
  }
}

absl::Status AddToCgroup(const std::string& path, pid_t pid) {
  return WriteFile(path + "/cgroup.procs", absl::StrCat(pid));
}

absl::StatusOr<std::vector<pid_t>> CgroupPids(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string text, ReadFile(path + "/cgroup.procs"));
  std::vector<pid_t> pids;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

absl::StatusOr<uint64_t> CgroupCpuUsageNs(const std::string& path) {
  uint64_t value = 0;
  if (IsV2Dir(path)) {
    FL_ASSIGN_OR_RETURN(std::string text, ReadFile(path + "/cpu.stat"));
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&line, "usage_usec ") && absl::SimpleAtoi(line, &value)) {
        return value * 1000;
      }
    }
    return absl::NotFoundError(absl::StrCat("no usage_usec in ", path, "/cpu.stat"));
  }
  FL_ASSIGN_OR_RETURN(std::string text, ReadFile(path + "/cpuacct.usage"));
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return absl::InternalError(absl::StrCat("parse ", path, "/cpuacct.usage"));
  }
  return value;
}

absl::StatusOr<uint64_t> CgroupMemoryBytes(const std::string& path) {
  const std::string file = path + (IsV2Dir(path) ? "/memory.current" : "/memory.usage_in_bytes");
  FL_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  uint64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return absl::InternalError(absl::StrCat("parse ", file));
  }
  return value;
}

absl::Status KillCgroup(const std::string& path, absl::string_view parent) {
  FL_RETURN_IF_ERROR(CheckOwnedShape(path, parent));
  if (!Exists(path)) return absl::OkStatus();
  FL_RETURN_IF_ERROR(CheckOwnedCgroupPath(path, parent));
  if (IsV2Dir(path) && Exists(path + "/cgroup.kill")) {
    absl::Status s = WriteFile(path + "/cgroup.kill", "1");
    if (s.ok() || absl::IsNotFound(s)) return absl::OkStatus();
    return s;
  }
  // v1 has no cgroup.kill. A few rounds catch children forked while we kill.
  for (int round = 0; round < 8; ++round) {
    auto pids = CgroupPids(path);
    if (absl::IsNotFound(pids.status())) return absl::OkStatus();
    if (!pids.ok()) return pids.status();
    if (pids->empty()) return absl::OkStatus();
    for (pid_t pid : *pids) {
      int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (fd < 0) continue;  // exited meanwhile
      UniqueFd pidfd(fd);
      // The pidfd pins one process; if it is (still) listed in our cgroup
      // after the open, it is the member we read, not a reused pid.
      if (!ProcsContains(path, pid)) continue;
      if (syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) != 0 &&
          errno != ESRCH) {
        return ErrnoToStatus(errno, absl::StrCat("kill pid ", pid, " in cgroup ", path));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::OkStatus();
}

absl::Status RemoveCgroup(const std::string& path, absl::string_view parent,
                          std::chrono::milliseconds timeout) {
  FL_RETURN_IF_ERROR(CheckOwnedShape(path, parent));
  const std::string parent_dir = Dirname(path);
  if (Exists(path)) {
    FL_RETURN_IF_ERROR(CheckOwnedCgroupPath(path, parent));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      FL_RETURN_IF_ERROR(KillCgroup(path, parent));
      if (rmdir(path.c_str()) == 0 || errno == ENOENT) break;
      // EBUSY while killed tasks are still exiting (freeing a large address
      // space takes a moment).
      if (errno != EBUSY) return ErrnoToStatus(errno, absl::StrCat("remove cgroup ", path));
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "remove cgroup ", path, ": still busy after ", timeout.count(), "ms"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // The shared parent goes once the last fault under it is gone; EBUSY or
  // ENOTEMPTY just means another fault still uses it.
  if (Exists(parent_dir) && OnCgroupFs(parent_dir)) (void)rmdir(parent_dir.c_str());
  return absl::OkStatus();
}

}  // namespace faultline::agent
