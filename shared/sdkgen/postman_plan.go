package sdkgen

import "strings"

// pmCapture is a response field that a request's tests store in a
// collection variable for the requests after it.
type pmCapture struct {
	Field    string
	Variable string
	// FromList takes Field from the first item of a page (body.data[0])
	// instead of from the body.
	FromList bool
}

// pmStep is one request of the collection: an operation, the variables its
// tests capture, and a name when it is an extra run of the operation.
type pmStep struct {
	op       *operation
	captures []pmCapture
	name     string
	// rename maps a path variable to the one the request uses instead.
	rename map[string]string
}

// pmPlan orders the operations and decides what each one captures:
//   - A create is a POST returning 201 whose path is followed by an item
//     path "<path>/{param}". It stores the new resource's id in the variable
//     that item path uses. It stores any field named like a path parameter
//     other than an id ("token") in that parameter's variable.
//   - A list whose item path has no create, such as webhook deliveries made
//     in the background, stores the first item's field named like the item
//     path's parameter, else its id.
//   - A request that needs a variable captured by a later request runs just
//     after that request.
//   - A DELETE of a created resource that also has actions (POST
//     "<item path>/<verb>" other than creates) runs on a spare resource,
//     because an action may end the resource's life, as completing an
//     upload session does. The spare is created right after the first
//     one, before any action can make its create conflict, and its id is
//     in the variable "spare_<variable>".
func pmPlan(sorted []*operation) []pmStep {
	creates := map[*operation]string{}  // create → item path parameter variable
	createOf := map[string]*operation{} // collection path → its create
	listOf := map[string]*operation{}   // collection path → its paginated list
	paramVars := map[string]string{}    // variable → collection path before the parameter
	paramNames := map[string]string{}   // variable → parameter name
	for _, op := range sorted {
		segments := pmSegments(op.Path)
		for i, s := range segments {
			if strings.HasPrefix(s, "{") {
				v := pmPathVariable(segments[:i], strings.Trim(s, "{}"))
				if _, ok := paramVars[v]; !ok {
					paramVars[v] = "/" + strings.Join(segments[:i], "/")
					paramNames[v] = strings.Trim(s, "{}")
				}
			}
		}
		if op.Method == "GET" && op.Paginated {
			listOf[op.Path] = op
		}
	}
	for _, op := range sorted {
		if op.Method != "POST" || op.Success != 201 || op.Result == nil || op.Result.Value == nil {
			continue
		}
		for _, other := range sorted {
			rest, ok := strings.CutPrefix(other.Path, op.Path+"/{")
			if !ok {
				continue
			}
			param, _, _ := strings.Cut(rest, "}")
			creates[op] = pmPathVariable(pmSegments(op.Path), param)
			createOf[op.Path] = op
			break
		}
	}

	captures := map[*operation][]pmCapture{}
	producer := map[string]*operation{}
	for _, op := range sorted {
		variable, ok := creates[op]
		if !ok {
			continue
		}
		props := op.Result.Value.Properties
		if props["id"] != nil {
			captures[op] = append(captures[op], pmCapture{Field: "id", Variable: variable})
		}
		for _, name := range sortedKeysOf(props) {
			if _, isParam := paramVars[name]; isParam && name != "id" && !strings.HasSuffix(name, "_id") {
				captures[op] = append(captures[op], pmCapture{Field: name, Variable: name})
			}
		}
		for _, c := range captures[op] {
			if producer[c.Variable] == nil {
				producer[c.Variable] = op
			}
		}
	}
	for _, variable := range sortedStrings(paramVars) {
		list := listOf[paramVars[variable]]
		if producer[variable] != nil || createOf[paramVars[variable]] != nil || list == nil {
			continue
		}
		field := pmItemField(list, paramNames[variable])
		if field == "" {
			continue
		}
		captures[list] = append(captures[list], pmCapture{Field: field, Variable: variable, FromList: true})
		producer[variable] = list
	}

	// A variable with neither a create nor a list may still be named in the
	// body of another request's response, such as the deletion that a
	// recursive DELETE returns with 202. That request captures the id when
	// its result is the same schema the item GET returns.
	for _, variable := range sortedStrings(paramVars) {
		if producer[variable] != nil {
			continue
		}
		item := pmItemGet(sorted, paramVars[variable], paramNames[variable])
		if item == nil || item.Result == nil || item.Result.Ref == "" {
			continue
		}
		for _, op := range sorted {
			if op == item || op.Method == "GET" || op.Result == nil || op.Result.Ref != item.Result.Ref ||
				op.Result.Value == nil || op.Result.Value.Properties["id"] == nil {
				continue
			}
			captures[op] = append(captures[op], pmCapture{Field: "id", Variable: variable})
			producer[variable] = op
			break
		}
	}

	spares := map[*operation][]*operation{} // create → DELETEs that need a spare
	for _, op := range sorted {
		if create := pmSpareCreate(op, sorted, createOf, creates); create != nil {
			spares[create] = append(spares[create], op)
		}
	}

	var steps []pmStep
	placed := map[*operation]bool{}
	waiting := map[*operation][]*operation{} // producer → requests waiting for it
	var place func(op *operation)
	place = func(op *operation) {
		step := pmStep{op: op, captures: captures[op]}
		if create := pmSpareCreate(op, sorted, createOf, creates); create != nil {
			step.rename = map[string]string{creates[create]: pmSpareVariable(creates[create])}
		}
		steps = append(steps, step)
		placed[op] = true
		for _, del := range spares[op] {
			spare := pmStep{op: op, name: op.ID + " for " + del.ID}
			for _, c := range captures[op] {
				c.Variable = pmSpareVariable(c.Variable)
				spare.captures = append(spare.captures, c)
			}
			steps = append(steps, spare)
		}
		for _, w := range waiting[op] {
			place(w)
		}
	}
	for _, op := range sorted {
		if p := pmLaterProducer(op, producer, placed); p != nil {
			waiting[p] = append(waiting[p], op)
			continue
		}
		place(op)
	}
	return steps
}

