// Package functions holds one folder per Azure Function, each with the
// function.json the Functions host reads, and exposes those files to Go so
// the local-mode runtime fires the same triggers the host would.
package functions

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/booga-enterprise/functions/shared/customhandler"
)

//go:embed */function.json
var files embed.FS

// Trigger binding types the platform uses.
const (
	TriggerHTTP       = "httpTrigger"
	TriggerTimer      = "timerTrigger"
	TriggerServiceBus = "serviceBusTrigger"
)

// Binding is one entry of a function.json "bindings" array. Only the fields
// the platform reads are decoded.
type Binding struct {
	Type             string   `json:"type"`
	Direction        string   `json:"direction"`
	Name             string   `json:"name"`
	AuthLevel        string   `json:"authLevel,omitempty"`
	Methods          []string `json:"methods,omitempty"`
	Route            string   `json:"route,omitempty"`
	Schedule         string   `json:"schedule,omitempty"`
	RunOnStartup     bool     `json:"runOnStartup,omitempty"`
	QueueName        string   `json:"queueName,omitempty"`
	TopicName        string   `json:"topicName,omitempty"`
	SubscriptionName string   `json:"subscriptionName,omitempty"`
	Connection       string   `json:"connection,omitempty"`
	Cardinality      string   `json:"cardinality,omitempty"`
	DataType         string   `json:"dataType,omitempty"`
}

// Definition is one function: its folder name and its trigger binding.
type Definition struct {
	// Name is the folder name, which is also the function name the host
	// uses in POST /{Name}.
	Name string
	// Trigger is the function's one binding with direction "in" whose type
	// ends in "Trigger".
	Trigger Binding
	// Bindings is the whole bindings array in file order.
	Bindings []Binding
}

// TriggerType returns the trigger binding's type, such as "timerTrigger".
func (d Definition) TriggerType() string { return d.Trigger.Type }

// Schedule returns the timer's NCRONTAB expression (six fields, seconds
// first), or "" for other triggers.
func (d Definition) Schedule() string { return d.Trigger.Schedule }

// Route returns the HTTP route template without the "api" prefix, or "".
func (d Definition) Route() string { return d.Trigger.Route }

// QueueName returns the Service Bus queue name, or "".
func (d Definition) QueueName() string { return d.Trigger.QueueName }

// TopicName returns the Service Bus topic name, or "".
func (d Definition) TopicName() string { return d.Trigger.TopicName }

// SubscriptionName returns the Service Bus subscription name, or "".
func (d Definition) SubscriptionName() string { return d.Trigger.SubscriptionName }

// Connections returns the distinct app-setting prefixes named by the
// bindings' "connection" properties, sorted.
func (d Definition) Connections() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range d.Bindings {
		if b.Connection != "" && !seen[b.Connection] {
			seen[b.Connection] = true
			out = append(out, b.Connection)
		}
	}
	sort.Strings(out)
	return out
}

// TriggerBinding returns what customhandler's parsers need from the trigger.
func (d Definition) TriggerBinding() customhandler.Binding {
	return customhandler.Binding{Name: d.Trigger.Name, DataType: d.Trigger.DataType, Cardinality: d.Trigger.Cardinality}
}

// Definitions parses every embedded function.json, sorted by name. It fails
// on the first file that is not valid JSON, has no trigger, has more than
// one, or lacks the setting its trigger type requires.
func Definitions() ([]Definition, error) {
	return parseAll(files)
}

func parseAll(fsys fs.FS) ([]Definition, error) {
	paths, err := fs.Glob(fsys, "*/function.json")
	if err != nil {
		return nil, fmt.Errorf("list function.json files: %w", err)
	}
	defs := make([]Definition, 0, len(paths))
	for _, p := range paths {
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		def, err := parse(path.Dir(p), raw)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		defs = append(defs, def)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs, nil
}

func parse(name string, raw []byte) (Definition, error) {
	var file struct {
		Bindings []Binding `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return Definition{}, fmt.Errorf("decode JSON: %w", err)
	}
	def := Definition{Name: name, Bindings: file.Bindings}

	triggers := 0
	for _, b := range file.Bindings {
		if b.Name == "" {
			return Definition{}, fmt.Errorf("binding of type %q has no name", b.Type)
		}
		if b.Direction == "in" && strings.HasSuffix(b.Type, "Trigger") {
			def.Trigger = b
			triggers++
		}
	}
	if triggers != 1 {
		return Definition{}, fmt.Errorf("has %d trigger bindings, want exactly 1", triggers)
	}

	switch t := def.Trigger; t.Type {
	case TriggerHTTP:
		if t.Route == "" {
			return Definition{}, fmt.Errorf("httpTrigger %q has no route", t.Name)
		}
	case TriggerTimer:
		if len(strings.Fields(t.Schedule)) != 6 {
			return Definition{}, fmt.Errorf("timerTrigger %q schedule %q must have six NCRONTAB fields, seconds first", t.Name, t.Schedule)
		}
	case TriggerServiceBus:
		if t.QueueName == "" && (t.TopicName == "" || t.SubscriptionName == "") {
			return Definition{}, fmt.Errorf("serviceBusTrigger %q needs queueName, or topicName and subscriptionName", t.Name)
		}
		if t.Connection == "" {
			return Definition{}, fmt.Errorf("serviceBusTrigger %q has no connection", t.Name)
		}
	}
	return def, nil
}
