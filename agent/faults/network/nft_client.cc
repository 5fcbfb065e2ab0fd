#include "agent/faults/network/nft_client.h"

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <nftables/libnftables.h>
#include <time.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace faultline::agent {
namespace {

// libnftables keeps some process-wide state (its symbol tables, gmp); one
// context at a time keeps it simple and costs nothing at our call rate.
std::mutex nft_mutex;

struct CtxDeleter {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};

// nft's first "Error: ..." line, without the prefix.
std::string FirstError(const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "Error: ")) return std::string(line);
  }
  std::string trimmed(absl::StripAsciiWhitespace(text));
  return trimmed.empty() ? "failed" : trimmed;
}

absl::Status NftError(const std::string& what, const std::string& error_text) {
  std::string error = FirstError(error_text);
  std::string message = absl::StrCat("nft ", what, ": ", error);
  if (!error.empty()) {
    size_t colon = message.rfind(": ");
    if (colon != std::string::npos && colon + 2 < message.size()) {
      message[colon + 2] = static_cast<char>(std::tolower(message[colon + 2]));
    }
  }
  if (absl::StrContains(error, "No such file or directory")) return absl::NotFoundError(message);
  if (absl::StrContains(error, "File exists")) return absl::AlreadyExistsError(message);
  if (absl::StrContains(error, "Operation not permitted")) {
    return absl::PermissionDeniedError(message);
  }
  if (absl::StrContains(error, "not supported")) return absl::FailedPreconditionError(message);
  if (absl::StrContains(error, "syntax error") || absl::StrContains(error, "Could not resolve") ||
      absl::StrContains(error, "Invalid argument")) {
    return absl::InvalidArgumentError(message);
  }
  return absl::InternalError(message);
}

