package files

import (
	"mime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/problem"
)

func TestValidateName_RejectsUnsafeNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", ".", "..", "../etc/passwd", `a\b`, "a/b", "line\r\nX-Injected: 1", "tab\there",
		"nul\x00", "bidi\u202eexe.txt", " leading", "trailing ", string(make([]byte, 256)), "bad\xffutf8"} {
		err := ValidateName("filename", name)
		require.Error(t, err, "%q", name)
		pe := problem.As(err)
		require.Equal(t, problem.CodeInvalid, pe.Code)
		require.Equal(t, "filename", pe.Fields[0].Field)
	}
}

func TestValidateName_AcceptsOrdinaryNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"report.pdf", `Résumé "final" v2.txt`, "日本語 ファイル.md", "it's 100% done;.csv", "a..b"} {
		require.NoError(t, ValidateName("name", name), "%q", name)
	}
}

func TestContentDisposition_RoundTripsAnyName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"plain.txt", `quote " and \ back.txt`, "ünï cødé ☃.pdf", "percent %41.txt", "semi;colon,comma.txt"} {
		value := ContentDisposition("attachment", name)
		require.NotContains(t, value, "\n")
		disposition, params, err := mime.ParseMediaType(value)
		require.NoError(t, err, value)
		require.Equal(t, "attachment", disposition)
		require.Equal(t, name, params["filename"], "filename* wins in %s", value)
	}
}

func TestSniffContentType_IgnoresExtensionForBinary(t *testing.T) {
	t.Parallel()
	require.Equal(t, "text/html; charset=utf-8", SniffContentType([]byte("<html><body>x</body></html>"), "photo.png"))
	require.Equal(t, "text/markdown; charset=utf-8", SniffContentType([]byte("# hi"), "README.md"))
	require.Equal(t, "image/png", SniffContentType([]byte("\x89PNG\r\n\x1a\n0000"), "notes.md"))
}
