// Tests for the network fault parameters: each kind read into its proto
// message with the summary shown to people, the unit parsers, and a table of
// bad inputs with the exact "file:line:col: message" each must produce.
#include "controller/spec/network_params.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/spec/experiment.h"
#include "controller/spec/fault_params.h"
#include "controller/spec/spec_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using ::testing::ElementsAre;

// One flow-style step on line 5: "  - {fault: KIND, params: {PARAMS}, duration: 1s}".
// The params mapping opens at column 25 + kind length (its first key one
// column later).
std::string NetStep(const std::string& kind, const std::string& params) {
  return absl::StrCat(kHead, "  - {fault: ", kind, ", params: {", params, "}, duration: 1s}\n");
}

// The single step of a valid experiment; fails the test otherwise.
Step ParseStep(const std::string& kind, const std::string& params) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<Experiment> e = ParseExperiment(NetStep(kind, params), kFile, &diagnostics);
  for (const Diagnostic& d : diagnostics) ADD_FAILURE() << d.ToString();
  if (!e.ok() || e->method.size() != 1) {
    ADD_FAILURE() << "no step parsed for " << kind << " {" << params << "}";
    return {};
  }
  return e->method[0];
}

// --- kinds ----------------------------------------------------------------------

TEST(NetworkParamsTest, NetworkKindsAreSupportedInCatalogueOrder) {
  EXPECT_THAT(NetworkFaultKinds(),
              ElementsAre("network.delay", "network.loss", "network.duplicate", "network.corrupt",
                          "network.bandwidth", "network.partition"));
  const std::vector<std::string>& all = SupportedFaultKinds();
  ASSERT_GE(all.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(all.begin(), all.begin() + 6), NetworkFaultKinds());
  for (const std::string& kind : NetworkFaultKinds()) {
    EXPECT_TRUE(IsNetworkFaultKind(kind));
    EXPECT_FALSE(IsLaterFaultKind(kind));
  }
  EXPECT_FALSE(IsNetworkFaultKind("cpu.pressure"));
  EXPECT_FALSE(IsNetworkFaultKind("network.jitter"));
}

// --- happy paths ------------------------------------------------------------------

TEST(NetworkParamsTest, DelayWithEveryField) {
  const Step step = ParseStep(
      "network.delay",
      "delay: 100ms, jitter: 1500us, correlation: \"25%\", distribution: Normal, reorder: "
      "{percent: 5, gap: 3}, interface: veth0, direction: ingress, destinations: [198.18.0.2, "
      "\"198.18.1.0/24\", \"2001:db8::/64\"], sources: [\"198.18.0.1/32\"], ports: [5432, 80], "
      "protocol: TCP, engine: netem, protect_control_plane: false");
  ASSERT_TRUE(step.spec.has_network_delay());
  const v1::NetworkDelay& d = step.spec.network_delay();
  EXPECT_EQ(d.delay_us(), 100000u);
  EXPECT_EQ(d.jitter_us(), 1500u);
  EXPECT_EQ(d.correlation_pct(), 25.0);
  EXPECT_EQ(d.distribution(), v1::DELAY_DISTRIBUTION_NORMAL);
  EXPECT_EQ(d.reorder_pct(), 5.0);
  EXPECT_EQ(d.reorder_gap(), 3u);
  const v1::NetworkTarget& t = d.target();
  EXPECT_EQ(t.interface(), "veth0");
  EXPECT_EQ(t.direction(), v1::NETWORK_DIRECTION_INGRESS);
  EXPECT_THAT(t.destinations(), ElementsAre("198.18.0.2", "198.18.1.0/24", "2001:db8::/64"));
  EXPECT_THAT(t.sources(), ElementsAre("198.18.0.1/32"));
  EXPECT_THAT(t.ports(), ElementsAre(5432u, 80u));
  EXPECT_EQ(t.protocol(), v1::NETWORK_PROTOCOL_TCP);
  EXPECT_EQ(t.engine(), "netem");
  EXPECT_TRUE(t.allow_control_plane());
  EXPECT_EQ(step.params_summary,
            "delay=100ms jitter=1.5ms correlation=25% distribution=normal reorder=5% gap=3 "
            "interface=veth0 direction=ingress destinations=198.18.0.2,198.18.1.0/24,"
            "2001:db8::/64 sources=198.18.0.1/32 ports=5432,80 protocol=tcp engine=netem "
            "protect_control_plane=false");
  EXPECT_EQ(step.label, "network.delay");
}

