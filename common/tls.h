// Mutual TLS for every Faultline gRPC connection (controller -> agent, CLI ->
// serve): checking certificate files with OpenSSL before anything listens or
// dials, gRPC server credentials that can be reloaded (SIGHUP) without
// restarting the server, client channel credentials, and the verified
// identity of the caller of a server call.
//
// Why client certificates are verified in the handler and not in the TLS
// handshake: a handshake failure never reaches application code, so a client
// with no certificate, one from another CA or an expired one could not be
// audited. The server therefore asks for a client certificate but does not
// let the handshake judge it (the TLS handshake still proves the client holds
// the certificate's private key); every handler calls VerifyPeer first, which
// checks the presented certificate against the current CA and clock with
// OpenSSL and refuses the call (Unauthenticated, with the reason) otherwise.
//
// Files are PEM: a CA bundle, this side's certificate (chain) and its
// unencrypted private key. scripts/dev-certs makes a throwaway set.
#ifndef FAULTLINE_COMMON_TLS_H_
#define FAULTLINE_COMMON_TLS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace faultline {

// The three PEM files of one side of a mutual-TLS connection.
struct TlsFiles {
  std::string ca;    // CA bundle the peer's certificate must chain to
  std::string cert;  // this side's certificate (leaf first, then intermediates)
  std::string key;   // its private key (unencrypted)
  // Client side only: the name checked against the server's certificate
  // instead of the host part of the address ("" = the address's host).
  std::string server_name;

  bool empty() const { return ca.empty() && cert.empty() && key.empty(); }
};

// Who is calling a server, as far as the transport can tell.
struct PeerIdentity {
  // A client certificate was presented, chains to our CA and is within its
  // validity period. False for plaintext callers (loopback, unix socket,
  // --insecure), who are "anonymous".
  bool authenticated = false;
  std::string subject;            // as OpenSSL prints it: "CN=ctl,O=faultline"
  std::string common_name;        // "ctl"
  std::vector<std::string> sans;  // "DNS:ctl.example", "URI:spiffe://x/y", "IP:198.18.0.1", "email:a@b"
  std::string address;            // the peer's IP ("" for a unix socket)

  // "CN=ctl,O=faultline" or "anonymous"; for logs and audit lines.
  std::string Name() const;
};

// Reads the files and checks them with OpenSSL, so a bad file is reported
// before anything listens or dials: every file readable and PEM, the key
// matching the certificate, the certificate chaining to the CA and valid now.
// Errors name the file and the problem: NotFound / PermissionDenied when a
// file cannot be read, InvalidArgument otherwise (e.g. "tls cert
// /etc/faultline/agent.pem expired at 2026-01-01T00:00:00Z", "tls key
// /x/key.pem does not match cert /x/cert.pem"). Pure apart from the reads.
absl::Status CheckTlsFiles(const TlsFiles& files);

// The server side of mutual TLS for one gRPC server. Thread-safe.
class ServerTls {
 public:
  // CheckTlsFiles, then copies the three files into `snapshot_dir` (created
  // 0700 if missing; owned by this object: its old contents are removed),
  // which gRPC's file-watcher provider reads. Each copy is a generation
  // directory (keys 0600) that one symlink rename makes current, so gRPC
  // never pairs a new certificate with an old key. Errors of CheckTlsFiles;
  // Internal if the snapshot cannot be written.
  static absl::StatusOr<std::unique_ptr<ServerTls>> Create(const TlsFiles& files,
                                                           const std::string& snapshot_dir);

  // For grpc::ServerBuilder::AddListeningPort. Requests a client
  // certificate, leaves its verification to VerifyPeer (see above).
  std::shared_ptr<grpc::ServerCredentials> credentials() const;

  // Re-reads the configured files. If they pass CheckTlsFiles, client
  // certificates are verified against the new CA at once and new handshakes
  // present the new server certificate within about a second (gRPC's
  // watcher interval); open connections, in-flight calls and everything else
  // in the process are untouched. Otherwise the old files stay in force and
  // the error says why. Idempotent.
  absl::Status Reload();

  // The verified identity of the caller of `context`'s call, or
  // Unauthenticated with the reason: "no client certificate", "client
  // certificate expired at ...", "client certificate is not signed by a
  // trusted CA (...)", "client certificate is not meant for this use (...)"
  // (an extended key usage without clientAuth, e.g. a server certificate).
  // Every call is judged against the CA current at that moment, so after a
  // Reload to another CA even an open connection of an old client is
  // refused. Reads only the call's auth context and the current CA; no I/O.
  absl::StatusOr<PeerIdentity> VerifyPeer(const grpc::ServerContext& context) const;

  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

 private:
  struct State;
  ServerTls();
  std::unique_ptr<State> state_;
};

// The identity of a caller on a plaintext server: anonymous, with its
// address (PeerIdentity::address) taken from context.peer().
PeerIdentity AnonymousPeer(const grpc::ServerContext& context);

// Client side: credentials presenting files.cert / files.key and trusting
// only servers whose certificate chains to files.ca. Errors of
// CheckTlsFiles. Use with ChannelArgumentsFor so files.server_name applies.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files);

// Channel arguments for a client of `files` (the server-name override when
// files.server_name is set).
grpc::ChannelArguments ChannelArgumentsFor(const TlsFiles& files);

// The subject of the certificate in `cert_path` as OpenSSL prints it
// ("CN=faultline-controller,O=faultline"), for journals and logs. NotFound /
// PermissionDenied / InvalidArgument as CheckTlsFiles.
absl::StatusOr<std::string> CertificateSubject(const std::string& cert_path);

// True for addresses only this host can reach: "unix:...", "localhost:P",
// "127.x.y.z:P", "[::1]:P". An agent or serve listening anywhere else must
// use TLS unless started with --insecure.
bool IsLocalOnlyAddress(const std::string& listen);

}  // namespace faultline

#endif  // FAULTLINE_COMMON_TLS_H_
