// The one place where absl::Status and grpc::Status are converted. Canonical
// codes share numbering, so the mapping is exact in both directions.
#ifndef FAULTLINE_COMMON_GRPC_STATUS_H_
#define FAULTLINE_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace faultline {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_GRPC_STATUS_H_
