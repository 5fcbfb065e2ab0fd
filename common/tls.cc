#include "common/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "openssl/x509_vfy.h"
#include "openssl/x509v3.h"

namespace faultline {
namespace {

// gRPC's file watcher re-reads the snapshot this often (whole seconds).
constexpr int kRefreshIntervalSec = 1;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;
using StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;
using StorePtr = std::shared_ptr<X509_STORE>;

// The oldest queued OpenSSL error as text ("" if none); clears the queue so
// a later failure does not report a stale error.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " file is not set"));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("read ", what, " ", path));
  std::string content;
  char buffer[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("read ", what, " ", path));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > (1u << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is larger than 1 MiB"));
    }
  }
  return content;
}

// Every certificate in PEM text, in order.
std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the input is reported as an error
  return certs;
}

absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(const std::string& path,
                                                      absl::string_view what) {
  FL_ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path, what));
  std::vector<X509Ptr> certs = ParseCertificates(pem);
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " holds no PEM certificate"));
  }
  return certs;
}

absl::StatusOr<KeyPtr> ReadKey(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path, "tls key"));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // An empty passphrase callback result makes an encrypted key fail instead
  // of prompting on the terminal.
  KeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (key == nullptr) {
    std::string error = OpenSslError();
    return absl::InvalidArgumentError(
        absl::StrCat("tls key ", path, " holds no unencrypted PEM private key",
                     error.empty() ? "" : absl::StrCat(" (", error, ")")));
  }
  return key;
}

// "2026-01-01T00:00:00Z".
std::string FormatAsn1Time(const ASN1_TIME* time) {
  struct tm tm {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return "an unreadable time";
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// A store trusting every certificate in `cas`.
StorePtr MakeStore(const std::vector<X509Ptr>& cas) {
  StorePtr store(X509_STORE_new(), X509_STORE_free);
  for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
  ERR_clear_error();  // duplicate certificates in a bundle are not an error
  return store;
}

struct VerifyFailure {
  int code = X509_V_OK;
  X509* cert = nullptr;  // the certificate the error is about (borrowed)
};

// Verifies `leaf` (+ `untrusted` intermediates) against `store` at the
// current time. X509_V_OK on success.
VerifyFailure Verify(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted,
                     int purpose) {
  VerifyFailure failure;
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted) != 1) {
    failure.code = X509_V_ERR_UNSPECIFIED;
    return failure;
  }
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) != 1) {
    failure.code = X509_STORE_CTX_get_error(ctx.get());
    if (failure.code == X509_V_OK) failure.code = X509_V_ERR_UNSPECIFIED;
    failure.cert = X509_STORE_CTX_get_current_cert(ctx.get());
    if (failure.cert == nullptr) failure.cert = leaf;
  }
  ERR_clear_error();
  return failure;
}

// The reason of a failed verification, after `subject` ("tls cert /x.pem",
// "client certificate").
std::string DescribeFailure(const VerifyFailure& failure, X509* leaf,
                            absl::string_view subject, absl::string_view ca) {
  const bool about_leaf = failure.cert == nullptr || failure.cert == leaf;
  const std::string which = about_leaf ? std::string(subject)
                                       : absl::StrCat(subject, ": a certificate of its chain");
  switch (failure.code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::StrCat(which, " expired at ", FormatAsn1Time(X509_get0_notAfter(failure.cert)));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::StrCat(which, " is not valid before ",
                          FormatAsn1Time(X509_get0_notBefore(failure.cert)));
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return absl::StrCat(subject, " is not signed by ", ca, " (",
                          X509_verify_cert_error_string(failure.code), ")");
    case X509_V_ERR_INVALID_PURPOSE:
      return absl::StrCat(which, " is not meant for this use (",
                          X509_verify_cert_error_string(failure.code), ")");
    default:
      return absl::StrCat(which, " failed verification (",
                          X509_verify_cert_error_string(failure.code), ")");
  }
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
}

std::string CommonName(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return cn;
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> sans;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return sans;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    auto text = [](const ASN1_STRING* s) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    };
    switch (name->type) {
      case GEN_DNS:
        sans.push_back(absl::StrCat("DNS:", text(name->d.dNSName)));
        break;
      case GEN_URI:
        sans.push_back(absl::StrCat("URI:", text(name->d.uniformResourceIdentifier)));
        break;
      case GEN_EMAIL:
        sans.push_back(absl::StrCat("email:", text(name->d.rfc822Name)));
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        char buffer[INET6_ADDRSTRLEN] = {};
        const int length = ASN1_STRING_length(ip);
        const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
        if (family != 0 && ::inet_ntop(family, ASN1_STRING_get0_data(ip), buffer,
                                       sizeof(buffer)) != nullptr) {
          sans.push_back(absl::StrCat("IP:", buffer));
        }
        break;
      }
      default:
        break;
    }
  }
  return sans;
}

