#include "agent/manager/state_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "google/protobuf/util/json_util.h"

namespace faultline::agent {
namespace {

absl::Status WriteAll(int fd, const std::string& content, const std::string& what) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("write ", what));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::filesystem::path& path, const std::string& content,
                                 mode_t mode) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::string tmp = absl::StrCat(path.string(), ".tmp");
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("create ", tmp));
  absl::Status status = WriteAll(fd.get(), content, tmp);
  // fdatasync: the new file's data and size are what must be durable.
  if (status.ok() && ::fdatasync(fd.get()) != 0) status = ErrnoToStatus(errno, absl::StrCat("fdatasync ", tmp));
  fd.Reset();
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoToStatus(errno, absl::StrCat("rename ", tmp, " to ", path.string()));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  // The rename is durable only once the directory entry is.
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open directory ", dir.string()));
  if (::fsync(dir_fd.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fsync directory ", dir.string()));
  }
  return absl::OkStatus();
}

StateFile::StateFile(std::filesystem::path dir)
    : dir_(std::move(dir)), path_(dir_ / "state.json") {}

absl::Status StateFile::EnsureDir() const {
  std::error_code ec;
  if (std::filesystem::is_directory(dir_, ec)) return absl::OkStatus();
  std::filesystem::create_directories(dir_, ec);
  if (ec) return ErrnoToStatus(ec.value(), absl::StrCat("create state dir ", dir_.string()));
  if (::chmod(dir_.c_str(), 0700) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("chmod state dir ", dir_.string()));
  }
  return absl::OkStatus();
}

absl::Status StateFile::Lock() {
  if (lock_fd_.valid()) return absl::OkStatus();
  const std::string lock_path = (dir_ / "lock").string();
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open ", lock_path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("state dir ", dir_.string(), " is in use by another agent"));
    }
    return ErrnoToStatus(errno, absl::StrCat("lock ", lock_path));
  }
  lock_fd_ = std::move(fd);
  return absl::OkStatus();
}

absl::StatusOr<v1::AgentState> StateFile::Read() const {
  v1::AgentState state;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) {
    if (ec) return ErrnoToStatus(ec.value(), absl::StrCat("stat ", path_.string()));
    return state;
  }
  std::ifstream in(path_, std::ios::binary);
  if (!in) return ErrnoToStatus(errno, absl::StrCat("open ", path_.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return ErrnoToStatus(errno, absl::StrCat("read ", path_.string()));
  const std::string content = buffer.str();
  if (content.empty()) {
    return absl::DataLossError(absl::StrCat("state file ", path_.string(), " is empty"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // written by a newer agent
  auto parsed = google::protobuf::util::JsonStringToMessage(content, &state, options);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("state file ", path_.string(),
                                            " is corrupt: ", parsed.ToString()));
  }
  return state;
}

absl::Status StateFile::Write(const v1::AgentState& state) const {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto printed = google::protobuf::util::MessageToJsonString(state, &json, options);
  if (!printed.ok()) {
    return absl::InternalError(
        absl::StrCat("encode state file ", path_.string(), ": ", printed.ToString()));
  }
  return WriteFileAtomically(path_, json, 0600);
}

absl::StatusOr<std::filesystem::path> StateFile::MoveAside(int64_t unix_seconds) const {
  std::filesystem::path aside = path_;
  aside += absl::StrCat(".corrupt-", unix_seconds);
  if (::rename(path_.c_str(), aside.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("move ", path_.string(), " to ", aside.string()));
  }
  return aside;
}

}  // namespace faultline::agent
