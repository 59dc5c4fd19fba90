// Package prometheus holds silo's Prometheus alerting rules (alerts.yml) and
// their tests; it has no Go code of its own.
package prometheus_test

import (
	"os"
	"os/exec"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestAlertRules checks alerts.yml with promtool: the rules parse, and the
// unit tests in alerts_rules_test.yml (orgs and projects over 80% and 95% of quota, the
// 5xx rate, the validation queue's age, readiness) fire as they should.
// Without promtool (Debian package prometheus; scripts/install-test-deps.sh
// installs it) it fails in CI and elsewhere only checks the YAML's shape.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found: run scripts/install-test-deps.sh")
		}
		t.Log("promtool not found (scripts/install-test-deps.sh installs it): checking the YAML only")
		checkShape(t)
		return
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_rules_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	checkShape(t)
}

// checkShape parses alerts.yml and checks what promtool cannot know: that
// the alerts the issue asked for are there, each with a summary.
func checkShape(t *testing.T) {
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	seen := map[string]bool{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %s has no expr or no summary", r.Alert)
			}
			seen[r.Alert] = true
		}
	}
	for _, want := range []string{"SiloOrgQuotaOver80Percent", "SiloOrgQuotaOver95Percent", "SiloProjectQuotaOver80Percent", "SiloProjectQuotaOver95Percent", "SiloHigh5xxRate", "SiloValidationQueueOld", "SiloNotReady"} {
		if !seen[want] {
			t.Errorf("alerts.yml has no %s", want)
		}
	}
}
