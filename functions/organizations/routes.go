package organizations

import (
	"net/http"

	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/registry"
)

var (
	userID = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "The user's id.", Example: "usr_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	memberUserID = registry.Param{Name: "user_id", In: "path", Required: true, Type: "string",
		Description: "The user's id.", Example: "usr_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	unitID = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "The unit's id.", Example: "ou_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	roleID = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "A built-in role (owner, admin, member, viewer) or a tenant role id.", Example: "admin"}
	pageParams = []registry.Param{
		{Name: "limit", In: "query", Type: "integer", Description: "Page size.", Minimum: intPtr(1), Maximum: intPtr(httpx.MaxLimit), Default: httpx.DefaultLimit},
		{Name: "cursor", In: "query", Type: "string", Description: "The next_cursor of the previous page."},
	}
)

func withPage(params ...registry.Param) []registry.Param {
	return append(params, pageParams...)
}

// Register adds the plugin's routes to the registry.
func (h *Handlers) Register(reg *registry.Registry) {
	h.registerUsers(reg)
	h.registerUnits(reg)
	h.registerRoles(reg)
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/audit-log", OperationID: "listAuditLog",
		Capability: CapAuditRead,
		Summary:    "List audit log entries",
		Description: "Lists who did what to whom and when, newest first: user, membership, role, unit, sign-in and API-key changes. " +
			"Every entry was written in the transaction of its change.",
		Params: withPage(
			registry.Param{Name: "actor_id", In: "query", Type: "string", Description: "Only entries by this user or key."},
			registry.Param{Name: "action", In: "query", Type: "string", Description: "Only this action, such as membership.added.", Example: "membership.added"},
			registry.Param{Name: "target_type", In: "query", Type: "string", Description: "Only entries about this kind of object.",
				Enum: []string{"user", "membership", "role", "org_unit", "api_key", "tenant"}},
			registry.Param{Name: "target_id", In: "query", Type: "string", Description: "Only entries about this object."},
			registry.Param{Name: "since", In: "query", Type: "string", Format: "date-time", Description: "Only entries at or after this time."},
			registry.Param{Name: "until", In: "query", Type: "string", Format: "date-time", Description: "Only entries before this time."},
		),
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of entries.", Body: httpx.Page[audit.Entry]{}}},
		Handler:   h.listAudit,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/sign-in", OperationID: "getSignInSettings",
		Capability: CapOrgRead,
		Summary:    "Get sign-in settings",
		Description: "Returns the identity provider directory linked to this tenant and whether people of that directory " +
			"become users on first sign-in.",
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The settings.", Body: SignInSettings{}}},
		Handler:   h.getSignIn,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/organizations/sign-in", OperationID: "updateSignInSettings",
		Capability: CapOrgManage,
		Summary:    "Change sign-in settings",
		Description: "Links the tenant to a directory (the token's tenant claim, tid for Entra ID) or unlinks it with null, " +
			"and turns user creation on first sign-in on or off. The caller must hold every capability.",
		Request:   UpdateSignInFields{},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The new settings.", Body: SignInSettings{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:   h.updateSignIn,
	})
}

