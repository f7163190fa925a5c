// Package bicep_test checks the Bicep templates: every file parses with the
// tree-sitter-bicep grammar, the Bicep CLI builds and lints them when it is
// installed, and the app settings, Service Bus entities and blob containers
// they provision match what the Go code and function.json files use.
package bicep_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/shared/config"
)

// hostProvided lists settings the code reads that the Functions host sets
// itself, so main.bicep and local.settings.sample.json must not set them.
var hostProvided = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "the host picks the port and passes it to the handler process",
}

// hostSettings lists app settings the code never reads but the Functions
// host or its extensions do, with the reason each is set.
var hostSettings = map[string]string{
	"AzureWebJobsStorage__accountName":          "host storage (leases, timers) reached with the identity",
	"AzureWebJobsStorage__credential":           "selects managed identity for host storage",
	"AzureWebJobsStorage__clientId":             "which user-assigned identity host storage uses",
	"APPLICATIONINSIGHTS_CONNECTION_STRING":     "host telemetry target",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "host telemetry sent with the identity instead of an ingestion key",
	// NOTE: no function.json names ServiceBusConnection yet; the queue-
	// triggered functions will, and then these also pass as connection
	// settings. Drop them here once one does.
	"ServiceBusConnection__fullyQualifiedNamespace": "Service Bus trigger connection, identity-based",
	"ServiceBusConnection__credential":              "selects managed identity for that connection",
	"ServiceBusConnection__clientId":                "which user-assigned identity that connection uses",
}

// localHostSettings lists values local.settings.sample.json sets for
// `func start` that the code never reads.
var localHostSettings = map[string]string{
	"FUNCTIONS_WORKER_RUNTIME": "Core Tools needs the worker runtime (custom)",
	"AzureWebJobsStorage":      "host storage on Azurite",
}

type parseResult struct {
	File     string                     `json:"file"`
	Nodes    int                        `json:"nodes"`
	Problems []parseProblem             `json:"problems"`
	Vars     map[string]json.RawMessage `json:"vars"`
}

type parseProblem struct {
	Kind   string `json:"kind"`
	Row    int    `json:"row"`
	Column int    `json:"column"`
	Text   string `json:"text"`
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// grammarDir returns the folder scripts/install-test-tools fills, failing
// the test with the command to run when it is missing.
func grammarDir(t *testing.T) string {
	t.Helper()
	tools := os.Getenv("TOOLS_DIR")
	if tools == "" {
		tools = filepath.Join(repoRoot(t), ".tools")
	}
	dir := filepath.Join(tools, "npm", "bicep-grammar")
	wasm := filepath.Join(dir, "node_modules", "tree-sitter-bicep", "tree-sitter-bicep.wasm")
	if _, err := os.Stat(wasm); err != nil {
		t.Fatalf("the Bicep grammar is not installed (%s missing); run scripts/install-test-tools first", wasm)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH; the Bicep parse tests run scripts/lib/bicep-parse.mjs with it")
	}
	return dir
}

// parse runs scripts/lib/bicep-parse.mjs --vars on files and returns one
// result per file. A non-zero exit with results means parse problems, which
// the caller checks; without results it is a failure to run at all.
func parse(t *testing.T, files ...string) map[string]parseResult {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts", "lib", "bicep-parse.mjs")
	args := append([]string{script, "--vars", grammarDir(t)}, files...)
	cmd := exec.Command("node", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()

	results := map[string]parseResult{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var r parseResult
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "bicep-parse.mjs printed %q", sc.Text())
		results[r.File] = r
	}
	if len(results) != len(files) {
		t.Fatalf("bicep-parse.mjs returned %d of %d results (%v): %s", len(results), len(files), err, stderr.String())
	}
	return results
}

func templateFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".bicep") || strings.HasSuffix(path, ".bicepparam") {
			files = append(files, path)
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(files)
	return files
}

var (
	mainOnce sync.Once
	mainVars map[string]json.RawMessage
)

// mainVar decodes one top-level var of main.bicep into out.
func mainVar(t *testing.T, name string, out any) {
	t.Helper()
	mainOnce.Do(func() { mainVars = parse(t, "main.bicep")["main.bicep"].Vars })
	raw, ok := mainVars[name]
	require.True(t, ok, "main.bicep has no var %s", name)
	require.NoError(t, json.Unmarshal(raw, out), "var %s in main.bicep is not the expected literal shape", name)
}

