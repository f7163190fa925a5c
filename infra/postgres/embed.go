package postgres

import (
	"crypto/sha256"
	"io/fs"
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// MigrationsChecksum returns a SHA-256 over every embedded migration, so test
// templates are rebuilt when a migration changes.
func MigrationsChecksum() ([32]byte, error) {
	h := sha256.New()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return [32]byte{}, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		if err != nil {
			return [32]byte{}, err
		}
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