TEST(NetworkParamsTest, DelayDefaults) {
  const Step step = ParseStep("network.delay", "delay: 50ms, interface: eth0");
  const v1::NetworkDelay& d = step.spec.network_delay();
  EXPECT_EQ(d.delay_us(), 50000u);
  EXPECT_EQ(d.jitter_us(), 0u);
  EXPECT_EQ(d.distribution(), v1::DELAY_DISTRIBUTION_UNSPECIFIED);
  EXPECT_EQ(d.target().direction(), v1::NETWORK_DIRECTION_EGRESS);
  EXPECT_EQ(d.target().protocol(), v1::NETWORK_PROTOCOL_ANY);
  EXPECT_EQ(d.target().engine(), "");
  EXPECT_FALSE(d.target().allow_control_plane());  // protect_control_plane defaults to true
  EXPECT_EQ(step.params_summary, "delay=50ms interface=eth0");

  // Without interface the agent routes to the first destination.
  const Step routed = ParseStep("network.delay",
                                "delay: 1us, destinations: [\"2001:db8::1\"], "
                                "protect_control_plane: true, engine: nfqueue");
  EXPECT_EQ(routed.spec.network_delay().delay_us(), 1u);
  EXPECT_EQ(routed.spec.network_delay().target().interface(), "");
  EXPECT_FALSE(routed.spec.network_delay().target().allow_control_plane());
  EXPECT_EQ(routed.params_summary, "delay=1us destinations=2001:db8::1 engine=nfqueue");
}

TEST(NetworkParamsTest, IngressBySourceNeedsNoInterface) {
  const Step step =
      ParseStep("network.loss", "percent: 5, direction: ingress, sources: [198.18.0.2]");
  EXPECT_EQ(step.spec.network_loss().target().direction(), v1::NETWORK_DIRECTION_INGRESS);
  EXPECT_EQ(step.params_summary, "percent=5% direction=ingress sources=198.18.0.2");
}

TEST(NetworkParamsTest, FilterRulesUpToTheAgentsCap) {
  // IPv4: 4 destinations x 4 sources x (2 ports x 2 directions) x (tcp, udp)
  // = 128 rules; the IPv6 source has no IPv6 destination and adds none.
  const Step step = ParseStep(
      "network.delay",
      "delay: 1ms, destinations: [198.18.0.1, 198.18.0.2, 198.18.0.3, 198.18.0.4], sources: "
      "[198.18.1.1, 198.18.1.2, 198.18.1.3, 198.18.1.4, \"2001:db8::1\"], ports: [80, 443]");
  EXPECT_EQ(step.spec.network_delay().target().sources_size(), 5);
}

TEST(NetworkParamsTest, LossRandomAndGilbertElliott) {
  const Step random =
      ParseStep("network.loss", "percent: 10, correlation: 25%, interface: veth0, engine: netem");
  ASSERT_TRUE(random.spec.has_network_loss());
  const v1::NetworkLoss& l = random.spec.network_loss();
  EXPECT_EQ(l.percent(), 10.0);
  EXPECT_EQ(l.correlation_pct(), 25.0);
  EXPECT_EQ(l.model(), v1::LOSS_MODEL_RANDOM);
  EXPECT_FALSE(l.has_gilbert_elliott());
  EXPECT_EQ(random.params_summary, "percent=10% correlation=25% interface=veth0 engine=netem");

  const Step nft = ParseStep("network.loss",
                             "percent: \"0.5%\", model: random, interface: veth0, engine: "
                             "nftables, destinations: [198.18.0.2]");
  EXPECT_EQ(nft.spec.network_loss().percent(), 0.5);
  EXPECT_EQ(nft.spec.network_loss().target().engine(), "nftables");

  const Step ge = ParseStep("network.loss",
                            "model: gilbert-elliott, p: 5, r: 40, good_loss: 1, interface: veth0");
  const v1::NetworkLoss& g = ge.spec.network_loss();
  EXPECT_EQ(g.model(), v1::LOSS_MODEL_GILBERT_ELLIOTT);
  EXPECT_EQ(g.percent(), 0.0);
  EXPECT_EQ(g.gilbert_elliott().p_pct(), 5.0);
  EXPECT_EQ(g.gilbert_elliott().r_pct(), 40.0);
  EXPECT_EQ(g.gilbert_elliott().bad_loss_pct(), 100.0);  // default
  EXPECT_EQ(g.gilbert_elliott().good_loss_pct(), 1.0);
  EXPECT_EQ(ge.params_summary,
            "model=gilbert-elliott p=5% r=40% bad_loss=100% good_loss=1% interface=veth0");
}