// "ipv4:127.0.0.1:5000" -> "127.0.0.1", "ipv6:[::1]:5000" -> "::1",
// "ipv6:%5B::1%5D:5000" -> "::1", "unix:..." -> "".
std::string PeerAddress(const std::string& peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    std::string host(rest.substr(0, rest.rfind(':')));
    if (absl::StartsWith(host, "%5B")) host = host.substr(3, host.size() - 6);
    if (absl::StartsWith(host, "[")) host = host.substr(1, host.size() - 2);
    return host;
  }
  return "";
}

// Everything CheckTlsFiles loads, for ServerTls to keep.
struct LoadedFiles {
  std::vector<X509Ptr> cas;
  std::string ca_pem, cert_pem, key_pem;
};

absl::StatusOr<LoadedFiles> LoadAndCheck(const TlsFiles& files) {
  LoadedFiles loaded;
  FL_ASSIGN_OR_RETURN(loaded.ca_pem, ReadWholeFile(files.ca, "tls ca"));
  FL_ASSIGN_OR_RETURN(loaded.cert_pem, ReadWholeFile(files.cert, "tls cert"));
  FL_ASSIGN_OR_RETURN(loaded.key_pem, ReadWholeFile(files.key, "tls key"));
  loaded.cas = ParseCertificates(loaded.ca_pem);
  if (loaded.cas.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls ca ", files.ca, " holds no PEM certificate"));
  }
  std::vector<X509Ptr> chain = ParseCertificates(loaded.cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls cert ", files.cert, " holds no PEM certificate"));
  }
  FL_ASSIGN_OR_RETURN(KeyPtr key, ReadKey(files.key));
  if (X509_check_private_key(chain[0].get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("tls key ", files.key, " does not match cert ", files.cert));
  }
  StorePtr store = MakeStore(loaded.cas);
  StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  VerifyFailure failure = Verify(store.get(), chain[0].get(), untrusted.get(), 0);
  if (failure.code != X509_V_OK) {
    return absl::InvalidArgumentError(DescribeFailure(
        failure, chain[0].get(), absl::StrCat("tls cert ", files.cert),
        absl::StrCat("ca ", files.ca)));
  }
  return loaded;
}

// Writes `content` to `path` through a temporary file and rename(2).
absl::Status WriteFileAtomic(const std::filesystem::path& path, const std::string& content,
                             mode_t mode) {
  const std::string temp = path.string() + ".tmp";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("create ", temp));
  if (::fchmod(fd.get(), mode) != 0) return ErrnoToStatus(errno, absl::StrCat("chmod ", temp));
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("write ", temp));
    }
    written += static_cast<size_t>(n);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", temp));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PeerIdentity::Name() const {
  if (!authenticated) return "anonymous";
  if (!subject.empty()) return subject;
  return sans.empty() ? "unnamed certificate" : sans.front();
}

absl::Status CheckTlsFiles(const TlsFiles& files) { return LoadAndCheck(files).status(); }

// The snapshot the file watcher reads is <dir>/current/{ca,cert,key}.pem,
// where `current` is a symlink to a generation directory. A reload writes a
// new generation and flips the symlink with one rename(2), so the watcher
// never sees a new certificate next to an old key (gRPC reads the files one
// after the other).
struct ServerTls::State {
  TlsFiles files;
  std::filesystem::path dir;
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider;
  std::shared_ptr<grpc::ServerCredentials> credentials;

  std::mutex reload_mu;  // serializes Reload (snapshot writing)
  int generation = 0;    // guarded by reload_mu

  mutable std::mutex store_mu;
  StorePtr store;  // guarded by store_mu; swapped whole, never modified

  StorePtr CurrentStore() const {
    std::lock_guard lock(store_mu);
    return store;
  }