func appSettingNames(t *testing.T) []string {
	t.Helper()
	var settings map[string]json.RawMessage
	mainVar(t, "appSettings", &settings)
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestBicep_Parses(t *testing.T) {
	files := templateFiles(t)
	for _, want := range []string{"main.bicep", "env/dev.bicepparam", "env/beta.bicepparam", "env/prod.bicepparam"} {
		require.Contains(t, files, filepath.FromSlash(want))
	}

	results := parse(t, files...)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			r := results[file]
			require.Greater(t, r.Nodes, 10, "%s parsed to almost nothing", file)
			for _, p := range r.Problems {
				t.Errorf("%s:%d:%d: %s near %q", file, p.Row, p.Column, p.Kind, p.Text)
			}
		})
	}
}

func TestBicep_ParseReportsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bicep")
	require.NoError(t, os.WriteFile(bad, []byte("param name string\nresource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n"), 0o644))

	r := parse(t, bad)[bad]

	require.NotEmpty(t, r.Problems, "a truncated resource must produce ERROR or MISSING nodes")
}

// TestBicep_BuildAndLint runs the Bicep CLI when it is installed. Only this
// test is skipped without it; the grammar tests above still run.
func TestBicep_BuildAndLint(t *testing.T) {
	bicep, err := exec.LookPath("bicep")
	if err != nil {
		t.Skip("bicep CLI not on PATH: bicep build and bicep lint NOT run (install the Bicep CLI to run them)")
	}
	out := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bicep, args...)
		output, err := cmd.CombinedOutput()
		require.NoError(t, err, "bicep %s:\n%s", strings.Join(args, " "), output)
		require.NotContains(t, string(output), "Warning", "bicep %s:\n%s", strings.Join(args, " "), output)
	}
	run("build", "main.bicep", "--outdir", out)
	run("lint", "main.bicep")
	for _, env := range []string{"dev", "beta", "prod"} {
		t.Setenv("BOOGA_PG_ADMIN_GROUP_ID", "00000000-0000-0000-0000-000000000000")
		run("build-params", filepath.Join("env", env+".bicepparam"), "--outfile", filepath.Join(out, env+".parameters.json"))
	}
}

var paramDecl = regexp.MustCompile(`(?m)^param (\w+) [\w.]+( =)?`)

func TestParamFiles_MatchMain(t *testing.T) {
	src, err := os.ReadFile("main.bicep")
	require.NoError(t, err)
	declared := map[string]bool{} // name -> has default
	for _, m := range paramDecl.FindAllStringSubmatch(string(src), -1) {
		declared[m[1]] = m[2] != ""
	}
	require.NotEmpty(t, declared)

	for _, env := range []string{"dev", "beta", "prod"} {
		t.Run(env, func(t *testing.T) {
			file := filepath.Join("env", env+".bicepparam")
			set := parse(t, file)[file].Vars
			for name := range set {
				_, ok := declared[name]
				require.True(t, ok, "%s sets %s, which main.bicep does not declare", file, name)
			}
			for name, hasDefault := range declared {
				if !hasDefault {
					require.Contains(t, set, name, "%s must set %s: main.bicep gives it no default", file, name)
				}
			}
			require.JSONEq(t, `"`+env+`"`, string(set["environmentName"]))
		})
	}
}

func TestAppSettings_MatchConfig(t *testing.T) {
	names := appSettingNames(t)
	connections := bindingConnections(t, filepath.Join(repoRoot(t), "functions"))

	t.Run("EverySettingSet", func(t *testing.T) {
		for _, s := range config.Settings() {
			if _, ok := hostProvided[s.Name]; ok {
				require.NotContains(t, names, s.Name, "%s is set by the host (%s); main.bicep must not set it", s.Name, hostProvided[s.Name])
				continue
			}
			require.Contains(t, names, s.Name, "main.bicep appSettings does not set %s, which shared/config reads", s.Name)
		}
	})

	t.Run("NothingUnread", func(t *testing.T) {
		read := map[string]bool{}
		for _, s := range config.Settings() {
			read[s.Name] = true
		}
		for _, name := range names {
			if read[name] || hostSettings[name] != "" || isConnectionSetting(name, connections) {
				continue
			}
			t.Errorf("main.bicep sets %s, which neither shared/config, the host allow-list nor a function.json connection reads", name)
		}
	})
}