TEST(NetworkParamsTest, DuplicateAndCorrupt) {
  const Step dup = ParseStep("network.duplicate", "percent: 2, correlation: 0, interface: lo");
  ASSERT_TRUE(dup.spec.has_network_duplicate());
  EXPECT_EQ(dup.spec.network_duplicate().percent(), 2.0);
  EXPECT_EQ(dup.spec.network_duplicate().correlation_pct(), 0.0);
  EXPECT_EQ(dup.spec.network_duplicate().target().interface(), "lo");
  EXPECT_EQ(dup.params_summary, "percent=2% correlation=0% interface=lo");

  const Step corrupt =
      ParseStep("network.corrupt", "percent: 100, destinations: [198.18.0.0/15], protocol: udp");
  ASSERT_TRUE(corrupt.spec.has_network_corrupt());
  EXPECT_EQ(corrupt.spec.network_corrupt().percent(), 100.0);
  EXPECT_EQ(corrupt.spec.network_corrupt().target().protocol(), v1::NETWORK_PROTOCOL_UDP);
  EXPECT_EQ(corrupt.params_summary, "percent=100% destinations=198.18.0.0/15 protocol=udp");
}

TEST(NetworkParamsTest, Bandwidth) {
  const Step step =
      ParseStep("network.bandwidth",
                "rate: 10mbit, burst: 32KiB, limit: 64kb, interface: veth0, engine: tbf");
  ASSERT_TRUE(step.spec.has_network_bandwidth());
  const v1::NetworkBandwidth& b = step.spec.network_bandwidth();
  EXPECT_EQ(b.rate_bps(), 10000000u);
  EXPECT_EQ(b.burst_bytes(), 32768u);
  EXPECT_EQ(b.limit_bytes(), 64000u);
  EXPECT_EQ(b.target().engine(), "tbf");
  EXPECT_EQ(step.params_summary, "rate=10mbit burst=32Ki limit=62.50Ki interface=veth0 engine=tbf");

  const Step filtered =
      ParseStep("network.bandwidth", "rate: 1.5Mbit, interface: veth0, ports: [443], engine: htb");
  EXPECT_EQ(filtered.spec.network_bandwidth().rate_bps(), 1500000u);
  EXPECT_EQ(filtered.spec.network_bandwidth().burst_bytes(), 0u);  // agent default
  EXPECT_EQ(filtered.params_summary, "rate=1500kbit interface=veth0 ports=443 engine=htb");
}

TEST(NetworkParamsTest, Partition) {
  const Step step = ParseStep("network.partition",
                              "peers: [198.18.0.2, \"198.18.2.0/24\"], direction: from, ports: "
                              "[22], protocol: tcp, interface: veth0, engine: nftables");
  ASSERT_TRUE(step.spec.has_network_partition());
  const v1::NetworkPartition& p = step.spec.network_partition();
  EXPECT_THAT(p.peers(), ElementsAre("198.18.0.2", "198.18.2.0/24"));
  EXPECT_EQ(p.direction(), v1::PARTITION_DIRECTION_FROM);
  EXPECT_THAT(p.ports(), ElementsAre(22u));
  EXPECT_EQ(p.protocol(), v1::NETWORK_PROTOCOL_TCP);
  EXPECT_EQ(p.target().interface(), "veth0");
  EXPECT_EQ(p.target().engine(), "nftables");
  EXPECT_TRUE(p.target().destinations().empty());
  EXPECT_TRUE(p.target().ports().empty());
  EXPECT_EQ(step.params_summary,
            "peers=198.18.0.2,198.18.2.0/24 direction=from ports=22 protocol=tcp "
            "interface=veth0 engine=nftables");

  // Interface is optional here ("" = any); direction defaults to both.
  const Step minimal = ParseStep("network.partition", "peers: [\"fd00::/8\"]");
  EXPECT_EQ(minimal.spec.network_partition().direction(), v1::PARTITION_DIRECTION_BOTH);
  EXPECT_EQ(minimal.params_summary, "peers=fd00::/8 direction=both");
}

// --- units ------------------------------------------------------------------------

