package registry

import "slices"

// Capability is one permission a route can require and a key or role can hold.
type Capability struct {
	Name        string
	Description string
}

// catalogue lists every capability of the platform, including those of
// plugins whose routes are not built yet, so that an admin key created today
// already holds them when those routes arrive.
var catalogue = []Capability{
	{"agents:read", "Read agent definitions and runs."},
	{"agents:run", "Start and cancel agent runs."},
	{"agents:write", "Create, change and delete agent definitions."},
	{"analytics:read", "Read usage roll-ups and anomaly reports."},
	{"api_keys:manage", "Create, update, rotate and revoke API keys."},
	{"api_keys:read", "List and read API keys, including the calling key."},
	{"audit:read", "Read the audit log."},
	{"chat:read", "Read chat sessions and messages."},
	{"chat:write", "Create chat sessions and send messages."},
	{"endpoints:read", "Read the endpoint catalogue, OpenAPI documents and SDKs."},
	{"events:read", "Read the event catalogue and the tenant's events."},
	{"files:read", "List, search and download files."},
	{"files:share", "Create and revoke share links."},
	{"files:write", "Upload, change, move and delete files and folders."},
	{"integrations:manage", "Create, change and delete integrations and webhook subscriptions."},
	{"integrations:read", "Read integrations, webhook subscriptions and deliveries."},
	{"knowledge:read", "Search and read the knowledge base."},
	{"knowledge:write", "Add, change and delete knowledge documents."},
	{"organizations:manage", "Change organisational units, memberships and roles."},
	{"organizations:read", "Read organisational units, memberships and roles."},
	{"reports:read", "Read reports and their runs."},
	{"reports:write", "Create, change, schedule and run reports."},
	{"scheduler:manage", "Create, change and delete schedules."},
	{"scheduler:read", "Read schedules and their runs."},
	{"usage:read", "Read API usage reports."},
	{"users:manage", "Invite, change and deactivate users."},
	{"users:read", "List and read users."},
}

// Catalogue returns every capability, sorted by name.
func Catalogue() []Capability { return slices.Clone(catalogue) }

// CapabilityNames returns the name of every capability, sorted.
func CapabilityNames() []string {
	out := make([]string, len(catalogue))
	for i, c := range catalogue {
		out[i] = c.Name
	}
	return out
}

// KnownCapability reports whether name is in the catalogue.
func KnownCapability(name string) bool {
	return slices.ContainsFunc(catalogue, func(c Capability) bool { return c.Name == name })
}