func (h *Handlers) registerUsers(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/users", OperationID: "listUsers",
		Capability:  CapUsersRead,
		Summary:     "List users",
		Description: "Lists the tenant's users, newest first, with cursor pagination.",
		Params: withPage(
			registry.Param{Name: "status", In: "query", Type: "string", Enum: []string{StatusPending, StatusActive, StatusDeactivated}, Description: "Only users with this status."},
			registry.Param{Name: "q", In: "query", Type: "string", Description: "Only users whose email or display name contains this text, ignoring case."},
		),
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of users.", Body: httpx.Page[User]{}}},
		Handler:   h.listUsers,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/organizations/users", OperationID: "inviteUser",
		Capability: CapUsersManage, Idempotent: true,
		Summary: "Invite a user",
		Description: "Creates a pending user. The user becomes active when they first sign in with a token whose email " +
			"(or preferred_username) is this address, from the directory linked to the tenant.",
		Request:   InviteRequest{},
		Responses: map[int]registry.Response{http.StatusCreated: {Description: "The pending user.", Body: User{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:   h.inviteUser,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/users/{id}", OperationID: "getUser",
		Capability:  CapUsersRead,
		Summary:     "Get a user",
		Description: "Returns one user. A user of another tenant is reported as not found.",
		Params:      []registry.Param{userID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The user.", Body: User{}}},
		Handler:     h.getUser,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/organizations/users/{id}", OperationID: "updateUser",
		Capability: CapUsersManage,
		Summary:    "Update or deactivate a user",
		Description: "Changes the display name or status. Deactivation rejects every token issued until then and revokes " +
			"the API keys the user created; reactivation lets the user sign in again. The caller must hold every capability " +
			"the user holds, and only an owner may change an owner. The last active owner cannot be deactivated.",
		Params:    []registry.Param{userID},
		Request:   UpdateUserRequest{},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The updated user.", Body: User{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:   h.updateUser,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/users/{id}/memberships", OperationID: "listUserMemberships",
		Capability:  CapOrgRead,
		Summary:     "List a user's memberships",
		Description: "Lists the units the user belongs to, with the role in each.",
		Params:      withPage(userID),
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "A page of memberships.", Body: httpx.Page[Membership]{}}},
		Handler:     h.listUserMemberships,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/users/{id}/permissions", OperationID: "getUserPermissions",
		Capability:  CapUsersRead,
		Summary:     "Get a user's effective permissions",
		Description: "Returns the user's roles and the union of their capabilities: what the user may do in the whole tenant.",
		Params:      []registry.Param{userID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The permissions.", Body: rbac.Permissions{}}},
		Handler:     h.userPermissions,
	})
}

func (h *Handlers) registerUnits(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/units", OperationID: "listUnits",
		Capability:  CapOrgRead,
		Summary:     "List organisational units",
		Description: "Lists units by id, all of them or only the children of parent_id or only the roots.",
		Params: withPage(
			registry.Param{Name: "parent_id", In: "query", Type: "string", Description: "Only the children of this unit."},
			registry.Param{Name: "roots", In: "query", Type: "boolean", Description: "Only units without a parent."},
		),
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of units.", Body: httpx.Page[Unit]{}}},
		Handler:   h.listUnits,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/organizations/units", OperationID: "createUnit",
		Capability: CapOrgManage, Idempotent: true,
		Summary:     "Create an organisational unit",
		Description: "Creates a unit under parent_id, or a root unit without it. Sibling names are unique.",
		Request:     CreateUnitRequest{},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The new unit.", Body: Unit{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     h.createUnit,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/units/{id}", OperationID: "getUnit",
		Capability:  CapOrgRead,
		Summary:     "Get an organisational unit",
		Description: "Returns one unit with its ancestors. A unit of another tenant is reported as not found.",
		Params:      []registry.Param{unitID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The unit.", Body: Unit{}}},
		Handler:     h.getUnit,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/organizations/units/{id}", OperationID: "updateUnit",
		Capability: CapOrgManage,
		Summary:    "Rename or move an organisational unit",
		Description: "Renames the unit, or moves it with its subtree under parent_id (null makes it a root). " +
			"A unit cannot move under itself or one of its descendants.",
		Params:    []registry.Param{unitID},
		Request:   UpdateUnitFields{},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The updated unit.", Body: Unit{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:   h.updateUnit,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/organizations/units/{id}", OperationID: "deleteUnit",
		Capability: CapOrgManage,
		Summary:    "Delete an organisational unit",
		Description: "Deletes an empty unit at once. With recursive=true it marks the unit and its subtree as being deleted " +
			"and queues a job that removes their memberships (a membership.changed event each) and then the units. " +
			"From the moment of the request the marked units are not found, cannot take new members or sub-units, " +
			"and their memberships grant nothing. The delete is rejected when the subtree holds the last active owner's memberships. " +
			"Poll the returned deletion at /organizations/unit-deletions/{id}.",
		Params: []registry.Param{unitID,
			{Name: "recursive", In: "query", Type: "boolean", Example: true, Description: "Delete the subtree and its memberships too, as a background job."}},
		Responses: map[int]registry.Response{
			http.StatusNoContent: {Description: "The empty unit is deleted."},
			http.StatusAccepted:  {Description: "The subtree is marked deleting and its deletion is queued.", Body: UnitDeletion{}},
		},
		Errors:  []int{http.StatusConflict},
		Handler: h.deleteUnit,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/unit-deletions/{id}", OperationID: "getUnitDeletion",
		Capability: CapOrgRead,
		Summary:    "Get a recursive unit deletion",
		Description: "Returns the status and progress of a recursive unit delete: queued, running, completed, or failed " +
			"when every delivery of its job failed (the subtree then stays hidden until the job is run again). " +
			"A deletion of another tenant is reported as not found.",
		Params: []registry.Param{{Name: "id", In: "path", Required: true, Type: "string",
			Description: "The deletion's id, from the response of the recursive delete.", Example: "oud_01jd8x3k6m4v0q9s7t2w5y8z1a"}},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The deletion.", Body: UnitDeletion{}}},
		Handler:   h.getDeletion,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/units/{id}/subtree", OperationID: "listUnitSubtree",
		Capability:  CapOrgRead,
		Summary:     "List a unit's subtree",
		Description: "Lists the unit and all its descendants in depth-first order.",
		Params:      withPage(unitID),
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "A page of units.", Body: httpx.Page[Unit]{}}},
		Handler:     h.listSubtree,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/units/{id}/members", OperationID: "listUnitMembers",
		Capability:  CapOrgRead,
		Summary:     "List a unit's members",
		Description: "Lists the memberships of the unit, or of its whole subtree with include_subunits=true.",
		Params: withPage(unitID,
			registry.Param{Name: "include_subunits", In: "query", Type: "boolean", Description: "Include the members of all descendant units."}),
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of memberships.", Body: httpx.Page[Membership]{}}},
		Handler:   h.listUnitMembers,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPut, Path: "/organizations/units/{id}/members/{user_id}", OperationID: "putMembership",
		Capability: CapOrgManage,
		Summary:    "Add a member or change their role",
		Description: "Makes the user a member of the unit with the role, or changes their role there. The caller must hold " +
			"every capability of the new role and of the role it replaces; only an owner grants or changes the owner role, " +
			"and the last active owner cannot be demoted.",
		Params:  []registry.Param{unitID, memberUserID},
		Request: PutMembershipRequest{},
		Responses: map[int]registry.Response{
			http.StatusCreated: {Description: "The new membership.", Body: Membership{}},
			http.StatusOK:      {Description: "The changed membership.", Body: Membership{}},
		},
		Errors:  []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler: h.putMembership,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/organizations/units/{id}/members/{user_id}", OperationID: "deleteMembership",
		Capability: CapOrgManage,
		Summary:    "Remove a member",
		Description: "Removes the user's membership of the unit. The caller must hold every capability of its role; " +
			"the last active owner cannot be removed.",
		Params:    []registry.Param{unitID, memberUserID},
		Responses: map[int]registry.Response{http.StatusNoContent: {Description: "The membership is removed."}},
		Errors:    []int{http.StatusConflict},
		Handler:   h.deleteMembership,
	})
}

