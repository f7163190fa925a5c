package httpx

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/booga-enterprise/functions/shared/problem"
)

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// PageRequest is a parsed `limit` and `cursor`. After is the id the previous
// page ended on; lists return rows that sort after it (newest first, by id).
type PageRequest struct {
	Limit int
	After string
}

// Page is the response envelope of every list endpoint.
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
}

type cursor struct {
	After string `json:"a"`
}

// ParsePage reads `limit` (1 to MaxLimit) and the opaque `cursor` from the query.
func ParsePage(r *http.Request) (PageRequest, error) {
	q := r.URL.Query()
	p := PageRequest{Limit: DefaultLimit}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxLimit {
			return p, problem.Invalid(problem.FieldError{Field: "limit", Code: "range",
				Message: "must be a whole number from 1 to " + strconv.Itoa(MaxLimit) + ", got " + strconv.Quote(raw)})
		}
		p.Limit = n
	}
	if raw := q.Get("cursor"); raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.After == "" {
			return p, &problem.Error{Code: problem.CodeBadRequest, Detail: "cursor: invalid; pass the next_cursor value of the previous page unchanged.",
				Fields: []problem.FieldError{{Field: "cursor", Code: "invalid", Message: "pass the next_cursor value of the previous page unchanged"}}}
		}
		p.After = c.After
	}
	return p, nil
}

// NewPage builds the envelope from up to Limit+1 fetched rows; idOf returns a
// row's id, which becomes the next cursor.
func NewPage[T any](rows []T, p PageRequest, idOf func(T) string) Page[T] {
	page := Page[T]{Data: rows}
	if page.Data == nil {
		page.Data = []T{}
	}
	if len(rows) > p.Limit {
		page.Data = rows[:p.Limit]
		page.HasMore = true
		b, _ := json.Marshal(cursor{After: idOf(page.Data[p.Limit-1])})
		page.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	return page
}
