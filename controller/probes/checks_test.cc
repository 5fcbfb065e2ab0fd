#include "controller/probes/checks.h"

#include <cmath>

#include "gtest/gtest.h"

namespace faultline::controller {
namespace {

using nlohmann::json;

TEST(FormatNumberTest, ReadsBackAndStaysShort) {
  EXPECT_EQ(FormatProbeValue(1), "1");
  EXPECT_EQ(FormatProbeValue(-0.0), "0");
  EXPECT_EQ(FormatProbeValue(0.25), "0.25");
  EXPECT_EQ(FormatProbeValue(0.1), "0.1");
  EXPECT_EQ(FormatProbeValue(1234567), "1234567");
  EXPECT_EQ(FormatProbeValue(1e20), "1e+20");
  EXPECT_EQ(FormatProbeValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatProbeValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatProbeValue(-HUGE_VAL), "-Inf");
}

TEST(CompareTest, EveryOperator) {
  EXPECT_TRUE(Compare(1, Comparison::kLess, 2, 0));
  EXPECT_FALSE(Compare(2, Comparison::kLess, 2, 0));
  EXPECT_TRUE(Compare(2, Comparison::kLessEqual, 2, 0));
  EXPECT_FALSE(Compare(2.5, Comparison::kLessEqual, 2, 0));
  EXPECT_TRUE(Compare(3, Comparison::kGreater, 2, 0));
  EXPECT_FALSE(Compare(2, Comparison::kGreater, 2, 0));
  EXPECT_TRUE(Compare(2, Comparison::kGreaterEqual, 2, 0));
  EXPECT_FALSE(Compare(1.9, Comparison::kGreaterEqual, 2, 0));
  EXPECT_TRUE(Compare(1, Comparison::kEqual, 1, 0));
  EXPECT_FALSE(Compare(1.0001, Comparison::kEqual, 1, 0));
  EXPECT_TRUE(Compare(1, Comparison::kBetween, 1, 5));
  EXPECT_TRUE(Compare(5, Comparison::kBetween, 1, 5));
  EXPECT_FALSE(Compare(5.5, Comparison::kBetween, 1, 5));
  EXPECT_FALSE(Compare(0.5, Comparison::kBetween, 1, 5));
  EXPECT_TRUE(Compare(HUGE_VAL, Comparison::kGreater, 1e300, 0));
}

TEST(CompareTest, NanNeverHolds) {
  for (Comparison op : {Comparison::kLess, Comparison::kLessEqual, Comparison::kGreater,
                        Comparison::kGreaterEqual, Comparison::kEqual, Comparison::kBetween}) {
    EXPECT_FALSE(Compare(std::nan(""), op, 0, 1e300)) << ComparisonName(op);
  }
}

TEST(DescribeExpectationTest, ReadsLikeTheSpec) {
  EXPECT_EQ(DescribeExpectation(Comparison::kLess, 5, 0), "< 5");
  EXPECT_EQ(DescribeExpectation(Comparison::kGreaterEqual, 0.5, 0), ">= 0.5");
  EXPECT_EQ(DescribeExpectation(Comparison::kEqual, 1, 0), "== 1");
  EXPECT_EQ(DescribeExpectation(Comparison::kBetween, 1, 5), "between 1 and 5");
}

const json kDoc = json::parse(R"({
  "status": "ok", "count": 7, "ratio": "0.5", "healthy": true, "owner": null,
  "data": {"items": [{"state": "up"}, {"state": "down", "load": 0.75}], "text": "x"},
  "matrix": [[1, 2], [3, 4]]
})");

TEST(JsonAtTest, WalksKeysAndIndexes) {
  auto v = JsonAt(kDoc, "data.items[1].state");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(**v, "down");
  v = JsonAt(kDoc, "matrix[1][0]");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(**v, 3);
  const json list = json::parse(R"([{"a": 1}, {"a": 2}])");
  v = JsonAt(list, "[1].a");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(**v, 2);
}

TEST(JsonAtTest, NamesTheMissingStep) {
  auto v = JsonAt(kDoc, "data.items[3].state");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(), "data.items has 2 elements, no [3]");
  v = JsonAt(kDoc, "data.items[0].load");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(), "no key \"load\" in data.items[0]");
  v = JsonAt(kDoc, "nope");
  EXPECT_EQ(v.status().message(), "no key \"nope\" in the document");
}

