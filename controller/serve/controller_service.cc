#include "controller/serve/controller_service.h"

#include "common/grpc_status.h"
#include "controller/serve/daemon.h"
#include "faultline/v1/controller.grpc.pb.h"

namespace faultline::controller {
namespace {

class ControllerServiceImpl final : public v1::ControllerService::Service {
 public:
  explicit ControllerServiceImpl(ServeDaemon* daemon) : daemon_(daemon) {}

  grpc::Status SubmitRun(grpc::ServerContext* context, const v1::SubmitRunRequest* request,
                         v1::SubmitRunResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->SubmitRun(*request, response));
  }
  grpc::Status ListRuns(grpc::ServerContext* context, const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->ListRuns(*request, response));
  }
  grpc::Status GetRun(grpc::ServerContext* context, const v1::GetRunRequest* request,
                      v1::GetRunResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->GetRun(*request, response));
  }
  grpc::Status WatchRun(grpc::ServerContext* context, const v1::WatchRunRequest* request,
                        grpc::ServerWriter<v1::WatchRunResponse>* writer) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->WatchRun(
        *request, [writer](const v1::WatchRunResponse& m) { return writer->Write(m); },
        [context] { return context->IsCancelled(); }));
  }
  grpc::Status Halt(grpc::ServerContext* context, const v1::HaltFleetRequest* request,
                    v1::HaltFleetResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->Halt(*request, response));
  }
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::ReleaseResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->Release(*request, response));
  }
  grpc::Status AddNote(grpc::ServerContext* context, const v1::AddNoteRequest* request,
                       v1::ControlResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->AddNote(*request, response));
  }
  grpc::Status ContinueRun(grpc::ServerContext* context, const v1::ContinueRunRequest* request,
                           v1::ControlResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->ContinueRun(*request, response));
  }
  grpc::Status AbortRun(grpc::ServerContext* context, const v1::AbortRunRequest* request,
                        v1::ControlResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->AbortRun(*request, response));
  }
  grpc::Status ListSchedules(grpc::ServerContext* context, const v1::ListSchedulesRequest* request,
                             v1::ListSchedulesResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->ListSchedules(*request, response));
  }
  grpc::Status FireSchedule(grpc::ServerContext* context, const v1::FireScheduleRequest* request,
                            v1::FireScheduleResponse* response) override {
    if (absl::Status denied = Authenticate(*context); !denied.ok()) return ToGrpcStatus(denied);
    return ToGrpcStatus(daemon_->FireSchedule(*request, response));
  }

 private:
  // With serve's tls: the caller's client certificate must verify
  // (Unauthenticated with the reason otherwise); plaintext callers pass.
  absl::Status Authenticate(const grpc::ServerContext& context) const {
    return daemon_->Caller(context).status();
  }

  ServeDaemon* daemon_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeControllerService(ServeDaemon* daemon) {
  return std::make_unique<ControllerServiceImpl>(daemon);
}

}  // namespace faultline::controller