// pmItemGet returns the GET of "<collection>/{param}", or nil.
func pmItemGet(ops []*operation, collection, param string) *operation {
	for _, op := range ops {
		if op.Method == "GET" && op.Path == collection+"/{"+param+"}" {
			return op
		}
	}
	return nil
}

func pmSpareVariable(variable string) string {
	return "spare_" + variable
}

// pmLaterProducer returns the request, not yet placed, that captures a
// variable in op's path, or nil.
func pmLaterProducer(op *operation, producer map[string]*operation, placed map[*operation]bool) *operation {
	segments := pmSegments(op.Path)
	for i, s := range segments {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		p := producer[pmPathVariable(segments[:i], strings.Trim(s, "{}"))]
		if p != nil && p != op && !placed[p] {
			return p
		}
	}
	return nil
}

// pmSpareCreate returns the create of the resource op deletes when that
// resource has actions, or nil.
func pmSpareCreate(op *operation, ops []*operation, createOf map[string]*operation, creates map[*operation]string) *operation {
	if op.Method != "DELETE" || !strings.HasSuffix(op.Path, "}") {
		return nil
	}
	create := createOf[op.Path[:strings.LastIndex(op.Path, "/")]]
	if create == nil {
		return nil
	}
	for _, other := range ops {
		rest, ok := strings.CutPrefix(other.Path, op.Path+"/")
		if ok && other.Method == "POST" && !strings.Contains(rest, "/") && !strings.HasPrefix(rest, "{") {
			if _, isCreate := creates[other]; !isCreate {
				return create
			}
		}
	}
	return nil
}

// pmItemField returns the field of a paginated list's items that fills the
// path parameter param: the field named param ("operation_id"), else "id",
// else "" when the items have neither.
func pmItemField(list *operation, param string) string {
	if list.Result == nil || list.Result.Value == nil {
		return ""
	}
	data := list.Result.Value.Properties["data"]
	if data == nil || data.Value == nil || data.Value.Items == nil || data.Value.Items.Value == nil {
		return ""
	}
	for _, field := range []string{param, "id"} {
		if data.Value.Items.Value.Properties[field] != nil {
			return field
		}
	}
	return ""
}

func pmSegments(path string) []string {
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}