func (h *Handlers) registerRoles(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/roles", OperationID: "listRoles",
		Capability:  CapOrgRead,
		Summary:     "List roles",
		Description: "Lists the built-in roles and the tenant's own roles with their capabilities.",
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "Every role.", Body: RoleList{}}},
		Handler:     h.listRoles,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/organizations/roles", OperationID: "createRole",
		Capability: CapOrgManage, Idempotent: true,
		Summary:     "Create a role",
		Description: "Defines a tenant role as a set of capabilities. The caller must hold every one of them.",
		Request:     RoleRequest{},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The new role.", Body: rbac.Role{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     h.createRole,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/organizations/roles/{id}", OperationID: "getRole",
		Capability:  CapOrgRead,
		Summary:     "Get a role",
		Description: "Returns a built-in or tenant role with its capabilities.",
		Params:      []registry.Param{roleID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The role.", Body: rbac.Role{}}},
		Handler:     h.getRole,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/organizations/roles/{id}", OperationID: "updateRole",
		Capability: CapOrgManage,
		Summary:    "Update a role",
		Description: "Changes a tenant role's name, description or capabilities. The caller must hold every capability " +
			"the role grants before and after. Built-in roles cannot be changed.",
		Params:    []registry.Param{roleID},
		Request:   UpdateRoleRequest{},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The updated role.", Body: rbac.Role{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:   h.updateRole,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/organizations/roles/{id}", OperationID: "deleteRole",
		Capability:  CapOrgManage,
		Summary:     "Delete a role",
		Description: "Deletes a tenant role that no membership holds.",
		Params:      []registry.Param{roleID},
		Responses:   map[int]registry.Response{http.StatusNoContent: {Description: "The role is deleted."}},
		Errors:      []int{http.StatusConflict},
		Handler:     h.deleteRole,
	})
}