TEST(NetworkParamsTest, BitRates) {
  EXPECT_EQ(ParseBitRate("1mbit"), 1000000u);
  EXPECT_EQ(ParseBitRate("10Mbit"), 10000000u);
  EXPECT_EQ(ParseBitRate("500kbit"), 500000u);
  EXPECT_EQ(ParseBitRate("1gbit"), 1000000000u);
  EXPECT_EQ(ParseBitRate("1GBIT"), 1000000000u);
  EXPECT_EQ(ParseBitRate("8000"), 8000u);
  EXPECT_EQ(ParseBitRate("8000bit"), 8000u);
  // bits or bytes? tc and people disagree: refused, and the reader says why.
  EXPECT_EQ(ParseBitRate("9600bps"), std::nullopt);
  EXPECT_EQ(ParseBitRate("10mbps"), std::nullopt);
  EXPECT_TRUE(IsAmbiguousRateUnit("10Mbps "));
  EXPECT_FALSE(IsAmbiguousRateUnit("10mbit"));
  EXPECT_EQ(ParseBitRate("1kibit"), 1024u);
  EXPECT_EQ(ParseBitRate("2.5mbit"), 2500000u);
  EXPECT_EQ(ParseBitRate(" 1 mbit "), 1000000u);
  EXPECT_EQ(ParseBitRate("100tbit"), 100000000000000u);
  EXPECT_EQ(ParseBitRate("mbit"), std::nullopt);
  EXPECT_EQ(ParseBitRate("-1mbit"), std::nullopt);
  EXPECT_EQ(ParseBitRate("1mb"), std::nullopt);  // megabytes? say which
  EXPECT_EQ(ParseBitRate("1.2.3mbit"), std::nullopt);
  EXPECT_EQ(ParseBitRate("99999999tbit"), std::nullopt);  // > 2^64
  EXPECT_EQ(FormatBitRate(10000000), "10mbit");
  EXPECT_EQ(FormatBitRate(1500000), "1500kbit");
  EXPECT_EQ(FormatBitRate(1000000000), "1gbit");
  EXPECT_EQ(FormatBitRate(8001), "8001bit");
}

TEST(NetworkParamsTest, Microseconds) {
  EXPECT_EQ(FormatMicroseconds(0), "0s");
  EXPECT_EQ(FormatMicroseconds(250), "250us");
  EXPECT_EQ(FormatMicroseconds(1500), "1.5ms");
  EXPECT_EQ(FormatMicroseconds(100000), "100ms");
  EXPECT_EQ(FormatMicroseconds(1000001), "1.000001s");
  EXPECT_EQ(FormatMicroseconds(60000000), "60s");
}

// --- bad inputs ---------------------------------------------------------------------

// "198.18.0.1, 198.18.0.2, ..." (n distinct addresses).
std::string ManyAddresses(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) absl::StrAppend(&out, i > 1 ? ", " : "", "198.18.0.", i);
  return out;
}

// "1001, 1002, ..." (n distinct ports).
std::string ManyPorts(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) absl::StrAppend(&out, i > 1 ? ", " : "", 1000 + i);
  return out;
}

