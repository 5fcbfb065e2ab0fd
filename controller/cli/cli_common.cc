#include "controller/cli/cli_common.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/time/time.h"
#include "common/logging.h"
#include "common/status.h"
#include "controller/store/sqlite_store.h"

namespace po = boost::program_options;

namespace faultline::controller {

po::options_description CommonOptions(CommonFlags* c) {
  po::options_description d("common options");
  d.add_options()
      ("journal", po::value(&c->journal), "journal database (SQLite)")
      ("journal-durability", po::value(&c->journal_durability)->default_value("full"),
       "full (fsync every event) or normal (survives a controller crash, not power loss)")
      ("log-level", po::value(&c->log_level)->default_value("warn"), "trace|debug|info|warn|error")
      ("log-format", po::value(&c->log_format)->default_value("text"), "text|json")
      ("help,h", "show help");
  return d;
}

po::options_description TlsOptions(TlsFiles* t) {
  po::options_description d("mutual TLS (agents: override the inventory's tls; serve clients)");
  d.add_options()
      ("tls-ca", po::value(&t->ca), "CA bundle the agent's or serve's certificate must chain to")
      ("tls-cert", po::value(&t->cert), "this controller's client certificate (PEM)")
      ("tls-key", po::value(&t->key), "its private key (PEM)")
      ("tls-server-name", po::value(&t->server_name),
       "name the server's certificate must carry (default: the address's host)");
  return d;
}

TlsFiles WithTlsEnvironment(TlsFiles flags) {
  const auto fill = [](std::string* value, const char* name) {
    const char* env = std::getenv(name);
    if (value->empty() && env != nullptr) *value = env;
  };
  fill(&flags.ca, "FAULTLINE_TLS_CA");
  fill(&flags.cert, "FAULTLINE_TLS_CERT");
  fill(&flags.key, "FAULTLINE_TLS_KEY");
  return flags;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ServeClientCredentials(
    const TlsFiles& files) {
  if (files.empty()) return grpc::InsecureChannelCredentials();
  if (files.ca.empty() || files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-ca, --tls-cert and --tls-key (or $FAULTLINE_TLS_CA/_CERT/_KEY) must be given "
        "together");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(files);
  if (!credentials.ok()) return Annotate(credentials.status(), "--tls-*");
  return credentials;
}

bool ParseArgs(const std::vector<std::string>& args, const po::options_description& options,
               const po::positional_options_description& positional, po::variables_map* vm) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << "faultline: " << e.what() << "\n";
    return false;
  }
  return true;
}

bool InitLogs(const CommonFlags& c) {
  absl::Status s = InitLogging("faultline", c.log_level, c.log_format);
  if (!s.ok()) std::cerr << "faultline: " << s.message() << "\n";
  return s.ok();
}

absl::StatusOr<std::unique_ptr<JournalStore>> OpenJournal(const CommonFlags& c) {
  FL_ASSIGN_OR_RETURN(JournalDurability durability, ParseJournalDurability(c.journal_durability));
  return OpenSqliteStore(c.journal.empty() ? DefaultJournalPath() : c.journal,
                         JournalOptions{durability});
}

std::string CurrentUser() {
  const char* user = std::getenv("USER");
  if (user != nullptr && user[0] != '\0') return user;
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "unknown";
}

std::string Clock(int64_t unix_ms) {
  return absl::FormatTime("%H:%M:%E3S", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

}  // namespace faultline::controller