TEST(JsonAtTest, RejectsWrongTypesAndBadPaths) {
  auto v = JsonAt(kDoc, "data.text[0]");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.status().message(), "data.text is a string, not an array");
  v = JsonAt(kDoc, "count.value");
  EXPECT_EQ(v.status().message(), "count is a number, not an object");
  for (const char* bad : {"", "a..b", "a.", ".a", "data.[0]", "matrix[x]", "matrix[1",
                          "matrix[-1]", "matrix[0]x"}) {
    EXPECT_EQ(JsonAt(kDoc, bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(JsonAt(kDoc, "a..b").status().message(), "malformed path \"a..b\": empty key");
  EXPECT_EQ(JsonAt(kDoc, "m[x]").status().message(),
            "malformed path \"m[x]\": [n] takes a number");
}

JsonCheck Text(const std::string& field, const std::string& text) {
  JsonCheck c;
  c.field = field;
  c.text = text;
  return c;
}

JsonCheck Number(const std::string& field, Comparison op, double value, double high = 0) {
  JsonCheck c;
  c.field = field;
  c.op = op;
  c.is_number = true;
  c.number = value;
  c.number_high = high;
  return c;
}

TEST(EvaluateJsonCheckTest, StringsBooleansNull) {
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("status", "ok"), nullptr), "");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("data.items[1].state", "up"), nullptr),
            "json field data.items[1].state: got \"down\", want == \"up\"");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("healthy", "true"), nullptr), "");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("healthy", "false"), nullptr),
            "json field healthy: got true, want == false");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("owner", "null"), nullptr), "");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("data", "x"), nullptr),
            "json field data: got an object {\"items\":[{\"state\":\"up\"},{\"load\":0.75,"
            "\"state\":\"down\"}],\"text\":\"x\"}, want == \"x\"");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Text("missing", "x"), nullptr),
            "json field missing: no key \"missing\" in the document");
  JsonCheck less = Text("status", "ok");
  less.op = Comparison::kLess;
  EXPECT_EQ(EvaluateJsonCheck(kDoc, less, nullptr),
            "json field status: only == applies to text, not <");
}

TEST(EvaluateJsonCheckTest, NumbersReportTheValue) {
  double number = 0;
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("count", Comparison::kLess, 10), &number), "");
  EXPECT_EQ(number, 7);
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("count", Comparison::kLess, 5), &number),
            "json field count: got 7, want < 5");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("data.items[1].load", Comparison::kBetween, 0.8, 1),
                              &number),
            "json field data.items[1].load: got 0.75, want between 0.8 and 1");
  EXPECT_EQ(number, 0.75);
  // A number written as a string (as Prometheus and many APIs do) is a number.
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("ratio", Comparison::kEqual, 0.5), &number), "");
  EXPECT_EQ(number, 0.5);
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("status", Comparison::kGreater, 1), nullptr),
            "json field status: got \"ok\" (a string, not a number), want > 1");
  EXPECT_EQ(EvaluateJsonCheck(kDoc, Number("healthy", Comparison::kEqual, 1), nullptr),
            "json field healthy: got true (a boolean, not a number), want == 1");
}

TEST(ParsePrometheusTest, OneSeriesVector) {
  auto s = ParsePrometheusResponse(R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{"__name__":"up","job":"demo","instance":"127.0.0.1:9"},
                 "value":[1700000000.123,"1"]}]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->value, 1);
  EXPECT_EQ(s->series, "up{instance=\"127.0.0.1:9\", job=\"demo\"}");
}

TEST(ParsePrometheusTest, ScalarAndSpecialValues) {
  auto s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"2.5e-3"]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->value, 0.0025);
  EXPECT_EQ(s->series, "");
  s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(std::isnan(s->value));
  s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->value, HUGE_VAL);
  s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"-Inf"]}]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->value, -HUGE_VAL);
  EXPECT_EQ(s->series, "{}");
}

TEST(ParsePrometheusTest, WrongNumberOfSeries) {
  auto s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.status().message(), "query returned 0 series, expected 1");
  s = ParsePrometheusResponse(R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"i":"a"},"value":[1,"1"]},{"metric":{"i":"b"},"value":[1,"1"]},
      {"metric":{"i":"c"},"value":[1,"0"]}]}})");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.status().message(), "query returned 3 series, expected 1");
}

TEST(ParsePrometheusTest, ErrorsAndOtherShapes) {
  auto s = ParsePrometheusResponse(
      R"({"status":"error","errorType":"bad_data","error":"1:4: parse error: unclosed left parenthesis"})");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "query failed: bad_data: 1:4: parse error: unclosed left parenthesis");
  s = ParsePrometheusResponse(R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  EXPECT_EQ(s.status().message(), "query returned a matrix, expected a scalar or one series");
  s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"string","result":[1,"abc"]}})");
  EXPECT_EQ(s.status().message(), "query returned a string, expected a scalar or one series");
  s = ParsePrometheusResponse("<html>bad gateway</html>");
  EXPECT_EQ(s.status().message(), "response is not JSON: <html>bad gateway</html>");
  s = ParsePrometheusResponse(R"({"status":"success"})");
  EXPECT_EQ(s.status().message(), "response has no data.result");
  s = ParsePrometheusResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"twelve"]}})");
  EXPECT_EQ(s.status().message(), "sample is not [time, \"number\"]: [1,\"twelve\"]");
}

}  // namespace
}  // namespace faultline::controller
