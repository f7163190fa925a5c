package apikeys

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGenerate_Format(t *testing.T) {
	t.Parallel()
	p, err := Generate()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(p.Key, "bk_"))
	prefix, secret, ok := Parse(p.Key)
	require.True(t, ok)
	require.Equal(t, p.Prefix, prefix)
	require.Equal(t, p.Secret, secret)
	require.Len(t, secret, 43, "32 random bytes in unpadded base64url")

	other, err := Generate()
	require.NoError(t, err)
	require.NotEqual(t, p.Key, other.Key)
}

func TestParse_RejectsMalformed(t *testing.T) {
	t.Parallel()
	good, err := Generate()
	require.NoError(t, err)
	cases := map[string]string{
		"Empty":          "",
		"NoPrefix":       strings.TrimPrefix(good.Key, "bk_"),
		"WrongScheme":    "sk_" + strings.TrimPrefix(good.Key, "bk_"),
		"ShortSecret":    good.Key[:len(good.Key)-1],
		"LongSecret":     good.Key + "A",
		"UpperPrefix":    "bk_" + strings.ToUpper(good.Prefix) + "_" + good.Secret,
		"BadSeparator":   "bk_" + good.Prefix + "-" + good.Secret,
		"SecretNotB64":   "bk_" + good.Prefix + "_" + strings.Repeat("!", 43),
		"TrailingSpace":  good.Key + " ",
		"HeaderInjected": good.Key + "\r\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, ok := Parse(in)
			require.False(t, ok)
		})
	}
}

func TestHashed_Matches(t *testing.T) {
	t.Parallel()
	h, err := HashSecret("correct horse", 1000)
	require.NoError(t, err)
	require.Equal(t, 1000, h.Iterations)
	require.Len(t, h.Salt, 16)
	require.True(t, h.Matches("correct horse"))
	require.False(t, h.Matches("correct horsf"))
	require.False(t, Hashed{}.Matches("correct horse"))

	again, err := HashSecret("correct horse", 1000)
	require.NoError(t, err)
	require.NotEqual(t, h.Salt, again.Salt, "every hash gets its own salt")
	require.NotEqual(t, h.Hash, again.Hash)
}

func FuzzParse(f *testing.F) {
	good, _ := Generate()
	f.Add(good.Key)
	f.Add("bk_")
	f.Add("bk_abcdefghijkl_")
	f.Fuzz(func(t *testing.T, s string) {
		prefix, secret, ok := Parse(s)
		if !ok {
			return
		}
		if "bk_"+prefix+"_"+secret != s {
			t.Fatalf("Parse(%q) = %q, %q does not rebuild the input", s, prefix, secret)
		}
	})
}

func BenchmarkHashed_MatchesDefaultIterations(b *testing.B) {
	h, err := HashSecret("secret", DefaultIterations)
	require.NoError(b, err)
	for b.Loop() {
		if !h.Matches("secret") {
			b.Fatal("no match")
		}
	}
}
