// The gRPC face of `faultline serve`: ControllerService requests go to the
// ServeDaemon unchanged and its absl::Status comes back as a grpc::Status
// (common/grpc_status.h). Nothing else happens here.
#ifndef FAULTLINE_CONTROLLER_SERVE_CONTROLLER_SERVICE_H_
#define FAULTLINE_CONTROLLER_SERVE_CONTROLLER_SERVICE_H_

#include <memory>

#include "grpcpp/grpcpp.h"

namespace faultline::controller {

class ServeDaemon;

// A service bound to `daemon`, which must outlive it. Thread-safe.
std::unique_ptr<grpc::Service> MakeControllerService(ServeDaemon* daemon);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_SERVE_CONTROLLER_SERVICE_H_
