// Package rbac defines roles and computes a user's effective permissions.
//
// A role is a set of capability strings from the registry's catalogue, the
// same strings API-key scopes use, so the pipeline checks users and keys with
// one test: Principal.Has(route.Capability). A user's effective permissions
// are the union of the capabilities of the roles of all their memberships,
// whatever the unit. Units place a person in the organization, and roles
// grant what they may do in the whole tenant.
package rbac

import (
	"slices"
	"strings"

	"github.com/booga-enterprise/functions/shared/registry"
)

// Built-in role ids. They are the same in every tenant and have no row in
// the roles table.
const (
	Owner  = "owner"
	Admin  = "admin"
	Member = "member"
	Viewer = "viewer"
)

// BuiltIn lists the built-in role ids from most to least powerful.
var BuiltIn = []string{Owner, Admin, Member, Viewer}

// memberWrites are the capabilities a member holds beyond the viewer's.
var memberWrites = []string{
	"agents:run", "agents:write", "chat:write", "files:share", "files:write",
	"knowledge:write", "reports:write", "scheduler:manage",
}

// Role is a named set of capabilities.
type Role struct {
	ID           string   `json:"id" example:"admin"`
	Name         string   `json:"name" example:"Admin"`
	Description  string   `json:"description"`
	BuiltIn      bool     `json:"built_in"`
	Capabilities []string `json:"capabilities" example:"[\"users:read\"]"`
}

// IsBuiltIn reports whether id names a built-in role.
func IsBuiltIn(id string) bool { return slices.Contains(BuiltIn, id) }

// BuiltInRole returns a built-in role with its capabilities, computed from
// the catalogue so that a capability added to the catalogue reaches the
// roles at once. Owner and admin have every capability. Viewer has every
// ":read" capability except audit:read, and member has the viewer's plus
// the content-writing ones.
func BuiltInRole(id string) (Role, bool) {
	all := registry.CapabilityNames()
	switch id {
	case Owner:
		return Role{ID: Owner, Name: "Owner", BuiltIn: true, Capabilities: all,
			Description: "Every capability, and the only role that may grant or remove the owner role."}, true
	case Admin:
		return Role{ID: Admin, Name: "Admin", BuiltIn: true, Capabilities: all,
			Description: "Every capability, but cannot grant, change or remove the owner role."}, true
	case Member:
		return Role{ID: Member, Name: "Member", BuiltIn: true, Capabilities: memberCapabilities(all),
			Description: "Reads everything but the audit log and changes content: files, chat, knowledge, agents, reports and schedules."}, true
	case Viewer:
		return Role{ID: Viewer, Name: "Viewer", BuiltIn: true, Capabilities: viewerCapabilities(all),
			Description: "Reads everything but the audit log."}, true
	}
	return Role{}, false
}

func viewerCapabilities(all []string) []string {
	var out []string
	for _, c := range all {
		if strings.HasSuffix(c, ":read") && c != "audit:read" {
			out = append(out, c)
		}
	}
	return out
}

func memberCapabilities(all []string) []string {
	out := viewerCapabilities(all)
	for _, c := range memberWrites {
		if slices.Contains(all, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// BuiltInRoles returns the four built-in roles.
func BuiltInRoles() []Role {
	out := make([]Role, 0, len(BuiltIn))
	for _, id := range BuiltIn {
		r, _ := BuiltInRole(id)
		out = append(out, r)
	}
	return out
}

// Effective returns the sorted union of the capabilities of the given
// built-in role ids and of the custom roles' capability sets. Unknown
// built-in ids and capabilities no longer in the catalogue grant nothing.
func Effective(roleIDs []string, custom [][]string) []string {
	set := map[string]struct{}{}
	for _, id := range roleIDs {
		if r, ok := BuiltInRole(id); ok {
			for _, c := range r.Capabilities {
				set[c] = struct{}{}
			}
		}
	}
	for _, caps := range custom {
		for _, c := range caps {
			if registry.KnownCapability(c) {
				set[c] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Missing returns the capabilities in want that held lacks, in want's order.
// A caller may grant a role, or change a user, only when Missing is empty.
func Missing(held, want []string) []string {
	var out []string
	for _, c := range want {
		if !slices.Contains(held, c) {
			out = append(out, c)
		}
	}
	return out
}
