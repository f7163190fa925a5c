package organizations

import (
	"net/http"
	"time"

	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
)

func (h *Handlers) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := audit.Filter{ActorID: q.Get("actor_id"), Action: q.Get("action"), TargetType: q.Get("target_type"),
		TargetID: q.Get("target_id"), After: page.After, Limit: page.Limit + 1}

	var fields []problem.FieldError
	for name, dst := range map[string]**time.Time{"since": &f.Since, "until": &f.Until} {
		raw := q.Get(name)
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			fields = append(fields, problem.FieldError{Field: name, Code: "invalid", Message: "must be an RFC 3339 time such as 2026-06-01T12:00:00Z, got " + raw})
			continue
		}
		*dst = &t
	}
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}

	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	entries, err := audit.List(r.Context(), tx, caller.TenantID, f)
	if err != nil {
		return problem.Wrap(err, "list audit log")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(entries, page, func(e audit.Entry) string { return e.ID }))
	return nil
}
