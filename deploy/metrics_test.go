package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/workertest"

	"gopkg.in/yaml.v3"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/internal/redistest"
	"github.com/punctualhq/punctual/producer"
	"github.com/punctualhq/punctual/sandbox"
)

const (
	rulesFile     = "prometheus/punctual.rules.yml"
	dashboardFile = "grafana/punctual.json"
)

// Text that holds no metric name: quoted strings (label values, regexps),
// Grafana variables ($__rate_interval, ${datasource}), label matchers,
// ranges and subqueries, and the label lists of grouping and matching.
var (
	quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	variable = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	matchers = regexp.MustCompile(`\{[^}]*\}`)
	ranges   = regexp.MustCompile(`\[[^\]]*\]`)
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// token is a number or duration (skipped whole, so the m of 5m is not
	// a name), or a name and whether a call's parenthesis follows it.
	token = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?`)
)

// notMetrics are PromQL's keywords and aggregation operators, which stand
// before a grouping clause instead of a parenthesis.
var notMetrics = map[string]bool{
	"and": true, "or": true, "unless": true, "offset": true, "bool": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "inf": true, "nan": true,
}

// metricNames returns the metric names expr selects, sorted and once each:
// not its functions, keywords, label names or values, numbers or durations.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, " ")
	s = variable.ReplaceAllString(s, " ")
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var names []string
	for _, m := range token.FindAllStringSubmatch(s, -1) {
		name, call := m[1], m[2] != ""
		if name == "" || call || notMetrics[strings.ToLower(name)] {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// families reads the metric families of a Prometheus text exposition, by
// name and type, from its TYPE lines.
func families(exposition string) map[string]string {
	out := map[string]string{}
	lines := bufio.NewScanner(strings.NewReader(exposition))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// exported says whether a query naming name finds series in the families
// fams: a counter or gauge by its own name, a histogram by its _bucket,
// _sum and _count series and a summary by its own, _sum and _count; a
// histogram's bare name selects nothing.
func exported(fams map[string]string, name string) bool {
	if typ, ok := fams[name]; ok && typ != "histogram" {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch fams[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}

// missing returns the metric names of exprs that fams does not export,
// each with the first place (file: what) that uses it.
func missing(fams map[string]string, exprs map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	places := make([]string, 0, len(exprs))
	for place := range exprs {
		places = append(places, place)
	}
	slices.Sort(places)
	for _, place := range places {
		for _, name := range metricNames(exprs[place]) {
			if !seen[name] && !exported(fams, name) {
				seen[name] = true
				out = append(out, name+" (in "+place+")")
			}
		}
	}
	return out
}

// ruleExprs returns the expr of each rule of the rules file, by alert name.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[rulesFile+": "+r.Alert+r.Record] = r.Expr
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return out
}

// dashboardExprs returns every "expr" of the dashboard, by panel title.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string]string{}
	var walk func(v any, title string)
	walk = func(v any, title string) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["title"].(string); ok {
				title = s
			}
			if e, ok := v["expr"].(string); ok {
				ref, _ := v["refId"].(string)
				out[dashboardFile+": "+title+": "+ref] = e
			}
			for _, c := range v {
				walk(c, title)
			}
		case []any:
			for _, c := range v {
				walk(c, title)
			}
		}
	}
	walk(dash, "")
	if len(out) == 0 {
		t.Fatalf("%s: no expr", dashboardFile)
	}
	return out
}

func TestMetricNamesOfExpressions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (provider, le) (rate(punctual_send_lateness_seconds_bucket{cause="on_time"}[5m]))) > 0.05`,
			[]string{"punctual_send_lateness_seconds_bucket"}},
		{`absent(punctual_redis_up) or max(punctual_workers) == 0`, []string{"punctual_redis_up", "punctual_workers"}},
		{`sum by (provider, account) ((a_total{outcome="unknown"} unless a_total offset 15m) or increase(b_total[15m])) > 0`,
			[]string{"a_total", "b_total"}},
		{"(max by (queue) (x{state=\"pending\"}) > 0)\nand on (queue)\n(max by(queue) (rate(y[10m])) == bool 0)", []string{"x", "y"}},
		{`sum by (outcome) (rate(punctual_sends_total[$__rate_interval])) / ${scale}`, []string{"punctual_sends_total"}},
		{`label_replace(up_total, "dst", "$1", "src", "(.*) by (x) or z")`, []string{"up_total"}},
		{`sum(x_total) or vector(0)`, []string{"x_total"}},
		{`1e3 * foo:rate5m - max without (instance) (bar) + Inf`, []string{"bar", "foo:rate5m"}},
		{`sum(rate(z[5m:1m] @ end()))`, []string{"z"}},
	} {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

func TestMissingNamesAreCaught(t *testing.T) {
	t.Parallel()
	fams := families(`# HELP punctual_sends_total Tries.
# TYPE punctual_sends_total counter
punctual_sends_total{outcome="sent"} 1
# TYPE punctual_send_lateness_seconds histogram
punctual_send_lateness_seconds_bucket{le="+Inf"} 1
punctual_send_lateness_seconds_sum 0.1
punctual_send_lateness_seconds_count 1
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0
`)
	got := missing(fams, map[string]string{
		"a": `sum(rate(punctual_sends_total[5m])) / sum(rate(punctual_send_lateness_seconds_count[5m]))`,
		"b": `histogram_quantile(0.99, rate(punctual_send_lateness_seconds_bucket[5m])) + go_gc_duration_seconds_sum`,
		"c": `rate(punctual_sendz_total[5m]) or punctual_sends_total_count or punctual_send_lateness_seconds or go_gc_duration_seconds_bucket`,
	})
	want := []string{
		"go_gc_duration_seconds_bucket (in c)", "punctual_send_lateness_seconds (in c)",
		"punctual_sends_total_count (in c)", "punctual_sendz_total (in c)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("missing = %q, want %q", got, want)
	}
}

// TestAlertsAndDashboardQueryExportedMetrics runs a real worker against
// Redis and the provider sandbox, sends through it until its labelled
// series exist, and checks every metric the rules and the dashboard query
// against its /metrics.
func TestAlertsAndDashboardQueryExportedMetrics(t *testing.T) {
	t.Parallel()
	exprs := ruleExprs(t)
	for k, v := range dashboardExprs(t) {
		exprs[k] = v
	}

	sb := sandbox.New(sandbox.Config{Tokens: map[string]map[string]string{
		"mateo":         {"deploy-mateo-token": "default"},
		"leadconnector": {"deploy-lc-token": "default"},
	}})
	// The first request is refused with 429: a rate_limited outcome and a
	// rate_limit wait, whose series exist only once counted.
	sb.Script(sandbox.Answer{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: `{}`})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	redisURL := "redis://" + redistest.Start(t).Addr + "/0"
	cfg, err := config.LoadFrom(map[string]string{
		"REDIS_URL":              redisURL,
		"MATEO_BASE_URL":         srv.URL + "/api/v1",
		"MATEO_TOKEN":            "deploy-mateo-token",
		"LEADCONNECTOR_BASE_URL": srv.URL,
		"LEADCONNECTOR_TOKEN":    "deploy-lc-token",
		"HTTP_ADDR":              "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT":       "2s",
		"RATE_LIMITS":            "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	w := workertest.Run(t, cfg)

	conn, err := cfg.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	p := producer.New(conn)
	t.Cleanup(func() { _ = p.Close() })
	due := time.Now().Add(300 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	for _, envelope := range []string{
		`{"type":"mateo:send_message","process_at":"` + due + `","payload":{"from":"3c90c3cc-0d44-4b50-8888-8dd25736052a","text":"Hi"}}`,
		`{"type":"leadconnector:send_message","process_at":"` + due + `","payload":{"type":"SMS","contactId":"c1","message":"Hi"}}`,
	} {
		if _, err := p.EnqueueJSON(context.Background(), []byte(envelope)); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}

	// The series appear as the sends are made: scrape until nothing is
	// missing, and name what still is at the deadline.
	deadline := time.Now().Add(20 * time.Second)
	for {
		lost := missing(families(scrape(t, "http://"+w.HealthAddr()+"/metrics")), exprs)
		if len(lost) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker does not export these metrics:\n%s", strings.Join(lost, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape returns the body of a GET of url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(body)
}
