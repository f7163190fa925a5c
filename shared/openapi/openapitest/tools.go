package openapitest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RepoRoot returns the module root: the nearest parent folder with go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("get working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// NPMTool returns the path of an npm tool's executable installed by
// install_openapi_tools (scripts/lib/openapi-tools.sh) under
// $TOOLS_DIR/npm/<dir>, where TOOLS_DIR defaults to <repo>/.tools. It fails
// the test with the install command when the tool is missing.
func NPMTool(t testing.TB, dir, bin string) string {
	t.Helper()
	tools := os.Getenv("TOOLS_DIR")
	if tools == "" {
		tools = filepath.Join(RepoRoot(t), ".tools")
	}
	path := filepath.Join(tools, "npm", dir, "node_modules", ".bin", bin)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed at %s; install it with: "+
			"bash -c 'source scripts/lib/tools.sh && source scripts/lib/openapi-tools.sh && install_openapi_tools'", bin, path)
	}
	return path
}

// RunRedocly runs the Redocly CLI installed by NPMTool with args, with
// telemetry and update notices off, and returns its combined output. It
// fails the test when the command exits non-zero or runs over two minutes.
func RunRedocly(t testing.TB, args ...string) string {
	t.Helper()
	redocly := NPMTool(t, "redocly", "redocly")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, redocly, args...)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly %s failed: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// LintRedocly lints the OpenAPI files with the Redocly recommended ruleset as
// configured in testdata/openapi/redocly.yaml, which gives the reason for
// each rule it changes. It fails the test on any error or warning.
func LintRedocly(t testing.TB, files ...string) {
	t.Helper()
	config := filepath.Join(RepoRoot(t), "testdata", "openapi", "redocly.yaml")
	args := append([]string{"lint", "--config", config, "--max-problems", "50"}, files...)
	out := RunRedocly(t, args...)
	if regexp.MustCompile(`You have \d+ warnings?`).MatchString(out) {
		t.Fatalf("redocly lint reported warnings:\n%s", out)
	}
	if !strings.Contains(out, "Your API descriptions are valid") {
		t.Fatalf("redocly lint did not report the documents valid:\n%s", out)
	}
}