std::vector<BadCase> BadCases() {
  return {
      // --- common targeting -----------------------------------------------------
      {"NeitherInterfaceNorDestinations",
       NetStep("network.delay", "delay: 10ms"),
       {"x.yaml:5:36: network.delay params need interface or destinations (without interface, "
        "the interface of the route to the first destination is used)"}},
      {"BadInterfaceNames",
       absl::StrCat(kHead,
                    "  - {fault: network.loss, params: {percent: 1, interface: \"\"}, duration: "
                    "1s}\n"
                    "  - {fault: network.loss, params: {percent: 1, interface: averyverylongname}, "
                    "duration: 1s}\n"
                    "  - {fault: network.loss, params: {percent: 1, interface: \"a/b\"}, "
                    "duration: 1s}\n"
                    "  - {fault: network.loss, params: {percent: 1, interface: [eth0]}, "
                    "duration: 1s}\n"),
       {"x.yaml:5:59: network.loss: interface must be an interface name of 1..15 characters "
        "without \"/\", \":\" or spaces, got \"\"",
        "x.yaml:6:59: network.loss: interface must be an interface name of 1..15 characters "
        "without \"/\", \":\" or spaces, got \"averyverylongname\"",
        "x.yaml:7:59: network.loss: interface must be an interface name of 1..15 characters "
        "without \"/\", \":\" or spaces, got \"a/b\"",
        "x.yaml:8:59: network.loss: interface must be a string, got a sequence"}},
      {"BadDirection",
       NetStep("network.delay", "delay: 1ms, interface: eth0, direction: in"),
       {"x.yaml:5:77: network.delay: direction must be egress or ingress, got \"in\""}},
      {"BadDestinations",
       NetStep("network.delay",
               "delay: 1ms, destinations: [198.18.0.256, \"198.18.0.1/24\", 198.18.0.9, "
               "\"198.18.0.9/32\", \"::1/129\", host.example]"),
       {"x.yaml:5:64: network.delay: destinations[0] must be an IPv4 or IPv6 address or CIDR "
        "such as 198.18.0.2, 198.18.0.0/15 or 2001:db8::/64, got \"198.18.0.256\"",
        "x.yaml:5:78: network.delay: destinations[1] has host bits set after its /24 prefix, got "
        "\"198.18.0.1/24\"; did you mean 198.18.0.0/24?",
        "x.yaml:5:107: network.delay: destinations lists 198.18.0.9/32 more than once",
        "x.yaml:5:124: network.delay: destinations[4] must be an IPv4 or IPv6 address or CIDR "
        "such as 198.18.0.2, 198.18.0.0/15 or 2001:db8::/64, got \"::1/129\"",
        "x.yaml:5:135: network.delay: destinations[5] must be an IPv4 or IPv6 address or CIDR "
        "such as 198.18.0.2, 198.18.0.0/15 or 2001:db8::/64, got \"host.example\""}},
      {"EmptyAndScalarAddressLists",
       NetStep("network.delay", "delay: 1ms, destinations: [], sources: 198.18.0.1"),
       {"x.yaml:5:63: network.delay: destinations must list at least one address or CIDR (omit "
        "it to match any destination)",
        "x.yaml:5:76: network.delay: sources: expected a sequence, got \"198.18.0.1\""}},
      {"BadPorts",
       NetStep("network.duplicate", "percent: 1, interface: eth0, ports: [0, 80, 80, 65536, http]"),
       {"x.yaml:5:78: network.duplicate: ports[0] must be a port 1..65535, got 0",
        "x.yaml:5:85: network.duplicate: ports lists port 80 more than once",
        "x.yaml:5:89: network.duplicate: ports[3] must be a port 1..65535, got 65536",
        "x.yaml:5:96: network.duplicate: ports[4] must be a port 1..65535, got \"http\""}},
      {"EmptyPorts",
       NetStep("network.corrupt", "percent: 1, interface: eth0, ports: []"),
       {"x.yaml:5:75: network.corrupt: ports must list at least one port (omit it to match any "
        "port)"}},
      {"PortsWithIcmp",
       NetStep("network.delay", "delay: 1ms, interface: eth0, ports: [80], protocol: icmp"),
       {"x.yaml:5:89: network.delay: protocol icmp has no ports; use tcp or udp, or leave "
        "protocol out to match both"}},
      {"BadProtocol",
       NetStep("network.delay", "delay: 1ms, interface: eth0, protocol: sctp"),
       {"x.yaml:5:76: network.delay: protocol must be tcp, udp or icmp, got \"sctp\""}},
      {"EngineNotForTheKind",
       absl::StrCat(kHead,
                    "  - {fault: network.delay, params: {delay: 1ms, interface: e, engine: htb}, "
                    "duration: 1s}\n"
                    "  - {fault: network.duplicate, params: {percent: 1, interface: e, engine: "
                    "nftables}, duration: 1s}\n"
                    "  - {fault: network.partition, params: {peers: [198.18.0.2], engine: netem}, "
                    "duration: 1s}\n"
                    "  - {fault: network.bandwidth, params: {rate: 1mbit, interface: e, engine: "
                    "netem}, duration: 1s}\n"),
       {"x.yaml:5:71: network.delay: engine must be netem or nfqueue, got \"htb\"",
        "x.yaml:6:75: network.duplicate: engine must be netem, got \"nftables\"",
        "x.yaml:7:70: network.partition: engine must be nftables, got \"netem\"",
        "x.yaml:8:76: network.bandwidth: engine must be tbf or htb, got \"netem\""}},
      {"BadProtectControlPlane",
       NetStep("network.loss", "percent: 1, interface: eth0, protect_control_plane: no"),
       {"x.yaml:5:88: network.loss: protect_control_plane must be true or false, got \"no\""}},
      {"UnknownKeyWithSuggestion",
       NetStep("network.delay", "delay: 1ms, interfce: eth0"),
       {"x.yaml:5:36: network.delay params need interface or destinations (without interface, "
        "the interface of the route to the first destination is used)",
        "x.yaml:5:49: unknown field \"interfce\" in network.delay params (did you mean "
        "\"interface\"?)"}},
      {"TooManyAddressesAndPorts",
       NetStep("network.delay", absl::StrCat("delay: 1ms, destinations: [", ManyAddresses(65),
                                             "], ports: [", ManyPorts(65), "]")),
       {"x.yaml:5:63: network.delay: destinations lists 65 entries; at most 64",
        "x.yaml:5:908: network.delay: ports lists 65 ports; at most 64"}},
      {"NoSharedAddressFamily",
       NetStep("network.delay",
               "delay: 1ms, destinations: [198.18.0.2], sources: [\"2001:db8::/64\"]"),
       {"x.yaml:5:77: network.delay: destinations and sources share no address family (IPv4 and "
        "IPv6 cannot match the same packet)"}},
      {"TooManyFilterRules",
       NetStep("network.delay",
               absl::StrCat("delay: 1ms, destinations: [", ManyAddresses(8), "], sources: [",
                            ManyAddresses(5), "], ports: [80, 443]")),
       {"x.yaml:5:36: network.delay: the filters expand to 320 classifier rules (destinations x "
        "sources x ports x protocols); at most 256"}},
      // --- network.delay ---------------------------------------------------------
      {"DelayMissing",
       NetStep("network.delay", "jitter: 1ms, interface: eth0"),
       {"x.yaml:5:36: missing required field \"delay\" in network.delay params"}},
      {"DelayOutOfRange",
       absl::StrCat(kHead,
                    "  - {fault: network.delay, params: {delay: 0s, interface: e}, duration: "
                    "1s}\n"
                    "  - {fault: network.delay, params: {delay: 61s, interface: e}, duration: "
                    "1s}\n"
                    "  - {fault: network.delay, params: {delay: 100, interface: e}, duration: "
                    "1s}\n"
                    "  - {fault: network.delay, params: {delay: 500ns, interface: e}, duration: "
                    "1s}\n"),
       {"x.yaml:5:44: network.delay: delay must be a duration of at least 1us and at most 60s, "
        "got 0s",
        "x.yaml:6:44: network.delay: delay must be a duration of at least 1us and at most 60s, "
        "got 61s",
        "x.yaml:7:44: network.delay: delay must be a duration such as 100ms, 250us or 1s, got 100",
        "x.yaml:8:44: network.delay: delay must be a duration of at least 1us and at most 60s, "
        "got 500ns"}},
      {"JitterAboveDelay",
       NetStep("network.delay", "delay: 10ms, jitter: 20ms, distribution: pareto, interface: e"),
       {"x.yaml:5:58: network.delay: jitter must not exceed delay (10ms), got 20ms"}},
      {"DistributionWithoutJitter",
       absl::StrCat(kHead,
                    "  - {fault: network.delay, params: {delay: 10ms, distribution: normal, "
                    "interface: e}, duration: 1s}\n"
                    "  - {fault: network.delay, params: {delay: 10ms, jitter: 0s, distribution: "
                    "normal, interface: e}, duration: 1s}\n"
                    "  - {fault: network.delay, params: {delay: 10ms, jitter: 1ms, distribution: "
                    "gauss, interface: e}, duration: 1s}\n"),
       {"x.yaml:5:64: network.delay: distribution needs jitter (the spread the distribution "
        "shapes)",
        "x.yaml:6:76: network.delay: distribution needs jitter (the spread the distribution "
        "shapes)",
        "x.yaml:7:77: network.delay: distribution must be uniform, normal, pareto or "
        "paretonormal, got \"gauss\""}},
      {"BadCorrelation",
       NetStep("network.delay", "delay: 10ms, correlation: 101%, interface: e"),
       {"x.yaml:5:63: network.delay: correlation must be a percentage 0..100 such as 10 or "
        "\"10%\", got \"101%\""}},
      {"BadReorder",
       absl::StrCat(kHead,
                    "  - {fault: network.delay, params: {delay: 10ms, reorder: 25, interface: "
                    "e}, duration: 1s}\n"
                    "  - {fault: network.delay, params: {delay: 10ms, reorder: {gap: 0, pct: "
                    "5}, interface: e}, duration: 1s}\n"
                    "  - {fault: network.delay, params: {delay: 10ms, reorder: {percent: 5}, "
                    "interface: e, engine: nfqueue}, duration: 1s}\n"
                    "  - {fault: network.delay, params: {delay: 10ms, correlation: 5, "
                    "interface: e, engine: nfqueue}, duration: 1s}\n"),
       {"x.yaml:5:59: network.delay: reorder: expected a mapping, got 25",
        "x.yaml:6:59: missing required field \"percent\" in network.delay reorder",
        "x.yaml:6:65: network.delay: reorder.gap must be an integer 1..1000000 (every gap-th "
        "packet is sent at once), got 0",
        "x.yaml:6:68: unknown field \"pct\" in network.delay reorder",
        "x.yaml:7:50: network.delay: reorder works only with engine netem, not nfqueue",
        "x.yaml:8:50: network.delay: correlation works only with engine netem, not nfqueue"}},
      // --- network.loss ---------------------------------------------------------
      {"LossPercentMissingAndOutOfRange",
       absl::StrCat(kHead,
                    "  - {fault: network.loss, params: {interface: e}, duration: 1s}\n"
                    "  - {fault: network.loss, params: {percent: 0, interface: e}, duration: "
                    "1s}\n"
                    "  - {fault: network.loss, params: {percent: \"10 percent\", interface: e}, "
                    "duration: 1s}\n"),
       {"x.yaml:5:35: missing required field \"percent\" in network.loss params",
        "x.yaml:6:45: network.loss: percent must be a percentage greater than 0 and at most 100 "
        "such as 10 or \"10%\", got 0",
        "x.yaml:7:45: network.loss: percent must be a percentage greater than 0 and at most 100 "
        "such as 10 or \"10%\", got \"10 percent\""}},
      {"LossBadModel",
       NetStep("network.loss", "model: gilbert, percent: 5, interface: e"),
       {"x.yaml:5:43: network.loss: model must be random or gilbert-elliott, got \"gilbert\""}},
      {"GilbertElliottParamsWithoutModel",
       NetStep("network.loss", "percent: 5, p: 1, r: 50, interface: e"),
       {"x.yaml:5:48: network.loss: p belongs to model gilbert-elliott; add model: "
        "gilbert-elliott or remove it",
        "x.yaml:5:54: network.loss: r belongs to model gilbert-elliott; add model: "
        "gilbert-elliott or remove it"}},
      {"GilbertElliottMistakes",
       NetStep("network.loss",
               "model: gilbert-elliott, percent: 5, correlation: 1, bad_loss: 120, interface: e"),
       {"x.yaml:5:35: missing required field \"p\" in network.loss params (model "
        "gilbert-elliott)",
        "x.yaml:5:35: missing required field \"r\" in network.loss params (model "
        "gilbert-elliott)",
        "x.yaml:5:60: network.loss: percent cannot be used with model gilbert-elliott (its loss "
        "comes from p, r, bad_loss and good_loss)",
        "x.yaml:5:72: network.loss: correlation cannot be used with model gilbert-elliott (its "
        "loss comes from p, r, bad_loss and good_loss)",
        "x.yaml:5:98: network.loss: bad_loss must be a percentage 0..100 such as 10 or \"10%\", "
        "got 120"}},
      {"GilbertElliottThatDropsNothing",
       NetStep("network.loss", "model: gilbert-elliott, p: 0, r: 50, interface: e"),
       {"x.yaml:5:43: network.loss: model gilbert-elliott with these parameters drops nothing: "
        "give good_loss > 0, or p > 0 with bad_loss > 0"}},
      {"NftablesLossIsRandomWithoutCorrelation",
       absl::StrCat(kHead,
                    "  - {fault: network.loss, params: {percent: 5, correlation: 25, interface: "
                    "e, engine: nftables}, duration: 1s}\n"
                    "  - {fault: network.loss, params: {model: gilbert-elliott, p: 1, r: 9, "
                    "interface: e, engine: nftables}, duration: 1s}\n"),
       {"x.yaml:5:48: network.loss: correlation works only with engine netem, not nftables",
        "x.yaml:6:36: network.loss: model gilbert-elliott works only with engine netem, not "
        "nftables"}},
      // --- network.duplicate / network.corrupt -----------------------------------
      {"DuplicateAndCorruptNeedPercent",
       absl::StrCat(kHead,
                    "  - {fault: network.duplicate, params: {correlation: 5, interface: e}, "
                    "duration: 1s}\n"
                    "  - {fault: network.corrupt, params: {percent: 100.5, interface: e}, "
                    "duration: 1s}\n"),
       {"x.yaml:5:40: missing required field \"percent\" in network.duplicate params",
        "x.yaml:6:48: network.corrupt: percent must be a percentage greater than 0 and at most "
        "100 such as 10 or \"10%\", got 100.5"}},
      // --- network.bandwidth ----------------------------------------------------
      {"BandwidthBadRates",
       absl::StrCat(kHead,
                    "  - {fault: network.bandwidth, params: {rate: 1mb, interface: e}, "
                    "duration: 1s}\n"
                    "  - {fault: network.bandwidth, params: {rate: 4kbit, interface: e}, "
                    "duration: 1s}\n"
                    "  - {fault: network.bandwidth, params: {rate: 200gbit, interface: e}, "
                    "duration: 1s}\n"
                    "  - {fault: network.bandwidth, params: {interface: e}, duration: 1s}\n"
                    "  - {fault: network.bandwidth, params: {rate: 10mbps, interface: e}, "
                    "duration: 1s}\n"),
       {"x.yaml:5:47: network.bandwidth: rate must be a rate of at least 8kbit and at most "
        "100gbit such as 500kbit, 10mbit or 1gbit, got \"1mb\"",
        "x.yaml:6:47: network.bandwidth: rate must be a rate of at least 8kbit and at most "
        "100gbit such as 500kbit, 10mbit or 1gbit, got \"4kbit\"",
        "x.yaml:7:47: network.bandwidth: rate must be a rate of at least 8kbit and at most "
        "100gbit such as 500kbit, 10mbit or 1gbit, got \"200gbit\"",
        "x.yaml:8:40: missing required field \"rate\" in network.bandwidth params",
        "x.yaml:9:47: network.bandwidth: rate \"10mbps\" is ambiguous: tc reads \"bps\" as bytes "
        "per second, most people as bits; write bits per second with kbit, mbit or gbit "
        "(10mbps as bytes is 80mbit)"}},
      {"BandwidthBadSizes",
       NetStep("network.bandwidth", "rate: 1mbit, burst: 1k, limit: lots, interface: e"),
       {"x.yaml:5:61: network.bandwidth: burst must be a size of at least 1600 bytes (one full "
        "packet) and at most 1Gi, such as 32Ki or 64K, got \"1k\"",
        "x.yaml:5:72: network.bandwidth: limit must be a size of at least 1600 bytes (one full "
        "packet) and at most 1Gi, such as 32Ki or 64K, got \"lots\""}},
      {"FilteredTbf",
       NetStep("network.bandwidth",
               "rate: 1mbit, interface: e, engine: tbf, destinations: [198.18.0.2], protocol: udp"),
       {"x.yaml:5:76: network.bandwidth: engine tbf shapes the whole interface and cannot filter "
        "by destinations, protocol; use engine htb or remove the filters"}},
      // --- network.partition ----------------------------------------------------
      {"PartitionNeedsPeers",
       NetStep("network.partition", "direction: to, ports: [22]"),
       {"x.yaml:5:40: missing required field \"peers\" in network.partition params"}},
      {"PartitionBadDirectionAndFilters",
       NetStep("network.partition",
               "peers: [], direction: egress, destinations: [198.18.0.2], protocol: icmp"),
       {"x.yaml:5:48: network.partition: peers must list at least one address or CIDR (the "
        "hosts to cut off)",
        "x.yaml:5:63: network.partition: direction must be both, to or from, got \"egress\"",
        "x.yaml:5:71: network.partition: destinations cannot be used in a partition; list the "
        "hosts to cut off in peers and choose to/from/both with direction"}},
  };
}

class NetworkBadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(NetworkBadInputTest, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  EXPECT_THAT(Problems(c.yaml), ::testing::ElementsAreArray(c.expected)) << c.yaml;
}

INSTANTIATE_TEST_SUITE_P(Network, NetworkBadInputTest, ::testing::ValuesIn(BadCases()), CaseName);

}  // namespace
}  // namespace faultline::controller
