package openapitest

import (
	"os"
	"path/filepath"
	"testing"
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
