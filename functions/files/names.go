package files

import (
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/booga-enterprise/functions/shared/problem"
)

// MaxNameBytes is the longest file or folder name, in UTF-8 bytes: the common
// file-system limit, so a downloaded file can be saved under its own name.
const MaxNameBytes = 255

// ValidateName checks a file or folder name and returns a 422 naming field
// when the name is invalid. A name is invalid when it is empty, too long,
// not UTF-8, "." or "..", or starts or ends with white space. It is also
// invalid when it contains a path separator or a control or format
// character, which covers CR and LF, so no name can break a header line.
// Quotes, spaces and any other Unicode text are allowed.
func ValidateName(field, name string) error {
	reason := nameProblem(name)
	if reason == "" {
		return nil
	}
	return problem.Invalid(problem.FieldError{Field: field, Code: "invalid", Message: reason})
}

func nameProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > MaxNameBytes:
		return fmt.Sprintf("must be at most %d bytes of UTF-8, got %d", MaxNameBytes, len(name))
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case name == "." || name == "..":
		return fmt.Sprintf("must not be %q, which names a directory", name)
	case strings.ContainsAny(name, `/\`):
		return "must not contain / or \\: a name is one path segment, not a path"
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("must not contain control or format characters, found %U", r)
		}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "must not start or end with white space"
	}
	return ""
}

// SniffContentType returns the media type of content whose first bytes are
// head, using the WHATWG sniffing algorithm (http.DetectContentType). Only
// when that finds plain text does the name's extension refine it to
// Markdown, CSV or JSON, so a declared or extension-implied type never
// overrides what the bytes show.
func SniffContentType(head []byte, name string) string {
	sniffed := http.DetectContentType(head)
	if !strings.HasPrefix(sniffed, "text/plain") {
		return sniffed
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown":
		return "text/markdown; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".json":
		return "application/json"
	}
	return sniffed
}

// mediaType returns the type without parameters: "text/plain".
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	return mt
}

// ContentDisposition returns a Content-Disposition value for name that is
// safe for any name, per RFC 6266 with the RFC 5987 filename* parameter.
// The value has an ASCII fallback, in which every non-printable, non-ASCII,
// quote, backslash and percent character is replaced by "_", and the exact
// name percent-encoded as UTF-8. disposition is "attachment" or "inline".
func ContentDisposition(disposition, name string) string {
	var fallback strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			fallback.WriteByte('_')
			continue
		}
		fallback.WriteRune(r)
	}
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, disposition, fallback.String(), encodeRFC5987(name))
}

// encodeRFC5987 percent-encodes every byte that is not an attr-char.
func encodeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
