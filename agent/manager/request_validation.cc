#include "agent/manager/request_validation.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/faults/fault_factory.h"
#include "common/status.h"

namespace faultline::agent {

absl::Status ValidateId(absl::string_view field, const std::string& id) {
  const bool ok = !id.empty() && id.size() <= kMaxIdLength &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                           c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  std::string shown = id.size() > 64 ? absl::StrCat(id.substr(0, 64), "...") : id;
  return absl::InvalidArgumentError(absl::StrCat(field, " must match [A-Za-z0-9._-]{1,128}, got \"",
                                                 absl::CHexEscape(shown), "\""));
}

absl::Status ValidateRequestFields(const v1::ApplyRequest& request,
                                   std::chrono::milliseconds max_duration) {
  FL_RETURN_IF_ERROR(ValidateId("fault_id", request.fault_id()));
  const std::string prefix = absl::StrCat("fault ", request.fault_id());
  FL_RETURN_IF_ERROR(Annotate(ValidateId("run_id", request.run_id()), prefix));
  const uint64_t max_ms = static_cast<uint64_t>(std::max<int64_t>(max_duration.count(), 0));
  if (request.duration_ms() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": duration_ms must be > 0"));
  }
  if (request.duration_ms() > max_ms) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": duration_ms must be at most ",
                                                   max_ms, " (max_duration), got ",
                                                   request.duration_ms()));
  }
  if (request.ttl_ms() != 0 && request.ttl_ms() < request.duration_ms()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": ttl_ms must be >= duration_ms (",
                                                   request.duration_ms(), "), got ",
                                                   request.ttl_ms()));
  }
  if (request.ttl_ms() > max_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, ": ttl_ms must be at most ", max_ms, " (max_duration), got ", request.ttl_ms()));
  }
  if (request.lease_ttl_ms() > max_ms) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": lease_ttl_ms must be at most ",
                                                   max_ms, " (max_duration), got ",
                                                   request.lease_ttl_ms()));
  }
  if (KindName(request.spec()).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": spec names no fault kind"));
  }
  return absl::OkStatus();
}

absl::Status ValidateApplyRequest(const v1::ApplyRequest& request,
                                  std::chrono::milliseconds max_duration) {
  FL_RETURN_IF_ERROR(ValidateRequestFields(request, max_duration));
  return Annotate(ValidateSpec(request.spec()), absl::StrCat("fault ", request.fault_id()));
}

}  // namespace faultline::agent
