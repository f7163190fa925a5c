package webhooks

import (
	"encoding/json"
	"strings"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func splitSpaces(s string) []string { return strings.Fields(s) }