int FamilyNumber(const std::string& family) {
  if (family == "ip") return NFPROTO_IPV4;
  if (family == "ip6") return NFPROTO_IPV6;
  if (family == "inet") return NFPROTO_INET;
  if (family == "netdev") return NFPROTO_NETDEV;
  if (family == "bridge") return NFPROTO_BRIDGE;
  if (family == "arp") return NFPROTO_ARP;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> NftRun(const std::string& commands, const std::string& what,
                                   bool json) {
  std::lock_guard<std::mutex> lock(nft_mutex);
  std::unique_ptr<nft_ctx, CtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("nft ", what, ": no nft context"));
  if (json) {
    nft_ctx_output_set_flags(ctx.get(), nft_ctx_output_get_flags(ctx.get()) |
                                            NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  }
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  int rc = nft_run_cmd_from_buffer(ctx.get(), commands.c_str());
  if (rc != 0) {
    const char* error = nft_ctx_get_error_buffer(ctx.get());
    return NftError(what, error != nullptr ? error : "");
  }
  const char* output = nft_ctx_get_output_buffer(ctx.get());
  return std::string(output != nullptr ? output : "");
}

absl::StatusOr<std::vector<NftTable>> ListNftTables() {
  FL_ASSIGN_OR_RETURN(std::string output, NftRun("list tables", "list tables", /*json=*/true));
  auto json = nlohmann::json::parse(output, nullptr, false);
  if (json.is_discarded() || !json.contains("nftables")) {
    return absl::InternalError("nft list tables: output is not JSON");
  }
  std::vector<NftTable> tables;
  for (const auto& item : json["nftables"]) {
    if (!item.contains("table")) continue;
    const auto& t = item["table"];
    tables.push_back(NftTable{t.value("family", ""), t.value("name", ""),
                              t.value("handle", uint64_t{0})});
  }
  return tables;
}

absl::StatusOr<NftTable> FindNftTable(const std::string& family, const std::string& name) {
  FL_ASSIGN_OR_RETURN(std::vector<NftTable> tables, ListNftTables());
  for (const NftTable& table : tables) {
    if (table.family == family && table.name == name) return table;
  }
  return absl::NotFoundError(absl::StrCat("nft table ", family, " ", name, " not found"));
}

absl::StatusOr<std::map<std::string, uint64_t>> NftCounterPackets(const std::string& family,
                                                                  const std::string& table) {
  std::string what = absl::StrCat("list counters table ", family, " ", table);
  FL_ASSIGN_OR_RETURN(std::string output, NftRun(what, what, /*json=*/true));
  auto json = nlohmann::json::parse(output, nullptr, false);
  if (json.is_discarded() || !json.contains("nftables")) {
    return absl::InternalError(absl::StrCat("nft ", what, ": output is not JSON"));
  }
  std::map<std::string, uint64_t> counters;
  for (const auto& item : json["nftables"]) {
    if (!item.contains("counter")) continue;
    const auto& c = item["counter"];
    counters[c.value("name", "")] = c.value("packets", uint64_t{0});
  }
  return counters;
}

absl::StatusOr<bool> DeleteOwnNftTable(const std::string& family, const std::string& name,
                                       uint64_t handle) {
  auto found = FindNftTable(family, name);
  if (absl::IsNotFound(found.status())) return false;
  FL_RETURN_IF_ERROR(found.status());
  if (handle != 0 && found->handle != handle) return false;
  // By handle: if the table vanished and a namesake appeared since the
  // lookup, the kernel refuses instead of deleting the namesake.
  std::string command = absl::StrCat("delete table ", family, " handle ", found->handle);
  absl::Status deleted = NftRun(command, command).status();
  if (absl::IsNotFound(deleted)) return false;
  FL_RETURN_IF_ERROR(deleted);
  return true;
}

absl::StatusOr<bool> FlushOwnNftChain(const std::string& family, const std::string& name,
                                      uint64_t handle, const std::string& chain) {
  auto found = FindNftTable(family, name);
  if (absl::IsNotFound(found.status())) return false;
  FL_RETURN_IF_ERROR(found.status());
  if (found->handle != handle) return false;
  std::string command = absl::StrCat("flush chain ", family, " ", name, " ", chain);
  absl::Status flushed = NftRun(command, command).status();
  if (absl::IsNotFound(flushed)) return false;
  FL_RETURN_IF_ERROR(flushed);
  return true;
}

absl::Status AppendNfqueueRule(const std::string& family, const std::string& table,
                               const std::string& chain, uint16_t queue_num, bool bypass) {
  const std::string what =
      absl::StrCat("add rule ", family, " ", table, " ", chain, " NFQUEUE num ", queue_num);
  int family_number = FamilyNumber(family);
  if (family_number < 0) {
    return absl::InvalidArgumentError(absl::StrCat("nft ", what, ": unknown family"));
  }

  // xt_NFQ_info_v3 padded to XT_ALIGN (8 bytes), as iptables sends it.
  struct {
    xt_NFQ_info_v3 info;
    uint16_t pad;
  } info{};
  info.info.queuenum = queue_num;
  info.info.queues_total = 1;
  info.info.flags = bypass ? NFQ_FLAG_BYPASS : 0;

  nftnl_rule* rule = nftnl_rule_alloc();
  nftnl_expr* target = nftnl_expr_alloc("target");
  if (rule == nullptr || target == nullptr) {
    if (rule != nullptr) nftnl_rule_free(rule);
    if (target != nullptr) nftnl_expr_free(target);
    return absl::ResourceExhaustedError(absl::StrCat("nft ", what, ": out of memory"));
  }
  std::unique_ptr<nftnl_rule, void (*)(const nftnl_rule*)> rule_owner(rule, nftnl_rule_free);
  nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, family_number);
  nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain.c_str());
  nftnl_expr_set_str(target, NFTNL_EXPR_TG_NAME, "NFQUEUE");
  nftnl_expr_set_u32(target, NFTNL_EXPR_TG_REV, 3);
  // libnftnl takes ownership of the info buffer and free()s it with the rule.
  void* info_copy = std::malloc(sizeof(info));
  if (info_copy == nullptr) {
    nftnl_rule_free(rule_owner.release());
    nftnl_expr_free(target);
    return absl::ResourceExhaustedError(absl::StrCat("nft ", what, ": out of memory"));
  }
  std::memcpy(info_copy, &info, sizeof(info));
  nftnl_expr_set(target, NFTNL_EXPR_TG_INFO, info_copy, sizeof(info));
  nftnl_rule_add_expr(rule, target);  // the rule owns the expression now

  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 2);
  uint32_t seq = static_cast<uint32_t>(time(nullptr));
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  const uint32_t rule_seq = seq++;
  nlmsghdr* header = nftnl_rule_nlmsg_build_hdr(
      static_cast<char*>(mnl_nlmsg_batch_current(batch)), NFT_MSG_NEWRULE, family_number,
      NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK, rule_seq);
  nftnl_rule_nlmsg_build_payload(header, rule);
  mnl_nlmsg_batch_next(batch);
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);

  mnl_socket* socket = mnl_socket_open(NETLINK_NETFILTER);
  if (socket == nullptr) {
    mnl_nlmsg_batch_stop(batch);
    return faultline::ErrnoToStatus(errno, absl::StrCat("nft ", what, ": open netlink socket"));
  }
  std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> socket_owner(socket, mnl_socket_close);
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    mnl_nlmsg_batch_stop(batch);
    return faultline::ErrnoToStatus(errno, absl::StrCat("nft ", what, ": bind netlink socket"));
  }
  const uint32_t port_id = mnl_socket_get_portid(socket);
  ssize_t sent = mnl_socket_sendto(socket, mnl_nlmsg_batch_head(batch),
                                   mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (sent < 0) return faultline::ErrnoToStatus(errno, absl::StrCat("nft ", what, ": send"));

  // One ACK (or error) for the rule message.
  std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    ssize_t received = mnl_socket_recvfrom(socket, reply.data(), reply.size());
    if (received < 0) return faultline::ErrnoToStatus(errno, absl::StrCat("nft ", what, ": receive"));
    int rc = mnl_cb_run(reply.data(), received, rule_seq, port_id, nullptr, nullptr);
    if (rc == MNL_CB_STOP) return absl::OkStatus();
    if (rc < 0) {
      int error = errno;
      if (error == EOPNOTSUPP || error == ENOENT) {
        // ENOENT is also what the kernel answers for an unknown xt target.
        absl::Status chain_present =
            NftRun(absl::StrCat("list chain ", family, " ", table, " ", chain), "list chain")
                .status();
        if (!chain_present.ok()) return chain_present;
        return absl::FailedPreconditionError(
            absl::StrCat("nft ", what, ": kernel has no xt NFQUEUE target through nft_compat"));
      }
      return faultline::ErrnoToStatus(error, absl::StrCat("nft ", what));
    }
  }
}

}  // namespace faultline::agent
