// NftClient: the nftables engines' one door to the kernel's nf_tables.
// Rulesets are written in nft syntax and committed through libnftables
// (nft_run_cmd_from_buffer), so one call is one kernel transaction: all of it
// or nothing. The single object nft syntax cannot express here - an xtables
// NFQUEUE target, because this kernel lacks NFT_QUEUE but has nft_compat - is
// appended with libnftnl/libmnl.
//
// Every call works in the network namespace of the calling thread (a netlink
// socket belongs to the namespace it was opened in) and opens its own
// context, so calls are independent and thread-safe.
//
// Errors: the kernel's answer as nft reports it, mapped to canonical codes
// (No such file or directory -> NotFound, File exists -> AlreadyExists,
// Operation not permitted -> PermissionDenied, Operation not supported /
// Protocol not supported -> FailedPrecondition, syntax errors ->
// InvalidArgument, anything else -> Internal); the message names what was
// run: "nft add table netdev faultline_x: No such file or directory".
#ifndef FAULTLINE_AGENT_FAULTS_NETWORK_NFT_CLIENT_H_
#define FAULTLINE_AGENT_FAULTS_NETWORK_NFT_CLIENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace faultline::agent {

// Runs `commands` (nft syntax, one or more lines) as one transaction and
// returns nft's output (JSON when `json`). `what` names the operation in
// errors. Changes whatever the commands say; atomic.
absl::StatusOr<std::string> NftRun(const std::string& commands, const std::string& what,
                                   bool json = false);

struct NftTable {
  std::string family;  // "inet", "netdev", ...
  std::string name;
  uint64_t handle = 0;
};

// Every table in the namespace. Read-only.
absl::StatusOr<std::vector<NftTable>> ListNftTables();

// The table `family`/`name`; NotFound when absent. Read-only.
absl::StatusOr<NftTable> FindNftTable(const std::string& family, const std::string& name);

// Packet counts of the named counter objects in a table; NotFound when the
// table is absent. Read-only.
absl::StatusOr<std::map<std::string, uint64_t>> NftCounterPackets(const std::string& family,
                                                                  const std::string& table);

// Deletes the table `family`/`name` if it is the one we created: with
// `handle` != 0 only a table with that handle (a same-named table with
// another handle is someone else's and stays; returns OK); with `handle` == 0
// (crash before the handle was recorded) the table of that name. OK when the
// table is already gone. True when this call deleted a table. Idempotent.
absl::StatusOr<bool> DeleteOwnNftTable(const std::string& family, const std::string& name,
                               uint64_t handle);

// Removes every rule of chain `chain` in table `family`/`name` if the table
// has `handle` (else changes nothing). Unlike deleting the table this keeps
// the hooks registered, so packets the kernel queued to userspace from them
// stay valid and can still be accepted. True when the chain was flushed.
// Idempotent.
absl::StatusOr<bool> FlushOwnNftChain(const std::string& family, const std::string& name,
                                      uint64_t handle, const std::string& chain);

// Appends to chain `chain` of table `family`/`table` a rule whose only
// statement is the xtables NFQUEUE target (revision 3) for queue `queue_num`
// with NFQ_FLAG_BYPASS when `bypass` (packets pass when no program listens).
// NotFound when the chain is absent; FailedPrecondition when the kernel lacks
// nft_compat or xt_NFQUEUE. Not idempotent (each call appends a rule).
absl::Status AppendNfqueueRule(const std::string& family, const std::string& table,
                               const std::string& chain, uint16_t queue_num, bool bypass);

}  // namespace faultline::agent

#endif  // FAULTLINE_AGENT_FAULTS_NETWORK_NFT_CLIENT_H_
