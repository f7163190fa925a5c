package ids

import (
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

func TestNew_FormatAndOrder(t *testing.T) {
	t.Parallel()
	prev := ""
	for range 1000 {
		id := New(APIKey)
		rest, ok := strings.CutPrefix(id, "key_")
		if !ok || len(rest) != ulid.EncodedSize {
			t.Fatalf("id %q is not key_ and %d characters", id, ulid.EncodedSize)
		}
		if rest != strings.ToLower(rest) {
			t.Fatalf("id %q is not lower case", id)
		}
		if !Valid(APIKey, id) {
			t.Fatalf("Valid rejects %q", id)
		}
		if id <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		prev = id
	}
}

func TestValid_RejectsOtherPrefixAndText(t *testing.T) {
	t.Parallel()
	id := New(Tenant)
	for _, bad := range []string{"", "ten_", "key" + id[3:], id + "0", strings.ToUpper(id), "ten_" + strings.Repeat("u", ulid.EncodedSize)} {
		if Valid(Tenant, bad) {
			t.Errorf("Valid accepts %q", bad)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New(Request)
	}
}
