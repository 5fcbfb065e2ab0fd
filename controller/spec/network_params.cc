#include "controller/spec/network_params.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/network_limits.h"
#include "common/units.h"
#include "controller/spec/rules.h"

namespace faultline::controller {
namespace {

// "1.5" for (15, 10); exact, trailing zeros dropped.
std::string FormatFixed(uint64_t value, uint64_t divisor) {
  std::string out = absl::StrCat(value / divisor);
  uint64_t frac = value % divisor;
  if (frac == 0) return out;
  std::string digits;
  for (uint64_t d = divisor / 10; d > 0; d /= 10) {
    digits += static_cast<char>('0' + (frac / d) % 10);
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return absl::StrCat(out, ".", digits);
}

std::string FormatPercent(double value) { return absl::StrCat(value, "%"); }

// A percentage written as 25, 2.5 or "25%".
std::optional<double> ParsePercent(const YamlNode& node) {
  if (!node.IsScalar()) return std::nullopt;
  absl::string_view text = absl::StripAsciiWhitespace(node.scalar);
  if (absl::ConsumeSuffix(&text, "%")) text = absl::StripTrailingAsciiWhitespace(text);
  double value = 0;
  if (text.empty() || !absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// Microseconds for a duration such as 100ms, 250us, 1.5s; nullopt on
// garbage or a sign.
std::optional<uint64_t> ParseMicros(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text == "0") return 0;
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration() || d < absl::ZeroDuration()) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(absl::ToInt64Microseconds(d));
}

// Which engines may run `kind`, preferred first (common/network_limits.h);
// empty for a kind that is not a network kind.
const std::vector<std::string>& EnginesFor(absl::string_view kind) {
  static const auto* none = new std::vector<std::string>();
  const NetworkKind* network = FindNetworkKind(kind);
  return network != nullptr ? network->engines : *none;
}

class NetworkReader {
 public:
  NetworkReader(absl::string_view kind, Fields& fields, Diagnostics* diagnostics,
                std::string* summary)
      : kind_(kind), fields_(fields), diagnostics_(diagnostics), summary_(summary) {}

  std::string Field(absl::string_view name) const { return absl::StrCat(kind_, ": ", name); }
  Fields& fields() { return fields_; }
  Diagnostics* diagnostics() { return diagnostics_; }
  const std::string& engine() const { return engine_; }
  void Error(const YamlNode& at, std::string message) { ErrorAt(at.where, std::move(message)); }
  void ErrorAt(const SourceLocation& where, std::string message) {
    diagnostics_->Add(where, std::move(message));
  }
  void Summary(absl::string_view part) {
    if (!summary_->empty()) *summary_ += ' ';
    absl::StrAppend(summary_, part);
  }

  // A percentage in (0, 100] (min_exclusive) or [0, 100].
  std::optional<double> Percent(const YamlNode& node, absl::string_view name, bool min_exclusive) {
    std::optional<double> value = ParsePercent(node);
    if (value && (min_exclusive ? *value > 0 : *value >= 0) && *value <= 100) return value;
    Error(node, absl::StrCat(Field(name), " must be a percentage ",
                             min_exclusive ? "greater than 0 and at most 100" : "0..100",
                             " such as 10 or \"10%\", got ", Describe(node)));
    return std::nullopt;
  }

  // Reads `name` as a percentage if present; adds it to the summary.
  void OptionalPercent(absl::string_view name, bool min_exclusive, double* out) {
    if (const YamlNode* node = fields_.Get(name)) {
      if (auto v = Percent(*node, name, min_exclusive)) {
        *out = *v;
        Summary(absl::StrCat(name, "=", FormatPercent(*v)));
      }
    }
  }

  std::optional<uint64_t> Micros(const YamlNode& node, absl::string_view name, uint64_t min,
                                 uint64_t max) {
    std::optional<uint64_t> value =
        node.IsScalar() ? ParseMicros(node.scalar) : std::optional<uint64_t>();
    if (!value) {
      Error(node, absl::StrCat(Field(name), " must be a duration such as 100ms, 250us or 1s, got ",
                               Describe(node)));
      return std::nullopt;
    }
    if (*value < min || *value > max) {
      Error(node,
            absl::StrCat(Field(name), " must be a duration of at least ", FormatMicroseconds(min),
                         " and at most ", FormatMicroseconds(max), ", got ", node.scalar));
      return std::nullopt;
    }
    return value;
  }

  std::optional<uint64_t> Bytes(const YamlNode& node, absl::string_view name) {
    absl::StatusOr<uint64_t> value =
        node.IsScalar() ? ParseBytes(node.scalar) : absl::InvalidArgumentError("not a scalar");
    if (value.ok() && *value >= kMinBucketBytes && *value <= kMaxBucketBytes) return *value;
    Error(node, absl::StrCat(Field(name), " must be a size of at least ", kMinBucketBytes,
                             " bytes (one full packet) and at most 1Gi, such as 32Ki or 64K, got ",
                             Describe(node)));
    return std::nullopt;
  }

  // One of `choices` (case-insensitive); returns its index.
  std::optional<size_t> Choice(const YamlNode& node, absl::string_view name,
                               const std::vector<std::string>& choices) {
    if (node.IsScalar()) {
      const std::string lower = absl::AsciiStrToLower(node.scalar);
      for (size_t i = 0; i < choices.size(); ++i) {
        if (lower == choices[i]) return i;
      }
    }
    Error(node, absl::StrCat(Field(name), " must be ", OrList(choices), ", got ", Describe(node)));
    return std::nullopt;
  }

  // A list of addresses/CIDRs; nullopt after reporting.
  std::optional<std::vector<std::string>> AddressList(const YamlNode& node, absl::string_view name,
                                                      absl::string_view omit_hint) {
    if (!ExpectSequence(node, Field(name), diagnostics_)) return std::nullopt;
    if (node.items.size() > static_cast<size_t>(kMaxAddresses)) {
      Error(node, absl::StrCat(Field(name), " lists ", node.items.size(), " entries; at most ",
                               kMaxAddresses));
      return std::nullopt;
    }
    bool ok = true;
    if (node.items.empty()) {
      Error(node, absl::StrCat(Field(name), " must list at least one address or CIDR", omit_hint));
      ok = false;
    }
    std::vector<std::string> seen;
    std::vector<std::string> out;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const YamlNode& item = node.items[i];
      const std::string item_name = absl::StrCat(name, "[", i, "]");
      absl::StatusOr<IpPrefix> cidr = absl::InvalidArgumentError("not a scalar");
      if (item.IsScalar()) {
        cidr = ParseIpPrefixKeepingHostBits(absl::StripAsciiWhitespace(item.scalar));
      }
      if (!cidr.ok()) {
        Error(item, absl::StrCat(Field(item_name),
                                 " must be an IPv4 or IPv6 address or CIDR such as 198.18.0.2, "
                                 "198.18.0.0/15 or 2001:db8::/64, got ",
                                 Describe(item)));
        ok = false;
        continue;
      }
      if (HasHostBits(*cidr)) {
        Error(item, absl::StrCat(Field(item_name), " has host bits set after its /", cidr->prefix,
                                 " prefix, got ", Quote(item.scalar), "; did you mean ",
                                 FormatIpPrefix(NetworkOf(*cidr)), "?"));
        ok = false;
        continue;
      }
      const std::string canonical = FormatIpPrefix(*cidr);
      if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) {
        Error(item, absl::StrCat(Field(name), " lists ", canonical, " more than once"));
        ok = false;
        continue;
      }
      seen.push_back(canonical);
      out.emplace_back(absl::StripAsciiWhitespace(item.scalar));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // A list of ports 1..65535.
  std::optional<std::vector<uint32_t>> PortList(const YamlNode& node) {
    if (!ExpectSequence(node, Field("ports"), diagnostics_)) return std::nullopt;
    if (node.items.size() > static_cast<size_t>(kMaxPorts)) {
      Error(node, absl::StrCat(Field("ports"), " lists ", node.items.size(), " ports; at most ",
                               kMaxPorts));
      return std::nullopt;
    }
    bool ok = true;
    if (node.items.empty()) {
      Error(node, absl::StrCat(Field("ports"),
                               " must list at least one port (omit it to match any port)"));
      ok = false;
    }
    std::vector<uint32_t> out;
    for (size_t i = 0; i < node.items.size(); ++i) {
      const YamlNode& item = node.items[i];
      auto v = ReadInt(item, Field(absl::StrCat("ports[", i, "]")), 1, 65535, "a port 1..65535",
                       diagnostics_);
      if (!v) {
        ok = false;
        continue;
      }
      const uint32_t port = static_cast<uint32_t>(*v);
      if (std::find(out.begin(), out.end(), port) != out.end()) {
        Error(item, absl::StrCat(Field("ports"), " lists port ", port, " more than once"));
        ok = false;
        continue;
      }
      out.push_back(port);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // `ports` and `protocol` (shared by the target and partition).
  void PortsAndProtocol(google::protobuf::RepeatedField<uint32_t>* ports,
                        v1::NetworkProtocol* protocol) {
    const YamlNode* ports_node = fields_.Get("ports");
    const YamlNode* protocol_node = fields_.Get("protocol");
    std::string protocol_name;
    if (protocol_node) {
      static const std::vector<std::string> kProtocols = {"tcp", "udp", "icmp"};
      if (auto i = Choice(*protocol_node, "protocol", kProtocols)) {
        protocol_name = kProtocols[*i];
        *protocol = *i == 0   ? v1::NETWORK_PROTOCOL_TCP
                    : *i == 1 ? v1::NETWORK_PROTOCOL_UDP
                              : v1::NETWORK_PROTOCOL_ICMP;
      }
    }
    if (ports_node) {
      if (auto v = PortList(*ports_node)) {
        if (protocol_name == "icmp") {
          Error(*protocol_node,
                absl::StrCat(Field("protocol"),
                             " icmp has no ports; use tcp or udp, or leave protocol out to match "
                             "both"));
        } else {
          ports->Add(v->begin(), v->end());
          Summary(absl::StrCat("ports=", absl::StrJoin(*v, ",")));
        }
      }
    }
    if (!protocol_name.empty()) Summary(absl::StrCat("protocol=", protocol_name));
  }

  // Reads `engine` before anything else, so parameters that only one engine
  // supports can be checked as they are read.
  void ReadEngine() {
    if (const YamlNode* node = fields_.Get("engine")) {
      if (auto i = Choice(*node, "engine", EnginesFor(kind_))) {
        engine_ = EnginesFor(kind_)[*i];
        engine_node_ = node;
      }
    }
  }

  // interface, engine (read by ReadEngine), protect_control_plane (every
  // kind).
  void Common(v1::NetworkTarget* target) {
    if (const YamlNode* node = fields_.Get("interface")) {
      if (auto v = ReadString(*node, Field("interface"), diagnostics_)) {
        if (!IsInterfaceName(*v)) {
          Error(*node,
                absl::StrCat(Field("interface"), " must be an interface name of 1..",
                             kMaxInterfaceName, " characters without \"/\", \":\" or spaces, got ",
                             Describe(*node)));
        } else {
          target->set_interface(*v);
          Summary(absl::StrCat("interface=", *v));
        }
      }
    }
    target->set_engine(engine_);
    if (const YamlNode* node = fields_.Get("protect_control_plane")) {
      const std::string lower = node->IsScalar() ? absl::AsciiStrToLower(node->scalar) : "";
      if (lower == "true") {
        target->set_allow_control_plane(false);
      } else if (lower == "false") {
        target->set_allow_control_plane(true);
      } else {
        Error(*node, absl::StrCat(Field("protect_control_plane"), " must be true or false, got ",
                                  Describe(*node)));
      }
    }
  }

  // Summary tail for engine and control plane (after the filters).
  void CommonSummary(const v1::NetworkTarget& target) {
    if (!target.engine().empty()) Summary(absl::StrCat("engine=", target.engine()));
    if (target.allow_control_plane()) Summary("protect_control_plane=false");
  }

  // The full target of delay/loss/duplicate/corrupt/bandwidth.
  void Target(v1::NetworkTarget* target) {
    Common(target);
    if (const YamlNode* node = fields_.Get("direction")) {
      if (auto i = Choice(*node, "direction", {"egress", "ingress"})) {
        target->set_direction(*i == 0 ? v1::NETWORK_DIRECTION_EGRESS
                                      : v1::NETWORK_DIRECTION_INGRESS);
        if (*i == 1) Summary("direction=ingress");
      }
    }
    const size_t errors_before = diagnostics_->size();
    const YamlNode* destinations = fields_.Get("destinations");
    if (destinations) {
      if (auto v =
              AddressList(*destinations, "destinations", " (omit it to match any destination)")) {
        for (const std::string& cidr : *v) target->add_destinations(cidr);
        Summary(absl::StrCat("destinations=", absl::StrJoin(*v, ",")));
      }
    }
    const YamlNode* sources = fields_.Get("sources");
    if (sources) {
      if (auto v = AddressList(*sources, "sources", " (omit it to match any source)")) {
        for (const std::string& cidr : *v) target->add_sources(cidr);
        Summary(absl::StrCat("sources=", absl::StrJoin(*v, ",")));
      }
    }
    v1::NetworkProtocol protocol = v1::NETWORK_PROTOCOL_ANY;
    PortsAndProtocol(target->mutable_ports(), &protocol);
    target->set_protocol(protocol);
    CommonSummary(*target);
    // Whole-filter checks only on filters that read cleanly.
    if (diagnostics_->size() == errors_before) {
      const int rules = FilterRuleCount(*target);
      if (rules < 0) {
        Error(*fields_.Key("sources"),
              absl::StrCat(kind_,
                           ": destinations and sources share no address family (IPv4 "
                           "and IPv6 cannot match the same packet)"));
      } else if (rules > kMaxFilterRules) {
        ErrorAt(fields_.where(),
                absl::StrCat(kind_, ": the filters expand to ", rules,
                             " classifier rules (destinations x sources x ports x protocols); "
                             "at most ",
                             kMaxFilterRules));
      }
    }
    // An ingress fault filtered by source can find its interface from the
    // route to that source.
    const bool ingress_by_source =
        target->direction() == v1::NETWORK_DIRECTION_INGRESS && sources != nullptr;
    if (!fields_.Key("interface") && !destinations && !ingress_by_source) {
      ErrorAt(fields_.where(),
              absl::StrCat(kind_,
                           " params need interface or destinations (without interface, the "
                           "interface of the route to the first destination is used)"));
    }
  }

  // Reports `key` (if present) as usable only with engine netem, when
  // another engine is pinned.
  void NetemOnly(absl::string_view key, absl::string_view what) {
    if (engine_.empty() || engine_ == "netem") return;
    if (const YamlNode* k = fields_.Key(key)) {
      Error(*k, absl::StrCat(Field(what), " works only with engine netem, not ", engine_));
    }
  }

  const YamlNode* engine_node() const { return engine_node_; }
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  Fields& fields_;
  Diagnostics* diagnostics_;
  std::string* summary_;
  std::string engine_;
  const YamlNode* engine_node_ = nullptr;
};

void ReadDelay(NetworkReader& r, v1::NetworkDelay* out) {
  Fields& f = r.fields();
  if (const YamlNode* node = f.Require("delay")) {
    if (auto v = r.Micros(*node, "delay", kMinDelayUs, kMaxDelayUs)) {
      out->set_delay_us(*v);
      r.Summary(absl::StrCat("delay=", FormatMicroseconds(*v)));
    }
  }
  const YamlNode* jitter = f.Get("jitter");
  bool jitter_ok = false;
  if (jitter) {
    if (auto v = r.Micros(*jitter, "jitter", 0, kMaxDelayUs)) {
      jitter_ok = out->delay_us() == 0 || *v <= out->delay_us();
      if (!jitter_ok) {
        r.Error(*jitter,
                absl::StrCat(r.Field("jitter"), " must not exceed delay (",
                             FormatMicroseconds(out->delay_us()), "), got ", jitter->scalar));
      } else {
        out->set_jitter_us(*v);
        if (*v > 0) r.Summary(absl::StrCat("jitter=", FormatMicroseconds(*v)));
      }
    }
  }
  double correlation = 0;
  r.OptionalPercent("correlation", false, &correlation);
  out->set_correlation_pct(correlation);
  if (correlation > 0) r.NetemOnly("correlation", "correlation");
  if (const YamlNode* node = f.Get("distribution")) {
    static const std::vector<std::string> kNames = {"uniform", "normal", "pareto", "paretonormal"};
    if (auto i = r.Choice(*node, "distribution", kNames)) {
      if (!jitter || (jitter_ok && out->jitter_us() == 0)) {
        r.Error(*node, absl::StrCat(r.Field("distribution"),
                                    " needs jitter (the spread the distribution shapes)"));
      } else {
        static constexpr v1::DelayDistribution kValues[] = {
            v1::DELAY_DISTRIBUTION_UNIFORM, v1::DELAY_DISTRIBUTION_NORMAL,
            v1::DELAY_DISTRIBUTION_PARETO, v1::DELAY_DISTRIBUTION_PARETONORMAL};
        out->set_distribution(kValues[*i]);
        r.Summary(absl::StrCat("distribution=", kNames[*i]));
      }
    }
  }
  if (const YamlNode* node = f.Get("reorder")) {
    r.NetemOnly("reorder", "reorder");
    if (ExpectMapping(*node, r.Field("reorder"), r.diagnostics())) {
      Fields reorder(*node, absl::StrCat(r.kind(), " reorder"), r.diagnostics());
      if (const YamlNode* percent = reorder.Require("percent")) {
        if (auto v = r.Percent(*percent, "reorder.percent", true)) {
          out->set_reorder_pct(*v);
          r.Summary(absl::StrCat("reorder=", FormatPercent(*v)));
        }
      }
      if (const YamlNode* gap = reorder.Get("gap")) {
        if (auto v = ReadInt(*gap, r.Field("reorder.gap"), 1, kMaxReorderGap,
                             absl::StrCat("an integer 1..", kMaxReorderGap,
                                          " (every gap-th packet is sent at once)"),
                             r.diagnostics())) {
          out->set_reorder_gap(static_cast<uint32_t>(*v));
          r.Summary(absl::StrCat("gap=", *v));
        }
      }
      reorder.Finish();
    }
  }
  r.Target(out->mutable_target());
}

void ReadLoss(NetworkReader& r, v1::NetworkLoss* out) {
  Fields& f = r.fields();
  const YamlNode* model = f.Get("model");
  std::optional<size_t> model_index = 0;  // random unless written
  if (model) model_index = r.Choice(*model, "model", {"random", "gilbert-elliott"});
  const YamlNode* percent = f.Get("percent");
  const YamlNode* correlation = f.Get("correlation");
  const YamlNode* p = f.Get("p");
  const YamlNode* rr = f.Get("r");
  const YamlNode* bad_loss = f.Get("bad_loss");
  const YamlNode* good_loss = f.Get("good_loss");
  if (!model_index) {  // reported; which parameters belong is unknown
    r.Target(out->mutable_target());
    return;
  }
  const bool gilbert = *model_index == 1;
  if (!gilbert) {
    if (!percent) {
      r.ErrorAt(f.where(), absl::StrCat("missing required field \"percent\" in ", f.context()));
    }
    if (percent) {
      if (auto v = r.Percent(*percent, "percent", true)) {
        out->set_percent(*v);
        r.Summary(absl::StrCat("percent=", FormatPercent(*v)));
      }
    }
    if (correlation) {
      if (auto v = r.Percent(*correlation, "correlation", false)) {
        out->set_correlation_pct(*v);
        r.Summary(absl::StrCat("correlation=", FormatPercent(*v)));
      }
    }
    for (const char* key : {"p", "r", "bad_loss", "good_loss"}) {
      if (const YamlNode* k = f.Key(key)) {
        r.Error(*k, absl::StrCat(r.Field(key),
                                 " belongs to model gilbert-elliott; add "
                                 "model: gilbert-elliott or remove it"));
      }
    }
  } else {
    out->set_model(v1::LOSS_MODEL_GILBERT_ELLIOTT);
    r.Summary("model=gilbert-elliott");
    for (const char* key : {"percent", "correlation"}) {
      if (const YamlNode* k = f.Key(key)) {
        r.Error(*k, absl::StrCat(r.Field(key),
                                 " cannot be used with model gilbert-elliott (its loss comes "
                                 "from p, r, bad_loss and good_loss)"));
      }
    }
    v1::GilbertElliott* ge = out->mutable_gilbert_elliott();
    for (const auto& [node, key] : {std::pair{p, "p"}, std::pair{rr, "r"}}) {
      if (!node) {
        r.ErrorAt(f.where(), absl::StrCat("missing required field \"", key, "\" in ", f.context(),
                                          " (model gilbert-elliott)"));
      }
    }
    ge->set_bad_loss_pct(100);
    ge->set_good_loss_pct(0);
    const std::tuple<const YamlNode*, const char*, void (v1::GilbertElliott::*)(double)> kParams[] =
        {{p, "p", &v1::GilbertElliott::set_p_pct},
         {rr, "r", &v1::GilbertElliott::set_r_pct},
         {bad_loss, "bad_loss", &v1::GilbertElliott::set_bad_loss_pct},
         {good_loss, "good_loss", &v1::GilbertElliott::set_good_loss_pct}};
    bool read_all = p && rr;
    for (const auto& [node, name, setter] : kParams) {
      if (!node) continue;
      if (auto v = r.Percent(*node, name, false)) {
        (ge->*setter)(*v);
      } else {
        read_all = false;
      }
    }
    if (read_all && !(ge->good_loss_pct() > 0) && !(ge->p_pct() > 0 && ge->bad_loss_pct() > 0)) {
      r.Error(*model, absl::StrCat(r.Field("model"),
                                   " gilbert-elliott with these parameters drops nothing: give "
                                   "good_loss > 0, or p > 0 with bad_loss > 0"));
    }
    r.Summary(absl::StrCat("p=", FormatPercent(ge->p_pct()), " r=", FormatPercent(ge->r_pct()),
                           " bad_loss=", FormatPercent(ge->bad_loss_pct()),
                           " good_loss=", FormatPercent(ge->good_loss_pct())));
  }
  r.Target(out->mutable_target());
  if (gilbert) r.NetemOnly("model", "model gilbert-elliott");
  if (!gilbert && out->correlation_pct() > 0) r.NetemOnly("correlation", "correlation");
}

template <typename Message>
void ReadPercentKind(NetworkReader& r, Message* out) {
  if (const YamlNode* node = r.fields().Require("percent")) {
    if (auto v = r.Percent(*node, "percent", true)) {
      out->set_percent(*v);
      r.Summary(absl::StrCat("percent=", FormatPercent(*v)));
    }
  }
  double correlation = 0;
  r.OptionalPercent("correlation", false, &correlation);
  out->set_correlation_pct(correlation);
  r.Target(out->mutable_target());
}

void ReadBandwidth(NetworkReader& r, v1::NetworkBandwidth* out) {
  Fields& f = r.fields();
  if (const YamlNode* node = f.Require("rate")) {
    std::optional<uint64_t> rate = node->IsScalar() ? ParseBitRate(node->scalar) : std::nullopt;
    if (!rate && node->IsScalar() && IsAmbiguousRateUnit(node->scalar)) {
      r.Error(*node, absl::StrCat(r.Field("rate"), " ", Describe(*node),
                                  " is ambiguous: tc reads \"bps\" as bytes per second, most "
                                  "people as bits; write bits per second with kbit, mbit or "
                                  "gbit (10mbps as bytes is 80mbit)"));
    } else if (!rate || *rate < kMinRateBps || *rate > kMaxRateBps) {
      r.Error(*node, absl::StrCat(r.Field("rate"),
                                  " must be a rate of at least 8kbit and at most 100gbit such as "
                                  "500kbit, 10mbit or 1gbit, got ",
                                  Describe(*node)));
    } else {
      out->set_rate_bps(*rate);
      r.Summary(absl::StrCat("rate=", FormatBitRate(*rate)));
    }
  }
  if (const YamlNode* node = f.Get("burst")) {
    if (auto v = r.Bytes(*node, "burst")) {
      out->set_burst_bytes(*v);
      r.Summary(absl::StrCat("burst=", FormatBytes(*v)));
    }
  }
  if (const YamlNode* node = f.Get("limit")) {
    if (auto v = r.Bytes(*node, "limit")) {
      out->set_limit_bytes(*v);
      r.Summary(absl::StrCat("limit=", FormatBytes(*v)));
    }
  }
  v1::NetworkTarget* target = out->mutable_target();
  r.Target(target);
  if (r.engine() == "tbf") {
    std::vector<std::string> filters;
    for (const char* key : {"destinations", "sources", "ports", "protocol"}) {
      if (f.Key(key)) filters.push_back(key);
    }
    if (!filters.empty()) {
      r.Error(*r.engine_node(),
              absl::StrCat(r.Field("engine"),
                           " tbf shapes the whole interface and cannot filter "
                           "by ",
                           absl::StrJoin(filters, ", "), "; use engine htb or remove the filters"));
    }
  }
}

void ReadPartition(NetworkReader& r, v1::NetworkPartition* out) {
  Fields& f = r.fields();
  if (const YamlNode* node = f.Require("peers")) {
    if (auto v = r.AddressList(*node, "peers", " (the hosts to cut off)")) {
      for (const std::string& cidr : *v) out->add_peers(cidr);
      r.Summary(absl::StrCat("peers=", absl::StrJoin(*v, ",")));
    }
  }
  if (const YamlNode* node = f.Get("direction")) {
    static const std::vector<std::string> kNames = {"both", "to", "from"};
    if (auto i = r.Choice(*node, "direction", kNames)) {
      static constexpr v1::PartitionDirection kValues[] = {
          v1::PARTITION_DIRECTION_BOTH, v1::PARTITION_DIRECTION_TO, v1::PARTITION_DIRECTION_FROM};
      out->set_direction(kValues[*i]);
    }
  }
  r.Summary(absl::StrCat("direction=", out->direction() == v1::PARTITION_DIRECTION_TO ? "to"
                                       : out->direction() == v1::PARTITION_DIRECTION_FROM
                                           ? "from"
                                           : "both"));
  v1::NetworkProtocol protocol = v1::NETWORK_PROTOCOL_ANY;
  r.PortsAndProtocol(out->mutable_ports(), &protocol);
  out->set_protocol(protocol);
  r.Common(out->mutable_target());
  r.CommonSummary(out->target());
  for (const char* key : {"destinations", "sources"}) {
    f.Get(key);
    if (const YamlNode* k = f.Key(key)) {
      r.Error(*k, absl::StrCat(r.Field(key),
                               " cannot be used in a partition; list the hosts to cut off in "
                               "peers and choose to/from/both with direction"));
    }
  }
}

}  // namespace

const std::vector<std::string>& NetworkFaultKinds() {
  static const auto* kinds = [] {
    auto* names = new std::vector<std::string>();
    for (const NetworkKind& kind : NetworkKinds()) names->push_back(kind.name);
    return names;
  }();
  return *kinds;
}

bool IsNetworkFaultKind(absl::string_view kind) { return FindNetworkKind(kind) != nullptr; }

void ReadNetworkParams(absl::string_view kind, Fields& fields, Diagnostics* diagnostics,
                       v1::FaultSpec* spec, std::string* summary) {
  NetworkReader r(kind, fields, diagnostics, summary);
  r.ReadEngine();
  if (kind == "network.delay") {
    ReadDelay(r, spec->mutable_network_delay());
  } else if (kind == "network.loss") {
    ReadLoss(r, spec->mutable_network_loss());
  } else if (kind == "network.duplicate") {
    ReadPercentKind(r, spec->mutable_network_duplicate());
  } else if (kind == "network.corrupt") {
    ReadPercentKind(r, spec->mutable_network_corrupt());
  } else if (kind == "network.bandwidth") {
    ReadBandwidth(r, spec->mutable_network_bandwidth());
  } else if (kind == "network.partition") {
    ReadPartition(r, spec->mutable_network_partition());
  } else {
    diagnostics->Add(fields.where(), absl::StrCat("unknown fault kind \"", kind, "\""));
  }
}

std::optional<uint64_t> ParseBitRate(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t end = 0;
  while (end < text.size() && (absl::ascii_isdigit(text[end]) || text[end] == '.')) ++end;
  if (end == 0) return std::nullopt;
  double number = 0;
  if (!absl::SimpleAtod(text.substr(0, end), &number) || !std::isfinite(number) || number < 0) {
    return std::nullopt;
  }
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(end)));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},        {"bit", 1},
      {"kbit", 1e3},  {"kibit", 1024.0},
      {"mbit", 1e6},  {"mibit", 1048576.0},
      {"gbit", 1e9},  {"gibit", 1073741824.0},
      {"tbit", 1e12}, {"tibit", 1099511627776.0},
  };
  for (const auto& [name, multiplier] : kUnits) {
    if (unit != name) continue;
    const double bits = std::round(number * multiplier);
    // 2^64 as a double; anything at or above it does not fit.
    if (bits >= 18446744073709551616.0) return std::nullopt;
    return static_cast<uint64_t>(bits);
  }
  return std::nullopt;
}

bool IsAmbiguousRateUnit(absl::string_view text) {
  return absl::EndsWithIgnoreCase(absl::StripAsciiWhitespace(text), "bps");
}

std::string FormatBitRate(uint64_t bits_per_second) {
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {1'000'000'000'000, "tbit"}, {1'000'000'000, "gbit"}, {1'000'000, "mbit"}, {1'000, "kbit"}};
  for (const auto& [size, name] : kUnits) {
    if (bits_per_second >= size && bits_per_second % size == 0) {
      return absl::StrCat(bits_per_second / size, name);
    }
  }
  return absl::StrCat(bits_per_second, "bit");
}

std::string FormatMicroseconds(uint64_t us) {
  if (us == 0) return "0s";
  if (us >= 1'000'000) return absl::StrCat(FormatFixed(us, 1'000'000), "s");
  if (us >= 1'000) return absl::StrCat(FormatFixed(us, 1'000), "ms");
  return absl::StrCat(us, "us");
}

}  // namespace faultline::controller
