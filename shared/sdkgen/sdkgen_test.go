package sdkgen_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/openapi/openapitest"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/sdkgen"
)

func testDoc(t testing.TB) (*registry.Registry, *openapi3.T) {
	t.Helper()
	reg := registry.New()
	openapitest.NewStore(time.Now).Register(reg)
	doc, err := openapi.Generate(reg, openapi.Options{})
	require.NoError(t, err)
	return reg, doc
}

// writeSDK generates lang into a new temporary folder and returns the file path.
func writeSDK(t *testing.T, doc *openapi3.T, lang sdkgen.Language) string {
	t.Helper()
	f, err := sdkgen.Generate(doc, lang)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), f.Name)
	require.NoError(t, os.WriteFile(path, f.Content, 0o644))
	return path
}

func clientsDir(t *testing.T) string {
	return filepath.Join(openapitest.RepoRoot(t), "testdata", "openapi", "clients")
}

// run executes a command with a timeout and fails the test with its output
// unless it exits 0 and prints "ok" as its last line.
func run(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s failed:\n%s", name, out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, "ok", lines[len(lines)-1], "%s output:\n%s", name, out)
}

// requireRetried checks that the throttled create got a 429 once
// and retried once with the same Idempotency-Key.
func requireRetried(t *testing.T, srv *openapitest.Server, token string) {
	t.Helper()
	attempts := srv.Attempts(token)
	require.Len(t, attempts, 2, "one 429 and one retry")
	require.Equal(t, 429, attempts[0].Status)
	require.NotEmpty(t, attempts[0].IdempotencyKey, "idempotent POST sends Idempotency-Key")
	require.Equal(t, attempts[0].IdempotencyKey, attempts[1].IdempotencyKey, "retry reuses the Idempotency-Key")
}

func TestPython_AgainstServer(t *testing.T) {
	reg, doc := testDoc(t)
	srv := openapitest.NewServer(t, reg)
	sdk := writeSDK(t, doc, sdkgen.Python)
	token := "python-" + t.Name()
	run(t, []string{"PYTHONNOUSERSITE=1"}, "python3", "-I", filepath.Join(clientsDir(t), "python_client.py"),
		filepath.Dir(sdk), srv.BaseURL(), openapitest.APIKey, token)
	requireRetried(t, srv, token)
}

func TestTypeScript_StrictCompileAndRun(t *testing.T) {
	tsc := openapitest.NPMTool(t, "typescript", "tsc")
	reg, doc := testDoc(t)
	srv := openapitest.NewServer(t, reg)
	sdk := writeSDK(t, doc, sdkgen.TypeScript)
	dir := filepath.Dir(sdk)
	driver, err := os.ReadFile(filepath.Join(clientsDir(t), "typescript_client.ts"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.ts"), driver, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	compile := exec.CommandContext(ctx, tsc, "--strict", "--noUnusedLocals", "--target", "es2022", "--module", "es2022",
		"--moduleResolution", "bundler", "--lib", "es2022,dom,dom.iterable", "--outDir", filepath.Join(dir, "out"),
		filepath.Join(dir, "booga-client.ts"), filepath.Join(dir, "main.ts"))
	out, err := compile.CombinedOutput()
	require.NoError(t, err, "tsc --strict failed:\n%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out", "package.json"), []byte(`{"type":"module"}`), 0o644))

	token := "typescript-" + t.Name()
	run(t, nil, "node", filepath.Join(dir, "out", "main.js"), srv.BaseURL(), openapitest.APIKey, token)
	requireRetried(t, srv, token)
}

func TestJavaScript_AgainstServer(t *testing.T) {
	reg, doc := testDoc(t)
	srv := openapitest.NewServer(t, reg)
	sdk := writeSDK(t, doc, sdkgen.JavaScript)
	token := "javascript-" + t.Name()
	run(t, nil, "node", filepath.Join(clientsDir(t), "javascript_client.mjs"), "file://"+sdk, srv.BaseURL(), openapitest.APIKey, token)
	requireRetried(t, srv, token)
}

func TestCurl_AgainstServer(t *testing.T) {
	reg, doc := testDoc(t)
	srv := openapitest.NewServer(t, reg)
	sdk := writeSDK(t, doc, sdkgen.Curl)
	token := "curl-" + t.Name()
	run(t, []string{"BOOGA_BASE_URL=" + srv.BaseURL(), "BOOGA_API_KEY=" + openapitest.APIKey},
		"bash", filepath.Join(clientsDir(t), "curl_client.sh"), sdk, token)
	requireRetried(t, srv, token)
}

func TestPostman_Newman(t *testing.T) {
	newman := openapitest.NPMTool(t, "newman", "newman")
	reg, doc := testDoc(t)
	srv := openapitest.NewServer(t, reg)
	sdk := writeSDK(t, doc, sdkgen.Postman)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.CommandContext(ctx, newman, "run", sdk, "--env-var", "baseUrl="+srv.BaseURL(), "--env-var", "apiKey="+openapitest.APIKey,
		"--reporters", "cli,json", "--reporter-json-export", report, "--disable-unicode", "--color", "off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "newman reported failures:\n%s", out)
	require.Contains(t, string(out), "createApiKey rejects an unknown field", "collection checks problem responses")
	require.NotContains(t, string(out), "AssertionError")
	fmt.Fprintln(os.Stderr, lastLines(string(out), 14))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestGenerate_Deterministic(t *testing.T) {
	t.Parallel()
	_, first := testDoc(t)
	_, second := testDoc(t)
	for _, lang := range sdkgen.Languages() {
		a, err := sdkgen.Generate(first, lang)
		require.NoError(t, err)
		b, err := sdkgen.Generate(second, lang)
		require.NoError(t, err)
		require.Equal(t, string(a.Content), string(b.Content), "language %s", lang)
		require.NotEmpty(t, a.Name)
	}
}

func TestParseLanguage_Unknown(t *testing.T) {
	t.Parallel()
	_, err := sdkgen.ParseLanguage("cobol")
	require.EqualError(t, err, `language "cobol" is not supported; use one of curl, javascript, postman, python, typescript`)
	lang, err := sdkgen.ParseLanguage("python")
	require.NoError(t, err)
	require.Equal(t, sdkgen.Python, lang)
}

func benchmarkLanguage(b *testing.B, lang sdkgen.Language) {
	_, doc := testDoc(b)
	for b.Loop() {
		if _, err := sdkgen.Generate(doc, lang); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGeneratePython(b *testing.B)     { benchmarkLanguage(b, sdkgen.Python) }
func BenchmarkGenerateTypeScript(b *testing.B) { benchmarkLanguage(b, sdkgen.TypeScript) }
func BenchmarkGenerateJavaScript(b *testing.B) { benchmarkLanguage(b, sdkgen.JavaScript) }
func BenchmarkGenerateCurl(b *testing.B)       { benchmarkLanguage(b, sdkgen.Curl) }
func BenchmarkGeneratePostman(b *testing.B)    { benchmarkLanguage(b, sdkgen.Postman) }
