// Pieces every `faultline` subcommand shares: the journal/log options, the
// Boost.Program_options parse that turns a usage error into one line on
// stderr, and opening the journal those options name. Each command's own
// flags stay with the command (run_command.h, review_commands.h,
// serve_commands.h, plan_command.h).
#ifndef FAULTLINE_CONTROLLER_CLI_CLI_COMMON_H_
#define FAULTLINE_CONTROLLER_CLI_CLI_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/program_options.hpp"
#include "common/tls.h"
#include "controller/store/journal_store.h"

namespace faultline::controller {

// --journal, --journal-durability, --log-level, --log-format, --help.
struct CommonFlags {
  std::string journal;
  std::string journal_durability = "full";
  std::string log_level = "warn";
  std::string log_format = "text";
};

boost::program_options::options_description CommonOptions(CommonFlags* flags);

// --tls-ca, --tls-cert, --tls-key, --tls-server-name into `flags`: the
// controller's client certificate for mutual TLS. For agents they replace
// the inventory's tls files (AgentTls in run/agent_client.h); clients of
// `faultline serve` (--server) use them to reach a serve with tls.
boost::program_options::options_description TlsOptions(TlsFiles* flags);

// For serve clients: each of ca/cert/key left empty by the flags is taken
// from $FAULTLINE_TLS_CA / $FAULTLINE_TLS_CERT / $FAULTLINE_TLS_KEY.
TlsFiles WithTlsEnvironment(TlsFiles flags);

// Channel credentials for a client of `faultline serve`: plaintext when
// `files` is empty, else mutual TLS (MakeChannelCredentials). Errors:
// InvalidArgument when ca, cert and key are not all given; CheckTlsFiles's
// otherwise, prefixed "--tls-*".
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ServeClientCredentials(
    const TlsFiles& files);

// Parses `args` against `options` (+ positionals) into `vm`. On a usage error
// prints "faultline: <problem>" to stderr and returns false.
bool ParseArgs(const std::vector<std::string>& args,
               const boost::program_options::options_description& options,
               const boost::program_options::positional_options_description& positional,
               boost::program_options::variables_map* vm);

// Starts logging as the flags say; prints the problem and returns false when
// the level or format is unknown.
bool InitLogs(const CommonFlags& flags);

// Opens (creating if needed) the journal the flags name: --journal, else
// $FAULTLINE_JOURNAL, else the default path. Errors as OpenSqliteStore.
absl::StatusOr<std::unique_ptr<JournalStore>> OpenJournal(const CommonFlags& flags);

// $USER, else the effective user's name, else "unknown" (note authors).
std::string CurrentUser();

// "14:23:01.123": the UTC time of day of a Unix-ms timestamp, the first
// column of the event lines `run` and `watch` print.
std::string Clock(int64_t unix_ms);

}  // namespace faultline::controller

#endif  // FAULTLINE_CONTROLLER_CLI_CLI_COMMON_H_