func TestLocalSettingsSample_MatchConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "local.settings.sample.json"))
	require.NoError(t, err)
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	require.NoError(t, json.Unmarshal(raw, &sample))

	read := map[string]bool{}
	for _, s := range config.Settings() {
		read[s.Name] = true
		if _, ok := hostProvided[s.Name]; ok {
			require.NotContains(t, sample.Values, s.Name, "%s is set by the host; the sample must not set it", s.Name)
			continue
		}
		require.Contains(t, sample.Values, s.Name, "local.settings.sample.json does not list %s", s.Name)
	}
	for name := range sample.Values {
		if !read[name] && localHostSettings[name] == "" {
			t.Errorf("local.settings.sample.json sets %s, which the code never reads", name)
		}
	}
}

func TestBlobContainers_Provisioned(t *testing.T) {
	var provisioned []string
	mainVar(t, "blobContainers", &provisioned)

	require.NotEmpty(t, blob.Containers)
	for _, c := range blob.Containers {
		require.Contains(t, provisioned, c, "blob container %q is used by the code but not provisioned in main.bicep blobContainers", c)
	}
}

func TestFunctionBindings_Provisioned(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "functions")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		t.Log("no functions/ folder yet: no bindings to check")
	}

	problems := checkBindings(t, dir)

	for _, p := range problems {
		t.Error(p)
	}
}

func TestFunctionBindings_ReportsUnprovisioned(t *testing.T) {
	problems := checkBindings(t, filepath.Join("testdata", "functions-unprovisioned"))

	require.Len(t, problems, 3, "problems: %q", problems)
	joined := strings.Join(problems, "\n")
	require.Contains(t, joined, `queue "orders-nobody-provisioned"`)
	require.Contains(t, joined, `connection "OrdersBus"`)
	require.Contains(t, joined, `subscription "no-such-subscription"`)
}

type binding struct {
	Type             string `json:"type"`
	Connection       string `json:"connection"`
	QueueName        string `json:"queueName"`
	TopicName        string `json:"topicName"`
	SubscriptionName string `json:"subscriptionName"`
}

func readBindings(t *testing.T, dir string) map[string][]binding {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*", "function.json"))
	require.NoError(t, err)
	out := map[string][]binding{}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		var fn struct {
			Bindings []binding `json:"bindings"`
		}
		require.NoError(t, json.Unmarshal(raw, &fn), "parse %s", path)
		out[filepath.Base(filepath.Dir(path))] = fn.Bindings
	}
	return out
}

func bindingConnections(t *testing.T, dir string) []string {
	t.Helper()
	var conns []string
	for _, bindings := range readBindings(t, dir) {
		for _, b := range bindings {
			if b.Connection != "" && !slices.Contains(conns, b.Connection) {
				conns = append(conns, b.Connection)
			}
		}
	}
	return conns
}

// isConnectionSetting reports whether name configures one of the named
// connections: the host reads CONN itself or identity-based CONN__property.
func isConnectionSetting(name string, connections []string) bool {
	for _, c := range connections {
		if name == c || strings.HasPrefix(name, c+"__") {
			return true
		}
	}
	return false
}

// checkBindings returns one message per binding in dir/*/function.json that
// names a connection main.bicep's app settings do not define, or a Service
// Bus queue, topic or subscription main.bicep does not provision.
func checkBindings(t *testing.T, dir string) []string {
	t.Helper()
	settings := appSettingNames(t)
	var queues []string
	mainVar(t, "serviceBusQueues", &queues)
	var topics map[string][]string
	mainVar(t, "serviceBusTopics", &topics)

	var problems []string
	for fn, bindings := range readBindings(t, dir) {
		for _, b := range bindings {
			if b.Connection != "" && !slices.ContainsFunc(settings, func(s string) bool { return isConnectionSetting(s, []string{b.Connection}) }) {
				problems = append(problems, fmt.Sprintf("%s: connection %q has no app setting %s or %s__fullyQualifiedNamespace in main.bicep", fn, b.Connection, b.Connection, b.Connection))
			}
			if !strings.HasPrefix(strings.ToLower(b.Type), "servicebus") {
				continue
			}
			if b.QueueName != "" && !slices.Contains(queues, b.QueueName) {
				problems = append(problems, fmt.Sprintf("%s: queue %q is not in main.bicep serviceBusQueues", fn, b.QueueName))
			}
			if b.TopicName != "" {
				subs, ok := topics[b.TopicName]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("%s: topic %q is not in main.bicep serviceBusTopics", fn, b.TopicName))
				case b.SubscriptionName != "" && !slices.Contains(subs, b.SubscriptionName):
					problems = append(problems, fmt.Sprintf("%s: subscription %q of topic %q is not in main.bicep serviceBusTopics", fn, b.SubscriptionName, b.TopicName))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}