  // Writes the generation after the current one and points `current` at it;
  // keeps the previous generation (the watcher may be reading it) and
  // removes older ones.
  absl::Status WriteSnapshot(const LoadedFiles& loaded) {
    const int next = generation + 1;
    const std::filesystem::path gen_dir = dir / absl::StrCat("gen-", next);
    std::error_code ec;
    std::filesystem::remove_all(gen_dir, ec);
    if (::mkdir(gen_dir.c_str(), 0700) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("create tls snapshot ", gen_dir.string()));
    }
    FL_RETURN_IF_ERROR(WriteFileAtomic(gen_dir / "ca.pem", loaded.ca_pem, 0600));
    FL_RETURN_IF_ERROR(WriteFileAtomic(gen_dir / "cert.pem", loaded.cert_pem, 0600));
    FL_RETURN_IF_ERROR(WriteFileAtomic(gen_dir / "key.pem", loaded.key_pem, 0600));
    const std::filesystem::path link_temp = dir / "current.tmp";
    std::filesystem::remove(link_temp, ec);
    if (::symlink(gen_dir.filename().c_str(), link_temp.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("symlink ", link_temp.string()));
    }
    if (::rename(link_temp.c_str(), (dir / "current").c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", link_temp.string()));
    }
    generation = next;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      int number = 0;
      if (absl::StartsWith(name, "gen-") && absl::SimpleAtoi(name.substr(4), &number) &&
          number < generation - 1) {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
    return absl::OkStatus();
  }
};

ServerTls::ServerTls() : state_(std::make_unique<State>()) {}
ServerTls::~ServerTls() = default;

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Create(const TlsFiles& files,
                                                             const std::string& snapshot_dir) {
  FL_ASSIGN_OR_RETURN(LoadedFiles loaded, LoadAndCheck(files));
  std::unique_ptr<ServerTls> tls(new ServerTls());
  State& state = *tls->state_;
  state.files = files;
  state.dir = snapshot_dir;
  std::error_code ec;
  std::filesystem::create_directories(state.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create tls snapshot dir ", snapshot_dir, ": ", ec.message()));
  }
  if (::chmod(state.dir.c_str(), 0700) != 0) {
    return Annotate(ErrnoToStatus(errno, absl::StrCat("chmod ", snapshot_dir)),
                    "tls snapshot dir");
  }
  // Generations of an earlier process are stale; start numbering afresh.
  for (const auto& entry : std::filesystem::directory_iterator(state.dir, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
  if (absl::Status written = state.WriteSnapshot(loaded); !written.ok()) {
    return absl::InternalError(absl::StrCat("write tls snapshot: ", written.message()));
  }
  state.store = MakeStore(loaded.cas);

  const std::filesystem::path current = state.dir / "current";
  state.provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (current / "key.pem").string(), (current / "cert.pem").string(),
      (current / "ca.pem").string(), kRefreshIntervalSec);
  grpc::experimental::TlsServerCredentialsOptions options(state.provider);
  options.watch_identity_key_cert_pairs();
  options.watch_root_certs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  state.credentials = grpc::experimental::TlsServerCredentials(options);
  if (state.credentials == nullptr) {
    return absl::InternalError("gRPC refused the tls server credentials");
  }
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> ServerTls::credentials() const {
  return state_->credentials;
}

absl::Status ServerTls::Reload() {
  std::lock_guard lock(state_->reload_mu);
  FL_ASSIGN_OR_RETURN(LoadedFiles loaded, LoadAndCheck(state_->files));
  if (absl::Status written = state_->WriteSnapshot(loaded); !written.ok()) {
    return absl::InternalError(absl::StrCat("write tls snapshot: ", written.message()));
  }
  StorePtr store = MakeStore(loaded.cas);
  std::lock_guard store_lock(state_->store_mu);
  state_->store = std::move(store);
  return absl::OkStatus();
}

absl::StatusOr<PeerIdentity> ServerTls::VerifyPeer(const grpc::ServerContext& context) const {
  PeerIdentity identity;
  identity.address = PeerAddress(context.peer());
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<grpc::string_ref> leaf_pem =
      auth == nullptr ? std::vector<grpc::string_ref>()
                      : auth->FindPropertyValues("x509_pem_cert");
  if (leaf_pem.empty()) return absl::UnauthenticatedError("no client certificate");
  std::vector<X509Ptr> leaf = ParseCertificates(std::string(leaf_pem[0].data(), leaf_pem[0].size()));
  if (leaf.empty()) return absl::UnauthenticatedError("client certificate is not readable PEM");
  StackPtr untrusted(sk_X509_new_null());
  for (const grpc::string_ref& pem : auth->FindPropertyValues("x509_pem_cert_chain")) {
    for (X509Ptr& cert : ParseCertificates(std::string(pem.data(), pem.size()))) {
      sk_X509_push(untrusted.get(), cert.release());
    }
  }
  StorePtr store = state_->CurrentStore();
  VerifyFailure failure =
      Verify(store.get(), leaf[0].get(), untrusted.get(), X509_PURPOSE_SSL_CLIENT);
  if (failure.code != X509_V_OK) {
    return absl::UnauthenticatedError(
        DescribeFailure(failure, leaf[0].get(), "client certificate", "a trusted CA"));
  }
  identity.authenticated = true;
  identity.subject = NameToString(X509_get_subject_name(leaf[0].get()));
  identity.common_name = CommonName(X509_get_subject_name(leaf[0].get()));
  identity.sans = SubjectAltNames(leaf[0].get());
  return identity;
}

PeerIdentity AnonymousPeer(const grpc::ServerContext& context) {
  PeerIdentity identity;
  identity.address = PeerAddress(context.peer());
  return identity;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  FL_ASSIGN_OR_RETURN(LoadedFiles loaded, LoadAndCheck(files));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = loaded.ca_pem;
  options.pem_private_key = loaded.key_pem;
  options.pem_cert_chain = loaded.cert_pem;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(options);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC refused the tls channel credentials");
  }
  return credentials;
}

grpc::ChannelArguments ChannelArgumentsFor(const TlsFiles& files) {
  grpc::ChannelArguments args;
  if (!files.server_name.empty()) args.SetSslTargetNameOverride(files.server_name);
  return args;
}

absl::StatusOr<std::string> CertificateSubject(const std::string& cert_path) {
  FL_ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, ReadCertificates(cert_path, "tls cert"));
  return NameToString(X509_get_subject_name(certs[0].get()));
}

bool IsLocalOnlyAddress(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) {
    return true;
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace faultline
